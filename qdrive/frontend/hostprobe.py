"""What QEMU's open learns from the host: permissions, read-only mounts, O_DIRECT, io_uring,
the file type and other processes' image locks.

check() asks this module (and probe.py for the header) before it predicts a verdict. Nothing
here writes, locks or holds anything: files are opened read-only and closed again, lock
bytes are only *tested* (F_OFD_GETLK), and the user QEMU will run as is judged from owner,
group and mode bits (ACLs, capabilities other than root's and LSMs are not consulted).

Mirrors, for facts only:

* util/osdep.c qemu_open_internal(): an O_DIRECT open failing with EINVAL is retried
  without O_DIRECT, and if that works the message is "filesystem does not support O_DIRECT".
* block/file-posix.c raw_open_common(): open (read-only first when auto-read-only, as
  -drive always sets it, blockdev.c blockdev_init()), then aio=io_uring's ring, then the
  file type ('file' needs a regular file, host_device a character or block device).
* block/file-posix.c raw_check_perm(): when a parent later needs write, the file is
  reopened O_RDWR (the error is qemu_open's "Could not open"), then the lock bytes are
  checked: raw_check_lock_bytes() tests 200+p for every permission p wanted and 100+p for
  every permission not shared, in permission order.
* block.c bdrv_default_perms_for_storage() / _for_cow() and hw/block/block.c
  blkconf_apply_backend_options(): which permissions each layer takes and shares.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import platform
import pwd
import stat
import struct
from collections.abc import Iterator, Sequence

import attrs

from ..model import Aio, Drive, Interface, Media
from .._values import is_true

__all__ = ["QemuUser", "HostFacts", "Perms", "open_problem", "io_uring_usable",
           "io_uring_refusal", "file_type_problem", "host_facts", "file_facts",
           "perms_at_open", "perms_at_attach", "perm_problem", "PROTOCOLS", "Intent",
           "protocol_of", "vfio_container_problem", "unix_connect_problem", "has_data",
           "direct_alignment", "udmabuf_problem"]

# Permission bit numbers (include/block/block-common.h BLK_PERM_*) and their names as
# block.c bdrv_perm_names() spells them; lock byte 100+p = "holds p", 200+p = "refuses p".
CONSISTENT_READ, WRITE, WRITE_UNCHANGED, RESIZE = 0, 1, 2, 3
PERM_NAMES = ("consistent read", "write", "write unchanged", "resize")
ALL = frozenset(range(4))
WRITERS = frozenset({WRITE, WRITE_UNCHANGED, RESIZE})  # raw_reconfigure_getfd has_writers
LOCK_BASES = (100, 200)  # block/file-posix.c RAW_LOCK_PERM_BASE, RAW_LOCK_SHARED_BASE
_F_OFD_GETLK = 36
_FLOCK = "hh4xqqi4x"  # struct flock on x86_64/aarch64 Linux
PROTOCOLS = ("file", "host_device", "host_cdrom")  # the file-posix drivers
# Plain strings: pathlib and the urllib.parse and ipaddress it imports cost a check about
# 16M instructions (callgrind, issue 17), for two sysctl reads.
IO_URING_SYSCTL = "/proc/sys/kernel/io_uring_disabled"
IO_URING_GROUP = "/proc/sys/kernel/io_uring_group"
_IO_URING_SETUP = {"x86_64": 425, "aarch64": 425}  # syscall numbers
VFIO_CONTAINER = "/dev/vfio/vfio"  # util/vfio-helpers.c qemu_vfio_init_pci()


PATH_MAX = 4096  # Linux, with the terminating NUL
MAX_UID = (1 << 32) - 1  # (uid_t)-1 means "no change" to the kernel: not a user


def _named(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@attrs.frozen
class QemuUser:
    """The user QEMU runs as: uid, primary gid and supplementary groups."""

    uid: int
    gid: int
    groups: frozenset[int]

    @classmethod
    def of(cls, who: int | str) -> QemuUser:
        """A user by name or uid (a uid without a passwd entry has only its own gid)."""
        if isinstance(who, str) and who.isdigit() and not _named(who):
            who = int(who)
        if isinstance(who, bool) or not isinstance(who, int | str):
            raise TypeError(f"qemu_user must be a user name or a uid, not {who!r}")
        if isinstance(who, int) and not 0 <= who < MAX_UID:
            raise ValueError(f"qemu_user: {who} is not a uid (0 to {MAX_UID - 1})")
        try:
            entry = pwd.getpwnam(who) if isinstance(who, str) else pwd.getpwuid(who)
        except (KeyError, ValueError):  # ValueError: a NUL in the name
            if isinstance(who, str):
                raise ValueError(f"qemu_user: no user named {who!r}") from None
            return cls(who, who, frozenset({who}))
        groups = frozenset(os.getgrouplist(entry.pw_name, entry.pw_gid))
        return cls(entry.pw_uid, entry.pw_gid, groups | {entry.pw_gid})

    def may(self, st: os.stat_result, bit: int) -> bool:
        """Mode bits alone: may this user read (4), write (2) or search/execute (1)?"""
        if self.uid == 0:  # root: everything but executing a file no one may execute
            return bit != 1 or stat.S_ISDIR(st.st_mode) or bool(st.st_mode & 0o111)
        if st.st_uid == self.uid:
            shift = 6
        elif st.st_gid in self.groups:
            shift = 3
        else:
            shift = 0
        return bool((st.st_mode >> shift) & bit)


@attrs.frozen
class Perms:
    """Permissions one opener takes on the image file and those it refuses to share."""

    take: frozenset[int]
    refuse: frozenset[int]

    def covers(self, other: Perms) -> bool:
        return other.take <= self.take and other.refuse <= self.refuse


@attrs.frozen
class HostFacts:
    """What a drive's later permission changes will meet on the host."""

    name: str  # bs->filename, as QEMU prints it
    write_error: str  # why QEMU's user cannot open the file O_RDWR ("" when it can)
    held: frozenset[int]  # permissions other processes hold (their bytes 100+p)
    refused: frozenset[int]  # permissions other processes refuse to share (200+p)
    locking: bool  # file.locking is not off


