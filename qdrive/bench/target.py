"""Where `qdrive bench` reads and writes: a target it made itself, or one the user gave up.

The rules, in the order :class:`TargetSession` applies them (every refusal is a
:class:`TargetError`, exit code 2, raised before a byte of the target is written):

1. The drive must name a local raw image: no protocol (``nbd:``, ``json:`` ...), no
   ``file.driver`` other than the file-posix ones, no format but raw, no ``snapshot=on``
   (its overlay is not what a benchmark measures), not read-only for a write workload.
2. A path that does not exist is created here (O_EXCL: never someone else's file),
   allocated to ``--size`` and written once; it is removed afterwards, also on Ctrl-C,
   SIGTERM, SIGHUP and any error during preparation or the run (``--keep`` keeps it
   after a run that completed).
3. An existing path must be a regular file or a block device whose header says raw (read
   with a read-only descriptor first). A read workload needs no consent: every device
   opens it O_RDONLY, so the kernel itself refuses any write, and nothing is prefilled.
   A write workload needs ``--yes-destroy-data``; a block device the kernel has claimed
   (mounted, swap, RAID/LVM member: O_EXCL fails with EBUSY) is refused even then.
4. The target is then opened through the driver, which takes QEMU's image lock
   (block/file-posix.c raw_check_lock_bytes()/raw_apply_lock_bytes(), see imagelock):
   an image a running QEMU holds is refused here, before anything is written. The header
   is read again under the lock, and the lock is held until the end, across every row
   and every fio run (the rows open with file.locking=off because this lock covers them).
5. An existing target is never grown. Without ``--size`` the workload spans the whole
   target; a ``--size`` larger than the target is refused rather than silently shrunk,
   because the figures of a smaller span (more cache hits, shorter seeks) are not the
   ones asked for; a smaller ``--size`` spans the first ``--size`` bytes.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from typing import Any

import attrs

from .signals import interrupts
from ..options import FILE_POSIX_DRIVERS, PROTOCOL_PREFIXES
from ..block.driver import DriverError, RawDevice
from ..block.driver import open as open_device
from ..block._imagelock import ImageLocked
from ..model import Drive
from ..block.plan import OpenPlan, plan_open
from ..probe import MAGIC, probe_file

__all__ = ["TargetError", "Target", "TargetSession", "WRITE_WORKLOADS", "DEFAULT_SIZE"]

WRITE_WORKLOADS = frozenset({"write", "randwrite", "randrw"})
DEFAULT_SIZE = 4 << 30  # a new target's size when --size is not given
_RAW_FORMATS = frozenset({"raw"}) | FILE_POSIX_DRIVERS
_PREFILL_CHUNK = 1 << 20
_PROGRESS_EVERY = 64 << 20


class TargetError(ValueError):
    """bench will not use this target as asked; the message says what to do instead."""


@attrs.frozen
class Target:
    """The target of a run, prepared and locked."""

    path: str
    length: int  # bytes the workload spans
    created: bool  # made by this run (removed at the end)
    block_device: bool
    read_only: bool  # the workload only reads: every device opens it O_RDONLY

    def plan(self, drive: Drive) -> OpenPlan:
        """The plan a benchmark row opens ``drive`` with: the drive's own cache mode and
        flags, without a second lock (the session holds QEMU's lock for the whole run; a
        second writer lock from this process would conflict with it) and read-only for a
        read workload."""
        plan = attrs.evolve(plan_open(drive), locking="off")
        if self.read_only:
            plan = attrs.evolve(plan, read_only=True,
                                open_flags=_access(plan.open_flags, write=False))
        return plan

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


class TargetSession:
    """``with TargetSession(drive, ...) as target:`` prepare, lock, and always clean up.

    ``removed`` tells afterwards whether a target created here was deleted.
    """

    def __init__(self, drive: Drive, *, rw: str, bs: int, size: int | None,
                 destroy_ok: bool = False, keep: bool = False,
                 progress: Callable[[str], None] | None = None) -> None:
        self.drive, self.rw, self.bs, self.size = drive, rw, bs, size
        self.destroy_ok, self.keep, self.progress = destroy_ok, keep, progress
        self.writes = rw in WRITE_WORKLOADS
        self.path = _local_path(drive)
        self.removed = False
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of a file made here
        self._guard: RawDevice | None = None
        self._completed = False

    # -- entering: steps 1-5 of the module docstring ------------------------------------
    def __enter__(self) -> Target:
        try:
            return self._prepare()
        except BaseException:
            self._cleanup()
            raise

    def _prepare(self) -> Target:
        _check_drive(self.drive, self.path, self.writes)
        st = _stat(self.path)
        if st is None:
            return self._new_target()
        return self._existing_target(st)

    def _new_target(self) -> Target:
        size = DEFAULT_SIZE if self.size is None else self.size
        _check_span(size, self.bs)
        with interrupts.deferred():  # the file and the note to remove it come together
            fd = _create(self.path)
            st = os.fstat(fd)
            self._identity = (st.st_dev, st.st_ino)
        try:
            _allocate(fd, self.path, size)
        finally:
            os.close(fd)
        guard = self._lock(write=True)
        if size % guard.request_alignment:  # the prefill's last write would be partial
            a = guard.request_alignment
            raise TargetError(f"--size {size} is not a multiple of {self.path}'s {a}-byte "
                              f"O_DIRECT alignment: give --size {size // a * a or a}")
        self._prefill(guard, size)
        return Target(self.path, size, True, False, not self.writes)

    def _existing_target(self, st: os.stat_result) -> Target:
        block = stat.S_ISBLK(st.st_mode)
        if not block and not stat.S_ISREG(st.st_mode):
            raise TargetError(f"{self.path} is neither a regular file nor a block device: "
                              "name a raw image, a block device, or a new file")
        _check_header_probe(self.path)
        if self.writes and not self.destroy_ok:
            raise TargetError(f"{self.path} exists and --rw {self.rw} would overwrite its "
                              "data: pass --yes-destroy-data if that is what you want, or "
                              "name a file that does not exist yet")
        if self.writes and plan_open(self.drive).locking == "off":
            raise TargetError(f"file.locking=off would let bench write {self.path} while a "
                              "running QEMU uses it: drop file.locking=off")
        if self.writes and block:
            _check_unclaimed(self.path)
        guard = self._lock(write=self.writes)
        with interrupts.deferred():
            _check_header(guard)  # again, now that nobody else can take the image
        length = guard.length
        span = length if self.size is None else self.size
        if span > length:
            raise TargetError(f"{self.path} is {length} bytes and bench never grows an "
                              f"existing target: give --size {length} or less (or no "
                              "--size to use all of it)")
        _check_span(span, self.bs, self.path if self.size is None else "")
        return Target(self.path, span, False, block, not self.writes)

    def _lock(self, *, write: bool) -> RawDevice:
        """Open the guard device: the driver checks the format and takes QEMU's lock."""
        with interrupts.deferred():
            self._guard = _open_guard(self.drive, self.path, write)
            _check_alignment(self._guard, self.bs)
            return self._guard

    def _prefill(self, guard: RawDevice, size: int) -> None:
        # A freshly allocated extent is 0.5-0.7x slower to write until it has been
        # written once (perf-baseline.md): write it all, as fio lays out its files.
        chunk = guard.buffer(_PREFILL_CHUNK)
        with interrupts.deferred():  # Ctrl-C is taken between chunks, never inside one
            for off in range(0, size, _PREFILL_CHUNK):
                interrupts.checkpoint()
                if self.progress and off % _PROGRESS_EVERY == 0:
                    self.progress(f"preparing {self.path}: {off >> 20} / {size >> 20} MiB")
                guard.pwrite(chunk[: min(_PREFILL_CHUNK, size - off)], off)
            guard.flush()

    # -- leaving ------------------------------------------------------------------------
    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._completed = kind is None
        self._cleanup()

    def _cleanup(self) -> None:
        with interrupts.deferred():  # a second Ctrl-C does not cut the cleanup short
            try:
                if self._guard is not None:
                    self._guard.close()
                    self._guard = None
            finally:
                if self._identity is not None and not (self.keep and self._completed):
                    self.removed = _remove_if_same(self.path, self._identity)
                    self._identity = None


