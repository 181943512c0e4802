"""The qemu-0.9-sync dialect: QEMU's 2008 drive_init() with the seed's sync= patch.

Mirrors vl.c at svn r5300 (check_params(), get_param_value(), drive_init()),
the KVM userspace of the time (if=virtio, boot=on|off) and the seed's patch
(sync=on|off -> BDRV_O_SYNC). Messages are whole stderr lines ("qemu: ..."),
printed without a location, as that QEMU printed them. The first occurrence
of a key wins; every item must be name=value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._draft import DriveDraft
from ._syntax import RawOption, tokenize
from ..diagnostics import Diagnostic, Severity, Span, Stage, Stop, error
from ..errors import DriveError
from ..model import CacheMode, Drive, Interface, Media
from ..options import OPTIONS_2008
from .placement import MAX_DEVS, device_id

__all__ = ["parse_2008", "check_2008", "IF_2008", "FORMATS_2008"]

DIALECT = "qemu-0.9-sync"
IF_2008 = ("ide", "scsi", "floppy", "pflash", "mtd", "sd", "virtio")
FORMATS_2008 = frozenset(
    "raw host_device cow qcow qcow2 vmdk cloop dmg bochs vpc vvfat parallels".split())
_BUF = 127  # char buf[128] in drive_init(): longer values are silently cut


class _Drive2008:
    """One drive_init() call: the first value of each key, checked in vl.c's order."""

    def __init__(self, text: str, items: list[RawOption]) -> None:
        self.text = text
        self.items = items
        self.first: dict[str, RawOption] = {}
        for item in items:
            self.first.setdefault(item.key, item)
        self.draft = DriveDraft()  # the Drive found so far

    def fail(self, message: str, key: str | None = None, stage: Stage = Stage.LEGACY) -> Stop:
        item = self.first.get(key) if key else None
        span = item.span if item else Span(0, len(self.text))
        return error("qemu-2008", f"qemu: {message}", span, stage, located=False)

    def get(self, key: str) -> str | None:
        item = self.first.get(key)
        return None if item is None else item.value[: 1023 if key == "file" else _BUF]

    def check_params(self) -> None:
        # check_params(): every item name=value with a known name; the loop also
        # refuses an empty string and a trailing comma.
        items = self.items
        trailing = bool(items) and self.text.endswith(",") and items[-1].complete and (
            items[-1].span.end == len(self.text) - 1)
        bad = next((i for i in items if not i.complete or i.key not in OPTIONS_2008), None)
        if bad is not None or not items or trailing:
            name = bad.key[:_BUF] if bad is not None else ""
            raise self.fail(f"unknown parameter '{name}' in '{self.text}'", None if bad is None
                            else bad.key, Stage.PARSE)

    def number(self, key: str, what: str) -> int | None:
        value = self.get(key)
        if value is None:
            return None
        n = _strtol(value)
        if n < 0:
            raise self.fail(f"'{self.text}' {what}", key)
        self.draft.put(key, n)
        return n

    def run(self) -> Drive:
        self.check_params()
        self.number("bus", "invalid bus id")
        self.number("unit", "invalid unit id")
        self._interface()
        self.number("index", "invalid index")
        self._chs()
        self._media()
        self._on_off("snapshot", f"'{self.text}' invalid snapshot option")
        self._cache()
        self._on_off("sync", "invalid sync option")
        self._on_off("boot", f"'{self.text}' invalid boot option")
        self._format()
        if self.get("file") is not None:
            self.draft.file = self.get("file")
        d = self.draft
        if d.index is not None and (d.bus or d.unit is not None):
            raise self.fail(f"'{self.text}' index cannot be used with bus and unit", "index")
        return d.build(DIALECT)

    def _interface(self) -> None:
        value = self.get("if")
        if value is None:
            return
        if value not in IF_2008:
            raise self.fail(f"'{self.text}' unsupported bus type '{value}'", "if")
        self.draft.interface = Interface(value)

    def _chs(self) -> None:
        limits = (("cyls", 16383), ("heads", 16), ("secs", 63))
        values = {k: _strtol(v) for k, _ in limits if (v := self.get(k)) is not None}
        if any(values.values()):
            for key, top in limits:
                if not 1 <= values.get(key, 0) <= top:
                    raise self.fail(f"'{self.text}' invalid physical {key} number", key)
        for key, number in values.items():
            self.draft.put(key, number)
        trans = self.get("trans")
        if trans is not None:
            if not values.get("cyls"):
                raise self.fail(f"'{self.text}' trans must be used with cyls,heads and secs",
                                "trans")
            if trans not in ("none", "lba", "auto"):
                raise self.fail(f"'{self.text}' invalid translation type", "trans")
            self.draft.trans = trans

    def _media(self) -> None:
        value = self.get("media")
        if value is None:
            return
        if value == "cdrom" and (self.draft.cyls or self.draft.heads or self.draft.secs):
            raise self.fail(f"'{self.text}' invalid physical CHS format", "media")
        if value not in ("disk", "cdrom"):
            raise self.fail(f"'{self.text}' invalid media", "media")
        self.draft.media = Media(value)

    def _on_off(self, key: str, message: str) -> None:
        value = self.get(key)
        if value is None:
            return
        if value not in ("on", "off"):
            raise self.fail(message, key)
        self.draft.put(key, value == "on")

    def _cache(self) -> None:
        value = self.get("cache")
        if value is None:
            return
        if value not in ("on", "off"):
            raise self.fail("invalid cache option", "cache")
        self.draft.cache = CacheMode(value)

    def _format(self) -> None:
        value = self.get("format")
        if value is None:
            return
        if value == "?":
            raise self.fail("Supported formats: " + " ".join(sorted(FORMATS_2008)), "format")
        if value not in FORMATS_2008:
            raise self.fail(f"'{value}' invalid format", "format")
        self.draft.format = value


