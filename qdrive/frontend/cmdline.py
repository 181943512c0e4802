"""The whole QEMU command line: -drive beside -blockdev, -device, -object and -machine.

Mirrors the order in which softmmu/vl.c qemu_init() acts on a command line:

1. every option is read in turn: -drive and -device strings are parsed (QemuOpts: ids,
   duplicates), -blockdev is read and visited as BlockdevOptions, -object is read and
   visited as ObjectOptions;
2. qemu_create_early_backends(): the objects are made, then configure_blockdev(): every
   -blockdev node (qmp_blockdev_add), then every -drive (drive_new);
3. qemu_apply_machine_options(): the -machine properties (pflash0=, pflash1=);
4. qemu_init_board(): the board claims its drives and flash (hw/i386/pc_sysfw.c);
5. qemu_create_cli_devices(): each -device in turn; the devices -drive if=virtio asked
   for come after them.

QEMU stops at the first error; the result keeps one verdict per option, with the
options qdrive does not judge listed as skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from enum import IntEnum
from typing import Any

import attrs

from .argv import NO_ARG, SHORTHANDS, read_argv
from .blockdev_args import BlockdevError, Graph, Node, add_blockdev, parse_blockdev
from ._qdict import in_qdict_order
from ..diagnostics import location
from .devices import BLOCK_MODELS, prop_kind, properties
from .objects import ObjectError, create_object, parse_object
from ..dialect import DEFAULT, Dialect
from ..dialect import get as get_dialect
from ..errors import UnsupportedDialect
from ..model import DEFAULT_DIALECT
from .._values import on_off

__all__ = ["Phase", "OptionResult", "ArgvResult", "check_argv"]

PROG = "qemu-system-x86_64"


class Phase(IntEnum):
    """When QEMU acts on an option (the order of qemu_init())."""

    PARSE = 0
    OBJECTS = 1
    BLOCKDEV = 2
    DRIVES = 3
    MACHINE = 4
    BOARD = 5
    DEVICES = 6
    DRIVE_DEVICES = 7


@attrs.frozen
class OptionResult:
    """One option of the command line and qdrive's verdict on it."""

    index: int  # position of the option in argv
    option: str  # as typed: -blockdev, -device, ...
    text: str | None  # its argument
    kind: str  # drive, node, device, object, machine, skipped
    error: str | None = None
    skipped_reason: str | None = None
    note: str | None = None  # a check qdrive could not make, and why

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        # The span is into the argument (argv[index + 1]): qdrive points at all of it.
        return {"index": self.index, "option": self.option, "text": self.text,
                "kind": self.kind, "ok": self.ok, "error": self.error,
                "span": [0, len(self.text)] if self.text is not None else None,
                "skipped": self.skipped_reason, "note": self.note}


@attrs.frozen
class _Event:
    phase: Phase
    order: int
    text: str  # the stderr line(s)
    error: bool


@attrs.frozen
class ArgvResult:
    """The verdict on a whole command line: per option, the drives, and QEMU's stderr."""

    options: tuple[OptionResult, ...]
    drives: Any  # qdrive.CheckResult of the -drive options and shorthands
    events: tuple[_Event, ...]
    machine: str = "pc"
    state: Any = None  # what the checks built: nodes, devices (for the facts)

    @property
    def ok(self) -> bool:
        return not any(e.error for e in self.events)

    def qemu_stderr(self, prog: str = PROG) -> str:
        """What QEMU prints: the warnings before the first error, and that error."""
        lines: list[str] = []
        for e in sorted(self.events, key=lambda e: (e.phase, e.order)):
            lines.append(e.text.replace(PROG, prog))
            if e.error:
                break
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "machine": self.machine,
                "options": [o.to_json() for o in self.options],
                "drives": self.drives.to_json()["drives"],
                "stderr": self.qemu_stderr()}


