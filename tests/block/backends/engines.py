"""Backends built directly (no driver), on descriptors the tests open themselves.

"threads-py" is the pure-Python pool qdrive falls back to when the C one was not built;
the limit tests hold it to the same contract as the four engines.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from qdrive.block.backends import BACKENDS, BackendUnavailable, Completion, Request, load_backend

IOV_MAX = os.sysconf("SC_IOV_MAX")
ALIGN = 4096  # enough for O_DIRECT on every target here (loop devices up to 4096)


def built() -> list[str]:
    out = []
    for name in BACKENDS:
        try:
            load_backend(name)
        except BackendUnavailable:
            continue
        out.append(name.value)  # the name as tests spell it (ids, code for children)
    return out


ENGINES = [*built(), "threads-py"]


def aligned(n: int) -> memoryview:
    """``n`` writable bytes (a multiple of 4096 is best) at a page-aligned address."""
    return memoryview(mmap.mmap(-1, max(n, 1)))[:n]


def create(name: str, fd: int, *, no_flush: bool = False,
           **options: Any) -> Any:
    zero = aligned(1 << 16)
    if name == "threads-py":
        from qdrive.block.backends.threads import ThreadPool

        return ThreadPool(fd, no_flush=no_flush, zero_buffer=zero,
                          **options)
    return load_backend(name).create(fd, no_flush=no_flush,
                                     zero_buffer=zero, **options)


@contextmanager
def opened(path: str, direct: bool) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | (os.O_DIRECT if direct else 0))
    try:
        yield fd
    finally:
        os.close(fd)


def reap_all(backend: Any, count: int, timeout: float = 120.0) -> list[Completion]:
    """Reap ``count`` completions; a backend that loses some fails here, not hangs."""
    out: list[Completion] = []
    while len(out) < count:
        got = backend.reap(count - len(out), timeout)
        if not got:
            raise AssertionError(f"{len(out)} of {count} completions came back "
                                 f"({backend.in_flight()} still in flight)")
        out += got
    return out


def check_all_full(done: Sequence[Completion], requests: Sequence[Request]) -> None:
    assert len(done) == len(requests)
    assert {id(c.request) for c in done} == {id(r) for r in requests}  # each exactly once
    bad = [c for c in done if c.error is not None or c.result != c.request.length]
    assert not bad, f"{len(bad)} incomplete, first: {bad[0].result} {bad[0].error}"
