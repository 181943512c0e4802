"""`make oracle`: record QEMU 7.2's verdict on every corpus case into fixtures/.

Usage: python -m tests.compat.record [--out fixtures/qemu72/verdicts.jsonl]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import cases, compare, oracle

OUT = Path(__file__).resolve().parents[2] / "fixtures" / "qemu72" / "verdicts.jsonl"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if not oracle.have_qemu():
        print("qemu-system-x86_64/qemu-img not installed: run `make debs` as root", file=sys.stderr)
        return 2
    version = subprocess.run([oracle.QEMU, "--version"], capture_output=True, text=True
                             ).stdout.splitlines()[0]
    todo = cases.all_cases()
    with tempfile.TemporaryDirectory(prefix="qdrive-oracle-") as tmp:
        local = threading.local()
        done = 0

        def one(case: dict[str, list[str]]) -> dict[str, object]:
            # One image directory per worker: parallel QEMUs must not share images,
            # or their image locks would collide.
            nonlocal done
            if not hasattr(local, "where"):
                local.where = Path(tempfile.mkdtemp(dir=tmp))
                oracle.make_images(local.where)
            v = oracle.run(case, local.where)
            args = compare.translate(case["drives"]) if "drives" in case else None
            if v["accepted"] and v.get("devices") and args:
                v["blockdev"] = {"args": args, **oracle.run({"argv": args}, local.where)}
            done += 1
            if sys.stderr.isatty():
                print(f"\r{done}/{len(todo)}", end="", file=sys.stderr)
            return {**case, **v}

        with ThreadPoolExecutor(4) as pool:
            rows = list(pool.map(one, todo))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        f.write(json.dumps({"qemu": version, "cases": len(rows)}) + "\n")
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"\nrecorded {len(rows)} cases from {version} into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
