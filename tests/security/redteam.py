"""The attack run: every candidate judged by the policy, every accepted one started in QEMU.

An accepted candidate is started twice under strace (:mod:`tests.security.harness`):
as a launcher that passes the checked *names* would start it (working directory the
allowed directory, TMPDIR the overlay directory), and through the descriptor hand-off
(an empty working directory outside, the descriptors passed with pass_fds). Either run
opening anything outside, connecting, listening or running a program is a confirmed
bypass. ``python -m tests.security.redteam [--full] [--workers N]`` prints the table
(``make redteam``); the test suite runs the same with the corpus sampled.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs

import qdrive
from qdrive.frontend.argv import check_argv, read_argv
from tests.security import harness
from tests.security.attacks import CLASSES, Candidate, Lab, all_candidates


@attrs.define
class Outcome:
    """What happened to one candidate."""

    candidate: Candidate
    accepted: bool
    refusal: str = ""
    runs: list[harness.Run] = attrs.Factory(list)

    @property
    def violations(self) -> list[str]:
        return [v for r in self.runs for v in r.violations]


def _check(lab: Lab, c: Candidate, hand_off: bool | str = False) -> qdrive.CheckResult:
    policy = lab.policy(c.policy)
    if c.argv is not None:
        return check_argv(c.argv, policy=policy, hand_off=hand_off)
    return qdrive.check(list(c.drives), policy=policy, hand_off=hand_off)


def judge(lab: Lab, c: Candidate) -> Outcome:
    """The policy's verdict (nothing is started)."""
    result = _check(lab, c)
    if result.ok:
        return Outcome(c, True)
    first = result.first_error
    return Outcome(c, False, first[1].message if first else "refused")


def _words(c: Candidate) -> list[str]:
    if c.argv is None:
        return [w for d in c.drives for w in ("-drive", d)]
    cmd = read_argv(c.argv)
    return [w for o in cmd.options for w in o.words()]


def _allowed(lab: Lab, c: Candidate) -> tuple[list[str], list[str]]:
    allowed = [str(lab.images)]
    writable: list[str] = []
    if c.policy == "overlay":
        allowed.append(str(lab.overlay))
        writable.append(str(lab.overlay))
    if c.policy == "devices":
        allowed += lab.devices[:1]
    return allowed, writable


def launch(lab: Lab, c: Candidate, modes: Sequence[str] = ("fdset", "proc")
           ) -> list[harness.Run]:
    """Start an accepted candidate by name and through the hand-off (each mode)."""
    allowed, writable = _allowed(lab, c)
    env = {"TMPDIR": str(lab.overlay)} if c.policy == "overlay" else {}
    base = harness.BASE if c.argv is None else harness.ARGV_BASE
    runs = [harness.run(_words(c), lab.images, allowed, writable=writable, env=env, base=base)]
    for mode in modes:
        result = _check(lab, c, hand_off=mode)
        if result.hand_off is None:  # the hand-off refuses what no option can redirect
            continue
        with result.hand_off as h:
            runs.append(harness.run(list(h.argv), lab.elsewhere, allowed, writable=writable,
                                    pass_fds=h.pass_fds, env=dict(h.env), base=base))
    return runs


@attrs.define
class Report:
    outcomes: list[Outcome]

    def table(self) -> list[tuple[str, int, int, int, int, int, int]]:
        """(class, tried, refused, accepted, QEMU runs, QEMU started, bypasses)."""
        rows = []
        for cls in CLASSES:
            mine = [o for o in self.outcomes if o.candidate.cls == cls]
            if not mine:
                continue
            runs = [r for o in mine for r in o.runs]
            rows.append((cls, len(mine), sum(not o.accepted for o in mine),
                         sum(o.accepted for o in mine), len(runs), sum(r.accepted for r in runs),
                         sum(bool(o.violations) for o in mine)))
        return rows

    def render(self) -> str:
        head = ("class", "tried", "refused", "accepted", "QEMU runs", "QEMU started",
                "bypasses")
        rows = [head] + [tuple(str(v) for v in row) for row in self.table()]
        total = [sum(r[i] for r in self.table()) for i in range(1, 7)]
        rows.append(("total", *(str(t) for t in total)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True))
                         for r in rows)

    def bypasses(self) -> list[str]:
        return [f"[{o.candidate.cls}] {o.candidate.label}: {v}" for o in self.outcomes
                for v in o.violations]

    def mismatches(self) -> list[str]:
        out = []
        for o in self.outcomes:
            want = o.candidate.expect
            if want == "accept" and not o.accepted:
                out.append(f"[{o.candidate.cls}] {o.candidate.label}: refused: {o.refusal}")
            elif want == "refuse" and o.accepted:
                out.append(f"[{o.candidate.cls}] {o.candidate.label}: accepted")
        return out


