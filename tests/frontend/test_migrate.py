"""`--argv --to-blockdev`: the rewritten command line (its proof against QEMU is
tests/compat/test_migration_proof.py)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qdrive.frontend.migrate import to_blockdev_argv


@pytest.fixture()
def images(tmp_path: Path) -> Iterator[Path]:
    for name in ("disk.img", "flash.img"):
        with open(tmp_path / name, "wb") as f:
            f.truncate(1 << 20)
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(here)


def _nodes(argv: tuple[str, ...]) -> list[dict[str, object]]:
    return [json.loads(v) if v.startswith("{") else {"node-name": v.rsplit("=", 1)[-1]}
            for o, v in zip(argv, argv[1:], strict=False) if o == "-blockdev"]


def test_other_options_are_kept_in_order_and_the_program_name_too(images: Path) -> None:
    m = to_blockdev_argv(["qemu-system-x86_64", "-m", "1G", "-drive",
                          "file=disk.img,format=raw,if=virtio", "-nographic"])
    assert m.complete and m.argv[:3] == ("qemu-system-x86_64", "-m", "1G")
    assert m.argv[-1] == "-nographic" and "-drive" not in m.argv
    assert [n["driver"] for n in _nodes(m.argv)] == ["file", "raw"]
    assert "virtio-blk-pci,drive=qd-virtio0,id=virtio0,write-cache=on" in m.argv


def test_if_none_keeps_its_id_so_devices_still_find_it(images: Path) -> None:
    m = to_blockdev_argv(["-device", "virtio-blk-pci,drive=d0", "-drive",
                          "file=disk.img,format=raw,if=none,id=d0"])
    assert m.complete
    assert _nodes(m.argv)[1]["node-name"] == "d0"
    assert m.argv[:2] == ("-device", "virtio-blk-pci,drive=d0")


def test_an_unused_if_none_drive_stays_with_the_reason(images: Path) -> None:
    m = to_blockdev_argv(["-drive", "file=disk.img,format=raw,if=none,id=d0"])
    assert not m.complete and m.argv == ("-drive", "file=disk.img,format=raw,if=none,id=d0")
    assert "no device uses this if=none drive" in m.untranslated[0][1]


def test_a_shorthand_names_the_probed_format_with_a_note(images: Path) -> None:
    m = to_blockdev_argv(["-hda", "disk.img"])
    assert m.complete and _nodes(m.argv)[1]["driver"] == "raw"
    assert m.notes == ("-hda disk.img: format=raw (what QEMU's probe found; -blockdev never "
                       "probes)",)


def test_snapshot_needs_an_overlay_dir(images: Path) -> None:
    m = to_blockdev_argv(["-drive", "file=disk.img,format=raw,if=virtio", "-snapshot"])
    assert not m.complete and "--overlay-dir" in m.untranslated[0][1]
    assert m.argv == ("-drive", "file=disk.img,format=raw,if=virtio", "-snapshot")


def test_snapshot_gets_an_overlay_and_its_recipe(images: Path) -> None:
    m = to_blockdev_argv(["-drive", "file=disk.img,format=raw,if=virtio,snapshot=on,"
                          "detect-zeroes=on"], overlay_dir="ov")
    assert m.complete and "-snapshot" not in m.argv
    top = _nodes(m.argv)[-1]
    assert top["driver"] == "qcow2" and top["backing"] == "qd-virtio0-base"
    assert top["cache"] == {"direct": False, "no-flush": True}
    assert top["detect-zeroes"] == "on"  # the drive's own option moves to the overlay
    assert m.recipes == (f"qemu-img create -f qcow2 -b {images / 'disk.img'} -F raw "
                         "ov/qd-virtio0.qcow2",)
    (images / "ov").mkdir()
    subprocess.run(m.recipes[0].split(), check=True, capture_output=True)
    assert (images / "ov" / "qd-virtio0.qcow2").exists()


def test_the_overlay_backs_onto_the_resolved_image_name(images: Path) -> None:
    # file:disk.img is disk.img (file-posix strips the prefix): the recipe names the file
    m = to_blockdev_argv(["-drive", "file=file:disk.img,format=raw,if=virtio,snapshot=on"],
                         overlay_dir="ov")
    assert m.recipes == (f"qemu-img create -f qcow2 -b {images / 'disk.img'} -F raw "
                         "ov/qd-virtio0.qcow2",)
    # a json: name opens its node, not a file of that name: qemu-img reads it as QEMU does
    m = to_blockdev_argv(["-drive", 'file=json:{"file":{"driver":"file",,"filename":'
                          '"disk.img"}},format=raw,if=virtio,snapshot=on'], overlay_dir="ov")
    assert m.complete
    assert m.recipes == ("qemu-img create -f qcow2 -b "
                         "'json:{\"file\":{\"driver\":\"file\",\"filename\":\"disk.img\"}}' "
                         "-F raw ov/qd-virtio0.qcow2",)
    # a protocol name (nbd:) is the nbd driver's syntax: not spelt as a file node
    m = to_blockdev_argv(["-drive", "file=nbd:localhost:10809,format=raw,if=virtio,"
                          "snapshot=on"], overlay_dir="ov", probe_files=False)
    assert not m.complete and "the nbd driver's own filename syntax" in m.untranslated[0][1]


def test_pflash_becomes_a_machine_property(images: Path) -> None:
    m = to_blockdev_argv(["-M", "q35", "-drive", "if=pflash,format=raw,file=flash.img"])
    assert m.complete and m.argv[-2:] == ("-machine", "pflash0=qd-pflash0")


def test_node_prefix_and_clashes_with_existing_names(images: Path) -> None:
    m = to_blockdev_argv(["-blockdev", "driver=file,filename=disk.img,node-name=x-virtio0",
                          "-drive", "file=disk.img,format=raw,if=virtio,read-only=on"],
                         node_prefix="x-")
    names = [n["node-name"] for n in _nodes(m.argv)]
    assert names == ["x-virtio0", "x-virtio0-p", "x-virtio0-2"]


def test_an_empty_drive_becomes_an_empty_device(images: Path) -> None:
    m = to_blockdev_argv(["-drive", "if=none,id=cd,media=cdrom",
                          "-device", "ide-cd,drive=cd,bus=ide.1"])
    assert m.complete and m.argv == ("-device", "ide-cd,bus=ide.1")


def test_a_rejected_command_line_is_not_translated(images: Path) -> None:
    m = to_blockdev_argv(["-device", "virtio-blk-pci,drive=nosuch"])
    assert not m.complete and m.argv == ("-device", "virtio-blk-pci,drive=nosuch")
    assert "can't find value 'nosuch'" in m.untranslated[0][1]


@pytest.mark.parametrize("argv, driver", [
    (["-hda", "fat:rw:vfat-dir"], "vvfat"),
    (["-drive", "file=blkverify:disk.img:flash.img,if=virtio"], "blkverify"),
])
def test_a_name_another_protocol_parses_stays_with_the_reason(
        images: Path, argv: list[str], driver: str) -> None:
    # block.c bdrv_find_protocol(): fat: and blkverify: are parsed by their own driver, so
    # a file-posix node named 'fat:rw:...' would be another drive (QEMU: "Could not open").
    (images / "vfat-dir").mkdir()
    m = to_blockdev_argv(argv)
    assert not m.complete and m.argv == tuple(argv)
    assert f"is read by the {driver} driver's own filename syntax" in m.untranslated[0][1]


def test_file_posix_prefixes_are_stripped_and_pick_their_driver(images: Path) -> None:
    m = to_blockdev_argv(["-drive", "file=file:disk.img,format=raw,if=virtio",
                          "-drive", "file=host_device:/dev/null,format=raw,if=virtio"])
    assert m.complete
    protocols = [n for n in _nodes(m.argv) if n["driver"] != "raw"]
    assert [(n["driver"], n["filename"]) for n in protocols] == [
        ("file", "disk.img"), ("host_device", "/dev/null")]
