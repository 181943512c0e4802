"""The filter and test drivers' open checks: throttle, copy-on-read, replication,
quorum, compress, blklogwrites, copy-before-write, blkdebug and null-co/null-aio.

Each mirrors its driver's open in QEMU 7.2 (block/throttle.c, block/copy-on-read.c,
block/replication.c, block/quorum.c, block/filter-compress.c, block/blklogwrites.c,
block/copy-before-write.c, block/blkdebug.c, block/null.c); :func:`abort_notice` is
the util/error.c line QEMU prints before aborting on an &error_abort option.
"""

from __future__ import annotations

import os
from typing import Any, TYPE_CHECKING

from ._fmt_common import Options, _defined, _fail
from ._fmt_qapi import _qapi_type, _unexpected, _visit_members
from .._values import is_true
from ..diagnostics import Diagnostic, Severity, Span
from ..probe import image_length

if TYPE_CHECKING:
    from ..probe import ProbeResult


def _throttle(options: Options, image: ProbeResult | None, span: Span) -> None:
    # block/throttle.c throttle_parse_options(): groups come from -object.
    group = options.get("throttle-group")
    if group is None:
        _fail("Please specify a throttle group", span)
    if not _defined("throttle-group", group.value):
        _fail(f"Throttle group '{group.value}' does not exist", group.span)


def _copy_on_read(options: Options, image: ProbeResult | None, span: Span) -> None:
    bottom = options.get("bottom")  # block/copy-on-read.c cor_open()
    if bottom is not None:
        _fail(f"Bottom node '{bottom.value}' not found", bottom.span)


def _replication(options: Options, image: ProbeResult | None, span: Span) -> None:
    mode, top = options.get("mode"), options.get("top-id")  # block/replication.c
    if mode is None:
        _fail("Missing the option mode", span)
    if mode.value == "primary":
        if top is not None:
            _fail("The primary side does not support option top-id", top.span)
    elif mode.value == "secondary":
        if top is None:
            _fail("Missing the option top-id", mode.span)
    else:
        _fail("The option mode's value should be primary or secondary", mode.span)


def blkdebug_config_error(name: str, why: str) -> str:
    """block/blkdebug.c read_config()'s error for a config file it cannot open, in the
    walked dialect's words (Dialect.blkdebug_config_opened)."""
    from . import drivers

    if drivers.dialect().blkdebug_config_opened:
        return f"Could not open '{name}': {why}"
    return f"Could not read blkdebug config file: {why}"


def quorum_children(options: Options, span: Span) -> int:
    """quorum_open() counts its children.N (qdict_array_entries()) before it absorbs its
    QemuOpts, so these come before a vote-threshold that is not a number."""
    indices = {k.split(".")[1] for k in options if k.startswith("children.")}
    count = 0
    while str(count) in indices:
        count += 1
    if count != len(indices):
        _fail("Option children is not a valid array", span)
    if count < 1:
        _fail("Number of provided children must be 1 or more", span)
    return count


def quorum_lengths(options: Options, image: ProbeResult | None, span: Span,
                   probe: bool = False) -> None:
    """block/quorum.c quorum_getlength(), which bdrv_open_driver()'s
    refresh_total_sectors() asks once the children are open: every child must be as
    long as the first, or it returns -EIO. Judged only when every child's length can
    be read here (a file, raw over a file without offset, qcow2's header, a null
    driver's size)."""
    if not probe:
        return
    count = quorum_children(options, span)
    lengths = [_child_length(options, f"children.{n}.") for n in range(count)]
    if None in lengths or len(set(lengths)) < 2:
        return
    _fail("Could not refresh total sector count: Input/output error", span)


