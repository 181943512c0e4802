"""The ``qdrive`` command: the only module that prints.

``qdrive check DRIVE...``     drive strings checked as one QEMU command line
``qdrive check --argv -- qemu-system-x86_64 ARGS...``   a whole QEMU command line
``qdrive check -f FILE``      one command line's drives per line (TAB-separated)
``qdrive verify --qmp SOCKET DRIVE...``   the prediction against a running QEMU
``qdrive demo``               check over built-in examples

Exit codes: 0 all valid, 1 any invalid (or a warning with --strict; a mismatch for
verify; a difference for --compare-dialects), 2 usage error (also: stdout closed or
full, stdin closed), 3 internal error (one line, never a traceback).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .diagnostics import Diagnostic, location
from .frontend.terminal import MAX_LINE, Batch, Line, Memo, Progress, Style, read_lines

if TYPE_CHECKING:
    from .frontend._check import DriveArg
    from .frontend.fixes import Fix
    from .frontend.results import CheckResult

__all__ = ["main", "DEMO_DRIVES"]

PROG = "qdrive"
PROGRESS_EVERY = 50  # check -f on a terminal: the progress line is redrawn this often

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


class _Parser(argparse.ArgumentParser):
    """argparse with "did you mean" for a misspelt option, on the subcommand's usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        import difflib  # only a usage error needs it: a check does not load it

        bad = message.partition("unrecognized arguments: ")[2].split()
        known = [o for a in self._actions for o in a.option_strings]
        for word in bad:
            close = difflib.get_close_matches(word.split("=")[0], known, n=1, cutoff=0.6)
            if close:
                message += f" (did you mean {close[0]}?)"
                break
        choice = re.match(r"argument \S+: invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if choice:  # a misspelt subcommand or choice (argparse in 3.11 suggests nothing)
            options = re.findall(r"'([^']*)'", choice.group(2))
            close = difflib.get_close_matches(choice.group(1), options, n=1, cutoff=0.6)
            if close:
                message += f" (did you mean {close[0]}?)"
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


_SUBPARSERS: dict[str, argparse.ArgumentParser] = {}


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
    from . import __version__

    p = _Parser(prog=PROG, description="Check QEMU -drive options before "
                "QEMU does, with QEMU's own messages.", formatter_class=_Formatter)
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
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
    c.add_argument("--overlay-dir", metavar="DIR",
                   help="where snapshot overlays go: with --argv --to-blockdev, the explicit "
                   "overlays; with --policy untrusted, allows snapshot=on with overlays in DIR "
                   "(QEMU's TMPDIR)")
    c.add_argument("--node-prefix", default="qd-", metavar="PREFIX",
                   help="with --argv --to-blockdev: prefix of the node names made up")
    c.add_argument("--strict", action="store_true", help="treat warnings as errors")
    c.add_argument("--policy", choices=("trusted", "untrusted"), default="trusted",
                   help="untrusted: also refuse what is unsafe for user-supplied drives")
    c.add_argument("--allow-dir", action="append", default=[], metavar="DIR",
                   help="with --policy untrusted: an absolute directory images may live in "
                   "(repeat)")
    c.add_argument("--fix", action="store_true",
                   help="print the corrected drive string for common mistakes (shown, "
                   "never applied)")
    c.add_argument("--compare-dialects", metavar="A,B", type=_dialect_list,
                   help="check in each dialect and print where verdicts, messages, facts "
                   "or warnings differ")
    c.add_argument("--qemu-user", metavar="USER",
                   help="judge file permissions for the user QEMU runs as (a name or uid; "
                   "from owner, group and mode bits)")
    c.add_argument("--allow-format", action="append", default=[], metavar="FMT",
                   help="with --policy untrusted: an image format to allow (repeat; default "
                   "raw and qcow2)")
    c.add_argument("--allow-device", action="append", default=[], metavar="DEV",
                   help="with --policy untrusted: a block device a drive may name (repeat)")
    c.add_argument("--allow-hardlinks", action="store_true",
                   help="with --policy untrusted: accept image files with several names")
    c.add_argument("--allow-mounts", action="store_true",
                   help="with --policy untrusted: follow names into filesystems mounted "
                   "below an allowed directory")
    c.add_argument("--overlay-budget", metavar="SIZE",
                   help="with --overlay-dir: the most the overlays may take (e.g. 20G)")
    _common(c)
    v = sub.add_parser("verify", help="compare the prediction with a running QEMU",
                       formatter_class=_Formatter,  # argparse's own imports shutil
                       description="Check DRIVE... (the drives the VM was started with) and "
                       "compare what qdrive predicts with what the QEMU behind the QMP "
                       "socket reports (query-block, query-named-block-nodes).")
    v.add_argument("drives", nargs="+", metavar="DRIVE", help="a -drive option string")
    v.add_argument("--qmp", required=True, metavar="SOCKET",
                   help="the VM's QMP socket (QEMU's -qmp unix:SOCKET,server=on,wait=off)")
    _common(v)
    v.set_defaults(policy="trusted", allow_dir=[], strict=False, fix=False)
    d = sub.add_parser("demo", help="check the built-in example drives",
                       formatter_class=_Formatter)
    _common(d)
    _bench_parser(sub)
    _SUBPARSERS.update(check=c, verify=v, demo=d)
    return p


def _dialect_list(text: str) -> list[str]:
    from .model import DIALECTS

    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in DIALECTS]
    if unknown or len(names) < 2:
        raise argparse.ArgumentTypeError(
            f"give two or more of {', '.join(DIALECTS)}, comma-separated")
    return names


