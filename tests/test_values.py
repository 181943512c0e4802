"""QEMU's value parsers (reference section 1.2)."""

from __future__ import annotations

import pytest

from qdrive._values import (
    ValueProblem,
    id_wellformed,
    parse_bool,
    parse_number,
    parse_size,
    prop_int,
    to_int32,
)


@pytest.mark.parametrize("v", ["on", "yes", "true", "y"])
def test_true(v: str) -> None:
    assert parse_bool("k", v) is True


@pytest.mark.parametrize("v", ["ON", "1", "0", "", "On", "enable"])
def test_bool_refused(v: str) -> None:
    with pytest.raises(ValueProblem, match=r"^Parameter 'k' expects 'on' or 'off'$"):
        parse_bool("k", v)


@pytest.mark.parametrize("v, n", [("0", 0), ("010", 8), ("0x10", 16), (" 1", 1), ("+1", 1),
                                  ("-1", 2**64 - 1), ("18446744073709551615", 2**64 - 1)])
def test_numbers(v: str, n: int) -> None:
    assert parse_number("index", v) == n


@pytest.mark.parametrize("v", ["", "x", "1 ", "1e3", "08", "0x", "1k"])
def test_number_refused(v: str) -> None:
    with pytest.raises(ValueProblem, match=r"^Parameter 'index' expects a number$"):
        parse_number("index", v)


def test_number_too_large() -> None:
    with pytest.raises(ValueProblem) as e:
        parse_number("bus", "18446744073709551616")
    assert e.value.message == "Value '18446744073709551616' is too large for parameter 'bus'"


@pytest.mark.parametrize("v, n", [("512", 512), ("1k", 1024), ("1K", 1024), ("1.5k", 1536),
                                  ("0x200", 512), ("1M", 1 << 20), ("010", 10)])
def test_sizes(v: str, n: int) -> None:
    assert parse_size("offset", v)[0] == n


def test_hex_with_suffix_warns() -> None:
    assert parse_size("offset", "0x1k") == (1024, "Using a multiplier suffix on hex numbers is "
                                                   "deprecated: 0x1k")


@pytest.mark.parametrize("v", ["-1", "", "1e3", "1Q", "x"])
def test_size_refused(v: str) -> None:
    with pytest.raises(ValueProblem) as e:
        parse_size("offset", v)
    assert e.value.message == "Parameter 'offset' expects a non-negative number below 2^64"
    assert e.value.detail.startswith("Optional suffix k, M, G, T, P or E")


def test_int_cast_and_ids() -> None:
    assert to_int32(2**64 - 1) == -1 and to_int32(4294967297) == 1
    assert id_wellformed("a-b.c_1") and not id_wellformed("1a") and not id_wellformed("")


@pytest.mark.parametrize(("text", "n"), [
    ("010", 8), ("0x10", 16), ("-1", -1), (" 5", 5), ("9223372036854775807", 2**63 - 1),
    ("-9223372036854775808", -2**63), ("18446744073709551616", 0), ("1k", 0), ("abc", 0),
    ("", 0)])
def test_prop_int(text: str, n: int) -> None:
    # qemu_strtoi64(base 0) as qdev reads an integer property; 0 for what is no integer
    assert prop_int(text) == n
