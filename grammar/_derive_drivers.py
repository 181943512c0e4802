"""Block drivers and QemuOpts lists read out of a QEMU source tree (block/*.c, block.c,
blockdev.c), for grammar/derive_qemu.py.

What each driver entry holds, and the C it comes from:

* ``format_name``, ``protocol_name``, ``is_format``, ``is_filter``, ``supports_backing``,
  ``bdrv_needs_filename``: the fields of its ``BlockDriver`` initialiser
  (include/block/block_int-common.h);
* ``open``: the names of its ``bdrv_open``/``bdrv_file_open`` callbacks, ``probe``: whether
  it has ``bdrv_probe`` (format probing) / ``bdrv_probe_device`` (host devices),
  ``parse_filename``: whether it has ``bdrv_parse_filename`` (``proto:...`` names);
* ``runtime_opts``: every QemuOptsList of its file that a function reachable from its open
  callback names (the lists ``qemu_opts_absorb_qdict`` fills at open time), in the order the
  walk meets them; this includes lists read for a sub-dictionary (blkdebug's
  ``inject-error.N.*`` and ``set-state.N.*``, gluster's ``server.N.*``), whose options
  are not top-level keys;
  ``qapi_visited``: the QAPI types those functions read the options into instead
  (``visit_type_BlockdevOptionsNfs``: nfs, rbd, ssh check their options against the schema);
* ``create_opts``/``amend_opts``: the lists its initialiser points at;
* ``strong_runtime_opts``/``mutable_opts``: the NULL-terminated name arrays it points at;
* ``children``: the ``bdrv_open_child``/``bdrv_co_open_child``/``bdrv_open_file_child``
  calls reachable from its open callback (the child's option prefix, whether the call
  allows it to be absent, the runtime option that names its file), plus ``backing``
  (opened by block.c for every driver with ``supports_backing``);
* ``kinds``: ``format`` (is_format), ``filter`` (is_filter), ``protocol`` (has a
  ``protocol_name``, a ``bdrv_file_open`` or a ``bdrv_probe_device``).

The reach of "reachable" is the driver's own file: a function counts when its name
appears in the body of a function already reached (a call, or a pointer handed to a
coroutine). Option lists and children set up in another file are not followed.
"""

from __future__ import annotations

from typing import Any

import glob
import os
import re
from collections.abc import Iterable

from ._derive_c import Braced, Decl, Macros, SourceFile, Token, holds_on_linux, literal
from ._derive_c import parse_initializer, read_source, split_args

__all__ = ["derive_sources", "GENERIC_LISTS"]

# The block layer's own option lists, checked against qdrive's hand-written table.
GENERIC_LISTS = (
    "block.c:bdrv_runtime_opts",
    "blockdev.c:qemu_legacy_drive_opts",
    "blockdev.c:qemu_common_drive_opts",
    "blockdev.c:qemu_drive_opts",
    "block/file-posix.c:raw_runtime_opts",
    "block/throttle.c:throttle_opts",
)

_OPT_TYPES = {
    "QEMU_OPT_STRING": "string", "QEMU_OPT_BOOL": "bool",
    "QEMU_OPT_NUMBER": "number", "QEMU_OPT_SIZE": "size",
}
_OPEN_CALLBACKS = ("bdrv_open", "bdrv_file_open")
_CHILD_CALLS = {
    # name -> (index of the bdref_key argument, index of allow_none or None = required)
    "bdrv_open_child": (2, 6),
    "bdrv_co_open_child": (2, 6),
    "bdrv_open_file_child": (2, None),
}


def _relative(cond: tuple[str, ...], outer: tuple[str, ...]) -> str | None:
    inner = cond[len(outer):] if cond[:len(outer)] == outer else cond
    return " && ".join(f"({c})" if len(inner) > 1 else c for c in inner) or None


def _linux(cond: tuple[str, ...], macros: Macros | None = None) -> bool:
    """False only when some condition is known not to hold on Linux."""
    return all(holds_on_linux(c, macros) is not False for c in cond)


def _field(init: Braced, name: str, macros: Macros,
           outer: tuple[str, ...]) -> Braced | list[Token] | None:
    """The value of ``.name``; of several written under #if branches, the Linux one
    (conditions of the declaration itself, ``outer``, are not held against it)."""
    found: Braced | list[Token] | None = None
    for key, value, cond in init.items:
        inner = cond[len(outer):] if cond[:len(outer)] == outer else cond
        if key == name and _linux(inner, macros):
            found = value
    return found


# -- meson: which files the build compiles, and when -------------------------------------------

_MESON_FILE = re.compile(r"'([\w.-]+\.c)'")