def _bench_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    b = sub.add_parser(
        "bench", help="a queue-depth benchmark through qdrive's driver, with fio",
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
    b.add_argument("--dialect", choices=("qemu-7.2", "qemu-10.0", "qemu-11.1", "qemu-0.9-sync"),
                   help="how to read DRIVE (default: qemu-0.9-sync if it has sync=, "
                   "else qemu-7.2)")
    b.add_argument("--backend", choices=("threads", "posix", "native", "io_uring"))
    b.add_argument("--workers", type=int, help="threads backend: pool size (default 64)")
    b.add_argument("--fd-pool", type=int, help="posix backend: dup()ed descriptors (default 4)")
    b.add_argument("--flush-depth", type=int, default=1, metavar="N",
                   help="write-through and directsync: flushes in flight at once (default "
                   "1, QEMU's one flush at a time per node; fio's jobs each flush on their "
                   "own, so --workers N with --flush-depth N is fio's shape)")
    b.add_argument("--matrix", action="store_true", help="a table of every backend "
                   "and cache mode, with fio alongside")
    b.add_argument("--compare-fio", action="store_true",
                   help="alternate qdrive and fio runs with DRIVE's cache mode and print "
                   "the ratios")
    b.add_argument("--pairs", type=int, default=3, help="runs of each for --compare-fio")
    b.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run each measurement N times (with --matrix: qdrive and fio "
                   "alternating) and show the median and the min-max")
    b.add_argument("--backends", metavar="LIST", help="--matrix: only these backends, "
                   "comma-separated (threads, posix, native, io_uring)")
    b.add_argument("--caches", metavar="LIST", help="--matrix: only these cache modes, "
                   "comma-separated (none, writeback, writethrough, directsync, sync=on)")
    b.add_argument("--out", default="qdrive-bench", metavar="STEM",
                   help="--matrix: write STEM.csv, STEM.json and STEM.png (the plot needs "
                   "matplotlib: the plot extra)")
    b.add_argument("--keep", action="store_true",
                   help="keep a file target created here once the run completed")
    b.add_argument("--yes-destroy-data", action="store_true",
                   help="allow a write workload on an existing file or block device")
    b.add_argument("--json", action="store_true", help="print JSON")


def _common(p: argparse.ArgumentParser) -> None:
    from .model import DEFAULT_DIALECT, DIALECTS

    p.add_argument("--dialect", default=DEFAULT_DIALECT, choices=(*DIALECTS, "auto"),
                   help="how to read the drives (auto: from the QEMU on PATH or --qemu)")
    p.add_argument("--qemu", metavar="PATH", help="with --dialect auto: the QEMU binary "
                   "whose version decides (default: qemu-system-x86_64 on PATH)")
    p.add_argument("--machine", "-M", default="pc", help="machine type (pc, q35)")
    p.add_argument("--offline", action="store_true", help="do not look at image files")
    p.add_argument("--probe-network", action="store_true",
                   help="connect (TCP or Unix socket, closed at once) where each network "
                   "drive's QEMU driver connects first; never with --policy untrusted")
    p.add_argument("--json", action="store_true", help="print CheckResult JSON")
    p.add_argument("--output", choices=("human", "json"), default="human",
                   help="output format (--output=json is --json)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the caret and labels (auto: on a terminal, unless NO_COLOR)")


def _pairs(argv: Sequence[str]) -> list[str]:
    """``-drive X`` pairs as pasted from a QEMU command line become X (before ``--``)."""
    out: list[str] = []
    it = iter(argv)
    for a in it:
        if a == "--":
            out += [a, *it]
            break
        if a == "-drive":
            value = next(it, None)
            if value is None:
                raise UsageError("-drive needs a value (the drive's option string)")
            out.append(value)
        elif a.startswith("-drive="):
            out.append(a.removeprefix("-drive="))
        else:
            out.append(a)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    try:
        if sys.stdout is None or sys.stdout.closed:
            raise UsageError("stdout is closed: nowhere to write the report")
        given = list(sys.argv[1:] if argv is None else argv)
        if given[:1] in (["check"], ["verify"]):
            given = _pairs(given)
    except UsageError as exc:
        _say_usage(exc)
        return 2
    parser = _parser()
    args, extra = parser.parse_known_args(given)
    if extra:
        where = _SUBPARSERS.get(args.command, parser)
        where.error(f"unrecognized arguments: {' '.join(extra)}")
    args.json = args.json or getattr(args, "output", "") == "json"
    try:
        code = _dispatch(args)
        sys.stdout.flush()
        return code
    except UsageError as exc:
        _say_usage(exc)
        return 2
    except OSError as exc:
        if exc.errno not in (errno.EPIPE, errno.ENOSPC, errno.EBADF, errno.EIO):
            raise
        # A reader that went away, a full disk: the report could not be written.
        _say_usage(UsageError(f"cannot write the report: {exc.strerror or exc}"))
        _silence_stdout()
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the promise is: no traceback, ever
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc}\n"
              f"{PROG}: please report this with the command line above", file=sys.stderr)
        return 3


