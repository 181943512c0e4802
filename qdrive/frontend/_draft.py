"""The Drive a conversion is building: typed, mutable, one attribute per Drive field.

QEMU fills its drive in place as each stage of the walk reads an option (blockdev.c
drive_new() and blockdev_init() set the BlockBackend's fields one by one). The converter
does the same on a :class:`DriveDraft` and freezes it into a :class:`~qdrive.model.Drive`
once the walk is through (:meth:`DriveDraft.build`), so the stages read and write typed
attributes that mypy checks, not a dictionary of field names. Only the option table's
``OptionSpec.field`` (qdrive/options.py) names a field by string, and :meth:`put` refuses a
name the Drive does not have.
"""

from __future__ import annotations

import operator

import attrs

from ..model import Aio, CacheMode, DetectZeroes, Discard, Drive, ErrorAction, Interface, Media

__all__ = ["DriveDraft"]


# internal: nobody compares or prints one, and attrs' generated __eq__/__repr__ cost
# start-up time (qdrive check imports this module)
@attrs.define(slots=True, eq=False, repr=False)
class DriveDraft:
    """The fields of a :class:`~qdrive.model.Drive` found so far; None: not given."""

    file: str | None = None
    format: str | None = None
    interface: Interface | None = None
    bus: int | None = None
    unit: int | None = None
    index: int | None = None
    media: Media | None = None
    id: str | None = None
    node_name: str | None = None
    snapshot: bool | None = None
    read_only: bool | None = None
    cache: CacheMode | None = None
    cache_writeback: bool | None = None
    cache_direct: bool | None = None
    cache_no_flush: bool | None = None
    aio: Aio | None = None
    discard: Discard | None = None
    detect_zeroes: DetectZeroes | None = None
    werror: ErrorAction | None = None
    rerror: ErrorAction | None = None
    copy_on_read: bool | None = None
    auto_read_only: bool | None = None
    force_share: bool | None = None
    throttling: dict[str, int] = attrs.Factory(dict)
    throttling_group: str | None = None
    stats_account_invalid: bool | None = None
    stats_account_failed: bool | None = None
    stats_intervals: tuple[int, ...] = ()
    driver_options: dict[str, str] = attrs.Factory(dict)
    # The 2008 dialect's own keys (qdrive/frontend/dialects.py).
    sync: bool | None = None
    boot: bool | None = None
    cyls: int | None = None
    heads: int | None = None
    secs: int | None = None
    trans: str | None = None

    @property
    def read_only_so_far(self) -> bool:
        """Read-only as QEMU knows it at this point: read-only=on or media=cdrom."""
        return bool(self.read_only) or self.media is Media.CDROM

    def put(self, field: str, value: object) -> None:
        """Set the field an option-table row names (``OptionSpec.field``).

        The table is the one place an option's field is spelt as a string; a name the
        Drive lacks is a table bug, so it raises instead of adding an attribute.
        """
        if field not in _FIELDS:
            raise AttributeError(f"Drive has no field {field!r}")
        setattr(self, field, value)

    def build(self, dialect: str) -> Drive:
        """The frozen Drive (its field checks run): the walk is over."""
        # Only the fields given: a None the Drive defaults to anyway is not passed (the
        # walk builds one Drive per drive; most of its ~40 fields stay None).
        values = zip(_FIELD_NAMES, _FIELD_VALUES(self), strict=True)
        return Drive(dialect=dialect, **{name: value for name, value in values
                                         if value is not None or name not in _NONE_DEFAULT})


_FIELDS = frozenset(a.name for a in attrs.fields(DriveDraft))
_FIELD_NAMES = tuple(sorted(_FIELDS))
_FIELD_VALUES = operator.attrgetter(*_FIELD_NAMES)
# the fields whose Drive default is None (omitting them changes nothing)
_NONE_DEFAULT = frozenset(a.name for a in attrs.fields(Drive) if a.default is None)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
