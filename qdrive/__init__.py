"""qdrive: read QEMU -drive option strings exactly as QEMU 7.2 does.

Start with :func:`parse_drive` (one string -> :class:`Drive` or
:class:`DriveError`) and :func:`check` (a command line's drives -> a
:class:`CheckResult` with QEMU's verdicts, warnings and placements).

Importing qdrive is cheap: the lark parser is built on first use, and qdrive logs
nothing (so it does not import logging).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .blockdev import Blockdev, TranslationError
from .check import DriveArg, check, parse_drive
from .results import CheckResult, DriveResult, Placement
from .diagnostics import Diagnostic, Severity, Span
from .errors import DriveError, DriveSyntaxError, QDriveError, UnsupportedDialect
from .flags import AIO_FLAGS, CACHE_MODES, DISCARD_FLAGS, BdrvFlag, BdrvFlag2008
from .model import (
    DEFAULT_DIALECT, DIALECTS, Aio, CacheMode, DetectZeroes, Discard, Drive, ErrorAction,
    Interface, Media,
)
from .options import OPTIONS, OPTIONS_2008, OptionSpec
from .plan import OpenPlan, explain, plan_open
from .policy import Policy

if TYPE_CHECKING:  # the lazy names, for type checkers (loaded by __getattr__ at run time)
    from .backends import BackendUnavailable
    from .driver import DeviceStoppedError, DriverError, IOStopped, RawDevice, open
    from .frontend.autodialect import AutoDialect, auto_dialect
    from .frontend.builder import drive
    from .frontend.cmdline import ArgvResult
    from .frontend.compare import Comparison, compare_dialects
    from .frontend.fixes import Fix, suggest_fix
    from .frontend.migrate import Migration, to_blockdev_argv
    from .frontend.verify import Mismatch, verify
    from .imagelock import ImageLocked

__all__ = [
    # the two entry points and what they return
    "parse_drive", "check", "check_argv", "Drive", "CheckResult", "DriveResult", "Placement",
    "DriveArg", "Policy", "ArgvResult",
    # for launchers (loaded on first use)
    "drive", "suggest_fix", "Fix", "verify", "Mismatch", "compare_dialects", "Comparison",
    "auto_dialect", "AutoDialect",
    # the whole command line's -blockdev spelling
    "to_blockdev_argv", "Migration",
    # the raw driver (loaded on first use)
    "open", "RawDevice", "IOStopped", "DeviceStoppedError", "DriverError", "ImageLocked",
    "BackendUnavailable",
    # flags and the open plan
    "BdrvFlag", "BdrvFlag2008", "plan_open", "OpenPlan", "explain",
    # errors
    "QDriveError", "DriveError", "DriveSyntaxError", "UnsupportedDialect", "TranslationError",
    # -blockdev translation
    "Blockdev",
    # diagnostics
    "Diagnostic", "Severity", "Span",
    # enumerations and tables
    "Interface", "Media", "CacheMode", "Aio", "Discard", "DetectZeroes", "ErrorAction",
    "CACHE_MODES", "AIO_FLAGS", "DISCARD_FLAGS", "OPTIONS", "OPTIONS_2008", "OptionSpec",
    "DIALECTS", "DEFAULT_DIALECT",
]

__version__ = "0.1.0"

# The driver is loaded on first use: `import qdrive` opens nothing and loads no backend.
_LAZY = {"open": ("qdrive.driver", "open"), "RawDevice": ("qdrive.driver", "RawDevice"),
         "IOStopped": ("qdrive.driver", "IOStopped"),
         "DeviceStoppedError": ("qdrive.driver", "DeviceStoppedError"),
         "DriverError": ("qdrive.driver", "DriverError"),
         "ImageLocked": ("qdrive.imagelock", "ImageLocked"),
         "BackendUnavailable": ("qdrive.backends", "BackendUnavailable"),
         "ArgvResult": ("qdrive.frontend.cmdline", "ArgvResult"),
         "Migration": ("qdrive.frontend.migrate", "Migration"),
         "to_blockdev_argv": ("qdrive.frontend.migrate", "to_blockdev_argv"),
         "drive": ("qdrive.frontend.builder", "drive"),
         "suggest_fix": ("qdrive.frontend.fixes", "suggest_fix"),
         "Fix": ("qdrive.frontend.fixes", "Fix"),
         "verify": ("qdrive.frontend.verify", "verify"),
         "Mismatch": ("qdrive.frontend.verify", "Mismatch"),
         "compare_dialects": ("qdrive.frontend.compare", "compare_dialects"),
         "Comparison": ("qdrive.frontend.compare", "Comparison"),
         "auto_dialect": ("qdrive.frontend.autodialect", "auto_dialect"),
         "AutoDialect": ("qdrive.frontend.autodialect", "AutoDialect")}


def check_argv(argv: Sequence[str], probe_files: bool = True,
               policy: Policy | None = None) -> ArgvResult:
    """Judge a whole QEMU command line: -drive, -blockdev, -device, -object, -machine.

    Returns an :class:`ArgvResult`: one verdict per option (options qdrive does not
    judge are listed as skipped), the drives' :class:`CheckResult`, and
    ``qemu_stderr()``. See :func:`qdrive.frontend.cmdline.check_argv`.
    """
    from .frontend.cmdline import check_argv as _check_argv

    return _check_argv(argv, probe_files, policy)


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'qdrive' has no attribute {name!r}")


def __dir__() -> list[str]:
    # dir(qdrive) and completion show the lazy names too (PEP 562).
    return sorted(set(globals()) | set(_LAZY))
