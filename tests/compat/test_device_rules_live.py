"""-device rules added after the held-back batch of session 10 missed them, each command
line started under the real QEMU 7.2 beside qdrive: nvme-ns on the bus an nvme
controller names after its id (hw/nvme/ns.c nvme_ns_realize(): the constraints, the
block sizes, the zoned geometry against the drive's size, the namespace ids), the nvme
controller's own namespace's block sizes, a floppy's error actions (hw/block/fdc.c), and
force-share refused before a node's read-only file child (block.c bdrv_open_common()).
qdrive's verdict and message must be QEMU's, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat import compare, oracle

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not oracle.have_qemu("7.2"), reason="QEMU 7.2 not installed")]

_CTRL = "-device nvme,id=n0,serial=a "
_RAW = "-drive file=disk.img,id=z0,format=raw,if=none "  # 1 MiB
_BIG = "-drive file=gen-big.img,id=z0,format=raw,if=none "
ARGVS = [
    _CTRL + _RAW + "-device nvme-ns,drive=z0,bus=n0,zoned=on",  # smaller than one zone
    _CTRL + _RAW + "-device nvme-ns,drive=z0,zoned=on,zoned.zone_size=512K",  # two zones
    _CTRL + _RAW + "-device nvme-ns,drive=z0,zoned=on,zoned.zone_size=2M",
    _CTRL + _RAW + "-device nvme-ns,drive=z0,zoned=on,zoned.zone_capacity=256M",
    _CTRL + _RAW + "-device nvme-ns,drive=z0,zoned=on,zoned.zone_size=256",  # < an LBA
    _CTRL + _RAW + "-device nvme-ns,drive=z0,zoned=on,zoned.max_open=5,zoned.max_active=2",
    _CTRL + _RAW + "-device nvme-ns,drive=z0,zoned=on,zoned.descr_ext_size=65",
    _CTRL + _RAW + "-device nvme-ns,drive=z0,zoned=on,zoned.descr_ext_size=16384",
    _RAW + "-device nvme-ns,drive=z0",  # no nvme-bus
    _CTRL + "-device nvme-ns",  # no drive
    _CTRL + _RAW + "-device nvme-ns,drive=z0,nsid=256",
    _CTRL + _RAW + "-device nvme-ns,drive=z0,nsid=257",
    "-drive file=disk2.img,id=z1,format=raw,if=none -device nvme,id=n0,serial=a,drive=z1 "
    + _RAW + "-device nvme-ns,drive=z0,nsid=1",  # the controller's own namespace is 1
    _CTRL + _RAW + "-device nvme-ns,drive=z0,bus=nosuch",
    _CTRL + _RAW + "-device nvme-ns,drive=z0,detached=on",
    _CTRL + _RAW + "-device nvme-ns,drive=z0,pi=1",  # needs 8 bytes of metadata
    _CTRL + _RAW + "-device nvme-ns,drive=z0,pi=1,ms=8",
    _CTRL + _RAW + "-device nvme-ns,drive=z0,pi=4",
    _CTRL + _RAW + "-device nvme-ns,drive=z0,logical_block_size=4096",  # > physical
    _CTRL + _RAW + "-device nvme-ns,drive=z0 -device nvme-ns,drive=z0",  # one drive, two
    _CTRL + _BIG + "-device nvme-ns,drive=z0,zoned=on",
    "-device nvme,serial=a -drive file=disk.qcow2,id=z0,format=qcow2,if=none "
    "-device nvme-ns,drive=z0,zoned=on,zoned.zone_size=64K",
    "-M q35 -blockdev driver=file,filename=disk3.img,node-name=f0 "
    "-blockdev driver=raw,file=f0,node-name=d0 -device nvme,id=n0,serial=a "
    "-device nvme-ns,drive=d0,zoned=on",
    # the controller's own namespace: blkconf_blocksizes() after its constraints
    "-M q35 -drive file=gen.vpc,format=vpc,if=none,id=d0 "
    "-device nvme,drive=d0,serial=n1,logical_block_size=4096 -device virtio-blk-pci,drive=x",
    "-M q35 -drive file=gen.vpc,format=vpc,if=none,id=d0 "
    "-device nvme,drive=d0,serial=n1,min_io_size=100",
    # hw/block/fdc.c floppy_drive_realize(): werror enospc/report, rerror report only
    "-drive file=disk.qcow2,format=qcow2,if=none,id=d0,werror=stop -device floppy,drive=d0",
    "-drive file=disk.qcow2,format=qcow2,if=none,id=d0,rerror=ignore -device floppy,drive=d0",
    "-drive file=disk.qcow2,format=qcow2,if=none,id=d0,werror=report -device floppy,drive=d0",
    "-drive file=disk.qcow2,format=qcow2,if=floppy,werror=ignore",
    # an if=virtio drive a -device took first: its own virtio-blk-pci cannot attach
    "-drive file=disk.img,format=raw,id=d0,if=virtio -device ide-hd,drive=d0",
    "-drive file=disk.img,format=raw,if=none,id=d0,if=virtio -device virtio-blk-pci,drive=d0",
    # hw/cxl/cxl-host.c cxl_fmws_link_targets() once the machine is made: each window's
    # targets name pxb-cxl devices
    "-M q35,cxl=on -drive file=disk.qcow2,format=qcow2,if=none,id=hd0 "
    "-device virtio-blk-pci,drive=hd0,bus=pcie.0 -M cxl-fmw.0.targets.0=cxl.1,"
    "cxl-fmw.0.targets.1=cxl.2,cxl-fmw.0.size=4G,cxl-fmw.0.interleave-granularity=8k",
    "-M q35,cxl=on -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 "
    "-M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G",
    "-M q35,cxl=on -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 "
    "-M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.targets.1=cxl.9,cxl-fmw.0.size=4G",
    "-M q35 -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G",  # cxl=off: never linked
    # the pc boards' floppy-bus.0 by name (their isa-fdc), q35 has none
    "-device floppy,bus=floppy-bus.0,drive=d0 -blockdev driver=raw,node-name=d0,"
    "file.driver=file,file.filename=disk.img,read-only=on",
    "-M isapc -device floppy,bus=floppy-bus.0",
    "-M q35 -device floppy,bus=floppy-bus.0",
    # a child given by the id or node-name of an earlier drive (blk_by_name()), not a
    # later one
    "-drive file=disk.qcow2,if=none,id=a,format=qcow2 -drive driver=blkreplay,if=none,"
    "image=a,id=b -device ide-hd,drive=b",
    "-drive driver=blkreplay,if=none,image=a,id=b -drive file=disk.qcow2,if=none,id=a,"
    "format=qcow2",
    "-drive file=disk.qcow2,if=none,node-name=nn,format=qcow2 -drive driver=blkreplay,"
    "if=none,image=nn,id=b",
    # -usb makes a USB controller on the PCI boards only (isapc has none)
    "-M isapc -usb -drive file=disk.img,format=raw,if=none,id=d0 -device usb-storage,drive=d0",
    "-M isapc,usb=on -device usb-tablet",
    "-M q35 -usb -device usb-tablet",
    # force-share on a writable node, before its read-only file child is attached
    '-blockdev {"driver":"file","filename":"gen.vhdx","node-name":"f0","read-only":true} '
    '-blockdev {"driver":"vhdx","node-name":"d0","file":"f0","force-share":true}',
]


@pytest.mark.parametrize("argv", ARGVS)
def test_device_rules_are_qemus(argv: str, in_images: Path) -> None:
    ours, qemus = compare.live_verdicts({"argv": argv.split(" ")}, in_images)
    assert ours == qemus
