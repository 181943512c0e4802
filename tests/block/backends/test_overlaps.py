"""Overlapping requests in one batch: order kept, no deadlock (issue 11 item 14).

Two unaligned writes to the same sector in one submit() under O_DIRECT used to spin
forever: the second waited for the first, which the backend had not been given yet.
Now the second is queued behind the first and issued when it completes (block/io.c's
serialising requests), on every backend.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import qdrive.block.driver as driver

import qdrive
from qdrive.block._overlaps import Serialiser, Slot
from qdrive.block.backends import Op, Request
from tests.block.backends.test_contract import BUILT


def _drain(dev: driver.RawDevice, n: int) -> list[object]:
    done: list[object] = []
    while len(done) < n:
        done += dev.reap(n - len(done))
    return done


def _in_child(code: str) -> None:
    """Run ``code`` in a fresh interpreter: a deadlock there fails the test, it does not
    hang the suite (QDRIVE_DEADLOCK_SECONDS, 120 by default, bounds the wait)."""
    seconds = int(os.environ.get("QDRIVE_DEADLOCK_SECONDS", "120"))
    root = Path(__file__).resolve().parents[3]
    try:
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=root,
                             capture_output=True, text=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the requests never completed (deadlock) within {seconds} s")
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("backend", BUILT)
def test_two_unaligned_writes_to_one_sector_in_one_submit(target: Path, backend: str) -> None:
    _in_child(f"""
        import qdrive.block.driver as driver
        import qdrive
        from qdrive.block.backends import Op, Request
        with qdrive.open("file={target},format=raw,cache=none", backend={backend!r}) as dev:
            assert dev.request_alignment > 1  # O_DIRECT: both writes are read-modify-writes
            a = Request(Op.WRITE, 100, [memoryview(b"A" * 50)])
            b = Request(Op.WRITE, 120, [memoryview(b"B" * 50)])
            dev.submit([a, b])
            done = []
            while len(done) < 2:
                done += dev.reap(2 - len(done))
            assert all(c.error is None for c in done), done
            # b was submitted after a, so its bytes win where they overlap.
            assert dev.pread(80, 100) == b"A" * 20 + b"B" * 50 + b"\\0" * 10
    """)


@pytest.mark.parametrize("backend", BUILT)
def test_a_chain_of_overlapping_writes_lands_in_submission_order(image_file: Path,
                                                                 backend: str) -> None:
    """300 writes over one 8 KiB area, aligned and not, whole and partial, in one batch."""
    rng = random.Random(14)
    with qdrive.open(f"file={image_file},format=raw,cache=none", backend=backend) as dev:
        model = bytearray(8192)
        reqs = []
        for n in range(300):
            off = rng.choice([0, 512, 4096, rng.randrange(8192)])
            size = rng.randint(1, 8192 - off)
            data = bytes([n % 251 + 1]) * size
            model[off:off + size] = data
            reqs.append(Request(Op.WRITE, off, [memoryview(data)]))
        dev.submit(reqs)
        done = _drain(dev, len(reqs))
        assert all(c.error is None for c in done)  # type: ignore[attr-defined]
        assert dev.pread(8192, 0) == bytes(model)


@pytest.mark.parametrize("backend", BUILT)
def test_flushes_and_reads_in_a_batch_with_overlapping_writes(image_file: Path,
                                                             backend: str) -> None:
    with qdrive.open(f"file={image_file},format=raw,cache=none", backend=backend) as dev:
        reqs = []
        for n in range(64):
            reqs.append(Request(Op.WRITE, 10, [memoryview(bytes([n + 1]) * 700)]))
            reqs.append(Request(Op.FLUSH))
            reqs.append(Request(Op.READ, 0, [memoryview(bytearray(1000))]))
        dev.submit(reqs)
        done = _drain(dev, len(reqs))
        assert len(done) == len(reqs)
        assert all(c.error is None for c in done)  # type: ignore[attr-defined]
        assert dev.pread(700, 10) == bytes([64]) * 700


def test_the_serialiser_waits_only_for_earlier_overlaps() -> None:
    order: Serialiser[Slot] = Serialiser()
    a = Slot(seq=1, start=0, end=4096)
    b = Slot(seq=2, start=4096, end=8192)  # touches a, does not overlap it
    c = Slot(seq=3, start=1000, end=5000)  # overlaps both
    d = Slot(seq=4, start=0, end=8192)  # covers everything
    e = Slot(seq=5, start=2000, end=2001)  # covered by d: waits for d only
    assert order.admit(a) and order.admit(b)
    assert not order.admit(c) and c.blockers == 2
    assert not order.admit(d) and not order.admit(e)
    assert e.blockers == 1  # through d, not a clique
    assert order.finish(a) == []
    assert order.finish(b) == [c]
    assert order.finish(c) == [d]
    assert order.finish(d) == [e]
    assert order.finish(e) == [] and len(order) == 0


def test_flushes_run_one_at_a_time() -> None:
    order: Serialiser[Slot] = Serialiser()
    f1, f2, f3 = (Slot(seq=n, flush=True) for n in (1, 2, 3))
    w = Slot(seq=4, start=0, end=10)
    assert order.admit(f1) and not order.admit(f2) and not order.admit(f3)
    assert order.admit(w)  # a write does not wait for a flush
    assert order.finish(f1) == [f2]
    assert order.finish(f2) == [f3]


def test_wide_requests_are_checked_against_everything() -> None:
    order: Serialiser[Slot] = Serialiser()
    small = Slot(seq=1, start=(500 << 20) + 5, end=(500 << 20) + 6)
    wide = Slot(seq=2, start=0, end=1 << 40)  # a discard of a whole terabyte
    later = Slot(seq=3, start=1 << 39, end=(1 << 39) + 1)
    assert order.admit(small)
    assert not order.admit(wide) and wide.blockers == 1
    assert not order.admit(later) and later.blockers == 1  # waits for the wide one
    assert order.finish(small) == [wide]
    assert order.finish(wide) == [later]


def test_ten_thousand_writes_to_one_sector_form_a_chain() -> None:
    """Each depends on its predecessor only: the edges stay linear in the count."""
    order: Serialiser[Slot] = Serialiser()
    slots = [Slot(seq=n, start=0, end=512) for n in range(10_000)]
    assert order.admit(slots[0])
    assert not any(order.admit(s) for s in slots[1:])
    assert sum(len(s.dependents) for s in slots) == 9_999
    for n, s in enumerate(slots[:-1]):
        assert order.finish(s) == [slots[n + 1]]
