"""Targets for the backend contract: a regular file, real loop block devices, and the
fault-injecting FUSE filesystem (tests/block/backends/faultfs.py), directly and under a loop
device."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loopfs import loop_unavailable, small_filesystem

from tests.block.backends.faultfs import FaultTarget

SIZE = 64 << 20
TARGETS = ["file", "loop512", "loop4096", "fault", "loop-on-fault"]


_can_loop = loop_unavailable


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    path = tmp_path / "target.img"
    with open(path, "wb") as f:
        f.truncate(SIZE)
    return path


def _can_fuse() -> str:
    if os.geteuid() != 0:
        return "mounting the fault-injecting FUSE filesystem needs root"
    if not os.path.exists("/dev/fuse"):
        return "this kernel/container has no /dev/fuse"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"mfusepy or libfuse3 is missing ({exc}): pip install mfusepy, apt-get " \
               "install libfuse3-3"
    return ""


@pytest.fixture(scope="session")
def faultfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultTarget]:
    """One faultfs process for the whole session (each test gets its own image in it)."""
    why = _can_fuse()
    if why:
        pytest.skip(why)
    base = tmp_path_factory.mktemp("faultfs")
    target = FaultTarget(base / "mnt", base / "backing")
    try:
        yield target
    finally:
        target.stop()


@pytest.fixture
def fault_image(faultfs: FaultTarget, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A fresh 64 MiB image on the fault target; faults and counters are reset after."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[-150:] + ".img"
    path = faultfs.create(name, SIZE)
    faultfs.clear()
    try:
        yield path
    finally:
        faultfs.clear()
        faultfs.remove(name)


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


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A regular file, loop devices with 512- and 4096-byte sectors, an image on the fault
    target (no fault armed unless the test arms one) and a loop device over such an image."""
    yield from _target(request, request.param, tmp_path)


def _target(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> Iterator[Path]:
    if kind in ("fault", "loop-on-fault"):
        image = request.getfixturevalue("fault_image")
    else:
        image = request.getfixturevalue("image_file")
    if kind in ("file", "fault"):
        yield image
    elif kind == "loop-on-fault":
        yield from _loop(image, "512")
    else:
        yield from _loop(image, kind.removeprefix("loop"))


@pytest.fixture(params=["fault", "loop-on-fault"])
def fault_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """The fault target itself and a loop device over it (faults armed by the test)."""
    yield from _target(request, request.param, tmp_path)


@pytest.fixture(params=["512", "4096"])
def block_target(request: pytest.FixtureRequest, image_file: Path) -> Iterator[Path]:
    """Loop block devices only (512- and 4096-byte logical sectors)."""
    yield from _loop(image_file, request.param)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB ext4 filesystem on a loop device, mounted: for ENOSPC."""
    with small_filesystem(tmp_path) as mnt:
        yield mnt
