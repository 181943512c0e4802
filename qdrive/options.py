"""THE option table: every key qdrive knows, what it sets, how its value is read.

One row per key: the Drive field it fills, its value kind, QEMU's table that
consumes it (which fixes *when* QEMU checks it), its legacy aliases, the
dialects that know it, and a line of help. Everything else in qdrive asks this
table; nothing else spells a key.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs

from ._values import option_text

if TYPE_CHECKING:
    from .model import Drive

__all__ = [
    "Kind", "Table", "OptionSpec", "OPTIONS", "OPTIONS_2008", "ALIASES", "THROTTLE_KEYS",
    "PROTOCOL_KEYS", "NODE_KEYS", "LEGACY_KEYS", "COMMON_KEYS", "TABLE_KEYS", "FORMAT_KEYS",
    "canonical_options", "KNOWN_DRIVERS", "PROTOCOL_DRIVERS", "PROTOCOL_PREFIXES",
    "FILE_POSIX_DRIVERS", "options_for",
]

# The dialects whose rows a row belongs to (OptionSpec.dialects): the QEMU releases share
# one -drive table (blockdev.c's option lists did not change from 7.2 to 11.1).
RELEASES = ("qemu-7.2", "qemu-10.0", "qemu-11.1")
Q08 = ("qemu-0.9-sync",)
BOTH = RELEASES + Q08


class Kind(enum.StrEnum):
    """How a value is read (QemuOpts types plus QEMU's enum-like strings)."""

    BOOL = "bool"
    NUMBER = "number"
    SIZE = "size"
    STRING = "string"


class Table(enum.StrEnum):
    """QEMU's option list that consumes the key (blockdev.c, block.c)."""

    PARSE = "parse"  # qemu_opts_parse: id
    PRE = "pre"  # drive_new before the QDict: cache=
    LEGACY = "legacy"  # qemu_legacy_drive_opts
    COMMON = "common"  # qemu_common_drive_opts
    NODE = "node"  # bdrv_runtime_opts
    SPECIAL = "special"  # stats-intervals.N, driver pass-through


@attrs.frozen
class OptionSpec:
    """One row of the option table."""

    key: str
    field: str
    kind: Kind
    table: Table
    help: str
    aliases: tuple[str, ...] = ()
    dialects: tuple[str, ...] = RELEASES


def _throttle_rows() -> list[OptionSpec]:
    rows = []
    for what in ("bps", "iops"):
        for dirn in ("total", "read", "write"):
            for tail in ("", "-max", "-max-length"):
                key = f"throttling.{what}-{dirn}{tail}"
                rows.append(OptionSpec(key, "throttling", Kind.NUMBER, Table.COMMON,
                                       f"{what} limit ({dirn}{tail or ', average'})"))
    rows.append(OptionSpec("throttling.iops-size", "throttling", Kind.NUMBER, Table.COMMON,
                           "bytes counted as one I/O operation"))
    return rows


_ROWS: list[OptionSpec] = [
    OptionSpec("file", "file", Kind.STRING, Table.LEGACY, "image file name", dialects=BOTH),
    OptionSpec("format", "format", Kind.STRING, Table.COMMON, "image format (raw, qcow2...)",
               dialects=BOTH),
    OptionSpec("if", "interface", Kind.STRING, Table.LEGACY,
               "interface: ide scsi floppy pflash mtd sd virtio xen none", dialects=BOTH),
    OptionSpec("bus", "bus", Kind.NUMBER, Table.LEGACY, "bus number", dialects=BOTH),
    OptionSpec("unit", "unit", Kind.NUMBER, Table.LEGACY, "unit on the bus", dialects=BOTH),
    OptionSpec("index", "index", Kind.NUMBER, Table.LEGACY, "index among drives of the interface",
               dialects=BOTH),
    OptionSpec("media", "media", Kind.STRING, Table.LEGACY, "disk or cdrom", dialects=BOTH),
    OptionSpec("id", "id", Kind.STRING, Table.PARSE, "drive id (first one wins)"),
    OptionSpec("node-name", "node_name", Kind.STRING, Table.NODE, "block node name"),
    OptionSpec("snapshot", "snapshot", Kind.BOOL, Table.COMMON, "write to a temporary overlay",
               dialects=BOTH),
    OptionSpec("read-only", "read_only", Kind.BOOL, Table.LEGACY, "open read-only",
               aliases=("readonly",)),
    OptionSpec("cache", "cache", Kind.STRING, Table.PRE,
               "writeback none writethrough directsync unsafe", dialects=BOTH),
    OptionSpec("cache.writeback", "cache_writeback", Kind.BOOL, Table.COMMON,
               "guest sees a volatile write cache"),
    OptionSpec("cache.direct", "cache_direct", Kind.BOOL, Table.NODE, "O_DIRECT"),
    OptionSpec("cache.no-flush", "cache_no_flush", Kind.BOOL, Table.NODE, "ignore flushes"),
    OptionSpec("aio", "aio", Kind.STRING, Table.COMMON, "threads native io_uring"),
    OptionSpec("discard", "discard", Kind.STRING, Table.NODE, "ignore (off) or unmap (on)"),
    OptionSpec("detect-zeroes", "detect_zeroes", Kind.STRING, Table.COMMON, "off on unmap"),
    OptionSpec("werror", "werror", Kind.STRING, Table.LEGACY, "ignore stop report enospc"),
    OptionSpec("rerror", "rerror", Kind.STRING, Table.LEGACY, "ignore stop report"),
    OptionSpec("copy-on-read", "copy_on_read", Kind.BOOL, Table.LEGACY,
               "copy backing data into the image"),
    OptionSpec("auto-read-only", "auto_read_only", Kind.BOOL, Table.NODE,
               "open read-only until a writer appears"),
    OptionSpec("force-share", "force_share", Kind.BOOL, Table.NODE,
               "share permissions (read-only only)"),
    *_throttle_rows(),
    OptionSpec("throttling.group", "throttling_group", Kind.STRING, Table.COMMON,
               "throttle group name", aliases=("group",)),
    OptionSpec("stats-account-invalid", "stats_account_invalid", Kind.BOOL, Table.COMMON,
               "count invalid requests"),
    OptionSpec("stats-account-failed", "stats_account_failed", Kind.BOOL, Table.COMMON,
               "count failed requests"),
    OptionSpec("stats-intervals", "stats_intervals", Kind.NUMBER, Table.SPECIAL,
               "stats-intervals.N=seconds"),
    OptionSpec("driver", "driver_options", Kind.STRING, Table.NODE,
               "block driver (not with format)"),
]

OPTIONS: Mapping[str, OptionSpec] = MappingProxyType({r.key: r for r in _ROWS})
"""qemu-7.2 keys -> rows (aliases resolved through :data:`ALIASES`)."""

# blockdev.c drive_new() opt_renames[], in QEMU's order (the order of the checks).
ALIASES: Mapping[str, str] = MappingProxyType({
    "iops": "throttling.iops-total", "iops_rd": "throttling.iops-read",
    "iops_wr": "throttling.iops-write", "bps": "throttling.bps-total",
    "bps_rd": "throttling.bps-read", "bps_wr": "throttling.bps-write",
    "iops_max": "throttling.iops-total-max", "iops_rd_max": "throttling.iops-read-max",
    "iops_wr_max": "throttling.iops-write-max", "bps_max": "throttling.bps-total-max",
    "bps_rd_max": "throttling.bps-read-max", "bps_wr_max": "throttling.bps-write-max",
    "iops_size": "throttling.iops-size", "group": "throttling.group",
    "readonly": "read-only",
})

THROTTLE_KEYS = tuple(k for k, r in OPTIONS.items() if r.field == "throttling")
LEGACY_KEYS = frozenset(k for k, r in OPTIONS.items() if r.table is Table.LEGACY)
COMMON_KEYS = frozenset(k for k, r in OPTIONS.items() if r.table is Table.COMMON)
TABLE_KEYS = frozenset(k for k, r in OPTIONS.items() if r.table is not Table.SPECIAL) | {"id"}

_ROWS_2008 = [
    *(r for r in _ROWS if "qemu-0.9-sync" in r.dialects),
    OptionSpec("cyls", "cyls", Kind.NUMBER, Table.LEGACY, "CHS cylinders (1-16383)", dialects=Q08),
    OptionSpec("heads", "heads", Kind.NUMBER, Table.LEGACY, "CHS heads (1-16)", dialects=Q08),
    OptionSpec("secs", "secs", Kind.NUMBER, Table.LEGACY, "CHS sectors (1-63)", dialects=Q08),
    OptionSpec("trans", "trans", Kind.STRING, Table.LEGACY, "none lba auto", dialects=Q08),
    OptionSpec("sync", "sync", Kind.BOOL, Table.LEGACY, "open with O_SYNC (a 2008 patch)",
               dialects=Q08),
    OptionSpec("boot", "boot", Kind.BOOL, Table.LEGACY, "KVM userspace: boot from this drive",
               dialects=Q08),
]
OPTIONS_2008: Mapping[str, OptionSpec] = MappingProxyType({r.key: r for r in _ROWS_2008})
"""qemu-0.9-sync keys (vl.c r5300 params[], the seed's sync, KVM's boot)."""

# block/file-posix.c raw_runtime_opts: what a file./host_device protocol node takes.
PROTOCOL_KEYS = frozenset({
    "filename", "aio", "aio-max-batch", "locking", "pr-manager", "drop-cache",
    "x-check-cache-dropped",
})
# block.c bdrv_runtime_opts: taken by every node, the protocol child included.
NODE_KEYS = frozenset({
    "node-name", "driver", "cache.direct", "cache.no-flush", "read-only", "auto-read-only",
    "detect-zeroes", "discard", "force-share",
})
# Format drivers' own runtime options (block/raw-format.c, block/qcow2.c), by kind.
_QCOW2_BOOLS = (
    "lazy-refcounts", "pass-discard-request", "pass-discard-snapshot", "pass-discard-other",
    *(f"overlap-check.{x}" for x in (
        "main-header", "active-l1", "active-l2", "refcount-table", "refcount-block",
        "snapshot-table", "inactive-l1", "inactive-l2", "bitmap-directory")),
)
FORMAT_KEYS: Mapping[str, Mapping[str, Kind]] = MappingProxyType({
    "raw": MappingProxyType({"offset": Kind.SIZE, "size": Kind.SIZE}),
    "qcow2": MappingProxyType({
        **{k: Kind.BOOL for k in _QCOW2_BOOLS},
        "overlap-check": Kind.STRING, "overlap-check.template": Kind.STRING,
        "cache-size": Kind.SIZE, "l2-cache-size": Kind.SIZE, "l2-cache-entry-size": Kind.SIZE,
        "refcount-cache-size": Kind.SIZE, "cache-clean-interval": Kind.NUMBER,
        "encrypt.key-secret": Kind.STRING,
    }),
})


# The block drivers Debian's QEMU 7.2 lists for `-drive format=help`.
KNOWN_DRIVERS = frozenset(
    "blkdebug blklogwrites blkreplay blkverify bochs cloop compress copy-before-write "
    "copy-on-read dmg file ftp ftps gluster host_cdrom host_device http https iscsi iser luks "
    "nbd nfs null-aio null-co nvme parallels preallocate qcow qcow2 qed quorum raw rbd "
    "replication snapshot-access ssh throttle vdi vhdx vmdk vpc vvfat".split()
)
# Protocol prefixes bdrv_find_protocol() recognises in a file name ("nbd:...").
PROTOCOL_PREFIXES = frozenset(
    "file host_device host_cdrom nbd nbd+tcp nbd+unix http https ftp ftps ssh iscsi iser "
    "gluster gluster+tcp gluster+unix gluster+rdma rbd nfs fat blkdebug blkverify null-co "
    "null-aio nvme json".split()
)
PROTOCOL_DRIVERS = frozenset(
    "file host_device host_cdrom nbd http https ftp ftps ssh iscsi iser gluster rbd nfs "
    "null-co null-aio nvme vvfat".split()
)
# block/file-posix.c: the three drivers of the host's own files and devices.
FILE_POSIX_DRIVERS = frozenset({"file", "host_device", "host_cdrom"})


_CANONICAL_ORDER = (
    "file", "format", "if", "bus", "unit", "index", "media", "id", "node-name", "snapshot",
    "read-only", "cache", "cache.writeback", "cache.direct", "cache.no-flush", "aio", "discard",
    "detect-zeroes", "werror", "rerror", "copy-on-read", "auto-read-only", "force-share",
    "cyls", "heads", "secs", "trans", "sync", "boot",
)


_text = option_text  # canonical_options() renders with the core's one renderer


def options_for(dialect: str) -> Mapping[str, OptionSpec]:
    """The -drive option table of the dialect called ``dialect`` (a Drive's field):
    2008's for the rows that name it, the release table otherwise."""
    return OPTIONS_2008 if dialect in Q08 else OPTIONS


def canonical_options(drive: Drive) -> dict[str, str]:
    """Canonical key -> value for ``drive``: table order, QEMU spellings, on/off booleans."""
    table = options_for(drive.dialect)
    out: dict[str, str] = {}
    for key in _CANONICAL_ORDER:
        row = table.get(key)
        value = getattr(drive, row.field) if row else None
        if value is not None:
            out[key] = _text(value)
    for key in THROTTLE_KEYS:
        if key in drive.throttling:
            out[key] = str(drive.throttling[key])
    if drive.throttling_group is not None:
        out["throttling.group"] = drive.throttling_group
    for key in ("stats-account-invalid", "stats-account-failed"):
        value = getattr(drive, OPTIONS[key].field)
        if value is not None:
            out[key] = _text(value)
    for i, seconds in enumerate(drive.stats_intervals):
        out[f"stats-intervals.{i}"] = str(seconds)
    out.update(drive.driver_options)
    return out


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
