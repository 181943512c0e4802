"""parse_drive(): rendered errors compared whole, caret included; the canonical form."""

from __future__ import annotations

import pytest

import qdrive
from qdrive import CacheMode, DriveError, Interface, parse_drive


def err(text: str, dialect: str = "qemu-7.2") -> DriveError:
    with pytest.raises(DriveError) as e:
        parse_drive(text, dialect=dialect)
    return e.value


def test_issue_example_canonical() -> None:
    d = parse_drive("file=a,,b.img,if=virtio,cache=none,aio=native,format=raw")
    assert str(d) == "file=a,,b.img,format=raw,if=virtio,cache=none,aio=native"
    assert d.file == "a,b.img" and d.interface is Interface.VIRTIO
    assert d.cache is CacheMode.NONE and d.cache_triple == (True, True, False)


def test_issue_example_error_rendered_whole() -> None:
    e = err("file=a,,b.img,if=virtio,aio=native,format=raw")
    assert str(e) == (
        "-drive file=a,,b.img,if=virtio,aio=native,format=raw: aio=native was specified, "
        "but it requires cache.direct=on, which was not specified.\n"
        + " " * 31 + "^~~~~~~~~~\n"
        "hint: try cache=none (or cache.direct=on)")
    assert e.span == (24, 34)
    assert isinstance(e, ValueError)


@pytest.mark.parametrize("text, message, span", [
    ("file=x,cache=on", "invalid cache option", (7, 15)),
    ("file=x,index=1 ", "Parameter 'index' expects a number", (7, 15)),
    ("file=x,index=1,bus=1", "index cannot be used with bus and unit", (7, 14)),
    ("file=x,if=ide,unit=2", "unit 2 too big (max is 1)", (14, 20)),
    ("file=x,if=usb", "unsupported bus type 'usb'", (7, 13)),
    ("file=x,media=foo", "'foo' invalid media", (7, 16)),
    ("file=x,readonly=on,read-only=off",
     "'read-only' and its alias 'readonly' can't be used at the same time", (7, 18)),
    ("file=x,bps=1M", "Parameter 'throttling.bps-total' expects a number", (7, 13)),
    ("file=x,iops=10,iops_rd=5",
     "bps/iops/max total values and read/write values cannot be used at the same time", (15, 24)),
    ("file=x,werror=foo", "'foo' invalid write error action", (7, 17)),
    ("file=x,rerror=enospc", "'enospc' invalid read error action", (7, 20)),
    ("file=x,if=floppy,werror=stop", "werror is not supported by this bus type", (17, 28)),
    ("file=x,detect-zeroes=foo", "invalid parameter value: foo", (7, 24)),
    ("file=x,format=raw,sync=on", "Block format 'raw' does not support the option 'sync'",
     (18, 25)),
    ("file=x,format=raw,cache=none,cache=writethrough",
     "Block format 'raw' does not support the option 'cache'", (18, 28)),
    ("file=x,format=foo", "Unknown driver 'foo'", (7, 17)),
    ("file=x,discard=foo", "Invalid discard option", (7, 18)),
    ("cache=none", "Must specify either driver or file", (0, 10)),
    ("file=x,id=1a", "Parameter 'id' expects an identifier\nIdentifiers consist of letters, "
     "digits, '-', '.', '_', starting with a letter.", (7, 12)),
])
def test_messages_and_spans(text: str, message: str, span: tuple[int, int]) -> None:
    e = err(text)
    assert e.message == message
    assert e.span == span
    assert e.text == text


def test_duplicate_key_precedence() -> None:
    assert parse_drive("file=a,file=b").file == "b"
    assert parse_drive("file=x,id=a,id=b").id == "a"
    assert parse_drive("file=x,readonly=on,readonly=off").read_only is True
    assert parse_drive("file=x,read-only=on,read-only=off").read_only is False
    assert parse_drive("file=x,iops=10,iops=20").throttling == {"throttling.iops-total": 10}


