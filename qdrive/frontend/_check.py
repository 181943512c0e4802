"""parse_drive() and check(): one drive from its string, or a whole command line.

check() runs the drives the way QEMU 7.2 starts: every -drive string is
parsed first (softmmu/vl.c), then drive_new() runs for each in order with the
slots taken by the earlier ones, then the file is opened, then the board
claims its drives (hw/i386/pc*.c, blockdev.c drive_check_orphaned()).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from . import dialects
from ._syntax import RawOption, tokenize
from ._board import board_problems
from ._conversion import Conversion
from ._convert import convert_72
from ..diagnostics import Diagnostic, Severity, Span, Stage
from ..errors import DriveError, UnsupportedDialect
from . import hostprobe
from . import formats
from .formats import header_problem
from .._values import is_true
from ..options import FILE_POSIX_DRIVERS, NODE_KEYS
from ..model import DEFAULT_DIALECT, DIALECTS, Drive, Interface
from .placement import Machine, Slots, device_id
from .placement import machine as get_machine
from .policy import Policy
from ..probe import ProbeResult, probe_file
from .placement import Placement
from .results import CheckResult, DriveResult

if TYPE_CHECKING:
    from .policy._guard import Guard, Opened


__all__ = ["parse_drive", "check", "DriveArg", "check_drives", "new_guard"]


def _dialect(name: str) -> str:
    if name not in DIALECTS:
        raise UnsupportedDialect(f"unknown dialect {name!r}; qdrive knows {', '.join(DIALECTS)}")
    return name


def parse_drive(text: str, *, dialect: str = DEFAULT_DIALECT) -> Drive:
    """Read one -drive option string exactly as QEMU would; the string alone decides.

    Returns the :class:`Drive`, or raises :class:`DriveError` with QEMU's message
    and the span of the offending option. No file is touched. ``dialect="auto"`` reads
    the dialect from the qemu-system-x86_64 on PATH (once; see qdrive.frontend.autodialect).
    """
    if dialect == "auto":
        from .autodialect import auto_dialect

        dialect = auto_dialect().dialect
    if _dialect(dialect) != DEFAULT_DIALECT:
        return dialects.parse_2008(text)
    conv = convert_72(text, tokenize(text), Interface.IDE)
    if conv.error is not None:
        raise DriveError.of(text, conv.error, tuple(conv.warnings))
    assert conv.drive is not None
    return conv.drive


@attrs.frozen
class DriveArg:
    """One drive of a command line: ``-drive TEXT`` or a shorthand such as ``-hda PATH``.

    softmmu/vl.c drive_add(): a shorthand parses its built-in ``optstr`` as a -drive
    string, then appends ``if``, ``index`` and ``file`` (the path verbatim: commas in it
    are not separators). ``option`` and ``text`` are what QEMU prints as the location.
    """

    text: str
    option: str = "-drive"
    optstr: str | None = None  # None: parse ``text`` itself
    extra: tuple[tuple[str, str], ...] = ()

    def items(self, snapshot: bool) -> list[RawOption]:
        """The drive's options as QEMU holds them (``-snapshot`` adds snapshot=on)."""
        if self.optstr is None:
            items = tokenize(self.text)
        else:  # the caret can only point at the argument as a whole
            whole = Span(0, len(self.text))
            items = [i._replace(span=whole) for i in tokenize(self.optstr)]
            items += [RawOption(k, v, whole) for k, v in self.extra]
        if snapshot and not any(i.key == "snapshot" for i in items):
            items.append(RawOption("snapshot", "on", Span(0, len(self.text))))
        return items


