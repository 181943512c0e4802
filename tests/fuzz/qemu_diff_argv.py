"""`make fuzz-qemu-argv`: differential fuzzing of qdrive.check_argv against QEMU 7.2.

    python -m tests.fuzz.qemu_diff_argv [--cases 200] [--seed N] [--out FILE] [--dry-run]

The candidates are whole command lines built from the recorded command-line corpora
(generated-cmdlines, harvest-cmdlines, cmdline-rules), changed in ways the single-drive
fuzzer (tests/fuzz/qemu_diff.py) never tries:

* **splice**: an option of one kind (-drive, -blockdev, -device, -object, -machine,
  -global) taken from another recorded line and put into this one, at a random place,
  so devices meet nodes, drives and objects they were never recorded with;
* **retarget**: one reference (drive=, file=, backing=, key-secret=, iothread=, bus=,
  throttle-group=, pflashN=) pointed at another name the line defines, or at a name it
  does not define;
* **json**: a JSON argument of -blockdev, -device or -object changed as a document: a
  member dropped, one of another type (string, number, boolean, null, object), an
  unknown member added, or its text cut short;
* **shuffle**: the whole-line changes of qemu_diff (an argument mutated like a drive
  string, an option dropped, repeated or moved).

Each new candidate runs through QEMU (the oracle, in an image folder with ``DEV`` when
root, images put back after every start) and through qdrive; every disagreement is
appended, recorded like the corpus and given an id, to fixtures/qemu72/fuzz-found-argv.jsonl
(or ``--out``) so the normal test run keeps checking it (tests/fuzz/test_argv_found.py).
``--dry-run`` prints the candidates without starting QEMU.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tests.compat import compare, corpus, oracle
from tests.fuzz.qemu_diff import _pairs, mutate_argv

FOUND = compare.FIXTURES / "fuzz-found-argv.jsonl"

SOURCES = ("generated-cmdlines", "harvest-cmdlines", "cmdline-rules")
SPLICED = ("-drive", "-blockdev", "-device", "-object", "-machine", "-global")
# name=value references a line makes to what another option defines
REFERENCES = re.compile(r"(?<![\w.-])(drive|file|backing|key-secret|iothread|bus|"
                        r"throttle-group|pflash[01]|data-file|encrypt\.key-secret)=([^,]*)")
DEFINES = re.compile(r"(?<![\w.-])(id|node-name)=([^,]*)")
JSON_VALUES: list[Any] = ["", "x", "n0", 0, -1, 4096, True, False, None, {}, [],
                          {"driver": "file", "filename": "disk.img"}]
JSON_KEYS = ["read-only", "node-name", "file", "driver", "cache", "discard", "bogus",
             "drive", "bus", "id", "data", "format", "backing", "auto-read-only"]


def recorded() -> list[list[str]]:
    """Every recorded command line (QEMU 7.2) of the command-line corpora."""
    out = []
    for name in SOURCES:
        out += [list(r["argv"]) for r in corpus.rows(name, "7.2", "all") if "argv" in r]
    return out


def option_pool(lines: Iterable[Sequence[str]]) -> dict[str, list[str]]:
    """The arguments each spliced option was given anywhere in ``lines``."""
    pool: dict[str, list[str]] = {k: [] for k in SPLICED}
    for argv in lines:
        for opt, arg in _pairs(list(argv)):
            if opt in pool and arg is not None:
                pool[opt].append(arg)
    return pool


def splice(rng: random.Random, argv: list[str], pool: dict[str, list[str]]) -> list[str]:
    """``argv`` with one option from another line inserted."""
    kind = rng.choice([k for k in SPLICED if pool[k]])
    pairs = _pairs(argv)
    pairs.insert(rng.randrange(len(pairs) + 1), (kind, rng.choice(pool[kind])))
    return _flat(pairs)


def defined_names(argv: Sequence[str]) -> list[str]:
    """The ids and node-names a line defines (keyval and JSON spellings)."""
    names = [m.group(2) for a in argv for m in DEFINES.finditer(a)]
    for a in argv:
        names += re.findall(r'"(?:id|node-name)"\s*:\s*"([^"]*)"', a)
    return names


def retarget(rng: random.Random, argv: list[str]) -> list[str]:
    """One reference of ``argv`` pointed at another defined name, or at none."""
    spots = [(i, m) for i, a in enumerate(argv) for m in REFERENCES.finditer(a)]
    if not spots:
        return argv
    i, m = rng.choice(spots)
    names = [n for n in defined_names(argv) if n != m.group(2)]
    target = rng.choice(names) if names and rng.random() < 0.7 else rng.choice(
        ["nosuch", "", "n0", "d0", "ide.1", "scsi0.0"])
    text = argv[i]
    out = list(argv)
    out[i] = text[:m.start(2)] + target + text[m.end(2):]
    return out


def mutate_json(rng: random.Random, text: str) -> str:
    """A JSON option argument changed as a document (or cut short)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    if not isinstance(doc, dict) or not doc:
        return text
    op = rng.randrange(4)
    key = rng.choice(sorted(doc))
    if op == 0:
        del doc[key]
    elif op == 1:
        doc[key] = rng.choice(JSON_VALUES)
    elif op == 2:
        doc[rng.choice(JSON_KEYS)] = rng.choice(JSON_VALUES)
    else:
        cut = json.dumps(doc, separators=(",", ":"))
        return cut[:rng.randrange(1, len(cut))]
    return json.dumps(doc, separators=(",", ":"))


