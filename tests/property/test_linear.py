"""No pathological inputs: parsing costs operations in proportion to the input, and memory
stays bounded.

The cost is counted, never timed (a timed ratio fails on a loaded machine): a
``sys.setprofile`` hook counts every Python function call and every builtin call the parse
makes. Each adversarial shape is parsed at 1, 4 and 16 KB, once to warm the caches (the
parser, the compiled scanner) and once counted, with the garbage collector off. A
linear parser makes at most 4x the calls for 4x the input (its fixed part makes the ratio
smaller), a quadratic one 16x; the canary tests below show the check failing on a
quadratic parser.

What the count cannot see is a single builtin call whose own work grows (one ``x in
list`` is one call however long the list): the memory bound catches a parser that keeps
what it has seen, and the 1 MB inputs of the memory test would make such a call slow.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

import qdrive
import qdrive.frontend._check
import qdrive.frontend.dialects

CHECK = sys.modules["qdrive.frontend._check"]  # the module behind qdrive.check

SHAPES: dict[str, Callable[[int], str]] = {
    "long value": lambda n: "file=" + "a" * (n - 5),
    "many commas": lambda n: "," * n,
    "escaped commas": lambda n: "file=" + ",," * ((n - 5) // 2),
    "many keys": lambda n: "".join(f"k{i}=v," for i in range(n // 8)),
    "many duplicate keys": lambda n: "cache=none," * (n // 11),
    "many flags": lambda n: "noa," * (n // 4),
    "no equals (2008)": lambda n: "a" * n,
}
SIZES = (1_000, 4_000, 16_000)
STEP = SIZES[1] // SIZES[0]
GROWTH = STEP * 1.1  # calls may grow 10% faster than the input (rounding in the shapes)


def _parse(text: str, dialect: str) -> None:
    try:
        qdrive.parse_drive(text, dialect=dialect)
    except qdrive.DriveError:
        pass


def calls(text: str, dialect: str) -> int:
    """Function calls (Python and builtin) one parse of ``text`` makes, caches warm."""
    _parse(text, dialect)
    n = 0

    def count(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal n
        if event == "call" or event == "c_call":
            n += 1

    gc.collect()  # no collection, and so no unrelated finalizer, inside the count
    gc.disable()
    sys.setprofile(count)
    try:
        _parse(text, dialect)
    finally:
        sys.setprofile(None)
        gc.enable()
    return n


def nonlinear_steps(counts: list[int]) -> list[tuple[int, int]]:
    """The size steps where the calls grew faster than the input."""
    steps = zip(counts, counts[1:], strict=False)
    return [(a, b) for a, b in steps if b > GROWTH * max(a, 1)]


@pytest.mark.parametrize("dialect", qdrive.DIALECTS)
@pytest.mark.parametrize("shape", SHAPES)
def test_parse_cost_is_linear(shape: str, dialect: str) -> None:
    counts = [calls(SHAPES[shape](n), dialect) for n in SIZES]
    assert not nonlinear_steps(counts), counts


def _quadratic(real: Callable[..., Any]) -> Callable[..., Any]:
    """A tokenizer that re-reads its input's prefix every 64 characters (quadratic)."""
    def tokenize(text: str, **kw: Any) -> Any:
        for end in range(0, len(text), 64):
            real(text[:end], **kw)
        return real(text, **kw)

    return tokenize


@pytest.mark.parametrize("dialect", qdrive.DIALECTS)
def test_the_count_catches_a_quadratic_parser(monkeypatch: pytest.MonkeyPatch,
                                              dialect: str) -> None:
    monkeypatch.setattr(CHECK, "tokenize", _quadratic(CHECK.tokenize))
    dialects = qdrive.frontend.dialects
    monkeypatch.setattr(dialects, "tokenize", _quadratic(dialects.tokenize))
    counts = [calls(SHAPES["many keys"](n), dialect) for n in SIZES]
    assert nonlinear_steps(counts) == list(zip(counts, counts[1:], strict=False)), counts


def test_the_count_catches_a_quadratic_loop() -> None:
    def rescan(text: str) -> None:
        seen: list[str] = []
        for item in text.split(","):
            any(str.__eq__(item, s) for s in seen)  # a duplicate check by hand
            seen.append(item)

    def counted(n: int) -> int:
        total = 0

        def count(frame: FrameType, event: str, arg: Any) -> None:
            nonlocal total
            total += event in ("call", "c_call")

        sys.setprofile(count)
        try:
            rescan(SHAPES["many keys"](n))
        finally:
            sys.setprofile(None)
        return total

    assert len(nonlinear_steps([counted(n) for n in SIZES])) == 2


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
