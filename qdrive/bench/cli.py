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


def _progress(stream: Any = sys.stderr) -> Any:
    if not stream.isatty():
        return None

    def show(text: str) -> None:
        print(f"\r\033[K{text}", end="", file=stream, flush=True)

    return show


def _clear(progress: Any) -> None:
    if progress:
        print("\r\033[K", end="", file=sys.stderr, flush=True)


def bench_command(args: argparse.Namespace) -> int:
    """`qdrive bench`: check the drive, prepare and guard the target, run, print; the exit code."""
    from .signals import Interrupted, interrupts
    from .target import TargetError

    progress = _progress()
    session: Any = None
    with interrupts.installed():
        try:
            drive, workload, size = _read_args(args)
            session = _session(args, drive, workload["rw"], workload["bs"], size, progress)
            return _bench(args, drive, workload, session, progress)
        except (BenchUsageError, TargetError) as exc:
            return _fail(progress, str(exc), 2)
        except Interrupted as exc:
            removed = f"; removed {session.path}, which it had created" if (
                session is not None and session.removed) else ""
            return _fail(progress, f"interrupted by {exc.name}{removed}", exc.exit_code)
        except OSError as exc:  # the device failed during the run (EIO, ENOSPC ...)
            where = f" on {session.path}" if session is not None else ""
            return _fail(progress, f"the benchmark failed{where}: {_os_message(exc)}", 1)
        except RuntimeError as exc:  # FioError
            return _fail(progress, str(exc), 1)


def _fail(progress: Any, message: str, code: int) -> int:
    _clear(progress)
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
    return drive, {"rw": args.rw, "bs": bs, "iodepth": args.iodepth,
                   "runtime": args.runtime}, size


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
            raise BenchUsageError(f"--matrix runs every backend and cache mode: drop "
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
           progress: Any) -> int:
    """Measure inside the session (target prepared and locked), print after its cleanup."""
    from .workload import Spec, run_qdrive
    from .matrix import compare_fio, run_matrix

    with session as target:
        spec = Spec(target.path, size=target.length, **workload)
        if args.matrix:
            table = run_matrix(spec, target, progress=progress)
        elif args.compare_fio:
            pairs = compare_fio(spec, target, drive, _backend(args, drive), args.pairs,
                                progress, **_backend_options(args))
        else:
            result = run_qdrive(spec, target.plan(drive), _backend(args, drive), progress=progress,
                                label=_label(args, drive), **_backend_options(args))
    _clear(progress)
    if args.matrix:
        return _print_matrix(table, spec, args.out)
    if args.compare_fio:
        return _print_compare(pairs, args, drive)
    if args.json:
        print(json.dumps({"spec": attrs.asdict(spec), "target": target.to_json(),
                          "result": result.to_json()}))
    else:
        print(_line(result))
    return 0


def _label(args: argparse.Namespace, drive: Any) -> str:
    """The backend and the cache options as the drive gave them (or the default mode)."""
    from ..frontend._syntax import tokenize

    legacy = get_dialect(drive.dialect).legacy
    cache = [f"{o.key}={o.value}" for o in tokenize(args.drive, old=legacy)
             if o.key == "sync" or o.key == "cache" or o.key.startswith("cache.")]
    default = "cache=on" if legacy else "cache=writeback"
    return f"{_backend(args, drive)} {','.join(cache) or default}"


def _line(r: Any) -> str:
    return (f"{r.label}: {r.mb_per_s:.1f} MB/s, {r.iops:,.0f} IOPS, sub {r.submit_us:.2f} us, "
            f"comp {r.complete_ms:.3f} ms (p50 {r.p50_ms:.3f}, p99 {r.p99_ms:.3f}, "
            f"p99.9 {r.p999_ms:.3f}), {r.cpu_seconds:.2f} CPU s ({r.cpu_per_gb:.3f} s/GB)")


def _print_matrix(results: Any, spec: Any, out: str) -> int:
    from .matrix import format_table, write_outputs

    print(format_table(results, spec))
    written = write_outputs(results, out)
    print("wrote " + ", ".join(written))
    return 0


def _print_compare(out: dict[str, Any], args: argparse.Namespace, drive: Any) -> int:
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{_label(args, drive)} ({out['cache']}): qdrive/fio throughput ratio over "
              f"{args.pairs} pairs: min {out['min']:.2f}, median {out['median']:.2f}, "
              f"max {out['max']:.2f}")
    return 0


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
