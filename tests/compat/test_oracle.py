"""The oracle's own plumbing: a QEMU it starts never outlives a failure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.compat import oracle

needs_qemu = pytest.mark.skipif(shutil.which(oracle.QEMU) is None,
                                reason="qemu-system-x86_64 not installed")


@pytest.mark.live
@needs_qemu
def test_running_stops_qemu_when_it_cannot_connect(images: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: a refused QMP connect left the QEMU running, holding its image."""
    from qemu.qmp import legacy

    def refuse(self: object, *args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(legacy.QEMUMonitorProtocol, "connect", refuse)
    monkeypatch.setattr(oracle, "CONNECT_ATTEMPTS", 2, raising=False)
    running = oracle.Running(["file=disk.img,format=raw,if=virtio"], images)
    with pytest.raises(RuntimeError):
        running.__enter__()
    assert running.proc.poll() is not None, "QEMU still runs"
    assert not Path(running.dir).exists()


def test_an_image_a_case_rewrote_is_put_back(tmp_path: Path) -> None:
    oracle.make_images(tmp_path)
    state = oracle.image_state(tmp_path)
    before = (tmp_path / "gen.parallels").read_bytes()
    with open(tmp_path / "gen.parallels", "r+b") as f:  # as QEMU's in-use flag would
        f.seek(48)
        f.write(b"\x01\x02\x03\x04")
    assert oracle.restore_images(tmp_path, state) == ["gen.parallels"]
    assert (tmp_path / "gen.parallels").read_bytes() == before
    assert oracle.restore_images(tmp_path, state) == []  # the state is current again


@pytest.mark.parametrize("version", ["10.0", "11.1"])
def test_a_chroot_qemu_refuses_a_folder_it_cannot_see(version: str) -> None:
    qemu = oracle.qemu(version)
    if not qemu.available():
        pytest.skip(f"{qemu.binary} not installed")
    qemu.check_visible("/tmp")
    with pytest.raises(ValueError, match="not visible"):
        qemu.check_visible("/root")  # the wrapper would silently run in / instead


@pytest.mark.live
@needs_qemu
def test_a_device_whose_id_names_a_bus_too_is_recorded_as_started(images: Path) -> None:
    """Regression: nvme,id=dev0 names its bus dev0 too, and qom-get on the partial path
    "dev0" failed, so a start was recorded as a refusal with an empty stderr."""
    got = oracle.run({"argv": ["-blockdev", "driver=file,filename=disk.img,node-name=f0",
                               "-device", "nvme,drive=f0,serial=s,id=dev0"]}, images)
    assert (got["accepted"], got["stderr"]) == (True, "")
    assert got["devices"][0]["type"] == "nvme"