def check(drives: str | Drive | DriveArg | Iterable[str | Drive | DriveArg], *,
          dialect: str = DEFAULT_DIALECT, machine: str = "pc", probe_files: bool = True,
          snapshot: bool = False, policy: Policy | None = None,
          qemu_user: int | str | None = None,
          hand_off: bool | str = False) -> CheckResult:
    """Check drives together, as one QEMU command line would have them.

    ``drives`` are -drive strings, :class:`Drive` objects (their canonical string) or
    :class:`DriveArg` (shorthands such as -hda); ``dialect="auto"`` picks the dialect of
    the qemu-system-x86_64 on PATH (:func:`qdrive.frontend.autodialect.auto_dialect`);
    ``snapshot`` is QEMU's -snapshot; ``policy`` adds qdrive's own refusals for
    untrusted input (see :class:`qdrive.Policy`): under an untrusted policy no file is
    opened by name, only through descriptors of the allowed directories. With
    ``hand_off`` (untrusted policy only; True or "fdset", or "proc") a result that is ok
    carries ``result.hand_off``: the QEMU arguments and open descriptors of the checked
    inodes (see :mod:`qdrive.frontend.policy._handoff`); the caller closes it.

    With ``probe_files`` (the default) and no untrusted policy, the host is looked at the
    way QEMU's open will find it: the image's type, a read-only mount, O_DIRECT support,
    io_uring, other processes' image locks (tested, never taken) and permissions.
    ``qemu_user`` (a name or uid) is the user QEMU will run as; its access is judged from
    owner, group and mode bits only (no ACLs), without switching user. None: this
    process's user.
    """
    given = [drives] if isinstance(drives, str | Drive | DriveArg) else list(drives)
    args = [d if isinstance(d, DriveArg) else DriveArg(str(d)) for d in given]
    if dialect == "auto":
        from .autodialect import auto_dialect

        dialect = auto_dialect().dialect
    if _dialect(dialect) != DEFAULT_DIALECT:
        if policy is not None and policy.untrusted_input:
            raise ValueError("the untrusted policy judges the qemu-7.2 dialect only")
        return CheckResult(dialect, tuple(dialects.check_2008([a.text for a in args])))
    guard = new_guard(policy, probe_files, hand_off)
    try:
        result, files = check_drives(args, machine=machine, probe_files=probe_files,
                                     snapshot=snapshot, guard=guard, qemu_user=qemu_user)
        if guard is not None and hand_off and result.ok:
            from .policy._handoff import FdSets, HandOff, drive_args

            sets = FdSets(guard.hand_off or "fdset")
            argv = [word for r, opened in zip(result.drives, files, strict=True)
                    for word in drive_args(r.drive, opened, sets)]
            result = attrs.evolve(result, hand_off=HandOff.of(sets, argv, guard))
            guard = None  # the hand-off owns the descriptors now
        return result
    finally:
        if guard is not None:
            guard.close()


def new_guard(policy: Policy | None, probe_files: bool, hand_off: bool | str) -> Guard | None:
    """The untrusted policy's guard for one check (None for a trusted or no policy)."""
    from .policy._handoff import mode_of

    mode = mode_of(hand_off)
    if policy is None or not policy.untrusted_input:
        if mode:
            raise ValueError("hand_off needs an untrusted Policy (Policy.untrusted([...]))")
        return None
    if mode and not probe_files:
        raise ValueError("hand_off needs the images opened: it cannot be offline")
    from .policy._guard import Guard

    return Guard(policy, inspect_files=probe_files, hand_off=mode)


def check_drives(args: Sequence[DriveArg], *, machine: str, probe_files: bool,
                 snapshot: bool, guard: Guard | None,
                 qemu_user: int | str | None = None
                 ) -> tuple[CheckResult, list[tuple[Opened, ...]]]:
    """check() for qemu-7.2 with a guard already made: the result and, per drive, the
    files the guard keeps open for it (empty without a guard)."""
    board = get_machine(machine)
    slots = Slots(board)
    items = [a.items(snapshot) for a in args]
    user = hostprobe.QemuUser.of(qemu_user) if qemu_user is not None else None
    done = [_one(a, its, slots, board, probe_files, guard, user)
            for a, its in zip(args, items, strict=True)]
    results = _duplicate_ids([r for r, _ in done], items)
    results = _device_names(results)
    ids = None if guard is None else [(f[0].st.st_dev, f[0].st.st_ino) if f else None
                                      for _, f in done]
    result = CheckResult(DEFAULT_DIALECT, tuple(board_problems(results, board, probe_files,
                                                               ids)))
    return result, [f for _, f in done]


