"""The descriptor hand-off: QEMU opens exactly the inodes the policy checked.

QEMU's ``-add-fd fd=N,set=S,opaque=TEXT`` puts an inherited descriptor into fd set S,
and any file name ``/dev/fdset/S`` then makes QEMU dup() a descriptor of that set with
the access mode it asks for instead of calling open() (util/osdep.c
qemu_open_internal, monitor/misc.c monitor_fdset_dup_fd_add). A read-write drive is
opened read-only first and reopened read-write when its device attaches, so its set
holds one descriptor of each mode; a read-only drive's set holds only a read-only one.

Every other file an image names is pointed at a set too, with the -drive options that
replace the image's own name (block.c bdrv_open_backing_file keeps the header's name
out once ``backing.file.filename`` is given; block/qcow2.c qcow2_do_open uses an
explicit ``data-file`` child instead of the header's): ``backing.driver=F,
backing.file.filename=/dev/fdset/T`` for a backing file (``backing.backing...`` for
its own), ``data-file.driver=file,data-file.filename=/dev/fdset/U`` for a qcow2
external data file. References no option can replace (vmdk extents) are refused by
the policy when a hand-off is asked for.

Files QEMU reads outside the block layer (``-kernel``, ``-initrd``, ``-bios``) get
``/proc/self/fd/N``: QEMU's open() of that magic link reaches the inherited inode.

``hand_off="proc"`` names every file that way instead of fd sets. QEMU 7.2 keeps the
fd set's descriptions open for ever, so the OFD image locks it puts on a dup() stay
when it closes that dup; a device that reopens its drive read-only and read-write
again (usb-storage does) then meets its own stale lock and fails with 'Failed to get
"write" lock'. A /proc/self/fd/N open is a fresh description each time, so locking
works as with names, while still reaching only the checked inode; it needs /proc in
QEMU's mount namespace and lets QEMU open() (the fd-set mode lets it open nothing).

A launcher passes the descriptors with ``subprocess.Popen([*h.sandbox(), qemu, ...,
*h.argv], pass_fds=h.pass_fds, env={**os.environ, **h.env})`` (numbers are kept across
exec) and closes its own copies afterwards (``h.close()``, or ``with``).

The descriptors pin the checked inodes, not their bytes: a header rewritten between the
check and QEMU's start is read by QEMU as rewritten. Every image node that had no
backing file when checked therefore gets ``backing=`` (none), so a backing name added
later is never opened; an external data file added later cannot be taken away by any
option, which is what :meth:`HandOff.sandbox` (Landlock) is for.
"""

from __future__ import annotations

import fcntl
import os
import stat
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from ._guard import Opened
from ...model import Drive

if TYPE_CHECKING:
    from ._guard import Guard
    from . import Policy

__all__ = ["HandOff", "FdSets", "MODES", "mode_of"]

MODES = ("fdset", "proc")


def mode_of(hand_off: bool | str) -> str | None:
    """The hand-off mode asked for: None (no hand-off), "fdset" (True) or "proc"."""
    if hand_off is False or hand_off is None:
        return None
    if hand_off is True:
        return "fdset"
    if hand_off in MODES:
        return str(hand_off)
    raise ValueError(f"hand_off is True, False, 'fdset' or 'proc', not {hand_off!r}")


def _at_least_3(fd: int) -> int:
    # QEMU refuses fd 0-2 in -add-fd (softmmu/vl.c parse_add_fd): they are its stdio.
    if fd > 2:
        return fd
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    os.close(fd)
    return new


def _opaque(f: Opened, mode: str) -> str:
    text = f"qdrive:{mode}:{f.role}:{f.where}"
    return "".join(c if c.isprintable() and c.isascii() and c != "," else "_" for c in text)


class FdSets:
    """Names checked files for QEMU: fd sets and their -add-fd arguments ("fdset"), or
    /proc/self/fd/N of their O_PATH descriptors ("proc")."""

    def __init__(self, mode: str = "fdset") -> None:
        self.mode = mode
        self.args: list[str] = []
        self.fds: list[int] = []
        self._next = 1

    def add(self, f: Opened) -> str:
        """The name QEMU opens ``f`` by: ``/dev/fdset/S`` (its descriptors join set S)."""
        if self.mode == "proc":
            f.opath = _at_least_3(f.opath)
            self.fds.append(f.opath)
            return f"/proc/self/fd/{f.opath}"
        number = self._next
        self._next += 1
        f.fd = _at_least_3(f.fd)
        pairs = [(f.fd, "ro")]
        if f.writable and f.rw_fd is not None:
            f.rw_fd = _at_least_3(f.rw_fd)
            pairs.append((f.rw_fd, "rw"))
        for fd, mode in pairs:
            self.args += ["-add-fd", f"fd={fd},set={number},opaque={_opaque(f, mode)}"]
            self.fds.append(fd)
        return f"/dev/fdset/{number}"

    def proc_name(self, f: Opened) -> str:
        """``/proc/self/fd/N`` for a file QEMU opens by name outside the block layer."""
        f.fd = _at_least_3(f.fd)
        self.fds.append(f.fd)
        return f"/proc/self/fd/{f.fd}"