# -- opening ------------------------------------------------------------------------------


def open_problem(name: str, user: QemuUser | None, *, direct: bool, write: bool,
                 own_error: str) -> str | None:
    """The text after "Could not open 'NAME': " for QEMU's first open, or None if it opens.

    ``own_error`` is what our own read-only open (probe.py) met; ``write`` asks for O_RDWR
    (auto-read-only=off), ``direct`` for O_DIRECT. "" means QEMU blocks in open() for
    ever (a FIFO without a writer), so it prints nothing.
    """
    if len(os.fsencode(name)) >= PATH_MAX:  # getname() refuses it before any lookup
        return os.strerror(errno.ENAMETOOLONG)
    if user is not None and _search_denied(name, user):
        return os.strerror(errno.EACCES)
    try:
        st = os.stat(name)
    except (OSError, ValueError):
        return own_error or os.strerror(errno.ENOENT)
    if user is not None and not user.may(st, 4):
        return os.strerror(errno.EACCES)
    if write:
        denied = write_error(name, st, user)
        if denied:
            return denied
    if stat.S_ISFIFO(st.st_mode):
        return ""  # open(O_RDONLY) of a FIFO waits for a writer; QEMU never gets further
    if own_error:
        return own_error
    if direct and not _direct_ok(name):
        return "filesystem does not support O_DIRECT"
    return None


def write_error(name: str, st: os.stat_result, user: QemuUser | None) -> str:
    """Why an O_RDWR open would fail: a directory (fs/namei.c may_open() refuses a write
    open of one first), a read-only mount (the kernel checks the superblock before the
    mode bits), then the mode bits of QEMU's user."""
    if stat.S_ISDIR(st.st_mode):
        return os.strerror(errno.EISDIR)
    try:
        if os.statvfs(name).f_flag & os.ST_RDONLY and not _is_device(st):
            return os.strerror(errno.EROFS)
    except OSError:
        return ""
    if user is not None:
        return "" if user.may(st, 2) else os.strerror(errno.EACCES)
    return "" if os.access(name, os.W_OK) else os.strerror(errno.EACCES)


