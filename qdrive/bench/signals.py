"""Ctrl-C, SIGTERM and SIGHUP for `qdrive bench`: stop, but clean up first.

Python's default SIGINT handler raises KeyboardInterrupt wherever the main thread happens
to be, and SIGTERM/SIGHUP kill the process without running any ``finally``: a 4 GiB target
the benchmark created would stay behind. While :meth:`Interrupts.installed` is active, the
three signals raise :class:`Interrupted` instead, so ``finally`` blocks run, except inside
a :meth:`Interrupts.deferred` section, where the signal is remembered and raised when the
section ends or at the next :meth:`Interrupts.checkpoint`.

Deferred sections are wherever an exception would leave something half done: creating
or removing the target, and the whole life of a device. An exception raised by a signal
between the backend's reap and the driver's bookkeeping loses a completion, and close()
then waits for it forever, so the benchmark loops and the prefill take the signal only at
their checkpoints, between requests.

The deferral is a counter the handler reads, not a blocked signal mask: the backends run
their own threads, and a process-directed signal blocked in the main thread would be
delivered to one of them and still run Python's handler in the main thread.
The counter is module state because signal handlers are process state.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

__all__ = ["Interrupted", "Interrupts", "interrupts", "SIGNALS"]

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """A signal asked `qdrive bench` to stop (a BaseException, like KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # what a shell reports for a process killed by the signal


class Interrupts:
    """The handler and its deferred sections (one instance: :data:`interrupts`)."""

    def __init__(self) -> None:
        self._depth = 0
        self._pending: int | None = None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self._depth:
            self._pending = self._pending or signum
            return
        raise Interrupted(signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Route SIGINT, SIGTERM and SIGHUP to :class:`Interrupted` (main thread only;
        elsewhere the process keeps its handlers and this does nothing)."""
        try:
            # A signal the parent set to be ignored (nohup, a shell's background job)
            # stays ignored, as Python itself leaves an ignored SIGINT alone.
            old = {s: signal.signal(s, self._handler) for s in SIGNALS
                   if signal.getsignal(s) is not signal.SIG_IGN}
        except ValueError:  # not the main thread: signal.signal() is refused
            yield
            return
        try:
            yield
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
            self._pending = None

    def checkpoint(self) -> None:
        """A safe point inside a deferred section: raise a signal that arrived."""
        if self._pending is not None:
            signum, self._pending = self._pending, None
            raise Interrupted(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A section a signal must not cut in half; a signal that arrived meanwhile is
        raised as the outermost section ends."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth and self._pending is not None:
                signum, self._pending = self._pending, None
                raise Interrupted(signum)


interrupts = Interrupts()


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
