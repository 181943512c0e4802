"""-global options no object took (hw/core/qdev-properties.c qdev_prop_check_globals()),
each command line started under the real QEMU 7.2 beside qdrive, and the table they are
judged by (grammar/qemu-7.2/globals.json) derived again from that QEMU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grammar import derive_globals
from tests.compat import compare, oracle

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not oracle.have_qemu("7.2"), reason="QEMU 7.2 not installed")]

ARGVS = [
    "-M pc -global kvm-pit.lost_tick_policy=delay",  # hotpluggable: never a word
    "-M q35 -global PIIX4_PM.disable_s3=1",  # not hotpluggable, not on q35
    "-M pc -global PIIX4_PM.disable_s3=1",  # pc makes it
    "-M isapc -global PIIX4_PM.disable_s3=1",
    "-M q35 -global ICH9-LPC.disable_s3=1",
    "-M pc -global ICH9-LPC.disable_s3=1",  # hotpluggable
    "-M pc -global qxl-vga.vram_size=1",  # a module's class QEMU has not loaded
    "-M pc -global cfi.pflash01.secure=on",  # the driver ends at the first dot: "cfi"
    "-M q35 -global driver=cfi.pflash01,property=secure,value=on",
    "-M pc -global nosuch.x=1",
    "-M pc -global VGA.vgamem_mb=64",  # -nodefaults: no VGA
    "-M pc -device VGA -global VGA.vgamem_mb=16",  # now it is made
    "-M q35 -global ich9-usb-ehci1.x=1",
    "-M q35 -usb -global ich9-usb-uhci4.x=1",  # -usb makes uhci1-3 only
    "-M pc -global vmware-svga.vgamem_mb=1024 -global qxl-vga.ram_size=1 "
    "-global PIIX4_PM.disable_s3=1 -global intel-iommu.x=1",  # in command-line order
    "-M pc -global VGA.vgamem_mb=16 -drive file=missing.img",  # QEMU stops first
    "-M none -global PIIX4_PM.disable_s3=1",
    "-M pc -global memory-backend-ram.x=1",  # a class, but no device's
]


@pytest.mark.parametrize("argv", ARGVS)
def test_unused_globals_are_qemus(argv: str, in_images: Path) -> None:
    ours, qemus = compare.live_verdicts({"argv": argv.split(" ")}, in_images)
    assert ours == qemus


def test_the_table_is_what_this_qemu_says() -> None:
    table = json.loads((Path(__file__).parents[2] / "grammar" / "qemu-7.2" /
                        "globals.json").read_text())
    binary = oracle.qemu("7.2").binary
    fresh = derive_globals.derive(binary)
    if fresh["qemu"] != table["qemu"]:
        pytest.skip(f"the table is {table['qemu']}'s, this is {fresh['qemu']}")
    assert fresh == table
