"""What QEMU prints to stderr for a check: which lines, in which order.

softmmu/vl.c parses every -drive string first (their flag warnings, a bad or duplicate
id), then creates each drive in turn (blockdev.c drive_new()), then the board claims its
drives (blockdev.c drive_check_orphaned() reports every orphan before QEMU exits). Each
line is rendered by :func:`qdrive.diagnostics.qemu_line`, the one renderer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..diagnostics import Diagnostic, Stage, qemu_line

if TYPE_CHECKING:
    from .results import CheckResult, DriveResult

__all__ = ["check_stderr", "drive_line"]


def drive_line(d: Diagnostic, r: DriveResult, prog: str) -> str:
    """QEMU's line for ``d`` about the drive ``r`` (as it was given: -drive, -hda ...)."""
    return qemu_line(d, r.text, prog, r.option)


def check_stderr(result: CheckResult, prog: str) -> str:
    """What QEMU would print to stderr for ``result``'s drives (no caret lines)."""
    lines: list[str] = []
    for r in result.drives:  # 1. every string is parsed
        lines += [drive_line(w, r, prog) for w in r.warnings if w.stage is Stage.PARSE]
        if r.error is not None and r.error.stage is Stage.PARSE:
            return _joined(lines + [drive_line(r.error, r, prog)])
    for r in result.drives:  # 2. each drive is created in turn
        lines += [drive_line(w, r, prog) for w in r.warnings
                  if Stage.PARSE < w.stage < Stage.BOARD]
        if r.error is not None and r.error.stage < Stage.BOARD:
            return _joined(lines + [drive_line(r.error, r, prog)])
    first = result.first_error  # 3. the board
    # what the devices print as they are realized (machine init's, then -device's), up to
    # the stage whose error stops QEMU
    until: int = first[1].stage if first is not None else max(Stage) + 1
    for stage in (Stage.BOARD, Stage.BOARD_DEVICE):
        lines += [drive_line(w, r, prog) for r in result.drives for w in r.warnings
                  if w.stage is stage and stage < until]
    if first is not None and first[1].stage is Stage.BOARD_ORPHAN:
        # blockdev.c drive_check_orphaned() reports every orphan, then QEMU exits.
        lines += [drive_line(r.error, r, prog) for r in result.drives
                  if r.error is not None and r.error.stage is Stage.BOARD_ORPHAN]
    elif first is not None:
        lines.append(drive_line(first[1], first[0], prog))
    return _joined(lines)


def _joined(lines: list[str]) -> str:
    return "\n".join(line for line in lines if line)  # a silent error prints nothing
