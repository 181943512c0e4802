"""The ``qdrive`` command's entry: a lean path for the plain one-drive check, else qdrive.cli.

``qdrive check [--offline] DRIVE`` (text or ``--json``) for a drive made of well-spelled
options given once each is decided here with plain tables (qdrive/_lean_tables.py,
derived from the front end by qdrive/frontend/_lean_derive.py) and str methods only: no
argparse, attrs, lark, re, json, typing or enum, which cost a Python start several times
over (issue 17: ``import re`` alone is 27% of QEMU's own verdict time). It claims a drive
only when the full path can end in nothing but "ok" without warnings: the same checks
qdrive.frontend.fastpath makes (which the full path's ordered walk shortcuts to), and
fewer keys (no bus/unit/index, no truthy read-only or snapshot, no protocol names); when
the image is looked at, only a format=raw regular file that opens read-write with no other
process's lock on QEMU's lock bytes (qdrive/_lean_check.py). Everything else, and every
other command line, is handed to :func:`qdrive.cli.main` unchanged (``check -f`` asks
qdrive._lean_check.line_json about each one-drive line). tests/test_lean.py runs both
paths over every recorded single-drive case: for each case claimed here, stdout and the
exit code are the full path's byte for byte.
"""

import sys

from ._lean_check import decide

__all__ = ["main", "decide"]


def main(argv: "list[str] | None" = None) -> int:
    """Run the command line (as qdrive.cli.main does); returns the exit code."""
    given = sys.argv[1:] if argv is None else list(argv)
    out = sys.stdout
    decided = None if out is None or out.closed else decide(given, _isatty(out))
    if decided is None:
        return _full(argv)
    code, text = decided
    try:
        out.write(text)
        out.flush()
    except (OSError, ValueError):
        # a closed or full stdout: the full path says so in its own words (and exits 2)
        return _full(argv)
    return code


def _full(argv: "list[str] | None") -> int:
    from .cli import main as full_main

    return full_main(argv)


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def __dir__() -> "list[str]":
    return sorted(__all__)
