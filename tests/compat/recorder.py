"""Record one QEMU version's verdicts on corpus files: `make record VERSION=...` runs this.

    python -m tests.compat.recorder --version 10.0 [--corpus NAME ...] [--jobs 3]
    python -m tests.compat.recorder --version 7.2 --cases FILE ... --out DIR [--quiet]

With ``--corpus`` (default: every corpus of tests/compat/corpus.py that has a case file,
plus ``verdicts`` for 10.0 and 11.1), each corpus is recorded into the version's folder
(fixtures/qemu72/generated-singles.jsonl ...). With ``--cases`` any case files are
recorded into ``--out`` under their own names; that is how the held-back batches are
recorded outside the repository (/work/heldback/...): ``--quiet`` then prints counts
only, never a case or a verdict.

Each worker has its own image folder (parallel QEMUs must not share images, or their
image locks would collide) with ``DEV`` a loop device of its own when root. The
recording's header says which QEMU, how many cases, how many QEMU did not answer in
time and how long the run took. Nothing here imports qdrive: a recording is QEMU's
word only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import corpus, oracle

# fields of a case row carried into its recording (provenance stays in the case file)
KEEP = ("id", "category", "project", "drives", "argv", "files")


def case_rows(rows: Iterable[Mapping[str, Any]], default_source: str
              ) -> tuple[list[dict[str, Any]], int]:
    """The rows the oracle can run, in recording shape, and how many were not runnable."""
    out, skipped = [], 0
    for row in rows:
        case = corpus.as_case(row)
        if case is None:
            skipped += 1
            continue
        kept = {k: row[k] for k in KEEP if k in row and k not in case}
        if default_source == "harvest":
            kept["project"] = corpus.project(row)
        out.append({**kept, **case})
    return out, skipped


class Recorder:
    """Runs cases through one QEMU with a pool of workers, each in its own image folder."""

    def __init__(self, qemu: oracle.Qemu, jobs: int, timeout: float, quiet: bool) -> None:
        self.qemu, self.jobs, self.timeout, self.quiet = qemu, jobs, timeout, quiet
        self.local = threading.local()
        self.lock = threading.Lock()
        self.stack = contextlib.ExitStack()
        self.restored = 0  # images a case changed (put back before the next case)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()  # every image folder and loop device

    def _where(self) -> Path:
        if not hasattr(self.local, "where"):
            with self.lock:
                self.local.where = self.stack.enter_context(oracle.image_dir())
            self.local.state = oracle.image_state(self.local.where)
        return self.local.where

    def run(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """One case in this worker's folder; images it changed are put back after."""
        where = self._where()
        if oracle.DEV in json.dumps(row) and not (where / oracle.DEV).exists():
            # without root DEV is no block device: QEMU's verdict would be about a
            # missing file, not about the host device the item names
            return {"accepted": False, "stderr": "", "skipped": "DEV needs root"}
        try:
            return oracle.run(row, where, timeout=self.timeout, qemu=self.qemu)
        finally:
            changed = oracle.restore_images(where, self.local.state)
            with self.lock:
                self.restored += len(changed)

    def record(self, rows: Sequence[dict[str, Any]], label: str) -> list[dict[str, Any]]:
        done = 0
        step = max(len(rows) // 10, 1)

        def one(row: dict[str, Any]) -> dict[str, Any]:
            nonlocal done
            verdict = self.run(row)
            with self.lock:
                done += 1
                if done % step == 0 or done == len(rows):
                    print(f"  {label}: {done}/{len(rows)}", file=sys.stderr, flush=True)
            return {**row, **verdict}

        with ThreadPoolExecutor(self.jobs) as pool:
            return list(pool.map(one, rows))


def record_file(rec: Recorder, cases: Path, out: Path, default_source: str,
                label: str | None = None) -> dict[str, Any]:
    """Record one case file into ``out``; the summary written as its header."""
    header, rows = corpus.read(cases)
    todo, skipped = case_rows(rows, default_source)
    rec.restored = 0
    start = time.monotonic()
    everything = rec.record(todo, out.name)
    recorded = [r for r in everything if not r.get("skipped")]
    seconds = round(time.monotonic() - start, 1)
    summary = {
        "qemu": rec.qemu.version_line, "version": rec.qemu.version, "cases": len(recorded),
        "skipped": [[r.get("id"), r["skipped"]] for r in everything if r.get("skipped")],
        "not_runnable": skipped, "accepted": sum(1 for r in recorded if r["accepted"]),
        "timeouts": sum(1 for r in recorded if r.get("timeout")), "seconds": seconds,
        "jobs": rec.jobs, "images_restored": rec.restored, "from": label or _relative(cases),
        "from_header": {k: v for k, v in (header or {}).items() if k != "categories"},
    }
    corpus.write(out, summary, recorded)
    return summary


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(oracle.REPO))
    except ValueError:
        return str(path)


def verdicts_cases() -> list[dict[str, Any]]:
    """The original corpus (fixtures/corpus/cases.jsonl), as recorded by `make oracle`."""
    from . import cases

    return [dict(c) for c in cases.all_cases()]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", default="7.2", choices=list(oracle.QEMUS))
    ap.add_argument("--corpus", nargs="*", default=None, help="corpus names (default: all)")
    ap.add_argument("--cases", type=Path, nargs="*", default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--source", default="generated",
                    help="with --cases: 'harvest' for harvest files (rows get their project)")
    ap.add_argument("--jobs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--quiet", action="store_true", help="print counts only")
    args = ap.parse_args(argv)
    qemu = oracle.qemu(args.version)
    if not oracle.have_qemu(args.version):
        print(f"{qemu.binary} (or qemu-img) is not installed; for 10.0 and 11.1 run "
              "../shared/tools/qemu-chroot trixie|sid as root", file=sys.stderr)
        return 2
    with Recorder(qemu, args.jobs, args.timeout, args.quiet) as rec:
        if args.cases is not None:
            if args.out is None:
                ap.error("--cases needs --out")
            for path in args.cases:
                _report(record_file(rec, path, args.out / path.name, args.source), args.quiet)
            return 0
        names = args.corpus or [c.name for c in corpus.CORPORA if c.cases is not None
                                and c.name != "hoststate"] + (
            ["verdicts"] if args.version != "7.2" else [])
        for name in names:
            _report(record_corpus(rec, name), args.quiet)
    return 0


def record_corpus(rec: Recorder, name: str) -> dict[str, Any]:
    c = corpus.corpus(name)
    out = c.recording(rec.qemu.version)
    if c.cases is not None:
        return record_file(rec, c.cases, out, c.source)
    if name != "verdicts":
        raise SystemExit(f"{name} has no case file to record")
    tmp = out.with_suffix(".cases.tmp")
    corpus.write(tmp, {"from": "fixtures/corpus/cases.jsonl"}, verdicts_cases())
    try:
        summary = record_file(rec, tmp, out, c.source, "fixtures/corpus/cases.jsonl")
    finally:
        tmp.unlink()
    return summary


def _report(summary: Mapping[str, Any], quiet: bool) -> None:
    print(f"{summary['from']}: {summary['cases']} cases recorded with QEMU "
          f"{summary['version']} in {summary['seconds']} s ({summary['accepted']} accepted, "
          f"{summary['timeouts']} timeouts, {summary['not_runnable']} not runnable here)")


if __name__ == "__main__":
    raise SystemExit(main())
