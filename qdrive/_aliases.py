"""The module paths of qdrive 0.1, kept for one release after the house moved (0.2).

0.1 kept every module in one flat folder; 0.2 puts them in two wings over a small core
(:mod:`qdrive.frontend`, :mod:`qdrive.block`, :mod:`qdrive.bench`). ``import qdrive.flags``
and the like still work: a finder on :data:`sys.meta_path` answers for each old public
path below with the module at its new place (the same object, so ``isinstance`` and
monkeypatching agree) and warns once with a :class:`DeprecationWarning`.

``qdrive.check`` has no alias: on the package it is the function :func:`qdrive.check`,
and a submodule import of the same name would replace that attribute. Import its names
from :mod:`qdrive` instead.
"""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up cost)
if TYPE_CHECKING:  # `import qdrive` installs the finder: typing and types stay unloaded
    from collections.abc import Callable
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any

ALIASES: dict[str, str] = {
    "qdrive.values": "qdrive._values",
    "qdrive.convert": "qdrive.frontend._convert",
    "qdrive.rules": "qdrive.frontend.rules",
    "qdrive.placement": "qdrive.frontend.placement",
    "qdrive.dialects": "qdrive.frontend.dialects",
    "qdrive.results": "qdrive.frontend.results",
    "qdrive.argv": "qdrive.frontend.argv",
    "qdrive.blockdev": "qdrive.frontend.blockdev",
    "qdrive.facts": "qdrive.frontend.facts",
    "qdrive.board": "qdrive.frontend._board",
    "qdrive.policy": "qdrive.frontend.policy",
    "qdrive.flags": "qdrive.block.flags",
    "qdrive.plan": "qdrive.block.plan",
    "qdrive.driver": "qdrive.block.driver",
    "qdrive.alignment": "qdrive.block._alignment",
    "qdrive.imagelock": "qdrive.block._imagelock",
    "qdrive.backends": "qdrive.block.backends",
    "qdrive.backends.threads": "qdrive.block.backends.threads",
    "qdrive.backends.posix": "qdrive.block.backends.posix",
    "qdrive.backends.native": "qdrive.block.backends.native",
    "qdrive.backends.io_uring": "qdrive.block.backends.io_uring",
    "qdrive.bench_matrix": "qdrive.bench.matrix",
    "qdrive.bench_cli": "qdrive.bench.cli",
    "qdrive.bench_signals": "qdrive.bench.signals",
    "qdrive.bench_target": "qdrive.bench.target",
}
"""Old module path -> the module that answers for it (new path)."""


class _AliasLoader:
    """Hands back the module at its new path instead of executing anything."""

    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        import importlib
        import warnings

        warnings.warn(f"{spec.name} moved to {self.new} in qdrive 0.2; the old path goes "
                      "in 0.3", DeprecationWarning, stacklevel=4)
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        """The module ran when it was imported at its new path: nothing to do."""


class AliasFinder:
    """A :data:`sys.meta_path` finder for :data:`ALIASES` (and nothing else)."""

    @classmethod
    def find_spec(cls, fullname: str, path: object = None,
                  target: object = None) -> ModuleSpec | None:
        new = ALIASES.get(fullname)
        if new is None:
            return None
        from importlib.machinery import ModuleSpec

        # _AliasLoader has the two methods of importlib.abc.Loader; importing importlib.abc
        # to inherit them would cost every `import qdrive` for the sake of a type.
        return ModuleSpec(fullname, _AliasLoader(new))  # type: ignore[arg-type]


def install() -> None:
    """Put the finder on sys.meta_path once (qdrive/__init__ calls it)."""
    if AliasFinder not in sys.meta_path:
        # First: an alias of a package (qdrive.backends) would otherwise let the path finder
        # load its submodules a second time under the old name.
        sys.meta_path.insert(0, AliasFinder)


def drive_forwards(drive_cls: type, **stages: Callable[..., Any]) -> None:
    """Give ``Drive`` back its 0.1 forwarding members for one release, with a warning.

    In 0.1 a Drive reached forward into later stages (``d.bdrv_flags``, ``d.open_flags``,
    ``d.to_blockdev()``, ``d.to_blockdev_args()``). 0.2 makes them functions of those
    stages (:func:`qdrive.bdrv_flags`, :func:`qdrive.open_flags`, :func:`qdrive.to_blockdev`);
    the front door, which sees every stage, hangs these shims on the class.
    """
    def warn(old: str, new: str) -> None:
        import warnings

        warnings.warn(f"Drive.{old} is deprecated since qdrive 0.2: use {new}",
                      DeprecationWarning, stacklevel=3)

    bdrv, oflags, to_bd = stages["bdrv_flags"], stages["open_flags"], stages["to_blockdev"]

    def _bdrv(self: Any) -> Any:
        warn("bdrv_flags", "qdrive.bdrv_flags(drive)")
        return bdrv(self)

    def _oflags(self: Any) -> Any:
        warn("open_flags", "qdrive.open_flags(drive)")
        return oflags(self)

    def _to_bd(self: Any, placement: Any = None) -> Any:
        warn("to_blockdev()", "qdrive.to_blockdev(drive, placement)")
        return to_bd(self, placement)

    def _to_bd_args(self: Any, placement: Any = None) -> list[str]:
        warn("to_blockdev_args()", "qdrive.to_blockdev(drive, placement).args()")
        return list(to_bd(self, placement).args())

    for name, member in (("bdrv_flags", property(_bdrv)), ("open_flags", property(_oflags)),
                         ("to_blockdev", _to_bd), ("to_blockdev_args", _to_bd_args)):
        setattr(drive_cls, name, member)