def _one(arg: DriveArg, items: list[RawOption], slots: Slots, board: Machine,
         probe_files: bool, guard: Guard | None,
         user: hostprobe.QemuUser | None = None) -> tuple[DriveResult, tuple[Opened, ...]]:
    text = arg.text
    # Under an untrusted policy nothing is opened by name: the guard reads descriptors.
    by_name = probe_files and guard is None
    conv = convert_72(text, items, board.default_if, slots.place, probe=by_name)
    found = _probe_once(items) if by_name else None
    if found is not None and found.exists and not found.error:
        # Unknown-option checks name the probed format, children and raw's offset/size
        # look at the header (qdrive/frontend/opentime.py): look before judging them.
        slots.last = None
        fmt = found.format if conv.format_probed and found.format else "raw"
        conv = convert_72(text, items, board.default_if, slots.place, fmt, image=found,
                          probe=True)
    refusal = None
    files: tuple[Opened, ...] = ()
    # The policy speaks for every error from bdrv_fill_options() on: QEMU may open a file
    # a child names (blkdebug's config=) before the error the conversion predicts.
    if guard is not None and (conv.error is None or conv.error.stage >= Stage.FILL):
        verdict = guard.judge_drive(conv, text)
        refusal, found, files = verdict.refusal, verdict.found, verdict.files
        conv.warnings.extend(verdict.warnings)
    if refusal is not None:
        conv = attrs.evolve(conv, error=refusal)
    elif probe_files and guard is None:
        conv = _probe(conv, items, found, user)
    elif probe_files and found is not None:
        # Under the policy only the checked descriptor is probed, never the name: the
        # host checks by name (hostprobe) are skipped, the header checks are not.
        conv = _probe(conv, items, found, user, by_name=False)
    conv = _abort_notice(conv, items)
    host = None
    if (guard is None and probe_files and conv.drive is not None and conv.error is None
            and _local_name(items)):
        host = hostprobe.host_facts(_local_name(items), conv.drive, user)
    placement = None
    if conv.drive is not None and slots.last is not None:
        iface = conv.drive.interface or board.default_if
        slots.commit(iface)
        bus, unit = slots.last
        placement = Placement(iface, bus, unit, _index(conv.drive),
                              conv.drive.id or device_id(iface, bus, unit, conv.drive.media,
                                                         board.max_devs(iface)))
    return DriveResult(text, conv.drive if conv.error is None else None, conv.error,
                       tuple(conv.warnings), placement, arg.option, conv.probed_format,
                       host), files


def _abort_notice(conv: Conversion, items: list[RawOption]) -> Conversion:
    """A null-co/null-aio option's bad value aborts QEMU, which says where first."""
    err = conv.error
    if err is None:
        return conv
    key = conv.text[err.span.start:err.span.end].partition("=")[0]
    last = {i.key: i.value for i in items}
    driver = last.get("driver") or last.get("format")
    if key.startswith("file."):
        key, driver = key[len("file."):], last.get("file.driver")
    notice = formats.abort_notice(err, key, driver)
    if notice is None:
        return conv
    return attrs.evolve(conv, warnings=[*conv.warnings, notice])


def _probe_once(items: list[RawOption]) -> ProbeResult | None:
    """The image's header as the format probe reads it (None for no local file name)."""
    name = _local_name(items)
    return probe_file(name) if name else None


