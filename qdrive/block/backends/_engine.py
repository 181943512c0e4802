"""What the four C engines share: the pending queue, tags, keep-alive, completion rules.

A backend object is a thin handle on an :class:`EngineCore`, which owns everything the
engine holds: a dup() of the image descriptor (so the engine never does I/O through a
number its caller may close and reuse), the eventfd, the C handle, the requests the
kernel has and the cdata keeping their buffers alive. The handle registers
``weakref.finalize(handle, core.release)``: the core never refers to the handle, so a
backend dropped without close() is still cleaned up, after its requests finished.

Reads, writes and flushes go to the C engine in batches, at most ``capacity`` at a time;
the rest wait in a FIFO and go out as completions free slots (block/linux-aio.c
ioq_submit and block/io_uring.c keep the same pending queue), so no request fails for
depth. A flush is just another request (IOCB_CMD_FDSYNC, IORING_OP_FSYNC, aio_fsync, a
pool job): the device queue orders it after the writes that completed before it
(block/io.c bdrv_co_flush), the engine never waits for it at submit. Whatever the
engine does not take (``engine_ops``: discard, write-zeroes, a no-flush flush) runs
synchronously at submit and is reported at the next reap.
A short read is continued (zeros at end of file), a short write is continued and ends
in ENOSPC only when the device takes nothing more (block/file-posix.c handle_aiocb_rw).
"""

from __future__ import annotations

import errno
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any

from . import BackendUnavailable, Completion, Op, Request
from ._io import advance, execute, read_full, write_full

__all__ = ["EngineCore", "CEngineBackend", "unavailable", "submit_batch", "check_errno",
           "OP_CODES"]

def unavailable(name: str, package: str) -> BackendUnavailable:
    return BackendUnavailable(
        f"the {name} backend was not built: its C library headers were missing when qdrive "
        f"was installed; install {package} (apt-get install {package}) and reinstall qdrive")


def check_errno(r: int, what: str) -> int:
    if r < 0:
        raise OSError(-r, f"{what}: {os.strerror(-r)}")
    return r


