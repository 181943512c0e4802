"""A sample of the corpus re-run against the real QEMU 7.2, when it is installed."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from tests.compat import cases, compare, oracle
from tests.compat.test_recorded import UNMATCHED

pytestmark = pytest.mark.live

needs_qemu = pytest.mark.skipif(
    shutil.which(oracle.QEMU) is None,
    reason="qemu-system-x86_64 not installed (make test installs it when run as root)")

# Deliberately unmatched cases (listed with reasons in test_recorded) are not sampled.
SAMPLE = random.Random(7).sample(
    [c for c in cases.all_cases() if compare.key(c) not in UNMATCHED], 40)


@needs_qemu
@pytest.mark.parametrize("case", SAMPLE, ids=lambda c: " ".join(compare.key(c))[:60])
def test_live_qemu_agrees(case: dict[str, list[str]], in_images: Path) -> None:
    want = compare.verdict(oracle.run(case, in_images))
    got = compare.ours(case)
    assert compare.disagreements(want, got) == [], (want, got)


@needs_qemu
def test_recording_is_current(in_images: Path) -> None:
    """The recorded fixture still says what this QEMU says, on a sample."""
    _, rows = compare.load()
    for row in random.Random(3).sample(rows, 10):
        case = {k: row[k] for k in ("drives", "argv") if k in row}
        got = oracle.run(case, in_images)
        assert got["accepted"] == row["accepted"], case
        assert compare.strip_noise(str(got["stderr"])) == compare.strip_noise(row["stderr"])
