"""Derive qdrive/_lean_tables.py, the plain tables the ``qdrive check`` lean path reads.

The lean path (qdrive/_lean.py) decides a plain one-drive ``qdrive check`` without attrs,
lark, re or json (issue 17: start-up). It reads only literals: which spellings each key
takes and how :meth:`Drive.options` spells them back, the cache table, the image formats,
the buses that take werror=/rerror=, the device each interface's first drive becomes on
the pc board, the JSON defaults. This module computes them from the front end itself:
fastpath's spelling tables, the model's ``Drive.options()``/``cache_triple``, the grammar's
ITEM72 terminal and the full ``check()`` of one drive per interface, so the front end stays
the source of truth and a change there shows as a stale table (tests/test_lean.py
regenerates and compares the bytes). ``python -m qdrive.frontend._lean_derive`` rewrites it.
"""

from __future__ import annotations

import os
import pprint
from typing import Any

from . import fastpath, hostprobe
from ._check import check
from ._syntax import derive_terminals, tokenize
from .jsonout import SCHEMA_VERSION
from ..model import CACHE_MODES, DEFAULT_DIALECT, CacheMode, Interface

__all__ = ["render", "write"]

# The keys the lean path reads, each with fastpath's table of spellings (None: a boolean).
# bus=, unit= and index= are left to the full path (the placement's own checks).
_SPELLINGS: dict[str, dict[str, Any] | None] = {
    "if": fastpath._INTERFACES, "media": fastpath._MEDIA, "snapshot": None,
    "read-only": None, "readonly": None, "detect-zeroes": fastpath._ZEROES,
    "cache": fastpath._CACHES, "aio": fastpath._AIO, "discard": fastpath._DISCARD,
    "werror": fastpath._WERROR, "rerror": fastpath._RERROR,
}
# The ITEM72 terminal the lean split assumes: an item is everything up to the next single
# comma (a text without ",," splits on ","), and the last item runs to the end.
_ITEM72 = "[^=,]*=[^,]*(?:,,[^,]*)*,(?!,)|[^=,]*,"
_OUT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "_lean_tables.py")


def _place(*_: object) -> tuple[int, int]:
    return 0, 0


def _options(text: str) -> dict[str, str] | None:
    """Drive.options() of the drive fastpath builds for ``text`` (None: it would not)."""
    conv = fastpath.convert(text, tokenize(text), Interface.IDE, _place)
    if conv is None or conv.drive is None:
        return None
    return conv.drive.options()


def _values() -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """key -> {spelling -> canonical spelling}, and key -> canonical key."""
    values: dict[str, dict[str, str]] = {}
    keys: dict[str, str] = {}
    for key, table in _SPELLINGS.items():
        spellings = sorted(table or fastpath._BOOLS)
        values[key] = {}
        for spelling in spellings:
            # aio=native needs O_DIRECT (fastpath refuses it otherwise): ask with cache=none
            extra = ",cache=none" if key == "aio" else ""
            found = _options(f"file=x{extra},{key}={spelling}")
            if found is None:
                continue
            # the one option besides file= (and the cache=none asked with aio=)
            (canonical, value), = ((k, v) for k, v in found.items()
                                   if k != "file" and (k != "cache" or not extra))
            values[key][spelling] = value
            keys[key] = canonical
    return values, keys


def _order() -> tuple[str, ...]:
    """The canonical keys in Drive.options()'s order (one drive with all of them set)."""
    # if=ide takes werror= and rerror=; aio=threads needs no cache mode
    text = "file=x,format=raw,id=x,if=ide,aio=threads," + ",".join(
        f"{k}={next(iter(v))}" for k, v in _values()[0].items()
        if k not in ("readonly", "aio", "if"))
    found = _options(text)
    assert found is not None, text
    return tuple(found)


def _devices() -> dict[str, tuple[str, str]]:
    """interface -> (device of a disk, of a cdrom) for the interfaces where a plain
    drive checks ok, warning-free, on the pc board (the full check says which)."""
    out: dict[str, tuple[str, str]] = {}
    for iface in Interface:
        names: list[str] = []
        for media in ("disk", "cdrom"):
            r = check(f"file=x,if={iface.value},media={media}", probe_files=False).drives[0]
            found = r.ok and not r.warnings and r.placement
            names.append(r.placement.device_id or "" if found and r.placement else "")
        if names[0]:
            out[iface.value] = (names[0], names[1])
    return out


def _formats(devices: dict[str, tuple[str, str]]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """interface -> (the formats a disk takes there, those a cdrom takes): a read-only
    format (bochs, cloop, dmg) refuses a writable disk on some buses (the full check)."""
    def ok(text: str) -> bool:
        r = check(text, probe_files=False).drives[0]
        return r.ok and not r.warnings

    return {iface: tuple(tuple(f for f in sorted(fastpath._FORMATS)
                               if ok(f"file=x,if={iface},media={media},format={f}"))
                         for media in ("disk", "cdrom"))
            for iface in devices}


def _defaults() -> dict[str, str]:
    """What a drive that does not say gets: its bus, cache mode, aio=, detect-zeroes=."""
    drive = check("file=x", probe_files=False).to_json()["drives"][0]
    triple = tuple(drive["cache"][k] for k in ("writeback", "direct", "no_flush"))
    cache, = (m.value for m, t in CACHE_MODES.items() if t == triple and m.value in (
        "writeback", "none", "writethrough", "directsync", "unsafe"))
    return {"DEFAULT_IF": drive["placement"]["interface"], "DEFAULT_CACHE": cache,
            "DEFAULT_AIO": drive["aio"], "DEFAULT_DETECT_ZEROES": drive["detect_zeroes"]}


def render() -> str:
    """The text of qdrive/_lean_tables.py."""
    assert derive_terminals()["qemu72"].startswith(f"(?P<ITEM72>{_ITEM72})"), \
        "the grammar's ITEM72 changed: the lean path's split (qdrive/_lean.py) must follow"
    values, keys = _values()
    triples = {c: CACHE_MODES[CacheMode(c)] for c in sorted(set(values["cache"].values()))}
    tables: dict[str, Any] = {
        "DIALECT": DEFAULT_DIALECT,
        "SCHEMA_VERSION": SCHEMA_VERSION,
        "VALUES": values,
        "KEYS": keys,
        "ORDER": _order(),
        "CACHE": triples,
        "FORMATS": _formats(_devices()),
        "ERROR_BUSES": tuple(sorted(i.value for i in fastpath._ERROR_BUSES)),
        "DEVICES": _devices(),
        **_defaults(),
        # hostprobe._others_locks(): QEMU's lock bytes another open file description holds
        "LOCK_BYTES": tuple(b + p for b in hostprobe.LOCK_BASES for p in sorted(hostprobe.ALL)),
        "F_OFD_GETLK": hostprobe._F_OFD_GETLK,
        "FLOCK": hostprobe._FLOCK,
    }
    lines = ['"""Plain tables for the `qdrive check` lean path (qdrive/_lean.py).',
             "", "Generated by qdrive/frontend/_lean_derive.py from the front end; do not edit.",
             "tests/test_lean.py checks that regenerating gives these bytes.", '"""', ""]
    for name, value in tables.items():
        lines.append(f"{name} = {pprint.pformat(value, width=96, sort_dicts=False)}")
    return "\n".join(lines) + "\n"


def write() -> str:
    """Rewrite qdrive/_lean_tables.py; returns its path."""
    with open(_OUT, "w", encoding="utf-8") as f:
        f.write(render())
    return _OUT


if __name__ == "__main__":
    print(write())
