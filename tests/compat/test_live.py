"""A sample of the corpus re-run against the real QEMU 7.2, when it is installed."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from tests.compat import cases, compare, oracle

pytestmark = pytest.mark.live

needs_qemu = pytest.mark.skipif(
    shutil.which(oracle.QEMU) is None,
    reason="qemu-system-x86_64 not installed (make test installs it when run as root)")

SAMPLE = random.Random(7).sample(cases.all_cases(), 40)


@needs_qemu
@pytest.mark.parametrize("drives", SAMPLE, ids=lambda d: " ".join(d)[:60])
def test_live_qemu_agrees(drives: list[str], in_images: Path) -> None:
    if tuple(drives) in {("file=nbd:localhost:1",), ("file=json:{},format=raw",)}:
        pytest.skip("listed as deliberately unmatched in test_recorded.UNMATCHED")
    want = oracle.run(drives, in_images)
    want["stderr"] = compare.strip_noise(str(want["stderr"]))
    assert compare.ours(drives) == want


@needs_qemu
def test_recording_is_current(in_images: Path) -> None:
    """The recorded fixture still says what this QEMU says, on a sample."""
    _, rows = compare.load()
    for row in random.Random(3).sample(rows, 10):
        got = oracle.run(row["drives"], in_images)
        assert got["accepted"] == row["accepted"], row["drives"]
        assert compare.strip_noise(str(got["stderr"])) == compare.strip_noise(row["stderr"])
