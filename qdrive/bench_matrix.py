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

from .bench import Result, Spec, run_fio, run_qdrive

__all__ = ["Row", "ROWS", "run_matrix", "compare_fio", "format_table", "write_outputs"]


@attrs.frozen
class Row:
    """One line of the table: a backend, a cache mode and the matching fio settings."""

    label: str
    backend: str
    cache: str
    options: tuple[tuple[str, Any], ...] = ()
    dialect: str = "qemu-7.2"
    fio_direct: bool = True
    fio_extra: tuple[str, ...] = ()


def _rows() -> list[Row]:
    caches = {"none": (True, ()), "writeback": (False, ()),
              "writethrough": (False, ("--fdatasync=1",)), "directsync": (True, ("--fdatasync=1",))}
    backends = [("threads", ()), ("posix w/o fd pool", (("fd_pool", 0),)),
                ("posix w/ fd pool", (("fd_pool", 4),)), ("native", ()), ("io_uring", ())]
    rows = []
    for name, opts in backends:
        backend = name.split()[0]
        for cache, (direct, extra) in caches.items():
            if backend == "native" and not direct:
                continue  # QEMU refuses linux-aio without O_DIRECT
            rows.append(Row(f"{name} cache={cache}", backend, f"cache={cache}", opts,
                            fio_direct=direct, fio_extra=extra))
    # The seed's own proposal: sync=on (O_SYNC) through the page cache, 2008 dialect.
    rows.append(Row("posix sync=on (2008)", "posix", "cache=on,sync=on", (("fd_pool", 4),),
                    "qemu-0.9-sync", fio_direct=False, fio_extra=("--sync=1",)))
    return rows


ROWS = tuple(_rows())


def _fio(spec: Spec, row: Row) -> Result | None:
    if shutil.which("fio") is None:
        return None
    spec = attrs.evolve(spec, direct=row.fio_direct)
    workers = dict(row.options).get("workers", min(spec.iodepth, 64))
    return run_fio(spec, row.backend, workers=workers, label=f"fio {row.label}",
                   extra=row.fio_extra)


def run_matrix(spec: Spec, rows: tuple[Row, ...] = ROWS,
               progress: Callable[[str], None] | None = None
               ) -> list[tuple[Row, Result, Result | None]]:
    """Every row: qdrive, then fio on the same target (interleaved A/B)."""
    out = []
    for row in rows:
        if progress:
            progress(f"{row.label} ...")
        mine = run_qdrive(spec, row.backend, cache=row.cache, label=row.label,
                          dialect=row.dialect, **dict(row.options))
        out.append((row, mine, _fio(spec, row)))
    return out


def compare_fio(spec: Spec, backend: str, pairs: int = 3,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Alternate qdrive and fio ``pairs`` times; the ratio qdrive/fio per pair."""
    row = Row(backend, backend, "cache=none" if spec.direct else "cache=writeback",
              fio_direct=spec.direct)
    ratios, runs = [], []
    for n in range(pairs):
        if progress:
            progress(f"pair {n + 1}/{pairs}")
        mine = run_qdrive(spec, backend, cache=row.cache)
        theirs = _fio(spec, row)
        if theirs is None:
            raise FileNotFoundError("fio is not installed (apt-get install fio)")
        ratios.append(mine.iops / theirs.iops if theirs.iops else 0.0)
        runs.append((mine.to_json(), theirs.to_json()))
    return {"backend": backend, "ratios": ratios, "min": min(ratios),
            "median": statistics.median(ratios), "max": max(ratios), "runs": runs}


def format_table(results: list[tuple[Row, Result, Result | None]], spec: Spec) -> str:
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
