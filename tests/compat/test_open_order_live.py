"""Session 9's rules, each started under the real QEMU 7.2: SCSI addresses on their HBA's
bus (hw/scsi/scsi-bus.c scsi_qdev_realize), the first id= of a -device, integer widths
of device properties, copy-before-write's QAPI visit and quorum's child count before
their values, blkdebug's rule sections, a URL parsed before the inherited booleans, a
device node's host_device, a hex size's warning on a protocol child, blkverify's
comparison and a JSON value followed by more. qdrive's verdict and message must be
QEMU's, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat import compare, oracle

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not oracle.have_qemu("7.2"), reason="QEMU 7.2 not installed")]

_D0 = ["-drive", "file=disk.img,format=raw,if=none,id=d0"]
_UHCI = ["-device", "piix3-usb-uhci", *_D0, "-device", "usb-storage,drive=d0"]

ARGV = [
    # the address checks, each HBA's limits one past the last good value
    ["-device", "virtio-scsi-pci", "-device", "scsi-cd,channel=1"],
    ["-device", "virtio-scsi-pci", "-device", "scsi-cd,scsi-id=255,lun=16383"],
    ["-device", "virtio-scsi-pci", "-device", "scsi-cd,scsi-id=256"],
    ["-device", "virtio-scsi-pci", "-device", "scsi-cd,lun=16384"],
    ["-device", "lsi53c895a", "-device", "scsi-cd,scsi-id=7"],
    ["-device", "lsi53c895a", "-device", "scsi-cd,scsi-id=8"],
    ["-device", "lsi53c895a", "-device", "scsi-cd,lun=1"],
    ["-device", "megasas", "-device", "scsi-cd,scsi-id=65"],
    ["-device", "mptsas1068", "-device", "scsi-cd,scsi-id=0,lun=2"],
    ["-device", "am53c974", "-device", "scsi-cd,scsi-id=0,lun=8"],
    # taken addresses: the free target, the free LUN, a LUN in use by a named disk
    ["-device", "lsi53c895a", *[a for _ in range(9) for a in ("-device", "scsi-cd")]],
    ["-device", "lsi53c895a", "-device", "scsi-cd,scsi-id=2", "-device", "scsi-cd,scsi-id=2"],
    ["-device", "virtio-scsi-pci", "-device", "scsi-cd,lun=3", "-device", "scsi-cd,lun=3,id=x",
     "-device", "scsi-cd,lun=3,scsi-id=1"],
    # the newest bus wins: usb-storage's own (target 0, its disk at LUN 0) or the HBA's
    [*_UHCI, "-device", "scsi-cd,scsi-id=2"],
    [*_UHCI, "-device", "scsi-cd"],
    [*_UHCI, "-device", "virtio-scsi-pci", "-device", "scsi-cd,scsi-id=2"],
    ["-device", "virtio-scsi-pci", "-usb", "-M", "q35", *_D0,
     "-device", "usb-storage,drive=d0,port=1", "-device", "scsi-cd"],
    # integer properties by their width (a uint32 takes no -1, a uint64 no 2**64)
    ["-device", "virtio-scsi-pci", "-device", "scsi-cd,scsi-id=-1"],
    ["-device", "virtio-scsi-pci", "-device", "scsi-cd,lun=4294967296"],
    [*_D0, "-device", "ide-hd,drive=d0,wwn=x"],
    [*_D0, "-device", "ide-hd,drive=d0,wwn=18446744073709551616"],
    [*_D0, "-device", "ide-hd,drive=d0,cyls=010,heads=16,secs=63"],
    # the first id= names the device
    ["-device", "virtio-scsi-pci", *_D0, "-device", "virtio-blk-pci,drive=d0,id=dev0",
     "-device", "scsi-cd,id=c0,id=dev0", "-device", "scsi-cd,id=dev0"],
]

DRIVES = [
    "driver=copy-before-write,file.driver=file,file.filename=disk.img,target=,"
    "cbw-timeout=18446744073709551616",
    "driver=copy-before-write,file.driver=file,file.filename=disk.img,target.driver=file,"
    "target.filename=disk2.img,cbw-timeout=4294967296",
    "driver=copy-before-write,file.driver=file,file.filename=disk.img,target.driver=file,"
    "target.filename=disk2.img,cbw-timeout=0x",
    "driver=quorum,vote-threshold=x,read-pattern=fifo,readonly=on",
    "driver=quorum,vote-threshold=x,children.1.driver=file,children.1.filename=disk.img",
    "driver=blkdebug,image.driver=file,image.filename=disk3.img,inject-error.0.delay-ns=1",
    "driver=blkdebug,image.driver=file,image.filename=disk3.img,inject-error.0.errno=y,"
    "inject-error.0.bogus=1",
    "driver=blkdebug,image.driver=file,image.filename=disk3.img,inject-error.1.event=read_aio",
    "driver=blkdebug,image.driver=file,image.filename=disk3.img,set-state.0.bogus=1,"
    "inject-error.0.event=x",
    "driver=blkdebug,image.driver=file,image.filename=disk3.img,inject-error.0.once=x",
    "file=iscsi://,cache.no-flush=x",
    "file=iscsi://,auto-read-only=",
    "file=iscsi://,format=raw,file.cache.no-flush=x",
    "file=nbd://127.0.0.1:1/,cache.no-flush=x",
    "driver=compress,file.filename=/dev/null",
    "file=/dev/null,format=raw,file.read-zeroes=on",
    "file=blkverify:harvest.vmdk:disk4.img",
    'file=json:{"driver":"null-co",,"size":1048576}x,format=raw',
]


@pytest.mark.parametrize("argv", ARGV, ids=lambda a: " ".join(a))
def test_the_device_rules_are_qemus(argv: list[str], in_images: Path) -> None:
    ours, qemus = compare.live_verdicts({"argv": argv}, in_images)
    assert ours == qemus


@pytest.mark.parametrize("drive", DRIVES)
def test_the_open_order_is_qemus(drive: str, in_images: Path) -> None:
    ours, qemus = compare.live_verdicts({"drives": [drive]}, in_images)
    assert ours == qemus


def test_the_cases_cover_both_verdicts(in_images: Path) -> None:
    seen = {compare.live_verdicts({"argv": a}, in_images)[1][0] for a in ARGV[:3]}
    assert seen == {True, False}
