"""-device for block devices: models, properties, buses and drive= references.

The property lists are facts read from QEMU 7.2's sources (hw/block/virtio-blk.c,
hw/virtio/virtio-pci.c, hw/virtio/virtio.c, hw/ide/qdev.c, hw/scsi/scsi-disk.c,
hw/scsi/scsi-bus.c, include/hw/block/block.h, hw/block/fdc.c, hw/usb/dev-storage*.c,
hw/usb/bus.c, hw/nvme/ctrl.c, hw/nvme/ns.c, hw/pci/pci.c, hw/scsi/virtio-scsi.c). Devices of other
models are not judged (their check is listed as skipped), except that their id counts.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from . import drivers
from ._data import read_json

__all__ = ["BLOCK_MODELS", "MODEL_BUS", "properties", "prop_kind", "other_properties",
           "property_types"]

_BLOCK_BASE = ("drive", "backend_defaults", "logical_block_size", "physical_block_size",
               "min_io_size", "opt_io_size", "discard_granularity", "write-cache",
               "share-rw", "account-invalid", "account-failed")
_BLOCK_ERROR = ("rerror", "werror")
_BLOCK_CHS = ("cyls", "heads", "secs", "lcyls", "lheads", "lsecs")
_VIRTIO_COMMON = ("indirect_desc", "event_idx", "notify_on_empty", "any_layout",
                  "iommu_platform", "packed", "queue_reset", "use-started",
                  "use-disabled-flag", "x-disable-legacy-check")
_VIRTIO_PCI = ("virtio-pci-bus-master-bug-migration", "migrate-extra", "modern-pio-notify",
               "x-disable-pcie", "page-per-vq", "x-ignore-backend-features", "ats",
               "x-ats-page-aligned", "x-pcie-deverr-init", "x-pcie-lnkctl-init",
               "x-pcie-pm-init", "x-pcie-flr-init", "aer", "disable-legacy",
               "disable-modern", "ioeventfd", "vectors", "class")
_PCI = ("addr", "romfile", "romsize", "rombar", "multifunction", "x-pcie-lnksta-dllla",
        "x-pcie-extcap-init", "failover_pair_id", "acpi-index")
_SCSI_BUS = ("channel", "scsi-id", "lun")
_USB = ("port", "serial", "msos-desc", "pcap")
_VIRTIO_BLK = ("serial", "config-wce", "scsi", "request-merging", "num-queues",
               "queue-size", "seg-max-adjust", "iothread", "discard",
               "report-discard-granularity", "write-zeroes", "max-discard-sectors",
               "max-write-zeroes-sectors", "x-enable-wce-if-config-wce")
_SCSI_DISK = ("ver", "serial", "vendor", "product", "device_id", "removable", "dpofua",
              "wwn", "port_wwn", "port_index", "max_unmap_size", "max_io_size",
              "rotation_rate", "scsi_version", "quirk_mode_page_vendor_specific_apple",
              "quirk_mode_page_apple_vendor", "quirk_mode_sense_rom_use_dbd",
              "quirk_mode_page_truncated")
_NVME = ("pmrdev", "subsys", "serial", "cmb_size_mb", "num_queues", "max_ioqpairs",
         "msix_qsize", "aerl", "aer_max_queued", "mdts", "vsl", "use-intel-id",
         "legacy-cmb", "ioeventfd", "zoned.zasl", "zoned.auto_transition",
         "sriov_max_vfs", "sriov_vq_flexible", "sriov_vi_flexible", "sriov_max_vi_per_vf",
         "sriov_max_vq_per_vf", "msix-exclusive-bar")

_PROPS = {
    "virtio-blk-pci": (*_BLOCK_BASE, *_BLOCK_ERROR, *_BLOCK_CHS, *_VIRTIO_BLK,
                       *_VIRTIO_COMMON, *_VIRTIO_PCI, *_PCI, "bootindex"),
    "ide-hd": ("unit", *_BLOCK_BASE, *_BLOCK_ERROR, "ver", "wwn", "serial", "model",
               *_BLOCK_CHS, "bios-chs-trans", "rotation_rate", "bootindex"),
    "ide-cd": ("unit", *_BLOCK_BASE, *_BLOCK_ERROR, "ver", "wwn", "serial", "model",
               "bootindex"),
    "scsi-hd": (*_SCSI_BUS, *_BLOCK_BASE, *_BLOCK_ERROR, *_BLOCK_CHS, *_SCSI_DISK,
                "bootindex"),
    "scsi-cd": (*_SCSI_BUS, *_BLOCK_BASE, *_BLOCK_ERROR, *_SCSI_DISK, "bootindex"),
    "floppy": ("unit", *_BLOCK_BASE, "drive-type"),  # boot order is isa-fdc's bootindexA/B
    "usb-storage": (*_USB, *_BLOCK_BASE, *_BLOCK_ERROR, "removable", "commandlog",
                    "bootindex"),
    "nvme": (*_BLOCK_BASE, *_NVME, *_PCI, "bootindex"),
    "nvme-ns": (*_BLOCK_BASE, "bootindex", "detached", "shared", "nsid", "uuid", "eui64",
                "ms", "mset", "pi", "pil", "pif", "mssrl", "mcl", "msrc", "zoned",
                "zoned.zone_size", "zoned.zone_capacity", "zoned.cross_read",
                "zoned.max_active", "zoned.max_open", "zoned.descr_ext_size",
                "zoned.numzrwa", "zoned.zrwas", "zoned.zrwafg", "eui64-default"),
    "virtio-scsi-pci": ("num_queues", "virtqueue_size", "seg_max_adjust", "max_sectors",
                        "cmd_per_lun", "hotplug", "param_change", "iothread",
                        *_VIRTIO_COMMON, *_VIRTIO_PCI, *_PCI),
}
BLOCK_MODELS = frozenset(_PROPS)

# The bus type each model plugs into (qdev_device_add: "No 'X' bus found for device").
MODEL_BUS = MappingProxyType({
    "virtio-blk-pci": "PCI", "nvme": "PCI", "virtio-scsi-pci": "PCI",
    "ide-hd": "IDE", "ide-cd": "IDE", "scsi-hd": "SCSI", "scsi-cd": "SCSI",
    "floppy": "floppy-bus", "usb-storage": "usb-bus", "nvme-ns": "nvme-bus",
})

_BOOL = frozenset({"share-rw", "account-invalid", "account-failed", "config-wce", "scsi",
                   "request-merging", "seg-max-adjust", "discard", "write-zeroes",
                   "report-discard-granularity", "x-enable-wce-if-config-wce",
                   "indirect_desc", "event_idx", "notify_on_empty", "any_layout",
                   "iommu_platform", "packed", "queue_reset", "use-started",
                   "use-disabled-flag", "x-disable-legacy-check", "ioeventfd",
                   "multifunction", "removable", "dpofua", "commandlog", "msos-desc",
                   "rombar", "use-intel-id", "legacy-cmb", "hotplug", "param_change",
                   "page-per-vq", "ats", "aer", "modern-pio-notify", "migrate-extra",
                   "x-disable-pcie", "x-ignore-backend-features", "x-ats-page-aligned",
                   "virtio-pci-bus-master-bug-migration", "seg_max_adjust",
                   "zoned.auto_transition", "msix-exclusive-bar"})
_ON_OFF_AUTO = frozenset({"write-cache", "disable-legacy", "disable-modern",
                          "backend_defaults", "x-pcie-lnksta-dllla"})
_INT = frozenset({"bootindex", "num-queues", "queue-size", "unit", "cyls", "heads", "secs",
                  "lcyls", "lheads", "lsecs", "channel", "scsi-id", "lun", "num_queues",
                  "virtqueue_size", "max_sectors", "cmd_per_lun", "max_ioqpairs",
                  "rotation_rate", "port_index", "scsi_version", "vectors",
                  "max-discard-sectors", "max-write-zeroes-sectors", "class", "romsize",
                  "acpi-index", "cmb_size_mb", "msix_qsize", "aerl", "aer_max_queued",
                  "mdts", "vsl", "max_unmap_size", "max_io_size", "io_timeout", "wwn",
                  "port_wwn"})
_SIZE = frozenset({"logical_block_size", "physical_block_size", "min_io_size",
                   "opt_io_size", "discard_granularity"})


def properties(model: str) -> frozenset[str]:
    """The properties ``model`` has (plus the generic ones every device takes)."""
    return frozenset(_PROPS.get(model, ())) | {"id", "bus", "driver", "drive"
                                               if model != "virtio-scsi-pci" else "id"}


def prop_kind(name: str) -> str:
    """bool, onoffauto, onerror, int, size or str: how the property parses its value."""
    if name in ("werror", "rerror"):
        return "onerror"
    if name in _BOOL:
        return "bool"
    if name in _ON_OFF_AUTO:
        return "onoffauto"
    if name in _INT:
        return "int"
    if name in _SIZE:
        return "size"
    return "str"


@functools.cache
def _table(where: str) -> dict[str, Any]:
    table: dict[str, Any] = read_json(where, "device-models.json")
    return table


def _models() -> dict[str, dict[str, str | None]]:
    # the walked dialect's table (Dialect.device_tables; drivers.reading_for())
    models: dict[str, dict[str, str | None]] = _table(drivers.dialect().device_tables)["models"]
    return models


def object_types() -> frozenset[str]:
    """The -object types the dialect's QEMU has (``qemu-system-x86_64 -object help``)."""
    return frozenset(_table(drivers.dialect().device_tables)["object_types"])


