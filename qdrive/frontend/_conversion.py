"""What converting one drive string produces: the :class:`Conversion`.

Its own module so the converter (``_convert``), its shortcut (``fastpath``) and the
stages after them (check, policy, board) share the type without importing each other.
After conversion the stages read the Conversion, never the option string again: the
image's name in particular is resolved here, once (:func:`local_image`).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ..diagnostics import Diagnostic, Span
from ..model import Drive
from ..options import FILE_POSIX_DRIVERS
from ..probe import ProbeResult
from ._syntax import RawOption

__all__ = ["Conversion", "local_image"]


# internal: nobody compares or prints one, and attrs' generated __eq__/__repr__ cost
# start-up time (qdrive check imports this module)
@attrs.define(eq=False, repr=False)
class Conversion:
    """What converting one drive string produced."""

    text: str
    drive: Drive | None = None
    warnings: list[Diagnostic] = attrs.Factory(list)
    error: Diagnostic | None = None
    items: list[RawOption] = attrs.Factory(list)
    id_span: Span | None = None
    given_id: str | None = None  # the first id= as written (a duplicate fails at parse)
    empty: bool = False  # QEMU creates a drive without medium
    format_probed: bool = False  # no format=/driver=: QEMU probes the file
    format_given: str | None = None  # format= or driver= as written (not from json:)
    image_name: str = ""  # the host file the drive opens ("" for none; local_image())
    image_key: str = ""  # the option that names it: file, file.filename or filename
    header: ProbeResult | None = None  # the image's header, read by name during the walk
    # The QDict as bdrv_open_inherit() receives it (renames done, cache= expanded); the
    # walk records it there, for the stages after the open when a later option failed
    # and no Drive was built (the fast path always builds one).
    open_options: Mapping[str, str] = attrs.Factory(dict)
    probed_format: str | None = None  # what probing found (check() with probe_files)
    opened_read_only: bool = False  # read-only=on, media=cdrom or snapshot=on (overlay)
    seen: ProbeResult | None = None  # what the format reads through a format file child
    seen_name: str = ""  # the file name QEMU reports for it (the innermost file's)

    def span_of(self, key: str) -> Span:
        """The span of the last item with ``key``, or the whole string."""
        for item in reversed(self.items):
            if item.key == key:
                return item.span
        return Span(0, len(self.text))


def local_image(options: Mapping[str, str]) -> tuple[str, str]:
    """The host file a drive with ``options`` opens, and the key naming it ("" for none).

    file= goes through block.c bdrv_find_protocol(): a ``prefix:`` before any ``/`` names
    a protocol and ``json:`` is a node's options (no local file either way, as far as
    qdrive's probe goes); file.filename= and filename= with driver=file are taken
    literally (block.c bdrv_fill_options() parses only the file= name). A file.driver
    other than file-posix's reads no host file by this name. The one place that decides.
    """
    if options.get("driver") in FILE_POSIX_DRIVERS and options.get("filename"):
        return options["filename"], "filename"
    if options.get("file.driver", "file") not in FILE_POSIX_DRIVERS:
        return "", ""
    name = options.get("file") or ""
    if name.startswith("json:"):
        inner = _json_local_name(name, "format" in options or "driver" in options)
        return (inner, "file") if inner else ("", "")
    prefix, colon, rest = name.partition(":")
    # file-posix's raw_parse_filename()/hdev_parse_filename() strip file:, host_device:
    # and host_cdrom: and open the rest
    if colon and prefix in FILE_POSIX_DRIVERS:
        return rest, "file"
    if name:
        return ("", "") if ":" in name.split("/")[0] else (name, "file")
    name = options.get("file.filename") or ""
    return (name, "file.filename") if name else ("", "")


def _json_local_name(name: str, driver_given: bool) -> str:
    """The local file a json: name opens: its file child's filename (a file-posix
    child, one level down), or its own filename when it names a file-posix driver that
    the drive's format=/driver= does not replace."""
    from . import jsonname

    try:
        parsed = jsonname.parse(name)
    except jsonname.JsonNameError:
        return ""
    if any(k.startswith("file.file.") for k in parsed):
        return ""
    child = parsed.get("file.filename")
    if child and (parsed.get("file.driver") or "file") in FILE_POSIX_DRIVERS:
        return child
    own = parsed.get("filename")
    if own and parsed.get("driver") in FILE_POSIX_DRIVERS and "file.driver" not in parsed \
            and not driver_given:
        return own
    return ""
