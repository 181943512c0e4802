"""qdrive.frontend.keyval against util/keyval.c's syntax and messages (QEMU 7.2)."""

from __future__ import annotations

import pytest

from qdrive.frontend.keyval import KeyvalError, parse_keyval, parse_qapi_name


def test_dotted_keys_nest_and_the_implied_key() -> None:
    got = parse_keyval("qcow2,node-name=n0,file.driver=file,file.filename=a,,b.img",
                       "driver")
    assert got == {"driver": "qcow2", "node-name": "n0",
                   "file": {"driver": "file", "filename": "a,b.img"}}


def test_digit_keys_become_lists_in_order() -> None:
    got = parse_keyval("driver=quorum,children.1=b,children.0=a")
    assert got["children"] == ["a", "b"]


def test_a_later_value_replaces_an_earlier_one() -> None:
    assert parse_keyval("a=1,a=2") == {"a": "2"}


def test_a_doubled_comma_is_a_comma_in_the_value() -> None:
    assert parse_keyval("a=1,,b") == {"a": "1,b"}


def test_empty_value_and_trailing_comma() -> None:
    assert parse_keyval("a=,b=x,") == {"a": "", "b": "x"}


@pytest.mark.parametrize(("text", "message"), [
    ("driver=,raw,node-name=n0", "Expected '=' after parameter 'raw'"),
    ("=x", "Invalid parameter ''"),
    ("a..b=1", "Invalid parameter 'a..b'"),
    ("1a=1", "Invalid parameter '1a'"),
    ("a=1,a.b=2", "Parameters 'a.*' used inconsistently"),
    ("a.b=1,a=2", "Parameters 'a.*' used inconsistently"),
    ("l.0=a,l.x=b", "Parameters 'l.*' used inconsistently"),
    ("l.1=a", "Parameter 'l.0' missing"),
    ("help", "Help is not available for this option"),
    ("a" * 128 + "=1", f"Parameter '{'a' * 128}' is too long"),
    ("x." + "a" * 128 + "=1", f"Parameter fragment '{'a' * 128}' is too long"),
])
def test_errors_are_qemus(text: str, message: str) -> None:
    with pytest.raises(KeyvalError) as e:
        parse_keyval(text)
    assert str(e.value) == message


def test_the_limit_of_a_key_fragment_is_127_bytes() -> None:
    assert parse_keyval("a" * 127 + "=1") == {"a" * 127: "1"}


def test_implied_key_takes_a_bare_first_value_only() -> None:
    assert parse_keyval("raw", "driver") == {"driver": "raw"}
    with pytest.raises(KeyvalError, match="Expected '=' after parameter 'raw'"):
        parse_keyval("a=b,raw", "driver")


def test_qapi_names() -> None:
    assert parse_qapi_name("node-name=x") == 9
    assert parse_qapi_name("__com.example_x") == 15
    assert parse_qapi_name("_x") == -1
    assert parse_qapi_name("9") == -1