def _strtol(text: str) -> int:
    """strtol(buf, NULL, 0): leading blanks, sign, base prefix; junk after digits ignored."""
    from .._values import strtoull

    value, _, overflow = strtoull(text)
    if value is None:
        return 0
    signed = value - 2**64 if value >= 2**63 else value
    return max(min(signed, 2**63 - 1), -(2**63)) if not overflow else 2**63 - 1


def parse_2008(text: str) -> Drive:
    """One drive string read by the 2008 parser; raises DriveError with its message."""
    try:
        return _Drive2008(text, tokenize(text, old=True)).run()
    except Stop as stop:
        raise DriveError.of(text, stop.diagnostic) from None


def check_2008(texts: Sequence[str]) -> list[Any]:
    """drive_init() for each drive in order; a taken bus/unit drops the drive silently."""
    from .placement import Placement
    from .results import DriveResult

    used: set[tuple[Interface, int, int]] = set()
    out = []
    for text in texts:
        try:
            drive = parse_2008(text)
        except DriveError as exc:
            out.append(DriveResult(text, None, exc.diagnostic, (), None))
            continue
        iface = drive.interface or Interface.IDE
        result = _place_2008(text, drive, iface, used)
        if isinstance(result, Diagnostic):
            out.append(DriveResult(text, None, result, (), None))
            continue
        bus, unit, warn = result
        did = _id_2008(iface, bus, unit, drive.media)
        out.append(DriveResult(text, drive, None, warn, Placement(iface, bus, unit,
                                                                  drive.index, did)))
    return out


_Placed = tuple[int, int, tuple[Diagnostic, ...]]


def _place_2008(text: str, drive: Drive, iface: Interface,
                used: set[tuple[Interface, int, int]]) -> Diagnostic | _Placed:
    max_devs = MAX_DEVS.get(iface, 0)
    bus, unit = drive.bus or 0, drive.unit if drive.unit is not None else -1
    if drive.index is not None:
        bus, unit = divmod(drive.index, max_devs) if max_devs else (0, drive.index)
    if unit == -1:
        unit = 0
        while (iface, bus, unit) in used:
            unit += 1
            if max_devs and unit >= max_devs:
                unit, bus = unit - max_devs, bus + 1
    if max_devs and unit >= max_devs:
        return Diagnostic("qemu-2008", Severity.ERROR, f"qemu: '{text}' unit {unit} too big "
                          f"(max is {max_devs - 1})", Span(0, len(text)), Stage.LEGACY,
                          located=False)
    if (iface, bus, unit) in used:
        note = Diagnostic("ignored-duplicate", Severity.WARNING, f"QEMU 2008 silently ignores "
                          f"this drive: bus={bus}, unit={unit} is already taken",
                          Span(0, len(text)), Stage.LEGACY, located=False)
        return bus, unit, (note,)
    used.add((iface, bus, unit))
    return bus, unit, ()


def _id_2008(iface: Interface, bus: int, unit: int, media: Media | None) -> str:
    return device_id(iface, bus, unit, media, MAX_DEVS.get(iface, 0))


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
