"""Each block driver of a QEMU release as the derived tables describe it (no hand-written lists).

grammar/qemu-X.Y/block-drivers.json (block/*.c: each BlockDriver's runtime QemuOptsLists,
its children, whether it supports backing files) and qapi-block.json (the QAPI
BlockdevOptions* structs of qapi/block-core.json) are read once, on first use, and
turned into :class:`DriverInfo`: which options a node of that driver consumes and of
what kind, and which option prefixes name its children. convert.py asks this module
when it checks a node's options (block.c bdrv_open_inherit()'s leftover check).

Which release's tables are read is the dialect's (``Dialect.tables``): the entry points
that walk a drive or a command line for a dialect (parse_drive, check_drives,
check_argv; a direct caller of convert_72 does the same) wrap the walk in
:func:`reading_for` so that the many small stages below them ask
the tables of the QEMU being modelled without each carrying the dialect along.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from ._data import read_json
from ..dialect import DEFAULT, Dialect
from ..options import Kind

__all__ = ["DriverInfo", "driver", "known", "protocols", "child_rows", "reading_for", "dialect",
           "current", "protocol_prefixes", "format_help"]

# The dialect being walked (its tables, and the drivers its Debian build lists but the
# release no longer has: qemu-11.1's gluster): set by reading_for(), read below.
_ACTIVE: contextvars.ContextVar[Dialect] = contextvars.ContextVar(
    "qdrive_walked_dialect", default=DEFAULT)


class reading_for:  # noqa: N801 - used as a function: ``with reading_for(d):``
    """Within the block, the driver tables are the dialect's (``Dialect.tables``, less its
    ``removed_drivers``) and :func:`dialect` is ``dialect``.

    A class, not a contextlib.contextmanager: every check enters it once, and the
    generator-based manager cost a few thousand instructions a drive (issue 17)."""

    __slots__ = ("_dialect", "_token")

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect

    def __enter__(self) -> None:
        self._token = _ACTIVE.set(self._dialect)

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.reset(self._token)


def dialect() -> Dialect:
    """The dialect whose drive is being walked (the default one outside reading_for()):
    for a driver's open that differs by release (block/rbd.c's librados)."""
    return _ACTIVE.get()


def current() -> str:
    """The grammar/ folder whose tables are read now (``qemu-7.2`` outside reading_for())."""
    return _ACTIVE.get().tables


def _removed() -> frozenset[str]:
    return _ACTIVE.get().removed_drivers


_REFS = ("BlockdevRef", "BlockdevRefOrNull")


@attrs.frozen
class DriverInfo:
    """What one driver's node consumes from its options."""

    name: str
    is_format: bool  # BlockDriver.is_format: its children are opened as protocols
    protocol: bool  # opened with bdrv_file_open (BDRV_O_PROTOCOL): "Block protocol ..."
    kinds: Mapping[str, Kind]  # its own runtime options (QemuOpts, then QAPI scalars)
    children: tuple[str, ...]  # child names ("file", "backing", "image", "children.N")
    prefixes: tuple[str, ...]  # "x." prefixes it consumes itself (QAPI structs, sub-lists)
    supports_backing: bool
    needs_filename: bool
    has_qemu_opts: bool  # the runtime options come from a QemuOptsList in block/*.c
    file_child_optional: bool
    qemu_opts: frozenset[str] = frozenset()  # read by QemuOpts: typed as QEMU types them

    def typed(self, key: str) -> bool:
        """QEMU checks ``key``'s value while opening (a QemuOpts bool, number or size)."""
        return key in self.qemu_opts

    def owns(self, key: str) -> bool:
        """``key`` is read by this node itself (not a child's, not left over)."""
        return key in self.kinds or any(key.startswith(p) for p in self.prefixes)

    def child_of(self, key: str) -> str | None:
        """The child ``key`` belongs to (``backing`` for ``backing.file.filename``)."""
        for child in (*self.children, "backing"):
            if child.endswith(".N"):
                head = child[:-1]
                if key.startswith(head):
                    index, _, _ = key[len(head):].partition(".")
                    if index.isdigit():
                        return head + index
                continue
            if key == child or key.startswith(child + "."):
                return child
        return None


