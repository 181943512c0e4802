"""QEMU's QDict, as far as the front end's rules need it: entries and iteration order.

QEMU stores options in a QDict (qobject/qdict.c): 512 buckets chosen by tdb_hash(key),
each bucket a list with the newest key first. Every walk over a QDict (drive_new's
unknown-option check, blockdev_init's, -device's property setter) therefore meets keys in
bucket order, and that order decides which of two bad options QEMU names. This is the
one copy of that fact; the converter, the rules, the node graph and the device checks all
read it here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import attrs

from ..diagnostics import Span
from ._syntax import RawOption

__all__ = ["Entry", "qdict_order", "in_qdict_order", "ghash_order"]

_BUCKETS = 512  # qobject/qdict.c QDICT_BUCKET_MAX


def _tdb_hash(key: str) -> int:
    # qobject/qdict.c tdb_hash(): the string's bytes (QEMU hashes UTF-8).
    raw = key.encode("utf-8", "surrogateescape")
    value = (0x238F13AF * len(raw)) & 0xFFFFFFFF
    for i, c in enumerate(raw):
        value = (value + (c << (i * 5 % 24))) & 0xFFFFFFFF
    return (1103515243 * value + 12345) & 0xFFFFFFFF


@functools.lru_cache(maxsize=4096)  # the same few dozen keys, on every drive
def qdict_order(key: str) -> int:
    """The bucket QEMU's QDict puts ``key`` in (tdb_hash() % 512): the walk's first sort key."""
    return _tdb_hash(key) % _BUCKETS


def in_qdict_order(keys: Iterable[str]) -> list[str]:
    """``keys`` (duplicates dropped) in the order a QDict walk meets them: bucket by
    bucket, the key inserted last first within a bucket."""
    unique = list(dict.fromkeys(keys))
    position = {k: n for n, k in enumerate(unique)}
    return sorted(unique, key=lambda k: (qdict_order(k), -position[k]))


# internal: nobody compares or prints one, and attrs' generated __eq__/__repr__ cost
# start-up time (qdrive check imports this module)
@attrs.define(eq=False, repr=False)
class Entry:
    """One option in the QDict QEMU builds: key, value, the item it came from."""

    key: str
    value: str
    item: RawOption | None  # None for values QEMU adds itself (cache.* from cache=)
    seq: int  # insertion order: within a bucket the higher seq is met first

    @property
    def span(self) -> Span:
        return self.item.span if self.item else Span(0, 0)


def _g_str_hash(key: str) -> int:
    # glib ghash.c g_str_hash(): djb2 over the bytes as signed chars
    value = 5381
    for c in key.encode("utf-8", "surrogateescape"):
        value = (value * 33 + (c - 256 if c >= 128 else c)) & 0xFFFFFFFF
    return max(value, 2)  # ghash.c: hashes 0 and 1 mark empty and deleted slots


def ghash_order(keys: Iterable[str]) -> list[str] | None:
    """``keys`` in the order a walk over a GLib GHashTable meets them, inserted in the
    order given (None for a table larger than modelled). QEMU's QObject input visitor
    keeps a struct's keys in one, filled from a QDict walk, and removes each it visits
    (qapi/qobject-input-visitor.c: qobject_input_check_struct() names the first left).
    Mirrors glib 2.74 ghash.c for tables that stay at 8 slots (up to seven keys): slot
    (hash * 11) % 7, quadratic probing."""
    slots: list[str | None] = [None] * 8
    for key in keys:
        index, step = (_g_str_hash(key) * 11) % 7, 0
        while slots[index] is not None and step < 8:
            step += 1
            index = (index + step) & 7
        if slots[index] is not None:
            return None  # a larger table: not modelled
        slots[index] = key
    return [k for k in slots if k is not None]

