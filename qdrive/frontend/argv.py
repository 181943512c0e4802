"""Reading a whole QEMU command line: its drives, -snapshot and the machine.

Mirrors softmmu/vl.c qemu_init(): options are ``-name`` or ``--name``; every
option takes one argument except those listed in :data:`NO_ARG` (qemu-options.hx
entries without HAS_ARG); a bare argument is a disk image, as ``-hda``. The drive
shorthands go through drive_add() with the path taken verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from typing import TYPE_CHECKING

from ._check import DriveArg, check_drives, new_guard
from ..diagnostics import Diagnostic, Severity, Span, Stage
from .results import CheckResult, DriveResult

if TYPE_CHECKING:
    from .policy._guard import Guard, Opened
    from .policy import Policy

__all__ = ["CommandLine", "Option", "read_argv", "check_argv", "NO_ARG", "SHORTHANDS",
           "QEMU_PROGRAM"]

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


# What counts as the program name at the head of a command line.
QEMU_PROGRAM = re.compile(r"(.*/)?(qemu-system-[A-Za-z0-9_]+|qemu-kvm|kvm)")


@attrs.frozen
class Option:
    """One option of a command line, in order: ``-name value`` (or a bare image name).

    ``drive`` is the index into :attr:`CommandLine.drives` when the option is a drive
    (-drive, a shorthand, a bare name).
    """

    name: str  # without its dashes; "" for a bare image argument
    value: str | None  # its argument (None for options that take none, or when missing)
    typed: str  # the option as typed ("-drive", "--drive"; the name itself when bare)
    drive: int | None = None

    def words(self) -> list[str]:
        """The argv words this option was given as."""
        if self.name == "":
            return [self.typed]
        return [self.typed] if self.value is None else [self.typed, self.value]


@attrs.frozen
class CommandLine:
    """What qdrive takes from a QEMU command line."""

    drives: tuple[DriveArg, ...]
    machine: str = "pc"
    snapshot: bool = False
    skipped: tuple[str, ...] = ()  # other options, as typed
    options: tuple[Option, ...] = ()  # every option in order, drives included
    program: str | None = None  # the program name taken off the front, if any


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


def read_argv(argv: Sequence[str], *, program: bool | None = None) -> CommandLine:
    """Split ``argv`` into drives and the rest.

    ``program``: whether ``argv[0]`` is the program name. None guesses (a first word
    that is not an option and names a QEMU binary, :data:`QEMU_PROGRAM`); anything else
    at the front is a bare image name, as QEMU reads it.
    """
    args = list(argv)
    head = None
    if args and (program or program is None and not args[0].startswith("-")
                 and QEMU_PROGRAM.fullmatch(args[0])):
        head, args = args[0], args[1:]
    drives: list[DriveArg] = []
    skipped: list[str] = []
    options: list[Option] = []
    machine, snapshot = "pc", False
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-") or arg == "-":
            options.append(Option("", None, arg, len(drives)))
            drives.append(_shorthand("hda", arg))
            i += 1
            continue
        # softmmu/vl.c lookup_opt(): one '-' or two, then the name exactly.
        name = arg[2:] if arg.startswith("--") else arg[1:]
        value = args[i + 1] if name not in NO_ARG and i + 1 < len(args) else None
        i += 1 if name in NO_ARG else 2
        index = None
        if name == "drive" and value is not None:
            index = len(drives)
            drives.append(DriveArg(value))
        elif name in SHORTHANDS and value is not None:
            index = len(drives)
            drives.append(_shorthand(name, value))
        elif name == "snapshot":
            snapshot = True
        elif name in ("M", "machine") and value is not None:
            machine = _machine_type(value) or machine
        else:
            skipped.append(arg if value is None else f"{arg} {value}")
        options.append(Option(name, value, arg, index))
    return CommandLine(tuple(drives), machine, snapshot, tuple(skipped), tuple(options), head)


def check_argv(argv: Sequence[str], *, policy: Policy | None = None, program: bool | None = None,
               machine: str | None = None, probe_files: bool = True,
               hand_off: bool | str = False) -> CheckResult:
    """Check a whole QEMU command line: its drives as :func:`qdrive.check` does and, under
    an untrusted policy, every other option against the policy's allow-list
    (:mod:`qdrive.frontend.policy._argv`); refused options are ``result.options``. With
    ``hand_off`` an accepted result carries the whole command line (no program name)
    with every checked file behind a descriptor (:mod:`qdrive.frontend.policy._handoff`).
    """
    from .placement import MACHINES

    cmd = read_argv(argv, program=program)
    board = machine or cmd.machine
    guard = new_guard(policy, probe_files, hand_off)
    unknown: list[DriveResult] = []
    if guard is not None and board not in MACHINES:
        # An attacker's -machine must give a refusal, not an exception.
        unknown.append(_refused("-machine", board, "qdrive knows the pc and q35 machines only"))
        board = "pc"
    try:
        result, files = check_drives(cmd.drives, machine=board, probe_files=probe_files,
                                     snapshot=cmd.snapshot, guard=guard)
        if guard is None:
            return result
        refused, paths = _judge_options(cmd, guard)
        refused = unknown + refused
        result = attrs.evolve(result, options=tuple(refused))
        if hand_off and result.ok:
            from .policy._handoff import FdSets, HandOff

            sets = FdSets(guard.hand_off or "fdset")
            words = _handed_words(cmd, result, files, paths, sets)
            result = attrs.evolve(result, hand_off=HandOff.of(sets, words, guard))
            guard = None  # the hand-off owns the descriptors now
        return result
    finally:
        if guard is not None:
            guard.close()


def _refused(option: str, text: str, reason: str, located: bool = True) -> DriveResult:
    return DriveResult(text, None, Diagnostic(
        "policy-option", Severity.ERROR, f"untrusted command line: {reason}",
        Span(0, len(text)), Stage.FILL, located=located), (), None, option)


def _judge_options(cmd: CommandLine, guard: Guard) -> tuple[list[DriveResult],
                                                            dict[int, Opened]]:
    """The policy's refusals of the non-drive options, and the files path options name."""
    from .policy._argv import DRIVE_OPTIONS, NO_DISPLAY, NO_NETWORK, PATH_OPTIONS, judge_option
    from .policy._guard import Opened

    refused: list[DriveResult] = []
    paths: dict[int, Opened] = {}
    for n, opt in enumerate(cmd.options):
        if opt.drive is not None:
            continue
        if opt.name in DRIVE_OPTIONS:
            refused.append(_refused(opt.typed, "", f"{opt.typed} needs an argument"))
        elif opt.name in PATH_OPTIONS and opt.value is not None:
            found = _judge_path(opt.name, opt.value, guard)
            if isinstance(found, str):
                refused.append(_refused(opt.typed, opt.value, found))
            elif isinstance(found, Opened):
                paths[n] = found
        else:
            reason = judge_option(opt.name, opt.value)
            if reason:
                refused.append(_refused(opt.typed, opt.value or "", reason))
    if not any(o.name == name and (value is None or o.value == value)
               for o in cmd.options for name, value in NO_NETWORK):
        refused.append(_refused("", "", "without -nodefaults, -nic none or -net none QEMU "
                                "adds a network card with user-mode networking, through which "
                                "the guest reaches the network", located=False))
    if not any((o.name, o.value) == NO_DISPLAY for o in cmd.options):
        refused.append(_refused("", "", "without -display none QEMU opens a display (a "
                                "window, whose console holds the monitor)", located=False))
    return refused, paths


def _judge_path(name: str, value: str, guard: Guard) -> Opened | str | None:
    if name == "initrd" and ("," in value or " " in value):
        # hw/i386/multiboot.c: a list of modules, each "file args": other names than this.
        return "-initrd with ',' or ' ' names multiboot modules; give one file"
    return guard.judge_path(value, f"-{name} file")


def _handed_words(cmd: CommandLine, result: CheckResult, files: list[tuple[Opened, ...]],
                  paths: dict[int, Opened], sets: object) -> list[str]:
    from .policy._handoff import FdSets, drive_args

    assert isinstance(sets, FdSets)
    words: list[str] = []
    for n, opt in enumerate(cmd.options):
        if opt.drive is not None:
            words += drive_args(result.drives[opt.drive].drive, files[opt.drive], sets)
        elif n in paths:
            words += [opt.typed, sets.proc_name(paths[n])]
        else:
            words += opt.words()
    return words


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
