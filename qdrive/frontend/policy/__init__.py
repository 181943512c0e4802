"""Policy: what qdrive refuses in drive strings, images and command lines from untrusted users.

Threat model
============

**Who the attacker is.** A user of a launcher (a hosting panel, a CI service, a shared
lab) who writes the ``-drive`` string (or a whole QEMU command line for ``--argv``) and
every byte of every file in the allowed directories: image headers, descriptor texts,
symlinks, hard links, FIFOs, subdirectories. The attacker may change any of them at any
time, also between the check and QEMU's start, and races the checker on purpose.

**What is protected.**

* Files and devices outside the allowed directories: QEMU must not open them, not even
  read-only, and qdrive must not open them either (not even to probe a header).
* The network: QEMU must not connect anywhere (nbd:, http:, ssh:, iscsi:, a chardev or
  netdev socket, a guest NIC with user networking) or listen on a port.
* Other users' images: they live outside this user's allowed directories.
* The host's disk space: ``snapshot=on`` overlays go to a directory the caller names,
  within a size budget (see below); nothing else is created.

**What is trusted.** The caller (the launcher) and its arguments: the allowed
directories themselves and their ancestors, the overlay directory, the device paths it
allows, the QEMU binary and its own files (firmware, modules, libraries), the kernel.

**How it holds.**

1. An allow-list, not a deny-list: a drive may use only the formats the caller names
   (``raw`` and ``qcow2`` by default) over the ``file`` protocol, and only the options
   on :data:`DRIVE_KEYS` and the format's own list; ``host_device``/``host_cdrom`` only
   for devices the caller lists; no protocol prefix, no ``json:``, no other driver, no
   child or filter node (``backing.*``, ``data-file.*``, ``driver=quorum`` ...). An option
   the policy does not know is refused, naming it. In ``--argv`` every QEMU option is
   refused unless :mod:`qdrive.frontend.policy._argv` can judge it.
2. Names are resolved by the kernel from a descriptor of the allowed directory
   (:mod:`._resolve`): no string resolution, no limits but the kernel's own, no
   absolute symlinks, no ``..`` above the directory, no /proc magic links, no other
   filesystem mounted below it (a user's FUSE mount answers each reader as it likes),
   no hard-linked files (a second name of a file outside), no FIFOs, sockets,
   directories or devices.
3. Whole images (:mod:`._inspect`): every header field and extension QEMU's format
   driver reads to find another file, and every file it names, recursively, judged by
   the same rules; a format qdrive cannot inspect is refused, and so is a reference it
   cannot follow (a probed backing format, a protocol name, a loop).
4. The check-to-launch gap is closed only by the descriptor hand-off
   (``check(..., hand_off=True)``): QEMU gets ``-add-fd`` descriptors of the inodes that
   were checked and ``/dev/fdset/N`` names, and every reference an image makes is
   overridden to point at a descriptor too, so a later swap of a name changes nothing.
   A launcher that starts QEMU with the checked *names* instead is exposed to that swap.

**Out of scope, and why.** The guest's own behaviour inside its disk (it owns it);
denial of service by CPU or memory use, or by QEMU refusing an image (QEMU stops, nothing
leaks); bugs in QEMU's image parsers themselves (a malformed qcow2 that crashes QEMU is
QEMU's bug; the policy only decides which files QEMU opens); the caller's own options
outside the user's drive strings; kernels without /proc (the hand-off reopens the
checked inode through /proc/self/fd). ``--offline`` judges the drive string only and
says so: it reads no image.

**Snapshot overlays.** ``snapshot=on`` (and ``-snapshot``) make QEMU write a temporary
qcow2 in ``$TMPDIR`` (``/var/tmp`` by default). They are refused unless the caller names
an overlay directory and a budget in bytes. The budget is enforced statically: each
overlay can grow to at most the image's virtual size plus qcow2 metadata
(:func:`overlay_bound`), the sum over the command line must fit the budget, and the
overlay directory must have that much free space when checked. QEMU itself enforces
nothing, and the sizes are those read at the check: an image grown afterwards (a raw
file extended, a qcow2 size rewritten; a descriptor pins the inode, not its size) can
have a larger overlay. The hand-off sets ``TMPDIR`` for QEMU, a launcher without it must
do so. For a hard limit put the overlay directory on its own filesystem or quota.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import attrs

from ...errors import QDriveError
from ...options import ALIASES, THROTTLE_KEYS

__all__ = ["Policy", "PolicyError", "DEFAULT_FORMATS", "DRIVE_KEYS", "FORMAT_KEYS",
           "overlay_bound"]

DEFAULT_FORMATS = frozenset({"raw", "qcow2"})
"""Formats an untrusted drive may use unless the caller names others."""

# The -drive keys the policy understands (blockdev.c qemu_legacy_drive_opts and
# qemu_common_drive_opts, block.c bdrv_runtime_opts, file-posix.c raw_runtime_opts).
# ``file`` and ``format`` are judged by value; everything here names no other file.
DRIVE_KEYS = frozenset({
    "file", "format", "if", "bus", "unit", "index", "media", "id", "node-name", "snapshot",
    "read-only", "cache", "cache.writeback", "cache.direct", "cache.no-flush", "aio",
    "discard", "detect-zeroes", "werror", "rerror", "copy-on-read", "auto-read-only",
    "force-share", "throttling.group", "stats-account-invalid", "stats-account-failed",
    *THROTTLE_KEYS, *ALIASES,
    # the protocol node under the format: file-posix's own options
    "file.driver", "file.filename", "file.aio", "file.aio-max-batch", "file.locking",
    "file.drop-cache", "file.cache.direct", "file.cache.no-flush", "file.discard",
})

FORMAT_KEYS: Mapping[str, frozenset[str]] = MappingProxyType({
    "raw": frozenset({"offset", "size"}),  # block/raw-format.c raw_runtime_opts
    "qcow2": frozenset({  # block/qcow2.c qcow2_runtime_opts, without encrypt.*
        "lazy-refcounts", "pass-discard-request", "pass-discard-snapshot",
        "pass-discard-other", "overlap-check", "overlap-check.template",
        *(f"overlap-check.{x}" for x in (
            "main-header", "active-l1", "active-l2", "refcount-table", "refcount-block",
            "snapshot-table", "inactive-l1", "inactive-l2", "bitmap-directory")),
        "cache-size", "l2-cache-size", "l2-cache-entry-size", "refcount-cache-size",
        "cache-clean-interval",
    }),
    "qcow": frozenset(), "qed": frozenset(), "vmdk": frozenset(), "vhdx": frozenset(),
    "vpc": frozenset({"force_size"}),
})
"""Each format's own options the policy allows (none names a file)."""

