"""The benchmark table for qdrive: backends x cache modes, with fio beside each row.

Rows run qdrive and fio alternately on the same target, so the machine's drift hits
both alike; ``repeat`` runs each side that many times (alternating) and the table shows
the median of every figure with the throughput's and the ratio's min-max. A cell that
does not apply (QEMU refuses aio=native without O_DIRECT; fio has no engine with the
posix backend's descriptor pool) is "—" in the table and the CSV and null in the JSON.
"""

from __future__ import annotations

import csv
import difflib
import json
import shutil
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .workload import (FIO_ENGINES, CacheSemantics, Result, Spec, bench_drive, fio_command,
                       run_fio, run_qdrive)
from .target import Target
from ..model import Drive

__all__ = ["Row", "ROWS", "BACKENDS", "CACHES", "RowResult", "Step", "select_rows",
           "summarize", "FIGURES", "run_matrix", "compare_fio", "format_table",
           "format_head", "format_row", "footnotes", "to_json", "write_outputs", "plot", "NA",
           "SCHEMA_VERSION"]

SCHEMA_VERSION = 1  # of bench's JSON: qdrive/schema/bench.schema.json
NA = "—"  # a figure that does not apply (or was not measured: fio not installed)

BACKENDS = ("threads", "posix", "native", "io_uring")
# --caches names: QEMU's cache modes, and the 2008 dialect's cache=on,sync=on (O_SYNC).
CACHES = ("none", "writeback", "writethrough", "directsync", "sync=on")
_DRIVE_CACHE = {"sync=on": "cache=on,sync=on"}
_NATIVE_NEEDS_DIRECT = ("QEMU refuses aio=native without O_DIRECT "
                        "(block/file-posix.c): use cache=none or directsync")
_NO_FIO_POOL = "fio has no engine with the posix backend's descriptor pool"
_NO_SLAT = ("fio measures no submission latency for psync, a synchronous engine "
            "(the submission is the whole I/O)")
_NO_FIO = "fio is not installed (apt-get install fio)"


@attrs.frozen
class Row:
    """One line of the table: a backend (and its options) and a cache mode.

    fio's settings are not written here: they are derived from the plan the qdrive side
    opens (:meth:`CacheSemantics.fio_options`), so the two sides cannot drift apart.
    ``skip`` says why the row does not apply (nothing runs); ``no_fio`` why fio has no
    anchor for it.
    """

    backend: str
    backend_label: str  # "posix, 4 pooled descriptors"
    mode: str  # the --caches name: "none", "sync=on" ...
    cache: str  # the drive's cache options: "cache=none", "cache=on,sync=on" ...
    options: tuple[tuple[str, Any], ...] = ()
    dialect: str = "qemu-7.2"
    skip: str = ""
    no_fio: str = ""

    @property
    def cache_label(self) -> str:
        return f"{self.cache} (2008)" if self.dialect != "qemu-7.2" else self.cache

    @property
    def label(self) -> str:
        """The row's full name: "posix, 4 pooled descriptors, cache=none"."""
        return f"{self.backend_label}, {self.cache_label}"

    def drive(self, path: str) -> Drive:
        drive: Drive = bench_drive(path, self.cache, self.dialect)
        return drive


def _rows() -> list[Row]:
    backends = [("threads", "threads (thread pool)", ()),
                ("posix", "posix, no descriptor pool", (("fd_pool", 0),)),
                ("posix", "posix, 4 pooled descriptors", (("fd_pool", 4),)),
                ("native", "native (Linux AIO)", ()), ("io_uring", "io_uring", ())]
    rows = []
    for backend, name, opts in backends:
        no_fio = _NO_FIO_POOL if dict(opts).get("fd_pool") else ""
        for mode in CACHES[:4]:
            skip = _NATIVE_NEEDS_DIRECT if backend == "native" and mode in (
                "writeback", "writethrough") else ""
            rows.append(Row(backend, name, mode, f"cache={mode}", opts, skip=skip,
                            no_fio=no_fio))
    # The seed's own proposal: sync=on (O_SYNC) through the page cache, 2008 dialect.
    rows.append(Row("posix", "posix, 4 pooled descriptors", "sync=on", "cache=on,sync=on",
                    (("fd_pool", 4),), "qemu-0.9-sync", no_fio=_NO_FIO_POOL))
    return rows


ROWS = tuple(_rows())


