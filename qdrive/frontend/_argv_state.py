"""The records a command-line check builds as it goes: the phases of qemu_init(), each
option's verdict, the stderr events, the image locks taken so far and the state the
phases hand on (nodes, devices, buses, ids).

Private to qdrive.frontend.cmdline, which re-exports Phase and OptionResult.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import attrs

from .blockdev_args import Graph, Node
from ..diagnostics import location
from ..dialect import DEFAULT, Dialect


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


def _head(option: str | None, text: str | None) -> str:
    """Where a message is located: at the option, or for a -readconfig section's drive
    ("-readconfig FILE:LINE[ (last)]") at its line, as util/qemu-config.c's Location
    prints it (``prog:FILE:LINE: ``)."""
    if option is None:
        return f"{PROG}: "
    if option.startswith("-readconfig "):
        return f"{PROG}:{config_where(option)}: "
    return location(PROG, option, text)


def config_where(option: str) -> str:
    """``FILE:LINE`` of a -readconfig section's drive option ("-readconfig FILE:LINE",
    " (last)" marking the section handed on with &error_fatal itself)."""
    return option.removeprefix("-readconfig ").removesuffix(" (last)")


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
class _Context:
    """The AioContext of one node graph (qdrive.frontend._argv_context)."""

    iothread: str | None = None  # the -object iothread's id; None: the main loop's
    devices: int = 0  # devices whose BlockBackend is on the graph


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
    full_buses: set[str] = attrs.Factory(set)  # bus types only full buses of exist (virtio)
    later_ids: set[str] = attrs.Factory(set)
    locks: _Locks = attrs.Factory(lambda: _Locks())
    drive_devices: dict[str, tuple[str, dict[str, str]]] = attrs.Factory(dict)
    drive_nodes: set[str] = attrs.Factory(set)  # node-name= of -drive options
    controllers: dict[str, tuple[str, dict[str, str]]] = attrs.Factory(dict)  # bus: HBA, props
    scsi_buses: dict[str, Any] = attrs.Factory(dict)  # bus -> _argv_scsi.ScsiBus
    usb_hc_at: int = -1  # where the newest USB host controller is on the command line
    contexts: dict[object, _Context] = attrs.Factory(dict)  # graph in use: its context
    referenced: set[str] = attrs.Factory(set)  # every drive= a device gave
    # devices on a node by its name: the -blockdev Node, the id of the -drive whose
    # node-name it gave, or None for an empty removable device
    node_devices: list[tuple[str, dict[str, str], Node | str | None]] = attrs.Factory(list)
    flash_nodes: list[Node] = attrs.Factory(list)  # -machine pflashN= nodes, in unit order
    failed: bool = False
    boot_indexes: set[int] = attrs.Factory(set)
    ide_units: dict[str, set[int]] = attrs.Factory(dict)  # bus -> units taken
    ide_bus_units: dict[str, int] = attrs.Factory(dict)  # a -device controller's bus -> units
    usb_ports: dict[str, list[str]] = attrs.Factory(dict)  # bus -> its free ports
    floppy_units: set[int] = attrs.Factory(set)  # taken by -drive if=floppy and floppy
    # an nvme controller's bus (named by its id) -> the namespace ids taken on it, and
    # whether the controller is linked to an nvme-subsys (its namespaces not judged)
    nvme_buses: dict[str, tuple[set[int], bool]] = attrs.Factory(dict)
    gl_display: bool = False  # a display that asks for OpenGL (_argv_display.gl_display)
    gl_devices: int = 0  # virtio-gpu-gl devices so far
    udmabuf: str | None = None  # why /dev/udmabuf does not open ("" it does), once asked
    sealed_memfd: bool = False  # an -object memory-backend-memfd with seals
    pci_bus: bool = True  # the board has a PCI bus (not "none", nor microvm without pcie=on)
    numa_nodes: int = 0  # -numa node options (hw/core/numa.c num_nodes)
    anon_devices: int = 0  # -device options without id= so far (peripheral-anon)
    device_path: str = ""  # the QOM path of the -device being read
    device_at: tuple[int, str, str] = (0, "", "")  # and where it is on the command line
    device_json: dict[str, Any] | None = None  # its values as typed, when it is JSON
    node_users: dict[str, list[tuple[bool, bool, str]]] = attrs.Factory(dict)
    globals_: list[tuple[str, str, str]] = attrs.Factory(list)  # -global on block devices
    qom_globals: list[tuple[str, str, str]] = attrs.Factory(list)  # every -global, in order
    swapped_nodes: dict[str, str] = attrs.Factory(dict)  # drive id -> node-name it now has
    drive_globals: Any = None  # the drive= globals of the -device being read (DriveGlobals)
    dialect: Dialect = DEFAULT  # the release whose devices are read (its removed properties)

    def fail(self, phase: Phase, order: int, message: str, option: str | None = None,
             text: str | None = None) -> None:
        if phase in (Phase.PARSE, Phase.OBJECTS, Phase.BLOCKDEV, Phase.DEVICES) and \
                order in self.results and self.results[order].error is None:
            self.results[order] = attrs.evolve(self.results[order], error=message)
        head = _head(option, text)
        if phase is Phase.DEVICES and text is not None and text.startswith("{"):
            phase = Phase.JSON_DEVICES
        self.events.append(_Event(phase, order, head + message.replace(
            "\n", f"\n{PROG}: " if message.startswith("system firmware") else "\n"), True))
