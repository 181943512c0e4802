"""softmmu/vl.c qemu_create_cli_devices(): each -device in turn, as
softmmu/qdev-monitor.c qdev_device_add() makes it: the model, its bus, the -global
options for it, then its properties in order (QOM links, boot indexes, drives), then
its realize (qdrive.frontend._argv_realize); and the NICs against -netdev.
"""

from __future__ import annotations

from typing import Any

from ._argv_context import attach as context_attach, scsi_hotplug
from ._argv_display import gpu_realize
from ._argv_locks import _virtio_drive_locks
from ._argv_machine import _FDC_PROPS, FLOPPY_ORDER, _ports, board_name
from .._values import prop_int as _int
from ._argv_realize import _realize, sg_version, virtio_scsi_realize
from ._argv_state import PROG, Phase, _Event, _State
from ._qdict import qdict_order
from ._argv_plug import pxb_realize, virtio_pci_plugged
from ._argv_props import json_value_problem, pci_devfn_problem
from .devices import (BLOCK_MODELS, SCSI_HBAS, USB_HCS, model_info, other_properties,
                      prop_kind, properties, property_types)
from ..dialect import DEFAULT, Dialect


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


# SCSI passthrough: not judged as block devices (their drive= is not followed), but their
# realize asks the host device first (qdrive.frontend._argv_realize.sg_version)
_SG_MODELS = frozenset({"scsi-block", "scsi-generic"})


def _device(st: _State, index: int, option: str, text: str, props: dict[str, str],
            machine: str) -> None:
    """qdev_device_add(): the model, its bus, then its properties in order."""
    found = _device_model(st, index, option, text, props)
    if found is None:
        return
    given, model, bus_type = found
    st.device_path = _qom_path(st, props)
    st.device_at = (index, option, text)
    st.device_json = _raw_json(text)
    problem = _bus(st, props, model, bus_type, machine) or _child_bus(st, given, model, props)
    if problem:
        _fail_device(st, problem)
        return
    _name_buses(st, model, props)
    if model not in BLOCK_MODELS:
        # a USB device takes its port; an HBA's iothread= is a link
        problem = _unknown_property(st, model, props) or (
            _usb_port(st, model, props) if bus_type == "usb-bus" else "") or (
            _link(st, "iothread", props["iothread"])
            if model in SCSI_HBAS and "iothread" in props else "") or (
                virtio_scsi_realize(props) if model.startswith("virtio-scsi-pci") else "") or \
            pxb_realize(model, props, machine, st.numa_nodes) or \
            gpu_realize(st, model, props) or virtio_pci_plugged(model, props, machine) or (
                sg_version(st, props.get("drive") or None) if model in _SG_MODELS else "")
        if problem:
            _fail_device(st, problem)
        return
    _block_device(st, given, model, bus_type, props, machine)


def _unknown_property(st: _State, model: str, props: dict[str, str]) -> str:
    """softmmu/qdev-monitor.c qdev_device_add_from_qdict(): the properties are set in
    QDict order and the first the object lacks stops it (qom/object.c
    object_property_find_err()); the names from ``-device MODEL,help``, then the value
    (a JSON one against the type help names, an addr=: qdrive.frontend._argv_props)."""
    known = other_properties(model)
    if known is None:
        return ""
    types = property_types(model)
    raw = st.device_json
    for key in _device_order(props):
        if key in ("driver", "id", "bus"):
            continue
        if key not in known:
            return f"Property '{model}.{key}' not found"
        problem = _addr(st, model, key, props[key])
        if not problem and raw is not None and key != "addr":
            problem = json_value_problem(key, raw.get(key), types.get(key, ""))
        if not problem and key == "drive" and model in _SG_MODELS and props[key]:
            # hw/core/qdev-properties-system.c set_drive_helper(): found, and not in use
            problem = _attach(st, model, props[key], props)
        if problem:
            return problem
    return ""