def meson_conditions(path: str) -> dict[str, str | None]:
    """file name -> its build condition in block/meson.build (None: always built)."""
    if not os.path.exists(path):
        return {}
    out: dict[str, str | None] = {}
    stack: list[str] = []
    statement = ""
    for raw in open(path, encoding="utf-8"):
        line = raw.split("#", 1)[0].rstrip()
        if not statement:
            word = line.strip().split(" ", 1)
            if word[0] == "if":
                stack.append(word[1].strip())
                continue
            if word[0] == "elif":
                stack[-1] = word[1].strip()
                continue
            if word[0] == "else" and stack:
                stack[-1] = f"not ({stack[-1]})"
                continue
            if word[0] in ("endif", "endforeach"):
                if word[0] == "endif" and stack:
                    stack.pop()
                continue
        statement += line + "\n"
        if statement.count("(") + statement.count("[") > statement.count(")") + \
                statement.count("]"):
            continue
        _meson_statement(statement, stack, out)
        statement = ""
    return out


def _meson_statement(text: str, stack: list[str], out: dict[str, str | None]) -> None:
    conds = list(stack)
    when = re.search(r"when:\s*('?[\w-]+'?)", text)
    if when:
        conds.append(when.group(1).strip("'"))
    if text.lstrip().startswith("foreach"):
        # [dependency, 'module name', files('x.c')] rows: built as a loadable module.
        for row in re.finditer(r"\[(\w+),\s*'([\w-]+)',\s*(?:\[)?files\(([^)]*)\)", text):
            for name in _MESON_FILE.findall(row.group(3)):
                out.setdefault(name, " and ".join(conds + [f"module {row.group(2)} "
                                                           f"({row.group(1)})"]))
        return
    for name in _MESON_FILE.findall(text):
        out.setdefault(name, " and ".join(conds) or None)


_MESON_LINUX = {
    "CONFIG_WIN32": False, "CONFIG_POSIX": True, "CONFIG_LINUX": True, "CONFIG_DARWIN": False,
    "host_os == 'windows'": False, "host_os == 'linux'": True, "host_os == 'darwin'": False,
}


def _meson_clause(text: str) -> bool | None:
    text = text.strip()
    if text.startswith("not (") and text.endswith(")"):
        inner = _meson_clause(text[5:-1])
        return None if inner is None else not inner
    return _MESON_LINUX.get(text)


def _built_on_linux(build: str | None) -> bool:
    """False when block/meson.build builds the file only on another host."""
    if build is None:
        return True
    return all(_meson_clause(c) is not False for c in build.split(" and "))


# -- one source file ---------------------------------------------------------------------------


class _File:
    """The declarations and functions of one C file, ready for lookups."""

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.path = source.path
        self.macros = source.macros
        self.decls: dict[str, Decl] = {}
        for decl in source.decls:
            if decl.name not in self.decls or self.linux(decl.cond):
                self.decls[decl.name] = decl
        self._init_cache: dict[tuple[str, int], Braced | list[Token]] = {}

    def linux(self, cond: tuple[str, ...]) -> bool:
        return _linux(cond, self.macros)

    def init(self, decl: Decl | str) -> Braced | list[Token]:
        """The parsed initialiser of ``decl`` (a name means its Linux declaration)."""
        if isinstance(decl, str):
            decl = self.decls[decl]
        key = (decl.name, decl.line)
        if key not in self._init_cache:
            self._init_cache[key] = parse_initializer(self.source.macros.expand(decl.init))
        return self._init_cache[key]

    def kind(self, decl: Decl) -> str | None:
        types = set(decl.type_tokens) - {decl.name, "static", "const"}
        if types == {"BlockDriver"}:
            return "driver"
        if types == {"QemuOptsList"}:
            return "optslist"
        if "char" in types and "[" in types:
            return "strings"
        return None

    def reachable(self, roots: Iterable[str]) -> list[str]:
        """Function names reachable from ``roots`` within this file, in discovery order."""
        seen: list[str] = []
        todo = [r for r in roots if r in self.source.functions]
        while todo:
            name = todo.pop(0)
            if name in seen:
                continue
            seen.append(name)
            for fn in self.source.functions[name]:
                if not self.linux(fn.cond):
                    continue
                for tok in fn.body:
                    if tok.kind == "id" and tok.text in self.source.functions \
                            and tok.text not in seen:
                        todo.append(tok.text)
        return seen

    def bodies(self, names: Iterable[str]) -> Iterable[tuple[Token, ...]]:
        for name in names:
            for fn in self.source.functions.get(name, []):
                if self.linux(fn.cond):
                    yield fn.body


