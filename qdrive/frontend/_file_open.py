"""Opening the image: the errors check() assembles at the point QEMU opens the file.

block.c bdrv_open_inherit() opens the drive's file child, then the format driver reads
its header: the host's answers (the file's type and permissions, a read-only mount,
O_DIRECT, io_uring, other processes' locks; qdrive/frontend/hostprobe.py) and the
header's against the format (qdrive/frontend/formats.py), each at its stage, so a
failure here beats any error the string alone predicts for a later stage. The file is
the one the Conversion names (``conv.image_name``); nothing here reads the option string.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from . import formats, hostprobe
from ._conversion import Conversion
from .formats import header_problem
from ..diagnostics import Diagnostic, Severity, Span, Stage
from ..dialect import DEFAULT, Dialect
from ..model import Drive
from ..options import NODE_KEYS
from ..probe import ProbeResult, probe_file
from .._values import is_true

__all__ = ["open_image", "failed", "io_uring_fallback"]


def open_image(conv: Conversion, found: ProbeResult | None,
               user: hostprobe.QemuUser | None = None, *, by_name: bool = True,
               dialect: Dialect = DEFAULT) -> Conversion:
    """bdrv_open(): open the file; a failure here beats any later-stage error.

    ``found`` is the image's header if already read (by the walk, or through the
    policy's checked descriptor); ``by_name`` false skips the host checks by name;
    ``dialect`` is the QEMU whose open messages apply (its module notices)."""
    if conv.empty or conv.error is not None and conv.error.stage <= Stage.FILE:
        return conv
    name = conv.image_name
    local = bool(name)  # a file of the host, not a name a format child read through
    if not name and conv.seen is not None:  # read through a format child (file.driver=raw)
        found, name = conv.seen, conv.seen_name
    if not name:
        return conv
    if found is None:
        found = probe_file(name)
    span = conv.span_of("file")
    fallback = ""
    if by_name and local:
        held = _host_problems(conv, name, found, user, span, dialect)
        if held is not None:
            return held
        fallback = io_uring_fallback(conv.drive, conv.open_options, user, dialect)
    if found.error:
        return failed(conv, Diagnostic("open-failed", Severity.ERROR,
                                        f"Could not open '{name}': {found.error}", span,
                                        Stage.FILE))
    if conv.error is not None and conv.error.stage < Stage.FORMAT:
        return conv  # the file child failed after its open: before any header is read
    fmt = conv.drive.format if conv.drive else conv.format_given
    return _header_checks(conv, fmt, found, name, dialect, fallback)


def io_uring_fallback(drive: Drive | None, held: Mapping[str, str],
                      user: hostprobe.QemuUser | None, dialect: Dialect) -> str:
    """The warning a release that falls back to the thread pool (10.0) prints at the
    file node's first request through io_uring when the host refuses a ring, or ""
    (aio is not io_uring, the host has rings, or the release does not fall back).
    ``held`` are the options QEMU holds when ``drive`` is None (a later option failed)."""
    if dialect.io_uring_fallback is None:
        return ""
    if not hostprobe.Intent.of(drive, list(held.items())).io_uring:
        return ""
    why = hostprobe.io_uring_refusal(user)
    return f"{dialect.io_uring_fallback}: {why}" if why else ""


# Formats whose open reads the image (their header, tables): the file node's first
# requests, at the open. With O_DIRECT a request goes through io_uring only when its
# buffer is aligned and whole sectors long (block/file-posix.c raw_co_prw(), else the
# thread pool's bounce path): measured with 10.0 on images qemu-img creates, the opens of
# vdi, vhdx and parallels read so (their block maps and headers into qemu_blockalign()
# buffers); qcow2's, qcow's, qed's and vmdk's reads are short, and so is the probe's
# (block.c find_image_format(), a buffer on its stack). vpc's footer lands in a heap
# buffer whose alignment varies from start to start (seen both ways): taken as short.
_HEADER_READS = frozenset({"qcow2", "qcow", "qed", "vmdk", "vdi", "vpc", "vhdx", "parallels",
                           "bochs", "cloop", "dmg"})
_ALIGNED_READS = frozenset({"vdi", "vhdx", "parallels"})


def _open_reads(fmt: str | None, probed: str | None, direct: bool) -> bool:
    """Whether opening the drive sends a request through io_uring (see above)."""
    if fmt is None:  # probed: the probe's read, then the probed format's open
        if not direct:
            return True
        fmt = probed
    return fmt in _HEADER_READS and (not direct or fmt in _ALIGNED_READS)


def _host_problems(conv: Conversion, name: str, found: ProbeResult,
                   user: hostprobe.QemuUser | None, span: Span,
                   dialect: Dialect = DEFAULT) -> Conversion | None:
    """What QEMU's open finds on the host by this name (never under the policy)."""
    # Without a Drive (a later option failed) the intent is read from the options QEMU
    # holds at the open (hostprobe.Intent.of).
    intent = hostprobe.Intent.of(conv.drive, list(conv.open_options.items()))
    why = hostprobe.open_problem(name, user, direct=intent.direct, write=intent.write,
                                 own_error=found.error)
    if why == "":  # a FIFO: QEMU's open() waits for a writer and it never starts
        return failed(conv, Diagnostic(
            "open-blocks", Severity.ERROR, f"QEMU would block for ever opening '{name}' (a "
            "FIFO: open() waits for a writer)", span, Stage.FILE, silent=True))
    if why is not None:
        return failed(conv, Diagnostic("open-failed", Severity.ERROR,
                                        f"Could not open '{name}': {why}", span,
                                        Stage.FILE))
    checked = _file_checks(conv, name, found, intent, user, dialect.io_uring_refused)
    if checked is not None:
        return checked
    fmt = conv.drive.format if conv.drive else conv.format_given
    return _open_perms(conv, name, fmt or found.format, user)


