"""A child given by reference finds the drives opened before its own (block.c
bdrv_lookup_bs() -> blk_by_name()/bdrv_find_node()), never a later one."""

from __future__ import annotations

from pathlib import Path

import qdrive


def _image(tmp_path: Path) -> str:
    img = tmp_path / "a.img"
    img.write_bytes(bytes(1 << 20))
    return str(img)


def test_an_earlier_drive_id_and_node_name_are_found(tmp_path: Path) -> None:
    img = _image(tmp_path)
    by_id = qdrive.check([f"file={img},format=raw,if=none,id=a",
                          "driver=blkreplay,if=none,image=a,id=b"])
    assert by_id.ok, by_id.qemu_stderr("q")
    by_node = qdrive.check([f"file={img},format=raw,if=none,node-name=n0",
                            "driver=blkreplay,if=none,image=n0,id=b"])
    assert by_node.ok, by_node.qemu_stderr("q")


def test_a_later_or_failed_drive_is_not(tmp_path: Path) -> None:
    img = _image(tmp_path)
    later = qdrive.check(["driver=blkreplay,if=none,image=a,id=b",
                          f"file={img},format=raw,if=none,id=a"])
    assert "Cannot find device='a' nor node-name='a'" in later.qemu_stderr("q")
    failed = qdrive.check([f"file={img},format=raw,if=none,id=a,bogus=1",
                           "driver=blkreplay,if=none,image=a,id=b"])
    assert not failed.ok
    assert failed.drives[1].error is not None
    assert "Cannot find device='a'" in failed.drives[1].error.message


def test_many_drives_each_name_the_one_before(tmp_path: Path) -> None:
    img = _image(tmp_path)
    drives = [f"file={img},format=raw,if=none,id=d0,readonly=on"] + [
        f"driver=blkreplay,if=none,image=d{n - 1},id=d{n}" for n in range(1, 300)]
    result = qdrive.check(drives)
    assert result.ok, result.qemu_stderr("q")