_POLICY_OPTIONS = ("allow_dir", "allow_format", "allow_device", "allow_hardlinks",
                   "allow_mounts", "overlay_dir", "overlay_budget")


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "bench":
        from .bench.cli import bench_command

        return bench_command(args)
    _resolve_dialect(args)
    if args.command == "demo":
        return _demo(args)
    if args.command == "verify":
        return _verify_command(args)
    return _check_command(args)


def _say_usage(exc: Exception) -> None:
    try:
        print(f"{PROG}: {exc}", file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        pass  # stderr is gone too: the exit code is all that is left


def _silence_stdout() -> None:
    # Interpreter shutdown flushes stdout again: point it at /dev/null so that second
    # failure is not printed as "Exception ignored ...".
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _whole_command_line(name: str) -> bool:
    """Whether qdrive models the whole command line (check_argv) in dialect ``name``."""
    from .dialect import get as get_dialect

    return get_dialect(name).command_line


def _resolve_dialect(args: argparse.Namespace) -> None:
    """--dialect auto: the dialect of the QEMU on PATH (or --qemu), said once."""
    args.dialect_choice = None
    if args.dialect != "auto":
        if args.qemu:
            raise UsageError("--qemu goes with --dialect auto")
        return
    from .frontend.autodialect import QemuVersionError, auto_dialect

    try:
        choice = auto_dialect(args.qemu)
    except QemuVersionError as exc:
        raise UsageError(str(exc)) from None
    args.dialect, args.dialect_choice = choice.dialect, choice
    if not args.json:
        print(f"dialect {choice.dialect} (auto: {choice.qemu} is QEMU {choice.version})")
    if choice.warning:
        print(f"{PROG}: warning: {choice.warning}", file=sys.stderr)


def _policy(args: argparse.Namespace) -> object:
    if args.policy == "untrusted" and getattr(args, "probe_network", False):
        # a drive string from an untrusted user would make qdrive contact any host
        raise UsageError("--probe-network is never used with --policy untrusted")
    if args.policy != "untrusted":
        # --overlay-dir also names --to-blockdev's overlays; the others are the policy's.
        skip = ("overlay_dir",) if getattr(args, "to_blockdev", False) else ()
        given = [k for k in _POLICY_OPTIONS if getattr(args, k, None) and k not in skip]
        if given:
            raise UsageError(f"--{given[0].replace('_', '-')} needs --policy untrusted")
        return None
    # Only a policy check pays for the policy package (issue 17: a plain check does not).
    from .frontend.policy import DEFAULT_FORMATS, Policy, PolicyError
    try:
        return Policy.untrusted(
            args.allow_dir, formats=args.allow_format or DEFAULT_FORMATS,
            devices=args.allow_device, allow_hardlinks=args.allow_hardlinks,
            allow_mounts=args.allow_mounts,
            overlay_dir=args.overlay_dir, overlay_budget=_size(args.overlay_budget))
    except PolicyError as exc:
        raise UsageError(f"--policy untrusted: {exc}") from None


def _size(text: str | None) -> int | None:
    if text is None:
        return None
    from ._values import ValueProblem, parse_size

    try:
        return parse_size("overlay-budget", text)[0]
    except ValueProblem as p:
        raise UsageError(f"--overlay-budget: {p.message}") from None


def _check_command(args: argparse.Namespace) -> int:
    if args.file is not None:
        if args.drives or args.argv:
            raise UsageError("-f reads its drives from FILE: give no DRIVE arguments")
        if args.compare_dialects:
            raise UsageError("--compare-dialects compares DRIVE arguments, not -f FILE")
        return _check_file(args)
    if not args.drives:
        raise UsageError("give at least one DRIVE, --argv -- QEMU-COMMAND-LINE, or -f FILE")
    drives: Sequence[str | DriveArg] = args.drives
    snapshot = False
    if args.argv and args.policy != "untrusted" and _whole_command_line(args.dialect) \
            and not args.compare_dialects:
        return _argv_command(args)  # the whole command line (qdrive.check_argv)
    if args.compare_dialects:
        if args.argv and args.policy != "untrusted" and all(
                _whole_command_line(d) for d in args.compare_dialects):
            return _compare_argv(args)  # the whole command line (check_argv) per dialect
        if args.argv:
            from .frontend.argv import read_argv

            cmd = read_argv(args.drives)
            drives, snapshot = cmd.drives, cmd.snapshot
            if args.machine == "pc":
                args.machine = cmd.machine
        return _compare(drives, args, snapshot)
    if args.argv:
        result = _run_argv(args)
    else:
        result = _run_check(drives, args)
    if args.json:
        print(json.dumps(_json(result, args)))
    else:
        _human(result, sys.stdout, args)
    return _exit_code(result, args.strict)


def _json(result: CheckResult, args: argparse.Namespace) -> dict[str, object]:
    """The result's JSON plus what the command line asked for (--fix, --dialect auto)."""
    out = result.to_json()
    choice = getattr(args, "dialect_choice", None)
    if choice is not None:
        out["dialect_choice"] = choice.to_json()
    for r, d in zip(result.drives, out["drives"], strict=True):
        if getattr(args, "explain", False):
            from .block.plan import explain

            d["explain"] = dict(explain(r.drive)) if r.drive is not None else None
        if getattr(args, "to_blockdev", False):
            d["blockdev"] = _blockdev_json(r) if r.drive is not None else None
    if getattr(args, "fix", False):
        for r, d in zip(result.drives, out["drives"], strict=True):
            fix = _fix_for(r, args)
            d["fix"] = {"text": fix.text, "changes": list(fix.changes)} if fix else None
    return out


def _blockdev_json(r: object) -> dict[str, object]:
    from .frontend.blockdev import TranslationError, to_blockdev
    from .frontend.results import DriveResult

    assert isinstance(r, DriveResult) and r.drive is not None
    try:
        return {"args": list(to_blockdev(r.drive, r.placement).args())}
    except TranslationError as exc:
        return {"error": str(exc).split(": ", 1)[-1]}


def _fix_for(r: object, args: argparse.Namespace) -> Fix | None:
    from .frontend.fixes import suggest_fix
    from .frontend.results import DriveResult

    assert isinstance(r, DriveResult)
    if r.option != "-drive" or r.error is not None and r.error.code.startswith("policy"):
        return None  # shorthands carry a path, not an option string; policy refusals stand
    if r.error is None and not r.warnings and not _pitfall(r):
        return None
    return suggest_fix(r.text, dialect=args.dialect, machine=args.machine,
                       probe_files=not args.offline)


def _pitfall(r: object) -> bool:
    from .model import Discard, DetectZeroes
    from .frontend.results import DriveResult

    assert isinstance(r, DriveResult)
    d = r.drive
    return d is not None and d.detect_zeroes is DetectZeroes.UNMAP and \
        d.discard is not Discard.UNMAP


def _compare(drives: Sequence[str | DriveArg], args: argparse.Namespace,
             snapshot: bool) -> int:
    from .frontend.compare import compare_dialects

    try:
        cmp = compare_dialects(drives, args.compare_dialects, machine=args.machine,
                               probe_files=not args.offline, snapshot=snapshot,
                               policy=_policy(args))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return _print_comparison(cmp, args)


def _compare_argv(args: argparse.Namespace) -> int:
    """--compare-dialects A,B --argv: the whole command line through check_argv()."""
    from .frontend.compare import compare_argv

    if args.machine != "pc":
        raise UsageError("with --argv the machine comes from the command line (-M/-machine)")
    try:
        cmp = compare_argv(args.drives, args.compare_dialects, probe_files=not args.offline,
                           policy=_policy(args))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return _print_comparison(cmp, args)


def _print_comparison(cmp: object, args: argparse.Namespace) -> int:
    from .frontend.compare import Comparison

    assert isinstance(cmp, Comparison)
    if args.json:
        print(json.dumps(cmp.to_json()))
        return 0 if cmp.same else 1
    names = " and ".join(cmp.dialects)
    if cmp.same:
        print(f"same in {names}: verdicts, messages, facts and warnings")
        return 0
    last: object = None
    for d in cmp.differences:
        if (d.option, d.drive) != last:
            if d.option is None:
                print(f"drive {d.drive + 1}: {d.text}")
            elif d.option == "argv":
                print("the command line (what QEMU prints):")
            else:
                print(f"{d.option} (argv[{d.drive}]): {d.text}")
            last = (d.option, d.drive)
        print(f"  {d.aspect} differ{'' if d.aspect in ('facts', 'warnings') else 's'}:")
        for dialect, value in d.values:
            print(f"    {dialect:<14} {_show(value)}")
    print(f"{len(cmp.differences)} difference(s) between {names}")
    return 1


def _show(value: object) -> str:
    if value is None:
        return "(none)"
    if value == "":
        return "(nothing)"  # --argv: a command line QEMU starts without a word
    if isinstance(value, str):
        return value.replace("\n", "\n" + " " * 19)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "; ".join(value) or "(none)"
    return json.dumps(value, sort_keys=True)


def _verify_command(args: argparse.Namespace) -> int:
    from .frontend.verify import VerifyError, verify_socket

    # The images are open in the running VM, which holds their locks: judged on the host
    # now, every one would be "in use". The drives are read as given (name format=).
    args.offline = True
    result = _run_check(args.drives, args)
    try:
        mismatches = verify_socket(args.qmp, result)
    except VerifyError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps({"schema_version": result.to_json()["schema_version"],
                          "ok": not mismatches,
                          "mismatches": [m.to_json() for m in mismatches]}))
    else:
        for m in mismatches:
            print(f"mismatch  {m}")
        n = len(result.drives)
        print(f"{n} drive{'s' if n != 1 else ''} verified: "
              + (f"{len(mismatches)} mismatch(es)" if mismatches else
                 "the running QEMU reports what qdrive predicted"))
    return 1 if mismatches else 0