def _option_list(f: _File, name: str) -> dict[str, Any]:
    decl = f.decls[name]
    init = f.init(name)
    assert isinstance(init, Braced)
    options: list[dict[str, Any]] = []
    desc = init.get("desc")
    for _, item, cond in (desc.items if isinstance(desc, Braced) else []):
        if not isinstance(item, Braced) or literal(item.get("name")) is None:
            continue  # the end of the list: {} or { NULL }
        type_ref = literal(item.get("type"))
        entry: dict[str, Any] = {
            "name": literal(item.get("name")),
            "type": _OPT_TYPES.get(type_ref[1], str(type_ref)) if isinstance(type_ref, tuple)
            else str(type_ref),
        }
        # Only the default is kept: the help text is QEMU's prose, not a fact qdrive needs.
        default = literal(item.get("def_value_str"))
        if default is not None:
            entry["default"] = default
        extra = _relative(cond, decl.cond)
        if extra:
            entry["if"] = extra
        options.append(entry)
    out: dict[str, Any] = {
        "source": f.path, "symbol": name, "line": decl.line,
        "name": literal(init.get("name")),
        "options": options,
    }
    implied = literal(init.get("implied_opt_name"))
    if implied is not None:
        out["implied_opt_name"] = implied
    if literal(init.get("merge_lists")) is True:
        out["merge_lists"] = True
    if decl.cond:
        out["if"] = _relative(decl.cond, ())
    return out


def _strings(f: _File, name: str) -> list[str]:
    init = f.init(name)
    if not isinstance(init, Braced):
        return []
    values = [literal(v) for _, v, cond in init.items if f.linux(cond)]
    return [v for v in values if isinstance(v, str)]


def _child_key(arg: list[Token], body: tuple[Token, ...]) -> str | None:
    """The option prefix a child is opened under: a literal, or the printf pattern of the
    buffer it was formatted into (``children.%d`` -> ``children.N``)."""
    value = literal(arg)
    if isinstance(value, str):
        return value
    if isinstance(value, tuple) and value[0] == "ref":
        var = value[1]
        for n, tok in enumerate(body):
            if tok.text in ("snprintf", "g_strdup_printf", "sprintf") and n + 1 < len(body):
                args, _ = split_args(body, n + 1)
                target_at = 0 if tok.text != "g_strdup_printf" else None
                fmt_index = 2 if tok.text == "snprintf" else (1 if tok.text == "sprintf" else 0)
                if target_at is not None and literal(args[0]) != ("ref", var):
                    continue
                if target_at is None and not (n >= 2 and body[n - 1].text == "="
                                              and body[n - 2].text == var):
                    continue
                fmt = literal(args[fmt_index]) if len(args) > fmt_index else None
                if isinstance(fmt, str):
                    return re.sub(r"%[-0-9.]*(?:l{0,2}|z|h{0,2})[diuxX]|%\"\s*PRI\w+\s*\"",
                                  "N", fmt)
    return None


