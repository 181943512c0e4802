"""The untrusted policy's checks over one command line: strings, then files, kept open.

A :class:`Guard` lives for one ``check()``. For each drive it judges the option string
against the allow-list (:mod:`qdrive.frontend.policy`), then resolves the image name beneath a
descriptor of an allowed directory (:mod:`._resolve`), reads the image through
that descriptor (:mod:`._inspect`) and follows every file the image names, with
the same rules, keeping each file open. What it keeps is what the descriptor hand-off
gives QEMU (:mod:`qdrive.frontend.policy._handoff`); without a hand-off it is closed at the end.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping, Sequence

import attrs

from . import _resolve
from ._inspect import Base, Content, Image, Reference, Role, inspect, inspect_vmdk_extent
from ._resolve import Refused, Root
from .._syntax import RawOption
from ...diagnostics import Diagnostic, Severity, Span, Stage
from . import DRIVE_KEYS, Policy, overlay_bound
from ...probe import ProbeResult, probe_fd

__all__ = ["Guard", "Opened", "DriveVerdict", "MAX_CHAIN"]

MAX_CHAIN = 64
"""Most files one drive may reach through references (QEMU itself sets no limit)."""

MAX_FILES = 256
"""Most files one command line may name in all (each costs the check 2-3 descriptors)."""

_STATS_INTERVAL = re.compile(r"stats-intervals\.\d+")


@attrs.define
class Opened:
    """One file the check resolved and keeps open: what QEMU will read (or write)."""

    role: str  # "image", "backing file", "external data file", "extent", "kernel" ...
    name: str  # the name QEMU would open
    where: str  # allowed directory and the name below it, for messages
    opath: int  # the O_PATH descriptor the name resolved to
    fd: int  # read-only descriptor of that inode
    st: os.stat_result
    writable: bool  # QEMU opens it read-write
    driver: str | None  # the format QEMU opens it with (None: plain data)
    override: str | None  # -drive key prefix that points QEMU at it ("" = the drive's file)
    rw_fd: int | None = None
    closed: bool = False

    def close(self) -> None:
        """Close the descriptors (once; later calls do nothing)."""
        if self.closed:
            return
        self.closed = True
        for fd in (self.fd, self.opath, self.rw_fd):
            if fd is not None:
                os.close(fd)


@attrs.frozen
class DriveVerdict:
    """The policy's word on one drive."""

    refusal: Diagnostic | None = None
    found: ProbeResult | None = None  # the checked image's header, for check()'s probe
    warnings: tuple[Diagnostic, ...] = ()
    files: tuple[Opened, ...] = ()


class _No(Exception):
    """Internal: a refusal with its code, raised from deep in a chain."""

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


def _refuse(code: str, message: str, span: Span, hint: str = "") -> Diagnostic:
    return Diagnostic(f"policy-{code}", Severity.ERROR, f"untrusted drive: {message}", span,
                      Stage.FILL, hint=hint)


def has_protocol(name: str) -> bool:
    """block.c path_has_protocol(): a ':' before any '/' selects a protocol driver."""
    colon = name.find(":")
    slash = name.find("/")
    return colon >= 0 and (slash < 0 or colon < slash)


def combine(referrer: str, name: str) -> str:
    """block.c path_combine(): ``name`` relative to the directory part of ``referrer``."""
    if name.startswith("/"):
        return name
    cut = referrer.rfind("/")
    return referrer[:cut + 1] + name


