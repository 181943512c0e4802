"""Spans, diagnostics and the caret line.

A :class:`Diagnostic` is one thing QEMU would say about a drive: an error or a
warning, with QEMU's exact text, the part of the option string it concerns and,
where qdrive knows a fix, a hint. QEMU itself prints no caret; qdrive adds one.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import attrs

__all__ = ["Span", "Severity", "Diagnostic", "Stage", "caret_line", "Stop", "error"]


class Span(NamedTuple):
    """A half-open range ``[start, end)`` of character offsets in the option string.

    A NamedTuple rather than an attrs class: one is made per option on the hot path.
    """

    start: int
    end: int

    @property
    def width(self) -> int:
        """Number of characters covered."""
        return self.end - self.start


class Severity(enum.StrEnum):
    """How serious a diagnostic is; QEMU prints warnings with a ``warning:`` prefix."""

    ERROR = "error"
    WARNING = "warning"


class Stage(enum.IntEnum):
    """Where in QEMU's start-up a diagnostic arises; QEMU stops at the first error.

    The order mirrors softmmu/vl.c (all -drive strings are parsed first) and
    blockdev.c drive_new() -> blockdev_init() -> block.c bdrv_open_inherit().
    """

    PARSE = 0  # qemu_opts_parse_noisily: id, flags, duplicate ids
    LEGACY = 10  # drive_new: aliases, cache, legacy table, media, if
    PLACEMENT = 15  # drive_new: index/bus/unit against earlier drives
    BUS_OPTIONS = 17  # drive_new: werror/rerror per interface
    COMMON = 20  # blockdev_init: common table, aio, throttling, format
    FILL = 30  # bdrv_fill_options: driver names, json:, protocol prefix
    CHILD = 35  # the protocol node's runtime options (inherited cache.*, file.*)
    FILE = 40  # opening the image file
    FILE_CHECKS = 41  # file-posix checks after the open (aio=native needs O_DIRECT)
    CHILD_LEFTOVER = 42  # unused protocol options: "doesn't support the option"
    DRIVER_OPTIONS = 43  # a format driver's options read before its header (10.0 parallels)
    FORMAT = 45  # format probing and the format driver's header checks
    NODE = 50  # bdrv_open_common of the format node: node-name, discard, driver options
    LEFTOVER = 60  # unused options: "does not support the option"
    MONITOR = 70  # monitor_add_blk: device names
    BOARD = 80  # machine init: on-board devices (IDE) realize
    BOARD_ORPHAN = 81  # blockdev.c drive_check_orphaned()
    BOARD_DEVICE = 82  # -device creation (the virtio-blk an if=virtio drive adds)


@attrs.frozen
class Diagnostic:
    """One error or warning, worded exactly as QEMU words it.

    ``message`` is QEMU's first line; ``detail`` holds the extra lines QEMU
    prints after it (its own hints); ``hint`` is qdrive's suggestion, if any.
    ``located`` is false for the few messages QEMU prints without the
    ``-drive TEXT:`` prefix (device and board errors, the raw-probing warning).
    ``silent`` marks qdrive's own words for a point QEMU never gets past and prints
    nothing at (it blocks for ever opening a FIFO). ``marker`` is what QEMU prints
    before the message of a bare (unlocated) warning, apart from the message itself:
    ``"WARNING: "`` for block/raw-format.c's probing warning, "" for Debian's module
    notices.
    """

    code: str
    severity: Severity
    message: str
    span: Span
    stage: Stage = Stage.LEGACY
    detail: str = ""
    hint: str = ""
    located: bool = True
    silent: bool = False
    marker: str = ""
    bare: bool = False  # an unlocated error QEMU prints with a bare fprintf (no program)

    @property
    def qemu_text(self) -> str:
        """The message plus QEMU's extra lines, as QEMU prints them after the prefix."""
        return f"{self.message}\n{self.detail}" if self.detail else self.message

    def render(self, text: str, prog: str = "qemu-system-x86_64", option: str = "-drive") -> str:
        """QEMU's stderr lines for this diagnostic, with a caret line added.

        ``prog`` "" leaves the program name out (``str(DriveError)``)."""
        lines = [f"{_prefix(self, text, prog, option)}{self.message}"]
        if self.located:
            # The caret sits under the option string, after "prog: option ".
            lines.append(caret_line(self.span, len(location(prog, option, text)) -
                                    len(text) - 2))
        if self.detail:
            lines.append(self.detail)
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


def location(prog: str, option: str, text: str | None) -> str:
    """The location QEMU puts before a message about one option (util/error-report.c
    error_print_loc()): ``prog: option text: `` (``prog`` "" leaves the name out)."""
    where = option if text is None else f"{option} {text}"
    return f"{prog}: {where}: " if prog else f"{where}: "


def _prefix(d: Diagnostic, text: str, prog: str, option: str) -> str:
    # util/error-report.c vreport(): the location (or just the program), then "warning: ";
    # the raw-probing warning is a bare fprintf (block/raw-format.c), printed as it is,
    # with its marker (Diagnostic.marker) before the message.
    if not d.located and (d.severity is Severity.WARNING or d.bare):
        return d.marker
    mark = "warning: " if d.severity is Severity.WARNING else ""
    if d.located:
        return f"{location(prog, option, text)}{mark}"
    return f"{prog}: {mark}" if prog else mark


def qemu_line(d: Diagnostic, text: str, prog: str = "qemu-system-x86_64",
              option: str = "-drive") -> str:
    """What QEMU prints to stderr for ``d`` about ``option text``: its location, then the
    message and QEMU's extra lines (no caret, no hint); "" for a silent diagnostic.

    The one renderer of QEMU's error lines: :meth:`Diagnostic.render` (the caret view),
    ``str(DriveError)`` and every ``qemu_stderr`` build on it."""
    if d.silent:
        return ""
    return f"{_prefix(d, text, prog, option)}{d.qemu_text}"


def caret_line(span: Span, indent: int) -> str:
    """A line with ``^`` under the span's first character and ``~`` under the rest."""
    width = max(span.width, 1)
    return " " * (indent + span.start) + "^" + "~" * (width - 1)


class Stop(Exception):
    """Internal: QEMU has reported an error and stops looking at this drive."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def error(code: str, message: str, span: Span, stage: Stage, detail: str = "",
          hint: str = "", located: bool = True) -> Stop:
    """A Stop carrying one QEMU error, ready to raise."""
    return Stop(Diagnostic(code, Severity.ERROR, message, span, stage, detail, hint, located))


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
