"""qdrive/frontend/hostprobe.py on real host states: a real QEMU holding an image (qemu.qmp),
loop-mounted filesystems (read-only ext4, ramfs without O_DIRECT), the io_uring sysctl,
FIFOs and directories, and the mode bits of another user. Each probe is checked against
what it should find and against check()'s message; none may lock, write or block."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import qdrive
from qdrive.frontend import hostprobe
from qdrive.frontend.hostprobe import CONSISTENT_READ, RESIZE, WRITE, QemuUser
from tests.compat import oracle

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (mounts, sysctl)")
needs_qemu = pytest.mark.skipif(shutil.which(oracle.QEMU) is None,
                                reason="qemu-system-x86_64 not installed (make test "
                                       "installs it as root)")
NOBODY = 65534


def _stderr(drive: str, **kw: object) -> str:
    return qdrive.check(drive, **kw).qemu_stderr()  # type: ignore[arg-type]


def _image(path: Path, size: int = 1 << 20) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path


@pytest.fixture
def here(tmp_path: Path) -> Iterator[Path]:
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def _no_locks_of_ours(path: Path) -> None:
    """No lock byte of the image is held by any open file description (ours included)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        for byte in (100, 101, 102, 103, 200, 201, 202, 203):
            probe = struct.pack("hh4xqqi4x", fcntl.F_WRLCK, os.SEEK_SET, byte, 1, 0)
            got = fcntl.fcntl(fd, 36, probe)
            assert struct.unpack("hh4xqqi4x", got)[0] == fcntl.F_UNLCK, byte
    finally:
        os.close(fd)


# -- other processes' locks: a real QEMU ----------------------------------------------------


@needs_qemu
@pytest.mark.live
@pytest.mark.parametrize("holder_ro", [False, True], ids=["held-rw", "held-ro"])
def test_lock_bytes_of_a_running_qemu(here: Path, holder_ro: bool) -> None:
    _image(here / "held.img")
    ro = ",read-only=on" if holder_ro else ""
    with oracle.Running([f"file=held.img,format=raw,if=virtio{ro}"], here):
        drive = qdrive.parse_drive("file=held.img,format=raw,if=virtio")
        facts = hostprobe.host_facts("held.img", drive, None)
        assert facts is not None
        # a virtio disk holds consistent read (+ write) and shares neither write
        assert facts.held == ({CONSISTENT_READ} if holder_ro else {CONSISTENT_READ, WRITE})
        assert facts.refused == {WRITE}
        assert _stderr("file=held.img,format=raw,if=virtio") == (
            'qemu-system-x86_64: -drive file=held.img,format=raw,if=virtio: Failed to get '
            '"write" lock\nIs another process using the image [held.img]?')
        cd = qdrive.check("file=held.img,format=raw,if=ide,media=cdrom")
        assert cd.ok is holder_ro
        assert qdrive.check("file=held.img,format=raw,if=none").ok
        assert qdrive.check("file=held.img,format=raw,if=virtio,file.locking=off").ok
        assert not qdrive.check("file=held.img,format=raw,if=virtio", probe_files=True).ok
        assert qdrive.check("file=held.img,format=raw,if=virtio", probe_files=False).ok
    assert qdrive.check("file=held.img,format=raw,if=virtio").ok  # QEMU gone, locks gone


@needs_qemu
@pytest.mark.live
def test_qcow2_metadata_locks_at_open(here: Path) -> None:
    """A qcow2 node writes its metadata: it takes write and resize on the file even without
    a device (if=none), and refuses to share them."""
    oracle._create(here / "held.qcow2", "qcow2", "1M")
    with oracle.Running(["file=held.qcow2,format=qcow2,if=virtio"], here):
        facts = hostprobe.host_facts("held.qcow2", qdrive.parse_drive("file=held.qcow2"), None)
        assert facts is not None
        assert facts.held == {CONSISTENT_READ, WRITE, RESIZE}
        assert facts.refused == {WRITE, RESIZE}
        assert _stderr("file=held.qcow2,format=qcow2,if=none").endswith(
            'if=none: Failed to get "write" lock\nIs another process using the image '
            '[held.qcow2]?')
        assert 'shared "resize"' in _stderr("file=held.qcow2,format=raw,if=none,size=65536")


