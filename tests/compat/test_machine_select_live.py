"""An unknown machine type stops QEMU in system/vl.c select_machine(), after the option
loop and before any object, -blockdev or -drive is created: their parse errors come
first, their open errors and warnings never. Each line is started under the real QEMU 7.2
and qdrive's verdict and message must be QEMU's."""

from __future__ import annotations

from pathlib import Path

import pytest

import qdrive
from tests.compat import compare, oracle

live = pytest.mark.skipif(not oracle.have_qemu("7.2"), reason="QEMU 7.2 not installed")

CASES = [
    ["-M", "virt", "-hda", "disk.img"],  # no probe warning: the drive is never opened
    ["-drive", "file=disk.img,bogus=1", "-M", "bogus"],
    ["-drive", "file=disk.img,if=bogus", "-machine", "type=bogus,usb=off"],
    ["-blockdev", "driver=file,filename=/nonexistent,node-name=x", "-M", "bogus"],
    ["-object", "secret,id=s,file=/nonexistent", "-M", "bogus"],
    ["-device", "virtio-blk-pci,drive=nope", "-M", "bogus"],
    # parse-time errors of the option loop still come first
    ["-object", "iothread,id=a", "-object", "iothread,id=a", "-M", "bogus"],
    ["-blockdev", "driver=file,filename=disk.img,node-name=x,bogus=1", "-M", "bogus"],
    ["-M", "pc-i440fx-1.2", "-drive", "file=disk.img,format=raw,bogus=1"],  # removed in 7.2
    # a distribution's own machine names and the bare family name are no machines here
    ["-M", "pc-q35-rhel8.2.0,usb=off", "-drive", "file=disk.img,serial=1"],
    ["-machine", "pc-i440fx-rhel7.6.0", "-device", "virtio-blk-pci,bus=pci.9"],
    ["-M", "pc-i440fx"],
    ["-M", "pc-q35-4.0.1", "-drive", "file=disk.img,format=raw"],  # the one three-part name
]


@live
@pytest.mark.live
@pytest.mark.parametrize("argv", CASES, ids=lambda a: " ".join(a))
def test_an_unknown_machine_stops_qemu_before_any_open(argv: list[str],
                                                        in_images: Path) -> None:
    ours, qemus = compare.live_verdicts({"argv": argv}, in_images)
    assert ours == qemus


@pytest.mark.parametrize("argv, at", [
    (["-M", "virt", "-hda", "disk.img"], 0),
    (["-machine", "pc", "-machine", "type=bogus,usb=off"], 2),
    (["-M", "pc-i440fx-1.2"], 0),
])
def test_the_option_naming_the_machine_carries_the_error(argv: list[str], at: int,
                                                          in_images: Path) -> None:
    r = qdrive.check_argv(argv)
    assert not r.ok
    errors = {o.index: o.error for o in r.options if o.error}
    assert list(errors) == [at] and errors[at].startswith("unsupported machine type")
