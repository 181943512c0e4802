"""-machine properties: which keys the pc and q35 machine objects have, and the one QEMU
names when a command line gives a key they do not have.

Mirrors softmmu/vl.c: every -machine option is merged into one QDict with
keyval_parse_into(..., "type"); keyval_dashify() turns underscores in its keys into
dashes (re-inserting the key, so it moves in the QDict), qemu_apply_legacy_machine_options()
takes out the keys that are not properties (accel, kernel-irqchip, ...), and
qemu_apply_machine_options() sets the rest with object_set_properties_from_keyval(), a walk
in QDict order that stops at the first key the object lacks: "Property
'pc-i440fx-7.2-machine.KEY' not found" (qom/object.c object_property_find_err()).

The property names come from QEMU itself: grammar/qemu-7.2/machine-properties.json
(grammar/derive_machines.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from ._data import read_json
from ._qdict import in_qdict_order
from .keyval import KeyvalError, parse_keyval

__all__ = ["machine_keys", "machine_values", "apply_order", "qom_type", "unknown_property"]

# softmmu/vl.c: "type" is read by select_machine() and deleted from the QDict; these are
# deleted by qemu_apply_legacy_machine_options() (accelerator and memory sugar).
_NOT_PROPERTIES = frozenset({"type", "accel", "igd-passthru", "kvm-shadow-mem",
                             "kernel-irqchip", "memory-backend"})


@functools.cache
def _table() -> dict[str, dict[str, object]]:
    machines: dict[str, dict[str, object]] = read_json(
        "qemu-7.2", "machine-properties.json")["machines"]
    return machines


def machine_keys(texts: Iterable[str]) -> list[str]:
    """The top-level keys of the -machine options, in the order the merged QDict got them
    (a key given again keeps its place); an option keyval refuses adds nothing (its
    error is reported where it is parsed)."""
    keys: dict[str, None] = {}
    for text in texts:
        try:
            keys.update(dict.fromkeys(parse_keyval(text, "type")))
        except KeyvalError:
            continue
    return list(keys)


def _dashified(keys: list[str]) -> list[str]:
    """vl.c keyval_dashify(): a key with "_" is deleted and put again with "-" (a new
    entry, so newer than every key already there)."""
    kept = [k for k in keys if "_" not in k]
    moved = [k.replace("_", "-") for k in in_qdict_order(keys) if "_" in k]
    return kept + [k for k in moved if k not in kept]


def qom_type(machine: str, version: str | None = None) -> str | None:
    """The QOM type of a pc or q35 machine name (``pc`` -> ``pc-i440fx-7.2-machine``,
    ``pc-q35-7.1`` -> ``pc-q35-7.1-machine``); None for the others. ``version``: the
    release whose newest board the aliases pc and q35 name (Dialect.machine_version;
    default the table's, 7.2)."""
    table = _table()
    if machine in ("", "pc", "q35"):
        if version is not None:
            return f"{'pc-q35' if machine == 'q35' else 'pc-i440fx'}-{version}-machine"
        return str(table[machine or "pc"]["qom_type"])
    if machine.startswith(("pc-i440fx-", "pc-q35-")) and machine[-1].isdigit():
        return f"{machine}-machine"
    return None


def apply_order(keys: list[str]) -> list[str]:
    """The keys as qemu_apply_machine_options() sets them (dashified, in QDict order)."""
    return in_qdict_order(_dashified(keys))


def machine_values(texts: Iterable[str]) -> dict[str, object]:
    """The merged QDict's top-level values (the last -machine to give a key wins;
    keyval_merge()), under their dashified keys."""
    values: dict[str, object] = {}
    for text in texts:
        try:
            values.update(parse_keyval(text, "type"))
        except KeyvalError:
            continue
    return {k.replace("_", "-"): v for k, v in values.items()}


_BOOLS = frozenset({"on", "yes", "true", "y", "off", "no", "false", "n"})
_INTEGER = re.compile(r"[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def _bad_value(kind: str, key: str, value: object) -> str:
    """qapi/qobject-input-visitor.c's keyval visits: qapi_bool_parse(), an enum's
    lookup, qemu_strtosz() and qemu_strtoi64()/qemu_strtou64() (base 0)."""
    if not isinstance(value, str):
        return ""  # a nested key: its own visitor, not modelled
    if kind == "bool" and value not in _BOOLS:
        return f"Parameter '{key}' expects 'on' or 'off'"
    if kind == "OnOffAuto" and value not in ("on", "off", "auto"):
        return f"Parameter '{key}' does not accept value '{value}'"
    if kind == "int" and not _INTEGER.fullmatch(value):
        return f"Parameter '{key}' expects integer"
    if kind == "size":
        from .._values import parse_size

        try:
            parse_size(key, value)
        except Exception:  # noqa: BLE001 - any refusal of qemu_strtosz()
            return f"Parameter '{key}' expects size"
    return ""


def unknown_property(machine: str, keys: list[str], version: str | None = None,
                     values: dict[str, object] | None = None) -> tuple[int, str] | None:
    """The first key (in :func:`apply_order`) the machine object lacks or refuses the
    value of (``values``: :func:`machine_values`): its position there and QEMU's message;
    None when it takes them all or qdrive does not know the machine's properties."""
    qom = qom_type(machine, version)
    if qom is None:
        return None
    family = "q35" if machine == "q35" or machine.startswith("pc-q35") else "pc"
    known = set(_table()[family]["properties"])  # type: ignore[call-overload]
    kinds: dict[str, str] = _table()[family].get("kinds") or {}  # type: ignore[assignment]
    for n, key in enumerate(apply_order(keys)):
        if key not in known and key not in _NOT_PROPERTIES:
            return n, f"Property '{qom}.{key}' not found"
        problem = _bad_value(kinds.get(key, ""), key, (values or {}).get(key))
        if problem:
            return n, problem
    return None


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
