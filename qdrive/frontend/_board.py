"""Machine init: what the board makes of the drives QEMU created.

Mirrors hw/i386/pc_piix.c / pc_q35.c (IDE, floppy and flash devices realized at
machine init), blockdev.c drive_check_orphaned() (drives no device claims), the
virtio-blk devices created afterwards from -device, and the image locks each
device's permissions take (block/file-posix.c raw_check_lock_bytes()).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import attrs

from .placement import Placement
from .results import DriveResult
from ..diagnostics import Diagnostic, Severity, Span, Stage
from ..dialect import DEFAULT, Dialect
from . import formats, hostprobe
from ._file_open import io_uring_fallback
from ..model import Aio, Drive, Interface, Media
from .placement import Machine
from ..probe import MAGIC, file_identity, probe_file
from .._values import is_true

__all__ = ["board_problems"]


def board_problems(results: list[DriveResult], board: Machine, probe_files: bool,
                   identities: Sequence[tuple[int, int] | None] | None = None,
                   dialect: Dialect = DEFAULT, user: hostprobe.QemuUser | None = None
                   ) -> list[DriveResult]:
    """Each drive with the error machine init gives it, if any.

    ``identities`` are the images' (device, inode) when the caller already holds them
    open (the untrusted policy's checked descriptors); else each name is stat()ed.
    ``dialect`` is the QEMU whose board is asked (its if=xen devices, its io_uring
    fallback); ``user`` the one QEMU runs as.
    """
    out = []
    # under the untrusted policy (identities given) nothing is opened or stat()ed by name
    by_name = probe_files and identities is None
    pflash0 = any(r.ok and r.placement and r.placement.interface is Interface.PFLASH and
                  r.placement.unit == 0 for r in results)
    for r in results:
        p, d = r.placement, r.drive
        if r.ok and p is not None and d is not None:
            problem = _xen_problem(p, d, r, dialect) or _board_problem(board, p, d, r, pflash0,
                                                                       by_name)
            if problem is None and probe_files:
                problem = _host_problem(p, d, r)
            if problem is None and by_name:
                problem = _blkverify_geometry_read(p, d, r)
            if problem is not None:
                r = attrs.evolve(r, drive=None, error=problem)
            elif by_name:
                r = _io_uring_at_realize(r, p, d, dialect, user)
        out.append(r)
    if by_name:
        out = _flash_sizes(out)
    return _locks(out, identities) if probe_files else out


def _blkverify_geometry_read(p: Placement, d: Drive, r: DriveResult) -> Diagnostic | None:
    """A disk device's realize reads sector 0 to guess a geometry (hw/block/block.c
    blkconf_geometry() -> hw/block/hd-geometry.c guess_disk_lchs()); through blkverify
    (block/blkverify.c blkverify_verify_readv()) the two children's bytes must agree, or
    it prints the mismatch and QEMU exits. Judged only when both children read their
    files' bytes: raw's file, and test's probed as raw."""
    if p.interface in (Interface.NONE, Interface.PFLASH) or d.media is Media.CDROM:
        return None
    names = _blkverify_files(d)
    if names is None:
        return None
    sectors = []
    for name in names:
        try:
            with open(name, "rb") as f:
                sectors.append(f.read(512).ljust(512, b"\0"))
        except OSError:
            return None
    raw, test = sectors
    if "test.driver" not in d.driver_options and test.startswith(tuple(m for m, _ in MAGIC)):
        return None  # test is probed as an image format: its guest data are not its bytes
    at = next((i for i in range(512) if raw[i] != test[i]), None)
    if at is None:
        return None
    virtio = p.interface is Interface.VIRTIO
    return Diagnostic("blkverify-mismatch", Severity.ERROR, "blkverify: read offset=0 "
                      f"bytes=512 contents mismatch at offset {at}", Span(0, len(r.text)),
                      Stage.BOARD_DEVICE if virtio else Stage.BOARD, located=False,
                      hint="raw and test differ: blkverify stops QEMU at the first read",
                      bare=True)  # blkverify_err(): fprintf(stderr, ...), then exit(1)


