"""Devices that take their read-only mode from the drive (virtio-blk, floppy, pflash) over
a node that cannot be written while the drive can (file.read-only=on, vvfat without rw,
fat:floppy:): hw/block/block.c blkconf_apply_backend_options() refuses the write
permission. Each case is started under the real QEMU 7.2 and qdrive's verdict and message
must be QEMU's; the IDE disk, refused for a read-only drive too, is the control."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat import compare, oracle

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not oracle.have_qemu("7.2"), reason="QEMU 7.2 not installed")]

CASES = [
    ["-drive", "file=fat:harvest-fat,if=virtio,format=raw"],
    ["-drive", "file=fat:harvest-fat,if=floppy,format=raw"],
    ["-drive", "file=fat:floppy:harvest-fat,if=floppy,format=raw"],
    ["-drive", "file=fat:harvest-fat,if=virtio,format=raw,readonly=on"],
    ["-drive", "file=fat:harvest-fat,if=floppy,format=raw,readonly=on"],
    ["-drive", "file=fat:rw:harvest-fat,if=virtio,format=raw"],
    ["-drive", "file=disk.img,if=virtio,format=raw,file.read-only=on"],
    ["-drive", "file=fd.img,if=floppy,format=raw,file.read-only=on"],
    ["-drive", "file=disk.qcow2,if=virtio,format=qcow2,file.read-only=on"],
    ["-drive", "file=disk.img,if=pflash,format=raw,file.read-only=on"],
    ["-drive", "file=disk.img,if=pflash,format=raw,readonly=on"],
    ["-drive", "file=disk.img,if=ide,format=raw,file.read-only=on"],
    # vvfat as the top node without rw: read-only itself, so a read-only device
    ["-drive", "driver=vvfat,dir=harvest-fat,if=virtio"],
    ["-drive", "driver=vvfat,dir=harvest-fat,if=floppy"],
    ["-drive", "driver=vvfat,dir=harvest-fat,if=ide"],
    # pflash is realized by machine init, before the virtio device of the drive phase
    ["-drive", "file=fat:harvest-fat,if=virtio,format=raw",
     "-drive", "file=disk.img,if=pflash,format=raw,file.read-only=on"],
]


@pytest.mark.parametrize("argv", CASES, ids=lambda a: " ".join(a))
def test_a_read_write_drive_over_a_read_only_node_is_qemus(argv: list[str],
                                                            in_images: Path) -> None:
    (in_images / "harvest-fat").mkdir(exist_ok=True)
    ours, qemus = compare.live_verdicts({"argv": argv}, in_images)
    assert ours == qemus


def test_the_cases_cover_both_verdicts(in_images: Path) -> None:
    (in_images / "harvest-fat").mkdir(exist_ok=True)
    verdicts = {compare.ours({"argv": argv}, dialect="qemu-7.2")["accepted"] for argv in CASES}
    assert verdicts == {True, False}


def test_offline_the_flash_is_judged_without_its_size(in_images: Path) -> None:
    import qdrive

    r = qdrive.check_argv(["-drive", "file=disk.img,if=pflash,format=raw,file.read-only=on"],
                          probe_files=False)
    assert not r.ok and r.qemu_stderr().endswith("Block node is read-only")
