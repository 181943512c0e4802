"""asyncio on top of the queue API: one reader on the backend's eventfd per device.

No thread per request: the event loop wakes when the backend's eventfd becomes
readable, reaps what is done, and resolves the waiting futures.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .backends import Request
    from .driver import RawDevice

__all__ = ["await_request", "detach"]

_WAITING: weakref.WeakKeyDictionary[RawDevice, tuple[asyncio.AbstractEventLoop,
                                                      dict[int, asyncio.Future[int]]]]
_WAITING = weakref.WeakKeyDictionary()


def _on_ready(dev: RawDevice) -> None:
    _, futures = _WAITING[dev]
    for c in dev.reap(0):
        fut = futures.pop(id(c.request), None)
        if fut is None:  # a request submitted through the queue API: leave it for reap()
            dev._ready.append(c)
        elif not fut.done():
            if c.error is not None:
                fut.set_exception(c.error)
            else:
                fut.set_result(c.result)


async def await_request(dev: RawDevice, req: Request) -> int:
    """Submit ``req`` and wait for it without blocking the event loop."""
    loop = asyncio.get_running_loop()
    if dev not in _WAITING:
        _WAITING[dev] = (loop, {})
        loop.add_reader(dev._backend.eventfd(), _on_ready, dev)
    elif _WAITING[dev][0] is not loop:
        raise RuntimeError("a RawDevice serves one event loop at a time")
    fut: asyncio.Future[int] = loop.create_future()
    _WAITING[dev][1][id(req)] = fut
    dev.submit([req])
    return await fut


def detach(dev: RawDevice) -> None:
    """Stop watching the device's eventfd (before it is closed)."""
    entry = _WAITING.pop(dev, None)
    if entry is not None:
        loop, _ = entry
        if not loop.is_closed():
            loop.remove_reader(dev._backend.eventfd())
