"""blockdev.c blockdev_init(): the options every drive's BlockBackend takes.

In QEMU's order: the common option table (qemu_common_drive_opts, read by
qemu_opts_absorb_qdict()), stats-intervals (qdict_array_split()), aio=, the throttling
limits (throttle_is_valid()), detect-zeroes=, format=, werror= and rerror=; then whether
the drive is empty (no file, no driver, no other option: a drive without medium).
"""

from __future__ import annotations

from . import rules
from ._qdict import Entry
from ._walk import Walk, absorb, first_key
from ..diagnostics import Diagnostic, Severity, Span, Stage, Stop, error
from ..model import Aio, DetectZeroes, ErrorAction
from ..options import COMMON_KEYS, LEGACY_KEYS, OPTIONS

__all__ = ["blockdev_init"]


# Built once: the walk runs these set operations for every drive it takes.
_ABSORBED = COMMON_KEYS - {"read-only", "copy-on-read"}  # drive_new() took these two
_HANDLED = LEGACY_KEYS | COMMON_KEYS | {"id"}


def blockdev_init(w: Walk) -> None:
    """blockdev.c blockdev_init() up to its blk_new_open()."""
    absorb(w, _ABSORBED, Stage.COMMON)
    w.conv.opened_read_only |= bool(w.draft.snapshot)
    _stats_intervals(w)
    _aio(w)
    limits = w.draft.throttling
    rules.check_throttling(limits, lambda key: _span_of_throttle(w, key))
    _enum_value(w, "detect-zeroes", DetectZeroes, "invalid parameter value: {v}")
    _format(w)
    _error_action(w, "werror", "'{v}' invalid write error action", True)
    _error_action(w, "rerror", "'{v}' invalid read error action", False)
    file = w.draft.file
    rest = [k for k in w.qdict if k not in _HANDLED]
    # blockdev_init() copies format= into the QDict as "driver", so it counts here.
    w.conv.empty = not file and not rest and w.draft.format is None


def _span_of_throttle(w: Walk, key: str | None) -> Span:
    if key and key in w.qdict:
        return w.qdict[key].span
    spans = [e.span for k, e in w.qdict.items() if k.startswith("throttling.")]
    return spans[-1] if spans else w.whole()


def _stats_intervals(w: Walk) -> None:
    # qdict_extract_subqdict() + qdict_array_split(): keys must be 0, 1, 2, ...
    prefix = "stats-intervals."
    sub = {k[len(prefix):]: e for k, e in w.qdict.items() if k.startswith(prefix)}
    if not sub:  # the common drive: nothing to split (the draft's default stays ())
        return
    values: list[Entry] = []
    while str(len(values)) in sub:
        values.append(sub.pop(str(len(values))))
    if sub:
        key = first_key(sub, sub)
        raise error("bad-stats-intervals", f"Invalid option stats-intervals.{key}",
                    sub[key].span, Stage.COMMON)
    parsed = [rules.stats_interval(e.value, e.span) for e in values]
    w.late_error = next((p for p in parsed if isinstance(p, Diagnostic)), None)
    w.draft.stats_intervals = tuple(p for p in parsed if isinstance(p, int))


def _aio(w: Walk) -> None:
    entry = w.qdict.get("aio")
    if entry is not None:
        try:
            w.draft.aio = Aio(entry.value)
        except ValueError:
            raise error("bad-aio", "invalid aio option", entry.span, Stage.COMMON,
                        hint="aio= takes threads, native or io_uring") from None


def _enum_value(w: Walk, key: str, enum: type, message: str) -> None:
    entry = w.qdict.get(key)
    if entry is None:
        return
    try:
        w.draft.put(OPTIONS[key].field, enum(entry.value))
    except ValueError:
        raise error("bad-enum", message.format(v=entry.value), entry.span,
                    Stage.COMMON) from None


def _format(w: Walk) -> None:
    entry = w.qdict.get("format")
    if entry is None:
        return
    if entry.value in ("help", "?"):
        # blockdev.c blockdev_init(): the list goes to stdout (qemu_printf) and the drive
        # is not made, with nothing on stderr: silent (the CLI prints the list,
        # qdrive.frontend.drivers.format_help)
        raise Stop(Diagnostic("format-help", Severity.ERROR, "format=help lists the block "
                              "formats; QEMU prints them and exits without starting",
                              entry.span, Stage.COMMON, silent=True))
    if "driver" in w.qdict:
        raise error("driver-and-format", "Cannot specify both 'driver' and 'format'",
                    w.qdict["driver"].span, Stage.COMMON)
    w.draft.format = entry.value


def _error_action(w: Walk, key: str, message: str, write: bool) -> None:
    entry = w.qdict.get(key)
    if entry is None:
        return
    ok = entry.value in ErrorAction.__members__.values() and (
        write or entry.value != ErrorAction.ENOSPC)
    if not ok:
        raise error("bad-error-action", message.format(v=entry.value), entry.span,
                    Stage.COMMON)
    w.draft.put(key, ErrorAction(entry.value))
