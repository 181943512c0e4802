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

from . import drivers
from .argv import NO_ARG, SHORTHANDS, read_argv
from .blockdev_args import BlockdevError, Graph, Node, add_blockdev, parse_blockdev
from ._qdict import qdict_order
from ..diagnostics import location
from .devices import BLOCK_MODELS, prop_kind, properties
from .formats import DEFINED_OBJECTS
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
    JSON_DEVICES = 8  # softmmu/vl.c qemu_create_cli_devices(): JSON -device last
    CREATION_DONE = 9  # qemu_machine_creation_done(): net_check_clients()


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
    from_drive: bool = False  # the drives' own first error (CheckResult.first_error)


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

    def first_error_json(self) -> dict[str, Any] | None:
        """The error QEMU stops at: the drives' own first_error when a drive's, else the
        option it is about (its argv index; null for one no option carries, such as a
        board's) with its message and QEMU's line."""
        first = min((e for e in self.events if e.error), key=lambda e: (e.phase, e.order),
                    default=None)
        if first is None:
            return None
        if first.from_drive:
            drives_first: dict[str, Any] | None = self.drives.to_json()["first_error"]
            return drives_first
        line = first.text.split("\n", 1)[0]
        option = next((o for o in self.options if o.error is not None and o.text is not None
                       and line.startswith(location(PROG, o.option, o.text))), None) or \
            next((o for o in self.options if o.error is not None and
                  first.text == f"{PROG}: {o.error}"), None)
        head = location(PROG, option.option, option.text) if option is not None else ""
        message = line.removeprefix(head) if head and line.startswith(head) else \
            line.removeprefix(f"{PROG}: ")
        return {"option": option.index if option else None, "message": message,
                "stderr": first.text}

    def to_json(self) -> dict[str, Any]:
        """``qemu_stderr`` and ``first_error`` of the whole line (the drives' own are in
        ``drives``); ``stderr`` is ``qemu_stderr``, under its first name."""
        stderr = self.qemu_stderr()
        return {"ok": self.ok, "machine": self.machine,
                "options": [o.to_json() for o in self.options],
                "drives": self.drives.to_json()["drives"],
                "first_error": self.first_error_json(), "qemu_stderr": stderr,
                "stderr": stderr}


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
    node_devices: list[tuple[str, dict[str, str], Node | None]] = attrs.Factory(list)
    flash_nodes: list[Node] = attrs.Factory(list)  # -machine pflashN= nodes, in unit order
    failed: bool = False
    boot_indexes: set[int] = attrs.Factory(set)
    ide_units: dict[str, set[int]] = attrs.Factory(dict)  # bus -> units taken
    usb_ports: dict[str, list[str]] = attrs.Factory(dict)  # bus -> its free ports
    floppy_units: set[int] = attrs.Factory(set)  # taken by -drive if=floppy and floppy
    anon_devices: int = 0  # -device options without id= so far (peripheral-anon)
    device_path: str = ""  # the QOM path of the -device being read
    device_at: tuple[int, str, str] = (0, "", "")  # and where it is on the command line
    node_users: dict[str, list[tuple[bool, bool, str]]] = attrs.Factory(dict)
    globals_: list[tuple[str, str, str]] = attrs.Factory(list)  # -global on block devices
    dialect: Dialect = DEFAULT  # the release whose devices are read (its removed properties)

    def fail(self, phase: Phase, order: int, message: str, option: str | None = None,
             text: str | None = None) -> None:
        if phase in (Phase.PARSE, Phase.OBJECTS, Phase.BLOCKDEV, Phase.DEVICES) and \
                order in self.results and self.results[order].error is None:
            self.results[order] = attrs.evolve(self.results[order], error=message)
        head = location(PROG, option, text) if option is not None else f"{PROG}: "
        if phase is Phase.DEVICES and text is not None and text.startswith("{"):
            phase = Phase.JSON_DEVICES
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
    ``dialect``: the release dialect the drives are read in, with its -device and
    -object models and its -blockdev QAPI schema (the -blockdev graph's open checks are
    7.2's for every release).
    """
    if policy is not None and getattr(policy, "untrusted_input", False):
        # This reader opens secret files and -blockdev images by name; the untrusted
        # policy's reader judges every option against its allow-list and opens nothing
        # outside the allowed directories.
        raise ValueError("an untrusted policy judges a command line with "
                         "qdrive.frontend.argv.check_argv(argv, policy=...)")
    chosen = get_dialect(dialect)
    if not chosen.command_line:
        raise UnsupportedDialect(f"check_argv does not read {dialect} command lines")
    with drivers.reading_for(chosen):  # its -device models, its drivers' opens
        return _check_argv(argv, probe_files, policy, dialect, chosen)


def _check_argv(argv: Sequence[str], probe_files: bool, policy: Any, dialect: str,
                chosen: Dialect) -> ArgvResult:
    from ._check import check
    from ._stderr import drive_line

    cmd = read_argv(argv)
    machine_type = cmd.machine
    tokens = _tokens(argv)
    drive_args, config_errors = _drive_args(tokens, probe_files, chosen)
    lifecycle = _machine_lifecycle(machine_type, chosen)
    defined = DEFINED_OBJECTS.set(_early_objects(tokens))
    try:
        drives = check(drive_args, machine=str(_known_machine(machine_type)),
                       probe_files=probe_files, snapshot=cmd.snapshot, policy=policy,
                       dialect=dialect)
    finally:
        DEFINED_OBJECTS.reset(defined)
    st = _State(dialect=chosen)
    st.graph.touch_files = probe_files
    for index, message in config_errors:
        st.events.append(_Event(Phase.PARSE, index, message, True))
    if lifecycle is not None:
        st.events.append(lifecycle)
    parsed: list[tuple[int, str, str, Any]] = []  # (index, option, text, parsed)
    drive_at: list[int] = []
    machine_props: dict[str, str] = {}
    machine_texts: list[tuple[int, str]] = []
    globals_: list[tuple[str, str, str]] = []
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
            machine_texts.append((index, value or ""))
            st.results[index] = OptionResult(index, option, value, "machine")
            bare = _bare_machine_key(value or "")
            if bare:
                # softmmu/vl.c: -machine is read with keyval_parse_into(..., "type"), so
                # only the first item may omit its "=" (util/keyval.c keyval_parse_one)
                st.fail(Phase.PARSE, index, f"Expected '=' after parameter '{bare}'",
                        option, value)
        elif name == "snapshot":
            st.results[index] = OptionResult(index, option, value, "machine")
        elif name == "netdev":
            st.results[index] = OptionResult(index, option, value, "netdev", note=(
                "only its id is read (duplicates, peers): its backend is not judged"))
        elif name == "global" and _global(value or "")[0] == "isa-fdc":
            globals_.append(_global(value or ""))
            st.results[index] = OptionResult(index, option, value, "machine")
        elif name == "global" and _global(value or "")[0] in BLOCK_MODELS:
            st.globals_.append(_global(value or ""))
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
    created: set[str] = set()
    for index, option, text, obj in parsed:
        if option == "-object":
            if str(obj.get("id")) in created:
                # qom/object.c object_property_try_add_child() under /objects
                st.fail(Phase.OBJECTS, index, f"attempt to add duplicate property "
                        f"'{obj.get('id')}' to object (type 'container')")
                break
            created.add(str(obj.get("id")))
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
        # hw/i386/pc_piix.c: a piix3-usb-uhci (2 ports); hw/i386/pc_q35.c: an ICH9 EHCI
        # with its companions (6 ports)
        st.usb_ports["usb-bus.0"] = _ports(6 if _known_machine(machine_type) == "q35"
                                           else 2)
    for r in drives.drives:
        if r.ok and r.placement is not None and r.placement.device_id:
            st.backends[r.placement.device_id] = r
        if r.ok and r.drive is not None and r.drive.node_name:
            st.drive_nodes.add(r.drive.node_name)
    _drive_vs_nodes(st, drives, drive_at)
    flash_order = _machine_properties(st, machine_type, machine_texts)
    _pflash(st, machine_props, drives, machine_type, flash_order)
    _board_holders(st, drives)
    for r in drives.drives:  # the board's IDE devices for -drive if=ide (hw/i386/pc.c)
        p = r.placement
        if r.ok and p is not None and p.interface.value == "ide" and p.unit is not None:
            st.ide_units.setdefault(f"ide.{p.bus or 0}", set()).add(p.unit)
    st.floppy_units.update(r.placement.unit for r in drives.drives
                           if r.ok and r.placement is not None and
                           r.placement.interface.value == "floppy" and
                           r.placement.unit is not None)
    if _known_machine(machine_type) == "pc" and machine_type not in ("microvm", "none",
                                                                     "x-remote"):
        _fdc_globals(st, globals_)
        _board_floppy_globals(st, drives)
    board = str(_known_machine(machine_type)) if _known_machine(
        machine_type, strict=True) and machine_type not in (
        "isapc", "microvm", "none", "x-remote") else machine_type
    # softmmu/vl.c qemu_create_cli_devices(): the QemuOpts -device options (and those
    # -drive if=virtio added to that list), then every JSON -device
    devices = [p for p in parsed if p[1] == "-device"]
    for index, option, text, props in (d for d in devices if not d[2].startswith("{")):
        _device(st, index, option, text, props, board)
    _virtio_drive_locks(st, drives)
    for index, option, text, props in (d for d in devices if d[2].startswith("{")):
        _device(st, index, option, text, props, board)
    _network(st, tokens, devices)
    return ArgvResult(tuple(st.results[k] for k in sorted(st.results)), drives,
                      tuple(st.events), machine_type, st)


def _early_objects(tokens: list[tuple[int, str, str | None]]) -> dict[str, frozenset[str]]:
    """The ids of the -object secrets and throttle groups, by kind: softmmu/vl.c
    qemu_create_early_backends() makes them before configure_blockdev() opens the
    drives, so a drive's key-secret= or throttle-group= finds them (an object that
    fails stops QEMU before any drive, and that error is reported on its own)."""
    found: dict[str, set[str]] = {"secret": set(), "throttle-group": set(), "": set()}
    for _, option, value in tokens:
        if option != "-object" or value is None:
            continue
        try:
            props = parse_object(value, set())
        except ObjectError:
            continue
        kind = str(props.get("qom-type"))
        found[""].add(str(props.get("id")))
        if kind in found:
            found[kind].add(str(props.get("id")))
    return {k: frozenset(v) for k, v in found.items()}


def _drive_lock_facts(r: Any) -> tuple[tuple[int, int], str, bool] | None:
    """(file identity, name, writes) of a drive's image as its device takes it."""
    from ..probe import file_identity

    d = r.drive
    if d is None or not r.image or d.force_share or d.snapshot or \
            d.driver_options.get("file.locking") == "off":
        return None
    name = r.image  # resolved once, by the converter
    ident = file_identity(name)
    return None if ident is None else (ident, name, not d.effective_read_only)


