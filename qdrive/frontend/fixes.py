"""Fix suggestions: the corrected -drive string for the mistakes people make most.

A fix is shown, never applied: :func:`suggest_fix` returns a :class:`Fix` (the corrected
string and what was changed, one line per change), and ``qdrive check --fix`` prints it.
Each fix is verified before it is offered: the corrected string must pass
:func:`qdrive.check` (offline unless asked otherwise); a fix that does not is dropped.

What is fixed (each one a step; a string with several mistakes gets several steps):

* ``aio=native`` without O_DIRECT (block/file-posix.c raw_open_common) -> ``cache=none``
  (``directsync`` for ``writethrough``; ``cache.direct=on`` where no mode keeps the rest);
* ``detect-zeroes=unmap`` without ``discard=unmap``: -drive accepts it but never unmaps,
  -blockdev refuses it (block.c bdrv_open_common) -> ``discard=unmap`` added;
* a misspelt key or enumeration value, and values in the wrong case (QEMU's values are
  case-sensitive: ``cache=None``) -> the nearest known spelling ("did you mean");
* ``yes``/``true``/``1`` for a boolean -> ``on`` (util/qapi-util.c qapi_bool_parse);
* options of the device, not the drive (``serial=``, ``bootindex=`` ... removed from
  -drive in QEMU 3.0/5.0) -> taken out, with the -device spelling to put them on;
* a short-form boolean (``snapshot``) -> ``snapshot=on``; a probed raw image ->
  ``format=raw``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

import attrs

from ._syntax import RawOption, tokenize
from ..diagnostics import Diagnostic
from ..dialect import get as get_dialect
from ..model import DEFAULT_DIALECT, Aio, CacheMode, DetectZeroes, ErrorAction, Interface, Media
from ..options import ALIASES, FORMAT_KEYS, OPTIONS

__all__ = ["Fix", "suggest_fix", "suggest_for", "MAX_STEPS"]

MAX_STEPS = 8  # mistakes fixed in one string; a loop that found more gives up

# Options QEMU moved from -drive to -device (hw/block/block.c, docs/about/removed-features):
# the device property each becomes.
DEVICE_OPTIONS = ("serial", "bootindex", "addr", "wwn", "model", "trans", "cyls", "heads",
                  "secs", "boot")

_CACHE = tuple(m.value for m in CacheMode if m not in (CacheMode.ON, CacheMode.OFF))
_VALUES: dict[str, tuple[str, ...]] = {
    "cache": _CACHE, "aio": tuple(m.value for m in Aio),
    "if": tuple(m.value for m in Interface), "media": tuple(m.value for m in Media),
    "detect-zeroes": tuple(m.value for m in DetectZeroes),
    "werror": tuple(m.value for m in ErrorAction),
    "rerror": tuple(m.value for m in ErrorAction if m is not ErrorAction.ENOSPC),
    "discard": ("ignore", "unmap", "off", "on"), "file.aio": tuple(m.value for m in Aio),
    "file.locking": ("on", "off", "auto"),
}
_TRUE = {"yes": "on", "true": "on", "1": "on", "y": "on", "no": "off", "false": "off",
         "0": "off", "n": "off", "enabled": "on", "disabled": "off"}
# 2008 spellings a 7.2 user carries over, with the 7.2 mode that keeps their meaning.
_OLD_VALUES = {("cache", "on"): "writeback"}


@attrs.frozen
class Fix:
    """A corrected drive string and what was changed to get it (one line per change)."""

    text: str
    changes: tuple[str, ...]

    def __str__(self) -> str:
        return self.text


Step = tuple[str, str]  # (new text, what changed)


def suggest_fix(text: str, *, dialect: str = DEFAULT_DIALECT, machine: str = "pc",
                probe_files: bool = False) -> Fix | None:
    """The verified fix for ``text``, or None (nothing to fix, or no fix qdrive trusts).

    ``probe_files`` also looks at the image (a probed raw image gets ``format=raw``) and
    verifies the fix with the file probed, as QEMU would open it.
    """
    if get_dialect(dialect).legacy:
        return None  # the 2008 dialect is a recording of history, not something to fix
    from ._check import check

    current, changes = text, []
    for _ in range(MAX_STEPS):
        result = check([current], dialect=dialect, machine=machine, probe_files=probe_files)
        step = _step(current, result.drives[0].error, result.drives[0].warnings,
                     result.drives[0].drive)
        if step is None:
            break
        current, change = step
        changes.append(change)
    else:
        return None
    if not changes or current == text:
        return None
    final = check([current], dialect=dialect, machine=machine, probe_files=probe_files)
    return Fix(current, tuple(changes)) if final.ok else None


def suggest_for(text: str, error: Diagnostic, dialect: str | None = None) -> str | None:
    """The fixed string for a drive already judged (JSON's ``fix``), checked offline."""
    if error.code.startswith("policy") or (dialect is not None and get_dialect(dialect).legacy):
        return None
    fix = suggest_fix(text, dialect=dialect or DEFAULT_DIALECT)
    return fix.text if fix else None


# -- one step -------------------------------------------------------------------------------


def _step(text: str, error: Diagnostic | None, warnings: Sequence[Diagnostic],
          drive: object) -> Step | None:
    items = tokenize(text)
    if error is not None:
        # A misspelt key first: the error QEMU reports may only be its consequence
        # (aio=native refused because "cahce=none" was not read as cache=).
        for each in items:
            if _misspelt(each.key) is not None:
                return _unknown_key(text, items, each, error)
        fixer = _BY_CODE.get(error.code)
        return fixer(text, items, _item_at(items, error), error) if fixer else None
    for w in warnings:
        flag = _item_at(items, w) if w.code == "short-form-boolean" else None
        if flag is not None:
            value = "off" if flag.no_prefix else "on"
            return _replace(text, flag, f"{flag.key}={value}",
                            f"{_raw(text, flag)} -> {flag.key}={value} (short form "
                            "deprecated)")
        if w.code == "probed-raw" and not any(i.key in ("format", "driver") for i in items):
            return _append(text, "format=raw", "added format=raw (probing a raw image "
                           "restricts writes to block 0)")
    keys = {i.key: i.value for i in items}
    if keys.get("detect-zeroes") == "unmap" and keys.get("discard") not in ("unmap", "on"):
        return _set(text, items, "discard", "unmap", "added discard=unmap (detect-zeroes="
                    "unmap does nothing without it, and -blockdev refuses it)")
    return None


def _native(text: str, items: list[RawOption], item: RawOption | None, e: Diagnostic
            ) -> Step | None:
    # block/file-posix.c raw_open_common(): aio=native needs O_DIRECT (cache.direct=on).
    direct = _last(items, "cache.direct")
    if direct is not None:
        return _replace(text, direct, "cache.direct=on", "cache.direct=off -> cache.direct=on "
                        "(aio=native needs O_DIRECT)")
    cache = _last(items, "cache")
    better = {None: "none", "writeback": "none", "writethrough": "directsync"}
    mode = None if cache is None else cache.value
    if mode in better:
        new = better[mode]
        if cache is None:
            return _append(text, f"cache={new}", "added cache=none (aio=native needs O_DIRECT)")
        return _replace(text, cache, f"cache={new}",
                        f"cache={mode} -> cache={new} (aio=native needs O_DIRECT)")
    return _append(text, "cache.direct=on", "added cache.direct=on (aio=native needs O_DIRECT)")


def _value(text: str, items: list[RawOption], item: RawOption | None, e: Diagnostic
           ) -> Step | None:
    if item is None:
        return None
    allowed = _VALUES.get(item.key)
    if allowed is None and item.key in ("format", "driver", "file.driver"):
        from ..options import KNOWN_DRIVERS

        allowed = tuple(sorted(KNOWN_DRIVERS))
    if allowed is None:
        return None
    new = _OLD_VALUES.get((item.key, item.value)) or _nearest(item.value, allowed)
    if new is None:
        return None
    why = "values are case-sensitive" if new == item.value.lower() else "did you mean it?"
    return _replace(text, item, f"{_key_text(text, item)}={new}",
                    f"{_raw(text, item)} -> {_key_text(text, item)}={new} ({why})")


def _bool(text: str, items: list[RawOption], item: RawOption | None, e: Diagnostic
          ) -> Step | None:
    if item is None or "expects 'on' or 'off'" not in e.message:
        return _value(text, items, item, e)
    new = _TRUE.get(item.value.lower())
    if new is None:
        return None
    return _replace(text, item, f"{_key_text(text, item)}={new}",
                    f"{_raw(text, item)} -> {_key_text(text, item)}={new} (QEMU booleans "
                    "are on/off)")


def _unknown_key(text: str, items: list[RawOption], item: RawOption | None, e: Diagnostic
                 ) -> Step | None:
    if item is None:
        return None
    if item.key in DEVICE_OPTIONS:
        return _remove(text, item, f"removed {_raw(text, item)}: it belongs to the device "
                       f"(-device ...,drive=ID,{item.key}={item.value}), not to -drive")
    new = _misspelt(item.key)
    if new is None:
        return None
    return _replace(text, item, f"{new}={item.value}" if not item.flag else new,
                    f"{_raw(text, item)} -> {new}={item.value} (unknown option "
                    f"'{item.key}': did you mean '{new}'?)")


def _misspelt(key: str) -> str | None:
    """The known key ``key`` is a misspelling of, if it is unknown and close to one."""
    if key in _KNOWN_KEYS or key.startswith(("file.", "stats-intervals.", "backing.")):
        return None
    if key in DEVICE_OPTIONS:
        return None
    return _nearest(key, sorted(_KNOWN_KEYS))


_KNOWN_KEYS = frozenset([*OPTIONS, *ALIASES, *(k for kinds in FORMAT_KEYS.values()
                                               for k in kinds)])

_Fixer = Callable[[str, list[RawOption], RawOption | None, Diagnostic], Step | None]
_BY_CODE: dict[str, _Fixer] = {
    "native-needs-direct": _native, "bad-cache": _value, "bad-aio": _value, "bad-if": _value,
    "bad-media": _value, "bad-enum": _value, "bad-error-action": _value,
    "bad-discard": _value, "unknown-driver": _value, "bad-value": _bool,
    "unknown-option": _unknown_key,
}


# -- editing the string by spans --------------------------------------------------------------


def _item_at(items: list[RawOption], d: Diagnostic) -> RawOption | None:
    return next((i for i in items if i.span == d.span), None) or next(
        (i for i in items if i.span.start <= d.span.start < i.span.end), None)


def _last(items: list[RawOption], key: str) -> RawOption | None:
    return next((i for i in reversed(items) if i.key == key), None)


def _raw(text: str, item: RawOption) -> str:
    return text[item.span.start:item.span.end]


def _key_text(text: str, item: RawOption) -> str:
    return _raw(text, item).split("=", 1)[0]


def _replace(text: str, item: RawOption, new: str, change: str) -> Step:
    return text[:item.span.start] + new + text[item.span.end:], change


def _append(text: str, new: str, change: str) -> Step:
    return (f"{text},{new}" if text else new), change


def _set(text: str, items: list[RawOption], key: str, value: str, change: str) -> Step:
    item = _last(items, key)
    if item is None:
        return _append(text, f"{key}={value}", change)
    return _replace(text, item, f"{key}={value}", change)


def _remove(text: str, item: RawOption, change: str) -> Step:
    start, end = item.span
    if start > 0 and text[start - 1] == ",":
        start -= 1  # the comma before it
    elif end < len(text) and text[end] == ",":
        end += 1
    return text[:start] + text[end:], change


def _nearest(word: str, allowed: Sequence[str]) -> str | None:
    lowered = {a.lower(): a for a in allowed}
    if word in allowed:
        return None
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.75)
    return lowered[close[0]] if close else None


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