@functools.cache
def _other_props(where: str) -> dict[str, list[str]] | None:
    """grammar/qemu-X.Y/device-properties.json (grammar/derive_device_props.py), where a
    release has one (7.2)."""
    try:
        table: dict[str, list[str]] = read_json(where, "device-properties.json")["models"]
    except (FileNotFoundError, OSError):
        return None
    return table


@functools.cache
def _prop_types(where: str) -> dict[str, dict[str, str]]:
    try:
        table: dict[str, dict[str, str]] = read_json(where, "device-properties.json").get(
            "types", {})
    except (FileNotFoundError, OSError):
        return {}
    return table


def property_types(model: str) -> Mapping[str, str]:
    """The type ``-device MODEL,help`` prints for each property (``uint32``, ``bool``,
    ``str`` ...; derived, grammar/derive_device_props.py); empty when not derived."""
    return MappingProxyType(_prop_types(drivers.dialect().device_tables).get(model, {}))


def other_properties(model: str) -> frozenset[str] | None:
    """The property names QEMU lists for a model qdrive does not judge as a block device
    (``-device MODEL,help``), or None when the walked release has no such table or the
    model is not in it."""
    table = _other_props(drivers.dialect().device_tables)
    if table is None or model not in table:
        return None
    return frozenset(table[model])