def test_probing_takes_no_lock(here: Path) -> None:
    _image(here / "disk.img")
    for drive in ("file=disk.img,format=raw,if=virtio", "file=disk.img,if=none,cache=none",
                  "file=disk.img,format=raw,if=ide,media=cdrom"):
        assert qdrive.check(drive).ok
        _no_locks_of_ours(here / "disk.img")


def test_driver_locks_are_seen(here: Path) -> None:
    """qdrive's own driver takes QEMU's bytes (qdrive/block/_imagelock.py): check() sees them."""
    from qdrive.block._imagelock import lock_image

    path = _image(here / "disk.img")
    fd = os.open(path, os.O_RDWR)
    try:
        lock_image(fd, str(path), write=True)
        assert "Failed to get \"write\" lock" in _stderr("file=disk.img,format=raw,if=virtio")
        assert 'shared "write"' in _stderr("file=disk.img,format=raw,if=virtio,read-only=on")
        assert qdrive.check("file=disk.img,format=raw,if=virtio,read-only=on,"
                            "force-share=on").ok
    finally:
        os.close(fd)


# -- filesystems: loop-mounted read-only ext4, ramfs ----------------------------------------


@contextlib.contextmanager
def _mounted(args: list[str], where: Path) -> Iterator[Path]:
    where.mkdir()
    subprocess.run(["mount", *args, str(where)], check=True, capture_output=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


@pytest.fixture
def ro_ext4(tmp_path: Path) -> Iterator[Path]:
    """A loop-mounted ext4 holding disk.img and disk.qcow2, remounted read-only."""
    if not ROOT or shutil.which("mkfs.ext4") is None:
        pytest.skip("needs root and mkfs.ext4 (e2fsprogs) for a loop mount")
    fs = _image(tmp_path / "fs.img", 16 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(fs)], check=True, capture_output=True)
    with _mounted(["-o", "loop", str(fs)], tmp_path / "mnt") as mnt:
        _image(mnt / "disk.img")
        oracle._create(mnt / "disk.qcow2", "qcow2", "1M")
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        old = os.getcwd()
        os.chdir(mnt)
        try:
            yield mnt
        finally:
            os.chdir(old)


@needs_root
def test_read_only_filesystem(ro_ext4: Path) -> None:
    erofs = "Could not open 'disk.img': Read-only file system"
    assert _stderr("file=disk.img,format=raw,if=virtio") == (
        f"qemu-system-x86_64: -drive file=disk.img,format=raw,if=virtio: {erofs}")
    assert _stderr("file=disk.img,format=raw,if=ide") == f"qemu-system-x86_64: {erofs}"
    assert qdrive.check("file=disk.img,format=raw,if=none").ok  # falls back to read-only
    assert qdrive.check("file=disk.img,format=raw,if=virtio,read-only=on").ok
    assert qdrive.check("file=disk.img,format=raw,if=virtio,snapshot=on").ok
    assert erofs in _stderr("file=disk.img,format=raw,if=none,auto-read-only=off")
    assert "disk.qcow2': Read-only file system" in _stderr(
        "file=disk.qcow2,format=qcow2,if=none")


@needs_root
def test_probed_raw_warns_on_a_read_only_filesystem(ro_ext4: Path) -> None:
    """Regression: the probing warning follows the node's read-only flag, not whether the
    file is writable (block/raw-format.c raw_open()); it was missing on a read-only mount."""
    result = qdrive.check("file=disk.img,if=none")
    assert result.ok
    assert [w.code for w in result.drives[0].warnings] == ["probed-raw"]


@needs_root
def test_filesystem_without_o_direct(tmp_path: Path) -> None:
    with _mounted(["-t", "ramfs", "ramfs"], tmp_path / "ramfs") as mnt:
        img = _image(mnt / "disk.img")
        name = str(img)
        assert not hostprobe._direct_ok(name)
        for drive in (f"file={name},format=raw,if=virtio,cache=none",
                      f"file={name},format=raw,if=none,cache.direct=on,read-only=on",
                      f"file={name},format=raw,if=virtio,aio=native,cache=directsync"):
            assert _stderr(drive) == (f"qemu-system-x86_64: -drive {drive}: Could not open "
                                      f"'{name}': filesystem does not support O_DIRECT")
        assert qdrive.check(f"file={name},format=raw,if=virtio,cache=writeback").ok


