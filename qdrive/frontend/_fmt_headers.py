"""The image header checks a format driver's open makes before it reads any data.

One reader per driver whose open refuses a header qdrive can read without the image's
contents: block/bochs.c bochs_open(), block/cloop.c cloop_open(), block/dmg.c
dmg_open() (the koly trailer), block/parallels.c parallels_open(), block/vhdx.c
vhdx_open() and block/vdi.c vdi_open(), plus the "not this format" words of
block/qcow2.c and block/vmdk.c. :func:`header_problem` is the entry formats.py exports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TYPE_CHECKING

if TYPE_CHECKING:
    from ..probe import ProbeResult


# What a format driver says when the file is not of its format (block/qcow2.c, vmdk.c).
_NOT_THIS_FORMAT = {"qcow2": "Image is not in qcow2 format",
                    "vmdk": "invalid VMDK image descriptor",
                    "qcow": "Image not in qcow format", "vpc": "invalid VPC image",
                    "qed": "Image not in QED format",
}


def header_problem(fmt: str | None, found: ProbeResult, name: str) -> str:
    """The error opening ``name`` with driver ``fmt`` gives, given what the probe saw."""
    reader = _HEADER_READERS.get(fmt or "")
    if reader is not None:
        return reader(found, name)
    # block/qcow.c qcow_open() and qcow2.c qcow2_do_open() share the magic "QFI\xfb" and
    # then read the version (a u32 at 4): each refuses the other's
    version = int.from_bytes(found.head[4:8], "big") if found.head[:4] == b"QFI\xfb" \
        and len(found.head) >= 8 else None
    if fmt == "qcow" and version is not None and version != 1:
        hint = "\nTry the 'qcow2' driver instead." if version in (2, 3) else ""
        return f"qcow (v1) does not support qcow version {version}{hint}"
    if fmt == "qcow2" and version is not None and version not in (2, 3):
        return f"Unsupported qcow2 version {version}"
    if fmt == "vdi" and found.format != "vdi":
        problem = _vdi_header(read_at(found, 0, 0x178))
        if problem:
            return problem
    if fmt in _NOT_THIS_FORMAT and found.format != fmt:
        return _NOT_THIS_FORMAT[fmt]
    # block/file-posix.c raw_open_common(): the protocol driver must fit the file type.
    if fmt in ("host_device", "host_cdrom") and not found.device:
        return f"'{fmt}' driver requires '{name}' to be either a character or block device"
    if fmt == "file" and found.device:
        return f"'file' driver requires '{name}' to be a regular file"
    return ""


# block/vdi.c VDI_DISK_SIZE_MAX: VDI_BLOCKS_IN_IMAGE_MAX blocks of DEFAULT_CLUSTER_SIZE
_VDI_DISK_SIZE_MAX = ((2**31 - 512) // 4) * (1 << 20)


def _vdi_header(head: bytes | None) -> str:
    """block/vdi.c vdi_open(): the disk size (u64 at 0x170) against its maximum, then the
    signature (u32 at 0x40), both little-endian, whatever the file really is; a file
    shorter than the header reads as zeros past its end (block/io.c), so an empty file
    has signature 00000000. None: the probe did not read that far."""
    if head is None:
        return ""
    disk_size = int.from_bytes(head[0x170:0x178], "little")
    if disk_size > _VDI_DISK_SIZE_MAX:
        return (f"Unsupported VDI image size (size is 0x{disk_size:x}, max supported is "
                f"0x{_VDI_DISK_SIZE_MAX:x})")
    signature = int.from_bytes(head[0x40:0x44], "little")
    if signature != 0xBEDA107F:
        return f"Image not in VDI format (bad signature {signature:08x})"
    return ""


def read_at(found: ProbeResult, offset: int, length: int) -> bytes | None:
    """``length`` bytes of the image at ``offset`` as the block layer reads them (zeros
    past the end of the file), or None when the probe did not read that far."""
    size = found.size if found.size is not None else len(found.head)
    if offset + length <= len(found.head) or len(found.head) >= size:
        return found.head[offset:offset + length].ljust(length, b"\0")
    start = size - len(found.tail)
    if found.tail and offset >= start:
        return found.tail[offset - start:offset - start + length].ljust(length, b"\0")
    return None


def _u32(data: bytes, at: int, order: Literal["little", "big"]) -> int:
    return int.from_bytes(data[at:at + 4], order)


def _cstr(data: bytes, at: int, width: int) -> bytes:
    """A NUL-terminated string field as strcmp() sees it."""
    return data[at:at + width].split(b"\0", 1)[0]


def _bochs_header(found: ProbeResult, name: str) -> str:
    """block/bochs.c bochs_open(): the 512-byte header, then its catalog and extents."""
    head = read_at(found, 0, 512) or b""
    version = _u32(head, 64, "little")
    if _cstr(head, 0, 32) != b"Bochs Virtual HD Image" or _cstr(head, 32, 16) != b"Redolog" \
            or _cstr(head, 48, 16) != b"Growing" or version not in (0x20000, 0x10000):
        return "Image not in Bochs format"
    disk = int.from_bytes(head[84:92] if version == 0x10000 else head[88:96], "little")
    catalog, extent = _u32(head, 72, "little"), _u32(head, 80, "little")
    if catalog > 0x100000:
        return "Catalog size is too large"
    if extent < 512:
        return "Extent size must be at least 512"
    if extent & (extent - 1):
        return f"Extent size {extent} is not a power of two"
    if extent > 0x800000:
        return f"Extent size {extent} is too large"
    if catalog < -(-(disk // 512) // (extent // 512)):
        return "Catalog size is too small for this disk size"
    return ""


_CLOOP_MAX_BLOCK = 64 << 20  # block/cloop.c MAX_BLOCK_SIZE


def _cloop_header(found: ProbeResult, name: str) -> str:
    """block/cloop.c cloop_open(): block size and count at offset 128, then the offsets."""
    head = read_at(found, 128, 8) or bytes(8)
    block_size, n_blocks = _u32(head, 0, "big"), _u32(head, 4, "big")
    if block_size % 512:
        return f"block_size {block_size} must be a multiple of 512"
    if block_size == 0:
        return "block_size cannot be zero"
    if block_size > _CLOOP_MAX_BLOCK:
        return f"block_size {block_size} must be {_CLOOP_MAX_BLOCK >> 20} MB or less"
    limit = (0xFFFFFFFF - 1) // 8
    if n_blocks > limit:
        return f"n_blocks {n_blocks} must be {limit} or less"
    if (n_blocks + 1) * 8 > 512 << 20:
        return "image requires too many offsets, try increasing block size"
    table = read_at(found, 136, (n_blocks + 1) * 8)
    if table is None:
        return ""  # beyond what the probe read: not predicted
    offsets = [int.from_bytes(table[i:i + 8], "big") for i in range(0, len(table), 8)]
    for i in range(1, len(offsets)):
        if offsets[i] < offsets[i - 1]:
            return f"offsets not monotonically increasing at index {i}, image file is corrupt"
        if offsets[i] - offsets[i - 1] > 2 * _CLOOP_MAX_BLOCK:
            return f"invalid compressed block size at index {i}, image file is corrupt"
    return ""


def _dmg_header(found: ProbeResult, name: str) -> str:
    """block/dmg.c dmg_find_koly_offset() and the first reads of dmg_open()."""
    length = -(-(found.size or 0) // 512) * 512  # bdrv_getlength(): whole sectors
    if length < 512:
        return "dmg file must be at least 512 bytes long"
    start = length - 511 - 512 if length > 511 + 512 else 0
    window = read_at(found, start, min(length, 515))
    if window is None:
        return ""
    at = window.find(b"koly")
    if at < 0:
        return "Could not locate UDIF trailer in dmg file"
    koly = start + at
    trailer = read_at(found, koly, 0x1F4)
    if trailer is None:
        return ""

    def u64(off: int) -> int:
        return int.from_bytes(trailer[off:off + 8], "big")

    # an -EINVAL without a message: block.c bdrv_open_driver() words it
    if u64(0x18) > koly or u64(0x28) >= koly or u64(0x30) > koly - u64(0x28) \
            or u64(0xD8) >= koly or u64(0xE0) > koly - u64(0xD8) or u64(0x1EC) >> 63 \
            or not u64(0x30) and not u64(0xE0):  # neither a resource fork nor a plist
        return f"Could not open '{name}': Invalid argument"
    return ""  # the fork's chunk tables are not read here


def _parallels_header(found: ProbeResult, name: str) -> str:
    """block/parallels.c parallels_open(): version, magic, tracks, catalog size."""
    head = read_at(found, 0, 64) or bytes(64)
    if _u32(head, 16, "little") != 2 or head[:16] not in (b"WithoutFreeSpace",
                                                          b"WithouFreSpacExt"):
        return "Image not in Parallels format"
    tracks = _u32(head, 28, "little")
    if tracks == 0:
        return "Invalid image: Zero sectors per track"
    if tracks > 0x7FFFFFFF // 513:
        return "Invalid image: Too big cluster"
    if _u32(head, 32, "little") > 0x7FFFFFFF // 4:
        return "Catalog too large"
    return ""


def _vhdx_header(found: ProbeResult, name: str) -> str:
    # block/vhdx.c vhdx_open(): a wrong signature is an -EINVAL without a message
    if (read_at(found, 0, 8) or b"") != b"vhdxfile":
        return f"Could not open '{name}': Invalid argument"
    return ""


def _length(found: ProbeResult) -> int:
    """bdrv_getlength(): whole sectors (block.c bdrv_nb_sectors() rounds up)."""
    size = found.size if found.size is not None else len(found.head)
    return -(-size // 512) * 512


def _vpc_header(found: ProbeResult, name: str) -> str:
    """block/vpc.c vpc_open(): a footer copy at 0 (a dynamic disk), else the footer at
    the end, which must be a fixed disk's (creator "conectix", type 2 at 60)."""
    footer = read_at(found, 0, 512)
    if footer is None or footer[:8] != b"conectix":
        size = _length(found)
        if size < 512:
            return "File too small for a VHD header"
        footer = read_at(found, size - 512, 512)
        if footer is None:
            return ""
        if footer[:8] != b"conectix" or _u32(footer, 60, "big") != 2:
            return "invalid VPC image"
    # vpc_checksum(): the one's complement of the footer's byte sum, its own field zeroed
    if _u32(footer, 64, "big") != ~sum(footer[:64] + bytes(4) + footer[68:]) & 0xFFFFFFFF:
        return "Incorrect header checksum"
    return ""  # the dynamic disk header's checks are not read here


def _vmdk_header(found: ProbeResult, name: str) -> str:
    """block/vmdk.c vmdk_read_desc(): under 4 bytes is neither a sparse image nor a
    descriptor; otherwise the magic (a descriptor file's text is not parsed here)."""
    if _length(found) < 4:
        return "File is too small, not a valid image"
    return "" if found.format == "vmdk" else _NOT_THIS_FORMAT["vmdk"]


_HEADER_READERS: dict[str, Callable[[ProbeResult, str], str]] = {
    "bochs": _bochs_header, "cloop": _cloop_header, "dmg": _dmg_header,
    "parallels": _parallels_header, "vhdx": _vhdx_header, "vpc": _vpc_header,
    "vmdk": _vmdk_header,
}