def _addr(st: _State, model: str, key: str, value: str) -> str:
    """A PCI device's addr= (hw/core/qdev-properties-system.c set_pci_devfn())."""
    if key != "addr":
        return ""
    raw = st.device_json
    return pci_devfn_problem(model, raw.get(key) if raw is not None else value,
                             raw is not None)


def _raw_json(text: str) -> dict[str, Any] | None:
    """A JSON -device's values as typed (the QObject input visitor sees their types)."""
    if not text.startswith("{"):
        return None
    from .jsonarg import JsonArgError, parse_json_object

    try:
        return parse_json_object(text)
    except JsonArgError:
        return None  # refused when it was read


def _fail_device(st: _State, problem: str) -> None:
    index, option, text = st.device_at
    st.fail(Phase.DEVICES, index, problem, option, text)


def _device_model(st: _State, index: int, option: str, text: str, props: dict[str, str]
                  ) -> tuple[str, str, str | None] | None:
    """The model driver= names, as given and as qdrive knows it, and its bus type."""
    if "driver" not in props:  # softmmu/qdev-monitor.c qdev_device_add_from_qdict()
        st.fail(Phase.DEVICES, index, "Parameter 'driver' is missing", option, text)
        return None
    given = props.get("driver", "")
    info = model_info(given)
    if info is None:
        st.fail(Phase.DEVICES, index, f"'{given}' is not a valid device model name", option,
                text)
        return None
    return given, info[0], info[1]


def _child_bus(st: _State, given: str, model: str, props: dict[str, str]) -> str:
    """The bus a SCSI HBA, a floppy controller or a USB host controller brings, for
    the devices after it."""
    if model.startswith("virtio-") and "-pci" in model:
        # a virtio PCI proxy's own virtio-bus, full with its virtio-backend
        # (hw/virtio/virtio-pci.c): no room for a -device virtio-*-device
        st.full_buses.add("virtio-bus")
    if model in SCSI_HBAS or model == "usb-storage":
        from ._argv_scsi import add_bus

        bus_name = f"{props['id']}.0" if "id" in props else "scsi.0"
        st.buses["SCSI"].append(bus_name)
        at = st.device_at[0]
        # a USB storage device's bus is met under its USB controller (qbus_find_recursive):
        # the newest -device one, else the board's (-usb), older than any -device
        top = st.usb_hc_at if model.startswith("usb-") else at
        # an anonymous HBA's bus is found by type only (its scsi.N name is not modelled)
        add_bus(st.scsi_buses, bus_name if "id" in props else f"#{at}", model, (top, at))
        if model != "usb-storage":
            st.controllers[bus_name] = (model, props)
    elif given == "isa-fdc":
        # hw/block/fdc-isa.c: the properties a -device isa-fdc may set (7.2 has no
        # driveA/driveB), met in the order the others are (_device_order)
        bad = next((k for k in _device_order(props)
                    if k not in _FDC_PROPS and k not in ("driver", "id", "bus")), None)
        if bad is not None:
            return f"Property 'isa-fdc.{bad}' not found"
        st.buses.setdefault("floppy-bus", []).append("floppy-bus.0")
    elif model == "nvme":
        # hw/nvme/ctrl.c nvme_realize(): qbus_init() names its nvme-bus by the device's
        # id itself (no ".0"); an anonymous one gets a generated name
        bus_name = props.get("id") or f"#nvme{st.device_at[0]}"
        st.buses.setdefault("nvme-bus", []).append(bus_name)
        st.nvme_buses[bus_name] = (set(), bool(props.get("subsys")))
        if "id" in props:
            st.named_buses.add(props["id"])
    elif model in USB_HCS:
        st.usb_hc_at = st.device_at[0]
        master = props.get("masterbus")
        if master is not None and master not in st.buses["usb-bus"]:
            # hw/usb/bus.c usb_register_companion(): the master's bus by its name
            return f"USB bus '{master}' not found"
        usb_bus = f"{props['id']}.0" if "id" in props else "usb-bus.0"
        st.buses["usb-bus"].append(usb_bus)
        if "masterbus" not in props:  # a companion puts its ports on its master's bus
            st.usb_ports.setdefault(usb_bus, _ports(_HC_PORTS.get(model, 2)))
    return ""


