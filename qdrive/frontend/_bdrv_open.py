"""block.c bdrv_open_inherit() for the drive's node, as far as the option string decides it.

In QEMU's order: bdrv_fill_options() (a ``json:`` name becomes options,
parse_json_protocol(); the driver name must be known), the file child
(bdrv_open_child() -> the protocol node's bdrv_open_common()), the format probe's header
read (find_image_format(); only with check()'s header reader), then the drive's own node
(bdrv_open_common(): its runtime options, node-name, discard), the format driver's own
options and bdrv_open_inherit()'s check for options nobody used. What the host says
when the file is opened is qdrive/frontend/_file_open.py's; the node graph below
(children, backing files, each driver's derived tables) is qdrive/frontend/opentime.py's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import attrs

from . import _graph_locks as graph_locks
from . import blkio, drivers, formats, jsonname, nodes, opentime, rules
from ._conversion import local_image
from ._qdict import Entry
from ._walk import Walk, first_key, sorted_keys
from ..diagnostics import Diagnostic, Severity, Span, Stage, Stop, error
from ..dialect import JsonErrors
from ..model import CACHE_MODES, CacheMode, Discard
from ..options import (
    FILE_POSIX_DRIVERS,
    FORMAT_KEYS,
    KNOWN_DRIVERS,
    NODE_KEYS,
    OPTIONS,
    PROTOCOL_DRIVERS,
    PROTOCOL_PREFIXES,
    TABLE_KEYS,
    Kind,
)
from .._values import SizeSyntax, ValueProblem, is_true, parse_bool, parse_number, parse_size

if TYPE_CHECKING:
    from .drivers import DriverInfo

__all__ = ["bdrv_open_inherit"]


def bdrv_open_inherit(w: Walk) -> None:
    """block.c bdrv_open_inherit() of the drive's node, without touching the file; the
    image locks its own graph's nodes take are its own (qdrive.frontend._graph_locks)."""
    with graph_locks.one_graph():
        _open_inherit(w)


def _open_inherit(w: Walk) -> None:
    if w.conv.empty:
        return
    _name_the_image(w)
    _parse_json_protocol(w)
    driver_entry = w.qdict.get("driver") or w.qdict.get("format")
    driver = driver_entry.value if driver_entry else None
    if driver is not None and driver not in drivers.known():  # the dialect's format=help
        raise error("unknown-driver", f"Unknown driver '{driver}'", driver_entry.span
                    if driver_entry else Span(0, 0), Stage.FILL)
    w.conv.format_probed = driver is None
    _backing_null(w)
    if w.json_file_ref is not None:  # {"file": "name"}: a reference to a node
        raise Stop(attrs.evolve(opentime.reference_error(w.json_file_ref),
                                stage=Stage.CHILD))
    child = {k[5:]: e for k, e in w.qdict.items() if k.startswith("file.")}
    protocol = _is_protocol(driver)
    if protocol:  # the drive's node is itself the protocol node: no file child
        child = {}
    file_entry = w.qdict.get("file")
    has_file = bool(file_entry and file_entry.value)
    if has_file or child:
        _file_child(w, child, file_entry if has_file else None)
    elif driver is not None and not protocol:
        # Reported by the format driver's open, after the node's own options.
        w.no_file_child = driver_entry.span if driver_entry else Span(0, 0)
    elif driver is None:
        raise error("no-driver-or-file", "Must specify either driver or file",
                    w.whole(), Stage.FILE_CHECKS,
                    hint="add file=PATH (an empty drive takes only if=, media= and "
                         "read-only=)")
    _read_image(w)
    _open_common(w, driver or w.assume_format, protocol)
    if w.late_error is not None:
        raise Stop(w.late_error)
    _temp_snapshot(w, driver or w.assume_format)


