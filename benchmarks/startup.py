"""Median wall time of `qdrive check DRIVE` next to `python3 -c pass`, in the same run.

Prints figures and their ratio; passes or fails on nothing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

DRIVE = "file=a.img,format=raw,if=virtio"


def timed(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=False)
    return (time.perf_counter() - t) * 1e3


def main(rounds: int = 21) -> None:
    base, ours = [], []
    for _ in range(rounds):  # interleaved so drift hits both alike
        base.append(timed([sys.executable, "-c", "pass"]))
        ours.append(timed([sys.executable, "-m", "qdrive", "check", "--offline", DRIVE]))
    b, q = statistics.median(base), statistics.median(ours)
    print(f"python3 -c pass: {b:.1f} ms; qdrive check '{DRIVE}': {q:.1f} ms; "
          f"ratio {q / b:.2f} (aim <= 1.6)")
    sys.stdout.flush()
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "qdrive", "check",
                          "--offline", DRIVE], capture_output=True, text=True).stderr
    heavy = sorted((int(line.split("|")[1]), line.split("|")[2].strip())
                   for line in out.splitlines()[1:] if line.count("|") == 2)[-6:]
    print("largest cumulative imports (us):", ", ".join(f"{n} {v}" for v, n in reversed(heavy)))
    loaded = subprocess.run([sys.executable, "-c", "import sys, qdrive.cli as c; "
                             "c.main(['check', '--offline', 'file=a,format=raw']); "
                             "print(sorted(m for m in sys.modules if 'cffi' in m or "
                             "m.startswith('qdrive.')), file=sys.stderr)"],
                            capture_output=True, text=True).stderr.strip()
    print("modules loaded by a check:", loaded)


if __name__ == "__main__":
    main()
