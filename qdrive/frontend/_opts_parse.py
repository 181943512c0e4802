"""The -drive string as QemuOpts: util/qemu-option.c opts_parse(), called from softmmu/vl.c.

Before any block code runs, QEMU reads the string into a QemuOpts: the ``id`` is taken
out and must be an identifier (qemu_opts_create() -> id_wellformed()), and a bare flag
(``snapshot`` for ``snapshot=on``) draws its deprecation warning.
"""

from __future__ import annotations

from . import rules
from ._walk import Walk
from ..diagnostics import Stage, error
from .._values import ID_EXPECTED, ID_HINT, id_wellformed

__all__ = ["opts_parse"]


def opts_parse(w: Walk) -> None:
    """util/qemu-option.c opts_parse(): the first id, then every item's flag warning."""
    items = w.conv.items
    first_id = next((i for i in items if i.key == "id"), None)
    if first_id is not None:
        w.conv.id_span = first_id.span
        w.conv.given_id = first_id.value
        if not id_wellformed(first_id.value):
            raise error("bad-id", ID_EXPECTED, first_id.span, Stage.PARSE, ID_HINT)
        w.draft.id = first_id.value
    for item in items:
        # opt_validate(): "help" and "?" are help requests, not flags.
        if item.flag and not (not item.no_prefix and item.key in ("help", "?")):
            w.conv.warnings.append(rules.flag_warning(item))
