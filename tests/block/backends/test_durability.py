"""kill -9 durability for every cache mode, on the fault target and through a loop device
over it (issue 11, Deliver 2).

A child process (tests/block/backends/_writer.py) writes blocks through qdrive and reports every
acknowledged write and flush over a pipe; it is killed with SIGKILL at a random point.
Then the power-cut image (what the fault target's successful fsyncs covered) must hold
everything the mode promises:

- writethrough, directsync: every acknowledged write (each is flushed before it completes);
- writeback, none: every write acknowledged before an acknowledged flush;
- unsafe: nothing (its flushes never reach the disk); the test counts what it lost.

``QDRIVE_KILL_ROUNDS`` sets the rounds per mode and target (3 in ``make test``;
``make durability`` runs more and prints the table).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from tests.block.backends._writer import BS, block
from tests.block.backends.faultfs import FaultTarget
from tests.block.backends.test_contract import BUILT

ROUNDS = int(os.environ.get("QDRIVE_KILL_ROUNDS", "3"))
MODES = ["writethrough", "directsync", "writeback", "none", "unsafe"]
REGION = 1024  # blocks per round: rounds write to different places
FLUSH_EVERY = 8


@attrs.define
class Tally:
    """What one mode on one target did over the rounds."""

    rounds: int = 0
    acked: int = 0  # writes acknowledged to the writer
    promised: int = 0  # of those, the ones the mode promises to keep
    lost: int = 0  # promised and missing from the power-cut image
    acked_lost: int = 0  # acknowledged and missing (what unsafe gives up)


def _backends(mode: str) -> list[str]:
    return [b for b in BUILT if b != "native" or mode in ("none", "directsync")]


def _acks(lines: list[str]) -> tuple[list[int], int]:
    writes = [int(x.split()[1]) for x in lines if x.startswith("W ")]
    flushed = max((int(x.split()[1]) for x in lines if x.startswith("F ")), default=-1)
    return writes, flushed


def _promised(mode: str, writes: list[int], flushed: int) -> list[int]:
    if mode in ("writethrough", "directsync"):
        return writes
    if mode in ("writeback", "none"):
        return [i for i in writes if i <= flushed]
    return []


def one_round(faultfs: FaultTarget, image: Path, target: Path, mode: str, backend: str,
              rng: random.Random, n: int, tally: Tally) -> None:
    seed, first = rng.randrange(1 << 30), (n % 16) * REGION
    kill_after = rng.randint(1, 200)
    root = Path(__file__).resolve().parents[3]
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.block.backends._writer", f"file={target},format=raw,"
         f"cache={mode}", backend, str(seed), str(first), str(REGION - 24),
         str(FLUSH_EVERY)], cwd=root, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    lines = []
    try:
        writes = 0
        for line in child.stdout:  # read until the kill point, then kill at once
            lines.append(line)
            writes += line.startswith("W ")
            if writes >= kill_after:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        lines += child.stdout.readlines()  # what it managed to report before it died
        child.wait()
    assert lines and lines[0] == "R\n", lines[:3]
    writes_acked, flushed = _acks(lines)
    promised = _promised(mode, writes_acked, flushed)
    with open(faultfs.powercut(image.name), "rb") as f:
        def durable(i: int) -> bool:
            f.seek(i * BS)
            return f.read(BS) == block(seed, i)

        tally.rounds += 1
        tally.acked += len(writes_acked)
        tally.promised += len(promised)
        tally.lost += sum(not durable(i) for i in promised)
        tally.acked_lost += sum(not durable(i) for i in writes_acked)


def run_mode(faultfs: FaultTarget, image: Path, target: Path, mode: str, rounds: int,
             seed: int) -> Tally:
    rng = random.Random(seed)
    tally = Tally()
    backends = _backends(mode)
    for n in range(rounds):
        one_round(faultfs, image, target, mode, backends[n % len(backends)], rng, n, tally)
    return tally


@pytest.fixture
def kill_target(fault_target: Path, fault_image: Path) -> Iterator[tuple[Path, Path]]:
    yield fault_image, fault_target


@pytest.mark.parametrize("mode", MODES)
def test_kill_minus_nine_keeps_what_each_mode_promises(
        faultfs: FaultTarget, kill_target: tuple[Path, Path], mode: str) -> None:
    image, target = kill_target
    tally = run_mode(faultfs, image, target, mode, ROUNDS, seed=hash(mode) & 0xFFFF)
    print(f"{mode}: {tally}")
    assert tally.rounds == ROUNDS and tally.acked > 0
    assert tally.lost == 0, f"{mode}: {tally.lost} promised writes lost ({tally})"
    if mode == "unsafe":  # nothing is promised, and nothing reaches the power-cut image
        assert tally.acked_lost == tally.acked


def main() -> None:
    """Print the durability table (``make durability``; needs root)."""
    import tempfile

    from tests.block.backends.conftest import SIZE, _loop

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        fs = FaultTarget(Path(tmp) / "mnt", Path(tmp) / "backing")
        try:
            for kind in ("fault", "loop-on-fault"):
                for mode in MODES:
                    image = fs.create("k.img", SIZE)
                    loop = _loop(image, "512") if kind == "loop-on-fault" else None
                    target = next(loop) if loop else image
                    tally = run_mode(fs, image, target, mode, ROUNDS, seed=len(rows))
                    if loop:
                        next(loop, None)
                    fs.remove("k.img")
                    rows.append((kind, mode, tally))
        finally:
            fs.stop()
    print("| target | cache | kill rounds | acknowledged writes | promised | promised lost "
          "| acknowledged lost |")
    print("|---|---|---|---|---|---|---|")
    for kind, mode, t in rows:
        print(f"| {kind} | {mode} | {t.rounds} | {t.acked} | {t.promised} | {t.lost} "
              f"| {t.acked_lost} |")


if __name__ == "__main__":
    main()