def _temp_snapshot(w: Walk, driver: str) -> None:
    """block.c bdrv_append_temp_snapshot(): the temporary overlay of snapshot=on takes
    the image as its backing child, which bdrv_attach_child_common() refuses for a node
    opened inactive (``active=off``, a 10.0 option) under the active overlay. Both node
    names are made up ("#block" and a counter)."""
    active = w.qdict.get("active")
    if not w.draft.snapshot or active is None or "active" not in \
            w.dialect.options_added(driver) or is_true(active.value):
        return
    raise error("inactive-backing", "Inactive '#block' can't be a backing child of active "
                "'#block'", active.span, Stage.NODE, hint="drop active=off or snapshot=on")


def _is_protocol(driver: str | None) -> bool:
    """The drive's node is itself a protocol node: 7.2's list, and for a driver a later
    release added (10.0's libblkio ones, block/blkio.c) what its derived table says."""
    if driver is None or driver in PROTOCOL_DRIVERS:
        return driver is not None
    info = drivers.driver(driver) if driver not in KNOWN_DRIVERS else None
    return info is not None and info.protocol


def _name_the_image(w: Walk) -> None:
    """The host file this drive opens, decided once for every later stage (the probe, the
    host checks, the policy): _conversion.local_image() over the options as given, before
    a json: name adds its own (``format_given`` likewise)."""
    conv = w.conv
    conv.open_options = {k: e.value for k, e in w.qdict.items()}
    conv.image_name, conv.image_key = local_image(conv.open_options)
    given = w.qdict.get("driver") or w.qdict.get("format")
    conv.format_given = given.value if given else None


def _read_image(w: Walk) -> None:
    """block.c bdrv_open_inherit(): the file child is open, so find_image_format() probes
    it when the drive names no format, and the format driver reads its header next. With
    check()'s header reader the walk reads it here, once, by the name resolved above;
    without one the verdict is the string's alone."""
    if w.read_header is None or not w.conv.image_name:
        return
    found = w.conv.header = w.read_header(w.conv.image_name)
    if found.exists and not found.error:
        w.image = found
        if w.conv.format_probed and found.format:
            w.assume_format = found.format


def _parse_json_protocol(w: Walk) -> None:
    """block.c parse_json_protocol(): file=json:{...} becomes the node's options
    (qdrive/frontend/jsonname.py); keys the drive already has are kept."""
    entry = w.qdict.get("file")
    if entry is None or not entry.value.startswith(jsonname.PREFIX):
        return
    try:
        parsed = jsonname.parse(entry.value,
                                located=w.dialect.json_errors is JsonErrors.LOCATED)
    except jsonname.JsonNameError as e:
        raise error("json-name", str(e), entry.span, Stage.FILL) from None
    del w.qdict["file"]
    present = set(w.qdict) | ({"driver"} if "format" in w.qdict else set())
    for n, (key, value) in enumerate(parsed.items()):
        if key in present:
            continue
        new = Entry(key, "" if value is None else value, entry.item, 30_000 + n)
        if value is None:
            w.json_nulls.add(key)
        if key == "file":
            w.json_file_ref = new
            continue
        w.qdict[key] = new


# -- the file child: block.c bdrv_open_child("file") -> the protocol node ------------------
def _file_child(w: Walk, child: dict[str, Entry], file_entry: Entry | None) -> None:
    """The protocol node under the format: its bdrv_open_common() and the protocol
    driver's own options (block/file-posix.c raw_open_common() for files)."""
    if file_entry is not None and "filename" in child:
        raise error("file-and-filename", "Can't specify 'file' and 'filename' options at "
                    "the same time", child["filename"].span, Stage.FILL)
    name = file_entry.value if file_entry else (child["filename"].value
                                                if "filename" in child else "")
    if "driver" in child and child["driver"].value not in drivers.known():
        raise error("unknown-driver", f"Unknown driver '{child['driver'].value}'",
                    child["driver"].span, Stage.FILL)
    if "driver" in child and opentime.format_child(child["driver"].value):
        _format_child(w, child, name)
        return
    if "driver" not in child:
        # file.* options but no file name: the child node has nothing (an empty
        # file.filename= is a name: bdrv_find_protocol("") picks the file driver)
        if not name and "filename" not in child:
            raise error("no-driver-or-file", "Must specify either driver or file",
                        next(iter(child.values())).span, Stage.FILL)
        rules.check_protocol_prefix(name, file_entry.span if file_entry else Span(0, 0),
                                    drivers.protocol_prefixes(PROTOCOL_PREFIXES))
    driver = _child_protocol(child, name, file_entry, w.probe)
    # bdrv_fill_options() parses the protocol's file name (a URL) before the child's
    # bdrv_open_common() reads the boolean options it inherited
    opentime.filename_checks(driver, child, name, w.whole())
    merged = _inherited_options(w, child)
    _child_force_share_inherited(w, merged)
    _child_common(child, name)
    _child_driver_options(w, child, name, file_entry,
                          aio=lambda: _child_aio(w, child, merged)
                          if driver in FILE_POSIX_DRIVERS else None)
    w.draft.driver_options = {f"file.{k}": e.value for k, e in child.items()}


