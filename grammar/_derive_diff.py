"""What changes between two versions' derived tables, for grammar/qemu-versions.md.

Compares what both sides can know: drivers (``-drive format=help`` and the drivers the
tables list), each driver's runtime and create options (name, type, default), the
generic option lists, and the -blockdev schema (types, members, optionality, types of
members, enum values, union branches, features). A side derived from a binary has no
documented defaults and resolves every ``if``, so those are compared only when both
sides come from source; integer types are compared as QAPI introspection shows them
(every integer type is ``int`` there) when either side is binary-derived.
"""

from __future__ import annotations

from typing import Any

import json
from collections.abc import Mapping

__all__ = ["Change", "compare"]

Change = tuple[str, str, str, str]  # (area, subject, what, detail)
_INTS = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "size"}


def _cond_key(cond: object) -> str:
    return cond if isinstance(cond, str) else json.dumps(cond, sort_keys=True)


def _built(tables: Mapping, part: str, item: Mapping) -> bool:
    """Whether the item is in the Debian build: no ``if``, or a condition the version's
    binary was found to satisfy (an undecided condition counts as built)."""
    if "if" not in item:
        return True
    conds = tables[part].get("build_conditions") or {}
    return conds.get(_cond_key(item["if"])) is not False


def _side(tables: Mapping[str, Mapping[str, Any]]) -> bool:
    return tables["blocks"]["qemu"]["derived_from"] == "source"  # type: ignore[index]


def _drivers(old: Mapping, new: Mapping) -> list[Change]:
    out: list[Change] = []
    a, b = old["blocks"]["format_help"], new["blocks"]["format_help"]
    if a and b:
        for name in sorted(set(a["formats"]) - set(b["formats"])):
            out.append(("driver", name, "no longer in -drive format=help", ""))
        for name in sorted(set(b["formats"]) - set(a["formats"])):
            out.append(("driver", name, "new in -drive format=help", ""))
    if _side(old) and _side(new):
        da, db = old["blocks"]["drivers"], new["blocks"]["drivers"]
        for name in sorted(set(da) - set(db)):
            out.append(("driver", name, "removed from block/*.c", str(da[name]["source"])))
        for name in sorted(set(db) - set(da)):
            out.append(("driver", name, "added to block/*.c", str(db[name]["source"])))
        for name in sorted(set(da) & set(db)):
            for field in ("kinds", "protocol_name", "strong_runtime_opts"):
                if da[name].get(field) != db[name].get(field):
                    out.append(("driver", name, f"{field} changed",
                                f"{da[name].get(field)} -> {db[name].get(field)}"))
            ca = [c["name"] for c in da[name]["children"]]
            cb = [c["name"] for c in db[name]["children"]]
            if ca != cb:
                out.append(("driver", name, "children changed", f"{ca} -> {cb}"))
    return out


def _options(side: Mapping, key: str | None) -> dict[str, Mapping]:
    lists = side["blocks"]["option_lists"]
    if not key or key not in lists:
        return {}
    return {str(o["name"]): o for o in lists[key]["options"] if _built(side, "blocks", o)}


def _option_changes(subject: str, a: dict[str, Mapping], b: dict[str, Mapping],
                    defaults: bool) -> list[Change]:
    out: list[Change] = []
    for name in sorted(set(a) - set(b)):
        out.append(("option", subject, f"{name} removed", ""))
    for name in sorted(set(b) - set(a)):
        out.append(("option", subject, f"{name} added", f"{b[name]['type']}"))
    for name in sorted(set(a) & set(b)):
        if a[name]["type"] != b[name]["type"]:
            out.append(("option", subject, f"{name} type changed",
                        f"{a[name]['type']} -> {b[name]['type']}"))
        if defaults and a[name].get("default") != b[name].get("default"):
            out.append(("option", subject, f"{name} default changed",
                        f"{a[name].get('default')} -> {b[name].get('default')}"))
    return out


def _option_lists(old: Mapping, new: Mapping) -> list[Change]:
    out: list[Change] = []
    da, db = old["blocks"]["drivers"], new["blocks"]["drivers"]
    for name in sorted(set(da) & set(db)):
        for field in ("runtime_opts", "create_opts"):
            ka, kb = da[name].get(field), db[name].get(field)
            if ka is None and kb is None or field not in db[name]:
                continue
            keys_a = ka if isinstance(ka, list) else [ka]
            keys_b = kb if isinstance(kb, list) else [kb]
            a = {k: v for key in keys_a for k, v in _options(old, key).items()}
            b = {k: v for key in keys_b for k, v in _options(new, key).items()}
            out.extend(_option_changes(f"{name} {field}", a, b, True))
    for key in old["blocks"]["generic"]:
        if key in new["blocks"]["generic"]:
            out.extend(_option_changes(key, _options(old, key), _options(new, key), True))
    return out


