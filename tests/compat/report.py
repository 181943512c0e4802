"""`make compat`: the agreement table between qdrive and the recorded QEMU verdicts."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from . import compare, oracle


def main() -> int:
    meta, rows = compare.load()
    rows += compare.load_found()
    with tempfile.TemporaryDirectory(prefix="qdrive-compat-") as tmp:
        oracle.make_images(Path(tmp))
        with compare.in_dir(Path(tmp)):
            diffs = compare.differences(rows)
    print(f"oracle: {meta['qemu']}")
    print(f"{'category':<28}{'cases':>7}{'agree':>8}{'%':>8}")
    for name in compare.CATEGORIES:
        n = len(rows) if name != "facts" else sum(1 for r in rows if r["accepted"])
        bad = sum(1 for _, _, cats in diffs if name in cats)
        label = {"message": "message text (exact)", "facts": "query-block facts (accepted)"
                 }.get(name, name)
        print(f"{label:<28}{n:>7}{n - bad:>8}{100 * (n - bad) / n:>8.1f}")
    translated = [r for r in rows if "blockdev" in r]
    same = sum(1 for r in translated if r["blockdev"]["accepted"]
               and compare.same_facts(r["devices"], r["blockdev"]["devices"]))
    label = "-blockdev translation facts"
    print(f"{label:<28}{len(translated):>7}{same:>8}{100 * same / max(len(translated), 1):>8.1f}")
    for want, got, _ in diffs[: int(sys.argv[1]) if len(sys.argv) > 1 else 20]:
        print("\nCASE:", compare.key(want))
        print("  QEMU  :", want["accepted"], repr(want["stderr"]))
        print("  qdrive:", got["accepted"], repr(got["stderr"]))
    return 0 if not diffs else 1


if __name__ == "__main__":
    raise SystemExit(main())
