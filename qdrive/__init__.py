"""qdrive: read QEMU -drive option strings exactly as QEMU 7.2 does.

Start with :func:`parse_drive` (one string -> :class:`Drive` or
:class:`DriveError`) and :func:`check` (a command line's drives -> a
:class:`CheckResult` with QEMU's verdicts, warnings and placements).

Importing qdrive is cheap: the lark parser is built on first use, and qdrive logs
nothing (so it does not import logging).
"""

from __future__ import annotations

from . import _aliases

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up cost)

if TYPE_CHECKING:  # the front door's names, for type checkers (loaded on first use)
    from collections.abc import Sequence
    from typing import Any

    from .frontend._check import DriveArg, check, parse_drive
    from .frontend.placement import Placement
    from .frontend.results import CheckResult, DriveResult
    from .diagnostics import Diagnostic, Severity, Span
    from .errors import (DriveError, DriveFieldError, DriveSyntaxError, QDriveError,
                         UnsupportedDialect)
    from .model import (
        CACHE_MODES, DEFAULT_DIALECT, DIALECTS, Aio, CacheMode, DetectZeroes, Discard, Drive,
        ErrorAction, Interface, Media,
    )
    from .options import OPTIONS, OPTIONS_2008, OptionSpec

if TYPE_CHECKING:  # the lazy names, for type checkers (loaded by __getattr__ at run time)
    from .block.flags import AIO_FLAGS, DISCARD_FLAGS, BdrvFlag, BdrvFlag2008, bdrv_flags
    from .block.flags import open_flags
    from .block.plan import OpenPlan, explain, plan_open
    from .frontend.blockdev import Blockdev, TranslationError, to_blockdev
    from .frontend.policy import Policy
    from .block.backends import BackendUnavailable
    from .block.driver import DeviceStoppedError, DriverError, IOStopped, RawDevice
    from .frontend.autodialect import AutoDialect, auto_dialect
    from .frontend.builder import drive
    from .frontend.cmdline import ArgvResult
    from .frontend.compare import Comparison, compare_dialects
    from .frontend.fixes import Fix, suggest_fix
    from .frontend.migrate import Migration, to_blockdev_argv
    from .frontend.verify import Mismatch, verify
    from .block._imagelock import ImageLocked

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
    "BdrvFlag", "BdrvFlag2008", "bdrv_flags", "open_flags", "plan_open", "OpenPlan", "explain",
    # errors
    "QDriveError", "DriveError", "DriveSyntaxError", "DriveFieldError", "UnsupportedDialect",
    "TranslationError",
    # -blockdev translation
    "Blockdev", "to_blockdev",
    # diagnostics
    "Diagnostic", "Severity", "Span",
    # enumerations and tables
    "Interface", "Media", "CacheMode", "Aio", "Discard", "DetectZeroes", "ErrorAction",
    "CACHE_MODES", "AIO_FLAGS", "DISCARD_FLAGS", "OPTIONS", "OPTIONS_2008", "OptionSpec",
    "DIALECTS", "DEFAULT_DIALECT",
]

__version__ = "0.1.0"


_aliases.install()  # qdrive 0.1's module paths (qdrive.flags, qdrive.driver, ...) for one release

# The front door's own names load on first use (PEP 562), all at once: `import qdrive`
# costs nearly nothing, so the `qdrive` command's lean path (qdrive/_lean.py), which
# imports this package first, pays for no attrs, no model and no front end (issue 17).
_FRONT = {
    "qdrive.frontend._check": ("DriveArg", "check", "parse_drive"),
    "qdrive.frontend.placement": ("Placement",),
    "qdrive.frontend.results": ("CheckResult", "DriveResult"),
    "qdrive.diagnostics": ("Diagnostic", "Severity", "Span"),
    "qdrive.errors": ("DriveError", "DriveFieldError", "DriveSyntaxError", "QDriveError",
                      "UnsupportedDialect"),
    "qdrive.model": ("CACHE_MODES", "DEFAULT_DIALECT", "DIALECTS", "Aio", "CacheMode",
                     "DetectZeroes", "Discard", "Drive", "ErrorAction", "Interface", "Media"),
    "qdrive.options": ("OPTIONS", "OPTIONS_2008", "OptionSpec"),
}


