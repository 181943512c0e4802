"""AIO backends behind one small interface, picked from one table.

A backend takes :class:`Request` objects and completes each with the full length or an
OSError: a short read at end of file is zero-filled, a short write is retried and, if
the device takes nothing more, completes with ENOSPC; EINTR/EAGAIN are retried. The
driver (qdrive.driver) is the only user; a backend that cannot run here raises
:class:`BackendUnavailable` naming the reason and the fix.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any, Protocol

import attrs

from ..errors import QDriveError

__all__ = ["Op", "Request", "Completion", "Backend", "BackendUnavailable", "BACKENDS",
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


# Backend name -> module; each module defines create(fd, plan, **options) -> Backend.
BACKENDS = MappingProxyType({
    "threads": "qdrive.backends.threads",
    "posix": "qdrive.backends.posix",
    "native": "qdrive.backends.native",
    "io_uring": "qdrive.backends.io_uring",
})


def load_backend(name: str) -> Any:
    """The backend module for ``name``; only that backend is imported."""
    try:
        module = BACKENDS[name]
    except KeyError:
        raise BackendUnavailable(f"unknown backend {name!r}; qdrive has "
                                 f"{', '.join(BACKENDS)}") from None
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise BackendUnavailable(f"backend {name!r} is not built into this qdrive yet "
                                 f"({exc.name}); use backend='threads'") from None
