"""`qdrive check -f --offline`: drives per CPU second, memory, and the first verdict's delay.

Three inputs, each written to a temporary file: the example drive string (the 2008
qemu-devel post's) on every line, the harvest's drives (fixtures/harvest/drives.jsonl,
what launchers write) repeated, and the generated corpus's single drives
(fixtures/generated/singles.jsonl, every driver and option mutated: the slow end), plus
that corpus once with no line repeated (what a line costs when the memo of reports,
qdrive.frontend.terminal.Memo, cannot answer it). Each run is a separate `qdrive check -f`
process; its CPU time (user + system, start-up included) comes from the kernel's child
accounting, its peak memory from the same place. Rounds alternate the inputs, and the
anchors with them: `python -c pass` (a Python start) and a naive -f loop (each line
str.split into key=value pairs, nothing checked, nothing printed) over the same file. The
children run without PYTHONDONTWRITEBYTECODE and PYTHONUNBUFFERED (an install has its
.pyc files; a user's stdout is buffered): a warm-up run writes the .pyc first.

With valgrind, each input's instructions (callgrind, one run each: repeatable where CPU
time is not) for this tree and, with ``--base DIR`` (another source tree, e.g. ``git
archive`` of the commit before a change), for that one, beside per-line figures.

Memory is shown at two lengths (LINES and 10 x LINES) to show it does not grow with the
file; the first verdict's delay is timed on a pipe, against the time to read the whole
file. Prints figures; passes or fails on nothing.

    python benchmarks/bulk.py [--lines 20000] [--rounds 3] [--base DIR] [--no-instructions]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 20_000  # issue 17: check -f checks at least 20,000 drives per second offline
ROOT = Path(__file__).resolve().parents[1]
SEED = ("file=/images/npt2-guest-virtio.qcow2,if=virtio,cache=off,format=qcow2,snapshot=off,"
        "bus=0,unit=1")


def _qdrive(base: Path | None = None) -> list[str]:
    if base is not None:  # another source tree's qdrive, through this Python
        return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(base)!r}); "
                "from qdrive._lean import main; sys.exit(main())"]
    script = os.path.join(os.path.dirname(sys.executable), "qdrive")
    return [script] if os.access(script, os.X_OK) else [sys.executable, "-m", "qdrive"]


# An install has its .pyc files and a user's stdout is buffered: the children run so.
ENV = {k: v for k, v in os.environ.items()
       if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}

# The anchor: a -f loop that reads each line and splits it into key=value pairs.
NAIVE = ("import sys\n"
         "with open(sys.argv[1], encoding='utf-8', errors='surrogateescape') as f:\n"
         "    for line in f:\n"
         "        dict(item.partition('=')[::2] for item in line.rstrip('\\n').split(','))\n")


def _drives(path: Path, key: str) -> list[str]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out = []
    for row in rows:
        text = row.get(key)
        if isinstance(text, list):
            text = text[0] if len(text) == 1 else None
        # one -f line is one command line: keep drives without a TAB or line break
        if isinstance(text, str) and not any(c in text for c in "\t\r\n"):
            out.append(text)
    return out


def inputs(lines: int, where: Path) -> dict[str, tuple[Path, int]]:
    """name -> (a file of drives, its number of lines): ``lines`` of each mix, and the
    generated corpus once."""
    generated = _drives(ROOT / "fixtures" / "generated" / "singles.jsonl", "drives")
    sources = {
        "example drive": [SEED],
        "harvest mix": _drives(ROOT / "fixtures" / "harvest" / "drives.jsonl", "drive"),
        "generated mix": generated,
    }
    files = {}
    for name, drives in sources.items():
        path = where / (name.replace(" ", "-") + ".txt")
        repeated = (drives * (lines // len(drives) + 1))[:lines]
        path.write_text("\n".join(repeated) + "\n")
        files[name] = (path, lines)
    path = where / "generated-once.txt"
    distinct = list(dict.fromkeys(generated))
    path.write_text("\n".join(distinct) + "\n")
    files["generated, once"] = (path, len(distinct))
    return files


def _spawn(argv: list[str]) -> tuple[float, int]:
    """(CPU seconds, peak RSS in KiB) of ARGV, its stdout thrown away."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    pid = os.posix_spawn(argv[0], argv, ENV, file_actions=[
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
    _, _, usage = os.wait4(pid, 0)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, usage.ru_maxrss


def cpu_run(path: Path) -> tuple[float, int]:
    """(CPU seconds, peak RSS in KiB) of one `check -f PATH --offline`."""
    return _spawn([*_qdrive(), "check", "-f", str(path), "--offline"])


