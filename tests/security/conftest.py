"""Fixtures of the attack suite: identical labs (one per QEMU worker), loop devices."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security import harness, redteam
from tests.security.attacks import Lab

WORKERS = 3


def _loop(backing: Path) -> str:
    with open(backing, "wb") as f:
        f.truncate(4 << 20)
    return subprocess.run(["losetup", "--find", "--show", str(backing)], capture_output=True,
                          text=True, check=True).stdout.strip()


def _can_loop() -> bool:
    return os.geteuid() == 0 and shutil.which("losetup") is not None and \
        os.path.exists("/dev/loop-control")


@pytest.fixture(scope="session")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Lab]]:
    """Three identical labs, each with two loop devices of its own when root can make them."""
    why = harness.have_tools()
    if why:
        pytest.skip(why)
    if os.geteuid() != 0:
        pytest.skip("the attack lab makes device nodes and loop devices: it needs root")
    root = tmp_path_factory.mktemp("redteam")
    built = redteam.build_labs(root, WORKERS)
    loops: list[str] = []
    try:
        for lab in built:
            if _can_loop():
                lab.devices = [_loop(lab.root / "dev-a.raw"), _loop(lab.root / "dev-b.raw")]
                loops += lab.devices
                os.symlink(lab.devices[1], lab.images / "dev-link.img")
        yield built
    finally:
        for dev in loops:
            subprocess.run(["losetup", "-d", dev], check=False)
