"""The enumerations and the frozen :class:`Drive`.

Enumeration values are QEMU's own spellings. A Drive holds what QEMU's parser
accepted for one -drive string; cross-field refusals live in qdrive.frontend.rules and
are applied by :func:`qdrive.parse_drive`.
"""

from __future__ import annotations

import contextvars
import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .errors import DriveFieldError

__all__ = [
    "Interface", "Media", "CacheMode", "Aio", "Discard", "DetectZeroes", "ErrorAction", "Locking",
    "Drive", "CACHE_MODES", "cache_triple", "DIALECTS", "DEFAULT_DIALECT",
]

DEFAULT_DIALECT = "qemu-7.2"
DIALECTS = ("qemu-7.2", "qemu-10.0", "qemu-11.1", "qemu-0.9-sync")


class Interface(enum.StrEnum):
    """``if=``: the bus a drive is attached to (blockdev.c if_name[])."""

    NONE = "none"
    IDE = "ide"
    SCSI = "scsi"
    FLOPPY = "floppy"
    PFLASH = "pflash"
    MTD = "mtd"
    SD = "sd"
    VIRTIO = "virtio"
    XEN = "xen"


class Media(enum.StrEnum):
    """``media=``: disk or cdrom (cdrom forces read-only)."""

    DISK = "disk"
    CDROM = "cdrom"


class CacheMode(enum.StrEnum):
    """``cache=`` (block.c bdrv_parse_cache_mode; ``off`` is read as ``none``)."""

    WRITEBACK = "writeback"
    NONE = "none"
    WRITETHROUGH = "writethrough"
    DIRECTSYNC = "directsync"
    UNSAFE = "unsafe"
    ON = "on"  # 2008 dialect only: buffered I/O
    OFF = "off"  # 2008 dialect only: O_DIRECT (QEMU 7.2 reads it as NONE)


class Aio(enum.StrEnum):
    """``aio=`` (block.c bdrv_parse_aio)."""

    THREADS = "threads"
    NATIVE = "native"
    IO_URING = "io_uring"


class Discard(enum.StrEnum):
    """``discard=`` (block.c bdrv_parse_discard_flags; off/on are read as ignore/unmap)."""

    IGNORE = "ignore"
    UNMAP = "unmap"


class DetectZeroes(enum.StrEnum):
    """``detect-zeroes=`` (QAPI BlockdevDetectZeroesOptions)."""

    OFF = "off"
    ON = "on"
    UNMAP = "unmap"


class ErrorAction(enum.StrEnum):
    """``werror=``/``rerror=`` (blockdev.c parse_block_error_action)."""

    IGNORE = "ignore"
    STOP = "stop"
    REPORT = "report"
    ENOSPC = "enospc"


class Locking(enum.StrEnum):
    """``file.locking=`` (block/file-posix.c raw_runtime_opts, OnOffAuto)."""

    AUTO = "auto"
    """Lock when the host has OFD locks (every Linux QEMU supports)."""
    ON = "on"
    """Lock, and fail to open without OFD locks."""
    OFF = "off"
    """Take no locks."""


_EMPTY: Mapping[str, Any] = MappingProxyType({})  # read-only, so every Drive may share it


def _ro(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value)) if value else _EMPTY


