"""-blockdev nodes meet the host as -drive images do (issue 14): the file node's open
(read-only mount, O_DIRECT, io_uring) and a device's attach (reopen for write, other
processes' locks). QEMU's words are the recorded ones (fixtures/qemu72/hoststate.jsonl,
host-ro-mount-14/16, host-no-odirect-12, host-io-uring-disabled-09, host-held-rw-14);
tests/compat/test_hoststate_live.py builds the real host states."""

from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from qdrive.frontend import hostprobe
from qdrive.frontend.cmdline import check_argv

P = "qemu-system-x86_64"
FILE = "driver=file,filename=disk.img,node-name=f0"
RO_RAW = "driver=raw,file.driver=file,file.filename=disk.img,node-name=r0,read-only=on"


@pytest.fixture
def disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    with open(tmp_path / "disk.img", "wb") as f:
        f.truncate(1 << 20)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "disk.img"


@pytest.fixture
def ro_mount(disk: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The image's filesystem says it is mounted read-only (statvfs ST_RDONLY)."""
    real = os.statvfs

    class _Ro:
        def __init__(self, st: os.statvfs_result) -> None:
            self._st = st
            self.f_flag = st.f_flag | os.ST_RDONLY

        def __getattr__(self, name: str) -> object:
            return getattr(self._st, name)

    monkeypatch.setattr(os, "statvfs", lambda p: _Ro(real(p)))
    return disk


def test_read_only_mount_refuses_a_writable_file_node(ro_mount: Path) -> None:
    got = check_argv(["-blockdev", FILE])
    assert got.qemu_stderr() == (f"{P}: -blockdev {FILE}: Could not open 'disk.img': "
                                 "Read-only file system")


def test_auto_read_only_opens_then_the_writing_device_reopens(ro_mount: Path) -> None:
    node = FILE + ",auto-read-only=on"
    assert check_argv(["-blockdev", node]).ok
    got = check_argv(["-blockdev", node, "-device", "virtio-blk-pci,drive=f0"])
    assert got.qemu_stderr() == (f"{P}: -device virtio-blk-pci,drive=f0: Could not open "
                                 "'disk.img': Read-only file system")


def test_no_odirect_refuses_cache_direct(disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostprobe, "_direct_ok", lambda name: False)
    assert check_argv(["-blockdev", FILE]).ok
    node = FILE + ",cache.direct=on"
    assert check_argv(["-blockdev", node]).qemu_stderr() == (
        f"{P}: -blockdev {node}: Could not open 'disk.img': filesystem does not support "
        "O_DIRECT")


@pytest.mark.parametrize(("dialect", "says"), [
    ("qemu-7.2", "Unable to use io_uring: failed to init linux io_uring ring: Operation not "
                 "supported"),
    ("qemu-10.0", ""),  # the ring is set up at the first request: accepted
    ("qemu-11.1", "aio=io_uring was specified, but is not available (disabled via "
                  "io_uring_disabled sysctl or blocked by container runtime seccomp policy?)")])
def test_io_uring_refused_at_the_file_node(disk: Path, monkeypatch: pytest.MonkeyPatch,
                                           dialect: str, says: str) -> None:
    monkeypatch.setattr(hostprobe, "io_uring_usable", lambda user: False)
    node = "driver=file,filename=disk.img,aio=io_uring,node-name=f0"
    got = check_argv(["-blockdev", node], dialect=dialect)
    assert got.qemu_stderr() == (f"{P}: -blockdev {node}: {says}" if says else "")


@pytest.fixture
def held_write(disk: Path) -> Iterator[Path]:
    """Another open file description holds QEMU's "write" lock byte (100 + 1)."""
    fd = os.open(disk, os.O_RDWR)
    try:
        fcntl.fcntl(fd, 37, struct.pack("hh4xqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 101, 1, 0))
        yield disk  # F_OFD_SETLK
    finally:
        os.close(fd)


def test_device_refusing_write_meets_a_writer(held_write: Path) -> None:
    assert check_argv(["-blockdev", RO_RAW]).ok  # a node without parents takes nothing
    got = check_argv(["-blockdev", RO_RAW, "-device", "virtio-blk-pci,drive=r0"])
    assert got.qemu_stderr() == (f"{P}: -device virtio-blk-pci,drive=r0: Failed to get "
                                 'shared "write" lock\nIs another process using the image '
                                 "[disk.img]?")


def test_share_rw_or_locking_off_let_it_attach(held_write: Path) -> None:
    shared = ["-blockdev", RO_RAW, "-device", "virtio-blk-pci,drive=r0,share-rw=on"]
    assert check_argv(shared).ok
    off = RO_RAW.replace("file.filename", "file.locking=off,file.filename")
    assert check_argv(["-blockdev", off, "-device", "virtio-blk-pci,drive=r0"]).ok