def _child_length(options: Options, prefix: str) -> int | None:
    own = {k[len(prefix):]: e.value for k, e in options.items() if k.startswith(prefix)}
    driver = own.get("driver")
    if driver in ("null-co", "null-aio"):
        from .._values import ValueProblem, parse_size

        try:
            return parse_size("size", own["size"])[0] if "size" in own else 1 << 30
        except ValueProblem:
            return None
    if driver == "file" and own.keys() <= {"driver", "filename", "locking", "aio"}:
        return image_length(own.get("filename", ""), "raw")
    if driver not in ("raw", "qcow2") or own.get("file.driver", "file") != "file" or \
            "file" in own or "file.filename" not in own:
        return None
    length = image_length(own["file.filename"], driver)
    if driver == "qcow2" or length is None:
        return length
    from .._values import ValueProblem, parse_size

    try:  # raw's window: size=, else what lies past offset=
        offset = parse_size("offset", own["offset"])[0] if "offset" in own else 0
        return parse_size("size", own["size"])[0] if "size" in own else length - offset
    except ValueProblem:
        return None


def _quorum(options: Options, image: ProbeResult | None, span: Span) -> None:
    # block/quorum.c quorum_open(): the children array, then the vote threshold, then
    # the read pattern and blkverify's constraints.
    from .._values import ValueProblem, parse_number

    count = quorum_children(options, span)
    try:
        threshold = parse_number("vote-threshold", options["vote-threshold"].value) \
            if "vote-threshold" in options else 0
    except ValueProblem:
        return  # the typed check reports it
    if threshold < 1:
        _fail("Parameter 'vote-threshold' expects a value >= 1", span)
    if threshold > count:
        _fail("threshold may not exceed children count", span)
    pattern = options.get("read-pattern")
    if pattern is not None and pattern.value not in ("quorum", "fifo"):
        _fail("Please set read-pattern as fifo or quorum", pattern.span)
    if pattern is None or pattern.value == "quorum":
        blkverify = "blkverify" in options and is_true(options["blkverify"].value)
        if blkverify and (count != 2 or threshold != 2):
            _fail("blkverify=on can only be set if there are exactly two files and "
                  "vote-threshold is 2", span)
        if blkverify and "rewrite-corrupted" in options and \
                is_true(options["rewrite-corrupted"].value):
            _fail("rewrite-corrupted=on cannot be used with blkverify=on", span)


def _compress(options: Options, image: ProbeResult | None, span: Span) -> None:
    """block/filter-compress.c compress_open(): the file child's driver must write
    compressed clusters (block_driver_can_compress(): qcow, qcow2, vmdk and the filters
    that pass it on, copy-on-read and throttle)."""
    child = options.get("file.driver")
    name = child.value if child is not None else "file"
    if name not in ("qcow", "qcow2", "vmdk", "copy-on-read", "throttle"):
        _fail(f"Compression is not supported for underlying format: {name}", span)


def preallocate_align(options: Options, file_name: str, direct: bool, span: Span,
                      host: bool) -> None:
    """block/preallocate.c preallocate_absorb_opts(), after its file child opened:
    prealloc-align (1 MiB by default) in whole sectors, then in the file node's request
    alignment, which an O_DIRECT node probes on the host (file-posix.c
    raw_probe_alignment(); without O_DIRECT it is 1)."""
    from .._values import ValueProblem, parse_size
    from . import hostprobe

    entry = options.get("prealloc-align")
    try:
        align = parse_size("prealloc-align", entry.value)[0] if entry is not None else 1 << 20
    except ValueProblem:
        return  # the typed check reports it
    if align % 512:
        _fail("prealloc-align parameter of preallocate filter is not aligned to 512", span)
    request = hostprobe.direct_alignment(file_name) if direct and host and file_name \
        else None
    if request is not None and align % request:
        _fail("prealloc-align parameter of preallocate filter is not aligned to underlying "
              f"node request alignment ({request})", span)