def _snapshot_backing_facts(r: Any) -> tuple[tuple[int, int], str, bool] | None:
    """A snapshot=on drive's image is the backing file of its temporary overlay: once its
    device asks for permissions it is read and kept from writers (block.c
    bdrv_default_perms_for_cow), so a writer elsewhere refuses it its shared lock."""
    from ..probe import file_identity

    d = r.drive
    if d is None or not r.image or not d.snapshot or d.force_share or \
            d.driver_options.get("file.locking") == "off":
        return None
    name = r.image  # resolved once, by the converter
    ident = file_identity(name)
    return None if ident is None else (ident, name, False)


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
        facts = _drive_lock_facts(r) or _snapshot_backing_facts(r)
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
        if d is None or r.format not in _FORMATS or not r.image or d.force_share or \
                d.driver_options.get("file.locking") == "off":
            continue
        name = r.image  # resolved once, by the converter
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
    drive is created: an unknown machine stops QEMU there. A deprecated one is warned
    about (machine_class->deprecation_reason) and QEMU goes on; 10.0's qemu_init() warns
    after qemu_create_early_backends() (secrets, -blockdev, -drive) and
    qemu_apply_machine_options(), so their errors come first.
    """
    status = dialect.machine_status(name)
    if status is None:
        return None
    last = 1 << 30  # after every event of its phase
    if status == "removed":
        return _Event(Phase.PARSE, last, f'{PROG}: unsupported machine type: "{name}"'
                      "\nUse -machine help to list supported machines", True)
    return _Event(Phase.MACHINE, last, f"{PROG}: warning: Machine type '{name}' is "
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


def _bare_machine_key(value: str) -> str:
    """The first item after the implied type= that has no "=" (keyval refuses it)."""
    return next((part for part in value.split(",")[1:] if part and "=" not in part), "")


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
    st.events.append(_Event(phase, order, err_text, True, from_drive=True))
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
    # block.c bdrv_assign_node_name(): a drive's node-name may not be a -blockdev's
    # (made first, by configure_blockdev); block-backend.c monitor_add_blk(): nor its id.
    for n, r in enumerate(drives.drives):
        name = r.drive.node_name if r.ok and r.drive is not None else None
        if name and name in st.graph.nodes:
            st.fail(Phase.DRIVES, n, f"Duplicate nodes with node-name='{name}'", r.option,
                    r.text)
            return
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
    if not text.startswith("{"):
        _flag_warnings(st, index, option, text)
    try:
        props = parse_object(text, st.object_ids)
    except ObjectError as exc:
        st.fail(Phase.PARSE, index, str(exc), option, text)
        return
    if not text.startswith("{"):
        # only QemuOpts (the keyval spelling) knows the ids it has read; a JSON object's
        # duplicate id is found when it is added (see _create_objects)
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
        # qdev_device_add_from_qdict() reads driver, bus and id with qdict_get_try_str():
        # one that is not a string is as good as absent
        props = {k: _json_str(v) for k, v in props.items()
                 if k not in ("bus", "id") or isinstance(v, str)}
    else:
        props = {}
        _flag_warnings(st, index, option, text)
        for n, (key, value) in enumerate(_split_opts(text)):
            if value is None:
                if n == 0:
                    key, value = "driver", key
                else:
                    key, value = _flag(key)
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
    from .netdevs import nic_model

    judged = props.get("driver") in BLOCK_MODELS
    nic = nic_model(str(props.get("driver", ""))) is not None
    st.results[index] = OptionResult(
        index, option, text, "device" if judged or nic else "skipped", None,
        None if judged or nic else "device model not judged",
        "a network card: only its netdev= is judged" if nic else None)


def _flag(item: str) -> tuple[str, str]:
    """util/qemu-option.c get_opt_name_value(): a bare NAME is NAME=on, noNAME NAME=off."""
    return (item[2:], "off") if item.startswith("no") else (item, "on")


def _flag_warnings(st: _State, index: int, option: str, text: str) -> None:
    """The deprecation warning QemuOpts prints, as it reads the option, for each bare
    flag after the implied first item (util/qemu-option.c get_opt_name_value)."""
    from .objects import _split_opts

    for key, value in _split_opts(text)[1:]:
        if value is None and key and key != "help" and key != "?":
            name, on = _flag(key)
            st.events.append(_Event(Phase.PARSE, index, f"{PROG}: {option} {text}: warning: "
                                    f"short-form boolean option '{key}' deprecated\n"
                                    f"Please use {name}={on} instead", False))


def _json_str(v: Any) -> Any:
    if isinstance(v, bool):
        return on_off(v)
    if isinstance(v, int | float):
        return str(v)
    return v


def _network(st: _State, tokens: list[tuple[int, str, str | None]],
              devices: list[tuple[int, str, str, Any]]) -> None:
    """NICs against -netdev (qdrive.frontend.netdevs): a missing or shared netdev= is the
    device's error; a client left without a peer is a warning once the machine is made."""
    from .netdevs import check_network, duplicate_netdev

    duplicate = duplicate_netdev(tokens)
    if duplicate is not None:
        st.fail(Phase.PARSE, duplicate[0], duplicate[2], "-netdev", duplicate[1])
        return
    ordered = [d for d in devices if not d[2].startswith("{")] + [
        d for d in devices if d[2].startswith("{")]
    errors, warnings = check_network(tokens, [(i, t, p) for i, _, t, p in ordered])
    for index, text, message in errors:
        st.fail(Phase.DEVICES, index, message, "-device", text)
    for n, message in enumerate(warnings):
        st.events.append(_Event(Phase.CREATION_DONE, n, f"{PROG}: warning: {message}",
                                False))


