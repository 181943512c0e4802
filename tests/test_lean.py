"""The `qdrive check` lean path (qdrive/_lean.py) against the full path (qdrive.cli.main).

For every recorded single-drive case of every corpus (and each QEMU version's recording),
the README's drives and a few hand-made ones, in text and JSON: wherever the lean path
claims the command line, its stdout and exit code are the full path's byte for byte (both
run in this process; nothing is timed). The claim counts are asserted from below only, so a
lean path that claimed nothing could not pass either.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from qdrive import _lean, _lean_check, cli
from qdrive.frontend import _lean_derive

ROOT = Path(__file__).resolve().parent.parent
CORPORA = sorted(p for d in ("qemu72", "qemu100", "qemu111")
                 for p in (ROOT / "fixtures" / d).glob("*.jsonl"))
EXTRA = ("file=disk.img,format=raw,if=virtio", "file=a.img,media=cdrom,readonly=off",
         "file=a.img,format=qcow2,cache=off,aio=native,id=d0", "file=a.img,if=floppy",
         "file=a.img,if=pflash,format=raw", "file=a.img,if=none,media=cdrom,werror=stop",
         "file=a.img,if=scsi", "file=a.img,if=sd", "file=a.img,if=floppy,werror=stop",
         "file=a.img,format=raw,read-only=on", "file=a.img,snapshot=on", "file=a:b",
         "file=/x/a:b,discard=on,detect-zeroes=unmap,rerror=report", "file=a.img,id=0x",
         "file=a.img,id=a_b.c-d", "file=a,,b.img", "file=é.img", 'file=a"b', "file=a.img,")


def _singles() -> dict[str, list[str]]:
    """corpus file -> its single-drive cases' drive strings."""
    out: dict[str, list[str]] = {}
    for path in CORPORA:
        rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()[1:]]
        drives = [r["drives"][0] for r in rows
                  if "argv" not in r and len(r.get("drives") or ()) == 1]
        if drives:
            out[f"{path.parent.name}/{path.name}"] = drives
    return out


def _readme() -> list[str]:
    text = (ROOT / "README.md").read_text("utf-8")
    return re.findall(r"'((?:file|if)=[^' ]*)'", text)


