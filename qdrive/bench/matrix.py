"""The seed's benchmark table for qdrive: backends x cache modes, with fio beside each row.

Rows run qdrive and fio alternately on the same target, so the machine's drift hits
both alike; the table has the seed's columns (MB/s, average submission latency in us,
average completion latency in ms) plus IOPS, p99 and CPU seconds per GB.
"""

from __future__ import annotations

import csv
import json
import shutil
import statistics
from collections.abc import Callable
from typing import Any

import attrs

from .workload import CacheSemantics, Result, Spec, bench_drive, fio_command, run_fio, run_qdrive
from .target import Target
from ..model import Drive

__all__ = ["Row", "ROWS", "run_matrix", "compare_fio", "format_table", "write_outputs"]


@attrs.frozen
class Row:
    """One line of the table: a backend and the drive's cache options.

    fio's settings are not written here: they are derived from the plan the qdrive side
    opens (:meth:`CacheSemantics.fio_options`), so the two sides cannot drift apart.
    """

    label: str
    backend: str
    cache: str  # the drive's cache options: "cache=none", "cache=on,sync=on" ...
    options: tuple[tuple[str, Any], ...] = ()
    dialect: str = "qemu-7.2"

    def drive(self, path: str) -> Drive:
        drive: Drive = bench_drive(path, self.cache, self.dialect)
        return drive


def _rows() -> list[Row]:
    caches = ("none", "writeback", "writethrough", "directsync")
    backends = [("threads", ()), ("posix w/o fd pool", (("fd_pool", 0),)),
                ("posix w/ fd pool", (("fd_pool", 4),)), ("native", ()), ("io_uring", ())]
    rows = []
    for name, opts in backends:
        backend = name.split()[0]
        for cache in caches:
            if backend == "native" and cache not in ("none", "directsync"):
                continue  # QEMU refuses linux-aio without O_DIRECT
            rows.append(Row(f"{name} cache={cache}", backend, f"cache={cache}", opts))
    # The seed's own proposal: sync=on (O_SYNC) through the page cache, 2008 dialect.
    rows.append(Row("posix sync=on (2008)", "posix", "cache=on,sync=on", (("fd_pool", 4),),
                    "qemu-0.9-sync"))
    return rows


ROWS = tuple(_rows())


def _workers(spec: Spec, options: dict[str, Any]) -> int:
    return int(options.get("workers", min(spec.iodepth, 64)))


def _fio(spec: Spec, cache: CacheSemantics, backend: str, options: dict[str, Any],
         label: str, target: Target) -> Result | None:
    if shutil.which("fio") is None:
        return None
    return run_fio(spec, cache, backend, workers=_workers(spec, options), label=label,
                   readonly=target.read_only)


def run_matrix(spec: Spec, target: Target, rows: tuple[Row, ...] = ROWS,
               progress: Callable[[str], None] | None = None
               ) -> list[tuple[Row, Result, Result | None]]:
    """Every row: qdrive, then fio on the same target (interleaved A/B), each side with
    the row's own cache semantics."""
    out = []
    for row in rows:
        if progress:
            progress(f"{row.label} ...")
        plan = target.plan(row.drive(spec.path))
        options = dict(row.options)
        mine = run_qdrive(spec, plan, row.backend, label=row.label, **options)
        theirs = _fio(spec, CacheSemantics.of(plan), row.backend, options,
                      f"fio {row.label}", target)
        out.append((row, mine, theirs))
    return out


def compare_fio(spec: Spec, target: Target, drive: Drive, backend: str, pairs: int = 3,
                progress: Callable[[str], None] | None = None,
                **backend_options: Any) -> dict[str, Any]:
    """Alternate qdrive and fio ``pairs`` times on ``drive`` as given (its cache mode,
    O_SYNC and all); the ratio qdrive/fio per pair."""
    plan = target.plan(drive)
    cache = CacheSemantics.of(plan)
    workers = _workers(spec, backend_options)
    ratios, runs = [], []
    for n in range(pairs):
        if progress:
            progress(f"pair {n + 1}/{pairs}: qdrive")
        mine = run_qdrive(spec, plan, backend, **backend_options)
        if progress:
            progress(f"pair {n + 1}/{pairs}: fio")
        theirs = run_fio(spec, cache, backend, workers=workers, readonly=target.read_only)
        ratios.append(mine.iops / theirs.iops if theirs.iops else 0.0)
        runs.append((mine.to_json(), theirs.to_json()))
    return {"backend": backend, "cache": cache.label(),
            "fio_command": fio_command(spec, cache, backend, workers,
                                       readonly=target.read_only),
            "ratios": ratios, "min": min(ratios), "median": statistics.median(ratios),
            "max": max(ratios), "runs": runs}


def format_table(results: list[tuple[Row, Result, Result | None]], spec: Spec) -> str:
    """The matrix as a table for a person: one row per backend and cache mode, figures aligned."""
    head = (f"{spec.bs // 1024}k {spec.rw} 1 thread, {spec.iodepth} iodepth "
            f"({spec.runtime:g} s per row, {spec.path})")
    cols = f"{'':<34}| {'MB/s':>8} | {'IOPS':>8} | {'sub (us)':>8} | {'comp (ms)':>9} | " \
           f"{'p99 (ms)':>8} | {'CPU s/GB':>8}"
    lines = [head, cols, "-" * len(cols)]
    for _, mine, theirs in results:
        for r in (mine, theirs):
            if r is None:
                continue
            name = ("qdrive " if r.tool == "qdrive" else "") + r.label
            lines.append(f"{name[:34]:<34}| {r.mb_per_s:8.1f} | {r.iops:8.0f} | "
                         f"{r.submit_us:8.2f} | {r.complete_ms:9.3f} | {r.p99_ms:8.3f} | "
                         f"{r.cpu_per_gb:8.3f}")
        if theirs is not None and theirs.iops:
            lines.append(f"{'  ratio qdrive/fio':<34}| {mine.iops / theirs.iops:8.2f}")
    return "\n".join(lines)


def write_outputs(results: list[tuple[Row, Result, Result | None]], stem: str) -> list[str]:
    """CSV and JSON of the table (and a PNG bar chart when matplotlib is installed)."""
    flat = [r for _, mine, theirs in results for r in (mine, theirs) if r is not None]
    with open(f"{stem}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(flat[0].to_json()))
        w.writeheader()
        for r in flat:
            w.writerow(r.to_json())
    with open(f"{stem}.json", "w") as f:
        json.dump([r.to_json() for r in flat], f, indent=1)
    written = [f"{stem}.csv", f"{stem}.json"]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return written
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(flat) + 1))
    ax.barh([("qdrive " if r.tool == "qdrive" else "") + r.label for r in flat],
            [r.mb_per_s for r in flat], color=["C0" if r.tool == "qdrive" else "C1"
                                                for r in flat])
    ax.set_xlabel("MB/s")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(f"{stem}.png")
    written.append(f"{stem}.png")
    return written


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
