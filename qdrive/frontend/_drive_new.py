"""blockdev.c drive_new(): the legacy -drive options, before any node exists.

In QEMU's order: opt_renames[] (qemu_opt_rename()), cache= expanded into its three
cache.* booleans, qemu_opts_to_qdict(), the legacy option table
(qemu_legacy_drive_opts), media= and read-only, if=, the drive's placement
(drive_get_by_index() and friends) and werror/rerror against the bus type.
"""

from __future__ import annotations

from . import rules
from ._qdict import Entry
from ._walk import Walk, absorb
from ..diagnostics import Diagnostic, Severity, Span, Stage, error
from ..model import CACHE_MODES, CacheMode, Interface, Media
from ..options import ALIASES, LEGACY_KEYS
from .._values import to_int32

__all__ = ["drive_new", "CACHE_TRIPLES"]

# block.c bdrv_parse_cache_mode() by the names -drive spells (the model's table; "off" is
# the old spelling of "none" that bdrv_parse_cache_mode still reads).
CACHE_TRIPLES = {m.value: t for m, t in CACHE_MODES.items()} | {"off": CACHE_MODES[CacheMode.NONE]}


def drive_new(w: Walk) -> None:
    """blockdev.c drive_new() up to its call of blockdev_init()."""
    opts = [Entry(i.key, i.value, i, n) for n, i in enumerate(w.conv.items) if i.key != "id"]
    opts = _renames(opts)
    opts = _expand_cache(w, opts)
    for entry in opts:  # qemu_opts_to_qdict(): later keys replace earlier values
        old = w.qdict.get(entry.key)
        if old is not None:
            entry.seq = old.seq
        w.qdict[entry.key] = entry
    absorb(w, LEGACY_KEYS, Stage.LEGACY)
    _media_and_read_only(w)
    _interface(w)
    _placement(w)
    _bus_error_options(w)


def _renames(opts: list[Entry]) -> list[Entry]:
    # qemu_opt_rename(): a repeated alias ends up reversed, so its first value wins.
    present = {e.key for e in opts}
    if present.isdisjoint(ALIASES):
        return opts
    for old, new in ALIASES.items():
        if old not in present:
            continue
        olds = [e for e in opts if e.key == old]
        if any(e.key == new for e in opts):
            raise error("alias-conflict", f"'{new}' and its alias '{old}' can't be used "
                        "at the same time", olds[-1].span, Stage.LEGACY)
        opts = [e for e in opts if e.key != old]
        opts += [Entry(new, e.value, e.item, len(opts) + n + 10_000)
                 for n, e in enumerate(reversed(olds))]
    return opts


def _expand_cache(w: Walk, opts: list[Entry]) -> list[Entry]:
    """cache=MODE becomes cache.writeback/direct/no-flush unless given explicitly."""
    caches = [e for e in opts if e.key == "cache"]
    w.explicit_cache = {e.key for e in opts if e.key.startswith("cache.")}
    if not caches:
        return opts
    last = caches[-1]
    triple = CACHE_TRIPLES.get(last.value)
    if triple is None:
        raise error("bad-cache", "invalid cache option", last.span, Stage.LEGACY,
                    hint="cache= takes writeback, none, writethrough, directsync or unsafe")
    w.draft.cache = CacheMode.NONE if last.value == "off" else CacheMode(last.value)
    opts = [e for e in opts if e is not last]
    names = ("cache.writeback", "cache.direct", "cache.no-flush")
    for key, on in zip(names, triple, strict=True):
        if key not in w.explicit_cache:
            opts.append(Entry(key, "on" if on else "off", None, 20_000 + len(opts)))
    if len(caches) > 1:  # qemu_opt_unset() removes only the last one
        w.leftover_cache = caches[-2]
    return opts


def _media_and_read_only(w: Walk) -> None:
    media = w.qdict.get("media")
    if media is not None:
        if media.value not in ("disk", "cdrom"):
            raise error("bad-media", f"'{media.value}' invalid media", media.span,
                        Stage.LEGACY, hint="media= takes disk or cdrom")
        w.draft.media = Media(media.value)
    read_only = w.draft.read_only_so_far
    w.conv.opened_read_only = read_only
    if read_only and w.draft.copy_on_read:
        span = w.qdict["copy-on-read"].span
        w.conv.warnings.append(Diagnostic(
            "cor-read-only", Severity.WARNING, "disabling copy-on-read on read-only drive",
            span, Stage.LEGACY))


def _interface(w: Walk) -> None:
    entry = w.qdict.get("if")
    if entry is None:
        return
    try:
        w.draft.interface = Interface(entry.value)
    except ValueError:
        raise error("bad-if", f"unsupported bus type '{entry.value}'", entry.span,
                    Stage.LEGACY) from None


def _placement(w: Walk) -> None:
    iface = w.draft.interface or w.default_if
    assert isinstance(iface, Interface)
    bus, unit, index = w.draft.bus, w.draft.unit, w.draft.index
    span = next((w.qdict[k].span for k in ("index", "unit", "bus") if k in w.qdict),
                Span(0, len(w.conv.text)))
    w.place(iface, _int(bus, 0), _int(unit, -1), _int(index, -1), span)


def _bus_error_options(w: Walk) -> None:
    iface = w.draft.interface or w.default_if
    for key in ("werror", "rerror"):
        entry = w.qdict.get(key)
        if entry is not None and iface not in rules.ERROR_ACTION_INTERFACES:
            raise error("error-action-bus", f"{key} is not supported by this bus type",
                        entry.span, Stage.BUS_OPTIONS,
                        hint="werror/rerror work with if=ide, scsi, virtio or none")


def _int(value: object, default: int) -> int:
    return to_int32(value) if isinstance(value, int) else default
