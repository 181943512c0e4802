"""Raw options -> Drive for QEMU 7.2, in the order QEMU itself looks at them.

QEMU stops at the first error, so the order of the checks *is* the behaviour. The walk
has one part per QEMU function, each in its own module and run in QEMU's order:

1. util/qemu-option.c opts_parse(), from softmmu/vl.c (:mod:`._opts_parse`);
2. blockdev.c drive_new() (:mod:`._drive_new`);
3. blockdev.c blockdev_init() (:mod:`._blockdev_init`);
4. block.c bdrv_open_inherit() and bdrv_fill_options() for the parts that need no file
   (:mod:`._bdrv_open`).

They share one :class:`qdrive.frontend._walk.Walk`. Where QEMU walks a QDict, keys are
visited in QDict bucket order (:func:`qdrive.frontend._qdict.qdict_order`), which is how
QEMU picks which of two bad options it names. The result is a :class:`Conversion`: the
Drive (or None), warnings, at most one error, and what placement and file probing need.
"""

from __future__ import annotations

import attrs

from . import fastpath, rules
from ._bdrv_open import bdrv_open_inherit
from ._blockdev_init import blockdev_init
from ._conversion import Conversion
from ._drive_new import CACHE_TRIPLES, drive_new
from ._opts_parse import opts_parse
from ._qdict import Entry
from ._syntax import RawOption
from ._walk import HeaderReader, Placer, Walk
from ..diagnostics import Stop
from ..dialect import DEFAULT, Dialect
from ..model import Drive, Interface
from ..options import KNOWN_DRIVERS
from ..probe import ProbeResult

__all__ = ["Entry", "Conversion", "convert_72", "walk_72", "CACHE_TRIPLES", "KNOWN_DRIVERS"]


def convert_72(text: str, items: list[RawOption], default_if: Interface,
               place: Placer | None = None, assume_format: str = "raw",
               image: ProbeResult | None = None, probe: bool = False,
               read_header: HeaderReader | None = None,
               dialect: Dialect = DEFAULT) -> Conversion:
    """Run QEMU 7.2's -drive checks over ``items``; never raises.

    ``read_header`` (check() passes qdrive.probe.probe_file) reads the image's header
    at the point QEMU opens the file: the probed format, the backing file name and the
    size then decide the rest of the walk, in one pass. Without it, ``assume_format`` is
    the format probing would pick when the drive names none (the string alone suggests
    raw) and ``image`` the image's header if known; None keeps the verdict to what the
    string alone decides. ``probe`` lets the node graph read the headers of the images
    its children name. ``dialect`` (a release dialect) is the QEMU whose overrides apply:
    its size syntax, JSON error words and new options; the Drive carries its name.
    """
    place = place or rules.place_alone
    # The shortcut judges the string alone: with an image header or children to read,
    # the node graph (frontend/opentime.py) may find what a plain string cannot say.
    plain = image is None and not probe and read_header is None
    fast = fastpath.convert(text, items, default_if, place) if plain else None
    # A plain drive (fast): the walk could only agree.
    conv = fast or walk_72(text, items, default_if, place, assume_format, image, probe,
                           read_header, dialect)
    if conv.drive is not None and conv.drive.dialect != dialect.name:
        conv.drive = attrs.evolve(conv.drive, dialect=dialect.name)
    return conv


def walk_72(text: str, items: list[RawOption], default_if: Interface,
            place: Placer | None = None, assume_format: str = "raw",
            image: ProbeResult | None = None, probe: bool = False,
            read_header: HeaderReader | None = None,
            dialect: Dialect = DEFAULT) -> Conversion:
    """convert_72 without the plain-drive shortcut: every check, in QEMU's order."""
    conv = Conversion(text, items=items)
    w = Walk(conv, default_if, place or rules.place_alone, assume_format, image, probe,
             read_header, dialect)
    try:
        opts_parse(w)  # 1.
        drive_new(w)  # 2.
        blockdev_init(w)  # 3.
        bdrv_open_inherit(w)  # 4.
    except Stop as stop:
        conv.error = stop.diagnostic
        return conv
    conv.drive = _build(w)
    return conv


def _build(w: Walk) -> Drive:
    fields = dict(w.f)
    fields.setdefault("driver_options", {})
    return Drive(**fields)  # type: ignore[arg-type]
