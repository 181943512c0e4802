"""Cache modes and, from a Drive, the cache triple QEMU derives.

block.c bdrv_parse_cache_mode() gives each ``cache=`` mode its
(writeback, direct, no_flush) triple; explicit ``cache.*`` keys win over it
(blockdev.c drive_new(): "specific options take precedence").
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from .model import CacheMode

if TYPE_CHECKING:
    from .model import Drive

__all__ = ["CACHE_MODES", "cache_triple"]

CACHE_MODES: Mapping[CacheMode, tuple[bool, bool, bool]] = MappingProxyType({
    CacheMode.WRITEBACK: (True, False, False),
    CacheMode.NONE: (True, True, False),
    CacheMode.WRITETHROUGH: (False, False, False),
    CacheMode.DIRECTSYNC: (False, True, False),
    CacheMode.UNSAFE: (True, False, True),
})
"""``cache=`` mode -> (writeback, direct, no_flush), as bdrv_parse_cache_mode() sets them."""


def cache_triple(drive: Drive) -> tuple[bool, bool, bool]:
    """(writeback, direct, no_flush) for ``drive``: the mode, then the explicit keys.

    In the 2008 dialect ``cache=off`` means O_DIRECT and ``cache=on`` (the
    default) plain buffered I/O; there was no write-cache emulation then.
    """
    if drive.dialect == "qemu-0.9-sync":
        return (True, drive.cache is CacheMode.OFF, False)
    base = CACHE_MODES[drive.cache or CacheMode.WRITEBACK]
    explicit = (drive.cache_writeback, drive.cache_direct, drive.cache_no_flush)
    return tuple(b if e is None else e for b, e in zip(base, explicit, strict=True))  # type: ignore[return-value]