def _argv_command(args: argparse.Namespace) -> int:
    """--argv: the whole command line (qdrive.check_argv), drives first, then the rest."""
    from .frontend.cmdline import check_argv

    if args.machine != "pc":
        raise UsageError("with --argv the machine comes from the command line (-M/-machine)")
    whole = check_argv(args.drives, probe_files=not args.offline,
                       policy=_policy(args), dialect=args.dialect,
                       probe_network=args.probe_network)
    if args.to_blockdev:
        return _migrate(whole, args)
    if args.json:
        print(json.dumps({**whole.drives.to_json(), **whole.to_json()}))
    else:
        _human(whole.drives, sys.stdout, argparse.Namespace(**{**vars(args),
                                                                 "to_blockdev": False}))
        _human_options(whole, sys.stdout, args.color)
    if not whole.ok:
        return 1
    return 1 if args.strict and any(r.warnings for r in whole.drives.drives) else 0


def _migrate(whole: object, args: argparse.Namespace) -> int:
    """--argv --to-blockdev: the whole command line rewritten, ready to exec."""
    import shlex

    from .frontend.migrate import to_blockdev_argv

    m = to_blockdev_argv(args.drives, node_prefix=args.node_prefix,
                         overlay_dir=args.overlay_dir, probe_files=not args.offline)
    if args.json:
        print(json.dumps(m.to_json()))
    else:
        for recipe in m.recipes:
            print(f"# first: {recipe}")
        for note in m.notes:
            print(f"# note: {note}")
        for option, why in m.untranslated:
            print(f"# kept as it is: {option}: {why}")
        print(shlex.join(m.argv))
    return 0 if m.complete else 1