def _is_device(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)


def _search_denied(name: str, user: QemuUser) -> bool:
    """Does the path walk to ``name`` meet a folder QEMU's user may not search?"""
    cur = "/" if name.startswith("/") else os.getcwd()
    parts = [p for p in name.split("/") if p not in ("", ".")]
    try:
        for part in parts[:-1]:
            if not user.may(os.stat(cur), 1):
                return True
            cur = os.path.realpath(os.path.join(cur, part))
            if not os.path.isdir(cur):
                return False  # ENOENT / ENOTDIR: the kernel's own error comes first
        return not user.may(os.stat(cur), 1)
    except (OSError, ValueError):  # the walk itself fails: the kernel's error it is
        return False


def _direct_ok(name: str) -> bool:
    """An O_DIRECT open, as qemu_open() makes it (EINVAL: the filesystem refuses it)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        return exc.errno != errno.EINVAL
    os.close(fd)
    return True


def direct_alignment(name: str) -> int | None:
    """The request alignment block/file-posix.c raw_probe_alignment() finds for an
    O_DIRECT descriptor of a regular file: the first of 1, 512, 1024, 2048 and 4096 bytes
    that an O_DIRECT read at offset 0 accepts (1 means none is needed: the page size, at
    least MAX_BLOCKSIZE 4096, is taken); None when it cannot be told (a device, whose
    BLKSSZGET ioctl QEMU asks first; no O_DIRECT; no file)."""
    import mmap

    try:
        if not stat.S_ISREG(os.stat(name).st_mode):
            return None
        fd = os.open(name, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC | os.O_NONBLOCK)
    except (OSError, ValueError):
        return None
    page = max(4096, mmap.PAGESIZE)
    buf = mmap.mmap(-1, page)  # page-aligned, as qemu_memalign() gives it
    try:
        for align in (1, 512, 1024, 2048, 4096):
            try:
                os.preadv(fd, [memoryview(buf)[:align]], 0)
            except OSError as exc:
                if exc.errno == errno.EINVAL:
                    continue
                return None
            return page if align == 1 else align
        return None
    finally:
        buf.close()
        os.close(fd)


# -- after the open: io_uring, the file type ----------------------------------------------


def io_uring_usable(user: QemuUser | None) -> bool:
    """Can QEMU's user set up an io_uring ring (block/io_uring.c luring_init())?"""
    return not io_uring_refusal(user)


def io_uring_refusal(user: QemuUser | None) -> str:
    """Why QEMU's user cannot set up an io_uring ring (strerror), "" when it can.

    kernel.io_uring_disabled (Linux 6.6+): 2 refuses everyone, 1 everyone but root and
    members of kernel.io_uring_group (EPERM, kernel io_uring/io_uring.c
    io_uring_allowed()). Then a real io_uring_setup() by this process tells whether the
    kernel has io_uring at all (a seccomp filter or an old kernel: its errno)."""
    try:
        disabled = _read_int(IO_URING_SYSCTL)
    except (OSError, ValueError):
        disabled = 0
    uid = os.geteuid() if user is None else user.uid
    if disabled >= 2:
        return os.strerror(errno.EPERM)
    if disabled == 1 and uid != 0:
        groups = set(os.getgroups()) | {os.getegid()} if user is None else user.groups
        try:
            allowed = _read_int(IO_URING_GROUP)
        except (OSError, ValueError):
            allowed = -1
        if allowed not in groups:
            return os.strerror(errno.EPERM)
    return _ring_setup_error()


def _read_int(path: str) -> int:
    with open(path, encoding="ascii") as f:
        return int(f.read())


def _ring_setup_error() -> str:
    number = _IO_URING_SETUP.get(platform.machine())
    if number is None:
        return ""  # cannot try here: assume the kernel has it
    import ctypes  # only when aio=io_uring is asked for

    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
    fd = libc.syscall(number, 1, params)
    if fd < 0:
        return os.strerror(ctypes.get_errno() or errno.ENOSYS)
    os.close(fd)
    return ""