def _forward(module: str, attr: str) -> Any:
    # Drive's 0.1 forwarding members reach their stage only when called (import cost).
    def call(*args: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(module), attr)(*args)

    return call


def _load_front() -> None:
    """Bind every name of :data:`_FRONT` here and give Drive its 0.1 members (once)."""
    import importlib

    for module, names in _FRONT.items():
        loaded = importlib.import_module(module)
        globals().update({name: getattr(loaded, name) for name in names})
    _aliases.drive_forwards(globals()["Drive"],
                            bdrv_flags=_forward("qdrive.block.flags", "bdrv_flags"),
                            open_flags=_forward("qdrive.block.flags", "open_flags"),
                            to_blockdev=_forward("qdrive.frontend.blockdev", "to_blockdev"))


# The driver is loaded on first use: `import qdrive` opens nothing and loads no backend.
# The block wing's flags and plan, the -blockdev translation and the policy load on first
# use too: `qdrive check` needs none of them (issue 17, start-up).
_LAZY = {**{name: ("qdrive.block.flags", name) for name in (
             "AIO_FLAGS", "DISCARD_FLAGS", "BdrvFlag", "BdrvFlag2008", "bdrv_flags",
             "open_flags")},
         **{name: ("qdrive.block.plan", name) for name in ("OpenPlan", "explain", "plan_open")},
         **{name: ("qdrive.frontend.blockdev", name) for name in (
             "Blockdev", "TranslationError", "to_blockdev")},
         "Policy": ("qdrive.frontend.policy", "Policy"),
         "RawDevice": ("qdrive.block.driver", "RawDevice"),
         "IOStopped": ("qdrive.block.driver", "IOStopped"),
         "DeviceStoppedError": ("qdrive.block.driver", "DeviceStoppedError"),
         "DriverError": ("qdrive.block.driver", "DriverError"),
         "ImageLocked": ("qdrive.block._imagelock", "ImageLocked"),
         "BackendUnavailable": ("qdrive.block.backends", "BackendUnavailable"),
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


def open(drive: Drive | OpenPlan | str, *, backend: str | None = None,  # noqa: A001
         **backend_options: Any) -> RawDevice:
    """Open the image ``drive`` describes (a -drive string, a Drive or an OpenPlan).

    A string is read with :func:`parse_drive` first (raising :class:`DriveError` as
    QEMU would refuse it); the rest is :func:`qdrive.block.driver.open`: ``backend`` is
    threads, posix, native or io_uring (by default the drive's aio=), and
    ``backend_options`` go to the backend (``workers`` for threads, ``fd_pool`` for posix).
    """
    from .block.driver import open as _open  # the driver is loaded on first use
    from .frontend._check import parse_drive

    if isinstance(drive, str):
        drive = parse_drive(drive)
    return _open(drive, backend=backend, **backend_options)


def check_argv(argv: Sequence[str], probe_files: bool = True,
               policy: Policy | None = None, dialect: str | None = None,
               probe_network: bool = False) -> ArgvResult:
    """Judge a whole QEMU command line: -drive, -blockdev, -device, -object, -machine.

    Returns an :class:`ArgvResult`: one verdict per option (options qdrive does not
    judge are listed as skipped), the drives' :class:`CheckResult`, and
    ``qemu_stderr()``. ``probe_network`` connects where the network drives would
    (see :func:`qdrive.check`). See :func:`qdrive.frontend.cmdline.check_argv`.
    ``dialect``: None is :data:`DEFAULT_DIALECT`.
    """
    from .frontend.cmdline import check_argv as _check_argv
    from .model import DEFAULT_DIALECT

    return _check_argv(argv, probe_files, policy, dialect or DEFAULT_DIALECT, probe_network)


def __getattr__(name: str) -> object:
    if any(name in names for names in _FRONT.values()):
        _load_front()
        return globals()[name]
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'qdrive' has no attribute {name!r}")


def __dir__() -> list[str]:
    # dir(qdrive) and completion show the public names, the lazy ones too (PEP 562), and
    # not the module's own helpers (typing's Any, Sequence, the import machinery).
    return sorted({*__all__, *_LAZY, "__version__"})