def _tokens(argv: Sequence[str]) -> list[tuple[int, str, str | None]]:
    args = list(argv)
    base = 0
    if args and not args[0].startswith("-") and "qemu" in args[0].rsplit("/", 1)[-1]:
        args, base = args[1:], 1
    out: list[tuple[int, str, str | None]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-") or arg == "-":
            out.append((i + base, "-hda", arg))
            i += 1
            continue
        name = arg.lstrip("-")
        value = args[i + 1] if name not in NO_ARG and i + 1 < len(args) else None
        out.append((i + base, arg, value))
        i += 1 if name in NO_ARG else 2
    return out


@attrs.define
class _Locks:
    """Who holds which permission on each image (block/file-posix.c raw_check_lock_bytes):
    taking write where someone refuses to share it, or refusing to share it where someone
    writes, fails."""

    holders: list[tuple[tuple[int, int], bool, bool, int]] = attrs.Factory(list)

    def take(self, ident: tuple[int, int], filename: str, write: bool, unshare: bool,
             owner: object = None, chain: frozenset[int] = frozenset()) -> str:
        # A device's permissions go through the nodes under it: the holds of those
        # nodes are its own, not a conflict.
        same = [h for h in self.holders if h[0] == ident and h[3] not in chain]
        what = ""
        if write and any(h[2] for h in same):
            what = '"write"'
        elif unshare and any(h[1] for h in same):
            what = 'shared "write"'
        if what:
            return f"Failed to get {what} lock\nIs another process using the image [{filename}]?"
        self.holders.append((ident, write, unshare, id(owner)))
        return ""


@attrs.define
class _State:
    graph: Graph = attrs.Factory(Graph)
    events: list[_Event] = attrs.Factory(list)
    results: dict[int, OptionResult] = attrs.Factory(dict)
    object_ids: set[str] = attrs.Factory(set)
    device_ids: set[str] = attrs.Factory(set)
    iothreads: set[str] = attrs.Factory(set)
    backends: dict[str, Any] = attrs.Factory(dict)  # drive id -> DriveResult
    attached: dict[str, str] = attrs.Factory(dict)  # drive id or node -> device
    buses: dict[str, list[str]] = attrs.Factory(lambda: {"SCSI": [], "usb-bus": [],
                                                          "virtio-bus": []})
    named_buses: set[str] = attrs.Factory(set)
    later_ids: set[str] = attrs.Factory(set)
    locks: _Locks = attrs.Factory(lambda: _Locks())
    drive_devices: dict[str, tuple[str, dict[str, str]]] = attrs.Factory(dict)
    drive_nodes: set[str] = attrs.Factory(set)  # node-name= of -drive options
    controllers: dict[str, tuple[str, str | None]] = attrs.Factory(dict)  # bus: HBA, iothread
    contexts: dict[str, str | None] = attrs.Factory(dict)  # node in use: its iothread
    referenced: set[str] = attrs.Factory(set)  # every drive= a device gave
    node_devices: list[tuple[str, dict[str, str], Node]] = attrs.Factory(list)
    flash_nodes: list[Node] = attrs.Factory(list)  # -machine pflashN= nodes, in unit order
    failed: bool = False
    dialect: Dialect = DEFAULT  # the release whose devices are read (its removed properties)

    def fail(self, phase: Phase, order: int, message: str, option: str | None = None,
             text: str | None = None) -> None:
        if phase in (Phase.PARSE, Phase.OBJECTS, Phase.BLOCKDEV, Phase.DEVICES) and \
                order in self.results and self.results[order].error is None:
            self.results[order] = attrs.evolve(self.results[order], error=message)
        head = location(PROG, option, text) if option is not None else f"{PROG}: "
        self.events.append(_Event(phase, order, head + message.replace(
            "\n", f"\n{PROG}: " if message.startswith("system firmware") else "\n"), True))


def check_argv(argv: Sequence[str], probe_files: bool = True,
               policy: Any = None, dialect: str = DEFAULT_DIALECT) -> ArgvResult:
    """Judge a whole QEMU command line (with or without the program name).

    ``probe_files=False`` judges without opening any file (images, secret files, the
    pr-helper socket): only what the command line itself says;
    ``policy`` (a trusted :class:`qdrive.Policy`) is applied to the drives as
    :func:`qdrive.check` does; an untrusted one raises ValueError: use
    :func:`qdrive.frontend.argv.check_argv`, which judges every option against its allow-list.
    ``dialect``: the release dialect the drives are read in (its -blockdev, -device and
    -object readers are 7.2's for every release).
    """
    from ._check import check
    from ._stderr import drive_line

    if policy is not None and getattr(policy, "untrusted_input", False):
        # This reader opens secret files and -blockdev images by name; the untrusted
        # policy's reader judges every option against its allow-list and opens nothing
        # outside the allowed directories.
        raise ValueError("an untrusted policy judges a command line with "
                         "qdrive.frontend.argv.check_argv(argv, policy=...)")
    chosen = get_dialect(dialect)
    if not chosen.command_line:
        raise UnsupportedDialect(f"check_argv does not read {dialect} command lines")
    cmd = read_argv(argv)
    machine_type = cmd.machine
    tokens = _tokens(argv)
    drive_args, config_errors = _drive_args(tokens, probe_files, chosen)
    lifecycle = _machine_lifecycle(machine_type, chosen)
    drives = check(drive_args, machine=str(_known_machine(machine_type)),
                   probe_files=probe_files, snapshot=cmd.snapshot, policy=policy,
                   dialect=dialect)
    st = _State(dialect=chosen)
    st.graph.touch_files = probe_files
    for index, message in config_errors:
        st.events.append(_Event(Phase.PARSE, index, message, True))
    if lifecycle is not None:
        st.events.append(lifecycle)
    parsed: list[tuple[int, str, str, Any]] = []  # (index, option, text, parsed)
    drive_at: list[int] = []
    machine_props: dict[str, str] = {}
    for index, option, value in tokens:
        name = option.lstrip("-")
        if name == "drive" or name in SHORTHANDS:
            drive_at.append(index)
            st.results[index] = OptionResult(index, option, value, "drive")
            continue
        if name == "readconfig" and value is not None:
            drive_at.extend([index] * _config_drives(value, probe_files))
            st.results[index] = OptionResult(index, option, value, "config")
            continue
        if value is None and name not in NO_ARG:
            st.results[index] = OptionResult(index, option, None, "skipped", None,
                                             "no argument")
            continue
        if name == "blockdev":
            _parse_blockdev(st, index, option, value or "", parsed)
        elif name == "object":
            _parse_object(st, index, option, value or "", parsed)
        elif name == "device":
            _parse_device(st, index, option, value or "", parsed)
        elif name in ("machine", "M"):
            machine_props.update(_machine_props(value or ""))
            st.results[index] = OptionResult(index, option, value, "machine")
        elif name == "snapshot":
            st.results[index] = OptionResult(index, option, value, "machine")
        else:
            st.results[index] = OptionResult(index, option, value, "skipped", None,
                                             "not judged by qdrive")
    _drive_events(st, drives, drive_at, drive_line)
    if not _known_machine(machine_type, strict=True):
        st.fail(Phase.MACHINE, 0, "unsupported machine type\nUse -machine help to list "
                "supported machines")
    # 2. objects, then nodes
    secrets: dict[str, bytes] = {}
    for index, option, text, obj in parsed:
        if option == "-object":
            try:
                note = create_object(obj, probe_files, secrets)
            except ObjectError as exc:
                st.fail(Phase.OBJECTS, index, str(exc),
                        *((option, text) if exc.located else ()))
                break
            if note:
                st.results[index] = attrs.evolve(st.results[index], note=note)
    for index, option, text, opts in parsed:
        if option == "-blockdev":
            before = len(st.graph.all_nodes)
            try:
                add_blockdev(st.graph, opts)
                problem = _format_locks(st, st.graph.all_nodes[before:])
            except BlockdevError as exc:
                problem = str(exc)
            if problem:
                st.fail(Phase.BLOCKDEV, index, problem, option, text)
                break
    _drive_locks(st, drives)
    if "-usb" in [t[1] for t in tokens] or machine_props.get("usb") in ("on", "yes", "true"):
        st.buses["usb-bus"].append("usb-bus.0")
    for r in drives.drives:
        if r.ok and r.placement is not None and r.placement.device_id:
            st.backends[r.placement.device_id] = r
        if r.ok and r.drive is not None and r.drive.node_name:
            st.drive_nodes.add(r.drive.node_name)
    _drive_vs_nodes(st, drives, drive_at)
    _pflash(st, machine_props, drives, machine_type)
    _board_holders(st, drives)
    for index, option, text, props in parsed:
        if option == "-device":
            _device(st, index, option, text, props,
                    str(_known_machine(machine_type)) if _known_machine(
                        machine_type, strict=True) and machine_type not in (
                        "isapc", "microvm", "none", "x-remote") else machine_type)
    _virtio_drive_locks(st, drives)
    return ArgvResult(tuple(st.results[k] for k in sorted(st.results)), drives,
                      tuple(st.events), machine_type, st)


def _drive_lock_facts(r: Any) -> tuple[tuple[int, int], str, bool] | None:
    """(file identity, name, writes) of a drive's image as its device takes it."""
    from ..probe import file_identity

    d = r.drive
    if d is None or not d.file or d.force_share or d.snapshot or \
            d.driver_options.get("file.locking") == "off":
        return None
    name = d.file.removeprefix("file:")
    ident = file_identity(name)
    return None if ident is None else (ident, name, not d.effective_read_only)


def _board_holders(st: _State, drives: Any) -> None:
    """The devices the board made for IDE, floppy and flash drives hold their images
    (their conflicts with each other are the drives' own verdict)."""
    from ..model import Interface

    for r in drives.drives:
        p = r.placement
        if not r.ok or p is None or p.interface not in (Interface.IDE, Interface.FLOPPY,
                                                        Interface.PFLASH):
            continue
        facts = _drive_lock_facts(r)
        if facts is not None:
            ident, _, writes = facts
            st.locks.holders.append((ident, writes, p.interface is not Interface.PFLASH,
                                     id(r)))


def _virtio_drive_locks(st: _State, drives: Any) -> None:
    """The devices if=virtio drives asked for come after every -device."""
    from ..model import Interface

    if any(e.error for e in st.events):
        return
    for n, r in enumerate(drives.drives):
        p = r.placement
        if not r.ok or p is None or p.interface is not Interface.VIRTIO:
            continue
        facts = _drive_lock_facts(r)
        if facts is None:
            continue
        ident, name, writes = facts
        problem = st.locks.take(ident, name, writes, True, r, frozenset({id(r)}))
        if problem:
            st.fail(Phase.DRIVE_DEVICES, n, problem, r.option, r.text)
            return


_FORMATS = frozenset({"qcow2", "qcow", "qed", "vmdk", "vpc", "vdi", "vhdx", "parallels",
                      "luks", "bochs", "cloop", "dmg"})


def _format_locks(st: _State, nodes: list[Node]) -> str:
    """A format node keeps others from writing its file (block.c
    bdrv_default_perms_for_storage: metadata children), and writes it when writable."""
    from ..probe import file_identity

    for node in nodes:
        if node.implicit_backing and node.filename is not None:
            # an implicit backing file (or its format's file): read-only, unshares write
            ident = file_identity(node.filename)
            if ident is not None:
                problem = st.locks.take(ident, node.filename, False, True, node)
                if problem:
                    return f"Could not open backing file: {problem}"
            continue
        if node.driver not in _FORMATS:
            continue
        child = node.children.get("file")
        proto = child.protocol() if child is not None else None
        if proto is None or proto.filename is None or proto.locking == "off" or \
                proto.force_share or node.force_share:
            continue
        ident = file_identity(proto.filename)
        if ident is not None:
            problem = st.locks.take(ident, proto.filename, not node.read_only, True, node)
            if problem:
                return problem
    return ""


def _drive_locks(st: _State, drives: Any) -> None:
    """The same for each -drive with a format node (drive_new opens it at once)."""
    from ..probe import file_identity

    if any(e.error and e.phase <= Phase.DRIVES for e in st.events):
        return
    for n, r in enumerate(drives.drives):
        d = r.drive
        if d is None or r.format not in _FORMATS or not d.file or d.force_share or \
                d.driver_options.get("file.locking") == "off":
            continue
        name = d.file.removeprefix("file:")
        ident = file_identity(name)
        if ident is None:
            continue
        problem = st.locks.take(ident, name, not d.effective_read_only and not d.snapshot,
                                True, r)
        if not problem:
            problem = _backing_lock(st, name, r)
        if problem:
            st.fail(Phase.DRIVES, n, problem, r.option, r.text)
            return


def _backing_lock(st: _State, name: str, owner: object) -> str:
    """A qcow2 image's backing file, opened read-only, refuses to share write
    (block.c bdrv_default_perms_for_cow)."""
    from ..probe import file_identity, probe_file

    found = probe_file(name)
    if found.format != "qcow2" or not found.backing_file:
        return ""
    path = os.path.join(os.path.dirname(name), found.backing_file)
    ident = file_identity(path)
    if ident is None:
        return ""
    problem = st.locks.take(ident, found.backing_file, False, True, owner)
    return f"Could not open backing file: {problem}" if problem else ""


def _drive_args(tokens: list[tuple[int, str, str | None]], probe_files: bool,
                dialect: Dialect = DEFAULT) -> tuple[list[Any], list[tuple[int, str]]]:
    """The drives in QEMU's order (-drive, shorthands, -readconfig [drive] sections) and
    the config files' errors (parse time, located ``prog:FILE:LINE:`` or, as the dialect
    says, at the option: Dialect.config_errors_at_line)."""
    from ._check import DriveArg

    out: list[Any] = []
    errors: list[tuple[int, str]] = []
    for index, option, value in tokens:
        name = option.lstrip("-")
        if (name == "drive" or name in SHORTHANDS) and value is not None:
            out += list(read_argv([option, value]).drives)
        elif name == "readconfig" and value is not None and probe_files:
            from .readconfig import read_config

            sections, err = read_config(value)
            # The last section is handed on with &error_fatal itself: an error there
            # exits before its hint is added (util/qemu-config.c qemu_config_parse).
            last = sections[-1].line if sections and err is None else -1
            out += [DriveArg(s.drive_text(), f"-readconfig {value}:{s.line}" +
                             (" (last)" if s.line == last else ""))
                    for s in sections if s.group == "drive"]
            if err is not None:
                where = f"{PROG}:{value}:{err.line}: " if err.line and \
                    dialect.config_errors_at_line else location(PROG, "-readconfig", value)
                errors.append((index, where + str(err)))
    return out, errors


def _config_drives(path: str, probe_files: bool) -> int:
    from .readconfig import read_config

    return sum(1 for s in read_config(path)[0] if s.group == "drive") if probe_files else 0


def _machine_lifecycle(name: str, dialect: Dialect) -> _Event | None:
    """A versioned machine the dialect's QEMU deleted or deprecated (Dialect.machine_status).

    system/vl.c select_machine() runs once the options are parsed, before any object or
    drive is created: an unknown machine stops QEMU there; a deprecated one is warned
    about (machine_class->deprecation_reason) and QEMU goes on.
    """
    status = dialect.machine_status(name)
    if status is None:
        return None
    after_parsing = 1 << 30  # after every option's parse-time event
    if status == "removed":
        return _Event(Phase.PARSE, after_parsing, f'{PROG}: unsupported machine type: "{name}"'
                      "\nUse -machine help to list supported machines", True)
    return _Event(Phase.PARSE, after_parsing, f"{PROG}: warning: Machine type '{name}' is "
                  "deprecated: machines more than 3 years old are subject to deletion after "
                  "6 years", False)


def _known_machine(name: str, strict: bool = False) -> str | bool:
    if name.startswith("pc-q35") or name == "q35":
        return "q35" if not strict else True
    if name.startswith("pc-i440fx") or name in ("pc", "pc-i440fx") or not name:
        return "pc" if not strict else True
    if strict:
        return name in ("isapc", "microvm", "none", "x-remote")
    return "pc"


def _machine_props(value: str) -> dict[str, str]:
    out = {}
    for n, part in enumerate(value.split(",")):
        key, eq, v = part.partition("=")
        if not eq and n == 0:
            out["type"] = key
        elif eq:
            out[key] = v
    return out


def _drive_events(st: _State, drives: Any, drive_at: list[int], qemu_line: Any) -> None:
    """The drives' own verdict, split into QEMU's phases."""
    text = _config_locations(drives.qemu_stderr(PROG), drives, st.dialect)
    first = drives.first_error
    if first is None:
        if text:
            st.events.append(_Event(Phase.DRIVES, 0, text, False))
        return
    r, err = first
    from ..diagnostics import Stage

    n = drives.drives.index(r)
    line = _config_locations(qemu_line(err, r, PROG), drives, st.dialect)
    before, _, _ = text.partition(line) if line in text else ("", "", "")
    err_text = text[len(before):]
    if before.strip():
        st.events.append(_Event(Phase.DRIVES if err.stage is not Stage.PARSE else Phase.PARSE,
                                -1, before.rstrip("\n"), False))
    if err.stage is Stage.PARSE:
        phase, order = Phase.PARSE, drive_at[n] if n < len(drive_at) else 0
    elif err.stage is Stage.BOARD_DEVICE:
        phase, order = Phase.DRIVE_DEVICES, n
    elif err.stage >= Stage.BOARD:
        phase, order = Phase.BOARD, n
    else:
        phase, order = Phase.DRIVES, n
    st.events.append(_Event(phase, order, err_text, True))
    idx = drive_at[n] if n < len(drive_at) else None
    if idx is not None and idx in st.results:
        st.results[idx] = attrs.evolve(st.results[idx], error=err.qemu_text)


def _config_locations(text: str, drives: Any, dialect: Dialect = DEFAULT) -> str:
    """A -readconfig drive's messages are located at its section (``prog:FILE:LINE: ``);
    its parse-time error at the option instead when the dialect says so."""
    for r in drives.drives:
        if r.option.startswith("-readconfig "):
            where = r.option.removeprefix("-readconfig ").removesuffix(" (last)")
            head = location(PROG, r.option, r.text)
            if not dialect.config_errors_at_line and r.error is not None and \
                    r.error.stage.name == "PARSE":
                name = where.rpartition(":")[0]
                text = text.replace(head, location(PROG, "-readconfig", name))
                continue
            if r.option.endswith(" (last)") and r.error is not None and \
                    r.error.stage.name == "PARSE":
                text = text.replace(f"{head}{r.error.qemu_text}", f"{head}{r.error.message}")
            text = text.replace(head, f"{PROG}:{where}: ")
    return text


def _drive_vs_nodes(st: _State, drives: Any, drive_at: list[int]) -> None:
    # block-backend.c monitor_add_blk(): a drive's id may not be a node's name.
    for n, r in enumerate(drives.drives):
        if r.ok and r.placement and r.placement.device_id in st.graph.nodes:
            st.fail(Phase.DRIVES, n, f"Device name '{r.placement.device_id}' conflicts with "
                    "an existing node name", r.option, r.text)
            return


def _parse_blockdev(st: _State, index: int, option: str, text: str,
                    parsed: list[tuple[int, str, str, Any]]) -> None:
    st.results[index] = OptionResult(index, option, text, "node")
    try:
        opts = parse_blockdev(text)
    except BlockdevError as exc:
        st.fail(Phase.PARSE, index, str(exc), option, text)
        return
    parsed.append((index, option, text, opts))
    st.results[index] = OptionResult(index, option, text, "node")


def _parse_object(st: _State, index: int, option: str, text: str,
                  parsed: list[tuple[int, str, str, Any]]) -> None:
    st.results[index] = OptionResult(index, option, text, "object")
    try:
        props = parse_object(text, st.object_ids)
    except ObjectError as exc:
        st.fail(Phase.PARSE, index, str(exc), option, text)
        return
    st.object_ids.add(str(props.get("id")))
    kind = props.get("qom-type")
    if kind == "throttle-group":
        st.graph.throttle_groups.add(str(props["id"]))
    elif kind == "secret":
        st.graph.secrets.add(str(props["id"]))
    elif kind == "iothread":
        st.iothreads.add(str(props["id"]))
    parsed.append((index, option, text, props))
    st.results[index] = OptionResult(index, option, text, "object")


_ID_HINT = ("Parameter 'id' expects an identifier\nIdentifiers consist of letters, digits, "
            "'-', '.', '_', starting with a letter.")


def _parse_device(st: _State, index: int, option: str, text: str,
                  parsed: list[tuple[int, str, str, Any]]) -> None:
    from .objects import _id_wellformed, _split_opts

    st.results[index] = OptionResult(index, option, text, "device")
    if text.startswith("{"):
        from .jsonarg import JsonArgError, parse_json_object

        try:
            props: dict[str, Any] = parse_json_object(text)
        except JsonArgError as exc:
            st.fail(Phase.PARSE, index, str(exc), option, text)
            return
        props = {k: _json_str(v) for k, v in props.items()}
    else:
        props = {}
        for n, (key, value) in enumerate(_split_opts(text)):
            if value is None:
                if n == 0:
                    key, value = "driver", key
                else:
                    value = "on"
            if key == "id":
                if not _id_wellformed(value):
                    st.fail(Phase.PARSE, index, _ID_HINT, option, text)
                    return
                if value in st.device_ids:
                    st.fail(Phase.PARSE, index, f"Duplicate ID '{value}' for device",
                            option, text)
                    return
            props.setdefault(key, value)
    if "id" in props:
        st.device_ids.add(props["id"])
    parsed.append((index, option, text, props))
    judged = props.get("driver") in BLOCK_MODELS
    st.results[index] = OptionResult(index, option, text, "device" if judged else "skipped",
                                     None, None if judged else "device model not judged")


def _json_str(v: Any) -> Any:
    if isinstance(v, bool):
        return on_off(v)
    if isinstance(v, int | float):
        return str(v)
    return v


def _pflash(st: _State, props: dict[str, str], drives: Any, machine: str) -> None:
    from ..model import Interface

    flash: dict[int, Node] = {}
    for unit in (0, 1):
        ref = props.get(f"pflash{unit}")
        if ref is None:
            continue
        node = st.graph.nodes.get(ref)
        if node is None and ref not in st.backends:
            st.fail(Phase.MACHINE, unit, f"Property 'cfi.pflash01.drive' can't find value "
                    f"'{ref}'")
            return
        if node is not None:
            flash[unit] = node
    for key in props:
        if key.startswith("pflash") and key not in ("pflash0", "pflash1"):
            name = "pc-q35-7.2-machine" if _known_machine(machine) == "q35" else \
                "pc-i440fx-7.2-machine"
            st.fail(Phase.MACHINE, 2, f"Property '{name}.{key}' not found")
            return
    if not flash:
        return
    st.flash_nodes.extend(flash[unit] for unit in sorted(flash))
    for r in drives.drives:
        p = r.placement
        # a flash image's size is judged after the clash (hw/i386/pc_sysfw.c)
        sized = r.error is not None and r.error.code == "pflash-size"
        if (r.ok or sized) and p is not None and p.interface is Interface.PFLASH and \
                p.unit in flash:
            st.fail(Phase.BOARD, -1, "clashes with -machine", r.option, r.text)
            return
    drive_flash = {r.placement.unit for r in drives.drives
                   if r.ok and r.placement is not None and r.placement.interface is
                   Interface.PFLASH}
    if 1 in flash and 0 not in flash and 0 not in drive_flash:
        st.fail(Phase.BOARD, 0, "pflash1 requires pflash0")
        return
    total = 0
    for unit in sorted(flash):
        size = _node_size(flash[unit])
        if size is None:
            return
        if size == 0 or size % 4096:
            st.fail(Phase.BOARD, unit, f"system firmware block device  has invalid size "
                    f"{size}\ninfo: its size must be a non-zero multiple of 0x1000")
            return
        total += size
        if total > 8 * 1024 * 1024:
            st.fail(Phase.BOARD, unit, "combined size of system firmware exceeds 8388608 "
                    "bytes")
            return


def _node_size(node: Node) -> int | None:
    proto = node.protocol()
    if proto is None or proto.filename is None or node.driver not in ("raw", "file"):
        return None
    try:
        size = os.stat(proto.filename).st_size
    except OSError:
        return None
    # block.c bdrv_getlength(): whole 512-byte sectors, rounded up
    return (size + 511) // 512 * 512


def _device(st: _State, index: int, option: str, text: str, props: dict[str, str],
            machine: str) -> None:
    """qdev_device_add(): the model, its bus, then its properties in order."""
    from .devices import SCSI_HBAS, USB_HCS, model_info

    given = props.get("driver", "")
    info = model_info(given)
    if info is None:
        st.fail(Phase.DEVICES, index, f"'{given}' is not a valid device model name", option,
                text)
        return
    model, bus_type = info
    problem = _bus(st, props, model, bus_type, machine)
    if problem:
        st.fail(Phase.DEVICES, index, problem, option, text)
        return
    if model in SCSI_HBAS:
        bus_name = f"{props['id']}.0" if "id" in props else "scsi.0"
        st.buses["SCSI"].append(bus_name)
        st.controllers[bus_name] = (model, props.get("iothread"))
    elif model in USB_HCS:
        st.buses["usb-bus"].append(f"{props['id']}.0" if "id" in props else "usb-bus.0")
    if "id" in props:
        st.named_buses.update({props["id"], f"{props['id']}.0"})
    if model not in BLOCK_MODELS:
        return
    known = properties(model) - st.dialect.removed_properties.get(model, frozenset())
    ordered = in_qdict_order(props) if not text.startswith("{") else list(props)
    for key in ordered:
        value = props[key]
        if key in ("driver", "id", "bus"):
            continue
        if key not in known:
            st.fail(Phase.DEVICES, index, f"Property '{model}.{key}' not found", option, text)
            return
        problem = _bad_value(key, value)
        if problem:
            st.fail(Phase.DEVICES, index, problem, option, text)
            return
        if key == "drive" and value:
            problem = _attach(st, model, value, props)
            if problem:
                st.fail(Phase.DEVICES, index, problem, option, text)
                return
    problem = _realize(st, model, props, machine)
    if problem:
        st.fail(Phase.DEVICES, index, problem, option, text)
        return
    name = props.get("drive")
    if name and name in st.backends:
        st.drive_devices[name] = (model, props)
    elif name and name in st.graph.nodes:
        st.node_devices.append((model, props, st.graph.nodes[name]))


def _bus(st: _State, props: dict[str, str], model: str, bus_type: str | None,
         machine: str) -> str:
    bus = props.get("bus")
    if bus is not None:
        defaults = {"pci.0", "ide.0", "ide.1"} if machine != "q35" else {
            "pcie.0", *(f"ide.{n}" for n in range(6))}
        if bus in defaults or bus in st.named_buses or bus.split(".")[0] in st.later_ids:
            return ""
        if bus in st.buses["SCSI"] or bus in st.buses["usb-bus"]:
            return ""
        return f"Bus '{bus}' not found"
    if machine not in ("pc", "q35", "isapc"):
        return ""  # other boards' buses are not modelled
    if bus_type in ("SCSI", "usb-bus", "virtio-bus") and not st.buses.get(bus_type):
        return f"No '{bus_type}' bus found for device '{model}'"
    if bus_type in ("PCI", "PCIE") and machine not in ("pc", "q35"):
        return f"No 'PCI' bus found for device '{model}'"
    return ""


def _size(props: dict[str, str], key: str, default: int) -> int:
    from .._values import parse_size

    try:
        return int(parse_size(key, props[key])[0]) if key in props else default
    except (ValueError, Exception):  # noqa: BLE001 - refused earlier by _bad_value
        return default


def _blocksizes(props: dict[str, str]) -> str:
    # hw/block/block.c blkconf_blocksizes(): both sizes default to 512 for an image file
    logical = _size(props, "logical_block_size", 0) or 512
    physical = _size(props, "physical_block_size", 0) or 512
    if logical > physical:
        return "logical_block_size > physical_block_size not supported"
    if _size(props, "min_io_size", 0) % logical:
        return "min_io_size must be a multiple of logical_block_size"
    if _size(props, "opt_io_size", 0) % logical:
        return "opt_io_size must be a multiple of logical_block_size"
    granularity = _size(props, "discard_granularity", -1)
    if granularity != -1 and granularity % logical:
        return "discard_granularity must be a multiple of logical_block_size"
    return ""


def _geometry(props: dict[str, str], heads_max: int) -> str:
    # hw/block/block.c blkconf_geometry(): checked once any of the three is given
    cyls, heads, secs = (_int(props.get(k, "0")) for k in ("cyls", "heads", "secs"))
    if not (cyls or heads or secs):
        return ""
    if not 1 <= cyls <= 65535:
        return "cyls must be between 1 and 65535"
    if not 1 <= heads <= heads_max:
        return f"heads must be between 1 and {heads_max}"
    if not 1 <= secs <= 255:
        return "secs must be between 1 and 255"
    return ""


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        return 0


def _empty(st: _State, name: str | None) -> bool:
    r = st.backends.get(name or "")
    return r is not None and r.drive is not None and not r.drive.file and \
        not r.drive.driver_options


def _model_checks(st: _State, model: str, props: dict[str, str], machine: str) -> str:
    """The realize checks of hw/block/virtio-blk.c, hw/ide/qdev.c, hw/scsi/scsi-disk.c,
    hw/usb/dev-storage-classic.c and hw/nvme/ctrl.c, in their order."""
    name = props.get("drive")
    if model == "virtio-blk-pci":
        if not name:
            return "drive property not set"
        if _empty(st, name):
            return "Device needs media, but drive is empty"
        if props.get("num-queues") is not None and _int(props["num-queues"]) == 0:
            return "num-queues property must be larger than 0"
        size = _int(props.get("queue-size", "256"))
        if size <= 2:
            return f"invalid queue-size property ({size}), must be > 2"
        if size & (size - 1) or size > 1024:
            return f"invalid queue-size property ({size}), must be a power of 2 (max 1024)"
        return _geometry(props, 255) or _blocksizes(props) or (
            "Please set scsi=off for virtio-blk devices in order to use virtio 1.0"
            if props.get("scsi") in ("on", "yes", "true", "y") and
            props.get("disable-modern") not in ("on", "yes", "true", "y") else "")
    if model in ("ide-hd", "ide-cd"):
        units = 1 if machine == "q35" else 2
        if "unit" in props and _int(props["unit"]) >= units:
            return (f"Can't create IDE unit {_int(props['unit'])}, bus supports only "
                    f"{units} units")
        if not name and model == "ide-hd":
            return "No drive specified"
        granularity = _size(props, "discard_granularity", -1)
        if granularity not in (-1, 0, 512):
            return "discard_granularity must be 512 for ide"
        problem = _blocksizes(props)
        if problem:
            return problem
        if (_size(props, "logical_block_size", 0) or 512) != 512:
            return "logical_block_size must be 512 for IDE"
        return _geometry(props, 16) if model == "ide-hd" else ""
    if model in ("scsi-hd", "usb-storage") and not name:
        return "drive property not set"
    if model == "nvme" and "serial" not in props:
        return "serial property not set"
    if model in ("scsi-hd", "scsi-cd"):
        return _blocksizes(props)
    return ""


def _realize(st: _State, model: str, props: dict[str, str], machine: str = "pc") -> str:
    """What realizing the device checks that qdrive models: the model's own checks,
    read-only nodes on IDE disks (hw/ide/qdev.c ide_dev_initfn), then the image locks
    it takes."""
    problem = _model_checks(st, model, props, machine)
    if problem:
        return problem
    name = props.get("drive")
    if not name:
        return ""
    node = st.graph.nodes.get(name)
    read_only = node.read_only if node is not None else bool(
        st.backends[name].drive.effective_read_only if name in st.backends else False)
    if model == "ide-hd" and read_only:
        return "Block node is read-only"
    ident, label = _identity_of(st, name)
    if ident is None:
        return ""
    share = props.get("share-rw", "off") in ("on", "yes", "true", "y")
    chain = frozenset(id(n) for n in _chain(st.graph.nodes.get(name)))
    if name in st.backends:
        chain = frozenset({id(st.backends[name])})
    return st.locks.take(ident, label, write=not read_only, unshare=not share, chain=chain)


def _chain(node: Node | None) -> list[Node]:
    out: list[Node] = []
    while node is not None:
        out.append(node)
        node = node.children.get("file")
    return out


def _identity_of(st: _State, name: str) -> tuple[tuple[int, int] | None, str]:
    from ..probe import file_identity

    if name in st.backends:
        facts = _drive_lock_facts(st.backends[name])
        return (facts[0], facts[1]) if facts is not None else (None, "")

    node = st.graph.nodes.get(name)
    if node is not None:
        proto = node.protocol()
        if proto is None or proto.filename is None or proto.locking == "off" or \
                node.force_share:
            return None, ""
        return file_identity(proto.filename), proto.filename
    return None, ""


def _bad_value(key: str, value: str) -> str:
    kind = prop_kind(key)
    if kind == "bool" and value not in ("on", "off", "yes", "no", "true", "false", "y", "n"):
        return f"Parameter '{key}' expects 'on' or 'off'"
    if kind == "onoffauto" and value not in ("on", "off", "auto"):
        return f"Parameter '{key}' does not accept value '{value}'"
    if kind == "onerror" and value not in ("report", "ignore", "enospc", "stop", "auto"):
        return f"Parameter '{key}' does not accept value '{value}'"
    if kind == "int":
        try:
            int(value, 0)
        except ValueError:
            return f"Parameter '{key}' expects integer"
    if kind == "size":
        from .._values import parse_size

        try:
            size = int(parse_size(key, value)[0])
        except Exception:  # noqa: BLE001 - any refusal of the size parser
            return f"Parameter '{key}' expects size"
        if key in ("logical_block_size", "physical_block_size"):
            # hw/core/qdev-properties-system.c set_blocksize(); the device has no id yet
            if not 512 <= size <= 2097152:
                return (f"Property .{key} doesn't take value {size} (minimum: 512, "
                        "maximum: 2097152)")
            if size & (size - 1):
                return f"Property .{key} doesn't take value '{size}', it's not a power of 2"
    return ""


def _attach(st: _State, model: str, name: str, props: dict[str, str]) -> str:
    from ..model import Interface

    st.referenced.add(name)
    r = st.backends.get(name)
    if r is None and name not in st.graph.nodes and name not in st.drive_nodes:
        # virtio-blk-pci's drive= is an alias of its virtio-blk-device's property
        owner = "virtio-blk-device" if model == "virtio-blk-pci" else model
        return f"Property '{owner}.drive' can't find value '{name}'"
    if r is None:
        return _context(st, model, name, props)
    if r is not None:
        if name in st.attached or (r.placement.interface is not Interface.NONE and
                                   r.placement.interface is not Interface.VIRTIO):
            if r.placement.interface is not Interface.NONE:
                return (f"Drive '{name}' is already in use because it has been automatically "
                        "connected to another device (did you need 'if=none' in the drive "
                        "options?)")
            return f"Drive '{name}' is already in use by another device"
        st.attached[name] = model
    return ""


def _context(st: _State, model: str, node: str, props: dict[str, str]) -> str:
    """A node in use stays in its AioContext (block/block-backend.c
    blk_set_aio_context: "Cannot change iothread of active block backend"); a SCSI disk
    on an HBA without iothreads cannot join one (hw/scsi/scsi-disk.c)."""
    hba, hba_iothread = st.controllers.get(props.get("bus", ""), ("", None))
    if model in ("scsi-hd", "scsi-cd") and not hba and st.controllers:
        hba, hba_iothread = next(iter(st.controllers.values()))
    wants = props.get("iothread") if model == "virtio-blk-pci" else (
        hba_iothread if model in ("scsi-hd", "scsi-cd") else None)
    if node not in st.contexts:
        st.contexts[node] = wants
        return ""
    have = st.contexts[node]
    if have == wants:
        return ""
    if model in ("scsi-hd", "scsi-cd") and hba and not hba.startswith("virtio-scsi"):
        return "HBA does not support iothreads"
    return "Cannot change iothread of active block backend"


def dumps(result: ArgvResult) -> str:
    return json.dumps(result.to_json())


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
