"""``dialect="auto"``: the dialect of the QEMU that will run the drives.

The version is read from ``qemu-system-x86_64 --version`` (the binary on PATH, or the
one given), once per binary: the answer is cached by the binary's path, inode and
modification time, so a QEMU upgraded in place is read again. The dialect is the newest
one not newer than that QEMU; for a QEMU newer than every dialect it is the newest
dialect, with a warning that says so (the -drive code changes little between versions,
but qdrive cannot know what a future version changed). The 2008 ``qemu-0.9-sync``
dialect is a patched QEMU, never chosen automatically.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess

import attrs

from ..dialect import REGISTRY
from ..errors import QDriveError

__all__ = ["AutoDialect", "auto_dialect", "release_dialects", "read_version",
           "QemuVersionError", "DEFAULT_QEMU"]

DEFAULT_QEMU = "qemu-system-x86_64"
VERSION_TIMEOUT = 60.0  # seconds; a chroot wrapper's first start is slow on a busy machine
_VERSION_LINE = re.compile(r"QEMU emulator version (\d+)\.(\d+)(?:\.(\d+))?")
_DIALECT_NAME = re.compile(r"qemu-(\d+)\.(\d+)$")


class QemuVersionError(QDriveError, ValueError):
    """The QEMU binary is missing, does not run, or prints no version qdrive can read."""


@attrs.frozen
class AutoDialect:
    """What ``auto`` chose: the dialect, the binary and its version, and any warning."""

    dialect: str
    qemu: str  # the binary's resolved path
    version: str  # as QEMU prints it, e.g. 10.0.13
    warning: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"requested": "auto", "dialect": self.dialect, "qemu": self.qemu,
                "qemu_version": self.version, "warning": self.warning}


def release_dialects(names: tuple[str, ...] | None = None) -> list[tuple[tuple[int, int], str]]:
    """The dialects that model a QEMU release (``Dialect.version``), oldest first;
    ``names`` (for tests): read the releases off names such as ``qemu-X.Y`` instead."""
    if names is None:
        return sorted((d.version, d.name) for d in REGISTRY.values() if d.version is not None)
    found = [(int(m[1]), int(m[2])) for n in names if (m := _DIALECT_NAME.match(n))]
    return sorted((v, f"qemu-{v[0]}.{v[1]}") for v in found)


def auto_dialect(qemu: str | None = None) -> AutoDialect:
    """The dialect for ``qemu`` (a path or a name on PATH; default qemu-system-x86_64)."""
    path = shutil.which(qemu or DEFAULT_QEMU)
    if path is None:
        raise QemuVersionError(f"dialect auto: {qemu or DEFAULT_QEMU} not found on PATH "
                               "(give --dialect or --qemu PATH)")
    path = os.path.realpath(path)
    st = os.stat(path)
    return choose(path, read_version(path, st.st_ino, st.st_mtime_ns))


def choose(path: str, version: str, names: tuple[str, ...] | None = None) -> AutoDialect:
    """The newest release dialect not newer than ``version`` (see the module docstring)."""
    m = _VERSION_LINE.match(f"QEMU emulator version {version}")
    assert m is not None
    have = (int(m[1]), int(m[2]))
    dialects = release_dialects(names)
    if not dialects:
        raise QemuVersionError("dialect auto: qdrive has no release dialect")
    older = [name for v, name in dialects if v <= have]
    newest_v, newest = dialects[-1]
    if not older:
        return AutoDialect(dialects[0][1], path, version,
                           f"QEMU {version} is older than every dialect qdrive knows; "
                           f"using {dialects[0][1]}, the oldest")
    warning = None
    if have > newest_v and older[-1] == newest:
        warning = (f"QEMU {version} is newer than every dialect qdrive knows; using "
                   f"{newest}, the nearest older one")
    return AutoDialect(older[-1], path, version, warning)


@functools.lru_cache(maxsize=16)
def read_version(path: str, inode: int = 0, mtime_ns: int = 0) -> str:
    """``X.Y.Z`` from ``path --version`` (cached: inode and mtime are part of the key)."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             timeout=VERSION_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise QemuVersionError(f"dialect auto: cannot run {path} --version: {exc}") from None
    m = _VERSION_LINE.search(out.stdout)
    if m is None:
        first = (out.stdout or out.stderr).strip().splitlines()[:1]
        raise QemuVersionError(f"dialect auto: {path} --version printed no QEMU version"
                               + (f" ({first[0]!r})" if first else ""))
    return ".".join(g for g in m.groups() if g is not None)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
