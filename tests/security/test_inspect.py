"""Whole-image inspection: every reference QEMU 7.2's format drivers read, read the same way."""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdrive.frontend.policy._inspect import (
    Base,
    Content,
    Image,
    Role,
    _scan_extent,
    inspect,
    inspect_vmdk_extent,
)
from tests.security import images as im

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/qemu-img"),
                                reason="qemu-img is not installed (qemu-utils)")


def _inspect(path: Path, fmt: str) -> Image:
    fd = os.open(path, os.O_RDONLY)
    try:
        return inspect(fd, fmt)
    finally:
        os.close(fd)


def _refs(path: Path, fmt: str) -> list[tuple[str, str, str | None]]:
    image = _inspect(path, fmt)
    assert image.problem == "", image.problem
    return [(r.role.value, r.name, r.driver) for r in image.references]


def test_qcow2_backing_anywhere_in_the_first_cluster(tmp_path: Path) -> None:
    im.qcow2(tmp_path / "a.qcow2", backing=b"/etc/passwd", backing_offset=40000,
             extensions=[(im.BACKING_FORMAT, b"raw")])
    assert _refs(tmp_path / "a.qcow2", "qcow2") == [("backing file", "/etc/passwd", "raw")]
    im.qcow2(tmp_path / "b.qcow2", backing=b"x", cluster_bits=21, backing_offset=(2 << 20) - 1,
             extensions=[(im.BACKING_FORMAT, b"qcow2")])
    assert _refs(tmp_path / "b.qcow2", "qcow2") == [("backing file", "x", "qcow2")]


def test_qcow2_names_are_c_strings(tmp_path: Path) -> None:
    im.qcow2(tmp_path / "a.qcow2", backing=b"in.img\0/etc/passwd",
             extensions=[(im.BACKING_FORMAT, b"raw\0nbd")])
    assert _refs(tmp_path / "a.qcow2", "qcow2") == [("backing file", "in.img", "raw")]
    im.qcow2(tmp_path / "empty.qcow2", backing=b"\0/etc/passwd")
    assert _refs(tmp_path / "empty.qcow2", "qcow2") == []


def test_qcow2_last_backing_format_wins_and_end_stops(tmp_path: Path) -> None:
    im.qcow2(tmp_path / "a.qcow2", backing=b"b",
             extensions=[(im.BACKING_FORMAT, b"raw"), (im.BACKING_FORMAT, b"nbd")])
    assert _refs(tmp_path / "a.qcow2", "qcow2") == [("backing file", "b", "nbd")]
    im.qcow2(tmp_path / "end.qcow2", backing=b"b",
             raw_extensions=bytes(8) + im._ext(im.BACKING_FORMAT, b"raw"))
    assert _refs(tmp_path / "end.qcow2", "qcow2") == [("backing file", "b", None)]  # probed


def test_qcow2_data_file_only_with_its_feature_bit(tmp_path: Path) -> None:
    im.qcow2(tmp_path / "on.qcow2", incompatible=im.INCOMPAT_DATA_FILE,
             extensions=[(im.DATA_FILE, b"d.raw")])
    (ref,) = _inspect(tmp_path / "on.qcow2", "qcow2").references
    assert (ref.role, ref.name, ref.base, ref.content, ref.parsed, ref.override) == (
        Role.DATA_FILE, "d.raw", Base.CWD, Content.DATA, False, "data-file")
    im.qcow2(tmp_path / "off.qcow2", extensions=[(im.DATA_FILE, b"/etc/passwd")])
    assert _refs(tmp_path / "off.qcow2", "qcow2") == []
    im.qcow2(tmp_path / "missing.qcow2", incompatible=im.INCOMPAT_DATA_FILE)
    assert _inspect(tmp_path / "missing.qcow2", "qcow2").problem == \
        "'data-file' is required for this image"


@pytest.mark.parametrize("kwargs,problem", [
    ({"backing": b"a" * 1024}, "Backing file name too long"),
    ({"backing": b"a", "backing_offset": 65536 + 8}, "Invalid backing file offset"),
    ({"backing": b"a", "raw_extensions": struct.pack(">II", im.BACKING_FORMAT, 1 << 30)},
     "Header extension too large"),
    ({"backing": b"a", "extensions": [(im.BACKING_FORMAT, b"r" * 16)]},
     "ERROR: ext_backing_format: len=16 too large (>=16)"),
    ({"incompatible": 1 << 30}, "the image uses qcow2 features QEMU 7.2 does not know"),
])
def test_qcow2_what_qemu_refuses(tmp_path: Path, kwargs: dict[str, object],
                                 problem: str) -> None:
    im.qcow2(tmp_path / "x.qcow2", **kwargs)  # type: ignore[arg-type]
    assert _inspect(tmp_path / "x.qcow2", "qcow2").problem.startswith(problem)