def _machine_properties(st: _State, machine: str, texts: list[tuple[int, str]]
                        ) -> dict[int, int]:
    """A -machine key the machine object lacks (qdrive.frontend.machine), its error also
    on the -machine option that gave it; the position of pflash0 and pflash1 in the same
    walk (its first failure is the one QEMU prints)."""
    from .machine import apply_order, machine_keys, unknown_property

    keys = machine_keys(t for _, t in texts)
    if _known_machine(machine, strict=True) is True and machine not in (
            "isapc", "microvm", "none", "x-remote"):
        unknown = unknown_property(machine, keys, st.dialect.machine_version)
        if unknown is not None:
            st.fail(Phase.MACHINE, unknown[0], unknown[1])
            key = apply_order(keys)[unknown[0]]
            given = [i for i, t in texts if key in apply_order(machine_keys([t]))]
            if given:
                st.results[given[-1]] = attrs.evolve(st.results[given[-1]], error=unknown[1])
    order = apply_order(keys)
    return {unit: order.index(f"pflash{unit}") for unit in (0, 1) if f"pflash{unit}" in order}


def _pflash(st: _State, props: dict[str, str], drives: Any, machine: str,
            order: dict[int, int] | None = None) -> None:
    from ..model import Interface

    flash: dict[int, Node] = {}
    for unit in (0, 1):
        ref = props.get(f"pflash{unit}")
        if not ref:  # hw/core/qdev-properties-system.c set_drive_helper(): "" is no drive
            continue
        node = st.graph.nodes.get(ref)
        if node is None and ref not in st.backends:
            st.fail(Phase.MACHINE, (order or {}).get(unit, unit),
                    f"Property 'cfi.pflash01.drive' can't find value '{ref}'")
            return
        if node is not None:
            flash[unit] = node
    if any(e.phase is Phase.MACHINE and e.error for e in st.events):
        return  # QEMU stopped at -machine (a key the machine lacks, a missing drive)
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
    # hw/i386/pc_sysfw.c pc_system_flash_map(): the units in order, whichever option
    # gave them (-machine pflashN= nodes and -drive if=pflash), sized together
    sizes = {unit: _node_size(node) for unit, node in flash.items()}
    for r in drives.drives:
        p = r.placement
        if r.ok and p is not None and p.interface is Interface.PFLASH and \
                p.unit is not None and p.unit not in sizes:
            sizes[p.unit] = _drive_size(r)
    total = 0
    for unit in sorted(sizes):
        size = sizes[unit]
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


