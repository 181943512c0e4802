"""Wall time of `qdrive check DRIVE` beside QEMU reaching its own verdict on DRIVE.

One round runs, back to back: `python -c pass`, `python -c "import attrs"`, QEMU 7.2
(`-M pc -accel tcg -nodefaults -display none -S -monitor stdio -drive DRIVE`, answering
`quit`) and `qdrive check DRIVE`, on a 16 MiB raw image. Rounds alternate, so the
machine's drift hits all four alike; ratios are taken within each round. Then
`-X importtime`'s heaviest imports and the modules a check loads (the drive is one the
command's lean path, qdrive/_lean.py, decides: a regular install loads qdrive._aliases,
qdrive._lean, qdrive._lean_check and qdrive._lean_tables, and no attrs, re or json).
Prints figures; passes or fails on nothing.

Run it with the Python of the install to measure (a regular, non-editable install is
what users have: an editable one adds its import finder's cost).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TARGET = 0.75  # issue 17: at most 0.75x QEMU's verdict time (aim 0.5x)
QEMU = "qemu-system-x86_64"


# Every command runs from here, never from the caller's directory: run from the repo root,
# ``python -c``/``-m`` would put the checkout's qdrive/ first on sys.path and measure it
# instead of the install (a regular install is what users have).
_NEUTRAL = "/"


def timed(argv: list[str], stdin: bytes | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(argv, input=stdin, capture_output=True, check=False, cwd=_NEUTRAL)
    return (time.perf_counter() - t) * 1e3


def _qdrive() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "qdrive")
    return [script] if os.access(script, os.X_OK) else [sys.executable, "-m", "qdrive"]


def spread(values: list[float], unit: str) -> str:
    q = statistics.quantiles(values, n=4)
    return f"{statistics.median(values):.2f}{unit} (IQR {q[0]:.2f}-{q[2]:.2f})"


def commands(drive: str) -> dict[str, tuple[list[str], bytes | None]]:
    """The four commands of a round: name -> (argv, stdin)."""
    runs: dict[str, tuple[list[str], bytes | None]] = {
        "python -c pass": ([sys.executable, "-c", "pass"], None),
        "python -c 'import attrs'": ([sys.executable, "-c", "import attrs"], None),
        "qdrive check": ([*_qdrive(), "check", drive], None),
    }
    if shutil.which(QEMU):
        runs["QEMU 7.2 verdict"] = ([QEMU, "-M", "pc", "-accel", "tcg", "-nodefaults",
                                     "-display", "none", "-S", "-monitor", "stdio",
                                     "-drive", drive], b"quit\n")
    return runs


def rounds(drive: str, n: int) -> dict[str, list[float]]:
    runs = commands(drive)
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(n):
        for name, (argv, stdin) in runs.items():
            times[name].append(timed(argv, stdin))
    return times


def instructions(argv: list[str], stdin: bytes | None = None) -> int | None:
    """Instructions the command executes, counted by callgrind (None without valgrind).

    Unlike wall time the count does not move with the machine's load, so a change's
    effect shows even on a busy machine; one run is enough."""
    if not shutil.which("valgrind"):
        return None
    with tempfile.NamedTemporaryFile(prefix="qdrive-cg-") as out:
        run = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}",
                              *argv], input=stdin, capture_output=True, check=False,
                             cwd=_NEUTRAL)
    found = re.search(rb"Collected : (\d+)", run.stderr)
    return int(found.group(1)) if found else None


def counts(runs: dict[str, tuple[list[str], bytes | None]]) -> None:
    """Print each command's instruction count and qdrive check's ratio to each anchor."""
    found = {name: instructions(argv, stdin) for name, (argv, stdin) in runs.items()}
    if not any(found.values()):
        print("  (instruction counts: valgrind not found)")
        return
    print("  instructions (callgrind, one run each):")
    ours = found.get("qdrive check")
    for name, n in found.items():
        mine = name == "qdrive check"
        ratio = f"  qdrive check / this {ours / n:.2f}x" if ours and n and not mine else ""
        print(f"    {name:26} {n / 1e6:8.1f}M{ratio}" if n else f"    {name:26} (not counted)")


def main(n: int = 15) -> None:
    with tempfile.TemporaryDirectory(prefix="qdrive-startup-") as tmp:
        image = os.path.join(tmp, "a.img")
        with open(image, "wb") as f:
            f.truncate(16 << 20)
        drive = f"file={image},format=raw,if=virtio"
        times = rounds(drive, n)
        print(f"start-up, {n} alternating rounds, drive {drive.replace(tmp, '$TMP')}")
        for name, values in times.items():
            print(f"  {name:26} {spread(values, ' ms')}")
        sys.stdout.flush()
        counts(commands(drive))
    ours = times["qdrive check"]
    anchors = [("QEMU 7.2 verdict", f"target <= {TARGET}x, aim 0.5x"),
               ("python -c 'import attrs'", "aim ~1.2x"), ("python -c pass", "")]
    for anchor, goal in anchors:
        if anchor in times:
            ratios = [o / a for o, a in zip(ours, times[anchor], strict=True)]
            print(f"  qdrive check / {anchor:26} {spread(ratios, 'x')}  {goal}")
    sys.stdout.flush()
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "qdrive", "check",
                          "--offline", "file=a.img,format=raw"],
                         capture_output=True, text=True, cwd=_NEUTRAL).stderr
    heavy = sorted((int(line.split("|")[1]), line.split("|")[2].strip())
                   for line in out.splitlines()[1:] if line.count("|") == 2)[-6:]
    print("  largest cumulative imports (us):",
          ", ".join(f"{n} {v}" for v, n in reversed(heavy)))
    # qdrive._lean is the command's entry (scripts/qdrive): the lean path, else qdrive.cli
    loaded = subprocess.run([sys.executable, "-c", "import sys, qdrive._lean as c; "
                             "print('(' + c.__file__.removesuffix('/_lean.py') + ')', "
                             "file=sys.stderr); "
                             "c.main(['check', '--offline', 'file=a,format=raw']); "
                             "print(sorted(m for m in sys.modules if m.startswith(("
                             "'qdrive.', 'cffi', 'lark', 'shutil', 'locale')) or m in ("
                             "'attrs', 're', 'json', 'argparse', 'typing', 'enum')), "
                             "file=sys.stderr)"],
                            capture_output=True, text=True, cwd=_NEUTRAL).stderr.strip()
    print("  modules loaded by a check:", loaded)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