# The models whose secondary bus is named after their id (hw/pci/pci_bridge.c
# pci_bridge_initfn(): "let users address the bus using the device name"; its callers in
# hw/pci-bridge/, and pxb_dev_realize_common()'s pci_root_bus_new(dev_name)).
_PCI_BRIDGES = frozenset({
    "pci-bridge", "pci-bridge-seat", "pcie-pci-bridge", "pcie-root-port", "ioh3420",
    "xio3130-downstream", "x3130-upstream", "i82801b11-bridge", "cxl-rp", "cxl-upstream",
    "cxl-downstream", "pxb", "pxb-pcie", "pxb-cxl"})


_IDE_BUSES = {"ich9-ahci": 6, "piix3-ide": 2, "piix4-ide": 2, "piix3-ide-xen": 2}


def _name_buses(st: _State, model: str, props: dict[str, str]) -> None:
    if "id" in props:
        # a SCSI HBA's or USB controller's bus is ID.0 (hw/core/bus.c qbus_init names a
        # child bus after its device); a bridge's bus is named ID itself
        st.named_buses.add(f"{props['id']}.0")
        if model in _PCI_BRIDGES:
            st.named_buses.add(props["id"])
        # an IDE controller's buses ID.0, ID.1, an AHCI's one per port (hw/ide/ich.c
        # pci_ich9_ahci_realize: 6; hw/ide/piix.c: 2), named by qbus_init in turn
        st.named_buses.update(f"{props['id']}.{n}" for n in range(1, _IDE_BUSES.get(model, 1)))
        for n in range(_IDE_BUSES.get(model, 0)):
            # softmmu/qdev-monitor.c qbus_find_recursive() meets the newest device first:
            # a bus of a name the board's has (ide.0 of a piix3-ide,id=ide on q35) is the
            # one bus= finds from now on, with its own units (hw/ide/ich.c: 1 per port)
            st.ide_units[f"{props['id']}.{n}"] = set()
            st.ide_bus_units[f"{props['id']}.{n}"] = 1 if model == "ich9-ahci" else 2


def _block_device(st: _State, given: str, model: str, bus_type: str | None,
                  props: dict[str, str], machine: str) -> None:
    """A block device: the -global options for it, its own properties, its realize;
    then the drive or node it took is its."""
    known = (properties(model) - st.dialect.removed_properties.get(model, frozenset())) | \
        st.dialect.added_properties.get(model, frozenset())
    defaults = _device_globals(st, given, model, props, known)
    if defaults is None:
        return
    problem = _set_properties(st, model, props, known)
    if not problem:
        props = {**defaults, **props}
        problem = (_usb_port(st, model, props) if bus_type == "usb-bus" else "") or \
            _realize(st, model, props, machine) or virtio_pci_plugged(model, props, machine) \
            or (scsi_hotplug(st, props) if model in ("scsi-hd", "scsi-cd") else "")
    if problem:
        _fail_device(st, problem)
        return
    name = props.get("drive")
    swapped: DriveGlobals = st.drive_globals
    if swapped.set and swapped.value in st.backends and name != swapped.value:
        # virtio-blk-pci: the global's backend is the device's, over the node drive=
        # named (blk_replace_bs()); query-block shows that backend with that node
        st.drive_devices[swapped.value] = (model, props)
        if name in st.drive_nodes:
            st.swapped_nodes[swapped.value] = name
    elif name and name in st.backends:
        st.drive_devices[name] = (model, props)
    elif name and name in st.graph.nodes:
        st.node_devices.append((model, props, st.graph.nodes[name]))
    elif name and name in st.drive_nodes:
        # a -drive's node by its node-name: the device's own anonymous BlockBackend on it
        drive = next((i for i, b in st.backends.items()
                      if b.drive is not None and b.drive.node_name == name), None)
        if drive is not None:
            st.node_devices.append((model, props, drive))
    elif not name and model in ("ide-cd", "scsi-cd", "floppy"):
        # an empty removable device makes an anonymous empty BlockBackend of its own
        # (block/block-backend.c blk_create_empty_drive), which query-block lists
        st.node_devices.append((model, props, None))