def _local_name(items: list[RawOption]) -> str:
    """The local file the drive opens, if any. file= goes through bdrv_find_protocol()
    (a ``prefix:`` names a protocol); file.filename= and filename= with driver=file are
    taken literally (block.c bdrv_fill_options() parses only the file= name)."""
    keys = {i.key: i.value for i in items}
    if keys.get("driver") in FILE_POSIX_DRIVERS and keys.get("filename"):
        return keys["filename"]
    if keys.get("file.driver", "file") not in FILE_POSIX_DRIVERS:
        return ""
    name = keys.get("file") or ""
    if name.startswith("json:"):
        return _json_local_name(name, "format" in keys or "driver" in keys)
    prefix, colon, rest = name.partition(":")
    if colon and prefix in FILE_POSIX_DRIVERS:  # raw-posix's parse_filename strips it
        return rest
    if name:
        return "" if ":" in name.split("/")[0] else name
    return keys.get("file.filename") or ""




def _json_local_name(name: str, driver_given: bool) -> str:
    """The local file a json: name opens: its file child's filename (a file-posix
    child, one level down), or its own filename when it names a file-posix driver that
    the drive's format=/driver= does not replace."""
    from . import jsonname

    try:
        parsed = jsonname.parse(name)
    except jsonname.JsonNameError:
        return ""
    if any(k.startswith("file.file.") for k in parsed):
        return ""
    child = parsed.get("file.filename")
    if child and (parsed.get("file.driver") or "file") in FILE_POSIX_DRIVERS:
        return child
    own = parsed.get("filename")
    if own and parsed.get("driver") in FILE_POSIX_DRIVERS and "file.driver" not in parsed \
            and not driver_given:
        return own
    return ""


def _index(drive: Drive) -> int | None:
    from .._values import to_int32

    return None if drive.index is None or to_int32(drive.index) == -1 else to_int32(drive.index)


def _probe(conv: Conversion, items: list[Any], found: ProbeResult | None,
           user: hostprobe.QemuUser | None = None, *, by_name: bool = True) -> Conversion:
    """bdrv_open(): open the file; a failure here beats any later-stage error.

    ``found`` is the header probe already made for format probing, if any."""
    if conv.empty or conv.error is not None and conv.error.stage <= Stage.FILE:
        return conv
    name = _local_name(items)
    local = bool(name)  # a file of the host, not a name a format child read through
    if not name and conv.seen is not None:  # read through a format child (file.driver=raw)
        found, name = conv.seen, conv.seen_name
    if not name:
        return conv
    if found is None:
        found = probe_file(name)
    span = conv.span_of("file")
    if by_name and local:
        held = _host_problems(conv, items, name, found, user, span)
        if held is not None:
            return held
    if found.error:
        return _failed(conv, Diagnostic("open-failed", Severity.ERROR,
                                        f"Could not open '{name}': {found.error}", span,
                                        Stage.FILE))
    if conv.error is not None and conv.error.stage < Stage.FORMAT:
        return conv  # the file child failed after its open: before any header is read
    fmt = conv.drive.format if conv.drive else next(
        (i.value for i in reversed(items) if i.key in ("format", "driver")), None)
    return _header_checks(conv, fmt, found, name, items)


def _host_problems(conv: Conversion, items: list[Any], name: str, found: ProbeResult,
                   user: hostprobe.QemuUser | None, span: Any) -> Conversion | None:
    """What QEMU's open finds on the host by this name (never under the policy)."""
    intent = hostprobe.Intent.of(conv.drive, [(i.key, i.value) for i in items])
    why = hostprobe.open_problem(name, user, direct=intent.direct, write=intent.write,
                                 own_error=found.error)
    if why == "":  # a FIFO: QEMU's open() waits for a writer and it never starts
        return _failed(conv, Diagnostic(
            "open-blocks", Severity.ERROR, f"QEMU would block for ever opening '{name}' (a "
            "FIFO: open() waits for a writer)", span, Stage.FILE, silent=True))
    if why is not None:
        return _failed(conv, Diagnostic("open-failed", Severity.ERROR,
                                        f"Could not open '{name}': {why}", span,
                                        Stage.FILE))
    checked = _file_checks(conv, name, found, intent, user, items)
    if checked is not None:
        return checked
    fmt = conv.drive.format if conv.drive else next(
        (i.value for i in reversed(items) if i.key in ("format", "driver")), None)
    return _open_perms(conv, name, fmt or found.format, user)