def _header_checks(conv: Conversion, fmt: str | None, found: ProbeResult,
                   name: str, dialect: Dialect = DEFAULT, fallback: str = "") -> Conversion:
    """The image's header against the format, and the probed-raw warning; ``fallback``
    is the io_uring warning of the file node's first request (io_uring_fallback())."""
    span = conv.span_of("file")
    if _before_driver_open(conv, dialect):
        return conv
    problem = _read_only_format(conv, fmt)
    direct = hostprobe.Intent.of(conv.drive, list(conv.open_options.items())).direct
    if not problem and fallback and _open_reads(fmt, found.format, direct):
        # error_report(), not warn_report(): no "warning: ", and QEMU goes on
        conv.warnings.append(Diagnostic("io-uring-fallback", Severity.ERROR, fallback,
                                        span, Stage.FORMAT))
    if not problem:
        for notice in formats.missing_modules(fmt) if dialect.module_notices else ():
            conv.warnings.append(Diagnostic("module-missing", Severity.WARNING, notice, span,
                                            Stage.FORMAT, located=False))
        problem = _format_problem(fmt, found, name)
    if problem:
        stage = Stage.FILE_CHECKS if fmt in ("file", "host_device", "host_cdrom") else Stage.FORMAT
        message, _, detail = problem.partition("\n")
        return failed(conv, Diagnostic("format-mismatch", Severity.ERROR, message,
                                        conv.span_of("format"), stage, detail))
    if conv.format_probed:
        conv.probed_format = found.format
    # block/raw-format.c raw_open() warns at its end: an error in the node's own options
    # (runtime options, offset/size) comes first and there is no warning.
    opened = conv.error is None or conv.error.stage >= Stage.LEFTOVER
    # raw_open(): the node's read-only flag decides, not whether the file is writable.
    writable = not conv.opened_read_only
    if conv.format_probed and found.format == "raw" and writable and opened:
        conv.warnings.append(formats.probed_raw_warning(name, span))
    if fallback and opened and conv.drive is not None and conv.drive.snapshot:
        # block.c bdrv_append_temp_snapshot(): the temporary qcow2 overlay's file node
        # inherits aio=io_uring, and creating and opening it makes requests of its own
        conv.warnings.append(Diagnostic("io-uring-fallback", Severity.ERROR, fallback,
                                        span, Stage.LEFTOVER))
    return conv


# block.c bdrv_open_common(): what it checks before the driver's open reads a header
# (the runtime options every node has; a file child inherits force-share)
_COMMON_CODES = frozenset({"force-share-rw", "bad-node-name", "node-name-too-long",
                           "bad-discard"})


