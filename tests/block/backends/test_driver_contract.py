"""The driver's contract at and past the backends' limits, on every backend and target.

Points 1 and 2 of qdrive/block/driver.py's contract, driven through the public driver API past
every fixed number the backends have: 4,096 requests submitted at once (the native ring
has 128 events, posix 512 aiocbs, the C thread pool a completion ring of depth x 8) and
requests of 100 buffers (the C pool's iovec limit was 64). Each runs in a child process,
so a hang fails the test instead of hanging the suite: a reap that sees no completion for
QDRIVE_STALL_SECONDS (30) is a hang, and the child then exits without close() (which
would wait for the lost completions); QDRIVE_DEADLOCK_SECONDS (300) bounds the child.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.block.backends.test_contract import BUILT


def _caches(backend: str) -> list[str]:
    return ["cache=none"] if backend == "native" else ["cache=none", "cache=writeback"]


PAIRS = [(b, c) for b in BUILT for c in _caches(b)]


_PRELUDE = """
import os, sys, traceback
import qdrive.block.driver as driver
import qdrive
from qdrive.block.backends import Op, Request
STALL = float(os.environ.get("QDRIVE_STALL_SECONDS", "30"))

def drain(dev, n):
    done = []
    while len(done) < n:
        got = dev.reap(n - len(done), timeout=STALL)
        if not got:
            raise AssertionError(f"no completion for {STALL} s with {n - len(done)} of "
                                 f"{n} outstanding: a hang")
        done += got
    return done
"""


def _in_child(body: str) -> None:
    """Run ``body`` (with drain() and the imports above) in a fresh interpreter; on a
    failure the child leaves at once (os._exit) without closing the device, since close()
    would wait for completions a broken backend lost. (The kernel then releases all.)"""
    code = _PRELUDE + "try:\n" + textwrap.indent(textwrap.dedent(body), "    ") + (
        "except BaseException:\n    traceback.print_exc()\n    sys.stderr.flush()\n"
        "    os._exit(1)\n")
    seconds = int(os.environ.get("QDRIVE_DEADLOCK_SECONDS", "300"))
    root = Path(__file__).resolve().parents[3]
    try:
        out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                             text=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the child had not finished after {seconds} s (a hang)")
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.parametrize("backend, cache", PAIRS)
def test_4096_requests_at_once_all_complete_in_full(target: Path, backend: str,
                                                    cache: str) -> None:
    _in_child(f"""
        N, BS = 4096, 4096
        dev = qdrive.open("file={target},format=raw,{cache},werror=report",
                          backend={backend!r})  # closed only on success: see _in_child
        writes = []
        for n in range(N):
            b = dev.buffer(BS)
            b[:] = n.to_bytes(4, "little") * (BS // 4)
            writes.append(Request(Op.WRITE, n * BS, [b]))
        dev.submit(writes)  # depth never fails a request: they queue
        done = drain(dev, N)
        bad = [c for c in done if c.error is not None or c.result != BS]
        assert not bad, f"{{len(bad)}} of {{N}} failed, first: {{bad[0]}}"
        reads = [Request(Op.READ, n * BS, [dev.buffer(BS)]) for n in range(N)]
        dev.submit(reads)
        done = drain(dev, N)
        assert all(c.error is None and c.result == BS for c in done)
        for r in reads:
            n = r.offset // BS
            assert bytes(r.buffers[0]) == n.to_bytes(4, "little") * (BS // 4), n
        dev.close()
    """)


@pytest.mark.parametrize("backend, cache", PAIRS)
def test_a_request_of_100_buffers_completes_in_full(target: Path, backend: str,
                                                    cache: str) -> None:
    _in_child(f"""
        dev = qdrive.open("file={target},format=raw,{cache},werror=report",
                          backend={backend!r})  # closed only on success: see _in_child
        out = []
        for n in range(100):
            b = dev.buffer(4096)
            b[:] = bytes([n + 1]) * 4096
            out.append(b)
        assert dev.pwritev(out, 0) == 100 * 4096
        back = [dev.buffer(4096) for _ in range(100)]
        assert dev.preadv(back, 0) == 100 * 4096
        for n, b in enumerate(back):
            assert bytes(b) == bytes([n + 1]) * 4096, f"buffer {{n}} not filled"
        dev.close()
    """)
