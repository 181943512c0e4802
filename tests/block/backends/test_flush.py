"""Flushes that fail, and close() (issue 11 items 7 and 8), on the fault target.

QEMU's file-posix.c handle_aiocb_flush(): once fdatasync failed on a node without
O_DIRECT, every later flush returns that errno without calling fdatasync again
(page_cache_inconsistent), because Linux may have marked the unwritten pages clean and the
next fdatasync would succeed with the data gone. With O_DIRECT nothing is remembered.
block.c bdrv_close() flushes before closing (bdrv_flush skips read-only nodes, and
cache.no-flush makes it a no-op); qdrive reports a failed close-flush instead of dropping
it, after releasing everything.
"""

from __future__ import annotations

import errno
import gc
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest


import qdrive
from qdrive.block.backends import Op, Request
from qdrive.block.backends._engine import EngineCore
from qdrive.block.backends._io import execute
from tests.block.backends._settle import settle
from tests.block.backends.faultfs import FaultTarget
from tests.block.backends.test_contract import BUILT

BUFFERED = [b for b in BUILT if b != "native"]  # native needs O_DIRECT, as in QEMU


def _powercut(faultfs: FaultTarget, image: Path, n: int, offset: int = 0) -> bytes:
    with open(faultfs.powercut(image.name), "rb") as f:
        f.seek(offset)
        return f.read(n)


def _fsyncs(faultfs: FaultTarget) -> int:
    return int(faultfs.status()["counts"].get("fsync", 0))


def _oserror(call: object) -> OSError:
    with pytest.raises(OSError) as e:
        call()  # type: ignore[operator]
    return e.value


# -- item 7: a failed flush poisons every later flush --------------------------------------

@pytest.mark.parametrize("err", ["EIO", "ENOSPC"])
@pytest.mark.parametrize("backend", BUFFERED)
def test_a_failed_flush_fails_every_later_flush(faultfs: FaultTarget, fault_image: Path,
                                                backend: str, err: str) -> None:
    with qdrive.open(f"file={fault_image},format=raw,cache=writeback,werror=report",
                     backend=backend) as dev:
        assert dev.pwrite(b"A" * 4096, 0) == 4096  # acknowledged, in the page cache
        faultfs.inject("fsync", count=1, errno=err)
        assert _oserror(dev.flush).errno == getattr(errno, err)
        # The filesystem would take the next fsync, and the data would be gone: the
        # driver must not say the flush worked.
        for _ in range(3):
            later = _oserror(dev.flush)
            assert later.errno == getattr(errno, err)
            assert "an earlier flush failed" in str(later)
        assert _fsyncs(faultfs) == 1  # the poisoned flushes never reached the disk
        assert _powercut(faultfs, fault_image, 4096) == bytes(4096)  # the data is not durable
        with pytest.raises(OSError, match="earlier flush failed"):
            dev.close()  # and close() says so too


@pytest.mark.parametrize("backend", BUFFERED)
def test_writeback_failure_under_a_loop_device(faultfs: FaultTarget, fault_image: Path,
                                               backend: str) -> None:
    """The case QEMU's comment describes: buffered writes to a block device succeed, the
    writeback fails at the disk, the first fdatasync reports it, the page cache forgets,
    and a second fdatasync would succeed with the data lost."""
    from tests.block.backends.conftest import _loop

    loop = _loop(fault_image, "512")
    dev_path = next(loop)
    try:
        with qdrive.open(f"file={dev_path},format=raw,cache=writeback,werror=report",
                         backend=backend) as dev:
            faultfs.inject("write", start=1 << 20, end=(1 << 20) + 4096)
            assert dev.pwrite(b"B" * 4096, 1 << 20) == 4096  # the page cache took it
            assert _oserror(dev.flush).errno == errno.EIO  # the writeback failed
            faultfs.clear()  # the disk is fine again, the kernel has forgotten the pages
            assert _oserror(dev.flush).errno == errno.EIO  # the kernel alone would say OK
            assert _powercut(faultfs, fault_image, 4096, 1 << 20) != b"B" * 4096
            with pytest.raises(OSError):
                dev.close()
    finally:
        next(loop, None)