def has_data(name: str) -> bool:
    """Whether the file has data outside holes (lseek SEEK_DATA, as block/file-posix.c
    find_allocation() asks for bdrv_block_status()); true when the host cannot say."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except (OSError, ValueError):
        return False
    try:
        os.lseek(fd, 0, os.SEEK_DATA)
    except OSError as exc:
        return exc.errno != errno.ENXIO  # ENXIO: nothing but holes up to the end
    finally:
        os.close(fd)
    return True


def vfio_container_problem(qemu_open: bool = False) -> str:
    """Why the nvme driver's first step fails, or "" (util/vfio-helpers.c
    qemu_vfio_init_pci(): open("/dev/vfio/vfio", O_RDWR) before anything about the PCI
    device; ``qemu_open``: the release opens it with qemu_open(), worded as such, see
    Dialect.vfio_qemu_open). Judged by a stat, without opening the container: a missing
    node (no vfio module) is ENOENT. A container that exists is not judged further (its
    API version, the IOMMU type and the device's group need VFIO ioctls), nor is QEMU's
    user's access to it."""
    try:
        os.stat(VFIO_CONTAINER)
    except OSError as exc:
        why = os.strerror(exc.errno or errno.ENOENT)
        if qemu_open:
            return f"Could not open '{VFIO_CONTAINER}': {why}"
        return f"Failed to open {VFIO_CONTAINER}: {why}"
    return ""


UDMABUF = "/dev/udmabuf"


def udmabuf_problem() -> str:
    """Why ui/udmabuf.c udmabuf_fd()'s open("/dev/udmabuf", O_RDWR) fails (strerror), or
    "" when it would open; judged by stat and access(R_OK|W_OK), without opening the
    device (a missing node, no udmabuf module, is ENOENT). A fixed host file, never one
    a command line names."""
    try:
        os.stat(UDMABUF)
    except OSError as exc:
        return os.strerror(exc.errno or errno.ENOENT)
    if not os.access(UDMABUF, os.R_OK | os.W_OK):
        return os.strerror(errno.EACCES)
    return ""


def unix_connect_problem(path: str) -> str:
    """Why connect() to the Unix socket ``path`` fails (util/qemu-sockets.c
    unix_connect_saddr(), for nbd's server.path), judged without connecting: a missing
    name is ENOENT, a name that is not a socket ECONNREFUSED; "" for a socket, whose
    listener qdrive does not ask."""
    if not path:  # an empty sun_path names no file: the kernel refuses the connection
        return os.strerror(errno.ECONNREFUSED)
    try:
        st = os.stat(path)
    except OSError as exc:
        return os.strerror(exc.errno or errno.ENOENT)
    if not stat.S_ISSOCK(st.st_mode):
        return os.strerror(errno.ECONNREFUSED)
    return ""


def protocol_of(drive: Drive, device: bool) -> str:
    """The file-posix driver QEMU picks: file.driver=, format= naming one, else block.c
    bdrv_find_protocol() -> find_hdev_driver(): a device node gets host_device."""
    named = drive.driver_options.get("file.driver")
    if named in PROTOCOLS:
        return named
    if drive.format in PROTOCOLS:
        return drive.format
    prefix = (drive.file or "").partition(":")[0]
    if prefix in PROTOCOLS and ":" in (drive.file or ""):  # file=host_cdrom:NAME
        return prefix
    return "host_device" if device else "file"


_CDROM_DRIVE_STATUS, _CDS_DISC_OK = 0x5326, 4  # linux/cdrom.h


def opens_cdrom(drive: Drive) -> bool:
    """Whether the drive opens its image (DriveResult.image) with host_cdrom."""
    return drive.format == "host_cdrom" or drive.driver_options.get(
        "file.driver") == "host_cdrom" or bool(drive.file and drive.file.startswith(
            "host_cdrom:"))


def cdrom_empty(name: str) -> bool:
    """block/file-posix.c cdrom_is_inserted(): host_cdrom has a medium only when the
    CDROM_DRIVE_STATUS ioctl says a disc is in (a device of another kind has none)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError):
        return False  # the open reports it
    try:
        return fcntl.ioctl(fd, _CDROM_DRIVE_STATUS, 0) != _CDS_DISC_OK
    except OSError:
        return True
    finally:
        os.close(fd)


def file_type_problem(name: str, protocol: str) -> str:
    """raw_open_common(): the file type must fit the driver ("" when it does)."""
    try:
        st = os.stat(name)
    except (OSError, ValueError):
        return ""
    if protocol == "file" and not stat.S_ISREG(st.st_mode):
        return f"'file' driver requires '{name}' to be a regular file"
    if protocol != "file" and not _is_device(st):
        return f"'{protocol}' driver requires '{name}' to be either a character or block device"
    return ""


# -- permissions and other processes' locks -----------------------------------------------


def host_facts(name: str, drive: Drive, user: QemuUser | None) -> HostFacts | None:
    """The write access and other processes' locks a drive's image meets."""
    return file_facts(name, _locking(drive), user)


def file_facts(name: str, locking: bool, user: QemuUser | None) -> HostFacts | None:
    """The same for a file a protocol node opened (-blockdev: its locking= option)."""
    try:
        st = os.stat(name)
    except (OSError, ValueError):
        return None
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
        return None
    held, refused = _others_locks(name) if locking else (frozenset(), frozenset())
    return HostFacts(name, write_error(name, st, user), held, refused, locking)


def _locking(drive: Drive) -> bool:
    opts = drive.driver_options
    key = "locking" if drive.format in PROTOCOLS else "file.locking"
    return opts.get(key, "auto") != "off"


def _others_locks(name: str) -> tuple[frozenset[int], frozenset[int]]:
    """QEMU's lock bytes other open file descriptions hold, tested, never taken."""
    held: set[int] = set()
    refused: set[int] = set()
    with _opened(name) as fd:
        if fd is None:
            return frozenset(), frozenset()
        for p in ALL:
            for base, found in zip(LOCK_BASES, (held, refused), strict=True):
                probe = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, base + p, 1, 0)
                try:
                    answer = fcntl.fcntl(fd, _F_OFD_GETLK, probe)
                except OSError:  # no OFD locks here: QEMU's locking=auto is then off
                    return frozenset(), frozenset()
                if struct.unpack(_FLOCK, answer)[0] != fcntl.F_UNLCK:
                    found.add(p)
    return frozenset(held), frozenset(refused)


