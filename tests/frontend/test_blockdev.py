"""-drive -> -blockdev/-device: shapes and refusals (QEMU's agreement is in tests/compat)."""

from __future__ import annotations

import json

import pytest

import qdrive
from qdrive import TranslationError, parse_drive, to_blockdev


def test_virtio_with_cache_aio_and_protocol_options() -> None:
    d = parse_drive("file=disk.img,format=raw,if=virtio,cache=none,aio=native,werror=stop,"
                    "file.locking=off,file.cache.no-flush=on")
    args = to_blockdev(d).args()
    assert args[0::2] == ["-blockdev", "-blockdev", "-device"]
    proto, fmt = json.loads(args[1]), json.loads(args[3])
    assert proto == {"driver": "file", "node-name": "qd-virtio0-p", "filename": "disk.img",
                     "cache": {"direct": True, "no-flush": True}, "read-only": False,
                     "auto-read-only": True, "aio": "native", "locking": "off"}
    assert fmt == {"driver": "raw", "node-name": "qd-virtio0", "file": "qd-virtio0-p",
                   "cache": {"direct": True, "no-flush": False}, "read-only": False}
    assert args[5] == "virtio-blk-pci,drive=qd-virtio0,id=virtio0,write-cache=on,werror=stop"


def test_ide_cdrom_and_placement_from_check() -> None:
    r = qdrive.check(["file=a.img,format=raw", "file=cd,,x.iso,format=raw,media=cdrom"],
                     probe_files=False)
    cd = r.drives[1]
    assert cd.drive is not None
    bd = to_blockdev(cd.drive, cd.placement)
    assert bd.device == {"driver": "ide-cd", "drive": "qd-ide0-cd1", "bus": "ide.0", "unit": 1,
                         "id": "ide0-cd1", "write-cache": "on"}
    assert bd.protocol["filename"] == "cd,x.iso" and bd.protocol["read-only"] is True
    assert bd.args()[-1].startswith("ide-cd,")


def test_format_options_typed_and_nested() -> None:
    bd = to_blockdev(parse_drive("file=d.qcow2,format=qcow2,l2-cache-size=1M,lazy-refcounts=on,"
                     "overlap-check.template=cached,if=none"))
    assert bd.device is None
    assert bd.format["l2-cache-size"] == 1 << 20 and bd.format["lazy-refcounts"] is True
    assert bd.format["overlap-check"] == {"template": "cached"}


def test_format_file_is_a_single_node() -> None:
    bd = to_blockdev(parse_drive("file=disk.img,format=file"))
    assert bd.format is None and bd.protocol["driver"] == "file"
    assert bd.device is not None and bd.device["drive"] == bd.protocol["node-name"]


@pytest.mark.parametrize("text, why", [
    ("file=d.img,format=raw,snapshot=on", "snapshot=on has no -blockdev spelling"),
    ("file=d.img", "format= is missing"),
    ("if=ide,media=cdrom", "has no file="),
    ("file=d.img,format=raw,iops=10", "throttling needs a throttle-group"),
    ("file=d.img,format=raw,copy-on-read=on", "copy-on-read=on needs"),
    ("file=d.img,format=raw,detect-zeroes=unmap", "refused by -blockdev; add discard=unmap"),
    ("file=d.img,format=raw,if=pflash", "if=pflash has no device"),
])
def test_refusals_say_why(text: str, why: str) -> None:
    with pytest.raises(TranslationError, match=why):
        to_blockdev(parse_drive(text))


def test_image_locks_between_drives(in_images: object) -> None:
    r = qdrive.check(["file=disk.img,format=raw", "file=disk.img,format=raw,if=virtio"])
    assert r.qemu_stderr() == (
        "qemu-system-x86_64: -drive file=disk.img,format=raw,if=virtio: Failed to get "
        "\"write\" lock\nIs another process using the image [disk.img]?")
    assert qdrive.check(["file=disk.img,format=raw", "file=disk.img,format=raw,"
                         "file.locking=off"]).ok
    assert qdrive.check(["file=disk.img,format=raw,read-only=on,if=virtio"] * 2).ok


def test_a_lone_drive_is_placed_by_placements_own_rule() -> None:
    # to_blockdev() without a placement asks placement_of(), the converter's Slots.place().
    from qdrive.model import Drive

    bd = to_blockdev(Drive(file="d.img", format="raw", interface="ide", index=3))
    assert bd.args()[-1].startswith("ide-hd,") and "bus=ide.1" in bd.args()[-1]
    for bad in ({"unit": 2}, {"index": 0, "unit": 1}):  # past the bus; index with unit
        with pytest.raises(TranslationError, match=r"^cannot translate -drive "):
            to_blockdev(Drive(file="d.img", format="raw", interface="ide", **bad))


def test_blockdev_nodes_open_with_the_walked_release_drivers() -> None:
    # blockdev_args reads the dialect's own driver table (grammar/qemu-X.Y/), as -drive does
    from qdrive.dialect import get
    from qdrive.frontend import blockdev_args, drivers

    seven = blockdev_args._drivers()["blkdebug"]
    with drivers.reading_for(get("qemu-10.0")):
        ten = blockdev_args._drivers()["blkdebug"]
    # block/blkdebug.c: .bdrv_file_open in 7.2 became .bdrv_open by 10.0
    assert seven["open"] == {"bdrv_file_open": "blkdebug_open"}
    assert ten["open"] == {"bdrv_open": "blkdebug_open"}
