"""The -drive options of a command line: read in QEMU's order (-drive, the shorthands,
-readconfig [drive] sections), judged by qdrive.check as drive_new() would
(softmmu/vl.c configure_blockdev()), and their verdict split into qemu_init()'s phases.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._argv_machine import _known_machine
from ._argv_objects import _early_objects
from ._argv_state import PROG, Phase, _Event, _State, config_where
from .argv import SHORTHANDS, read_argv
from ..diagnostics import location
from ..dialect import DEFAULT, Dialect
from .formats import DEFINED_OBJECTS


def _drive_args(tokens: list[tuple[int, str, str | None]], probe_files: bool,
                dialect: Dialect = DEFAULT) -> tuple[list[Any], list[tuple[int, str]]]:
    """The drives in QEMU's order (-drive, shorthands, -readconfig [drive] sections) and
    the config files' errors (parse time, located ``prog:FILE:LINE:`` or, as the dialect
    says, at the option: Dialect.config_errors_at_line)."""
    from ._check import DriveArg

    out: list[Any] = []
    errors: list[tuple[int, str]] = []
    for index, option, value in tokens:
        name = option.lstrip("-")
        if (name == "drive" or name in SHORTHANDS) and value is not None:
            out += list(read_argv([option, value]).drives)
        elif name == "readconfig" and value is not None and probe_files:
            from .readconfig import read_config

            sections, err = read_config(value)
            # The last section is handed on with &error_fatal itself: an error there
            # exits before its hint is added (util/qemu-config.c qemu_config_parse).
            last = sections[-1].line if sections and err is None else -1
            out += [DriveArg(s.drive_text(), f"-readconfig {value}:{s.line}" +
                             (" (last)" if s.line == last else ""))
                    for s in sections if s.group == "drive"]
            if err is not None:
                where = f"{PROG}:{value}:{err.line}: " if err.line and \
                    dialect.config_errors_at_line else location(PROG, "-readconfig", value)
                errors.append((index, where + str(err)))
    return out, errors


def _drive_events(st: _State, drives: Any, drive_at: list[int], qemu_line: Any) -> None:
    """The drives' own verdict, split into QEMU's phases."""
    text = _config_locations(drives.qemu_stderr(PROG), drives, st.dialect)
    text = _parse_warnings(st, drives, drive_at, qemu_line, text)
    first = drives.first_error
    if first is None:
        if text:
            st.events.append(_Event(Phase.DRIVES, 0, text, False))
        return
    r, err = first
    from ..diagnostics import Stage

    n = drives.drives.index(r)
    line = _config_locations(qemu_line(err, r, PROG), drives, st.dialect)
    # a silent error (format=help: its list goes to stdout) prints no line of its own
    before, _, _ = (text, "", "") if not line else \
        text.partition(line) if line in text else ("", "", "")
    err_text = text[len(before):]
    if before.strip():
        st.events.append(_Event(Phase.DRIVES if err.stage is not Stage.PARSE else Phase.PARSE,
                                -1, before.rstrip("\n"), False))
    if err.stage is Stage.PARSE:
        phase, order = Phase.PARSE, drive_at[n] if n < len(drive_at) else 0
    elif err.stage is Stage.BOARD_DEVICE:
        phase, order = Phase.DRIVE_DEVICES, n
    elif err.stage >= Stage.BOARD:
        phase, order = Phase.BOARD, n
    else:
        phase, order = Phase.DRIVES, n
    st.events.append(_Event(phase, order, err_text, True, from_drive=True))
    idx = drive_at[n] if n < len(drive_at) else None
    if idx is not None and idx in st.results:
        st.results[idx] = attrs.evolve(st.results[idx], error=err.qemu_text)


def _parse_warnings(st: _State, drives: Any, drive_at: list[int], qemu_line: Any,
                    text: str) -> str:
    """The drives' warnings of the option loop (a short-form boolean ...) are printed
    as QEMU reads each -drive (softmmu/vl.c qemu_opts_parse_noisily()), before anything
    the loop's end decides (a removed machine in select_machine()): filed under the
    parse phase at their option; the rest of ``text`` is returned."""
    from ..diagnostics import Stage

    for n, r in enumerate(drives.drives):
        for w in r.warnings:
            if w.stage is not Stage.PARSE:
                continue
            line = _config_locations(qemu_line(w, r, PROG), drives, st.dialect)
            if not line or not text.startswith(line):
                return text  # not the prefix qemu_stderr() prints first: leave it whole
            text = text[len(line):].lstrip("\n")
            order = drive_at[n] if n < len(drive_at) else 0
            st.events.append(_Event(Phase.PARSE, order, line, False))
    return text


def _config_locations(text: str, drives: Any, dialect: Dialect = DEFAULT) -> str:
    """A -readconfig drive's messages are located at its section (``prog:FILE:LINE: ``);
    its parse-time error at the option instead when the dialect says so."""
    for r in drives.drives:
        if r.option.startswith("-readconfig "):
            where = config_where(r.option)
            head = location(PROG, r.option, r.text)
            if not dialect.config_errors_at_line and r.error is not None and \
                    r.error.stage.name == "PARSE":
                name = where.rpartition(":")[0]
                text = text.replace(head, location(PROG, "-readconfig", name))
                continue
            if r.option.endswith(" (last)") and r.error is not None and \
                    r.error.stage.name == "PARSE":
                text = text.replace(f"{head}{r.error.qemu_text}", f"{head}{r.error.message}")
            text = text.replace(head, f"{PROG}:{where}: ")
    return text


def _drive_vs_nodes(st: _State, drives: Any, drive_at: list[int]) -> None:
    # block.c bdrv_assign_node_name(): a drive's node-name may not be a -blockdev's
    # (made first, by configure_blockdev); block-backend.c monitor_add_blk(): nor its id.
    for n, r in enumerate(drives.drives):
        name = r.drive.node_name if r.ok and r.drive is not None else None
        if name and name in st.graph.nodes:
            st.fail(Phase.DRIVES, n, f"Duplicate nodes with node-name='{name}'", r.option,
                    r.text)
            return
        if r.ok and r.placement and r.placement.device_id in st.graph.nodes:
            st.fail(Phase.DRIVES, n, f"Device name '{r.placement.device_id}' conflicts with "
                    "an existing node name", r.option, r.text)
            return


def judge_drives(st: _State, tokens: list[tuple[int, str, str | None]], cmd: Any,
                 probe_files: bool, policy: Any, dialect: str) -> Any:
    """Every drive as drive_new() opens it (qdrive.check, with the ids of the early
    objects defined); the -readconfig files' errors are parse-time events."""
    from . import netprobe
    from ._check import check

    drive_args, config_errors = _drive_args(tokens, probe_files, st.dialect)
    defined = DEFINED_OBJECTS.set(_early_objects(tokens))
    try:
        drives = check(drive_args, machine=_drive_board(cmd.machine),
                       probe_files=probe_files, snapshot=cmd.snapshot, policy=policy,
                       dialect=dialect, probe_network=netprobe.allowed_now())
    finally:
        DEFINED_OBJECTS.reset(defined)
    for index, message in config_errors:
        st.events.append(_Event(Phase.PARSE, index, message, True))
    return drives


def _drive_board(machine: str) -> str:
    """The board the drives are placed on: the machine's, pc for one qdrive does not
    know (its own verdict is the machine phase's)."""
    from .placement import BARE_BOARDS

    return machine if machine in BARE_BOARDS else str(_known_machine(machine))


def register_drives(st: _State, drives: Any) -> None:
    """The drives that opened, by the id a device's drive= names and by node-name."""
    for r in drives.drives:
        if r.ok and r.placement is not None and r.placement.device_id:
            st.backends[r.placement.device_id] = r
        if r.ok and r.drive is not None and r.drive.node_name:
            st.drive_nodes.add(r.drive.node_name)
