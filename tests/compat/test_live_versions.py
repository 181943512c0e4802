"""The recordings still say what each installed QEMU says, on a sample (QEMU only, no
qdrive), and the host-state harness still builds states QEMU answers as recorded."""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat import chroots, compare, corpus, hoststate, oracle

pytestmark = pytest.mark.live

SAMPLE = 4  # rows per corpus and version: a few seconds of QEMU each
CORPORA = ("verdicts", "generated-singles", "generated-cmdlines", "harvest-drives",
           "harvest-cmdlines")


def _needs(version: str) -> Any:
    q = oracle.qemu(version)
    return pytest.mark.skipif(
        not oracle.have_qemu(version),
        reason=f"{q.binary} not installed (10.0 and 11.1: ../shared/tools/qemu-chroot "
               "trixie|sid as root)")


def _sample(name: str, version: str) -> list[dict[str, Any]]:
    path = corpus.corpus(name).recording(version)
    if not path.exists():
        return []
    _, rows = corpus.read(path)
    rows = [r for r in rows if not r.get("timeout") and compare.key(r) not in _UNSTABLE]
    return random.Random(f"{name}-{version}").sample(rows, min(SAMPLE, len(rows)))


# Verdicts that depend on more than the case: none known so far.
_UNSTABLE: set[tuple[str, ...]] = set()

ROWS = [pytest.param(v, r, id=f"{v}-{n}-{r.get('id', i)}", marks=_needs(v))
        for v in oracle.QEMUS for n in CORPORA for i, r in enumerate(_sample(n, v))]


@pytest.fixture(scope="module")
def folder() -> Iterator[tuple[Path, dict[str, tuple[int, int]]]]:
    with oracle.image_dir("qdrive-live-") as where:
        yield where, oracle.image_state(where)


@functools.cache
def _ordinary_install(version: str) -> list[str]:
    """What the version's chroot still lacks after preparing it (tests/compat/chroots.py):
    the recordings were made with the tree an ordinary Debian install has."""
    q = oracle.qemu(version)
    if os.geteuid() == 0:
        chroots.prepare(q)
    return chroots.problems(q)


@pytest.mark.parametrize(("version", "row"), ROWS)
def test_recording_is_current(version: str, row: dict[str, Any],
                              folder: tuple[Path, dict[str, tuple[int, int]]]) -> None:
    where, state = folder
    missing = _ordinary_install(version)
    if missing:  # only without root: as root the tree is prepared above
        pytest.skip(f"QEMU {version}'s tree is not an ordinary install ({'; '.join(missing)}); "
                    "run python -m tests.compat.chroots as root")
    if oracle.DEV in " ".join(row.get("drives") or row.get("argv") or ()) and not (
            where / oracle.DEV).exists():
        pytest.skip("DEV needs root to be a loop device")
    try:
        got = oracle.run(corpus.as_case(row) or {}, where, qemu=oracle.qemu(version))
    finally:
        oracle.restore_images(where, state)
    want = compare.verdict(row)
    assert compare.disagreements(want, compare.verdict(got)) == [], (want, got)


def _one_per_state(version: str) -> list[Any]:
    path = oracle.qemu(version).fixtures / "hoststate.jsonl"
    if not path.exists():
        return []
    _, rows = corpus.read(path)
    firsts: dict[str, dict[str, Any]] = {}
    for row in rows:
        firsts.setdefault(row["state"], row)
    # io-uring-disabled flips a machine-wide sysctl under every other process on the
    # machine; it is recorded and compared by `make hoststate`, not in make test.
    return [pytest.param(version, r, id=f"{version}-{r['id']}", marks=_needs(version))
            for s, r in sorted(firsts.items()) if s != "io-uring-disabled"]


@pytest.mark.parametrize(("version", "row"),
                         [p for v in oracle.QEMUS for p in _one_per_state(v)])
def test_host_state_is_built_as_recorded(version: str, row: dict[str, Any]) -> None:
    try:
        got = hoststate.live(row, oracle.qemu(version))
    except hoststate.Unavailable as e:
        pytest.skip(str(e))
    assert compare.disagreements(compare.verdict(row), compare.verdict(got)) == [], got
