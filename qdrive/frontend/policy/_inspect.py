"""Whole-image inspection: every other file an image makes QEMU 7.2 open.

Given an open descriptor and the format QEMU will use, :func:`inspect` reads what
QEMU's format driver reads and returns the image's :class:`Reference` list (the
backing file, a qcow2 external data file, every vmdk extent, a vmdk parent) and a
``problem`` when the policy cannot accept the image: QEMU itself would refuse it,
or it carries something the policy cannot follow (a probed backing format, a parent
QEMU ignores, encryption). Names are taken exactly as QEMU takes them: C strings
(cut at the first NUL), read at the offsets and with the limits QEMU applies, past
the end of the file read as zeros (the file protocol's short reads are zero-filled).

Which driver opens what (block/qcow2.c qcow2_do_open and qcow2_read_extensions,
block/qcow.c qcow_open, block/qed.c bdrv_qed_do_open, block/vmdk.c vmdk_open,
vmdk_open_vmdk4, vmdk_parse_extents and vmdk_parent_open, block/vpc.c vpc_open,
block/vhdx.c vhdx_parse_metadata), and how each name is resolved (block.c
bdrv_open_backing_file, bdrv_open_child, bdrv_inherited_options), is recorded on
each Reference; the policy follows them.

Reads only through the descriptor it is given; opens nothing.
"""

from __future__ import annotations

import enum
import os
import stat
from collections.abc import Callable

import attrs

__all__ = ["Role", "Base", "Content", "Reference", "Image", "inspect", "inspect_vmdk_extent",
           "INSPECTABLE", "file_size"]


class Role(enum.StrEnum):
    """Why QEMU opens the referenced file."""

    BACKING = "backing file"
    DATA_FILE = "external data file"
    EXTENT = "extent"
    PARENT = "parent image"


class Base(enum.StrEnum):
    """What a relative reference is relative to."""

    IMAGE = "image"  # the directory part of the referencing image's name (path_combine)
    CWD = "cwd"  # QEMU's working directory: the name is opened as it stands


class Content(enum.StrEnum):
    """How QEMU reads the referenced file."""

    IMAGE = "image"  # a format node: inspected again with Reference.driver
    DATA = "data"  # plain bytes under a protocol node: nothing more is read from it
    VMDK_SPARSE = "vmdk-sparse"  # a vmdk SPARSE/VMFSSPARSE extent: its header is read
    VMDK_SESPARSE = "vmdk-sesparse"  # a vmdk SESPARSE extent: header only


@attrs.frozen
class Reference:
    """One more file QEMU opens because of what an image says.

    ``driver`` is the format QEMU opens an IMAGE reference with (None: it probes);
    ``parsed`` says QEMU honours protocol prefixes and ``json:`` in ``name``
    (bdrv_open_inherit's parse_filename); ``override`` is the -drive child key whose
    options replace the name (how the fd hand-off points QEMU at a descriptor), None
    when no option can.
    """

    role: Role
    name: str
    base: Base
    content: Content
    driver: str | None = None
    parsed: bool = False
    override: str | None = None


@attrs.frozen
class Image:
    """What an image is, what it refers to, and whether the policy can take it."""

    format: str
    virtual_size: int | None
    references: tuple[Reference, ...] = ()
    problem: str = ""


class _Bytes:
    """pread through the descriptor; past the end of the file reads as zeros."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size

    def read(self, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        data = b""
        if offset < self.size:
            data = os.pread(self.fd, min(length, self.size - offset), offset)
        return data.ljust(length, b"\0")

    def be(self, offset: int, width: int) -> int:
        return int.from_bytes(self.read(offset, width), "big")

    def le(self, offset: int, width: int) -> int:
        return int.from_bytes(self.read(offset, width), "little")


def file_size(fd: int) -> int:
    """The size QEMU sees: st_size for a file, the device's length for a block device."""
    st = os.fstat(fd)
    if stat.S_ISBLK(st.st_mode):
        return os.lseek(fd, 0, os.SEEK_END)
    return st.st_size


