from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat import oracle


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the corpus images (disk.img, disk.qcow2, cd.iso ...)."""
    where = tmp_path_factory.mktemp("images")
    oracle.make_images(where)
    return where


@pytest.fixture
def in_images(images: Path) -> Iterator[Path]:
    here = os.getcwd()
    os.chdir(images)
    try:
        yield images
    finally:
        os.chdir(here)


@pytest.fixture
def qcow2(tmp_path: Path) -> Path:
    """An empty 16 MiB qcow2 image made by qemu-img (skips without it)."""
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img makes the qcow2 image (apt-get install qemu-utils)")
    path = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True)
    return path
