"""qdrive's agreement with recorded QEMU verdicts, counted per category and per source.

Shared by `make compat` (tests/compat/report.py, the corpora in fixtures/) and
`make heldback` (tests/compat/score_heldback.py, the batches kept outside the
repository). Everything runs from recordings: qdrive is asked in a folder holding the
oracle's images (``DEV`` a loop device when root), QEMU is not started.

Four measures, each over the rows it applies to:

* accept/reject: qdrive's ``ok`` equals QEMU's verdict (every row);
* message: qdrive's ``qemu_stderr()`` equals QEMU's stderr exactly (every row);
* facts: the query-block facts (rows QEMU accepted);
* node facts: the query-named-block-nodes facts (accepted rows recorded with nodes).

Rows on which QEMU neither exited nor answered in time (``timeout``) are not scored;
they are counted apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import compare, corpus, oracle

MEASURES = ("accept/reject", "message", "facts", "node facts")


@dataclass
class Tally:
    """Agreement counts of one group of rows."""

    cases: int = 0
    timeouts: int = 0
    skipped: int = 0  # rows that cannot be asked here (DEV without root)
    total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MEASURES, 0))
    agree: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MEASURES, 0))

    def add(self, want: Mapping[str, Any], bad: list[str]) -> None:
        self.cases += 1
        applies = {"accept/reject": True, "message": True, "facts": bool(want["accepted"]),
                   "node facts": bool(want["accepted"]) and "nodes" in want}
        for m in MEASURES:
            if applies[m]:
                self.total[m] += 1
                self.agree[m] += m not in bad


@dataclass(frozen=True)
class Scored:
    """One row, QEMU's verdict, qdrive's, and the measures they disagree on."""

    row: Mapping[str, Any]
    want: Mapping[str, Any]
    got: Mapping[str, Any]
    bad: list[str]


def score(rows: Iterable[Mapping[str, Any]], where: Path, dialect: str | None,
          has_dev: bool, probe_network: bool = False) -> Iterator[Scored | str]:
    """Each row scored (a Scored), or the reason it is not ("timeout", "skipped");
    ``probe_network`` lets the network drives connect (qdrive.check(probe_network=))."""
    with compare.in_dir(where):
        for row in rows:
            if row.get("timeout"):
                yield "timeout"
                continue
            case = corpus.as_case(row)
            if case is None or (not has_dev and oracle.DEV in _text(case)):
                yield "skipped"
                continue
            with oracle.case_files(where, case.get("files", {})):
                got = compare.ours_safely(case, dialect, probe_network)
            want = compare.verdict(dict(row))
            yield Scored(row, want, got, compare.disagreements(want, got))


def _text(case: Mapping[str, Any]) -> str:
    return " ".join(case.get("drives") or case.get("argv") or ())


def tally(results: Iterable[tuple[Scored | str, Mapping[str, Any]]],
          group: Callable[[Mapping[str, Any]], str]) -> dict[str, Tally]:
    """Results counted per group (``group(row)``) and in an ``all`` line."""
    out: dict[str, Tally] = {}
    for result, row in results:
        for name in (group(row), "all"):
            t = out.setdefault(name, Tally())
            if result == "timeout":
                t.timeouts += 1
            elif result == "skipped":
                t.skipped += 1
            else:
                assert isinstance(result, Scored)
                t.add(result.want, result.bad)
    return out


def render(title: str, tallies: Mapping[str, Tally]) -> list[str]:
    """One table: a line per group, ``all`` last."""
    head = f"{title:<34}{'cases':>6}" + "".join(f"{m:>20}" for m in MEASURES) + (
        f"{'timeouts':>10}{'skipped':>9}")
    lines = [head, "-" * len(head)]
    for name in sorted(tallies, key=lambda n: (n == "all", n)):
        t = tallies[name]
        cells = "".join(f"{_cell(t.agree[m], t.total[m]):>20}" for m in MEASURES)
        lines.append(f"{name:<34}{t.cases:>6}{cells}{t.timeouts:>10}{t.skipped:>9}")
    return lines


def _cell(agree: int, total: int) -> str:
    if total == 0:
        return "-"
    return f"{agree}/{total} {100 * agree / total:5.1f}%"
