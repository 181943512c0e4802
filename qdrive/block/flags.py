"""Drive -> BDRV_O_* flags -> open() flags, and the aio/discard tables.

The cache table (block.c bdrv_parse_cache_mode(): each ``cache=`` mode's
(writeback, direct, no_flush) triple, explicit ``cache.*`` keys winning) is
:data:`qdrive.model.CACHE_MODES`; this stage turns the triple into flags.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

# The cache table is the model's (a Drive's cache triple is a value of its own fields);
# the flags are computed from it here.
from ..dialect import get as get_dialect
from ..model import CACHE_MODES, Aio, CacheMode, Discard, cache_triple

if TYPE_CHECKING:
    from ..model import Drive

__all__ = [
    "CACHE_MODES", "cache_triple", "BdrvFlag", "BdrvFlag2008", "BDRV_O_CACHE_MASK", "AIO_FLAGS",
    "DISCARD_FLAGS", "bdrv_flags", "open_flags", "open_flag_names",
]

class BdrvFlag(enum.IntFlag):
    """QEMU 7.2's BDRV_O_* block-layer flags (include/block/block-common.h)."""

    NO_SHARE = 0x0001
    """Do not share permissions (set by qemu-img, not by -drive)."""
    RDWR = 0x0002
    """Read-write: every -drive unless read-only=on / media=cdrom."""
    RESIZE = 0x0004
    """Request resize permission (qemu-img resize)."""
    SNAPSHOT = 0x0008
    """snapshot=on (or -snapshot): writes go to a temporary qcow2 overlay."""
    TEMPORARY = 0x0010
    """Delete the file when closed (the snapshot overlay)."""
    NOCACHE = 0x0020
    """cache.direct=on (cache=none/directsync): the file is opened O_DIRECT."""
    NATIVE_AIO = 0x0080
    """aio=native: Linux AIO."""
    NO_BACKING = 0x0100
    """Do not open the backing file."""
    NO_FLUSH = 0x0200
    """cache.no-flush=on (cache=unsafe): flushes do not reach the disk."""
    COPY_ON_READ = 0x0400
    """copy-on-read=on (on a writable drive)."""
    INACTIVE = 0x0800
    """Incoming migration: the image is not ours yet."""
    CHECK = 0x1000
    """qemu-img check."""
    ALLOW_RDWR = 0x2000
    """May be reopened read-write: set with RDWR by bdrv_open_inherit()."""
    UNMAP = 0x4000
    """discard=unmap (or on): guest discards reach the image."""
    PROTOCOL = 0x8000
    """Open the protocol layer only."""
    NO_IO = 0x10000
    """No I/O will be done (metadata only)."""
    AUTO_RDONLY = 0x20000
    """auto-read-only=on, -drive's default: open read-only until a writer attaches."""
    IO_URING = 0x40000
    """aio=io_uring."""


class BdrvFlag2008(enum.IntFlag):
    """The 2008 block.h flags (svn r5300) plus the seed's BDRV_O_SYNC."""

    RDONLY = 0x0000
    """Read-only access (the access mode 0)."""
    RDWR = 0x0002
    """Read-write: drive_init() always asked for it (read-only on EACCES only)."""
    ACCESS = 0x0003
    """Mask of the access mode bits."""
    CREAT = 0x0004
    """Create an empty file (raw-posix adds O_CREAT|O_TRUNC)."""
    SNAPSHOT = 0x0008
    """snapshot=on: writes go to a temporary qcow2."""
    FILE = 0x0010
    """Open as a raw file or protocol, without a format layer."""
    DIRECT = 0x0020
    """cache=off: O_DIRECT."""
    SYNC = 0x0040
    """sync=on, the seed's patch: O_SYNC."""


BDRV_O_CACHE_MASK = BdrvFlag.NOCACHE | BdrvFlag.NO_FLUSH
"""block-common.h BDRV_O_CACHE_MASK."""

AIO_FLAGS: Mapping[Aio, BdrvFlag] = MappingProxyType({
    Aio.THREADS: BdrvFlag(0), Aio.NATIVE: BdrvFlag.NATIVE_AIO, Aio.IO_URING: BdrvFlag.IO_URING,
})
"""block.c bdrv_parse_aio(): ``aio=`` -> flag."""