def _names(option: str, text: str, known: Sequence[str]) -> list[str]:
    """A comma list of ``known`` names, each checked ("did you mean")."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError(f"{option} needs one or more of {', '.join(known)}")
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"{option}: unknown name {name!r}{hint}; "
                             f"give one or more of {', '.join(known)}, comma-separated")
    return names


def select_rows(backends: str | None = None, caches: str | None = None,
                rows: tuple[Row, ...] = ROWS) -> tuple[Row, ...]:
    """The rows of the given ``--backends`` and ``--caches`` comma lists (None: all).
    Raises ValueError naming an unknown name, or when no selected row can run."""
    want_b = set(_names("--backends", backends, BACKENDS)) if backends is not None else None
    want_c = set(_names("--caches", caches, CACHES)) if caches is not None else None
    chosen = tuple(r for r in rows if (want_b is None or r.backend in want_b)
                   and (want_c is None or r.mode in want_c))
    if not chosen:
        raise ValueError("--backends and --caches leave no row: the 2008 dialect's sync=on "
                         "runs only on posix")
    if all(r.skip for r in chosen):
        raise ValueError(f"no selected row can run: {chosen[0].skip}")
    return chosen


@attrs.frozen
class RowResult:
    """A row's runs: ``mine`` and ``theirs`` (fio) in the order they ran, alternating;
    both empty when the row does not apply, ``theirs`` empty without a fio anchor."""

    row: Row
    mine: tuple[Result, ...] = ()
    theirs: tuple[Result, ...] = ()
    no_fio: str = ""  # why ``theirs`` is empty (the row's reason, or fio not installed)

    @property
    def ratios(self) -> list[float]:
        """qdrive/fio IOPS per repeat (each pair ran back to back)."""
        return [m.iops / t.iops for m, t in zip(self.mine, self.theirs, strict=False)
                if t.iops]


@attrs.frozen
class Step:
    """Where a matrix run is, for its progress line: row ``row``/``rows`` (1-based) and
    run ``run``/``runs`` (0-based: the runs finished) over the whole matrix."""

    row: int
    rows: int
    run: int
    runs: int
    label: str


def _workers(spec: Spec, options: dict[str, Any]) -> int:
    return int(options.get("workers", min(spec.iodepth, 64)))


def _fio_reason(row: Row) -> str:
    if row.no_fio:
        return row.no_fio
    return "" if shutil.which("fio") is not None else _NO_FIO


def run_matrix(spec: Spec, target: Target, rows: tuple[Row, ...] = ROWS, repeat: int = 1,
               progress: Callable[[Step], None] | None = None,
               report: Callable[[RowResult], None] | None = None) -> list[RowResult]:
    """Every row ``repeat`` times: qdrive, then fio on the same target (interleaved A/B),
    each side with the row's own cache semantics. ``report`` gets each row once it is
    done (to print it while the next one runs)."""
    sides = [0 if r.skip else 1 + (not _fio_reason(r)) for r in rows]
    runs, out = sum(sides) * repeat, []
    done = 0
    for n, (row, per_repeat) in enumerate(zip(rows, sides, strict=True), 1):
        mine: list[Result] = []
        theirs: list[Result] = []
        plan = None if row.skip else target.plan(row.drive(spec.path))
        options = dict(row.options)
        for _ in range(repeat if plan is not None else 0):
            assert plan is not None
            if progress:
                progress(Step(n, len(rows), done, runs, f"{row.label}: qdrive"))
            mine.append(run_qdrive(spec, plan, row.backend, label=row.label, **options))
            done += 1
            if per_repeat == 2:
                if progress:
                    progress(Step(n, len(rows), done, runs, f"{row.label}: fio"))
                theirs.append(run_fio(spec, CacheSemantics.of(plan), row.backend,
                                      workers=_workers(spec, options),
                                      label=f"fio {row.label}", readonly=target.read_only))
                done += 1
        result = RowResult(row, tuple(mine), tuple(theirs), row.skip or _fio_reason(row))
        out.append(result)
        if report:
            report(result)
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


# -- the figures ------------------------------------------------------------------------
# (key, Result attribute): the figures every summary carries, median/min/max of the repeats.
FIGURES = (("mb_per_s", "mb_per_s"), ("iops", "iops"), ("submit_us", "submit_us"),
           ("complete_ms", "complete_ms"), ("p50_ms", "p50_ms"), ("p99_ms", "p99_ms"),
           ("p999_ms", "p999_ms"), ("cpu_seconds", "cpu_seconds"),
           ("cpu_per_gb", "cpu_per_gb"))


def summarize(runs: Sequence[Result]) -> dict[str, Any] | None:
    """Median, min and max of each figure over the runs (None: nothing ran)."""
    if not runs:
        return None
    out: dict[str, Any] = {"repeats": len(runs)}
    for key, attr in FIGURES:
        values = [getattr(r, attr) for r in runs]
        out[key] = None if None in values else _spread([float(v) for v in values])
    return out


def _spread(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _fio_tool(row: Row) -> str:
    return f"fio {FIO_ENGINES[row.backend]}"


def to_json(results: Sequence[RowResult], spec: Spec) -> dict[str, Any]:
    """The matrix as data: each row with its qdrive and fio summaries (null where a side
    does not apply), the qdrive/fio ratio's spread and every run."""
    return {"schema_version": SCHEMA_VERSION, "spec": attrs.asdict(spec), "rows": [{
        "label": r.row.label, "backend": r.row.backend, "backend_label": r.row.backend_label,
        "backend_options": dict(r.row.options), "cache": r.row.cache, "cache_mode": r.row.mode,
        "dialect": r.row.dialect, "applies": not r.row.skip, "reason": r.row.skip or None,
        "fio_engine": FIO_ENGINES[r.row.backend] if r.theirs else None,
        "no_fio": r.no_fio or None,
        "qdrive": summarize(r.mine), "fio": summarize(r.theirs),
        "ratio_qdrive_fio": _spread(r.ratios),
        "runs": {"qdrive": [x.to_json() for x in r.mine],
                 "fio": [x.to_json() for x in r.theirs]},
    } for r in results]}


