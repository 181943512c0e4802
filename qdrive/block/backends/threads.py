"""The thread-pool backend: worker threads doing preadv/pwritev.

QEMU's default (util/thread-pool.c, 64 workers). When the package build compiled it, the
pool is C (pthreads, via cffi): requests cross into C once per batch and the workers
never take the GIL. Otherwise (no compiler at install time) the same pool runs as plain
Python threads reading a SimpleQueue. Either way an eventfd wakes event loops, the pool
works on its own dup() of the descriptor, and a pool dropped without close() stops its
threads once their requests are done (weakref.finalize on state that does not refer to
the backend object).
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from collections.abc import Sequence
from typing import Any

from . import Completion, Request
from ._io import execute
from ._engine import CEngineBackend, EngineCore, submit_batch

__all__ = ["ThreadPool", "CThreadPool", "create", "DEFAULT_WORKERS", "COUNTERS"]

DEFAULT_WORKERS = 64  # util/thread-pool.c max_threads

# What the C pool counts since it started (csrc/qd_tpool.c, the C_* order): futex sleeps
# and wake-up calls of the workers and of the reaping caller, eventfd writes, requests,
# and the caller's submit and reap calls (each enqueue and each reap, also the benchmark
# loop's). A hand-off costs more than the write it hands off, so tests bound these.
COUNTERS = ("worker_sleeps", "worker_wake_calls", "reaper_sleeps", "reaper_wake_calls",
            "eventfd_writes", "requests", "submits", "reaps", "early_writebacks")


class _PyPool:
    """The Python pool's state: what its workers and its finalizer need, no more."""

    def __init__(self, fd: int, args: tuple[bool, memoryview], workers: int) -> None:
        self.fd = os.dup(fd)
        self.efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.args = args
        self.todo: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[Completion] = queue.SimpleQueue()
        self.pending = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.work, name=f"qdrive-io-{n}", daemon=True)
                        for n in range(workers)]
        self.started = 0
        self.closed = False

    def work(self) -> None:
        while (req := self.todo.get()) is not None:
            c = execute(self.fd, req, *self.args)
            with self.lock:  # the eventfd stays open while a worker may write it
                self.done.put(c)
                if not self.closed:
                    os.eventfd_write(self.efd, 1)

    def release(self) -> None:
        """Let the workers finish every queued request, stop them, close descriptors."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            started = self.started
        for _ in range(started):
            self.todo.put(None)
        for t in self.threads[:started]:
            if t is not threading.current_thread():
                t.join()
        os.close(self.efd)
        os.close(self.fd)


class ThreadPool:
    """``workers`` Python threads executing requests on a dup() of ``fd``."""

    name = "threads"

    def __init__(self, fd: int, *, no_flush: bool, zero_buffer: memoryview,
                 workers: int = DEFAULT_WORKERS, early_writeback: bool = False) -> None:
        # early_writeback: the C pool's (csrc/qd_tpool.c); Python's os module has no
        # sync_file_range, so this pool leaves the writeback to the flush
        if workers < 1:
            raise ValueError("a thread pool needs at least one worker")
        self._s = _PyPool(fd, (no_flush, zero_buffer), workers)
        self._finalizer = weakref.finalize(self, self._s.release)

    def submit(self, requests: Sequence[Request]) -> None:
        s = self._s
        if s.closed:
            raise ValueError("the backend is closed")
        with s.lock:
            s.pending += len(requests)
            want = min(s.pending, len(s.threads))
            while s.started < want:  # start workers as depth needs them
                s.threads[s.started].start()
                s.started += 1
        for req in requests:
            s.todo.put(req)

    def reap(self, min_count: int = 1, timeout: float | None = None) -> list[Completion]:
        s = self._s
        out: list[Completion] = []
        min_count = min(min_count, self.in_flight())
        try:  # reset the eventfd first: a completion after this point sets it again
            os.eventfd_read(s.efd)
        except BlockingIOError:
            pass
        try:
            while len(out) < min_count:
                out.append(s.done.get(timeout=timeout))
            while True:
                out.append(s.done.get_nowait())
        except queue.Empty:
            pass
        with s.lock:
            s.pending -= len(out)
        return out

    def eventfd(self) -> int:
        return self._s.efd

    def in_flight(self) -> int:
        return self._s.pending

    def close(self) -> None:
        if self._s.closed:
            return
        while self.in_flight():  # never leave a worker writing into a freed buffer
            self.reap(self.in_flight())
        self._s.release()
        self._finalizer.detach()


class _Core(EngineCore):
    """The C pool; ``capacity`` bounds queued + running + unreaped requests in it."""

    capacity = 1024  # a flush is a job like the rest (thread-pool.c, handle_aiocb_flush)

    def __init__(self, fd: int, *, workers: int = DEFAULT_WORKERS, **options: Any) -> None:
        if workers < 1:
            raise ValueError("a thread pool needs at least one worker")
        super().__init__(fd, **options)
        from ._threads_cffi import ffi, lib

        self._ffi, self._lib = ffi, lib
        err = ffi.new("int *")
        q = lib.qd_tpool_new(self.fd, workers, self.capacity, self.efd,
                             int(options["no_flush"]),
                             int(options.get("early_writeback", False)), err)
        if q == ffi.NULL:
            self._close_descriptors()
            raise OSError(err[0], f"cannot start the thread pool: {os.strerror(err[0])}")
        self._q = q
        self._tags = ffi.new("unsigned long long[]", self.capacity)
        self._results = ffi.new("long long[]", self.capacity)

    def _engine_submit(self, batch: list[tuple[int, Request]]
                       ) -> tuple[list[Any], OSError | None]:
        return submit_batch(self._ffi, self._lib.qd_tpool_submit, self._q, -1, batch)

    def _engine_reap(self, min_count: int, max_count: int,
                     timeout: float | None) -> list[tuple[int, int]]:
        ms = -1 if timeout is None else int(timeout * 1000)
        n = self._lib.qd_tpool_reap(self._q, min_count, min(max_count, self.capacity),
                                    self._tags, self._results, ms)
        return [(self._tags[i], self._results[i]) for i in range(n)]

    def _finish(self, req: Request, result: int) -> Completion:
        # The C workers ran the request to its full length; only an error is left.
        if result < 0:
            return Completion(req, -1, OSError(-result, os.strerror(-result)))
        return Completion(req, req.length)

    def _engine_free(self) -> None:
        self._lib.qd_tpool_free(self._q)  # workers finish their queue, then are joined

    def counters(self) -> dict[str, int]:
        with self._lock:
            if self.closed:
                raise ValueError("the backend is closed")
            out = self._ffi.new("long long[]", len(COUNTERS))
            n = self._lib.qd_tpool_counters(self._q, out, len(COUNTERS))
            return dict(zip(COUNTERS[:n], out[0:n], strict=True))


class CThreadPool(CEngineBackend):
    """The pool in C: idle workers sleep on a futex, never on the GIL."""

    name = "threads"

    def __init__(self, fd: int, **options: Any) -> None:
        super().__init__(_Core(fd, **options))

    def counters(self) -> dict[str, int]:
        """The pool's hand-off counters since it started (COUNTERS)."""
        core: _Core = self._core  # type: ignore[assignment]
        return core.counters()

    def run_bench(self, **kw: Any) -> dict[str, Any]:
        """See CEngineBackend.bench_loop."""
        core: _Core = self._core  # type: ignore[assignment]
        return self.bench_loop(core._ffi, core._lib.qd_tpool_bench, -1, **kw)


def create(fd: int, **options: Any) -> ThreadPool | CThreadPool:
    """The threads backend for ``fd`` (options: no_flush, zero_buffer, workers, and
    early_writeback: start each write's writeback at once, for write-through on the page
    cache; csrc/qd_tpool.c says why):
    the C pool when it was built, else the Python one."""
    try:
        import qdrive.block.backends._threads_cffi  # noqa: F401
    except ImportError:
        return ThreadPool(fd, **options)
    return CThreadPool(fd, **options)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
