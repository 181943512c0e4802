"""glibc POSIX AIO (aio_read/aio_write), with the seed's pool of dup()ed descriptors.

glibc runs one request per descriptor at a time, so a single descriptor serialises
everything; the seed's patch (block-raw-posix.c raw_fd_pool_get) spreads requests over
``fd_pool`` dup()s of the image's descriptor (4 by default, 0 = off). Completion: glibc
calls a small C notifier in a helper thread that writes the eventfd; reap() polls
aio_error and waits with aio_suspend.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from . import BackendUnavailable, Completion, Op, Request
from ._native_base import CEngineBackend, unavailable

try:
    from ._posix_cffi import ffi, lib
except ImportError:  # built without glibc's headers
    raise unavailable("posix", "libc6-dev") from None

__all__ = ["PosixAio", "create", "DEFAULT_FD_POOL"]

DEFAULT_FD_POOL = 4  # RAW_FD_POOL_SIZE in the seed


class PosixAio(CEngineBackend):
    """POSIX AIO over the image descriptor and a pool of its dup()s."""

    name = "posix"

    def __init__(self, fd: int, *, fd_pool: int = DEFAULT_FD_POOL, **options: Any) -> None:
        super().__init__(fd, **options)
        if fd_pool < 0:
            raise ValueError("fd_pool must be 0 (off) or more")
        err = ffi.new("int *")
        self._q = lib.qd_paio_new(self.depth * 4, self._efd, err)
        if self._q == ffi.NULL:
            os.close(self._efd)
            raise BackendUnavailable(f"POSIX AIO setup failed: {os.strerror(err[0])}")
        self._fds = [fd] + [os.dup(fd) for _ in range(fd_pool)]
        self._busy = dict.fromkeys(self._fds, 0)
        self._fd_of: dict[int, int] = {}
        self._tags = ffi.new("unsigned long long[]", self.depth * 4)
        self._results = ffi.new("long long[]", self.depth * 4)

    def _pick_fd(self) -> int:
        # The seed's rule: the main descriptor first, then the least busy of the pool.
        return min(self._fds, key=lambda f: self._busy[f])

    def submit(self, requests: Sequence[Request]) -> None:
        # glibc's aio has no vectored form: a request with several buffers goes out as
        # one over a joined buffer, and is scattered back when it completes.
        out = []
        for req in requests:
            if req.op in (Op.READ, Op.WRITE) and len(req.buffers) > 1:
                joined = memoryview(bytearray(req.length))
                if req.op is Op.WRITE:
                    joined[:] = b"".join(bytes(x) for x in req.buffers)
                req = Request(req.op, req.offset, [joined], req.length, _Gathered(req))
            out.append(req)
        super().submit(out)

    def reap(self, min_count: int = 1, timeout: float | None = None) -> list[Completion]:
        return [_scatter(c) for c in super().reap(min_count, timeout)]

    def _engine_submit(self, batch: list[tuple[int, Request]]
                       ) -> tuple[list[Any], OSError | None]:
        keep: list[Any] = []
        for tag, req in batch:
            data = req.buffers[0]
            buf = ffi.from_buffer(data, require_writable=req.op is Op.READ)
            fd = self._pick_fd()
            r = lib.qd_paio_submit(self._q, fd, 1 if req.op is Op.WRITE else 0, req.offset,
                                   buf, len(data), tag)
            if r < 0:
                return keep, OSError(-r, os.strerror(-r))
            self._busy[fd] += 1
            self._fd_of[tag] = fd
            keep.append(buf)
        return keep, None

    def _engine_reap(self, min_count: int, max_count: int,
                     timeout: float | None) -> list[tuple[int, int]]:
        ms = -1 if timeout is None else int(timeout * 1000)
        n = lib.qd_paio_reap(self._q, min_count, min(max_count, self.depth * 4), self._tags,
                             self._results, ms)
        out = [(self._tags[i], self._results[i]) for i in range(n)]
        for tag, _ in out:
            self._busy[self._fd_of.pop(tag)] -= 1
        return out

    def run_bench(self, *, write: bool, random: bool, bs: int, depth: int, nblocks: int,
                  seconds: float, seed: int, buffers: memoryview, submit_batch: int = 1,
                  max_latencies: int = 1 << 22) -> dict[str, Any]:
        """The benchmark's loop in C over the image descriptor and its fd pool (each aiocb
        is resubmitted as it completes, so ``submit_batch`` has nothing to batch)."""
        if self._inflight or self._ready:
            raise ValueError("run_bench needs an idle backend")
        lat = ffi.new("float[]", max_latencies)
        st = ffi.new("qd_bench_stats *")
        fds = ffi.new("int[]", self._fds)
        buf = ffi.from_buffer(buffers, require_writable=True)
        r = lib.qd_paio_bench(self._q, fds, len(self._fds), int(write), int(random), bs, depth,
                              nblocks, seconds, seed, ffi.cast("char *", buf),
                              int(write and self._writethrough), lat, max_latencies, st)
        if r < 0:
            raise OSError(-r, os.strerror(-r))
        return {"ios": st.ios, "errors": st.errors, "first_error": st.first_error,
                "submit_ns": st.submit_ns, "seconds": st.seconds,
                "latencies_us": ffi.unpack(lat, min(st.ios, max_latencies))}

    def _engine_free(self) -> None:
        lib.qd_paio_free(self._q)
        for fd in self._fds[1:]:
            os.close(fd)


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

