"""The attack suite: every candidate the policy accepts is started in QEMU 7.2 under strace.

A bypass is an open outside the allowed directories (beyond QEMU's own files), any
connect, listen or exec, a held descriptor or an attached device outside. The table of
attacks tried per class is printed (``pytest -s``, or ``make redteam`` for the corpus
in full). The corpus is sampled here: 40 of its accepted cases are started.
"""

from __future__ import annotations

import pytest

from tests.security import redteam
from tests.security.attacks import CLASSES, Lab

pytestmark = pytest.mark.live


@pytest.fixture(scope="session")
def report(labs: list[Lab]) -> redteam.Report:
    result = redteam.run(labs, corpus_sample=40)
    print("\n" + result.render())
    return result


def test_no_confirmed_bypass(report: redteam.Report) -> None:
    assert report.bypasses() == []


def test_the_policy_decides_as_expected(report: redteam.Report) -> None:
    """Hand-marked cases: hostile ones refused, inside-only and clean ones accepted."""
    assert report.mismatches() == []


def test_every_class_was_tried_and_run(report: redteam.Report, labs: list[Lab]) -> None:
    rows = {row[0]: row for row in report.table()}
    expected = set(CLASSES) - ({"device"} if not labs[0].devices else set())
    assert expected <= set(rows)
    for cls, tried, refused, accepted, runs, _, _ in rows.values():
        assert tried > 0 and refused + accepted == tried, cls
        if cls != "corpus":  # every accepted candidate was started (the corpus: a sample)
            assert runs >= accepted, cls


def test_accepted_clean_shapes_start_in_qemu(report: redteam.Report) -> None:
    """No false refusal, and what is accepted is a command line QEMU takes: every clean
    shape starts by name and through both hand-off modes, except usb-storage through
    fd sets (QEMU 7.2 meets its own stale lock there; see qdrive.frontend.policy._handoff)."""
    failed = [(o.candidate.label, n, r.stderr) for o in report.outcomes
              if o.candidate.cls == "clean" for n, r in enumerate(o.runs) if not r.accepted]
    assert [(label, n) for label, n, _ in failed] == [("if=none + -device usb-storage", 1)], \
        failed
