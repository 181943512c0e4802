"""The node graph below a drive's top node: children, references, nested file.file.*.

block.c opens a node with bdrv_open_inherit(): bdrv_fill_options() picks the driver
(driver=, else the protocol of the file name), a format node first opens its ``file``
child (bdrv_open_child_bs(), which may be a reference to an existing node), probes the
format when none is named, runs the driver's open (its runtime options, its other
children: data-file, image, log, target, children.N ...), then bdrv_open_backing_file()
and last the check for options nobody consumed. This module walks that order over the
options a -drive string gives a child (``backing.*``, ``data-file.*``, ``file.file.*``)
and returns QEMU's first error, worded as QEMU words it. No file is opened except to
read an image header when ``probe`` is true (the backing file name a qcow2 records).

The graph is walked, not stored: each child group is opened recursively, as block.c
does, and the first error is the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from contextvars import ContextVar
from types import MappingProxyType
from typing import Protocol

import attrs

from ..diagnostics import Diagnostic, Severity, Span, Stage, Stop, error
from ..options import FILE_POSIX_DRIVERS, NODE_KEYS, Kind
from ._qdict import qdict_order
from ..probe import ProbeResult, probe_file, qcow2_backing_format
from .._values import ValueProblem, id_wellformed, parse_bool, parse_number, parse_size
from . import _graph_locks as graph_locks
from ._graph_locks import METADATA_FORMATS
from . import _fmt_common, drivers, formats, hostprobe

__all__ = ["open_child", "open_backing", "open_format_child", "split_children", "no_backing"]

# Options block.c bdrv_open_common() (bdrv_runtime_opts) reads on every node.
_COMMON = NODE_KEYS
# bdrv_parse_filename of the null drivers (block/null.c) takes only its own URL.
_NULL = {"null-co": "null-co://", "null-aio": "null-aio://"}


class _Entry(Protocol):
    """What convert.Entry offers: an option's key, value, order and place in the text."""

    @property
    def key(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def span(self) -> Span: ...


Options = Mapping[str, "_Entry"]


def split_children(info: drivers.DriverInfo, options: Options) -> dict[str, dict[str, _Entry]]:
    """``options`` grouped by the child they belong to (``""``: the node's own)."""
    out: dict[str, dict[str, _Entry]] = {}
    for key, entry in options.items():
        child = info.child_of(key)
        group = out.setdefault(child or "", {})
        group[key if child is None else key[len(child):].removeprefix(".")] = entry
    return out


def _span(options: Options, fallback: Span) -> Span:
    if not options:
        return fallback
    return max(options.values(), key=lambda e: e.seq).span


def _stop(message: str, span: Span, stage: Stage = Stage.NODE) -> Diagnostic:
    return error("node-open", message, span, stage).diagnostic


# block.c bdrv_inherited_options(): what a child takes from its parent's options unless
# it names its own (read-only too, but a backing child defaults to read-only=on)
_INHERITED = ("cache.direct", "cache.no-flush", "force-share")
_READ_ONLY = ("read-only", "auto-read-only")


def inherited(parent: Options, cow: bool = False) -> dict[str, _Entry]:
    """The options a child of a node with ``parent`` options inherits (``cow``: the
    backing child, bdrv_backing_options' read-only=on, auto-read-only=off defaults)."""
    out = {k: parent[k] for k in _INHERITED if k in parent}
    if cow:
        out["read-only"] = synthetic("read-only", "on", Span(0, 0))
        out["auto-read-only"] = synthetic("auto-read-only", "off", Span(0, 0))
    else:
        out.update((k, parent[k]) for k in _READ_ONLY if k in parent)
    return out


def open_child(role: str, options: Options, span: Span, *, optional: bool,
               probe: bool, parent: drivers.DriverInfo | None = None,
               filename: str | None = None,
               defaults: Options = MappingProxyType({}),
               warnings: list[Diagnostic] | None = None) -> Diagnostic | None:
    """bdrv_open_child(): a child given by sub-options or by reference (key ``""``);
    ``filename`` is the parent's option naming it (blkverify's x-image); ``defaults``
    what it inherits (:func:`inherited`); ``warnings`` receives what its open warns
    (a probed raw node's warning)."""
    ref = options.get("")
    rest = {k: e for k, e in options.items() if k != ""}
    if ref is not None and filename is not None:  # x-image= given, even empty
        return _stop("Cannot reference an existing block device with additional options "
                     "or a new filename", ref.span)
    if ref is None and not rest and not filename:
        if optional:
            return None
        return _stop(f'A block device must be specified for "{role}"', span)
    return _open(role, rest, ref, filename, span, probe,
                 protocol_child=_as_protocol(parent, role), defaults=defaults,
                 warnings=warnings)


def child_filename(parent: drivers.DriverInfo, role: str,
                   own: Mapping[str, _Entry]) -> str | None:
    """The parent option that names the child's file (block-drivers.json filename_option)."""
    row = drivers.child_rows(parent.name).get(role) or {}
    option = row.get("filename_option")
    entry = own.get(option) if option else None
    return entry.value if entry is not None else None


# Metadata children: never format-probed (block.c bdrv_inherited_options()).
_METADATA = frozenset({"log"})


def _as_protocol(parent: drivers.DriverInfo | None, role: str) -> bool:
    """block.c bdrv_inherited_options(): a format node's children (but backing) and
    metadata children are opened as protocols; a protocol filter's children inherit
    that; the data children of other filters are probed."""
    if parent is None:
        return False
    if parent.is_format or role in _METADATA:
        return True
    # A protocol filter's primary child (bdrv_open_file_child) inherits its protocol flag;
    # its other data children (blkverify's test) are probed.
    row = drivers.child_rows(parent.name).get(role) or {}
    return parent.protocol and row.get("call") == "bdrv_open_file_child"


def open_backing(options: Options, span: Span, header_backing: str | None,
                 supports_backing: bool, probe: bool,
                 parent: Options = MappingProxyType({}),
                 header_format: str | None = None,
                 warnings: list[Diagnostic] | None = None) -> Diagnostic | None:
    """block.c bdrv_open_backing_file() for the options under ``backing.`` (``parent``:
    the overlay's own options, which the backing node inherits from; ``header_format``
    the backing format the overlay's header records; ``warnings`` receives what the
    backing node's open warns: raw's probing warning on a backing opened read-write)."""
    ref = options.get("")
    rest = {k: e for k, e in options.items() if k != ""}
    if ref is not None and ref.value == "":
        return None  # backing= (null): no backing file, a deprecation warning elsewhere
    filename = None
    if ref is None and "file.filename" not in rest:
        if not header_backing and not rest:
            return None
        filename = header_backing or None
    if not supports_backing:
        return _stop("Driver doesn't support backing files", span)
    if ref is None and header_format and "driver" not in rest:
        # the header's backing format names the driver, whatever file the options give
        rest["driver"] = synthetic("driver", header_format, span)
    problem = _open("backing", rest, ref, filename, span, probe, protocol_child=False,
                    defaults=inherited(parent, cow=True), warnings=warnings)
    if problem is None:
        return None
    return attrs.evolve(problem, message=f"Could not open backing file: {problem.message}")


def synthetic(key: str, value: str, span: Span) -> _Entry:
    """An option QEMU derives itself (a URL file name parsed into ``url``)."""
    return _fmt_common.synthetic(key, value, span)


def reference(ref: _Entry) -> Diagnostic:
    """bdrv_lookup_bs(): a lone -drive defines no other node that a reference could name."""
    return _stop(f"Cannot find device='{ref.value}' nor node-name='{ref.value}'", ref.span)


# The names the drives opened before this one give (block/block-backend.c blk_by_name():
# a drive's id; its node-name): what a child given by reference finds (qdrive.check sets
# it drive by drive, in QEMU's order).
EARLIER_NAMES: ContextVar[AbstractSet[str]] = ContextVar("qdrive_earlier_drive_names",
                                                         default=frozenset())


def _open(role: str, options: dict[str, _Entry], ref: _Entry | None, filename: str | None,
          span: Span, probe: bool, protocol_child: bool,
          defaults: Options = MappingProxyType({}),
          warnings: list[Diagnostic] | None = None) -> Diagnostic | None:
    """bdrv_open_inherit() of one node; the first error, or None when it opens."""
    span = _span(options, ref.span if ref is not None else span)
    if ref is not None:
        if options or filename:
            return _stop("Cannot reference an existing block device with additional "
                         "options or a new filename", ref.span)
        if ref.value in EARLIER_NAMES.get():
            return None  # an earlier drive's node: what it checks is that drive's
        return reference(ref)
    options = {**defaults, **options}  # bdrv_inherited_options(): its own win
    drv_entry = options.get("driver")
    info = None
    if drv_entry is not None:
        info = drivers.driver(drv_entry.value)
        if info is None or drv_entry.value not in drivers.known():
            return _stop(f"Unknown driver '{drv_entry.value}'", drv_entry.span, Stage.FILL)
    # An explicit driver overrides the protocol flag the parent passes down (block.c
    # bdrv_fill_options()); without one the flag decides.
    if info.protocol if info is not None else protocol_child:
        return _open_protocol(options, info, filename, span, probe)
    return _open_format(role, options, info, filename, span, probe, warnings=warnings)


def _open_protocol(options: dict[str, _Entry], info: drivers.DriverInfo | None,
                   filename: str | None, span: Span, probe: bool = False) -> Diagnostic | None:
    name = options.get("filename")
    if filename and name is not None:
        return _stop("Can't specify 'file' and 'filename' options at the same time",
                     name.span, Stage.FILL)
    fname = filename or (name.value if name else None)
    if info is None:
        if not fname and name is None:  # filename="" is a name (the file driver's)
            return _stop("Must specify either driver or file", span, Stage.FILL)
        prefix, colon, _ = (fname or "").partition(":")
        known = drivers.protocols()
        if colon and "/" not in prefix and prefix:
            if prefix not in known:
                return _stop(f"Unknown protocol '{prefix}'", span, Stage.FILL)
            info = drivers.driver(known[prefix])
        else:
            info = drivers.driver("file")
        assert info is not None
    if info.name in _NULL and filename and filename != _NULL[info.name]:
        return _stop(f"The only allowed filename for this driver is '{_NULL[info.name]}'",
                     span, Stage.FILL)
    unnamed = info.needs_filename and not fname
    problem = _open_common(options, span, info.name if unnamed else None) or \
        _typed(info, options) or _file_posix(info, options, span)
    if problem is None and probe and info.name == "file" and fname:
        found = probe_file(fname)  # block/file-posix.c raw_open_common(): the open itself
        if found.error:
            return _stop(f"Could not open '{fname}': {found.error}", span, Stage.FILE)
        kind = hostprobe.file_type_problem(fname, "file")  # after the open: its type
        if kind:
            return _stop(kind, span, Stage.FILE_CHECKS)
    return problem or _native_aio(info, options) or \
        no_backing(info, options, span) or \
        _leftover(info, options, span, Stage.CHILD_LEFTOVER)


def no_backing(info: drivers.DriverInfo | None, options: Options,
               span: Span) -> Diagnostic | None:
    """block.c bdrv_open_inherit() -> bdrv_open_backing_file() after the node's open:
    backing options given to a node whose driver has no backing files (a protocol)."""
    null = options.get("backing")
    if info is None or info.supports_backing or null is not None and null.value == "":
        return None  # backing= (null) sets BDRV_O_NO_BACKING: none is opened
    given = [e for k, e in options.items() if k.startswith("backing.") or k == "backing"]
    if not given:
        return None
    return _stop("Driver doesn't support backing files", span, Stage.CHILD_LEFTOVER)


def _file_posix(info: drivers.DriverInfo, options: Options, span: Span) -> Diagnostic | None:
    """block/file-posix.c raw_open_common() before its qemu_open(): aio and locking."""
    from . import rules

    if info.name not in FILE_POSIX_DRIVERS:
        return None
    try:
        rules.check_file_posix_options({k: e for k, e in options.items()
                                        if k in ("aio", "locking")})
    except Stop as stop:
        return stop.diagnostic
    return None


def _native_aio(info: drivers.DriverInfo, options: Options) -> Diagnostic | None:
    """block/file-posix.c raw_open_common(): aio=native needs the node's cache.direct=on
    (its own or inherited)."""
    from . import rules

    aio, direct = options.get("aio"), options.get("cache.direct")
    if info.name not in FILE_POSIX_DRIVERS or aio is None or aio.value != "native":
        return None
    try:
        if direct is not None and parse_bool("cache.direct", direct.value):
            return None
        rules.native_needs_direct(aio.span)
    except (Stop, ValueProblem) as stop:
        return stop.diagnostic if isinstance(stop, Stop) else None
    return None


def open_format_child(options: dict[str, _Entry], filename: str | None, span: Span,
                      probe: bool) -> tuple[Diagnostic | None, ProbeResult | None, str]:
    """The drive's ``file`` child when it is a format or filter node (file.driver=qcow2):
    its first error, and the bytes the top node's format probe will read through it
    (the file itself under raw without offset; a fresh image's zeros under any other)."""
    seen: list[tuple[ProbeResult, str]] = []
    drv = options["driver"].value
    info = drivers.driver(drv)
    problem = _open_format("file", options, info, filename, span, probe, seen)
    if problem is not None or not seen:
        return problem, None, ""
    found, name = seen[0]
    if drv == "raw" and "offset" not in options:
        return None, found, name
    # zeros at its end too (vpc's footer, dmg's trailer)
    tail = bytes(min(found.size, 1024)) if found.size is not None else b""
    return None, ProbeResult(True, "", "raw", found.write_access, False, None, bytes(512),
                             found.size, tail), name


def _open_format(role: str, options: dict[str, _Entry], info: drivers.DriverInfo | None,
                 filename: str | None, span: Span, probe: bool,
                 seen: list[tuple[ProbeResult, str]] | None = None,
                 warnings: list[Diagnostic] | None = None) -> Diagnostic | None:
    probed = info is None
    groups = split_children(info, options) if info is not None else _by_file(options)
    file_opts = groups.pop("file", {})
    found: ProbeResult | None = None
    has_file = bool(file_opts) or bool(filename)
    local = ""
    null_child: dict[str, _Entry] | None = None
    if has_file:
        ref = file_opts.get("")
        sub = {k: e for k, e in file_opts.items() if k != ""}
        problem = _open("file", sub, ref, filename, span, probe, protocol_child=True,
                        defaults=inherited(groups.get("", {})))
        if problem is not None:
            return problem
        local = filename or (sub["filename"].value if "filename" in sub else "")
        null_child = sub if "driver" in sub and sub["driver"].value in _NULL else None
        # A parsed file name (not file.filename=) may name a protocol ("nbd:...").
        literal = not filename or ":" not in local.split("/")[0]
        driver = sub["driver"].value if "driver" in sub else "file"
        if probe and local and literal and ref is None and driver == "file":
            found = probe_file(local)
            if found is not None and found.error:
                return _stop(f"Could not open '{local}': {found.error}", span, Stage.FILE)
            # block/file-posix.c raw_open_common() after the open: the file's type
            kind = hostprobe.file_type_problem(local, "file")
            if kind:
                return _stop(kind, span, Stage.FILE_CHECKS)
            if found is not None and seen is not None:
                seen.append((found, local))
    if info is None:
        if not has_file:
            return _stop("Must specify either driver or file", span, Stage.FILL)
        info = drivers.driver((found.format if found else None) or "raw")
        assert info is not None
        groups = split_children(info, groups.get("", {}) | _regroup(groups))
        groups.pop("file", None)
    own = groups.pop("", {})
    problem = _open_common(own, span)
    if problem is not None:
        return problem
    if found is not None and info.name in METADATA_FORMATS and local and \
            not _off(file_opts, "locking") and not _on(own, "force-share") and \
            not (_off(own, "active") and "active" in drivers.dialect().new_options.get("*", {})):
        # the driver's open attaches its file child: the graph's own image locks
        locked = graph_locks.take(local, not _read_only(own))
        if locked:
            return _stop(locked, span, Stage.CHILD)
    if found is not None and info.is_format:  # the driver reads its header
        problem_text = formats.header_problem(info.name, found, local)
        if problem_text:
            message, _, detail = problem_text.partition("\n")
            return error("format-mismatch", message, span, Stage.FORMAT, detail).diagnostic
    if not has_file and "file" in info.children and not info.file_child_optional:
        return _stop('A block device must be specified for "file"', span)
    problem = _typed(info, own)
    if problem is not None:
        return problem
    try:
        formats.driver_checks(info.name, own, found, span)
        if info.name == "raw" and found is not None and found.size is not None:
            _raw_window(own, found.size, span)
    except Stop as stop:
        return stop.diagnostic
    if probed and info.name == "raw" and found is not None and warnings is not None and \
            not _read_only(own):
        # block/raw-format.c raw_open() warns at its end, before the unused options
        warnings.append(formats.probed_raw_warning(local, span))
    elif probed and info.name == "raw" and null_child is not None and warnings is not None \
            and not _read_only(own):  # the same warning over a null driver's zeros
        warnings.append(formats.probed_raw_warning(
            formats.null_name(null_child["driver"].value, null_child), span))
    backing = groups.pop("backing", {})
    for child, sub in sorted(groups.items()):
        problem = open_child(child, sub, span, optional=_optional(info, child), probe=probe,
                             parent=info, filename=child_filename(info, child, own),
                             defaults=inherited(own))
        if problem is not None:
            return problem
    header = found.backing_file if found is not None and found.format == info.name else None
    problem = open_backing(backing, span, header, info.supports_backing, probe, own,
                           qcow2_backing_format(found.head) if header and found else None)
    if problem is not None:
        return problem
    return _leftover(info, own, span)


def _raw_window(own: Mapping[str, _Entry], file_size: int, span: Span) -> None:
    """block/raw-format.c raw_apply_options() of a raw child node: its offset/size
    inside its file, then a size in whole sectors."""
    try:
        offset = parse_size("offset", own["offset"].value)[0] if "offset" in own else 0
        size = parse_size("size", own["size"].value)[0] if "size" in own else None
    except ValueProblem:
        return  # the typed check reports it
    if "offset" not in own and size is None:
        return
    formats.raw_limits(offset, size, file_size, span)
    if size is not None and size % 512:
        raise Stop(_stop("Specified size is not multiple of 512", span))


def _on(own: Mapping[str, _Entry], key: str) -> bool:
    entry = own.get(key)
    try:
        return entry is not None and parse_bool(key, entry.value)
    except ValueProblem:
        return False


def _off(own: Mapping[str, _Entry], key: str) -> bool:
    entry = own.get(key)
    return entry is not None and entry.value in ("off", "false", "no", "n")


def _read_only(own: Mapping[str, _Entry]) -> bool:
    entry = own.get("read-only")
    try:
        return entry is not None and parse_bool("read-only", entry.value)
    except ValueProblem:
        return False


def _open_common(own: Mapping[str, _Entry], span: Span,
                 unnamed: str | None = None) -> Diagnostic | None:
    """block.c bdrv_open_common() of a child node, after a format node's file child
    opened (bdrv_open_inherit() opens it first, for probing) and before its driver
    reads the header: the common booleans, force-share, the file name a file-posix
    driver ``unnamed`` lacks, discard, then the node-name (bdrv_open_driver())."""
    from . import rules

    common = {k: e for k, e in own.items() if k in _COMMON_BOOLS}
    problem = _typed(_NO_DRIVER, common)
    if problem is not None:
        return problem
    try:
        share, read_only = (parse_bool(k, own[k].value) if k in own else False
                            for k in ("force-share", "read-only"))
        rules.check_force_share(share, read_only, span)
    except Stop as stop:
        return stop.diagnostic
    if unnamed is not None:
        return _stop(f"The '{unnamed}' block driver requires a file name", span, Stage.CHILD)
    discard = own.get("discard")
    if discard is not None and discard.value not in ("ignore", "off", "unmap", "on"):
        return _stop("Invalid discard option", discard.span)
    name = own.get("node-name")  # block.c bdrv_assign_node_name(), as rules.check_node_name
    if name is not None and not id_wellformed(name.value):
        return _stop(f"Invalid node-name: '{name.value}'", name.span)
    if name is not None and len(name.value.encode()) >= 32:
        return _stop("Node name too long", name.span)
    return None


_NO_DRIVER = drivers.DriverInfo(
    name="", is_format=True, protocol=False, kinds=MappingProxyType({}), children=(),
    prefixes=(), supports_backing=False, needs_filename=False, has_qemu_opts=False,
    file_child_optional=True)


def _by_file(options: Mapping[str, _Entry]) -> dict[str, dict[str, _Entry]]:
    out: dict[str, dict[str, _Entry]] = {"": {}}
    for key, entry in options.items():
        if key == "file" or key.startswith("file."):
            out.setdefault("file", {})[key[5:]] = entry
        else:
            out[""][key] = entry
    return out


def _regroup(groups: Mapping[str, Mapping[str, _Entry]]) -> dict[str, _Entry]:
    """Child groups back into flat keys (after probing picked the driver)."""
    out: dict[str, _Entry] = {}
    for child, sub in groups.items():
        if child in ("", "file"):
            continue
        for key, entry in sub.items():
            out[f"{child}.{key}" if key else child] = entry
    return out


def _optional(info: drivers.DriverInfo, child: str) -> bool:
    table = drivers.child_rows(info.name)
    name = child.rstrip("0123456789") + "N" if child[-1:].isdigit() else child
    return bool(table.get(name, {}).get("optional", True))


def typed_options(info: drivers.DriverInfo, own: Mapping[str, _Entry],
                  warnings: list[Diagnostic] | None = None) -> Diagnostic | None:
    """The first value of ``own`` that the driver's QemuOpts would refuse; the warnings
    of the values read before it (a hex size's suffix) go to ``warnings``."""
    return _typed(info, own, warnings)


# block.c bdrv_runtime_opts: the booleans every node reads in bdrv_open_common().
_COMMON_BOOLS = frozenset({"cache.direct", "cache.no-flush", "read-only", "auto-read-only",
                           "force-share"})


def _typed(info: drivers.DriverInfo, own: Mapping[str, _Entry],
           warnings: list[Diagnostic] | None = None) -> Diagnostic | None:
    added = drivers.dialect().options_added(info.name)  # a later release's (curl's)
    for key in sorted(own, key=lambda k: (qdict_order(k), -own[k].seq)):
        kind = Kind.BOOL if key in _COMMON_BOOLS else info.kinds.get(key) or added.get(key)
        if kind is None or not (key in _COMMON_BOOLS or info.typed(key) or key in added):
            continue
        entry = own[key]
        try:
            if kind is Kind.BOOL:
                parse_bool(key, entry.value)
            elif kind is Kind.NUMBER:
                parse_number(key, entry.value)
            elif kind is Kind.SIZE:
                # util/qemu-option.c parse_option_size() warns as it reads the value
                warning = parse_size(key, entry.value, drivers.dialect().size_syntax)[1]
                if warning and warnings is not None:
                    warnings.append(Diagnostic("hex-suffix", Severity.WARNING, warning,
                                               entry.span, Stage.CHILD))
        except ValueProblem as p:
            return error("bad-value", p.message, entry.span, Stage.NODE, p.detail).diagnostic
    return None


def _own_options(info: drivers.DriverInfo, options: Mapping[str, _Entry], span: Span,
                 stage: Stage) -> Diagnostic | None:
    problem = _typed(info, options)
    return problem or _leftover(info, options, span, stage)


def _leftover(info: drivers.DriverInfo, own: Mapping[str, _Entry], span: Span,
              stage: Stage = Stage.LEFTOVER) -> Diagnostic | None:
    # a protocol's file name is its own, but block/null.c's drivers only take one to
    # parse (block.c bdrv_fill_options()): filename= given as an option is left over
    # backing="" is taken as null and deleted before the driver's open (block.c
    # bdrv_open_inherit()), whatever the driver
    unknown = [k for k in own if k not in _COMMON and not info.owns(k)
               and not (info.protocol and k == "filename" and info.name not in _NULL)
               and not (k == "backing" and own[k].value == "")]
    if not unknown:
        return None
    key = min(unknown, key=lambda k: (qdict_order(k), own[k].seq))
    if info.protocol:
        text = f"Block protocol '{info.name}' doesn't support the option '{key}'"
    else:
        text = f"Block format '{info.name}' does not support the option '{key}'"
    return _stop(text, own[key].span, stage)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