def _before_driver_open(conv: Conversion, dialect: Dialect = DEFAULT) -> bool:
    """The walk's error comes from bdrv_open_common() before the driver reads its header:
    a node option's value (7.2's, and the ones a later release added: active=)."""
    err = conv.error
    if err is None or err.stage < Stage.FORMAT:
        return False
    if err.code in _COMMON_CODES:
        return True
    key = conv.text[err.span.start:err.span.end].partition("=")[0]
    return err.code == "bad-value" and (key in NODE_KEYS
                                        or key in dialect.new_options.get("*", {}))


def _read_only_format(conv: Conversion, fmt: str | None) -> str:
    """A driver that cannot write turns a read-write node read-only first (formats.py)."""
    if fmt not in formats.READ_ONLY_FORMATS:
        return ""
    held = conv.open_options
    # blockdev.c drive_new() defaults auto-read-only to on for -drive
    return formats.auto_read_only_problem(
        conv.opened_read_only, is_true(held.get("copy-on-read", "off")),
        is_true(held.get("auto-read-only", "on")))


def _file_checks(conv: Conversion, name: str, found: ProbeResult,
                 intent: hostprobe.Intent, user: hostprobe.QemuUser | None,
                 io_uring_refused: str | None = None) -> Conversion | None:
    """raw_open_common() after the open: the io_uring ring, then the file type (an error
    of the string at this stage, aio=native without O_DIRECT, comes first).
    ``io_uring_refused`` is the dialect's error for a ring the host refuses (None: the
    release falls back to the thread pool)."""
    if conv.error is not None and conv.error.stage <= Stage.FILE_CHECKS:
        return None
    message = ""
    if intent.io_uring and io_uring_refused and not hostprobe.io_uring_usable(user):
        # 7.2: block/io_uring.c luring_init() hands errno to error_setg_errno(), but
        # liburing returns the error instead of setting errno: no reason on -drive.
        message = io_uring_refused
    if not message and conv.drive is not None:
        message = hostprobe.file_type_problem(name, hostprobe.protocol_of(conv.drive,
                                                                          found.device))
    elif not message and conv.error is not None and conv.error.stage > Stage.FILE_CHECKS \
            and conv.error.code != "force-share-rw":
        # the drive failed later (a driver option): its file child was opened first
        # (block.c bdrv_open_common() checks force-share on that child before its open)
        held = conv.open_options
        named = held.get("file.driver") or (held.get("file") or "").partition(":")[0]
        message = hostprobe.file_type_problem(name, named if named in hostprobe.PROTOCOLS
                                              else "host_device" if found.device else "file")
    if not message:
        return None
    return failed(conv, Diagnostic("host-open", Severity.ERROR, message,
                                    conv.span_of("file"), Stage.FILE_CHECKS))


def _open_perms(conv: Conversion, name: str, fmt: str | None,
                user: hostprobe.QemuUser | None) -> Conversion | None:
    """The permissions the image file gets at -drive time (a qcow2 node writes its
    metadata): reopening it read-write, then other processes' lock bytes."""
    if conv.drive is None or conv.error is not None and conv.error.stage <= Stage.FORMAT:
        return None
    facts = hostprobe.host_facts(name, conv.drive, user)
    if facts is None:
        return None
    problem = hostprobe.perm_problem(facts, hostprobe.perms_at_open(conv.drive, fmt), None)
    if problem is None:
        return None
    message, detail = problem
    return failed(conv, Diagnostic("image-locked" if detail else "open-failed",
                                    Severity.ERROR, message, conv.span_of("file"),
                                    Stage.FORMAT, detail))


def failed(conv: Conversion, err: Diagnostic) -> Conversion:
    """The conversion with ``err`` as its error; warnings QEMU would only print after that
    point (a size's hex-suffix warning, read later by the format driver) are dropped."""
    kept = [w for w in conv.warnings if w.stage <= err.stage]
    return attrs.evolve(conv, error=err, warnings=kept)


def _format_problem(fmt: str | None, found: ProbeResult, name: str) -> str:
    """The error opening ``name`` with driver ``fmt`` gives (qdrive/frontend/formats.py)."""
    return header_problem(fmt, found, name)
