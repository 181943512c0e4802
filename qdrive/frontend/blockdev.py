"""-drive -> -blockdev/-device: the same drive in QEMU's modern spelling.

A -drive is three things in one (blockdev.c drive_new()): a protocol node
(file-posix: file, host_device or host_cdrom), a format node on top of it and,
for most interfaces, a guest device. This module writes them out as QMP/JSON
dicts for ``-blockdev`` and a ``-device`` option string, with the cache mode
on both nodes (cache.direct/no-flush) and on the device (write-cache), aio on
the protocol node, and werror/rerror on the device.

Drives that have no faithful translation raise :class:`TranslationError`
saying why (snapshot=on, a missing format=, throttling, copy-on-read, ...).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from ..diagnostics import Stop
from ..dialect import get as get_dialect
from ..errors import QDriveError
from ..model import DetectZeroes, Discard, Interface, Media, cache_triple
from ..options import FORMAT_KEYS, Kind
from .placement import Placement, placement_of
from .._values import on_off, parse_bool, parse_number, parse_size

if TYPE_CHECKING:
    from ..model import Drive

__all__ = ["TranslationError", "Blockdev", "to_blockdev", "to_blockdev_args"]


class TranslationError(QDriveError, ValueError):
    """A drive qdrive cannot write as -blockdev/-device without changing what it means."""


@attrs.frozen
class Blockdev:
    """The translation: protocol node, format node, and the device (None for if=none)."""

    protocol: dict[str, Any]
    format: dict[str, Any] | None  # None when format= names the protocol driver itself
    device: dict[str, Any] | None  # None for if=none

    def args(self) -> list[str]:
        """The argv: ``-blockdev JSON`` per node, then ``-device DRIVER,k=v,...``."""
        out: list[str] = []
        for node in (self.protocol, self.format):
            if node is not None:
                out += ["-blockdev", json.dumps(node, separators=(",", ":"))]
        if self.device is not None:
            out += ["-device", _device_string(self.device)]
        return out


def _device_string(device: dict[str, Any]) -> str:
    # -device uses QemuOpts: commas inside values are doubled.
    parts = [str(device["driver"])]
    parts += [f"{k}={str(v).replace(',', ',,')}" for k, v in device.items() if k != "driver"]
    return ",".join(parts)


_REFUSALS: tuple[tuple[Callable[[Drive], object], str], ...] = (
    (lambda d: d.snapshot, "snapshot=on has no -blockdev spelling: create the overlay with "
                           "qemu-img create -b and open that instead"),
    (lambda d: not d.file, "the drive has no file= (empty drives become -device without drive=)"),
    (lambda d: not d.format, "format= is missing: -blockdev never probes, name the format"),
    (lambda d: bool(d.throttling) or d.throttling_group is not None,
     "throttling needs a throttle-group object and a throttle filter node"),
    (lambda d: d.copy_on_read, "copy-on-read=on needs a copy-on-read filter node"),
    (lambda d: d.stats_intervals or d.stats_account_failed is not None or
     d.stats_account_invalid is not None, "stats-* options belong to the device's backend"),
    (lambda d: not get_dialect(d.dialect).translatable,
     "the translation is verified for qemu-7.2 drives only"),
    (lambda d: d.detect_zeroes is DetectZeroes.UNMAP and d.discard is not Discard.UNMAP,
     "detect-zeroes=unmap without discard=unmap is accepted by -drive (the node never sees "
     "it) but refused by -blockdev; add discard=unmap"),
)
_PROTOCOL_FORMATS = frozenset({"file", "host_device", "host_cdrom"})

# Interfaces whose device qdrive writes for the pc/q35 machines.
_DEVICES = {Interface.IDE: "ide-hd", Interface.VIRTIO: "virtio-blk-pci",
            Interface.FLOPPY: "floppy", Interface.NONE: None}


def to_blockdev(drive: Drive, placement: Placement | None = None) -> Blockdev:
    """The -blockdev/-device translation of ``drive``.

    ``placement`` (from :func:`qdrive.check`) names the device's bus, unit and id;
    without it the drive is placed alone, as the first drive of its interface.
    """
    for refused, why in _REFUSALS:
        if refused(drive):
            raise TranslationError(f"cannot translate -drive {drive.to_string()}: {why}")
    placement = placement or _alone(drive)
    if placement.interface not in _DEVICES:
        raise TranslationError(f"cannot translate -drive {drive.to_string()}: if="
                               f"{placement.interface} has no device on pc/q35")
    node = _node_name(placement.device_id or "drive")
    if drive.format in _PROTOCOL_FORMATS:  # format=file: the protocol node is the top node
        protocol = _protocol_node(drive, node, drive.format)
        return Blockdev(protocol, None, _device(drive, placement, node))
    protocol = _protocol_node(drive, f"{node}-p", _protocol_driver(drive))
    fmt = _format_node(drive, node, protocol["node-name"])
    return Blockdev(protocol, fmt, _device(drive, placement, node))


def to_blockdev_args(drive: Drive, placement: Placement | None = None) -> list[str]:
    """``to_blockdev(drive, placement).args()``."""
    return to_blockdev(drive, placement).args()


def _alone(drive: Drive) -> Placement:
    try:
        return placement_of(drive)
    except Stop as exc:
        raise TranslationError(f"cannot translate -drive {drive.to_string()}: "
                               f"{exc.diagnostic.message}") from None


def _node_name(device_id: str) -> str:
    # Node names are identifiers of at most 31 characters (block.c bdrv_assign_node_name).
    clean = "".join(c if c.isalnum() or c in "-_" else "-" for c in device_id)
    return ("qd-" + clean)[:27]


def _cache(drive: Drive) -> dict[str, bool]:
    _, direct, no_flush = cache_triple(drive)
    return {"direct": direct, "no-flush": no_flush}


def _protocol_driver(drive: Drive) -> str:
    """file for regular files, host_device/host_cdrom for block devices (file-posix).

    A name whose ``prefix:`` picks another protocol driver (block.c bdrv_find_protocol():
    ``fat:rw:DIR`` is vvfat, ``blkverify:A:B``, ``nbd:...``) is parsed by that driver's
    bdrv_parse_filename(), whose options this translation does not write: refused."""
    from .opentime import protocol_of

    name = drive.file or ""
    by_prefix = protocol_of(name)
    if by_prefix in _PROTOCOL_FORMATS and name.startswith(f"{by_prefix}:"):
        return by_prefix  # file:NAME, host_device:NAME, host_cdrom:NAME
    if by_prefix not in _PROTOCOL_FORMATS:
        raise TranslationError(
            f"cannot translate -drive {drive.to_string()}: file={drive.file} is read by the "
            f"{by_prefix} driver's own filename syntax; spell that node with -blockdev "
            f"driver={by_prefix} and its options")
    try:
        st = os.stat(drive.file or "")
    except (OSError, ValueError):  # ValueError: a NUL in the name, which no file has
        return "file"
    if stat.S_ISBLK(st.st_mode) or stat.S_ISCHR(st.st_mode):
        return "host_cdrom" if drive.media is Media.CDROM else "host_device"
    return "file"


def _protocol_node(drive: Drive, node: str, driver: str) -> dict[str, Any]:
    # block/file-posix.c raw_parse_filename() and hdev_parse_filename() strip their
    # driver's "file:" / "host_device:" / "host_cdrom:" prefix.
    filename = (drive.file or "").removeprefix(f"{driver}:")
    out: dict[str, Any] = {"driver": driver, "node-name": node, "filename": filename,
                           "cache": _cache(drive), "read-only": drive.effective_read_only,
                           "auto-read-only": True, "aio": str(drive.aio or "threads")}
    if drive.discard is Discard.UNMAP:
        out["discard"] = "unmap"
    if drive.force_share is not None:  # -drive children inherit force-share (block.c)
        out["force-share"] = drive.force_share
    for key, value in drive.driver_options.items():
        if key.startswith("file."):
            _put(out, key[5:], _typed_protocol(key[5:], value))
    return out


def _put(node: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` as nested dicts, the way -blockdev's keyval reads dotted keys."""
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


