"""qdrive.check() in dialects qemu-10.0 and qemu-11.1 against those QEMUs' recorded verdicts.

The original corpus (fixtures/qemu100/verdicts.jsonl, fixtures/qemu111/verdicts.jsonl:
the cases of fixtures/qemu72/verdicts.jsonl, recorded by QEMU 10.0.13 and 11.1.3), every
row, the held-back slice included (it was scored once, before this test read it; see
tests.compat.corpus.HELDBACK_VERSIONS). The same exclusions as the 7.2 suite
(tests/compat/test_recorded.py): network protocols and drivers whose open qdrive does not
model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import qdrive
from qdrive.dialect import REGISTRY
from tests.compat import compare, corpus
from tests.compat.test_recorded import UNMATCHED, unmodelled

VERSIONS = ("10.0", "11.1")


def _rows(version: str) -> tuple[dict, list[dict]]:
    path = corpus.corpus("verdicts").recording(version)
    header, rows = corpus.read(path)
    return header or {}, rows


@pytest.mark.parametrize("version", VERSIONS)
def test_recording_is_that_qemus_and_large(version: str) -> None:
    header, rows = _rows(version)
    assert f"QEMU emulator version {version}." in str(header["qemu"])
    assert len(rows) >= 2000
    assert sum(1 for r in rows if r["accepted"]) > 100
    assert sum(1 for r in rows if not r["accepted"]) > 300
    # the rows differ from 7.2's somewhere, or a dialect would have nothing to model
    _, old = compare.load()
    was = {compare.key(r): r["stderr"] for r in old}
    assert any(was.get(compare.key(r)) not in (None, r["stderr"]) for r in rows)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_recorded_case_agrees(version: str, in_images: Path) -> None:
    dialect = f"qemu-{version}"
    assert REGISTRY[dialect].version == tuple(int(n) for n in version.split("."))
    _, rows = _rows(version)
    diffs = compare.differences(rows, dialect)
    unexpected = [(w, g) for w, g, _ in diffs
                  if compare.key(w) not in UNMATCHED and not unmodelled(compare.key(w))]
    assert unexpected == []


@pytest.mark.parametrize("version", VERSIONS)
def test_the_dialect_is_what_agrees(version: str, in_images: Path) -> None:
    """Asked in qemu-7.2, the same rows disagree on the differences the dialect models
    (if=xen, negative and hex-suffixed sizes): the test above cannot pass by accident."""
    _, rows = _rows(version)
    xen = [r for r in rows if any("if=xen" in d for d in r.get("drives", ()))]
    assert len(xen) >= 20
    assert compare.differences(xen, "qemu-7.2")
    assert not compare.differences(xen, f"qemu-{version}")
    assert qdrive.check("if=xen", dialect=f"qemu-{version}", probe_files=False).drives[0] \
        .error is not None
