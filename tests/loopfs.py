"""Loop devices for the tests: whether this host can make them, and a small ext4 on one.

One copy for the driver, backend and bench suites (each needs a full filesystem for its
ENOSPC cases)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def loop_unavailable() -> str:
    """Why loop devices cannot be made here, or "" when they can."""
    if os.geteuid() != 0:
        return "loop devices need root (losetup)"
    if shutil.which("losetup") is None:
        return "losetup is not installed (util-linux)"
    if not os.path.exists("/dev/loop-control"):
        return "this kernel/container has no /dev/loop-control"
    return ""


@contextmanager
def small_filesystem(where: Path) -> Iterator[Path]:
    """A 16 MiB ext4 filesystem on a loop device, mounted under ``where`` (skips the test
    with the reason when this host cannot make one); unmounted afterwards."""
    why = loop_unavailable() or ("" if shutil.which("mkfs.ext4") else "mkfs.ext4 is not installed")
    if why:
        pytest.skip(why)
    backing = where / "fs.img"
    with open(backing, "wb") as f:
        f.truncate(16 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(backing)], check=True)
    mnt = where / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-o", "loop", str(backing), str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