def _global(text: str) -> tuple[str, str, str]:
    """softmmu/qdev-monitor.c qemu_global_option(): DRIVER.PROP=VALUE, or
    driver=,property=,value=; (driver, property, value)."""
    head, _, value = text.partition("=")
    if "." in head and not head.startswith("driver"):
        driver, _, prop = head.partition(".")
        return driver, prop, value
    from .objects import _split_opts

    opts = {k: v or "" for k, v in _split_opts(text)}
    return opts.get("driver", ""), opts.get("property", ""), opts.get("value", "")


# hw/block/fdc-isa.c isa_fdc_properties and isabus_fdc_instance_init(): what a global
# can set on the board's floppy controller (7.2 has no driveA/driveB: -device floppy).
_FDC_PROPS = frozenset({"iobase", "irq", "dma", "fdtypeA", "fdtypeB", "fallback",
                        "bootindexA", "bootindexB"})


def _fdc_globals(st: _State, globals_: list[tuple[str, str, str]]) -> None:
    """hw/i386/pc.c pc_superio_init(): an i440fx board always makes its isa-fdc, and
    device_post_init() applies the -global options to it, fatally (qom/object.c
    object_apply_global_props: "can't apply global ...")."""
    for driver, prop, value in globals_:
        if prop not in _FDC_PROPS:
            # before the board's IDE and floppy devices (ordered by drive, from 0)
            st.fail(Phase.BOARD, -1, f"can't apply global {driver}.{prop}={value}: "
                    f"Property '{driver}.{prop}' not found")
            return