@functools.cache
def _read(tables: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return read_json(tables, "block-drivers.json"), read_json(tables, "qapi-block.json")


def _tables() -> tuple[dict[str, Any], dict[str, Any]]:
    return _read(current())


def known() -> frozenset[str]:
    """The drivers `-drive format=help` lists (less those the dialect says are gone)."""
    return _known_less(current(), _removed())


@functools.cache  # the walk asks on every drive naming a driver: one set per dialect
def _known_less(tables: str, removed: frozenset[str]) -> frozenset[str]:
    return _known(tables) - removed


@functools.cache
def _known(tables: str) -> frozenset[str]:
    return frozenset(_read(tables)[0]["format_help"]["formats"])


def format_help(release: Dialect = DEFAULT) -> str:
    """What ``-drive format=help`` prints on stdout in ``release`` (blockdev.c
    blockdev_init(): qemu_printf() of the formats bdrv_iterate_format() lists, then of
    those it lists for read-only use), from the release's derived table (the binary's own
    list, grammar/_derive_binary.py) less the drivers it no longer has."""
    listed = _read(release.tables)[0]["format_help"]
    gone = release.removed_drivers

    def names(key: str) -> str:
        return "".join(f" {n}" for n in listed[key] if n not in gone)

    return (f"Supported formats:{names('formats')}\n"
            f"Supported formats (read-only):{names('read_only')}\n")


def protocol_prefixes(base: frozenset[str]) -> frozenset[str]:
    """The ``name:`` prefixes bdrv_find_protocol() knows: ``base`` (7.2's, options.py) and
    the table's protocol names, less those of a driver the dialect says is gone
    (``gluster+tcp`` goes with gluster)."""
    return _prefixes(base, current(), _removed())


@functools.cache  # asked for every file name the walk checks: one set per dialect
def _prefixes(base: frozenset[str], tables: str, removed: frozenset[str]) -> frozenset[str]:
    table = _protocols(tables, removed)
    # a transport variant (gluster+rdma) is the table's to list: 10.0 dropped that one
    kept = {p for p in base if p.partition("+")[0] not in removed and ("+" not in p or p in table)}
    return frozenset(kept | set(table))


def protocols() -> Mapping[str, str]:
    """Protocol prefix -> driver (block.c bdrv_find_protocol(): ``nbd:``, ``fat:`` ...)."""
    return _protocols(current(), _removed())


@functools.cache  # read-only, so one mapping per dialect serves every drive
def _protocols(tables: str, removed: frozenset[str]) -> Mapping[str, str]:
    return MappingProxyType({p: d for p, d in _read(tables)[0]["protocols"].items()
                             if d not in removed})


def child_rows(name: str) -> Mapping[str, Mapping[str, Any]]:
    """The children the driver opens, by name (``children.N`` for a list)."""
    return _child_rows(current(), name)


@functools.cache
def _child_rows(tables: str, name: str) -> Mapping[str, Mapping[str, Any]]:
    row = _read(tables)[0]["drivers"].get(name) or {}
    return MappingProxyType({c["name"]: c for c in row.get("children", [])})


def qapi_struct(name: str | None) -> list[dict[str, Any]]:
    """A QAPI struct's members, base first (qapi/block-core.json), [] for other types."""
    return _qapi_members(_tables()[1], name)


def qapi_type(driver_name: str) -> str | None:
    row = _tables()[0]["drivers"].get(driver_name) or {}
    return row.get("qapi_type")


def _qapi_members(qapi: Mapping[str, Any], name: str | None) -> list[dict[str, Any]]:
    members: list[dict[str, Any]] = []
    while name:
        t = qapi["types"].get(name)
        if t is None or t.get("meta") != "struct":
            break
        members = list(t.get("members", [])) + members
        name = t.get("base")
    return members


def driver(name: str) -> DriverInfo | None:
    """The table's view of driver ``name`` (None for a name QEMU does not know)."""
    return None if name in _removed() else _driver(current(), name)


@functools.cache
def _driver(tables: str, name: str) -> DriverInfo | None:
    drivers, qapi = _read(tables)
    row = drivers["drivers"].get(name)
    if row is None:
        return None
    kinds: dict[str, Kind] = {}
    typed: set[str] = set()
    prefixes: list[str] = []
    lists = drivers["option_lists"]
    for n, ref in enumerate(row.get("runtime_opts", [])):
        opts = lists.get(ref, {})
        if n == 0:
            for opt in opts.get("options", []):
                kinds[opt["name"]] = Kind(opt["type"]) if opt["type"] in Kind.__members__.values() \
                    else Kind.STRING
                typed.add(opt["name"])
        else:  # a secondary list read from a sub-dict (blkdebug's inject-error.N.*)
            prefixes.append(opts.get("name", "") + ".")
    children = tuple(c["name"] for c in row.get("children", []))
    for member in _qapi_members(qapi, row.get("qapi_type")):
        mname, mtype = member["name"], member["type"]
        if mname in kinds or mname in children or mname.removesuffix("s") + "s.N" in children:
            continue
        if isinstance(mtype, list):
            # a list member (gluster's and rbd's server): -drive flattens it as
            # server.N.*, which the driver reads itself (qdict_array_split())
            prefixes.append(mname + ".")
            continue
        if mtype in _REFS:
            continue
        t = qapi["types"].get(mtype)
        if t is not None and t.get("meta") in ("struct", "union", "alternate"):
            prefixes.append(mname + ".")
            if t.get("meta") == "alternate":
                kinds[mname] = Kind.STRING
            continue
        kinds[mname] = Kind.STRING  # read by a QAPI visitor: not typed as QemuOpts are
    file_child = next((c for c in row.get("children", []) if c["name"] == "file"), None)
    return DriverInfo(
        name=name, is_format=bool(row.get("is_format")),
        # 7.2 marks a protocol driver by its .bdrv_file_open; 9.2 folded that callback into
        # .bdrv_open (block.c), so the derived "kinds" (a protocol_name) says it for both.
        protocol="protocol" in row.get("kinds", ()) or "bdrv_file_open" in row.get("open", {}),
        kinds=MappingProxyType(kinds), children=children, prefixes=tuple(prefixes),
        supports_backing=bool(row.get("supports_backing")),
        needs_filename=bool(row.get("bdrv_needs_filename")),
        has_qemu_opts=bool(row.get("runtime_opts")),
        file_child_optional=bool(file_child and file_child.get("optional")),
        qemu_opts=frozenset(typed))


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