def _child_protocol(child: Mapping[str, Entry], name: str, file_entry: Entry | None,
                    probe: bool = False) -> str:
    """block.c bdrv_fill_options() -> bdrv_find_protocol(): a protocol prefix counts in
    a name from file= only; file.filename= is a file-posix name, taken literally.
    ``probe`` (the host may be looked at): find_hdev_driver() comes first, and
    block/file-posix.c hdev_probe_device() claims any character or block device
    (/dev/null is host_device's)."""
    if "driver" in child:
        return child["driver"].value
    found = opentime.protocol_of(name) if file_entry is not None else "file"
    if found == "file" and probe and name and _is_device_node(name):
        return "host_device"
    return found


def _file_driver(w: Walk) -> Entry | None:
    """The file child's driver as its parent sees it (compress asks): file.driver=, else
    the protocol a file.filename= finds (a device node's host_device)."""
    given = w.qdict.get("file.driver")
    name = w.qdict.get("file.filename")
    if given is None and name is not None and w.probe and _is_device_node(name.value):
        return Entry("file.driver", "host_device", name.item, name.seq)
    return given


def _is_device_node(name: str) -> bool:
    import stat

    try:
        mode = os.stat(name).st_mode
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return False
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode)


def _inherited_options(w: Walk, child: dict[str, Entry]) -> dict[str, Entry]:
    """block.c bdrv_inherited_options(): the child takes cache.direct, cache.no-flush,
    force-share and auto-read-only from the drive unless it names its own; typed in QDict
    order."""
    # (auto-read-only too: qdict_copy_default(), so a bad value fails at the child's
    # bdrv_open_common(), before its driver's open connects anywhere)
    inherited = ("cache.direct", "cache.no-flush", "force-share", "auto-read-only")
    merged: dict[str, Entry] = {k: w.qdict[k] for k in inherited if k in w.qdict}
    merged.update((k, e) for k, e in child.items() if k in NODE_KEYS)
    for key in sorted_keys(merged):
        if key in ("cache.direct", "cache.no-flush", "force-share", "read-only",
                   "auto-read-only"):
            _typed(key, merged[key], Kind.BOOL, Stage.CHILD)
    return merged


def _parent_read_only(w: Walk) -> bool:
    """What the drive's node passes its children as read-only (block.c
    bdrv_inherited_options()); under snapshot=on the node is the overlay's read-only
    backing file."""
    return w.draft.read_only_so_far or bool(w.draft.snapshot)


def _child_force_share_inherited(w: Walk, merged: Mapping[str, Entry]) -> None:
    """The child's bdrv_open_common(): an inherited (or its own) force-share=on needs the
    child read-only, its own read-only= or the parent's; before its driver's options."""
    share = merged.get("force-share")
    if share is None or not parse_bool("force-share", share.value):
        return
    own = merged.get("read-only")
    read_only = parse_bool("read-only", own.value) if own is not None \
        else _parent_read_only(w)
    rules.check_force_share(True, read_only, w.span("force-share"), Stage.CHILD)


