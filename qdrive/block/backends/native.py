"""Linux native AIO through libaio (io_setup/io_submit/io_getevents), cffi API mode.

QEMU 7.2 (block/file-posix.c) refuses aio=native without cache.direct=on: without
O_DIRECT the kernel runs these requests synchronously inside io_submit. Completion
wakes the event loop through an eventfd attached to every iocb (io_set_eventfd).
"""

from __future__ import annotations

import os
from typing import Any

from . import BackendUnavailable, Request
from ._engine import CEngineBackend, EngineCore, check_errno, submit_batch, unavailable

try:
    from ._native_cffi import ffi, lib
except ImportError:  # built without libaio's headers
    raise unavailable("native", "libaio-dev") from None

__all__ = ["NativeAio", "create"]


class _Core(EngineCore):
    """One libaio context of ``capacity`` iocbs (QEMU's linux-aio has one per AioContext)."""

    def __init__(self, fd: int, **options: Any) -> None:
        super().__init__(fd, **options)
        err = ffi.new("int *")
        q = lib.qd_laio_new(self.capacity, self.efd, err)
        if q == ffi.NULL:
            self._close_descriptors()
            raise BackendUnavailable(f"io_setup failed: {os.strerror(err[0])} (raise "
                                     "/proc/sys/fs/aio-max-nr or use backend='threads')")
        self._q = q
        self._tags = ffi.new("unsigned long long[]", self.capacity)
        self._results = ffi.new("long long[]", self.capacity)

    def _engine_submit(self, batch: list[tuple[int, Request]]
                       ) -> tuple[list[Any], OSError | None]:
        return submit_batch(ffi, lib.qd_laio_submit, self._q, self.fd, batch)

    def _engine_reap(self, min_count: int, max_count: int,
                     timeout: float | None) -> list[tuple[int, int]]:
        ms = -1 if timeout is None else int(timeout * 1000)
        n = check_errno(lib.qd_laio_reap(self._q, min_count, min(max_count, self.capacity),
                                         self._tags, self._results, ms), "io_getevents")
        return [(self._tags[i], self._results[i]) for i in range(n)]

    def _engine_free(self) -> None:
        lib.qd_laio_free(self._q)


class NativeAio(CEngineBackend):
    """libaio with a fixed ring; requests beyond it wait in the core's queue."""

    name = "native"

    def __init__(self, fd: int, **options: Any) -> None:
        super().__init__(_Core(fd, **options))

    def run_bench(self, **kw: Any) -> dict[str, Any]:
        """See CEngineBackend.bench_loop."""
        return self.bench_loop(ffi, lib.qd_laio_bench, self._core.fd, **kw)


def create(fd: int, **options: Any) -> NativeAio:
    """The native backend for ``fd``."""
    return NativeAio(fd, **options)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