def test_qcow2_v2_and_encryption(tmp_path: Path) -> None:
    im.qcow2(tmp_path / "v2.qcow2", version=2, backing=b"b",
             extensions=[(im.BACKING_FORMAT, b"raw")])
    assert _refs(tmp_path / "v2.qcow2", "qcow2") == [("backing file", "b", "raw")]
    im.qcow2(tmp_path / "enc.qcow2")
    data = bytearray((tmp_path / "enc.qcow2").read_bytes())
    data[32:36] = (2).to_bytes(4, "big")
    (tmp_path / "enc.qcow2").write_bytes(bytes(data))
    assert "encrypted" in _inspect(tmp_path / "enc.qcow2", "qcow2").problem


def test_a_short_file_reads_as_zeros(tmp_path: Path) -> None:
    (tmp_path / "short").write_bytes(b"QFI\xfb\0\0\0\x03")
    assert _inspect(tmp_path / "short", "qcow2").problem == "Unsupported cluster size: 2^0"
    (tmp_path / "empty").write_bytes(b"")
    assert _inspect(tmp_path / "empty", "raw").virtual_size == 0


def test_qcow_and_qed(tmp_path: Path) -> None:
    im.qcow1(tmp_path / "a.qcow", b"base.img")
    assert _refs(tmp_path / "a.qcow", "qcow") == [("backing file", "base.img", None)]
    im.qcow1(tmp_path / "b.qcow", None)
    assert _refs(tmp_path / "b.qcow", "qcow") == []
    im.qed(tmp_path / "a.qed", b"base.img")
    assert _refs(tmp_path / "a.qed", "qed") == [("backing file", "base.img", "raw")]
    im.qed(tmp_path / "b.qed", b"base.img", no_probe=False)
    assert _refs(tmp_path / "b.qed", "qed") == [("backing file", "base.img", None)]


def test_vmdk_descriptor_extents(tmp_path: Path) -> None:
    im.vmdk_descriptor(tmp_path / "d.vmdk", [
        'RW 100 FLAT "flat.raw" 0', 'RDONLY 100 FLAT "/etc/passwd" 0',
        'RW 100 SPARSE "s.vmdk"', 'RW 100 VMFS "/v"', 'RW 100 SESPARSE "se"',
        'RW 100 ZERO', 'RW 0 FLAT "zero-sized" 0', 'RW\n100\nFLAT\n"wrapped"\n0'])
    got = [(r.name, r.content.value) for r in _inspect(tmp_path / "d.vmdk", "vmdk").references]
    assert got == [("flat.raw", "data"), ("s.vmdk", "vmdk-sparse"), ("/v", "data"),
                   ("se", "vmdk-sesparse"), ("wrapped", "data")]


def test_vmdk_invalid_line_stops_after_what_was_opened(tmp_path: Path) -> None:
    im.vmdk_descriptor(tmp_path / "d.vmdk", ['RW 100 FLAT "/etc/passwd" 0',
                                             'RW 100 FLAT "no-offset"'])
    image = _inspect(tmp_path / "d.vmdk", "vmdk")
    assert image.problem == "Invalid extent line"
    assert [r.name for r in image.references] == ["/etc/passwd"]


def test_vmdk_parent_hints(tmp_path: Path) -> None:
    im.vmdk_descriptor(tmp_path / "d.vmdk", ['RW 100 FLAT "flat.raw" 0'], parent="p.vmdk")
    assert _refs(tmp_path / "d.vmdk", "vmdk")[-1] == ("parent image", "p.vmdk", "vmdk")
    im.vmdk_sparse(tmp_path / "s.vmdk", hint=b'parentFileNameHint="/etc/passwd"')
    assert _refs(tmp_path / "s.vmdk", "vmdk") == [("parent image", "/etc/passwd", "vmdk")]
    # vmdk_parent_open() starts the name 20 bytes after the key: past a NUL too.
    im.vmdk_sparse(tmp_path / "n.vmdk", hint=b'parentFileNameHint\0\0/etc/shadow"')
    assert _refs(tmp_path / "n.vmdk", "vmdk") == [("parent image", "/etc/shadow", "vmdk")]


