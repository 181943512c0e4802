"""Every input a fuzzer ever crashed on (fixtures/fuzz/crashes/) now passes every target."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz import targets

CRASHES = sorted((Path(__file__).resolve().parents[2] / "fixtures" / "fuzz" / "crashes")
                 .iterdir())


def test_there_are_regressions_to_replay() -> None:
    assert CRASHES, "fixtures/fuzz/crashes/ must hold the inputs fuzzing has found"


@pytest.mark.parametrize("path", CRASHES, ids=lambda p: p.name)
@pytest.mark.parametrize("target", sorted(targets.TARGETS))
def test_crash_input_is_handled(path: Path, target: str) -> None:
    targets.TARGETS[target](path.read_bytes())
