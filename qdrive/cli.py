"""The ``qdrive`` command: the only module that prints.

``qdrive check DRIVE...`` checks drive strings as one QEMU command line and
prints QEMU's verdicts with a caret under the offending option;
``qdrive demo`` runs check over built-in examples.
Exit codes: 0 all valid, 1 any invalid, 2 usage error, 3 internal error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TextIO

__all__ = ["main", "DEMO_DRIVES"]

PROG = "qdrive"

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


class _Style:
    def __init__(self, stream: TextIO) -> None:
        self.on = stream.isatty() and not os.environ.get("NO_COLOR")

    def __call__(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.on else text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Check QEMU -drive options before "
                                "QEMU does.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="check drive strings as one QEMU command line")
    c.add_argument("drives", nargs="+", metavar="DRIVE", help="a -drive option string")
    _common(c)
    d = sub.add_parser("demo", help="check the built-in example drives")
    _common(d)
    return p


def _common(p: argparse.ArgumentParser) -> None:
    from .model import DEFAULT_DIALECT, DIALECTS

    p.add_argument("--dialect", default=DEFAULT_DIALECT, choices=DIALECTS)
    p.add_argument("--machine", "-M", default="pc", help="machine type (pc, q35)")
    p.add_argument("--offline", action="store_true", help="do not look at image files")
    p.add_argument("--json", action="store_true", help="print CheckResult JSON")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        return _check(args.drives, args, sys.stdout)
    except Exception as exc:  # noqa: BLE001 - the promise is: no traceback, ever
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc}\n"
              f"{PROG}: please report this with the command line above", file=sys.stderr)
        return 3


def _check(drives: Sequence[str], args: argparse.Namespace, out: TextIO) -> int:
    from .check import check

    try:
        result = check(drives, dialect=args.dialect, machine=args.machine,
                       probe_files=not args.offline)
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_json()), file=out)
    else:
        _human(result, out)
    return 0 if result.ok else 1


def _human(result: object, out: TextIO) -> None:
    from .check import CheckResult

    assert isinstance(result, CheckResult)
    style = _Style(out)
    for r in result.drives:
        for w in r.warnings:
            print(style("33", w.render(r.text, PROG)), file=out)
        if r.error is not None:
            print(style("31", r.error.render(r.text, PROG)), file=out)
        elif r.placement is not None:
            p = r.placement
            print(f"{style('32', 'ok')}  -drive {r.text}  ->  {p.device_id} "
                  f"(if={p.interface}, bus={p.bus}, unit={p.unit})", file=out)
        else:
            print(f"{style('32', 'ok')}  -drive {r.text}", file=out)
    first = result.first_error
    if first is not None and len(result.drives) > 1:
        print(f"QEMU stops at the first error: {first[1].message}", file=out)


def _demo(args: argparse.Namespace) -> int:
    import tempfile

    from .check import check

    with tempfile.TemporaryDirectory(prefix="qdrive-demo-") as tmp:
        for name in ("disk.img", "cd.iso", "a,b.img"):
            with open(os.path.join(tmp, name), "wb") as f:
                f.truncate(1 << 20)
        here = os.getcwd()
        os.chdir(tmp)
        try:
            for n, drives in enumerate(DEMO_DRIVES, 1):
                print(f"# example {n}: qdrive check " + " ".join(f"'{d}'" for d in drives))
                result = check(drives, dialect=args.dialect, machine=args.machine,
                               probe_files=not args.offline)
                if args.json:
                    print(json.dumps(result.to_json()))
                else:
                    _human(result, sys.stdout)
                print()
        finally:
            os.chdir(here)
    return 0
