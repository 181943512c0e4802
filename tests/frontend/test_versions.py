"""What QEMU 10.0 and 11.1 say differently from 7.2, each difference read off the Dialect
(qdrive/dialect.py; the list with the QEMU change behind each is grammar/qemu-versions.md).
The messages were measured with qemu-system-x86_64-10.0 and -11.1 (the Debian 13 and sid
builds, tests/compat/chroots.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import qdrive


def _stderr(text: str, name: str, **options: object) -> str:
    return qdrive.check(text, dialect=name, **options).qemu_stderr("qemu-system-x86_64")


@pytest.mark.parametrize(("name", "message"), [
    ("qemu-7.2", "Failed to open {}: No such file or directory"),
    ("qemu-10.0", "Failed to open {}: No such file or directory"),
    ("qemu-11.1", "Could not open '{}': No such file or directory"),
])
def test_nvme_vfio_container_wording(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     name: str, message: str) -> None:
    from qdrive.frontend import hostprobe

    missing = str(tmp_path / "no-vfio")
    monkeypatch.setattr(hostprobe, "VFIO_CONTAINER", missing)
    text = "driver=nvme,device=0000:00:04.0,namespace=1"
    assert _stderr(text, name) == \
        f"qemu-system-x86_64: -drive {text}: {message.format(missing)}"