# -- the table ----------------------------------------------------------------------------
# (first heading line, second, width); the first two columns are left-aligned.
_COLUMNS = (("", "backend", 27), ("", "cache mode", 23), ("", "tool", 12),
            ("throughput (MB/s)", "median (min-max)", 22), ("I/O operations", "per second", 14),
            ("submission", "latency (µs)", 12), ("completion", "latency (ms)", 12),
            ("99th percentile", "latency (ms)", 15), ("CPU seconds", "per GB", 11),
            ("qdrive / fio IOPS", "median (min-max)", 17))


def _line(cells: Sequence[str]) -> str:
    parts = [f"{c:<{w}}" if i < 3 else f"{c:>{w}}"
             for i, (c, (_, _, w)) in enumerate(zip(cells, _COLUMNS, strict=True))]
    return "  ".join(parts).rstrip()


def format_head(spec: Spec, repeat: int = 1) -> str:
    """The table's title and column headings."""
    runs = "1 run of each tool per row" if repeat == 1 else (
        f"{repeat} runs of each tool per row, alternating")
    title = (f"{_size(spec.bs)} {_RW.get(spec.rw, spec.rw)}, queue depth {spec.iodepth}, "
             f"one thread, {spec.runtime:g} s per run, {runs}, "
             f"on {spec.path}")
    heads = [_line([c[0] for c in _COLUMNS]), _line([c[1] for c in _COLUMNS])]
    return "\n".join([title, *heads, "-" * len(heads[1])])


_RW = {"randwrite": "random writes", "write": "sequential writes", "randread": "random reads",
       "read": "sequential reads", "randrw": "random reads and writes (half each)"}


def _size(n: int) -> str:
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def _fmt(value: float, digits: int, sep: str = ",") -> str:
    return f"{value:{sep}.{digits}f}"


def _range(s: dict[str, float] | None, digits: int, sep: str = ",") -> str:
    """``median (min-max)``; the median alone when every run gave the same."""
    if s is None:
        return NA
    med = _fmt(s["median"], digits, sep)
    if s["min"] == s["max"]:
        return med
    return f"{med} ({_fmt(s['min'], digits, sep)}-{_fmt(s['max'], digits, sep)})"


def _figures(summary: dict[str, Any] | None) -> list[str]:
    if summary is None:
        return [NA] * 6

    def median(key: str, digits: int) -> str:
        return NA if summary[key] is None else _fmt(summary[key]["median"], digits)

    return [_range(summary["mb_per_s"], 1, ""), median("iops", 0), median("submit_us", 2),
            median("complete_ms", 3), median("p99_ms", 3), median("cpu_per_gb", 3)]


def format_row(result: RowResult) -> str:
    """A row's lines: qdrive's figures, then fio's (with the ratio), "—" where they do
    not apply."""
    row = result.row
    mine = _line([row.backend_label, row.cache_label, "qdrive",
                  *_figures(summarize(result.mine)), ""])
    fio = _line(["", "", _fio_tool(row) if result.theirs else "fio",
                 *_figures(summarize(result.theirs)), _range(_spread(result.ratios), 2)])
    return f"{mine}\n{fio}"


def footnotes(results: Sequence[RowResult]) -> list[str]:
    """One line per reason a figure is "—"."""
    reasons = dict.fromkeys(r.row.skip or r.no_fio for r in results if r.row.skip or r.no_fio)
    if any(r.theirs and None in (x.submit_us for x in r.theirs) for r in results):
        reasons[_NO_SLAT] = None
    return [f"{NA} {reason}" for reason in reasons]


def format_table(results: Sequence[RowResult], spec: Spec, repeat: int = 1) -> str:
    """The matrix as a table for a person: two lines per backend and cache mode (qdrive,
    fio), figures aligned, "—" where a figure does not apply, then what each "—" means."""
    lines = [format_head(spec, repeat), *(format_row(r) for r in results)]
    return "\n".join(lines + footnotes(results))


