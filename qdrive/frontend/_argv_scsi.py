"""SCSI addresses: the channel, target and LUN a SCSI disk takes on its bus.

hw/scsi/scsi-bus.c scsi_qdev_realize() checks the address against the HBA's
SCSIBusInfo (max_channel, max_target, max_lun, each the largest value allowed), then
gives a disk that names no target the first free one (a free LUN when it names the
target only), or refuses an address another disk holds; all before the disk's own
realize (hw/scsi/scsi-disk.c) looks at its drive. A -device without bus= goes to the
SCSI bus softmmu/qdev-monitor.c qbus_find_recursive() meets first: buses are walked
newest device first (hw/core/qdev.c bus_add_child() inserts at the head), so the
newest HBA on the PCI bus wins, and a USB storage device's own bus counts from its
USB controller.
"""

from __future__ import annotations

import attrs

from .._values import prop_int

__all__ = ["ScsiBus", "LIMITS", "add_bus", "place"]

# (max_channel, max_target, max_lun) of each HBA's SCSIBusInfo, read off QEMU 7.2 by
# asking for the first address past each limit (bad scsi channel/device id/lun)
_VIRTIO = (0, 255, 16383)   # hw/scsi/virtio-scsi.c VIRTIO_SCSI_MAX_*
_LSI = (0, 7, 0)            # hw/scsi/lsi53c895a.c LSI_MAX_DEVS - 1, no LUNs
_ESP = (0, 7, 7)            # hw/scsi/esp.c ESP_MAX_DEVS - 1, 8 LUNs
LIMITS: dict[str, tuple[int, int, int]] = {
    "virtio-scsi-pci": _VIRTIO, "virtio-scsi-pci-transitional": _VIRTIO,
    "virtio-scsi-pci-non-transitional": _VIRTIO, "virtio-scsi-device": _VIRTIO,
    "lsi53c895a": _LSI, "lsi53c810": _LSI,
    "megasas": (0, 64, 255), "megasas-gen2": (0, 64, 255),  # hw/scsi/megasas.c
    "mptsas1068": (0, 8, 1),     # hw/scsi/mptsas.c MPTSAS_NUM_PORTS
    "pvscsi": (0, 64, 0),        # hw/scsi/vmw_pvscsi.c PVSCSI_MAX_DEVS
    "am53c974": _ESP, "dc390": _ESP,
    "usb-storage": (0, 0, 0),    # hw/usb/dev-storage-classic.c: one disk, its own
    "usb-bot": (0, 0, 15),       # hw/usb/dev-storage-bot.c
    "usb-uas": (0, 0, 255),      # hw/usb/dev-uas.c UAS_MAX_LUNS - 1
}


@attrs.define
class ScsiBus:
    """One SCSI bus: its HBA's limits, where bus lookup meets it, the addresses taken."""

    limits: tuple[int, int, int]
    order: tuple[int, int]  # (its top device's place on the command line, its own)
    taken: dict[tuple[int, int, int], str] = attrs.Factory(dict)  # address -> device id


def add_bus(buses: dict[str, ScsiBus], name: str, model: str, order: tuple[int, int]
            ) -> None:
    """The bus ``name`` of an HBA ``model``; a usb-storage's disk (no id) is on it."""
    bus = ScsiBus(LIMITS.get(model, _VIRTIO), order)
    if model == "usb-storage":
        bus.taken[(0, 0, 0)] = "(null)"  # glibc prints a NULL %s so
    buses[name] = bus


def place(buses: dict[str, ScsiBus], props: dict[str, str]) -> str:
    """The address the disk ``props`` asks for, taken on its bus; or QEMU's refusal."""
    name = props.get("bus")
    bus = buses.get(name) if name is not None else (
        max(buses.values(), key=lambda b: b.order) if buses else None)
    if bus is None:
        return ""  # a bus qdrive does not model, or none (refused before realize)
    channel = max(_number(props.get("channel")), 0)
    target, lun = _number(props.get("scsi-id")), _number(props.get("lun"))
    max_channel, max_target, max_lun = bus.limits
    if channel > max_channel:
        return f"bad scsi channel id: {channel}"
    if target != -1 and target > max_target:
        return f"bad scsi device id: {target}"
    if lun != -1 and lun > max_lun:
        return f"bad scsi device lun: {lun}"
    if target == -1:
        lun = max(lun, 0)
        target = next((t for t in range(max_target + 1)
                       if (channel, t, lun) not in bus.taken), -1)
        if target == -1:
            return "no free target"
    elif lun == -1:
        lun = next((n for n in range(max_lun + 1)
                    if (channel, target, n) not in bus.taken), -1)
        if lun == -1:
            return "no free lun"
    elif (channel, target, lun) in bus.taken:
        return f"lun already used by '{bus.taken[(channel, target, lun)]}'"
    bus.taken[(channel, target, lun)] = props.get("id", "(null)")
    return ""


def _number(text: str | None) -> int:
    """A uint32 property's value (refused earlier when it is not one); absent: -1 for the
    target and LUN (scsi_props' defaults), which channel's 0 default never meets."""
    if text is None:
        return -1
    return prop_int(text)