def drive_args(drive: Drive | None, files: Sequence[Opened], sets: FdSets) -> list[str]:
    """``-drive`` for ``drive`` with its image and every reference behind fd sets."""
    assert drive is not None
    if not files:
        return drive.to_args()  # an empty drive: no file to hand over
    options = dict(drive.driver_options)
    options.pop("file.filename", None)
    top, *rest = files
    for f in rest:
        assert f.override, f"{f.role} '{f.name}' cannot be handed over"
        name = sets.add(f)
        if f.driver is not None:  # an image node: its own protocol child takes the set
            options[f"{f.override}.driver"] = f.driver
            options[f"{f.override}.file.driver"] = _protocol(f)
            options[f"{f.override}.file.filename"] = name
        else:  # plain data under a protocol node
            options[f"{f.override}.driver"] = _protocol(f)
            options[f"{f.override}.filename"] = name
    if "file.driver" not in options and _protocol(top) != "file":
        options["file.driver"] = _protocol(top)
    options.update(_no_late_backings(drive.format or "", files))
    handed = attrs.evolve(drive, file=sets.add(top), driver_options=options)
    return handed.to_args()


# Formats whose header can name a backing file (their BlockDriver has supports_backing).
_BACKED = frozenset({"qcow2", "qcow", "qed", "vmdk"})


def _no_late_backings(fmt: str, files: Sequence[Opened]) -> dict[str, str]:
    """``backing=`` (none) for every image node that had no backing file when checked.

    The descriptors pin the inodes, not their bytes: the attacker can rewrite a checked
    header before QEMU reads it. An explicit empty backing makes QEMU open no backing
    whatever the header says then (block.c bdrv_open_inherit(): BDRV_O_NO_BACKING; QEMU
    7.2 warns that "" is deprecated for null, which -drive cannot spell).
    """
    nodes = [("", fmt)] + [(f.override or "", f.driver or "") for f in files[1:]
                           if f.driver is not None]
    keys = {f.override for f in files[1:]}
    out = {}
    for prefix, driver in nodes:
        key = f"{prefix}.backing" if prefix else "backing"
        if driver in _BACKED and key not in keys:
            out[key] = ""
    return out


def _protocol(f: Opened) -> str:
    # block.c find_hdev_driver() picks host_device for a device by stat()ing its name;
    # /dev/fdset/N stats as nothing, so the choice is spelt out.
    return "host_device" if stat.S_ISBLK(f.st.st_mode) else "file"


@attrs.define
class HandOff:
    """The arguments and descriptors that make QEMU use the checked inodes.

    ``argv``: QEMU arguments (no program name); ``pass_fds``: the descriptors to keep
    open in QEMU; ``env``: variables QEMU needs (TMPDIR for snapshot overlays). The
    descriptors belong to this object until :meth:`close`.
    """

    argv: tuple[str, ...]
    pass_fds: tuple[int, ...]
    env: Mapping[str, str]
    files: tuple[Opened, ...]
    policy: Policy | None = None
    _closer: object = None

    @classmethod
    def of(cls, sets: FdSets, argv: Sequence[str], guard: Guard) -> HandOff:
        """The hand-off of ``argv`` (drives already pointing at ``sets``), taking over
        every descriptor ``guard`` holds."""
        env = {"TMPDIR": guard.policy.overlay_dir} if guard.snapshots and \
            guard.policy.overlay_dir else {}
        return cls(tuple(sets.args) + tuple(argv), tuple(sets.fds), env, tuple(guard.files),
                   guard.policy, guard)

    def sandbox(self, writable: Sequence[str] = ()) -> list[str]:
        """The command to put before QEMU's: a Landlock sandbox (:mod:`._sandbox`)
        in which QEMU can open only its own files, the allowed directories (read and
        write), the overlay directory and ``writable`` (the launcher's QMP socket
        directory, say), and connect nowhere over TCP. The hand-off pins inodes, not
        their bytes; the sandbox keeps a header rewritten after the check from reaching
        outside (an added qcow2 data file, which no -drive option can take away).
        """
        assert self.policy is not None
        words = [sys.executable, "-m", "qdrive.frontend.policy._sandbox"]
        for d in self.policy.allow_dirs:
            words += ["--images", d]
        for d in ([self.policy.overlay_dir] if self.policy.overlay_dir else []) + list(writable):
            words += ["--write", d]
        for d in self.policy.devices:
            words += ["--device", d]
        return [*words, "--"]

    def close(self) -> None:
        """Close the descriptors (after QEMU has started: it has its own copies)."""
        for f in self.files:
            f.close()
        self.files = ()
        close = getattr(self._closer, "close", None)
        if close is not None:
            close()
        self._closer = None

    def __enter__(self) -> HandOff:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[str]:
        return iter(self.argv)