def _human_options(whole: object, out: TextIO, color: str = "auto") -> None:
    from .frontend.cmdline import ArgvResult
    assert isinstance(whole, ArgvResult)
    style = Style(out, color)
    for o in whole.options:
        if o.kind == "drive":
            continue
        shown = f"{o.option} {o.text}" if o.text is not None else o.option
        if o.error is not None:
            first, *rest = o.error.split("\n")
            print(style("31", f"{location(PROG, o.option, o.text)}{first}"), file=out)
            print(" " * (len(PROG) + 2 + len(o.option) + 1) + "^" + "~" * max(
                len(o.text or "") - 1, 0), file=out)
            for line in rest:
                print(line, file=out)
        elif o.kind == "skipped":
            print(f"{style('2', 'skip')}  {shown}  ({o.skipped_reason})", file=out)
        else:
            print(f"{style('32', 'ok')}  {shown}", file=out)
    text = whole.qemu_stderr(PROG).splitlines()
    if not whole.ok and text:  # (format=help stops QEMU with nothing on stderr)
        last = next((t for t in reversed(text) if t.startswith(f"{PROG}")), text[-1])
        print(f"QEMU stops at the first error: {last.removeprefix(PROG + ': ')}", file=out)


def _run_check(drives: Sequence[str | DriveArg], args: argparse.Namespace,
               snapshot: bool = False) -> CheckResult:
    return _checker(args, snapshot)(drives)


