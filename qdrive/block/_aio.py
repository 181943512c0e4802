"""asyncio on top of the queue API: one reader on a backend's eventfd per device.

No thread per request: the event loop wakes when the eventfd becomes readable, reaps
every completion available (the backend's reap() resets the eventfd first and then
drains, so a completion that lands meanwhile sets it again and none waits for a wake-up
that never comes), and resolves the waiting futures. :class:`Waiter` knows only an
eventfd and two callables: RawDevice (qdrive/block/driver.py) makes one per event loop
and keeps it on itself, so this module knows no device and holds no global state.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backends import Completion, Request

__all__ = ["Waiter"]

Reap = Callable[[], "list[Completion]"]


class Waiter:
    """Futures for requests, resolved as ``reap()`` returns their completions.

    ``reap()`` must not block and must return every completion available now;
    completions nobody awaits (requests submitted through the queue API) are handed to
    ``unclaimed`` for the caller's own reap()."""

    def __init__(self, loop: asyncio.AbstractEventLoop, eventfd: int, reap: Reap,
                 unclaimed: Callable[[Sequence[Completion]], Any]) -> None:
        self.loop = loop
        self._efd = eventfd
        self._reap = reap
        self._unclaimed = unclaimed
        self._futures: dict[int, asyncio.Future[int]] = {}
        self._poked = False
        loop.add_reader(eventfd, self._on_ready)

    @property
    def waiting(self) -> int:
        return len(self._futures)

    async def run(self, req: Request, submit: Callable[[list[Request]], Any]) -> int:
        """Submit ``req`` with ``submit`` and wait for its completion."""
        fut: asyncio.Future[int] = self.loop.create_future()
        self._futures[id(req)] = fut
        try:
            submit([req])
        except BaseException:
            del self._futures[id(req)]
            raise
        # submit() may itself have reaped completions (a write waiting for an overlapping
        # one) and reset the eventfd: look once more soon, so their futures still resolve.
        self._poke()
        return await fut

    def _poke(self) -> None:
        if not self._poked:
            self._poked = True
            self.loop.call_soon(self._on_ready)

    def _on_ready(self) -> None:
        self._poked = False
        self.resolve(self._reap())

    def resolve(self, done: Sequence[Completion], keep: bool = False) -> list[Completion]:
        """Settle the futures of ``done``; the others go to ``unclaimed`` (or are returned,
        with ``keep``)."""
        others = []
        for c in done:
            fut = self._futures.pop(id(c.request), None)
            if fut is None:
                others.append(c)
            elif not fut.done():  # a cancelled await: the request still ran, no one waits
                if c.error is not None:
                    fut.set_exception(c.error)
                else:
                    fut.set_result(c.result)
        if others and not keep:
            self._unclaimed(others)
            return []
        return others

    def close(self, wait: Reap | None = None, in_flight: Callable[[], int] | None = None
              ) -> None:
        """Stop watching the eventfd. With ``wait`` (a blocking reap), the futures still
        waiting get their completions first; any left get an error, never silence."""
        if not self.loop.is_closed():
            self.loop.remove_reader(self._efd)
        others: list[Completion] = []
        while wait is not None and self._futures and (in_flight is None or in_flight()):
            got = wait()
            if not got:
                break
            others += self.resolve(got, keep=True)
        if others:
            self._unclaimed(others)
        for fut in self._futures.values():
            if not fut.done() and not fut.get_loop().is_closed():
                fut.set_exception(OSError(errno.EBADF, "the device was closed"))
        self._futures.clear()