def _set_properties(st: _State, model: str, props: dict[str, str],
                    known: frozenset[str] | set[str]) -> str:
    """qdev_device_add_from_qdict(): the properties in QDict order, JSON's as well; the
    first one QEMU refuses."""
    for key in _device_order(props):
        value = props[key]
        if key in ("driver", "id", "bus"):
            continue
        if key not in known:
            return f"Property '{model}.{key}' not found"
        problem = _bad_value(key, value, st.dialect, property_types(model).get(key, "")) \
            if key != "addr" else _addr(st, model, key, value)
        problem = problem or _link(st, key, value) or _bootindex(st, key, value)
        if problem:
            return problem
        if key == "drive":
            drive_globals: DriveGlobals = st.drive_globals
            problem = drive_globals.again(st, value)
            if problem:
                return problem
            if drive_globals.set:
                continue  # virtio-blk-pci: the node swapped in under the global's backend
        if key == "drive" and value:
            problem = _attach(st, model, value, props)
            if problem:
                return problem
    return ""


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
    set theirs again (drive= excepted: DriveGlobals). A global QEMU cannot set fails the
    device with "can't apply global ...". The properties the globals alone give (None:
    one failed); what the drive globals left is ``st.drive_globals``."""
    index, option, text = st.device_at
    out: dict[str, str] = {}
    st.drive_globals = drive_globals = DriveGlobals(model)
    for driver, prop, value in st.globals_:
        if driver not in (given, model):
            continue
        problem = _global_problem(st, model, prop, value, known) if prop != "drive" or \
            prop not in known else drive_globals.apply(st, driver, value)
        if problem:
            st.fail(Phase.DEVICES, index, f"can't apply global {driver}.{prop}={value}: "
                    f"{problem}", option, text)
            return None
        if prop not in props:
            out[prop] = value
    return out


def _global_problem(st: _State, model: str, prop: str, value: str,
                    known: frozenset[str] | set[str]) -> str:
    if prop not in known:
        return f"Property '{model}.{prop}' not found"
    # a global's value goes through the string input visitor (object_property_parse()),
    # whose integers are int64 (qapi/string-input-visitor.c parse_type_int64)
    return (_bad_value(prop, value) or _link(st, prop, value) or
            _bootindex(st, prop, value)).replace("expects integer", "expects int64")


class DriveGlobals:
    """The drive= of one device as the -global options and then the device itself (or
    the board, for the devices it makes) set it: hw/core/qdev-properties-system.c
    set_drive_helper() and check_prop_still_unset(). Once a global has set a backend,
    setting drive= again fails with "-global D.drive=... conflicts with drive=V" (D the
    first -global of the device's type for drive=, qdev_find_global_prop()). On
    virtio-blk-pci the global goes through the proxy's alias to its virtio-blk-device,
    which no -global names: setting it again swaps the backend's node, so V must be a
    node-name (block.c bdrv_lookup_bs())."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.first: str | None = None  # the driver the first drive= global names
        self.set = False  # a global left a backend on the device
        self.value = ""  # the drive= that global gave

    def apply(self, st: _State, driver: str, value: str) -> str:
        """One -global DRIVER.drive=VALUE."""
        self.first = self.first or driver
        problem = self.again(st, value)
        if problem or self.set or not value:
            return problem
        problem = _attach(st, self.model, value, {})
        self.set = not problem
        self.value = value
        return problem

    def again(self, st: _State, value: str) -> str:
        """drive=VALUE set once more (by a later global, the device or the board)."""
        if not self.set:
            return ""
        if self.model == "virtio-blk-pci":
            if value in st.graph.nodes or value in st.drive_nodes:
                return ""
            return f"Cannot find device='' nor node-name='{value}'"
        return f"-global {self.first}.drive=... conflicts with drive={value}"


# Root ports of each host controller model (hw/usb/hcd-uhci.c NB_PORTS, hcd-ehci.h
# EHCI_PORTS, hcd-xhci.c numports_2/numports_3 (4 each, one port number for both),
# hcd-ohci-pci.c num-ports).
_HC_PORTS = {"usb-ehci": 6, "ich9-usb-ehci1": 6, "ich9-usb-ehci2": 6, "qemu-xhci": 4,
             "nec-usb-xhci": 4, "pci-ohci": 3}


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
        # the board's buses by name (isa-fdc's floppy-bus.0: pc_superio_init(), not q35)
        defaults = {"pci.0", "ide.0", "ide.1", "floppy-bus.0"} if machine != "q35" else {
            "pcie.0", *(f"ide.{n}" for n in range(6))}
        if bus in defaults or bus in st.named_buses or bus.split(".")[0] in st.later_ids:
            return ""
        if bus in st.buses["SCSI"] or bus in st.buses["usb-bus"]:
            return ""
        return f"Bus '{bus}' not found"
    if bus_type in ("PCI", "PCIE") and not st.pci_bus:
        return f"No 'PCI' bus found for device '{model}'"
    if machine not in ("pc", "q35", "isapc"):
        return ""  # other boards' buses are not modelled
    if bus_type == "floppy-bus" and machine not in ("pc", "isapc") and \
            not st.buses.get("floppy-bus"):
        # hw/i386/pc_q35.c: q35 sets no_floppy, so pc_superio_init() makes no isa-fdc;
        # a -device isa-fdc brings its own bus
        return f"No 'floppy-bus' bus found for device '{model}'"
    if bus_type in ("SCSI", "usb-bus", "virtio-bus", "nvme-bus") and \
            not st.buses.get(bus_type):
        if bus_type in st.full_buses and st.dialect.full_bus_named:
            return f"A '{bus_type}' bus was found but is full"
        return f"No '{bus_type}' bus found for device '{model}'"
    if bus_type in ("PCI", "PCIE") and machine not in ("pc", "q35"):
        return f"No 'PCI' bus found for device '{model}'"
    return ""


def _qom_path(st: _State, props: dict[str, str]) -> str:
    """softmmu/qdev-monitor.c qdev_set_id(): /machine/peripheral/ID, or the next
    /machine/peripheral-anon/device[N] for a device without id."""
    if "id" in props:
        return f"/machine/peripheral/{props['id']}"
    st.anon_devices += 1
    return f"/machine/peripheral-anon/device[{st.anon_devices - 1}]"


# the integer types a -device property's help names (qapi/qobject-input-visitor.c)
_WIDTHS = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})


