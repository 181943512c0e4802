"""`qdrive check -f` of this tree against another tree's (main's): every output byte alike.

Every recorded single-drive case (fixtures/generated/*singles*, fixtures/harvest/*drives*,
the single-drive cases of fixtures/corpus/cases.jsonl and fixtures/qemu*/) is written to
one -f file per corpus, the whole list twice (so the second half repeats the first, as a
launcher's log does, and a memo of reports is exercised); both trees' `qdrive check -f`
run over each file in each mode, from the same empty directory, and their stdout, stderr
and exit code are compared. Prints the differences (the first few bytes of each) and a
summary; exits 1 when any mode of any file differs.

    python -m tests.compat.bulk_same --base DIR [--only generated] [--mode json]

``--base`` is a source tree (its qdrive/ is put first on sys.path of this Python); no file
of it is written (not even __pycache__). Compare with the commit this tree started from
(``git archive COMMIT | tar -x -C DIR``): a working tree that moved on differs by its own
changes too. tests/test_bulk.py holds the essence of this comparison in process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

MODES: dict[str, list[str]] = {
    "offline": ["--offline"],
    "json": ["--offline", "--json"],
    "strict": ["--offline", "--strict"],
    "colour": ["--offline", "--color=always"],
    "fix": ["--offline", "--fix"],
    "explain": ["--offline", "--explain", "--json"],
    "blockdev": ["--offline", "--to-blockdev"],
    "qemu-10.0": ["--offline", "--dialect", "qemu-10.0"],
    "qemu-11.1-json": ["--offline", "--dialect", "qemu-11.1", "--json"],
    "0.9-sync": ["--offline", "--dialect", "qemu-0.9-sync"],
    "q35": ["--offline", "-M", "q35"],
    "probing": [],  # the images are looked at (none exist here): no memo
    "probing-json": ["--json"],
}


def corpora() -> dict[str, list[str]]:
    """corpus name -> its single drives (one -f line each)."""
    paths = [*sorted((ROOT / "fixtures" / "generated").glob("*singles*.jsonl")),
             *sorted((ROOT / "fixtures" / "harvest").glob("*drives*.jsonl")),
             ROOT / "fixtures" / "corpus" / "cases.jsonl",
             *sorted(p for d in ("qemu72", "qemu100", "qemu111")
                     for p in (ROOT / "fixtures" / d).glob("*.jsonl"))]
    out: dict[str, list[str]] = {}
    seen: set[tuple[str, ...]] = set()  # a corpus recorded by several QEMUs: once
    for path in paths:
        drives = []
        for line in path.read_text("utf-8").splitlines():
            row = json.loads(line)
            text = row.get("drive")
            if text is None and "argv" not in row and len(row.get("drives") or ()) == 1:
                text = row["drives"][0]
            # one -f line is one command line: a line break cannot be in it
            if isinstance(text, str) and "\n" not in text:
                drives.append(text)
        if drives and tuple(drives) not in seen:
            seen.add(tuple(drives))
            out[f"{path.parent.name}/{path.name}"] = drives
    return out


def _command(base: Path | None) -> list[str]:
    if base is None:
        return [sys.executable, "-c", "import sys; from qdrive._lean import main; "
                "sys.exit(main())"]
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(base)!r}); "
            "from qdrive._lean import main; sys.exit(main())"]


def run(base: Path | None, path: Path, mode: list[str], cwd: str) -> tuple[int, bytes, bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if base is not None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # the other tree is read, never written
    done = subprocess.run([*_command(base), "check", "-f", str(path), *mode], cwd=cwd,
                          capture_output=True, env=env, check=False)
    return done.returncode, done.stdout, done.stderr


def _first_difference(a: bytes, b: bytes) -> str:
    pairs = enumerate(zip(a, b, strict=False))  # the shorter one ends the pairs
    at = next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))
    return f"at byte {at}: {a[at:at + 120]!r} vs {b[at:at + 120]!r}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, required=True, help="the other tree (its qdrive/ is run)")
    ap.add_argument("--only", help="corpora whose name contains this")
    ap.add_argument("--mode", action="append", choices=sorted(MODES),
                    help="modes to compare (repeat; default all)")
    args = ap.parse_args(argv)
    modes = args.mode or list(MODES)
    differ = same = 0
    with tempfile.TemporaryDirectory(prefix="qdrive-bulk-same-") as tmp:
        cwd = os.path.join(tmp, "cwd")
        os.mkdir(cwd)
        for name, drives in corpora().items():
            if args.only and args.only not in name:
                continue
            path = Path(tmp) / (name.replace("/", "-") + ".txt")
            path.write_text("".join(f"{d}\n" for d in drives * 2), "utf-8",
                            errors="surrogateescape")
            for mode in modes:
                ours = run(None, path, MODES[mode], cwd)
                theirs = run(args.base, path, MODES[mode], cwd)
                if ours == theirs:
                    same += 1
                    continue
                differ += 1
                what = ["exit code" if ours[0] != theirs[0] else "",
                        "stdout " + _first_difference(ours[1], theirs[1])
                        if ours[1] != theirs[1] else "",
                        "stderr " + _first_difference(ours[2], theirs[2])
                        if ours[2] != theirs[2] else ""]
                print(f"DIFFERENT {name} [{mode}]: {'; '.join(w for w in what if w)}")
            print(f"{name}: {2 * len(drives)} lines, {len(modes)} modes compared", flush=True)
    print(f"{same} runs alike, {differ} different")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
