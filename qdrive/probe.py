"""What QEMU learns from the image file before it starts: existence and format magic.

The only module above the driver that touches files, and it only reads
headers. Mirrors block.c find_image_format() and the probe functions of
block/qcow2.c, block/qcow.c, block/vmdk.c ... (the magic numbers at offset 0).
"""

from __future__ import annotations

import errno
import os
import stat

import attrs

__all__ = ["ProbeResult", "probe_file", "probe_fd", "file_identity", "qcow2_backing_format",
           "image_length", "MAGIC"]

# Format magic at offset 0 (block/*.c *_probe()); raw is the fallback.
MAGIC = (
    (b"QFI\xfb\x00\x00\x00\x02", "qcow2"), (b"QFI\xfb\x00\x00\x00\x03", "qcow2"),
    (b"QFI\xfb\x00\x00\x00\x01", "qcow"), (b"KDMV", "vmdk"), (b"conectix", "vpc"),
    (b"vhdxfile", "vhdx"), (b"QED\x00", "qed"), (b"LUKS\xba\xbe", "luks"),
    # block/parallels.c parallels_probe(): HEADER_MAGIC or HEADER_MAGIC2, then version 2
    (b"WithoutFreeSpace\x02\x00\x00\x00", "parallels"),
    (b"WithouFreSpacExt\x02\x00\x00\x00", "parallels"),
)
PROBE_SIZE = 2048  # block.c BLOCK_PROBE_BUF_SIZE: what the format probes read
TAIL_SIZE = 1024  # the end of the file: block/dmg.c looks for its trailer there


@attrs.frozen
class ProbeResult:
    """The file as QEMU's open would find it."""

    exists: bool
    error: str = ""  # strerror text when it cannot be opened
    format: str | None = None  # probed from the header
    write_access: bool = False  # the file's permissions let this process write it
    device: bool = False  # a character or block device (what host_device accepts)
    backing_file: str | None = None  # qcow2 header's backing file name, if any
    head: bytes = b""  # the first bytes of the image, as the format probes read them
    size: int | None = None  # the length bdrv_getlength() reports (file or device)
    tail: bytes = b""  # the last TAIL_SIZE bytes of a file or block device


def probe_file(path: str) -> ProbeResult:
    """Open ``path`` read-only (as QEMU's first open does), read its header, close it."""
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return ProbeResult(False, os.strerror(exc.errno or errno.EIO))
    except ValueError:  # a NUL in the name: no such file can exist
        return ProbeResult(False, os.strerror(errno.ENOENT))
    try:
        return probe_fd(fd, os.access(path, os.W_OK))
    finally:
        os.close(fd)


def probe_fd(fd: int, write_access: bool) -> ProbeResult:
    """The header probe of an image already open as ``fd`` (the policy's checked inode)."""
    try:
        st = os.fstat(fd)
        header = os.pread(fd, PROBE_SIZE, 0) if not stat.S_ISDIR(st.st_mode) else b""
        size = os.lseek(fd, 0, os.SEEK_END) if not stat.S_ISDIR(st.st_mode) else None
        tail = os.pread(fd, TAIL_SIZE, max(0, size - TAIL_SIZE)) \
            if size and (stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode)) else b""
    except OSError as exc:
        return ProbeResult(True, os.strerror(exc.errno or errno.EIO))
    fmt = next((name for magic, name in MAGIC if header.startswith(magic)), None) or \
        _other_probes(header)
    return ProbeResult(True, "", fmt, write_access,
                       stat.S_ISBLK(st.st_mode) or stat.S_ISCHR(st.st_mode),
                       _qcow2_backing(header) if fmt == "qcow2" else None, header, size, tail)


_CLOOP_MAGIC = (b"#!/bin/sh\n#V2.0 Format\n"
                b"modprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n")


def _other_probes(header: bytes) -> str:
    """The probes that look past offset 0 (block.c bdrv_probe_all() reads 2048 bytes,
    zeros past the end): block/vdi.c vdi_probe() (signature at 0x40), block/bochs.c
    bochs_probe() (three NUL-terminated names and a version), block/cloop.c
    cloop_probe() (its shell preamble; it scores 2, above raw's 1)."""
    buf = header.ljust(PROBE_SIZE, b"\0")
    if int.from_bytes(buf[0x40:0x44], "little") == 0xBEDA107F:
        return "vdi"
    names = [buf[at:at + width].split(b"\0", 1)[0] for at, width in ((0, 32), (32, 16),
                                                                    (48, 16))]
    if names == [b"Bochs Virtual HD Image", b"Redolog", b"Growing"] and \
            int.from_bytes(buf[64:68], "little") in (0x20000, 0x10000):
        return "bochs"
    if buf.startswith(_CLOOP_MAGIC):
        return "cloop"
    return "raw"


def _qcow2_backing(header: bytes) -> str | None:
    # qcow2 header: backing_file_offset (u64 at 8), backing_file_size (u32 at 16).
    if len(header) < 20:
        return None
    offset = int.from_bytes(header[8:16], "big")
    size = int.from_bytes(header[16:20], "big")
    if not offset or not size or offset + size > len(header):
        return None
    return header[offset:offset + size].decode("utf-8", "replace")


_QCOW2_EXT_BACKING_FORMAT = 0xE2792ACA  # block/qcow2.c QCOW2_EXT_MAGIC_BACKING_FORMAT


def qcow2_backing_format(header: bytes) -> str | None:
    """The backing format a qcow2 header records (block/qcow2.c qcow2_read_extensions():
    the extensions follow the header, 72 bytes in version 2, header_length in 3), if
    the probe's bytes hold it."""
    if len(header) < 104 or not header.startswith(b"QFI\xfb"):
        return None
    version = int.from_bytes(header[4:8], "big")
    at = 72 if version == 2 else int.from_bytes(header[100:104], "big")
    while at + 8 <= len(header):
        magic = int.from_bytes(header[at:at + 4], "big")
        length = int.from_bytes(header[at + 4:at + 8], "big")
        if magic == 0 or at + 8 + length > len(header):
            return None
        if magic == _QCOW2_EXT_BACKING_FORMAT:
            return header[at + 8:at + 8 + length].decode("utf-8", "replace")
        at += 8 + (length + 7) // 8 * 8
    return None


def file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of ``path``: two names for one image lock the same bytes."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def image_length(path: str, fmt: str) -> int | None:
    """The guest-visible length of a local image where it is plain to read: a raw file's
    size, or a qcow2 header's size field (a big-endian u64 at 24); None for anything
    else or a file that does not open."""
    try:
        with open(path, "rb") as f:
            if fmt == "raw":
                return os.fstat(f.fileno()).st_size
            head = f.read(32)
    except (OSError, ValueError):
        return None
    if fmt == "qcow2" and len(head) == 32 and head[:4] == b"QFI\xfb":
        return int.from_bytes(head[24:32], "big")
    return None


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
