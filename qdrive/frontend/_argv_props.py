"""The value checks of -device properties qdrive knows only by name and type (the
``types`` of grammar/qemu-X.Y/device-properties.json, from ``-device MODEL,help``): a
JSON -device's values go through the QObject input visitor (qapi/qobject-input-visitor.c,
then qapi/qapi-visit-core.c visit_type_uintN/intN for the range), and every PCI device's
addr= through hw/core/qdev-properties-system.c set_pci_devfn(). Each returns QEMU's
message, or "" when the value is taken (or its kind is not judged).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["json_value_problem", "pci_devfn_problem"]

_UNSIGNED = {"uint8": 0xFF, "uint16": 0xFFFF, "uint32": 0xFFFFFFFF}
_SIGNED = {"int8": 7, "int16": 15, "int32": 31}
_WANTED = {"bool": ("boolean", bool), "str": ("string", str)}


def _wrong(name: str, expected: str) -> str:
    return f"Invalid parameter type for '{name}', expected: {expected}"


def json_value_problem(name: str, value: Any, kind: str) -> str:
    """A JSON value for a property of this kind (only the plain scalar kinds)."""
    # a JSON number with a fraction or an exponent is a double QNum, which
    # qnum_get_try_int()/qnum_get_try_uint() refuse, integral or not (qobject/qnum.c)
    number = isinstance(value, int) and not isinstance(value, bool)
    if kind in _UNSIGNED or kind == "uint64":
        # qobject_input_type_uint64(): a QNum that fits uint64 or int64 (a negative
        # one is taken as it wraps), else "expects uint64"; then the range
        if not number or not -(1 << 63) <= value < (1 << 64):
            return f"Parameter '{name}' expects uint64"
        wrapped = int(value) % (1 << 64)
        if kind != "uint64" and wrapped > _UNSIGNED[kind]:
            return f"Parameter '{name}' expects {kind}_t"
        return ""
    if kind in _SIGNED or kind == "int64":
        if not number or not -(1 << 63) <= value < (1 << 63):
            return _wrong(name, "integer")
        bits = _SIGNED.get(kind, 63)
        if not -(1 << bits) <= int(value) < (1 << bits):
            return f"Parameter '{name}' expects {kind}_t"
        return ""
    if kind in _WANTED:
        expected, python = _WANTED[kind]
        return "" if isinstance(value, python) else _wrong(name, expected)
    return ""


# glibc sscanf's %x: blanks, a sign, an optional 0x, hex digits
_HEX = re.compile(r"\s*([+-]?)(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]+)")


def _scan_hex(text: str, at: int) -> tuple[int, int] | None:
    m = _HEX.match(text, at)
    if m is None:
        return None
    value = int(m.group(2), 16)
    if m.group(1) == "-":
        value = -value
    return value % (1 << 32), m.end()  # %x fills an unsigned int


def pci_devfn_problem(typename: str, value: Any, json: bool) -> str:
    """set_pci_devfn(): "SLOT[.FN]" in hex (slot 0..31, function 0..7), or from JSON
    a number -1..255."""
    if json and not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "Invalid parameter type for 'addr', expected int or str"
        if isinstance(value, float):  # a double QNum (qobject_input_type_int64)
            return _wrong("addr", "integer")
        if not -1 <= value <= 255:
            return "Parameter 'addr' expects a value between -1 and 255"
        return ""
    text = str(value)
    slot = _scan_hex(text, 0)
    fn: tuple[int, int] | None = None
    if slot is not None and text[slot[1]:slot[1] + 1] == ".":
        fn = _scan_hex(text, slot[1] + 1)
    end = fn[1] if fn is not None else slot[1] if slot is not None else -1
    if slot is None or end != len(text) or (fn is not None and fn[0] > 7) or slot[0] > 31:
        return f"Property '{typename}.addr' doesn't take value '{text}'"
    return ""
