"""`make compat`: the agreement table between qdrive and the recorded QEMU verdicts."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from . import compare, oracle


def main() -> int:
    meta, rows = compare.load()
    with tempfile.TemporaryDirectory(prefix="qdrive-compat-") as tmp:
        oracle.make_images(Path(tmp))
        with compare.in_dir(Path(tmp)):
            diffs = compare.differences(rows)
    n = len(rows)
    verdict = sum(1 for w, g in diffs if w["accepted"] != g["accepted"])
    text = len(diffs)
    print(f"oracle: {meta['qemu']}")
    print(f"{'category':<22}{'cases':>7}{'agree':>8}{'%':>8}")
    for name, bad in (("accept/reject", verdict), ("stderr text (exact)", text)):
        print(f"{name:<22}{n:>7}{n - bad:>8}{100 * (n - bad) / n:>8.1f}")
    for want, got in diffs[: int(sys.argv[1]) if len(sys.argv) > 1 else 20]:
        print("\nCASE:", compare.key(want))
        print("  QEMU  :", want["accepted"], repr(want["stderr"]))
        print("  qdrive:", got["accepted"], repr(got["stderr"]))
    return 0 if not diffs else 1


if __name__ == "__main__":
    raise SystemExit(main())