# block.c bdrv_open_common(): what it checks before the driver's open reads a header
# (the runtime options every node has; a file child inherits force-share)
_COMMON_CODES = frozenset({"force-share-rw", "bad-node-name", "node-name-too-long",
                           "bad-discard"})


def _before_driver_open(conv: Conversion) -> bool:
    err = conv.error
    if err is None or err.stage < Stage.FORMAT:
        return False
    if err.code in _COMMON_CODES:
        return True
    key = conv.text[err.span.start:err.span.end].partition("=")[0]
    return err.code == "bad-value" and key in NODE_KEYS


def _read_only_format(conv: Conversion, fmt: str | None, items: list[Any]) -> str:
    """A driver that cannot write turns a read-write node read-only first (formats.py)."""
    if fmt not in formats.READ_ONLY_FORMATS:
        return ""
    last = {i.key: i.value for i in items}
    # blockdev.c drive_new() defaults auto-read-only to on for -drive
    return formats.auto_read_only_problem(
        conv.opened_read_only, is_true(last.get("copy-on-read", "off")),
        is_true(last.get("auto-read-only", "on")))


def _header_checks(conv: Conversion, fmt: str | None, found: ProbeResult,
                   name: str, items: list[Any]) -> Conversion:
    """The image's header against the format, and the probed-raw warning."""
    span = conv.span_of("file")
    if _before_driver_open(conv):
        return conv
    problem = _read_only_format(conv, fmt, items)
    if not problem:
        for notice in formats.missing_modules(fmt):
            conv.warnings.append(Diagnostic("module-missing", Severity.WARNING, notice, span,
                                            Stage.FORMAT, located=False))
        problem = _format_problem(fmt, found, name)
    if problem:
        stage = Stage.FILE_CHECKS if fmt in ("file", "host_device", "host_cdrom") else Stage.FORMAT
        message, _, detail = problem.partition("\n")
        return _failed(conv, Diagnostic("format-mismatch", Severity.ERROR, message,
                                        conv.span_of("format"), stage, detail))
    if conv.format_probed:
        conv.probed_format = found.format
    # block/raw-format.c raw_open() warns at its end: an error in the node's own options
    # (runtime options, offset/size) comes first and there is no warning.
    opened = conv.error is None or conv.error.stage >= Stage.LEFTOVER
    # raw_open(): the node's read-only flag decides, not whether the file is writable.
    writable = not conv.opened_read_only
    if conv.format_probed and found.format == "raw" and writable and opened:
        conv.warnings.append(formats.probed_raw_warning(name, span))
    return conv


def _file_checks(conv: Conversion, name: str, found: ProbeResult,
                 intent: hostprobe.Intent, user: hostprobe.QemuUser | None,
                 items: Sequence[RawOption] = ()) -> Conversion | None:
    """raw_open_common() after the open: the io_uring ring, then the file type (an error
    of the string at this stage, aio=native without O_DIRECT, comes first)."""
    if conv.error is not None and conv.error.stage <= Stage.FILE_CHECKS:
        return None
    message = ""
    if intent.io_uring and not hostprobe.io_uring_usable(user):
        # block/io_uring.c luring_init() hands errno to error_setg_errno(), but liburing
        # returns the error instead of setting errno: 7.2 prints no reason on -drive.
        message = "Unable to use io_uring: failed to init linux io_uring ring"
    if not message and conv.drive is not None:
        message = hostprobe.file_type_problem(name, hostprobe.protocol_of(conv.drive,
                                                                          found.device))
    elif not message and conv.error is not None and conv.error.stage > Stage.FILE_CHECKS \
            and conv.error.code != "force-share-rw":
        # the drive failed later (a driver option): its file child was opened first
        # (block.c bdrv_open_common() checks force-share on that child before its open)
        named = next((i.value for i in reversed(items) if i.key == "file.driver"), None) or \
            next((i.value.partition(":")[0] for i in reversed(items) if i.key == "file"), None)
        message = hostprobe.file_type_problem(name, named if named in hostprobe.PROTOCOLS
                                              else "host_device" if found.device else "file")
    if not message:
        return None
    return _failed(conv, Diagnostic("host-open", Severity.ERROR, message,
                                    conv.span_of("file"), Stage.FILE_CHECKS))


