"""The -blockdev schema as a QEMU binary reports it (``query-qmp-schema``), in the shape of
grammar/_derive_qapi.py, for a version whose source is not at hand.

Introspection differs from the schema source in three ways, each handled here:

* type names are masked (``"352"``): names are recovered by walking the binary's types
  beside a reference schema (the nearest version derived from source), pairing types
  that sit at the same place: the same member, variant case or array element. A type
  with no counterpart gets the name ``?PARENT.MEMBER`` (``name_known: false``).
* a struct's or union's base is flattened into its members: when the reference type
  has a base whose members are exactly the leading members here, the base is put back;
  otherwise every member stays on the type and ``base`` is null.
* conditions are already decided (what the build left out is absent, and no ``if`` is
  shown) and documentation is gone (no ``default``/``since``). Alternate branches have
  no case names; they are taken from the reference by their types.
"""

from __future__ import annotations

from typing import Any

from collections.abc import Mapping

from ._derive_qapi import BUILTIN_TYPES, ROOT

__all__ = ["block_types_from_introspection"]

Types = dict[str, dict[str, Any]]


def _flat(ref: Mapping[str, dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The members of ``name`` in the reference with its bases' members first."""
    entry = ref.get(name)
    if entry is None:
        return []
    base = entry.get("base")
    own = list(entry.get("members", []))  # type: ignore[call-overload]
    return (_flat(ref, base) if isinstance(base, str) else []) + own


class _Namer:
    """Pairs masked names with reference names, breadth first from the root."""

    def __init__(self, info: Mapping[str, dict[str, Any]],
                 ref: Mapping[str, dict[str, Any]]) -> None:
        self.info = info
        self.ref = ref
        self.names: dict[str, str] = {}
        self.known: dict[str, bool] = {}

    def type_name(self, masked: str) -> object:
        """The schema notation of a masked type: a name, or [name] for an array."""
        entry = self.info.get(masked)
        if entry is None or masked in BUILTIN_TYPES:
            return masked
        if entry.get("meta-type") == "array":
            return [self.type_name(str(entry["element-type"]))]
        if entry.get("meta-type") == "builtin":
            return masked
        return self.names.get(masked, masked)

    def walk(self, root_masked: str) -> list[str]:
        order: list[str] = []
        todo: list[tuple[str, str, bool]] = [(root_masked, ROOT, True)]
        while todo:
            masked, name, known = todo.pop(0)
            entry = self.info.get(masked)
            if entry is None or masked in self.names or entry.get("meta-type") == "builtin":
                continue
            if entry.get("meta-type") == "array":
                todo.append((str(entry["element-type"]), name, known))
                continue
            self.names[masked] = name
            self.known[masked] = known
            order.append(masked)
            todo.extend(self._children(entry, name))
        return order

    def _ref_member_types(self, name: str) -> dict[str, Any]:
        return {str(m["name"]): m["type"] for m in _flat(self.ref, name)}

    def _pair(self, masked: str, ref_type: object, fallback: str) -> tuple[str, str, bool]:
        while isinstance(ref_type, list):
            ref_type = ref_type[0]
        if isinstance(ref_type, str) and ref_type in self.ref:
            return masked, ref_type, True
        return masked, fallback, False

    def _children(self, entry: dict[str, Any], name: str) -> list[tuple[str, str, bool]]:
        out: list[tuple[str, str, bool]] = []
        meta = entry.get("meta-type")
        ref_entry = self.ref.get(name, {})
        if meta == "object":
            ref_members = self._ref_member_types(name)
            for m in entry.get("members", []):  # type: ignore[attr-defined]
                out.append(self._pair(str(m["type"]), ref_members.get(m["name"]),
                                      f"?{name}.{m['name']}"))
            ref_cases = {str(v["case"]): v["type"]
                         for v in ref_entry.get("variants", [])}  # type: ignore[attr-defined]
            for v in entry.get("variants", []):  # type: ignore[attr-defined]
                if _empty(self.info.get(str(v["type"]), {})):
                    continue
                out.append(self._pair(str(v["type"]), ref_cases.get(v["case"]),
                                      f"?{name}.{v['case']}"))
        elif meta == "alternate":
            ref_variants = list(ref_entry.get("variants", []))  # type: ignore[call-overload]
            for n, m in enumerate(entry.get("members", [])):  # type: ignore[attr-defined]
                ref_type = ref_variants[n]["type"] if n < len(ref_variants) else None
                out.append(self._pair(str(m["type"]), ref_type, f"?{name}.{n}"))
        return out


def _empty(entry: Mapping[str, Any]) -> bool:
    return entry.get("meta-type") == "object" and not entry.get("members") \
        and not entry.get("variants")


def _features(entry: Mapping[str, Any]) -> list[Any]:
    return list(entry.get("features", []))  # type: ignore[call-overload]


def _member(namer: _Namer, m: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": m["name"], "optional": "default" in m, "type": namer.type_name(str(m["type"])),
    }
    if m.get("features"):
        out["features"] = _features(m)
    return out


def _split_base(namer: _Namer, name: str, members: list[dict[str, Any]],
                types: Types) -> tuple[str | None, list[dict[str, Any]]]:
    """Put the reference's base back when the leading members are exactly its members."""
    ref_entry = namer.ref.get(name, {})
    base = ref_entry.get("base")
    if not isinstance(base, str):
        return None, members
    base_flat = [str(m["name"]) for m in _flat(namer.ref, base)]
    if [m["name"] for m in members[:len(base_flat)]] != base_flat:
        return None, members
    if base not in types:
        parent, own = _split_base(namer, base, members[:len(base_flat)], types)
        types[base] = {"meta": "struct", "base": parent, "members": own,
                       "source": "query-qmp-schema"}
    return base, members[len(base_flat):]


def _convert(namer: _Namer, masked: str, types: Types) -> None:
    entry = namer.info[masked]
    name = namer.names[masked]
    meta = entry["meta-type"]
    out: dict[str, Any]
    if meta == "enum":
        values = entry.get("members") or [{"name": v} for v in entry.get("values", [])]  # type: ignore[union-attr]
        out = {"meta": "enum", "values": [
            {"name": v["name"], **({"features": _features(v)} if v.get("features") else {})}
            for v in values]}  # type: ignore[union-attr]
    elif meta == "alternate":
        ref_variants = list(namer.ref.get(name, {}).get("variants", []))  # type: ignore[call-overload]
        variants = []
        for n, m in enumerate(entry.get("members", [])):  # type: ignore[attr-defined]
            case = ref_variants[n]["case"] if n < len(ref_variants) else None
            variants.append({"case": case, "type": namer.type_name(str(m["type"]))})
        out = {"meta": "alternate", "variants": variants}
    else:
        members = [_member(namer, m) for m in entry.get("members", [])]  # type: ignore[attr-defined]
        tag = entry.get("tag")
        ref_meta = namer.ref.get(name, {}).get("meta")
        base, own = _split_base(namer, name, members, types)
        if tag is not None or ref_meta == "union":
            # A tag value without a branch of its own is listed with the empty object
            # type; the schema source writes no variant for it.
            out = {"meta": "union", "base": base, "members": own, "discriminator": tag,
                   "variants": [{"case": v["case"], "type": namer.type_name(str(v["type"]))}
                                for v in entry.get("variants", [])  # type: ignore[attr-defined]
                                if not _empty(namer.info.get(str(v["type"]), {}))]}
        else:
            out = {"meta": "struct", "base": base, "members": own}
    if entry.get("features"):
        out["features"] = _features(entry)
    out["source"] = "query-qmp-schema"
    if not namer.known[masked]:
        out["name_known"] = False
    types[name] = out


def block_types_from_introspection(schema: list[dict[str, Any]],
                                   reference: Mapping[str, dict[str, Any]]) -> Types:
    """The types blockdev-add's argument reaches, named after ``reference``, sorted."""
    info = {str(e["name"]): e for e in schema}
    command = info.get("blockdev-add")
    if command is None:
        raise ValueError("the schema has no blockdev-add command")
    namer = _Namer(info, reference)
    types: Types = {}
    for masked in namer.walk(str(command["arg-type"])):
        _convert(namer, masked, types)
    return dict(sorted(types.items()))
