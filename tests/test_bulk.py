"""`qdrive check -f` in bulk: the memo of reports and the batched writes change no byte.

Offline, a -f line's report is a function of its text (qdrive.cli._memo_sound), so a line
met before is answered from a memo (qdrive.frontend.terminal.Memo), and report text is
written in batches (terminal.Batch). Each recorded single-drive corpus is checked with
every line twice, with the memo and without it (every line checked afresh), in each mode:
stdout, stderr and the exit code are the same. tests/compat/bulk_same.py makes the same
comparison against another tree's CLI (main's). What is counted is work (checks run,
memo hits, writes); nothing is timed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qdrive import cli
from qdrive.frontend import terminal
from tests.compat import bulk_same

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(args)
    return code, out.getvalue(), err.getvalue()


def _listing(tmp_path: Path, drives: list[str]) -> Path:
    path = tmp_path / "drives.txt"
    path.write_text("".join(f"{d}\n" for d in drives * 2), "utf-8", errors="surrogateescape")
    return path


def _same_with_and_without_the_memo(path: Path, mode: list[str],
                                    monkeypatch: pytest.MonkeyPatch) -> int:
    """Checks -f PATH in MODE both ways; returns the memo's hits."""
    memos: list[terminal.Memo] = []
    real = terminal.Memo

    def counted() -> terminal.Memo:
        memos.append(real())
        return memos[-1]

    with monkeypatch.context() as m:
        m.setattr(cli, "Memo", counted)
        with_memo = _run(["check", "-f", str(path), *mode])
    with monkeypatch.context() as m:
        m.setattr(cli, "_memo_sound", lambda args: False)
        afresh = _run(["check", "-f", str(path), *mode])
    assert with_memo == afresh, mode
    return sum(memo.hits for memo in memos)


CORPORA = bulk_same.corpora()


def test_the_corpora_are_there() -> None:
    assert len(CORPORA) >= 7 and sum(map(len, CORPORA.values())) > 5000


