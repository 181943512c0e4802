"""What a check returns: per-drive results, placements, the JSON shape.

QEMU's stderr for a result is rendered by qdrive/frontend/_stderr.py."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

from ..diagnostics import Diagnostic, Stage
from ..errors import DriveError
from ..model import Drive, cache_triple
from ._stderr import check_stderr
from .placement import Placement

if TYPE_CHECKING:
    from .hostprobe import HostFacts

__all__ = ["Placement", "DriveResult", "CheckResult"]

@attrs.frozen
class DriveResult:
    """One drive of a check: its verdict, warnings, the Drive and its facts."""

    text: str
    drive: Drive | None
    error: Diagnostic | None
    warnings: tuple[Diagnostic, ...]
    placement: Placement | None
    option: str = "-drive"  # how the drive was given: -drive, -hda, -cdrom ...
    probed_format: str | None = None  # the format QEMU's probe would pick (no format=)
    host: HostFacts | None = None  # the image's write access and others' locks (probe_files)
    # The host file the drive opens, as QEMU resolves its name (file=, file.filename=,
    # filename= with driver=file, a json: name's file child; file:/host_device:/host_cdrom:
    # prefixes stripped); "" for none (an empty drive, a network protocol). Resolved once,
    # by the converter (frontend/_conversion.local_image).
    image: str = ""
    # What the check left undecided or decided by connecting (frontend/netprobe.py): "not
    # checked: QEMU connects to HOST:PORT at open (use --probe-network)", ...
    notes: tuple[str, ...] = ()

    @property
    def format(self) -> str | None:
        """The image format QEMU uses: format=/driver=, else what probing found."""
        return self.drive.format if self.drive and self.drive.format else self.probed_format

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_for_error(self) -> None:
        """Raise the DriveError for this drive, if it has one."""
        if self.error is not None:
            raise DriveError.of(self.text, self.error, self.warnings)

    def to_json(self) -> dict[str, Any]:
        from .jsonout import drive_json

        return drive_json(self, self._facts_json())

    def _facts_json(self) -> dict[str, Any]:
        d = self.drive if self.ok else None
        err = None
        if self.error is not None:
            err = {"message": self.error.qemu_text, "start": self.error.span.start,
                   "end": self.error.span.end}
        wb, direct, no_flush = cache_triple(d) if d else (False, False, False)
        return {
            "text": self.text, "ok": self.ok, "error": err,
            "warnings": [w.qemu_text for w in self.warnings],
            "notes": list(self.notes),
            "options": d.options() if d else None,
            "placement": self.placement.to_json() if self.placement and d else None,
            "read_only": d.effective_read_only if d else None,
            "cache": {"writeback": wb, "direct": direct, "no_flush": no_flush} if d else None,
            "aio": str(d.aio or "threads") if d else None,
            "detect_zeroes": str(d.detect_zeroes or "off") if d else None,
            "format": self.format if d else None,
        }


@attrs.frozen
class CheckResult:
    """The verdict on a command line's drives, as QEMU would give it."""

    dialect: str
    drives: tuple[DriveResult, ...]
    # Other options of a command line the untrusted policy refused (check_argv): each a
    # DriveResult whose ``option`` is the option and ``text`` its argument.
    options: tuple[DriveResult, ...] = ()
    # The descriptor hand-off (policy._handoff.HandOff) when check(..., hand_off=True)
    # accepted every drive; it owns open descriptors, so it takes no part in equality.
    hand_off: Any = attrs.field(default=None, eq=False, repr=False)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.drives) and all(r.ok for r in self.options)

    @property
    def first_error(self) -> tuple[DriveResult, Diagnostic] | None:
        """The error QEMU prints (it stops at the first): by stage, then drive order;
        a refused option comes first (it is the policy's, not QEMU's)."""
        def order(n: int, e: Diagnostic) -> tuple[int, int, int]:
            if e.stage is Stage.PARSE:
                return (0, 0, n)
            return (1, 0, n) if e.stage < Stage.BOARD else (2, e.stage, n)

        refused = [r for r in self.options if r.error is not None]
        if refused:
            assert refused[0].error is not None
            return refused[0], refused[0].error
        errs = [(order(n, r.error), r) for n, r in enumerate(self.drives) if r.error]
        if not errs:
            return None
        r = min(errs, key=lambda t: t[0])[1]
        assert r.error is not None
        return r, r.error

    def qemu_stderr(self, prog: str = "qemu-system-x86_64") -> str:
        """What QEMU would print to stderr for these drives (no caret lines).

        All strings are parsed first (their flag warnings, a bad or duplicate id),
        then each drive is created in turn, then the board claims its drives
        (qdrive/frontend/_stderr.py).
        """
        return check_stderr(self, prog)

    def raise_for_error(self) -> None:
        """Raise the DriveError QEMU would stop at (the first error), if there is one."""
        first = self.first_error
        if first is not None:
            r, err = first
            raise DriveError.of(r.text, err, r.warnings)

    def to_args(self) -> list[str]:
        """The drives as QEMU argv: ``["-drive", TEXT, "-hda", PATH, ...]`` (never a shell
        string). Raises DriveError when QEMU would refuse them."""
        self.raise_for_error()
        return [a for r in self.drives for a in (r.option, r.text)]

    def to_blockdev_args(self) -> list[str]:
        from .blockdev import to_blockdev  # the translation is a later stage than the result

        """The -blockdev/-device argv of every drive, in order (raises DriveError when QEMU
        would refuse them, TranslationError when a drive has no -blockdev spelling)."""
        self.raise_for_error()
        out: list[str] = []
        for r in self.drives:
            assert r.drive is not None
            out += to_blockdev(r.drive, r.placement).args()
        return out

    def to_json(self) -> dict[str, Any]:
        """The JSON shape `qdrive check --json` prints (qdrive/schema/check.schema.json)."""
        from .jsonout import check_json

        out = check_json(self, [r.to_json() for r in self.drives])
        if self.options:  # other options the untrusted policy refused (--argv)
            out["options"] = [{"option": r.option, "text": r.text,
                               "error": r.to_json()["error"]} for r in self.options]
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json())


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
