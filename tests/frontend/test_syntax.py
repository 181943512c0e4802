"""The tokeniser: QEMU's QemuOpts item splitting (reference section 1.1)."""

from __future__ import annotations

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from qdrive.frontend._syntax import tokenize, tokenize_lalr


def kv(text: str, old: bool = False) -> list[tuple[str, str, bool]]:
    return [(o.key, o.value, o.flag) for o in tokenize(text, old=old)]


@pytest.mark.parametrize("text, expected", [
    ("", []),
    (",", [("", "on", True)]),
    ("file=x,", [("file", "x", False)]),
    (",file=x", [("", "on", True), ("file", "x", False)]),
    ("file=a,,b.img", [("file", "a,b.img", False)]),
    ("file=a=b", [("file", "a=b", False)]),
    ("format=raw,,if=none", [("format", "raw,if=none", False)]),
    ("a,,b", [("a", "on", True), ("", "on", True), ("b", "on", True)]),
    ("snapshot,noreadonly", [("snapshot", "on", True), ("readonly", "off", True)]),
    ("node-name", [("de-name", "off", True)]),
    ("=foo", [("", "foo", False)]),
    ("file=", [("file", "", False)]),
    (" if=ide", [(" if", "ide", False)]),
    ("a=b,,,c", [("a", "b,", False), ("c", "on", True)]),
    ("x=,,", [("x", ",", False)]),
])
def test_qemu72_items(text: str, expected: list[tuple[str, str, bool]]) -> None:
    assert kv(text) == expected


def test_spans_cover_items_without_separator() -> None:
    items = tokenize("file=a,,b,if=ide,")
    assert [(i.span.start, i.span.end) for i in items] == [(0, 9), (10, 16)]


@pytest.mark.parametrize("text, expected", [
    ("file=a,b,c=d", [("file", "a", False), ("b,c", "d", False)]),
    ("a,b", [("a,b", "", False)]),
])
def test_2008_items(text: str, expected: list[tuple[str, str, bool]]) -> None:
    assert kv(text, old=True) == expected
    assert tokenize("a,b", old=True)[0].complete is False


def test_long_values_tokenise() -> None:
    value = "x" * 200_000 + ",," * 1000
    (item,) = tokenize("file=" + value)
    assert item.value == "x" * 200_000 + "," * 1000


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab=,n o\n", max_size=30) | st.text(max_size=30))
def test_scanner_agrees_with_lark_lalr(text: str) -> None:
    assert tokenize(text) == tokenize_lalr(text)
    assert tokenize(text, old=True) == tokenize_lalr(text, old=True)


def test_saved_terminals_are_derived_from_the_current_grammar() -> None:
    import json

    from qdrive.frontend import _syntax

    with open(_syntax._grammar_path("terminals.json"), encoding="utf-8") as f:
        saved = json.load(f)
    assert saved["grammar"] == _syntax._grammar_hash(_syntax._grammar_text()), \
        "grammar/drive.lark changed: run `make grammar`"
    assert saved["rules"] == _syntax.derive_terminals()


def test_checking_a_drive_does_not_import_lark() -> None:
    import subprocess
    import sys

    code = ("import sys, qdrive; qdrive.parse_drive('file=x,if=virtio'); "
            "print('lark' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
