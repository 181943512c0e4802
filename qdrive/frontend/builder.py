"""``qdrive.drive(**fields)``: a Drive built from Python values, judged by QEMU's rules.

The fields are rendered as one -drive string and read back by :func:`qdrive.parse_drive`,
so a value QEMU would refuse raises :class:`qdrive.DriveError` with QEMU's own message
(and the caret under the option), and what comes back is exactly the Drive QEMU reads.
A field name that is not a Drive field is a programming error: TypeError, with the
nearest field named.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ..model import DEFAULT_DIALECT, Drive
from ..options import ALIASES, THROTTLE_KEYS, options_for
from .._values import option_text

__all__ = ["drive", "drive_text"]

# Fields with a shape of their own (not one key = one value).
_SPECIAL = frozenset({"dialect", "throttling", "driver_options", "stats_intervals"})


def _field_keys(dialect: str) -> dict[str, str]:
    table = options_for(dialect)
    return {row.field: key for key, row in table.items() if row.field not in _SPECIAL}


_text = option_text


def _item(key: str, value: object) -> str:
    # QemuOpts escapes a comma inside a value by doubling it (util/qemu-option.c get_opt_value).
    return f"{key}={_text(value).replace(',', ',,')}"


def drive_text(*, dialect: str = DEFAULT_DIALECT, **fields: Any) -> str:
    """The -drive string for ``fields`` (Drive field names), without judging it."""
    keys = _field_keys(dialect)
    known = set(keys) | _SPECIAL
    items: list[str] = []
    for name, value in fields.items():
        if name not in known:
            raise TypeError(_unknown(name, known))
        if value is None:
            continue
        if name in keys:
            items.append(_item(keys[name], value))
        elif name == "throttling":
            items += [_item(_throttle_key(k), v) for k, v in _mapping(name, value).items()]
        elif name == "driver_options":
            items += [_item(k, v) for k, v in _mapping(name, value).items()]
        elif name == "stats_intervals":
            items += [_item(f"stats-intervals.{n}", v) for n, v in enumerate(_seq(value))]
    return ",".join(items)


def drive(*, dialect: str = DEFAULT_DIALECT, **fields: Any) -> Drive:
    """A validated :class:`Drive` from field values, or :class:`DriveError` as QEMU says it.

    ``qdrive.drive(file="disk.img", format="raw", interface="virtio", cache="none",
    aio="native", throttling={"bps-total": 10_000_000})``. Enumeration fields take the
    enum or QEMU's spelling; booleans take True/False; ``throttling`` maps
    ``throttling.*`` names (or QEMU's short aliases such as ``bps``) to numbers;
    ``driver_options`` passes keys through (``{"file.locking": "off"}``).
    """
    from ._check import parse_drive

    return parse_drive(drive_text(dialect=dialect, **fields), dialect=dialect)


def _throttle_key(name: str) -> str:
    key = ALIASES.get(name, name)
    if not key.startswith("throttling."):
        key = f"throttling.{key}"
    if key not in THROTTLE_KEYS:
        names = {k.removeprefix("throttling.") for k in THROTTLE_KEYS}
        names |= {a for a, k in ALIASES.items() if k in THROTTLE_KEYS}
        raise TypeError(_unknown(name, names, "throttling limit"))
    return key


def _mapping(name: str, value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise TypeError(f"drive(): {name} must be a mapping, not {type(value).__name__}")
    return value


def _seq(value: object) -> Iterable[object]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError("drive(): stats_intervals must be a sequence of seconds")
    return value


def _unknown(name: str, known: Iterable[str], what: str = "Drive field") -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"drive(): {name!r} is not a {what}{hint}"


# Every Drive field is either a key of the table or one of the special shapes: a new field
# that is neither would silently be unreachable from drive().
assert {f.name for f in attrs.fields(Drive)} <= set(_field_keys("qemu-7.2")) | _SPECIAL | set(
    _field_keys("qemu-0.9-sync")), "a Drive field drive() cannot set"


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