@attrs.frozen(kw_only=True, eq=True)
class Drive:
    """One -drive as QEMU reads it. ``None`` means the option was not given.

    Numbers keep the unsigned 64-bit value QEMU parsed (``index=-1`` is
    2**64-1, which QEMU reads as "not given"). ``throttling`` maps canonical
    ``throttling.*`` names to numbers; ``driver_options`` keeps, in order, the
    options passed through to the protocol and format drivers (``file.*``,
    raw ``offset``/``size``, qcow2 options ...).

    Each field is checked when a Drive is made or evolved (attrs.evolve): an enum field
    takes its enum or QEMU's spelling of a member (``interface="virtio"`` becomes
    ``Interface.VIRTIO``), a flag takes True/False, bus/unit/index and throttling values
    take QEMU's unsigned 64-bit numbers, names take strings; anything else raises
    :class:`~qdrive.errors.DriveFieldError` naming the field and the value. What the
    fields mean together (index with bus=, aio=native without O_DIRECT ...) is QEMU's
    to refuse and lives in qdrive.frontend.rules: a Drive holds what QEMU's parser accepts.
    """

    dialect: str = DEFAULT_DIALECT
    file: str | None = None
    format: str | None = None
    interface: Interface | None = None
    bus: int | None = None
    unit: int | None = None
    index: int | None = None
    media: Media | None = None
    id: str | None = None
    node_name: str | None = None
    snapshot: bool | None = None
    read_only: bool | None = None
    cache: CacheMode | None = None
    cache_writeback: bool | None = None
    cache_direct: bool | None = None
    cache_no_flush: bool | None = None
    aio: Aio | None = None
    discard: Discard | None = None
    detect_zeroes: DetectZeroes | None = None
    werror: ErrorAction | None = None
    rerror: ErrorAction | None = None
    copy_on_read: bool | None = None
    auto_read_only: bool | None = None
    force_share: bool | None = None
    throttling: Mapping[str, int] = attrs.field(default=_EMPTY, converter=_ro)
    throttling_group: str | None = None
    stats_account_invalid: bool | None = None
    stats_account_failed: bool | None = None
    stats_intervals: tuple[int, ...] = ()
    driver_options: Mapping[str, str] = attrs.field(default=_EMPTY, converter=_ro)
    # The 2008 dialect's own keys (vl.c r5300 plus the seed's sync=, KVM's boot=).
    sync: bool | None = None
    boot: bool | None = None
    cyls: int | None = None
    heads: int | None = None
    secs: int | None = None
    trans: str | None = None

    def __attrs_post_init__(self) -> None:
        if not _PRECHECKED.get():
            _check_fields(self)

    @property
    def effective_read_only(self) -> bool:
        """Read-only as QEMU opens it: ``read-only=on`` or ``media=cdrom``."""
        return bool(self.read_only) or self.media is Media.CDROM

    @property
    def cache_triple(self) -> tuple[bool, bool, bool]:
        """(writeback, direct, no_flush): the mode's values, overridden by cache.* keys."""
        return cache_triple(self)

    def options(self) -> dict[str, str]:
        """Canonical key -> canonical value, in canonical order (what to_string writes)."""
        from .options import canonical_options

        return canonical_options(self)

    def to_string(self) -> str:
        """The canonical -drive string; QEMU reads it back as the same drive."""
        return ",".join(f"{k}={v.replace(',', ',,')}" for k, v in self.options().items())

    def to_args(self) -> list[str]:
        """``["-drive", self.to_string()]``, for argv lists (never a shell string)."""
        return ["-drive", self.to_string()]

    def __str__(self) -> str:
        return self.to_string()


# -- field checks (Drive.__attrs_post_init__) ----------------------------------------------
# True while qdrive.frontend.fastpath builds a Drive from values its own tables produced
# (enum members, bools, numbers in range): the checks could only pass. A ContextVar, so a
# Drive another thread or task makes meanwhile is still checked.
_PRECHECKED: contextvars.ContextVar[bool] = contextvars.ContextVar("qdrive_drive_prechecked",
                                                                   default=False)
# One pass over small tables instead of one attrs validator per field: a Drive is built on
# every parse, and this keeps the check to a few hundred nanoseconds.
_ENUM_FIELDS: tuple[tuple[str, type[enum.StrEnum]], ...] = (
    ("interface", Interface), ("media", Media), ("cache", CacheMode), ("aio", Aio),
    ("discard", Discard), ("detect_zeroes", DetectZeroes), ("werror", ErrorAction),
    ("rerror", ErrorAction))
_FLAG_FIELDS = ("snapshot", "read_only", "cache_writeback", "cache_direct", "cache_no_flush",
                "copy_on_read", "auto_read_only", "force_share", "stats_account_invalid",
                "stats_account_failed", "sync", "boot")
_U64_FIELDS = ("bus", "unit", "index")  # parse_option_number(): unsigned 64-bit
_INT_FIELDS = ("cyls", "heads", "secs")  # the 2008 strtol() values; rules bound them
_NAME_FIELDS = ("file", "format", "id", "node_name", "throttling_group", "trans")
_U64 = 1 << 64


