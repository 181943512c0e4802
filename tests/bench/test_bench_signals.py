"""Ctrl-C, SIGTERM and SIGHUP stop `qdrive bench` and leave nothing behind.

The command runs with its stderr on a pseudo-terminal, so it prints its progress line; the
test waits for the phase it wants (preparing, running in C or Python, fio) in that line,
then sends the signal. A target bench created is gone afterwards; one it was given stays.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from qdrive.bench.signals import Interrupted, Interrupts

WAIT = 120.0  # seconds before a test gives up on a phase (a bound, not a measurement)


class Bench:
    """`qdrive bench ARGS` with its stderr on a pty."""

    def __init__(self, *args: str) -> None:
        master, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "qdrive", "bench", *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=slave, text=True)
        os.close(slave)
        self.master = master
        self.seen = ""

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed its end
            return False
        self.seen += data.decode("utf-8", "replace")
        return bool(data)

    def wait_for(self, pattern: str) -> None:
        for _ in range(int(WAIT * 10)):
            if re.search(pattern, self.seen):
                return
            if not self._read(0.1) or self.proc.poll() is not None:
                self._read(0)
                break
        assert re.search(pattern, self.seen), (pattern, self.seen, self.proc.poll())

    def finish(self) -> tuple[int, str, str]:
        """Exit code, stdout, and the stderr text without the progress line's escapes."""
        out, _ = self.proc.communicate(timeout=WAIT)
        while self._read(0.05):
            pass
        os.close(self.master)
        text = re.sub(r"\r?\x1b\[K", "\n", self.seen)
        return self.proc.returncode, out, text


def _removed_line(err: str) -> list[str]:
    return [x for x in err.splitlines() if x.startswith("qdrive: ")]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=lambda s: s.name)
def test_signal_during_preparation(tmp_path: Path, sig: signal.Signals) -> None:
    target = tmp_path / "new.img"
    run = Bench(f"file={target},cache=none", "--size", "1G", "--runtime", "1")
    run.wait_for(r"preparing .*: 64 / 1024 MiB")  # the prefill is under way
    run.proc.send_signal(sig)
    code, out, err = run.finish()
    assert code == 128 + sig, err
    assert out == "" and "running" not in err
    assert _removed_line(err) == [f"qdrive: interrupted by {sig.name}; removed {target}, "
                                  "which it had created"]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("rw", ["randwrite", "randrw"])  # the C loop, the Python loop
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_signal_during_the_run(tmp_path: Path, sig: signal.Signals, rw: str) -> None:
    target = tmp_path / "new.img"
    run = Bench(f"file={target},cache=none", "--size", "16M", "--runtime", "3", "--rw", rw,
                "--iodepth", "8")
    run.wait_for(r"running 3 s in the C engine" if rw == "randwrite" else r"[\d,]+ IOPS")
    run.proc.send_signal(sig)
    code, out, err = run.finish()
    assert code == 128 + sig, err
    assert out == ""
    assert _removed_line(err) == [f"qdrive: interrupted by {sig.name}; removed {target}, "
                                  "which it had created"]
    assert os.listdir(tmp_path) == []


def test_a_given_target_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "mine.img"
    target.write_bytes(os.urandom(8 << 20))
    run = Bench(f"file={target},cache=none", "--yes-destroy-data", "--runtime", "3")
    run.wait_for(r"running 3 s")
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 130 and out == ""
    assert _removed_line(err) == ["qdrive: interrupted by SIGINT"]
    assert target.stat().st_size == 8 << 20


def _fio_on(path: Path) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"fio") and f"--filename={path}".encode() in argv:
            pids.append(int(entry))
    return pids


@pytest.mark.skipif(shutil.which("fio") is None, reason="fio not installed")
def test_signal_while_fio_runs(tmp_path: Path) -> None:
    target = tmp_path / "new.img"
    run = Bench(f"file={target},cache=none", "--size", "16M", "--runtime", "5",
                "--compare-fio", "--pairs", "1")
    run.wait_for(r"pair 1/1: fio")
    for _ in range(int(WAIT * 10)):  # fio itself has started
        if _fio_on(target) or run.proc.poll() is not None:
            break
        select.select([], [], [], 0.1)
    assert _fio_on(target)
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 130 and out == "", err
    assert not _fio_on(target)  # fio was stopped with us
    assert os.listdir(tmp_path) == []


# -- the deferral itself, in this process (SIGTERM and SIGHUP: pytest owns SIGINT) ----------
def _raise(sig: int) -> None:
    os.kill(os.getpid(), sig)


def test_installed_turns_signals_into_interrupted() -> None:
    guard = Interrupts()
    before = signal.getsignal(signal.SIGTERM)
    with guard.installed():
        with pytest.raises(Interrupted) as e:
            _raise(signal.SIGTERM)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
        assert e.value.signum == signal.SIGTERM and e.value.exit_code == 143
        assert e.value.name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


def test_deferred_sections_take_the_signal_at_their_end_or_a_checkpoint() -> None:
    guard = Interrupts()
    steps = []
    with guard.installed():
        with pytest.raises(Interrupted):
            with guard.deferred():
                with guard.deferred():
                    _raise(signal.SIGTERM)
                    steps.append("inner")
                steps.append("outer")  # an inner section's end does not raise
            steps.append("never")
        assert steps == ["inner", "outer"]
        with pytest.raises(Interrupted):
            with guard.deferred():
                _raise(signal.SIGHUP)
                steps.append("before checkpoint")
                guard.checkpoint()
                steps.append("never")
        assert steps[-1] == "before checkpoint"
        with guard.deferred():
            guard.checkpoint()  # nothing pending: nothing raised
        steps.append("quiet")
    assert steps[-1] == "quiet"


def test_an_ignored_signal_stays_ignored() -> None:
    guard = Interrupts()
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with guard.installed():
            _raise(signal.SIGHUP)
            for _ in range(1000):
                pass
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, old)