def _checker(args: argparse.Namespace, snapshot: bool = False
             ) -> Callable[[Sequence[str | DriveArg]], CheckResult]:
    """check() with the command line's settings bound: the policy is built and the
    checker imported once, so check -f pays for neither on every line."""
    from .frontend._check import check

    policy = _policy(args)
    options = {"dialect": args.dialect, "machine": args.machine,
               "probe_files": not args.offline, "snapshot": snapshot, "policy": policy,
               "qemu_user": getattr(args, "qemu_user", None),
               "probe_network": getattr(args, "probe_network", False)}

    def run(drives: Sequence[str | DriveArg]) -> CheckResult:
        try:
            return check(drives, **options)
        except ValueError as exc:  # unknown machine or dialect, no such user
            raise UsageError(str(exc)) from None

    return run


def _run_argv(args: argparse.Namespace) -> CheckResult:
    from .frontend.argv import check_argv

    if not _whole_command_line(args.dialect):
        raise UsageError("--argv reads QEMU 7.2 command lines (--dialect qemu-7.2)")
    try:
        return check_argv(args.drives, policy=_policy(args),  # type: ignore[arg-type]
                          machine=None if args.machine == "pc" else args.machine,
                          probe_files=not args.offline)
    except ValueError as exc:  # unknown machine
        raise UsageError(str(exc)) from None


def _exit_code(result: CheckResult, strict: bool) -> int:
    if not result.ok:
        return 1
    if strict and any(r.warnings for r in result.drives):
        return 1
    return 0


def _open_lines(path: str) -> TextIO:
    import io

    if path == "-":
        if sys.stdin is None or sys.stdin.closed:  # Python's stdin when fd 0 is closed
            raise UsageError("-f -: stdin is closed")
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape",
                                newline="\n")
    try:
        return open(path, encoding="utf-8", errors="surrogateescape", newline="\n")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _check_file(args: argparse.Namespace) -> int:
    # Streams: one line is read, checked and reported before the next is read, so memory
    # stays bounded and a verdict appears while a pipe is still being written (Batch
    # holds report text only while more input is at hand).
    tally = _Tally()
    run = _checker(args)
    args.style = Style(sys.stdout, getattr(args, "color", "auto"))
    args.lean_lines = None  # the lean path's line_json, when it may answer (once per file)
    if _lean_lines(args):
        from ._lean_check import line_json

        args.lean_lines = line_json
    progress = Progress(None, sys.stderr, _interactive())
    with _open_lines(args.file) as f:
        out = Batch(sys.stdout, f, eager=progress.enabled)  # the bar and reports interleave
        try:
            _check_lines(args, f, run, tally, out, progress)
        finally:
            out.flush()
    progress.finish()
    done, counts = tally.done, tally.counts
    summary = (f"{done} line{'' if done == 1 else 's'}: {counts['ok']} ok, "
               f"{counts['invalid']} invalid, {counts['warnings']} with warnings")
    where = sys.stderr if args.json else sys.stdout
    print(summary, file=where)
    if tally.kinds:
        print("errors by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(
            tally.kinds.items(), key=lambda kv: (-kv[1], kv[0]))), file=where)
    return tally.worst


