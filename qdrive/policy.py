"""Policy: qdrive's own refusals for drive strings and images from untrusted users.

QEMU accepts these drives; a launcher that takes drive strings or image files from
users must not. Each refusal is an error with its own message and the span of the
option it concerns. Paths are resolved (symlinks, ``..``) before they are compared
with the allowed directories, and no file outside them is opened.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from .diagnostics import Diagnostic, Severity, Span, Stage

if TYPE_CHECKING:
    from ._syntax import RawOption
    from .model import Drive

__all__ = ["Policy", "LOCAL_PROTOCOLS"]

LOCAL_PROTOCOLS = frozenset({"file", "host_device", "host_cdrom"})
"""The protocol drivers an untrusted drive may use: local files and devices only."""

# Options that make QEMU open a second file (block.c child names, qcow2 data-file).
_CHILD_PREFIXES = ("backing", "data-file", "file.backing", "file.file", "encrypt.")


def _resolve(path: str) -> str:
    return os.path.realpath(path)


def _resolve_all(dirs: Sequence[str]) -> tuple[str, ...]:
    return tuple(_resolve(d) for d in dirs)


@attrs.frozen
class Policy:
    """What qdrive refuses on top of QEMU's own rules.

    ``Policy.untrusted(["/srv/images"])`` refuses network and other non-local protocol
    drivers, ``json:`` pseudo-filenames, options naming another file (``backing.*``),
    paths that resolve outside ``allow_dirs``, a missing ``format=`` (probing lets a
    guest turn a raw image into a qcow2 pointing at a host file) and qcow2 images whose
    header names a backing file. ``Policy()`` refuses nothing.
    """

    untrusted_input: bool = False
    allow_dirs: tuple[str, ...] = attrs.field(default=(), converter=_resolve_all)

    @classmethod
    def untrusted(cls, allow_dirs: Sequence[str] = ()) -> Policy:
        """The policy for drive strings and images that come from users."""
        return cls(True, tuple(allow_dirs))

    def refusal(self, items: list[RawOption], drive: Drive | None,
                text: str) -> Diagnostic | None:
        """The first refusal for this drive, or None. Reads at most an image header."""
        if not self.untrusted_input:
            return None
        for check in (self._protocols, self._other_files, self._path, self._format):
            problem = check(items, text)
            if problem is not None:
                return problem
        return self._backing(items)

    def _refuse(self, code: str, message: str, span: Span, hint: str = "") -> Diagnostic:
        return Diagnostic(f"policy-{code}", Severity.ERROR, f"untrusted drive: {message}", span,
                          Stage.FILL, hint=hint)

    def _protocols(self, items: list[RawOption], text: str) -> Diagnostic | None:
        from .convert import PROTOCOL_DRIVERS

        for i in items:
            name = i.value
            if i.key in ("file.driver", "driver", "format") and name in PROTOCOL_DRIVERS and \
                    name not in LOCAL_PROTOCOLS:
                return self._refuse("protocol", f"protocol driver '{name}' is not allowed "
                                    "(only file, host_device and host_cdrom)", i.span)
            if i.key in ("file", "file.filename") and name.startswith("json:"):
                return self._refuse("json", "json: pseudo-filenames are not allowed", i.span)
            prefix = name.split("/", 1)[0]
            if i.key == "file" and ":" in prefix and prefix.split(":", 1)[0] not in (
                    "file", "host_device", "host_cdrom"):
                return self._refuse("protocol", f"protocol '{prefix.split(':', 1)[0]}' in "
                                    f"file name '{name}' is not allowed", i.span,
                                    "write ./NAME for a local file whose name contains ':'")
        return None

    def _other_files(self, items: list[RawOption], text: str) -> Diagnostic | None:
        for i in items:
            if i.key.startswith(_CHILD_PREFIXES):
                return self._refuse("child", f"option '{i.key}' makes QEMU open another file",
                                    i.span)
        return None

    def _path(self, items: list[RawOption], text: str) -> Diagnostic | None:
        names = [i for i in items if i.key in ("file", "file.filename") and i.value]
        for i in names:
            path = i.value.removeprefix("file:")
            if "\0" in path:
                return self._refuse("path", "the file name contains a NUL character", i.span)
            real = _resolve(path)
            if not any(real == d or real.startswith(d.rstrip("/") + "/")
                       for d in self.allow_dirs):
                where = ", ".join(self.allow_dirs) or "none given"
                return self._refuse("path", f"'{path}' resolves to '{real}', outside the "
                                    f"allowed directories ({where})", i.span,
                                    "pass --allow-dir DIR (Policy.untrusted([DIR]))")
        return None

    def _format(self, items: list[RawOption], text: str) -> Diagnostic | None:
        has_file = any(i.key in ("file", "file.filename") and i.value for i in items)
        if has_file and not any(i.key in ("format", "driver") for i in items):
            return self._refuse("format", "format= is required: probing lets the guest turn "
                                "a raw image into a qcow2 that names a host file",
                                Span(0, len(text)), "add format=raw (or the image's format)")
        return None

    def _backing(self, items: list[RawOption]) -> Diagnostic | None:
        from .probe import probe_file

        for i in items:
            if i.key in ("file", "file.filename") and i.value:
                found = probe_file(i.value.removeprefix("file:"))
                if found.backing_file:
                    return self._refuse("backing", f"image '{i.value}' names a backing file "
                                        f"'{found.backing_file}'", i.span,
                                        "flatten it (qemu-img convert) or check the backing "
                                        "file separately")
        return None