def _blkverify_files(d: Drive) -> tuple[str, str] | None:
    """The local files of a blkverify drive's raw and test children, when both are plain
    files (no format driver named in between)."""
    opts = d.driver_options
    if d.format != "blkverify":  # a blkverify:RAW:TEST name: the format probe reads it
        return None
    raw, test = (_plain_child(opts, c, x) for c, x in (("raw", "x-raw"), ("test", "x-image")))
    if not raw or not test or ":" in raw.split("/")[0] or ":" in test.split("/")[0]:
        return None
    return raw, test


def _plain_child(opts: Mapping[str, str], child: str, legacy: str) -> str | None:
    """The file whose bytes a blkverify child reads: a file node's (CHILD.filename, or
    the legacy x-raw/x-image name), or a raw node's over a file without offset/size
    (CHILD.file.filename); None for anything else."""
    keys = {k[len(child) + 1:]: v for k, v in opts.items() if k.startswith(child + ".")}
    driver = keys.get("driver", "file")
    if driver == "file" and not any(k.startswith("file.") for k in keys):
        return keys.get("filename") or opts.get(legacy)
    if driver == "raw" and keys.get("file.driver", "file") == "file" and \
            not {"offset", "size", "filename"} & keys.keys() and \
            all(k in ("driver", "file.driver", "file.filename") for k in keys):
        return keys.get("file.filename")
    return None


_FLASH_SECTOR = 0x1000  # hw/i386/pc_sysfw.c FLASH_SECTOR_SIZE
_FLASH_LIMIT = 8 << 20  # hw/i386/pc_sysfw.c: the combined limit below 4 GiB


def _flash_sizes(results: list[DriveResult]) -> list[DriveResult]:
    """hw/i386/pc_sysfw.c pc_system_flash_map(): each flash image, pflash0 then pflash1,
    must be a non-zero multiple of 4 KiB, and together at most 8 MiB."""
    flash = sorted((r.placement.unit or 0, n) for n, r in enumerate(results)
                   if r.ok and r.drive is not None and r.placement is not None
                   and r.placement.interface is Interface.PFLASH)
    out, total = list(results), 0
    for unit, n in flash:
        if unit != len([u for u, _ in flash if u < unit]):
            break  # a gap: the loop stops at the first missing unit
        r = results[n]
        size = _flash_length(r)
        if size is None:  # its size unknown: only its realize is judged, and nothing after
            problem = _flash_read_only(r.drive, r) if r.drive is not None else None
            if problem is not None:
                out[n] = attrs.evolve(r, drive=None, error=problem)
            return out
        whole = Span(0, len(r.text))
        problem = None
        if size == 0 or size % _FLASH_SECTOR:
            name = r.placement.device_id if r.placement else ""
            problem = Diagnostic("pflash-size", Severity.ERROR, f"system firmware block "
                                 f"device {name} has invalid size {size}", whole, Stage.BOARD,
                                 "qemu-system-x86_64: info: its size must be a non-zero "
                                 f"multiple of {_FLASH_SECTOR:#x}", located=False)
        total += size
        if problem is None and total > _FLASH_LIMIT:
            problem = Diagnostic("pflash-size", Severity.ERROR, "combined size of system "
                                 f"firmware exceeds {_FLASH_LIMIT} bytes", whole, Stage.BOARD,
                                 located=False)
        if problem is None and r.drive is not None:
            problem = _flash_read_only(r.drive, r)  # each flash is realized after its sizes
        if problem is not None:
            out[n] = attrs.evolve(r, drive=None, error=problem)
            return out
    return out


