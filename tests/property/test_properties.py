"""Hypothesis properties: any text -> Drive or DriveError; valid drives round-trip."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import qdrive
from qdrive import DriveError, parse_drive
from qdrive.options import ALIASES, OPTIONS

KEYS = sorted(set(OPTIONS) | set(ALIASES) | {"file.locking", "file.aio", "offset", "foo", ""})
VALUES = ["on", "off", "0", "1", "010", "0x10", "-1", "none", "writeback", "native", "threads",
          "ide", "virtio", "none", "cdrom", "raw", "qcow2", "x,,y", "", " 1", "unmap", "stop"]

item = st.one_of(
    st.tuples(st.sampled_from(KEYS), st.sampled_from(VALUES)).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.sampled_from(KEYS),
    st.text(alphabet="ab=, ", max_size=6),
)
drive_text = st.lists(item, max_size=8).map(",".join)


def _from_grammar(start: str) -> st.SearchStrategy[str]:
    """Strings generated from grammar/drive.lark itself (hypothesis.extra.lark)."""
    from hypothesis.extra.lark import from_lark

    from qdrive.frontend._syntax import _parser

    return from_lark(_parser(), start=start)


grammar72 = st.deferred(lambda: _from_grammar("qemu72"))
grammar2008 = st.deferred(lambda: _from_grammar("qemu2008"))


@settings(max_examples=300, deadline=None)
@given(grammar72)
def test_grammar_strings_parse_or_fail_cleanly(text: str) -> None:
    try:
        d = parse_drive(text)
    except DriveError as e:
        assert 0 <= e.span[0] <= e.span[1] <= len(text)
        return
    assert parse_drive(d.to_string()) == d
    assert parse_drive(d.to_string()).to_string() == d.to_string()


@settings(max_examples=300, deadline=None)
@given(grammar2008)
def test_grammar_strings_2008(text: str) -> None:
    try:
        d = parse_drive(text, dialect="qemu-0.9-sync")
    except DriveError as e:
        assert 0 <= e.span[0] <= e.span[1] <= len(text)
        return
    assert d.dialect == "qemu-0.9-sync"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(grammar72, drive_text), min_size=1, max_size=3))
def test_check_of_grammar_strings_is_deterministic(texts: list[str]) -> None:
    assert (qdrive.check(texts, probe_files=False).to_json() ==
            qdrive.check(texts, probe_files=False).to_json())


@settings(max_examples=400, deadline=None)
@given(st.one_of(drive_text, st.text(max_size=40)))
def test_any_text_gives_drive_or_drive_error(text: str) -> None:
    for dialect in qdrive.DIALECTS:
        try:
            d = parse_drive(text, dialect=dialect)
        except DriveError as e:
            start, end = e.span
            assert 0 <= start <= end <= len(text)
            assert e.message
        else:
            assert isinstance(d, qdrive.Drive)


@settings(max_examples=400, deadline=None)
@given(drive_text)
def test_valid_drives_round_trip(text: str) -> None:
    try:
        d = parse_drive(text)
    except DriveError:
        return
    canonical = d.to_string()
    assert parse_drive(canonical) == d
    assert parse_drive(canonical).to_string() == canonical


@settings(max_examples=100, deadline=None)
@given(st.lists(drive_text, min_size=1, max_size=4))
def test_check_is_deterministic(texts: list[str]) -> None:
    a = qdrive.check(texts, probe_files=False).to_json()
    b = qdrive.check(texts, probe_files=False).to_json()
    assert a == b
    for r in a["drives"]:
        if r["error"]:
            assert 0 <= r["error"]["start"] <= r["error"]["end"] <= len(r["text"])
