"""What the command line needs from a terminal: colour, a progress line, -f lines.

* :class:`Style`: ``--color=auto|always|never``; ``auto`` colours only a terminal and
  honours ``NO_COLOR`` (https://no-color.org: set and non-empty means no colour).
  ``always`` wins over NO_COLOR, as the user asked for it on this command line.
* :class:`Progress`: one line on stderr, redrawn in place. Before any report line is
  printed it is erased, and drawn again after, so the report is never garbled even when
  stdout and stderr are the same terminal.
* :func:`read_lines`: the lines of a ``-f`` file. Only ``\\n`` ends a line (a bare CR is
  part of the drive string, as it would be in an argv element; CRLF loses its CR), and a
  line longer than :data:`MAX_LINE` is not read into memory whole: it is reported as
  too long, and the next line is read.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import TextIO

__all__ = ["Style", "Progress", "read_lines", "Line", "MAX_LINE", "color_on"]

# Linux's MAX_ARG_STRLEN (32 pages): no single argv element longer than this reaches QEMU.
MAX_LINE = 131072


def color_on(mode: str, stream: TextIO) -> bool:
    """Whether ``--color=MODE`` colours ``stream``."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


class Style:
    """SGR colours for the caret, the labels and ``ok``; nothing when colour is off."""

    def __init__(self, stream: TextIO, mode: str = "auto") -> None:
        self.on = color_on(mode, stream)

    def __call__(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.on and text else text


class Progress:
    """``[####....] k/N`` (or ``k lines checked`` when the total is not known) on stderr
    while a long -f file is checked (only on a terminal).

    ``what`` names the counted thing before ``k/N`` (``row 3/16``); :meth:`update`'s
    ``note`` follows the count, and :meth:`show` puts any text on the line instead of
    the bar (a phase of ``qdrive bench``: "preparing ...").
    """

    WIDTH = 30

    def __init__(self, total: int | None, stream: TextIO, enabled: bool,
                 what: str = "") -> None:
        self.total, self.stream, self.enabled, self.what = total, stream, enabled, what
        self.done = 0
        self.note = ""
        self.text: str | None = None  # set by show(): drawn instead of the bar
        self.shown = False

    def update(self, done: int, note: str = "") -> None:
        self.done, self.note, self.text = done, note, None
        if self.enabled:
            self._draw()

    def show(self, text: str) -> None:
        """Put ``text`` on the line (until the next update)."""
        self.text = text
        if self.enabled:
            self._draw()

    def _draw(self) -> None:
        if self.text is not None:
            bar = self.text
        elif self.total is None:  # streaming: the total is not known until the end
            bar = f"{self.done} lines checked"
        else:
            filled = self.WIDTH * self.done // max(self.total, 1)
            bar = (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                   f"{self.what}{self.done}/{self.total}")
        if self.note:
            bar = f"{bar}  {self.note}"
        self.stream.write(f"\r{bar}\033[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the line (before a report line is printed)."""
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False

    def redraw(self) -> None:
        """Draw the line again (after a report line)."""
        if self.enabled and (self.done or self.text is not None or self.note):
            self._draw()

    def finish(self) -> None:
        self.clear()


class Line(str):
    """One line of a -f file; ``too_long`` when it was cut at MAX_LINE."""

    too_long: bool = False


def read_lines(stream: io.TextIOBase | TextIO, limit: int = MAX_LINE) -> Iterator[Line]:
    """The lines of ``stream`` (opened with ``newline="\\n"``), without their ``\\n``."""
    while True:
        text = stream.readline(limit + 1)
        if not text:
            return
        if len(text) > limit and not text.endswith("\n"):
            while True:  # skip the rest of the line without holding it
                rest = stream.readline(limit)
                if not rest or rest.endswith("\n"):
                    break
            line = Line(text[:80])
            line.too_long = True
            yield line
            continue
        text = text.removesuffix("\n").removesuffix("\r")
        yield Line(text)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