def _norm_type(t: object, ints: bool) -> object:
    if isinstance(t, list):
        return [_norm_type(x, ints) for x in t]
    return "int" if ints and t in _INTS else t


def _features(entry: Mapping) -> list[str]:
    return sorted(f if isinstance(f, str) else f["name"] for f in entry.get("features", []))


def _flat(types: Mapping, name: str) -> list[Mapping]:
    entry = types.get(name, {})
    base = entry.get("base")
    return (_flat(types, base) if isinstance(base, str) else []) + list(entry.get("members", []))


def _qapi(old: Mapping, new: Mapping) -> list[Change]:
    both_source = _side(old) and _side(new)
    ints = not both_source
    ta, tb = old["qapi"]["types"], new["qapi"]["types"]
    out: list[Change] = []
    ta = {k: v for k, v in ta.items() if _built(old, "qapi", v)}
    tb = {k: v for k, v in tb.items() if _built(new, "qapi", v)}
    for name in sorted(set(ta) - set(tb)):
        out.append(("qapi", name, "type no longer reached", ta[name]["meta"]))
    for name in sorted(set(tb) - set(ta)):
        out.append(("qapi", name, "type newly reached", tb[name]["meta"]))
    for name in sorted(set(ta) & set(tb)):
        a, b = ta[name], tb[name]
        if _features(a) != _features(b):
            out.append(("qapi", name, "features changed", f"{_features(a)} -> {_features(b)}"))
        if a["meta"] == "enum":
            va = [v["name"] for v in a["values"] if _built(old, "qapi", v)]
            vb = [v["name"] for v in b["values"] if _built(new, "qapi", v)]
            for v in sorted(set(va) - set(vb)):
                out.append(("qapi", name, f"value {v} removed", ""))
            for v in sorted(set(vb) - set(va)):
                out.append(("qapi", name, f"value {v} added", ""))
            continue
        if "variants" in a:
            ca = {v["case"]: v for v in a["variants"] if _built(old, "qapi", v)}
            cb = {v["case"]: v for v in b.get("variants", []) if _built(new, "qapi", v)}
            for c in sorted(set(ca) - set(cb), key=str):
                out.append(("qapi", name, f"branch {c} removed", str(ca[c]["type"])))
            for c in sorted(set(cb) - set(ca), key=str):
                out.append(("qapi", name, f"branch {c} added", str(cb[c]["type"])))
            for c in sorted(set(ca) & set(cb), key=str):
                if ca[c]["type"] != cb[c]["type"]:
                    out.append(("qapi", name, f"branch {c} type changed",
                                f"{ca[c]['type']} -> {cb[c]['type']}"))
        ma = {m["name"]: m for m in _flat(ta, name) if _built(old, "qapi", m)}
        mb = {m["name"]: m for m in _flat(tb, name) if _built(new, "qapi", m)}
        for m in sorted(set(ma) - set(mb)):
            out.append(("qapi", name, f"member {m} removed", ""))
        for m in sorted(set(mb) - set(ma)):
            since = mb[m].get("since")
            out.append(("qapi", name, f"member {m} added",
                        f"{_norm_type(mb[m]['type'], False)}" + (f", since {since}" if since
                                                                else "")))
        for m in sorted(set(ma) & set(mb)):
            x, y = ma[m], mb[m]
            if x["optional"] != y["optional"]:
                out.append(("qapi", name, f"member {m} "
                            f"{'now optional' if y['optional'] else 'now mandatory'}", ""))
            if _norm_type(x["type"], ints) != _norm_type(y["type"], ints):
                out.append(("qapi", name, f"member {m} type changed",
                            f"{x['type']} -> {y['type']}"))
            if _features(x) != _features(y):
                out.append(("qapi", name, f"member {m} features changed",
                            f"{_features(x)} -> {_features(y)}"))
            if both_source and x.get("default") != y.get("default"):
                out.append(("qapi", name, f"member {m} documented default changed",
                            f"{x.get('default')} -> {y.get('default')}"))
    return out


def compare(old: Mapping[str, Mapping], new: Mapping[str, Mapping]) -> list[Change]:
    """Every difference from ``old`` to ``new``; each side is {"blocks": ..., "qapi": ...}."""
    return _drivers(old, new) + _option_lists(old, new) + _qapi(old, new)


# -- grammar/qemu-versions.md -----------------------------------------------------------------


