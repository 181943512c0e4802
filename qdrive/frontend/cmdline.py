"""The whole QEMU command line: -drive beside -blockdev, -device, -object and -machine.

Mirrors the order in which softmmu/vl.c qemu_init() acts on a command line:

1. every option is read in turn: -drive and -device strings are parsed (QemuOpts: ids,
   duplicates), -blockdev is read and visited as BlockdevOptions, -object is read and
   visited as ObjectOptions;
2. qemu_create_early_backends(): the objects are made, then configure_blockdev(): every
   -blockdev node (qmp_blockdev_add), then every -drive (drive_new);
3. qemu_apply_machine_options(): the -machine properties (pflash0=, pflash1=);
4. qemu_init_board(): the board claims its drives and flash (hw/i386/pc_sysfw.c);
5. qemu_create_cli_devices(): each -device in turn; the devices -drive if=virtio asked
   for come after them.

QEMU stops at the first error; the result keeps one verdict per option, with the
options qdrive does not judge listed as skipped.

This module is the public face and the orchestration; each phase lives in a private
module named after what it mirrors: _argv_state (the records), _argv_options (1),
_argv_objects and _argv_drives (2), _argv_machine (3, 4), _argv_devices and
_argv_realize (5), _argv_locks (the image locks every phase takes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs

from . import drivers, netprobe
from ._argv_devices import _network, board_drive_globals, create_devices
from ._argv_display import gl_display
from ._argv_globals import check_globals
from ._argv_plug import numa_nodes
from ._argv_drives import _drive_events, _drive_vs_nodes, judge_drives, register_drives
from ._argv_locks import _drive_locks
from ._argv_machine import (apply_machine_options, check_machine_type, configure_accelerators,
                            init_board, link_cxl_windows, select_machine)
from ._argv_objects import create_blockdevs, create_objects
from ._argv_options import _tokens, read_options
from ._argv_state import OptionResult, PROG, Phase, _Event, _State
from .argv import read_argv
from ..diagnostics import location
from ..dialect import Dialect
from ..dialect import get as get_dialect
from ..errors import UnsupportedDialect
from ..model import DEFAULT_DIALECT


__all__ = ["Phase", "OptionResult", "ArgvResult", "check_argv"]


@attrs.frozen
class ArgvResult:
    """The verdict on a whole command line: per option, the drives, and QEMU's stderr."""

    options: tuple[OptionResult, ...]
    drives: Any  # qdrive.CheckResult of the -drive options and shorthands
    events: tuple[_Event, ...]
    machine: str = "pc"
    state: Any = None  # what the checks built: nodes, devices (for the facts)

    @property
    def ok(self) -> bool:
        return not any(e.error for e in self.events)

    def qemu_stderr(self, prog: str = PROG) -> str:
        """What QEMU prints: the warnings before the first error, and that error."""
        lines: list[str] = []
        for e in sorted(self.events, key=lambda e: (e.phase, e.order)):
            if e.text:  # a silent error (format=help) prints nothing
                lines.append(e.text.replace(PROG, prog))
            if e.error:
                break
        return "\n".join(lines)

    def first_error_json(self) -> dict[str, Any] | None:
        """The error QEMU stops at: the drives' own first_error when a drive's, else the
        option it is about (its argv index; null for one no option carries, such as a
        board's) with its message and QEMU's line."""
        first = min((e for e in self.events if e.error), key=lambda e: (e.phase, e.order),
                    default=None)
        if first is None:
            return None
        if first.from_drive:
            drives_first: dict[str, Any] | None = self.drives.to_json()["first_error"]
            return drives_first
        line = first.text.split("\n", 1)[0]
        option = next((o for o in self.options if o.error is not None and o.text is not None
                       and line.startswith(location(PROG, o.option, o.text))), None) or \
            next((o for o in self.options if o.error is not None and
                  first.text == f"{PROG}: {o.error}"), None)
        head = location(PROG, option.option, option.text) if option is not None else ""
        message = line.removeprefix(head) if head and line.startswith(head) else \
            line.removeprefix(f"{PROG}: ")
        return {"option": option.index if option else None, "message": message,
                "stderr": first.text}

    def to_json(self) -> dict[str, Any]:
        """``qemu_stderr`` and ``first_error`` of the whole line (the drives' own are in
        ``drives``); ``stderr`` is ``qemu_stderr``, under its first name."""
        stderr = self.qemu_stderr()
        return {"ok": self.ok, "machine": self.machine,
                "options": [o.to_json() for o in self.options],
                "drives": self.drives.to_json()["drives"],
                "first_error": self.first_error_json(), "qemu_stderr": stderr,
                "stderr": stderr}


