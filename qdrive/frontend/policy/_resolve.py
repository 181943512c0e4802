"""Where an image name leads, decided by the kernel from a descriptor of the allowed directory.

A string function such as ``os.path.realpath`` cannot answer "is this name inside
DIR?": it stops resolving once a resolved prefix passes PATH_MAX, recurses once per
link, and its answer is stale the moment it returns. Here the answer is an open
descriptor instead of a string:

1. :func:`locate` maps the name, as QEMU would read it (relative names against QEMU's
   working directory), onto one allowed directory and the rest of the path. Only
   lexical facts are used (empty and ``.`` components); a name that does not spell
   an allowed directory is outside, whatever the file system says.
2. :func:`open_beneath` opens the rest with ``O_PATH`` beneath a descriptor of that
   directory: ``openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`` where the kernel
   has it (Linux 5.6), else a component-by-component ``O_PATH | O_NOFOLLOW`` walk that
   keeps the same rules. Either way an absolute symlink, a ``..`` above the
   directory and a /proc magic link are refused, nothing outside is ever opened
   (``O_PATH`` opens do not even run a device's open routine), and there is no limit
   but the kernel's own 40 links per lookup, the limit QEMU's open() meets too.
3. :func:`reopen` turns the ``O_PATH`` descriptor into a readable (or writable) one of
   *the same inode* through /proc/self/fd, so what is inspected and handed to QEMU
   is what was resolved, even if the name is changed in between.

The module knows nothing of QEMU or drives: it answers for one name at a time.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import os
import stat
from collections.abc import Iterable, Sequence

import attrs

__all__ = ["Root", "Refused", "locate", "open_beneath", "reopen", "describe", "MAXSYMLINKS"]

MAXSYMLINKS = 40
"""Links the kernel follows in one lookup (include/linux/namei.h); ELOOP past it."""

PATH_MAX = 4096
"""Longest name the kernel takes in one open() (include/uapi/linux/limits.h)."""

# include/uapi/linux/openat2.h
_RESOLVE_NO_XDEV = 0x01
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_BENEATH = 0x08
# The generic syscall table gives openat2 the same number on every architecture.
_SYS_OPENAT2 = 437
_PROC_SUPER_MAGIC = 0x9FA0  # include/uapi/linux/magic.h


class Refused(Exception):
    """The name cannot be resolved to a file inside the allowed directory."""

    def __init__(self, reason: str, code: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errno = code


@attrs.frozen
class Root:
    """One allowed directory: its absolute spelling and its real path, as components."""

    path: str
    spellings: tuple[tuple[str, ...], ...]

    @classmethod
    def of(cls, path: str) -> Root:
        """A root for the absolute directory ``path`` (it must exist and be a directory)."""
        real = os.path.realpath(path)
        names = {_parts(path), _parts(real)}
        return cls(path, tuple(sorted(names, key=len, reverse=True)))


def _parts(path: str) -> tuple[str, ...]:
    return tuple(p for p in path.split("/") if p not in ("", "."))


def locate(name: str, cwd: str, roots: Iterable[Root]) -> tuple[Root, str] | None:
    """The allowed directory ``name`` spells, and the rest of the name below it.

    ``name`` is joined to ``cwd`` when relative (QEMU's own open() resolves it from its
    working directory). None when no allowed directory is a lexical prefix.
    """
    full = name if name.startswith("/") else f"{cwd}/{name}"
    parts = _parts(full)
    # "x/" and "x/." name a directory: keep the slash for the kernel to judge.
    tail = "/" if full.endswith(("/", "/.")) else ""
    best: tuple[Root, str] | None = None
    longest = -1
    for root in roots:
        for spelling in root.spellings:
            n = len(spelling)
            if parts[:n] == spelling and n > longest:
                best, longest = (root, "/".join(parts[n:]) + tail), n
    return best


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


_libc: ctypes.CDLL | None = None
_openat2_works: bool | None = None  # None: not tried yet (no syscall at import time)


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _openat2(dirfd: int, rel: str, flags: int, resolve: int) -> int:
    how = _OpenHow(flags, 0, resolve)
    raw = os.fsencode(rel)
    fd = _c().syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd), ctypes.c_char_p(raw),
                      ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), rel)
    return int(fd)


def open_beneath(dirfd: int, rel: str, *, walk: bool = False, same_mount: bool = True) -> int:
    """An ``O_PATH`` descriptor of ``rel`` resolved beneath the directory ``dirfd``.

    Symlinks are followed as the kernel follows them, but never out of the directory,
    never through an absolute target and never through a /proc magic link; with
    ``same_mount`` never into another mount either (a FUSE filesystem a user mounted
    inside the directory could answer every reader differently). Raises
    :class:`Refused` with the reason. ``walk`` forces the portable walk (tests).
    """
    global _openat2_works
    if len(os.fsencode(rel)) >= PATH_MAX:
        raise Refused("the name is longer than PATH_MAX: QEMU's open() would fail "
                      "(ENAMETOOLONG)", errno.ENAMETOOLONG)
    if not rel or rel.endswith("/"):
        raise Refused("the name is a directory, not an image", errno.EISDIR)
    if not walk and _openat2_works is not False:
        flags = os.O_PATH | os.O_CLOEXEC
        resolve = _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS | (_RESOLVE_NO_XDEV if same_mount
                                                               else 0)
        for _ in range(8):  # EAGAIN: a rename raced the ".." check; the kernel asks to retry
            try:
                fd = _openat2(dirfd, rel, flags, resolve)
                _openat2_works = True
                return fd
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    continue
                if exc.errno in (errno.ENOSYS, errno.EPERM) and _openat2_works is None:
                    _openat2_works = False  # old kernel, or a seccomp filter: walk instead
                    break
                if exc.errno == errno.EXDEV and same_mount and _crosses_mount(dirfd, rel):
                    raise _mount_refusal() from None
                raise _refusal(exc) from None
        else:
            raise Refused("the directory kept changing while it was resolved", errno.EAGAIN)
    return _walk(dirfd, rel, same_mount)


def _crosses_mount(dirfd: int, rel: str) -> bool:
    """Whether the EXDEV came from a mount point (the same lookup succeeds without
    RESOLVE_NO_XDEV) rather than from leaving the directory: only for the message."""
    try:
        fd = _openat2(dirfd, rel, os.O_PATH | os.O_CLOEXEC,
                      _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS)
    except OSError:
        return False
    os.close(fd)
    return True


def _mount_refusal() -> Refused:
    return Refused("it crosses into another mounted filesystem (Policy.untrusted(..., "
                   "allow_mounts=True) accepts that)", errno.EXDEV)


def _mount_id(fd: int) -> int:
    """The mount a descriptor is on (/proc/self/fdinfo: works for O_PATH descriptors)."""
    with open(f"/proc/self/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("mnt_id:"):
                return int(line.split()[1])
    return -1


def _refusal(exc: OSError) -> Refused:
    code = exc.errno or errno.EIO
    reasons = {
        errno.EXDEV: "it leads out of the allowed directory (an absolute symlink, or '..' "
                     "above it)",
        errno.ELOOP: f"it passes more than {MAXSYMLINKS} symbolic links or a /proc magic "
                     "link",
        errno.ENOENT: "no such file",
        errno.ENOTDIR: "a component of the name is not a directory",
        errno.ENAMETOOLONG: "a component of the name is too long",
        errno.EACCES: "permission denied",
    }
    return Refused(reasons.get(code, os.strerror(code)), code)


def _walk(dirfd: int, rel: str, same_mount: bool = True) -> int:
    """The same rules as openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS[|RESOLVE_NO_XDEV]),
    one component at a time: a stack of directory descriptors, never a string of the
    resolved path."""
    pending = collections.deque(rel.split("/"))
    stack = [os.dup(dirfd)]
    links = 0
    mount = _mount_id(dirfd) if same_mount else None
    try:
        while pending:
            part = pending.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if len(stack) == 1:
                    raise _refusal(OSError(errno.EXDEV, ""))
                os.close(stack.pop())
                continue
            try:
                fd = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=stack[-1])
            except OSError as exc:
                raise _refusal(exc) from None
            if mount is not None and _mount_id(fd) != mount:
                os.close(fd)
                raise _mount_refusal()
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                links += 1
                pending.extendleft(reversed(_link_target(fd, links).split("/")))
                continue
            if all(p in ("", ".") for p in pending):  # the last component
                if pending and not stat.S_ISDIR(mode):  # "name/" must be a directory
                    os.close(fd)
                    raise _refusal(OSError(errno.ENOTDIR, ""))
                return fd
            if not stat.S_ISDIR(mode):
                os.close(fd)
                raise _refusal(OSError(errno.ENOTDIR, ""))
            stack.append(fd)
        return os.dup(stack[-1])  # only "." and ".." components: a directory
    finally:
        for fd in stack:
            os.close(fd)


def _link_target(fd: int, links: int) -> str:
    try:
        if links > MAXSYMLINKS:
            raise _refusal(OSError(errno.ELOOP, ""))
        if _fs_type(fd) == _PROC_SUPER_MAGIC:  # /proc links jump, whatever they spell
            raise _refusal(OSError(errno.ELOOP, ""))
        target = os.readlink("", dir_fd=fd)
    finally:
        os.close(fd)
    if target.startswith("/"):
        raise _refusal(OSError(errno.EXDEV, ""))
    return target


def _fs_type(fd: int) -> int:
    buf = ctypes.create_string_buffer(256)  # struct statfs; f_type is its first member
    if _c().fstatfs(ctypes.c_int(fd), buf) != 0:
        return 0
    return int(ctypes.c_long.from_buffer(buf).value)


def reopen(opath_fd: int, flags: int) -> int:
    """A descriptor with ``flags`` of the inode ``opath_fd`` refers to (never another one).

    /proc/self/fd/N is a magic link to the open inode itself, not to its name, so a
    rename or a swapped symlink after the resolution changes nothing here.
    """
    flags |= os.O_CLOEXEC | os.O_NOCTTY
    return os.open(f"/proc/self/fd/{opath_fd}", flags)


def describe(st: os.stat_result) -> str:
    """What kind of file ``st`` is, in a few words (for refusals)."""
    kinds: Sequence[tuple[int, str]] = (
        (stat.S_IFDIR, "a directory"), (stat.S_IFIFO, "a FIFO"), (stat.S_IFSOCK, "a socket"),
        (stat.S_IFCHR, "a character device"), (stat.S_IFBLK, "a block device"),
        (stat.S_IFLNK, "a symbolic link"), (stat.S_IFREG, "a regular file"))
    fmt = stat.S_IFMT(st.st_mode)
    return next((name for kind, name in kinds if kind == fmt), "an unknown kind of file")
