"""The QAPI input visitor over the derived schema (grammar/qemu-7.2/qapi-block.json).

Mirrors qapi/qobject-input-visitor.c and the generated visit_type_*() functions: a
struct's members in schema order (its base first), a union's discriminator and then
its variant's members, an alternate chosen by the input's type, and, at the end of each
struct, the first member nobody asked for ("Parameter 'X' is unexpected": the first left
in the GHashTable QEMU keeps the struct's keys in, qdrive.frontend._ghash). Two modes,
as QEMU has them: ``keyval`` (every scalar a string: -blockdev's dotted syntax) and
JSON (typed scalars). Messages are QEMU's, with the dotted full name of the member.
"""

from __future__ import annotations

import functools
from typing import Any

from ._data import read_json
from ._ghash import StrTable
from ._qdict import in_qdict_order

__all__ = ["VisitError", "schema", "visit"]

_INT_RANGES = {"int": (-2**63, 2**63 - 1), "int64": (-2**63, 2**63 - 1),
               "int32": (-2**31, 2**31 - 1), "int16": (-2**15, 2**15 - 1),
               "int8": (-128, 127), "uint64": (0, 2**64 - 1), "uint32": (0, 2**32 - 1),
               "uint16": (0, 2**16 - 1), "uint8": (0, 255), "size": (0, 2**64 - 1)}
_TRUE = ("on", "yes", "true", "y")
_FALSE = ("off", "no", "false", "n")


class VisitError(ValueError):
    """Input the visitor refuses, with QEMU's message."""


@functools.cache
def schema(version: str = "7.2") -> dict[str, Any]:
    """The derived QAPI types of one QEMU version, with conditions already applied."""
    data = read_json(f"qemu-{version}", "qapi-block.json")
    conds: dict[str, bool] = data["build_conditions"]
    types: dict[str, Any] = data["types"]
    types["__conditions__"] = conds
    return types


def _enabled(entry: dict[str, Any], conds: dict[str, bool]) -> bool:
    cond = entry.get("if")
    if cond is None:
        return True
    if isinstance(cond, str):
        return conds.get(cond, False)
    if isinstance(cond, dict):
        if "all" in cond:
            return all(_enabled({"if": c}, conds) for c in cond["all"])
        if "any" in cond:
            return any(_enabled({"if": c}, conds) for c in cond["any"])
        if "not" in cond:
            return not _enabled({"if": cond["not"]}, conds)
    return True