def _note(notes: tuple[tuple[str, str, str, str, str], ...], old: str, new: str,
          change: Change, used: set[int]) -> str:
    area, subject, what, detail = change
    for n, (a, b, subj, prefix, text) in enumerate(notes):
        if (a, b, subj) == (old, new, subject) and what.startswith(prefix):
            used.add(n)
            return text
    if ", since " in detail:
        return f"added in QEMU {detail.rsplit(', since ', 1)[1]} (the schema's own 'since')"
    return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _summary_row(name: str, side: Mapping) -> str:
    blocks, qapi = side["blocks"], side["qapi"]
    head = blocks["qemu"]
    helped = blocks["format_help"]
    lists = blocks["option_lists"]
    per_driver = [sum(len(lists[k]["options"]) for k in d.get("runtime_opts", []) if k in lists)
                  for d in blocks["drivers"].values()]
    branches = len(qapi["types"]["BlockdevOptions"].get("variants", []))
    return (f"| {name} | {head['debian']} | {head['derived_from']} | "
            f"{len(blocks['drivers'])} | {len(helped['formats']) if helped else '-'} | "
            f"{len(lists)} | {sum(per_driver)} | {len(qapi['types'])} | {branches} |")


def render_markdown(sides: Mapping[str, Mapping], notes: tuple[tuple[str, str, str, str, str],
                                                              ...]) -> tuple[str, list[int]]:
    """grammar/qemu-versions.md for ``sides`` (version -> {"blocks", "qapi"}, oldest first),
    and the indexes of ``notes`` that explained nothing."""
    names = list(sides)
    lines = [
        "# QEMU's block layer in 7.2, 10.0 and 11.1: what differs",
        "",
        "Generated by `make tables` (`python -m qdrive.grammar.derive_qemu`) from",
        "`grammar/qemu-*/block-drivers.json` and `qapi-block.json`; the *why* column is kept",
        "by hand in `grammar/_version_notes.py`. Do not edit this file: edit those and rerun.",
        "Items a Debian build leaves out (an `if` its binary was found not to satisfy) are",
        "left out here too, so this is what a user of each Debian release's QEMU sees.",
        "",
        "| version | Debian package | derived from | drivers | in format=help | option lists "
        "| runtime options (sum over drivers) | QAPI types | BlockdevOptions branches |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_summary_row(n, sides[n]) for n in names]
    lines += ["", "How each version was derived:", ""]
    for n in names:
        head = sides[n]["blocks"]["qemu"]
        if head["derived_from"] == "source":
            how = (f"the Debian source package ({head['debian']}, QEMU "
                   f"{head['source_version']}), with `-drive format=help` and the build's "
                   f"conditions from `{head['binary']}`")
        else:
            how = (f"the binary `{head['binary']}`: `query-qmp-schema` for the schema (type "
                   f"names from {head['reference']}), `-drive format=help`, and the "
                   f"QemuOptsLists read from {', '.join(head['elf_files'])}")
        lines.append(f"* {n}: {how}.")
    used: set[int] = set()
    for old, new in zip(names, names[1:], strict=False):
        changes = compare(sides[old], sides[new])
        lines += ["", f"## {old} → {new} ({len(changes)} differences)", "",
                  "| area | subject | change | detail | why |", "|---|---|---|---|---|"]
        footnotes: list[str] = []
        for change in changes:
            why = _note(notes, old, new, change, used)
            if why and why not in footnotes:
                footnotes.append(why)
            mark = f"[{footnotes.index(why) + 1}]" if why else ""
            lines.append("| " + " | ".join(_cell(x) for x in (*change, mark)) + " |")
        lines += [""] + [f"{n}. {text}" for n, text in enumerate(footnotes, 1)]
    lines += _conditions(sides)
    unused = [n for n in range(len(notes)) if n not in used]
    return "\n".join(lines) + "\n", unused


def _conditions(sides: Mapping[str, Mapping]) -> list[str]:
    rows: dict[str, dict[str, Any]] = {}
    for name, side in sides.items():
        for part in ("blocks", "qapi"):
            for cond, value in (side[part].get("build_conditions") or {}).items():
                rows.setdefault(cond, {})[name] = value
    if not rows:
        return []
    names = [n for n in sides if sides[n]["blocks"]["qemu"]["derived_from"] == "source"]
    out = ["", "## Build conditions of the Debian binaries", "",
           "Each `#if` of an option list and each `if` of the schema, as the version's binary",
           "was found to have it (yes: the binary has what it guards).", "",
           "| condition | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for cond in sorted(rows):
        cells = ["yes" if rows[cond].get(n) is True else "no" if rows[cond].get(n) is False
                 else "-" for n in names]
        out.append(f"| `{_cell(cond)}` | " + " | ".join(cells) + " |")
    return out
