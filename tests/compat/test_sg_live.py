"""scsi-generic and scsi-block over a host device that is no SCSI device (a loop device):
qdrive asks the host the SG_GET_VERSION_NUM ioctl QEMU asks at realize, and its verdict
and message are the real QEMU's (root: the loop device)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat import compare, oracle

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (losetup)"),
              pytest.mark.skipif(not oracle.have_qemu("7.2"), reason="QEMU 7.2 not installed")]


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[str]:
    image = tmp_path / "sg.img"
    image.write_bytes(b"\0" * (4 << 20))
    dev = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True,
                         text=True, check=True).stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


@pytest.mark.parametrize("model", ["scsi-generic", "scsi-block"])
@pytest.mark.parametrize("raw_on_top", [False, True])
def test_passthrough_on_a_loop_device_is_qemus(model: str, raw_on_top: bool, loop: str,
                                               tmp_path: Path) -> None:
    argv = ["-device", "virtio-scsi-pci,id=scsi0", "-blockdev",
            f'{{"driver":"host_device","filename":"{loop}","node-name":"h0",'
            '"read-only":false}']
    top = "h0"
    if raw_on_top:
        argv += ["-blockdev", '{"driver":"raw","file":"h0","node-name":"f0"}']
        top = "f0"
    argv += ["-device", f'{{"driver":"{model}","drive":"{top}","bus":"scsi0.0","id":"d0"}}']
    case = {"argv": argv}
    want = oracle.run(case, tmp_path)
    got = compare.ours(case, dialect="qemu-7.2")
    assert not want["accepted"] and "SG_IO" in want["stderr"]  # the host is as assumed
    assert (got["accepted"], got["stderr"]) == \
        (want["accepted"], compare.strip_noise(want["stderr"]))