def _drive_size(r: Any) -> int | None:
    """A raw -drive's length as block.c bdrv_getlength() gives it (None: not known)."""
    drive = r.drive
    if drive is None or not r.image or str(drive.format or "") != "raw":
        return None
    try:
        size = os.stat(r.image).st_size  # the name the converter resolved
    except OSError:
        return None
    return (size + 511) // 512 * 512


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

    if "driver" not in props:  # softmmu/qdev-monitor.c qdev_device_add_from_qdict()
        st.fail(Phase.DEVICES, index, "Parameter 'driver' is missing", option, text)
        return
    given = props.get("driver", "")
    info = model_info(given)
    if info is None:
        st.fail(Phase.DEVICES, index, f"'{given}' is not a valid device model name", option,
                text)
        return
    model, bus_type = info
    st.device_path = _qom_path(st, props)
    st.device_at = (index, option, text)
    problem = _bus(st, props, model, bus_type, machine)
    if problem:
        st.fail(Phase.DEVICES, index, problem, option, text)
        return
    if model in SCSI_HBAS:
        bus_name = f"{props['id']}.0" if "id" in props else "scsi.0"
        st.buses["SCSI"].append(bus_name)
        st.controllers[bus_name] = (model, props.get("iothread"))
    elif given == "isa-fdc":
        # hw/block/fdc-isa.c: the properties a -device isa-fdc may set (7.2 has no
        # driveA/driveB), met in the order the others are (_device_order)
        bad = next((k for k in _device_order(props)
                    if k not in _FDC_PROPS and k not in ("driver", "id", "bus")), None)
        if bad is not None:
            st.fail(Phase.DEVICES, index, f"Property 'isa-fdc.{bad}' not found", option, text)
            return
        st.buses.setdefault("floppy-bus", []).append("floppy-bus.0")
    elif model in USB_HCS:
        usb_bus = f"{props['id']}.0" if "id" in props else "usb-bus.0"
        st.buses["usb-bus"].append(usb_bus)
        if "masterbus" not in props:  # a companion puts its ports on its master's bus
            st.usb_ports.setdefault(usb_bus, _ports(_HC_PORTS.get(model, 2)))
    if "id" in props:
        # a SCSI HBA's or USB controller's bus is ID.0 (hw/core/bus.c qbus_init names a
        # child bus after its device); a bridge's bus is named ID itself
        st.named_buses.add(f"{props['id']}.0")
        if model not in SCSI_HBAS and model not in USB_HCS:
            st.named_buses.add(props["id"])
    if bus_type == "usb-bus" and model not in BLOCK_MODELS:
        problem = _usb_port(st, model, props)
        if problem:
            st.fail(Phase.DEVICES, index, problem, option, text)
            return
    if model not in BLOCK_MODELS:
        if model in SCSI_HBAS and "iothread" in props:
            problem = _link(st, "iothread", props["iothread"])
            if problem:
                st.fail(Phase.DEVICES, index, problem, option, text)
        return
    known = properties(model) - st.dialect.removed_properties.get(model, frozenset())
    defaults = _device_globals(st, given, model, props, known)
    if defaults is None:
        return
    # qdev_device_add_from_qdict(): the properties in QDict order, JSON's as well
    ordered = _device_order(props)
    for key in ordered:
        value = props[key]
        if key in ("driver", "id", "bus"):
            continue
        if key not in known:
            st.fail(Phase.DEVICES, index, f"Property '{model}.{key}' not found", option, text)
            return
        problem = _bad_value(key, value, st.dialect) or _link(st, key, value) or \
            _bootindex(st, key, value)
        if problem:
            st.fail(Phase.DEVICES, index, problem, option, text)
            return
        if key == "drive" and value:
            problem = _attach(st, model, value, props)
            if problem:
                st.fail(Phase.DEVICES, index, problem, option, text)
                return
    props = {**defaults, **props}
    problem = (_usb_port(st, model, props) if bus_type == "usb-bus" else "") or \
        _realize(st, model, props, machine)
    if problem:
        st.fail(Phase.DEVICES, index, problem, option, text)
        return
    name = props.get("drive")
    if name and name in st.backends:
        st.drive_devices[name] = (model, props)
    elif name and name in st.graph.nodes:
        st.node_devices.append((model, props, st.graph.nodes[name]))
    elif not name and model in ("ide-cd", "scsi-cd", "floppy"):
        # an empty removable device makes an anonymous empty BlockBackend of its own
        # (block/block-backend.c blk_create_empty_drive), which query-block lists
        st.node_devices.append((model, props, None))