class EngineCore:
    """One engine's state. Subclasses provide _engine_submit/_engine_reap/_engine_free
    and set ``capacity`` (the most requests the engine holds at once) and ``_q``."""

    capacity = 128
    _q: Any = None
    # What the C engine runs; anything else runs at submit in the caller's thread.
    engine_ops: frozenset[Op] = frozenset({Op.READ, Op.WRITE, Op.FLUSH})

    def __init__(self, fd: int, *, no_flush: bool, zero_buffer: memoryview,
                 **_: Any) -> None:
        self.fd = os.dup(fd)
        try:
            self.efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        except OSError:
            os.close(self.fd)
            raise
        self.no_flush, self.zero = no_flush, zero_buffer
        if no_flush:  # cache.no-flush: the flush is a no-op, done at once (_io.execute)
            self.engine_ops = self.engine_ops - {Op.FLUSH}
        self.pending: deque[tuple[int, Request]] = deque()
        self.inflight: dict[int, tuple[Request, Any]] = {}
        self.ready: list[Completion] = []
        self._next_tag = 0
        self.closed = False
        # One caller at a time: a finalizer may run in any thread, while close() runs.
        self._lock = threading.RLock()

    def _close_descriptors(self) -> None:
        """For a subclass whose engine could not be set up."""
        os.close(self.efd)
        os.close(self.fd)

    # -- subclass hooks ---------------------------------------------------------------
    def _engine_submit(self, batch: list[tuple[int, Request]]
                       ) -> tuple[list[Any], OSError | None]:
        """Hand ``batch`` to the engine; the keep-alive of each request it took (the
        first ones, in order) and, when it took none, why."""
        raise NotImplementedError

    def _engine_reap(self, min_count: int, max_count: int,
                     timeout: float | None) -> list[tuple[int, int]]:
        raise NotImplementedError

    def _engine_free(self) -> None:
        """Wait for everything the kernel has, then release the engine."""
        raise NotImplementedError

    def _engine_forget(self, tag: int) -> None:
        """A completion for ``tag`` was reaped (for per-request bookkeeping)."""

    # -- the queue ----------------------------------------------------------------------
    def submit(self, requests: Sequence[Request]) -> None:
        with self._lock:
            if self.closed:
                raise ValueError("the backend is closed")
            for req in requests:
                if req.op in self.engine_ops:
                    self._next_tag += 1
                    self.pending.append((self._next_tag, req))
                else:
                    self._complete_now(execute(self.fd, req, self.no_flush,
                                               self.zero))
            self._pump()

    def _complete_now(self, c: Completion) -> None:
        self.ready.append(c)
        os.eventfd_write(self.efd, 1)

    def _pump(self) -> None:
        """Start queued requests while the engine has room."""
        while self.pending and len(self.inflight) < self.capacity:
            room = self.capacity - len(self.inflight)
            batch = [self.pending.popleft() for _ in range(min(room, len(self.pending)))]
            keep, err = self._engine_submit(batch)
            for (tag, req), alive in zip(batch, keep, strict=False):
                self.inflight[tag] = (req, alive)
            rest = batch[len(keep):]
            self.pending.extendleft(reversed(rest))
            if keep:
                continue
            if err is not None and err.errno == errno.EAGAIN and self.inflight:
                return  # the kernel is short of resources: retry as completions come
            tag, req = self.pending.popleft()
            if req.op is Op.FLUSH and err is not None and err.errno == errno.EINVAL:
                # No asynchronous flush for this file (a kernel before 4.18 refuses
                # IOCB_CMD_FDSYNC at io_submit): flush at submit from now on, as QEMU's
                # file-posix.c uses the thread pool when laio_has_fdsync() says no.
                self.engine_ops = self.engine_ops - {Op.FLUSH}
                self._complete_now(execute(self.fd, req, self.no_flush, self.zero))
                continue
            # Refused with nothing in flight to wait for: report it, never lose it.
            self._complete_now(Completion(req, -1, err or OSError(errno.EIO, "refused")))

    def reap(self, min_count: int = 1, timeout: float | None = None) -> list[Completion]:
        """At least ``min_count`` completions (fewer only on timeout), and every other
        one available now: a caller woken by the eventfd must not leave any behind."""
        with self._lock:
            try:
                os.eventfd_read(self.efd)  # reset first: later completions set it again
            except BlockingIOError:
                pass
            out, self.ready = self.ready, []
            want = min(min_count, len(out) + len(self.inflight) + len(self.pending))
            deadline = None if timeout is None else time.monotonic() + timeout
            while self.inflight:
                need = min(max(0, want - len(out)), len(self.inflight))
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                got = self._engine_reap(need, len(self.inflight), left if need else 0.0)
                for tag, result in got:
                    req, _ = self.inflight.pop(tag)
                    self._engine_forget(tag)
                    out.append(self._finish(req, result))
                self._pump()
                if not got:
                    break  # drained (need 0) or timed out
                out += self.ready  # refusals reported by _pump
                self.ready = []
            return out

    def _finish(self, req: Request, result: int) -> Completion:
        if result < 0:
            return Completion(req, -1, OSError(-result, os.strerror(-result)))
        try:
            if result < req.length:  # short, or more buffers than the kernel takes at once
                rest = advance(req.buffers, result)
                if req.op is Op.READ:
                    read_full(self.fd, rest, req.offset + result)
                else:
                    write_full(self.fd, rest, req.offset + result)
        except OSError as exc:
            return Completion(req, -1, exc.with_traceback(None))  # no frames kept alive
        return Completion(req, req.length)

    def in_flight(self) -> int:
        return len(self.inflight) + len(self.ready) + len(self.pending)

    def close(self) -> None:
        """Run every request given to us to completion, then release everything."""
        with self._lock:
            while not self.closed and (self.inflight or self.pending):
                self.reap(len(self.inflight) + len(self.pending))
            self.release()

    def release(self) -> None:
        """Release the engine, its descriptors and buffers; the finalizer's entry.
        Requests still queued are started and waited for first: they were accepted."""
        with self._lock:
            if self.closed:
                return
            try:
                while self.pending or self.inflight:
                    self.reap(len(self.inflight) + len(self.pending))
            finally:
                self.closed = True
                self._engine_free()  # waits for the kernel before the buffers go
                self.inflight.clear()
                self.ready.clear()
                self.pending.clear()
                os.close(self.efd)
                os.close(self.fd)


