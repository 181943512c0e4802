"""OpenPlan: everything the raw driver needs to open a drive; no system calls.

The plan follows block/file-posix.c (open flags, locking, aio) and the cache
semantics of block/io.c: writethrough is a flush after every write (7.2 has
no O_DSYNC), no-flush makes flush a no-op.
"""

from __future__ import annotations

import attrs

from .flags import BdrvFlag, BdrvFlag2008, bdrv_flags, open_flag_names, open_flags
from ..dialect import get as get_dialect
from ..model import Aio, Drive, cache_triple

__all__ = ["OpenPlan", "plan_open", "explain"]


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
    aio: str  # backend: threads, native, io_uring (7.2) / native, posix (2008)
    discard: str
    detect_zeroes: str
    locking: str  # file.locking: auto, on, off
    werror: str = "enospc"  # what a failed write does: report, ignore, enospc, stop
    rerror: str = "report"  # what a failed read does: report, ignore, stop


def plan_open(drive: Drive) -> OpenPlan:
    """The OpenPlan for ``drive``. Pure: touches no file."""
    writeback, direct, no_flush = cache_triple(drive)
    if get_dialect(drive.dialect).legacy:
        # The seed: linux-aio only with O_DIRECT (cache=off), else posix-aio.
        aio = "native" if direct else "posix"
    else:
        aio = str(drive.aio or Aio.THREADS)
    return OpenPlan(
        path=drive.file, dialect=drive.dialect, format=drive.format,
        bdrv_flags=bdrv_flags(drive), open_flags=open_flags(drive),
        read_only=drive.effective_read_only, direct=direct,
        writethrough=not writeback, no_flush=no_flush, aio=aio,
        discard=str(drive.discard or "ignore"),
        detect_zeroes=str(drive.detect_zeroes or "off"),
        locking=drive.driver_options.get("file.locking", "auto"),
        werror=str(drive.werror or "enospc"), rerror=str(drive.rerror or "report"),
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


def _oo(value: bool) -> str:
    return "on" if value else "off"