def _children(f: _File, reached: list[str], supports_backing: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for body in f.bodies(reached):
        for n, tok in enumerate(body):
            spec = _CHILD_CALLS.get(tok.text) if tok.kind == "id" else None
            if spec is None or n + 1 >= len(body) or body[n + 1].text != "(":
                continue
            args, _ = split_args(body, n + 1)
            key_at, none_at = spec
            if len(args) <= key_at:
                continue
            child: dict[str, Any] = {"name": _child_key(args[key_at], body), "call": tok.text}
            child["optional"] = (literal(args[none_at]) is True) if none_at is not None \
                else False
            file_arg = args[0]
            if len(file_arg) >= 4 and file_arg[0].text == "qemu_opt_get":
                option = literal(file_arg[-2:-1])
                if isinstance(option, str):
                    child["filename_option"] = option
            same = next((c for c in out if c["name"] == child["name"]), None)
            if same is None:
                out.append(child)
            elif child["optional"]:
                same["optional"] = True
    if supports_backing:
        out.append({"name": "backing", "call": "bdrv_open_backing_file (block.c)",
                    "optional": True})
    return out


def _driver(f: _File, decl: Decl, build: str | None,
            lists: dict[str, dict[str, Any]]) -> dict[str, Any]:
    name = decl.name
    init = f.init(decl)
    assert isinstance(init, Braced)

    def ref(field: str) -> str | None:
        value = literal(_field(init, field, f.macros, decl.cond))
        return value[1] if isinstance(value, tuple) and value[0] == "ref" else None

    def flag(field: str) -> bool:
        return literal(_field(init, field, f.macros, decl.cond)) is True

    def text(field: str) -> object:
        return literal(_field(init, field, f.macros, decl.cond))

    opens = {cb: ref(cb) for cb in _OPEN_CALLBACKS if ref(cb)}
    reached = f.reachable(v for v in opens.values() if v)
    runtime: list[str] = []
    visited: list[str] = []
    for body in f.bodies(reached):
        for tok in body:
            if tok.kind == "id" and tok.text in f.decls and f.kind(f.decls[tok.text]) == "optslist":
                key = f"{f.path}:{tok.text}"
                if key not in runtime:
                    runtime.append(key)
            elif tok.kind == "id" and tok.text.startswith("visit_type_") \
                    and tok.text[11:] not in visited:
                visited.append(tok.text[11:])
    entry: dict[str, Any] = {
        "source": f.path, "symbol": name, "line": decl.line,
        "format_name": text("format_name"),
        "protocol_name": text("protocol_name"),
        "is_format": flag("is_format"), "is_filter": flag("is_filter"),
        "supports_backing": flag("supports_backing"),
        "bdrv_needs_filename": flag("bdrv_needs_filename"),
        "open": opens,
        "probe": ref("bdrv_probe") is not None,
        "probe_device": ref("bdrv_probe_device") is not None,
        "parse_filename": ref("bdrv_parse_filename") is not None,
        "runtime_opts": runtime,
        "qapi_visited": visited,
        "children": _children(f, reached, flag("supports_backing")),
        "build": build,
    }
    for field in ("create_opts", "amend_opts"):
        target = ref(field)
        entry[field] = f"{f.path}:{target}" if target and target in f.decls else None
    for field in ("strong_runtime_opts", "mutable_opts"):
        target = ref(field)
        entry[field] = _strings(f, target) if target and target in f.decls else []
    kinds = []
    if entry["is_format"]:
        kinds.append("format")
    if entry["is_filter"]:
        kinds.append("filter")
    if entry["protocol_name"] or "bdrv_file_open" in opens or entry["probe_device"]:
        kinds.append("protocol")
    entry["kinds"] = kinds
    if decl.cond:
        entry["if"] = _relative(decl.cond, ())
    for key in [*runtime, entry["create_opts"], entry["amend_opts"]]:
        if isinstance(key, str) and key not in lists:
            lists[key] = _option_list(f, key.rsplit(":", 1)[1])
    return entry


_VARIANT_KEYS = ("symbol", "line", "protocol_name", "registered")


def _add_variant(main: dict[str, Any], other: dict[str, Any]) -> None:
    """A second BlockDriver with the same format_name (nbd+tcp, gluster+unix): listed under
    the first with what sets it apart."""
    variant = {k: other[k] for k in _VARIANT_KEYS if k in other}
    for key, value in other.items():
        if key not in _VARIANT_KEYS and main.get(key) != value:
            variant[key] = value
    variants = main.setdefault("variants", [])
    assert isinstance(variants, list)
    variants.append(variant)


def _registered(f: _File) -> set[str]:
    names: set[str] = set()
    for fns in f.source.functions.values():
        for fn in fns:
            body = fn.body
            for n, tok in enumerate(body):
                if tok.text == "bdrv_register" and n + 3 < len(body) and body[n + 2].text == "&":
                    names.add(body[n + 3].text)
    return names


def derive_sources(root: str) -> dict[str, Any]:
    """Every block driver and option list of the tree at ``root`` (see the module doc)."""
    build = meson_conditions(os.path.join(root, "block", "meson.build"))
    files = sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "block", "*.c")))
    drivers: dict[str, dict[str, Any]] = {}
    others: list[dict[str, Any]] = []
    lists: dict[str, dict[str, Any]] = {}
    for rel in [*files, "block.c", "blockdev.c"]:
        f = _File(read_source(root, rel))
        cond = build.get(os.path.basename(rel)) if rel.startswith("block/") else None
        registered = _registered(f)
        for decl in f.source.decls:
            kind = f.kind(decl)
            key = f"{rel}:{decl.name}"
            if kind == "optslist" and key in GENERIC_LISTS and f.decls[decl.name] is decl:
                lists[key] = _option_list(f, decl.name)
            if kind != "driver":
                continue
            entry = _driver(f, decl, cond, lists)
            entry["registered"] = decl.name in registered
            fmt = entry["format_name"]
            if not (_built_on_linux(cond) and f.linux(decl.cond) and isinstance(fmt, str)):
                others.append(entry)
            elif fmt not in drivers:
                drivers[fmt] = entry
            else:
                _add_variant(drivers[fmt], entry)
    protocols = {}
    for fmt, entry in drivers.items():
        for variant in [entry, *entry.get("variants", [])]:  # type: ignore[list-item]
            if variant["protocol_name"]:
                protocols[variant["protocol_name"]] = fmt
    missing = [key for key in GENERIC_LISTS if key not in lists]
    if missing:
        raise ValueError(f"generic option lists not found: {', '.join(missing)}")
    return {
        "drivers": dict(sorted(drivers.items())),
        "protocols": dict(sorted(protocols.items())),
        "other_hosts": sorted(others, key=lambda e: (str(e["format_name"]), str(e["source"]))),
        "option_lists": dict(sorted(lists.items())),
        "generic": list(GENERIC_LISTS),
    }
