"""Drive checks its fields when it is made in Python (issue 18: a validated model)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import qdrive
from qdrive import DriveFieldError
from qdrive.model import (_ENUM_FIELDS, _FLAG_FIELDS, _NAME_FIELDS, _PRECHECKED, _U64_FIELDS,
                          Drive, Interface)


@pytest.mark.parametrize(("name", "kind"), _ENUM_FIELDS)
def test_every_member_is_read_from_its_spelling(name: str, kind: Any) -> None:
    for member in kind:
        d = Drive(**{name: member.value})
        assert getattr(d, name) is member


@pytest.mark.parametrize(("name", "kind"), _ENUM_FIELDS)
@pytest.mark.parametrize("bad", ["", "VIRTIO", "no such value", 3, 1.0, b"ide", True])
def test_an_enum_field_refuses_what_is_no_member(name: str, kind: Any, bad: object) -> None:
    with pytest.raises(DriveFieldError) as info:
        Drive(**{name: bad})
    e = info.value
    assert (e.field, e.value) == (name, bad)
    assert str(e).startswith(f"Drive.{name}: expected a {kind.__name__} or one of ")
    assert str(e).endswith(f", got {bad!r}")


@pytest.mark.parametrize("name", _FLAG_FIELDS)
@pytest.mark.parametrize("bad", [0, 1, "on", "off", "true", 0.0])
def test_a_flag_takes_only_true_false_or_none(name: str, bad: object) -> None:
    assert getattr(Drive(**{name: True}), name) is True
    with pytest.raises(DriveFieldError, match=rf"^Drive\.{name}: expected True, False or None"):
        Drive(**{name: bad})


@pytest.mark.parametrize("name", _U64_FIELDS)
def test_numbers_are_unsigned_64_bit(name: str) -> None:
    for good in (0, 1, 2**64 - 1):  # index=-1 is kept as 2**64-1, as QEMU parses it
        assert getattr(Drive(**{name: good}), name) == good
    for bad in (-1, 2**64, 1.5, "0", True):
        with pytest.raises(DriveFieldError, match=rf"^Drive\.{name}: expected an int from 0"):
            Drive(**{name: bad})


@pytest.mark.parametrize("name", _NAME_FIELDS)
def test_names_are_strings(name: str) -> None:
    with pytest.raises(DriveFieldError, match=rf"^Drive\.{name}: expected a str or None"):
        Drive(**{name: b"disk.img"})


def test_the_dialect_must_be_known() -> None:
    with pytest.raises(DriveFieldError, match=r"^Drive\.dialect: expected one of qemu-7\.2"):
        Drive(dialect="qemu-9.9")


@pytest.mark.parametrize(("fields", "field"), [
    ({"throttling": {"throttling.iops-total": -1}}, "throttling"),
    ({"throttling": {"throttling.iops-total": 2**64}}, "throttling"),
    ({"throttling": {"throttling.iops-total": "100"}}, "throttling"),
    ({"driver_options": {"file.locking": False}}, "driver_options"),
    ({"driver_options": {1: "x"}}, "driver_options"),
    ({"stats_intervals": [60]}, "stats_intervals"),
    ({"stats_intervals": (60, "x")}, "stats_intervals"),
])
def test_mappings_and_tuples_are_checked_item_by_item(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(DriveFieldError) as info:
        Drive(**fields)
    assert info.value.field == field


def test_evolve_checks_again() -> None:
    d = Drive(file="a.img", interface="virtio")
    assert attrs.evolve(d, cache="none").cache is qdrive.CacheMode.NONE
    with pytest.raises(DriveFieldError, match=r"Drive\.cache"):
        attrs.evolve(d, cache="nonе")  # a Cyrillic e


def test_a_field_error_is_a_value_error_and_a_qdrive_error() -> None:
    with pytest.raises(ValueError):
        Drive(aio="native ")
    assert issubclass(DriveFieldError, qdrive.QDriveError)
    assert not issubclass(DriveFieldError, qdrive.DriveError)  # not QEMU's refusal


def test_what_the_parser_builds_passes_unchanged() -> None:
    text = ("file=a.img,format=raw,if=virtio,cache=none,aio=native,discard=unmap,"
            "detect-zeroes=unmap,werror=stop,rerror=report,index=0,throttling.iops-total=5,"
            "stats-intervals.0=60,stats-intervals.1=3600")
    d = qdrive.parse_drive(text)
    assert attrs.evolve(d) == d and d.stats_intervals == (60, 3600)


def test_cache_triple_reads_the_2008_members_without_asking_the_dialect() -> None:
    from qdrive.frontend.dialects import parse_2008
    from qdrive.model import CacheMode, cache_triple

    # vl.c r5300: cache=off is O_DIRECT, cache=on (and no cache=) plain buffered I/O.
    assert cache_triple(parse_2008("file=a.img,cache=off")) == (True, True, False)
    assert cache_triple(parse_2008("file=a.img,cache=on")) == (True, False, False)
    assert cache_triple(parse_2008("file=a.img")) == (True, False, False)
    # A Drive made in Python with the old spelling: 7.2 reads "off" as none.
    assert cache_triple(Drive(cache=CacheMode.OFF)) == cache_triple(Drive(cache="none"))


def test_the_fast_paths_unchecked_build_leaves_every_other_drive_checked() -> None:
    # fastpath builds its Drive with the checks off (its values come from its own
    # tables); afterwards, and for any Drive made by hand, they are on again

    drive = qdrive.parse_drive("file=a.img,if=virtio,cache=none,bus=0,unit=1")
    assert drive.interface is Interface.VIRTIO and drive.unit == 1
    assert _PRECHECKED.get() is False
    with pytest.raises(DriveFieldError):
        Drive(bus=-1)
    with pytest.raises(DriveFieldError):
        Drive(interface="bogus")
