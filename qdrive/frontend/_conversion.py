"""What converting one drive string produces: the :class:`Conversion`.

Its own module so the converter (``_convert``), its shortcut (``fastpath``) and the
stages after them (check, policy, board) share the type without importing each other.
"""

from __future__ import annotations

import attrs

from ..diagnostics import Diagnostic, Span
from ..model import Drive
from ..probe import ProbeResult
from ._syntax import RawOption

__all__ = ["Conversion"]


@attrs.define
class Conversion:
    """What converting one drive string produced."""

    text: str
    drive: Drive | None = None
    warnings: list[Diagnostic] = attrs.Factory(list)
    error: Diagnostic | None = None
    items: list[RawOption] = attrs.Factory(list)
    id_span: Span | None = None
    empty: bool = False  # QEMU creates a drive without medium
    format_probed: bool = False  # no format=/driver=: QEMU probes the file
    probed_format: str | None = None  # what probing found (check() with probe_files)
    opened_read_only: bool = False  # read-only=on, media=cdrom or snapshot=on (overlay)
    seen: ProbeResult | None = None  # what the format reads through a format file child
    seen_name: str = ""  # the file name QEMU reports for it (the innermost file's)

    def span_of(self, key: str) -> Span:
        """The span of the last item with ``key``, or the whole string."""
        for item in reversed(self.items):
            if item.key == key:
                return item.span
        return Span(0, len(self.text))
