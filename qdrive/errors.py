"""The exceptions qdrive raises.

::

    QDriveError                    root of everything qdrive raises on purpose
    ├── DriveError(ValueError)     a -drive string QEMU would refuse
    │   └── DriveSyntaxError       refused while the string is tokenised (ids, 2008 items)
    ├── DriveFieldError(ValueError)
    │                              a Drive built in Python with a field of the wrong kind
    └── UnsupportedDialect(ValueError)
                                   an unknown dialect name

Any text given to :func:`qdrive.parse_drive` yields a Drive or a DriveError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import attrs

if TYPE_CHECKING:
    from .diagnostics import Diagnostic

__all__ = ["QDriveError", "DriveError", "DriveSyntaxError", "DriveFieldError",
           "UnsupportedDialect"]


class QDriveError(Exception):
    """Root of every exception qdrive raises on purpose."""


class DriveError(QDriveError, ValueError):
    """A drive QEMU would refuse: the text, QEMU's message and where it points.

    ``str()`` renders ``-drive TEXT: MESSAGE`` (QEMU's wording) and a caret line
    under the offending option.
    """

    def __init__(self, text: str, diagnostic: Diagnostic, warnings: tuple[Diagnostic, ...] = ()):
        self.text = text
        self.diagnostic = diagnostic
        self.warnings = warnings
        super().__init__(diagnostic.qemu_text)

    @classmethod
    def of(cls, text: str, diagnostic: Diagnostic,
           warnings: tuple[Diagnostic, ...] = ()) -> DriveError:
        """The right subclass for ``diagnostic``: DriveSyntaxError for tokenising errors."""
        from .diagnostics import Stage

        kind = DriveSyntaxError if diagnostic.stage is Stage.PARSE else DriveError
        return kind(text, diagnostic, warnings)

    @property
    def message(self) -> str:
        """QEMU's message, extra lines included, without the ``-drive TEXT:`` prefix."""
        return self.diagnostic.qemu_text

    @property
    def span(self) -> tuple[int, int]:
        """``(start, end)`` character offsets of the offending option in ``text``."""
        return (self.diagnostic.span.start, self.diagnostic.span.end)

    # The fix finder lives in the front end (qdrive/frontend/fixes.py), which raises every
    # DriveError; qdrive/frontend/__init__.py puts it here, so this core module imports no wing.
    suggester: ClassVar[Callable[[str, Diagnostic], str | None] | None] = None

    @property
    def fix(self) -> str | None:
        """The corrected drive string qdrive suggests (checked to pass), or None.

        Shown, never applied: see :func:`qdrive.suggest_fix` for what is fixed."""
        finder = DriveError.suggester
        return finder(self.text, self.diagnostic) if finder else None

    def __str__(self) -> str:
        # Always located at the string, even for QEMU's unlocated board messages: the
        # caret says which drive (qdrive/diagnostics.py renders every QEMU line).
        return attrs.evolve(self.diagnostic, located=True).render(self.text, prog="")


class DriveSyntaxError(DriveError):
    """A drive refused while QEMU tokenises the option string."""


class DriveFieldError(QDriveError, ValueError):
    """A :class:`~qdrive.model.Drive` field given a value it cannot hold.

    Raised when a Drive is built or evolved in Python (``Drive(interface="virtoi")``),
    never for a -drive string: QEMU's own refusals of a string are :class:`DriveError`.
    ``field`` is the attribute's name, ``value`` what was given, ``expected`` what the
    field takes.
    """

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"Drive.{field}: expected {expected}, got {value!r}")


class UnsupportedDialect(QDriveError, ValueError):
    """A dialect name qdrive does not know."""


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