@pytest.mark.parametrize("backend", BUILT)
def test_o_direct_does_not_remember_a_failed_flush(faultfs: FaultTarget, fault_image: Path,
                                                   backend: str) -> None:
    with qdrive.open(f"file={fault_image},format=raw,cache=none,werror=report",
                     backend=backend) as dev:
        data = dev.buffer(4096)
        data[:] = b"C" * 4096
        dev.pwrite(data, 0)
        faultfs.inject("fsync", count=1, lose=False)  # a transient failure
        assert _oserror(dev.flush).errno == errno.EIO
        dev.flush()  # no page cache to be inconsistent: QEMU tries again, so do we
        assert _powercut(faultfs, fault_image, 4096) == b"C" * 4096


@pytest.mark.parametrize("backend", BUFFERED)
def test_flushes_in_one_batch_run_one_at_a_time(faultfs: FaultTarget, fault_image: Path,
                                                backend: str) -> None:
    """Only the first of 20 flushes reaches the failing disk; the 19 queued behind it are
    failed by the poison, none slips past with a success."""
    with qdrive.open(f"file={fault_image},format=raw,cache=writeback",
                     backend=backend) as dev:
        dev.pwrite(b"D" * 512, 0)
        faultfs.inject("fsync", count=1)
        flushes = [Request(Op.FLUSH) for _ in range(20)]
        dev.submit(flushes)
        done = []
        while len(done) < 20:
            done += dev.reap(20 - len(done))
        assert all(c.error is not None and c.error.errno == errno.EIO for c in done)
        assert _fsyncs(faultfs) == 1
        with pytest.raises(OSError):
            dev.close()


@pytest.mark.parametrize("backend", BUFFERED)
def test_concurrent_write_through_writes_after_a_failed_flush(
        faultfs: FaultTarget, fault_image: Path, backend: str) -> None:
    """cache=writethrough: each write is followed by fdatasync inside the backend. When one
    of those fails, writes in flight beside it must not be acknowledged on the strength of
    a later fdatasync that succeeds only because the kernel forgot (this needs the
    backend's flush to keep page_cache_inconsistent, as file-posix.c does)."""
    with qdrive.open(f"file={fault_image},format=raw,cache=writethrough,werror=report",
                     backend=backend) as dev:
        faultfs.inject("fsync", count=1)
        reqs = [Request(Op.WRITE, n * 4096, [memoryview(bytes([n + 1]) * 4096)])
                for n in range(64)]
        dev.submit(reqs)
        done = []
        while len(done) < len(reqs):
            done += dev.reap(len(reqs) - len(done))
        assert any(c.error is not None for c in done)
        lost = [c.request.offset for c in done if c.error is None and
                _powercut(faultfs, fault_image, 4096, c.request.offset) !=
                bytes(c.request.buffers[0])]
        assert lost == [], f"{len(lost)} acknowledged write-through writes are not durable"
        with pytest.raises(OSError):
            dev.close()


# -- item 8: close() flushes -----------------------------------------------------------------

@pytest.mark.parametrize("cache", ["cache=writeback", "cache=none"])
@pytest.mark.parametrize("backend", BUILT)
def test_close_flushes(faultfs: FaultTarget, fault_image: Path, backend: str,
                       cache: str) -> None:
    if backend == "native" and cache != "cache=none":
        pytest.skip("native needs cache.direct=on (QEMU refuses it too)")
    dev = qdrive.open(f"file={fault_image},format=raw,{cache}", backend=backend)
    data = dev.buffer(4096)
    data[:] = b"E" * 4096
    dev.pwrite(data, 8192)
    assert _fsyncs(faultfs) == 0
    dev.close()
    assert _fsyncs(faultfs) == 1
    assert _powercut(faultfs, fault_image, 4096, 8192) == b"E" * 4096


