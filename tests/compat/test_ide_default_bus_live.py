"""Where an IDE device without bus= goes: qbus_find_recursive() meets the newest bus
first, and an IDE bus is never full for qdev, so it is the last bus of the newest IDE
controller (q35's ide.5, pc's ide.1, or a -device controller's), whatever the legacy
drives took. Each line is started under the real QEMU 7.2 and qdrive's verdict and
message must be QEMU's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat import compare, oracle

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not oracle.have_qemu("7.2"), reason="QEMU 7.2 not installed")]

D1 = ["-drive", "if=none,id=d1,file=disk.img,format=raw"]
D2 = ["-drive", "if=none,id=d2,file=disk2.img,format=raw"]
D3 = ["-drive", "if=none,id=d3,file=disk3.img,format=raw"]
CASES = [
    ["-M", "q35", *D1, "-device", "ide-hd,drive=d1", "-drive", "file=disk2.img,format=raw"],
    ["-M", "q35", *D1, "-device", "ide-hd,drive=d1", *D2, "-device", "ide-hd,drive=d2"],
    ["-M", "q35", *D1, "-device", "ide-hd,drive=d1", *D2, "-device", "ide-hd,drive=d2,bus=ide.4"],
    ["-M", "pc", *D1, "-device", "ide-hd,drive=d1", "-hda", "disk2.img", "-hdb", "disk3.img"],
    ["-M", "pc", *D1, "-device", "ide-hd,drive=d1", "-hdc", "disk2.img"],
    ["-M", "pc", *D1, "-device", "ide-hd,drive=d1", "-hdc", "disk2.img", "-hdd", "disk3.img"],
    ["-M", "pc", *D1, *D2, *D3, "-device", "ide-hd,drive=d1", "-device", "ide-hd,drive=d2",
     "-device", "ide-hd,drive=d3"],
    ["-M", "q35", "-device", "piix3-ide,id=px", *D1, *D2, *D3, "-device", "ide-hd,drive=d1",
     "-device", "ide-hd,drive=d2", "-device", "ide-hd,drive=d3"],
]


@pytest.mark.parametrize("argv", CASES, ids=lambda a: " ".join(a))
def test_an_ide_device_without_a_bus_goes_where_qemu_puts_it(argv: list[str],
                                                              in_images: Path) -> None:
    ours, qemus = compare.live_verdicts({"argv": argv}, in_images)
    assert ours == qemus
