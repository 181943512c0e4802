"""qdrive and a real QEMU 7.2 never both write one image (QEMU's OFD byte locks)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import qdrive.block.driver as driver

import qdrive
from tests.compat import oracle

needs_qemu = pytest.mark.skipif(shutil.which(oracle.QEMU) is None,
                                reason="qemu-system-x86_64 not installed")


@pytest.mark.live
@needs_qemu
def test_qemu_holds_the_image(image_file: Path) -> None:
    with oracle.Running([f"file={image_file},format=raw,if=virtio"], image_file.parent):
        with pytest.raises(driver.ImageLocked) as e:
            qdrive.open(f"file={image_file},format=raw")
        assert str(e.value).endswith(f'Failed to get "write" lock\nIs another process using '
                                     f"the image [{image_file}]?")
        with pytest.raises(driver.ImageLocked, match='Failed to get shared "write" lock'):
            qdrive.open(f"file={image_file},format=raw,read-only=on")
        # file.locking=off is the explicit way around it, as in QEMU.
        qdrive.open(f"file={image_file},format=raw,file.locking=off,read-only=on").close()


@pytest.mark.live
@needs_qemu
def test_qdrive_holds_the_image(image_file: Path) -> None:
    with qdrive.open(f"file={image_file},format=raw"):
        got = oracle.run([f"file={image_file},format=raw,if=virtio"], image_file.parent)
        assert got["accepted"] is False
        assert got["stderr"].endswith('Failed to get "write" lock\nIs another process using '
                                      f"the image [{image_file}]?")
    got = oracle.run([f"file={image_file},format=raw,if=virtio"], image_file.parent)
    assert got["accepted"] is True  # released on close


def test_two_qdrive_writers(image_file: Path) -> None:
    with qdrive.open(f"file={image_file},format=raw"):
        with pytest.raises(driver.ImageLocked, match='Failed to get "write" lock'):
            qdrive.open(f"file={image_file},format=raw")
        with qdrive.open(f"file={image_file},format=raw,force-share=on,read-only=on,"
                         "file.locking=off"):
            pass