@contextlib.contextmanager
def _opened(name: str) -> Iterator[int | None]:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


def _metadata_format(fmt: str | None) -> bool:
    """A format node whose file child holds metadata (everything but raw and protocols)."""
    return fmt not in (None, "raw", *PROTOCOLS)


def _raw_data_child(drive: Drive) -> bool:
    """block/raw-format.c raw_open(): with offset= or size= the file is a data child,
    not a filtered one (so the file may not be resized under it)."""
    return any(k in drive.driver_options for k in ("offset", "size"))


def _image_perms(drive: Drive, fmt: str | None, parent: Perms) -> Perms:
    """What the image's format layer passes to the file, given its parent's perms."""
    take, refuse = set(parent.take), set(parent.refuse)
    if _metadata_format(fmt):  # bdrv_default_perms_for_storage(), METADATA child
        take.add(CONSISTENT_READ)
        if not drive.effective_read_only and not drive.snapshot:
            take |= {WRITE, RESIZE}
        refuse |= {WRITE, RESIZE}
    elif fmt == "raw" and _raw_data_child(drive):
        refuse.add(RESIZE)
    if drive.force_share:  # block.c bdrv_child_perm(): force-share shares everything
        refuse = set()
    return Perms(frozenset(take), frozenset(refuse))


def _through_overlay(drive: Drive, parent: Perms) -> Perms:
    """snapshot=on: the image is the temporary overlay's backing file (a COW child)."""
    if not drive.snapshot:
        return parent
    refuse = set() if WRITE not in parent.refuse else {WRITE, RESIZE}
    return Perms(parent.take & {CONSISTENT_READ}, frozenset(refuse))