def _inherited_for_format_child(w: Walk, child: Mapping[str, Entry]) -> dict[str, Entry]:
    """bdrv_inherited_options() for a format child (file.driver=qcow2): the keys it takes
    from the drive's node unless it names its own, read-only included."""
    out: dict[str, Entry] = {k: w.qdict[k] for k in ("cache.direct", "cache.no-flush",
                                                      "force-share")
                             if k in w.qdict and k not in child}
    if "read-only" not in child and _parent_read_only(w):
        out["read-only"] = Entry("read-only", "on", None, 1 << 30)  # QEMU's own value
    return out


def _child_common(child: dict[str, Entry], name: str) -> None:
    """The protocol node's own bdrv_open_common(): its file name, discard, node-name, then
    file-posix's own options (block/file-posix.c raw_runtime_opts)."""
    given = child.get("driver")
    if not name and (given.value in FILE_POSIX_DRIVERS if given else "filename" in child):
        # block.c bdrv_open_common(): file-posix drivers set bdrv_needs_filename (an
        # empty file.filename= alone found the file driver)
        driver = given.value if given else "file"
        raise error("needs-filename", f"The '{driver}' block driver requires a file name",
                    (given or child["filename"]).span, Stage.CHILD)
    if "discard" in child:
        _discard(child["discard"], Stage.CHILD)
    rules.check_node_name(child.get("node-name"), Stage.CHILD)
    rules.check_file_posix_options(child)


def _child_aio(w: Walk, child: dict[str, Entry], merged: dict[str, Entry]) -> None:
    """block/file-posix.c raw_open_common(): aio=native needs the node's O_DIRECT, its own
    file.cache.direct, else the inherited one."""
    direct = merged.get("cache.direct")
    aio = child.get("aio") or w.qdict.get("aio")
    if aio is not None and aio.value == "native" and not (direct and is_true(direct.value)):
        rules.native_needs_direct(aio.span)


def _backing_null(w: Walk) -> None:
    """block.c bdrv_open_inherit(): backing="" is taken as null (no backing file, so
    the backing.* options go unused) with a deprecation warning, before the file
    child opens."""
    entry = w.qdict.get("backing")
    if entry is not None and entry.value == "" and entry.item is not None \
            and "backing" not in w.json_nulls:
        w.conv.warnings.append(Diagnostic(
            "backing-empty", Severity.WARNING, 'Use of "backing": "" is deprecated; '
            'use "backing": null instead', entry.span, Stage.CHILD))


def _child_driver_options(w: Walk, child: dict[str, Entry], name: str,
                          file_entry: Entry | None,
                          aio: Callable[[], None] = lambda: None) -> None:
    """The protocol driver's own runtime options, then ``aio`` (raw_open_common()'s
    aio=native check, which only raw_open_common() makes: after the pr-manager lookup
    and the open), then the protocol node's unused ones."""
    driver = _child_protocol(child, name, file_entry, w.probe)
    where = file_entry.span if file_entry else w.whole()
    # The protocol driver's own runtime options (null-co's read-zeroes, curl's url):
    # hook into qdrive/frontend/opentime.py (the derived tables).
    if driver in formats.CURL_DRIVERS:  # curl_open() begins with it
        own = child.get("read-only")
        auto = child.get("auto-read-only") or w.qdict.get("auto-read-only")
        _no_writes(own is not None and is_true(own.value) or
                   own is None and w.conv.opened_read_only, False,
                   auto is None or is_true(auto.value), where)
    # block.c bdrv_fill_options() parses only a file name given as one (file=): a null
    # driver's file.filename= is left over, whatever it says
    given = driver in ("null-co", "null-aio") and "filename" in child
    opentime.protocol_checks(driver, child, "" if given else name, where, w.probe,
                             w.conv.opened_read_only, w.conv.warnings)
    aio()
    empty = child.get("backing")
    if empty is not None and empty.value == "":  # as _backing_null(), the child's own
        w.conv.warnings.append(Diagnostic(
            "backing-empty", Severity.WARNING, 'Use of "backing": "" is deprecated; '
            'use "backing": null instead', empty.span, Stage.CHILD))
    problem = nodes.no_backing(drivers.driver(driver), child, where)
    if problem is not None:
        raise Stop(problem)
    null = empty is not None and empty.value == ""  # backing.* then go unused
    # file-posix's own options (aio, locking ...) are other protocols' unknown ones
    posix = rules.FILE_POSIX_KEYS if driver in FILE_POSIX_DRIVERS else {"filename"}
    unknown = [k for k in child if k not in NODE_KEYS and k not in posix
               and not opentime.consumed_by(driver, k)
               or null and k.startswith("backing.") or given and k == "filename"]
    if unknown:
        key = first_key(unknown, child)
        raise error("protocol-option", f"Block protocol '{driver}' doesn't support the "
                    f"option '{key}'", child[key].span, Stage.CHILD_LEFTOVER)
    # what the probe reads through a protocol (blkdebug's image); a null driver's zeros
    # and blkdebug's image are read by the named format's header check too (blkdebug
    # opens its image whatever reads it)
    if w.conv.format_probed or driver in ("null-co", "null-aio", "blkdebug"):
        w.conv.seen, w.conv.seen_name = opentime.protocol_content(
            driver, name, w.probe, where, w.conv.opened_read_only, w.conv.warnings,
            child.get("size"), opentime.null_name(driver, child)
            if driver in ("null-co", "null-aio") else "")