def _device_order(props: dict[str, Any]) -> list[str]:
    """The order qdev_device_add_from_qdict() sets a -device's properties in (either
    syntax): it walks dev->opts, a qdict_clone_shallow() of the options, which puts the
    entries again in walk order, so that within a QDict bucket the key given first now
    comes first (qobject/qdict.c: the newest entry heads its bucket)."""
    position = {k: n for n, k in enumerate(props)}
    return sorted(props, key=lambda k: (qdict_order(k), position[k]))


def _device_globals(st: _State, given: str, model: str, props: dict[str, str],
                    known: frozenset[str] | set[str]) -> dict[str, str] | None:
    """qom/object.c object_apply_global_props(), from device_post_init(): each -global
    DRIVER.PROP=VALUE for this model is set before the device's own properties, which then
    set theirs again (a drive= given replaces the global's). A global QEMU cannot set fails
    the device with "can't apply global ...". The properties the globals alone give (None:
    one failed)."""
    index, option, text = st.device_at
    out: dict[str, str] = {}
    for driver, prop, value in st.globals_:
        if driver not in (given, model):
            continue
        problem = _global_problem(st, model, prop, value, known, prop in props)
        if problem:
            st.fail(Phase.DEVICES, index, f"can't apply global {driver}.{prop}={value}: "
                    f"{problem}", option, text)
            return None
        if prop not in props:
            out[prop] = value
    return out


def _global_problem(st: _State, model: str, prop: str, value: str,
                    known: frozenset[str] | set[str], overridden: bool) -> str:
    if prop not in known:
        return f"Property '{model}.{prop}' not found"
    # a global's value goes through the string input visitor (object_property_parse()),
    # whose integers are int64 (qapi/string-input-visitor.c parse_type_int64)
    problem = (_bad_value(prop, value) or _link(st, prop, value) or
               _bootindex(st, prop, value)).replace("expects integer", "expects int64")
    if problem or prop != "drive" or not value:
        return problem
    if overridden:  # only looked up: the device's own drive= replaces it
        found = value in st.backends or value in st.graph.nodes or value in st.drive_nodes
        owner = "virtio-blk-device" if model == "virtio-blk-pci" else model
        return "" if found else f"Property '{owner}.drive' can't find value '{value}'"
    return _attach(st, model, value, {})


def _board_floppy_globals(st: _State, drives: Any) -> None:
    """hw/block/fdc.c: the board's floppy devices (one per -drive if=floppy) get the
    floppy.* globals too, before their drive is set: a drive= that names nothing fails."""
    wanted = [(p, v) for d, p, v in st.globals_ if d == "floppy" and p == "drive" and v]
    if not wanted or not any(r.ok and r.placement is not None and
                             r.placement.interface.value == "floppy" for r in drives.drives):
        return
    for _, value in wanted:
        if value not in st.backends and value not in st.graph.nodes and \
                value not in st.drive_nodes:
            st.fail(Phase.BOARD, -1, f"can't apply global floppy.drive={value}: Property "
                    f"'floppy.drive' can't find value '{value}'")
            return


# Root ports of each host controller model (hw/usb/hcd-uhci.c NB_PORTS, hcd-ehci.h
# EHCI_PORTS, hcd-xhci.c numports_2/numports_3 (4 each, one port number for both),
# hcd-ohci-pci.c num-ports).
_HC_PORTS = {"usb-ehci": 6, "ich9-usb-ehci1": 6, "ich9-usb-ehci2": 6, "qemu-xhci": 4,
             "nec-usb-xhci": 4, "pci-ohci": 3}