def test_vmdk_embedded_descriptor_and_sparse_extents(tmp_path: Path) -> None:
    im.vmdk_sparse(tmp_path / "e.vmdk", embedded=(
        'createType="monolithicFlat"\nRW 100 FLAT "/etc/passwd" 0\n'))
    assert [r.name for r in _inspect(tmp_path / "e.vmdk", "vmdk").references] == ["/etc/passwd"]
    fd = os.open(tmp_path / "e.vmdk", os.O_RDONLY)
    try:  # the same file used as a SPARSE extent of another descriptor
        assert [r.name for r in inspect_vmdk_extent(fd, 1).references] == ["/etc/passwd"]
        assert inspect_vmdk_extent(fd, 99).problem == "vmdk descriptors nest too deeply"
    finally:
        os.close(fd)
    im.vmdk_sparse(tmp_path / "plain.vmdk")
    assert _refs(tmp_path / "plain.vmdk", "vmdk") == []


def test_vpc_vhdx_and_the_rest(tmp_path: Path) -> None:
    im.vpc_differencing(tmp_path / "diff.vhd")
    assert "differencing" in _inspect(tmp_path / "diff.vhd", "vpc").problem
    im.qemu_img("create", "-q", "-f", "vpc", "-o", "subformat=fixed", str(tmp_path / "f.vhd"),
                "1M")
    assert _inspect(tmp_path / "f.vhd", "vpc").problem == ""
    im.qemu_img("create", "-q", "-f", "vhdx", str(tmp_path / "x.vhdx"), "1M")
    assert _inspect(tmp_path / "x.vhdx", "vhdx").problem == ""
    assert "cannot inspect" in _inspect(tmp_path / "x.vhdx", "luks").problem


_libc = ctypes.CDLL(None)
_TOKENS = st.sampled_from(["RW", "RDONLY", " ", "  ", "\t", "\n", "\r", '"', "100", "-5",
                           "+7", "0", "FLAT", "SPARSE", "VMFS", "a.raw", "x" * 20, "/",
                           "99999999999999999999", "RWX", "#"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_TOKENS, max_size=14).map("".join))
def test_extent_scanner_agrees_with_glibc_sscanf(line: str) -> None:
    """vmdk_parse_extents()'s sscanf format, run through glibc itself, against ours."""
    raw = line.encode()
    access, kind = ctypes.create_string_buffer(11), ctypes.create_string_buffer(11)
    fname = ctypes.create_string_buffer(512)
    sectors, offset = ctypes.c_int64(0), ctypes.c_int64(-1)
    n = _libc.sscanf(raw, b'%10s %ld %10s "%511[^\n\r"]" %ld', access, ctypes.byref(sectors),
                     kind, fname, ctypes.byref(offset))
    ours = _scan_extent(raw, 0)
    assert max(n, 0) == ours[0]
    if n >= 1:
        assert access.value == ours[1]
    if n >= 2:
        assert sectors.value == ours[2]
    if n >= 3:
        assert kind.value == ours[3]
    if n >= 4:
        assert fname.value == ours[4]
    if n >= 5:
        assert offset.value == ours[5]


def test_a_file_growing_while_inspected_is_read_to_a_bound(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """The attacker appends to a descriptor while it is checked: the inspection reads
    what QEMU would (at most vmdk's 1 MiB descriptor), never the file as it grows."""
    import threading

    import qdrive

    im.raw(tmp_path / "flat.raw")
    desc = im.vmdk_descriptor(tmp_path / "grow.vmdk", ['RW 2048 FLAT "flat.raw" 0'])
    stop = threading.Event()
    grown = [0]

    def grow() -> None:
        with open(desc, "ab") as f:
            while not stop.is_set() and grown[0] < 64 << 20:
                f.write(b"#" * 65535 + b"\n")
                f.flush()
                grown[0] += 65536

    read = [0]
    real = os.pread

    def counting(fd: int, n: int, offset: int) -> bytes:
        data = real(fd, n, offset)
        read[0] += len(data)
        return data

    monkeypatch.setattr(os, "pread", counting)
    policy = qdrive.Policy.untrusted([str(tmp_path)], formats=["raw", "vmdk"], cwd=str(tmp_path))
    writer = threading.Thread(target=grow)
    writer.start()
    try:
        while grown[0] < 4 << 20:  # the file is past the 1 MiB QEMU reads before checking
            stop.wait(0.01)
        for _ in range(5):
            result = qdrive.check(["file=grow.vmdk,format=vmdk"], policy=policy)
            assert result.ok, result.first_error
    finally:
        stop.set()
        writer.join()
    assert read[0] <= 5 * ((1 << 20) + (64 << 10)), read[0]
