"""What an upgrade changes: one command line's drives checked in several dialects.

:func:`compare_dialects` checks the same drives once per dialect and lists, per drive,
where the verdicts, QEMU's messages, the facts (what query-block would report, the
placement, the canonical options) or the warnings differ. A launcher author runs it
before moving to a newer QEMU: an empty list means the drives read the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from ._check import DriveArg
    from ..model import Drive
    from .results import CheckResult, DriveResult

__all__ = ["Difference", "Comparison", "compare_dialects", "ASPECTS"]

ASPECTS = ("verdict", "message", "facts", "warnings")
# The facts compared: what QEMU would report and where it puts the drive.
_FACTS = ("options", "placement", "read_only", "cache", "aio", "detect_zeroes", "format")


@attrs.frozen
class Difference:
    """One aspect of one drive that differs: the value per dialect, in the order asked."""

    drive: int  # index of the drive in the command line
    text: str
    aspect: str  # one of ASPECTS
    values: tuple[tuple[str, Any], ...]  # (dialect, value)

    def to_json(self) -> dict[str, Any]:
        return {"drive": self.drive, "text": self.text, "aspect": self.aspect,
                "values": {d: v for d, v in self.values}}


@attrs.frozen
class Comparison:
    """The results per dialect and their differences (empty: the drives read the same)."""

    dialects: tuple[str, ...]
    results: tuple[CheckResult, ...]
    differences: tuple[Difference, ...]

    @property
    def same(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        from .jsonout import SCHEMA_VERSION

        return {"schema_version": SCHEMA_VERSION, "dialects": list(self.dialects),
                "same": self.same, "differences": [d.to_json() for d in self.differences],
                "results": {d: r.to_json() for d, r in zip(self.dialects, self.results,
                                                            strict=True)}}


def compare_dialects(drives: str | Drive | DriveArg | Iterable[str | Drive | DriveArg],
                     dialects: Sequence[str], **check_options: Any) -> Comparison:
    """Check ``drives`` in each of ``dialects`` (at least two) and list what differs.

    ``check_options`` go to :func:`qdrive.check` (machine, probe_files, snapshot, policy).
    """
    from ._check import check

    if len(dialects) < 2:
        raise ValueError("compare_dialects needs at least two dialects")
    given = [drives] if isinstance(drives, str) or not isinstance(drives, Iterable) else list(
        drives)
    results = tuple(check(given, dialect=d, **check_options) for d in dialects)
    diffs: list[Difference] = []
    for n in range(len(results[0].drives)):
        per = [r.drives[n] for r in results]
        for aspect in ASPECTS:
            if aspect == "facts" and not all(r.ok for r in per):
                continue  # a refused drive has no facts: the verdict already differs
            values = tuple((d, _aspect(r, aspect)) for d, r in zip(dialects, per, strict=True))
            if aspect == "facts":
                values = _differing_facts(values)
            if len({repr(v) for _, v in values}) > 1:
                diffs.append(Difference(n, per[0].text, aspect, values))
    return Comparison(tuple(dialects), results, tuple(diffs))


def _differing_facts(values: tuple[tuple[str, Any], ...]) -> tuple[tuple[str, Any], ...]:
    """Only the facts whose value is not the same in every dialect."""
    keys = [k for k in _FACTS if len({repr(v[k]) for _, v in values}) > 1]
    return tuple((d, {k: v[k] for k in keys}) for d, v in values)


def _aspect(r: DriveResult, aspect: str) -> Any:
    if aspect == "verdict":
        return "ok" if r.ok else "refused"
    if aspect == "message":
        return r.error.qemu_text if r.error is not None else None
    if aspect == "warnings":
        return [w.qemu_text for w in r.warnings]
    j = r.to_json()
    return {k: j[k] for k in _FACTS} if r.ok else None


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
