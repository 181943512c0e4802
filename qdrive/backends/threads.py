"""The thread-pool backend: plain worker threads doing preadv/pwritev.

QEMU's default (util/thread-pool.c, 64 workers). Workers are plain threads reading a
SimpleQueue, not concurrent.futures (whose bookkeeping costs more than the I/O here);
completions go to another queue and an eventfd wakes event loops.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Sequence
from typing import Any

from . import Completion, Request
from ._io import execute

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


def create(fd: int, **options: Any) -> ThreadPool:
    """The threads backend for ``fd`` (options: writethrough, no_flush, zero_buffer, workers)."""
    return ThreadPool(fd, **options)
