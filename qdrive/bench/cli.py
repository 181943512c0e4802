"""`qdrive bench`: argument handling and printing for the benchmark (bench.py measures,
bench_target decides what may be written).

Exit codes: 0 the run completed; 1 the run failed (an I/O error, fio failed); 2 a usage
error or a refused target, with one line saying what to do; 128+N when signal N (SIGINT,
SIGTERM, SIGHUP) stopped it, after the cleanup.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from typing import Any

import attrs

from ..dialect import get as get_dialect

__all__ = ["bench_command", "MAX_IODEPTH", "MAX_BUFFER_BYTES"]

MAX_IODEPTH = 1024  # the deepest queue every backend's C loop has been run at
MAX_BUFFER_BYTES = 1 << 30  # bs x iodepth: the buffers one run allocates


class BenchUsageError(ValueError):
    """A command line bench cannot act on (exit code 2)."""


def _bar(stream: Any = None) -> Any:
    """The progress line (qdrive.frontend.terminal's, as check -f uses): on a terminal only."""
    from ..frontend.terminal import Progress

    stream = sys.stderr if stream is None else stream  # at call time: tests replace it
    isatty = getattr(stream, "isatty", None)
    return Progress(None, stream, bool(isatty and isatty()), what="row ")


def bench_command(args: argparse.Namespace) -> int:
    """`qdrive bench`: check the drive, prepare and guard the target, run, print; the exit code."""
    from .signals import Interrupted, interrupts
    from .target import TargetError

    bar = _bar()
    progress = bar.show if bar.enabled else None
    session: Any = None
    with interrupts.installed():
        try:
            drive, workload, size = _read_args(args)
            session = _session(args, drive, workload["rw"], workload["bs"], size, progress)
            return _bench(args, drive, workload, session, bar)
        except (BenchUsageError, TargetError) as exc:
            return _fail(bar, str(exc), 2)
        except Interrupted as exc:
            removed = f"; removed {session.path}, which it had created" if (
                session is not None and session.removed) else ""
            return _fail(bar, f"interrupted by {exc.name}{removed}", exc.exit_code)
        except OSError as exc:  # the device failed during the run (EIO, ENOSPC ...)
            where = f" on {session.path}" if session is not None else ""
            return _fail(bar, f"the benchmark failed{where}: {_os_message(exc)}", 1)
        except RuntimeError as exc:  # FioError
            return _fail(bar, str(exc), 1)


def _fail(bar: Any, message: str, code: int) -> int:
    bar.clear()
    print(f"qdrive: {message}", file=sys.stderr)
    return code


def _os_message(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return f"{exc.filename}: {text}" if exc.filename else text


# -- the command line ------------------------------------------------------------------
def _read_args(args: argparse.Namespace) -> tuple[Any, dict[str, Any], int | None]:
    """The drive, the workload's numbers and the --size asked for (None: not given)."""
    from ..frontend._check import parse_drive
    from ..errors import DriveError

    try:
        drive = parse_drive(args.drive, dialect=args.dialect or _dialect(args.drive))
    except DriveError as exc:
        raise BenchUsageError(str(exc)) from None
    bs = _size("--bs", args.bs)
    size = None if args.size is None else _size("--size", args.size)
    _check_numbers(args, bs)
    _check_backend(args, drive)
    _check_matrix(args)
    return drive, {"rw": args.rw, "bs": bs, "iodepth": args.iodepth,
                   "runtime": args.runtime, "flush_depth": args.flush_depth}, size


def _check_matrix(args: argparse.Namespace) -> None:
    """--backends/--caches: only with --matrix, each name known; sets ``args.rows``."""
    from .matrix import select_rows

    if not args.matrix:
        given = [o for o, v in (("--backends", args.backends), ("--caches", args.caches))
                 if v is not None]
        if given:
            raise BenchUsageError(f"{' and '.join(given)} choose rows of --matrix: add "
                                  f"--matrix, or give the drive's own cache= and aio=")
        return
    try:
        args.rows = select_rows(args.backends, args.caches)
    except ValueError as exc:
        raise BenchUsageError(str(exc)) from None


def _dialect(text: str) -> str:
    """The seed's sync= option exists only in the 2008 dialect: a drive that has it means
    that dialect (--dialect says so explicitly)."""
    from ..frontend._syntax import tokenize

    return "qemu-0.9-sync" if any(o.key == "sync" for o in tokenize(text)) else "qemu-7.2"


def _size(option: str, text: str) -> int:
    from .._values import ValueProblem, parse_size

    try:
        value = parse_size(option.lstrip("-"), text)[0]
    except ValueProblem as exc:
        raise BenchUsageError(f"{option} {text}: {exc}") from None
    if value < 1:
        raise BenchUsageError(f"{option} must be at least 1 byte")
    return value


def _check_numbers(args: argparse.Namespace, bs: int) -> None:
    if not 1 <= args.iodepth <= MAX_IODEPTH:
        raise BenchUsageError(f"--iodepth must be between 1 and {MAX_IODEPTH}")
    if bs * args.iodepth > MAX_BUFFER_BYTES:
        raise BenchUsageError(f"--bs x --iodepth is {bs * args.iodepth} bytes of buffers, "
                              f"more than {MAX_BUFFER_BYTES}: give a smaller --bs or --iodepth")
    if not (math.isfinite(args.runtime) and args.runtime > 0):
        raise BenchUsageError("--runtime must be a positive number of seconds")
    if args.pairs < 1:
        raise BenchUsageError("--pairs must be at least 1")
    if args.repeat < 1:
        raise BenchUsageError("--repeat must be at least 1")
    if args.repeat > 1 and args.compare_fio:
        raise BenchUsageError("--compare-fio repeats with --pairs: drop --repeat")
    if not 1 <= args.flush_depth <= args.iodepth:
        raise BenchUsageError(f"--flush-depth must be between 1 and --iodepth "
                              f"({args.iodepth})")
    if args.workers is not None and args.workers < 1:
        raise BenchUsageError("--workers must be at least 1")
    if args.fd_pool is not None and args.fd_pool < 0:
        raise BenchUsageError("--fd-pool must be 0 (off) or more")


def _backend(args: argparse.Namespace, drive: Any) -> str:
    from ..block.plan import plan_open

    return str(args.backend or plan_open(drive).aio)


def _check_backend(args: argparse.Namespace, drive: Any) -> None:
    from ..block.plan import plan_open

    if args.matrix:
        given = [o for o, v in (("--backend", args.backend), ("--workers", args.workers),
                                ("--fd-pool", args.fd_pool), ("--compare-fio",
                                                              args.compare_fio or None))
                 if v is not None]
        if given:
            raise BenchUsageError(f"--matrix runs every backend and cache mode (choose "
                                  f"rows with --backends and --caches): drop "
                                  f"{' and '.join(given)}")
        return
    backend = _backend(args, drive)
    if args.workers is not None and backend != "threads":
        raise BenchUsageError(f"--workers sizes the threads backend's pool; this run uses "
                              f"{backend}")
    if args.fd_pool is not None and backend != "posix":
        raise BenchUsageError(f"--fd-pool sizes the posix backend's descriptor pool; this "
                              f"run uses {backend}")
    if backend == "native" and not plan_open(drive).direct:  # block/file-posix.c
        raise BenchUsageError("aio=native needs cache.direct=on (cache=none or directsync), "
                              "as in QEMU: change the cache mode or the backend")
    if args.compare_fio and shutil.which("fio") is None:
        raise BenchUsageError("--compare-fio needs fio: install it (apt-get install fio)")


def _session(args: argparse.Namespace, drive: Any, rw: str, bs: int, size: int | None,
             progress: Any) -> Any:
    from .target import TargetSession

    return TargetSession(drive, rw=rw, bs=bs, size=size, destroy_ok=args.yes_destroy_data,
                         keep=args.keep, progress=progress)


def _backend_options(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in (("workers", args.workers), ("fd_pool", args.fd_pool))
            if v is not None}


# -- running and printing ------------------------------------------------------------------
def _bench(args: argparse.Namespace, drive: Any, workload: dict[str, Any], session: Any,
           bar: Any) -> int:
    """Measure inside the session (target prepared and locked), print after its cleanup
    (a --matrix table row by row while it runs). While it measures, the progress line is
    redrawn every second: its clock says the time elapsed and about how much is left."""
    from .matrix import compare_fio
    from .workload import Spec

    with session as target:
        spec = Spec(target.path, size=target.length, **workload)
        with bar.ticking():
            if args.matrix:
                table = _run_matrix(args, spec, target, bar)
            elif args.compare_fio:
                pairs = compare_fio(spec, target, drive, _backend(args, drive), args.pairs,
                                    _counted(bar, 2 * args.pairs, spec.runtime) if
                                    bar.enabled else None, **_backend_options(args))
            else:
                results = _run_single(args, drive, spec, target, bar)
    bar.finish()
    if args.matrix:
        return _print_matrix(table, spec, args)
    if args.compare_fio:
        return _print_compare(pairs, args, drive, spec, target)
    if args.json:
        print(json.dumps({**_repeats(results), "spec": attrs.asdict(spec),
                          "target": target.to_json()}))
    else:
        print(_line(results))
    return 0


def _timed(bar: Any, runs: int, runtime: float) -> Any:
    """An Eta over ``runs`` runs of about ``runtime`` seconds, at the end of ``bar``'s line."""
    from ..frontend.terminal import Eta

    eta = Eta(runs, runtime)
    bar.suffix = eta
    return eta


def _counted(bar: Any, runs: int, runtime: float) -> Any:
    """compare_fio()'s progress callback: each call starts the next run."""
    eta = _timed(bar, runs, runtime)
    started = [0]

    def step(text: str) -> None:
        eta.step(started[0])
        started[0] += 1
        bar.show(text)

    return step


def _run_single(args: argparse.Namespace, drive: Any, spec: Any, target: Any,
                bar: Any) -> list[Any]:
    """The drive's --repeat runs; the progress line says run k/N when there are several."""
    from .workload import run_qdrive

    eta = _timed(bar, args.repeat, spec.runtime)
    results = []
    for n in range(args.repeat):
        eta.step(n)
        head = f"run {n + 1}/{args.repeat}: " if args.repeat > 1 else ""

        def progress(text: str, head: str = head) -> None:
            bar.show(head + text)

        results.append(run_qdrive(spec, target.plan(drive), _backend(args, drive),
                                  progress=progress if bar.enabled else None,
                                  label=_label(args, drive), **_backend_options(args)))
    return results


def _run_matrix(args: argparse.Namespace, spec: Any, target: Any, bar: Any) -> Any:
    """The matrix, each row printed once done (unless --json); the progress line says
    row k/N, the run under way, the time elapsed and an estimate of what is left."""
    from .matrix import format_head, format_row, run_matrix

    if not args.json:
        bar.print(format_head(spec, args.repeat), sys.stdout)
    eta = _timed(bar, 0, spec.runtime)

    def step(s: Any) -> None:
        eta.runs = s.runs
        eta.step(s.run)
        bar.total = s.rows
        bar.update(s.row, s.label)

    def report(result: Any) -> None:
        if not args.json:
            bar.print(format_row(result), sys.stdout)

    return run_matrix(spec, target, args.rows, args.repeat, progress=step, report=report)


def _repeats(results: list[Any]) -> dict[str, Any]:
    """--json of a single drive: the run with the median throughput as ``result`` (the
    lower median for an even count), every run, and each figure's median and min-max."""
    from .matrix import SCHEMA_VERSION, summarize

    ordered = sorted(results, key=lambda r: r.mb_per_s)
    return {"schema_version": SCHEMA_VERSION, "result": ordered[(len(ordered) - 1) // 2].to_json(),
            "runs": [r.to_json() for r in results], "summary": summarize(results)}


def _label(args: argparse.Namespace, drive: Any) -> str:
    """The backend and the cache options as the drive gave them (or the default mode)."""
    from ..frontend._syntax import tokenize

    legacy = get_dialect(drive.dialect).legacy
    cache = [f"{o.key}={o.value}" for o in tokenize(args.drive, old=legacy)
             if o.key == "sync" or o.key == "cache" or o.key.startswith("cache.")]
    default = "cache=on" if legacy else "cache=writeback"
    return f"{_backend(args, drive)} {','.join(cache) or default}"


def _line(results: list[Any]) -> str:
    """The figures of one drive: medians over the repeats, throughput with its min-max."""
    from .matrix import summarize

    s = summarize(results)
    assert s is not None
    m = {k: v["median"] for k, v in s.items() if isinstance(v, dict)}
    spread = (f" (min {s['mb_per_s']['min']:.1f}, max {s['mb_per_s']['max']:.1f}, "
              f"medians of {len(results)} runs)" if len(results) > 1 else "")
    return (f"{results[0].label}: {m['mb_per_s']:.1f} MB/s{spread}, {m['iops']:,.0f} IOPS, "
            f"submission {m['submit_us']:.2f} µs, completion {m['complete_ms']:.3f} ms "
            f"(median {m['p50_ms']:.3f}, 99th percentile {m['p99_ms']:.3f}, "
            f"99.9th {m['p999_ms']:.3f}), {m['cpu_seconds']:.2f} CPU s "
            f"({m['cpu_per_gb']:.3f} s per GB)")


def _print_matrix(results: Any, spec: Any, args: argparse.Namespace) -> int:
    from .matrix import footnotes, to_json, write_outputs

    written, note = write_outputs(results, args.out, spec)
    files = "wrote " + ", ".join(written) + (f"; {note}" if note else "")
    if args.json:
        print(json.dumps(to_json(results, spec), ensure_ascii=False))
        print(files, file=sys.stderr)
        return 0
    for line in footnotes(results):
        print(line)
    print(files)
    return 0


def _print_compare(out: dict[str, Any], args: argparse.Namespace, drive: Any, spec: Any,
                   target: Any) -> int:
    from .matrix import SCHEMA_VERSION

    if args.json:
        # The same envelope as a single drive's --json (bench.schema.json "compare").
        print(json.dumps({"schema_version": SCHEMA_VERSION, "spec": attrs.asdict(spec),
                          "target": target.to_json(), "pairs": args.pairs, **out}))
    else:
        print(f"{_label(args, drive)} ({out['cache']}): qdrive/fio throughput ratio over "
              f"{args.pairs} pairs: min {out['min']:.2f}, median {out['median']:.2f}, "
              f"max {out['max']:.2f}")
    return 0


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