def _format_child(w: Walk, child: dict[str, Entry], name: str) -> None:
    """file.driver=<format or filter>: a node graph below the drive's node (hook into
    qdrive/frontend/nodes.py); what the top format's probe reads comes back as
    ``conv.seen``."""
    problem, seen, seen_name = opentime.format_child_open(
        {**_inherited_for_format_child(w, child), **child}, name, w.probe, w.whole())
    if problem is not None:
        raise Stop(attrs.evolve(problem, stage=min(problem.stage, Stage.CHILD)))
    w.conv.seen, w.conv.seen_name = seen, seen_name
    w.draft.driver_options = {f"file.{k}": e.value for k, e in child.items()}


# -- the drive's node: block.c bdrv_open_common() ------------------------------------------
_NODE_KEYS_BUT_DRIVER = NODE_KEYS - {"driver"}  # bdrv_fill_options() took driver
# block/file-posix.c raw_runtime_opts that raw_open_common() parses itself
_FILE_POSIX_OWN = frozenset({"aio-max-batch", "drop-cache", "x-check-cache-dropped",
                             "locking"})


def _open_common(w: Walk, driver: str, protocol: bool) -> None:
    """block.c bdrv_open_common() of the drive's node (bdrv_runtime_opts), then its driver."""
    added = w.dialect.new_options.get("*", {})  # bdrv_runtime_opts of a later release
    node_keys = _NODE_KEYS_BUT_DRIVER | set(added) if added else _NODE_KEYS_BUT_DRIVER
    # A protocol node (driver=file) is its own file: bdrv_open_common() reads its
    # options before drv->bdrv_file_open() opens the file, so they beat the host's say.
    stage = Stage.CHILD if protocol else Stage.NODE
    for key in sorted_keys(w.qdict, node_keys):
        entry = w.qdict[key]
        if key in ("cache.direct", "cache.no-flush", "auto-read-only", "force-share"):
            value = _typed(key, entry, Kind.BOOL, stage)
            if entry.item is not None:  # not a value cache= expanded into
                w.draft.put(OPTIONS[key].field, value)
        elif key in added:  # 10.0's active=: read here, typed, before the driver's open
            _typed(key, entry, added[key], stage)
    # block.c bdrv_open_inherit(): with snapshot=on the image is opened with
    # bdrv_backing_flags() (no BDRV_O_RDWR); only the temporary overlay is written
    read_only = w.draft.read_only_so_far or bool(w.draft.snapshot)
    rules.check_force_share(w.draft.force_share, read_only, w.span("force-share"), stage)
    discard = w.qdict.get("discard")
    if discard is not None:
        w.draft.discard = _discard(discard, stage)
    rules.check_node_name(w.qdict.get("node-name"), stage)
    if "node-name" in w.qdict:
        w.draft.node_name = w.qdict["node-name"].value
    if protocol and driver in FILE_POSIX_DRIVERS:
        # block/file-posix.c raw_open_common(), before its qemu_open(); the drive's aio=
        # is blockdev_init()'s (a flag by then), not this node's option
        rules.check_file_posix_options({k: e for k, e in w.qdict.items()
                                        if k in _FILE_POSIX_OWN}, Stage.CHILD)
        # after its qemu_open() (a file that does not open is named first: a later
        # stage than FILE), before the node's unused options: aio=native needs O_DIRECT;
        # the pr-manager lookup comes before both
        if "pr-manager" not in w.qdict:
            _child_aio(w, {}, {k: e for k, e in w.qdict.items() if k == "cache.direct"})
    _child_force_share(w)
    _driver_open(w, driver, protocol)


