"""qdrive.check_argv on whole command lines, each verdict checked against QEMU 7.2 too.

Every case below is run twice: by qdrive (always) and by the real QEMU (when
qemu-system-x86_64 7.2 is installed, as it is in CI): both must print the same stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import qdrive
from qdrive.frontend.cmdline import Phase, check_argv
from tests.compat import oracle

P = "qemu-system-x86_64"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    where = tmp_path_factory.mktemp("cmdline")
    for name, size in (("disk.img", 1 << 20), ("disk2.img", 1 << 20),
                       ("flash-odd.img", 197120), ("flash-4k.img", 4096)):
        with open(where / name, "wb") as f:
            f.truncate(size)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(where / "disk.qcow2"),
                    "1M"], check=True)
    here = os.getcwd()
    os.chdir(where)
    try:
        yield where
    finally:
        os.chdir(here)


RAW = "driver=raw,node-name=n0,file.driver=file,file.filename=disk.img"
IOT = ["-drive", "file=disk.qcow2,if=none,node-name=disk", "-object", "iothread,id=t0"]
PROBED = ("WARNING: Image format was not specified for 'disk.img' and probing guessed raw.\n"
          "         Automatically detecting the format is dangerous for raw images, write "
          "operations on block 0 will be restricted.\n"
          "         Specify the 'raw' format explicitly to remove the restrictions.")
CASES: list[tuple[list[str], str]] = [
    (["-blockdev", "raw,file.driver=file,file.filename=disk.img"],
     f"{P}: -blockdev raw,file.driver=file,file.filename=disk.img: 'node-name' must be "
     "specified for the root node"),
    (["-blockdev", RAW, "-blockdev", RAW],
     f"{P}: -blockdev {RAW}: Duplicate nodes with node-name='n0'"),
    (["-blockdev", "driver=qcow2,node-name=n0,file=nosuch"],
     f"{P}: -blockdev driver=qcow2,node-name=n0,file=nosuch: Cannot find device='nosuch' "
     "nor node-name='nosuch'"),
    (["-blockdev", "driver=qcow2,node-name=n0,file.driver=file,file.filename=disk.img"],
     f"{P}: -blockdev driver=qcow2,node-name=n0,file.driver=file,file.filename=disk.img: "
     "Image is not in qcow2 format"),
    (["-blockdev", "driver=file,filename=disk.img,node-name=1x"],
     f"{P}: -blockdev driver=file,filename=disk.img,node-name=1x: Invalid node-name: '1x'"),
    (["-blockdev", "driver=file,filename=disk.img,node-name=f,force-share=on"],
     f"{P}: -blockdev driver=file,filename=disk.img,node-name=f,force-share=on: "
     "force-share=on can only be used with read-only images"),
    (["-blockdev", "driver=file,filename=disk.img,node-name=f",
      "-blockdev", "driver=throttle,throttle-group=tg0,file=f,node-name=t"],
     f"{P}: -blockdev driver=throttle,throttle-group=tg0,file=f,node-name=t: Throttle group "
     "'tg0' does not exist"),
    # -device acts after every -blockdev: the later -blockdev's error comes first
    (["-device", "virtio-blk-pci,drive=nosuch", "-blockdev", "driver=file,node-name=x"],
     f"{P}: -blockdev driver=file,node-name=x: Parameter 'filename' is missing"),
    (["-blockdev", RAW, "-device", "virtio-blk-pci,drive=nosuch"],
     f"{P}: -device virtio-blk-pci,drive=nosuch: Property 'virtio-blk-device.drive' can't find "
     "value 'nosuch'"),
    (["-drive", "file=disk.img,format=raw,if=none,id=d0", "-device", "virtio-blk-pci,drive=d0",
      "-device", "virtio-blk-pci,drive=d0"],
     f"{P}: -device virtio-blk-pci,drive=d0: Drive 'd0' is already in use by another device"),
    (["-drive", "file=disk.img,format=raw,id=d0", "-device", "virtio-blk-pci,drive=d0"],
     f"{P}: -device virtio-blk-pci,drive=d0: Drive 'd0' is already in use because it has "
     "been automatically connected to another device (did you need 'if=none' in the drive "
     "options?)"),
    (["-device", "virtio-scsi-pci,id=s", "-device", "virtio-scsi-pci,id=s"],
     f"{P}: -device virtio-scsi-pci,id=s: Duplicate ID 's' for device"),
    (["-device", "scsi-disk"], f"{P}: -device scsi-disk: 'scsi-disk' is not a valid device "
     "model name"),
    (["-blockdev", RAW, "-device", "scsi-hd,drive=n0"],
     f"{P}: -device scsi-hd,drive=n0: No 'SCSI' bus found for device 'scsi-hd'"),
    (["-blockdev", RAW, "-device", "scsi-hd,drive=n0,bus=scsi0.0"],
     f"{P}: -device scsi-hd,drive=n0,bus=scsi0.0: Bus 'scsi0.0' not found"),
    (["-blockdev", RAW, "-device", "virtio-blk-pci,drive=n0,bogus=1"],
     f"{P}: -device virtio-blk-pci,drive=n0,bogus=1: Property 'virtio-blk-pci.bogus' not "
     "found"),
    (["-blockdev", RAW, "-device", "virtio-blk-pci,drive=n0,bootindex=x"],
     f"{P}: -device virtio-blk-pci,drive=n0,bootindex=x: Parameter 'bootindex' expects "
     "integer"),
    (["-blockdev", RAW + ",read-only=on", "-device", "ide-hd,drive=n0"],
     f"{P}: -device ide-hd,drive=n0: Block node is read-only"),
    (["-machine", "pc,pflash1=fl1", "-blockdev",
      "driver=raw,node-name=fl1,file.driver=file,file.filename=flash-4k.img"],
     f"{P}: pflash1 requires pflash0"),
    (["-machine", "q35,pflash0=fl0", "-blockdev",
      "driver=raw,node-name=fl0,file.driver=file,file.filename=flash-odd.img"],
     f"{P}: system firmware block device  has invalid size 197120\n{P}: info: its size must "
     "be a non-zero multiple of 0x1000"),
    (["-object", "iothread"], f"{P}: -object iothread: Parameter 'id' is missing"),
    (["-object", "secret,id=s,file=missing.txt"],
     f"{P}: Unable to read missing.txt: Failed to open file \u201cmissing.txt\u201d: No such "
     "file or directory"),
    (["-object", "secret,id=s,data=x,format=bogus"],
     f"{P}: -object secret,id=s,data=x,format=bogus: Parameter 'format' does not accept "
     "value 'bogus'"),
    (["-object", "iothread,id=a", "-object", "iothread,id=a"],
     f"{P}: -object iothread,id=a: Duplicate ID 'a' for object"),
    # a writable qcow2 node keeps others from writing its file
    (["-blockdev", "driver=qcow2,node-name=q,file.driver=file,file.filename=disk.qcow2",
      "-drive", "file=disk.qcow2,format=qcow2,if=virtio"],
     f"{P}: -drive file=disk.qcow2,format=qcow2,if=virtio: Failed to get \"write\" lock\n"
     "Is another process using the image [disk.qcow2]?"),
    (["-blockdev", "driver=qcow2,node-name=q,file.driver=file,file.filename=disk.qcow2",
      "-device", "virtio-blk-pci,drive=q"], ""),
    # -machine: the first key the machine object lacks, in QDict order (bar before foo),
    # after underscores became dashes; legacy keys (kernel_irqchip) are not properties
    (["-machine", "pc,foo=1,bar=2"], f"{P}: Property 'pc-i440fx-7.2-machine.bar' not found"),
    (["-machine", "q35", "-machine", "usb=off,SMM=on"],
     f"{P}: Property 'pc-q35-7.2-machine.SMM' not found"),
    (["-machine", "pc,a_b=1,zz=1"], f"{P}: Property 'pc-i440fx-7.2-machine.a-b' not found"),
    (["-machine", "pc,smp.cpus=2,kernel_irqchip=on,nvdimm=on"], ""),
    (["-machine", "pc,foo=1", "-drive", "file=disk.img,bps=x"],
     f"{P}: -drive file=disk.img,bps=x: Parameter 'throttling.bps-total' expects a number"),
    # -netdev: clients without a peer are warned about once the machine is made
    (["-netdev", "user,id=n1", "-netdev", "user,id=n0", "-device", "e1000,netdev=n0",
      "-device", "e1000"],
     f"{P}: warning: netdev n1 has no peer\n{P}: warning: nic e1000.1 has no peer"),
    (["-netdev", "user,id=n0", "-device", "virtio-net,netdev=zz"],
     f"{P}: -device virtio-net,netdev=zz: Property 'virtio-net-device.netdev' can't find "
     "value 'zz'"),
    (["-netdev", "user,id=n0", "-netdev", "user,id=n0"],
     f"{P}: -netdev user,id=n0: Duplicate ID 'n0' for netdev"),
    # JSON -device options are created after the QemuOpts ones (and -drive if=virtio's)
    (["-device", '{"driver":"virtio-blk-pci","drive":"nosuch"}',
      "-device", "virtio-blk-pci,drive=nosuch2"],
     f"{P}: -device virtio-blk-pci,drive=nosuch2: Property 'virtio-blk-device.drive' can't "
     "find value 'nosuch2'"),
    # -device properties in QDict order, the first given first within a bucket (both
    # syntaxes: qdev_device_add_from_qdict() walks a clone of the options)
    (["-blockdev", RAW, "-device", "virtio-blk-pci,drive=n0,prop1=1,prop2=2,prop3=3"],
     f"{P}: -device virtio-blk-pci,drive=n0,prop1=1,prop2=2,prop3=3: Property "
     "'virtio-blk-pci.prop1' not found"),
    (["-blockdev", RAW, "-device", '{"driver":"virtio-blk-pci","drive":"n0","foo":1,"bar":2}'],
     f"{P}: -device {{\"driver\":\"virtio-blk-pci\",\"drive\":\"n0\",\"foo\":1,\"bar\":2}}: "
     "Property 'virtio-blk-pci.bar' not found"),
    (["-M", "q35", "-device", "isa-fdc,driveA=d0,bootindexA=1,driveB=d1"],
     f"{P}: -device isa-fdc,driveA=d0,bootindexA=1,driveB=d1: Property 'isa-fdc.driveB' not "
     "found"),
    # -object: the members' values first, then the first unknown option left in the
    # opts visitor's GHashTable (JSON: the qobject input visitor's, "is unexpected")
    (["-object", "secret,id=s0,data=x,foo=1,bar=2"],
     f"{P}: -object secret,id=s0,data=x,foo=1,bar=2: Invalid parameter 'bar'"),
    (["-object", "secret,id=s0,bogus=1,format=xx,data=x"],
     f"{P}: -object secret,id=s0,bogus=1,format=xx,data=x: Parameter 'format' does not "
     "accept value 'xx'"),
    (["-object", '{"qom-type":"secret","id":"s0","data":"x","foo":1,"bar":2}'],
     f"{P}: -object {{\"qom-type\":\"secret\",\"id\":\"s0\",\"data\":\"x\",\"foo\":1,"
     "\"bar\":2}: Parameter 'bar' is unexpected"),
    # several unexpected keys: QEMU names the first left in its GHashTable
    (["-blockdev", "driver=raw,node-name=n0,file=n0-f,bps_max=1,throttling.bps-total-max=2"],
     f"{P}: -blockdev driver=raw,node-name=n0,file=n0-f,bps_max=1,throttling.bps-total-max=2: "
     "Parameter 'throttling' is unexpected"),
    (["-blockdev", "driver=file,filename=disk.img,node-name=f,zz=1,yy=2,xx=3,ww=4,vv=5,uu=6"],
     f"{P}: -blockdev driver=file,filename=disk.img,node-name=f,zz=1,yy=2,xx=3,ww=4,vv=5,uu=6: "
     "Parameter 'ww' is unexpected"),
    # -global on a block device model: set before the device's own properties
    (["-global", "floppy.drive=nosuch", "-blockdev", RAW, "-device", "floppy,drive=n0"],
     f"{P}: -device floppy,drive=n0: can't apply global floppy.drive=nosuch: Property "
     "'floppy.drive' can't find value 'nosuch'"),
    (["-global", "ide-hd.bootindex=x", "-blockdev", RAW, "-device", "ide-hd,drive=n0"],
     f"{P}: -device ide-hd,drive=n0: can't apply global ide-hd.bootindex=x: Parameter "
     "'bootindex' expects int64"),
    (["-global", "virtio-blk-pci.drive=n0", "-blockdev", RAW, "-device", "virtio-blk-pci"], ""),
    # the AioContext of a node two devices share (qdrive.frontend._argv_context): a
    # virtio-scsi disk moves its node into the HBA's iothread; every other device makes
    # its BlockBackend in the main loop and cannot pull the node back
    (IOT + ["-device", "virtio-scsi,iothread=t0,id=vs0", "-device",
            "scsi-hd,bus=vs0.0,drive=disk,share-rw=on", "-device",
            "virtio-blk-pci,drive=disk,iothread=t0,share-rw=on"],
     f"{P}: -device virtio-blk-pci,drive=disk,iothread=t0,share-rw=on: Cannot change "
     "iothread of active block backend"),
    # 7.2 fails the SCSI disk when the node is held by another device (10.0 goes on)
    (IOT + ["-device", "virtio-blk-pci,drive=disk,iothread=t0,share-rw=on", "-device",
            "virtio-scsi,iothread=t0,id=vs0", "-device",
            "scsi-hd,bus=vs0.0,drive=disk,share-rw=on"],
     f"{P}: -device scsi-hd,bus=vs0.0,drive=disk,share-rw=on: Cannot change iothread of "
     "active block backend"),
    # ... and moves it back to the main loop for a virtio-scsi without iothread
    (IOT + ["-device", "virtio-scsi,iothread=t0,id=vs0", "-device",
            "scsi-hd,bus=vs0.0,drive=disk,share-rw=on", "-device", "virtio-scsi,id=vs1",
            "-device", "scsi-hd,bus=vs1.0,drive=disk,share-rw=on"],
     f"{P}: -device scsi-hd,bus=vs1.0,drive=disk,share-rw=on: Cannot change iothread of "
     "active block backend"),
    # virtio-blk leaves its node where it is until its dataplane starts
    (IOT + ["-device", "virtio-blk-pci,drive=disk,iothread=t0,share-rw=on", "-device",
            "virtio-blk-pci,drive=disk,share-rw=on"], ""),
    (IOT + ["-device", "virtio-scsi,iothread=t0,id=vs0", "-device",
            "scsi-cd,bus=vs0.0,drive=disk,share-rw=on", "-device", "megasas,id=m0",
            "-device", "scsi-cd,bus=m0.0,drive=disk,share-rw=on"],
     f"{P}: -device scsi-cd,bus=m0.0,drive=disk,share-rw=on: HBA does not support iothreads"),
    (["-object", "iothread,id=t0", "-device", "virtio-scsi-pci,iothread=t0,ioeventfd=off"],
     f"{P}: -device virtio-scsi-pci,iothread=t0,ioeventfd=off: ioeventfd is required for "
     "iothread"),
    (["-object", "iothread,id=t0", "-blockdev", RAW, "-device",
      "virtio-blk-pci,drive=n0,iothread=t0,ioeventfd=off"],
     f"{P}: -device virtio-blk-pci,drive=n0,iothread=t0,ioeventfd=off: ioeventfd is required "
     "for iothread"),
    (["-device", "virtio-scsi-pci,num_queues=0"],
     f"{P}: -device virtio-scsi-pci,num_queues=0: Invalid number of queues (= 0), must be a "
     "positive integer less than 1022."),
    # a -global that set drive= before the device (or the board) sets it again
    (["-fda", "disk.img", "-drive", "if=none,file=disk.qcow2", "-global", "floppy.drive=none0"],
     f"{PROBED}\n{P}: -global floppy.drive=... conflicts with drive=floppy0"),
    (["-drive", "file=disk.img,format=raw,if=ide,media=cdrom", "-drive",
      "if=none,id=a,file=disk.qcow2", "-global", "ide-cd.drive=a"],
     f"{P}: -global ide-cd.drive=... conflicts with drive=ide0-cd0"),
    (["-drive", "if=none,id=a,file=disk.img,format=raw", "-drive", "if=none,id=b,file=disk.qcow2",
      "-global", "floppy.drive=a", "-device", "floppy,drive=b"],
     f"{P}: -device floppy,drive=b: -global floppy.drive=... conflicts with drive=b"),
    (["-drive", "file=disk.img,format=raw,if=ide", "-drive", "if=none,id=a,file=disk.qcow2",
      "-global", "ide-hd.drive=a", "-global", "ide-hd.drive="],
     f"{P}: can't apply global ide-hd.drive=: -global ide-hd.drive=... conflicts with drive="),
    # virtio-blk-pci's drive= is an alias no -global names: set again, it swaps the node
    (["-drive", "if=none,id=a,file=disk.img,format=raw", "-drive", "if=none,id=b,file=disk.qcow2",
      "-global", "virtio-blk-pci.drive=a", "-device", "virtio-blk-pci,drive=b"],
     f"{P}: -device virtio-blk-pci,drive=b: Cannot find device='' nor node-name='b'"),
    (["-drive", "if=none,id=a,file=disk.img,format=raw", "-drive",
      "if=none,id=b,file=disk.qcow2,node-name=nb", "-global", "virtio-blk-pci.drive=a",
      "-device", "virtio-blk-pci,drive=nb"], ""),
    (["-drive", "file=disk.img,format=raw,if=virtio", "-drive", "if=none,id=a,file=disk.qcow2",
      "-global", "virtio-blk-pci.drive=a"],
     f"{P}: -drive file=disk.img,format=raw,if=virtio: Cannot find device='' nor "
     "node-name='virtio0'"),
    # a PCI device's addr= (set_pci_devfn: hex SLOT[.FN]; from JSON a number -1..255)
    (["-device", "qxl-vga,id=video0,addr=x1"],
     f"{P}: -device qxl-vga,id=video0,addr=x1: Property 'qxl-vga.addr' doesn't take value "
     "'x1'"),
    (["-device", "virtio-scsi-pci,addr=3.8"],
     f"{P}: -device virtio-scsi-pci,addr=3.8: Property 'virtio-scsi-pci.addr' doesn't take "
     "value '3.8'"),
    (["-device", '{"driver":"virtio-scsi-pci","addr":256}'],
     f"{P}: -device {{\"driver\":\"virtio-scsi-pci\",\"addr\":256}}: Parameter 'addr' "
     "expects a value between -1 and 255"),
    (["-device", '{"driver":"virtio-scsi-pci","addr":31}'], ""),
    # a JSON -device's values against the types -device MODEL,help names
    (["-device", '{"driver":"qxl-vga","ram_size":null}'],
     f"{P}: -device {{\"driver\":\"qxl-vga\",\"ram_size\":null}}: Parameter 'ram_size' "
     "expects uint64"),
    (["-device", '{"driver":"qxl-vga","max_outputs":65536}'],
     f"{P}: -device {{\"driver\":\"qxl-vga\",\"max_outputs\":65536}}: Parameter "
     "'max_outputs' expects uint16_t"),
    (["-device", '{"driver":"qxl-vga","surfaces":1.0}'],
     f"{P}: -device {{\"driver\":\"qxl-vga\",\"surfaces\":1.0}}: Invalid parameter type "
     "for 'surfaces', expected: integer"),
    (["-device", '{"driver":"qxl-vga","romfile":3}'],
     f"{P}: -device {{\"driver\":\"qxl-vga\",\"romfile\":3}}: Invalid parameter type for "
     "'romfile', expected: string"),
    # a GL device needs a display that set up OpenGL (hw/display/virtio-gpu-gl.c)
    (["-device", "virtio-vga-gl"], f"{P}: -device virtio-vga-gl: opengl is not available"),
    (["-display", "egl-headless", "-display", "none", "-device", "virtio-gpu-gl-pci"],
     f"{P}: -device virtio-gpu-gl-pci: opengl is not available"),
    # scsi-generic and scsi-block: their drive= is found and taken like any other, then
    # SG_GET_VERSION_NUM, which only a host device answers
    (["-device", "virtio-scsi-pci", "-drive", "if=none,id=d0,file=disk.img,format=raw",
      "-device", "scsi-hd,drive=d0", "-device", "scsi-generic,drive=d0"],
     f"{P}: -device scsi-generic,drive=d0: Drive 'd0' is already in use by another device"),
    (["-device", "virtio-scsi-pci", "-device", "scsi-block,drive=nope"],
     f"{P}: -device scsi-block,drive=nope: Property 'scsi-block.drive' can't find value "
     "'nope'"),
    (["-device", "virtio-scsi-pci", "-drive", "if=none,id=d0,file=disk.img,format=raw",
      "-device", "scsi-generic,drive=d0"],
     f"{P}: -device scsi-generic,drive=d0: cannot get SG_IO version number: Operation not "
     "supported\nIs this a SCSI device?"),
    (["-device", "virtio-scsi-pci", "-device", "scsi-generic"],
     f"{P}: -device scsi-generic: drive property not set"),
    # an IDE controller's buses: their own units, and a name the board's bus has too is
    # found on the newer controller (qbus_find_recursive: newest device first)
    (["-machine", "q35", "-drive", "format=raw,file=disk.img", "-device", "piix3-ide,id=ide",
      "-drive", "id=disk,file=disk2.img,format=raw,if=none", "-device",
      "ide-hd,drive=disk,bus=ide.0"], ""),
    (["-device", "ich9-ahci,id=sata", "-device", "ide-cd,bus=sata.2,unit=1"],
     f"{P}: -device ide-cd,bus=sata.2,unit=1: Can't create IDE unit 1, bus supports only 1 "
     "units"),
    # versioned machines no QEMU was released as
    (["-M", "pc-i440fx-3.2"], f"{P}: unsupported machine type\nUse -machine help to list "
     "supported machines"),
    # the boards that are no PC: a -drive without if= is if=none there
    (["-M", "x-remote", "-device", "lsi53c895a,id=lsi0", "-drive", "id=d,file=disk.qcow2",
      "-device", "scsi-hd,drive=d,bus=lsi0.0"], ""),
    (["-M", "x-remote", "-drive", "file=disk.qcow2,if=ide"],
     f"{P}: -drive file=disk.qcow2,if=ide: machine type does not support if=ide,bus=0,unit=0"),
    (["-M", "none", "-drive", "file=disk.qcow2,if=virtio"],
     f"{P}: -drive file=disk.qcow2,if=virtio: No 'PCI' bus found for device 'virtio-blk-pci'"),
    # two format drives on one image: the second fails while it is opened, located
    (["-drive", "file=disk.qcow2,if=none", "-drive", "file=disk.qcow2,if=none,readonly=on"],
     f"{P}: -drive file=disk.qcow2,if=none,readonly=on: Failed to get shared \"write\" "
     "lock\nIs another process using the image [disk.qcow2]?"),
    (["-drive", "file=disk.qcow2", "-drive", "file=disk.qcow2"],
     f"{P}: -drive file=disk.qcow2: Failed to get \"write\" lock\nIs another process using "
     "the image [disk.qcow2]?"),
]


def _accepted(stderr: str) -> bool:
    """Nothing printed, or warnings only."""
    return all(f"{P}: warning: " in line for line in stderr.splitlines())


@pytest.mark.parametrize(("argv", "stderr"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_qdrive_says_what_qemu_says(images: Path, argv: list[str], stderr: str) -> None:
    result = check_argv(argv)
    assert result.qemu_stderr() == stderr
    assert result.ok is _accepted(stderr)


@pytest.mark.skipif(not oracle.have_qemu("7.2"), reason="needs qemu-system-x86_64 7.2")
@pytest.mark.parametrize(("argv", "stderr"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_qemu_says_it_too(images: Path, argv: list[str], stderr: str) -> None:
    got = oracle.run({"argv": argv}, images)
    assert got["accepted"] is _accepted(stderr)
    assert got["stderr"] == stderr


def test_blob_resources_ask_the_host_for_udmabuf(images: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # ui/udmabuf.c opens /dev/udmabuf once and warns; without it, or without a sealed
    # memfd memory backend, hw/display/virtio-gpu.c refuses blob=on
    from qdrive.frontend import hostprobe

    gpu = ["-device", "virtio-gpu-pci,blob=on", "-device", "virtio-vga,blob=on"]
    monkeypatch.setattr(hostprobe, "UDMABUF", str(tmp_path / "udmabuf"))
    assert check_argv(gpu).qemu_stderr() == (
        f"{P}: -device virtio-gpu-pci,blob=on: warning: open /dev/udmabuf: No such file or "
        f"directory\n{P}: -device virtio-gpu-pci,blob=on: cannot enable blob resources "
        "without udmabuf")
    assert check_argv(gpu, dialect="qemu-10.0").qemu_stderr().endswith(
        "need rutabaga or udmabuf for blob resources")
    assert check_argv(gpu, probe_files=False).ok  # the host is not asked
    (tmp_path / "udmabuf").touch()
    assert check_argv(gpu).qemu_stderr() == (
        f"{P}: -device virtio-gpu-pci,blob=on: cannot enable blob resources without udmabuf")
    memfd = ["-object", "memory-backend-memfd,id=m,size=1M"]
    assert check_argv(memfd + gpu).ok
    assert not check_argv(["-object", "memory-backend-memfd,id=m,size=1M,seal=off"] + gpu).ok


@pytest.mark.skipif(not oracle.have_qemu("7.2"), reason="needs qemu-system-x86_64 7.2")
def test_blob_verdict_is_the_hosts(images: Path) -> None:
    # whatever this host has: qdrive asks it what QEMU asks it
    argv = ["-device", "virtio-vga,blob=true"]
    got = oracle.run({"argv": argv}, images)
    result = check_argv(argv)
    assert (result.ok, result.qemu_stderr()) == (got["accepted"], got["stderr"])


def test_format_help_stops_qemu_with_nothing_on_stderr(images: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    # blockdev.c blockdev_init(): the list goes to stdout and QEMU does not start; the
    # CLI prints that list where QEMU does, after its own note
    from qdrive import cli
    from qdrive.frontend.drivers import format_help

    result = check_argv(["-drive", "file=disk.img,format=help", "-drive", "file=nosuch"])
    assert (result.ok, result.qemu_stderr()) == (False, "")
    assert cli.main(["check", "--argv", "--", P, "-drive", "format=help"]) == 1
    out = capsys.readouterr().out
    assert out.endswith(format_help()) and "Supported formats: blkdebug " in out


def test_10_0_makes_the_ide_devices_before_the_floppy_controller(images: Path) -> None:
    # hw/i386/pc_piix.c pc_init1(): 7.2's floppy controller comes first, 10.0's IDE
    # devices (Dialect.board_ide_first)
    argv = ["-drive", "if=ide", "-fda", "disk.img", "-global", "isa-fdc.driveA=x"]
    assert check_argv(argv).qemu_stderr().endswith(
        "can't apply global isa-fdc.driveA=x: Property 'isa-fdc.driveA' not found")
    assert check_argv(argv, dialect="qemu-10.0").qemu_stderr().endswith(
        f"\n{P}: Device needs media, but drive is empty")


def test_10_0_lets_a_scsi_disk_share_a_node_outside_its_iothread(images: Path) -> None:
    # hw/scsi/virtio-scsi.c virtio_scsi_hotplug() in 10.0 ignores the refused move
    # (Dialect.scsi_hotplug_context_fatal); the device that pulls the node back still fails
    held = IOT + ["-device", "virtio-blk-pci,drive=disk,share-rw=on", "-device",
                  "virtio-scsi,iothread=t0,id=vs0", "-device",
                  "scsi-hd,bus=vs0.0,drive=disk,share-rw=on"]
    assert not check_argv(held).ok
    assert check_argv(held, dialect="qemu-10.0").ok
    pulled = IOT + ["-device", "virtio-scsi,iothread=t0,id=vs0", "-device",
                    "scsi-hd,bus=vs0.0,drive=disk,share-rw=on", "-device",
                    "ide-hd,drive=disk,share-rw=on"]
    assert check_argv(pulled, dialect="qemu-10.0").qemu_stderr().endswith(
        "Cannot change iothread of active block backend")


def test_every_option_gets_a_verdict_and_the_rest_is_listed_as_skipped(images: Path) -> None:
    result = qdrive.check_argv([P, "-m", "64", "-blockdev", RAW, "-netdev", "user,id=u",
                                "-device", "virtio-blk-pci,drive=n0", "-nographic"])
    kinds = [(o.option, o.kind) for o in result.options]
    # -netdev is read for its id only (peers, duplicates), and says so in its note
    assert kinds == [("-m", "skipped"), ("-blockdev", "node"), ("-netdev", "netdev"),
                     ("-device", "device"), ("-nographic", "skipped")]
    assert "backend is not judged" in str(result.options[2].note)
    assert result.ok
    shape = json.loads(json.dumps(result.to_json()))
    assert shape["options"][1]["span"] == [0, len(RAW)]
    assert shape["options"][0]["skipped"] == "not judged by qdrive"


def test_the_failing_option_carries_the_error(images: Path) -> None:
    result = check_argv(["-blockdev", RAW, "-device", "virtio-blk-pci,drive=nosuch"])
    assert [o.error for o in result.options] == [
        None, "Property 'virtio-blk-device.drive' can't find value 'nosuch'"]
    assert result.events[-1].phase is Phase.DEVICES


def test_facts_of_a_device_on_a_node(images: Path) -> None:
    from qdrive.frontend.cmdfacts import query_block, query_named_block_nodes

    result = check_argv(["-blockdev", RAW + ",read-only=on", "-device",
                         "virtio-blk-pci,drive=n0,write-cache=off"])
    assert query_block(result) == [{
        "device": "", "removable": False, "type": "virtio-blk-device", "ro": True,
        "drv": "raw", "cache": {"no-flush": False, "direct": False, "writeback": False},
        "detect_zeroes": "off", "throttle": {}}]
    nodes = query_named_block_nodes(result)
    assert nodes is not None and [n["drv"] for n in nodes] == ["raw", "file"]
    assert nodes[1]["node-name"].startswith("#block") and nodes[1]["ro"] is True


def test_facts_of_devices_on_a_drives_node_name(images: Path) -> None:
    # each device's own BlockBackend on the -drive's node (the 7.2 recording of
    # rule-iothread-08), and virtio-blk-pci's alias swapping its global's backend onto
    # the node drive= names (rule-global-31): query-block shows that backend in use
    from qdrive.frontend.cmdfacts import query_block

    two = check_argv(IOT + ["-device", "virtio-blk-pci,drive=disk,share-rw=on", "-device",
                            "virtio-blk-pci,drive=disk,share-rw=on"])
    facts = query_block(two)
    assert facts is not None
    assert [(f["device"], f["removable"], f.get("type"), f["drv"]) for f in facts] == [
        ("none0", True, None, "qcow2"), ("", False, "virtio-blk-device", "qcow2"),
        ("", False, "virtio-blk-device", "qcow2")]
    swap = check_argv(["-drive", "if=none,id=a,file=disk.img,format=raw", "-drive",
                       "if=none,id=b,file=disk.qcow2,node-name=nb", "-global",
                       "virtio-blk-pci.drive=a", "-device", "virtio-blk-pci,drive=nb"])
    facts = query_block(swap)
    assert facts is not None
    assert [(f["device"], f["removable"], f["drv"]) for f in facts] == [
        ("a", False, "qcow2"), ("b", True, "qcow2")]


def test_without_probing_nothing_is_opened(images: Path) -> None:
    result = check_argv(["-blockdev", "driver=file,filename=nosuch.img,node-name=f",
                         "-object", "secret,id=s,file=nosuch.txt"], probe_files=False)
    assert result.ok


def _node_files(argv: list[str]) -> dict[str, str]:
    from qdrive.frontend.cmdfacts import query_named_block_nodes

    result = check_argv(argv)
    assert result.ok, result.qemu_stderr(P)
    nodes = query_named_block_nodes(result)
    assert nodes is not None
    return {n["node-name"]: n["file"] for n in nodes}


# The names QEMU 7.2 reported for these lines (fixtures/qemu72/harvest-cmdlines.jsonl,
# qemu-540, qemu-495, qemu-550, qemu-551): block.c bdrv_refresh_filename().
def test_node_filenames_of_null_and_filters(images: Path) -> None:
    assert _node_files(["-blockdev", "driver=null-co,node-name=null"]) == {
        "null": "null-co://"}
    assert _node_files(["-blockdev", "driver=null-co,read-zeroes=on,node-name=null"]) == {
        "null": 'json:{"read-zeroes": true, "driver": "null-co"}'}
    files = _node_files(["-blockdev", "driver=file,filename=disk.qcow2,node-name=file",
                         "-blockdev", "driver=qcow2,file=file,node-name=fmt",
                         "-blockdev", "driver=copy-on-read,file=fmt,node-name=filter"])
    assert files == {"file": "disk.qcow2", "fmt": "disk.qcow2", "filter": (
        'json:{"driver": "copy-on-read", "file": {"driver": "qcow2", "file": '
        '{"driver": "file", "filename": "disk.qcow2"}}}')}


def test_node_filename_with_a_backing_the_header_does_not_name(images: Path) -> None:
    files = _node_files(["-blockdev", "driver=file,filename=disk.img,node-name=b",
                         "-blockdev", "driver=file,filename=disk.qcow2,node-name=file",
                         "-blockdev", "driver=qcow2,file=file,backing=b,node-name=fmt"])
    assert files["fmt"] == ('json:{"backing": {"driver": "file", "filename": "disk.img"}, '
                            '"driver": "qcow2", "file": {"driver": "file", "filename": '
                            '"disk.qcow2"}}')
    # backing=null on an image whose header names none: nothing is overridden
    files = _node_files(["-blockdev", "driver=file,filename=disk.qcow2,node-name=file",
                         "-blockdev", '{"driver":"qcow2","file":"file","backing":null,'
                         '"node-name":"fmt"}'])
    assert files["fmt"] == "disk.qcow2"


def test_vvfat_without_rw_drops_to_read_only_or_fails(images: Path) -> None:
    from qdrive.frontend.cmdfacts import query_named_block_nodes

    os.makedirs("fat", exist_ok=True)
    ok = check_argv(["-blockdev", '{"driver":"vvfat","dir":"fat","floppy":true,"rw":false,'
                     '"node-name":"v","auto-read-only":true}'])
    nodes = query_named_block_nodes(ok)
    assert nodes is not None and nodes[0]["ro"] is True
    assert nodes[0]["file"] == 'json:{"dir": "fat", "driver": "vvfat", "floppy": true, "rw": false}'
    refused = check_argv(["-blockdev", "driver=vvfat,dir=fat,node-name=v"])
    assert not refused.ok
    assert refused.qemu_stderr(P).endswith(": Image is read-only")


def test_node_filename_of_a_null_drive_keeps_its_strings(images: Path) -> None:
    # QemuOpts strings, not QAPI's typed values (fixtures/qemu72/fuzz-found-argv.jsonl,
    # fuzz-argv-0035 as QEMU 7.2 reported it)
    files = _node_files(["-drive", "if=none,driver=null-co,read-zeroes=on,node-name=null"])
    assert files == {"null": 'json:{"read-zeroes": "on", "driver": "null-co"}'}


# -machine accel= alone: the oracle always passes -accel tcg (oracle.BASE_ARGS), which
# makes QEMU refuse any accel= ("incompatible", recorded in cmdline-rules), so these are
# asked of QEMU 7.2 without it.
ACCEL_CASES = [
    (["-machine", "pc,accel=foo"], f"{P}: invalid accelerator foo", False),
    (["-machine", "pc,accel=foo:bar"],
     f"{P}: invalid accelerator foo\n{P}: invalid accelerator bar", False),
    (["-machine", "pc,accel=foo:tcg"],
     f"{P}: invalid accelerator foo\n{P}: falling back to tcg", True),
]


@pytest.mark.parametrize(("argv", "stderr", "ok"), ACCEL_CASES)
def test_machine_accel_names(argv: list[str], stderr: str, ok: bool) -> None:
    result = check_argv(argv)
    assert (result.ok, result.qemu_stderr(P)) == (ok, stderr)


@pytest.mark.skipif(not oracle.have_qemu("7.2"), reason="needs qemu-system-x86_64 7.2")
@pytest.mark.parametrize(("argv", "stderr", "ok"), ACCEL_CASES)
def test_machine_accel_names_qemu(argv: list[str], stderr: str, ok: bool) -> None:
    qmp = '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n'
    proc = subprocess.run([P, *argv, "-nodefaults", "-display", "none", "-S", "-qmp",
                           "stdio"], input=qmp, capture_output=True, text=True, timeout=60)
    assert (proc.returncode == 0, proc.stderr.rstrip("\n")) == (ok, stderr)