def test_o_direct_where_supported(tmp_path: Path) -> None:
    img = _image(tmp_path / "disk.img")
    if not hostprobe._direct_ok(str(img)):
        pytest.skip(f"{tmp_path} refuses O_DIRECT itself")
    assert qdrive.check(f"file={img},format=raw,if=virtio,cache=none").ok


# -- io_uring --------------------------------------------------------------------------------


@contextlib.contextmanager
def _io_uring_disabled(value: str) -> Iterator[None]:
    sysctl = Path(hostprobe.IO_URING_SYSCTL)
    if not ROOT or not sysctl.exists():
        pytest.skip("needs root and kernel.io_uring_disabled (Linux 6.6+)")
    before = sysctl.read_text()
    sysctl.write_text(value)
    try:
        yield
    finally:
        sysctl.write_text(before)


def test_io_uring_sysctl(here: Path) -> None:
    _image(here / "disk.img")
    drive = "file=disk.img,format=raw,if=virtio,aio=io_uring"
    message = ("qemu-system-x86_64: -drive file=disk.img,format=raw,if=virtio,aio=io_uring: "
               "Unable to use io_uring: failed to init linux io_uring ring")
    with _io_uring_disabled("2"):
        assert not hostprobe.io_uring_usable(None)
        assert _stderr(drive) == message
        assert qdrive.check("file=disk.img,format=raw,if=virtio,aio=threads").ok
        assert qdrive.check("file=disk.img,format=raw,if=virtio,aio=native,cache=none").ok
    with _io_uring_disabled("1"):
        assert hostprobe.io_uring_usable(None)  # root may
        assert hostprobe.io_uring_usable(QemuUser.of(0))
        assert not hostprobe.io_uring_usable(QemuUser.of(NOBODY))
        open_to_all = Path(oracle.scratch("qdrive-uring-"))  # nobody may reach it
        try:
            os.chmod(open_to_all, 0o755)
            name = str(_image(open_to_all / "disk.img"))
            assert _stderr(f"file={name},format=raw,aio=io_uring", qemu_user=NOBODY).endswith(
                "Unable to use io_uring: failed to init linux io_uring ring")
            assert qdrive.check(f"file={name},format=raw,aio=io_uring", qemu_user=0).ok
        finally:
            shutil.rmtree(open_to_all)
    if hostprobe.io_uring_usable(None):
        assert qdrive.check(drive).ok


# -- file types ------------------------------------------------------------------------------


def test_fifo_neither_blocks_nor_prints(here: Path) -> None:
    """QEMU's open() of a FIFO waits for a writer for ever: it prints nothing. qdrive says
    so, without blocking itself (an alarm turns a hang into a failure)."""
    os.mkfifo(here / "fifo")
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("check() blocked"))
    signal.alarm(60)
    try:
        result = qdrive.check("file=fifo,format=raw,if=virtio")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert not result.ok
    assert result.drives[0].error is not None
    assert result.drives[0].error.code == "open-blocks"
    assert "FIFO" in result.drives[0].error.message
    assert result.qemu_stderr() == ""


def test_file_types(here: Path) -> None:
    (here / "dir").mkdir()
    _image(here / "disk.img")
    assert _stderr("file=dir,format=raw,if=virtio").endswith(
        "'file' driver requires 'dir' to be a regular file")
    assert _stderr("file=dir,if=virtio").endswith(  # no probing warning: open failed first
        ": -drive file=dir,if=virtio: 'file' driver requires 'dir' to be a regular file")
    assert _stderr("file=disk.img,format=raw,file.driver=host_device").endswith(
        "'host_device' driver requires 'disk.img' to be either a character or block device")
    assert _stderr("file=/dev/null,format=raw,file.driver=file,if=virtio").endswith(
        "'file' driver requires '/dev/null' to be a regular file")
    assert qdrive.check("file=/dev/null,format=raw,if=virtio").ok  # host_device chosen
    # aio=native without O_DIRECT is found before the file type
    assert _stderr("file=dir,format=raw,if=virtio,aio=native").endswith(
        "aio=native was specified, but it requires cache.direct=on, which was not specified.")


