"""The raw driver: open what a Drive describes and do I/O on it with an AIO backend.

The only module that opens images for I/O. Mirrors block/file-posix.c: open flags from
the plan (O_DIRECT, O_SYNC in the seed dialect, read-only), QEMU's OFD byte locks, the
length (BLKGETSIZE64 for block devices), the O_DIRECT alignment probe
(raw_probe_alignment) and bounce buffers for requests that do not fit it (block/io.c
does read-modify-write for unaligned writes), write-through as a flush after each write,
no-flush as a flush that does nothing, and the werror/rerror policies (blockdev.c).
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import stat
import struct
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from .alignment import (
    aligned_buffer, probe_buffer_alignment, probe_request_alignment, sector_size,
)
from .backends import Backend, Completion, Op, Request, load_backend
from .backends._io import read_full
from .errors import QDriveError
from .imagelock import ImageLocked, lock_image, ofd_available
from .model import Drive
from .plan import OpenPlan, plan_open

__all__ = ["open", "RawDevice", "IOStopped", "DriverError", "ImageLocked"]

BLKGETSIZE64 = 0x80081272
_ZERO_BUFFER = 1 << 16


class DriverError(QDriveError, OSError):
    """The image cannot be opened as the plan says (QEMU's message where it has one)."""


class IOStopped(QDriveError, OSError):
    """werror/rerror=stop (or enospc on ENOSPC): the request failed and I/O is paused.

    ``request`` is the one that failed; the caller resolves the problem (frees space, ...)
    and submits it again, as QEMU's ``cont`` retries it.
    """

    def __init__(self, request: Request, cause: OSError) -> None:
        super().__init__(cause.errno, f"I/O stopped: {cause.strerror}")
        self.request = request
        self.cause = cause


@attrs.define(eq=False)
class _Tracked:
    """A request in flight and what completing it involves (bounce copy, policy)."""

    user: Request
    issued: Request
    start: int  # aligned range the issued request covers
    end: int
    rmw: bool = False
    bounce_slice: slice | None = None


class RawDevice:
    """An open raw image or block device (use :func:`qdrive.open`). A context manager."""

    def __init__(self, plan: OpenPlan, backend: str | None = None,
                 **backend_options: Any) -> None:
        if not plan.path:
            raise DriverError(errno.EINVAL, "the drive has no file to open")
        self.plan = plan
        self.path = plan.path
        self.read_only = plan.read_only
        self._fd = self._open()
        try:
            self._check_format()
            self._lock()
            self.length = self._length()
            self.request_alignment, self.buffer_alignment = self._alignment()
            self._zero = aligned_buffer(_ZERO_BUFFER, self.buffer_alignment)
            self.backend = backend or self._default_backend()
            if self.backend == "native" and not plan.direct:  # block/file-posix.c
                raise DriverError(errno.EINVAL, "aio=native was specified, but it requires "
                                  "cache.direct=on, which was not specified.")
            options: dict[str, Any] = {"writethrough": plan.writethrough,
                                       "no_flush": plan.no_flush, "zero_buffer": self._zero,
                                       **backend_options}
            self._backend: Backend = load_backend(self.backend).create(self._fd, **options)
        except BaseException:
            os.close(self._fd)
            raise
        self._tracked: dict[int, _Tracked] = {}
        self._ready: list[Completion] = []
        self._closed = False

    # -- opening ----------------------------------------------------------------------
    def _open(self) -> int:
        try:
            return os.open(self.path, self.plan.open_flags)
        except OSError as exc:
            if exc.errno == errno.EINVAL and self.plan.open_flags & os.O_DIRECT:
                raise DriverError(errno.EINVAL, f"Could not open '{self.path}': filesystem "
                                  "does not support O_DIRECT") from None
            raise DriverError(exc.errno, f"Could not open '{self.path}': "
                              f"{os.strerror(exc.errno or errno.EIO)}") from None

    def _check_format(self) -> None:
        fmt = self.plan.format
        if fmt is None:  # no format=: probe the header as QEMU would (O_DIRECT-safe buffer)
            from .probe import MAGIC

            head = aligned_buffer(4096)
            try:
                os.preadv(self._fd, [head], 0)
            except OSError:
                pass
            fmt = next((name for magic, name in MAGIC if bytes(head).startswith(magic)), "raw")
        if fmt not in ("raw", "file", "host_device", "host_cdrom"):
            raise DriverError(errno.EINVAL, f"qdrive's driver opens raw images only; "
                              f"'{self.path}' is {fmt}: convert it (qemu-img convert -O raw) "
                              "or let QEMU open it")

    def _lock(self) -> None:
        mode = self.plan.locking
        if mode == "off" or (mode == "auto" and not ofd_available()):
            return
        if not ofd_available():
            raise DriverError(errno.ENOLCK, "file.locking=on but OFD locks are not available")
        try:
            lock_image(self._fd, self.path, write=not self.read_only)
        except ImageLocked:
            raise
        except OSError as exc:  # a filesystem without locks: auto gives up silently
            if mode == "on":
                raise DriverError(exc.errno, f"Failed to lock '{self.path}': "
                                  f"{exc.strerror}") from None

    def _length(self) -> int:
        st = os.fstat(self._fd)
        if stat.S_ISBLK(st.st_mode):
            buf = fcntl.ioctl(self._fd, BLKGETSIZE64, b"\0" * 8)
            return int(struct.unpack("Q", buf)[0])
        return st.st_size

    def _alignment(self) -> tuple[int, int]:
        """block/file-posix.c raw_probe_alignment(): (request, buffer) alignment."""
        if not self.plan.direct:
            return 1, 1
        request = sector_size(self._fd) or probe_request_alignment(self._fd)
        buffer = probe_buffer_alignment(self._fd, request) if request else 0
        if not request or not buffer:
            raise DriverError(errno.EINVAL, "Could not find working O_DIRECT alignment\n"
                              "Try cache.direct=off")
        return request, buffer

    def _default_backend(self) -> str:
        return self.plan.aio

    # -- buffers ----------------------------------------------------------------------
    def buffer(self, size: int) -> memoryview:
        """A buffer suitable for this device's O_DIRECT requests (aligned, zeroed)."""
        return aligned_buffer(size, max(self.buffer_alignment, mmap.PAGESIZE))

    def _fits(self, offset: int, buffers: Sequence[memoryview]) -> bool:
        a, b = self.request_alignment, self.buffer_alignment
        if a == 1 and b == 1:
            return True
        if offset % a:
            return False
        return all(len(x) % a == 0 and _address(x) % b == 0 for x in buffers)

    # -- the queue API ----------------------------------------------------------------
    def submit(self, requests: Iterable[Request]) -> None:
        """Start requests; their completions come back from :meth:`reap`."""
        self._check_open()
        issued = []
        for req in requests:
            issued.append(self._prepare(req))
        if issued:
            self._backend.submit([t.issued for t in issued])

    def _prepare(self, req: Request) -> _Tracked:
        if req.op is not Op.READ and req.op is not Op.FLUSH and self.read_only:
            raise OSError(errno.EROFS, f"{os.strerror(errno.EROFS)}: the drive is read-only")
        if req.op in (Op.READ, Op.WRITE) and req.buffers:
            req.length = sum(len(b) for b in req.buffers)
        if req.op in (Op.READ, Op.WRITE) and not self._fits(req.offset, req.buffers):
            tracked = self._bounce(req)
        else:
            tracked = _Tracked(req, req, req.offset, req.offset + req.length)
        if req.op is not Op.READ and req.op is not Op.FLUSH:
            self._wait_for_overlaps(tracked)
        if tracked.rmw:
            self._fill_edges(tracked)
        self._tracked[id(tracked.issued)] = tracked
        return tracked

    def _bounce(self, req: Request) -> _Tracked:
        a = self.request_alignment
        start = req.offset // a * a
        end = -(-(req.offset + req.length) // a) * a
        buf = self.buffer(end - start)[: end - start]
        inner = slice(req.offset - start, req.offset - start + req.length)
        issued = Request(req.op, start, [buf], end - start, req.tag)
        tracked = _Tracked(req, issued, start, end, rmw=req.op is Op.WRITE, bounce_slice=inner)
        if req.op is Op.WRITE:
            pos = inner.start
            for b in req.buffers:
                buf[pos:pos + len(b)] = b
                pos += len(b)
        return tracked

    def _fill_edges(self, t: _Tracked) -> None:
        # Read-modify-write (block/io.c bdrv_co_do_pwritev_part): the partial first and
        # last blocks are read before the caller's bytes go over them.
        assert t.bounce_slice is not None
        buf, a, s = t.issued.buffers[0], self.request_alignment, t.bounce_slice
        saved = bytes(buf[s])
        if s.start:
            read_full(self._fd, [buf[:a]], t.start)
        if s.stop != len(buf):
            read_full(self._fd, [buf[len(buf) - a:]], t.end - a)
        buf[s] = saved

    def _wait_for_overlaps(self, t: _Tracked) -> None:
        """Overlapping writes wait when either side is a read-modify-write (QEMU's
        serialising requests), so a read-modify-write never reads a half-done block."""
        def clash(o: _Tracked) -> bool:
            return (o.start < t.end and t.start < o.end and o.user.op is not Op.READ and
                    (o.rmw or t.rmw))

        while any(clash(o) for o in self._tracked.values()):
            self._ready += self._collect(self._backend.reap(1))

    def reap(self, min_count: int = 1, timeout: float | None = None) -> list[Completion]:
        """Wait for at least ``min_count`` completions (fewer only on ``timeout``)."""
        self._check_open()
        out, self._ready = self._ready, []
        need = max(0, min(min_count, len(out) + len(self._tracked)) - len(out))
        if need or self._backend.in_flight():
            out += self._collect(self._backend.reap(need, timeout))
        return out

    def _collect(self, done: list[Completion]) -> list[Completion]:
        return [self._complete(c) for c in done]

    def _complete(self, c: Completion) -> Completion:
        t = self._tracked.pop(id(c.request))
        if c.error is None and t.user.op is Op.READ and t.bounce_slice is not None:
            data, pos = t.issued.buffers[0][t.bounce_slice], 0
            for b in t.user.buffers:
                b[:] = data[pos:pos + len(b)]
                pos += len(b)
        if c.error is None:
            return Completion(t.user, t.user.length)
        return Completion(t.user, -1, self._policy(t.user, c.error))

    def _policy(self, req: Request, err: OSError) -> OSError | None:
        """blockdev.c error actions: report, ignore, stop, enospc (stop on ENOSPC only)."""
        action = self.plan.rerror if req.op is Op.READ else self.plan.werror
        if action == "ignore":
            return None
        if action == "stop" or (action == "enospc" and err.errno == errno.ENOSPC):
            return IOStopped(req, err)
        return err

    def in_flight(self) -> int:
        """Requests submitted and not reaped yet."""
        return len(self._tracked) + len(self._ready)

    # -- blocking calls -----------------------------------------------------------------
    def _run(self, req: Request) -> int:
        self.submit([req])
        others: list[Completion] = []
        try:
            while True:
                for c in self._collect(self._backend.reap(1)):
                    if c.request is not req:
                        others.append(c)  # someone else's: keep it for their reap()
                    elif c.error is not None:
                        raise c.error
                    else:
                        return c.result
        finally:
            self._ready += others

    def pread(self, n: int, offset: int) -> bytes:
        """Read ``n`` bytes at ``offset`` (zeros past the end), like os.pread."""
        buf = self.buffer(n)[:n]
        self._run(Request(Op.READ, offset, [buf]))
        return bytes(buf)

    def pwrite(self, data: bytes | memoryview, offset: int) -> int:
        """Write all of ``data`` at ``offset``; returns its length, like os.pwrite."""
        return self._run(Request(Op.WRITE, offset, [memoryview(data)]))

    def preadv(self, buffers: Sequence[memoryview], offset: int) -> int:
        """Fill ``buffers`` from ``offset``; returns the total."""
        return self._run(Request(Op.READ, offset, list(buffers)))

    def pwritev(self, buffers: Sequence[memoryview | bytes], offset: int) -> int:
        """Write ``buffers`` at ``offset``; returns the total."""
        return self._run(Request(Op.WRITE, offset, [memoryview(b) for b in buffers]))

    def flush(self) -> None:
        """Make written data durable (a no-op with cache.no-flush=on)."""
        self._run(Request(Op.FLUSH))

    def discard(self, offset: int, length: int) -> None:
        """Tell the storage the range is unused (hole punch / BLKDISCARD)."""
        self._run(Request(Op.DISCARD, offset, (), length))

    def write_zeroes(self, offset: int, length: int) -> None:
        """Make the range read back as zeros."""
        self._run(Request(Op.WRITE_ZEROES, offset, (), length))

    def truncate(self, length: int) -> None:
        """Resize a regular file (block devices cannot be resized)."""
        self._check_open()
        if self.read_only:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        os.ftruncate(self._fd, length)
        self.length = length

    # -- asyncio --------------------------------------------------------------------------
    async def read(self, n: int, offset: int) -> bytes:
        """``await dev.read(n, offset)``: completion through the backend's eventfd."""
        buf = self.buffer(n)[:n]
        await self._await(Request(Op.READ, offset, [buf]))
        return bytes(buf)

    async def write(self, data: bytes | memoryview, offset: int) -> int:
        """``await dev.write(data, offset)``."""
        return await self._await(Request(Op.WRITE, offset, [memoryview(data)]))

    async def aflush(self) -> None:
        """``await dev.aflush()``."""
        await self._await(Request(Op.FLUSH))

    async def _await(self, req: Request) -> int:
        from ._aio import await_request

        return await await_request(self, req)

    # -- closing --------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("I/O on a closed RawDevice")

    def fileno(self) -> int:
        """The descriptor (for fstat and the like; do I/O through the device)."""
        return self._fd

    def close(self) -> None:
        """Wait for requests in flight, then close the backend and the image (and its locks)."""
        if self._closed:
            return
        try:
            from ._aio import detach

            detach(self)
            self._backend.close()
        finally:
            self._closed = True
            os.close(self._fd)

    def __enter__(self) -> RawDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<RawDevice {self.path!r} backend={self.backend} length={self.length} "
                f"align={self.request_alignment}/{self.buffer_alignment}"
                f"{' read-only' if self.read_only else ''}>")


def _address(view: memoryview) -> int:
    import ctypes

    if view.readonly:  # bytes: copy-free address is not available; treat as unaligned
        return 1
    return ctypes.addressof(ctypes.c_char.from_buffer(view))


def open(drive: Drive | OpenPlan | str, *, backend: str | None = None,  # noqa: A001
         **backend_options: Any) -> RawDevice:
    """Open what ``drive`` (a Drive, an OpenPlan or a -drive string) describes.

    ``backend`` is threads, posix, native or io_uring; by default the drive's aio=
    (qemu-7.2) or the seed's rule (qemu-0.9-sync: native with O_DIRECT, else posix).
    ``backend_options`` go to the backend: ``workers`` (threads, default 64),
    ``fd_pool`` (posix, default 4, 0 = off).
    """
    if isinstance(drive, str):
        from .check import parse_drive

        drive = parse_drive(drive)
    plan = drive if isinstance(drive, OpenPlan) else plan_open(drive)
    return RawDevice(plan, backend, **backend_options)
