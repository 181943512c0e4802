"""Reading a whole QEMU command line: its drives, -snapshot and the machine.

Mirrors softmmu/vl.c qemu_init(): options are ``-name`` or ``--name``; every
option takes one argument except those listed in :data:`NO_ARG` (qemu-options.hx
entries without HAS_ARG); a bare argument is a disk image, as ``-hda``. The drive
shorthands go through drive_add() with the path taken verbatim.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from .check import DriveArg

__all__ = ["CommandLine", "read_argv", "NO_ARG", "SHORTHANDS"]

# qemu-options.hx (7.2): the options that take no argument.
NO_ARG = frozenset(
    "S async-teardown audio-help daemonize enable-kvm enable-sync-profile full-screen help "
    "h mem-prealloc no-acpi no-fd-bootchk no-hpet no-reboot no-shutdown no-user-config "
    "nodefaults nographic old-param only-migratable portrait preconfig s semihosting "
    "singlestep snapshot usb version win2k-hack xen-attach xen-domid-restrict".split())

# softmmu/vl.c: shorthand -> (built-in option string, if=, index=); if None = machine default.
SHORTHANDS = {
    "hda": ("media=disk", None, 0), "hdb": ("media=disk", None, 1),
    "hdc": ("media=disk", None, 2), "hdd": ("media=disk", None, 3),
    "cdrom": ("media=cdrom", None, 2),
    "fda": ("", "floppy", 0), "fdb": ("", "floppy", 1),
    "sd": ("", "sd", -1), "pflash": ("", "pflash", -1), "mtdblock": ("", "mtd", -1),
}


@attrs.frozen
class CommandLine:
    """What qdrive takes from a QEMU command line."""

    drives: tuple[DriveArg, ...]
    machine: str = "pc"
    snapshot: bool = False
    skipped: tuple[str, ...] = ()  # other options, as typed


def _shorthand(name: str, path: str) -> DriveArg:
    optstr, iface, index = SHORTHANDS[name]
    extra: list[tuple[str, str]] = []
    if iface is not None:
        extra.append(("if", iface))
    if index >= 0:
        extra.append(("index", str(index)))
    extra.append(("file", path))
    return DriveArg(path, f"-{name}", optstr, tuple(extra))


def _machine_type(value: str) -> str:
    # -machine [type=]NAME[,prop=value...]; a later -machine overrides the type.
    for part in value.split(","):
        if part.startswith("type="):
            return part[5:]
        if "=" not in part and part:
            return part
    return ""


def read_argv(argv: Sequence[str]) -> CommandLine:
    """Split ``argv`` (with or without the program name) into drives and the rest."""
    args = list(argv)
    if args and not args[0].startswith("-") and "qemu" in args[0].rsplit("/", 1)[-1]:
        args = args[1:]
    drives: list[DriveArg] = []
    skipped: list[str] = []
    machine, snapshot = "pc", False
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-") or arg == "-":
            drives.append(_shorthand("hda", arg))
            i += 1
            continue
        name = arg.lstrip("-")
        value = args[i + 1] if name not in NO_ARG and i + 1 < len(args) else None
        i += 1 if name in NO_ARG else 2
        if name == "drive" and value is not None:
            drives.append(DriveArg(value))
        elif name in SHORTHANDS and value is not None:
            drives.append(_shorthand(name, value))
        elif name == "snapshot":
            snapshot = True
        elif name in ("M", "machine") and value is not None:
            machine = _machine_type(value) or machine
        else:
            skipped.append(arg if value is None else f"{arg} {value}")
    return CommandLine(tuple(drives), machine, snapshot, tuple(skipped))
