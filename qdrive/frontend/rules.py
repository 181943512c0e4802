"""QEMU 7.2's cross-field rules for -drive, one function each.

Each docstring names the QEMU function it mirrors. The functions raise a
:class:`~qdrive.diagnostics.Stop` carrying QEMU's exact message, or return
a warning :class:`~qdrive.diagnostics.Diagnostic`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ._syntax import RawOption
from ..diagnostics import Diagnostic, Severity, Span, Stage, error
from ..model import Aio, Interface, Locking
from ..options import PROTOCOL_KEYS
from .placement import Slots
from .._values import ValueProblem, id_wellformed, parse_bool, parse_number

if TYPE_CHECKING:
    from ._qdict import Entry
    from .nodes import _Entry as AnyEntry  # an Entry or a derived option (nodes.py)

__all__ = [
    "ERROR_ACTION_INTERFACES", "FILE_POSIX_KEYS", "flag_warning", "place_alone",
    "check_throttling", "stats_interval", "native_needs_direct", "check_force_share",
    "check_node_name", "check_protocol_prefix", "check_file_posix_options",
    "check_format_choice",
]

# blockdev.c drive_new(): werror=/rerror= only for these interfaces.
ERROR_ACTION_INTERFACES = frozenset({Interface.IDE, Interface.SCSI, Interface.VIRTIO,
                                     Interface.NONE})
# block/file-posix.c raw_runtime_opts: the options table's PROTOCOL_KEYS, by the rules' name.
FILE_POSIX_KEYS = PROTOCOL_KEYS
THROTTLE_VALUE_MAX = 10**15


def flag_warning(item: RawOption) -> Diagnostic:
    """util/qemu-option.c get_opt_name_value(): the short-form boolean warning."""
    message, detail = _flag_texts(item.key, item.value, item.no_prefix)
    return Diagnostic("short-form-boolean", Severity.WARNING, message, item.span, Stage.PARSE,
                      detail)


@functools.lru_cache(maxsize=1024)
def _flag_texts(key: str, value: str, no_prefix: bool) -> tuple[str, str]:
    # Cached: a string of a million identical flags shares one pair of texts.
    prefix = "no" if no_prefix else ""
    if key == "delay":
        detail = f"Please use nodelay={'on' if prefix else 'off'} instead"
    else:
        detail = f"Please use {key}={value} instead"
    return f"short-form boolean option '{prefix}{key}' deprecated", detail


def place_alone(iface: Interface, bus: int, unit: int, index: int, span: Span
                ) -> tuple[int, int]:
    """blockdev.c drive_new() placement for a drive with no other drives around."""
    return Slots().place(iface, bus, unit, index, span)


_BUCKETS = ("bps-total", "bps-read", "bps-write", "iops-total", "iops-read", "iops-write")


def check_throttling(limits: Mapping[str, int], span_of: Callable[[str | None], Span]) -> None:
    """util/throttle.c throttle_is_valid(), buckets in ThrottleBucketType order."""
    if not limits:
        return  # every default (0 limits, burst length 1) is valid
    def get(name: str, default: int = 0) -> int:
        return limits.get(f"throttling.{name}", default)

    def both(suffix: str) -> bool:
        return any(get(f"{w}-total{suffix}") and (get(f"{w}-read{suffix}") or
                                                   get(f"{w}-write{suffix}"))
                   for w in ("bps", "iops"))

    if both("") or both("-max"):
        raise error("throttle-total-and-rw", "bps/iops/max total values and read/write "
                    "values cannot be used at the same time", span_of(None), Stage.COMMON)
    if get("iops-size") and not any(get(f"iops-{d}") for d in ("total", "read", "write")):
        raise error("throttle-iops-size", "iops size requires an iops value to be set",
                    span_of("throttling.iops-size"), Stage.COMMON)
    for b in _BUCKETS:
        _check_bucket(b, get(b), get(f"{b}-max"), get(f"{b}-max-length", 1), span_of)


def _check_bucket(name: str, avg: int, peak: int, length: int,
                  span_of: Callable[[str | None], Span]) -> None:
    key = f"throttling.{name}"
    if avg > THROTTLE_VALUE_MAX or peak > THROTTLE_VALUE_MAX:
        raise error("throttle-range", f"bps/iops/max values must be within [0, "
                    f"{THROTTLE_VALUE_MAX}]", span_of(key if avg > THROTTLE_VALUE_MAX else
                                                       key + "-max"), Stage.COMMON)
    problem = ""
    if not length:
        problem = "the burst length cannot be 0"
    elif length > 1 and not peak:
        problem = "burst length set without burst rate"
    elif peak and length > THROTTLE_VALUE_MAX // peak:
        problem = "burst length too high for this burst rate"
    if problem:
        raise error("throttle-burst", problem, span_of(key + "-max-length"), Stage.COMMON)
    if peak and not avg:
        raise error("throttle-max-without-avg", "bps_max/iops_max require corresponding "
                    "bps/iops values", span_of(key + "-max"), Stage.COMMON)
    if peak and peak < avg:
        raise error("throttle-max-below-avg", "bps_max/iops_max cannot be lower than "
                    "bps/iops", span_of(key + "-max"), Stage.COMMON)


def stats_interval(value: str, span: Span) -> int | Diagnostic:
    """blockdev.c parse_stats_intervals(): a decimal number of seconds, 1..UINT_MAX.

    Returns the number, or the error QEMU reports after the image is open.
    """
    if value.isdigit() and value.isascii() and 0 < int(value) <= 0xFFFFFFFF:
        return int(value)
    return Diagnostic("bad-stats-interval", Severity.ERROR, f"Invalid interval length: {value}",
                      span, Stage.MONITOR)


def native_needs_direct(span: Span) -> None:
    """block/file-posix.c raw_open_common(): linux-aio only with O_DIRECT."""
    raise error("native-needs-direct", "aio=native was specified, but it requires "
                "cache.direct=on, which was not specified.", span, Stage.FILE_CHECKS,
                hint="try cache=none (or cache.direct=on)")


def check_force_share(force_share: object, read_only: bool, span: Span,
                      stage: Stage = Stage.NODE) -> None:
    """block.c bdrv_open_common(): force-share=on needs a read-only node (``stage``: a
    protocol node's comes before its file is opened)."""
    if force_share and not read_only:
        raise error("force-share-rw", "force-share=on can only be used with read-only images",
                    span, stage, hint="add read-only=on")


def check_node_name(entry: Entry | None, stage: Stage) -> None:
    """block.c bdrv_assign_node_name(): an identifier of at most 31 characters."""
    if entry is None:
        return
    if not id_wellformed(entry.value):
        raise error("bad-node-name", f"Invalid node-name: '{entry.value}'", entry.span, stage)
    if len(entry.value.encode()) >= 32:
        raise error("node-name-too-long", "Node name too long", entry.span, stage)


# block/qcow2.c qcow2_update_options_prepare(): overlap-check templates.
_QCOW2_CHOICES = {"overlap-check": ("none", "constant", "cached", "all"),
                  "overlap-check.template": ("none", "constant", "cached", "all")}


def check_format_choice(driver: str, key: str, entry: Entry) -> None:
    """A format option with a fixed set of values (qcow2's overlap-check)."""
    choices = _QCOW2_CHOICES.get(key) if driver == "qcow2" else None
    if choices is not None and entry.value not in choices:
        raise error("bad-format-option", f"Unsupported value '{entry.value}' for qcow2 option "
                    f"'overlap-check'. Allowed are any of the following: {', '.join(choices)}",
                    entry.span, Stage.NODE)


def check_protocol_prefix(filename: str, span: Span, known: frozenset[str]) -> None:
    """block.c bdrv_find_protocol(): a ``name:`` before any '/' picks a protocol."""
    colon = filename.find(":")
    slash = filename.find("/")
    if colon <= 0 or (0 <= slash < colon):
        return
    prefix = filename[:colon]
    if prefix not in known:
        raise error("unknown-protocol", f"Unknown protocol '{prefix}'", span, Stage.FILL,
                    hint="write ./NAME for a local file whose name contains ':'")


_AIO = tuple(a.value for a in Aio)  # file-posix.c raw_runtime_opts "aio" (BlockdevAioOptions)
_LOCKING = tuple(m.value for m in Locking)  # OnOffAuto


def check_file_posix_options(child: Mapping[str, AnyEntry], stage: Stage = Stage.CHILD) -> None:
    """block/file-posix.c raw_open_common(): qemu_opts_absorb_qdict() types aio-max-batch,
    drop-cache and x-check-cache-dropped first, then aio and locking are parsed as enums
    (qapi_enum_parse), all before the file is opened."""
    for key, entry in child.items():
        try:
            if key == "aio-max-batch":
                parse_number(key, entry.value)
            elif key in ("drop-cache", "x-check-cache-dropped"):
                parse_bool(key, entry.value)
        except ValueProblem as p:
            raise error("bad-value", p.message, entry.span, stage) from None
    for key, allowed in (("aio", _AIO), ("locking", _LOCKING)):
        found = child.get(key)
        if found is not None and found.value not in allowed:
            raise error("bad-enum", f"invalid parameter value: {found.value}", found.span,
                        stage)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
