"""What the command line needs from a terminal: colour, a progress line, -f lines.

* :class:`Style`: ``--color=auto|always|never``; ``auto`` colours only a terminal and
  honours ``NO_COLOR`` (https://no-color.org: set and non-empty means no colour).
  ``always`` wins over NO_COLOR, as the user asked for it on this command line.
* :class:`Progress`: one line on stderr, redrawn in place. Before any report line is
  printed it is erased, and drawn again after, so the report is never garbled even when
  stdout and stderr are the same terminal. :meth:`Progress.ticking` redraws it every
  second from a thread (a clock that moves while one long run measures), and
  :class:`Eta` is that clock: the time elapsed and an estimate of what is left.
* :func:`read_lines`: the lines of a ``-f`` file. Only ``\\n`` ends a line (a bare CR is
  part of the drive string, as it would be in an argv element; CRLF loses its CR), and a
  line longer than :data:`MAX_LINE` is not read into memory whole: it is reported as
  too long, and the next line is read.
* :class:`Memo`: ``-f`` reports already made, by the line's text (bounded), and
  :class:`Batch`: ``-f`` report text written in batches, but never held while the input
  waits.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

__all__ = ["Style", "Progress", "Eta", "clock", "read_lines", "Line", "MAX_LINE", "color_on",
           "Memo", "Batch"]

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
    the bar (a phase of ``qdrive bench``: "preparing ..."). ``suffix``, when set, is
    called at every draw and its text ends the line (an :class:`Eta`'s clock).

    Every write holds one lock: the ticking thread never draws between a :meth:`clear`
    and the report line :meth:`print` writes.
    """

    WIDTH = 30

    def __init__(self, total: int | None, stream: TextIO, enabled: bool,
                 what: str = "") -> None:
        self.total, self.stream, self.enabled, self.what = total, stream, enabled, what
        self.done = 0
        self.note = ""
        self.text: str | None = None  # set by show(): drawn instead of the bar
        self.suffix: Callable[[], str] | None = None
        self.shown = False
        self.draws = 0  # lines drawn: what a test counts instead of time
        self._lock = threading.RLock()

    def update(self, done: int, note: str = "") -> None:
        with self._lock:
            self.done, self.note, self.text = done, note, None
            if self.enabled:
                self._draw()

    def show(self, text: str) -> None:
        """Put ``text`` on the line (until the next update)."""
        with self._lock:
            self.text = text
            if self.enabled:
                self._draw()

    def print(self, text: str, file: TextIO) -> None:
        """A report line: the progress line erased, ``text`` written, the line redrawn."""
        with self._lock:
            self.clear()
            print(text, file=file, flush=True)
            self.redraw()

    @contextlib.contextmanager
    def ticking(self, every: float = 1.0) -> Iterator[None]:
        """Redraw the line every ``every`` seconds until the block ends, so that the clock
        moves while one run measures (nothing happens when the line is off)."""
        if not self.enabled:
            yield
            return
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(every):
                self.redraw()

        thread = threading.Thread(target=tick, name="qdrive-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

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
        if self.suffix is not None:
            bar = f"{bar}  {self.suffix()}"
        self.stream.write(f"\r{bar}\033[K")
        self.stream.flush()
        self.shown = True
        self.draws += 1

    def clear(self) -> None:
        """Erase the line (before a report line is printed)."""
        with self._lock:
            if self.shown:
                self.stream.write("\r\033[K")
                self.stream.flush()
                self.shown = False

    def redraw(self) -> None:
        """Draw the line again (after a report line, or a tick)."""
        with self._lock:
            if self.enabled and (self.done or self.text is not None or self.note):
                self._draw()

    def finish(self) -> None:
        self.clear()


def clock(seconds: float) -> str:
    """0:42, 12:05, 1:02:03."""
    whole = max(0, round(seconds))
    h, rest = divmod(whole, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Eta:
    """``M:SS elapsed, about M:SS left`` for ``runs`` runs of about ``each`` seconds.

    :meth:`step` says how many runs are done; the runs so far predict the others (before
    the first, ``each`` does), and the time since the last step counts down the estimate,
    so that a tick between two steps shows the clock moving. ``now`` is a monotonic clock
    (tests pass their own).
    """

    def __init__(self, runs: int, each: float,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.runs, self.each, self.now = runs, each, now
        self.started = self.at = now()
        self.done = 0

    def step(self, done: int) -> None:
        self.done, self.at = done, self.now()

    def left(self) -> float:
        """Seconds still to go, by the estimate."""
        each = (self.at - self.started) / self.done if self.done else self.each
        return max(0.0, each * (self.runs - self.done) - (self.now() - self.at))

    def __call__(self) -> str:
        return f"{clock(self.now() - self.started)} elapsed, about {clock(self.left())} left"


class Line(str):
    """A line of a -f file that was cut at MAX_LINE (``too_long``): its first 80
    characters."""

    too_long: bool = True


def read_lines(stream: io.TextIOBase | TextIO, limit: int = MAX_LINE) -> Iterator[str]:
    """The lines of ``stream`` (opened with ``newline="\\n"``), without their ``\\n``; a
    line longer than ``limit`` comes as a :class:`Line` (a plain str is every other:
    one copy less per line of a long file)."""
    while True:
        text = stream.readline(limit + 1)
        if not text:
            return
        if len(text) > limit and not text.endswith("\n"):
            while True:  # skip the rest of the line without holding it
                rest = stream.readline(limit)
                if not rest or rest.endswith("\n"):
                    break
            yield Line(text[:80])
            continue
        yield text.removesuffix("\n").removesuffix("\r")


class Memo:
    """Values by their key's text, in at most :attr:`LIMIT` characters of keys (plus
    what :meth:`put` is told each value costs). Once full it keeps what it has and takes
    no more: a file that cycles through more distinct lines than fit still finds the ones
    kept (dropping the oldest would find none of them), and a long file of distinct lines
    holds no more than a short one. (Not a Generic: a subscripted class costs every start-up.)"""

    LIMIT = 1 << 22  # characters: a few MiB at most, beside a -f run's ~20 MiB
    EACH = 64  # what one entry costs beyond its text (the dict slot, the tuple)

    def __init__(self, limit: int | None = None) -> None:
        self.limit = self.LIMIT if limit is None else limit
        self.values: dict[str, Any] = {}
        self.size = 0
        self.hits = 0  # lines answered from the memo: what a test counts

    def get(self, key: str) -> Any:
        found = self.values.get(key)
        if found is not None:
            self.hits += 1
        return found

    def put(self, key: str, value: object, cost: int = 0) -> None:
        cost += len(key) + self.EACH
        if self.size + cost <= self.limit:
            self.values[key] = value
            self.size += cost


class Batch:
    """Report text for ``stream``, written in one piece at a time rather than a write per
    line (a write is a system call; under PYTHONUNBUFFERED each print() is two).

    Text waits at most until :attr:`LINES` more input lines were read (so a verdict still
    shows while a long file is read) or :attr:`CHARS` characters are held, and never while
    the input has nothing more to give: a pipe's writer may wait for it. A terminal gets
    every piece at once, and so does every stream when ``eager`` (a progress line on
    stderr, which may share the terminal: its erasing must come between the reports)."""

    LINES = 512
    CHARS = 1 << 16

    def __init__(self, stream: TextIO, source: TextIO, eager: bool = False) -> None:
        self.stream = stream
        self.parts: list[str] = []
        self.held = 0
        self.since = 0  # input lines read since the oldest text held
        self.writes = 0  # pieces written: what a test counts
        self.eager = eager or _isatty(stream)
        # a regular file always has more to give (or ends); a pipe or terminal may not
        self.fd = None if _regular(source) else _fileno(source)

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.held += len(text)
        if self.eager or self.held >= self.CHARS:
            self.flush()

    def line_read(self) -> None:
        """One more input line was read and reported: write what has waited long enough,
        or all of it when the input would make this process wait."""
        if not self.parts:
            return
        self.since += 1
        if self.since >= self.LINES or self.fd is not None and not _readable(self.fd):
            self.flush()

    def flush(self) -> None:
        if self.parts:
            text = "".join(self.parts)
            self.parts.clear()
            self.held = self.since = 0
            self.writes += 1
            self.stream.write(text)
        self.stream.flush()


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


def _fileno(stream: object) -> int | None:
    try:
        return int(stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return None  # no descriptor (a StringIO): it never waits


def _regular(stream: object) -> bool:
    fd = _fileno(stream)
    try:
        return fd is None or stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


def _readable(fd: int) -> bool:
    """Whether a read of ``fd`` would return at once (data or its end)."""
    import select  # an extension module: loaded only by a -f run reading a pipe

    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return False


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