def _ports(count: int) -> list[str]:
    return [str(n) for n in range(1, count + 1)]


def _usb_port(st: _State, model: str, props: dict[str, str]) -> str:
    """hw/usb/bus.c usb_qdev_realize() -> usb_claim_port(): port= must be a free port of
    the bus; without it the first free one, and when only one is left a usb-hub is
    chained on it first (8 more ports). Ports behind hubs qdrive did not see, and buses
    it does not know, are not judged."""
    bus = props.get("bus") or (st.buses["usb-bus"][0] if st.buses["usb-bus"] else "")
    bus = bus if bus in st.usb_ports else f"{bus}.0" if f"{bus}.0" in st.usb_ports else ""
    if not bus:
        return ""
    free = st.usb_ports[bus]
    path = props.get("port")
    if path is not None:
        if path not in free:
            if "." in path and not any(p.startswith(path.rsplit(".", 1)[0] + ".")
                                       for p in free):
                return ""  # behind a hub qdrive does not model
            return f"usb port {path} (bus {bus}) not found (in use?)"
    else:
        if len(free) == 1 and model != "usb-hub":
            hub = free.pop(0)
            free.extend(f"{hub}.{n}" for n in range(1, 9))
        if not free:  # QEMU names the device's product description: not judged
            return ""
        path = free[0]
    free.remove(path)
    if model == "usb-hub":
        free.extend(f"{path}.{n}" for n in range(1, 9))
    return ""


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
    if bus_type == "floppy-bus" and machine not in ("pc", "isapc") and \
            not st.buses.get("floppy-bus"):
        # hw/i386/pc_q35.c: q35 sets no_floppy, so pc_superio_init() makes no isa-fdc;
        # a -device isa-fdc brings its own bus
        return f"No 'floppy-bus' bus found for device '{model}'"
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
        problem = _ide_unit(st, props, 1 if machine == "q35" else 2)
        if problem:
            return problem
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
    if model == "nvme":
        return _nvme(st, props)
    if model in ("scsi-hd", "scsi-cd"):
        return _blocksizes(props)
    if model == "floppy":
        return _floppy(st, props)
    return ""


def _ide_unit(st: _State, props: dict[str, str], units: int) -> str:
    """hw/ide/qdev.c ide_qdev_realize(): the unit (1 when the master is taken, else 0)
    must exist on the bus and be free; it is taken before the device's own checks. An
    IDE bus is never full for qdev (no max_dev), so without bus= it is the first one."""
    taken = st.ide_units.setdefault(props.get("bus") or "ide.0", set())
    unit = _int(props["unit"]) if "unit" in props else (1 if 0 in taken else 0)
    if unit >= units:
        return f"Can't create IDE unit {unit}, bus supports only {units} units"
    if unit in taken:
        return f"IDE unit {unit} is in use"
    taken.add(unit)
    return ""


def _nvme(st: _State, props: dict[str, str]) -> str:
    """hw/nvme/ctrl.c nvme_check_params(): num_queues (deprecated, a warning) sets
    max_ioqpairs, which must be 1..65535 (NVME_MAX_IOQPAIRS), then msix_qsize 1..2048,
    then the serial."""
    pairs = _int(props.get("max_ioqpairs", "64"))
    queues = _int(props.get("num_queues", "0"))
    if queues:
        index, option, text = st.device_at
        st.events.append(_Event(Phase.DEVICES, index, f"{PROG}: {option} {text}: warning: "
                                "num_queues is deprecated; please use max_ioqpairs instead",
                                False))
        pairs = queues - 1
    if not 1 <= pairs <= 0xFFFF:
        return "max_ioqpairs must be between 1 and 65535"
    if not 1 <= _int(props.get("msix_qsize", "65")) <= 2048:
        return "msix_qsize must be between 1 and 2048"
    if "serial" not in props:
        return "serial property not set"
    return ""


def _floppy(st: _State, props: dict[str, str]) -> str:
    """hw/block/fdc.c floppy_drive_realize(): the unit (the first free one when not
    given) of the two, then the block sizes, which must both be 512."""
    unit = _int(props.get("unit", "-1"))
    if unit == -1:
        unit = next((u for u in (0, 1) if u not in st.floppy_units), 2)
    if unit >= 2:
        return f"Can't create floppy unit {unit}, bus supports only 2 units"
    if unit in st.floppy_units:
        return f"Floppy unit {unit} is in use"
    problem = _blocksizes(props)
    if problem:
        return problem
    if (_size(props, "logical_block_size", 0) or 512) != 512 or \
            (_size(props, "physical_block_size", 0) or 512) != 512:
        return "Physical and logical block size must be 512 for floppy"
    st.floppy_units.add(unit)
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
    share = props.get("share-rw", "off") in ("on", "yes", "true", "y")
    write = not read_only and model not in _CD_MODELS
    if node is not None:
        problem = _node_perms(st, name, write, share, _user_desc(st, model, props, True),
                              _user_desc(st, model, props)) or _writable_below(node, write)
        if problem:
            return problem
    ident, label = _identity_of(st, name)
    if ident is None:
        return ""
    chain = frozenset(id(n) for n in _chain(st.graph.nodes.get(name)))
    if name in st.backends:
        chain = frozenset({id(st.backends[name])})
    return st.locks.take(ident, label, write=write, unshare=not share, chain=chain)