def test_explicit_cache_keys_win() -> None:
    d = parse_drive("file=x,cache=none,cache.direct=off")
    assert d.cache_triple == (True, False, False)
    assert parse_drive("file=x,cache=off").cache is CacheMode.NONE


def test_flags_warn_and_strip_blindly() -> None:
    result = qdrive.check(["file=x,format=raw,node-name"], probe_files=False)
    (r,) = result.drives
    assert r.error is not None
    assert r.error.message == "Block format 'raw' does not support the option 'de-name'"
    assert [w.qemu_text for w in r.warnings] == [
        "short-form boolean option 'node-name' deprecated\nPlease use de-name=off instead"]


@pytest.mark.parametrize("text", [
    "file=a,,b.img,if=virtio,cache=none,aio=native,format=raw",
    "file=x,format=raw,index=010,readonly=on,snapshot,bps=100,iops=5,group=g",
    "file=x,if=none,id=d0,node-name=n0,discard=on,detect-zeroes=unmap,werror=stop",
    "file=x,format=raw,file.locking=off,offset=512,stats-intervals.0=60",
    "if=ide,media=cdrom",
])
def test_round_trip(text: str) -> None:
    d = parse_drive(text)
    assert parse_drive(d.to_string()) == d
    assert parse_drive(d.to_string()).to_string() == d.to_string()
    assert d.to_args() == ["-drive", d.to_string()]


def test_2008_dialect() -> None:
    d = parse_drive("file=/images/x.qcow2,if=virtio,cache=off,sync=on,boot=on",
                    dialect="qemu-0.9-sync")
    assert d.sync is True and d.cache is CacheMode.OFF and d.boot is True
    assert parse_drive("file=a,file=b", dialect="qemu-0.9-sync").file == "a"
    assert err("file=x,sync=maybe", "qemu-0.9-sync").message == "qemu: invalid sync option"
    assert err("file=x,", "qemu-0.9-sync").message == "qemu: unknown parameter '' in 'file=x,'"
    assert err("file=x,snapshot", "qemu-0.9-sync").message == (
        "qemu: unknown parameter 'snapshot' in 'file=x,snapshot'")
    assert err("file=x,aio=native", "qemu-0.9-sync").message == (
        "qemu: unknown parameter 'aio' in 'file=x,aio=native'")
    assert err("file=x,bus=-1", "qemu-0.9-sync").message == "qemu: 'file=x,bus=-1' invalid bus id"
    assert err("file=x,format=foo", "qemu-0.9-sync").message == "qemu: 'foo' invalid format"


def test_syntax_errors_have_their_own_class() -> None:
    assert isinstance(err("file=x,id=1a"), qdrive.DriveSyntaxError)
    assert isinstance(err("file=x,snapshot", "qemu-0.9-sync"), qdrive.DriveSyntaxError)
    assert not isinstance(err("file=x,cache=on"), qdrive.DriveSyntaxError)
    assert not isinstance(err("file=x,sync=maybe", "qemu-0.9-sync"), qdrive.DriveSyntaxError)


def test_sync_in_qemu72_is_refused_as_qemu_refuses_it() -> None:
    assert err("file=x,format=raw,sync=on").message == (
        "Block format 'raw' does not support the option 'sync'")


def test_unknown_dialect() -> None:
    with pytest.raises(qdrive.UnsupportedDialect):
        parse_drive("file=x", dialect="qemu-9")


def test_json_shape(in_images: object) -> None:
    j = qdrive.check(["file=disk.img,format=raw,if=virtio,cache=none", "file=cd.iso,media=cdrom"]
                     ).to_json()
    assert j["ok"] is True and j["dialect"] == "qemu-7.2"
    a, b = j["drives"]
    assert a["placement"] == {"interface": "virtio", "bus": 0, "unit": 0, "index": None,
                              "device_id": "virtio0"}
    assert a["cache"] == {"writeback": True, "direct": True, "no_flush": False}
    assert a["error"] is None and a["aio"] == "threads" and a["format"] == "raw"
    assert b["placement"]["device_id"] == "ide0-cd0" and b["read_only"] is True
    assert b["warnings"] == []