def json_change(rng: random.Random, argv: list[str]) -> list[str]:
    spots = [i for i, a in enumerate(argv) if a.startswith("{") and i > 0]
    if not spots:
        return argv
    i = rng.choice(spots)
    out = list(argv)
    out[i] = mutate_json(rng, argv[i])
    return out


def _flat(pairs: list[tuple[str, str | None]]) -> list[str]:
    return [x for opt, arg in pairs for x in (opt, arg) if x is not None]


def candidates(count: int, seed: int, lines: list[list[str]] | None = None
               ) -> list[dict[str, Any]]:
    """``count`` new command lines (none of them recorded already), reproducible by seed."""
    lines = recorded() if lines is None else lines
    pool = option_pool(lines)
    drives = pool["-drive"] or ["file=disk.img,format=raw"]
    known = {tuple(a) for a in lines}
    base = [a for a in lines if len(a) <= 16]
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    tries = 0
    while len(out) < count and tries < count * 50:
        tries += 1
        # mostly the generated and hand-written lines (short, local images); the harvest
        # (long launcher lines, network storage) still gives options to splice
        argv = list(rng.choice(base if base and rng.random() < 0.8 else lines))
        how = rng.choice(("splice", "retarget", "json", "shuffle"))
        for _ in range(rng.randint(1, 2)):
            if how == "splice":
                argv = splice(rng, argv, pool)
            elif how == "retarget":
                argv = retarget(rng, argv)
            elif how == "json":
                argv = json_change(rng, argv)
            else:
                argv = mutate_argv(rng, argv, drives)
        if not argv or tuple(argv) in known or "\0" in "".join(argv):
            continue
        known.add(tuple(argv))
        out.append({"category": f"fuzz:argv-{how}", "argv": argv})
    return out


def keep(found: list[dict[str, Any]], out: Path) -> None:
    """Append ``found`` to the recording ``out`` (made with a header if new), each row
    with the next fuzz-argv-NNNN id."""
    rows = corpus.read(out)[1] if out.exists() else []
    if not out.exists():
        out.write_text(json.dumps({"qemu": "fuzz-qemu-argv", "version": "7.2"}) + "\n")
    with open(out, "a") as f:
        for n, row in enumerate(found, len(rows) + 1):
            f.write(json.dumps({"id": f"fuzz-argv-{n:04d}", **row}, ensure_ascii=False)
                    + "\n")


def _exit_code(case: dict[str, Any]) -> int | None:
    """The exit code `qdrive check --argv` gives the case (0 ok, 1 refused)."""
    import contextlib
    import io

    from qdrive import cli

    argv = ["check", "--argv", "--", *case["argv"]]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return cli.main(argv)
        except SystemExit as e:
            return int(e.code or 0)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=FOUND)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args(argv)
    todo = candidates(args.cases, args.seed)
    if args.dry_run:
        for case in todo:
            print(json.dumps(case))
        return 0
    if not oracle.have_qemu():
        print("qemu-system-x86_64 is not installed", file=sys.stderr)
        return 2
    results = []
    codes = 0
    with oracle.image_dir("qdrive-fuzz-argv-") as where:
        state = oracle.image_state(where)
        with compare.in_dir(where):  # qdrive resolves the relative image names here
            for n, case in enumerate(todo, 1):
                row = {**case, **oracle.run(case, where)}
                oracle.restore_images(where, state)
                if row.get("timeout"):
                    continue  # QEMU hung: no verdict to compare with
                got = compare.ours_safely(case)
                bad = compare.disagreements(compare.verdict(row), got)
                codes += (_exit_code(case) == 0) == row["accepted"]
                results.append((row, bad))
                if sys.stderr.isatty():
                    print(f"\r{n}/{len(todo)}", end="", file=sys.stderr)
    found = [row for row, bad in results if bad]
    if found:
        keep(found, args.out)
    accepted = sum(1 for row, _ in results if row["accepted"])
    print(f"fuzz-qemu-argv: {len(results)} new command lines ({accepted} accepted by QEMU), "
          f"{len(found)} disagreements" + (f" appended to {args.out}" if found else "") +
          f"; --argv exit code agrees on {codes}/{len(results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
