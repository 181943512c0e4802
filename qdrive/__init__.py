"""qdrive: read QEMU -drive option strings exactly as QEMU 7.2 does.

Start with :func:`parse_drive` (one string -> :class:`Drive` or
:class:`DriveError`) and :func:`check` (a command line's drives -> a
:class:`CheckResult` with QEMU's verdicts, warnings and placements).

Importing qdrive is cheap: the lark parser is built on first use, and qdrive logs
nothing (so it does not import logging).
"""

from __future__ import annotations

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

__all__ = [
    # the two entry points and what they return
    "parse_drive", "check", "Drive", "CheckResult", "DriveResult", "Placement", "DriveArg",
    "Policy",
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
         "BackendUnavailable": ("qdrive.backends", "BackendUnavailable")}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'qdrive' has no attribute {name!r}")