DISCARD_FLAGS: Mapping[str, BdrvFlag] = MappingProxyType({
    "ignore": BdrvFlag(0), "off": BdrvFlag(0), "unmap": BdrvFlag.UNMAP, "on": BdrvFlag.UNMAP,
})
"""block.c bdrv_parse_discard_flags(): ``discard=`` spelling -> flag."""


def bdrv_flags(drive: Drive) -> BdrvFlag | BdrvFlag2008:
    """The BDRV_O_* flags QEMU's -drive path gives the image's format node.

    qemu-7.2: blockdev.c blockdev_init() (SNAPSHOT, COPY_ON_READ, aio) then
    block.c bdrv_open_inherit()/update_flags_from_options() (RDWR|ALLOW_RDWR,
    NOCACHE, NO_FLUSH, AUTO_RDONLY) and bdrv_open_common() (UNMAP).
    qemu-0.9-sync: vl.c drive_init() with the seed's patch.
    """
    if get_dialect(drive.dialect).legacy:
        old = BdrvFlag2008.RDWR
        old |= BdrvFlag2008.SNAPSHOT if drive.snapshot else 0
        old |= BdrvFlag2008.DIRECT if drive.cache is CacheMode.OFF else 0
        return old | (BdrvFlag2008.SYNC if drive.sync else 0)
    _, direct, no_flush = cache_triple(drive)
    read_only = drive.effective_read_only
    f = BdrvFlag(0) if read_only else BdrvFlag.RDWR | BdrvFlag.ALLOW_RDWR
    f |= BdrvFlag.SNAPSHOT if drive.snapshot else 0
    f |= BdrvFlag.NOCACHE if direct else 0
    f |= BdrvFlag.NO_FLUSH if no_flush else 0
    f |= AIO_FLAGS[drive.aio or Aio.THREADS]
    f |= BdrvFlag.UNMAP if drive.discard is Discard.UNMAP else 0
    f |= BdrvFlag.COPY_ON_READ if drive.copy_on_read and not read_only else 0
    return f | (BdrvFlag.AUTO_RDONLY if drive.auto_read_only is not False else 0)


def open_flags(drive: Drive) -> int:
    """The os.O_* flags QEMU's raw driver passes to open() once the guest device attached.

    qemu-7.2: block/file-posix.c raw_parse_flags() + util/osdep.c qemu_open()
    (O_CLOEXEC); with snapshot=on the image is the overlay's read-only backing file.
    qemu-0.9-sync: block-raw-posix.c raw_open() with the seed's O_SYNC.
    """
    flags = bdrv_flags(drive)
    if isinstance(flags, BdrvFlag2008):
        out = os.O_RDWR if flags & BdrvFlag2008.ACCESS == BdrvFlag2008.RDWR else os.O_RDONLY
        out |= os.O_DIRECT if flags & BdrvFlag2008.DIRECT else 0
        return out | (os.O_SYNC if flags & BdrvFlag2008.SYNC else 0)
    writable = flags & BdrvFlag.RDWR and not flags & BdrvFlag.SNAPSHOT
    out = (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC
    return out | (os.O_DIRECT if flags & BdrvFlag.NOCACHE else 0)


_O_NAMES = (("O_DIRECT", "O_DIRECT"), ("O_SYNC", "O_SYNC"), ("O_CLOEXEC", "O_CLOEXEC"),
            ("O_NONBLOCK", "O_NONBLOCK"))


def open_flag_names(flags: int) -> str:
    """``O_RDWR|O_DIRECT|O_CLOEXEC`` for an open() flags int."""
    acc = {os.O_RDONLY: "O_RDONLY", os.O_WRONLY: "O_WRONLY", os.O_RDWR: "O_RDWR"}
    names = [acc.get(flags & os.O_ACCMODE, hex(flags & os.O_ACCMODE))]
    rest = flags & ~os.O_ACCMODE
    for name, attr in _O_NAMES:
        bit = getattr(os, attr)
        if rest & bit == bit:
            names.append(name)
            rest &= ~bit
    if rest:
        names.append(hex(rest))
    return "|".join(names)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
