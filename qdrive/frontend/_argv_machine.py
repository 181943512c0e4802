"""The machine and its board: the -machine type and properties
(softmmu/vl.c select_machine(), qemu_apply_machine_options()), the flash images
(hw/i386/pc_sysfw.c pc_system_flash_map()) and what qemu_init_board() makes for the
drives (hw/i386/pc.c: the IDE and floppy devices, the isa-fdc and its -global options,
the USB controller of -usb).
"""

from __future__ import annotations

import os
import re
from typing import Any

import attrs

from ._argv_locks import _board_holders
from ._argv_state import PROG, Phase, _Event, _State
from .blockdev_args import Node
from ..dialect import Dialect


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
        return _Event(Phase.PARSE, last, f"{PROG}: {_unsupported(name, dialect)}", True)
    return _Event(Phase.MACHINE, last, f"{PROG}: warning: Machine type '{name}' is "
                  f"deprecated: {dialect.machine_deprecation_reason}", False)


def _known_machine(name: str, strict: bool = False) -> str | bool:
    """The board family of ``name`` (pc or q35); ``strict``: whether QEMU has a machine of
    that name at all. The pc/q35 names are the aliases and the versioned ones
    (pc-q35-X.Y, pc-i440fx-X.Y: hw/i386/pc_piix.c, pc_q35.c; which versions a release
    has is Dialect.machine_status): a distribution's own (pc-q35-rhel8.2.0) or the bare
    family name is no machine of Debian's QEMU."""
    if name.startswith("pc-q35") or name == "q35":
        return "q35" if not strict else name == "q35" or _versioned(name)
    if name.startswith("pc-i440fx") or name == "pc" or not name:
        return "pc" if not strict else name in ("pc", "") or _versioned(name)
    if strict:
        return name in ("isapc", "microvm", "none", "x-remote")
    return "pc"


def _versioned(name: str) -> bool:
    head, _, version = name.rpartition("-")
    parts = version.split(".")
    return head in ("pc-q35", "pc-i440fx") and len(parts) in (2, 3) and \
        all(p.isdigit() for p in parts)


def _machine_properties(st: _State, machine: str, texts: list[tuple[int, str]]
                        ) -> dict[int, int]:
    """A -machine key the machine object lacks (qdrive.frontend.machine), its error also
    on the -machine option that gave it; the position of pflash0 and pflash1 in the same
    walk (its first failure is the one QEMU prints)."""
    from .machine import apply_order, machine_keys, machine_values, unknown_property

    keys = machine_keys(t for _, t in texts)
    if _known_machine(machine, strict=True) is True and machine not in (
            "isapc", "microvm", "none", "x-remote"):
        unknown = unknown_property(machine, keys, st.dialect.machine_version,
                                   machine_values(t for _, t in texts))
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


# hw/block/fdc-isa.c isa_fdc_properties and isabus_fdc_instance_init(): what a global
# can set on the board's floppy controller (7.2 has no driveA/driveB: -device floppy).
_FDC_PROPS = frozenset({"iobase", "irq", "dma", "fdtypeA", "fdtypeB", "fallback",
                        "bootindexA", "bootindexB"})


# the board phase's order of the floppy controller where the IDE devices come first: after
# every drive's own board error (ordered by drive, from 0)
FLOPPY_ORDER = 1 << 19


