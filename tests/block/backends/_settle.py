"""Counts that drop a while after a backend closes: glibc's POSIX AIO keeps each idle
helper thread for about a second after its last request (aio_init's aio_idle_time), by
design, so a thread count taken right after close may still include one."""

from __future__ import annotations

import time
from collections.abc import Callable


def settle(count: Callable[[], int], limit: int, seconds: float = 20.0) -> int:
    """Poll ``count()`` (bounded) until it drops to ``limit``; the last count. The tests
    assert the count, never the time it took."""
    deadline = time.monotonic() + seconds
    while (n := count()) > limit and time.monotonic() < deadline:
        time.sleep(0.05)
    return n