_DEVICE_DRIVERS = frozenset({"host_device", "host_cdrom"})


class PolicyError(QDriveError, ValueError):
    """A Policy that cannot be built as asked (a str for the directories, a relative path)."""


def overlay_bound(virtual_size: int) -> int:
    """The most a snapshot=on overlay of a ``virtual_size`` image can grow to.

    The data itself, one 8-byte L2 entry and one 2-byte refcount per 64 KiB cluster
    (rounded up generously, V/4096), and 4 MiB for the header, L1 and refcount tables
    and cluster rounding (block/qcow2.c, 64 KiB clusters as bdrv_append_temp_snapshot
    creates them).
    """
    return virtual_size + virtual_size // 4096 + (4 << 20)


def _directory(path: object, what: str) -> str:
    if isinstance(path, bytes):
        raise PolicyError(f"{what} must be str paths, not bytes: {path!r}")
    text = os.fspath(path)  # type: ignore[call-overload]
    if not isinstance(text, str) or not text:
        raise PolicyError(f"{what}: an empty directory name allows the working directory; "
                          "give an absolute path")
    if "\0" in text:
        raise PolicyError(f"{what}: {text!r} contains a NUL character")
    if not text.startswith("/"):
        raise PolicyError(f"{what}: {text!r} is relative; give an absolute path")
    if not os.path.isdir(text):
        raise PolicyError(f"{what}: {text!r} is not a directory")
    if os.path.realpath(text) == "/":
        raise PolicyError(f"{what}: {text!r} is the root directory: it would allow every file")
    return text.rstrip("/") or "/"


def _names(values: object, what: str) -> tuple[str, ...]:
    if isinstance(values, str | bytes):
        raise PolicyError(f"{what} takes an iterable of names, not a single {type(values).__name__}"
                          f" (write [{values!r}])")
    if not isinstance(values, Iterable):
        raise PolicyError(f"{what} takes an iterable, not {type(values).__name__}")
    return tuple(values)


