"""-readconfig FILE: the [drive] sections of a QEMU config file (util/qemu-config.c).

Mirrors qemu_config_parse(): lines are read one by one; an empty line or one starting
with ``#`` is skipped; ``[group]`` or ``[group "id"]`` starts a section; ``key = "value"``
adds an option (a later one replaces an earlier one); anything else is a "parse error",
an option before any section "no group defined". A section is handed on when the next
one starts (or at the end), located at its last option line: softmmu/vl.c
qemu_parse_config_group() makes a QemuOpts of it (its options in QDict order), so a
[drive] section is a -drive whose messages read ``qemu-system-x86_64:FILE:LINE: ...``.
Sections of other groups are listed, not judged; a group QEMU does not have is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import attrs

from .._values import ID_EXPECTED, ID_HINT, id_wellformed

__all__ = ["ConfigError", "Section", "read_config", "QEMUOPTS_GROUPS"]

# softmmu/vl.c qemu_add_opts(): the QemuOpts groups a config file may name.
QEMUOPTS_GROUPS = frozenset({
    "drive", "chardev", "device", "netdev", "nic", "net", "rtc", "global", "mon", "trace",
    "option-rom", "accel", "memory", "smp-opts", "boot-opts", "add-fd", "object", "tpmdev",
    "overcommit", "msg", "name", "numa", "icount", "semihosting-config", "fw_cfg", "action",
    "spice", "sandbox", "iscsi", "fsdev", "virtfs"})
# vl.c is_qemuopts_group(): these are read with keyval instead
_KEYVAL_GROUPS = frozenset({"object", "audiodev", "machine", "smp-opts", "boot-opts"})

_HEADER_ID = re.compile(r'\[(\S{1,63}) "([^"]{1,63})"\]')
_HEADER = re.compile(r"\[([^\]]{1,63})\]")
_OPTION = re.compile(r'\s*(\S{1,63})\s*=\s*"([^"]{1,1023})"')


class ConfigError(ValueError):
    """A config file QEMU refuses; ``line`` is where (0: the file itself)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@attrs.frozen
class Section:
    """One section: its group, id, options (QDict order) and last option line."""

    group: str
    id: str | None
    options: tuple[tuple[str, str], ...]
    line: int

    def drive_text(self) -> str:
        """The section as a -drive option string (its id first, commas doubled)."""
        from ._qdict import in_qdict_order

        opts = dict(self.options)
        if self.id is not None:
            opts["id"] = self.id
        keys = in_qdict_order(opts)
        if "id" in keys:  # qemu_opts_create() takes the id before the other options
            keys.remove("id")
            keys.insert(0, "id")
        return ",".join(f"{k}={opts[k].replace(',', ',,')}" for k in keys)


def _sections(lines: list[str]) -> Iterator[tuple[Section, bool]]:
    """Each section as it is handed on, and whether it is the last (handed on at the
    end of the file rather than when the next header is read)."""
    group: str | None = None
    ident: str | None = None
    options: dict[str, str] = {}
    last = 0
    for lno, raw in enumerate(lines, 1):
        line = raw.rstrip("\n")
        if raw in ("\n", "") or raw.startswith("#"):
            continue
        if line.startswith("["):
            m = _HEADER_ID.match(line)
            h = _HEADER.match(line) if m is None else None
            if m is not None or h is not None:
                if group is not None:
                    yield Section(group, ident, tuple(options.items()), last), False
                group = m.group(1) if m is not None else h.group(1)  # type: ignore[union-attr]
                ident = m.group(2) if m is not None else None
                options = {}
                continue
        last = lno
        # sscanf(" %63s = \"%1023[^\"]\"") for two fields, else sscanf(" %63s = \"\"")
        # which counts one as soon as the first word is read: any line with a word is
        # an option, with an empty value unless it is spelt key = "value".
        o = _OPTION.match(line)
        word = line.split()[0][:63] if line.split() else ""
        if o is None and not word:
            raise ConfigError("parse error", lno)
        if group is None:
            raise ConfigError("no group defined", lno)
        if o is not None and o.group(2):
            options[o.group(1)] = o.group(2)
        else:
            options[word] = ""
    if group is not None:
        yield Section(group, ident, tuple(options.items()), last), True


def read_config(path: str) -> tuple[list[Section], ConfigError | None]:
    """The sections of ``path`` QEMU takes, and the error that stops it (None if none):
    the sections before an error are taken, as QEMU hands each on in turn."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.readlines()
    except OSError as exc:
        return [], ConfigError(f"Could not open '{path}': {exc.strerror}", 0)
    out: list[Section] = []
    try:
        for section, final in _sections(lines):
            if section.group not in QEMUOPTS_GROUPS | _KEYVAL_GROUPS:
                return out, ConfigError(f"There is no option group '{section.group}'",
                                        section.line)
            bad_id = section.id is not None and section.group not in _KEYVAL_GROUPS and \
                not id_wellformed(section.id)
            # qemu_opts_from_qdict() -> qemu_opts_create() checks the id as the section is
            # handed on, before the next one is read. The last one is handed on with
            # &error_fatal itself, which exits before the hint is added: a [drive] there
            # is judged as its -drive (_argv_drives.py), any other group here.
            if bad_id and not final:
                return out, ConfigError(f"{ID_EXPECTED}\n{ID_HINT}", section.line)
            if bad_id and section.group != "drive":
                return out, ConfigError(ID_EXPECTED, section.line)
            out.append(section)
    except ConfigError as exc:
        return out, exc
    return out, None


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