def instructions(argv: list[str]) -> int | None:
    """Instructions ARGV executes, counted by callgrind (None without valgrind)."""
    if not shutil.which("valgrind"):
        return None
    with tempfile.NamedTemporaryFile(prefix="qdrive-cg-") as out:
        run = subprocess.run(["valgrind", "--tool=callgrind",
                              f"--callgrind-out-file={out.name}", *argv],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV,
                             check=False, cwd="/")
    found = re.search(rb"Collected : (\d+)", run.stderr)
    return int(found.group(1)) if found else None


def counts(files: dict[str, tuple[Path, int]], base: Path | None) -> None:
    """Each input's instructions for this tree (and the base tree), per line beyond the
    start-up (the same command over an empty file)."""
    empty = Path(next(iter(files.values()))[0]).with_name("empty.txt")
    empty.write_text("")
    trees: dict[str, Path | None] = {"this tree": None}
    if base is not None:
        trees["base"] = base
    print("  instructions (callgrind, one run each; per line: beyond the start-up):")
    for tree, where in trees.items():
        cmd = _qdrive(where)
        if where is not None:
            subprocess.run([*cmd, "check", "-f", str(empty), "--offline"], env=ENV,
                           capture_output=True, check=False)  # its .pyc, once
        start = instructions([*cmd, "check", "-f", str(empty), "--offline"])
        if start is None:
            print("    (valgrind not found)")
            return
        print(f"    {tree:9} start-up (empty file) {start / 1e6:8.1f}M")
        for name, (path, lines) in files.items():
            n = instructions([*cmd, "check", "-f", str(path), "--offline"])
            if n is not None:
                print(f"    {tree:9} {name:15} {n / 1e6:8.1f}M, {(n - start) / lines / 1e3:6.1f}k "
                      f"per line, {lines} lines")


def first_verdict(path: Path) -> tuple[float, float]:
    """(seconds to the first report line, seconds to the end) on a pipe."""
    start = time.perf_counter()
    proc = subprocess.Popen([*_qdrive(), "check", "-f", str(path), "--offline"],
                            stdout=subprocess.PIPE, env=ENV)
    assert proc.stdout is not None
    proc.stdout.readline()
    first = time.perf_counter() - start
    proc.stdout.read()
    proc.wait()
    return first, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--base", type=Path, help="another source tree to count instructions of")
    ap.add_argument("--no-instructions", action="store_true", help="skip callgrind")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qdrive-bulk-") as tmp:
        files = inputs(args.lines, Path(tmp))
        cpu_run(files["example drive"][0])  # warm-up: the .pyc files are written
        cpu: dict[str, list[float]] = {name: [] for name in files}
        naive: dict[str, list[float]] = {name: [] for name in files}
        rss: dict[str, int] = {}
        start: list[float] = []
        for _ in range(args.rounds):
            start.append(_spawn([sys.executable, "-c", "pass"])[0])
            for name, (path, _) in files.items():
                seconds, peak = cpu_run(path)
                cpu[name].append(seconds)
                rss[name] = max(rss.get(name, 0), peak)
                naive[name].append(_spawn([sys.executable, "-c", NAIVE, str(path)])[0])
        print(f"check -f --offline, {args.lines} lines, {args.rounds} alternating rounds "
              f"(CPU time includes start-up); target >= {TARGET} drives per CPU second")
        print(f"  python -c pass: {statistics.median(start) * 1e3:.0f} ms CPU (median)")
        for name, values in cpu.items():
            lines = files[name][1]
            rates = [lines / v for v in values]
            ratios = [n / v for n, v in zip(naive[name], values, strict=True)]
            target = (f"; {statistics.median(rates) / TARGET:.2f}x target"
                      if name != "generated, once" else "")
            print(f"  {name:15} {statistics.median(rates):8.0f} drives/CPU s "
                  f"(min {min(rates):.0f}, max {max(rates):.0f}); {rss[name] / 1024:.1f} MiB "
                  f"peak{target}; naive split {lines / statistics.median(naive[name]):.0f} "
                  f"drives/CPU s, qdrive at {statistics.median(ratios):.2f}x its rate")
        sys.stdout.flush()
        if not args.no_instructions:
            counts(files, args.base)
        # A bad drive first (check -f reports errors as it meets them), then 10 x LINES
        # example lines; written in pieces so this process stays small (a child's peak RSS
        # as the kernel counts it can include its parent's at the spawn).
        big = Path(tmp) / "big.txt"
        with big.open("w") as out:
            out.write("file=a.img,if=bogus\n")
            for _ in range(10):
                out.write(f"{SEED}\n" * args.lines)
        _, small_rss = cpu_run(files["example drive"][0])
        _, big_rss = cpu_run(big)
        print(f"  memory: {args.lines} lines {small_rss / 1024:.1f} MiB, {10 * args.lines + 1} "
              f"lines {big_rss / 1024:.1f} MiB (ratio {big_rss / small_rss:.2f}: bounded)")
        first, whole = first_verdict(big)
        print(f"  first verdict after {first * 1e3:.0f} ms of a {whole:.1f} s run "
              f"({first / whole:.1%}): the input is streamed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
