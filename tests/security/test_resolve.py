"""Race-free resolution beneath a directory descriptor, with openat2 and with the walk."""

from __future__ import annotations

import errno
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from qdrive.frontend.policy import _resolve
from qdrive.frontend.policy._resolve import Refused, Root, locate, open_beneath, reopen


@pytest.fixture(params=["openat2", "walk"])
def walk(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "walk")


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Path, Path, int]]:
    """allowed/ (with a file) next to outside/ (with a secret); a descriptor of allowed/."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "disk.img").write_bytes(b"inside")
    (outside / "secret").write_bytes(b"secret")
    fd = os.open(allowed, os.O_PATH | os.O_DIRECTORY)
    try:
        yield allowed, outside, fd
    finally:
        os.close(fd)


def _read(fd: int) -> bytes:
    data = reopen(fd, os.O_RDONLY)
    try:
        return os.read(data, 64)
    finally:
        os.close(data)
        os.close(fd)


def _refused(dirfd: int, rel: str, walk: bool) -> Refused:
    with pytest.raises(Refused) as info:
        fd = open_beneath(dirfd, rel, walk=walk)
        os.close(fd)
    return info.value


def test_plain_and_relative_links(tree: tuple[Path, Path, int], walk: bool) -> None:
    allowed, _, fd = tree
    (allowed / "sub").mkdir()
    os.symlink("../disk.img", allowed / "sub" / "up")
    os.symlink("sub", allowed / "dirlink")
    assert _read(open_beneath(fd, "disk.img", walk=walk)) == b"inside"
    assert _read(open_beneath(fd, "sub/up", walk=walk)) == b"inside"
    assert _read(open_beneath(fd, "dirlink/../disk.img", walk=walk)) == b"inside"
    assert _read(open_beneath(fd, "./sub/./../disk.img", walk=walk)) == b"inside"


@pytest.mark.parametrize("target", ["ABS", "../outside/secret", "../../../../../../../etc/passwd"])
def test_links_out_are_refused(tree: tuple[Path, Path, int], walk: bool, target: str) -> None:
    allowed, outside, fd = tree
    os.symlink(str(outside / "secret") if target == "ABS" else target, allowed / "out")
    assert _refused(fd, "out", walk).errno == errno.EXDEV


def test_absolute_link_to_inside_is_refused_too(tree: tuple[Path, Path, int],
                                                 walk: bool) -> None:
    # RESOLVE_BENEATH: an absolute target is refused even when it points inside.
    allowed, _, fd = tree
    os.symlink(str(allowed / "disk.img"), allowed / "abs-in")
    assert _refused(fd, "abs-in", walk).errno == errno.EXDEV


def test_dotdot_above_the_directory(tree: tuple[Path, Path, int], walk: bool) -> None:
    _, _, fd = tree
    assert _refused(fd, "../outside/secret", walk).errno == errno.EXDEV
    assert _refused(fd, "../allowed/disk.img", walk).errno == errno.EXDEV


def test_proc_magic_links(tree: tuple[Path, Path, int], walk: bool) -> None:
    allowed, outside, fd = tree
    held = os.open(outside / "secret", os.O_RDONLY)
    try:
        os.symlink(f"/proc/self/fd/{held}", allowed / "magic")
        os.symlink("../../../../../../../../proc/self/root" + str(outside / "secret"),
                   allowed / "via-root")
        assert _refused(fd, "magic", walk).errno == errno.EXDEV
        assert _refused(fd, "via-root", walk).errno == errno.EXDEV
    finally:
        os.close(held)


def test_magic_link_inside_a_proc_mount_is_refused(walk: bool) -> None:
    # An allowed directory that *is* /proc/self/fd: its links are magic, not names.
    held = os.open("/etc/hostname", os.O_RDONLY)
    fd = os.open("/proc/self/fd", os.O_PATH | os.O_DIRECTORY)
    try:
        assert _refused(fd, str(held), walk).errno == errno.ELOOP
    finally:
        os.close(fd)
        os.close(held)


def test_link_limit_is_the_kernels(tree: tuple[Path, Path, int], walk: bool) -> None:
    allowed, _, fd = tree
    for count in (40, 41, 1500):
        d = allowed / f"c{count}"
        d.mkdir()
        (d / "end").write_bytes(b"end")
        for n in range(count):
            os.symlink("end" if n == 0 else f"l{n - 1}", d / f"l{n}")
    assert _read(open_beneath(fd, "c40/l39", walk=walk)) == b"end"
    assert _refused(fd, "c41/l40", walk).errno == errno.ELOOP
    assert _refused(fd, "c1500/l1499", walk).errno == errno.ELOOP  # no RecursionError


def test_resolved_path_past_path_max(tree: tuple[Path, Path, int], walk: bool) -> None:
    """18 levels of 250-character names: os.path.realpath gives up, the kernel does not.

    19 links in all: the kernel may count a lookup's links twice when it restarts it in
    ref-walk mode under load, and 2 x 19 stays within its 40."""
    allowed, _, fd = tree
    names = [f"{n:02d}" + "d" * 248 for n in range(18)]
    fds = [os.open(allowed, os.O_PATH | os.O_DIRECTORY)]
    for name in names:
        os.mkdir(name, dir_fd=fds[-1])
        fds.append(os.open(name, os.O_PATH | os.O_DIRECTORY, dir_fd=fds[-1]))
    os.close(os.open("deep", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fds[-1]))
    deep = os.stat("deep", dir_fd=fds[-1])
    os.symlink("deep", "next", dir_fd=fds[-1])
    os.symlink("../" * 19 + "outside/secret", "escape", dir_fd=fds[-1])
    for n in range(17, -1, -1):
        os.symlink(f"{names[n]}/next", "next", dir_fd=fds[n])
        os.symlink(f"{names[n]}/escape", "escape", dir_fd=fds[n])
    for f in fds:
        os.close(f)
    with pytest.raises(OSError) as info:  # the string way cannot even name the result
        os.readlink(allowed / "next") and os.stat(os.path.realpath(allowed / "next"))
    assert info.value.errno == errno.ENAMETOOLONG
    got = open_beneath(fd, "next", walk=walk)
    assert (os.fstat(got).st_dev, os.fstat(got).st_ino) == (deep.st_dev, deep.st_ino)
    os.close(got)
    assert _refused(fd, "escape", walk).errno == errno.EXDEV


def test_odd_files_resolve_without_opening(tree: tuple[Path, Path, int], walk: bool) -> None:
    """O_PATH reaches FIFOs, sockets and devices without running their open(): a FIFO
    with no writer would block a real open() forever."""
    allowed, _, fd = tree
    os.mkfifo(allowed / "fifo")
    os.mknod(allowed / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(allowed / "sock"))
    s.close()
    for name, kind in (("fifo", stat.S_ISFIFO), ("null", stat.S_ISCHR), ("sock", stat.S_ISSOCK)):
        got = open_beneath(fd, name, walk=walk)
        assert kind(os.fstat(got).st_mode)
        assert _resolve.describe(os.fstat(got)).startswith("a ")
        os.close(got)


def test_names_the_kernel_refuses(tree: tuple[Path, Path, int], walk: bool) -> None:
    _, _, fd = tree
    assert _refused(fd, "x" * 5000, walk).errno == errno.ENAMETOOLONG
    assert _refused(fd, "x" * 300, walk).errno == errno.ENAMETOOLONG
    assert _refused(fd, "missing", walk).errno == errno.ENOENT
    assert _refused(fd, "disk.img/", walk).errno == errno.EISDIR
    assert _refused(fd, "disk.img/x", walk).errno == errno.ENOTDIR
    assert _refused(fd, "", walk).errno == errno.EISDIR


def test_trailing_slash_through_a_link(tree: tuple[Path, Path, int], walk: bool) -> None:
    allowed, _, fd = tree
    os.symlink("disk.img/", allowed / "slash")
    assert _refused(fd, "slash", walk).errno == errno.ENOTDIR


def test_reopen_follows_the_inode_not_the_name(tree: tuple[Path, Path, int]) -> None:
    allowed, outside, fd = tree
    got = open_beneath(fd, "disk.img")
    os.rename(allowed / "disk.img", allowed / "moved")
    os.symlink(str(outside / "secret"), allowed / "disk.img")
    assert _read(got) == b"inside"


def test_locate(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    os.symlink(tmp_path / "a", tmp_path / "alias")
    roots = [Root.of(str(tmp_path / "alias"))]
    assert locate("x.img", str(tmp_path / "alias"), roots) == (roots[0], "x.img")
    assert locate(f"{tmp_path}/a/x.img", "/", roots) == (roots[0], "x.img")  # the real path
    assert locate(f"{tmp_path}//alias/./sub//x", "/", roots) == (roots[0], "sub/x")
    assert locate(f"{tmp_path}/alias/../a/x", "/", roots) == (roots[0], "../a/x")
    assert locate(f"{tmp_path}/alias-evil/x", "/", roots) is None
    assert locate("../x", f"{tmp_path}/alias", roots) == (roots[0], "../x")
    assert locate("/etc/passwd", "/", roots) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_mounts_below_the_directory(tree: tuple[Path, Path, int], walk: bool) -> None:
    """A filesystem mounted inside (a user's FUSE mount, say) is refused unless asked for."""
    import subprocess

    allowed, _, fd = tree
    (allowed / "mnt").mkdir()
    (allowed / "bind").mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "none", str(allowed / "mnt")],
                   check=True)
    try:
        (allowed / "mnt" / "x.img").write_bytes(b"mounted")
        subprocess.run(["mount", "--bind", str(allowed / "mnt"), str(allowed / "bind")],
                       check=True)
        try:
            os.symlink("mnt/x.img", allowed / "via-link")
            for name in ("mnt/x.img", "bind/x.img", "via-link"):
                refused = _refused(fd, name, walk)
                assert refused.errno == errno.EXDEV and "mounted filesystem" in refused.reason
                assert _read(open_beneath(fd, name, walk=walk, same_mount=False)) == b"mounted"
        finally:
            subprocess.run(["umount", str(allowed / "bind")], check=True)
    finally:
        subprocess.run(["umount", str(allowed / "mnt")], check=True)