def _child_force_share(w: Walk) -> None:
    """The file child inherits force-share (block.c bdrv_inherited_options()) but keeps
    a read-only=off given to it: its own bdrv_open_common() then refuses the pair."""
    child = w.qdict.get("file.read-only")
    if child is None or not w.draft.force_share:
        return
    try:
        writable = not parse_bool("read-only", child.value)
    except ValueProblem:
        return  # the child's typed check reports it
    if writable:
        rules.check_force_share(True, False, w.span("force-share"))


def _missing_file_child(w: Walk) -> None:
    assert w.no_file_child is not None
    driver = w.qdict.get("driver") or w.qdict.get("format")
    raise error("no-file-child", formats.missing_file_message(
        driver.value if driver is not None else ""), w.no_file_child, Stage.NODE,
        hint="add file=PATH")


def _driver_open(w: Walk, driver: str, protocol: bool) -> None:
    """The format driver's own options (its .bdrv_open), then bdrv_open_inherit()'s check
    for unused ones."""
    info = opentime.driver_info(driver)
    kinds = FORMAT_KEYS.get(driver) or opentime.kinds(info)
    added = w.dialect.options_added(driver)  # a later release's new options
    if added:  # copied only then: 7.2 adds none, and the tables are read-only
        kinds = {**kinds, **added}
    # block/raw-format.c raw_open() reads offset/size before it looks for its file
    # child; the other format drivers look for the child first.
    if driver == "parallels" and w.dialect.parallels_prealloc_first:
        # parallels_open() reads it before opening its file child and the header (10.0):
        # parallels_opts_prealloc() absorbs its QemuOpts (prealloc-size typed) first
        if "prealloc-size" in w.qdict:
            _typed("prealloc-size", w.qdict["prealloc-size"], Kind.SIZE,
                   Stage.DRIVER_OPTIONS, w.conv.warnings, w.dialect.size_syntax)
        formats.parallels_prealloc(w.qdict, w.whole(), Stage.DRIVER_OPTIONS)
    if w.no_file_child is not None and not opentime.has_file_child(info):
        w.no_file_child = None  # blkreplay, quorum ...: other children instead
    if w.no_file_child is not None and driver != "raw":
        _missing_file_child(w)
    rest = {k: e for k, e in w.qdict.items() if k not in TABLE_KEYS
            and not k.startswith("file.") and not k.startswith("stats-intervals.")}
    options = dict(w.draft.driver_options)
    values: dict[str, object] = {}
    # a protocol driver types its options (QemuOpts) before it opens what they name
    typed_at = Stage.CHILD if protocol else Stage.NODE
    if driver == "quorum":
        from ._fmt_filters import quorum_children

        quorum_children(w.qdict, w.whole())
    for key in sorted_keys(rest):
        if key in kinds and (driver in FORMAT_KEYS or opentime.typed(info, key)
                             or key in added):  # a later release's QemuOpts (curl's)
            values[key] = _typed(key, rest[key], kinds[key], typed_at, w.conv.warnings,
                                 w.dialect.size_syntax)
            rules.check_format_choice(driver, key, rest[key])
    if w.no_file_child is not None:
        _missing_file_child(w)
    if driver == "raw" and ("offset" in values or "size" in values):
        _raw_limits(w, values, rest)
    # The node's other children (backing.*, data-file.*, image.* ...): hook into
    # qdrive/frontend/opentime.py, which walks block.c's order for them.
    if protocol and info is not None and info.needs_filename:
        # block.c bdrv_open_common(): file-posix drivers need a name (filename= or file=)
        names = (rest.get("filename"), w.qdict.get("file"))
        if not any(e is not None and e.value for e in names):
            span = w.qdict["driver"].span if "driver" in w.qdict else Span(0, 0)
            raise error("needs-filename", f"The '{driver}' block driver requires a file "
                        "name", span, Stage.NODE)
    if driver in blkio.DRIVERS and info is not None:  # a driver 7.2's Debian build lacks
        _blkio_open(w, driver, rest)
    if driver in formats.CURL_DRIVERS:
        cor, auto = w.qdict.get("copy-on-read"), w.qdict.get("auto-read-only")
        _no_writes(w.conv.opened_read_only, cor is not None and is_true(cor.value),
                   auto is None or is_true(auto.value), w.whole())
    _top_lock(w, driver, protocol)
    opentime.node_checks(info, rest, w.image, w.whole(), w.probe,
                         w.qdict.get("file") if protocol else None, _file_driver(w),
                         w.conv.opened_read_only, w.conv.warnings, _common(w),
                         w.qdict.get("node-name"))
    if driver == "preallocate":
        direct = w.qdict.get("file.cache.direct") or w.qdict.get("cache.direct")
        formats.preallocate_align(rest, w.conv.image_name or "", bool(
            direct and is_true(direct.value)), w.whole(), host=w.read_header is not None)
    _unused_options(w, driver, protocol, rest, kinds, info)
    options.update({k: e.value for k, e in sorted(rest.items(), key=lambda kv: kv[1].seq)})
    w.draft.driver_options = options
    if "driver" in w.qdict and w.draft.format is None:
        w.draft.format = w.qdict["driver"].value