def _full(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(args)
    return code, out.getvalue(), err.getvalue()


_MODES = (["--offline"], ["--offline", "--json"], ["--output=json", "--offline"],
          ["--offline", "--color=always"], ["--offline", "--dialect", "qemu-7.2", "--strict"])


def _claimed(drives: list[str]) -> int:
    """How many drives the lean path claims (in every mode alike); each mode's output is
    the full path's."""
    claimed = 0
    for drive in drives:
        verdicts = [_lean.decide(["check", *mode, drive], tty=False) for mode in _MODES]
        assert len({v is None for v in verdicts}) == 1, drive  # the mode does not decide
        for mode, lean in zip(_MODES, verdicts, strict=True):
            if lean is not None:
                args = ["check", *mode, drive]
                assert _full(args) == (lean[0], lean[1], ""), args
        claimed += verdicts[0] is not None
    return claimed


# The drives each corpus has the lean path claim, at least (measured 2026-12-02: the
# generated corpora are built to probe the edges, the harvests are what people write).
_AT_LEAST = {"verdicts.jsonl": 0.05, "harvest-drives.jsonl": 0.2, "harvest-hv4-drives.jsonl": 0.2,
             "generated-singles.jsonl": 0.02, "generated-hb4-singles.jsonl": 0.01}


def test_the_tables_are_current() -> None:
    # qdrive/_lean_tables.py is what the front end says today
    assert (ROOT / "qdrive" / "_lean_tables.py").read_text("utf-8") == _lean_derive.render()


@pytest.mark.parametrize("corpus", sorted(_singles()))
def test_every_claimed_case_prints_what_the_full_path_prints(corpus: str) -> None:
    drives = _singles()[corpus]
    claimed = _claimed(drives)
    share = _AT_LEAST.get(corpus.split("/")[1], 0)
    assert claimed >= share * len(drives), (corpus, claimed, len(drives))
    print(f"{corpus}: the lean path claims {claimed} of {len(drives)} single drives")


def test_readme_and_hand_made_drives() -> None:
    drives = [*_readme(), *EXTRA]
    assert len(_readme()) >= 3
    assert _claimed(drives) >= 10


@pytest.mark.parametrize("args", [
    ["check", "file=a.img"],  # the image's format is probed: the full path's
    ["check", "file=/nonexistent/a.img,format=raw"],
    ["check", "--offline", "file=a.img", "file=b.img"],  # two drives
    ["check", "--offline", "--dialect", "qemu-10.0", "file=a.img"],
    ["check", "--offline", "--explain", "file=a.img"],
    ["check", "--off", "file=a.img"],  # argparse's abbreviation
    ["check", "--offline", "-M=pc", "file=a.img"],
    ["check", "--offline", "--", "file=a.img"],
    ["check", "--offline", "file=a.img,bus=0"],
    ["check", "--offline", "file=a.img,if=ide,read-only=on"],
    ["demo"], ["check", "--offline"], ["check", "--offline", "--json"],
])
def test_what_the_lean_path_hands_over(args: list[str]) -> None:
    assert _lean.decide(args) is None


def test_pasted_drive_pairs_and_colour() -> None:
    args = ["check", "--offline", "-drive", "file=a.img,if=virtio"]
    assert _lean.decide(args) == _full(args)[:2]
    coloured = _lean.decide(["check", "--offline", "file=a.img"], tty=True)
    assert coloured is not None and coloured[1].startswith("\033[32mok\033[0m  -drive ")


def test_a_claimed_check_loads_no_attrs_lark_re_json_or_front_end() -> None:
    # What the lean path loads beyond `import qdrive` (an editable install's finder loads
    # re and more on the package's first import; a regular install loads none of them).
    code = ("import sys, qdrive; before = set(sys.modules); from qdrive._lean import main; "
            "rc = main(['check', '--offline', 'file=a.img,format=raw,if=virtio']); "
            "heavy = sorted(m for m in set(sys.modules) - before if m in ('attrs', 'lark', "
            "'re', 'json', 'enum', 'typing', 'argparse') or m.startswith(('qdrive.frontend', "
            "'qdrive.block', 'qdrive.cli', 'qdrive.model'))); print(rc, heavy)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd="/", check=True)
    assert run.stdout.splitlines()[-1] == "0 []"
    assert run.stdout.startswith("ok  -drive file=a.img,format=raw,if=virtio  ->  virtio0")


def _image(tmp: Path, name: str, size: int = 1 << 20, mode: int = 0o644,
           head: bytes = b"") -> str:
    path = tmp / name
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    path.chmod(mode)
    return str(path)


_PROBED = ("file={},format=raw", "file={},format=raw,if=virtio", "file={},if=none,format=raw",
           "file={},format=raw,cache=writeback,werror=stop,id=d0,detect-zeroes=on")


def _probed(path: str) -> int:
    """How many of _PROBED's drives over ``path`` the lean path claims looking at the image
    (in text and JSON); each claimed one prints what the full path prints."""
    claimed = 0
    for shape in _PROBED:
        for mode in ([], ["--json"]):
            args = ["check", *mode, shape.format(path)]
            lean = _lean.decide(args)
            if lean is not None:
                assert _full(args) == (lean[0], lean[1], ""), args
                claimed += 1
    return claimed


def test_a_plain_raw_image_is_claimed_when_looked_at(tmp_path: Path) -> None:
    assert _probed(_image(tmp_path, "a.img")) == 2 * len(_PROBED)
    # a qcow2 header under format=raw is raw's data: QEMU reads no header
    assert _probed(_image(tmp_path, "q.img", head=b"QFI\xfb\0\0\0\3")) == 2 * len(_PROBED)
    os.symlink(tmp_path / "a.img", tmp_path / "link.img")
    assert _probed(str(tmp_path / "link.img")) == 2 * len(_PROBED)
    # whatever the lean path decides about a read-only mode, it is the full path's answer
    _probed(_image(tmp_path, "ro.img", mode=0o444))


def test_what_the_image_hands_over(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    for path in (_image(tmp_path, "empty.img", size=0), str(tmp_path / "missing.img"),
                 str(tmp_path / "fifo"), str(tmp_path / "dir")):
        assert _probed(path) == 0, path
    shapes = ("file={},format=qcow2", "file={}", "file={},format=raw,cache=none",
              "file={},format=raw,aio=io_uring", "file={},format=raw,media=cdrom")
    path = _image(tmp_path, "b.img")
    for shape in shapes:
        assert _lean.decide(["check", shape.format(path)]) is None, shape


def test_another_processes_lock_hands_over(tmp_path: Path) -> None:
    path = _image(tmp_path, "locked.img")
    fd = os.open(path, os.O_RDWR)
    try:  # an open file description of its own: F_OFD_GETLK sees it as another's
        fcntl.fcntl(fd, 37, struct.pack("hh4xqqi4x", fcntl.F_RDLCK, os.SEEK_SET, 201, 1, 0))
        assert _probed(path) == 0
        full = _full(["check", f"file={path},format=raw"])
        assert full[0] == 1 and "lock" in full[1]
    finally:
        os.close(fd)
    assert _probed(path) == 2 * len(_PROBED)


@pytest.mark.parametrize("mode", [["--offline"], ["--offline", "--json"], ["--json"], []])
def test_check_f_prints_the_same_with_and_without_the_lean_lines(
        tmp_path: Path, mode: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    image = _image(tmp_path, "a.img")
    drives = [d for corpus in ("qemu72/harvest-drives.jsonl", "qemu72/verdicts.jsonl",
                               "qemu72/generated-hb4-singles.jsonl")
              for d in _singles()[corpus] if not any(c in d for c in "\t\r\n")]
    drives += [s.format(image) for s in _PROBED] + ["file=a.img\tfile=b.img"]
    listing = tmp_path / "drives.txt"
    listing.write_text("\n".join(drives) + "\n", encoding="utf-8", errors="surrogateescape")
    args = ["check", "-f", str(listing), *mode]
    lean = _full(args)
    asked: list[str] = []
    real = _lean_check.line_json
    monkeypatch.setattr(_lean_check, "line_json", lambda t, o: asked.append(t) or real(t, o))
    # every one-drive line is asked about (blank and comment lines are no case); offline,
    # a line met before is answered from the memo of reports (tests/test_bulk.py)
    cases = [d for d in drives if d.strip() and not d.lstrip().startswith("#")]
    ones = [d for d in cases if "\t" not in d]
    assert _full(args) == lean
    assert asked == (list(dict.fromkeys(ones)) if "--offline" in mode else ones)
    assert len(set(ones)) < len(ones)  # the corpora repeat some drives: the memo is used
    monkeypatch.setattr(cli, "_lean_lines", lambda args: False)
    assert _full(args) == lean
    claimed = sum(real(d, "--offline" in mode) is not None for d in drives)
    # offline: the plain corpus drives; looked at: the tmp image's (the corpus names none)
    assert claimed >= (300 if "--offline" in mode else len(_PROBED)), claimed