def _fdc_globals(st: _State, globals_: list[tuple[str, str, str]]) -> None:
    """hw/i386/pc.c pc_superio_init(): an i440fx board always makes its isa-fdc, and
    device_post_init() applies the -global options to it, fatally (qom/object.c
    object_apply_global_props: "can't apply global ...")."""
    for driver, prop, value in globals_:
        if prop not in _FDC_PROPS:
            # before the board's IDE and floppy devices (ordered by drive, from 0); after
            # the IDE ones where they come first (Dialect.board_ide_first)
            st.fail(Phase.BOARD, FLOPPY_ORDER if st.dialect.board_ide_first else -1,
                    f"can't apply global {driver}.{prop}={value}: "
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


def _ports(count: int) -> list[str]:
    return [str(n) for n in range(1, count + 1)]


def select_machine(st: _State, machine: str) -> None:
    """system/vl.c select_machine(): a removed or deprecated versioned machine."""
    lifecycle = _machine_lifecycle(machine, st.dialect)
    if lifecycle is not None:
        st.events.append(lifecycle)


def check_machine_type(st: _State, machine: str) -> None:
    """system/vl.c select_machine(): an unknown machine type stops QEMU once the option
    loop is done, before any object, -blockdev or -drive is created (so none of their
    errors or warnings is printed); the -machine option that named it carries the error."""
    message = _unsupported(machine, st.dialect)
    if st.dialect.machine_status(machine) != "removed":  # else select_machine() filed it
        if _known_machine(machine, strict=True):
            return
        st.fail(Phase.PARSE, 1 << 30, message)  # after every event of the option loop
    at = _type_option(st)
    if at is not None and st.results[at].error is None:
        st.results[at] = attrs.evolve(st.results[at], error=message)


def _unsupported(name: str, dialect: Dialect) -> str:
    named = f': "{name}"' if dialect.machine_named else ""  # Dialect.machine_named
    return f"unsupported machine type{named}\nUse -machine help to list supported machines"


def _type_option(st: _State) -> int | None:
    """The index of the last -machine/-M option that names the type (its first item
    without '=', or type=), as keyval_parse_into(..., "type") reads it."""
    found = None
    for at in sorted(st.results):
        r = st.results[at]
        if r.kind == "machine" and r.option.lstrip("-") in ("machine", "M") and r.text:
            first = r.text.split(",", 1)[0]
            if "=" not in first or any(p.startswith("type=") for p in r.text.split(",")):
                found = at
    return found


def apply_machine_options(st: _State, machine: str, props: dict[str, str],
                          texts: list[tuple[int, str]], drives: Any) -> None:
    """qemu_apply_machine_options(): the -machine properties, pflash0= and pflash1=."""
    flash_order = _machine_properties(st, machine, texts)
    _pflash(st, props, drives, machine, flash_order)


# `qemu-system-x86_64 -accel help` (7.2, Debian): the accelerators accel_find() knows
_ACCELERATORS = ("tcg", "kvm")
_ACCEL_ORDER = 1 << 20  # after every -machine property (events sort by phase, order)


def configure_accelerators(st: _State, texts: list[tuple[int, str]],
                           tokens: list[tuple[int, str, str | None]]) -> None:
    """softmmu/vl.c configure_accelerators() for -machine accel=A:B:...: beside -accel
    (or -enable-kvm, which adds an -accel kvm) it is refused; alone, each name
    accel_find() does not know is reported, and when none is left QEMU exits, else it
    falls back to the first one left (judged only when that is tcg: whether kvm
    initialises depends on the host)."""
    from .machine import machine_values

    accel = machine_values(t for _, t in texts).get("accel")
    if not isinstance(accel, str):
        return
    if any(o.lstrip("-") in ("accel", "enable-kvm") for _, o, _ in tokens):
        st.fail(Phase.MACHINE, _ACCEL_ORDER,
                'The -accel and "-machine accel=" options are incompatible')
        return
    names = accel.split(":")
    bad = [n for n in names if n not in _ACCELERATORS]
    good = [n for n in names if n in _ACCELERATORS]
    if not bad or (good and set(good) != {"tcg"}):
        return
    for n, name in enumerate(bad[:-1] if not good else bad):
        st.events.append(_Event(Phase.MACHINE, _ACCEL_ORDER + n,
                                f"{PROG}: invalid accelerator {name}", False))
    if good:
        st.events.append(_Event(Phase.MACHINE, _ACCEL_ORDER + len(bad),
                                f"{PROG}: falling back to tcg", False))
    else:  # do_configure_accelerator() found none: exit(1)
        st.fail(Phase.MACHINE, _ACCEL_ORDER + len(bad), f"invalid accelerator {bad[-1]}")


def init_board(st: _State, machine: str, tokens: list[tuple[int, str, str | None]],
               props: dict[str, str], fdc_globals: list[tuple[str, str, str]],
               drives: Any) -> None:
    """qemu_init_board(): the USB controller of -usb, the devices the board makes for the
    IDE, floppy and flash drives, and the i440fx board's floppy controller."""
    usb = "-usb" in [t[1] for t in tokens] or props.get("usb") in ("on", "yes", "true")
    # only the PCI boards make a controller for it (hw/i386/pc_piix.c checks
    # pci_enabled: isapc has none; microvm and none make no USB at all)
    if usb and (machine in ("", "microvm") or machine.startswith(("pc-", "q35"))
                or machine == "pc"):
        st.buses["usb-bus"].append("usb-bus.0")
        # hw/i386/pc_piix.c: a piix3-usb-uhci (2 ports); hw/i386/pc_q35.c: an ICH9 EHCI
        # with its companions (6 ports)
        st.usb_ports["usb-bus.0"] = _ports(6 if _known_machine(machine) == "q35" else 2)
    _board_holders(st, drives)
    # hw/core/null-machine.c makes no bus; hw/i386/microvm.c a PCIe host only with pcie=on
    st.pci_bus = machine != "none" and (machine != "microvm" or props.get("pcie") in (
        "on", "yes", "true"))
    for r in drives.drives:  # the board's IDE devices for -drive if=ide (hw/i386/pc.c)
        p = r.placement
        if r.ok and p is not None and p.interface.value == "ide" and p.unit is not None:
            st.ide_units.setdefault(f"ide.{p.bus or 0}", set()).add(p.unit)
    st.floppy_units.update(r.placement.unit for r in drives.drives
                           if r.ok and r.placement is not None and
                           r.placement.interface.value == "floppy" and
                           r.placement.unit is not None)
    if _known_machine(machine) == "pc" and machine not in ("microvm", "none", "x-remote"):
        _fdc_globals(st, fdc_globals)
    from .netdevs import unsupported_nic

    bad_nic = unsupported_nic(tokens, board_name(machine))
    if bad_nic is not None:
        st.fail(Phase.BOARD, bad_nic[0], bad_nic[1])


def board_name(machine: str) -> str:
    """The board whose buses a -device finds: pc or q35 for their versioned names;
    the others (and unknown ones) as given."""
    if _known_machine(machine, strict=True) and machine not in (
            "isapc", "microvm", "none", "x-remote"):
        return str(_known_machine(machine))
    return machine


_CXL_TARGET = re.compile(r"cxl-fmw\.(\d+)\.targets\.(\d+)")


def link_cxl_windows(st: _State, machine: str, props: dict[str, str],
                     devices: list[tuple[int, str, str, Any]]) -> None:
    """hw/i386/pc.c pc_machine_done() -> hw/cxl/cxl-host.c cxl_fmws_link_targets(), once
    the machine is made (after the -global check): with cxl=on, every target of every
    cxl-fmw.N window, in order, must name a pxb-cxl device (object_resolve_path_type()
    of its id), or QEMU stops ("Could not resolve CXLFM target ID", no location)."""
    if any(e.error for e in st.events) or board_name(machine) not in ("pc", "q35") or \
            props.get("cxl") not in ("on", "yes", "true", "y"):
        return
    targets = sorted((int(m.group(1)), int(m.group(2)), value) for key, value in props.items()
                     if (m := _CXL_TARGET.fullmatch(key)))
    bridges = {str(p.get("id")) for _, _, _, p in devices
               if isinstance(p, dict) and p.get("driver") == "pxb-cxl" and "id" in p}
    missing = next((value for _, _, value in targets if value not in bridges), None)
    if missing is not None:
        st.fail(Phase.CREATION_DONE, 1 << 21, f"Could not resolve CXLFM target {missing}")