def _open_perms(conv: Conversion, name: str, fmt: str | None,
                user: hostprobe.QemuUser | None) -> Conversion | None:
    """The permissions the image file gets at -drive time (a qcow2 node writes its
    metadata): reopening it read-write, then other processes' lock bytes."""
    if conv.drive is None or conv.error is not None and conv.error.stage <= Stage.FORMAT:
        return None
    facts = hostprobe.host_facts(name, conv.drive, user)
    if facts is None:
        return None
    problem = hostprobe.perm_problem(facts, hostprobe.perms_at_open(conv.drive, fmt), None)
    if problem is None:
        return None
    message, detail = problem
    return _failed(conv, Diagnostic("image-locked" if detail else "open-failed",
                                    Severity.ERROR, message, conv.span_of("file"),
                                    Stage.FORMAT, detail))


def _failed(conv: Conversion, err: Diagnostic) -> Conversion:
    """The conversion with ``err`` as its error; warnings QEMU would only print after that
    point (a size's hex-suffix warning, read later by the format driver) are dropped."""
    kept = [w for w in conv.warnings if w.stage <= err.stage]
    return attrs.evolve(conv, error=err, warnings=kept)


def _format_problem(fmt: str | None, found: ProbeResult, name: str) -> str:
    """The error opening ``name`` with driver ``fmt`` gives (qdrive/frontend/formats.py)."""
    return header_problem(fmt, found, name)


def _duplicate_ids(results: list[DriveResult],
                   items: Sequence[list[RawOption]]) -> list[DriveResult]:
    """qemu_opts_create(): a second -drive with the same id= fails while parsing."""
    seen: set[str] = set()
    out = []
    for r, its in zip(results, items, strict=True):
        first = next((i for i in its if i.key == "id"), None)
        if first is not None and first.value in seen:
            r = attrs.evolve(r, drive=None, error=Diagnostic(
                "duplicate-id", Severity.ERROR, f"Duplicate ID '{first.value}' for drive",
                first.span, Stage.PARSE))
        elif first is not None:
            seen.add(first.value)
        out.append(r)
    return out


def _device_names(results: list[DriveResult]) -> list[DriveResult]:
    """block-backend.c monitor_add_blk() and block.c bdrv_assign_node_name()."""
    ids: set[str] = set()
    nodes: set[str] = set()
    out = []
    for r in results:
        if r.ok and r.drive and r.placement:
            did, node = r.placement.device_id or "", r.drive.node_name
            msg = ""
            if node and node in nodes:
                msg = f"Duplicate nodes with node-name='{node}'"
            elif node and node in ids:
                msg = f"node-name={node} is conflicting with a device id"
            elif did in ids:
                msg = f"Device with id '{did}' already exists"
            elif did in nodes:
                msg = f"Device name '{did}' conflicts with an existing node name"
            if msg:
                r = attrs.evolve(r, drive=None, error=Diagnostic(
                    "device-name", Severity.ERROR, msg, Span(0, len(r.text)), Stage.MONITOR))
            else:
                ids.add(did)
                nodes.update([node] if node else [])
        out.append(r)
    return out
