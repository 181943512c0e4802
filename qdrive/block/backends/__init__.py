"""AIO backends behind one small interface, picked from one table.

The driver (qdrive.block.driver) is the only user; a backend that cannot run here raises
:class:`BackendUnavailable` naming the reason and the fix.

The completion contract, kept by every backend (threads, posix, native, io_uring and the
pure-Python thread pool) on files and block devices alike:

- Every request submitted completes exactly once, through :meth:`Backend.reap`, with
  its full length (``result == request.length``) or an ``OSError``; never with a count
  in between, never twice, never not at all.
- A read that reaches end of file is zero-filled to its full length (block/file-posix.c
  handle_aiocb_rw). A short write is continued where it stopped; it fails with ENOSPC
  only when the device takes nothing more. EINTR and EAGAIN are retried, never reported.
- No request fails for depth: requests beyond a backend's ring (native 128, io_uring
  128, posix 512, the C pool 1,024) wait in a FIFO and are started as completions free
  slots, as block/linux-aio.c and block/io_uring.c keep a pending queue. No ring can
  overwrite or lose a completion, however long the caller leaves them unreaped.
- Any number of buffers per request: beyond the kernel's IOV_MAX the rest is continued,
  never truncated; several buffers under O_DIRECT stay aligned.
- ``reap()`` returns at least ``min_count`` completions (fewer only on timeout) and
  every other one available at that moment; it resets ``eventfd()`` before it looks,
  so a completion that lands later makes the eventfd readable again (no lost wake-up).
- ``close()`` runs every accepted request to completion, then releases everything. A
  backend dropped without close() does the same from a finalizer that holds only the
  engine's state: no descriptor (eventfd, dup()s), thread or C buffer outlives it, and no
  buffer is released while the kernel may still write into it. Each backend does its I/O
  on its own dup() of the descriptor it was given, and nothing it runs touches a
  descriptor number after close(): a number the caller closes and reuses is never
  written by a late notifier or worker.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any, Protocol

import attrs

from ...errors import QDriveError
from ..plan import BackendName

__all__ = ["Op", "Request", "Completion", "Backend", "BackendUnavailable", "BackendName",
           "BACKENDS",
           "load_backend"]


class BackendUnavailable(QDriveError, RuntimeError):
    """This backend cannot run here; the message says why and what would fix it."""


class Op(enum.Enum):
    """What a request does."""

    READ = "read"
    WRITE = "write"
    FLUSH = "flush"
    DISCARD = "discard"
    WRITE_ZEROES = "write_zeroes"


@attrs.define(eq=False)
class Request:
    """One I/O request. ``buffers`` are writable memoryviews for reads (filled in
    place) and readable ones for writes; ``length`` is their total (or the range for
    discard/write-zeroes). ``tag`` is the caller's, returned with the completion."""

    op: Op
    offset: int = 0
    buffers: Sequence[memoryview] = ()
    length: int = 0
    tag: Any = None


@attrs.frozen
class Completion:
    """A finished request: the bytes done (the full length) or the error."""

    request: Request
    result: int
    error: OSError | None = None


class Backend(Protocol):
    """The interface every backend offers the driver."""

    name: str

    def submit(self, requests: Sequence[Request]) -> None:
        """Start ``requests``; completions come back from :meth:`reap`."""

    def reap(self, min_count: int = 1, timeout: float | None = None) -> list[Completion]:
        """Wait for at least ``min_count`` completions (fewer only on timeout)."""

    def eventfd(self) -> int:
        """A descriptor that becomes readable when completions are waiting."""

    def in_flight(self) -> int:
        """Requests submitted and not reaped yet."""

    def close(self) -> None:
        """Wait for the requests in flight, then release everything."""


# Backend -> module; each module defines create(fd, plan, **options) -> Backend.
BACKENDS = MappingProxyType({
    BackendName.THREADS: "qdrive.block.backends.threads",
    BackendName.POSIX: "qdrive.block.backends.posix",
    BackendName.NATIVE: "qdrive.block.backends.native",
    BackendName.IO_URING: "qdrive.block.backends.io_uring",
})


def load_backend(name: str) -> Any:
    """The backend module for ``name``; only that backend is imported."""
    try:
        module = BACKENDS[BackendName(name)]
    except ValueError:
        raise BackendUnavailable(f"unknown backend {name!r}; qdrive has "
                                 f"{', '.join(BACKENDS)}") from None
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise BackendUnavailable(f"backend {name!r} is not built into this qdrive yet "
                                 f"({exc.name}); use backend='threads'") from None


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
