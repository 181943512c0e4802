"""`qdrive bench`: argument handling and printing for the benchmark (bench.py measures)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import attrs

__all__ = ["bench_command"]


def _progress(stream: Any = sys.stderr) -> Any:
    if not stream.isatty():
        return None

    def show(text: str) -> None:
        print(f"\r\033[K{text}", end="", file=stream, flush=True)

    return show


def bench_command(args: argparse.Namespace) -> int:
    from .bench import Spec, TargetError, prepare_target, run_qdrive
    from .check import parse_drive
    from .errors import DriveError
    from .flags import cache_triple

    try:
        drive = parse_drive(args.drive, dialect="qemu-0.9-sync" if "sync=" in args.drive
                            else "qemu-7.2")
    except DriveError as exc:
        print(f"qdrive: {exc}", file=sys.stderr)
        return 1
    if not drive.file:
        print("qdrive: bench needs a drive with file=", file=sys.stderr)
        return 2
    spec = Spec.parse(drive.file, bs=args.bs, size=args.size, rw=args.rw,
                      iodepth=args.iodepth, runtime=args.runtime,
                      direct=cache_triple(drive)[1], sync=bool(drive.sync))
    progress = _progress()
    try:
        created = prepare_target(spec, destroy_ok=args.yes_destroy_data, progress=progress)
    except TargetError as exc:
        print(f"qdrive: {exc}", file=sys.stderr)
        return 2
    try:
        if args.matrix:
            return _matrix(spec, args, progress)
        if args.compare_fio:
            return _compare(spec, args, drive, progress)
        options = {k: v for k, v in (("workers", args.workers), ("fd_pool", args.fd_pool))
                   if v is not None}
        result = run_qdrive(spec, args.backend, drive=drive, progress=progress, **options)
    finally:
        if progress:
            print("\r\033[K", end="", file=sys.stderr)
        if created and not args.keep:
            os.unlink(spec.path)
    if args.json:
        print(json.dumps({"spec": attrs.asdict(spec), "result": result.to_json()}))
    else:
        print(_line(result))
    return 0


def _line(r: Any) -> str:
    return (f"{r.label}: {r.mb_per_s:.1f} MB/s, {r.iops:,.0f} IOPS, sub {r.submit_us:.2f} us, "
            f"comp {r.complete_ms:.3f} ms (p50 {r.p50_ms:.3f}, p99 {r.p99_ms:.3f}, "
            f"p99.9 {r.p999_ms:.3f}), {r.cpu_seconds:.2f} CPU s ({r.cpu_per_gb:.3f} s/GB)")


def _matrix(spec: Any, args: argparse.Namespace, progress: Any) -> int:
    from .bench_matrix import format_table, run_matrix, write_outputs

    results = run_matrix(spec, progress=progress)
    if progress:
        print("\r\033[K", end="", file=sys.stderr)
    print(format_table(results, spec))
    written = write_outputs(results, args.out)
    print("wrote " + ", ".join(written))
    return 0


def _compare(spec: Any, args: argparse.Namespace, drive: Any, progress: Any) -> int:
    from .bench_matrix import compare_fio

    backend = args.backend or str(drive.aio or "threads")
    out = compare_fio(spec, backend, args.pairs, progress)
    if progress:
        print("\r\033[K", end="", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{backend}: qdrive/fio throughput ratio over {args.pairs} pairs: min "
              f"{out['min']:.2f}, median {out['median']:.2f}, max {out['max']:.2f}")
    return 0