class Guard:
    """Judges the drives of one command line; owns every descriptor it opened."""

    def __init__(self, policy: Policy, *, inspect_files: bool = True,
                 hand_off: str | None = None) -> None:
        self.policy = policy
        self.inspect_files = inspect_files
        self.hand_off = hand_off
        self.cwd = policy.working_directory()
        self.roots = [Root.of(d) for d in policy.allow_dirs]
        self._root_fds: dict[str, int] = {}
        self.files: list[Opened] = []
        self.overlay_used = 0
        self.snapshots = False

    # -- the option string ----------------------------------------------------------------
    def judge_drive(self, conv: object, text: str) -> DriveVerdict:
        """The verdict on one converted drive (a :class:`qdrive.frontend._convert.Conversion`)."""
        from .._conversion import Conversion

        assert isinstance(conv, Conversion)
        refusal = self._string(conv, text)
        if refusal is not None or conv.error is not None or conv.drive is None:
            return DriveVerdict(refusal)
        # The converter resolved the name once (file=, or file.filename=: _string refused
        # driver=, protocol prefixes and json: above, so nothing else can name a file).
        name = conv.image_name
        if not name:
            return DriveVerdict()  # an empty drive (no medium): nothing to open
        span = conv.span_of(conv.image_key)
        if not self.inspect_files:
            return self._lexical(name, span)
        try:
            return self._files(conv, name, span)
        except _No as no:
            return DriveVerdict(_refuse(no.code, no.message, span, no.hint))

    def _string(self, conv: object, text: str) -> Diagnostic | None:
        from .._conversion import Conversion

        assert isinstance(conv, Conversion)
        # The allow-list judges the options as written (the Conversion's items, in text
        # order, each with its span), not what the converter made of them: a key the
        # converter mis-modelled, or one after the error the walk stopped at, still
        # reaches QEMU, so the policy must not depend on the walk getting that far. The
        # file it then opens is the converter's resolved name (judge_drive above).
        items = conv.items
        last = {i.key: i for i in items}
        fmt_item = last.get("format")
        fmt = fmt_item.value if fmt_item is not None else None
        allowed = DRIVE_KEYS | self.policy.format_keys(fmt or "")
        for item in items:
            if item.key == "driver":
                return _refuse("key", "driver= is not allowed (write format=FORMAT)", item.span)
            if item.key in allowed or _STATS_INTERVAL.fullmatch(item.key):
                continue
            why = "makes QEMU open another file or node" if item.key.split(".")[0] in (
                "backing", "data-file", "file", "encrypt", "x-image", "image", "children",
                "config", "log", "target", "test", "raw") else "is not on the policy's list"
            return _refuse("key", f"option '{item.key}' {why}", item.span,
                           "the untrusted policy allows the -drive options listed in "
                           "qdrive.frontend.policy.DRIVE_KEYS and the format's own")
        if fmt is None:
            if conv.empty:
                return None
            return _refuse("format", "format= is required: probing lets the guest turn a raw "
                           "image into one that names a host file", Span(0, len(text)),
                           "add format=raw (or the image's format)")
        assert fmt_item is not None
        if fmt not in self.policy.formats:
            return _refuse("format", f"format '{fmt}' is not allowed (allowed: "
                           f"{', '.join(sorted(self.policy.formats))})", fmt_item.span)
        proto = last.get("file.driver")
        if proto is not None and proto.value not in self.policy.device_drivers:
            what = "host devices need Policy.untrusted(..., devices=[...])" if proto.value in (
                "host_device", "host_cdrom") else "only the file protocol is allowed"
            return _refuse("protocol", f"protocol driver '{proto.value}' is not allowed: {what}",
                           proto.span)
        return self._file_string(last)

    def _file_string(self, last: Mapping[str, RawOption]) -> Diagnostic | None:
        """``file=`` is protocol- and json:-parsed by QEMU; ``file.filename=`` is literal."""
        file = last.get("file")
        if file is not None and file.value:
            value = file.value
            if value.startswith("json:"):
                return _refuse("json", "json: pseudo-file names are not allowed", file.span)
            if has_protocol(value):
                prefix = value.split(":", 1)[0]
                return _refuse("protocol", f"the file name '{value}' selects the protocol "
                               f"'{prefix}'", file.span,
                               "write ./NAME for a local file whose name contains ':'")
        for key in ("file", "file.filename"):
            item = last.get(key)
            if item is not None and "\0" in item.value:
                return _refuse("path", "the file name contains a NUL character", item.span)
            if item is not None and item.value.startswith("/dev/fdset/"):
                return _refuse("path", "/dev/fdset/ names a descriptor set, not a file",
                               item.span)
        return None

    # -- without touching files (--offline) -----------------------------------------------
    def _lexical(self, name: str, span: Span) -> DriveVerdict:
        if name in self.policy.devices:
            return DriveVerdict(warnings=(_offline(span),))
        if _resolve.locate(name, self.cwd, self.roots) is None:
            return DriveVerdict(_refuse("path", f"'{name}' is outside the allowed directories "
                                        f"({', '.join(self.policy.allow_dirs)})", span))
        return DriveVerdict(warnings=(_offline(span),))

    # -- the files ------------------------------------------------------------------------
    def _files(self, conv: object, name: str, span: Span) -> DriveVerdict:
        from .._conversion import Conversion

        assert isinstance(conv, Conversion) and conv.drive is not None
        drive = conv.drive
        fmt = drive.format or ""
        writable = not drive.effective_read_only and not drive.snapshot
        opened: list[Opened] = []
        try:
            top = self._open(name, "image", writable, fmt, "", opened)
            image = _read(top, fmt)
            if image.problem:
                raise _No("image", f"image '{name}' ({fmt}): {image.problem}")
            self._follow_all(image, name, writable, "", opened, {_id(top.st)})
            if self.hand_off:
                _overridable(opened)
            if drive.snapshot:
                self._overlay(image, name)
            found = probe_fd(top.fd, os.access(f"/proc/self/fd/{top.opath}", os.W_OK))
            # The format driver's own checks were just made (a vmdk descriptor, a VHD
            # footer at the end): the magic-number probe does not get to overrule them.
            found = attrs.evolve(found, format=fmt)
        except BaseException:
            for f in opened:
                f.close()
            raise
        self.files.extend(opened)
        notes = (_tmpdir(self.policy.overlay_dir, span),) if drive.snapshot and \
            not self.hand_off and self.policy.overlay_dir else ()
        return DriveVerdict(found=found, files=tuple(opened), warnings=notes)

    def _follow_all(self, image: Image, referrer: str, writable: bool, prefix: str,
                    opened: list[Opened], chain: set[tuple[int, int]]) -> None:
        for ref in image.references:
            self._follow(ref, referrer, writable, prefix, opened, chain)

    def _follow(self, ref: Reference, referrer: str, writable: bool, prefix: str,
                opened: list[Opened], chain: set[tuple[int, int]]) -> None:
        what = f"image '{referrer}' names its {ref.role} '{ref.name}'"
        if len(opened) >= MAX_CHAIN:
            raise _No("reference", f"{what}: more than {MAX_CHAIN} files in one drive")
        if ref.parsed and ref.name.startswith("json:"):
            raise _No("reference", f"{what}: json: pseudo-file names are not allowed",
                      "flatten the image (qemu-img convert)")
        if ref.parsed and has_protocol(ref.name):
            raise _No("reference", f"{what}: it selects the protocol "
                      f"'{ref.name.split(':', 1)[0]}'")
        full = combine(referrer, ref.name) if ref.base is Base.IMAGE else ref.name
        if full.startswith("/dev/fdset/"):
            raise _No("reference", f"{what}: /dev/fdset/ names a descriptor set, not a file")
        child_writable = writable and ref.role in (Role.DATA_FILE, Role.EXTENT)
        key = _override(prefix, ref)
        driver = ref.driver if ref.content is Content.IMAGE else None
        if ref.content is Content.IMAGE:
            if ref.driver is None:
                raise _No("reference", f"{what}: its format would be probed (the image "
                          "gives none), so the bytes of that file would decide what QEMU "
                          "opens next", "qemu-img rebase -u -F FORMAT -b NAME fixes the "
                          "image's backing format")
            if ref.driver not in self.policy.formats:
                raise _No("reference", f"{what} with format '{ref.driver}', which is not "
                          f"allowed (allowed: {', '.join(sorted(self.policy.formats))})")
        try:
            f = self._open(full, str(ref.role), child_writable, driver, key, opened)
        except _No as no:
            raise _No(no.code if no.code != "path" else "reference",
                      f"{what}: {no.message}") from None
        ident = _id(f.st)
        if ident in chain:
            raise _No("reference", f"{what}: the chain of references loops")
        chain = chain | {ident}
        if ref.content is Content.IMAGE:
            assert ref.driver is not None
            image = _read(f, ref.driver)
            if image.problem:
                raise _No("reference", f"{what}: {image.problem}")
            self._follow_all(image, full, False, key or "", opened, chain)
        elif ref.content is Content.VMDK_SPARSE:
            image = _read(f, "vmdk-extent")
            if image.problem:
                raise _No("reference", f"{what}: {image.problem}")
            # Extents an embedded descriptor lists are relative to the top descriptor.
            self._follow_all(image, referrer, writable, prefix, opened, chain)

    def _open(self, name: str, role: str, writable: bool, driver: str | None,
              override: str | None, opened: list[Opened]) -> Opened:
        """Resolve ``name`` (as QEMU would open it) to a checked, open file."""
        if len(self.files) + len(opened) >= MAX_FILES:
            raise _No("files", f"the command line names more than {MAX_FILES} files")
        opath, where = self._resolve_name(name)
        try:
            st = os.fstat(opath)
            self._check_kind(name, st)
            fd = _resolve.reopen(opath, os.O_RDONLY)
        except OSError as exc:
            os.close(opath)
            raise _No("path", f"'{name}': {exc.strerror}") from None
        except BaseException:
            os.close(opath)
            raise
        f = Opened(role, name, where, opath, fd, st, writable, driver, override)
        opened.append(f)
        if writable and self.hand_off == "fdset":
            try:
                f.rw_fd = _resolve.reopen(opath, os.O_RDWR)
            except OSError:
                f.rw_fd = None  # QEMU's auto-read-only falls back to read-only as well
        return f

    def _resolve_name(self, name: str) -> tuple[int, str]:
        if name in self.policy.devices:  # a device the caller names: a trusted path
            try:
                return os.open(name, os.O_PATH | os.O_CLOEXEC), name
            except OSError as exc:
                raise _No("device", f"'{name}': {exc.strerror}") from None
        found = _resolve.locate(name, self.cwd, self.roots)
        if found is None:
            raise _No("path", f"'{name}' is outside the allowed directories "
                      f"({', '.join(self.policy.allow_dirs)})",
                      "pass --allow-dir DIR (Policy.untrusted([DIR]))")
        root, rel = found
        try:
            return (_resolve.open_beneath(self._root_fd(root), rel,
                                          same_mount=not self.policy.allow_mounts),
                    f"{root.path}/{rel}")
        except Refused as exc:
            raise _No("path", f"'{name}' in {root.path}: {exc.reason}") from None
        except OSError as exc:  # the directory went away, or no descriptors are left
            raise _No("path", f"'{name}' in {root.path}: {exc.strerror}") from None

    def _root_fd(self, root: Root) -> int:
        fd = self._root_fds.get(root.path)
        if fd is None:
            fd = os.open(root.path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            self._root_fds[root.path] = fd
        return fd

    def _check_kind(self, name: str, st: os.stat_result) -> None:
        if stat.S_ISBLK(st.st_mode):
            allowed = {os.stat(d).st_rdev for d in self.policy.devices}
            if st.st_rdev not in allowed:
                raise _No("device", f"'{name}' is a block device the policy does not allow",
                          "list it in Policy.untrusted(..., devices=[...])")
            return
        if not stat.S_ISREG(st.st_mode):
            raise _No("file", f"'{name}' is {_resolve.describe(st)}, not an image file")
        if st.st_nlink > 1 and not self.policy.allow_hardlinks:
            raise _No("hardlink", f"'{name}' has {st.st_nlink} names (hard links): one of "
                      "them may be a file outside the allowed directories",
                      "copy the file, or Policy.untrusted(..., allow_hardlinks=True)")

    def _overlay(self, image: Image, name: str) -> None:
        policy = self.policy
        if policy.overlay_dir is None or policy.overlay_budget is None:
            raise _No("snapshot", "snapshot=on writes an overlay to $TMPDIR, which the guest "
                      "can fill", "Policy.untrusted(..., overlay_dir=DIR, overlay_budget=BYTES)")
        if image.virtual_size is None:
            raise _No("snapshot", f"snapshot=on: qdrive cannot bound the overlay of a "
                      f"{image.format} image")
        need = self.overlay_used + overlay_bound(image.virtual_size)
        if need > policy.overlay_budget:
            raise _No("snapshot", f"snapshot=on overlays could grow to {need} bytes, over the "
                      f"budget of {policy.overlay_budget} bytes")
        vfs = os.statvfs(policy.overlay_dir)
        free = vfs.f_bavail * vfs.f_frsize
        if need > free:
            raise _No("snapshot", f"snapshot=on overlays could grow to {need} bytes; "
                      f"{policy.overlay_dir} has {free} bytes free")
        self.overlay_used = need
        self.snapshots = True

    # -- single paths (-kernel, -initrd ...) ----------------------------------------------
    def judge_path(self, name: str, role: str) -> Opened | str | None:
        """A file QEMU reads by name outside the block layer (-kernel, -initrd ...).

        The checked, open file; a refusal text; None when accepted without opening
        anything (``inspect_files`` false, as --offline).
        """
        if "\0" in name:
            return "the name contains a NUL character"
        if not self.inspect_files:
            if _resolve.locate(name, self.cwd, self.roots) is None:
                return (f"'{name}' is outside the allowed directories "
                        f"({', '.join(self.policy.allow_dirs)})")
            return None
        opened: list[Opened] = []
        try:
            f = self._open(name, role, False, None, None, opened)
        except _No as no:
            return no.message
        self.files.append(f)
        return f

    def close(self) -> None:
        """Close every descriptor this guard opened."""
        for f in self.files:
            f.close()
        self.files.clear()
        for fd in self._root_fds.values():
            os.close(fd)
        self._root_fds.clear()


def _read(f: Opened, fmt: str) -> Image:
    """The inspection of ``f``; a read error is a problem too, never an exception."""
    try:
        if fmt == "vmdk-extent":
            return inspect_vmdk_extent(f.fd, 1)
        return inspect(f.fd, fmt)
    except OSError as exc:
        return Image(fmt, None, problem=f"cannot read it: {exc.strerror}")


def _tmpdir(overlay: str, span: Span) -> Diagnostic:
    return Diagnostic("policy-overlay", Severity.WARNING, "snapshot=on: QEMU writes the overlay "
                      f"to $TMPDIR; start it with TMPDIR={overlay}", span, Stage.FILL,
                      hint="the descriptor hand-off (hand_off=True) sets it")


def _offline(span: Span) -> Diagnostic:
    return Diagnostic("policy-offline", Severity.WARNING, "the policy judged the drive string "
                      "only: the image and the files it names were not read (--offline)",
                      span, Stage.FILL, hint="check again without --offline before launching")


def _overridable(opened: Sequence[Opened]) -> None:
    for f in opened[1:]:
        if f.override is None:
            raise _No("handoff", f"the {f.role} '{f.name}' is opened by name (no -drive "
                      "option can point QEMU at a descriptor for it), so the hand-off "
                      "cannot cover it", "convert the image to qcow2 or raw")


def _override(prefix: str, ref: Reference) -> str | None:
    if ref.override is None:
        return None
    return f"{prefix}.{ref.override}" if prefix else ref.override


def _id(st: os.stat_result) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)

