"""What an upgrade changes: one command line's drives checked in several dialects.

:func:`compare_dialects` checks the same drives once per dialect and lists, per drive,
where the verdicts, QEMU's messages, the facts (what query-block would report, the
placement, the canonical options) or the warnings differ. :func:`compare_argv` does the
same for a whole command line through check_argv(): the drives as above, then each other
option's verdict and message (-blockdev, -device, -object, -machine ...), then what QEMU
would print. A launcher author runs it before moving to a newer QEMU: an empty list
means the command line reads the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from ._check import DriveArg
    from .cmdline import ArgvResult
    from ..model import Drive
    from .results import CheckResult, DriveResult

__all__ = ["Difference", "Comparison", "compare_dialects", "compare_argv", "ASPECTS",
           "ARGV_ASPECTS"]

ASPECTS = ("verdict", "message", "facts", "warnings")
# compare_argv(): an option other than a drive has a verdict and a message; the whole
# command line has what QEMU prints ("stderr": the warnings up to the first error).
ARGV_ASPECTS = ("verdict", "message", "stderr")
# The facts compared: what QEMU would report and where it puts the drive.
_FACTS = ("options", "placement", "read_only", "cache", "aio", "detect_zeroes", "format")


@attrs.frozen
class Difference:
    """One aspect of one drive that differs: the value per dialect, in the order asked."""

    drive: int  # index of the drive in the command line (compare_argv: see ``option``)
    text: str
    aspect: str  # one of ASPECTS (ARGV_ASPECTS for an option that is not a drive)
    values: tuple[tuple[str, Any], ...]  # (dialect, value)
    # compare_argv(): None for a drive (``drive`` is its index among the drives), else
    # the option as typed (``-device``; ``argv`` for the whole command line) and
    # ``drive`` its index in argv (-1 for the whole command line).
    option: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"drive": self.drive, "text": self.text, "aspect": self.aspect,
               "values": {d: v for d, v in self.values}}
        if self.option is not None:
            out["option"] = self.option
        return out


@attrs.frozen
class Comparison:
    """The results per dialect and their differences (empty: the drives read the same)."""

    dialects: tuple[str, ...]
    results: tuple[CheckResult | ArgvResult, ...]
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
    return Comparison(tuple(dialects), results, tuple(_drive_differences(dialects, results)))


def compare_argv(argv: Sequence[str], dialects: Sequence[str], probe_files: bool = True,
                 policy: Any = None) -> Comparison:
    """Check the whole command line ``argv`` with check_argv() in each of ``dialects``
    (at least two, each one that reads command lines) and list what differs: the drives
    as :func:`compare_dialects` does, each other option's verdict and message, and
    what QEMU would print (``stderr``)."""
    from .cmdline import check_argv

    if len(dialects) < 2:
        raise ValueError("compare_argv needs at least two dialects")
    results = tuple(check_argv(argv, probe_files, policy, d) for d in dialects)
    diffs = _drive_differences(dialects, tuple(r.drives for r in results))
    diffs += _option_differences(dialects, results)
    stderr = tuple((d, r.qemu_stderr()) for d, r in zip(dialects, results, strict=True))
    if len({v for _, v in stderr}) > 1:
        diffs.append(Difference(-1, " ".join(argv), "stderr", stderr, option="argv"))
    return Comparison(tuple(dialects), results, tuple(diffs))


def _option_differences(dialects: Sequence[str], results: Sequence[ArgvResult]
                        ) -> list[Difference]:
    """Each option other than a drive (those are compared as drives): its verdict and
    message per dialect. The options are the same argv read alike, so they line up."""
    diffs: list[Difference] = []
    for per in zip(*(r.options for r in results), strict=True):
        first = per[0]
        if first.kind in ("drive", "skipped"):
            continue
        for aspect in ("verdict", "message"):
            values = tuple((d, _option_aspect(o.error, aspect))
                           for d, o in zip(dialects, per, strict=True))
            if len({repr(v) for _, v in values}) > 1:
                diffs.append(Difference(first.index, first.text or "", aspect, values,
                                        option=first.option))
    return diffs


def _option_aspect(error: str | None, aspect: str) -> str | None:
    if aspect == "verdict":
        return "ok" if error is None else "refused"
    return error


def _drive_differences(dialects: Sequence[str], results: Sequence[CheckResult]
                       ) -> list[Difference]:
    """Per drive and aspect, the values that are not the same in every dialect."""
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
    return diffs


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