def _bad_value(key: str, value: str, dialect: Dialect = DEFAULT, qtype: str = "") -> str:
    """``qtype``: the property's type in ``-device MODEL,help`` (uint32 ...): its integer
    is read as the keyval visitor reads one, then checked against that width."""
    kind = prop_kind(key)
    if kind == "bool" and value not in ("on", "off", "yes", "no", "true", "false", "y", "n"):
        return f"Parameter '{key}' expects 'on' or 'off'"
    if kind == "onoffauto" and value not in ("on", "off", "auto"):
        return f"Parameter '{key}' does not accept value '{value}'"
    if kind == "onerror" and value not in ("report", "ignore", "enospc", "stop", "auto"):
        return f"Parameter '{key}' does not accept value '{value}'"
    if kind == "int" and qtype in _WIDTHS:
        from ._fmt_qapi import scalar_problem

        return scalar_problem(key, key, qtype, value)
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
        return context_attach(st, model, name, True)
    if r is not None:
        if name in st.attached or (r.placement.interface is not Interface.NONE and
                                   r.placement.interface is not Interface.VIRTIO):
            if r.placement.interface is not Interface.NONE:
                return (f"Drive '{name}' is already in use because it has been automatically "
                        "connected to another device (did you need 'if=none' in the drive "
                        "options?)")
            return f"Drive '{name}' is already in use by another device"
        st.attached[name] = model
    return context_attach(st, model, name, False)


