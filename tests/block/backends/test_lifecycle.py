"""A backend's life: nothing it owned is touched after close(), nothing outlives it.

The sentinel test opens scratch files right after close(): they get the descriptor
numbers the backend just released, so a notifier that still writes through an old
number would put bytes into them.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import pytest

from qdrive.block.backends import Op, Request

from ._settle import settle
from .engines import ENGINES, aligned, check_all_full, create, opened, reap_all

ROUNDS = 200
SENTINELS = 8


def _fds() -> int:
    # Collect first: an earlier test's garbage closing its descriptors mid-test would
    # make the count drop and hide (or fake) a leak.
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def _tasks() -> int:
    return len(os.listdir("/proc/self/task"))


def _few_reads(be: object, n: int = 4) -> None:
    reqs = [Request(Op.READ, i * 4096, [aligned(4096)], 4096) for i in range(n)]
    be.submit(reqs)  # type: ignore[attr-defined]
    check_all_full(reap_all(be, n), reqs)


@pytest.mark.parametrize("engine", ENGINES)
def test_no_stray_write_after_close(image_file: Path, tmp_path: Path, engine: str) -> None:
    stray = 0
    rounds_hit = 0
    with opened(str(image_file), False) as fd:
        for rnd in range(ROUNDS):
            be = create(engine, fd)
            _few_reads(be)
            be.close()
            sentinels = [os.open(tmp_path / f"s{rnd}-{k}", os.O_RDWR | os.O_CREAT, 0o600)
                         for k in range(SENTINELS)]
            time.sleep(0.001)  # room for a late notifier to write
            sizes = [os.fstat(s).st_size for s in sentinels]
            for s in sentinels:
                os.close(s)
            stray += sum(sizes)
            rounds_hit += any(sizes)
    print(f"{engine}: {ROUNDS} rounds, {stray} stray bytes in {rounds_hit} rounds")
    assert stray == 0, f"{rounds_hit} of {ROUNDS} rounds wrote {stray} bytes into new files"


@pytest.mark.parametrize("engine", ENGINES)
def test_dropped_without_close_leaks_nothing(image_file: Path, engine: str) -> None:
    with opened(str(image_file), True) as fd:
        warm = create(engine, fd)  # libraries and glibc's helper threads loaded once
        _few_reads(warm)
        warm.close()
        gc.collect()
        fds, tasks = _fds(), settle(_tasks, 1)
        for _ in range(5):
            be = create(engine, fd)
            _few_reads(be)
            # Requests left in flight: the cleanup must wait for them, not free their
            # buffers under the kernel.
            be.submit([Request(Op.WRITE, (i + 8) * 4096, [aligned(4096)], 4096)
                       for i in range(64)])
            del be
            gc.collect()
        assert _fds() <= fds  # (a collected leftover of an earlier test may close more)
        assert settle(_tasks, tasks) <= tasks


@pytest.mark.parametrize("engine", ENGINES)
def test_closed_backend_refuses_work(image_file: Path, engine: str) -> None:
    with opened(str(image_file), False) as fd:
        be = create(engine, fd)
        be.close()
        be.close()  # twice is fine
        with pytest.raises(ValueError):
            be.submit([Request(Op.READ, 0, [aligned(4096)], 4096)])
