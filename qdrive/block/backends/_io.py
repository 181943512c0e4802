"""Full-length request execution with plain system calls, shared by the backends.

Mirrors block/file-posix.c handle_aiocb_rw() (loop until done, zero-fill at EOF,
ENOSPC when a write makes no progress), handle_aiocb_flush(), handle_aiocb_discard()
(PUNCH_HOLE / BLKDISCARD) and handle_aiocb_write_zeroes() (ZERO_RANGE / BLKZEROOUT).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import os
import stat
import struct
from collections.abc import Sequence

from . import Completion, Op, Request

__all__ = ["execute", "read_full", "write_full", "flush", "advance"]

_RETRY = (errno.EINTR, errno.EAGAIN)
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE = 0x01, 0x02, 0x10
BLKDISCARD, BLKZEROOUT = 0x1277, 0x127F
# The kernel takes at most this many buffers per preadv/pwritev (UIO_MAXIOV); a longer
# list goes in windows of this size, never truncated.
IOV_MAX = os.sysconf("SC_IOV_MAX")


def advance(buffers: Sequence[memoryview], done: int, limit: int | None = None
            ) -> list[memoryview]:
    """The part of ``buffers`` after the first ``done`` bytes (at most ``limit`` of them)."""
    out = []
    for b in buffers:
        if done >= len(b):
            done -= len(b)
            continue
        out.append(b[done:])
        done = 0
        if limit is not None and len(out) >= limit:
            break
    return out


def read_full(fd: int, buffers: Sequence[memoryview], offset: int) -> int:
    """preadv until every buffer is full; past end of file the rest is zeros."""
    total = sum(len(b) for b in buffers)
    done = 0
    while done < total:
        try:
            n = os.preadv(fd, advance(buffers, done, IOV_MAX), offset + done)
        except OSError as exc:
            if exc.errno in _RETRY:
                continue
            raise
        if n == 0:  # end of file: QEMU zero-fills the short read
            for b in advance(buffers, done):
                b[:] = bytes(len(b))
            return total
        done += n
    return total


def write_full(fd: int, buffers: Sequence[memoryview], offset: int) -> int:
    """pwritev until everything is written; no progress means the device is full."""
    total = sum(len(b) for b in buffers)
    done = 0
    while done < total:
        try:
            n = os.pwritev(fd, advance(buffers, done, IOV_MAX), offset + done)
        except OSError as exc:
            if exc.errno in _RETRY:
                continue
            raise
        if n == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        done += n
    return total


def flush(fd: int) -> None:
    """fdatasync, retried on EINTR."""
    while True:
        try:
            os.fdatasync(fd)
            return
        except OSError as exc:
            if exc.errno not in _RETRY:
                raise


@functools.cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    return libc


def _fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    if _libc().fallocate(fd, mode, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _is_block(fd: int) -> bool:
    return stat.S_ISBLK(os.fstat(fd).st_mode)


def discard(fd: int, offset: int, length: int) -> None:
    """Punch a hole (files) or BLKDISCARD (block devices); unsupported = nothing to do."""
    try:
        if _is_block(fd):
            fcntl.ioctl(fd, BLKDISCARD, struct.pack("QQ", offset, length))
        else:
            _fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length)
    except OSError as exc:  # discard is a hint: QEMU ignores ENOTSUP here too
        if exc.errno not in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL):
            raise


def write_zeroes(fd: int, offset: int, length: int, zero_buffer: memoryview) -> None:
    """ZERO_RANGE / BLKZEROOUT, else plain writes of zeros from ``zero_buffer``."""
    try:
        if _is_block(fd):
            fcntl.ioctl(fd, BLKZEROOUT, struct.pack("QQ", offset, length))
        else:
            _fallocate(fd, FALLOC_FL_ZERO_RANGE, offset, length)
        return
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL):
            raise
    done = 0
    while done < length:
        n = min(len(zero_buffer), length - done)
        write_full(fd, [zero_buffer[:n]], offset + done)
        done += n


def execute(fd: int, req: Request, no_flush: bool, zero_buffer: memoryview) -> Completion:
    """Run one request to completion, as a backend worker does. Write-through is not done
    here: the device queue follows each write with a flush request of its own."""
    try:
        if req.op is Op.READ:
            n = read_full(fd, req.buffers, req.offset)
        elif req.op is Op.WRITE:
            n = write_full(fd, req.buffers, req.offset)
        elif req.op is Op.FLUSH:
            n = 0
            if not no_flush:
                flush(fd)
        elif req.op is Op.DISCARD:
            discard(fd, req.offset, req.length)
            n = req.length
        else:
            write_zeroes(fd, req.offset, req.length, zero_buffer)
            n = req.length
    except OSError as exc:
        return Completion(req, -1, exc.with_traceback(None))  # no frames kept alive
    return Completion(req, n)
