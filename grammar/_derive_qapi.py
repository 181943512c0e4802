"""The QAPI schema of -blockdev read out of QEMU's qapi/*.json, for grammar/derive_qemu.py.

QAPI schema files are a sequence of JSON-like expressions with single-quoted strings and
``#`` comments; a ``##`` ... ``##`` comment block before an expression documents it
(docs/devel/qapi-code-gen.rst). This reader follows ``{ 'include': ... }``, keeps every
struct, union, alternate and enum, and walks the types that ``BlockdevOptions`` reaches.

Each type comes out as (``meta`` is QAPI's own word for the kind)::

    {"meta": "struct", "base": NAME|null, "members": [MEMBER...], "if": COND?, "features": [...]?}
    {"meta": "union", "base": NAME|null, "members": [MEMBER...], "discriminator": NAME,
     "variants": [{"case": C, "type": T, "if": COND?}...]}
    {"meta": "alternate", "variants": [{"case": C, "type": T}...]}
    {"meta": "enum", "values": [{"name": V, "if": COND?, "features": [...]?}...]}
    MEMBER = {"name": N, "type": T or [T], "optional": bool, "if": COND?, "features": [...]?,
              "default": TEXT?, "since": VERSION?}

plus ``source`` (the schema file) and ``since`` (the type's ``Since:`` line). ``if``
conditions are QAPI's own (a string, or ``{"all"|"any": [...]}``/``{"not": ...}``).
``default`` is what the member's documentation says the default is, when it says so in
one of the usual forms ("(default: X)", "defaults to X", "Default X"); QEMU keeps
defaults in prose, so a member without one may still have a default in the C code.
"""

from __future__ import annotations

from typing import Any

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["read_schema", "block_types", "BUILTIN_TYPES"]

BUILTIN_TYPES = frozenset({
    "str", "int", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "size", "number", "bool", "null", "any", "QType",
})
ROOT = "BlockdevOptions"


@dataclass
class Expr:
    """One top-level schema expression with its documentation block."""

    value: dict[str, Any]
    doc: list[str] | None
    source: str
    line: int


class SchemaError(ValueError):
    """The schema text is not what this reader understands."""


# -- reading -----------------------------------------------------------------------------------

_SCALAR = re.compile(r"'((?:[^'\\]|\\.)*)'|(true|false)\b")


def _exprs(text: str, source: str) -> Iterator[Expr]:
    """Top-level expressions of one schema file, each with the doc block before it."""
    lines = text.split("\n")
    i = 0
    doc: list[str] | None = None
    pos_line = 0
    buffer: list[str] = []
    start = 0
    depth = 0
    while i < len(lines):
        line = lines[i]
        if depth == 0 and not buffer:
            stripped = line.strip()
            if stripped == "##":
                block: list[str] = []
                i += 1
                while i < len(lines) and lines[i].strip() != "##":
                    block.append(lines[i])
                    i += 1
                doc = block
                i += 1
                continue
            if not stripped or stripped.startswith("#"):
                if not stripped:
                    pass
                i += 1
                continue
            start = i + 1
        code = _strip_comment(line)
        buffer.append(code)
        depth += _depth(code)
        i += 1
        if depth == 0 and buffer:
            text_expr = "\n".join(buffer)
            pos_line = start
            yield Expr(_parse_value(text_expr, source, pos_line), doc, source, pos_line)
            buffer = []
            doc = None


def _strip_comment(line: str) -> str:
    out: list[str] = []
    quoted = False
    i = 0
    while i < len(line):
        c = line[i]
        if quoted:
            if c == "\\" and i + 1 < len(line):
                out.append(line[i:i + 2])
                i += 2
                continue
            if c == "'":
                quoted = False
        elif c == "'":
            quoted = True
        elif c == "#":
            break
        out.append(c)
        i += 1
    return "".join(out)


def _depth(code: str) -> int:
    depth = 0
    quoted = False
    for c in code:
        if c == "'":
            quoted = not quoted
        elif not quoted and c in "{[":
            depth += 1
        elif not quoted and c in "}]":
            depth -= 1
    return depth