def _blklogwrites(options: Options, image: ProbeResult | None, span: Span,
                  probe: bool = False) -> None:
    """block/blklogwrites.c blk_log_writes_open() after both children opened: log-append
    excludes log-sector-size, then the sector size and the superblock interval."""
    from .._values import ValueProblem, parse_number, parse_size

    append = options.get("log-append")
    given = options.get("log-sector-size")
    try:
        appending = append is not None and is_true(append.value)
        if appending and given is not None:
            _fail("log-append and log-sector-size are mutually exclusive", span)
        size = parse_size("log-sector-size", given.value)[0] if given is not None else 512
        interval = options.get("log-super-update-interval")
        every = parse_number("log-super-update-interval", interval.value) \
            if interval is not None else 4096
    except ValueProblem:
        return  # the typed check reports it
    if appending:
        logged = _log_superblock(options, span) if probe else None  # probe_files
        if logged is None:
            return  # not a local file: its superblock is not read here
        size = logged
    # blk_log_writes_sector_size_valid(): a power of two, at least the 32-byte structs
    # (struct log_write_super, log_write_entry), below 16 MiB
    if size & (size - 1) or size < 32 or size >= 1 << 24:
        _fail(f"Invalid log sector size {size}", span)
    if not every:
        _fail(f"Invalid log superblock update interval {every}", span)


def _cbw(options: Options, image: ProbeResult | None, span: Span) -> None:
    """block/copy-before-write.c cbw_parse_options(): the node's options visited as
    BlockdevOptions before either child opens. bdrv_open_common() took the base
    members already, and the file child was opened for probing and left as its name."""
    from ..options import NODE_KEYS
    from . import drivers

    own = {k: e for k, e in options.items() if k not in NODE_KEYS and k != "file.driver"
           and not k.startswith("file.")}
    own.pop("file", None)
    # qobject_input_visitor_new_flat_confused() crumples the dict first, "driver" put
    # back in (qdict_crumple(): "a" beside "a.b")
    heads = {*own, "driver"}
    if any("." in k and k.rsplit(".", 1)[0] in heads for k in own) or any(
            "." in k and any(k.startswith(h + ".") for h in heads if h != k) for k in own):
        _fail("Cannot mix scalar and non-scalar keys", span)
    members = [m for m in drivers.qapi_struct("BlockdevOptionsCbw") if m["name"] != "file"]
    _visit_members(own, "", members, span, scalars=True)
    _unexpected(own, "", span)


def _cbw_bitmap(options: Options, image: ProbeResult | None, span: Span,
                probe: bool = False) -> None:
    # cbw_open() after its children: block_dirty_bitmap_lookup() (block/monitor/
    # bitmap-qmp-cmds.c) finds no node of that name on a lone -drive but its own
    node, name = options.get("bitmap.node"), options.get("bitmap.name")
    if node is None or name is None:
        return
    own = options.get("node-name")
    if own is not None and own.value == node.value:
        _fail(f"Dirty bitmap '{name.value}' not found", span)
    _fail(f"Node '{node.value}' not found", span)


_WRITE_LOG_MAGIC = 0x6A736677736A  # block/blklogwrites.c WRITE_LOG_MAGIC, version 1


def _log_superblock(options: Options, span: Span) -> int | None:
    """blk_log_writes_open() with log-append: the log's superblock (struct log_write_super,
    little endian: magic, version, nr_entries u64, sectorsize u32), faked for an empty
    log; its sector size, or None when the log is not a local file read here."""
    name, driver = options.get("log.filename"), options.get("log.driver")
    if name is None or driver is not None and driver.value != "file":
        return None
    try:
        with open(name.value, "rb") as f:
            head = f.read(28)
    except OSError:
        return None  # the log child's open reports it
    if not head:
        return 512
    head = head.ljust(28, b"\0")
    if int.from_bytes(head[:8], "little") != _WRITE_LOG_MAGIC:
        _fail("Invalid log superblock magic", span)
    version = int.from_bytes(head[8:16], "little")
    if version != 1:
        _fail(f"Unsupported log version {version}", span)
    return int.from_bytes(head[24:28], "little")


