"""The thread-pool backend: worker threads doing preadv/pwritev.

QEMU's default (util/thread-pool.c, 64 workers). When the package build compiled it, the
pool is C (pthreads, via cffi): requests cross into C once per batch and the workers
never take the GIL. Otherwise (no compiler at install time) the same pool runs as plain
Python threads reading a SimpleQueue. Either way an eventfd wakes event loops.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Sequence
from typing import Any

from . import Completion, Request
from ._io import execute
from ._native_base import CEngineBackend, submit_batch

__all__ = ["ThreadPool", "create", "DEFAULT_WORKERS"]

DEFAULT_WORKERS = 64  # util/thread-pool.c max_threads


class ThreadPool:
    """``workers`` threads executing requests on ``fd``."""

    name = "threads"

    def __init__(self, fd: int, *, writethrough: bool, no_flush: bool,
                 zero_buffer: memoryview, workers: int = DEFAULT_WORKERS) -> None:
        if workers < 1:
            raise ValueError("a thread pool needs at least one worker")
        self._fd = fd
        self._args = (writethrough, no_flush, zero_buffer)
        self._todo: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Completion] = queue.SimpleQueue()
        self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._pending = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._work, name=f"qdrive-io-{n}",
                                          daemon=True) for n in range(workers)]
        self._started = 0
        self._closed = False

    def _work(self) -> None:
        while (req := self._todo.get()) is not None:
            self._done.put(execute(self._fd, req, *self._args))
            os.eventfd_write(self._efd, 1)

    def submit(self, requests: Sequence[Request]) -> None:
        if self._closed:
            raise ValueError("the backend is closed")
        with self._lock:
            self._pending += len(requests)
            want = min(self._pending, len(self._threads))
            while self._started < want:  # start workers as depth needs them
                self._threads[self._started].start()
                self._started += 1
        for req in requests:
            self._todo.put(req)

    def reap(self, min_count: int = 1, timeout: float | None = None) -> list[Completion]:
        out: list[Completion] = []
        min_count = min(min_count, self.in_flight())
        try:  # reset the eventfd first: a completion after this point sets it again
            os.eventfd_read(self._efd)
        except BlockingIOError:
            pass
        try:
            while len(out) < min_count:
                out.append(self._done.get(timeout=timeout))
            while True:
                out.append(self._done.get_nowait())
        except queue.Empty:
            pass
        with self._lock:
            self._pending -= len(out)
        return out

    def eventfd(self) -> int:
        return self._efd

    def in_flight(self) -> int:
        return self._pending

    def close(self) -> None:
        if self._closed:
            return
        while self.in_flight():  # never leave a worker writing into a freed buffer
            self.reap(self.in_flight())
        self._closed = True
        for _ in range(self._started):
            self._todo.put(None)
        for t in self._threads[: self._started]:
            t.join()
        os.close(self._efd)


class CThreadPool(CEngineBackend):
    """The pool in C: workers block in pthread condition variables, not on the GIL."""

    name = "threads"

    def __init__(self, fd: int, *, workers: int = DEFAULT_WORKERS, **options: Any) -> None:
        if workers < 1:
            raise ValueError("a thread pool needs at least one worker")
        super().__init__(fd, **options)
        from ._threads_cffi import ffi, lib

        self._ffi, self._lib = ffi, lib
        err = ffi.new("int *")
        self._q = lib.qd_tpool_new(fd, workers, self.depth * 8, self._efd,
                                   int(options["writethrough"]), int(options["no_flush"]), err)
        if self._q == ffi.NULL:
            os.close(self._efd)
            raise OSError(err[0], f"cannot start the thread pool: {os.strerror(err[0])}")
        self._tags = ffi.new("unsigned long long[]", self.depth * 8)
        self._results = ffi.new("long long[]", self.depth * 8)

    def _engine_submit(self, batch: list[tuple[int, Request]]
                       ) -> tuple[list[Any], OSError | None]:
        return submit_batch(self._ffi, self._lib.qd_tpool_submit_fd, self._q, -1, batch)

    def _engine_reap(self, min_count: int, max_count: int,
                     timeout: float | None) -> list[tuple[int, int]]:
        ms = -1 if timeout is None else int(timeout * 1000)
        n = self._lib.qd_tpool_reap(self._q, min_count, min(max_count, self.depth * 8),
                                    self._tags, self._results, ms)
        return [(self._tags[i], self._results[i]) for i in range(n)]

    def _finish(self, req: Request, result: int) -> Completion:
        # The C workers already ran the request to its full length (and flushed for
        # write-through); only an error is left to report.
        if result < 0:
            return Completion(req, -1, OSError(-result, os.strerror(-result)))
        return Completion(req, req.length)

    def run_bench(self, **kw: Any) -> dict[str, Any]:
        """See CEngineBackend.bench_loop."""
        return self.bench_loop(self._ffi, self._lib.qd_tpool_bench_fd, **kw)

    def _engine_free(self) -> None:
        self._lib.qd_tpool_free(self._q)


def create(fd: int, **options: Any) -> ThreadPool | CThreadPool:
    """The threads backend for ``fd`` (options: writethrough, no_flush, zero_buffer, workers):
    the C pool when it was built, else the Python one."""
    try:
        import qdrive.backends._threads_cffi  # noqa: F401
    except ImportError:
        return ThreadPool(fd, **options)
    return CThreadPool(fd, **options)
