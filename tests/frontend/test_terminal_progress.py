"""The progress line's clock (issue 18 item 5): redrawn every tick from a thread, never
between the erase and a report line, and an estimate of the time left that counts down.

Time is injected (a fake clock for :class:`Eta`) or counted (draws), never measured.
"""

from __future__ import annotations

import functools
import io
import re
import sys
import threading
from pathlib import Path

import pytest

from qdrive.frontend.terminal import Eta, Progress, clock


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_clock_format() -> None:
    assert [clock(s) for s in (0, 41.6, 725, 3723, -5)] == [
        "0:00", "0:42", "12:05", "1:02:03", "0:00"]


def test_eta_counts_down_between_steps() -> None:
    now = _Clock()
    eta = Eta(4, 10.0, now=now)
    assert eta() == "0:00 elapsed, about 0:40 left"  # before the first run: 4 x 10 s
    now.t += 3
    assert eta() == "0:03 elapsed, about 0:37 left"
    now.t += 9
    eta.step(1)  # the first run took 12 s: three more of those
    assert eta() == "0:12 elapsed, about 0:36 left"
    now.t += 8
    assert eta() == "0:20 elapsed, about 0:28 left"
    now.t += 60  # slower than predicted: the estimate stops at zero
    assert eta() == "1:20 elapsed, about 0:00 left"
    eta.step(4)
    assert eta.left() == 0.0


def test_ticking_redraws_until_the_block_ends() -> None:
    screen = _Terminal()
    bar = Progress(None, screen, True)
    calls = []
    enough = threading.Event()

    def suffix() -> str:
        calls.append(1)
        if len(calls) >= 3:
            enough.set()
        return f"tick {len(calls)}"

    bar.suffix = suffix
    bar.show("measuring")
    with bar.ticking(every=0.001):
        assert enough.wait(30), "the line was not redrawn"
    after = bar.draws
    assert after >= 3 and "\rmeasuring  tick 3\x1b[K" in screen.getvalue()
    enough.clear()
    assert not enough.wait(0.05) and bar.draws == after  # the thread has stopped


def test_ticking_is_off_without_a_terminal() -> None:
    stream = io.StringIO()
    bar = Progress(None, stream, False)
    bar.show("x")
    with bar.ticking(every=0.001):
        bar.print("report", stream)
    assert stream.getvalue() == "report\n" and bar.draws == 0


def test_a_tick_never_lands_between_the_erase_and_the_report_line() -> None:
    screen = _Terminal()
    bar = Progress(10, screen, True, what="row ")
    bar.suffix = lambda: "0:01 elapsed, about 0:09 left"
    bar.update(1, "threads")
    with bar.ticking(every=0.0001):
        for n in range(300):
            bar.print(f"report {n}", screen)
    out = screen.getvalue()
    for n in range(300):
        # each report line starts a fresh screen line: right after the erase
        assert f"\r\x1b[Kreport {n}\n" in out, n
    for line in out.split("\n")[:-1]:
        assert re.fullmatch(r"(\r\[#*\.*\] row 1/10  threads  0:01 elapsed, about 0:09 left"
                            r"\x1b\[K)*\r\x1b\[Kreport \d+", line), line


def test_bench_ticks_while_one_run_measures(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """One run of 0.3 s: the line is redrawn while it runs (here every 10 ms instead of
    every second), and erased before the report line."""
    from qdrive import cli

    monkeypatch.setattr(Progress, "ticking",
                        functools.partialmethod(Progress.ticking, every=0.01))
    screen = _Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.setattr(sys, "stderr", screen)
    code = cli.main(["bench", f"file={tmp_path / 't.img'},cache=none", "--size", "1M",
                     "--runtime", "0.3", "--iodepth", "2", "--repeat", "2"])
    out = screen.getvalue()
    assert code == 0, out
    lines = re.findall(r"\rrun ([12])/2: threads cache=none: [^\r]*  (\d+:\d\d) elapsed, "
                       r"about (\d+:\d\d) left\x1b\[K", out)
    assert {n for n, _, _ in lines} == {"1", "2"}
    assert len(lines) > 4  # more draws than the runs' own progress calls
    assert re.search(r"\r\x1b\[Kthreads cache=none: [\d.]+ MB/s", out), out[-300:]