def run(labs: Sequence[Lab], *, corpus_sample: int | None = 40,
        classes: Sequence[str] = CLASSES) -> Report:
    """Judge every candidate; start the accepted ones (corpus: a sample, unless None).

    QEMU runs go in parallel, one worker per lab: the labs are identical copies, so no
    two QEMUs ever lock the same image at once (a lock failure would stop QEMU before
    it opens the rest of a command line, and hide what it would have opened).
    """
    per_lab = [[c for c in all_candidates(lab) if c.cls in classes] for lab in labs]
    outcomes = [judge(labs[0], c) for c in per_lab[0]]
    chosen = [n for n, o in enumerate(outcomes) if o.accepted and o.candidate.cls != "corpus"]
    corpus = [n for n, o in enumerate(outcomes) if o.accepted and o.candidate.cls == "corpus"]
    if corpus_sample is not None and len(corpus) > corpus_sample:
        corpus = sorted(random.Random(12).sample(corpus, corpus_sample))
    work: queue.SimpleQueue[int] = queue.SimpleQueue()
    for n in chosen + corpus:
        work.put(n)

    def worker(k: int) -> None:
        while True:
            try:
                n = work.get_nowait()
            except queue.Empty:
                return
            outcomes[n].runs = launch(labs[k], per_lab[k][n])

    with ThreadPoolExecutor(max_workers=len(labs)) as pool:
        for done in [pool.submit(worker, k) for k in range(len(labs))]:
            done.result()
    return Report(outcomes)


def _loop(backing: Path) -> str:
    with open(backing, "wb") as f:
        f.truncate(4 << 20)
    return subprocess.run(["losetup", "--find", "--show", str(backing)], capture_output=True,
                          text=True, check=True).stdout.strip()


def can_loop() -> bool:
    return os.geteuid() == 0 and shutil.which("losetup") is not None and \
        os.path.exists("/dev/loop-control")


@contextlib.contextmanager
def loop_devices(labs: Sequence[Lab]) -> Iterator[None]:
    """Two loop devices per lab (the device class), detached afterwards; none if not root."""
    made: list[str] = []
    try:
        for lab in labs:
            if can_loop():
                lab.devices = [_loop(lab.root / "dev-a.raw"), _loop(lab.root / "dev-b.raw")]
                made += lab.devices
                os.symlink(lab.devices[1], lab.images / "dev-link.img")
        yield
    finally:
        for dev in made:
            subprocess.run(["losetup", "-d", dev], check=False)


def build_labs(root: Path, count: int) -> list[Lab]:
    """``count`` identical labs below ``root`` (built in parallel)."""
    labs = [Lab(root / f"lab{k}") for k in range(count)]
    with ThreadPoolExecutor(max_workers=count) as pool:
        for done in [pool.submit(lab.build) for lab in labs]:
            done.result()
    return labs


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="run every accepted corpus case too")
    p.add_argument("--workers", type=int, default=3)
    args = p.parse_args(argv)
    why = harness.have_tools()
    if why:
        print(f"redteam: {why}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="qdrive-lab-") as tmp:
        labs = build_labs(Path(tmp), args.workers)
        with loop_devices(labs):
            report = run(labs, corpus_sample=None if args.full else 40)
    print(report.render())
    counts = Counter(o.candidate.cls for o in report.outcomes if not o.accepted)
    print(f"\nrefused per class: {dict(counts)}")
    for line in report.mismatches():
        print(f"expectation: {line}")
    for line in report.bypasses():
        print(f"BYPASS: {line}")
    print(f"\nconfirmed bypasses: {len(report.bypasses())}")
    return 1 if report.bypasses() or report.mismatches() else 0


if __name__ == "__main__":
    sys.exit(main())
