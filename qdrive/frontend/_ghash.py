"""GLib's GHashTable of strings, as far as its iteration order goes.

qapi/qobject-input-visitor.c keeps the keys of every struct it visits in a GHashTable
(qobject_input_push(): g_hash_table_new(g_str_hash, g_str_equal), keys inserted in the
QDict's order), removes each member it reads, and names the first key left in the table
("Parameter 'X' is unexpected", qobject_input_check_struct()). Which of several unknown
keys QEMU names is therefore the table's order, which this models: open addressing over
a power-of-two array whose first slot is (hash * 11) % a prime below the size, quadratic
probing, tombstones for removed keys, and the in-place rehash glib/ghash.c does when the
table grows or shrinks (GLib 2.74, Debian 12's, which QEMU 7.2 there links).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["StrTable", "str_hash"]

_MIN_SHIFT = 3  # glib/ghash.c HASH_TABLE_MIN_SHIFT: 8 slots
_UNUSED, _TOMBSTONE = 0, 1
# the largest prime below 2**shift, for each shift (glib/ghash.c prime_mod)
_PRIME_BELOW = (1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381,
                32749, 65521, 131071, 262139, 524287, 1048573, 2097143, 4194301, 8388593,
                16777213, 33554393, 67108859, 134217689, 268435399, 536870909, 1073741789,
                2147483647)
_MASK32 = 0xFFFFFFFF


def str_hash(key: str) -> int:
    """glib/gstring.c g_str_hash(): djb2 over the bytes read as signed char; 0 and 1 are
    reserved (unused, tombstone), so a hash below 2 counts as 2."""
    h = 5381
    for byte in key.encode("utf-8", "surrogateescape"):
        h = (h * 33 + (byte - 256 if byte > 127 else byte)) & _MASK32
    return h if h >= 2 else 2


def _closest_shift(n: int) -> int:
    return max(n.bit_length(), _MIN_SHIFT)


class StrTable:
    """A set of strings with GHashTable's insert, remove and iteration order.

    ``pop(key, default)`` removes (a dict's signature, so a visitor's bookkeeping can use
    either); iterating yields the keys in slot order.
    """

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._set_shift(_MIN_SHIFT)
        self.hashes = [_UNUSED] * self.size
        self.keys: list[str | None] = [None] * self.size
        self.nnodes = self.noccupied = 0
        for key in keys:
            self.add(key)

    def _set_shift(self, shift: int) -> None:
        self.size, self.mod, self.mask = 1 << shift, _PRIME_BELOW[shift], (1 << shift) - 1

    def _first(self, h: int) -> int:
        return ((h * 11) & _MASK32) % self.mod

    def _lookup(self, key: str, h: int) -> int:
        """The key's slot, or where it would go (the first tombstone on its probe path)."""
        i, step, tombstone = self._first(h), 0, None
        while self.hashes[i] != _UNUSED:
            if self.hashes[i] == h and self.keys[i] == key:
                return i
            if self.hashes[i] == _TOMBSTONE and tombstone is None:
                tombstone = i
            step += 1
            i = (i + step) & self.mask
        return i if tombstone is None else tombstone

    def add(self, key: str) -> None:
        h = str_hash(key)
        i = self._lookup(key, h)
        if self.hashes[i] >= 2:
            return
        was_unused = self.hashes[i] == _UNUSED
        self.hashes[i], self.keys[i] = h, key
        self.nnodes += 1
        if was_unused:  # a tombstone reused does not count as newly occupied
            self.noccupied += 1
            self._maybe_resize()

    def pop(self, key: str, default: object = None) -> object:
        h = str_hash(key)
        i = self._lookup(key, h)
        if self.hashes[i] < 2:
            return default
        self.hashes[i], self.keys[i] = _TOMBSTONE, None
        self.nnodes -= 1
        self._maybe_resize()
        return None

    def __iter__(self) -> Iterator[str]:
        for h, key in zip(self.hashes, self.keys, strict=True):
            if h >= 2 and key is not None:
                yield key

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.hashes[self._lookup(key, str_hash(key))] >= 2

    def __len__(self) -> int:
        return self.nnodes

    def _maybe_resize(self) -> None:
        # glib/ghash.c g_hash_table_maybe_resize(): under a quarter full (tombstones
        # aside), or occupied (tombstones included) past 15/16
        if (self.size > self.nnodes * 4 and self.size > 1 << _MIN_SHIFT) or \
                self.size <= self.noccupied + self.noccupied // 16:
            self._resize()

    def _resize(self) -> None:
        """glib/ghash.c g_hash_table_resize(): the new size from nnodes * 1.333, then the
        entries re-placed in place: slot by slot, an entry not yet placed is taken out and
        put at the first free-of-placed slot of its new probe path, evicting whatever was
        there, which is then placed the same way."""
        old_size = self.size
        self._set_shift(_closest_shift(int(self.nnodes * 1.333)))
        if self.size > old_size:
            self.hashes += [_UNUSED] * (self.size - old_size)
            self.keys += [None] * (self.size - old_size)
        placed = [False] * max(self.size, old_size)
        for i in range(old_size):
            h = self.hashes[i]
            if h < 2:
                self.hashes[i] = _UNUSED  # tombstones go
                continue
            if placed[i]:
                continue
            self.hashes[i], key = _UNUSED, self.keys[i]
            self.keys[i] = None
            while True:
                j, step = self._first(h), 0
                while placed[j]:
                    step += 1
                    j = (j + step) & self.mask
                placed[j] = True
                evicted_hash, evicted_key = self.hashes[j], self.keys[j]
                self.hashes[j], self.keys[j] = h, key
                if evicted_hash < 2:
                    break
                h, key = evicted_hash, evicted_key
        if self.size < old_size:
            del self.hashes[self.size:]
            del self.keys[self.size:]
        self.noccupied = self.nnodes
