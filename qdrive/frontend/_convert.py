"""Raw options -> Drive for QEMU 7.2, in the order QEMU itself looks at them.

QEMU stops at the first error, so the order of the checks *is* the behaviour:
this module walks softmmu/vl.c (parse), blockdev.c drive_new() and
blockdev_init(), then block.c bdrv_open_inherit() for the parts that need no
file. Where QEMU walks a QDict, keys are visited in QDict bucket order
(:func:`qdrive.frontend._qdict.qdict_order`), which is how QEMU picks which of two bad
options it names. The result is a :class:`Conversion`: the Drive (or None),
warnings, at most one error, and what placement and file probing need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs

from . import rules
from ._syntax import RawOption
from ._conversion import Conversion
from ._qdict import Entry, qdict_order
from . import fastpath, formats, jsonname, opentime
from ..diagnostics import Diagnostic, Severity, Span, Stage, Stop, error
from ..model import (
    CACHE_MODES, Aio, CacheMode, DetectZeroes, Discard, Drive, ErrorAction, Interface, Media,
)
from ..probe import ProbeResult
from ..options import (
    ALIASES,
    COMMON_KEYS,
    FORMAT_KEYS,
    LEGACY_KEYS,
    NODE_KEYS,
    OPTIONS,
    TABLE_KEYS,
    FILE_POSIX_DRIVERS,
    KNOWN_DRIVERS,
    PROTOCOL_DRIVERS,
    PROTOCOL_PREFIXES,
    Kind,
)
from .._values import (
    ValueProblem,
    id_wellformed,
    is_true,
    parse_bool,
    parse_number,
    parse_size,
    to_int32,
)

__all__ = ["Entry", "Conversion", "convert_72", "walk_72", "CACHE_TRIPLES", "KNOWN_DRIVERS"]

# block.c bdrv_parse_cache_mode() by the names -drive spells (the model's table; "off" is
# the old spelling of "none" that bdrv_parse_cache_mode still reads).
CACHE_TRIPLES = {m.value: t for m, t in CACHE_MODES.items()} | {"off": CACHE_MODES[CacheMode.NONE]}


Placer = Callable[[Interface, int, int, int, Span], tuple[int, int]]


def convert_72(text: str, items: list[RawOption], default_if: Interface,
               place: Placer | None = None, assume_format: str = "raw",
               image: ProbeResult | None = None, probe: bool = False) -> Conversion:
    """Run QEMU 7.2's -drive checks over ``items``; never raises.

    ``assume_format`` is the format probing would pick when the drive names none
    (check() passes what it found in the file; the string alone suggests raw).
    ``image`` is the image's header when check() probed it (its backing file name,
    its size); None keeps the verdict to what the string alone decides. ``probe``
    lets the node graph read the headers of the images its children name.
    """
    place = place or rules.place_alone
    # The shortcut judges the string alone: with an image header or children to read,
    # the node graph (frontend/opentime.py) may find what a plain string cannot say.
    fast = fastpath.convert(text, items, default_if, place) if image is None and not probe \
        else None
    if fast is not None:  # a plain drive: the walk could only agree
        return fast
    return walk_72(text, items, default_if, place, assume_format, image, probe)


def walk_72(text: str, items: list[RawOption], default_if: Interface,
            place: Placer | None = None, assume_format: str = "raw",
            image: ProbeResult | None = None, probe: bool = False) -> Conversion:
    """convert_72 without the plain-drive shortcut: every check, in QEMU's order."""
    conv = Conversion(text, items=items)
    run = _Run(conv, default_if, place or rules.place_alone, assume_format)
    run.image = image
    run.probe = probe
    try:
        run.parse_stage()
        run.legacy_stage()
        run.common_stage()
        run.open_stage()
    except Stop as stop:
        conv.error = stop.diagnostic
        return conv
    conv.drive = run.build()
    return conv


