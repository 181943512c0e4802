"""`make compat`: qdrive against every recorded corpus, per category and per source.

    python -m tests.compat.report [--dialect qemu-7.2] [--corpus NAME ...] [--show N]

Reads the recordings of the dialect's QEMU (fixtures/qemu72/ for qemu-7.2, ...) and
asks qdrive about each row, without starting QEMU (for 10.0 and 11.1 the rows of the
tuning slice unless ``--part`` says otherwise, see corpus.HELDBACK_VERSIONS). Prints one
table per corpus file, then the agreement per category and per source over all of them
(accept/reject, exact message, query-block facts, query-named-block-nodes facts), the
-blockdev translation line of the original corpus, and the first N disagreements
(``--show``, 20 by default).
The network drives connect where QEMU's would (qdrive.check(probe_network=True)): the
recordings were made on this host with nothing listening; ``--no-probe-network``
scores the string-only verdicts (the line "network probed: yes|no" says which).
Host-state cases need their host state built: `python -m tests.compat.hoststate
--compare` scores those.

Rows whose id is in a held-back case file (``--held-back``, by default every file under
/work/heldback/harvest/ when that folder exists) are left out, so that a part of the
harvest split off for the one scoring at the end (`make heldback`) stays unseen here
while its copy in fixtures/ still serves the tests.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import qdrive

from . import compare, corpus, oracle, scoring

DEFAULT_DIALECT = "qemu-7.2"
SKIP = ("hoststate",)  # scored live, see the module docstring
HELD_BACK = Path("/work/heldback/harvest")


def held_back_ids(paths: Sequence[Path]) -> set[str]:
    """The ids of every case in the held-back case files (folders: their *.jsonl)."""
    files = [f for p in paths for f in (sorted(p.glob("*.jsonl")) if p.is_dir() else [p])]
    return {str(r["id"]) for f in files if f.exists() for r in corpus.read(f)[1] if "id" in r}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dialect", default=DEFAULT_DIALECT)
    ap.add_argument("--corpus", nargs="*", default=None)
    ap.add_argument("--show", type=int, default=20, help="disagreements to print")
    ap.add_argument("--part", choices=corpus.PARTS, default="tuning",
                    help="for 10.0 and 11.1: the tuning slice (default), the held-back "
                    "slice (score it once, with --show 0), or all")
    ap.add_argument("--recording", default=None, metavar="VERSION",
                    help="score against another QEMU's recordings (default: the dialect's "
                    "own, e.g. 10.0 for qemu-10.0): what a dialect misses on another QEMU")
    ap.add_argument("--no-probe-network", dest="probe_network", action="store_false",
                    help="score without connecting where the network drives would (the "
                    "recordings were made on this host with nothing listening, so "
                    "probing is on by default)")
    ap.add_argument("--held-back", nargs="*", type=Path,
                    default=[HELD_BACK] if HELD_BACK.is_dir() else [],
                    help="case files (or folders of them) whose ids are left out")
    args = ap.parse_args(argv)
    hidden = held_back_ids(args.held_back)
    version = args.recording or args.dialect.removeprefix("qemu-")
    try:
        qemu = oracle.qemu(version)
        qdrive.check([], dialect=args.dialect)
    except (ValueError, qdrive.UnsupportedDialect) as e:
        print(f"make compat: {e}", file=sys.stderr)
        return 2
    names = args.corpus or [c.name for c in corpus.CORPORA if c.name not in SKIP]
    results: list[tuple[scoring.Scored | str, Mapping[str, Any]]] = []
    per_corpus: dict[str, scoring.Tally] = {}
    header = None
    with oracle.image_dir("qdrive-compat-") as where:
        has_dev = (where / oracle.DEV).exists()
        for name in names:
            c = corpus.corpus(name)
            path = c.recording(version)
            if version not in c.versions or not path.exists():
                continue
            header = header or corpus.read(path)[0]
            rows = [r for r in corpus.rows(name, version, args.part)
                    if str(r.get("id")) not in hidden]
            scored = list(zip(scoring.score(rows, where, args.dialect, has_dev,
                                            args.probe_network), rows, strict=True))
            results += scored
            if scored:  # a corpus whose rows are all held back has no line of its own
                per_corpus[name] = scoring.tally(scored, lambda r: "-")["all"]
    print(f"oracle: {(header or {}).get('qemu', qemu.binary)}; qdrive dialect {args.dialect}; "
          f"rows: {args.part}")
    print(f"network probed: {'yes' if args.probe_network else 'no'}")
    if hidden:
        print(f"left out: {len(hidden)} held-back case ids ({', '.join(map(str, args.held_back))})")
    if not results:
        print("nothing to score: every row of these corpora is held back (--held-back)")
        return 0
    per_corpus["all"] = scoring.tally(results, lambda r: "-")["all"]
    for title, tallies in (("corpus file", per_corpus),
                           ("category", scoring.tally(results, lambda r: r["category"])),
                           ("source", scoring.tally(results, lambda r: r["source"]))):
        print()
        print("\n".join(scoring.render(title, tallies)))
    if "verdicts" in names and version == "7.2":
        _translation(per_corpus)
    shown = [r for r, _ in results if isinstance(r, scoring.Scored) and r.bad]
    for s in shown[: args.show]:
        print("\nCASE:", s.row.get("id", ""), s.row["category"], compare.key(dict(s.row)))
        print("  QEMU  :", s.want["accepted"], repr(s.want["stderr"]))
        print("  qdrive:", s.got["accepted"], repr(s.got["stderr"]))
    return 0


def _translation(per_corpus: Mapping[str, scoring.Tally]) -> None:
    """The original corpus's -blockdev translations: QEMU's facts for both spellings."""
    _, rows = compare.load()
    translated = [r for r in rows if "blockdev" in r]
    same = sum(1 for r in translated if r["blockdev"]["accepted"]
               and compare.same_facts(r["devices"], r["blockdev"]["devices"]))
    print(f"\n-blockdev translation facts (verdicts): {same}/{len(translated)} "
          f"{100 * same / max(len(translated), 1):.1f}%")


if __name__ == "__main__":
    raise SystemExit(main())