def _flash_length(r: DriveResult) -> int | None:
    """blk_getlength() of a raw flash image on a local file: whole sectors (None when
    qdrive does not know it: other formats, protocols, raw offset/size)."""
    d = r.drive
    if d is None or r.format != "raw" or not r.image \
            or any(k in d.driver_options for k in ("offset", "size", "file.driver")):
        return None
    try:
        size = os.stat(r.image).st_size
    except (OSError, ValueError):
        return None
    return -(-size // 512) * 512


def _flash_read_only(d: Drive, r: DriveResult) -> Diagnostic | None:
    """hw/i386/pc_sysfw.c pc_system_flash_map() realizes each pflash device after its
    size checks; hw/block/pflash_cfi01.c takes read-only from the drive, not its node."""
    if not _writes_a_read_only_node(d, r):
        return None
    return Diagnostic("read-only-node", Severity.ERROR, "Block node is read-only",
                      Span(0, len(r.text)), Stage.BOARD, located=False,
                      hint="add readonly=on (the flash is then read-only too)")


def _node_read_only(d: Drive, r: DriveResult) -> bool:
    """The drive's node cannot be written although the drive itself is not read-only."""
    return is_true(d.driver_options.get("file.read-only", "")) or \
        formats.drops_to_read_only(d, r.format)


def _active(d: Drive) -> bool:
    # 10.0's active=off: block/block-backend.c blk_insert_bs() sets disable_perm on a
    # BlockBackend over an inactive node, so the device's write permission waits for
    # the activation and a read-only node is not refused now
    return is_true(d.driver_options.get("active", "on"))


def _writes_a_read_only_node(d: Drive, r: DriveResult) -> bool:
    """A device that takes its read-only mode from the drive's top node (virtio-blk,
    floppy, pflash: block/block-backend.c blk_supports_write_perm()) asks for write,
    and a node below cannot give it: the top node is writable (raw over fat:, over
    file.read-only=on), a child is not. A read-only top node (readonly=on, a format
    that cannot write, vvfat itself without rw) makes a read-only device instead."""
    return not d.effective_read_only and _node_read_only(d, r) and _active(d) and \
        not formats.drops_to_read_only(d, r.format, top=True)


def _xen_problem(p: Placement, d: Drive, r: DriveResult, dialect: Dialect
                 ) -> Diagnostic | None:
    """An if=xen drive where the dialect makes it a device (``Dialect.xen_devices``).

    Since emulated Xen (QEMU 8.2's hw/xen/xen-bus.c and hw/block/xen-block.c), each
    if=xen drive is given a xen-disk (or xen-cdrom) device when the machine starts; on a
    board without a xen-bus qdev refuses it (system/qdev-monitor.c qdev_device_add):
    that, not drive_check_orphaned()'s message, is what 10.0 and 11.1 print.
    """
    if not dialect.xen_devices or p.interface is not Interface.XEN:
        return None
    device = "xen-cdrom" if d.media is Media.CDROM else "xen-disk"
    return Diagnostic("xen-bus", Severity.ERROR, f"No 'xen-bus' bus found for device "
                      f"'{device}'", Span(0, len(r.text)), Stage.BOARD_ORPHAN)


def _max_units(board: Machine, iface: Interface) -> int | None:
    """Units a board's bus of ``iface`` takes (None: the bus is not counted in units)."""
    # a branch, not a dict built per drive: this runs for every placed drive
    if iface is Interface.IDE:
        return board.max_devs(iface) or 2
    return 2 if iface is Interface.FLOPPY or iface is Interface.PFLASH else None


def _board_problem(board: Machine, p: Placement, d: Drive, r: DriveResult,
                   pflash0: bool, probe_files: bool = False) -> Diagnostic | None:
    whole = Span(0, len(r.text))
    iface = p.interface
    buses = board.buses.get(iface, 1)
    max_units = _max_units(board, iface)
    claimed = iface in board.claims and (iface in (Interface.VIRTIO, Interface.NONE) or (
        p.bus is not None and 0 <= p.bus < buses and p.unit is not None and
        0 <= p.unit < (max_units or 1)))
    if not claimed:
        return Diagnostic("orphan", Severity.ERROR, f"machine type does not support if={iface},"
                          f"bus={p.bus},unit={p.unit}", whole, Stage.BOARD_ORPHAN)
    # A drive naming a driver (driver=null-co) has a medium even without a file name.
    empty = d.file in (None, "") and not d.driver_options and not d.format
    cdrom = (r.image or None) if probe_files and hostprobe.opens_cdrom(d) else None
    empty = empty or (cdrom is not None and hostprobe.cdrom_empty(cdrom))
    if iface is Interface.IDE and d.media is not Media.CDROM:
        # hw/ide/qdev.c: the backend's permissions (a node that cannot be written) come
        # before the medium check (a host_cdrom without a disc has a node, no medium);
        # ide-hd has no read-only mode, so a read-only drive is refused too
        read_only = (d.effective_read_only or _node_read_only(d, r)) and _active(d)
        if empty and not (cdrom is not None and read_only):
            return Diagnostic("needs-media", Severity.ERROR, "Device needs media, but drive is "
                              "empty", whole, Stage.BOARD, located=False)
        if read_only:
            return Diagnostic("read-only-node", Severity.ERROR, "Block node is read-only", whole,
                              Stage.BOARD, located=False, hint="use media=cdrom or "
                              "if=virtio for a read-only disk")
    if iface in (Interface.VIRTIO, Interface.FLOPPY) and not empty and \
            _writes_a_read_only_node(d, r):
        # hw/block/virtio-blk.c and hw/block/fdc.c take a read-only mode from the
        # BlockBackend (readonly=on), not from its node: a drive left read-write over a
        # node that cannot be written (file.read-only=on, vvfat without rw, a read-only
        # format) asks for write and blkconf_apply_backend_options() refuses. The
        # virtio-blk device is made with the drive's location, the floppy is not.
        virtio = iface is Interface.VIRTIO
        return Diagnostic("read-only-node", Severity.ERROR, "Block node is read-only", whole,
                          Stage.BOARD_DEVICE if virtio else Stage.BOARD, located=virtio,
                          hint="add readonly=on (the device is then read-only too)")
    if iface is Interface.PFLASH and p.unit == 1 and not pflash0:
        return Diagnostic("pflash-order", Severity.ERROR, "pflash1 requires pflash0", whole,
                          Stage.BOARD, located=False)
    if iface is Interface.PFLASH and empty:  # hw/i386/pc_sysfw.c sizes the flash image
        return Diagnostic("pflash-empty", Severity.ERROR, f"can't get size of block device "
                          f"{p.device_id}: No medium found", whole, Stage.BOARD, located=False)
    if iface is Interface.PFLASH and not probe_files:
        return _flash_read_only(d, r)  # with the files, after the sizes (_flash_sizes)
    if iface is Interface.VIRTIO and empty:
        return Diagnostic("needs-media", Severity.ERROR, "Device needs media, but drive is "
                          "empty", whole, Stage.BOARD_DEVICE)
    return None


def _io_uring_at_realize(r: DriveResult, p: Placement, d: Drive, dialect: Dialect,
                         user: hostprobe.QemuUser | None) -> DriveResult:
    """A raw drive's first request is its disk device's at realize: virtio-blk, ide-hd
    and scsi-hd read sector 0 to guess a geometry (hw/block/block.c blkconf_geometry() ->
    hw/block/hd-geometry.c guess_disk_lchs()), pflash reads what of the image is not a
    hole (hw/block/block.c blk_pread_nonzeroes()); a CD-ROM or floppy reads nothing. A
    release that falls back from a refused io_uring ring (10.0) warns there, once per file
    node (the other formats' and the probe's reads came at the open, _file_open.py)."""
    if d.aio is not Aio.IO_URING or d.format != "raw" or not r.image:
        return r
    if p.interface is Interface.PFLASH:
        # into the flash's RAM, page-aligned: through the ring with O_DIRECT too
        reads = hostprobe.has_data(r.image)
    else:
        # 512 bytes into a buffer on the stack: with O_DIRECT the thread pool's bounce
        # path takes them (block/file-posix.c raw_co_prw()), no warning
        disk = p.interface is Interface.VIRTIO or \
            p.interface is Interface.IDE and d.media is not Media.CDROM
        reads = disk and not d.cache_triple[1] and _has_sectors(r.image, d)
    text = io_uring_fallback(d, {}, user, dialect) if reads else ""
    if not text:
        return r
    # the virtio-blk device carries the -drive's location; the board's IDE and flash
    # devices are realized at machine init, where no location is current
    virtio = p.interface is Interface.VIRTIO
    warning = Diagnostic("io-uring-fallback", Severity.ERROR, text, Span(0, len(r.text)),
                         Stage.BOARD_DEVICE if virtio else Stage.BOARD, located=virtio)
    return attrs.evolve(r, warnings=(*r.warnings, warning))


def _has_sectors(image: str, d: Drive) -> bool:
    """The raw view is not empty (an empty one refuses the read before any request);
    a view raw's offset/size cut is taken to be, since raw_open() checked it."""
    if any(k in d.driver_options for k in ("offset", "size")):
        return True
    return bool(probe_file(image).size)


def _host_problem(p: Placement, d: Drive, r: DriveResult) -> Diagnostic | None:
    """The device takes its permissions on the image (block/file-posix.c raw_check_perm()):
    a reopen read-write, then other processes' lock bytes (frontend/hostprobe.py)."""
    if r.host is None:
        return None
    perms = hostprobe.perms_at_attach(d, r.format, p.interface)
    if perms is None:
        return None
    problem = hostprobe.perm_problem(r.host, perms, hostprobe.perms_at_open(d, r.format))
    if problem is None:
        return None
    message, detail = problem
    virtio = p.interface is Interface.VIRTIO  # its -device carries the -drive's location
    return Diagnostic("image-locked" if detail else "open-failed", Severity.ERROR, message,
                      Span(0, len(r.text)), Stage.BOARD_DEVICE if virtio else Stage.BOARD,
                      detail, located=virtio)


# internal: nobody compares or prints one, and attrs' generated __eq__/__repr__ cost
# start-up time (qdrive check imports this module)
@attrs.frozen(eq=False, repr=False)
class _Locker:
    """One device's hold on an image: the write permission, and whether it shares it."""

    result: DriveResult
    order: tuple[int, ...]
    identity: tuple[int, int]
    takes_write: bool
    refuses_shared_write: bool


def _locker(r: DriveResult, n: int,
            identities: Sequence[tuple[int, int] | None] | None) -> _Locker | None:
    d, p = r.drive, r.placement
    if d is None or p is None or p.interface is Interface.NONE or d.force_share:
        return None  # no device (no permissions taken) or everything shared
    if d.driver_options.get("file.locking") == "off" or not r.image:
        return None
    # the name the converter resolved (DriveResult.image), or the guard's descriptor
    identity = identities[n] if identities is not None else file_identity(r.image)
    if identity is None:
        return None
    if p.interface is Interface.PFLASH:  # hw/block/pflash_cfi01.c shares write
        return _Locker(r, (0, p.unit or 0), identity, not d.effective_read_only, False)
    order = (1, p.bus or 0, p.unit or 0) if p.interface is not Interface.VIRTIO else (2, n)
    # snapshot=on: the image is the overlay's read-only backing file, which still refuses
    # to share write (block.c bdrv_default_perms() for COW children).
    takes = not d.effective_read_only and not d.snapshot
    return _Locker(r, order, identity, takes, True)


# Format drivers whose node takes write on its file child and does not share it (block.c
# bdrv_default_perms_for_storage() for metadata children); raw shares it.
_OPEN_LOCK_FORMATS = frozenset({"qcow2", "qcow", "qed", "vmdk", "vpc", "vdi", "vhdx",
                                "parallels", "luks", "bochs", "cloop", "dmg"})


def _open_locks(results: list[DriveResult],
                identities: Sequence[tuple[int, int] | None] | None) -> list[DriveResult]:
    """blockdev.c drive_new() opens each image at once, in command-line order: a drive
    whose format node holds its image refuses it to a later writer (or, writing, a later
    format reader) while that one is opened, located at the later -drive, before any
    device takes permissions."""
    held: list[tuple[tuple[int, int], bool]] = []
    for n, r in enumerate(results):
        d = r.drive
        if not r.ok or d is None or r.format not in _OPEN_LOCK_FORMATS or not r.image or \
                d.force_share or d.driver_options.get("file.locking") == "off":
            continue
        identity = identities[n] if identities is not None else file_identity(r.image)
        if identity is None:
            continue
        writes = not d.effective_read_only and not d.snapshot
        same = [w for i, w in held if i == identity]
        what = '"write"' if writes and same else 'shared "write"' if any(same) else ""
        if what:
            return _replace(results, r, Diagnostic(
                "image-locked", Severity.ERROR, f"Failed to get {what} lock",
                Span(0, len(r.text)), Stage.FILE,
                f"Is another process using the image [{r.image}]?",
                hint="an earlier drive opens this image read-write: use a copy, "
                     "read-only=on on both, or file.locking=off if you know better"))
        held.append((identity, writes))
    return results


def _locks(results: list[DriveResult],
           identities: Sequence[tuple[int, int] | None] | None) -> list[DriveResult]:
    """Devices take their permissions in attach order: flash, on-board IDE and floppy, then
    -device (virtio). The first conflict on one image is QEMU's error. Before them, the
    drives' own format nodes, as each is opened (:func:`_open_locks`)."""
    results = _open_locks(results, identities)
    if any(r.error is not None and r.error.code == "image-locked" for r in results):
        return results
    if identities is None:  # stat()s the children's files by name
        results = _graph_locks(results)
        if any(r.error is not None and r.error.code == "image-locked" for r in results):
            return results
    lockers = sorted((lk for n, r in enumerate(results) if r.ok
                      for lk in [_locker(r, n, identities)] if lk is not None),
                     key=lambda lk: lk.order)
    attached: list[_Locker] = []
    for lk in lockers:
        others = [o for o in attached if o.identity == lk.identity]
        what = ""
        if lk.takes_write and any(o.refuses_shared_write for o in others):
            what = '"write"'
        elif lk.refuses_shared_write and any(o.takes_write for o in others):
            what = 'shared "write"'
        if what:
            return _replace(results, lk.result, _lock_error(lk, what))
        attached.append(lk)
    return results


# Filters whose every data child the device's write reaches (block/blklogwrites.c,
# block/quorum.c, block/blkverify.c .bdrv_child_perm: bdrv_default_perms() with the
# parent's write): two of them on one file take "write" on two descriptors, and each
# refuses to share it with the other.
_WRITES_EVERY_CHILD = {"blklogwrites": ("file", "log"), "quorum": ("children.",),
                       "blkverify": ("raw", "test")}


def _graph_locks(results: list[DriveResult]) -> list[DriveResult]:
    """A drive whose writable node graph holds one file in two of those children: its
    device's write permission meets the graph's own lock (block/file-posix.c
    raw_check_lock_bytes(), the second descriptor's), when the device attaches."""
    for r in results:
        d, p = r.drive, r.placement
        if not r.ok or d is None or p is None or p.interface is Interface.NONE or \
                d.force_share or d.effective_read_only or d.snapshot:
            continue
        name = _twice_in_graph(d)
        if name is not None:
            virtio = p.interface is Interface.VIRTIO
            return _replace(results, r, Diagnostic(
                "image-locked", Severity.ERROR, 'Failed to get "write" lock',
                Span(0, len(r.text)), Stage.BOARD_DEVICE if virtio else Stage.BOARD,
                f"Is another process using the image [{name}]?",
                hint="two children of this drive write one file: give each its own",
                located=virtio))
    return results


def _twice_in_graph(d: Drive) -> str | None:
    """The second child file of ``d``'s filter that names an already-seen file (the
    filter is the drive's node, or a blkverify:RAW:TEST name's protocol node under it)."""
    roles = _WRITES_EVERY_CHILD.get(d.format or "")
    if roles is None and d.file is not None and d.file.startswith("blkverify:") and \
            "file.driver" not in d.driver_options:
        # block/blkverify.c blkverify_parse_filename(): x-raw, then x-image
        raw, _, test = d.file[len("blkverify:"):].partition(":")
        roles, d = ("raw", "test"), attrs.evolve(d, file=None, driver_options={
            "raw.filename": raw, "test.filename": test})
    if roles is None:
        return None
    opts = {**d.driver_options, **({"file.filename": d.file} if d.file else {})}
    children = sorted({k.split(".", 2)[1] if r.endswith(".") else r
                       for k in opts for r in roles if k.startswith(r)},
                      key=lambda c: (not c.isdigit(), int(c) if c.isdigit() else 0, c))
    seen: set[tuple[int, int]] = set()
    for child in children:
        pre = f"children.{child}." if child.isdigit() else f"{child}."
        name = opts.get(f"{pre}filename") or opts.get(f"{pre}file.filename")
        locking = opts.get(f"{pre}locking") or opts.get(f"{pre}file.locking")
        identity = file_identity(name) if name else None
        if identity is None or locking == "off":
            continue
        if identity in seen:
            return name
        seen.add(identity)
    return None


def _lock_error(lk: _Locker, what: str) -> Diagnostic:
    r = lk.result
    # block/file-posix.c names the node's filename: the resolved name, prefix stripped
    virtio = lk.order[0] == 2
    return Diagnostic("image-locked", Severity.ERROR, f"Failed to get {what} lock",
                      Span(0, len(r.text)), Stage.BOARD_DEVICE if virtio else Stage.BOARD,
                      f"Is another process using the image [{r.image}]?",
                      hint="another drive uses this image read-write: use a copy, "
                           "read-only=on on both, or file.locking=off if you know better",
                      located=virtio)


def _replace(results: Sequence[DriveResult], old: DriveResult,
             error: Diagnostic) -> list[DriveResult]:
    return [attrs.evolve(r, drive=None, error=error) if r is old else r for r in results]