def _no_writes(read_only: bool, copy_on_read: bool, auto_read_only: bool, span: Span) -> None:
    """block/curl.c curl_open(): bdrv_apply_auto_read_only() with curl's own message, a
    read-write node that cannot drop to read-only (auto-read-only=off, copy-on-read=on;
    -drive defaults auto-read-only to on)."""
    if formats.auto_read_only_problem(read_only, copy_on_read, auto_read_only):
        raise error("driver-open", "curl driver does not support writes", span, Stage.NODE)


def _top_lock(w: Walk, driver: str, protocol: bool) -> None:
    """The drive's own metadata format node over a local file holds that file's lock
    bytes before its children and backing files open (qdrive.frontend._graph_locks)."""
    off = ("off", "false", "no", "n")
    locking, active = w.qdict.get("file.locking"), w.qdict.get("active")
    if protocol or driver not in graph_locks.METADATA_FORMATS or w.image is None or \
            not w.conv.image_name or w.draft.force_share or \
            (locking is not None and locking.value in off) or \
            (active is not None and active.value in off and  # 10.0: inactive, no locks
             "active" in w.dialect.new_options.get("*", {})):
        return
    read_only = w.draft.read_only_so_far or bool(w.draft.snapshot)
    graph_locks.take(w.conv.image_name, not read_only)


def _common(w: Walk) -> dict[str, Entry]:
    """The node's options its children inherit (block.c bdrv_inherited_options()); its
    read-only as bdrv_open_inherit() set it (snapshot=on opens the image read-only)."""
    out: dict[str, Entry] = {k: w.qdict[k] for k in ("cache.direct", "cache.no-flush",
                                                     "force-share", "auto-read-only")
                             if k in w.qdict}
    if _parent_read_only(w):
        out["read-only"] = Entry("read-only", "on", None, 1 << 30)  # QEMU's own value
    return out


def _blkio_open(w: Walk, driver: str, rest: Mapping[str, Entry]) -> None:
    """block/blkio.c blkio_open(), after bdrv_open_common() read the node's options and
    before bdrv_open_inherit() looks for unused ones."""
    name = rest.get("path") if driver != "io_uring" else (rest.get("filename")
                                                          or w.qdict.get("file"))
    direct = w.draft.cache_direct
    if direct is None:
        direct = CACHE_MODES[w.draft.cache or CacheMode.WRITEBACK][1]
    blkio.blkio_open(driver, name.value if name is not None else None, bool(direct),
                     w.whole(), host=w.read_header is not None)


