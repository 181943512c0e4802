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

__all__ = ["Entry", "qdict_order", "in_qdict_order"]

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


@attrs.define
class Entry:
    """One option in the QDict QEMU builds: key, value, the item it came from."""

    key: str
    value: str
    item: RawOption | None  # None for values QEMU adds itself (cache.* from cache=)
    seq: int  # insertion order: within a bucket the higher seq is met first

    @property
    def span(self) -> Span:
        return self.item.span if self.item else Span(0, 0)