def _check_lines(args: argparse.Namespace, f: TextIO,
                 run: Callable[[Sequence[str]], CheckResult], tally: _Tally, out: Batch,
                 progress: Progress) -> None:
    """Each case of the -f file checked (or its report taken from the memo) and reported."""
    name = "<stdin>" if args.file == "-" else args.file
    memo = Memo() if _memo_sound(args) else None
    args.file_memo, args.file_out = memo, out  # what tests count
    for done, (n, line) in enumerate(_file_cases(read_lines(f), args.file), 1):
        tally.done = done
        if type(line) is Line:
            _too_long(args, name, n, out, progress)
            tally.add(_TOO_LONG)
            continue
        report: _Report | None = memo.get(line) if memo is not None else None
        if report is None:
            report = _check_line(args, line, run)
            if memo is not None:
                memo.put(line, report, len(report.body or ""))
        tally.add(report)
        if report.body is None:
            pass
        elif args.json:
            out.add(f'{{"line": {n}, {report.body}\n')
        else:
            progress.clear()
            out.add(f"{name}:{n}:\n{report.body}")
        out.line_read()
        if progress.enabled:
            _progress(progress, done)


def _too_long(args: argparse.Namespace, name: str, n: int, out: Batch,
              progress: Progress) -> None:
    progress.clear()
    say = (f"{name}:{n}: line longer than {MAX_LINE} characters (Linux passes no longer "
           "argument to QEMU): not checked\n")
    if args.json:  # on stderr: stdout stays one JSON document per line
        out.flush()  # stdout's text first, in the order it was reported
        sys.stderr.write(say)
    else:
        out.add(say)


def _progress(progress: Progress, done: int) -> None:
    if done % PROGRESS_EVERY == 0:
        progress.update(done)
    else:
        progress.redraw()


def _file_cases(lines: Iterator[str], path: str) -> Iterator[tuple[int, str]]:
    """(line number, line) for each line that is not blank or a comment, as read (a
    :class:`Line` is one too long to check)."""
    try:
        for n, line in enumerate(lines, 1):
            head = line.lstrip()  # blank: nothing is left
            if head and head[0] != "#" or type(line) is Line:
                yield n, line
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


class _Report:
    """What one -f line adds to the run, apart from its number. (A plain class: a
    NamedTuple's creation would cost every `qdrive check` start-up ~1M instructions.)"""

    __slots__ = ("code", "ok", "warned", "kind", "body")

    def __init__(self, code: int, ok: bool, warned: bool, kind: str | None,
                 body: str | None) -> None:
        self.code = code  # the line's exit code
        self.ok = ok
        self.warned = warned
        self.kind = kind  # the first error's code, when the line failed
        # --json: the line's JSON object after its opening brace (the line number goes
        # first); text: the report after the "NAME:N:" line, None when nothing is printed
        self.body = body


def _memo_sound(args: argparse.Namespace) -> bool:
    """Whether a -f line's report may be reused for a later line of the same text.

    Offline, with the trusted policy and no --probe-network, the check of a line reads
    nothing but the line, this command line's settings (fixed for the file) and this
    process's environment: no image, no host probe (hostprobe runs only with
    probe_files), no socket, no user database (--qemu-user); the guard of the
    untrusted policy opens directories. So the same text gets the same report, every
    byte of it (tests/test_bulk.py compares the two over every recorded corpus)."""
    return bool(args.offline and not getattr(args, "probe_network", False)
                and args.policy == "trusted" and not getattr(args, "qemu_user", None))


_TOO_LONG = _Report(1, False, False, "line-too-long", None)


class _Tally:
    """The run's counts: lines, verdicts, error kinds and the worst exit code."""

    def __init__(self) -> None:
        self.counts = {"ok": 0, "invalid": 0, "warnings": 0}
        self.kinds: dict[str, int] = {}
        self.worst = self.done = 0

    def add(self, report: _Report) -> None:
        self.counts["ok" if report.ok else "invalid"] += 1
        if report.warned:
            self.counts["warnings"] += 1
        if report.kind is not None:
            self.kinds[report.kind] = self.kinds.get(report.kind, 0) + 1
        if report.code > self.worst:
            self.worst = report.code


def _check_line(args: argparse.Namespace, line: str,
                run: Callable[[Sequence[str]], CheckResult]) -> _Report:
    """One -f line checked: its report."""
    drives = line.split("\t")
    if len(drives) == 1 and args.lean_lines is not None:
        found = args.lean_lines(drives[0], args.offline)
        if found is not None:  # a plain drive, ok and warning-free (qdrive/_lean.py)
            return _Report(0, True, False, None, found[1:] if args.json else None)
    result = run(drives)
    code = _exit_code(result, args.strict)
    warned = any(r.warnings for r in result.drives)
    # a line that passed has no error: first_error is looked for only when it failed
    first = result.first_error if code else None
    kind = first[1].code if first is not None else None
    if args.json:
        return _Report(code, result.ok, warned, kind, json.dumps(_json(result, args))[1:])
    if not (code or warned):
        return _Report(code, result.ok, warned, kind, None)
    import io

    text = io.StringIO()
    _human(result, text, args, args.style)
    return _Report(code, result.ok, warned, kind, text.getvalue())