def _device(path: object) -> str:
    text = os.fspath(path)  # type: ignore[call-overload]
    if not isinstance(text, str) or not text.startswith("/"):
        raise PolicyError(f"devices: {text!r} is not an absolute path")
    try:
        st = os.stat(text)
    except OSError as exc:
        raise PolicyError(f"devices: {text!r}: {exc.strerror}") from None
    if not stat.S_ISBLK(st.st_mode):
        raise PolicyError(f"devices: {text!r} is not a block device")
    return text


@attrs.frozen
class Policy:
    """What qdrive refuses on top of QEMU's own rules (see the module's threat model).

    ``Policy()`` refuses nothing. ``Policy.untrusted([DIR, ...])`` is the policy for
    drive strings, images and command lines that come from users.
    """

    untrusted_input: bool = False
    allow_dirs: tuple[str, ...] = ()
    formats: frozenset[str] = DEFAULT_FORMATS
    devices: tuple[str, ...] = ()
    allow_hardlinks: bool = False
    overlay_dir: str | None = None
    overlay_budget: int | None = None
    cwd: str | None = None
    allow_mounts: bool = False

    @classmethod
    def untrusted(cls, allow_dirs: Iterable[str], *, formats: Iterable[str] = DEFAULT_FORMATS,
                  devices: Iterable[str] = (), allow_hardlinks: bool = False,
                  overlay_dir: str | None = None, overlay_budget: int | None = None,
                  cwd: str | None = None, allow_mounts: bool = False) -> Policy:
        """The policy for untrusted input.

        ``allow_dirs``: absolute directories images may live in (an iterable: a str is
        refused, it would be read one character at a time). ``formats``: the image
        formats allowed (each must be one qdrive inspects). ``devices``: block devices
        a drive may name (host_device). ``allow_hardlinks``: accept files with more than
        one name. ``overlay_dir`` and ``overlay_budget`` (bytes): allow snapshot=on.
        ``cwd``: QEMU's working directory, for relative names (default: this process's).
        ``allow_mounts``: follow names into filesystems mounted below an allowed
        directory (by default refused: a user's FUSE mount can serve every reader
        different bytes).
        """
        from ._inspect import INSPECTABLE

        dirs = tuple(_directory(d, "allow_dirs") for d in _names(allow_dirs, "allow_dirs"))
        if not dirs:
            raise PolicyError("allow_dirs is empty: name at least one directory images may "
                              "live in")
        fmts = frozenset(_names(formats, "formats"))
        unknown = sorted(f for f in fmts if f not in INSPECTABLE)
        if unknown:
            can = ", ".join(sorted(INSPECTABLE))
            raise PolicyError(f"formats: qdrive cannot inspect {', '.join(unknown)} for the "
                              f"files an image refers to (it can: {can})")
        if (overlay_dir is None) != (overlay_budget is None):
            raise PolicyError("snapshot overlays need both overlay_dir and overlay_budget")
        if overlay_budget is not None and (not isinstance(overlay_budget, int)
                                           or overlay_budget <= 0):
            raise PolicyError(f"overlay_budget must be a positive number of bytes, not "
                              f"{overlay_budget!r}")
        overlay = _directory(overlay_dir, "overlay_dir") if overlay_dir is not None else None
        return cls(True, dirs, fmts, tuple(_device(d) for d in _names(devices, "devices")),
                   bool(allow_hardlinks), overlay, overlay_budget,
                   _directory(cwd, "cwd") if cwd is not None else None, bool(allow_mounts))

    def format_keys(self, fmt: str) -> frozenset[str]:
        """The format's own options this policy allows."""
        return FORMAT_KEYS.get(fmt, frozenset())

    def allows_devices(self) -> bool:
        return bool(self.devices)

    def working_directory(self) -> str:
        """The directory QEMU resolves relative names from."""
        return self.cwd or os.getcwd()

    @property
    def device_drivers(self) -> frozenset[str]:
        """Protocol drivers a drive may name: file, and host_device when devices are allowed."""
        return frozenset({"file"}) | (_DEVICE_DRIVERS if self.devices else frozenset())


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
