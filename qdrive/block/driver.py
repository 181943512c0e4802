"""The raw driver: open what a Drive describes and do I/O on it with an AIO backend.

The only module that opens images for I/O. Mirrors block/file-posix.c: open flags from
the plan (O_DIRECT, O_SYNC in the seed dialect, read-only), QEMU's OFD byte locks, the
length (BLKGETSIZE64 for block devices), the O_DIRECT alignment probe
(raw_probe_alignment) and bounce buffers for requests that do not fit it, write-through
as a flush after each write, no-flush as a flush that does nothing, and the werror/rerror
policies. The request queue behind a device is qdrive.block._queue.

The contract (every backend, every target: files, loop devices with 512- and 4096-byte
sectors, the fault-injecting filesystem of the tests):

1. **Full length or an errno.** Every request completes exactly once, with its whole
   length or an OSError; a short transfer is continued, never reported as done.
2. **Depth never fails a request.** Requests beyond what a backend takes at once wait in
   a queue and start as others complete.
3. **A flush succeeds only if every write acknowledged before it was submitted is
   durable.** Once a flush failed, every later flush fails with the same errno, without
   reaching the disk (file-posix.c page_cache_inconsistent: after a failed fdatasync
   Linux may have marked the unwritten pages clean, so the next fdatasync would succeed
   with the data gone); with O_DIRECT there is no page cache and nothing is remembered
   (QEMU's rule: a disk that loses its own volatile cache on a failed flush is beyond
   it). Flushes run one at a time (block/io.c bdrv_co_flush). cache=unsafe (no-flush)
   promises nothing: its flushes succeed without reaching the disk. For write-through
   (a flush after each write, done by the backend) the same memory has to live in the
   backend's flush, beside fdatasync, as it does in file-posix.c handle_aiocb_flush().
4. **Overlapping writes reach the disk in the order they were submitted**: a write
   overlapping an earlier one still in flight waits for it (block/io.c serialising
   requests; qdrive applies it to every overlapping pair). Reads never wait.
5. **Error policies** (werror=, rerror=): report gives the caller the errno; ignore tells
   the caller it worked, with the full length (the data are not written, or the read
   buffers not filled); stop (and enospc on ENOSPC) **stops the device**: the request is
   held in its place and its completion is an :class:`IOStopped` notice; requests queued
   behind it stay queued; every new request is refused with :class:`DeviceStoppedError`
   until :meth:`RawDevice.resume` retries the held requests in submission order (QEMU's
   ``cont``) and returns their final completions. So a retried write can never land on
   top of newer data. (A blocking call whose request ends up queued behind a held one
   raises DeviceStoppedError; that request stays queued and completes through reap()
   after resume().)
6. **Requests outside the device fail with EIO** (block-backend.c
   blk_check_byte_request): negative offsets or lengths, ranges past the end, offsets
   such as 2**63. The length is QEMU's: the image size rounded up to 512 bytes (block.c
   refresh_total_sectors), so the tail of a last partial sector reads as zeros and a
   write there extends the file, while a byte past the rounded length is EIO. A
   zero-length request at or before the end completes with 0, with or without O_DIRECT.
7. **close() flushes** (unless cache.no-flush or read-only; block.c bdrv_close), after
   waiting for every request in flight, then releases the backend (joining its threads),
   the descriptor and the locks; if the flush failed, or a failed completion was never
   reaped, close() raises after releasing everything (leaving a ``with`` block that
   raised, the block's exception stays the one raised and close()'s is added as a note).
   close() on a stopped device drops the held requests (each was reported by its
   IOStopped notice).
8. **Nothing outlives the device**: one dropped without close() is closed by a finalizer
   (which waits for its requests, flushes and warns with a ResourceWarning).
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import stat
import struct
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from ._queue import DeviceQueue, DeviceStoppedError, IOStopped, check_range
from ._alignment import aligned_buffer, probe_buffer_alignment, probe_request_alignment, sector_size
from .backends import Backend, Completion, Op, Request, load_backend
from ..errors import QDriveError
from ._imagelock import ImageLocked, lock_image, ofd_available
from ..model import Drive
from .plan import Locking, OpenPlan, plan_open

__all__ = ["open", "RawDevice", "IOStopped", "DeviceStoppedError", "DriverError",
           "ImageLocked"]

BLKGETSIZE64 = 0x80081272
SECTOR = 512  # BDRV_SECTOR_SIZE: QEMU's lengths are whole sectors
_ZERO_BUFFER = 1 << 16


class DriverError(QDriveError, OSError):
    """The image cannot be opened as the plan says (QEMU's message where it has one)."""


class RawDevice:
    """An open raw image or block device (use :func:`qdrive.open`). A context manager.

    Not thread-safe: use a device from one thread (or one event loop) at a time.
    """

    def __init__(self, plan: OpenPlan, backend: str | None = None,
                 **backend_options: Any) -> None:
        if not plan.path:
            raise DriverError(errno.EINVAL, "the drive has no file to open")
        self.plan = plan
        self.path = plan.path
        self.read_only = plan.read_only
        self._closed = False
        # 1. open, as raw_open_common() does: the flags come from the plan
        fd = self._open()
        try:
            # 2. refuse images that are not raw; 3. QEMU's locks; 4. length and alignment
            self._check_format(fd)
            self._lock(fd)
            length = self._length(fd)
            self.request_alignment, self.buffer_alignment = self._alignment(fd)
            # 5. the backend (aio=), which native refuses without O_DIRECT as QEMU does
            self.backend = backend or plan.aio
            if self.backend == "native" and not plan.direct:  # block/file-posix.c
                raise DriverError(errno.EINVAL, "aio=native was specified, but it requires "
                                  "cache.direct=on, which was not specified.")
            zero = aligned_buffer(_ZERO_BUFFER, self.buffer_alignment)
            # Write-through is the queue's flush after each write (block/io.c emulates
            # FUA with bdrv_co_flush), so the backend only ever sees plain writes; on the
            # page cache the backend may start their writeback early for that flush.
            early = plan.writethrough and not plan.no_flush and not plan.direct
            options: dict[str, Any] = {"no_flush": plan.no_flush, "zero_buffer": zero,
                                       "early_writeback": early, **backend_options}
            impl: Backend = load_backend(self.backend).create(fd, **options)
        except BaseException:
            os.close(fd)
            raise
        # 6. the request queue owns the descriptor and the backend from here on; the
        # finalizer holds the queue only, so it runs when the device is dropped.
        self._queue = DeviceQueue(fd, impl, plan, length=length,
                                  request_alignment=self.request_alignment,
                                  buffer_alignment=self.buffer_alignment)
        self._fd = fd
        self._finalizer = weakref.finalize(self, self._queue.dropped)

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

    def _check_format(self, fd: int) -> None:
        fmt = self.plan.format
        if fmt is None:  # no format=: probe the header as QEMU would (O_DIRECT-safe buffer)
            from ..probe import MAGIC

            head = aligned_buffer(4096)
            try:
                os.preadv(fd, [head], 0)
            except OSError:
                pass
            fmt = next((name for magic, name in MAGIC if bytes(head).startswith(magic)), "raw")
        if fmt not in ("raw", "file", "host_device", "host_cdrom"):
            raise DriverError(errno.EINVAL, f"qdrive's driver opens raw images only; "
                              f"'{self.path}' is {fmt}: convert it (qemu-img convert -O raw) "
                              "or let QEMU open it")

    def _lock(self, fd: int) -> None:
        mode = self.plan.locking
        if mode is Locking.OFF or (mode is Locking.AUTO and not ofd_available()):
            return
        if not ofd_available():
            raise DriverError(errno.ENOLCK, "file.locking=on but OFD locks are not available")
        try:
            lock_image(fd, self.path, write=not self.read_only)
        except ImageLocked:
            raise
        except OSError as exc:  # a filesystem without locks: auto gives up silently
            if mode is Locking.ON:
                raise DriverError(exc.errno, f"Failed to lock '{self.path}': "
                                  f"{exc.strerror}") from None

    @staticmethod
    def _length(fd: int) -> int:
        """raw_getlength(), rounded up to whole sectors (block.c refresh_total_sectors)."""
        st = os.fstat(fd)
        if stat.S_ISBLK(st.st_mode):
            buf = fcntl.ioctl(fd, BLKGETSIZE64, b"\0" * 8)
            return int(struct.unpack("Q", buf)[0])
        return -(-st.st_size // SECTOR) * SECTOR

    def _alignment(self, fd: int) -> tuple[int, int]:
        """block/file-posix.c raw_probe_alignment(): (request, buffer) alignment."""
        if not self.plan.direct:
            return 1, 1
        request = sector_size(fd) or probe_request_alignment(fd)
        buffer = probe_buffer_alignment(fd, request) if request else 0
        if not request or not buffer:
            raise DriverError(errno.EINVAL, "Could not find working O_DIRECT alignment\n"
                              "Try cache.direct=off")
        return request, buffer

    # -- what the device is -------------------------------------------------------------
    @property
    def length(self) -> int:
        """The device's length in bytes (QEMU's: the image size rounded up to 512)."""
        return self._queue.length

    @property
    def stopped(self) -> bool:
        """True after a stop (see :class:`IOStopped`), until :meth:`resume`."""
        return self._queue.stopped

    @property
    def held(self) -> tuple[Request, ...]:
        """The requests a stop holds, in submission order."""
        return self._queue.held

    @property
    def _backend(self) -> Backend:
        return self._queue.backend

    def buffer(self, size: int) -> memoryview:
        """A buffer suitable for this device's O_DIRECT requests (aligned, zeroed)."""
        return aligned_buffer(size, max(self.buffer_alignment, mmap.PAGESIZE))

    # -- the queue API ----------------------------------------------------------------
    def submit(self, requests: Iterable[Request]) -> None:
        """Start requests; their completions come back from :meth:`reap`.

        Every request of the batch is checked first (read-only: EROFS, outside the device:
        EIO); if one fails nothing starts. On a stopped device: DeviceStoppedError."""
        self._check_open()
        self._queue.submit(requests)

    def reap(self, min_count: int = 1, timeout: float | None = None) -> list[Completion]:
        """Wait for at least ``min_count`` completions (fewer only on ``timeout``, or on a
        stopped device when the rest wait behind a held request)."""
        self._check_open()
        return self._queue.reap(min_count, timeout)

    def in_flight(self) -> int:
        """Requests submitted and not reaped yet (held ones not counted)."""
        return self._queue.in_flight()

    def resume(self) -> list[Completion]:
        """After a stop: retry the held requests in submission order, as QEMU's ``cont``;
        returns their final completions. If one stops again, it and the ones after it stay
        held (its completion in the list is a new IOStopped notice). Blocks until done."""
        self._check_open()
        return self._queue.resume()

    # -- blocking calls -----------------------------------------------------------------
    def _run(self, req: Request) -> int:
        self._queue.submit([req])
        c = self._queue.wait_for(req)
        if c.error is not None:
            raise c.error
        return c.result

    def pread(self, n: int, offset: int) -> bytes:
        """Read ``n`` bytes at ``offset``, like os.pread (but never short)."""
        self._check_open()
        check_range(offset, n, self.length)  # before a buffer of a negative size is made
        buf = self.buffer(n)[:n]
        self._run(Request(Op.READ, offset, [buf]))
        return bytes(buf)

    def pwrite(self, data: bytes | memoryview, offset: int) -> int:
        """Write all of ``data`` at ``offset``; returns its length, like os.pwrite."""
        self._check_open()
        return self._run(Request(Op.WRITE, offset, [memoryview(data)]))

    def preadv(self, buffers: Sequence[memoryview], offset: int) -> int:
        """Fill ``buffers`` from ``offset``; returns the total."""
        self._check_open()
        return self._run(Request(Op.READ, offset, list(buffers)))

    def pwritev(self, buffers: Sequence[memoryview | bytes], offset: int) -> int:
        """Write ``buffers`` at ``offset``; returns the total."""
        self._check_open()
        return self._run(Request(Op.WRITE, offset, [memoryview(b) for b in buffers]))

    def flush(self) -> None:
        """Make written data durable (a no-op with cache.no-flush=on); see the contract."""
        self._check_open()
        self._run(Request(Op.FLUSH))

    def discard(self, offset: int, length: int) -> None:
        """Tell the storage the range is unused (hole punch / BLKDISCARD)."""
        self._check_open()
        self._run(Request(Op.DISCARD, offset, (), length))

    def write_zeroes(self, offset: int, length: int) -> None:
        """Make the range read back as zeros."""
        self._check_open()
        self._run(Request(Op.WRITE_ZEROES, offset, (), length))

    def truncate(self, length: int) -> None:
        """Resize a regular file (block devices cannot be resized)."""
        self._check_open()
        if self.read_only:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        os.ftruncate(self._fd, length)
        self._queue.length = -(-length // SECTOR) * SECTOR

    # -- asyncio --------------------------------------------------------------------------
    async def read(self, n: int, offset: int) -> bytes:
        """``await dev.read(n, offset)``: completion through the backend's eventfd."""
        self._check_open()
        check_range(offset, n, self.length)
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
        import asyncio

        self._check_open()
        done: int = await self._waiter(asyncio.get_running_loop()).run(req, self.submit)
        return done

    def _waiter(self, loop: Any) -> Any:
        """The asyncio waiter of this device for ``loop`` (qdrive/block/_aio.py), made on
        the first await: it watches the backend's eventfd and reaps through the device."""
        from ._aio import Waiter

        waiter: Waiter | None = self.__dict__.get("_aio_waiter")
        if waiter is not None and waiter.loop is not loop:
            if waiter.waiting and not waiter.loop.is_closed():
                raise RuntimeError("a RawDevice serves one event loop at a time")
            waiter.close()
            waiter = None
        if waiter is None:
            # Completions nobody awaits belong to the queue API's next reap().
            waiter = Waiter(loop, self._backend.eventfd(), lambda: self.reap(0),
                            self._queue.hand_back)
            self.__dict__["_aio_waiter"] = waiter
        return waiter

    # -- closing --------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("I/O on a closed RawDevice")

    def fileno(self) -> int:
        """The descriptor (for fstat and the like; do I/O through the device)."""
        return self._fd

    def close(self) -> None:
        """Wait for the requests in flight, flush, then release the backend, the image and
        its locks. Raises (after releasing everything) if the flush failed or a failed
        completion was never reaped."""
        if self._closed:
            return
        try:
            # First: the asyncio waiter may still reap through the device; awaits still
            # pending get their completions before the eventfd goes.
            waiter = self.__dict__.pop("_aio_waiter", None)
            if waiter is not None:
                waiter.close(lambda: self.reap(1), self.in_flight)
        finally:
            self._closed = True
            self._finalizer.detach()
            problems = self._queue.close()
        if problems:
            first = problems[0]
            for other in problems[1:]:
                first.add_note(f"also: {other}")
            raise first

    def __enter__(self) -> RawDevice:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            self.close()
        except OSError as problem:
            if exc is None:
                raise
            # The error that ended the block stays the one raised; close()'s own failure
            # (a final flush, requests left queued behind a stop) rides along as a note.
            exc.add_note(f"closing the device failed too: {problem}")

    async def __aenter__(self) -> RawDevice:
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        """``async with``: as ``with``, but the final flush is awaited first, so the event
        loop is not blocked while it runs (close() then has nothing left to write)."""
        if not self._closed and exc is None and not self.read_only and not self.stopped:
            await self.aflush()
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        state = " closed" if self._closed else " stopped" if self.stopped else ""
        return (f"<RawDevice {self.path!r} backend={self.backend} length={self.length} "
                f"align={self.request_alignment}/{self.buffer_alignment}"
                f"{' read-only' if self.read_only else ''}{state}>")


def open(drive: Drive | OpenPlan, *, backend: str | None = None,  # noqa: A001
         **backend_options: Any) -> RawDevice:
    """Open what ``drive`` (a Drive or an OpenPlan) describes.

    A -drive string is the front end's to read: :func:`qdrive.open` takes one.

    ``backend`` is threads, posix, native or io_uring; by default the drive's aio=
    (qemu-7.2) or the 2008 dialect's rule (qemu-0.9-sync: native with O_DIRECT, else posix).
    ``backend_options`` go to the backend: ``workers`` (threads, default 64),
    ``fd_pool`` (posix, default 4, 0 = off).
    """
    if isinstance(drive, str):  # the block wing reads no strings (it imports no front end)
        raise TypeError("qdrive.block.driver.open() takes a Drive or an OpenPlan; "
                        "qdrive.open() also takes a -drive string")
    plan = drive if isinstance(drive, OpenPlan) else plan_open(drive)
    return RawDevice(plan, backend, **backend_options)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