def test_missing_file_and_parent(here: Path) -> None:
    _image(here / "disk.img")
    assert _stderr("file=nope.img,format=raw").endswith(
        "Could not open 'nope.img': No such file or directory")
    assert _stderr("file=nodir/x.img,format=raw,cache=none").endswith(
        "Could not open 'nodir/x.img': No such file or directory")
    assert _stderr("file=disk.img/x,format=raw").endswith(
        "Could not open 'disk.img/x': Not a directory")
    assert _stderr("file=./nodir/../disk.img,format=raw").endswith(
        "Could not open './nodir/../disk.img': No such file or directory")


# -- the user QEMU runs as: mode bits --------------------------------------------------------


@pytest.fixture
def modes(here: Path) -> Path:
    """Images of modes 0644 / 0600 / 0666, one in a 0700 folder (owned by us)."""
    for name, mode in (("ro.img", 0o644), ("private.img", 0o600), ("rw.img", 0o666)):
        os.chmod(_image(here / name), mode)
    os.chmod(here, 0o755)
    (here / "closed").mkdir()
    os.chmod(_image(here / "closed" / "disk.img"), 0o666)
    os.chmod(here / "closed", 0o700)
    return here


def test_user_judged_from_mode_bits(modes: Path) -> None:
    if os.geteuid() == NOBODY:
        pytest.skip("runs as nobody itself")
    denied = "Permission denied"
    # reading is judged at open, writing when the device attaches
    assert _stderr("file=ro.img,format=raw,if=virtio", qemu_user=NOBODY).endswith(
        f"Could not open 'ro.img': {denied}")
    assert qdrive.check("file=ro.img,format=raw,if=virtio,read-only=on",
                        qemu_user=NOBODY).ok
    assert qdrive.check("file=ro.img,format=raw,if=none", qemu_user=NOBODY).ok
    assert denied in _stderr("file=ro.img,format=raw,if=none,auto-read-only=off",
                             qemu_user=NOBODY)
    assert denied in _stderr("file=private.img,format=raw,read-only=on", qemu_user=NOBODY)
    assert qdrive.check("file=rw.img,format=raw,if=virtio", qemu_user=NOBODY).ok
    assert denied in _stderr("file=closed/disk.img,format=raw,read-only=on",
                             qemu_user="nobody")
    # search permission comes before the file's existence
    assert denied in _stderr("file=closed/missing.img,format=raw", qemu_user=NOBODY)
    # the owner may do what the owner bits say; root everything
    me = os.geteuid()
    assert qdrive.check("file=private.img,format=raw,if=virtio", qemu_user=me).ok
    assert qdrive.check("file=closed/disk.img,format=raw,if=virtio", qemu_user=0).ok
    # the probed-raw warning comes before the write refusal at attach
    probed = _stderr("file=ro.img,if=virtio", qemu_user=NOBODY)
    assert probed.startswith("WARNING: Image format was not specified for 'ro.img'")
    assert probed.endswith(f"Could not open 'ro.img': {denied}")


def test_group_bits(modes: Path) -> None:
    if not ROOT:
        pytest.skip("needs root to give the image to nobody's group")
    group = _image(modes / "group.img")
    os.chmod(group, 0o660)
    os.chown(group, 0, NOBODY)
    nobody = QemuUser.of(NOBODY)
    if NOBODY not in nobody.groups:
        pytest.skip("nobody's primary group is not 65534 here")
    assert qdrive.check("file=group.img,format=raw,if=virtio", qemu_user=NOBODY).ok
    assert not qdrive.check("file=group.img,format=raw,if=virtio", qemu_user=NOBODY + 1).ok


def test_unknown_user_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no user named"):
        qdrive.check("file=x.img", qemu_user="no-such-user-qdrive")


def test_uid_without_passwd_entry() -> None:
    user = QemuUser.of(4242424)
    assert user.uid == user.gid == 4242424 and user.groups == {4242424}
    assert QemuUser.of("4242424") == user  # a number given as text, no such name
    assert QemuUser.of((1 << 32) - 2).uid == (1 << 32) - 2  # the largest uid


@pytest.mark.parametrize("bad", [-1, 1 << 32, 1 << 64])
def test_uid_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError, match="is not a uid"):
        qdrive.check("file=x.img", qemu_user=bad)


