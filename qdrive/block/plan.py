"""OpenPlan: everything the raw driver needs to open a drive; no system calls.

The plan follows block/file-posix.c (open flags, locking, aio) and the cache
semantics of block/io.c: writethrough is a flush after every write (7.2 has
no O_DSYNC), no-flush makes flush a no-op.
"""

from __future__ import annotations

import enum

import attrs

from .flags import BdrvFlag, BdrvFlag2008, bdrv_flags, open_flag_names, open_flags
from ..dialect import get as get_dialect
from ..model import Aio, DetectZeroes, Discard, Drive, ErrorAction, Locking, cache_triple
from .._values import on_off

__all__ = ["OpenPlan", "BackendName", "Locking", "plan_open", "explain"]


class BackendName(enum.StrEnum):
    """The four I/O backends: QEMU's aio= engines plus the 2008 block layer's posix-aio."""

    THREADS = "threads"
    """QEMU's thread pool (util/thread-pool.c): blocking preadv/pwritev on worker threads."""
    POSIX = "posix"
    """glibc POSIX AIO with a pool of dup()ed descriptors (block/raw-posix.c of 2008)."""
    NATIVE = "native"
    """Linux native AIO (block/linux-aio.c); QEMU takes it only with O_DIRECT."""
    IO_URING = "io_uring"
    """io_uring (block/io_uring.c)."""


@attrs.frozen
class OpenPlan:
    """How to open one drive's image: flags, cache semantics, backend."""

    path: str | None
    dialect: str
    format: str | None
    bdrv_flags: BdrvFlag | BdrvFlag2008
    open_flags: int
    read_only: bool
    direct: bool
    writethrough: bool  # flush after every write before completing it
    no_flush: bool  # flush requests succeed without reaching the disk
    # Typed inside, strings only at the edge: a str given here is read as its enum.
    aio: BackendName = attrs.field(converter=BackendName)  # threads|native|io_uring; posix (2008)
    discard: Discard = attrs.field(converter=Discard)
    detect_zeroes: DetectZeroes = attrs.field(converter=DetectZeroes)
    locking: Locking = attrs.field(converter=Locking)  # file.locking
    werror: ErrorAction = attrs.field(default=ErrorAction.ENOSPC, converter=ErrorAction)
    rerror: ErrorAction = attrs.field(default=ErrorAction.REPORT, converter=ErrorAction)


def plan_open(drive: Drive) -> OpenPlan:
    """The OpenPlan for ``drive``. Pure: touches no file."""
    writeback, direct, no_flush = cache_triple(drive)
    if get_dialect(drive.dialect).legacy:
        # The seed: linux-aio only with O_DIRECT (cache=off), else posix-aio.
        aio = BackendName.NATIVE if direct else BackendName.POSIX
    else:
        aio = BackendName(drive.aio or Aio.THREADS)
    return OpenPlan(
        path=drive.file, dialect=drive.dialect, format=drive.format,
        bdrv_flags=bdrv_flags(drive), open_flags=open_flags(drive),
        read_only=drive.effective_read_only, direct=direct,
        writethrough=not writeback, no_flush=no_flush, aio=aio,
        discard=drive.discard or Discard.IGNORE,
        detect_zeroes=drive.detect_zeroes or DetectZeroes.OFF,
        locking=Locking(drive.driver_options.get("file.locking", "auto")),
        werror=drive.werror or ErrorAction.ENOSPC, rerror=drive.rerror or ErrorAction.REPORT,
    )


def explain(drive: Drive) -> list[tuple[str, str]]:
    """Rows for a person: flags by name and hex, open flags, cache triple, flush meaning."""
    plan = plan_open(drive)
    flags = plan.bdrv_flags
    names = " | ".join(f"{m.name} {m.value:#x}" for m in type(flags)
                       if m.value and m in flags and m.name != "ACCESS") or "none"
    if plan.no_flush:
        flush = "a no-op (cache.no-flush=on)"
    elif plan.writethrough:
        flush = "fdatasync after every write, before it completes (writethrough)"
    else:
        flush = "fdatasync when the guest asks"
    return [
        ("BDRV_O flags", f"{names} = {flags.value:#x}"),
        ("open() flags", f"{open_flag_names(plan.open_flags)} ({plan.open_flags:#o})"),
        ("cache", f"writeback={_oo(not plan.writethrough)} direct={_oo(plan.direct)} "
                  f"no-flush={_oo(plan.no_flush)}"),
        ("flush", flush),
        ("aio backend", plan.aio),
        ("read-only", _oo(plan.read_only)),
        ("discard", plan.discard),
        ("detect-zeroes", plan.detect_zeroes),
        ("locking", plan.locking),
    ]


_oo = on_off


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
