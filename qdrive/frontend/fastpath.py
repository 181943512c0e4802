"""The common drive in one pass: what convert_72 would build, when nothing can go wrong.

Most -drive strings name a file and a handful of well-spelled options once each. For
those QEMU's ordered walk (qdrive.frontend._convert: parse, drive_new, blockdev_init,
bdrv_open_inherit) can only end in one Drive and no diagnostic, so the order of its
checks no longer matters. :func:`convert` recognises such a drive with one look at
each item and builds the Drive directly; anything else (a repeated key, a short-form
flag, an alias, a value outside the plain spellings, a key it does not model, a file
name with a protocol prefix ...) returns None and the full walk runs, so every
message still comes from there. tests/frontend/test_fastpath.py checks that both paths give
equal results over the recorded corpora and arbitrary generated drives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..diagnostics import Span, Stop
from ..model import (_PRECHECKED, CACHE_MODES, Aio, CacheMode, DetectZeroes, Discard, Drive,
                     ErrorAction, Interface, Media)
from .._values import id_wellformed
from ..options import KNOWN_DRIVERS, PROTOCOL_DRIVERS
from ._conversion import Conversion, local_image

if TYPE_CHECKING:
    from ._syntax import RawOption

__all__ = ["convert"]

Placer = Callable[[Interface, int, int, int, Span], tuple[int, int]]

_BOOLS = {"on": True, "yes": True, "true": True, "y": True,
          "off": False, "no": False, "false": False, "n": False}
_INTERFACES = {i.value: i for i in Interface}
_MEDIA = {m.value: m for m in Media}
_AIO = {a.value: a for a in Aio}
_ZEROES = {z.value: z for z in DetectZeroes}
# block.c bdrv_parse_discard_flags(): off/ignore and on/unmap.
_DISCARD = {"off": Discard.IGNORE, "ignore": Discard.IGNORE, "on": Discard.UNMAP,
            "unmap": Discard.UNMAP}
_WERROR = {a.value: a for a in ErrorAction}
_RERROR = {k: v for k, v in _WERROR.items() if v is not ErrorAction.ENOSPC}
# blockdev.c drive_new(): werror/rerror only on these buses (rules.ERROR_ACTION_INTERFACES).
_ERROR_BUSES = frozenset({Interface.IDE, Interface.SCSI, Interface.VIRTIO, Interface.NONE})
_U64_DIGITS = len(str(2**64 - 1))


_IMAGE_FORMATS = ("raw", "qcow2", "qcow", "qed", "vdi", "vhdx", "vpc", "vmdk", "parallels",
                  "bochs", "cloop", "dmg")


# cache= spellings -> mode (bdrv_parse_cache_mode(); "off" is the old name of "none").
_CACHES = {m.value: m for m in CACHE_MODES} | {"off": CacheMode.NONE}
# Image formats whose open the string alone cannot fail (protocol drivers make the
# drive's node the protocol node, a different walk; filter drivers such as luks,
# throttle, blkdebug or null-co have required options: frontend/opentime.py decides).
_FORMATS = frozenset(_IMAGE_FORMATS) & (KNOWN_DRIVERS - PROTOCOL_DRIVERS)


def _number(value: str) -> int | None:
    # parse_option_number() reads base 0: only plain decimals (no sign, no leading 0 but
    # "0" itself, no space, no 0x) are read here; anything else takes the full walk.
    if not value.isascii() or not value.isdigit() or len(value) > _U64_DIGITS:
        return None
    if value[0] == "0" and len(value) > 1:
        return None
    number = int(value)
    return number if number < 2**64 else None


def _int32(value: int | None, default: int) -> int:
    if value is None:
        return default
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def convert(text: str, items: list[RawOption], default_if: Interface, place: Placer
            ) -> Conversion | None:
    """The Conversion convert_72 would return for a plain drive, or None to take the walk."""
    # One typed local per Drive field the shortcut knows (None: not given); ``spans``
    # says which keys were given, and where.
    file = fmt = drive_id = None
    iface = media = cache = aio = discard = werror = rerror = zeroes = None
    bus = unit = index = snapshot = read_only = None
    spans: dict[str, Span] = {}
    for key, value, span, flag, _no, complete in items:
        if flag or not complete or key in spans:
            return None
        spans[key] = span
        if key == "file":
            # block.c bdrv_find_protocol(): a ':' before any '/' may name a protocol.
            colon = value.find(":")
            if not value or (colon > 0 and not 0 <= value.find("/") < colon):
                return None
            file = value
        elif key == "format":
            if value not in _FORMATS:
                return None
            fmt = value
        elif key == "if":
            if (iface := _INTERFACES.get(value)) is None:
                return None
        elif key in ("bus", "unit", "index"):
            number = _number(value)
            if number is None:
                return None
            if key == "bus":
                bus = number
            elif key == "unit":
                unit = number
            else:
                index = number
        elif key == "media":
            if (media := _MEDIA.get(value)) is None:
                return None
        elif key == "snapshot":
            if (snapshot := _BOOLS.get(value)) is None:
                return None
        elif key == "read-only" or key == "readonly":
            # blockdev.c drive_new() renames readonly= to read-only=; both given is the
            # walk's "can't be used at the same time"
            if "read-only" in spans and "readonly" in spans:
                return None
            if (read_only := _BOOLS.get(value)) is None:
                return None
        elif key == "detect-zeroes":
            # -drive takes unmap without discard=unmap (only -blockdev refuses it)
            if (zeroes := _ZEROES.get(value)) is None:
                return None
        elif key == "cache":
            if (cache := _CACHES.get(value)) is None:
                return None
        elif key == "aio":
            if (aio := _AIO.get(value)) is None:
                return None
        elif key == "discard":
            if (discard := _DISCARD.get(value)) is None:
                return None
        elif key == "werror":
            if (werror := _WERROR.get(value)) is None:
                return None
        elif key == "rerror":
            if (rerror := _RERROR.get(value)) is None:
                return None
        elif key == "id":
            if not id_wellformed(value):
                return None
            drive_id = value
        else:
            return None
    if file is None:
        return None  # an empty drive or a format without its file: the walk says what
    where = iface or default_if
    if (werror is not None or rerror is not None) and where not in _ERROR_BUSES:
        return None
    # block/file-posix.c raw_open_common(): aio=native needs O_DIRECT.
    if aio is Aio.NATIVE and cache not in (CacheMode.NONE, CacheMode.DIRECTSYNC):
        return None
    conv = Conversion(text, items=items)
    if drive_id is not None:
        conv.id_span, conv.given_id = spans["id"], drive_id
    # What the walk knows when drive_new() places the drive: read-only and media so far.
    conv.opened_read_only = bool(read_only) or media is Media.CDROM
    span = spans.get("index") or spans.get("unit") or spans.get("bus") or Span(0, len(text))
    try:
        # Every check QEMU makes before drive_new()'s placement passed above, and none
        # after it can fail for this drive: the placement's verdict is the drive's.
        place(where, _int32(bus, 0), _int32(unit, -1), _int32(index, -1), span)
    except Stop as stop:
        conv.error = stop.diagnostic
        return conv
    conv.opened_read_only |= bool(snapshot)  # blockdev_init(): the overlay
    conv.format_probed = fmt is None
    conv.format_given = fmt
    conv.image_name, conv.image_key = local_image({"file": file})
    token = _PRECHECKED.set(True)  # every value above came from this module's tables
    try:
        conv.drive = Drive(file=file, format=fmt, interface=iface, bus=bus, unit=unit,
                           index=index, media=media, id=drive_id, snapshot=snapshot,
                           read_only=read_only, cache=cache, aio=aio, discard=discard,
                           werror=werror, rerror=rerror, detect_zeroes=zeroes)
    finally:
        _PRECHECKED.reset(token)
    return conv


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