def board_drive_globals(st: _State, drives: Any, machine: str) -> None:
    """The devices the board makes for -drive if=floppy (hw/block/fdc.c
    fdctrl_init_drives(), i440fx only: pc_superio_init() is before the NICs) and if=ide
    (hw/ide/qdev.c ide_create_drive(), from bus 0 unit 0 on: after the NICs on i440fx,
    before them on q35) get the -global options of their type, then the drive's id as
    their drive= (DriveGlobals). Errors are the board's: no option is named."""
    from ..model import Interface, Media

    board = board_name(machine)
    ide_first = st.dialect.board_ide_first  # 10.0: the IDE devices are made first
    made = sorted((r for r in drives.drives if r.ok and r.placement is not None and
                   r.placement.interface in (Interface.FLOPPY, Interface.IDE)),
                  key=lambda r: ((r.placement.interface is Interface.IDE) != ide_first,
                                 r.placement.bus or 0, r.placement.unit or 0))
    for r in made:
        floppy = r.placement.interface is Interface.FLOPPY
        if floppy and (board != "pc" or machine in ("microvm", "none", "x-remote")):
            continue
        model = "floppy" if floppy else "ide-cd" if r.drive.media is Media.CDROM else "ide-hd"
        order = (FLOPPY_ORDER if ide_first else -1) if floppy else \
            -2 if ide_first or board == "q35" else 1 << 20
        problem = _made_drive_globals(st, model, r.placement.device_id or "")
        if problem:
            st.fail(Phase.BOARD, order, problem)
            return


def _made_drive_globals(st: _State, model: str, drive_id: str) -> str:
    """A device QEMU makes with drive=DRIVE_ID: its drive= globals, then its own."""
    state = DriveGlobals(model)
    for driver, prop, value in st.globals_:
        if driver == model and prop == "drive":
            problem = state.apply(st, driver, value)
            if problem:
                return f"can't apply global {driver}.drive={value}: {problem}"
    return state.again(st, drive_id)


def _virtio_drive_devices(st: _State, drives: Any) -> None:
    """-drive if=virtio adds a -device virtio-blk-pci,drive=ID (softmmu/vl.c, after
    the other -device options): its PCI bus, then the virtio-blk-pci globals, located
    at the drive."""
    from ..model import Interface

    if any(e.error for e in st.events):
        return
    for n, r in enumerate(drives.drives):
        if r.ok and r.placement is not None and r.placement.interface is Interface.VIRTIO:
            problem = "" if st.pci_bus else \
                "No 'PCI' bus found for device 'virtio-blk-pci'"
            problem = problem or _made_drive_globals(st, "virtio-blk-pci",
                                                     r.placement.device_id or "")
            if not problem and r.placement.device_id in st.drive_devices:
                # a -device took the drive first: hw/core/qdev-properties-system.c
                # set_drive_helper() names the drive's if= when the attach fails
                problem = (f"Drive '{r.placement.device_id}' is already in use because it "
                           "has been automatically connected to another device (did you "
                           "need 'if=none' in the drive options?)")
            if problem:
                st.fail(Phase.DRIVE_DEVICES, n, problem, r.option, r.text)
                return


def create_devices(st: _State, parsed: list[tuple[int, str, str, Any]], drives: Any,
                   machine: str) -> list[tuple[int, str, str, Any]]:
    """softmmu/vl.c qemu_create_cli_devices(): the QemuOpts -device options (and those
    -drive if=virtio added to that list), then every JSON -device. The -device options."""
    board = board_name(machine)
    devices = [p for p in parsed if p[1] == "-device"]
    for index, option, text, props in (d for d in devices if not d[2].startswith("{")):
        _device(st, index, option, text, props, board)
    _virtio_drive_devices(st, drives)
    _virtio_drive_locks(st, drives)
    for index, option, text, props in (d for d in devices if d[2].startswith("{")):
        _device(st, index, option, text, props, board)
    return devices
