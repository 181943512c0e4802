"""O_DIRECT alignment: aligned buffers and QEMU's probe for what the device needs.

Mirrors block/file-posix.c raw_probe_alignment(): the logical block size from BLKSSZGET,
else trial reads of 1..4096 bytes (a 1-byte success means "unknown": the page size);
then the memory alignment from trial reads into buffers offset by 1..4096 bytes.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import stat
import struct

__all__ = ["aligned_buffer", "sector_size", "probe_request_alignment",
           "probe_buffer_alignment"]

BLKSSZGET = 0x1268
_PROBE_SIZES = (1, 512, 1024, 2048, 4096)
_MAX_ALIGN = max(4096, mmap.PAGESIZE)


def aligned_buffer(size: int, align: int = mmap.PAGESIZE) -> memoryview:
    """A zeroed, page-aligned buffer of at least ``size`` bytes (rounded up to ``align``)."""
    size = max(-(-size // align) * align, align)
    return memoryview(mmap.mmap(-1, size))


def sector_size(fd: int) -> int:
    """BLKSSZGET for a block device, 0 otherwise or when the ioctl fails."""
    if not stat.S_ISBLK(os.fstat(fd).st_mode):
        return 0
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, BLKSSZGET, b"\0" * 4))[0])
    except OSError:
        return 0


def _works(fd: int, view: memoryview) -> bool:
    try:
        os.preadv(fd, [view], 0)
    except OSError as exc:
        return exc.errno != errno.EINVAL  # other errors say nothing about alignment
    return True


def probe_request_alignment(fd: int) -> int:
    """The smallest read length O_DIRECT accepts (0 if none does)."""
    buf = aligned_buffer(_MAX_ALIGN)
    for size in _PROBE_SIZES:
        if _works(fd, buf[:size]):
            return _MAX_ALIGN if size == 1 else size
    return 0


def probe_buffer_alignment(fd: int, request: int) -> int:
    """The smallest memory alignment O_DIRECT accepts for ``request``-byte reads."""
    buf = aligned_buffer(2 * _MAX_ALIGN + request)
    for offset in _PROBE_SIZES:
        if _works(fd, buf[offset:offset + request]):
            return request if offset == 1 else offset
    return 0
