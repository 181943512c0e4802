"""`make fuzz-qemu`: differential fuzzing of qdrive.check against the real QEMU 7.2.

    python -m tests.fuzz.qemu_diff [--cases 300] [--seed N] [--out FILE]

Three kinds of candidates, in equal parts:

* drive strings of the recorded corpus, mutated (delete or insert a character,
  duplicate, drop or swap an item, change a value, upper-case a key, glue two drives);
* new single drives from the class-aware generator (tests/compat/generate.py): every
  driver the derived tables list with its runtime options mutated, and the node graph
  (backing.*, data-file, encrypt.*, file.file.*, json: names), then mutated again;
* generated command lines (-blockdev, -device, -object, -machine pflash0=, -snapshot,
  -readconfig, shorthands), mutated as a whole line: an argument mutated like a drive
  string, an option and its argument dropped, repeated or moved.

Each new case runs through QEMU (via the oracle, in an image folder with ``DEV`` when
root, the images put back after every run) and through qdrive; every disagreement is
appended to fixtures/qemu72/fuzz-found.jsonl (or ``--out``), recorded exactly like the
corpus, so the normal test run keeps checking it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from tests.compat import compare, corpus, generate, oracle

FOUND = compare.FIXTURES / "fuzz-found.jsonl"
VALUES = ["on", "off", "", "0", "1", "-1", "0x10", "none", "native", "io_uring", "ide",
          "virtio", "cdrom", "raw", "qcow2", "unmap", "stop", "enospc", "x,,y", " 1", "1M",
          "null", "n0", "disk.img", "DEV", "json:{}"]


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


def mutate_argv(rng: random.Random, argv: list[str], pool: list[str]) -> list[str]:
    """A command line changed as a whole: one argument, or one option with its argument."""
    pairs = _pairs(argv)
    op = rng.randrange(4)
    if op == 0 and pairs:  # one argument mutated like a drive string
        i = rng.randrange(len(pairs))
        opt, arg = pairs[i]
        if arg is not None:
            pairs[i] = (opt, mutate(rng, arg, rng.choice(pool)))
    elif op == 1 and len(pairs) > 1:  # an option dropped
        pairs.pop(rng.randrange(len(pairs)))
    elif op == 2 and pairs:  # an option repeated
        pairs.insert(rng.randrange(len(pairs) + 1), rng.choice(pairs))
    elif len(pairs) > 1:  # an option moved
        pairs.insert(rng.randrange(len(pairs)), pairs.pop(rng.randrange(len(pairs))))
    return [x for opt, arg in pairs for x in (opt, arg) if x is not None]


def _pairs(argv: list[str]) -> list[tuple[str, str | None]]:
    """(option, argument) pairs; -snapshot and -usb take none, a bare name is an image."""
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(argv):
        if argv[i] in ("-snapshot", "-usb") or not argv[i].startswith("-"):
            out.append((argv[i], None))
            i += 1
        else:
            out.append((argv[i], argv[i + 1] if i + 1 < len(argv) else None))
            i += 2
    return out


def candidates(count: int, seed: int) -> list[dict[str, Any]]:
    _, rows = compare.load()
    pool = [r["drives"][0] for r in rows if len(r.get("drives", ())) == 1]
    known = {corpus.key(r) for r in rows}
    rng = random.Random(seed)
    singles, cmdlines = generate.Singles(rng), generate.Cmdlines(rng)
    out: list[dict[str, Any]] = []
    while len(out) < count:
        kind = rng.randrange(3)
        if kind == 0:
            text = rng.choice(pool)
            for _ in range(rng.randint(1, 3)):
                text = mutate(rng, text, rng.choice(pool))
            case: dict[str, Any] = {"category": "fuzz:mutated", "drives": [text]}
        elif kind == 1:
            case = singles.one()
            for _ in range(rng.randint(0, 2)):
                case["drives"] = [mutate(rng, case["drives"][0], rng.choice(pool))]
        else:
            case = cmdlines.one()
            for _ in range(rng.randint(0, 2)):
                case["argv"] = mutate_argv(rng, case["argv"], pool)
            if not case["argv"]:
                continue
        if "\0" not in json.dumps(case) and corpus.key(case) not in known:
            known.add(corpus.key(case))
            out.append(case)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=FOUND)
    args = ap.parse_args()
    if not oracle.have_qemu():
        print("qemu-system-x86_64 is not installed", file=sys.stderr)
        return 2
    todo = candidates(args.cases, args.seed)
    results = []
    with oracle.image_dir("qdrive-fuzz-qemu-") as where:
        state = oracle.image_state(where)
        with compare.in_dir(where):  # qdrive resolves the relative image names here
            for n, case in enumerate(todo, 1):
                run = corpus.as_case(case) or {}
                row = {**case, **oracle.run(run, where)}
                oracle.restore_images(where, state)
                if row.get("timeout"):
                    continue  # QEMU hung: no verdict to compare with
                with oracle.case_files(where, run.get("files", {})):
                    got = compare.ours_safely(run)
                results.append((row, compare.disagreements(compare.verdict(row), got)))
                if sys.stderr.isatty():
                    print(f"\r{n}/{len(todo)}", end="", file=sys.stderr)
    found = [row for row, bad in results if bad]
    if found:
        new = not args.out.exists()
        with open(args.out, "a") as f:
            if new:
                f.write(json.dumps({"qemu": "fuzz-qemu", "cases": 0}) + "\n")
            for row in found:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    accepted = sum(1 for row, _ in results if row["accepted"])
    print(f"fuzz-qemu: {len(results)} new cases ({accepted} accepted by QEMU), "
          f"{len(found)} disagreements" + (f" appended to {args.out}" if found else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