def _cstring(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


# -- block/qcow2.c --------------------------------------------------------------------------
_QCOW2_EXT_BACKING_FORMAT = 0xE2792ACA
_QCOW2_EXT_DATA_FILE = 0x44415441
_QCOW2_INCOMPAT_DATA_FILE = 1 << 2
_QCOW2_INCOMPAT_MASK = 0x1F  # dirty, corrupt, data file, compression type, extended L2
_QCOW2_BACKING_FORMAT_MAX = 16  # sizeof(bs->backing_format)


def _qcow2(b: _Bytes) -> Image:
    if b.read(0, 4) != b"QFI\xfb":
        return Image("qcow2", None, problem="Image is not in qcow2 format")
    version, cluster_bits = b.be(4, 4), b.be(20, 4)
    if version not in (2, 3):
        return Image("qcow2", None, problem=f"Unsupported qcow2 version {version}")
    if not 9 <= cluster_bits <= 21:
        return Image("qcow2", None, problem=f"Unsupported cluster size: 2^{cluster_bits}")
    cluster = 1 << cluster_bits
    size = b.be(24, 8)
    header_length = 72 if version == 2 else b.be(100, 4)
    incompatible = 0 if version == 2 else b.be(72, 8)
    if version == 3 and header_length < 104:
        return Image("qcow2", size, problem="qcow2 header too short")
    if header_length > cluster:
        return Image("qcow2", size, problem="qcow2 header exceeds cluster size")
    backing_offset, backing_size = b.be(8, 8), b.be(16, 4)
    if backing_offset > cluster:
        return Image("qcow2", size, problem="Invalid backing file offset")
    ext_end = backing_offset or cluster
    exts = _qcow2_extensions(b, header_length, ext_end)
    if isinstance(exts, str):
        return Image("qcow2", size, problem=exts)
    backing_format, data_file = exts
    if incompatible & ~_QCOW2_INCOMPAT_MASK:
        return Image("qcow2", size, problem="the image uses qcow2 features QEMU 7.2 does "
                     f"not know (incompatible_features {incompatible:#x})")
    if b.be(32, 4):
        return Image("qcow2", size, problem="the image is encrypted: it needs encrypt.* "
                     "options and a secret, which the policy does not allow")
    refs: list[Reference] = []
    if incompatible & _QCOW2_INCOMPAT_DATA_FILE:
        if data_file is None:
            return Image("qcow2", size, problem="'data-file' is required for this image")
        # qcow2_do_open(): bdrv_open_child(s->image_data_file, ...) with parse_filename
        # false and no path_combine: a literal name, relative to QEMU's working directory.
        refs.append(Reference(Role.DATA_FILE, data_file, Base.CWD, Content.DATA,
                              override="data-file"))
    if backing_offset:
        if backing_size > min(1023, cluster - backing_offset):
            return Image("qcow2", size, problem="Backing file name too long")
        name = _cstring(b.read(backing_offset, backing_size))
        if name:
            refs.append(Reference(Role.BACKING, name, Base.IMAGE, Content.IMAGE,
                                  backing_format or None, parsed=True, override="backing"))
    return Image("qcow2", size, tuple(refs))


def _qcow2_extensions(b: _Bytes, start: int, end: int) -> tuple[str, str | None] | str:
    """qcow2_read_extensions(): (backing format, data file name) or QEMU's error."""
    backing_format, data_file = "", None
    offset = start
    while offset < end:
        magic, length = b.be(offset, 4), b.be(offset + 4, 4)
        offset += 8
        if offset > end or length > end - offset:
            return "Header extension too large"
        if magic == 0:
            break
        if magic == _QCOW2_EXT_BACKING_FORMAT:
            if length >= _QCOW2_BACKING_FORMAT_MAX:
                return f"ERROR: ext_backing_format: len={length} too large (>=16)"
            backing_format = _cstring(b.read(offset, length))
        elif magic == _QCOW2_EXT_DATA_FILE:
            data_file = _cstring(b.read(offset, length))
        offset += (length + 7) & ~7
    return backing_format, data_file


# -- block/qcow.c ---------------------------------------------------------------------------
def _qcow(b: _Bytes) -> Image:
    if b.read(0, 4) != b"QFI\xfb":
        return Image("qcow", None, problem="Image not in qcow format")
    version = b.be(4, 4)
    if version != 1:
        return Image("qcow", None, problem=f"qcow (v1) does not support qcow version {version}")
    size = b.be(24, 8)
    cluster_bits, l2_bits = b.read(32, 1)[0], b.read(33, 1)[0]
    if size <= 1 or not 9 <= cluster_bits <= 16 or not 6 <= l2_bits <= 13:
        return Image("qcow", size, problem="the qcow header is invalid (QEMU refuses it)")
    if b.be(36, 4):
        return Image("qcow", size, problem="the image is encrypted (QEMU 7.2 refuses AES "
                     "qcow images)")
    backing_offset, backing_size = b.be(8, 8), b.be(16, 4)
    if not backing_offset:
        return Image("qcow", size)
    if backing_size > 1023:
        return Image("qcow", size, problem="Backing file name too long")
    name = _cstring(b.read(backing_offset, backing_size))
    if not name:
        return Image("qcow", size)
    # qcow has no backing format: QEMU probes the backing file's format.
    return Image("qcow", size, (Reference(Role.BACKING, name, Base.IMAGE, Content.IMAGE, None,
                                          parsed=True, override="backing"),))


# -- block/qed.c ----------------------------------------------------------------------------
_QED_F_BACKING_FILE, _QED_F_NEED_CHECK, _QED_F_NO_PROBE = 0x01, 0x02, 0x04


def _qed(b: _Bytes) -> Image:
    if b.read(0, 4) != b"QED\0":
        return Image("qed", None, problem="Image not in QED format")
    cluster, table, header_size = b.le(4, 4), b.le(8, 4), b.le(12, 4)
    features, size = b.le(16, 8), b.le(48, 8)
    if features & ~(_QED_F_BACKING_FILE | _QED_F_NEED_CHECK | _QED_F_NO_PROBE):
        return Image("qed", size, problem=f"Unsupported QED features: {features:x}")
    power = cluster & (cluster - 1) == 0
    if not (power and 4096 <= cluster <= 64 << 20) or table not in (1, 2, 4, 8, 16):
        return Image("qed", size, problem="the QED header is invalid (QEMU refuses it)")
    if header_size > 0xFFFFFFFF // cluster:
        return Image("qed", size, problem="QED header size is too large")
    if not features & _QED_F_BACKING_FILE:
        return Image("qed", size)
    offset, length = b.le(56, 4), b.le(60, 4)
    if offset + length > cluster * header_size:
        return Image("qed", size, problem="QED backing filename offset is invalid")
    if length >= 4096:  # qed_read_string(): the name must fit bs->backing_file
        return Image("qed", size, problem="Failed to read backing filename")
    name = _cstring(b.read(offset, length))
    driver = "raw" if features & _QED_F_NO_PROBE else None
    refs = (Reference(Role.BACKING, name, Base.IMAGE, Content.IMAGE, driver, parsed=True,
                      override="backing"),) if name else ()
    return Image("qed", size, refs)


# -- block/vmdk.c ---------------------------------------------------------------------------
_VMDK_DESC_SIZE = 20 * 512  # DESC_SIZE: what vmdk_parent_open() reads
_VMDK_DESC_MAX = (1 << 20) - 1  # vmdk_read_desc(): at most this many bytes
_VMDK_TYPES = ("monolithicFlat", "vmfs", "vmfsSparse", "seSparse", "twoGbMaxExtentSparse",
               "twoGbMaxExtentFlat")
_VMDK_MAX_DEPTH = 8  # embedded descriptors inside sparse extents, nested


def _vmdk(b: _Bytes) -> Image:
    if b.size < 4:
        return Image("vmdk", None, problem="File is too small, not a valid image")
    magic = b.read(0, 4)
    if magic in (b"COWD", b"KDMV"):
        found = _vmdk_sparse(b, 0)
        desc_offset = 0x200  # vmdk_open(): the parent hint of a sparse file is read here
    else:
        found = _vmdk_descriptor(_cstring_bytes(b.read(0, min(b.size, _VMDK_DESC_MAX))), 0)
        desc_offset = 0
    refs, problem, size = found
    if problem:
        return Image("vmdk", size, refs, problem)
    parent = _vmdk_parent(b.read(desc_offset, _VMDK_DESC_SIZE))
    if isinstance(parent, str):
        return Image("vmdk", size, refs, parent)
    if parent is not None:
        refs = refs + (parent,)
    return Image("vmdk", size, refs)


def inspect_vmdk_extent(fd: int, depth: int) -> Image:
    """A SPARSE/VMFSSPARSE extent, as vmdk_parse_extents() reads it after opening it.

    Its own references (an embedded descriptor's extents) are relative to the top
    descriptor's directory, as block/vmdk.c takes bdrv_dirname(bs->file) for them.
    """
    b = _Bytes(fd, file_size(fd))
    if b.size < 4:
        return Image("vmdk", None, problem="File is too small, not a valid image")
    if b.read(0, 4) not in (b"COWD", b"KDMV"):
        return Image("vmdk", None, problem="Image not in VMDK format")
    refs, problem, size = _vmdk_sparse(b, depth)
    return Image("vmdk", size, refs, problem)


def _cstring_bytes(raw: bytes) -> bytes:
    return raw.split(b"\0", 1)[0]


_Found = tuple[tuple[Reference, ...], str, int | None]


def _vmdk_sparse(b: _Bytes, depth: int) -> _Found:
    """vmdk_open_sparse(): COWD has no descriptor; KDMV with capacity 0 embeds one."""
    if b.read(0, 4) == b"COWD":
        return (), "", b.le(4 + 8, 4) * 512  # VMDK3Header.disk_sectors
    capacity, desc_offset = b.le(12, 8), b.le(28, 8)
    if capacity == 0 and desc_offset:
        if depth >= _VMDK_MAX_DEPTH:
            return (), "vmdk descriptors nest too deeply", None
        where = (desc_offset << 9) & ((1 << 64) - 1)  # uint64_t arithmetic wraps
        if where >= 1 << 63:
            return (), "the vmdk descriptor offset is out of range", None
        desc = _cstring_bytes(b.read(where, min(b.size, _VMDK_DESC_MAX)))
        return _vmdk_descriptor(desc, depth + 1)
    return (), "", capacity * 512


def _vmdk_descriptor(desc: bytes, depth: int) -> _Found:
    """vmdk_open_desc_file(): the create type, then every extent line."""
    create_type = _vmdk_description(desc, b"createType")
    if create_type is None:
        return (), "invalid VMDK image descriptor", None
    if create_type not in _VMDK_TYPES:
        return (), f"Unsupported image type '{create_type}'", None
    refs: list[Reference] = []
    sectors_total = 0
    for line_start in _line_starts(desc):
        scanned = _scan_extent(desc, line_start)
        matches, access, sectors, kind, fname, flat_offset = scanned
        if matches < 4 or access != b"RW":
            continue
        if kind == b"FLAT" and (matches != 5 or flat_offset < 0):
            return tuple(refs), "Invalid extent line", None
        if kind == b"VMFS" and matches != 4:
            return tuple(refs), "Invalid extent line", None
        if kind not in (b"FLAT", b"VMFS") and matches != 4:
            return tuple(refs), "Invalid extent line", None
        content = {b"FLAT": Content.DATA, b"VMFS": Content.DATA,
                   b"SPARSE": Content.VMDK_SPARSE, b"VMFSSPARSE": Content.VMDK_SPARSE,
                   b"SESPARSE": Content.VMDK_SESPARSE}.get(kind)
        if sectors <= 0 or content is None:
            continue
        name = fname.decode("utf-8", "surrogateescape")
        # An absolute name as it stands, else dirname(descriptor) + name; parse_filename
        # false: protocol prefixes and json: are not looked at (vmdk_parse_extents()).
        refs.append(Reference(Role.EXTENT, name, Base.IMAGE, content))
        sectors_total += sectors
    return tuple(refs), "", sectors_total * 512


def _vmdk_description(desc: bytes, key: bytes) -> str | None:
    """vmdk_parse_description(): the text between KEY=" and the next quote."""
    at = desc.find(key)
    if at < 0:
        return None
    start = at + len(key) + 2
    if start >= len(desc):
        return None
    end = desc.find(b'"', start)
    if end < 0 or end - start + 1 > 128:
        return None
    return desc[start:end].decode("utf-8", "surrogateescape")


def _line_starts(desc: bytes) -> list[int]:
    """next_line(): each position just after a newline, while the text goes on."""
    starts, p = [], 0
    while p < len(desc):
        starts.append(p)
        nl = desc.find(b"\n", p)
        p = len(desc) if nl < 0 else nl + 1
    return starts


_SPACE = b" \t\n\v\f\r"


def _scan_extent(s: bytes, i: int) -> tuple[int, bytes, int, bytes, bytes, int]:
    """sscanf(p, "%10s %ld %10s \\"%511[^\\n\\r\\"]\\" %ld", ...) with glibc's rules:
    whitespace directives swallow newlines too, a field stops at its width, and a
    matching failure keeps what was assigned before it."""
    access, i = _scan_word(s, i, 10)
    if not access:
        return 0, b"", 0, b"", b"", -1
    sectors, i = _scan_long(s, _skip(s, i))
    if sectors is None:
        return 1, access, 0, b"", b"", -1
    kind, i = _scan_word(s, _skip(s, i), 10)
    if not kind:
        return 2, access, sectors, b"", b"", -1
    i = _skip(s, i)
    if i >= len(s) or s[i:i + 1] != b'"':
        return 3, access, sectors, kind, b"", -1
    i += 1
    j = i
    while j < len(s) and j - i < 511 and s[j:j + 1] not in (b"\n", b"\r", b'"'):
        j += 1
    if j == i:
        return 3, access, sectors, kind, b"", -1
    fname, i = s[i:j], j
    if i >= len(s) or s[i:i + 1] != b'"':
        return 4, access, sectors, kind, fname, -1
    offset, _ = _scan_long(s, _skip(s, i + 1))
    if offset is None:
        return 4, access, sectors, kind, fname, -1
    return 5, access, sectors, kind, fname, offset


def _skip(s: bytes, i: int) -> int:
    while i < len(s) and s[i] in _SPACE:
        i += 1
    return i


def _scan_word(s: bytes, i: int, width: int) -> tuple[bytes, int]:
    i = _skip(s, i)
    j = i
    while j < len(s) and j - i < width and s[j] not in _SPACE:
        j += 1
    return s[i:j], j


def _scan_long(s: bytes, i: int) -> tuple[int | None, int]:
    i = _skip(s, i)
    j = i
    if j < len(s) and s[j:j + 1] in (b"+", b"-"):
        j += 1
    k = j
    while k < len(s) and 0x30 <= s[k] <= 0x39:
        k += 1
    if k == j:
        return None, i
    value = int(s[i:k])
    return max(min(value, (1 << 63) - 1), -(1 << 63)), k  # strtol saturates


def _vmdk_parent(raw: bytes) -> Reference | str | None:
    """vmdk_parent_open(): "parentFileNameHint" anywhere in the first C string of the 10
    KiB at the descriptor offset; the name starts two bytes after the key (past ="),
    runs to the next quote in the raw buffer, and is opened with the vmdk driver."""
    text = _cstring_bytes(raw)
    at = text.find(b"parentFileNameHint")
    if at < 0:
        return None
    buf = raw.ljust(_VMDK_DESC_SIZE + 1, b"\0")
    start = at + len(b"parentFileNameHint") + 2
    end = start
    while end < len(buf) and buf[end:end + 1] not in (b'"', b"\0"):
        end += 1
    if end >= len(buf) or buf[end:end + 1] != b'"' or end - start > 4095:
        return "the vmdk parentFileNameHint is malformed (QEMU refuses the image)"
    name = buf[start:end].decode("utf-8", "surrogateescape")
    if not name:
        return None
    return Reference(Role.PARENT, name, Base.IMAGE, Content.IMAGE, "vmdk", parsed=True,
                     override="backing")


# -- block/vpc.c, block/vhdx.c, raw ---------------------------------------------------------
def _vpc(b: _Bytes) -> Image:
    footer = b.read(0, 512)
    if footer[:8] != b"conectix":
        footer = b.read(b.size - 512, 512) if b.size >= 512 else b""
        if footer[:8] != b"conectix" or int.from_bytes(footer[60:64], "big") != 2:
            return Image("vpc", None, problem="invalid VPC image")
    chs = int.from_bytes(footer[56:58], "big") * footer[58] * footer[59] * 512
    size = max(int.from_bytes(footer[48:56], "big"), chs)
    if int.from_bytes(footer[60:64], "big") == 4:  # VHD_DIFFERENCING
        # block/vpc.c has no backing support: the parent locators are never read and the
        # guest would see the differencing disk without its parent's data.
        return Image("vpc", size, problem="a differencing VHD names a parent that QEMU "
                     "7.2 ignores")
    return Image("vpc", size)


def _vhdx(b: _Bytes) -> Image:
    if b.read(0, 8) != b"vhdxfile":
        return Image("vhdx", None, problem="the image is not a VHDX file")
    # block/vhdx.c opens no other file: a differencing image (has_parent) is refused
    # with ENOTSUP before any parent locator is read.
    return Image("vhdx", None)


def _raw(b: _Bytes) -> Image:
    return Image("raw", b.size)


_INSPECTORS: dict[str, Callable[[_Bytes], Image]] = {
    "raw": _raw, "qcow2": _qcow2, "qcow": _qcow, "qed": _qed, "vmdk": _vmdk, "vpc": _vpc,
    "vhdx": _vhdx,
}
INSPECTABLE = frozenset(_INSPECTORS)
"""The formats whose every reference qdrive reads; the policy refuses the others."""


def inspect(fd: int, fmt: str) -> Image:
    """Read the image behind ``fd`` as QEMU's ``fmt`` driver does; never raises for bytes."""
    reader = _INSPECTORS.get(fmt)
    if reader is None:
        return Image(fmt, None, problem=f"qdrive cannot inspect format '{fmt}' for the "
                     "files it refers to")
    return reader(_Bytes(fd, file_size(fd)))
