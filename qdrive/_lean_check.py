"""The lean path's verdict (qdrive/_lean.py): a plain one-drive check from plain tables.

:func:`decide` answers ``qdrive ARGS`` for the command lines the lean path takes (see
qdrive/_lean.py for which), :func:`line_json` one line of ``check -f``. Only os, sys and
qdrive/_lean_tables.py at import; fcntl and struct when an image's locks are tested.
Apart from qdrive/_lean.py so that qdrive.cli, which asks line_json, and the entry, which
hands over to qdrive.cli, import no circle.
"""

import os

from . import _lean_tables as T

__all__ = ["decide", "line_json"]

# qdrive.frontend.terminal.Style: the SGR colour of "ok" (green).
_OK_COLOURED = "\033[32mok\033[0m"


def decide(args: "list[str]", tty: bool = False) -> "tuple[int, str] | None":
    """(exit code, stdout text) of ``qdrive ARGS``, or None when the full path must run."""
    read = _arguments(args)
    if read is None:
        return None
    drive, as_json, colour, offline = read
    verdict = _judge(drive)
    if verdict is None or not offline and not _opens_clean(verdict[0]):
        return None
    if as_json:
        return 0, _json(drive, verdict) + "\n"
    _, iface, device, _ = verdict
    on = colour == "always" or colour == "auto" and tty and not os.environ.get("NO_COLOR")
    ok = _OK_COLOURED if on else "ok"
    return 0, f"{ok}  -drive {drive}  ->  {device} (if={iface}, bus=0, unit=0)\n"


def line_json(text: str, offline: bool) -> "str | None":
    """``check -f``: CheckResult.to_json() of a line that is one plain drive, as json.dumps()
    writes it, when the lean path decides the drive (qdrive.cli._check_line asks it only
    when nothing on its command line changes a plain ok verdict's report), else None."""
    verdict = _judge(text)
    if verdict is None or not offline and not _opens_clean(verdict[0]):
        return None
    return _json(text, verdict)


# --- the command line (qdrive.cli._parser()'s check options, the few the lean path takes) ---
_FLAGS = {"--offline": "offline", "--json": "json", "--strict": ""}
# option -> the values the lean path takes (any other value: the full path decides)
_VALUED = {"--output": ("human", "json"), "--color": ("auto", "always", "never"),
           "--dialect": (T.DIALECT,), "--policy": ("trusted",), "--machine": ("pc",),
           "-M": ("pc",), "-drive": None}


def _arguments(args: "list[str]") -> "tuple[str, bool, str, bool] | None":
    """(the drive, --json, --color mode, --offline) of ``check DRIVE``, else None."""
    if args[:1] != ["check"]:
        return None
    drives: list[str] = []
    seen = {"offline": False, "json": False}
    colour = "auto"
    i = 1
    while i < len(args):
        word = args[i]
        i += 1
        if word in _FLAGS:
            if _FLAGS[word]:
                seen[_FLAGS[word]] = True
            continue
        name, eq, value = word.partition("=")
        if name == "-M" and eq:
            return None  # argparse reads -M=pc as the machine "=pc"
        if name in _VALUED:
            if not eq:
                if i >= len(args):
                    return None
                value = args[i]
                i += 1
            allowed = _VALUED[name]
            if allowed is None:  # -drive X, as pasted from a QEMU command line
                if value.startswith("-"):
                    return None
                drives.append(value)
            elif value not in allowed:
                return None
            elif name == "--output":
                seen["json"] = seen["json"] or value == "json"
            elif name == "--color":
                colour = value
            continue
        if word.startswith("-") or not word:
            return None  # another option, an abbreviation, "--": argparse decides
        drives.append(word)
    if len(drives) != 1:
        return None
    return drives[0], seen["json"], colour, seen["offline"]


# --- the drive (qdrive.frontend.fastpath.convert's checks, over plain tables) ------------

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:  # (canonical options in Drive.options()'s order, interface, device, read-only)
    _Verdict = tuple[dict[str, str], str, str, bool]


def _judge(text: str) -> "_Verdict | None":
    """The canonical options and the placement of a drive that checks ok, else None."""
    # JSON and the terminal print such a text as it is: no escapes to get right here.
    if not text.isascii() or not text.isprintable() or '"' in text or "\\" in text:
        return None
    # grammar/drive.lark ITEM72: without ",," an item ends at the next comma
    if ",," in text:
        return None
    given: dict[str, str] = {}
    for item in text.split(","):
        key, eq, value = item.partition("=")
        if not eq or not key or key in given or not _value_ok(key, value):
            return None
        given[key] = value
    if "file" not in given or "read-only" in given and "readonly" in given:
        return None
    options = {T.KEYS.get(k, k): T.VALUES[k][v] if k in T.VALUES else v
               for k, v in given.items()}
    return _placed(options)