_PROTOCOL_BOOLS = frozenset({"drop-cache", "x-check-cache-dropped", "read-only",
                             "auto-read-only", "cache.direct", "cache.no-flush", "force-share"})


def _typed_protocol(key: str, value: str) -> Any:
    if key in _PROTOCOL_BOOLS:
        return parse_bool(key, value)
    if key == "aio-max-batch":  # QemuOpts reads a uint64; QAPI wants an int64
        number = parse_number(key, value)
        return number - 2**64 if number >= 2**63 else number
    return value


def _format_node(drive: Drive, node: str, child: str) -> dict[str, Any]:
    assert drive.format is not None
    out: dict[str, Any] = {"driver": drive.format, "node-name": node, "file": child,
                           "cache": _cache(drive), "read-only": drive.effective_read_only}
    if drive.discard is Discard.UNMAP:
        out["discard"] = "unmap"
    if drive.detect_zeroes is not None:
        out["detect-zeroes"] = str(drive.detect_zeroes)
    if drive.force_share is not None:
        out["force-share"] = drive.force_share
    kinds = FORMAT_KEYS.get(drive.format, {})
    for key, value in drive.driver_options.items():
        if not key.startswith("file."):
            _put(out, key, _typed_format(key, value, kinds.get(key, Kind.STRING)))
    return out


def _typed_format(key: str, value: str, kind: Kind) -> Any:
    if kind is Kind.BOOL:
        return parse_bool(key, value)
    if kind is Kind.NUMBER:
        return parse_number(key, value)
    if kind is Kind.SIZE:
        return parse_size(key, value)[0]
    return value


def _device(drive: Drive, p: Placement, node: str) -> dict[str, Any] | None:
    driver = _DEVICES[p.interface]
    if driver is None:
        return None
    if driver == "ide-hd" and drive.media is Media.CDROM:
        driver = "ide-cd"
    out: dict[str, Any] = {"driver": driver, "drive": node}
    if p.interface is Interface.IDE:
        out.update(bus=f"ide.{p.bus}", unit=p.unit)
    elif p.interface is Interface.FLOPPY:
        out["unit"] = p.unit
    if p.device_id:
        out["id"] = p.device_id
    writeback, _, _ = cache_triple(drive)
    out["write-cache"] = on_off(writeback)
    if driver != "floppy":
        for key in ("werror", "rerror"):
            value = getattr(drive, key)
            if value is not None:
                out[key] = str(value)
    return out


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
