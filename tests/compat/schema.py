"""QEMU's block-driver options as the case generator needs them, from the derived tables.

grammar/qemu-<version>/block-drivers.json lists each driver's QemuOpts runtime options
(with their QemuOpts type: string, bool, number, size) and grammar/qemu-<version>/
qapi-block.json its -blockdev schema (``BlockdevOptions`` and every type it reaches).
:func:`driver_options` flattens both into dotted keys, the spelling -drive and the
dotted -blockdev syntax share: a struct member becomes ``name.member``, a list element
``name.0.member``, a flat union's discriminator and one branch's members sit side by
side, and a ``BlockdevRef`` member is a child (:class:`Child`) that the generator fills
with a nested node or a reference. Nothing here knows qdrive; the tables are QEMU's.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GRAMMAR = Path(__file__).resolve().parents[2] / "grammar"

# QAPI builtin types -> the value kind the generator draws from
_QAPI_KINDS = {
    "str": "string", "bool": "bool", "int": "number", "int8": "number", "int16": "number",
    "int32": "number", "int64": "number", "uint8": "number", "uint16": "number",
    "uint32": "number", "uint64": "number", "size": "size", "number": "float", "null": "null",
    "any": "string",
}
_CHILD_TYPES = ("BlockdevRef", "BlockdevRefOrNull")


@dataclass(frozen=True)
class Option:
    """One key of a driver: its kind and, for enums, the values QAPI allows."""

    key: str
    kind: str  # string | bool | number | size | float | enum
    values: tuple[str, ...] = ()  # enum members
    required: bool = False


@dataclass(frozen=True)
class Child:
    """A member naming another node (``file``, ``backing``, ``children.0``, ...)."""

    key: str
    required: bool
    nullable: bool


@dataclass(frozen=True)
class Driver:
    """What the generator knows about one block driver."""

    name: str
    kinds: tuple[str, ...]  # format / filter / protocol
    protocol: str | None  # the ``proto:`` prefix of its file names
    options: tuple[Option, ...] = ()
    children: tuple[Child, ...] = ()
    supports_backing: bool = False
    in_format_help: bool = True
    strong: tuple[str, ...] = field(default=())

    @property
    def is_format(self) -> bool:
        return "format" in self.kinds

    @property
    def is_filter(self) -> bool:
        return "filter" in self.kinds

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)


@functools.cache
def tables(version: str = "7.2") -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(block-drivers.json, qapi-block.json) of a QEMU version."""
    where = GRAMMAR / f"qemu-{version}"
    return (json.loads((where / "block-drivers.json").read_text("utf-8")),
            json.loads((where / "qapi-block.json").read_text("utf-8")))


def format_help(version: str = "7.2") -> tuple[str, ...]:
    """The drivers ``-drive format=help`` lists in Debian's build."""
    drivers, _ = tables(version)
    return tuple(drivers["format_help"]["formats"])


@functools.cache
def drivers(version: str = "7.2") -> Mapping[str, Driver]:
    """Every driver ``-drive format=help`` lists, with its flattened options."""
    table, qapi = tables(version)
    types = qapi["types"]
    out = {}
    for name in format_help(version):
        entry = table["drivers"][name]
        options: dict[str, Option] = {}
        children: dict[str, Child] = {}
        if entry.get("qapi_type"):
            for item in _flatten(types, entry["qapi_type"], "", 0):
                if isinstance(item, Child):
                    children.setdefault(item.key, item)
                else:
                    options.setdefault(item.key, item)
        for opt in _top_level_opts(table, entry):
            known = options.get(opt["name"])
            kind = opt["type"] if known is None or known.kind != "enum" else "enum"
            options[opt["name"]] = Option(opt["name"], kind, known.values if known else (),
                                          known.required if known else False)
        for child in entry.get("children") or ():
            key = child["name"].replace(".N", ".0")
            children.setdefault(key, Child(key, not child.get("optional", True), False))
        if entry.get("supports_backing"):
            children.setdefault("backing", Child("backing", False, True))
        out[name] = Driver(
            name, tuple(entry.get("kinds") or ()), entry.get("protocol_name"),
            tuple(o for k, o in sorted(options.items()) if k not in children),
            tuple(children[k] for k in sorted(children)),
            bool(entry.get("supports_backing")), bool(entry.get("in_format_help")),
            tuple(entry.get("strong_runtime_opts") or ()))
    return out