# -- the files ------------------------------------------------------------------------------
_CSV_FIELDS = ["backend", "backend_options", "cache", "dialect", "tool", "repeats",
               *(f"{k}_{s}" for k, _ in FIGURES for s in ("median", "min", "max")),
               "ratio_qdrive_fio_median", "ratio_qdrive_fio_min", "ratio_qdrive_fio_max",
               "note"]


def _csv_rows(results: Sequence[RowResult]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        ratio = _spread(r.ratios)
        for tool, runs in (("qdrive", r.mine), ("fio", r.theirs)):
            summary = summarize(runs)
            line: dict[str, Any] = {
                "backend": r.row.backend_label, "cache": r.row.cache,
                "backend_options": ";".join(f"{k}={v}" for k, v in r.row.options) or NA,
                "dialect": r.row.dialect,
                "tool": _fio_tool(r.row) if tool == "fio" and runs else tool,
                "repeats": len(runs),
                "note": r.row.skip or (r.no_fio if tool == "fio" else "")}
            for k, _ in FIGURES:
                for s in ("median", "min", "max"):
                    figure = None if summary is None else summary[k]
                    line[f"{k}_{s}"] = NA if figure is None else round(figure[s], 3)
            for s in ("median", "min", "max"):
                line[f"ratio_qdrive_fio_{s}"] = (round(ratio[s], 3) if tool == "fio" and ratio
                                                 else NA)
            out.append(line)
    return out


def write_outputs(results: Sequence[RowResult], stem: str, spec: Spec) -> tuple[list[str], str]:
    """STEM.csv and STEM.json of the table, and STEM.png when matplotlib is installed;
    the files written and a note when the plot was not (empty otherwise)."""
    with open(f"{stem}.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=_CSV_FIELDS)
        w.writeheader()
        w.writerows(_csv_rows(results))
    with open(f"{stem}.json", "w", encoding="utf-8") as f:
        json.dump(to_json(results, spec), f, indent=1, ensure_ascii=False)
    written = [f"{stem}.csv", f"{stem}.json"]
    try:
        import matplotlib
    except ImportError:
        return written, ("no plot: matplotlib is not installed "
                         "(pip install 'qdrive[plot]' or apt-get install python3-matplotlib)")
    matplotlib.use("Agg")
    plot(results, spec).savefig(f"{stem}.png")
    written.append(f"{stem}.png")
    return written, ""


def plot(results: Sequence[RowResult], spec: Spec) -> Any:
    """A matplotlib Figure: one group of bars per cache mode, one bar per backend (qdrive's
    median MB/s, min-max as error bars), fio's median as a marker on its bar, log axis."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    modes = list(dict.fromkeys(r.row.cache_label for r in results))
    backends = list(dict.fromkeys(r.row.backend_label for r in results))
    cells = {(r.row.cache_label, r.row.backend_label): r for r in results}
    width = 0.8 / max(len(backends), 1)
    fig, ax = plt.subplots(figsize=(max(10.0, 1.6 * len(modes) + 5), 5.5))
    fio_shown = False
    for b, backend in enumerate(backends):
        xs, ys, lo, hi, fio_x, fio_y = [], [], [], [], [], []
        for m, mode in enumerate(modes):
            cell = cells.get((mode, backend))
            s = summarize(cell.mine) if cell else None
            x = m - 0.4 + width * (b + 0.5)
            if s is None:
                if cell is not None:  # in the matrix, but does not apply
                    ax.text(x, 0.02, NA, ha="center", va="bottom",
                            transform=ax.get_xaxis_transform())
                continue
            figure = s["mb_per_s"]
            xs.append(x)
            ys.append(figure["median"])
            lo.append(figure["median"] - figure["min"])
            hi.append(figure["max"] - figure["median"])
            f = summarize(cell.theirs) if cell else None
            if f is not None:
                fio_x.append(x)
                fio_y.append(f["mb_per_s"]["median"])
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=backend, color=f"C{b}")
        if fio_x:
            ax.plot(fio_x, fio_y, "k_", markersize=14, markeredgewidth=2,
                    label=None if fio_shown else "fio, same engine and cache semantics")
            fio_shown = True
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())  # 300, not 3 x 10^2
    ax.set_xticks(range(len(modes)), modes)
    ax.set_xlabel("cache mode")
    ax.set_ylabel("throughput, MB/s (log scale)\nbars: median, whiskers: min-max")
    ax.set_title(f"qdrive bench: {_size(spec.bs)} {_RW.get(spec.rw, spec.rw)}, "
                 f"queue depth {spec.iodepth}, {spec.runtime:g} s per run")
    ax.legend(title="backend", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