@pytest.mark.parametrize("corpus", sorted(CORPORA))
@pytest.mark.parametrize("mode", [["--offline"], ["--offline", "--json"]])
def test_every_corpus_reports_alike_with_the_memo(corpus: str, mode: list[str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terminal.Memo, "LIMIT", 1 << 26)  # every report fits: all are hits
    drives = CORPORA[corpus]
    hits = _same_with_and_without_the_memo(_listing(tmp_path, drives), mode, monkeypatch)
    # the second half repeats the first: every line of it is a hit (the blank and comment
    # lines are no case; a repeat within the first half is a hit too)
    cases = [d for d in drives if d.strip() and not d.lstrip().startswith("#")]
    assert hits == 2 * len(cases) - len(set(cases))


@pytest.mark.parametrize("mode", [
    ["--offline", "--strict"], ["--offline", "--color=always"], ["--offline", "--fix"],
    ["--offline", "--explain", "--json"], ["--offline", "--to-blockdev"],
    ["--offline", "-M", "q35"], ["--offline", "--dialect", "qemu-10.0"],
    ["--offline", "--dialect", "qemu-11.1", "--json"],
    ["--offline", "--dialect", "qemu-0.9-sync"]])
def test_the_other_modes_report_alike_with_the_memo(mode: list[str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    drives = CORPORA["harvest/drives.jsonl"] + CORPORA["generated/hb4-singles.jsonl"]
    hits = _same_with_and_without_the_memo(_listing(tmp_path, drives), mode, monkeypatch)
    assert hits >= len(drives)


@pytest.mark.parametrize("mode", [[], ["--json"], ["--offline", "--probe-network"],
                                  ["--offline", "--qemu-user", "0"],
                                  ["--offline", "--policy", "untrusted", "--allow-dir", "TMP"]])
def test_no_memo_where_more_than_the_line_decides(mode: list[str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # images looked at, sockets connected, a user's access, the guard's directories
    path = _listing(tmp_path, ["file=a.img,format=raw,cache=bogus"])
    made: list[object] = []
    monkeypatch.setattr(cli, "Memo", lambda: made.append(1))
    code, out, _ = _run(["check", "-f", str(path),
                         *(str(tmp_path) if m == "TMP" else m for m in mode)])
    assert code == 1 and made == [] and out


def test_a_repeated_line_is_checked_once(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["file=a.img,cache=bogus", "file=b.img,if=virtio,bus=0,unit=1",
             "file=a.img,format=raw\tfile=a.img,format=raw"] * 50
    path = tmp_path / "repeats.txt"
    path.write_text("\n".join(lines) + "\n")
    real = cli._checker
    checked: list[object] = []

    def counting(args: object, snapshot: bool = False) -> object:
        run = real(args, snapshot)  # type: ignore[arg-type]

        def counted(drives: object) -> object:
            checked.append(drives)
            return run(drives)  # type: ignore[arg-type]

        return counted

    monkeypatch.setattr(cli, "_checker", counting)
    with_memo = _run(["check", "--offline", "-f", str(path)])
    assert len(checked) == 3  # one check per distinct line
    monkeypatch.setattr(cli, "_memo_sound", lambda args: False)
    assert _run(["check", "--offline", "-f", str(path)]) == with_memo
    assert len(checked) == 3 + 150
    assert with_memo[0] == 1 and with_memo[1].startswith(f"{path}:1:\n")
    assert with_memo[1].count(f"{path}:") == 50  # one of the three fails, each time
    assert "150 lines: 100 ok, 50 invalid" in with_memo[1]


def test_the_memo_is_bounded() -> None:
    memo: terminal.Memo = terminal.Memo(limit=10_000)
    lines = [f"file=disk{n}.img,format=raw" for n in range(1000)]
    for line in lines:
        memo.put(line, "x" * 50, 50)
        assert memo.size <= 10_000
    assert 0 < len(memo.values) < 1000
    memo.put("too big", "y", 20_000)
    assert memo.get("too big") is None and memo.size <= 10_000
    # the lines kept are the first ones: a second pass over the same lines finds them
    found = [line for line in lines if memo.get(line) is not None]
    assert found == lines[:len(memo.values)] and memo.hits == len(found)


def test_a_run_past_the_memos_limit_reports_alike(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terminal.Memo, "LIMIT", 20_000)
    drives = CORPORA["harvest/drives.jsonl"]
    hits = _same_with_and_without_the_memo(_listing(tmp_path, drives), ["--offline", "--json"],
                                           monkeypatch)
    assert 0 < hits < len(drives)


def test_reports_are_written_in_batches_not_a_write_per_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("".join(f"file=d{n}.img,cache=bogus\n" for n in range(2000)))
    argv = [sys.executable, "-c", "import sys; from qdrive._lean import main; "
            "sys.exit(main())", "check", "--offline", "-f", str(path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # every print() its own write
    traced = tmp_path / "trace"
    done = subprocess.run(["strace", "-f", "-e", "trace=write", "-o", str(traced), *argv],
                          capture_output=True, env=env, check=False, cwd="/")
    if done.returncode == 127 or not traced.exists():
        pytest.skip("strace is not installed")  # the Makefile's debs install it
    assert done.returncode == 1 and done.stdout.count(b"\n") == 2000 * 4 + 2
    writes = sum(line.split("(", 1)[0].endswith("write") and "write(1," in line
                 for line in traced.read_text().splitlines())
    # 2000 reports: one write per Batch.LINES lines or Batch.CHARS characters, not 2000
    assert 2 <= writes <= 2000 * 4 * 60 // terminal.Batch.CHARS + 2000 // terminal.Batch.LINES + 3


def test_a_terminal_gets_every_report_at_once() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    batch = terminal.Batch(out, io.StringIO())
    batch.add("a.txt:1:\nreport\n")
    assert out.getvalue() == "a.txt:1:\nreport\n" and batch.writes == 1


def test_a_pipe_with_nothing_more_gets_what_is_held(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end, "r") as source:
            out = io.StringIO()
            batch = terminal.Batch(out, source)
            batch.add("r1\n")
            os.write(write_end, b"more\n")
            batch.line_read()  # the pipe has more to give: held
            assert out.getvalue() == ""
            source.readline()
            batch.line_read()  # nothing more: the writer may wait for this verdict
            assert out.getvalue() == "r1\n"
    finally:
        os.close(write_end)


def test_json_lines_and_the_summary(tmp_path: Path) -> None:
    path = _listing(tmp_path, ["file=a.img,format=raw,if=virtio", "file=a.img,cache=x"])
    code, out, err = _run(["check", "--offline", "--json", "-f", str(path)])
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and [r["line"] for r in rows] == [1, 2, 3, 4]
    assert [r["ok"] for r in rows] == [True, False, True, False]
    assert err == "4 lines: 2 ok, 2 invalid, 0 with warnings\nerrors by kind: bad-cache 2\n"