def model_info(name: str) -> tuple[str, str | None] | None:
    """(canonical type name, bus type) of a -device model, or None if QEMU has none
    (grammar/qemu-X.Y/device-models.json, from ``qemu-system-x86_64 -device help``)."""
    info = _models().get(name)
    if info is None:
        return None
    return str(info.get("alias_of") or name), info.get("bus")


# Controllers that provide a bus, by bus type (hw/scsi/*.c, hw/usb/hcd-*.c).
SCSI_HBAS = frozenset({"virtio-scsi-pci", "virtio-scsi-pci-transitional",
                       "virtio-scsi-pci-non-transitional", "lsi53c895a", "lsi53c810",
                       "megasas", "megasas-gen2", "mptsas1068", "am53c974", "dc390",
                       "pvscsi", "virtio-scsi-device", "usb-bot", "usb-uas", "spapr-vscsi"})
USB_HCS = frozenset({"piix3-usb-uhci", "piix4-usb-uhci", "ich9-usb-uhci1", "ich9-usb-uhci2",
                     "ich9-usb-uhci3", "ich9-usb-uhci4", "ich9-usb-uhci5", "ich9-usb-uhci6",
                     "ich9-usb-ehci1", "ich9-usb-ehci2", "usb-ehci", "qemu-xhci",
                     "nec-usb-xhci", "pci-ohci", "vt82c686b-usb-uhci"})


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
