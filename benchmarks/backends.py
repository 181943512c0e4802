"""Each backend beside its fio anchor, and the posix descriptor pool beside no pool.

Issue 17 item 4. One target (a file this script creates, writes once and removes, 1 GiB
by default) serves every row; each row alternates qdrive and its anchor ``--pairs``
times and prints the per-pair ratios (median, min-max), so the machine's drift hits both
sides alike. The anchors are fio with the same workload and cache semantics
(``qdrive.bench.workload.fio_command``: psync with one job per pool worker for threads,
``--fdatasync=1`` for write-through; qdrive keeps QEMU's one flush in flight, and the
rows marked "64 flushes in flight" give it fio's shape) and, for the descriptor pool,
the posix backend without it. Each row prints its ratio beside both sides' own figures
from the same pairs. Also the CPU seconds per GB of the thread pool against fio psync's,
twice: against fio's own figure (its jobs' threads, the target's anchor) and against
fio's whole process (getrusage of the child, as qdrive's is of its whole process).
Prints figures and the load average; passes or fails on nothing.

    python benchmarks/backends.py [--path /var/tmp/qdrive-backends.img] [--runtime 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
from collections.abc import Callable
from typing import Any

import attrs

from qdrive.bench.target import TargetSession
from qdrive.bench.workload import (FIO_ENGINES, CacheSemantics, Result, Spec, bench_drive,
                                   run_fio, run_qdrive)

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


@attrs.frozen
class Run:
    """One run and the CPU seconds of its whole process: for qdrive the Result's own
    (getrusage of this process around the loop), for fio getrusage of the child, which
    also counts fio's main thread (fio's own figure sums its jobs' threads only)."""

    result: Result
    process_cpu: float

    @property
    def process_cpu_per_gb(self) -> float:
        gb = self.result.bytes / 1e9
        return self.process_cpu / gb if gb else 0.0


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def pairs(n: int, mine: Callable[[], Result], theirs: Callable[[], Result], fio: bool
          ) -> list[tuple[Run, Run]]:
    out = []
    for _ in range(n):
        m = mine()
        c0 = _child_cpu()
        t = theirs()
        out.append((Run(m, m.cpu_seconds),
                    Run(t, _child_cpu() - c0 if fio else t.cpu_seconds)))
    return out


def row(target: Any, spec: Spec, backend: str, cache: str, options: dict[str, Any],
        anchor: Any, n: int) -> list[tuple[Run, Run]]:
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
    return pairs(n, mine, theirs, anchor == "fio")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def report(label: str, runs: list[tuple[Run, Run]], anchor: str) -> list[str]:
    """The row's ratio beside both sides' own figures (medians over the pairs), then the
    pairs themselves; for the pool rows also the CPU seconds per GB, both ways."""
    ratios = [m.result.iops / t.result.iops for m, t in runs if t.result.iops]
    goal = TARGETS.get(label, WRITE_THROUGH_TARGET)
    mine = _median([m.result.iops for m, _ in runs]) / 1e3
    theirs = _median([t.result.iops for _, t in runs]) / 1e3
    iops = ", ".join(f"{m.result.iops / 1e3:.1f}k/{t.result.iops / 1e3:.1f}k"
                     for m, t in runs)
    lines = [f"{label:<50} {spread(ratios)}  target >= {goal:g}x",
             f"{'':<4}IOPS qdrive {mine:.1f}k, {anchor} {theirs:.1f}k (medians); pairs {iops}; "
             f"load average {_load()}"]
    if label.startswith("threads cache=none"):
        own = [m.result.cpu_per_gb / t.result.cpu_per_gb for m, t in runs
               if t.result.cpu_per_gb]
        whole = [m.process_cpu_per_gb / t.process_cpu_per_gb for m, t in runs
                 if t.process_cpu_per_gb]
        q = _median([m.result.cpu_per_gb for m, _ in runs])
        f_own = _median([t.result.cpu_per_gb for _, t in runs])
        f_whole = _median([t.process_cpu_per_gb for _, t in runs])
        lines += [f"{'  threads CPU s/GB vs fio psync (fio jobs)':<50} {spread(own)}  "
                  f"target <= {CPU_TARGET:g}x",
                  f"{'':<4}CPU s/GB qdrive {q:.2f}, fio's jobs {f_own:.2f} (fio's own figure)",
                  f"{'  threads CPU s/GB vs fio psync (fio process)':<50} {spread(whole)}",
                  f"{'':<4}CPU s/GB qdrive {q:.2f}, fio's whole process {f_whole:.2f} "
                  f"(getrusage of the child: its main thread too)"]
    return lines


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
    print(f"16k randwrite, iodepth 74, {args.runtime:g} s a run, {args.pairs} pairs a row "
          f"(qdrive, then its anchor); load average {_load()}")
    with TargetSession(drive, rw="randwrite", bs=spec0.bs, size=spec0.size) as target:
        spec = Spec(target.path, size=target.length, runtime=args.runtime)
        for label, backend, cache, options, anchor in rows:
            runs = row(target, spec, backend, cache, options, anchor, args.pairs)
            name = "fio " + FIO_ENGINES[backend] if anchor == "fio" else "no pool"
            for line in report(label, runs, name):
                print(line, flush=True)
    print(f"load average after: {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
