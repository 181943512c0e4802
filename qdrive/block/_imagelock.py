"""QEMU 7.2's image locking, so that qdrive and a running QEMU never both write one image.

Mirrors block/file-posix.c raw_apply_lock_bytes() and raw_check_lock_bytes(): one-byte
shared (F_RDLCK) OFD locks, at 100+p for each permission p held and at 200+p for each
permission not shared; conflicts are found with F_OFD_GETLK and a write-lock probe, never
by holding exclusive locks. Permission bits: 0 consistent read, 1 write, 2 write
unchanged, 3 resize.

The order is QEMU's (raw_handle_perm_lock, RAW_PL_PREPARE): take our shared bytes first,
then look for conflicting bytes of others. Checking first and locking afterwards leaves a
window in which two writers both find the image free and both lock it; with the bytes
taken first, of two openers racing, at least one sees the other's bytes. On a conflict the
bytes just taken are released again (RAW_PL_ABORT), so a refused opener blocks no one.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import struct

from ..errors import QDriveError

__all__ = ["ImageLocked", "lock_image", "PERM_NAMES", "ofd_available"]

F_OFD_GETLK, F_OFD_SETLK = 36, 37  # Linux
PERM_NAMES = ("consistent read", "write", "write unchanged", "resize")
_FLOCK = "hh4xqqi4x"  # struct flock on x86_64/aarch64 Linux


class ImageLocked(QDriveError, OSError):
    """Another process (QEMU or qdrive) holds a conflicting lock on the image."""


def _flock(kind: int, start: int) -> bytes:
    return struct.pack(_FLOCK, kind, os.SEEK_SET, start, 1, 0)


def _held_by_other(fd: int, byte: int) -> bool:
    """F_OFD_GETLK with a write-lock probe: is ``byte`` locked by another description?"""
    result = fcntl.fcntl(fd, F_OFD_GETLK, _flock(fcntl.F_WRLCK, byte))
    lock_type: int = struct.unpack(_FLOCK, result)[0]
    return lock_type != fcntl.F_UNLCK


@functools.cache
def ofd_available() -> bool:
    """util/osdep.c qemu_probe_lock_ops(): do OFD locks work here?"""
    try:
        fd = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.fcntl(fd, F_OFD_GETLK, _flock(fcntl.F_WRLCK, 0))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def lock_image(fd: int, path: str, *, write: bool) -> None:
    """Take QEMU's locks for a reader (write=False) or a writer on ``fd``.

    A writer holds consistent read and write and refuses to share write (what a QEMU
    read-write disk does: bytes 100, 101, 201); a reader holds consistent read and refuses
    to share write and resize (a QEMU CD-ROM: 100, 201, 203). Raises :class:`ImageLocked`
    (holding nothing) when another process's locks conflict.
    """
    perms = (0, 1) if write else (0,)
    unshared = (1,) if write else (1, 3)
    taken: list[int] = []
    try:
        # 1. raw_apply_lock_bytes(): our bytes first.
        for byte in [100 + p for p in perms] + [200 + p for p in unshared]:
            _set(fd, fcntl.F_RDLCK, byte, path)
            taken.append(byte)
        # 2. raw_check_lock_bytes(): our permissions against others' refusals ...
        for p in perms:
            if _held_by_other(fd, 200 + p):
                raise _locked(f'Failed to get "{PERM_NAMES[p]}" lock', path)
        # ... and our refusals against others' permissions.
        for p in unshared:
            if _held_by_other(fd, 100 + p):
                raise _locked(f'Failed to get shared "{PERM_NAMES[p]}" lock', path)
    except BaseException:
        for byte in taken:  # 3. RAW_PL_ABORT: give back what we took
            try:
                _set(fd, fcntl.F_UNLCK, byte, path)
            except OSError:
                pass  # closing the descriptor drops them anyway
        raise


def _set(fd: int, kind: int, byte: int, path: str) -> None:
    """util/osdep.c qemu_lock_fcntl(): F_OFD_SETLK on one byte (Python retries EINTR)."""
    try:
        fcntl.fcntl(fd, F_OFD_SETLK, _flock(kind, byte))
    except OSError as exc:
        if kind == fcntl.F_UNLCK or exc.errno not in (errno.EAGAIN, errno.EACCES):
            raise  # not a conflict: a filesystem without locks (the driver decides)
        raise _locked(f"Failed to lock byte {byte}", path, exc.errno) from None


def _locked(message: str, path: str, err: int = errno.EAGAIN) -> ImageLocked:
    return ImageLocked(err, f"{message}\nIs another process using the image [{path}]?")
