"""What the three cffi backends share: tags, keep-alive of buffers, completion rules.

Reads and writes go to the kernel through the backend's C engine in batches; flush,
discard and write-zeroes run synchronously here (QEMU hands those to its thread pool
too). A short read is continued (zeros at end of file), a short write is continued and
ends in ENOSPC when the device takes nothing more (block/linux-aio.c, io_uring.c).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from typing import Any

from . import BackendUnavailable, Completion, Op, Request
from ._io import advance, execute, flush, read_full, write_full

__all__ = ["CEngineBackend", "unavailable", "submit_batch", "check_errno"]


def unavailable(name: str, package: str) -> BackendUnavailable:
    return BackendUnavailable(
        f"the {name} backend was not built: its C library headers were missing when qdrive "
        f"was installed; install {package} (apt-get install {package}) and reinstall qdrive")


class CEngineBackend:
    """Base class: subclasses provide _engine_submit/_engine_reap/_engine_free."""

    name = "?"
    depth = 128
    _q: Any  # the C engine's handle, set by the subclass

    def __init__(self, fd: int, *, writethrough: bool, no_flush: bool,
                 zero_buffer: memoryview, **_: Any) -> None:
        self._fd = fd
        self._writethrough, self._no_flush, self._zero = writethrough, no_flush, zero_buffer
        self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._inflight: dict[int, tuple[Request, Any]] = {}
        self._ready: list[Completion] = []
        self._next_tag = 1
        self._closed = False

    # -- subclass hooks ---------------------------------------------------------------
    def _engine_submit(self, batch: list[tuple[int, Request]]
                       ) -> tuple[list[Any], OSError | None]:
        raise NotImplementedError

    def _engine_reap(self, min_count: int, max_count: int,
                     timeout: float | None) -> list[tuple[int, int]]:
        raise NotImplementedError

    def _engine_free(self) -> None:
        raise NotImplementedError

    # -- the interface ------------------------------------------------------------------
    def submit(self, requests: Sequence[Request]) -> None:
        if self._closed:
            raise ValueError("the backend is closed")
        batch = []
        for req in requests:
            if req.op in (Op.READ, Op.WRITE):
                batch.append((self._tag(), req))
            else:  # flush, discard, write-zeroes: done now, reported at the next reap
                self._ready.append(execute(self._fd, req, self._writethrough, self._no_flush,
                                           self._zero))
                os.eventfd_write(self._efd, 1)
        for start in range(0, len(batch), self.depth):
            chunk = batch[start:start + self.depth]
            keep, err = self._engine_submit(chunk)
            for (tag, req), alive in zip(chunk, keep, strict=False):
                self._inflight[tag] = (req, alive)
            for _, req in chunk[len(keep):]:  # the kernel refused these: report, not lose
                assert err is not None
                self._ready.append(Completion(req, -1, err))
                os.eventfd_write(self._efd, 1)

    def _tag(self) -> int:
        self._next_tag += 1
        return self._next_tag

    def reap(self, min_count: int = 1, timeout: float | None = None) -> list[Completion]:
        try:
            os.eventfd_read(self._efd)
        except BlockingIOError:
            pass
        out, self._ready = self._ready, []
        need = max(0, min(min_count, len(out) + len(self._inflight)) - len(out))
        if self._inflight:
            for tag, result in self._engine_reap(need, len(self._inflight), timeout):
                req, _ = self._inflight.pop(tag)
                out.append(self._finish(req, result))
        return out

    def _finish(self, req: Request, result: int) -> Completion:
        if result < 0:
            return Completion(req, -1, OSError(-result, os.strerror(-result)))
        try:
            if result < req.length:
                rest = advance(req.buffers, result)
                if req.op is Op.READ:
                    read_full(self._fd, rest, req.offset + result)
                else:
                    write_full(self._fd, rest, req.offset + result)
            if req.op is Op.WRITE and self._writethrough:
                flush(self._fd)
        except OSError as exc:
            return Completion(req, -1, exc)
        return Completion(req, req.length)

    def eventfd(self) -> int:
        return self._efd

    def bench_loop(self, ffi: Any, fn: Any, *, write: bool, random: bool, bs: int, depth: int,
                   nblocks: int, seconds: float, seed: int, buffers: memoryview,
                   submit_batch: int = 1, max_latencies: int = 1 << 22) -> dict[str, Any]:
        """The benchmark's hot loop, run by the C engine (no Python per request).

        Returns ios, errors, first_error, submit_ns, seconds and the latencies (us) of up
        to ``max_latencies`` most recent requests."""
        if self._inflight or self._ready:
            raise ValueError("bench_loop needs an idle backend")
        lat = ffi.new("float[]", max_latencies)
        st = ffi.new("qd_bench_stats *")
        buf = ffi.from_buffer(buffers, require_writable=True)
        r = fn(self._q, self._fd, int(write), int(random), bs, depth, nblocks, seconds, seed,
               ffi.cast("char *", buf), int(write and self._writethrough), submit_batch,
               lat, max_latencies, st)
        check_errno(r, "benchmark loop")
        n = min(st.ios, max_latencies)
        return {"ios": st.ios, "errors": st.errors, "first_error": st.first_error,
                "submit_ns": st.submit_ns, "seconds": st.seconds,
                "latencies_us": ffi.unpack(lat, n)}

    def in_flight(self) -> int:
        return len(self._inflight) + len(self._ready)

    def close(self) -> None:
        if self._closed:
            return
        while self._inflight:  # never free a buffer the kernel may still write into
            self.reap(len(self._inflight))
        self._closed = True
        self._engine_free()
        os.close(self._efd)


def check_errno(r: int, what: str) -> int:
    if r < 0:
        raise OSError(-r, f"{what}: {os.strerror(-r)}")
    return r



def submit_batch(ffi: Any, fn: Any, q: Any, fd: int, batch: list[tuple[int, Request]]
                 ) -> tuple[list[Any], OSError | None]:
    """Build the iovec arrays for a batch and hand them to a C engine in one call.

    Returns the cdata that must stay alive for each request the kernel took (the first
    ones, in order) and, if it took fewer than all, the error for the rest."""
    n = len(batch)
    ops = ffi.new("int[]", [1 if req.op is Op.WRITE else 0 for _, req in batch])
    offsets = ffi.new("long long[]", [req.offset for _, req in batch])
    tags = ffi.new("unsigned long long[]", [tag for tag, _ in batch])
    counts = ffi.new("int[]", [len(req.buffers) for _, req in batch])
    vecs = ffi.new("struct iovec *[]", n)
    keep = []
    for i, (_, req) in enumerate(batch):
        iov = ffi.new("struct iovec[]", max(len(req.buffers), 1))
        bufs = [ffi.from_buffer(b, require_writable=req.op is Op.READ) for b in req.buffers]
        for j, b in enumerate(bufs):
            iov[j].iov_base = b
            iov[j].iov_len = len(req.buffers[j])
        vecs[i] = iov
        keep.append((iov, bufs))
    done = fn(q, fd, n, ops, offsets, vecs, counts, tags)
    if done < 0:
        return [], OSError(-done, os.strerror(-done))
    if done < n:
        return keep[:done], OSError(errno.EAGAIN, f"the kernel took {done} of {n} requests")
    return keep, None