def check_argv(argv: Sequence[str], probe_files: bool = True,
               policy: Any = None, dialect: str = DEFAULT_DIALECT,
               probe_network: bool = False) -> ArgvResult:
    """Judge a whole QEMU command line (with or without the program name).

    ``probe_files=False`` judges without opening any file (images, secret files, the
    pr-helper socket): only what the command line itself says;
    ``policy`` (a trusted :class:`qdrive.Policy`) is applied to the drives as
    :func:`qdrive.check` does; an untrusted one raises ValueError: use
    :func:`qdrive.frontend.argv.check_argv`, which judges every option against its allow-list.
    ``dialect``: the release dialect the drives are read in, with its -device and
    -object models, its -blockdev QAPI schema and driver table, and its host checks
    (io_uring's words); the -blockdev graph's other open checks are modelled on 7.2.
    ``probe_network``: the -drive network drivers connect as with :func:`qdrive.check`.
    """
    if policy is not None and getattr(policy, "untrusted_input", False):
        # This reader opens secret files and -blockdev images by name; the untrusted
        # policy's reader judges every option against its allow-list and opens nothing
        # outside the allowed directories.
        raise ValueError("an untrusted policy judges a command line with "
                         "qdrive.frontend.argv.check_argv(argv, policy=...)")
    chosen = get_dialect(dialect)
    if not chosen.command_line:
        raise UnsupportedDialect(f"check_argv does not read {dialect} command lines")
    with drivers.reading_for(chosen), netprobe.allowed(probe_network):
        return _check_argv(argv, probe_files, policy, dialect, chosen)


def _check_argv(argv: Sequence[str], probe_files: bool, policy: Any, dialect: str,
                chosen: Dialect) -> ArgvResult:
    # The phases in softmmu/vl.c qemu_init()'s order. Each records its verdict as events
    # of its Phase (sorted when printed), so a later phase may run after an earlier one
    # failed: it only adds what QEMU would never reach. The drives are judged first, all
    # at once (qdrive.check, as drive_new() opens them); _drive_events files their
    # verdict under the phases QEMU meets it in.
    from ._stderr import drive_line

    cmd = read_argv(argv)
    tokens = _tokens(argv)
    st = _State(dialect=chosen)
    st.graph.touch_files = probe_files
    st.numa_nodes = numa_nodes(tokens)
    st.gl_display = gl_display(tokens)
    drives = judge_drives(st, tokens, cmd, probe_files, policy, dialect)
    select_machine(st, cmd.machine)
    # 1. the option loop: every option read in turn
    read = read_options(st, tokens, probe_files)
    _drive_events(st, drives, read.drive_at, drive_line)
    check_machine_type(st, cmd.machine)
    # 2. qemu_create_early_backends(), then configure_blockdev(): -blockdev, -drive
    create_objects(st, read.parsed, probe_files)
    with netprobe.probing(netprobe.allowed_now()):  # -blockdev nbd/curl/... nodes connect
        create_blockdevs(st, read.parsed)
    _drive_locks(st, drives)
    register_drives(st, drives)
    _drive_vs_nodes(st, drives, read.drive_at)
    # 3. qemu_apply_machine_options(); 4. qemu_init_board()
    apply_machine_options(st, cmd.machine, read.machine_props, read.machine_texts, drives)
    configure_accelerators(st, read.machine_texts, tokens)
    init_board(st, cmd.machine, tokens, read.machine_props, read.fdc_globals, drives)
    board_drive_globals(st, drives, cmd.machine)
    # 5. qemu_create_cli_devices(); qemu_machine_creation_done(): net_check_clients()
    devices = create_devices(st, read.parsed, drives, cmd.machine)
    _network(st, tokens, devices)
    usb = any(o.lstrip("-") == "usb" for _, o, _ in tokens) or \
        read.machine_props.get("usb") in ("on", "yes", "true")
    check_globals(st, cmd.machine, usb, tokens, devices, drives)
    link_cxl_windows(st, cmd.machine, read.machine_props, devices)
    return ArgvResult(tuple(st.results[k] for k in sorted(st.results)), drives,
                      tuple(st.events), cmd.machine, st)


def dumps(result: ArgvResult) -> str:
    return json.dumps(result.to_json())


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
