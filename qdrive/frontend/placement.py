"""Where drives land: index -> bus/unit, free-slot search, default device ids.

Mirrors blockdev.c drive_new() (the bus/unit/index block and the id it makes
up), if_max_devs[], and the per-machine overrides of hw/i386/pc_q35.c.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import attrs

from ..diagnostics import Span, Stage, error
from .._values import to_int32
from ..model import Drive, Interface, Media

__all__ = ["MAX_DEVS", "MACHINES", "Machine", "Slots", "Placement", "device_id", "machine",
           "placement_of"]

# blockdev.c if_max_devs[]: units per bus; 0 means "one bus, index = unit".
MAX_DEVS = MappingProxyType({Interface.IDE: 2, Interface.SCSI: 7})


@attrs.frozen
class Machine:
    """What a board decides about drives: default interface, units per default bus,
    which interfaces its board code claims (others are orphans), and its buses."""

    name: str
    default_if: Interface
    units_per_default_bus: int
    claims: frozenset[Interface]
    buses: MappingProxyType[Interface, int]  # how many buses of each claimed interface

    def max_devs(self, iface: Interface) -> int:
        if iface is self.default_if and self.units_per_default_bus:
            return self.units_per_default_bus
        return MAX_DEVS.get(iface, 0)


MACHINES = MappingProxyType({
    # hw/i386/pc_piix.c: two IDE buses of two units, one floppy controller (two drives),
    # two pflash units; virtio and none are claimed by -device / nobody needs claiming.
    "pc": Machine("pc", Interface.IDE, 0,
                  frozenset({Interface.IDE, Interface.FLOPPY, Interface.PFLASH,
                             Interface.VIRTIO, Interface.NONE}),
                  MappingProxyType({Interface.IDE: 2, Interface.FLOPPY: 1,
                                    Interface.PFLASH: 1})),
    # hw/i386/pc_q35.c: AHCI with six ports, one unit each (units_per_default_bus = 1).
    "q35": Machine("q35", Interface.IDE, 1,
                   frozenset({Interface.IDE, Interface.FLOPPY, Interface.PFLASH,
                              Interface.VIRTIO, Interface.NONE}),
                   MappingProxyType({Interface.IDE: 6, Interface.FLOPPY: 1,
                                     Interface.PFLASH: 1})),
})


# The x86 boards that are no PC (hw/core/null-machine.c "none", hw/i386/microvm.c,
# hw/remote/machine.c "x-remote"): their MachineClass leaves block_default_type at 0,
# IF_NONE (include/sysemu/blockdev.h), so a -drive without if= is if=none, and no board
# code claims another interface but the virtio-blk device if=virtio adds (blockdev.c
# drive_check_orphaned()). Not in MACHINES: the untrusted policy allows pc and q35 only.
BARE_BOARDS = frozenset({"none", "microvm", "x-remote"})
_BARE = Machine("none", Interface.NONE, 0, frozenset({Interface.NONE, Interface.VIRTIO}),
                MappingProxyType({}))


def machine(name: str) -> Machine:
    """The Machine called ``name`` (``pc``, ``q35``; ``pc-i440fx-*``/``pc-q35-*`` too; the
    boards of :data:`BARE_BOARDS`)."""
    if name.startswith("pc-q35") or name == "q35":
        return MACHINES["q35"]
    if name.startswith("pc-i440fx") or name in ("pc", "pc-i440fx"):
        return MACHINES["pc"]
    if name in BARE_BOARDS:
        return attrs.evolve(_BARE, name=name)
    raise ValueError(f"unknown machine {name!r}: qdrive knows pc and q35")


def device_id(iface: Interface, bus: int, unit: int, media: Media | None, max_devs: int) -> str:
    """The id QEMU invents for a drive without ``id=`` (ide0-hd0, ide1-cd0, virtio0...)."""
    mediastr = ""
    if iface in (Interface.IDE, Interface.SCSI):
        mediastr = "-cd" if media is Media.CDROM else "-hd"
    if max_devs:
        return f"{iface}{bus}{mediastr}{unit}"
    return f"{iface}{mediastr}{unit}"


@attrs.define
class Slots:
    """The drives placed so far on one command line, and the next placement."""

    machine: Machine = MACHINES["pc"]
    used: set[tuple[Interface, int, int]] = attrs.Factory(set)
    last: tuple[int, int] | None = None

    def place(self, iface: Interface, bus: int, unit: int, index: int, span: Span
              ) -> tuple[int, int]:
        """drive_new(): resolve bus/unit, refuse a taken slot; remembers the result."""
        max_devs = self.machine.max_devs(iface)
        if index != -1:
            if bus != 0 or unit != -1:
                raise error("index-with-bus-unit", "index cannot be used with bus and unit",
                            span, Stage.LEGACY)
            bus, unit = _c_divmod(index, max_devs) if max_devs else (0, index)
        if unit == -1:
            unit = 0
            while (iface, bus, unit) in self.used:
                unit += 1
                if max_devs and unit >= max_devs:
                    unit -= max_devs
                    bus += 1
        if max_devs and unit >= max_devs:
            raise error("unit-too-big", f"unit {unit} too big (max is {max_devs - 1})", span,
                        Stage.PLACEMENT)
        if (iface, bus, unit) in self.used:
            raise error("slot-taken", f"drive with bus={bus}, unit={unit} (index={index}) "
                        "exists", span, Stage.PLACEMENT)
        self.last = (bus, unit)
        return bus, unit

    def commit(self, iface: Interface) -> None:
        """Mark the last placement as taken (QEMU does so only for drives it created)."""
        if self.last is not None:
            bus, unit = self.last
            self.used.add((iface, bus, unit))


def _c_divmod(a: int, b: int) -> tuple[int, int]:
    # C's / and % truncate toward zero (index is an int in blockdev.c).
    q = abs(a) // b * (1 if a >= 0 else -1)
    return q, a - q * b


@attrs.frozen
class Placement:
    """Where QEMU puts a drive: interface, bus, unit, index and the device id."""

    interface: Interface
    bus: int | None
    unit: int | None
    index: int | None
    device_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {"interface": str(self.interface), "bus": self.bus, "unit": self.unit,
                "index": self.index, "device_id": self.device_id}


def placement_of(drive: Drive, board: Machine | None = None) -> Placement:
    """Where drive_new() puts ``drive`` when it is the command line's only drive.

    The -blockdev translation of a lone Drive needs its bus, unit and device id; they
    come from the same :meth:`Slots.place` the converter runs, with nothing placed yet.
    Raises :class:`~qdrive.diagnostics.Stop` when QEMU would refuse the slot (a unit
    beyond the bus, index= with bus=/unit=).
    """
    board = board or MACHINES["pc"]
    iface = drive.interface or board.default_if
    index = -1 if drive.index is None else to_int32(drive.index)
    bus, unit = Slots(board).place(iface, 0 if drive.bus is None else to_int32(drive.bus),
                                   -1 if drive.unit is None else to_int32(drive.unit), index,
                                   Span(0, 0))
    return Placement(iface, bus, unit, None if index == -1 else index,
                     drive.id or device_id(iface, bus, unit, drive.media, board.max_devs(iface)))


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
