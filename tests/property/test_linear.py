"""No pathological inputs: parse time grows linearly with input length, memory stays bounded.

Each adversarial shape is parsed at 1 KB, 10 KB, 100 KB and 1 MB; the test compares
ratios of times measured in the same run (never a time), with head-room for noise:
linear growth gives 10x per step, a quadratic parser 100x.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import pytest

import qdrive

SHAPES: dict[str, Callable[[int], str]] = {
    "long value": lambda n: "file=" + "a" * (n - 5),
    "many commas": lambda n: "," * n,
    "escaped commas": lambda n: "file=" + ",," * ((n - 5) // 2),
    "many keys": lambda n: "".join(f"k{i}=v," for i in range(n // 8)),
    "many duplicate keys": lambda n: "cache=none," * (n // 11),
    "many flags": lambda n: "noa," * (n // 4),
    "no equals (2008)": lambda n: "a" * n,
}
SIZES = (1_000, 10_000, 100_000, 1_000_000)


def _parse(text: str, dialect: str) -> None:
    try:
        qdrive.parse_drive(text, dialect=dialect)
    except qdrive.DriveError:
        pass


def _seconds(text: str, dialect: str) -> float:
    best = float("inf")
    for _ in range(3):  # best of three: one slow run (page faults, GC) is noise
        start = time.perf_counter()
        _parse(text, dialect)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("dialect", qdrive.DIALECTS)
@pytest.mark.parametrize("shape", SHAPES)
def test_parse_time_is_linear(shape: str, dialect: str) -> None:
    make = SHAPES[shape]
    times = [_seconds(make(n), dialect) for n in SIZES]
    # From 100 KB to 1 MB: 10x more input may cost at most 25x the time (quadratic: 100x).
    assert times[3] / max(times[2], 1e-6) < 25, times
    # And 1 MB costs at most 4000x the 1 KB time (linear: 1000x) - catches slow build-up.
    assert times[3] / max(times[0], 1e-6) < 4000, times


@pytest.mark.parametrize("shape", SHAPES)
def test_memory_is_bounded(shape: str) -> None:
    text = SHAPES[shape](1_000_000)
    tracemalloc.start()
    try:
        _parse(text, "qemu-7.2")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Linear, with a constant: the worst shape (a million one-character flags) keeps a
    # RawOption, a Span and a warning per input byte or two.
    assert peak < 500 * len(text), peak