@pytest.mark.parametrize("drive", ["cache=unsafe", "read-only=on", "cache.no-flush=on"])
def test_close_does_not_flush_without_need(faultfs: FaultTarget, fault_image: Path,
                                           drive: str) -> None:
    with qdrive.open(f"file={fault_image},format=raw,{drive}") as dev:
        if not dev.read_only:
            dev.pwrite(b"F" * 512, 0)
        dev.flush()
    assert _fsyncs(faultfs) == 0


def _threads() -> int:
    """Our threads, not the kernel's io_uring workers (iou-wrk-*): an asynchronous flush
    runs in one, and io-wq retires them itself once idle, after the ring is gone."""
    n = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                n += not f.read().startswith("iou-")
        except FileNotFoundError:  # ended while we looked
            pass
    return n


def _fds() -> int:
    # Collect first: an earlier test's garbage closing its descriptors mid-test would
    # make the count drop and hide (or fake) a leak.
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("backend", BUILT)
def test_a_failed_close_flush_is_raised_after_releasing_everything(
        faultfs: FaultTarget, fault_image: Path, backend: str) -> None:
    fds, threads = _fds(), _threads()
    dev = qdrive.open(f"file={fault_image},format=raw,cache=none", backend=backend)
    data = dev.buffer(4096)
    data[:] = b"G" * 4096
    dev.pwrite(data, 0)
    faultfs.inject("fsync", count=1)
    with pytest.raises(OSError, match="final flush failed") as e:
        dev.close()
    assert e.value.errno == errno.EIO
    # nothing left behind (fewer threads is fine: another test's may have ended meanwhile)
    assert _fds() == fds and settle(_threads, threads) <= threads
    with qdrive.open(f"file={fault_image},format=raw"):  # the lock is gone too
        pass
    dev.close()  # a second close does nothing


@pytest.mark.parametrize("backend", BUILT)
def test_close_reports_a_failure_nobody_reaped(faultfs: FaultTarget, fault_image: Path,
                                               backend: str) -> None:
    dev = qdrive.open(f"file={fault_image},format=raw,cache=none,werror=report",
                      backend=backend)
    faultfs.inject("write", start=0, end=4096)
    buf = dev.buffer(4096)
    dev.submit([Request(Op.WRITE, 0, [buf])])  # and never reaped
    with pytest.raises(OSError, match="never reaped") as e:
        dev.close()
    assert e.value.errno == errno.EIO


def test_close_waits_for_requests_in_flight_then_flushes(faultfs: FaultTarget,
                                                        fault_image: Path) -> None:
    dev = qdrive.open(f"file={fault_image},format=raw,cache=writeback")
    reqs = [Request(Op.WRITE, n << 16, [memoryview(bytes([n + 1]) * (1 << 16))])
            for n in range(64)]
    dev.submit(reqs)
    dev.close()
    for n in range(64):
        assert _powercut(faultfs, fault_image, 1 << 16, n << 16) == bytes([n + 1]) * (1 << 16)


def test_close_from_another_thread_than_the_writes(faultfs: FaultTarget,
                                                   fault_image: Path) -> None:
    dev = qdrive.open(f"file={fault_image},format=raw,cache=writeback")
    dev.pwrite(b"H" * 512, 0)
    t = threading.Thread(target=dev.close)
    t.start()
    t.join()
    assert _powercut(faultfs, fault_image, 512) == b"H" * 512


