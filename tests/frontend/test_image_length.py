"""qdrive.probe.image_length(): the guest-visible length qdrive reads off a local image
(nvme-ns's zones, quorum's children, raw's window over a format child)."""

from __future__ import annotations

from pathlib import Path

from qdrive.probe import image_length


def _qcow2(path: Path, size: int) -> None:
    head = bytearray(72)
    head[:4] = b"QFI\xfb"
    head[4:8] = (3).to_bytes(4, "big")
    head[24:32] = size.to_bytes(8, "big")
    path.write_bytes(bytes(head))


def test_raw_is_the_file_size(tmp_path: Path) -> None:
    img = tmp_path / "a.img"
    img.write_bytes(b"\0" * 4096)
    assert image_length(str(img), "raw") == 4096
    img.write_bytes(b"")
    assert image_length(str(img), "raw") == 0


def test_qcow2_is_the_header_size_field(tmp_path: Path) -> None:
    img = tmp_path / "a.qcow2"
    _qcow2(img, 1 << 40)
    assert image_length(str(img), "qcow2") == 1 << 40
    _qcow2(img, (1 << 64) - 1)  # the field's largest value, read unsigned
    assert image_length(str(img), "qcow2") == (1 << 64) - 1


def test_what_it_cannot_read_is_none(tmp_path: Path) -> None:
    short = tmp_path / "short.qcow2"
    short.write_bytes(b"QFI\xfb" + bytes(27))  # one byte short of the size field
    assert image_length(str(short), "qcow2") is None
    raw = tmp_path / "raw.img"
    raw.write_bytes(bytes(64))
    assert image_length(str(raw), "qcow2") is None  # no qcow2 magic
    assert image_length(str(raw), "vmdk") is None  # a format it does not read
    assert image_length(str(tmp_path / "missing.img"), "raw") is None
    assert image_length(str(tmp_path), "qcow2") is None  # a directory
    assert image_length("bad\0name", "raw") is None
