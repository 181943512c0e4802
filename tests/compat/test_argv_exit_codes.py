"""`qdrive check --argv` exits as QEMU 7.2 did on the recorded command lines: 0 where
QEMU started, 1 where it refused (issue 15). Run from the recordings (no QEMU started),
in a folder holding the oracle's images, through the CLI's own main()."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import qdrive
from qdrive import cli

from . import compare, corpus, oracle

P = "qemu-system-x86_64"


@pytest.fixture(scope="module")
def where() -> Iterator[Path]:
    with oracle.image_dir("qdrive-exit-codes-") as folder, compare.in_dir(folder):
        yield folder


def _rows(name: str) -> list[dict[str, Any]]:
    return [r for r in corpus.rows(name, "7.2") if not r.get("timeout")]


def _exit_code(where: Path, row: dict[str, Any]) -> int:
    with oracle.case_files(where, row.get("files", {})), \
            contextlib.redirect_stdout(io.StringIO()):
        return cli.main(["check", "--argv", "--", P, *row["argv"]])


def _disagreeing(where: Path, name: str) -> tuple[int, list[str], list[str]]:
    """(rows, ids whose exit code is not QEMU's, ids whose check_argv verdict is not)."""
    rows = _rows(name)
    by_exit, by_verdict = [], []
    for row in rows:
        want = 0 if row["accepted"] else 1
        if _exit_code(where, row) != want:
            by_exit.append(row["id"])
        with oracle.case_files(where, row.get("files", {})):
            if qdrive.check_argv(row["argv"]).ok is not bool(row["accepted"]):
                by_verdict.append(row["id"])
    return len(rows), by_exit, by_verdict


def test_every_rule_case_exits_as_qemu_did(where: Path) -> None:
    count, by_exit, by_verdict = _disagreeing(where, "cmdline-rules")
    assert count >= 290
    assert by_exit == [] and by_verdict == []


@pytest.mark.parametrize("name", ["harvest-cmdlines", "harvest-hv4-cmdlines",
                                  "harvest-hv5-cmdlines", "generated-cmdlines",
                                  "fuzz-found-argv"])
def test_harvest_exit_codes_follow_the_verdicts(where: Path, name: str) -> None:
    # the exit code is the verdict: it disagrees with QEMU on exactly the rows whose
    # accept/reject does (those the report counts), and on few of them
    count, by_exit, by_verdict = _disagreeing(where, name)
    assert count >= 50
    assert by_exit == by_verdict
    assert len(by_exit) <= count // 10