def _blkdebug(options: Options, image: ProbeResult | None, span: Span,
              probe: bool = False) -> None:
    """block/blkdebug.c read_config(): the config file (when the host is read), then the
    rules given as options, inject-error.N before set-state.N (add_rule(): an event
    name from BlkdebugEvent)."""
    config = options.get("config")
    if config is not None and probe:
        try:
            with open(config.value, "rb"):
                pass
        except OSError as exc:
            _fail(blkdebug_config_error(config.value, os.strerror(exc.errno or 0)), span)
    for group in ("inject-error", "set-state"):
        _blkdebug_sections(options, group, span)
    events = {v["name"] for v in _qapi_type("BlkdebugEvent").get("values", [])}
    _blkdebug_rules(options, events, span)
    for group in ("take-child-perms", "unshare-child-perms"):
        _blkdebug_perms(options, group, span)


def _blkdebug_perms(options: Options, group: str, span: Span) -> None:
    """block/blkdebug.c blkdebug_parse_perm_list(), after the rules and before the image
    child: GROUP.N crumpled into a list and visited as BlockPermissionList by a plain
    qobject input visitor, whose list elements have no name ("Parameter 'null' ...").
    Only a list of 0..N-1 is judged (other shapes are crumple and visitor errors)."""
    prefix = group + "."
    sub = {k[len(prefix):]: e for k, e in options.items() if k.startswith(prefix)}
    if not sub or set(sub) != {str(n) for n in range(len(sub))}:
        return
    names = {v["name"] for v in _qapi_type("BlockPermission").get("values", [])}
    for n in range(len(sub)):
        if sub[str(n)].value not in names:
            _fail(f"Parameter 'null' does not accept value '{sub[str(n)].value}'", span)


def _blkdebug_rules(options: Options, events: set[str], span: Span) -> None:
    """add_rule() for each inject-error.N, then each set-state.N: an event name from
    BlkdebugEvent."""
    for group in ("inject-error", "set-state"):
        rules: dict[str, dict[str, Any]] = {}
        for key, entry in options.items():
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == group:
                rules.setdefault(parts[1], {})[parts[2]] = entry
        for index in sorted(rules, key=lambda i: (not i.isdigit(), int(i) if i.isdigit()
                                                  else 0, i)):
            event = rules[index].get("event")
            if event is None:
                _fail("Missing event name for rule", span)
            if event.value not in events:  # qapi_enum_parse()
                _fail(f"invalid parameter value: {event.value}", span)


_INT_MAX = (1 << 31) - 1


def _blkdebug_limits(options: Options, image: ProbeResult | None, span: Span,
                     probe: bool = False) -> None:
    """block/blkdebug.c blkdebug_open() after its image child opened: the alignment
    overrides, each checked in this order against ``align`` (the override, or the image
    child's request alignment when that is larger: 1 without O_DIRECT; under O_DIRECT
    the probed value is not known here, so only ``align`` itself is judged)."""
    from .._values import ValueProblem, parse_size

    def size(key: str) -> int:
        entry = options.get(key)
        try:
            return parse_size(key, entry.value)[0] if entry is not None else 0
        except ValueProblem:
            return 0  # the typed check reports it

    own = size("align")
    if own and (own >= _INT_MAX or own & (own - 1)):
        _fail(f"Cannot meet constraints with align {own}", span)
    if any(k.endswith("cache.direct") and is_true(e.value) for k, e in options.items()):
        return
    align = max(own, 1)
    for key, base in (("max-transfer", None), ("opt-write-zero", None),
                      ("max-write-zero", "opt-write-zero"), ("opt-discard", None),
                      ("max-discard", "opt-discard")):
        value = size(key)
        step = max(size(base), align) if base else align
        if value and (value >= _INT_MAX or value % step):
            _fail(f"Cannot meet constraints with {key} {value}", span)


# block/blkdebug.c inject_error_opts and set_state_opts: each key's QemuOpts type
_RULE_KEYS: dict[str, dict[str, str]] = {
    "inject-error": {"event": "string", "state": "number", "iotype": "string",
                     "errno": "number", "sector": "number", "once": "bool",
                     "immediately": "bool"},
    "set-state": {"event": "string", "state": "number", "new_state": "number"},
}


