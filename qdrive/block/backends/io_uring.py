"""io_uring through liburing, cffi API mode: batched submission, eventfd completion.

Failures to set a ring up are reported with their usual causes: the io_uring_disabled
sysctl or a container's seccomp policy (EPERM), a memlock limit (ENOMEM). At most
``capacity`` requests are in the ring at once (QEMU's block/io_uring.c: MAX_ENTRIES
128, the rest in its submit queue), so the completion ring never overflows.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from . import BackendUnavailable, Request
from ._engine import CEngineBackend, EngineCore, check_errno, submit_batch, unavailable

try:
    from ._io_uring_cffi import ffi, lib
except ImportError:  # built without liburing's headers
    raise unavailable("io_uring", "liburing-dev") from None

__all__ = ["IoUring", "create"]

_WHY = {
    errno.EPERM: "io_uring is disabled (sysctl kernel.io_uring_disabled) or blocked by a "
                 "seccomp policy (containers often block it)",
    errno.ENOSYS: "the kernel has no io_uring (Linux 5.1 or newer is needed)",
    errno.ENOMEM: "the locked-memory limit is too small for the ring (ulimit -l)",
}


class _Core(EngineCore):
    """One ring with the core's eventfd registered on it."""

    def __init__(self, fd: int, **options: Any) -> None:
        super().__init__(fd, **options)
        err = ffi.new("int *")
        q = lib.qd_uring_new(self.capacity, self.efd, err)
        if q == ffi.NULL:
            self._close_descriptors()
            why = _WHY.get(err[0], os.strerror(err[0]))
            raise BackendUnavailable(f"io_uring_queue_init failed: {why}; use "
                                     "backend='threads' or 'native'")
        self._q = q
        self._tags = ffi.new("unsigned long long[]", self.capacity)
        self._results = ffi.new("long long[]", self.capacity)

    def _engine_submit(self, batch: list[tuple[int, Request]]
                       ) -> tuple[list[Any], OSError | None]:
        return submit_batch(ffi, lib.qd_uring_submit, self._q, self.fd, batch)

    def _engine_reap(self, min_count: int, max_count: int,
                     timeout: float | None) -> list[tuple[int, int]]:
        ms = -1 if timeout is None else int(timeout * 1000)
        n = check_errno(lib.qd_uring_reap(self._q, min_count, min(max_count, self.capacity),
                                          self._tags, self._results, ms), "io_uring_wait_cqe")
        return [(self._tags[i], self._results[i]) for i in range(n)]

    def _engine_free(self) -> None:
        lib.qd_uring_free(self._q)


class IoUring(CEngineBackend):
    """One ring per device."""

    name = "io_uring"

    def __init__(self, fd: int, **options: Any) -> None:
        super().__init__(_Core(fd, **options))

    def run_bench(self, **kw: Any) -> dict[str, Any]:
        """See CEngineBackend.bench_loop."""
        return self.bench_loop(ffi, lib.qd_uring_bench, self._core.fd, **kw)


def create(fd: int, **options: Any) -> IoUring:
    """The io_uring backend for ``fd``."""
    return IoUring(fd, **options)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
