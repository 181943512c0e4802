"""The ``qdrive`` command: the only module that prints.

``qdrive check DRIVE...``     drive strings checked as one QEMU command line
``qdrive check --argv -- qemu-system-x86_64 ARGS...``   a whole QEMU command line
``qdrive check -f FILE``      one command line's drives per line (TAB-separated)
``qdrive demo``               check over built-in examples

Exit codes: 0 all valid, 1 any invalid (or a warning with --strict), 2 usage error,
3 internal error (one line, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .check import DriveArg
    from .results import CheckResult

__all__ = ["main", "DEMO_DRIVES"]

PROG = "qdrive"
PROGRESS_EVERY = 500  # check -f on a terminal: a progress line every so many lines

# Built-in examples for `qdrive demo`: each line is one command line's drives.
DEMO_DRIVES: tuple[tuple[str, ...], ...] = (
    ("file=a,,b.img,if=virtio,cache=none,aio=native,format=raw",),
    ("file=disk.img,format=raw,aio=native",),
    ("file=disk.img,format=raw,cache=on",),
    ("file=disk.img,format=raw,if=ide,index=1", "file=cd.iso,media=cdrom,if=ide,index=1"),
    ("file=disk.img,format=raw,snapshot", "file=cd.iso,format=raw,media=cdrom"),
    ("file=disk.img,format=raw,bps=1M",),
    ("file=disk.img,format=raw,readonly=on,read-only=off",),
    ("file=disk.img,format=raw,sync=on",),
    ("disk.img",),
)


class UsageError(Exception):
    """A command line qdrive cannot act on (exit code 2)."""


class _Style:
    def __init__(self, stream: TextIO) -> None:
        self.on = stream.isatty() and not os.environ.get("NO_COLOR")

    def __call__(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.on else text


def _width() -> int:
    # What shutil.get_terminal_size() would say, without importing shutil (and through it
    # bz2 and lzma) on every start: argparse makes a formatter for each add_argument().
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 80
    return max(columns - 2, 11)


class _Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, width or _width())


class _RawFormatter(argparse.RawDescriptionHelpFormatter, _Formatter):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Check QEMU -drive options before "
                                "QEMU does, with QEMU's own messages.",
                                formatter_class=_Formatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="check drives as one QEMU command line",
                       formatter_class=_Formatter,
                       description="Check drive strings (or a QEMU command line with --argv, "
                       "or a file of them with -f) the way QEMU 7.2 would.")
    c.add_argument("drives", nargs="*", metavar="DRIVE",
                   help="a -drive option string (with --argv: the QEMU command line)")
    c.add_argument("--argv", action="store_true",
                   help="read DRIVE... as a whole QEMU command line (put it after --)")
    c.add_argument("-f", "--file", metavar="FILE",
                   help="one case per line, drives TAB-separated; - for stdin")
    c.add_argument("--explain", action="store_true",
                   help="add the BDRV_O flags, open() flags and cache table per valid drive")
    c.add_argument("--to-blockdev", action="store_true",
                   help="print the -blockdev/-device arguments for each valid drive")
    c.add_argument("--strict", action="store_true", help="treat warnings as errors")
    c.add_argument("--policy", choices=("trusted", "untrusted"), default="trusted",
                   help="untrusted: also refuse what is unsafe for user-supplied drives")
    c.add_argument("--allow-dir", action="append", default=[], metavar="DIR",
                   help="with --policy untrusted: a directory images may live in (repeat)")
    _common(c)
    d = sub.add_parser("demo", help="check the built-in example drives",
                       formatter_class=_Formatter)
    _common(d)
    _bench_parser(sub)
    return p


def _bench_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser(
        "bench", help="the seed's benchmark through qdrive's driver, with fio",
        formatter_class=_RawFormatter,
        description="Keep IODEPTH requests in flight from one thread on the file or block "
        "device of DRIVE (cache mode and aio= from DRIVE).",
        epilog="A file that does not exist is created, written once and removed afterwards\n"
        "(also on Ctrl-C, SIGTERM and errors). An existing file or block device is only\n"
        "read by --rw read/randread; writing to it needs --yes-destroy-data. Either way\n"
        "bench takes QEMU's image lock first and refuses images that are not raw.\n\n"
        "exit codes: 0 done, 1 the run failed (I/O error, fio), 2 usage error or refused\n"
        "target, 128+N stopped by signal N (after the cleanup)")
    b.add_argument("drive", metavar="DRIVE", help="e.g. file=/var/tmp/b.img,cache=none,aio=native")
    b.add_argument("--rw", default="randwrite",
                   choices=("randwrite", "write", "randread", "read", "randrw"))
    b.add_argument("--bs", default="16k")
    b.add_argument("--iodepth", type=int, default=74)
    b.add_argument("--runtime", type=float, default=15.0, help="seconds per run")
    b.add_argument("--size", help="bytes the workload spans: a new file's size (default 4G); "
                   "at most an existing target's size (default: all of it)")
    b.add_argument("--dialect", choices=("qemu-7.2", "qemu-0.9-sync"),
                   help="how to read DRIVE (default: qemu-0.9-sync if it has sync=, "
                   "else qemu-7.2)")
    b.add_argument("--backend", choices=("threads", "posix", "native", "io_uring"))
    b.add_argument("--workers", type=int, help="threads backend: pool size (default 64)")
    b.add_argument("--fd-pool", type=int, help="posix backend: dup()ed descriptors (default 4)")
    b.add_argument("--matrix", action="store_true", help="the seed's table: every backend "
                   "and cache mode, with fio alongside")
    b.add_argument("--compare-fio", action="store_true",
                   help="alternate qdrive and fio runs with DRIVE's cache mode and print "
                   "the ratios")
    b.add_argument("--pairs", type=int, default=3, help="runs of each for --compare-fio")
    b.add_argument("--out", default="qdrive-bench", help="--matrix: stem of the CSV/JSON/PNG")
    b.add_argument("--keep", action="store_true",
                   help="keep a file target created here once the run completed")
    b.add_argument("--yes-destroy-data", action="store_true",
                   help="allow a write workload on an existing file or block device")
    b.add_argument("--json", action="store_true", help="print JSON")


def _common(p: argparse.ArgumentParser) -> None:
    from .model import DEFAULT_DIALECT, DIALECTS

    p.add_argument("--dialect", default=DEFAULT_DIALECT, choices=DIALECTS)
    p.add_argument("--machine", "-M", default="pc", help="machine type (pc, q35)")
    p.add_argument("--offline", action="store_true", help="do not look at image files")
    p.add_argument("--json", action="store_true", help="print CheckResult JSON")
    p.add_argument("--output", choices=("human", "json"), default="human",
                   help="output format (--output=json is --json)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    args.json = args.json or getattr(args, "output", "") == "json"
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "bench":
            from .bench_cli import bench_command

            return bench_command(args)
        return _check_command(args)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the promise is: no traceback, ever
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc}\n"
              f"{PROG}: please report this with the command line above", file=sys.stderr)
        return 3


def _policy(args: argparse.Namespace) -> object:
    from .policy import Policy

    if args.policy == "untrusted":
        return Policy.untrusted(args.allow_dir)
    if args.allow_dir:
        raise UsageError("--allow-dir needs --policy untrusted")
    return None


def _check_command(args: argparse.Namespace) -> int:
    if args.file is not None:
        if args.drives or args.argv:
            raise UsageError("-f reads its drives from FILE: give no DRIVE arguments")
        return _check_file(args)
    if not args.drives:
        raise UsageError("give at least one DRIVE, --argv -- QEMU-COMMAND-LINE, or -f FILE")
    drives: Sequence[str | DriveArg] = args.drives
    snapshot = False
    if args.argv:
        from .argv import read_argv

        cmd = read_argv(args.drives)
        drives, snapshot = cmd.drives, cmd.snapshot
        if args.machine == "pc":
            args.machine = cmd.machine
    result = _run_check(drives, args, snapshot)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        _human(result, sys.stdout, args.explain, args.to_blockdev)
    return _exit_code(result, args.strict)


def _run_check(drives: Sequence[str | DriveArg], args: argparse.Namespace,
               snapshot: bool = False) -> CheckResult:
    from .check import check

    try:
        return check(drives, dialect=args.dialect, machine=args.machine,
                     probe_files=not args.offline, snapshot=snapshot,
                     policy=_policy(args))  # type: ignore[arg-type]
    except ValueError as exc:  # unknown machine or dialect
        raise UsageError(str(exc)) from None


def _exit_code(result: CheckResult, strict: bool) -> int:
    if not result.ok:
        return 1
    if strict and any(r.warnings for r in result.drives):
        return 1
    return 0


def _lines(path: str) -> Iterator[str]:
    if path == "-":
        yield from sys.stdin
        return
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            yield from f
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _cases(lines: Iterator[str]) -> Iterator[tuple[int, str]]:
    """(line number, line) for each line that is not blank or a comment, as read."""
    for n, line in enumerate(lines, 1):
        line = line.rstrip("\n")
        if line.strip() and not line.lstrip().startswith("#"):
            yield n, line


def _check_file(args: argparse.Namespace) -> int:
    # Streams: one line is read, checked and reported before the next is read, so memory
    # stays bounded and a verdict appears while a pipe is still being written.
    interactive = args.file == "-"
    progress = sys.stderr.isatty()
    counts = {"ok": 0, "invalid": 0, "warnings": 0}
    worst = done = 0
    for done, (n, line) in enumerate(_cases(_lines(args.file)), 1):
        result = _run_check(line.split("\t"), args)
        code = _exit_code(result, args.strict)
        worst = max(worst, code)
        counts["ok" if result.ok else "invalid"] += 1
        warned = any(r.warnings for r in result.drives)
        counts["warnings"] += warned
        if args.json:
            print(json.dumps({"line": n, **result.to_json()}))
        elif code or warned:
            print(f"line {n}:")
            _human(result, sys.stdout, args.explain, args.to_blockdev)
        if interactive and (args.json or code or warned):
            sys.stdout.flush()  # the writer of the pipe may wait for this verdict
        if progress and done % PROGRESS_EVERY == 0:
            _progress(done)
    if progress and done >= PROGRESS_EVERY:
        _progress(done, end="\n")
    summary = (f"{done} lines: {counts['ok']} ok, {counts['invalid']} invalid, "
               f"{counts['warnings']} with warnings")
    print(summary, file=sys.stderr if args.json else sys.stdout)
    return worst


def _progress(done: int, end: str = "") -> None:
    # The total is not known while streaming: count the lines checked so far.
    print(f"\r{done} lines checked", end=end, file=sys.stderr, flush=True)


def _human(result: CheckResult, out: TextIO, explain: bool = False,
           blockdev: bool = False) -> None:
    style = _Style(out)
    for r in result.drives:
        for w in r.warnings:
            print(style("33", w.render(r.text, PROG, r.option)), file=out)
        if r.error is not None:
            print(style("31", r.error.render(r.text, PROG, r.option)), file=out)
            continue
        where = ""
        if r.placement is not None:
            p = r.placement
            where = f"  ->  {p.device_id} (if={p.interface}, bus={p.bus}, unit={p.unit})"
        print(f"{style('32', 'ok')}  {r.option} {r.text}{where}", file=out)
        if explain and r.drive is not None:
            _explain(r.drive, out)
        if blockdev and r.drive is not None:
            _blockdev(r, out)
    first = result.first_error
    if first is not None and len(result.drives) > 1 and not first[1].code.startswith("policy"):
        print(f"QEMU stops at the first error: {first[1].message}", file=out)


def _explain(drive: object, out: TextIO) -> None:
    from .model import Drive
    from .plan import explain

    assert isinstance(drive, Drive)
    for label, value in explain(drive):
        print(f"    {label:<14} {value}", file=out)


def _blockdev(r: object, out: TextIO) -> None:
    import shlex

    from .blockdev import TranslationError
    from .results import DriveResult

    assert isinstance(r, DriveResult) and r.drive is not None
    try:
        args = r.drive.to_blockdev_args(r.placement)
    except TranslationError as exc:
        print(f"    no -blockdev translation: {str(exc).split(': ', 1)[-1]}", file=out)
        return
    print(f"    {shlex.join(args)}", file=out)


def _demo(args: argparse.Namespace) -> int:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="qdrive-demo-") as tmp:
        for name in ("disk.img", "cd.iso", "a,b.img"):
            with open(os.path.join(tmp, name), "wb") as f:
                f.truncate(1 << 20)
        here = os.getcwd()
        os.chdir(tmp)
        try:
            for n, drives in enumerate(DEMO_DRIVES, 1):
                print(f"# example {n}: qdrive check " + " ".join(f"'{d}'" for d in drives))
                result = _run_check(drives, argparse.Namespace(
                    dialect=args.dialect, machine=args.machine, offline=args.offline,
                    policy="trusted", allow_dir=[]))
                if args.json:
                    print(json.dumps(result.to_json()))
                else:
                    _human(result, sys.stdout)
                print()
        finally:
            os.chdir(here)
    return 0