# -- the drive string (step 1) ------------------------------------------------------------
def _local_path(drive: Drive) -> str:
    if not drive.file:
        raise TargetError("bench needs a drive with file=PATH (a raw image, a block device "
                          "or a new file to create)")
    return drive.file


def _check_drive(drive: Drive, path: str, writes: bool) -> None:
    colon, slash = path.find(":"), path.find("/")
    if colon > 0 and not 0 <= slash < colon:  # block.c bdrv_find_protocol()
        prefix = path[:colon]
        what = f"the {prefix} protocol" if prefix in PROTOCOL_PREFIXES else "a protocol"
        raise TargetError(f"file={path} names {what}: bench measures local files and "
                          f"block devices only (write ./{path} for a file of that name)")
    driver = drive.driver_options.get("file.driver")
    if driver is not None and driver not in FILE_POSIX_DRIVERS:
        raise TargetError(f"file.driver={driver}: bench measures local files and block "
                          "devices only (file, host_device)")
    if drive.format is not None and drive.format not in _RAW_FORMATS:
        raise TargetError(f"format={drive.format}: bench measures raw images only; "
                          "benchmark a raw copy (qemu-img convert -O raw)")
    if drive.snapshot:
        raise TargetError("snapshot=on sends writes to a temporary overlay bench does not "
                          "emulate: drop snapshot=on")
    if writes and drive.effective_read_only:
        raise TargetError("the drive is read-only (read-only=on or media=cdrom): give "
                          "--rw read or randread, or drop read-only")


