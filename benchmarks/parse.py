"""Median time to parse and validate the seed's drive string, and of `import qdrive`.

Prints figures; passes or fails on nothing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

SEED = ("file=/images/npt2-guest-virtio.qcow2,if=virtio,cache=off,format=qcow2,snapshot=off,"
        "bus=0,unit=1")


def parse_us(rounds: int = 20, loops: int = 500) -> list[float]:
    import qdrive

    qdrive.parse_drive(SEED)  # build the parser once
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(loops):
            qdrive.parse_drive(SEED)
        out.append((time.perf_counter() - t) / loops * 1e6)
    return out


def import_ms(rounds: int = 15) -> tuple[float, float, float]:
    def once(code: str) -> float:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return (time.perf_counter() - t) * 1e3

    # Interleaved so the machine's drift hits all three alike.
    base, deps, imp = [], [], []
    for _ in range(rounds):
        base.append(once("pass"))
        deps.append(once("import attrs"))
        imp.append(once("import qdrive"))
    return statistics.median(base), statistics.median(deps), statistics.median(imp)


def main() -> None:
    times = parse_us()
    print(f"parse_drive(seed string): median {statistics.median(times):.1f} us "
          f"(min {min(times):.1f}, max {max(times):.1f}) over {len(times)} rounds")
    base, deps, imp = import_ms()
    print(f"python -c pass: {base:.1f} ms; 'import attrs': {deps:.1f} ms; "
          f"'import qdrive': {imp:.1f} ms")
    print(f"import qdrive costs {imp - base:.1f} ms, of which attrs (a design-fixed "
          f"dependency) {deps - base:.1f} ms and qdrive itself {imp - deps:.1f} ms")


if __name__ == "__main__":
    main()