class CEngineBackend:
    """The handle the driver holds: the Backend protocol over an EngineCore."""

    name = "?"

    def __init__(self, core: EngineCore) -> None:
        self._core = core
        self._finalizer = weakref.finalize(self, core.release)

    @property
    def capacity(self) -> int:
        return self._core.capacity

    def submit(self, requests: Sequence[Request]) -> None:
        self._core.submit(requests)

    def reap(self, min_count: int = 1, timeout: float | None = None) -> list[Completion]:
        return self._core.reap(min_count, timeout)

    def eventfd(self) -> int:
        return self._core.efd

    def in_flight(self) -> int:
        return self._core.in_flight()

    def close(self) -> None:
        self._core.close()
        self._finalizer.detach()

    def bench_loop(self, ffi: Any, fn: Any, *extra: Any, write: bool, random: bool, bs: int,
                   depth: int, nblocks: int, seconds: float, seed: int, buffers: memoryview,
                   submit_batch: int = 1, max_latencies: int = 1 << 22,
                   flush_each: bool = False, flush_depth: int = 1) -> dict[str, Any]:
        """The benchmark's hot loop, run by the C engine (no Python per request):
        ``fn(q, *extra, args, stats)`` with the shared loop of csrc/qd_bench.c.

        ``flush_each`` is write-through: a write completes after a flush that started
        after it, with at most ``flush_depth`` flushes in flight (1, QEMU's bdrv_co_flush;
        each is one more request the engine must have room for).

        Returns ios, errors, first_error, submit_ns, seconds and the latencies (us) of up
        to ``max_latencies`` most recent requests."""
        core = self._core
        if core.in_flight():
            raise ValueError("the benchmark loop needs an idle backend")
        if flush_depth < 1:
            raise ValueError("flush_depth must be at least 1")
        flushes = flush_depth if write and flush_each else 0
        if not 1 <= depth <= core.capacity - flushes:
            raise ValueError(f"the {self.name} engine keeps at most {core.capacity} requests "
                             f"in flight; the benchmark asked for {depth}"
                             + (f" and {flushes} write-through flush(es)" if flushes else ""))
        if len(buffers) < depth * bs:
            raise ValueError("the benchmark needs depth * bs bytes of buffers")
        lat = ffi.new("float[]", max(max_latencies, 1))
        st = ffi.new("qd_bench_stats *")
        buf = ffi.from_buffer(buffers, require_writable=True)
        args = ffi.new("qd_bench_args *", {
            "write": int(write), "random": int(random), "bs": bs, "depth": depth,
            "nblocks": nblocks, "seconds": seconds, "seed": seed,
            "buffers": ffi.cast("char *", buf), "flush_each": int(write and flush_each),
            "flush_depth": flush_depth,
            "submit_batch": submit_batch, "lat_us": lat, "max_lat": max_latencies})
        with core._lock:
            check_errno(fn(core._q, *extra, args, st), "benchmark loop")
        n = min(st.ios, max_latencies)
        return {"ios": st.ios, "errors": st.errors, "first_error": st.first_error,
                "submit_ns": st.submit_ns, "seconds": st.seconds,
                "latencies_us": ffi.unpack(lat, n)}


# The engines' op numbers (csrc/qd_tpool.c OP_READ, OP_WRITE, OP_FLUSH).
OP_CODES = {Op.READ: 0, Op.WRITE: 1, Op.FLUSH: 2}


def submit_batch(ffi: Any, fn: Any, q: Any, fd: int, batch: list[tuple[int, Request]]
                 ) -> tuple[list[Any], OSError | None]:
    """Build the iovec arrays for a batch and hand them to a C engine in one call.

    Returns the cdata that must stay alive for each request the engine took (the first
    ones, in order) and, if it took none, why."""
    n = len(batch)
    ops = ffi.new("int[]", [OP_CODES[req.op] for _, req in batch])
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
    if done == 0:
        return [], OSError(errno.EAGAIN, f"the engine took none of {n} requests")
    return keep[:done], None