def _lean_lines(args: argparse.Namespace) -> bool:
    """Whether check -f may ask the lean path (qdrive/_lean.py) about a one-drive line: the
    default dialect, board and trust, and no option that reports more than the verdict."""
    from . import _lean_tables

    return (args.dialect == _lean_tables.DIALECT and args.dialect_choice is None
            and args.machine == "pc" and args.policy == "trusted" and not args.qemu_user
            and not (args.fix or args.explain or args.to_blockdev))


def _interactive() -> bool:
    return bool(sys.stderr is not None and sys.stderr.isatty())



def _human(result: CheckResult, out: TextIO, args: argparse.Namespace | None = None,
           style: Any = None) -> None:
    explain = bool(getattr(args, "explain", False))
    blockdev = bool(getattr(args, "to_blockdev", False))
    if style is None:  # check -f decides colour once for the whole file
        style = Style(out, getattr(args, "color", "auto"))
    for r in result.drives:
        for w in r.warnings:
            print(_coloured(w.render(r.text, PROG, r.option), w, style, "33"), file=out)
        if r.error is not None:
            print(_coloured(r.error.render(r.text, PROG, r.option), r.error, style, "31"),
                  file=out)
            if r.error.code == "format-help":  # what QEMU prints there, on stdout
                _format_help(result.dialect, out)
        else:
            where = ""
            if r.placement is not None:
                p = r.placement
                where = f"  ->  {p.device_id} (if={p.interface}, bus={p.bus}, unit={p.unit})"
            print(f"{style('32', 'ok')}  {r.option} {r.text}{where}", file=out)
            for note in r.notes:
                print(f"    note: {note}", file=out)
            if explain and r.drive is not None:
                _explain(r.drive, out)
            if blockdev and r.drive is not None:
                _blockdev(r, out)
        if args is not None and getattr(args, "fix", False):
            _print_fix(r, args, out, style)
    for r in result.options:  # other options the untrusted policy refused (--argv)
        if r.error is not None:
            print(_coloured(r.error.render(r.text, PROG, r.option), r.error, style, "31"),
                  file=out)
    first = result.first_error
    if first is not None and len(result.drives) > 1 and not first[1].code.startswith("policy"):
        print(f"QEMU stops at the first error: {first[1].message}", file=out)


def _format_help(dialect: str, out: TextIO) -> None:
    from .dialect import get
    from .frontend.drivers import format_help

    print(format_help(get(dialect)), end="", file=out)


def _coloured(block: str, d: object, style: object, code: str) -> str:
    """Colour the caret line and the ``warning:``/``hint:`` labels, not the whole block."""
    assert isinstance(d, Diagnostic) and isinstance(style, Style)
    if not style.on:
        return block
    lines = block.split("\n")
    for i, line in enumerate(lines):
        if d.located and i == 1:
            lines[i] = style(code + ";1", line)
        elif line.startswith("hint: "):
            lines[i] = style("36", "hint:") + line[5:]
        elif i == 0 and ": warning: " in line:
            head, _, rest = line.partition(": warning: ")
            lines[i] = f"{head}: {style(code, 'warning:')} {rest}"
    return "\n".join(lines)


def _print_fix(r: object, args: argparse.Namespace, out: TextIO, style: object) -> None:
    assert isinstance(style, Style)
    fix = _fix_for(r, args)
    if fix is None:
        return
    print(f"{style('36', 'fix:')} -drive {fix.text}", file=out)
    for change in fix.changes:
        print(f"      {change}", file=out)


def _explain(drive: object, out: TextIO) -> None:
    from .model import Drive
    from .block.plan import explain

    assert isinstance(drive, Drive)
    for label, value in explain(drive):
        print(f"    {label:<14} {value}", file=out)


def _blockdev(r: object, out: TextIO) -> None:
    import shlex

    from .frontend.blockdev import TranslationError, to_blockdev
    from .frontend.results import DriveResult

    assert isinstance(r, DriveResult) and r.drive is not None
    try:
        args = list(to_blockdev(r.drive, r.placement).args())
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
                    print(json.dumps(_json(result, args)))
                else:
                    _human(result, sys.stdout, args)
                print()
        finally:
            os.chdir(here)
    return 0


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