# -- an existing target (steps 3-5) -----------------------------------------------------
def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise TargetError(f"{path} is a symbolic link to nothing: name the image "
                              "itself, or a new file") from None
        return None
    except OSError as exc:
        raise TargetError(f"cannot look at {path}: {exc.strerror}") from None


def _check_header_probe(path: str) -> None:
    found = probe_file(path)  # a read-only descriptor, the first 2 KiB
    if found.error:
        raise TargetError(f"cannot read {path}: {found.error}")
    if found.format != "raw":
        raise TargetError(_not_raw(path, found.format))


def _check_header(guard: RawDevice) -> None:
    head = guard.pread(min(512, guard.length), 0) if guard.length else b""
    fmt = next((name for magic, name in MAGIC if head.startswith(magic)), "raw")
    if fmt != "raw":
        raise TargetError(_not_raw(guard.path, fmt))


def _not_raw(path: str, fmt: str | None) -> str:
    return (f"{path} is a {fmt} image and bench measures raw images only: benchmark a "
            f"raw copy (qemu-img convert -O raw {path} COPY)")


def _check_unclaimed(path: str) -> None:
    # Linux: O_EXCL on a block device fails with EBUSY while a filesystem, swap or a
    # device-mapper/md array holds it (fs/block_dev.c blkdev_get_by_dev(FMODE_EXCL)).
    try:
        fd = os.open(path, os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            raise TargetError(f"{path} is in use by the kernel (mounted, swap, or part of "
                              "a RAID or LVM volume): unmount or release it first") from None
        raise TargetError(f"cannot open {path}: {exc.strerror}") from None
    os.close(fd)


def _check_span(span: int, bs: int, path: str = "") -> None:
    if span < bs:
        what = f"{path} is {span} bytes," if path else f"--size {span} is"
        raise TargetError(f"{what} less than one --bs block ({bs}): give a larger "
                          "target or a smaller --bs")


def _check_alignment(guard: RawDevice, bs: int) -> None:
    a = guard.request_alignment
    if bs % a:
        raise TargetError(f"--bs {bs} is not a multiple of {guard.path}'s {a}-byte "
                          f"O_DIRECT alignment: give --bs {max(a, bs // a * a)} or drop "
                          "cache.direct")


# -- a new target (step 2) -----------------------------------------------------------------
def _create(path: str) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise TargetError(f"{path} appeared while bench was starting: run it again") from None
    except OSError as exc:
        raise TargetError(f"cannot create {path}: {exc.strerror}") from None


def _allocate(fd: int, path: str, size: int) -> None:
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        raise TargetError(f"cannot make a {size}-byte target at {path}: {exc.strerror}; "
                          "give a smaller --size or another place") from None


def _remove_if_same(path: str, identity: tuple[int, int]) -> bool:
    """Unlink ``path`` only if it is still the file created here."""
    try:
        st = os.lstat(path)
        if (st.st_dev, st.st_ino) != identity:
            return False
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


# -- the guard device (step 4) ------------------------------------------------------------
def _access(flags: int, *, write: bool) -> int:
    return (flags & ~os.O_ACCMODE) | (os.O_RDWR if write else os.O_RDONLY)


def _open_guard(drive: Drive, path: str, write: bool) -> RawDevice:
    """A device that holds QEMU's lock for the session and prefills a new target.

    It keeps the drive's O_DIRECT (and so its alignment) but drops O_SYNC and
    write-through: the prefill is flushed once at its end instead of per chunk.
    """
    plan = plan_open(drive)
    flags = _access(plan.open_flags, write=write) & ~os.O_SYNC
    plan = attrs.evolve(plan, read_only=not write, open_flags=flags | os.O_CLOEXEC,
                        writethrough=False, no_flush=False)
    try:
        return open_device(plan, backend="threads", workers=1)
    except ImageLocked as exc:
        reason = str(exc.strerror or exc).split("\n")[0]
        raise TargetError(f"{path} is in use by another process ({reason}): stop the VM or "
                          "program using it, or benchmark a copy") from None
    except DriverError as exc:
        raise TargetError("; ".join((exc.strerror or str(exc)).splitlines())) from None
    except OSError as exc:
        raise TargetError(f"cannot open {path}: {exc.strerror}") from None


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
