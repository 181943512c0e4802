"""`make compat`: qdrive against every recorded corpus, per category and per source.

    python -m tests.compat.report [--dialect qemu-7.2] [--corpus NAME ...] [--show N]

Reads the recordings of the dialect's QEMU (fixtures/qemu72/ for qemu-7.2, ...) and
asks qdrive about each row, without starting QEMU (for 10.0 and 11.1 the rows of the
tuning slice unless ``--part`` says otherwise, see corpus.HELDBACK_VERSIONS). Prints one
table per corpus file, then the agreement per category and per source over all of them
(accept/reject, exact message, query-block facts, query-named-block-nodes facts), the
-blockdev translation line of the original corpus, and the first N disagreements
(``--show``, 20 by default).
Host-state cases need their host state built: `python -m tests.compat.hoststate
--compare` scores those.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import qdrive

from . import compare, corpus, oracle, scoring

DEFAULT_DIALECT = "qemu-7.2"
SKIP = ("hoststate",)  # scored live, see the module docstring


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
    args = ap.parse_args(argv)
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
            rows = list(corpus.rows(name, version, args.part))
            scored = list(zip(scoring.score(rows, where, args.dialect, has_dev), rows,
                              strict=True))
            results += scored
            per_corpus[name] = scoring.tally(scored, lambda r: "-")["all"]
    print(f"oracle: {(header or {}).get('qemu', qemu.binary)}; qdrive dialect {args.dialect}; "
          f"rows: {args.part}")
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
