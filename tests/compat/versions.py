"""Where two QEMU versions' recordings part: QEMU against QEMU, no qdrive.

    python -m tests.compat.versions [--base 7.2] [--other 10.0 ...] [--show N]

For every corpus recorded by both versions, the cases whose verdict, message or facts
differ (the same measures as `make compat`, :data:`compare.NOISE` aside, and the board's
versioned machine name ``pc-i440fx-7.2`` read as ``pc-i440fx-N``), per corpus and per
category, then the first N differing cases. This is what a dialect has to model. Only
the tuning slice of 10.0 and 11.1 is read unless ``--part`` says otherwise (the
held-back slice is scored once, see corpus.HELDBACK_VERSIONS).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from typing import Any

from . import compare, corpus, oracle, scoring

MACHINE = re.compile(r"pc-(i440fx|q35)-\d+\.\d+")


def _verdict(row: Mapping[str, Any]) -> dict[str, Any]:
    v = compare.verdict(dict(row))
    v["stderr"] = MACHINE.sub(r"pc-\1-N", str(v["stderr"]))
    return v


def _identity(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (row.get("state"), *corpus.key(row))


def pairs(name: str, base: str, other: str, part: str = "tuning"
          ) -> list[tuple[Mapping[str, Any], Mapping[str, Any], list[str]]]:
    """(base row, other row, measures they part on) for each case both versions recorded
    (none when a version has no recording of the corpus; QEMU timeouts left out)."""
    paths = [corpus.corpus(name).recording(v) for v in (base, other)]
    if not all(p.exists() for p in paths):
        return []
    theirs = {_identity(r): r for r in corpus.rows(name, other, part)}
    out = []
    for row in corpus.rows(name, base):
        twin = theirs.get(_identity(row))
        if twin is None or row.get("timeout") or twin.get("timeout"):
            continue
        out.append((row, twin, compare.disagreements(_verdict(row), _verdict(twin))))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="7.2")
    ap.add_argument("--other", nargs="*", default=None)
    ap.add_argument("--show", type=int, default=10)
    ap.add_argument("--part", choices=corpus.PARTS, default="tuning",
                    help="the newer version's rows: the tuning slice (default), the held-"
                    "back slice, or all (see corpus.HELDBACK_VERSIONS)")
    args = ap.parse_args(argv)
    others = args.other or [v for v in oracle.QEMUS if v != args.base]
    for other in others:
        per_corpus: dict[str, scoring.Tally] = {}
        per_category: dict[str, scoring.Tally] = {}
        shown = []
        for c in corpus.CORPORA:
            if args.base not in c.versions or other not in c.versions:
                continue
            found = pairs(c.name, args.base, other, args.part)
            for row, _, bad in found:
                for table, key in ((per_corpus, c.name), (per_category, row["category"])):
                    for name in (key, "all"):
                        table.setdefault(name, scoring.Tally()).add(_verdict(row), bad)
            shown += [p for p in found if p[2]][: args.show]
        print(f"\nQEMU {args.base} against QEMU {other}: cases agreeing")
        print("\n".join(scoring.render("corpus file", per_corpus)))
        print()
        print("\n".join(scoring.render("category", {k: t for k, t in per_category.items()
                                                    if k == "all" or _any_bad(t)})))
        for row, twin, bad in shown[: args.show]:
            print(f"\n{row['category']} {compare.key(dict(row))}: {', '.join(bad)}")
            print(f"  {args.base}:", row["accepted"], repr(row["stderr"][-300:]))
            print(f"  {other}:", twin["accepted"], repr(twin["stderr"][-300:]))
    return 0


def _any_bad(t: scoring.Tally) -> bool:
    return any(t.agree[m] != t.total[m] for m in scoring.MEASURES)


if __name__ == "__main__":
    raise SystemExit(main())
