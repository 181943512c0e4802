"""Each backend beside its fio anchor, and the posix descriptor pool beside no pool.

Issue 17 item 4. One target (a file this script creates, writes once and removes, 1 GiB
by default) serves every row; each row alternates qdrive and its anchor ``--pairs``
times and prints the per-pair ratios (median, min-max), so the machine's drift hits both
sides alike. The anchors are fio with the same workload and cache semantics
(``qdrive.bench.workload.fio_command``: psync with one job per pool worker for threads,
``--fdatasync=1`` for write-through; qdrive keeps QEMU's one flush in flight, and the
rows marked "64 flushes in flight" give it fio's shape) and, for the descriptor pool,
the posix backend without it. Also the CPU seconds per GB of the thread pool against fio
psync's. Prints figures and the load average; passes or fails on nothing.

    python benchmarks/backends.py [--path /var/tmp/qdrive-backends.img] [--runtime 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Callable
from typing import Any

import attrs

from qdrive.bench.target import TargetSession
from qdrive.bench.workload import CacheSemantics, Result, Spec, bench_drive, run_fio, run_qdrive

# (row, backend, cache, qdrive options, the anchor: "fio" or the qdrive options it runs)
ROWS: list[tuple[str, str, str, dict[str, Any], Any]] = [
    ("threads cache=none vs fio psync (64 jobs)", "threads", "cache=none", {}, "fio"),
    ("native cache=none vs fio libaio", "native", "cache=none", {}, "fio"),
    ("io_uring cache=none vs fio io_uring", "io_uring", "cache=none", {}, "fio"),
    ("threads directsync vs fio psync fdatasync=1", "threads", "cache=directsync", {}, "fio"),
    ("threads writethrough vs fio psync fdatasync=1", "threads", "cache=writethrough", {},
     "fio"),
    # fio's jobs each flush on their own; QEMU keeps one flush in flight per node
    # (block/io.c bdrv_co_flush). These rows give qdrive fio's shape: 64 flushes at once.
    ("threads directsync, 64 flushes in flight, vs fio", "threads", "cache=directsync",
     {"flush_depth": 64}, "fio"),
    ("threads writethrough, 64 flushes in flight, vs fio", "threads", "cache=writethrough",
     {"flush_depth": 64}, "fio"),
    ("native directsync vs fio libaio fdatasync=1", "native", "cache=directsync", {}, "fio"),
    ("io_uring directsync vs fio io_uring fdatasync=1", "io_uring", "cache=directsync", {},
     "fio"),
    ("posix fd pool 4 vs no pool", "posix", "cache=none", {"fd_pool": 4}, {"fd_pool": 0}),
]
TARGETS = {"threads cache=none vs fio psync (64 jobs)": 0.9,
           "native cache=none vs fio libaio": 1.0, "io_uring cache=none vs fio io_uring": 1.0,
           "posix fd pool 4 vs no pool": 1.5}
WRITE_THROUGH_TARGET = 0.9
CPU_TARGET = 1.2  # threads: at most 1.2x fio psync's CPU per GB


def spread(values: list[float]) -> str:
    return (f"{statistics.median(values):.2f}x (min {min(values):.2f}, "
            f"max {max(values):.2f})")


def pairs(n: int, mine: Callable[[], Result], theirs: Callable[[], Result]
          ) -> list[tuple[Result, Result]]:
    return [(mine(), theirs()) for _ in range(n)]


def row(target: Any, spec: Spec, backend: str, cache: str, options: dict[str, Any],
        anchor: Any, n: int) -> list[tuple[Result, Result]]:
    drive = bench_drive(spec.path, cache)
    plan = target.plan(drive)
    semantics = CacheSemantics.of(plan)
    options = dict(options)
    spec = attrs.evolve(spec, flush_depth=options.pop("flush_depth", spec.flush_depth))

    def mine() -> Result:
        return run_qdrive(spec, plan, backend, **options)

    if anchor == "fio":
        workers = int(options.get("workers", min(spec.iodepth, 64)))

        def theirs() -> Result:
            return run_fio(spec, semantics, backend, workers=workers)
    else:
        def theirs() -> Result:
            return run_qdrive(spec, plan, backend, **anchor)
    return pairs(n, mine, theirs)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", default="/var/tmp/qdrive-backends.img")
    ap.add_argument("--size", default="1G")
    ap.add_argument("--runtime", type=float, default=5.0, help="seconds per run")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--only", help="run the rows whose label contains this")
    args = ap.parse_args(argv)
    spec0 = Spec.parse(args.path, size=args.size, runtime=args.runtime)
    drive = bench_drive(args.path, "cache=none")
    rows = [r for r in ROWS if not args.only or args.only in r[0]]
    print(f"16k randwrite, iodepth 74, {args.runtime:g} s a run, {args.pairs} pairs a row; "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with TargetSession(drive, rw="randwrite", bs=spec0.bs, size=spec0.size) as target:
        spec = Spec(target.path, size=target.length, runtime=args.runtime)
        for label, backend, cache, options, anchor in rows:
            runs = row(target, spec, backend, cache, options, anchor, args.pairs)
            ratios = [m.iops / t.iops for m, t in runs if t.iops]
            goal = TARGETS.get(label, WRITE_THROUGH_TARGET)
            iops = ", ".join(f"{m.iops / 1e3:.0f}k/{t.iops / 1e3:.0f}k" for m, t in runs)
            print(f"{label:<50} {spread(ratios)}  target >= {goal:g}x  (IOPS {iops})")
            if label.startswith("threads cache=none"):
                cpu = [m.cpu_per_gb / t.cpu_per_gb for m, t in runs if t.cpu_per_gb]
                print(f"{'  threads CPU s/GB vs fio psync':<50} {spread(cpu)}  "
                      f"target <= {CPU_TARGET:g}x")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
