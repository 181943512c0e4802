"""The block wing: Drive → BdrvFlag → OpenPlan → RawDevice → backends.

:mod:`qdrive.block.flags` turns a :class:`~qdrive.model.Drive` into QEMU's BDRV_O_*
flags and open() flags, :mod:`qdrive.block.plan` into an :class:`OpenPlan`, and
:mod:`qdrive.block.driver` opens the image with the backend the plan names
(:mod:`qdrive.block.backends`). Nothing here imports the front end
(:mod:`qdrive.frontend`): a drive string becomes a Drive before it reaches this wing.
"""

__all__ = ["flags", "plan", "driver", "backends"]
"""The public submodules."""


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