def perms_at_open(drive: Drive, fmt: str | None) -> Perms:
    """At -drive time: blockdev_init()'s BlockBackend reads and shares everything
    (block-backend.c blk_new_open() without BDRV_O_RDWR in its flags)."""
    bb = Perms(frozenset({CONSISTENT_READ}), frozenset())
    return _image_perms(drive, fmt, _through_overlay(drive, bb))


def device_perms(drive: Drive, iface: Interface) -> Perms | None:
    """The device's permissions (hw/block/block.c blkconf_apply_backend_options(): no
    device shares write; hw/ide/qdev.c: an IDE disk and virtio-blk share resize, a CD and
    a floppy do not; hw/block/pflash_cfi01.c shares everything). None: no device."""
    ro = drive.effective_read_only and not drive.snapshot
    write = frozenset() if ro else frozenset({WRITE})
    read = frozenset({CONSISTENT_READ})
    if iface is Interface.VIRTIO:
        return Perms(read | write, frozenset({WRITE}))
    if iface is Interface.IDE:
        if drive.media is Media.CDROM:
            return Perms(read, frozenset({WRITE, RESIZE}))
        return Perms(read | {WRITE}, frozenset({WRITE}))
    if iface is Interface.FLOPPY:
        return Perms(read | write, frozenset({WRITE, RESIZE}))
    if iface is Interface.PFLASH:
        return Perms(read | write, frozenset())
    return None


def perms_at_attach(drive: Drive, fmt: str | None, iface: Interface) -> Perms | None:
    """Once the device is attached: its permissions, through the overlay and the format."""
    dev = device_perms(drive, iface)
    if dev is None:
        return None
    return _image_perms(drive, fmt, _through_overlay(drive, dev))


def perm_problem(facts: HostFacts, perms: Perms, before: Perms | None) -> tuple[str, str] | None:
    """(message, detail) of QEMU's error when the file's perms become ``perms``.

    ``before`` is what the file already had (None: it is being opened): no change, no
    check (raw_handle_perm_lock() RAW_PL_PREPARE returns early)."""
    if before is not None and before.covers(perms):
        return None
    if perms.take & WRITERS and (before is None or not before.take & WRITERS):
        if facts.write_error:
            return f"Could not open '{facts.name}': {facts.write_error}", ""
    if not facts.locking:
        return None
    hint = f"Is another process using the image [{facts.name}]?"
    for p in sorted(perms.take):
        if p in facts.refused:
            return f'Failed to get "{PERM_NAMES[p]}" lock', hint
    for p in sorted(perms.refuse):
        if p in facts.held:
            return f'Failed to get shared "{PERM_NAMES[p]}" lock', hint
    return None


# -- what the drive asks of the open ------------------------------------------------------


@attrs.frozen
class Intent:
    """How QEMU's first open of the image will be made."""

    direct: bool  # O_DIRECT (cache.direct=on, cache=none or directsync)
    io_uring: bool  # aio=io_uring: the ring is set up right after the open
    write: bool  # O_RDWR at once: auto-read-only=off on a writable drive

    @classmethod
    def of(cls, drive: Drive | None, items: Sequence[tuple[str, str]]) -> Intent:
        """From the Drive, or, when a later option failed, from the options (key, value)
        QEMU holds at the open (the Conversion's ``open_options``)."""
        if drive is not None:
            writable = not drive.effective_read_only and not drive.snapshot
            return cls(drive.cache_triple[1], drive.aio is Aio.IO_URING,
                       writable and drive.auto_read_only is False)
        last = {k: v for k, v in items}
        direct = last.get("cache") in ("none", "directsync")
        if "cache.direct" in last:
            direct = is_true(last["cache.direct"])
        writable = not any(is_true(last.get(k, "off")) for k in ("read-only", "snapshot"))
        writable = writable and last.get("media") != "cdrom"
        return cls(direct, last.get("aio") == "io_uring",
                   writable and last.get("auto-read-only") in ("off", "no", "false", "n"))


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