def _blkdebug_sections(options: Options, group: str, span: Span) -> None:
    """util/qemu-config.c config_parse_qdict_section(), which read_config() runs over
    every group before any rule is added: the GROUP.N array (a key past a gap is
    unused), then each section's values by their type and its first unknown key, each
    in QDict order."""
    from .._values import ValueProblem, parse_bool, parse_number
    from ._qdict import in_qdict_order

    prefix = group + "."
    sub = [k[len(prefix):] for k in options if k.startswith(prefix)]
    if not sub:
        return
    count = 0
    while any(k.startswith(f"{count}.") for k in sub):
        count += 1
    if any(not k.split(".", 1)[0].isdigit() for k in sub):
        return  # a section without an index: not modelled
    unused = [k for k in sub if int(k.split(".", 1)[0]) >= count]
    if unused:
        _fail(f"Unused option '{in_qdict_order(unused)[0]}' for [{group}]", span)
    known = _RULE_KEYS[group]
    for n in range(count):
        keys = in_qdict_order(k.split(".", 1)[1] for k in sub if k.startswith(f"{n}."))
        for key in keys:
            kind, value = known.get(key), options[f"{prefix}{n}.{key}"].value
            try:
                if kind == "number":
                    parse_number(key, value)
                elif kind == "bool":
                    parse_bool(key, value)
            except ValueProblem as exc:
                _fail(exc.message, span)
        unknown = [k for k in keys if k not in known]
        if unknown:
            _fail(f"[{group}] section doesn't support the option '{unknown[0]}'", span)


def _null(options: Options, image: ProbeResult | None, span: Span) -> None:
    # block/null.c null_file_open(): the latency is read into an int64_t
    from .._values import ValueProblem, parse_number

    entry = options.get("latency-ns")
    if entry is None:
        return
    try:
        latency = parse_number("latency-ns", entry.value)
    except ValueProblem:
        return  # the typed check reports it
    if latency >= 1 << 63:
        _fail("latency-ns is invalid", span)


# Where QEMU 7.2 sets the error a QemuOpts value gives (Debian builds in a subfolder,
# hence ../../): block/null.c absorbs its options with &error_abort, so util/error.c
# error_handle() prints this line before the message and QEMU aborts.
_ERROR_SITES = (
    ("expects 'on' or 'off'", "qapi_bool_parse", "qapi/qapi-util.c", 104),
    ("is too large for parameter", "parse_option_number", "util/qemu-option.c", 99),
    ("expects a number", "parse_option_number", "util/qemu-option.c", 104),
    ("is out of range for parameter", "parse_option_size", "util/qemu-option.c", 140),
    ("expects a non-negative number", "parse_option_size", "util/qemu-option.c", 145),
)
# block/null.c and block/nvme.c absorb with &error_abort (their typed keys, by driver)
_ABORTING = {"null-co": frozenset({"size", "latency-ns", "read-zeroes"}),
             "null-aio": frozenset({"size", "latency-ns", "read-zeroes"}),
             "nvme": frozenset({"namespace"})}


def abort_notice(error: Diagnostic, key: str, driver: str | None,
                 prefix: str = "../../") -> Diagnostic | None:
    """The "Unexpected error in ..." line QEMU prints before a null-co/null-aio/nvme
    option's value error (the key as the node sees it, the node's driver); ``prefix`` is
    how the build spells its source files' path (Dialect.source_prefix)."""
    if key not in _ABORTING.get(driver or "", frozenset()) or error.code != "bad-value":
        return None
    site = next((s for s in _ERROR_SITES if s[0] in error.message), None)
    if site is None:
        return None
    return Diagnostic("abort", Severity.WARNING, f"Unexpected error in {site[1]}() at "
                      f"{prefix}{site[2]}:{site[3]}:", error.span, error.stage, located=False)
