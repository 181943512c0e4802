"""The state of QEMU's walk over one -drive, shared by the converter's stages.

QEMU carries one -drive through softmmu/vl.c (the QemuOpts parse), blockdev.c drive_new()
and blockdev_init(), then block.c bdrv_open_inherit(); each stage of the converter
(``_opts_parse``, ``_drive_new``, ``_blockdev_init``, ``_bdrv_open``) reads and extends
the one :class:`Walk` those functions would share: the QDict built from the options, the
Drive being built (:class:`._draft.DriveDraft`), and what a later stage must report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from ._conversion import Conversion
from ._draft import DriveDraft
from ._qdict import Entry, qdict_order
from ..diagnostics import Diagnostic, Span, Stage, error
from ..dialect import DEFAULT, Dialect
from ..model import Interface
from ..options import OPTIONS, Kind
from ..probe import ProbeResult
from .._values import ValueProblem, parse_bool, parse_number

__all__ = ["Walk", "Placer", "HeaderReader", "absorb", "qdict_key", "sorted_keys",
           "first_key"]

Placer = Callable[[Interface, int, int, int, Span], tuple[int, int]]
"""drive_new()'s placement: (interface, bus, unit, index, span) -> (bus, unit)."""

HeaderReader = Callable[[str], ProbeResult]
"""Reads an image's header by name (qdrive.probe.probe_file), for the format probe."""


class Walk:
    """The state QEMU keeps while it works through one -drive."""

    def __init__(self, conv: Conversion, default_if: Interface, place: Placer,
                 assume_format: str = "raw", image: ProbeResult | None = None,
                 probe: bool = False, read_header: HeaderReader | None = None,
                 dialect: Dialect = DEFAULT) -> None:
        self.conv = conv
        self.dialect = dialect  # the QEMU whose overrides apply (qdrive/dialect.py)
        self.default_if = default_if
        self.place = place
        self.assume_format = assume_format  # the probe's pick when the drive names none
        self.image = image  # the header check() read, if it probed
        self.probe = probe  # children's images may be read (check(probe_files=True))
        self.read_header = read_header  # reads the image's header when the walk opens it
        self.draft = DriveDraft()  # the Drive's fields found so far
        self.qdict: dict[str, Entry] = {}
        self.explicit_cache: set[str] = set()
        self.leftover_cache: Entry | None = None
        self.late_error: Diagnostic | None = None  # reported after the image is open
        self.no_file_child: Span | None = None  # format driver without a file child
        self.json_file_ref: Entry | None = None  # json:{"file": "node"}
        self.json_nulls: set[str] = set()  # json: keys given as null (not "")

    def whole(self) -> Span:
        """The whole drive string: where QEMU's errors without an option point."""
        return Span(0, len(self.conv.text))

    def span(self, key: str) -> Span:
        """The span of ``key`` in the QDict, or an empty span."""
        entry = self.qdict.get(key)
        return entry.span if entry else Span(0, 0)


def qdict_key(key: str, entry: Entry) -> tuple[int, int]:
    """Where a QDict walk meets ``entry``: its bucket, then the newest entry first."""
    return (qdict_order(key), -entry.seq)


def sorted_keys(entries: Mapping[str, Entry], keys: Iterable[str] | None = None) -> list[str]:
    """``keys`` (default: all) of ``entries`` in the order a QDict walk meets them."""
    chosen = entries if keys is None else [k for k in keys if k in entries]
    return sorted(chosen, key=lambda k: qdict_key(k, entries[k]))


def first_key(keys: Iterable[str], entries: Mapping[str, Entry], *,
              cloned: bool = False) -> str:
    """The key of ``keys`` a QDict walk over ``entries`` meets first.

    ``cloned``: the walk is over a shallow clone (qdict_clone_shallow() reverses each
    bucket's list), so within a bucket the older entry comes first.
    """
    if cloned:
        return min(keys, key=lambda k: (qdict_order(k), entries[k].seq))
    return min(keys, key=lambda k: qdict_key(k, entries[k]))


def absorb(w: Walk, keys: Iterable[str], stage: Stage) -> None:
    """util/qemu-option.c qemu_opts_absorb_qdict(): typed parse of ``keys`` in QDict order."""
    # the callers pass frozensets (options.py's tables): no copy per drive
    wanted = keys if isinstance(keys, frozenset) else frozenset(keys)
    present = [e for k, e in w.qdict.items() if k in wanted]
    present.sort(key=lambda e: qdict_key(e.key, e))
    for entry in present:
        _store(w, entry, stage)


def _store(w: Walk, entry: Entry, stage: Stage) -> None:
    row = OPTIONS[entry.key]
    try:
        if row.kind is Kind.BOOL:
            value: object = parse_bool(entry.key, entry.value)
        elif row.kind is Kind.NUMBER:
            value = parse_number(entry.key, entry.value)
        else:
            value = entry.value
    except ValueProblem as p:
        raise error("bad-value", p.message, entry.span, stage, p.detail) from None
    if row.field == "throttling":
        assert isinstance(value, int)  # every throttling.* option is a number
        w.draft.throttling[entry.key] = value
    elif entry.item is not None or row.field not in ("cache_writeback", "cache_direct",
                                                     "cache_no_flush"):
        w.draft.put(row.field, value)
