"""`make fuzz-qemu`: differential fuzzing of qdrive.check against the real QEMU 7.2.

Mutates drive strings of the recorded corpus (delete or insert a character, duplicate,
drop or swap an item, change a value, upper-case a key, glue two drives), runs each
new case through QEMU (via the oracle) and through qdrive, and appends every
disagreement to fixtures/qemu72/fuzz-found.jsonl, recorded exactly like the corpus,
so the normal test run keeps checking it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

from tests.compat import compare, oracle

FOUND = compare.FIXTURES / "fuzz-found.jsonl"
VALUES = ["on", "off", "", "0", "1", "-1", "0x10", "none", "native", "io_uring", "ide",
          "virtio", "cdrom", "raw", "qcow2", "unmap", "stop", "enospc", "x,,y", " 1", "1M"]


def mutate(rng: random.Random, text: str, other: str) -> str:
    items = text.split(",")
    op = rng.randrange(8)
    if op == 0 and text:
        i = rng.randrange(len(text))
        return text[:i] + text[i + 1:]
    if op == 1:
        i = rng.randrange(len(text) + 1)
        return text[:i] + rng.choice(",=no ,,xN.") + text[i:]
    if op == 2:
        return ",".join(items + [rng.choice(items)])
    if op == 3 and len(items) > 1:
        items.pop(rng.randrange(len(items)))
        return ",".join(items)
    if op == 4 and len(items) > 1:
        i, j = rng.sample(range(len(items)), 2)
        items[i], items[j] = items[j], items[i]
        return ",".join(items)
    if op == 5:
        i = rng.randrange(len(items))
        key = items[i].split("=", 1)[0]
        items[i] = f"{key}={rng.choice(VALUES)}"
        return ",".join(items)
    if op == 6:
        i = rng.randrange(len(items))
        items[i] = items[i].split("=", 1)[0].upper() + items[i][len(items[i].split("=")[0]):]
        return ",".join(items)
    return text + "," + other


def candidates(count: int, seed: int) -> list[list[str]]:
    _, rows = compare.load()
    pool = [r["drives"][0] for r in rows if len(r.get("drives", ())) == 1]
    known = {compare.key(r) for r in rows}
    rng = random.Random(seed)
    out: list[list[str]] = []
    while len(out) < count:
        text = rng.choice(pool)
        for _ in range(rng.randint(1, 3)):
            text = mutate(rng, text, rng.choice(pool))
        case = [text]
        if "\0" not in text and tuple(case) not in known:
            known.add(tuple(case))
            out.append(case)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not oracle.have_qemu():
        print("qemu-system-x86_64 is not installed", file=sys.stderr)
        return 2
    todo = candidates(args.cases, args.seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="qdrive-fuzz-qemu-") as tmp:
        where = Path(tmp)
        oracle.make_images(where)
        with compare.in_dir(where):  # qdrive resolves the relative image names here
            for n, drives in enumerate(todo, 1):
                row = {"drives": drives, **oracle.run(drives, where)}
                bad = compare.disagreements(compare.verdict(row), compare.ours(drives))
                results.append((row, bad))
                if sys.stderr.isatty():
                    print(f"\r{n}/{len(todo)}", end="", file=sys.stderr)
    found = [row for row, bad in results if bad]
    if found:
        new = not FOUND.exists()
        with open(FOUND, "a") as f:
            if new:
                f.write(json.dumps({"qemu": "fuzz-qemu", "cases": 0}) + "\n")
            for row in found:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    accepted = sum(1 for row, _ in results if row["accepted"])
    print(f"fuzz-qemu: {len(results)} mutated cases ({accepted} accepted by QEMU), "
          f"{len(found)} disagreements" + (f" appended to {FOUND}" if found else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
