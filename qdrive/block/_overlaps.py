"""Which request waits for which: overlapping writes in submission order, one flush at a time.

block/io.c keeps every request in flight in a list and makes a "serialising" request (the
read-modify-write of a partial block) wait for every overlapping request issued before it
(bdrv_wait_serialising_requests); bdrv_co_flush() lets one flush run at a time
(active_flush_req). qdrive serialises every pair of overlapping writes, not only those
with a read-modify-write on one side, so the order a caller submitted them in is the order
they reach the disk. That also holds when a write fails under werror=stop: it keeps its
place, and what was queued behind it stays queued until it is retried (resume()).

A request waits only for requests registered before it, so no two can wait for each
other, and one batch never deadlocks on itself: a request queued behind another of the
same submit() starts when that one completes. Reads never wait.

Finding overlaps does not scan everything in flight: writes are indexed by 1 MiB region
(very wide ones, such as a discard of the whole device, sit in one list every query scans).
A new write depends on the latest earlier write that covers its whole range and on the
overlapping ones after that; the earlier ones are waited for through the covering one
(it overlaps them too), so a thousand writes to one sector form a chain, not a clique.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs

__all__ = ["Slot", "Serialiser"]

REGION_SHIFT = 20  # 1 MiB
MAX_REGIONS = 64  # a write over more regions than this goes into the wide list


@attrs.define(eq=False, kw_only=True)
class Slot:
    """A request's place in the order: its sequence number and the bytes it writes."""

    seq: int
    start: int = 0
    end: int = 0
    flush: bool = False
    blockers: int = attrs.field(default=0, init=False)
    dependents: list[Slot] = attrs.field(factory=list, init=False)


S = TypeVar("S", bound=Slot)


class Serialiser(Generic[S]):
    """The registered (started or queued, not yet finished) writes and flushes."""

    def __init__(self) -> None:
        self._regions: dict[int, dict[int, S]] = {}
        self._wide: dict[int, S] = {}
        self._writes: dict[int, S] = {}
        self._flushes: dict[int, S] = {}

    def __len__(self) -> int:
        return len(self._writes) + len(self._flushes)

    def admit(self, slot: S) -> bool:
        """Register ``slot``; True when it may start now, False when it must wait."""
        if slot.flush:
            deps = list(self._flushes.values())[-1:]  # the flush before it (which waits ...)
            self._flushes[slot.seq] = slot
        else:
            deps = self._needed(slot)
            self._index(slot)
        for d in deps:
            d.dependents.append(slot)
        slot.blockers = len(deps)
        return not deps

    def finish(self, slot: S) -> list[S]:
        """Unregister ``slot``; the slots that may start now, in submission order."""
        if slot.flush:
            del self._flushes[slot.seq]
        else:
            self._unindex(slot)
        freed: list[S] = []
        for d in slot.dependents:
            d.blockers -= 1
            if d.blockers == 0:
                freed.append(d)  # type: ignore[arg-type]  # dependents are all of type S
        slot.dependents = []
        return sorted(freed, key=lambda s: s.seq)

    # -- the region index ---------------------------------------------------------------
    def _needed(self, slot: S) -> list[S]:
        """The registered writes ``slot`` must wait for directly (the rest it waits for
        through them): the latest one covering its whole range, and every overlapping one
        after it. Each source is scanned newest first and only down to that covering one,
        so a chain of writes to one sector costs one step per write."""
        regions = _regions(slot)
        if regions is None:
            sources = [self._writes]
        else:
            sources = [self._regions.get(r, {}) for r in regions] + [self._wide]
        found: dict[int, S] = {}
        cutoff = -1  # seq of the latest covering write found so far
        for source in sources:
            for o in reversed(source.values()):  # insertion order is submission order
                if o.seq <= cutoff:
                    break
                if o.start < slot.end and slot.start < o.end:
                    found[o.seq] = o
                    if o.start <= slot.start and o.end >= slot.end:
                        cutoff = o.seq
                        break
        return [o for o in found.values() if o.seq >= cutoff]

    def _index(self, slot: S) -> None:
        self._writes[slot.seq] = slot
        regions = _regions(slot)
        if regions is None:
            self._wide[slot.seq] = slot
            return
        for r in regions:
            self._regions.setdefault(r, {})[slot.seq] = slot

    def _unindex(self, slot: S) -> None:
        del self._writes[slot.seq]
        regions = _regions(slot)
        if regions is None:
            del self._wide[slot.seq]
            return
        for r in regions:
            bucket = self._regions[r]
            del bucket[slot.seq]
            if not bucket:
                del self._regions[r]


def _regions(slot: Slot) -> range | None:
    regions = range(slot.start >> REGION_SHIFT, ((slot.end - 1) >> REGION_SHIFT) + 1)
    return None if len(regions) > MAX_REGIONS else regions