def _enum_value(name: str, kind: type[enum.StrEnum], value: object) -> enum.StrEnum:
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    raise DriveFieldError(name, value, f"a {kind.__name__} or one of "
                          f"{', '.join(m.value for m in kind)}")


def _check_fields(drive: Drive) -> None:
    for name, kind in _ENUM_FIELDS:
        value = getattr(drive, name)
        if value is not None and type(value) is not kind:
            object.__setattr__(drive, name, _enum_value(name, kind, value))
    for name in _FLAG_FIELDS:
        value = getattr(drive, name)
        if value is not None and value is not True and value is not False:
            raise DriveFieldError(name, value, "True, False or None")
    for name in _U64_FIELDS:
        value = getattr(drive, name)
        if value is not None and (type(value) is not int or not 0 <= value < _U64):
            raise DriveFieldError(name, value, "an int from 0 to 2**64-1, or None")
    for name in _INT_FIELDS:
        value = getattr(drive, name)
        if value is not None and type(value) is not int:
            raise DriveFieldError(name, value, "an int or None")
    for name in _NAME_FIELDS:
        value = getattr(drive, name)
        if value is not None and type(value) is not str:
            raise DriveFieldError(name, value, "a str or None")
    if drive.dialect not in DIALECTS:
        raise DriveFieldError("dialect", drive.dialect, f"one of {', '.join(DIALECTS)}")
    _check_maps(drive)


def _check_maps(drive: Drive) -> None:
    for key, number in drive.throttling.items():
        if type(key) is not str or type(number) is not int or not 0 <= number < _U64:
            raise DriveFieldError("throttling", {key: number},
                                  "a mapping of str to ints from 0 to 2**64-1")
    for key, text in drive.driver_options.items():
        if type(key) is not str or type(text) is not str:
            raise DriveFieldError("driver_options", {key: text}, "a mapping of str to str")
    if type(drive.stats_intervals) is not tuple or not all(
            type(n) is int for n in drive.stats_intervals):
        raise DriveFieldError("stats_intervals", drive.stats_intervals, "a tuple of ints")


CACHE_MODES: Mapping[CacheMode, tuple[bool, bool, bool]] = MappingProxyType({
    CacheMode.WRITEBACK: (True, False, False),
    CacheMode.NONE: (True, True, False),
    CacheMode.WRITETHROUGH: (False, False, False),
    CacheMode.DIRECTSYNC: (False, True, False),
    CacheMode.UNSAFE: (True, False, True),
})
"""``cache=`` mode -> (writeback, direct, no_flush), as bdrv_parse_cache_mode() sets them."""

# vl.c r5300 drive_init(): cache=off set BDRV_O_DIRECT, cache=on (the default) nothing.
_CACHE_2008: Mapping[CacheMode, tuple[bool, bool, bool]] = MappingProxyType({
    CacheMode.ON: (True, False, False),
    CacheMode.OFF: (True, True, False),
})


def cache_triple(drive: Drive) -> tuple[bool, bool, bool]:
    """(writeback, direct, no_flush) for ``drive``: the mode, then the explicit keys.

    block.c bdrv_parse_cache_mode() gives the mode's triple and blockdev.c drive_new()
    lets ``cache.writeback``/``cache.direct``/``cache.no-flush`` win over it ("specific
    options take precedence"). The 2008 spellings have their own members: ``cache=off``
    meant O_DIRECT (7.2 still reads "off" as none) and ``cache=on`` (the 2008 default)
    plain buffered I/O, with no write-cache emulation then; the 2008 drive has no cache.*
    keys and no cache= other than these, so the members alone decide, not its dialect.
    """
    mode = drive.cache or CacheMode.WRITEBACK
    base = CACHE_MODES.get(mode) or _CACHE_2008[mode]
    explicit = (drive.cache_writeback, drive.cache_direct, drive.cache_no_flush)
    return tuple(b if e is None else e for b, e in zip(base, explicit, strict=True))  # type: ignore[return-value]


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
