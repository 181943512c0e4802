"""What every driver check in formats.py shares: how a check fails, and which -object
ids (secrets, throttle groups) the command line defined before the drives open.

The failure is a driver-open Stop at the NODE stage (block.c bdrv_open_driver() passes
the driver's Error up); the secret lookup is crypto/secret_common.c
qcrypto_secret_lookup()'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, NoReturn, TYPE_CHECKING

import attrs

from ..diagnostics import Span, Stage, error

if TYPE_CHECKING:
    from ..probe import ProbeResult


# The -object ids a whole command line defined before its drives open, by kind
# ("secret", "throttle-group"; "" holds every id): vl.c makes the early objects before
# configure_blockdev(), so a drive's lookup finds them. None (nothing defined) for a lone
# -drive; qdrive.frontend.cmdline sets it.
DEFINED_OBJECTS: ContextVar[Mapping[str, frozenset[str]] | None] = ContextVar(
    "DEFINED_OBJECTS", default=None)


def _defined(kind: str, name: str) -> bool:
    return name in (DEFINED_OBJECTS.get() or {}).get(kind, frozenset())


def _no_secret(name: str) -> str:
    """crypto/secret_common.c qcrypto_secret_lookup(): no object of that id, or one that
    is not a secret."""
    if _defined("", name):
        return f"Object with id '{name}' is not a secret"
    return f"No secret with id '{name}'"

Options = Mapping[str, Any]  # key -> convert.Entry (value, span)
Check = Callable[[Options, "ProbeResult | None", Span], None]


def _fail(message: str, span: Span) -> NoReturn:
    raise error("driver-open", message, span, Stage.NODE)


def _secret(key: str, options: Options, span: Span, label: str | None = None) -> None:
    """crypto/block-luks.c qcrypto_block_luks_open(), crypto/secret_common.c lookup."""
    entry = options.get(key)
    if entry is None:
        _fail(f"Parameter '{label or key}' is required for cipher", span)
    if not _defined("secret", entry.value):
        _fail(_no_secret(entry.value), entry.span)


def _fail_detail(message: str, detail: str, span: Span) -> NoReturn:
    raise error("driver-open", message, span, Stage.NODE, detail)


# internal: nobody compares or prints one, and attrs' generated __eq__/__repr__ cost
# start-up time (qdrive check imports this module)
@attrs.frozen(eq=False, repr=False)
class _Synthetic:
    """An option QEMU derives itself (a URL file name parsed into ``url``, the entries
    ssh_process_legacy_options() puts in)."""

    key: str
    value: str
    span: Span
    seq: int = 1 << 30


def synthetic(key: str, value: str, span: Span) -> _Synthetic:
    return _Synthetic(key, value, span)
