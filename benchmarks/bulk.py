"""`qdrive check -f --offline`: drives per CPU second, memory, and the first verdict's delay.

Three inputs, each written to a temporary file: the example drive string (the 2008
qemu-devel post's) on every line, the harvest's drives (fixtures/harvest/drives.jsonl,
what launchers write) repeated, and the generated corpus's single drives
(fixtures/generated/singles.jsonl, every driver and option mutated: the slow end). Each
run is a separate `qdrive check -f` process; its CPU time (user + system, start-up
included) comes from the kernel's child accounting, its peak memory from the same place.
Rounds alternate the inputs so drift hits them alike. Memory is shown at two lengths
(LINES and 10 x LINES) to show it does not grow with the file; the first verdict's delay
is timed on a pipe, against the time to read the whole file. Prints figures; passes or
fails on nothing.

    python benchmarks/bulk.py [--lines 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def _qdrive() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "qdrive")
    return [script] if os.access(script, os.X_OK) else [sys.executable, "-m", "qdrive"]


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


def inputs(lines: int, where: Path) -> dict[str, Path]:
    """name -> a file of ``lines`` drives."""
    sources = {
        "example drive": [SEED],
        "harvest mix": _drives(ROOT / "fixtures" / "harvest" / "drives.jsonl", "drive"),
        "generated mix": _drives(ROOT / "fixtures" / "generated" / "singles.jsonl", "drives"),
    }
    files = {}
    for name, drives in sources.items():
        path = where / (name.replace(" ", "-") + ".txt")
        repeated = (drives * (lines // len(drives) + 1))[:lines]
        path.write_text("\n".join(repeated) + "\n")
        files[name] = path
    return files


def cpu_run(path: Path) -> tuple[float, int]:
    """(CPU seconds, peak RSS in KiB) of one `check -f PATH --offline`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    pid = os.posix_spawn(_qdrive()[0], [*_qdrive(), "check", "-f", str(path), "--offline"],
                         os.environ, file_actions=[
                             (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
    _, _, usage = os.wait4(pid, 0)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, usage.ru_maxrss


def first_verdict(path: Path) -> tuple[float, float]:
    """(seconds to the first report line, seconds to the end) on a pipe."""
    start = time.perf_counter()
    proc = subprocess.Popen([*_qdrive(), "check", "-f", str(path), "--offline"],
                            stdout=subprocess.PIPE)
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
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qdrive-bulk-") as tmp:
        files = inputs(args.lines, Path(tmp))
        cpu: dict[str, list[float]] = {name: [] for name in files}
        rss: dict[str, int] = {}
        for _ in range(args.rounds):
            for name, path in files.items():
                seconds, peak = cpu_run(path)
                cpu[name].append(seconds)
                rss[name] = max(rss.get(name, 0), peak)
        print(f"check -f --offline, {args.lines} lines, {args.rounds} alternating rounds "
              f"(CPU time includes start-up); target >= {TARGET} drives per CPU second")
        for name, values in cpu.items():
            rates = [args.lines / v for v in values]
            print(f"  {name:14} {statistics.median(rates):8.0f} drives/CPU s "
                  f"(min {min(rates):.0f}, max {max(rates):.0f}); {rss[name] / 1024:.1f} MiB "
                  f"peak; {statistics.median(rates) / TARGET:.2f}x target")
        # A bad drive first (check -f reports errors as it meets them), then 10 x LINES
        # example lines; written in pieces so this process stays small (a child's peak RSS
        # as the kernel counts it can include its parent's at the spawn).
        big = Path(tmp) / "big.txt"
        with big.open("w") as out:
            out.write("file=a.img,if=bogus\n")
            for _ in range(10):
                out.write(f"{SEED}\n" * args.lines)
        _, small_rss = cpu_run(files["example drive"])
        _, big_rss = cpu_run(big)
        print(f"  memory: {args.lines} lines {small_rss / 1024:.1f} MiB, {10 * args.lines + 1} "
              f"lines {big_rss / 1024:.1f} MiB (ratio {big_rss / small_rss:.2f}: bounded)")
        first, whole = first_verdict(big)
        print(f"  first verdict after {first * 1e3:.0f} ms of a {whole:.1f} s run "
              f"({first / whole:.1%}): the input is streamed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
