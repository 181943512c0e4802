"""The image's name is resolved once, by the converter, and the board's checks use it.

``DriveResult.image`` is the host file QEMU opens (frontend/_conversion.local_image): the
image locks between devices and the flash sizes read it, so a ``file:`` prefix or a
``file.filename=`` name is the same file as the plain name, as QEMU finds it. Each case
is judged live by QEMU 7.2 when it is installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import qdrive
from tests.compat import oracle

LOCKED = 'Failed to get "write" lock'


def _cases(a: Path, odd: Path) -> list[tuple[list[str], list[str | None]]]:
    return [
        ([f"file=file:{a},format=raw,if=ide", f"file.filename={a},format=raw,if=ide,index=1"],
         [None, LOCKED]),
        ([f"file.filename={a},format=raw,if=ide", f"file=file:{a},format=raw,if=ide,index=1"],
         [None, LOCKED]),
        ([f"file={a},format=raw,if=ide,snapshot=on", f"file=file:{a},format=raw,if=ide,index=1"],
         [None, LOCKED]),
        ([f"file=file:{odd},format=raw,if=pflash"],
         ["system firmware block device pflash0 has invalid size 1024"]),
        ([f"file=file:{a},format=raw,if=ide", f"file=file:{a},format=raw,if=ide,index=1,"
          "read-only=on"], [None, "Block node is read-only"]),
    ]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    a, odd = tmp_path / "a.img", tmp_path / "odd.img"
    a.write_bytes(b"\0" * (1 << 20))
    odd.write_bytes(b"\0" * 1000)
    return a, odd


@pytest.mark.parametrize("n", range(5))
def test_the_board_reads_the_resolved_name(files: tuple[Path, Path], n: int) -> None:
    drives, want = _cases(*files)[n]
    result = qdrive.check(drives)
    assert [d.error.message if d.error else None for d in result.drives] == want
    assert all(d.image == str(files[1] if "odd" in d.text else files[0])
               for d in result.drives if d.ok)
    for d in result.drives:
        if d.error is not None and d.error.message == LOCKED:
            assert d.error.detail == f"Is another process using the image [{files[0]}]?"


@pytest.mark.live
@pytest.mark.skipif(shutil.which(oracle.QEMU) is None,
                    reason="qemu-system-x86_64 not installed (make test installs it as root)")
@pytest.mark.parametrize("n", range(5))
def test_qemu_says_the_same(files: tuple[Path, Path], n: int) -> None:
    drives, _ = _cases(*files)[n]
    live = oracle.run(drives, files[0].parent)
    result = qdrive.check(drives)
    assert live["accepted"] == result.ok
    assert live["stderr"].strip() == result.qemu_stderr().strip()


def test_an_empty_drive_and_a_network_name_open_no_local_file() -> None:
    result = qdrive.check(["if=none,id=e", "file=nbd:localhost:10809,format=raw,if=none"],
                          probe_files=False)
    assert [d.image for d in result.drives] == ["", ""]