class _Run:
    """The state QEMU keeps while it works through one -drive."""

    def __init__(self, conv: Conversion, default_if: Interface, place: Placer,
                 assume_format: str = "raw") -> None:
        self.conv = conv
        self.assume_format = assume_format
        self.no_file_child: Span | None = None  # format driver without a file child
        self.default_if = default_if
        self.place = place
        self.f: dict[str, object] = {}  # Drive fields found so far
        self.qdict: dict[str, Entry] = {}
        self.explicit_cache: set[str] = set()
        self.leftover_cache: Entry | None = None
        self.late_error: Diagnostic | None = None  # reported after the image is open
        self.image: ProbeResult | None = None  # the header check() read, if it probed
        self.probe = False  # children's images may be read (check(probe_files=True))
        self.json_file_ref: Entry | None = None  # json:{"file": "node"}
        self.json_nulls: set[str] = set()  # json: keys given as null (not "")

    # -- util/qemu-option.c opts_parse() -------------------------------------------------
    def parse_stage(self) -> None:
        items = self.conv.items
        first_id = next((i for i in items if i.key == "id"), None)
        if first_id is not None:
            self.conv.id_span = first_id.span
            if not id_wellformed(first_id.value):
                raise error("bad-id", "Parameter 'id' expects an identifier", first_id.span,
                            Stage.PARSE, "Identifiers consist of letters, digits, '-', '.', "
                            "'_', starting with a letter.")
            self.f["id"] = first_id.value
        for item in items:
            if item.flag and not (not item.no_prefix and item.key in ("help", "?")):
                self.conv.warnings.append(rules.flag_warning(item))

    # -- blockdev.c drive_new() -----------------------------------------------------------
    def legacy_stage(self) -> None:
        opts = [Entry(i.key, i.value, i, n) for n, i in enumerate(self.conv.items)
                if i.key != "id"]
        opts = self._renames(opts)
        opts = self._expand_cache(opts)
        for entry in opts:  # qemu_opts_to_qdict(): later keys replace earlier values
            old = self.qdict.get(entry.key)
            if old is not None:
                entry.seq = old.seq
            self.qdict[entry.key] = entry
        self._absorb(LEGACY_KEYS, Stage.LEGACY)
        self._media_and_read_only()
        self._interface()
        self._placement()
        self._bus_error_options()

    def _renames(self, opts: list[Entry]) -> list[Entry]:
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

    def _expand_cache(self, opts: list[Entry]) -> list[Entry]:
        caches = [e for e in opts if e.key == "cache"]
        self.explicit_cache = {e.key for e in opts if e.key.startswith("cache.")}
        if not caches:
            return opts
        last = caches[-1]
        triple = CACHE_TRIPLES.get(last.value)
        if triple is None:
            raise error("bad-cache", "invalid cache option", last.span, Stage.LEGACY,
                        hint="cache= takes writeback, none, writethrough, directsync or unsafe")
        self.f["cache"] = CacheMode.NONE if last.value == "off" else CacheMode(last.value)
        opts = [e for e in opts if e is not last]
        names = ("cache.writeback", "cache.direct", "cache.no-flush")
        for key, on in zip(names, triple, strict=True):
            if key not in self.explicit_cache:
                opts.append(Entry(key, "on" if on else "off", None, 20_000 + len(opts)))
        if len(caches) > 1:  # qemu_opt_unset() removes only the last one
            self.leftover_cache = caches[-2]
        return opts


    def _absorb(self, keys: Iterable[str], stage: Stage) -> None:
        """qemu_opts_absorb_qdict(): typed parse of ``keys`` in QDict order."""
        present = [e for k, e in self.qdict.items() if k in keys]
        present.sort(key=lambda e: (qdict_order(e.key), -e.seq))
        for entry in present:
            self._store(entry, stage)

    def _store(self, entry: Entry, stage: Stage) -> None:
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
            limits: dict[str, object] = self.f.setdefault("throttling", {})  # type: ignore
            limits[entry.key] = value
        elif entry.item is not None or row.field not in ("cache_writeback", "cache_direct",
                                                         "cache_no_flush"):
            self.f[row.field] = value

    def _media_and_read_only(self) -> None:
        media = self.qdict.get("media")
        if media is not None:
            if media.value not in ("disk", "cdrom"):
                raise error("bad-media", f"'{media.value}' invalid media", media.span,
                            Stage.LEGACY, hint="media= takes disk or cdrom")
            self.f["media"] = Media(media.value)
        read_only = bool(self.f.get("read_only")) or self.f.get("media") is Media.CDROM
        self.conv.opened_read_only = read_only
        if read_only and self.f.get("copy_on_read"):
            span = self.qdict["copy-on-read"].span
            self.conv.warnings.append(Diagnostic(
                "cor-read-only", Severity.WARNING, "disabling copy-on-read on read-only drive",
                span, Stage.LEGACY))

    def _interface(self) -> None:
        entry = self.qdict.get("if")
        if entry is None:
            return
        try:
            self.f["interface"] = Interface(entry.value)
        except ValueError:
            raise error("bad-if", f"unsupported bus type '{entry.value}'", entry.span,
                        Stage.LEGACY) from None

    def _placement(self) -> None:
        iface = self.f.get("interface") or self.default_if
        assert isinstance(iface, Interface)
        bus, unit, index = (self.f.get(k) for k in ("bus", "unit", "index"))
        span = next((self.qdict[k].span for k in ("index", "unit", "bus") if k in self.qdict),
                    Span(0, len(self.conv.text)))
        self.place(iface, _int(bus, 0), _int(unit, -1), _int(index, -1), span)

    def _bus_error_options(self) -> None:
        iface = self.f.get("interface") or self.default_if
        for key in ("werror", "rerror"):
            entry = self.qdict.get(key)
            if entry is not None and iface not in rules.ERROR_ACTION_INTERFACES:
                raise error("error-action-bus", f"{key} is not supported by this bus type",
                            entry.span, Stage.BUS_OPTIONS,
                            hint="werror/rerror work with if=ide, scsi, virtio or none")

    # -- blockdev.c blockdev_init() -------------------------------------------------------
    def common_stage(self) -> None:
        self._absorb(COMMON_KEYS - {"read-only", "copy-on-read"}, Stage.COMMON)
        self.conv.opened_read_only |= bool(self.f.get("snapshot"))
        self._stats_intervals()
        self._aio()
        limits: dict[str, int] = self.f.get("throttling") or {}  # type: ignore[assignment]
        rules.check_throttling(limits, self._span_of_throttle)
        self._enum_value("detect-zeroes", DetectZeroes, "invalid parameter value: {v}")
        self._format()
        self._error_action("werror", "'{v}' invalid write error action", True)
        self._error_action("rerror", "'{v}' invalid read error action", False)
        handled = LEGACY_KEYS | COMMON_KEYS | {"id"}
        file = self.f.get("file")
        rest = [k for k in self.qdict if k not in handled]
        # blockdev_init() copies format= into the QDict as "driver", so it counts here.
        self.conv.empty = not file and not rest and "format" not in self.f

    def _span_of_throttle(self, key: str | None) -> Span:
        if key and key in self.qdict:
            return self.qdict[key].span
        spans = [e.span for k, e in self.qdict.items() if k.startswith("throttling.")]
        return spans[-1] if spans else Span(0, len(self.conv.text))

    def _stats_intervals(self) -> None:
        # qdict_extract_subqdict() + qdict_array_split(): keys must be 0, 1, 2, ...
        prefix = "stats-intervals."
        sub = {k[len(prefix):]: e for k, e in self.qdict.items() if k.startswith(prefix)}
        values: list[Entry] = []
        while str(len(values)) in sub:
            values.append(sub.pop(str(len(values))))
        if sub:
            key = min(sub, key=lambda k: (qdict_order(k), -sub[k].seq))
            raise error("bad-stats-intervals", f"Invalid option stats-intervals.{key}",
                        sub[key].span, Stage.COMMON)
        parsed = [rules.stats_interval(e.value, e.span) for e in values]
        self.late_error = next((p for p in parsed if isinstance(p, Diagnostic)), None)
        self.f["stats_intervals"] = tuple(p for p in parsed if isinstance(p, int))

    def _aio(self) -> None:
        entry = self.qdict.get("aio")
        if entry is not None:
            try:
                self.f["aio"] = Aio(entry.value)
            except ValueError:
                raise error("bad-aio", "invalid aio option", entry.span, Stage.COMMON,
                            hint="aio= takes threads, native or io_uring") from None

    def _enum_value(self, key: str, enum: type, message: str) -> None:
        entry = self.qdict.get(key)
        if entry is None:
            return
        try:
            self.f[OPTIONS[key].field] = enum(entry.value)
        except ValueError:
            raise error("bad-enum", message.format(v=entry.value), entry.span,
                        Stage.COMMON) from None

    def _format(self) -> None:
        entry = self.qdict.get("format")
        if entry is None:
            return
        if entry.value in ("help", "?"):
            raise error("format-help", "format=help lists the block formats; QEMU prints "
                        "them and exits without starting", entry.span, Stage.COMMON)
        if "driver" in self.qdict:
            raise error("driver-and-format", "Cannot specify both 'driver' and 'format'",
                        self.qdict["driver"].span, Stage.COMMON)
        self.f["format"] = entry.value

    def _error_action(self, key: str, message: str, write: bool) -> None:
        entry = self.qdict.get(key)
        if entry is None:
            return
        ok = entry.value in ErrorAction.__members__.values() and (
            write or entry.value != ErrorAction.ENOSPC)
        if not ok:
            raise error("bad-error-action", message.format(v=entry.value), entry.span,
                        Stage.COMMON)
        self.f[key] = ErrorAction(entry.value)

    # -- block.c bdrv_open_inherit(), without touching the file ---------------------------
    def open_stage(self) -> None:
        if self.conv.empty:
            return
        self._json_name()
        driver_entry = self.qdict.get("driver") or self.qdict.get("format")
        driver = driver_entry.value if driver_entry else None
        if driver is not None and driver not in KNOWN_DRIVERS:
            raise error("unknown-driver", f"Unknown driver '{driver}'", driver_entry.span
                        if driver_entry else Span(0, 0), Stage.FILL)
        self.conv.format_probed = driver is None
        self._backing_null()
        if self.json_file_ref is not None:  # {"file": "name"}: a reference to a node
            raise Stop(attrs.evolve(opentime.reference_error(self.json_file_ref),
                                    stage=Stage.CHILD))
        child = {k[5:]: e for k, e in self.qdict.items() if k.startswith("file.")}
        protocol = driver in PROTOCOL_DRIVERS
        if protocol:  # the drive's node is itself the protocol node: no file child
            child = {}
        file_entry = self.qdict.get("file")
        has_file = bool(file_entry and file_entry.value)
        if has_file or child:
            self._child_node(child, file_entry if has_file else None)
        elif driver is not None and not protocol:
            # Reported by the format driver's open, after the node's own options.
            self.no_file_child = driver_entry.span if driver_entry else Span(0, 0)
        elif driver is None:
            raise error("no-driver-or-file", "Must specify either driver or file",
                        Span(0, len(self.conv.text)), Stage.FILE_CHECKS,
                        hint="add file=PATH (an empty drive takes only if=, media= and "
                             "read-only=)")
        self._node(driver or self.assume_format, protocol)
        if self.late_error is not None:
            raise Stop(self.late_error)

    def _json_name(self) -> None:
        """block.c parse_json_protocol(): file=json:{...} becomes the node's options
        (qdrive/frontend/jsonname.py); keys the drive already has are kept."""
        entry = self.qdict.get("file")
        if entry is None or not entry.value.startswith(jsonname.PREFIX):
            return
        try:
            parsed = jsonname.parse(entry.value)
        except jsonname.JsonNameError as e:
            raise error("json-name", str(e), entry.span, Stage.FILL) from None
        del self.qdict["file"]
        present = set(self.qdict) | ({"driver"} if "format" in self.qdict else set())
        for n, (key, value) in enumerate(parsed.items()):
            if key in present:
                continue
            new = Entry(key, "" if value is None else value, entry.item, 30_000 + n)
            if value is None:
                self.json_nulls.add(key)
            if key == "file":
                self.json_file_ref = new
                continue
            self.qdict[key] = new

    def _child_node(self, child: dict[str, Entry], file_entry: Entry | None) -> None:
        if file_entry is not None and "filename" in child:
            raise error("file-and-filename", "Can't specify 'file' and 'filename' options at "
                        "the same time", child["filename"].span, Stage.FILL)
        name = file_entry.value if file_entry else (child["filename"].value
                                                    if "filename" in child else "")
        if "driver" in child and child["driver"].value not in KNOWN_DRIVERS:
            raise error("unknown-driver", f"Unknown driver '{child['driver'].value}'",
                        child["driver"].span, Stage.FILL)
        if "driver" in child and opentime.format_child(child["driver"].value):
            self._format_child(child, name)
            return
        if "driver" not in child:
            if not name:  # file.* options but no file name: the child node has nothing
                raise error("no-driver-or-file", "Must specify either driver or file",
                            next(iter(child.values())).span, Stage.FILL)
            rules.check_protocol_prefix(name, file_entry.span if file_entry else Span(0, 0),
                                        PROTOCOL_PREFIXES)
        inherited = ("cache.direct", "cache.no-flush", "force-share")
        merged: dict[str, Entry] = {k: self.qdict[k] for k in inherited if k in self.qdict}
        merged.update((k, e) for k, e in child.items() if k in NODE_KEYS)
        for key, entry in sorted(merged.items(), key=lambda kv: (qdict_order(kv[0]),
                                                                 -kv[1].seq)):
            if key in ("cache.direct", "cache.no-flush", "force-share", "read-only",
                       "auto-read-only"):
                _typed(key, entry, Kind.BOOL, Stage.CHILD)
        if child.get("driver") and child["driver"].value in FILE_POSIX_DRIVERS and not name:
            # block.c bdrv_open_common(): file-posix drivers set bdrv_needs_filename
            driver = child["driver"].value
            raise error("needs-filename", f"The '{driver}' block driver requires a file name",
                        child["driver"].span, Stage.CHILD)
        if "discard" in child:  # the protocol node's own bdrv_open_common()
            _discard(child["discard"], Stage.CHILD)
        rules.check_node_name(child.get("node-name"), Stage.CHILD)
        rules.check_file_posix_options(child)
        # The protocol node's cache.direct: its own file.cache.direct, else the inherited one.
        direct = merged.get("cache.direct")
        aio = child.get("aio") or self.qdict.get("aio")
        if aio is not None and aio.value == "native" and not (direct and is_true(direct.value)):
            rules.native_needs_direct(aio.span)
        driver = child["driver"].value if "driver" in child else opentime.protocol_of(name)
        # The protocol driver's own runtime options (null-co's read-zeroes, curl's url):
        # hook into qdrive/frontend/opentime.py (the derived tables).
        opentime.protocol_checks(driver, child, name, file_entry.span if file_entry else
                                 Span(0, len(self.conv.text)), self.probe,
                                 self.conv.opened_read_only, self.conv.warnings)
        unknown = [k for k in child if k not in NODE_KEYS and k not in
                   rules.FILE_POSIX_KEYS and not opentime.consumed_by(driver, k)]
        if unknown:
            key = min(unknown, key=lambda k: (qdict_order(k), -child[k].seq))
            raise error("protocol-option", f"Block protocol '{driver}' doesn't support the "
                        f"option '{key}'", child[key].span, Stage.CHILD_LEFTOVER)
        if self.conv.format_probed:  # what the probe reads through a protocol (null-co)
            self.conv.seen, self.conv.seen_name = opentime.protocol_content(
                driver, name, self.probe, file_entry.span if file_entry else
                Span(0, len(self.conv.text)), self.conv.opened_read_only,
                self.conv.warnings)
        self.f["driver_options"] = {f"file.{k}": e.value for k, e in child.items()}

    def _format_child(self, child: dict[str, Entry], name: str) -> None:
        """file.driver=<format or filter>: a node graph below the drive's node (hook into
        qdrive/frontend/nodes.py); what the top format's probe reads comes back as
        ``conv.seen``."""
        problem, seen, seen_name = opentime.format_child_open(child, name, self.probe,
                                                   Span(0, len(self.conv.text)))
        if problem is not None:
            raise Stop(attrs.evolve(problem, stage=min(problem.stage, Stage.CHILD)))
        self.conv.seen, self.conv.seen_name = seen, seen_name
        self.f["driver_options"] = {f"file.{k}": e.value for k, e in child.items()}

    def _node(self, driver: str, protocol: bool) -> None:
        node_keys = NODE_KEYS - {"driver"}
        for key in sorted((k for k in node_keys if k in self.qdict),
                          key=lambda k: (qdict_order(k), -self.qdict[k].seq)):
            entry = self.qdict[key]
            if key in ("cache.direct", "cache.no-flush", "auto-read-only", "force-share"):
                value = _typed(key, entry, Kind.BOOL, Stage.NODE)
                if entry.item is not None:  # not a value cache= expanded into
                    self.f[OPTIONS[key].field] = value
        read_only = bool(self.f.get("read_only")) or self.f.get("media") is Media.CDROM
        rules.check_force_share(self.f.get("force_share"), read_only, self._span("force-share"))
        self._discard()
        rules.check_node_name(self.qdict.get("node-name"), Stage.NODE)
        if "node-name" in self.qdict:
            self.f["node_name"] = self.qdict["node-name"].value
        self._format_options(driver, protocol)

    def _backing_null(self) -> None:
        """block.c bdrv_open_inherit(): backing="" is taken as null (no backing file, so
        the backing.* options go unused) with a deprecation warning, before the file
        child opens."""
        entry = self.qdict.get("backing")
        if entry is not None and entry.value == "" and entry.item is not None \
                and "backing" not in self.json_nulls:
            self.conv.warnings.append(Diagnostic(
                "backing-empty", Severity.WARNING, 'Use of "backing": "" is deprecated; '
                'use "backing": null instead', entry.span, Stage.CHILD))

    def _missing_file_child(self) -> None:
        assert self.no_file_child is not None
        driver = self.qdict.get("driver") or self.qdict.get("format")
        raise error("no-file-child", formats.missing_file_message(
            driver.value if driver is not None else ""), self.no_file_child, Stage.NODE,
            hint="add file=PATH")

    def _span(self, key: str) -> Span:
        entry = self.qdict.get(key)
        return entry.span if entry else Span(0, 0)

    def _discard(self) -> None:
        entry = self.qdict.get("discard")
        if entry is not None:
            self.f["discard"] = _discard(entry, Stage.NODE)

    def _format_options(self, driver: str, protocol: bool) -> None:
        """The format driver's own options, then QEMU's check for unused ones."""
        taken = TABLE_KEYS
        info = opentime.driver_info(driver)
        kinds = FORMAT_KEYS.get(driver) or opentime.kinds(info)
        # block/raw-format.c raw_open() reads offset/size before it looks for its file
        # child; the other format drivers look for the child first.
        if self.no_file_child is not None and not opentime.has_file_child(info):
            self.no_file_child = None  # blkreplay, quorum ...: other children instead
        if self.no_file_child is not None and driver != "raw":
            self._missing_file_child()
        rest = {k: e for k, e in self.qdict.items() if k not in taken
                and not k.startswith("file.") and not k.startswith("stats-intervals.")}
        options = dict(self.f.get("driver_options") or {})  # type: ignore[call-overload]
        values: dict[str, object] = {}
        for key in sorted(rest, key=lambda k: (qdict_order(k), -rest[k].seq)):
            if key in kinds and (driver in FORMAT_KEYS or opentime.typed(info, key)):
                values[key] = _typed(key, rest[key], kinds[key], Stage.NODE,
                                     self.conv.warnings)
                rules.check_format_choice(driver, key, rest[key])
        if self.no_file_child is not None:
            self._missing_file_child()
        if driver == "raw" and ("offset" in values or "size" in values):
            self._raw_limits(values, rest)
        # The node's other children (backing.*, data-file.*, image.* ...): hook into
        # qdrive/frontend/opentime.py, which walks block.c's order for them.
        if protocol and info is not None and info.needs_filename:
            # block.c bdrv_open_common(): file-posix drivers need a name (filename= or file=)
            names = (rest.get("filename"), self.qdict.get("file"))
            if not any(e is not None and e.value for e in names):
                span = self.qdict["driver"].span if "driver" in self.qdict else Span(0, 0)
                raise error("needs-filename", f"The '{driver}' block driver requires a file "
                            "name", span, Stage.NODE)
        opentime.node_checks(info, rest, self.image, Span(0, len(self.conv.text)),
                             self.probe, self.qdict.get("file") if protocol else None,
                             self.qdict.get("file.driver"), self.conv.opened_read_only,
                             self.conv.warnings)
        no_backing = "backing" in rest and rest["backing"].value == ""
        unknown = [k for k in rest if k not in kinds and not opentime.consumed(info, k)
                   or no_backing and k.startswith("backing.")]
        if self.leftover_cache is not None:
            unknown.append("cache")
            rest["cache"] = self.leftover_cache
        if unknown:
            # bdrv_open_inherit() checks a shallow clone of the options; cloning reverses
            # each bucket's list, so within a bucket the older key comes first here.
            key = min(unknown, key=lambda k: (qdict_order(k), rest[k].seq))
            # block.c bdrv_open_inherit(): a driver= with bdrv_file_open (blkdebug and
            # blkverify too) sets BDRV_O_PROTOCOL, which words this message
            protocol = protocol or (info is not None and info.protocol)
            what = "protocol" if protocol else "format"
            verb = "doesn't" if protocol else "does not"
            raise error("unknown-option", f"Block {what} '{driver}' {verb} support the option "
                        f"'{key}'", rest[key].span, Stage.LEFTOVER)
        options.update({k: e.value for k, e in sorted(rest.items(), key=lambda kv: kv[1].seq)})
        self.f["driver_options"] = options
        if "driver" in self.qdict and "format" not in self.f:
            self.f["format"] = self.qdict["driver"].value

    def _raw_limits(self, values: dict[str, object], rest: dict[str, Entry]) -> None:
        """block/raw-format.c raw_apply_options(): against the file when check() read it."""
        offset = values.get("offset", 0)
        size = values.get("size")
        assert isinstance(offset, int) and (size is None or isinstance(size, int))
        span = (rest.get("offset") or rest["size"]).span
        child_driver = self.qdict.get("file.driver")
        if self.image is not None and self.image.size is not None and \
                (child_driver is None or child_driver.value == "file"):
            opentime.raw_limits(offset, size, self.image.size, span)
        if size is not None and size % 512:
            raise error("raw-size-align", "Specified size is not multiple of 512", span,
                        Stage.NODE)

    def build(self) -> Drive:
        fields = dict(self.f)
        fields.setdefault("driver_options", {})
        return Drive(**fields)  # type: ignore[arg-type]


