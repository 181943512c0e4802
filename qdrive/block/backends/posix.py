"""glibc POSIX AIO (aio_read/aio_write/aio_fsync), with the seed's pool of dup()ed descriptors.

glibc runs one request per descriptor at a time, so a single descriptor serialises
everything; the seed's patch (block-raw-posix.c raw_fd_pool_get) spreads requests over
``fd_pool`` dup()s of the image's descriptor (4 by default, 0 = off). Completion: glibc
calls the engine's notifier in a helper thread (SIGEV_THREAD); the notifier files the
result under the engine's lock and writes the eventfd, and the engine is freed only
after every notifier ran (csrc/qd_paio.c), so none can write a descriptor number that
was closed and given to another file.

glibc's AIO has no vectored form: a request with several buffers goes out over one
joined buffer, page-aligned so that O_DIRECT takes it, and is scattered back.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence
from typing import Any

from . import BackendUnavailable, Completion, Op, Request
from ._engine import OP_CODES, CEngineBackend, EngineCore, check_errno, unavailable

try:
    from ._posix_cffi import ffi, lib
except ImportError:  # built without glibc's headers
    raise unavailable("posix", "libc6-dev") from None

__all__ = ["PosixAio", "create", "DEFAULT_FD_POOL"]

DEFAULT_FD_POOL = 4  # RAW_FD_POOL_SIZE in the seed


def _joined(length: int) -> memoryview:
    """A page-aligned buffer (anonymous mmap): aligned for any O_DIRECT target."""
    return memoryview(mmap.mmap(-1, max(length, 1)))[:length]


class _Core(EngineCore):
    capacity = 512

    def __init__(self, fd: int, *, fd_pool: int = DEFAULT_FD_POOL, **options: Any) -> None:
        if fd_pool < 0:
            raise ValueError("fd_pool must be 0 (off) or more")
        super().__init__(fd, **options)
        err = ffi.new("int *")
        q = lib.qd_paio_new(self.capacity, self.efd, err)
        if q == ffi.NULL:
            self._close_descriptors()
            raise BackendUnavailable(f"POSIX AIO setup failed: {os.strerror(err[0])}")
        self._q = q
        self.fds = [self.fd]
        try:
            self.fds += [os.dup(self.fd) for _ in range(fd_pool)]
        except OSError:
            for extra in self.fds[1:]:
                os.close(extra)
            lib.qd_paio_free(q)
            self._close_descriptors()
            raise
        self._busy = dict.fromkeys(self.fds, 0)
        self._fd_of: dict[int, int] = {}
        self._tags = ffi.new("unsigned long long[]", self.capacity)
        self._results = ffi.new("long long[]", self.capacity)

    def submit(self, requests: Sequence[Request]) -> None:
        out = []
        for req in requests:
            if req.op in (Op.READ, Op.WRITE) and len(req.buffers) > 1:
                joined = _joined(req.length)
                if req.op is Op.WRITE:
                    pos = 0
                    for b in req.buffers:
                        joined[pos:pos + len(b)] = b
                        pos += len(b)
                req = Request(req.op, req.offset, [joined], req.length, _Gathered(req))
            out.append(req)
        super().submit(out)

    def reap(self, min_count: int = 1, timeout: float | None = None) -> list[Completion]:
        return [_scatter(c) for c in super().reap(min_count, timeout)]

    def _pick_fd(self) -> int:
        # The seed's rule: the main descriptor first, then the least busy of the pool.
        # A flush too: glibc runs one request per descriptor at a time, so the least busy
        # one starts it soonest, and fdatasync on any dup() covers the whole file.
        return min(self.fds, key=lambda f: self._busy[f])

    def _engine_submit(self, batch: list[tuple[int, Request]]
                       ) -> tuple[list[Any], OSError | None]:
        keep: list[Any] = []
        for tag, req in batch:
            data = req.buffers[0] if req.buffers else memoryview(b"")
            buf = ffi.from_buffer(data, require_writable=req.op is Op.READ)
            fd = self._pick_fd()
            r = lib.qd_paio_submit(self._q, fd, OP_CODES[req.op], req.offset, buf,
                                   len(data), tag)
            if r < 0:
                return keep, None if keep else OSError(-r, os.strerror(-r))
            self._busy[fd] += 1
            self._fd_of[tag] = fd
            keep.append(buf)
        return keep, None

    def _engine_reap(self, min_count: int, max_count: int,
                     timeout: float | None) -> list[tuple[int, int]]:
        ms = -1 if timeout is None else int(timeout * 1000)
        n = check_errno(lib.qd_paio_reap(self._q, min_count, min(max_count, self.capacity),
                                         self._tags, self._results, ms), "aio_suspend")
        return [(self._tags[i], self._results[i]) for i in range(n)]

    def _engine_forget(self, tag: int) -> None:
        self._busy[self._fd_of.pop(tag)] -= 1

    def _engine_free(self) -> None:
        lib.qd_paio_free(self._q)  # waits for every notifier
        for fd in self.fds[1:]:
            os.close(fd)


class PosixAio(CEngineBackend):
    """POSIX AIO over a dup() of the image descriptor and a pool of further dup()s."""

    name = "posix"

    def __init__(self, fd: int, **options: Any) -> None:
        super().__init__(_Core(fd, **options))

    def run_bench(self, **kw: Any) -> dict[str, Any]:
        """The benchmark's loop in C over the descriptor and its fd pool (each aiocb is
        started as it is queued, so ``submit_batch`` has nothing to batch)."""
        fds: list[int] = self._core.fds  # type: ignore[attr-defined]
        return self.bench_loop(ffi, lib.qd_paio_bench, ffi.new("int[]", fds), len(fds), **kw)


class _Gathered:
    """The tag of a joined request: the caller's request it stands for."""

    __slots__ = ("outer",)

    def __init__(self, outer: Request) -> None:
        self.outer = outer


def _scatter(c: Completion) -> Completion:
    if not isinstance(c.request.tag, _Gathered):
        return c
    outer = c.request.tag.outer
    if c.error is None and outer.op is Op.READ:
        pos = 0
        for b in outer.buffers:
            b[:] = c.request.buffers[0][pos:pos + len(b)]
            pos += len(b)
    return Completion(outer, c.result if c.error is None else -1, c.error)


def create(fd: int, **options: Any) -> PosixAio:
    """The posix backend for ``fd`` (option fd_pool: dup()ed descriptors, default 4)."""
    return PosixAio(fd, **options)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
