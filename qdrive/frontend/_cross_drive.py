"""QEMU's rules across the drives of one command line (ids and names must be unique).

A drive can be right on its own and wrong beside another: util/qemu-option.c refuses a
second QemuOpts with the same id while parsing, and block-backend.c monitor_add_blk() /
block.c bdrv_assign_node_name() refuse a device id or node name already taken.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ._conversion import Conversion
from .results import DriveResult
from ..diagnostics import Diagnostic, Severity, Span, Stage

__all__ = ["duplicate_ids", "device_names"]


def duplicate_ids(results: Sequence[DriveResult],
                  convs: Sequence[Conversion]) -> list[DriveResult]:
    """util/qemu-option.c qemu_opts_create(): a second -drive with the same id= fails while
    parsing (each drive's first id=, as its Conversion recorded it)."""
    seen: set[str] = set()
    out = []
    for r, conv in zip(results, convs, strict=True):
        given, span = conv.given_id, conv.id_span
        if given is not None and span is not None and given in seen:
            r = attrs.evolve(r, drive=None, error=Diagnostic(
                "duplicate-id", Severity.ERROR, f"Duplicate ID '{given}' for drive",
                span, Stage.PARSE))
        elif given is not None:
            seen.add(given)
        out.append(r)
    return out


def device_names(results: Sequence[DriveResult]) -> list[DriveResult]:
    """block-backend.c monitor_add_blk() and block.c bdrv_assign_node_name()."""
    ids: set[str] = set()
    nodes: set[str] = set()
    out = []
    for r in results:
        if r.ok and r.drive and r.placement:
            did, node = r.placement.device_id or "", r.drive.node_name
            msg = ""
            if node and node in nodes:
                msg = f"Duplicate nodes with node-name='{node}'"
            elif node and node in ids:
                msg = f"node-name={node} is conflicting with a device id"
            elif did in ids:
                msg = f"Device with id '{did}' already exists"
            elif did in nodes:
                msg = f"Device name '{did}' conflicts with an existing node name"
            if msg:
                r = attrs.evolve(r, drive=None, error=Diagnostic(
                    "device-name", Severity.ERROR, msg, Span(0, len(r.text)), Stage.MONITOR))
            else:
                ids.add(did)
                nodes.update([node] if node else [])
        out.append(r)
    return out