def _parse_value(text: str, source: str, line: int) -> dict[str, Any]:
    pos = 0

    def skip() -> None:
        nonlocal pos
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1

    def value() -> object:
        nonlocal pos
        skip()
        c = text[pos]
        if c == "{":
            pos += 1
            out: dict[str, Any] = {}
            skip()
            if text[pos] == "}":
                pos += 1
                return out
            while True:
                key = value()
                if not isinstance(key, str):
                    raise SchemaError(f"{source}:{line}: a key must be a string")
                skip()
                if text[pos] != ":":
                    raise SchemaError(f"{source}:{line}: ':' expected")
                pos += 1
                out[key] = value()
                skip()
                if text[pos] == ",":
                    pos += 1
                    continue
                if text[pos] == "}":
                    pos += 1
                    return out
                raise SchemaError(f"{source}:{line}: ',' or '}}' expected")
        if c == "[":
            pos += 1
            items: list[Any] = []
            skip()
            if text[pos] == "]":
                pos += 1
                return items
            while True:
                items.append(value())
                skip()
                if text[pos] == ",":
                    pos += 1
                    continue
                if text[pos] == "]":
                    pos += 1
                    return items
                raise SchemaError(f"{source}:{line}: ',' or ']' expected")
        m = _SCALAR.match(text, pos)
        if not m:
            raise SchemaError(f"{source}:{line}: unexpected {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group(2):
            return m.group(2) == "true"
        return re.sub(r"\\(.)", r"\1", m.group(1))

    result = value()
    if not isinstance(result, dict):
        raise SchemaError(f"{source}:{line}: an expression must be an object")
    return result


def read_schema(root: str, start: str = "qapi/block-core.json") -> list[Expr]:
    """Every expression of ``start`` and the files it includes (depth first, once each)."""
    seen: set[str] = set()
    out: list[Expr] = []

    def visit(rel: str) -> None:
        if rel in seen:
            return
        seen.add(rel)
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            text = f.read()
        for expr in _exprs(text, rel):
            include = expr.value.get("include")
            if isinstance(include, str):
                visit(os.path.normpath(os.path.join(os.path.dirname(rel), include)))
                continue
            out.append(expr)

    visit(start)
    return out


# -- documentation ------------------------------------------------------------------------------

_MEMBER_DOC = re.compile(r"^#\s?@([\w-]+):\s?(.*)$")
_SECTION = re.compile(r"^#\s?(Since|Features|Returns|Errors|Example|Examples|Note|Notes|"
                      r"TODO|\.\.)\b:?(.*)$")
_VALUE = r"('[^']+'|\"[^\"]+\"|-?\d[\w.]*|true|false|on|off|none|null|auto)"
_DEFAULTS = (
    re.compile(r"\(\s*default(?:s\s+to|\s+is)?\s*:?\s*([^)]*?)\s*\)", re.I),
    re.compile(r"\bdefaults?\s+(?:to|is|value\s+is|:)\s+" + _VALUE, re.I),
    re.compile(r"\bdefault\s+" + _VALUE + r"(?=[\s.,;)]|$)", re.I),
    re.compile(r"\((" + _VALUE[1:-1] + r");\s*default\)", re.I),
)
_SINCE = re.compile(r"\bsince:?\s+(\d+\.\d+(?:\.\d+)?)", re.I)


@dataclass
class _Doc:
    since: str | None
    members: dict[str, str]
    features: dict[str, str]


def _read_doc(lines: list[str] | None) -> _Doc:
    doc = _Doc(None, {}, {})
    if not lines:
        return doc
    current: dict[str, str] | None = None
    name = ""
    in_features = False
    for raw in lines:
        line = raw.rstrip()
        section = _SECTION.match(line)
        member = _MEMBER_DOC.match(line)
        if section and not member:
            word = section.group(1)
            in_features = word == "Features"
            if word == "Since":
                doc.since = section.group(2).strip() or None
            current = None
            continue
        if member:
            name = member.group(1)
            current = doc.features if in_features else doc.members
            current[name] = member.group(2).strip()
            continue
        if current is not None:
            text = line.lstrip("#").strip()
            if not text:
                continue
            current[name] = (current[name] + " " + text).strip()
    return doc


def _default(text: str) -> str | None:
    for pattern in _DEFAULTS:
        m = pattern.search(text)
        if not m:
            continue
        value = m.group(1).strip()
        quoted = re.match(r"(['\"])(.*?)\1", value)
        if quoted:
            return quoted.group(2)
        value = re.split(r"[,;(]|\s+(?:if|when|for|unless|which)\s", value)[0]
        value = value.strip().rstrip(".")
        # A value, not a sentence: at most three words.
        if value and len(value.split()) <= 3 and not value.lower().startswith(
                ("is ", "taken", "the ", "to ", "depends", "determined", "chosen", "none,")):
            return value
    return None


def _since(text: str) -> str | None:
    m = _SINCE.search(text)
    return m.group(1) if m else None


# -- normalising ---------------------------------------------------------------------------------


def _features(value: object) -> list[Any]:
    out: list[Any] = []
    for f in value if isinstance(value, list) else []:
        if isinstance(f, dict):
            out.append({"name": f["name"], "if": f["if"]} if "if" in f else f["name"])
        else:
            out.append(f)
    return out


def _members(data: object, doc: _Doc) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not isinstance(data, dict):
        return out
    for key, spec in data.items():
        name = key.lstrip("*")
        member: dict[str, Any] = {"name": name, "optional": key.startswith("*")}
        if isinstance(spec, dict):
            member["type"] = spec["type"]
            if "if" in spec:
                member["if"] = spec["if"]
            if spec.get("features"):
                member["features"] = _features(spec["features"])
        else:
            member["type"] = spec
        text = doc.members.get(name, "")
        default = _default(text)
        if default is not None:
            member["default"] = default
        since = _since(text)
        if since is not None:
            member["since"] = since
        out.append(member)
    return out


def _variants(data: object) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for case, spec in (data.items() if isinstance(data, dict) else []):
        variant: dict[str, Any] = {"case": case}
        if isinstance(spec, dict):
            variant["type"] = spec["type"]
            if "if" in spec:
                variant["if"] = spec["if"]
        else:
            variant["type"] = spec
        out.append(variant)
    return out


def _normalise(expr: Expr) -> tuple[str, dict[str, Any]] | None:
    v = expr.value
    doc = _read_doc(expr.doc)
    meta = next((m for m in ("struct", "union", "alternate", "enum") if m in v), None)
    if meta is None:
        return None
    name = v[meta]
    assert isinstance(name, str)
    out: dict[str, Any] = {"meta": meta}
    if meta == "enum":
        values = []
        for item in v.get("data", []):  # type: ignore[union-attr]
            entry: dict[str, Any] = {"name": item["name"] if isinstance(item, dict) else item}
            if isinstance(item, dict):
                if "if" in item:
                    entry["if"] = item["if"]
                if item.get("features"):
                    entry["features"] = _features(item["features"])
            text = doc.members.get(str(entry["name"]), "")
            since = _since(text)
            if since:
                entry["since"] = since
            if re.search(r"\(default\)|;\s*default\)|\bthe default\b", text, re.I):
                out["default"] = entry["name"]
            values.append(entry)
        out["values"] = values
        if "prefix" in v:
            out["prefix"] = v["prefix"]
    elif meta == "alternate":
        out["variants"] = _variants(v.get("data"))
    else:
        base = v.get("base")
        if isinstance(base, dict):
            out["base"] = None
            out["members"] = _members(base, doc) + _members(v.get("data"), doc) \
                if meta == "struct" else _members(base, doc)
        else:
            out["base"] = base
            out["members"] = _members(v.get("data"), doc) if meta == "struct" else []
        if meta == "union":
            out["discriminator"] = v.get("discriminator")
            out["variants"] = _variants(v.get("data"))
    if "if" in v:
        out["if"] = v["if"]
    if v.get("features"):
        out["features"] = _features(v["features"])
    out["source"] = expr.source
    if doc.since:
        out["since"] = doc.since
    return name, out


def _type_names(t: object) -> list[str]:
    if isinstance(t, list):
        return [str(x) for x in t]
    return [str(t)] if t is not None else []


def _references(entry: dict[str, Any]) -> list[str]:
    refs: list[str] = []
    base = entry.get("base")
    if isinstance(base, str):
        refs.append(base)
    for m in entry.get("members", []):  # type: ignore[attr-defined]
        refs.extend(_type_names(m["type"]))
    for var in entry.get("variants", []):  # type: ignore[attr-defined]
        refs.extend(_type_names(var["type"]))
    return refs


def block_types(exprs: list[Expr], root: str = ROOT) -> dict[str, dict[str, Any]]:
    """The types ``root`` reaches, by name, in sorted order."""
    table: dict[str, dict[str, Any]] = {}
    for expr in exprs:
        item = _normalise(expr)
        if item is not None:
            table[item[0]] = item[1]
    if root not in table:
        raise SchemaError(f"{root} is not defined in the schema")
    reached: dict[str, dict[str, Any]] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        if name in reached or name in BUILTIN_TYPES:
            continue
        if name not in table:
            raise SchemaError(f"type {name!r} is used but not defined")
        reached[name] = table[name]
        todo.extend(_references(table[name]))
    return dict(sorted(reached.items()))