def _value_ok(key: str, value: str) -> bool:
    if key == "file":
        # block.c bdrv_find_protocol(): a ':' before any '/' may name a protocol.
        colon = value.find(":")
        return bool(value) and not (colon > 0 and not 0 <= value.find("/") < colon)
    if key == "format":
        return True  # which formats the bus takes: _placed()
    if key == "id":
        # util/id.c id_wellformed(): an ASCII letter, then letters, digits, '-', '.', '_'
        return value[:1].isalpha() and value.replace("-", "").replace(".", "").replace(
            "_", "").isalnum()
    return value in T.VALUES.get(key, ())


def _placed(options: "dict[str, str]") -> "_Verdict | None":
    iface = options.get("if", T.DEFAULT_IF)
    devices = T.DEVICES.get(iface)
    if devices is None:
        return None  # a bus the pc board refuses or has its own rules for
    if ("werror" in options or "rerror" in options) and iface not in T.ERROR_BUSES:
        return None
    # block/file-posix.c raw_open_common(): aio=native needs O_DIRECT
    if options.get("aio") == "native" and options.get("cache") not in ("none", "directsync"):
        return None
    if options.get("read-only") == "on" or options.get("snapshot") == "on":
        return None  # the board's read-only rules and the overlay: the full path's
    cdrom = options.get("media") == "cdrom"
    if "format" in options and options["format"] not in T.FORMATS[iface][cdrom]:
        return None  # not an image format, or a read-only one on a writable disk
    return ({k: options[k] for k in T.ORDER if k in options}, iface,
            options.get("id") or devices[cdrom], cdrom)


# --- the image (qdrive/frontend/_file_open.py open_image(), the one case it needs no model) ---

def _opens_clean(options: "dict[str, str]") -> bool:
    """Whether QEMU's open of this raw image can find nothing to say: a regular, non-empty
    file this process opens read-write, on which no other open file description holds or
    refuses a permission (the lock bytes file-posix.c tests). Anything else (another
    format, whose header decides; O_DIRECT; io_uring; a cdrom; a device; an error of the
    open) is the full path's, which models QEMU's user, mode bits and mounts."""
    if options.get("format") != "raw" or options.get("media") == "cdrom":
        return False
    if options.get("cache", T.DEFAULT_CACHE) in ("none", "directsync"):
        return False  # O_DIRECT: whether the filesystem takes it is hostprobe's
    if options.get("aio", T.DEFAULT_AIO) != T.DEFAULT_AIO:
        return False
    name = options["file"]
    try:
        st = os.stat(name)
    except (OSError, ValueError):
        return False
    if st.st_mode & 0o170000 != 0o100000 or st.st_size == 0:  # S_ISREG, without stat
        return False
    try:
        fd = os.open(name, os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return _unlocked(fd)
    finally:
        os.close(fd)


def _unlocked(fd: int) -> bool:
    import fcntl
    import struct

    for byte in T.LOCK_BYTES:
        probe = struct.pack(T.FLOCK, fcntl.F_WRLCK, os.SEEK_SET, byte, 1, 0)
        try:
            answer = fcntl.fcntl(fd, T.F_OFD_GETLK, probe)
        except OSError:
            return False  # no OFD locks: QEMU's locking=auto is off, hostprobe says so
        if struct.unpack(T.FLOCK, answer)[0] != fcntl.F_UNLCK:
            return False
    return True


def _json(text: str, verdict: "_Verdict") -> str:
    """CheckResult.to_json() of the drive, as json.dumps() spells it (plain ASCII)."""
    options, iface, device, read_only = verdict
    wb, direct, no_flush = T.CACHE[options.get("cache", T.DEFAULT_CACHE)]
    fmt = options.get("format")
    drive = (
        f'{{"text": "{text}", "ok": true, "error": null, "warnings": [], "notes": [], '
        f'"options": {{{", ".join(f"{_s(k)}: {_s(v)}" for k, v in options.items())}}}, '
        f'"placement": {{"interface": "{iface}", "bus": 0, "unit": 0, "index": null, '
        f'"device_id": "{device}"}}, "read_only": {_b(read_only)}, '
        f'"cache": {{"writeback": {_b(wb)}, "direct": {_b(direct)}, '
        f'"no_flush": {_b(no_flush)}}}, '
        f'"aio": "{options.get("aio", T.DEFAULT_AIO)}", '
        f'"detect_zeroes": "{options.get("detect-zeroes", T.DEFAULT_DETECT_ZEROES)}", '
        f'"format": {_s(fmt) if fmt else "null"}, "option": "-drive"}}')
    return (f'{{"schema_version": {T.SCHEMA_VERSION}, "ok": true, "dialect": "{T.DIALECT}", '
            f'"first_error": null, "qemu_stderr": "", "drives": [{drive}]}}')


def _s(text: object) -> str:
    return f'"{text}"'


def _b(flag: object) -> str:
    return "true" if flag else "false"


def __dir__() -> "list[str]":
    return sorted(__all__)