@pytest.mark.parametrize("bad", [True, 1.5, None.__class__])
def test_qemu_user_of_another_type(bad: object) -> None:
    with pytest.raises(TypeError, match="user name or a uid"):
        QemuUser.of(bad)  # type: ignore[arg-type]


def test_nul_in_names_with_a_user(here: Path) -> None:
    assert not qdrive.check("file=a\0b/c.img,format=raw", qemu_user=NOBODY).ok
    assert not qdrive.check("file=dir\x00/x", qemu_user=NOBODY).ok
    with pytest.raises(ValueError, match="no user named"):
        QemuUser.of("no\0body")


def test_long_paths(here: Path) -> None:
    """At and past PATH_MAX and NAME_MAX: the kernel's ENAMETOOLONG, as QEMU reports it;
    a name past PATH_MAX is refused before any permission is looked at."""
    os.chmod(here, 0o700)  # nobody may not search it
    too_long = "/".join(["d"] * 2048)  # 4,095 bytes: with its NUL, exactly PATH_MAX
    assert len(too_long) == 4095
    for user in (None, NOBODY):
        assert _stderr(f"file={too_long}x,format=raw", qemu_user=user).endswith(
            "File name too long")
    assert _stderr(f"file={too_long},format=raw").endswith("No such file or directory")
    assert _stderr(f"file={too_long},format=raw", qemu_user=NOBODY).endswith(
        "Permission denied")  # the lookup starts, in a folder nobody may not search
    assert _stderr("file=" + "x" * 256 + ",format=raw").endswith("File name too long")
    assert _stderr("file=" + "x" * 255 + ",format=raw").endswith("No such file or directory")
    assert _stderr("file=" + "x" * 256 + ",format=raw", qemu_user=NOBODY).endswith(
        "Permission denied")  # may_lookup() on the folder comes before the name's length


# -- the permission model (block.c, hw/block/block.c) ----------------------------------------


@pytest.mark.parametrize(("drive", "at_open", "at_attach"), [
    ("file=x,format=raw,if=virtio", ({0}, set()), ({0, 1}, {1})),
    ("file=x,format=raw,if=virtio,read-only=on", ({0}, set()), ({0}, {1})),
    ("file=x,format=raw,if=ide,media=cdrom", ({0}, set()), ({0}, {1, 3})),
    ("file=x,format=raw,if=floppy", ({0}, set()), ({0, 1}, {1, 3})),
    ("file=x,format=raw,if=pflash", ({0}, set()), ({0, 1}, set())),
    ("file=x,format=raw,if=none", ({0}, set()), None),
    ("file=x,format=raw,if=none,size=512", ({0}, {3}), None),
    ("file=x,format=qcow2,if=none", ({0, 1, 3}, {1, 3}), None),
    ("file=x,format=qcow2,if=virtio,read-only=on", ({0}, {1, 3}), ({0}, {1, 3})),
    ("file=x,format=raw,if=virtio,snapshot=on", ({0}, set()), ({0}, {1, 3})),
    ("file=x,format=raw,if=none,snapshot=on", ({0}, set()), None),
    ("file=x,format=raw,if=virtio,read-only=on,force-share=on", ({0}, set()), ({0}, set())),
])
def test_permissions_per_layer(drive: str, at_open: tuple[set[int], set[int]],
                               at_attach: tuple[set[int], set[int]] | None) -> None:
    d = qdrive.parse_drive(drive)
    opened = hostprobe.perms_at_open(d, d.format)
    assert (opened.take, opened.refuse) == at_open
    attached = hostprobe.perms_at_attach(d, d.format, d.interface or qdrive.Interface.IDE)
    assert (None if attached is None else (attached.take, attached.refuse)) == at_attach


def test_a_directory_opened_read_write_is_eisdir(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # fs/namei.c may_open(): a write open of a directory fails before its type is looked
    # at by file-posix (recorded: dev1-s-01439, file=/,auto-read-only=off)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    text = "file=d,auto-read-only=off,if=none"
    assert qdrive.check(text).qemu_stderr() == (
        f"qemu-system-x86_64: -drive {text}: Could not open 'd': Is a directory")
    text = "file=d,if=none"  # read-only after auto-read-only: the type decides
    assert qdrive.check(text).qemu_stderr() == (
        f"qemu-system-x86_64: -drive {text}: 'file' driver requires 'd' to be a regular file")