class _Recorder:
    """The device's backend, with a log of what it was given and what it gave back."""

    def __init__(self, inner: object) -> None:
        self.inner, self.log = inner, []  # type: ignore[var-annotated]

    def submit(self, requests: list[Request]) -> None:
        self.log += [("submit", r) for r in requests]
        self.inner.submit(requests)  # type: ignore[attr-defined]

    def reap(self, *args: object) -> list[object]:
        done = self.inner.reap(*args)  # type: ignore[attr-defined]
        self.log += [("done", c.request, c.error) for c in done]
        return done  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.mark.parametrize(("backend", "mode"), [
    (b, m) for b in BUILT for m in ("writethrough", "directsync")
    if not (b == "native" and m == "writethrough")])  # native needs O_DIRECT, as in QEMU
def test_write_through_acknowledges_a_write_only_after_a_later_flush(
        tmp_path: Path, backend: str, mode: str) -> None:
    """Write-through is the queue's flush request after the write (block/io.c emulates FUA
    with bdrv_co_flush): every acknowledged write finished at the backend before a flush
    that then succeeded was submitted; one flush covers every write finished before it, so
    the flushes are at most the writes (counted, not timed)."""
    image = tmp_path / "wt.img"
    image.write_bytes(bytes(1 << 20))
    with qdrive.open(f"file={image},format=raw,cache={mode}", backend=backend) as dev:
        rec = _Recorder(dev._queue.backend)
        dev._queue.backend = rec  # type: ignore[assignment]
        buf = dev.buffer(64 * 4096)
        reqs = [Request(Op.WRITE, n * 4096, [buf[n * 4096:(n + 1) * 4096]]) for n in range(64)]
        dev.submit(reqs)
        acked = [c for c in dev.reap(64) if c.error is None]
    assert len(acked) == 64
    events = rec.log
    flushes = [e[1] for e in events if e[0] == "submit" and e[1].op is Op.FLUSH]
    assert 1 <= len(flushes) <= 64
    for c in acked:
        done_at = next(i for i, e in enumerate(events) if e[0] == "done"
                       and e[1].op is Op.WRITE and e[1].offset == c.request.offset)
        later = [i for i, e in enumerate(events) if i > done_at and e[0] == "submit"
                 and e[1].op is Op.FLUSH]
        assert later, f"the write at {c.request.offset} was acknowledged without a flush"
        ok = [e for e in events if e[0] == "done" and e[1] is events[later[0]][1]]
        assert ok and ok[0][2] is None


@pytest.mark.parametrize("backend", BUILT)
def test_no_write_through_flush_under_no_flush_or_writeback(tmp_path: Path,
                                                            backend: str) -> None:
    """cache.no-flush makes the write-through flush a no-op, and writeback has none: the
    backend sees no flush request for plain writes."""
    image = tmp_path / "wb.img"
    image.write_bytes(bytes(1 << 20))
    for drive in ("cache=none", "cache=directsync,cache.no-flush=on"):
        with qdrive.open(f"file={image},format=raw,{drive}", backend=backend) as dev:
            rec = _Recorder(dev._queue.backend)
            dev._queue.backend = rec  # type: ignore[assignment]
            buf = dev.buffer(8 * 4096)
            dev.submit([Request(Op.WRITE, n * 4096, [buf[n * 4096:(n + 1) * 4096]])
                        for n in range(8)])
            assert all(c.error is None for c in dev.reap(8))
            assert not [e for e in rec.log if e[1].op is Op.FLUSH]
            dev._queue.backend = rec.inner  # type: ignore[assignment]


def _wait_held(faultfs: FaultTarget, n: int) -> int:
    """The fsyncs the disk holds, once ``n`` arrived (polled, bounded; a count, not a time)."""
    for _ in range(400):
        held = int(faultfs.status()["counts"].get("fsync_held", 0))
        if held >= n:
            return held
        time.sleep(0.025)
    return int(faultfs.status()["counts"].get("fsync_held", 0))


@pytest.mark.parametrize(("backend", "cache"), [
    (b, c) for b in BUILT for c in ("cache=none", "cache=writeback")
    if not (b == "native" and c == "cache=writeback")])  # native needs O_DIRECT
