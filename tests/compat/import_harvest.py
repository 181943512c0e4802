"""Bring the harvest (-drive strings and command lines from public projects) into fixtures/.

    python -m tests.compat.import_harvest [--from /work/harvest] [--to fixtures/harvest]

The harvest was collected and normalised by its own scripts (kept with it, see its
README); this copies its items unchanged, provenance included (``source``: repository,
path, commit, line; ``original``: the text as found; ``notes``), and adds two fields:
``category`` (tests/compat/corpus.py's classes) and, for command lines, nothing else:
``arch`` already says which can run under qemu-system-x86_64 (only those are
recorded; the others stay for parser tests). SOURCES.md and images.md are copied
beside them. The held-back part of the harvest is never read here.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from . import corpus

HARVEST = Path("/work/harvest")
OUT = corpus.FIXTURES / "harvest"
FILES = ("drives.jsonl", "cmdlines.jsonl")
DOCS = ("SOURCES.md", "images.md")


def import_harvest(src: Path, dst: Path) -> dict[str, int]:
    counts = {}
    for name in FILES:
        _, rows = corpus.read(src / name)
        if not rows:
            raise SystemExit(f"{src / name} holds no items")
        out = [{**row, "category": corpus.category(row)} for row in rows]
        counts[name] = corpus.write(dst / name, None, out)
    for name in DOCS:
        shutil.copyfile(src / name, dst / name)
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="src", type=Path, default=HARVEST)
    ap.add_argument("--to", dest="dst", type=Path, default=OUT)
    args = ap.parse_args()
    for name, n in import_harvest(args.src, args.dst).items():
        print(f"{args.dst / name}: {n} items")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
