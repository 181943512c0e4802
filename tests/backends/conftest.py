"""Targets for the backend contract: a regular file and real loop block devices."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SIZE = 64 << 20


def _can_loop() -> str:
    if os.geteuid() != 0:
        return "loop devices need root (losetup)"
    if shutil.which("losetup") is None:
        return "losetup is not installed (util-linux)"
    if not os.path.exists("/dev/loop-control"):
        return "this kernel/container has no /dev/loop-control"
    return ""


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    path = tmp_path / "target.img"
    with open(path, "wb") as f:
        f.truncate(SIZE)
    return path


def _loop(image_file: Path, sector: str) -> Iterator[Path]:
    why = _can_loop()
    if why:
        pytest.skip(why)
    dev = subprocess.run(["losetup", "--find", "--show", "--sector-size", sector,
                          str(image_file)], capture_output=True, text=True, check=True
                         ).stdout.strip()
    try:
        yield Path(dev)
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


@pytest.fixture(params=["file", "loop512", "loop4096"])
def target(request: pytest.FixtureRequest, image_file: Path) -> Iterator[Path]:
    """A regular file, a loop device (512-byte sectors) and one with 4096-byte sectors."""
    if request.param == "file":
        yield image_file
    else:
        yield from _loop(image_file, request.param.removeprefix("loop"))


@pytest.fixture(params=["512", "4096"])
def block_target(request: pytest.FixtureRequest, image_file: Path) -> Iterator[Path]:
    """Loop block devices only (512- and 4096-byte logical sectors)."""
    yield from _loop(image_file, request.param)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB ext4 filesystem on a loop device, mounted: for ENOSPC."""
    why = _can_loop() or ("" if shutil.which("mkfs.ext4") else "mkfs.ext4 is not installed")
    if why:
        pytest.skip(why)
    backing = tmp_path / "fs.img"
    with open(backing, "wb") as f:
        f.truncate(16 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(backing)], check=True)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-o", "loop", str(backing), str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
