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
