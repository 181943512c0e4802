"""parse_drive() and check(): one drive from its string, or a whole command line.

check() runs the drives the way QEMU 7.2 starts: every -drive string is
parsed first (softmmu/vl.c), then drive_new() runs for each in order with the
slots taken by the earlier ones, then the file is opened, then the board
claims its drives (hw/i386/pc*.c, blockdev.c drive_check_orphaned()).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from . import dialects
from ._syntax import RawOption, tokenize
from .board import board_problems
from .convert import Conversion, convert_72
from .diagnostics import Diagnostic, Severity, Span, Stage
from .errors import DriveError, UnsupportedDialect
from .frontend import hostprobe
from .model import DEFAULT_DIALECT, DIALECTS, Drive, Interface
from .placement import Machine, Slots, device_id
from .placement import machine as get_machine
from .policy import Policy
from .probe import ProbeResult, probe_file
from .results import CheckResult, DriveResult, Placement

__all__ = ["parse_drive", "check", "DriveArg"]


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
        from .frontend.autodialect import auto_dialect

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
          qemu_user: int | str | None = None) -> CheckResult:
    """Check drives together, as one QEMU command line would have them.

    ``drives`` are -drive strings, :class:`Drive` objects (their canonical string) or
    :class:`DriveArg` (shorthands such as -hda); ``dialect="auto"`` picks the dialect of
    the qemu-system-x86_64 on PATH (:func:`qdrive.frontend.autodialect.auto_dialect`);
    ``snapshot`` is QEMU's -snapshot; ``policy`` adds qdrive's own refusals for
    untrusted input (see :class:`qdrive.Policy`), checked before any file is opened.

    With ``probe_files`` (the default) the host is looked at the way QEMU's open will
    find it: the image's type, a read-only mount, O_DIRECT support, io_uring, other
    processes' image locks (tested, never taken) and permissions. ``qemu_user`` (a
    name or uid) is the user QEMU will run as; its access is judged from owner, group
    and mode bits only (no ACLs), without switching user. None: this process's user.
    """
    given = [drives] if isinstance(drives, str | Drive | DriveArg) else list(drives)
    args = [d if isinstance(d, DriveArg) else DriveArg(str(d)) for d in given]
    if dialect == "auto":
        from .frontend.autodialect import auto_dialect

        dialect = auto_dialect().dialect
    if _dialect(dialect) != DEFAULT_DIALECT:
        return CheckResult(dialect, tuple(dialects.check_2008([a.text for a in args])))
    board = get_machine(machine)
    slots = Slots(board)
    items = [a.items(snapshot) for a in args]
    user = hostprobe.QemuUser.of(qemu_user) if qemu_user is not None else None
    results = [_one(a, its, slots, board, probe_files, policy, user)
               for a, its in zip(args, items, strict=True)]
    results = _duplicate_ids(results, items)
    results = _device_names(results)
    return CheckResult(dialect, tuple(board_problems(results, board, probe_files)))


def _one(arg: DriveArg, items: list[RawOption], slots: Slots, board: Machine,
         probe_files: bool, policy: Policy | None,
         user: hostprobe.QemuUser | None = None) -> DriveResult:
    text = arg.text
    conv = convert_72(text, items, board.default_if, slots.place)
    found = _probe_once(items) if probe_files and conv.format_probed else None
    if found is not None and found.format not in (None, "raw"):
        # Unknown-option checks name the probed format: look before judging them.
        slots.last = None
        conv = convert_72(text, items, board.default_if, slots.place, found.format)
    refusal = None
    if policy is not None and (conv.error is None or conv.error.stage > Stage.FILL):
        refusal = policy.refusal(items, conv.drive, text)
    if refusal is not None:
        conv = attrs.evolve(conv, error=refusal)
    elif probe_files:
        conv = _probe(conv, items, found, user)
    host = None
    if probe_files and conv.drive is not None and conv.error is None and _local_name(items):
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
                       tuple(conv.warnings), placement, arg.option, conv.probed_format, host)


def _probe_once(items: list[RawOption]) -> ProbeResult | None:
    """The image's header as the format probe reads it (None for no local file name)."""
    name = _local_name(items)
    return probe_file(name) if name else None


def _local_name(items: list[RawOption]) -> str:
    keys = {i.key: i.value for i in items}
    name = keys.get("file") or keys.get("file.filename") or ""
    if not name or ":" in name.split("/")[0] or (
            keys.get("file.driver", "file") not in hostprobe.PROTOCOLS):
        return ""
    return name


def _index(drive: Drive) -> int | None:
    from .values import to_int32

    return None if drive.index is None or to_int32(drive.index) == -1 else to_int32(drive.index)


def _probe(conv: Conversion, items: list[Any], found: ProbeResult | None,
           user: hostprobe.QemuUser | None = None) -> Conversion:
    """bdrv_open(): open the file; a failure here beats any later-stage error.

    ``found`` is the header probe already made for format probing, if any."""
    if conv.empty or conv.error is not None and conv.error.stage <= Stage.FILE:
        return conv
    name = _local_name(items)
    if not name:
        return conv
    if found is None:
        found = probe_file(name)
    span = conv.span_of("file")
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
    checked = _file_checks(conv, name, found, intent, user)
    if checked is not None:
        return checked
    fmt = conv.drive.format if conv.drive else next(
        (i.value for i in reversed(items) if i.key in ("format", "driver")), None)
    held = _open_perms(conv, name, fmt or found.format, user)
    if held is not None:
        return held
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
        conv.warnings.append(Diagnostic(
            "probed-raw", Severity.WARNING,
            f"WARNING: Image format was not specified for '{name}' and probing guessed raw.",
            span, Stage.FORMAT,
            "         Automatically detecting the format is dangerous for raw images, write "
            "operations on block 0 will be restricted.\n         Specify the 'raw' format "
            "explicitly to remove the restrictions.", "add format=raw", located=False))
    return conv


def _file_checks(conv: Conversion, name: str, found: ProbeResult,
                 intent: hostprobe.Intent, user: hostprobe.QemuUser | None
                 ) -> Conversion | None:
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


# What a format driver says when the file is not of its format (block/qcow2.c, vmdk.c).
_NOT_THIS_FORMAT = {"qcow2": "Image is not in qcow2 format",
                    "vmdk": "invalid VMDK image descriptor",
                    "qcow": "Image not in qcow format", "vpc": "invalid VPC image",
                    "qed": "Image not in QED format",
                    "parallels": "Image not in Parallels format",
                    "bochs": "Image not in Bochs format"}


def _format_problem(fmt: str | None, found: ProbeResult, name: str) -> str:
    """The error opening ``name`` with driver ``fmt`` gives, given what the probe saw."""
    if fmt == "qcow" and found.format == "qcow2":  # block/qcow.c qcow_open()
        return ("qcow (v1) does not support qcow version 3\n"
                "Try the 'qcow2' driver instead.")
    if fmt == "vdi" and found.format == "raw":  # block/vdi.c: signature at offset 0x40
        signature = int.from_bytes(found.head[0x40:0x44].ljust(4, b"\0"), "little")
        return f"Image not in VDI format (bad signature {signature:08x})"
    if fmt in _NOT_THIS_FORMAT and found.format != fmt:
        return _NOT_THIS_FORMAT[fmt]
    return ""


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
