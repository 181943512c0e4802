"""The front end: text → RawOption → Conversion → Drive → CheckResult.

A -drive string is tokenised (:mod:`._syntax`, the grammar's terminals), converted in
QEMU's order of checks (:mod:`._convert`), judged by QEMU's rules (:mod:`.rules`),
placed (:mod:`.placement`), its node graph and open-time facts modelled
(:mod:`.nodes`, :mod:`.opentime`, :mod:`.formats`, :mod:`.hostprobe`) and the whole
command line read (:mod:`.argv`, :mod:`.cmdline`, :mod:`.keyval`, :mod:`.devices`,
:mod:`.objects`, :mod:`.machine`, :mod:`.netdevs`); :mod:`.results` holds the verdicts.
The untrusted-input policy is :mod:`.policy`. Nothing here imports the block wing
(:mod:`qdrive.block`).
"""

from ..diagnostics import Diagnostic
from ..errors import DriveError


def _suggest_fix(text: str, diagnostic: Diagnostic) -> str | None:
    # DriveError.fix (qdrive/errors.py): the fix finder re-checks candidates, so it and
    # what it needs load on first use; the core holds only this hook. The front end
    # raises every DriveError, so it installs the hook when any of it is imported.
    from .fixes import suggest_for

    return suggest_for(text, diagnostic)


DriveError.suggester = _suggest_fix

__all__ = [
    "argv", "autodialect", "blockdev", "blockdev_args", "builder", "cmdfacts", "cmdline",
    "compare", "devices", "dialects", "drivers", "facts", "fastpath", "fixes", "formats",
    "hostprobe", "jsonarg", "jsonname", "jsonout", "keyval", "machine", "migrate", "netdevs",
    "nodes", "objects", "opentime", "placement", "policy", "qapi_visit", "readconfig",
    "results", "rules", "terminal", "verify",
]
"""The public submodules."""


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