class _Visitor:
    def __init__(self, types: dict[str, Any], keyval: bool,
                 removed: frozenset[str] = frozenset()) -> None:
        self.types = types
        self.conds: dict[str, bool] = types["__conditions__"]
        self.keyval = keyval
        self.removed = removed

    def name(self, path: list[str]) -> str:
        return ".".join(path) if path else "<anonymous>"

    # -- scalars -----------------------------------------------------------------
    def scalar(self, tname: str, value: Any, path: list[str]) -> Any:
        full = self.name(path)
        if self.keyval:
            if isinstance(value, dict | list):
                raise VisitError(f"Parameters '{full}.*' are unexpected")
            return self._keyval_scalar(tname, value, full)
        return self._json_scalar(tname, value, full)

    def _keyval_scalar(self, tname: str, value: str, full: str) -> Any:
        if tname == "str":
            return value
        if tname == "bool":
            if value in _TRUE:
                return True
            if value in _FALSE:
                return False
            raise VisitError(f"Parameter '{full}' expects 'on' or 'off'")
        if tname == "number":
            try:
                return float(value)
            except ValueError:
                raise VisitError(f"Parameter '{full}' expects number") from None
        if tname in _INT_RANGES:
            what = {"size": "size", "uint64": "uint64"}.get(tname, "integer")
            number = _c_integer(value, tname.startswith("u") or tname == "size")
            if number is None:
                raise VisitError(f"Parameter '{full}' expects {what}")
            low, high = _INT_RANGES[tname]
            if not low <= number <= high and tname not in ("int", "int64", "uint64", "size"):
                raise VisitError(f"Parameter '{full}' expects {_range_name(tname)}")
            return number
        if tname in ("null",):
            raise VisitError(f"Invalid parameter type for '{full}', expected: null")
        return value  # any

    def _json_scalar(self, tname: str, value: Any, full: str) -> Any:
        if tname == "str":
            if not isinstance(value, str):
                raise VisitError(f"Invalid parameter type for '{full}', expected: string")
            return value
        if tname == "bool":
            if not isinstance(value, bool):
                raise VisitError(f"Invalid parameter type for '{full}', expected: boolean")
            return value
        if tname == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise VisitError(f"Invalid parameter type for '{full}', expected: number")
            return value
        if tname in _INT_RANGES:
            if isinstance(value, bool) or not isinstance(value, int):
                if tname in ("uint64", "size"):
                    raise VisitError(f"Parameter '{full}' expects uint64")
                raise VisitError(f"Invalid parameter type for '{full}', expected: integer")
            low, high = _INT_RANGES[tname]
            if tname in ("uint64", "size") and -2**63 <= value < 2**64:
                return value
            if not low <= value <= high:
                raise VisitError(f"Parameter '{full}' expects {_range_name(tname)}")
            return value
        if tname == "null":
            if value is not None:
                raise VisitError(f"Invalid parameter type for '{full}', expected: null")
            return None
        return value

    # -- composites --------------------------------------------------------------
    def visit(self, tname: Any, value: Any, path: list[str], name: str | None) -> Any:
        if isinstance(tname, list):
            return self.visit_list(tname[0], value, path)
        t = self.types.get(tname)
        if t is None:
            return self.scalar(tname, value, path)
        meta = t["meta"]
        if meta == "enum":
            return self.visit_enum(t, value, path, name)
        if meta == "alternate":
            return self.visit_alternate(tname, t, value, path, name)
        if not isinstance(value, dict):
            raise VisitError(f"Invalid parameter type for '{self.name(path)}', "
                             "expected: object")
        out: dict[str, Any] = {}
        # qobject_input_push(): the keys go into a GHashTable in the QDict's order
        left = StrTable(in_qdict_order(list(value)))
        self.members(t, value, path, out, left)
        for key in left:
            raise VisitError(f"Parameter '{self.name([*path, key])}' is unexpected")
        return out

    def members(self, t: dict[str, Any], value: dict[str, Any], path: list[str],
                out: dict[str, Any], left: StrTable) -> None:
        base = t.get("base")
        if isinstance(base, str):
            self.members(self.types[base], value, path, out, left)
        for m in t.get("members", []):
            if not _enabled(m, self.conds):
                continue
            key = m["name"]
            if key not in value:
                if m.get("optional"):
                    continue
                raise VisitError(f"Parameter '{self.name([*path, key])}' is missing")
            left.pop(key, None)
            out[key] = self.visit(m["type"], value[key], [*path, key], key)
        if t["meta"] == "union":
            tag = out.get(t["discriminator"])
            for v in t.get("variants", []):
                if v["case"] == tag and _enabled(v, self.conds):
                    self.members(self.types[v["type"]], value, path, out, left)
                    break

    def visit_enum(self, t: dict[str, Any], value: Any, path: list[str],
                   name: str | None) -> str:
        text = self.scalar("str", value, path)
        if not any(v["name"] == text and _enabled(v, self.conds) for v in t["values"]) or \
                text in self.removed and t is self.types.get("BlockdevDriver"):
            raise VisitError(f"Parameter '{name or 'null'}' does not accept value '{text}'")
        return str(text)

    def visit_alternate(self, tname: str, t: dict[str, Any], value: Any, path: list[str],
                        name: str | None) -> Any:
        variants = {self._kind(v["type"]): v["type"] for v in t["variants"]
                    if _enabled(v, self.conds)}
        if isinstance(value, dict):
            kind = "object"
        elif isinstance(value, list):
            kind = "array"
        elif self.keyval:
            kind = "string" if "string" in variants else next(
                (k for k in variants if k != "object"), "string")
        elif value is None:
            kind = "null"
        elif isinstance(value, bool):
            kind = "boolean"
        elif isinstance(value, int | float):
            kind = "number"
        else:
            kind = "string"
        if kind not in variants:
            raise VisitError(f"Invalid parameter type for '{name or 'null'}', "
                             f"expected: {tname}")
        return self.visit(variants[kind], value, path, name)

    def _kind(self, tname: Any) -> str:
        if isinstance(tname, list):
            return "array"
        if tname == "str" or self.types.get(tname, {}).get("meta") == "enum":
            return "string"
        if tname == "bool":
            return "boolean"
        if tname == "null":
            return "null"
        if tname in _INT_RANGES or tname == "number":
            return "number"
        return "object"

    def visit_list(self, tname: Any, value: Any, path: list[str]) -> list[Any]:
        if not isinstance(value, list):
            raise VisitError(f"Invalid parameter type for '{self.name(path)}', "
                             "expected: array")
        sep = "." if self.keyval else ""
        out = []
        for i, item in enumerate(value):
            where = [*path[:-1], f"{path[-1]}{sep}{i}" if self.keyval else f"{path[-1]}[{i}]"]
            out.append(self.visit(tname, item, where, None))
        return out


def _range_name(tname: str) -> str:
    return {"int32": "int32", "int16": "int16", "int8": "int8", "uint32": "uint32",
            "uint16": "uint16", "uint8": "uint8"}.get(tname, "integer")


def _c_integer(text: str, unsigned: bool) -> int | None:
    """util/cutils.c qemu_strtoi64/qemu_strtou64 with base 0 on a whole string."""
    s = text.lstrip(" \t\n\v\f\r")
    if not s:
        return None
    sign = -1 if s[0] == "-" else 1
    body = s[1:] if s[0] in "+-" else s
    try:
        if body[:2].lower() == "0x" and len(body) > 2:
            n = int(body[2:], 16)
        elif body.startswith("0") and len(body) > 1:
            n = int(body[1:], 8)
        else:
            n = int(body, 10) if body.isdigit() else None  # type: ignore[assignment]
    except ValueError:
        return None
    if n is None or not body.replace("x", "").replace("X", "").isalnum():
        return None
    n *= sign
    if unsigned:
        return n if -2**64 < n < 2**64 else None
    return n if -2**63 <= n < 2**63 else None


def visit(tname: str, value: Any, keyval: bool, version: str = "7.2",
          removed: frozenset[str] = frozenset()) -> Any:
    """``value`` (parsed keyval or JSON) visited as QAPI type ``tname``: the typed result.
    ``removed``: BlockdevDriver values the release no longer has (Dialect.removed_drivers,
    for a release read through an older release's schema)."""
    return _Visitor(schema(version), keyval, removed).visit(tname, value, [], None)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