def _discard(entry: Entry, stage: Stage) -> Discard:
    """block.c bdrv_parse_discard_flags(): ignore/off or unmap/on."""
    value = {"off": "ignore", "on": "unmap"}.get(entry.value, entry.value)
    if value not in ("ignore", "unmap"):
        raise error("bad-discard", "Invalid discard option", entry.span, stage,
                    hint="discard= takes ignore (off) or unmap (on)")
    return Discard(value)


def _typed(key: str, entry: Entry, kind: Kind, stage: Stage,
           warnings: list[Diagnostic] | None = None) -> object:
    """A value read as QEMU reads ``kind``; a size's deprecation warning goes to ``warnings``."""
    try:
        if kind is Kind.BOOL:
            return parse_bool(key, entry.value)
        if kind is Kind.NUMBER:
            return parse_number(key, entry.value)
        if kind is Kind.SIZE:
            size, warning = parse_size(key, entry.value)
            if warning and warnings is not None:
                warnings.append(Diagnostic("hex-suffix", Severity.WARNING, warning,
                                           entry.span, stage))
            return size
    except ValueProblem as p:
        raise error("bad-value", p.message, entry.span, stage, p.detail) from None
    return entry.value


def _int(value: object, default: int) -> int:
    return to_int32(value) if isinstance(value, int) else default