def _top_level_opts(table: Mapping[str, Any], entry: Mapping[str, Any]) -> Iterator[dict]:
    """The options of a driver's first runtime QemuOptsList (the others are sub-dicts)."""
    lists = entry.get("runtime_opts") or ()
    if lists:
        yield from table["option_lists"][lists[0]]["options"]


def _flatten(types: Mapping[str, Any], name: str, prefix: str,
             depth: int) -> Iterator[Option | Child]:
    """The dotted keys of a QAPI struct (with its base), one union branch per union."""
    t = types.get(name)
    if t is None or depth > 3:
        return
    if t.get("base"):
        yield from _flatten(types, t["base"], prefix, depth)
    for m in t.get("members", ()):
        yield from _member(types, m, prefix, depth)
    if t.get("meta") == "union" and t.get("variants"):
        for v in t["variants"]:  # every branch: the generator pairs them with the tag
            yield from _flatten(types, v["type"], prefix, depth + 1)


def _member(types: Mapping[str, Any], m: Mapping[str, Any], prefix: str,
            depth: int) -> Iterator[Option | Child]:
    key, typ, required = prefix + m["name"], m["type"], not m.get("optional", False)
    if isinstance(typ, list):  # a list: its first element, ``key.0``
        element = typ[0]
        if element in _CHILD_TYPES:
            yield Child(key + ".0", required, False)
            yield Child(key + ".1", False, False)
        elif element in _QAPI_KINDS:
            yield Option(key + ".0", _QAPI_KINDS[element], (), False)
        else:
            yield from _named(types, element, key + ".0", False, depth)
        return
    if typ in _CHILD_TYPES:
        yield Child(key, required, typ == "BlockdevRefOrNull")
        return
    if typ in _QAPI_KINDS:
        yield Option(key, _QAPI_KINDS[typ], (), required)
        return
    yield from _named(types, typ, key, required, depth)


def _named(types: Mapping[str, Any], typ: str, key: str, required: bool,
           depth: int) -> Iterator[Option | Child]:
    t = types.get(typ, {})
    meta = t.get("meta")
    if meta == "enum":
        yield Option(key, "enum", tuple(v["name"] for v in t["values"]), required)
    elif meta in ("struct", "union"):
        yield from _flatten(types, typ, key + ".", depth + 1)
    elif meta == "alternate":  # e.g. qcow2 overlap-check: a mode, or flags
        for v in t["variants"]:
            if v["type"] in _QAPI_KINDS:
                yield Option(key, _QAPI_KINDS[v["type"]], (), required)
            else:
                yield from _named(types, v["type"], key, required, depth)
    else:
        yield Option(key, "string", (), required)


def union_tags(version: str = "7.2") -> Mapping[str, tuple[str, ...]]:
    """Discriminator keys of the unions a driver reaches -> their cases (``server.type``)."""
    _, qapi = tables(version)
    out: dict[str, tuple[str, ...]] = {}
    for t in qapi["types"].values():
        if t.get("meta") == "union" and t.get("discriminator") and t.get("variants"):
            out[t["discriminator"]] = tuple(v["case"] for v in t["variants"])
    return out


VERSIONS = ("7.2", "10.0", "11.1")


def merged_drivers(versions: tuple[str, ...] = VERSIONS) -> Mapping[str, Driver]:
    """Drivers of several versions, each with the union of its options and children.

    The generator draws from this so that a case can use an option (or a driver) that
    one version has and another has not: exactly where the versions' verdicts part.
    """
    out: dict[str, Driver] = {}
    for version in versions:
        if not (GRAMMAR / f"qemu-{version}" / "block-drivers.json").exists():
            continue
        for name, drv in drivers(version).items():
            old = out.get(name)
            if old is None:
                out[name] = drv
                continue
            opts = {o.key: o for o in (*old.options, *drv.options)}
            kids = {c.key: c for c in (*old.children, *drv.children)}
            out[name] = Driver(name, old.kinds or drv.kinds, old.protocol or drv.protocol,
                               tuple(opts[k] for k in sorted(opts)),
                               tuple(kids[k] for k in sorted(kids)),
                               old.supports_backing or drv.supports_backing,
                               old.in_format_help or drv.in_format_help,
                               old.strong or drv.strong)
    return dict(sorted(out.items()))