def _unused_options(w: Walk, driver: str, protocol: bool, rest: dict[str, Entry],
                    kinds: Mapping[str, Kind], info: DriverInfo | None) -> None:
    """block.c bdrv_open_inherit(): an option no driver took is an error."""
    no_backing = "backing" in rest and rest["backing"].value == ""
    unknown = [k for k in rest if k not in kinds and not opentime.consumed(info, k)
               or no_backing and k.startswith("backing.")]
    if w.leftover_cache is not None:
        unknown.append("cache")
        rest["cache"] = w.leftover_cache
    if unknown:
        # bdrv_open_inherit() checks a shallow clone of the options; cloning reverses
        # each bucket's list, so within a bucket the older key comes first here.
        key = first_key(unknown, rest, cloned=True)
        # block.c bdrv_open_inherit(): a driver= with bdrv_file_open (blkdebug and
        # blkverify too) sets BDRV_O_PROTOCOL, which words this message
        protocol = protocol or (info is not None and info.protocol)
        what = "protocol" if protocol else "format"
        verb = "doesn't" if protocol else "does not"
        raise error("unknown-option", f"Block {what} '{driver}' {verb} support the option "
                    f"'{key}'", rest[key].span, Stage.LEFTOVER)


def _raw_limits(w: Walk, values: dict[str, object], rest: dict[str, Entry]) -> None:
    """block/raw-format.c raw_apply_options(): against the file when check() read it."""
    offset = values.get("offset", 0)
    size = values.get("size")
    assert isinstance(offset, int) and (size is None or isinstance(size, int))
    span = (rest.get("offset") or rest["size"]).span
    child_driver = w.qdict.get("file.driver")
    if w.image is not None and w.image.size is not None and \
            (child_driver is None or child_driver.value == "file"):
        opentime.raw_limits(offset, size, w.image.size, span)
    elif child_driver is not None and child_driver.value in ("null-co", "null-aio") and \
            w.conv.seen is not None and w.conv.seen.size is not None:
        opentime.raw_limits(offset, size, w.conv.seen.size, span)  # its size= option
    elif child_driver is not None and child_driver.value in ("raw", "qcow2") and w.probe:
        # a format child: its own length (raw over a file, qcow2's header)
        from ._fmt_filters import _child_length

        length = _child_length(w.qdict, "file.")
        if length is not None:
            opentime.raw_limits(offset, size, length, span)
    if size is not None and size % 512:
        raise error("raw-size-align", "Specified size is not multiple of 512", span,
                    Stage.NODE)


def _discard(entry: Entry, stage: Stage) -> Discard:
    """block.c bdrv_parse_discard_flags(): ignore/off or unmap/on."""
    value = {"off": "ignore", "on": "unmap"}.get(entry.value, entry.value)
    if value not in ("ignore", "unmap"):
        raise error("bad-discard", "Invalid discard option", entry.span, stage,
                    hint="discard= takes ignore (off) or unmap (on)")
    return Discard(value)


def _typed(key: str, entry: Entry, kind: Kind, stage: Stage,
           warnings: list[Diagnostic] | None = None,
           sizes: SizeSyntax = SizeSyntax.HEX_SUFFIX_DEPRECATED) -> object:
    """A value read as QEMU reads ``kind`` (sizes with the dialect's ``sizes`` syntax); a
    size's deprecation warning goes to ``warnings``."""
    try:
        if kind is Kind.BOOL:
            return parse_bool(key, entry.value)
        if kind is Kind.NUMBER:
            return parse_number(key, entry.value)
        if kind is Kind.SIZE:
            size, warning = parse_size(key, entry.value, sizes)
            if warning and warnings is not None:
                warnings.append(Diagnostic("hex-suffix", Severity.WARNING, warning,
                                           entry.span, stage))
            return size
    except ValueProblem as p:
        raise error("bad-value", p.message, entry.span, stage, p.detail) from None
    return entry.value
