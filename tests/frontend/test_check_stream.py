"""`qdrive check -f` streams: a verdict comes out before the input ends, memory stays flat."""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from qdrive import cli


def _read_line(stream: io.BufferedReader, seconds: float) -> bytes:
    # A guard against a hang, not a timing assertion: the line either comes or not.
    ready, _, _ = select.select([stream], [], [], seconds)
    return stream.readline() if ready else b""


@pytest.mark.parametrize("json_out", [False, True])
def test_first_verdict_before_the_last_line_is_written(json_out: bool) -> None:
    argv = [sys.executable, "-m", "qdrive", "check", "--offline", "-f", "-"]
    proc = subprocess.Popen(argv + (["--json"] if json_out else []), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"file=a.img,format=raw,cache=bogus\n")
        proc.stdin.flush()
        first = _read_line(proc.stdout, 120)  # stdin is still open: nothing more to read
        assert first, "no verdict while the input was still open"
        if json_out:
            assert json.loads(first)["line"] == 1
        else:
            assert first == b"<stdin>:1:\n"
        proc.stdin.write(b"file=b.img,format=raw\n")
        proc.stdin.close()
        rest = proc.stdout.read().decode()
    finally:
        proc.wait(timeout=120)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == 1
    assert "2 lines: 1 ok, 1 invalid" in rest or json_out


def _peak(path: Path, capsys: pytest.CaptureFixture[str]) -> int:
    tracemalloc.start()
    try:
        assert cli.main(["check", "--offline", "-f", str(path)]) == 1
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        capsys.readouterr()


def test_memory_does_not_grow_with_the_input(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # Long lines make holding the input visible: 20x the lines must not cost 20x the peak.
    line = "file=/images/" + "x" * 2000 + ".img,format=raw,if=virtio,cache=none,aio=native\n"
    bad = "file=a.img,cache=bogus\n"
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_text(line * 200 + bad)
    large.write_text(line * 4000 + bad)
    assert os.path.getsize(large) > 8_000_000
    _peak(small, capsys)  # warm: scanner, parsers and first-use imports
    low, high = _peak(small, capsys), _peak(large, capsys)
    assert high < 2 * low + 1_000_000, (low, high)


def test_progress_counts_lines_on_a_terminal(tmp_path: Path) -> None:
    import pty

    cases = tmp_path / "cases"
    cases.write_text("file=a.img,format=raw\n" * (cli.PROGRESS_EVERY * 2 + 1))
    primary, secondary = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "qdrive", "check", "--offline", "-f",
                               str(cases)], stderr=secondary, stdout=subprocess.PIPE,
                              timeout=300, check=False)
        os.close(secondary)
        secondary = -1
        err = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
    finally:
        os.close(primary)
        if secondary >= 0:
            os.close(secondary)
    assert done.returncode == 0
    assert f"\r{cli.PROGRESS_EVERY * 2} lines checked".encode() in err
    assert done.stdout.decode().startswith(f"{cli.PROGRESS_EVERY * 2 + 1} lines: ")
