"""The benchmark tool behind ``qdrive bench``: only :mod:`qdrive.cli` imports it.

:mod:`.workload` runs one drive's workload (and fio beside it), :mod:`.matrix` the table
over backends and cache modes, :mod:`.target` prepares and guards the target file or
device, :mod:`.signals` turns SIGINT/SIGTERM into a clean stop, and :mod:`.cli` is the
subcommand. It sees both wings: it checks the drive string and then drives the device.
"""

__all__ = ["workload", "matrix", "target", "signals", "cli"]
"""The public submodules."""


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
