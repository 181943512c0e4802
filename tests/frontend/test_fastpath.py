"""The plain-drive shortcut (qdrive.frontend.fastpath) agrees with QEMU's ordered walk.

Whenever the shortcut answers, its Conversion must be the one convert.walk_72 builds:
the same Drive, error, warnings and placement. Checked over every recorded corpus and
over generated drives built from the keys and values the shortcut reads (edge spellings
included), alone and as whole command lines through check().
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qdrive
from qdrive.frontend import _convert as convert
from qdrive.frontend._syntax import tokenize
from qdrive.frontend import fastpath
from qdrive.model import Interface
from qdrive.frontend.placement import MACHINES, Slots

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SEED = ("file=/images/npt2-guest-virtio.qcow2,if=virtio,cache=off,format=qcow2,snapshot=off,"
        "bus=0,unit=1")


def _corpus_lines() -> list[list[str]]:
    lines: list[list[str]] = []
    for path in sorted(FIXTURES.glob("*/*.jsonl")):
        for row in path.read_text(encoding="utf-8").splitlines():
            data = json.loads(row)
            drives = data.get("drives") or ([data["drive"]] if "drive" in data else None)
            if isinstance(drives, list) and all(isinstance(d, str) for d in drives):
                lines.append(drives)
    return lines


CORPUS = _corpus_lines()


def _view(conv: Any) -> tuple[Any, ...]:
    return (conv.drive, conv.error, conv.warnings, conv.items, conv.id_span, conv.empty,
            conv.format_probed, conv.opened_read_only, conv.probed_format, conv.given_id,
            conv.format_given, conv.image_name, conv.image_key)


def _agree(text: str, machine: str = "pc", taken: tuple[tuple[Interface, int, int], ...] = ()
           ) -> bool:
    """Compare the shortcut with the walk on fresh slots; True when the shortcut answered."""
    board = MACHINES[machine]
    fast_slots, walk_slots = Slots(board), Slots(board)
    fast_slots.used.update(taken)
    walk_slots.used.update(taken)
    items = tokenize(text)
    fast = fastpath.convert(text, items, board.default_if, fast_slots.place)
    if fast is None:
        return False
    walk = convert.walk_72(text, items, board.default_if, walk_slots.place)
    assert _view(fast) == _view(walk), text
    assert fast_slots.last == walk_slots.last, text
    return True


def test_corpus_size_and_the_shortcut_is_taken() -> None:
    # The comparison below means something only if the corpus is there and the shortcut
    # answers for a fair share of it.
    drives = [d for line in CORPUS for d in line]
    assert len(drives) > 10_000
    taken = sum(_agree(d) for d in drives)
    assert taken > 500, taken


def test_seed_string_takes_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    walked = []
    real = convert.walk_72
    monkeypatch.setattr(convert, "walk_72", lambda *a, **k: walked.append(a) or real(*a, **k))
    drive = qdrive.parse_drive(SEED)
    assert walked == []
    assert drive.cache is qdrive.CacheMode.NONE and drive.format == "qcow2"
    qdrive.parse_drive(SEED + ",copy-on-read=on")  # a key the shortcut leaves to the walk
    assert len(walked) == 1


def test_every_corpus_drive_alone_on_pc_and_q35() -> None:
    for line in CORPUS:
        for text in line:
            _agree(text, "pc")
            _agree(text, "q35", taken=((Interface.IDE, 0, 0), (Interface.VIRTIO, 0, 0)))


def _check_both(drives: list[str], **kw: Any) -> None:
    fast = qdrive.check(drives, probe_files=False, **kw)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(fastpath, "convert", lambda *a, **k: None)
        walk = qdrive.check(drives, probe_files=False, **kw)
    assert fast == walk, drives


def test_every_corpus_command_line_through_check() -> None:
    for line in CORPUS:
        _check_both(line)


_NUMBERS = ["0", "1", "2", "3", "6", "7", "00", "01", "010", "08", "-1", "+1", " 1", "1 ",
            "0x1", "0X2", "1k", "2147483647", "2147483648", "4294967295", "4294967296",
            "18446744073709551615", "18446744073709551616", "99999999999999999999", "",
            "\u0661", "²"]
_BOOLS = ["on", "off", "yes", "no", "true", "false", "y", "n", "ON", "Off", "1", "0", ""]
_VALUES: dict[str, list[str]] = {
    "file": ["a.img", "disk.img", "/x/y.qcow2", "", "nbd:host", "./a:b", "a/b:c", ":x", "x:",
             "file:a", "json:{}", "a,b", "host_device:/dev/x", "é.img"],
    "format": ["raw", "qcow2", "vmdk", "file", "host_device", "nbd", "help", "?", "bogus",
               "RAW", "null-co", "throttle", ""],
    "if": [i.value for i in Interface] + ["IDE", "usb", ""],
    "bus": _NUMBERS, "unit": _NUMBERS, "index": _NUMBERS,
    "media": ["disk", "cdrom", "CDROM", "floppy", ""],
    "snapshot": _BOOLS, "read-only": _BOOLS, "readonly": _BOOLS, "copy-on-read": _BOOLS,
    "cache": ["none", "off", "writeback", "writethrough", "directsync", "unsafe", "on", ""],
    "cache.direct": _BOOLS, "cache.no-flush": _BOOLS,
    "aio": ["threads", "native", "io_uring", "NATIVE", ""],
    "discard": ["on", "off", "ignore", "unmap", "yes", ""],
    "werror": ["ignore", "stop", "report", "enospc", "bogus", ""],
    "rerror": ["ignore", "stop", "report", "enospc", ""],
    "id": ["d0", "a.b-c_d", "0d", "", "d d", "é"],
    "node-name": ["n0"], "detect-zeroes": ["on", "off", "unmap", "UNMAP", "", "1"],
    "offset": ["0"],
    "file.aio": ["native"], "bps": ["1"],
}
_ITEM = st.sampled_from(sorted(_VALUES)).flatmap(
    lambda k: st.sampled_from(_VALUES[k]).map(lambda v: f"{k}={v.replace(',', ',,')}"))
_PIECE = st.one_of(_ITEM, _ITEM, _ITEM, st.sampled_from(["snapshot", "noreadonly", ""]))
_SIMPLE = ["format", "if", "bus", "unit", "index", "media", "snapshot", "read-only", "cache",
           "aio", "discard", "werror", "rerror", "id", "readonly", "detect-zeroes"]
# Mostly drives the shortcut may take: a file, then distinct keys it reads, in any order.
_PLAIN = st.tuples(
    st.sampled_from(_VALUES["file"][:4]),
    st.lists(st.sampled_from(_SIMPLE), unique=True, max_size=6).flatmap(
        lambda keys: st.tuples(*(st.sampled_from(_VALUES[k]).map(lambda v, k=k: f"{k}={v}")
                                 for k in keys))),
    st.randoms(use_true_random=False),
).map(lambda t: ",".join(t[2].sample([f"file={t[0]}", *t[1]], len(t[1]) + 1)))
_DRIVE = st.one_of(_PLAIN, _PLAIN, st.lists(_PIECE, min_size=0, max_size=9).map(",".join))


@settings(max_examples=1500, deadline=None)
@given(_DRIVE, st.sampled_from(["pc", "q35"]))
def test_generated_drives_alone(text: str, machine: str) -> None:
    _agree(text, machine)
    _agree(text, machine, taken=((Interface.IDE, 0, 0), (Interface.IDE, 0, 1)))


@settings(max_examples=300, deadline=None)
@given(st.lists(_DRIVE, min_size=1, max_size=4), st.sampled_from(["pc", "q35"]),
       st.booleans())
def test_generated_command_lines(drives: list[str], machine: str, snapshot: bool) -> None:
    _check_both(drives, machine=machine, snapshot=snapshot)
