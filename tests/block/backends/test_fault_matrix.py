"""EIO from the disk under every werror/rerror policy, every backend and cache mode, on the
fault target and through a loop device over it (issue 11, Deliver 2).

Where the error shows depends on the stack, not on qdrive: on the FUSE file a write
reaches the filesystem at once, so it fails in pwrite; through a loop device a buffered
write lands in the block device's page cache and fails at the next flush (at once for
write-through, which flushes each write). What each policy promises does not depend on
it: report and enospc hand the caller EIO, stop stops the device with IOStopped, ignore
says it worked. cache=unsafe promises nothing: its flushes never reach the disk, so a
buffered write that fails at writeback is never reported (QEMU behaves the same).

``python -m tests.block.backends.test_fault_matrix`` prints the whole matrix as a table.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
from pathlib import Path

import pytest

import qdrive.block.driver as driver

import qdrive
from tests.block.backends.faultfs import FaultTarget
from tests.block.backends.test_contract import BUILT

CACHES = ["none", "writeback", "writethrough", "directsync", "unsafe"]
WERROR = ["report", "enospc", "stop", "ignore"]
RERROR = ["report", "stop", "ignore"]
DIRECT = {"none", "directsync"}
AT = 1 << 20


def _cases(policies: list[str]) -> list[tuple[str, str, str]]:
    return [(b, c, p) for b in BUILT for c in CACHES for p in policies
            if b != "native" or c in DIRECT]


def write_outcome(faultfs: FaultTarget, path: Path, backend: str, cache: str,
                  policy: str) -> str:
    """Inject EIO on a range, write there and flush; say what the caller saw."""
    dev = qdrive.open(f"file={path},format=raw,cache={cache},werror={policy}",
                      backend=backend)
    try:
        data = dev.buffer(4096)
        data[:] = b"w" * 4096
        faultfs.inject("write", start=AT, end=AT + 4096)
        try:
            assert dev.pwrite(data, AT) == 4096
        except OSError as exc:
            return _seen(exc, "write", dev)
        try:
            dev.flush()
        except OSError as exc:
            return _seen(exc, "flush", dev)
        return "ok" if policy == "ignore" else "unreported"
    finally:
        faultfs.clear()
        _close(dev)


def _close(dev: driver.RawDevice) -> None:
    """close() after a failed flush of a buffered device reports the failure again (every
    later flush fails, the final one too): expected here, checked in test_flush."""
    try:
        dev.close()
    except OSError as exc:
        assert not dev.plan.direct and "earlier flush failed" in str(exc), exc


def read_outcome(faultfs: FaultTarget, path: Path, backend: str, cache: str,
                 policy: str) -> str:
    dev = qdrive.open(f"file={path},format=raw,cache={cache},rerror={policy}",
                      backend=backend)
    try:
        faultfs.inject("read", start=AT, end=AT + (1 << 20))
        try:
            got = dev.pread(4096, AT)
        except OSError as exc:
            return _seen(exc, "read", dev)
        assert len(got) == 4096
        return "ok"
    finally:
        faultfs.clear()
        _close(dev)


def _seen(exc: OSError, where: str, dev: driver.RawDevice) -> str:
    if isinstance(exc, driver.IOStopped):
        assert dev.stopped and exc.cause.errno == errno.EIO
        dev.resume()  # the fault is cleared by now: the retry goes through
        return f"stopped at {where}"
    assert exc.errno == errno.EIO, exc
    return f"EIO at {where}"


def _expected_write(cache: str, policy: str, kind: str) -> set[str]:
    if policy == "ignore":
        return {"ok"}
    if kind == "loop-on-fault" and cache == "unsafe":
        return {"unreported"}  # buffered, and no flush ever reaches the disk
    where = {"write"} if kind == "fault" or cache != "writeback" else {"flush"}
    word = "stopped at" if policy == "stop" else "EIO at"
    return {f"{word} {w}" for w in where}


@pytest.mark.parametrize("backend, cache, policy", _cases(WERROR))
def test_write_eio_under_every_policy(faultfs: FaultTarget, fault_target: Path,
                                      request: pytest.FixtureRequest, backend: str,
                                      cache: str, policy: str) -> None:
    kind = request.node.callspec.params["fault_target"]
    got = write_outcome(faultfs, fault_target, backend, cache, policy)
    assert got in _expected_write(cache, policy, kind)


@pytest.mark.parametrize("backend, cache, policy", _cases(RERROR))
def test_read_eio_under_every_policy(faultfs: FaultTarget, fault_target: Path,
                                     backend: str, cache: str, policy: str) -> None:
    got = read_outcome(faultfs, fault_target, backend, cache, policy)
    expected = {"ignore": "ok", "stop": "stopped at read", "report": "EIO at read"}
    assert got == expected[policy]


def test_o_direct_works_on_the_fuse_mount(fault_target: Path,
                                          request: pytest.FixtureRequest) -> None:
    """Linux passes O_DIRECT to a FUSE filesystem (no FOPEN_DIRECT_IO needed) and takes
    any alignment there; qdrive's probe (raw_probe_alignment) then settles on 4096, the
    page size, because a 1-byte read says nothing. Through a loop device the alignment is
    the device's logical block."""
    kind = request.node.callspec.params["fault_target"]
    with qdrive.open(f"file={fault_target},format=raw,cache=none") as dev:
        assert os.O_DIRECT & fcntl.fcntl(dev.fileno(), fcntl.F_GETFL)
        assert dev.request_alignment == (4096 if kind == "fault" else 512)
        data = dev.buffer(4096)
        data[:] = b"d" * 4096
        dev.pwrite(data, 0)
        assert dev.pread(4096, 0) == b"d" * 4096


def main() -> None:
    """Print the matrix (needs root, as the tests do)."""
    import tempfile

    from tests.block.backends.conftest import SIZE, _loop

    with tempfile.TemporaryDirectory() as tmp:
        fs = FaultTarget(Path(tmp) / "mnt", Path(tmp) / "backing")
        try:
            rows = []
            for kind in ("fault", "loop-on-fault"):
                for backend, cache, policy in _cases(WERROR):
                    path = fs.create("m.img", SIZE)
                    loop = _loop(path, "512") if kind == "loop-on-fault" else None
                    target = next(loop) if loop else path
                    w = write_outcome(fs, target, backend, cache, policy)
                    r = read_outcome(fs, target, backend, cache, policy) \
                        if policy in RERROR else "-"
                    if loop:
                        next(loop, None)
                    fs.remove("m.img")
                    rows.append((kind, backend, cache, policy, w, r))
        finally:
            fs.stop()
    print("| target | backend | cache | policy | write EIO (werror=policy) "
          "| read EIO (rerror=policy) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
