"""Realize checks of devices qdrive does not otherwise judge: a virtio PCI proxy's plug
(hw/virtio/virtio-pci.c virtio_pci_device_plugged(), for every virtio-*-pci model, block
or not) and a PCI expander bridge's NUMA node (hw/pci-bridge/pci_expander_bridge.c
pxb_dev_realize_common()). Each returns QEMU's message, or "" when the device plugs.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["virtio_pci_plugged", "pxb_realize", "numa_nodes"]

_TRUE = frozenset({"on", "yes", "true", "y"})
_FALSE = frozenset({"off", "no", "false", "n"})

# The models whose realize calls virtio_pci_force_virtio_1() (disable-legacy=on whatever
# was given; QEMU 7.2: hw/display/virtio-gpu-pci.c, virtio-vga.c, hw/virtio/
# virtio-input-pci.c, virtio-crypto-pci.c, virtio-iommu-pci.c, virtio-mem-pci.c,
# virtio-pmem-pci.c, vhost-vsock-pci.c, vhost-user-vsock-pci.c).
_MODERN_ONLY = frozenset({
    "virtio-gpu-pci", "virtio-gpu-gl-pci", "virtio-vga", "virtio-vga-gl",
    "virtio-keyboard-pci", "virtio-mouse-pci", "virtio-tablet-pci",
    "virtio-multitouch-pci", "virtio-input-host-pci", "virtio-crypto-pci",
    "virtio-iommu-pci", "virtio-mem-pci", "virtio-pmem-pci", "vhost-vsock-pci",
    "vhost-user-vsock-pci"})

# hw/pci-bridge/pci_expander_bridge.c: numa_node defaults to NUMA_NODE_UNASSIGNED
# (MAX_NODES, include/sysemu/numa.h)
_NUMA_NODE_UNASSIGNED = 128


def _legacy(given: str, props: dict[str, str], machine: str) -> bool | None:
    """virtio_pci_legacy() after virtio_pci_realize(): disable-legacy=off, or auto on a
    bus that is not a PCIe port (the board's root bus); None: a bus qdrive does not
    model (a bridge's, whose kind it does not track)."""
    if given.endswith("-non-transitional"):
        return False  # virtio_pci_non_transitional_instance_init(): disable-legacy=on
    if given.endswith("-transitional"):
        return True  # virtio_pci_transitional_instance_init(): disable-legacy=off
    value = props.get("disable-legacy", "auto")
    if value in _TRUE:
        return False
    if value in _FALSE:
        return True
    root = "pcie.0" if machine == "q35" else "pci.0"
    return True if props.get("bus") in (None, root) else None


def virtio_pci_plugged(given: str, props: dict[str, str], machine: str) -> str:
    """virtio_pci_device_plugged(): a device that keeps legacy mode cannot offer
    VIRTIO_F_IOMMU_PLATFORM (iommu_platform=on, hw/virtio/virtio.c)."""
    base = given.removesuffix("-non-transitional").removesuffix("-transitional")
    if not base.startswith("virtio-") or not base.endswith("-pci") and \
            base not in ("virtio-vga", "virtio-vga-gl"):
        return ""
    if base in _MODERN_ONLY or machine not in ("pc", "q35"):
        return ""
    if props.get("iommu_platform") not in _TRUE or not _legacy(given, props, machine):
        return ""
    return "VIRTIO_F_IOMMU_PLATFORM was supported by neither legacy nor transitional device"


def numa_nodes(tokens: Iterable[tuple[int, str, str | None]]) -> int:
    """The -numa node options (QemuOpts' implied key is type=; hw/core/numa.c counts
    each node it sets up in numa_state->num_nodes)."""
    count = 0
    for _, option, value in tokens:
        first = (value or "").split(",", 1)[0]
        if option.lstrip("-") == "numa" and first in ("node", "type=node"):
            count += 1
    return count


def pxb_realize(model: str, props: dict[str, str], machine: str, nodes: int) -> str:
    """pxb_dev_realize_common(): numa_node= must name a -numa node (pc and q35 have a
    NUMA state; other boards are not modelled)."""
    if model not in ("pxb", "pxb-pcie", "pxb-cxl") or machine not in ("pc", "q35"):
        return ""
    try:
        node = int(props.get("numa_node", str(_NUMA_NODE_UNASSIGNED)), 0)
    except ValueError:
        return ""
    if node != _NUMA_NODE_UNASSIGNED and node >= nodes:
        return f"Illegal numa node {node}"
    return ""