def test_a_flush_runs_beside_the_requests_after_it(faultfs: FaultTarget, fault_image: Path,
                                                   backend: str, cache: str) -> None:
    """A flush is just another request (block/io.c bdrv_co_flush; IOCB_CMD_FDSYNC,
    IORING_OP_FSYNC, aio_fsync, a pool job): while the disk holds its fsync, a read
    submitted after it completes first. An engine that flushed at submit would block in
    submit() until the watchdog let the fsync go, and the flush would complete first."""
    with qdrive.open(f"file={fault_image},format=raw,{cache}", backend=backend) as dev:
        data = dev.buffer(4096)
        data[:] = b"F" * 4096
        dev.pwrite(data, 0)
        faultfs.hold()
        # Breaks the deadlock of a synchronous flush; the test asserts order, not time.
        watchdog = threading.Timer(30.0, faultfs.release)
        watchdog.start()
        try:
            flush = Request(Op.FLUSH)
            dev.submit([flush])
            held = _wait_held(faultfs, 1)
            read = Request(Op.READ, 4096, [dev.buffer(4096)])
            dev.submit([read])
            order = [c.request for c in dev.reap(1)]
            faultfs.release()
            order += [c.request for c in dev.reap(2 - len(order))]
        finally:
            watchdog.cancel()
            faultfs.release()
        assert held == 1  # the flush reached the disk once, and waited there
        assert order == [read, flush]
        assert _fsyncs(faultfs) == 1
    assert _powercut(faultfs, fault_image, 4096) == b"F" * 4096


class _NoFdsync(EngineCore):
    """An engine that runs reads and writes at once and refuses every flush with EINVAL,
    as io_submit() refuses IOCB_CMD_FDSYNC on a kernel before 4.18."""

    capacity = 8

    def __init__(self, fd: int, **options: Any) -> None:
        super().__init__(fd, **options)
        self.done: list[tuple[int, int]] = []
        self.refused = 0

    def _engine_submit(self, batch: list[tuple[int, Request]]
                       ) -> tuple[list[Any], OSError | None]:
        keep: list[Any] = []
        for tag, req in batch:
            if req.op is Op.FLUSH:
                if not keep:
                    self.refused += 1
                    return [], OSError(errno.EINVAL, "no IOCB_CMD_FDSYNC")
                break
            c = execute(self.fd, req, False, self.zero)
            self.done.append((tag, req.length if c.error is None else -(c.error.errno or 1)))
            keep.append(None)
        return keep, None

    def _engine_reap(self, min_count: int, max_count: int,
                     timeout: float | None) -> list[tuple[int, int]]:
        out, self.done = self.done[:max_count], self.done[max_count:]
        return out

    def _engine_free(self) -> None:
        pass


def test_an_engine_without_asynchronous_flush_flushes_at_submit(image_file: Path) -> None:
    """EINVAL for a flush at submit is the kernel saying it has no such request (QEMU's
    laio_has_fdsync()): that flush and every later one run at submit, and succeed."""
    fd = os.open(image_file, os.O_RDWR)
    try:
        core = _NoFdsync(fd, no_flush=False, zero_buffer=memoryview(bytearray(4096)))
        data = memoryview(bytearray(b"N" * 4096))
        reqs = [Request(Op.WRITE, 0, [data], 4096), Request(Op.FLUSH),
                Request(Op.WRITE, 4096, [data], 4096), Request(Op.FLUSH)]
        core.submit(reqs[:2])
        done = core.reap(2)
        core.submit(reqs[2:])
        done += core.reap(2)
        core.close()
    finally:
        os.close(fd)
    assert sorted(id(c.request) for c in done) == sorted(id(r) for r in reqs)
    assert all(c.error is None for c in done)
    assert core.refused == 1  # asked once; the later flush never went to the engine
    assert Op.FLUSH not in core.engine_ops
