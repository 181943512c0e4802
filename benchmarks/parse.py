"""Parse-and-validate time of the example drive string (the 2008 qemu-devel post's)
beside a naive str.split parse.

Both run in this process, alternating round by round, so the machine's load hits them
alike; the ratio of each round's pair is what to compare across machines. Also
check() of one drive offline and `check -f`'s rate. Prints figures; passes or fails on
nothing.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

SEED = ("file=/images/npt2-guest-virtio.qcow2,if=virtio,cache=off,format=qcow2,snapshot=off,"
        "bus=0,unit=1")
TARGET_US = 25.0


def naive(text: str) -> dict[str, str]:
    """The anchor: split on commas and on the first '=' (no escapes, no checks)."""
    return dict(item.partition("=")[::2] for item in text.split(","))


def _round(fn: Callable[[str], object], loops: int) -> float:
    t = time.perf_counter()
    for _ in range(loops):
        fn(SEED)
    return (time.perf_counter() - t) / loops * 1e6


def pairs(fn: Callable[[str], object], rounds: int = 25, loops: int = 400
          ) -> tuple[list[float], list[float]]:
    """(fn's µs per call, naive's µs per call), one of each per round, interleaved."""
    fn(SEED)  # build the scanner once
    ours, base = [], []
    for _ in range(rounds):
        base.append(_round(naive, loops))
        ours.append(_round(fn, loops))
    return ours, base


def spread(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4)
    return (f"median {statistics.median(values):.1f} (IQR {q[0]:.1f}-{q[2]:.1f}, "
            f"min {min(values):.1f})")


def report(name: str, fn: Callable[[str], object], target: float | None = None) -> None:
    ours, base = pairs(fn)
    ratios = [o / b for o, b in zip(ours, base, strict=True)]
    goal = f"; target <= {target:.0f} us" if target else ""
    print(f"{name}: {spread(ours)} us{goal}")
    print(f"  naive str.split parse, same rounds: {spread(base)} us")
    print(f"  ratio to naive: {spread(ratios)}x (first step <= 10x)")


def main() -> None:
    import qdrive

    report("parse_drive(example string)", qdrive.parse_drive, TARGET_US)
    report("check(example string, probe_files=False)",
           lambda s: qdrive.check(s, probe_files=False))


if __name__ == "__main__":
    main()
