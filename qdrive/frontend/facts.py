"""What QEMU's ``query-block`` (and ``qom-get ... type``) will report for accepted drives.

Mirrors block/qapi.c bdrv_query_info()/bdrv_block_device_info() for the fields qdrive
predicts: device name, removable, the attached device's QOM type, and for a drive
with a medium: read-only, driver, the cache triple, detect-zeroes and the throttle
limits. With snapshot=on the reported node is the temporary qcow2 overlay, which
block.c bdrv_temp_snapshot_options() opens with cache.direct=off, cache.no-flush=on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..model import Interface, Media, cache_triple
from .formats import drops_to_read_only

if TYPE_CHECKING:
    from .results import CheckResult, DriveResult

__all__ = ["query_block", "DEVICE_TYPES"]

# The QOM type of the device QEMU 7.2 attaches on pc/q35 (hw/ide, hw/block, virtio-blk).
DEVICE_TYPES = {Interface.IDE: "ide-hd", Interface.VIRTIO: "virtio-blk-device",
                Interface.FLOPPY: "floppy", Interface.PFLASH: "cfi.pflash01"}

# query-block's names for the throttle limits (block/qapi.c).
_THROTTLE_NAMES = {
    "throttling.bps-total": "bps", "throttling.bps-read": "bps_rd",
    "throttling.bps-write": "bps_wr", "throttling.iops-total": "iops",
    "throttling.iops-read": "iops_rd", "throttling.iops-write": "iops_wr",
    "throttling.bps-total-max": "bps_max", "throttling.bps-read-max": "bps_rd_max",
    "throttling.bps-write-max": "bps_wr_max", "throttling.iops-total-max": "iops_max",
    "throttling.iops-read-max": "iops_rd_max", "throttling.iops-write-max": "iops_wr_max",
    "throttling.iops-size": "iops_size",
}


def query_block(result: CheckResult) -> list[dict[str, Any]] | None:
    """One dict per drive, in QEMU's order, or None when QEMU would not start."""
    if not result.ok:
        return None
    return [_device(r) for r in result.drives]


def _device(r: DriveResult) -> dict[str, Any]:
    assert r.drive is not None and r.placement is not None
    d, iface = r.drive, r.placement.interface
    dtype = DEVICE_TYPES.get(iface)
    if iface is Interface.IDE and d.media is Media.CDROM:
        dtype = "ide-cd"
    facts: dict[str, Any] = {"device": r.placement.device_id,
                             "removable": dtype in (None, "ide-cd", "floppy")}
    if dtype is not None:
        facts["type"] = dtype
    if d.file or d.driver_options or d.format:
        writeback, direct, no_flush = cache_triple(d)
        if d.snapshot:
            direct, no_flush = False, True
        facts.update(
            ro=d.effective_read_only or drops_to_read_only(d, r.format, top=True),
            drv="qcow2" if d.snapshot else r.format,
            cache={"no-flush": no_flush, "direct": direct, "writeback": writeback},
            detect_zeroes=str(d.detect_zeroes or "off"),
            throttle={_THROTTLE_NAMES[k]: v for k, v in d.throttling.items() if v})
    return facts


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
