"""`make heldback`: score qdrive once on the batches held back outside the repository.

    python -m tests.compat.score_heldback [--dialect qemu-7.2] [--root /work/heldback]

The held-back batches were generated (tests/compat/generate.py, a seed drawn for the
purpose) and split from the harvest before anyone changed qdrive's behaviour, and
recorded with every QEMU (tests/compat/recorder.py):

    ROOT/generated/cases-singles.jsonl, cases-cmdlines.jsonl      the generated cases
    ROOT/generated/qemu72/, qemu100/, qemu111/                    their recordings
    ROOT/harvest/drives.jsonl, cmdlines.jsonl                     the held-back harvest
    ROOT/harvest-recorded/qemu72/, qemu100/, qemu111/             its recordings

This prints agreement tables only (per batch file, per category, per source: accept/
reject, exact message, facts, node facts), never a case, a message or a verdict: the
batches stay unseen until the one scoring at the end. ``--dialect`` chooses the
recordings (qemu-7.2 reads qemu72/) and the dialect qdrive is asked in; qdrive knows
only qemu-7.2 today, so another dialect stops with qdrive's own message.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import qdrive

from . import corpus, oracle, scoring

ROOT = Path("/work/heldback")
BATCHES = (("generated", "generated (held back)"), ("harvest-recorded", "harvest"))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dialect", default="qemu-7.2")
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--no-probe-network", dest="probe_network", action="store_false",
                    help="score without connecting where the network drives would (as "
                    "tests/compat/report.py; the batches were recorded with nothing listening)")
    args = ap.parse_args(argv)
    version = args.dialect.removeprefix("qemu-")
    try:
        folder = oracle.qemu(version).fixtures.name  # qemu72 ...
        qdrive.check([], dialect=args.dialect)
    except (ValueError, qdrive.UnsupportedDialect) as e:
        print(f"make heldback: {e}", file=sys.stderr)
        return 2
    files = [(path, label) for sub, label in BATCHES
             for path in sorted((args.root / sub / folder).glob("*.jsonl"))]
    if not files:
        print(f"make heldback: no recordings under {args.root}/*/{folder}", file=sys.stderr)
        return 2
    results: list[tuple[scoring.Scored | str, Mapping[str, Any]]] = []
    per_file: dict[str, scoring.Tally] = {}
    qemu_line = ""
    with oracle.image_dir("qdrive-heldback-") as where:
        has_dev = (where / oracle.DEV).exists()
        for path, label in files:
            header, recorded = corpus.read(path)
            qemu_line = (header or {}).get("qemu", qemu_line)
            rows = [{**r, "category": corpus.category(r),
                     "source": corpus.source(r, "harvest") if label == "harvest" else label}
                    for r in recorded]
            got = scoring.score(rows, where, args.dialect, has_dev, args.probe_network)
            scored = list(zip(got, rows, strict=True))
            results += scored
            per_file[f"{path.parent.parent.name}/{path.name}"] = scoring.tally(
                scored, lambda r: "-")["all"]
    print(f"held-back batches, oracle: {qemu_line}; qdrive dialect {args.dialect}; "
          f"network probed: {'yes' if args.probe_network else 'no'}")
    per_file["all"] = scoring.tally(results, lambda r: "-")["all"]
    for title, tallies in (("batch file", per_file),
                           ("category", scoring.tally(results, lambda r: r["category"])),
                           ("source", scoring.tally(results, lambda r: r["source"]))):
        print()
        print("\n".join(scoring.render(title, tallies)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