# hw/ide/qdev.c ide_dev_initfn(), hw/scsi/scsi-disk.c scsi_cd_realize(): a CD asks its
# backend for read permission only (blkconf_apply_backend_options(readonly=true)).
_CD_MODELS = frozenset({"ide-cd", "scsi-cd"})


def _writable_below(node: Node, write: bool) -> str:
    """block.c bdrv_node_refresh_perm(): a writer's permission goes down the file chain
    (a raw node passes it on), and a read-only node under it refuses it."""
    if write and any(n.read_only for n in _chain(node)[1:]):
        return "Block node is read-only"
    return ""


def _qom_path(st: _State, props: dict[str, str]) -> str:
    """softmmu/qdev-monitor.c qdev_set_id(): /machine/peripheral/ID, or the next
    /machine/peripheral-anon/device[N] for a device without id."""
    if "id" in props:
        return f"/machine/peripheral/{props['id']}"
    st.anon_devices += 1
    return f"/machine/peripheral-anon/device[{st.anon_devices - 1}]"


def _user_desc(st: _State, model: str, props: dict[str, str], realizing: bool = False
               ) -> str:
    """block/block-backend.c blk_root_get_parent_desc(): the device's id, else the QOM
    path of the device that owns the BlockBackend (virtio-blk-pci's virtio-backend;
    usb-storage while it realizes, then the SCSI disk it makes and hands its backend to,
    hw/usb/dev-storage-classic.c usb_msd_storage_realize)."""
    if model == "virtio-blk-pci":
        return f"block device '{st.device_path}/virtio-backend'"
    if model == "usb-storage" and not realizing:
        bus = f"{props['id']}.0" if "id" in props else "scsi.0"
        return f"block device '{st.device_path}/{bus}/legacy[0]'"
    return f"block device '{props.get('id') or st.device_path}'"


def _node_perms(st: _State, node: str, write: bool, share: bool, desc: str,
                kept: str) -> str:
    """block.c bdrv_parent_perms_conflict(): every ordered pair of the node's parents,
    the newest first (bdrv_replace_child_noperm inserts at the head), each asking
    bdrv_a_allow_b() whether a shares what b takes."""
    users = st.node_users.setdefault(node, [])
    older = list(reversed(users))
    culprit = next(((o[2], desc) for o in older if o[0] and not share), None) or next(
        ((desc, o[2]) for o in older if write and not o[1]), None)
    if culprit is not None:
        return (f"Permission conflict on node '{node}': permissions 'write' are both "
                f"required by {culprit[0]} (uses node '{node}' as 'root' child) and "
                f"unshared by {culprit[1]} (uses node '{node}' as 'root' child).")
    users.append((write, share, kept))
    return ""


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


def _bad_value(key: str, value: str, dialect: Dialect = DEFAULT) -> str:
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
            if dialect.block_size_check:
                # util/block-helpers.c check_block_size() (10.0): 0 leaves it unset
                if size and (not 512 <= size <= 2097152 or size & (size - 1)):
                    return (f"parameter {key} must be a power of 2 between 512 and "
                            "2097152")
                return ""
            # hw/core/qdev-properties-system.c set_blocksize(); the device has no id yet
            if not 512 <= size <= 2097152:
                return (f"Property .{key} doesn't take value {size} (minimum: 512, "
                        "maximum: 2097152)")
            if size & (size - 1):
                return f"Property .{key} doesn't take value '{size}', it's not a power of 2"
    return ""


def _link(st: _State, key: str, value: str) -> str:
    """qom/object.c object_resolve_link(): a link property (iothread=) names an object
    that must exist."""
    if key == "iothread" and value not in st.iothreads:
        return f"Device '{value}' not found"
    return ""


def _bootindex(st: _State, key: str, value: str) -> str:
    """softmmu/bootdevice.c device_set_bootindex(): check_boot_index() as the property is
    set, then the index is taken (add_boot_device_path)."""
    if key != "bootindex":
        return ""
    index = _int(value)
    if index >= 0 and index in st.boot_indexes:
        return f"The bootindex {index} has already been used"
    st.boot_indexes.add(index)
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
