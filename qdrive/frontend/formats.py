"""The checks a driver's own open makes on its options and on the image header it reads.

Each function mirrors one driver's open in QEMU 7.2 (the file is cited per check) for a
lone -drive: a name that only another option of the command line could define (a
secret, a throttle group, a node) is not defined, so QEMU's "not found" message is the
answer. :func:`driver_checks` runs the one for the node's driver; it raises Stop with
QEMU's text or returns when the driver would open.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from ..diagnostics import Diagnostic, Severity, Span, Stage, error

from .._values import is_true

if TYPE_CHECKING:
    from ..model import Drive
    from ..probe import ProbeResult

__all__ = ["header_problem", "driver_checks", "crypt_method", "vvfat_options", "read_at",
           "READ_ONLY_FORMATS", "auto_read_only_problem", "missing_modules", "after_children",
           "SEES_CHILDREN", "missing_file_message", "drops_to_read_only",
           "probed_raw_warning", "abort_notice", "DEFINED_OBJECTS"]

# The -object ids a whole command line defined before its drives open, by kind
# ("secret", "throttle-group"; "" holds every id): vl.c makes the early objects before
# configure_blockdev(), so a drive's lookup finds them. None (nothing defined) for a lone
# -drive; qdrive.frontend.cmdline sets it.
DEFINED_OBJECTS: ContextVar[Mapping[str, frozenset[str]] | None] = ContextVar(
    "DEFINED_OBJECTS", default=None)


def _defined(kind: str, name: str) -> bool:
    return name in (DEFINED_OBJECTS.get() or {}).get(kind, frozenset())


def _no_secret(name: str) -> str:
    """crypto/secret_common.c qcrypto_secret_lookup(): no object of that id, or one that
    is not a secret."""
    if _defined("", name):
        return f"Object with id '{name}' is not a secret"
    return f"No secret with id '{name}'"

Options = Mapping[str, Any]  # key -> convert.Entry (value, span)
Check = Callable[[Options, "ProbeResult | None", Span], None]


# What a format driver says when the file is not of its format (block/qcow2.c, vmdk.c).
_NOT_THIS_FORMAT = {"qcow2": "Image is not in qcow2 format",
                    "vmdk": "invalid VMDK image descriptor",
                    "qcow": "Image not in qcow format", "vpc": "invalid VPC image",
                    "qed": "Image not in QED format",
}


def header_problem(fmt: str | None, found: ProbeResult, name: str) -> str:
    """The error opening ``name`` with driver ``fmt`` gives, given what the probe saw."""
    reader = _HEADER_READERS.get(fmt or "")
    if reader is not None:
        return reader(found, name)
    if fmt == "qcow" and found.format == "qcow2":  # block/qcow.c qcow_open()
        return ("qcow (v1) does not support qcow version 3\n"
                "Try the 'qcow2' driver instead.")
    if fmt == "vdi" and found.format == "raw":  # block/vdi.c: signature at offset 0x40
        signature = int.from_bytes(found.head[0x40:0x44].ljust(4, b"\0"), "little")
        if signature != 0xBEDA107F:
            return f"Image not in VDI format (bad signature {signature:08x})"
    if fmt in _NOT_THIS_FORMAT and found.format != fmt:
        return _NOT_THIS_FORMAT[fmt]
    # block/file-posix.c raw_open_common(): the protocol driver must fit the file type.
    if fmt in ("host_device", "host_cdrom") and not found.device:
        return f"'{fmt}' driver requires '{name}' to be either a character or block device"
    if fmt == "file" and found.device:
        return f"'file' driver requires '{name}' to be a regular file"
    return ""


def read_at(found: ProbeResult, offset: int, length: int) -> bytes | None:
    """``length`` bytes of the image at ``offset`` as the block layer reads them (zeros
    past the end of the file), or None when the probe did not read that far."""
    size = found.size if found.size is not None else len(found.head)
    if offset + length <= len(found.head) or len(found.head) >= size:
        return found.head[offset:offset + length].ljust(length, b"\0")
    start = size - len(found.tail)
    if found.tail and offset >= start:
        return found.tail[offset - start:offset - start + length].ljust(length, b"\0")
    return None


def _u32(data: bytes, at: int, order: Literal["little", "big"]) -> int:
    return int.from_bytes(data[at:at + 4], order)


def _cstr(data: bytes, at: int, width: int) -> bytes:
    """A NUL-terminated string field as strcmp() sees it."""
    return data[at:at + width].split(b"\0", 1)[0]


def _bochs_header(found: ProbeResult, name: str) -> str:
    """block/bochs.c bochs_open(): the 512-byte header, then its catalog and extents."""
    head = read_at(found, 0, 512) or b""
    version = _u32(head, 64, "little")
    if _cstr(head, 0, 32) != b"Bochs Virtual HD Image" or _cstr(head, 32, 16) != b"Redolog" \
            or _cstr(head, 48, 16) != b"Growing" or version not in (0x20000, 0x10000):
        return "Image not in Bochs format"
    disk = int.from_bytes(head[84:92] if version == 0x10000 else head[88:96], "little")
    catalog, extent = _u32(head, 72, "little"), _u32(head, 80, "little")
    if catalog > 0x100000:
        return "Catalog size is too large"
    if extent < 512:
        return "Extent size must be at least 512"
    if extent & (extent - 1):
        return f"Extent size {extent} is not a power of two"
    if extent > 0x800000:
        return f"Extent size {extent} is too large"
    if catalog < -(-(disk // 512) // (extent // 512)):
        return "Catalog size is too small for this disk size"
    return ""


_CLOOP_MAX_BLOCK = 64 << 20  # block/cloop.c MAX_BLOCK_SIZE


def _cloop_header(found: ProbeResult, name: str) -> str:
    """block/cloop.c cloop_open(): block size and count at offset 128, then the offsets."""
    head = read_at(found, 128, 8) or bytes(8)
    block_size, n_blocks = _u32(head, 0, "big"), _u32(head, 4, "big")
    if block_size % 512:
        return f"block_size {block_size} must be a multiple of 512"
    if block_size == 0:
        return "block_size cannot be zero"
    if block_size > _CLOOP_MAX_BLOCK:
        return f"block_size {block_size} must be {_CLOOP_MAX_BLOCK >> 20} MB or less"
    limit = (0xFFFFFFFF - 1) // 8
    if n_blocks > limit:
        return f"n_blocks {n_blocks} must be {limit} or less"
    if (n_blocks + 1) * 8 > 512 << 20:
        return "image requires too many offsets, try increasing block size"
    table = read_at(found, 136, (n_blocks + 1) * 8)
    if table is None:
        return ""  # beyond what the probe read: not predicted
    offsets = [int.from_bytes(table[i:i + 8], "big") for i in range(0, len(table), 8)]
    for i in range(1, len(offsets)):
        if offsets[i] < offsets[i - 1]:
            return f"offsets not monotonically increasing at index {i}, image file is corrupt"
        if offsets[i] - offsets[i - 1] > 2 * _CLOOP_MAX_BLOCK:
            return f"invalid compressed block size at index {i}, image file is corrupt"
    return ""


def _dmg_header(found: ProbeResult, name: str) -> str:
    """block/dmg.c dmg_find_koly_offset() and the first reads of dmg_open()."""
    length = -(-(found.size or 0) // 512) * 512  # bdrv_getlength(): whole sectors
    if length < 512:
        return "dmg file must be at least 512 bytes long"
    start = length - 511 - 512 if length > 511 + 512 else 0
    window = read_at(found, start, min(length, 515))
    if window is None:
        return ""
    at = window.find(b"koly")
    if at < 0:
        return "Could not locate UDIF trailer in dmg file"
    koly = start + at
    trailer = read_at(found, koly, 0x1F4)
    if trailer is None:
        return ""

    def u64(off: int) -> int:
        return int.from_bytes(trailer[off:off + 8], "big")

    # an -EINVAL without a message: block.c bdrv_open_driver() words it
    if u64(0x18) > koly or u64(0x28) >= koly or u64(0x30) > koly - u64(0x28) \
            or u64(0xD8) >= koly or u64(0xE0) > koly - u64(0xD8) or u64(0x1EC) >> 63 \
            or not u64(0x30) and not u64(0xE0):  # neither a resource fork nor a plist
        return f"Could not open '{name}': Invalid argument"
    return ""  # the fork's chunk tables are not read here


def _parallels_header(found: ProbeResult, name: str) -> str:
    """block/parallels.c parallels_open(): version, magic, tracks, catalog size."""
    head = read_at(found, 0, 64) or bytes(64)
    if _u32(head, 16, "little") != 2 or head[:16] not in (b"WithoutFreeSpace",
                                                          b"WithouFreSpacExt"):
        return "Image not in Parallels format"
    tracks = _u32(head, 28, "little")
    if tracks == 0:
        return "Invalid image: Zero sectors per track"
    if tracks > 0x7FFFFFFF // 513:
        return "Invalid image: Too big cluster"
    if _u32(head, 32, "little") > 0x7FFFFFFF // 4:
        return "Catalog too large"
    return ""


def _vhdx_header(found: ProbeResult, name: str) -> str:
    # block/vhdx.c vhdx_open(): a wrong signature is an -EINVAL without a message
    if (read_at(found, 0, 8) or b"") != b"vhdxfile":
        return f"Could not open '{name}': Invalid argument"
    return ""


_HEADER_READERS: dict[str, Callable[[ProbeResult, str], str]] = {
    "bochs": _bochs_header, "cloop": _cloop_header, "dmg": _dmg_header,
    "parallels": _parallels_header, "vhdx": _vhdx_header,
}

# Drivers that cannot write: their open calls block.c bdrv_apply_auto_read_only() before
# it reads the header (block/bochs.c, cloop.c, dmg.c).
READ_ONLY_FORMATS = frozenset({"bochs", "cloop", "dmg"})


def auto_read_only_problem(read_only: bool, copy_on_read: bool, auto_read_only: bool) -> str:
    """block.c bdrv_apply_auto_read_only(): a read-write node drops to read-only only when
    auto-read-only is on and copy-on-read is off (bdrv_can_set_read_only())."""
    if read_only or (auto_read_only and not copy_on_read):
        return ""
    return "Image is read-only"


def drops_to_read_only(d: Drive, fmt: str | None, top: bool = False) -> bool:
    """The drive's node is read-only although the drive is not: a format that cannot
    write (READ_ONLY_FORMATS, through bdrv_apply_auto_read_only()), or vvfat without rw
    (block/vvfat.c vvfat_open()). A format node over such a vvfat child stays read-write
    itself (``top``: query-block's ro), but a device cannot write through it."""
    if d.effective_read_only or d.snapshot:
        return False
    if (fmt or d.format) in READ_ONLY_FORMATS:
        return True
    if d.format == "vvfat":
        return not is_true(d.driver_options.get("rw", "off"))
    if top:
        return False
    if d.driver_options.get("file.driver") == "vvfat":
        return not is_true(d.driver_options.get("file.rw", "off"))
    if d.file is not None and d.file.startswith("fat:") and "file.driver" not in d.driver_options:
        return vvfat_options(d.file)["rw"] != "on"
    return False


# Debian's util/module.c prints this for each block module it cannot find (its patch
# note-missing-module-pkg-name.diff); dmg_open() loads two before it reads the trailer.
MODULE_DIR = "/usr/lib/x86_64-linux-gnu/qemu"


def missing_modules(fmt: str | None, module_dir: str | None = None) -> list[str]:
    """The notices QEMU 7.2 (Debian) prints opening a ``fmt`` node on this host."""
    if fmt != "dmg":
        return []
    module_dir = module_dir or MODULE_DIR
    return [f"qemu: module block-block-{m} not found, do you want to install "
            "qemu-block-extra package?" for m in ("dmg-bz2", "dmg-lzfse")
            if not os.path.exists(os.path.join(module_dir, f"block-{m}.so"))]


def probed_raw_warning(name: str, span: Span) -> Diagnostic:
    """block/raw-format.c raw_open(): format probing guessed raw for ``name`` (a bare
    fprintf, its ``WARNING:`` marker apart from the message)."""
    return Diagnostic(
        "probed-raw", Severity.WARNING,
        f"Image format was not specified for '{name}' and probing guessed raw.",
        span, Stage.FORMAT,
        "         Automatically detecting the format is dangerous for raw images, write "
        "operations on block 0 will be restricted.\n         Specify the 'raw' format "
        "explicitly to remove the restrictions.", "add format=raw", located=False,
        marker="WARNING: ")


def missing_file_message(driver: str) -> str:
    """What a format node without a file child is told: copy-before-write's QAPI visit
    (cbw_parse_options()) comes before its bdrv_open_file_child()."""
    if driver == "copy-before-write":
        return "Parameter 'file' is missing"
    return 'A block device must be specified for "file"'


def _fail(message: str, span: Span) -> NoReturn:
    raise error("driver-open", message, span, Stage.NODE)


def _secret(key: str, options: Options, span: Span, label: str | None = None) -> None:
    """crypto/block-luks.c qcrypto_block_luks_open(), crypto/secret_common.c lookup."""
    entry = options.get(key)
    if entry is None:
        _fail(f"Parameter '{label or key}' is required for cipher", span)
    if not _defined("secret", entry.value):
        _fail(_no_secret(entry.value), entry.span)


def _luks(options: Options, image: ProbeResult | None, span: Span) -> None:
    # block/crypto.c block_crypto_open_generic(): the secret is looked up before the
    # LUKS header is read.
    _secret("key-secret", options, span)


def crypt_method(fmt: str, head: bytes) -> int:
    """The header's crypt_method: qcow2 at offset 32, qcow (v1) at 36 (big endian)."""
    at = 32 if fmt == "qcow2" else 36
    return int.from_bytes(head[at:at + 4], "big") if len(head) >= at + 4 else 0


def _encrypted(fmt: str) -> Check:
    def check(options: Options, image: ProbeResult | None, span: Span) -> None:
        # block/qcow2.c qcow2_update_options_prepare(), block/qcow.c qcow_open().
        if image is None or image.format != fmt:
            return
        method = crypt_method(fmt, image.head)
        wanted = options.get("encrypt.format")
        if method == 0:
            if wanted is not None:
                _fail("No encryption in image header, but options specified format "
                      f"'{wanted.value}'", wanted.span)
            return
        header = {1: "aes", 2: "luks"}.get(method)
        if header is None:
            _fail(f"Unsupported encryption method {method}", span)
        if wanted is not None and wanted.value != header:
            _fail(f"Header reported '{header}' encryption format but options specify "
                  f"'{wanted.value}'", wanted.span)
        # block_crypto_open_opts_init(): the encrypt.* dict is visited as the format's
        # QCryptoBlockOpenOptions (format, key-secret only)
        extra = [k for k in options if k.startswith("encrypt.")
                 and k not in ("encrypt.format", "encrypt.key-secret")]
        if extra:
            from ._qdict import qdict_order

            key = min(extra, key=lambda k: (qdict_order(k[8:]), options[k].seq))
            _fail(f"Parameter '{key[8:]}' is unexpected", options[key].span)
        _secret("encrypt.key-secret", options, span)
    return check


def _throttle(options: Options, image: ProbeResult | None, span: Span) -> None:
    # block/throttle.c throttle_parse_options(): groups come from -object.
    group = options.get("throttle-group")
    if group is None:
        _fail("Please specify a throttle group", span)
    if not _defined("throttle-group", group.value):
        _fail(f"Throttle group '{group.value}' does not exist", group.span)


def _copy_on_read(options: Options, image: ProbeResult | None, span: Span) -> None:
    bottom = options.get("bottom")  # block/copy-on-read.c cor_open()
    if bottom is not None:
        _fail(f"Bottom node '{bottom.value}' not found", bottom.span)


def _replication(options: Options, image: ProbeResult | None, span: Span) -> None:
    mode, top = options.get("mode"), options.get("top-id")  # block/replication.c
    if mode is None:
        _fail("Missing the option mode", span)
    if mode.value == "primary":
        if top is not None:
            _fail("The primary side does not support option top-id", top.span)
    elif mode.value == "secondary":
        if top is None:
            _fail("Missing the option top-id", mode.span)
    else:
        _fail("The option mode's value should be primary or secondary", mode.span)


def _curl(options: Options, image: ProbeResult | None, span: Span) -> None:
    # block/curl.c curl_open(): the cookie, the URL, then the two passwords; the
    # secrets are looked up before any connection is made.
    cookie, cookie_secret = options.get("cookie"), options.get("cookie-secret")
    if cookie is not None and cookie_secret is not None:
        _fail("curl driver cannot handle both cookie and cookie secret", cookie_secret.span)
    if cookie_secret is not None and not _defined("secret", cookie_secret.value):
        _fail(_no_secret(cookie_secret.value), cookie_secret.span)
    if "url" not in options:
        _fail("curl block driver requires an 'url' option", span)
    for key in ("password-secret", "proxy-password-secret"):
        if key in options and not _defined("secret", options[key].value):
            _fail(_no_secret(options[key].value), options[key].span)


def _iscsi(options: Options, image: ProbeResult | None, span: Span) -> None:
    # block/iscsi.c iscsi_open(): the target triple, then the CHAP secret (before the
    # connection; a connection failure is not predicted, see the report's notes).
    if "url" not in options and not all(k in options for k in ("transport", "portal",
                                                                 "target")):
        _fail("Need all of transport, portal and target options", span)
    secret, password = options.get("password-secret"), options.get("password")
    if secret is not None and password is not None:
        _fail("'password' and 'password-secret' properties are mutually exclusive",
              secret.span)
    if secret is not None and not _defined("secret", secret.value):
        _fail(_no_secret(secret.value), secret.span)


def _nbd(options: Options, image: ProbeResult | None, span: Span) -> None:
    # block/nbd.c nbd_process_options(): an address (server.*, or host/port/path), then
    # the TLS credentials object.
    has_address = "url" in options or any(k in options for k in ("host", "path")) or any(
        k.startswith("server.") for k in options)
    if not has_address:
        _fail("NBD server address missing", span)
    creds = options.get("tls-creds")
    if creds is not None:
        _fail(f"No TLS credentials with id '{creds.value}'", creds.span)


def _file_posix(options: Options, image: ProbeResult | None, span: Span) -> None:
    manager = options.get("pr-manager")  # block/file-posix.c raw_open_common()
    if manager is not None:
        raise error("driver-open", f"No persistent reservation manager with id "
                    f"'{manager.value}'", manager.span, Stage.CHILD)


def _qapi(driver: str) -> Check:
    """Drivers that read their options with a QAPI visitor (block/nfs.c, rbd.c, ssh.c:
    qobject_input_visitor_new_flat_confused() over the node's remaining options)."""
    def check(options: Options, image: ProbeResult | None, span: Span) -> None:
        from ..options import NODE_KEYS
        from . import drivers

        own = {k: e for k, e in options.items() if k not in NODE_KEYS and k != "filename"}
        if "url" in own or "filename" in options:
            return  # a URL file name: bdrv_parse_filename() makes the options
        for key in own:  # qdict_crumple(): "a" and "a.b" cannot both be given
            head = key.split(".")[0]
            if head != key and head in own:
                _fail("Cannot mix scalar and non-scalar keys", own[key].span)
        _visit(drivers.qapi_struct(drivers.qapi_type(driver)), own, "", span)
        if own:
            from ._qdict import qdict_order

            key = min(own, key=lambda k: (qdict_order(k), own[k].seq))
            _fail(f"Parameter '{key}' is unexpected", own[key].span)
    return check


def blkdebug_config_error(name: str, why: str) -> str:
    """block/blkdebug.c read_config()'s error for a config file it cannot open, in the
    walked dialect's words (Dialect.blkdebug_config_opened)."""
    from . import drivers

    if drivers.dialect().blkdebug_config_opened:
        return f"Could not open '{name}': {why}"
    return f"Could not read blkdebug config file: {why}"


def _rbd(options: Options, image: ProbeResult | None, span: Span) -> None:
    """block/rbd.c: an ``rbd:`` file name as qemu_rbd_parse_filename() splits it, then
    the QAPI visit of the options, then qemu_rbd_connect()'s qemu_rbd_set_keypairs()."""
    url = options.get("url")
    keys = rbd_keys(url.value, url.span) if url is not None and \
        url.value.startswith("rbd:") else []
    _qapi("rbd")(options, image, span)
    from . import drivers

    refused = drivers.dialect().rbd_unknown_conf
    bad = next((k for k in keys if k in refused), None)
    if bad is not None:  # rados_conf_set() -ENOENT
        _fail(f"invalid conf option {bad}: No such file or directory", span)


def rbd_keys(filename: str, span: Span) -> list[str]:
    """qemu_rbd_parse_filename(): the keys of ``rbd:POOL/IMAGE[@SNAP][:KEY=VALUE]...``
    passed to librados (``conf`` and ``id`` are QEMU's own), or the parse's error."""
    rest = filename[len("rbd:"):]
    head, found, rest = _rbd_split(rest, "/")
    if not found:
        raise error("rbd-name", "Pool name is required", span, Stage.FILL)
    image, found, rest = _rbd_split(rest, ":")
    keys: list[str] = []
    while found:
        name, found, rest = _rbd_split(rest, "=")
        if not found:
            raise error("rbd-name", f"conf option {_rbd_unescape(name)} has no value", span,
                        Stage.FILL)
        _value, found, rest = _rbd_split(rest, ":")
        name = _rbd_unescape(name)
        if name not in ("conf", "id"):
            keys.append(name)
    return keys


def _rbd_split(text: str, delim: str) -> tuple[str, bool, str]:
    """qemu_rbd_next_tok(): up to the first ``delim`` not escaped by a backslash."""
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            i += 2
            continue
        if text[i] == delim:
            return text[:i], True, text[i + 1:]
        i += 1
    return text, False, ""


def _rbd_unescape(text: str) -> str:
    """qemu_rbd_unescape(): a backslash keeps the character after it."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out)


def _visit(members: list[dict[str, Any]], own: dict[str, Any], prefix: str,
           span: Span) -> None:
    """Visit the struct's members in order, consuming ``own``'s keys as QAPI would."""
    from . import drivers

    for member in members:
        name = prefix + member["name"]
        nested = isinstance(member["type"], str) and drivers.qapi_struct(member["type"])
        if nested:
            inner = [k for k in own if k.startswith(name + ".")]
            if not inner:
                if not member["optional"]:
                    _fail(f"Parameter '{name}' is missing", span)
                continue
            _visit(nested, own, name + ".", span)
            continue
        if isinstance(member["type"], list) or (isinstance(member["type"], str) and any(
                k.startswith(name + ".") for k in own)):
            for k in [k for k in own if k.startswith(name + ".")]:
                del own[k]
            continue
        if name in own:
            del own[name]
        elif not member["optional"]:
            _fail(f"Parameter '{name}' is missing", span)


def _quorum(options: Options, image: ProbeResult | None, span: Span) -> None:
    # block/quorum.c quorum_open(): the children array, then the vote threshold, then
    # the read pattern and blkverify's constraints.
    from .._values import ValueProblem, is_true, parse_number

    indices = {k.split(".")[1] for k in options if k.startswith("children.")}
    count = 0
    while str(count) in indices:
        count += 1
    if count != len(indices):
        _fail("Option children is not a valid array", span)
    if count < 1:
        _fail("Number of provided children must be 1 or more", span)
    try:
        threshold = parse_number("vote-threshold", options["vote-threshold"].value) \
            if "vote-threshold" in options else 0
    except ValueProblem:
        return  # the typed check reports it
    if threshold < 1:
        _fail("Parameter 'vote-threshold' expects a value >= 1", span)
    if threshold > count:
        _fail("threshold may not exceed children count", span)
    pattern = options.get("read-pattern")
    if pattern is not None and pattern.value not in ("quorum", "fifo"):
        _fail("Please set read-pattern as fifo or quorum", pattern.span)
    if pattern is None or pattern.value == "quorum":
        blkverify = "blkverify" in options and is_true(options["blkverify"].value)
        if blkverify and (count != 2 or threshold != 2):
            _fail("blkverify=on can only be set if there are exactly two files and "
                  "vote-threshold is 2", span)
        if blkverify and "rewrite-corrupted" in options and \
                is_true(options["rewrite-corrupted"].value):
            _fail("rewrite-corrupted=on cannot be used with blkverify=on", span)


def _parallels(options: Options, image: ProbeResult | None, span: Span) -> None:
    # block/parallels.c parallels_open(): qapi_enum_parse() of prealloc-mode, after the
    # header and the typed prealloc-size (7.2; 10.0 parses it first: parallels_prealloc)
    parallels_prealloc(options, span)


def parallels_prealloc(options: Options, span: Span, stage: Stage = Stage.NODE) -> None:
    """block/parallels.c prealloc-mode: "falloc" or "truncate". 10.0's parallels_open()
    reads it in parallels_opts_prealloc() before its file child and the header
    (Dialect.parallels_prealloc_first: ``stage`` DRIVER_OPTIONS); 7.2 after the header."""
    mode = options.get("prealloc-mode")
    if mode is not None and mode.value not in ("falloc", "truncate"):
        raise error("driver-open", f"invalid parameter value: {mode.value}", mode.span,
                    stage)


def _compress(options: Options, image: ProbeResult | None, span: Span) -> None:
    """block/filter-compress.c compress_open(): the file child's driver must write
    compressed clusters (block_driver_can_compress(): qcow, qcow2, vmdk and the filters
    that pass it on, copy-on-read and throttle)."""
    child = options.get("file.driver")
    name = child.value if child is not None else "file"
    if name not in ("qcow", "qcow2", "vmdk", "copy-on-read", "throttle"):
        _fail(f"Compression is not supported for underlying format: {name}", span)


def _blklogwrites(options: Options, image: ProbeResult | None, span: Span,
                  probe: bool = False) -> None:
    """block/blklogwrites.c blk_log_writes_open() after both children opened: log-append
    excludes log-sector-size, then the sector size and the superblock interval."""
    from .._values import ValueProblem, is_true, parse_number, parse_size

    append = options.get("log-append")
    given = options.get("log-sector-size")
    try:
        appending = append is not None and is_true(append.value)
        if appending and given is not None:
            _fail("log-append and log-sector-size are mutually exclusive", span)
        size = parse_size("log-sector-size", given.value)[0] if given is not None else 512
        interval = options.get("log-super-update-interval")
        every = parse_number("log-super-update-interval", interval.value) \
            if interval is not None else 4096
    except ValueProblem:
        return  # the typed check reports it
    if appending:
        logged = _log_superblock(options, span) if probe else None  # probe_files
        if logged is None:
            return  # not a local file: its superblock is not read here
        size = logged
    # blk_log_writes_sector_size_valid(): a power of two, at least the 32-byte structs
    # (struct log_write_super, log_write_entry), below 16 MiB
    if size & (size - 1) or size < 32 or size >= 1 << 24:
        _fail(f"Invalid log sector size {size}", span)
    if not every:
        _fail(f"Invalid log superblock update interval {every}", span)


def _qapi_type(name: str) -> dict[str, Any]:
    from . import drivers

    return dict(drivers._tables()[1]["types"].get(name) or {})


def _unexpected(own: dict[str, Any], prefix: str, span: Span) -> None:
    """qobject_input_check_struct(): a key the struct did not visit."""
    left = [k for k in own if k.startswith(prefix)]
    if left:
        from ._qdict import qdict_order

        key = min(left, key=lambda k: (qdict_order(k), own[k].seq))
        _fail(f"Parameter '{key}' is unexpected", own[key].span)


def _visit_ref(own: dict[str, Any], name: str, optional: bool, span: Span) -> None:
    """A BlockdevRef member: a node's name (a string) or a BlockdevOptions dict."""
    if name in own:
        del own[name]
        return
    if not any(k.startswith(name + ".") for k in own):
        if not optional:
            _fail(f"Parameter '{name}' is missing", span)
        return
    _visit_blockdev(own, name + ".", span)


def _visit_blockdev(own: dict[str, Any], prefix: str, span: Span) -> None:
    """visit_type_BlockdevOptions() over flat keys: the discriminator, the base members,
    the driver's own struct, then the check for keys left over."""
    from . import drivers

    driver = own.pop(prefix + "driver", None)
    if driver is None:
        _fail(f"Parameter '{prefix}driver' is missing", span)
    names = {v["name"] for v in _qapi_type("BlockdevDriver").get("values", [])}
    if driver.value not in names:  # visit_type_enum() names the member, not its path
        _fail(f"Parameter 'driver' does not accept value '{driver.value}'", driver.span)
    base = [m for m in _qapi_type("BlockdevOptions").get("members", [])
            if m["name"] != "driver"]
    _visit_members(own, prefix, base + drivers.qapi_struct(drivers.qapi_type(driver.value)),
                   span)
    _unexpected(own, prefix, span)


def _visit_members(own: dict[str, Any], prefix: str, members: list[dict[str, Any]],
                   span: Span) -> None:
    for member in members:
        name, kind = prefix + member["name"], member["type"]
        inner = [k for k in own if k.startswith(name + ".")]
        if kind in ("BlockdevRef", "BlockdevRefOrNull"):
            _visit_ref(own, name, member["optional"], span)
            continue
        meta = _qapi_type(kind).get("meta") if isinstance(kind, str) else None
        if meta == "struct" and name not in own:
            if inner:
                from . import drivers

                _visit_members(own, name + ".", drivers.qapi_struct(kind), span)
                _unexpected(own, name + ".", span)
            elif not member["optional"]:
                _fail(f"Parameter '{name}' is missing", span)
            continue
        if meta == "enum" and name in own:
            values = {v["name"] for v in _qapi_type(kind).get("values", [])}
            if own[name].value not in values:
                _fail(f"Parameter '{member['name']}' does not accept value "
                      f"'{own[name].value}'", own[name].span)
        if name not in own and not inner and not member["optional"]:
            _fail(f"Parameter '{name}' is missing", span)
        own.pop(name, None)
        for k in inner:
            del own[k]


def _cbw(options: Options, image: ProbeResult | None, span: Span) -> None:
    """block/copy-before-write.c cbw_parse_options(): the node's options visited as
    BlockdevOptions before either child opens. bdrv_open_common() took the base
    members already, and the file child was opened for probing and left as its name."""
    from ..options import NODE_KEYS
    from . import drivers

    own = {k: e for k, e in options.items() if k not in NODE_KEYS and k != "file.driver"
           and not k.startswith("file.")}
    own.pop("file", None)
    members = [m for m in drivers.qapi_struct("BlockdevOptionsCbw") if m["name"] != "file"]
    _visit_members(own, "", members, span)
    _unexpected(own, "", span)


def _cbw_bitmap(options: Options, image: ProbeResult | None, span: Span,
                probe: bool = False) -> None:
    # cbw_open() after its children: block_dirty_bitmap_lookup() (block/monitor/
    # bitmap-qmp-cmds.c) finds no node of that name on a lone -drive but its own
    node, name = options.get("bitmap.node"), options.get("bitmap.name")
    if node is None or name is None:
        return
    own = options.get("node-name")
    if own is not None and own.value == node.value:
        _fail(f"Dirty bitmap '{name.value}' not found", span)
    _fail(f"Node '{node.value}' not found", span)


_WRITE_LOG_MAGIC = 0x6A736677736A  # block/blklogwrites.c WRITE_LOG_MAGIC, version 1


def _log_superblock(options: Options, span: Span) -> int | None:
    """blk_log_writes_open() with log-append: the log's superblock (struct log_write_super,
    little endian: magic, version, nr_entries u64, sectorsize u32), faked for an empty
    log; its sector size, or None when the log is not a local file read here."""
    name, driver = options.get("log.filename"), options.get("log.driver")
    if name is None or driver is not None and driver.value != "file":
        return None
    try:
        with open(name.value, "rb") as f:
            head = f.read(28)
    except OSError:
        return None  # the log child's open reports it
    if not head:
        return 512
    head = head.ljust(28, b"\0")
    if int.from_bytes(head[:8], "little") != _WRITE_LOG_MAGIC:
        _fail("Invalid log superblock magic", span)
    version = int.from_bytes(head[8:16], "little")
    if version != 1:
        _fail(f"Unsupported log version {version}", span)
    return int.from_bytes(head[24:28], "little")


def _blkdebug(options: Options, image: ProbeResult | None, span: Span,
              probe: bool = False) -> None:
    """block/blkdebug.c read_config(): the config file (when the host is read), then the
    rules given as options, inject-error.N before set-state.N (add_rule(): an event
    name from BlkdebugEvent)."""
    config = options.get("config")
    if config is not None and probe:
        try:
            with open(config.value, "rb"):
                pass
        except OSError as exc:
            _fail(blkdebug_config_error(config.value, os.strerror(exc.errno or 0)), span)
    events = {v["name"] for v in _qapi_type("BlkdebugEvent").get("values", [])}
    for group in ("inject-error", "set-state"):
        rules: dict[str, dict[str, Any]] = {}
        for key, entry in options.items():
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == group:
                rules.setdefault(parts[1], {})[parts[2]] = entry
        for index in sorted(rules, key=lambda i: (not i.isdigit(), int(i) if i.isdigit()
                                                  else 0, i)):
            event = rules[index].get("event")
            if event is None:
                _fail("Missing event name for rule", span)
            if event.value not in events:  # qapi_enum_parse()
                _fail(f"invalid parameter value: {event.value}", span)


def _null(options: Options, image: ProbeResult | None, span: Span) -> None:
    # block/null.c null_file_open(): the latency is read into an int64_t
    from .._values import ValueProblem, parse_number

    entry = options.get("latency-ns")
    if entry is None:
        return
    try:
        latency = parse_number("latency-ns", entry.value)
    except ValueProblem:
        return  # the typed check reports it
    if latency >= 1 << 63:
        _fail("latency-ns is invalid", span)


# Where QEMU 7.2 sets the error a QemuOpts value gives (Debian builds in a subfolder,
# hence ../../): block/null.c absorbs its options with &error_abort, so util/error.c
# error_handle() prints this line before the message and QEMU aborts.
_ERROR_SITES = (
    ("expects 'on' or 'off'", "qapi_bool_parse", "qapi/qapi-util.c", 104),
    ("is too large for parameter", "parse_option_number", "util/qemu-option.c", 99),
    ("expects a number", "parse_option_number", "util/qemu-option.c", 104),
    ("is out of range for parameter", "parse_option_size", "util/qemu-option.c", 140),
    ("expects a non-negative number", "parse_option_size", "util/qemu-option.c", 145),
)
_NULL_KEYS = frozenset({"size", "latency-ns", "read-zeroes"})


def abort_notice(error: Diagnostic, key: str, driver: str | None,
                 prefix: str = "../../") -> Diagnostic | None:
    """The "Unexpected error in ..." line QEMU prints before a null-co/null-aio option's
    value error (the key as the node sees it, the node's driver); ``prefix`` is how the
    build spells its source files' path (Dialect.source_prefix)."""
    if driver not in ("null-co", "null-aio") or key not in _NULL_KEYS \
            or error.code != "bad-value":
        return None
    site = next((s for s in _ERROR_SITES if s[0] in error.message), None)
    if site is None:
        return None
    return Diagnostic("abort", Severity.WARNING, f"Unexpected error in {site[1]}() at "
                      f"{prefix}{site[2]}:{site[3]}:", error.span, error.stage, located=False)


def _vpc(options: Options, image: ProbeResult | None, span: Span) -> None:
    mode = options.get("force_size_calc")  # block/vpc.c vpc_open(): before the header
    if mode is not None and mode.value not in ("current_size", "chs"):
        raise error("driver-open", f"Invalid size calculation mode: '{mode.value}'",
                    mode.span, Stage.FILE_CHECKS)


_CHECKS: dict[str, Check] = {
    "quorum": _quorum, "vpc": _vpc, "parallels": _parallels, "compress": _compress,
    "copy-before-write": _cbw, "null-co": _null, "null-aio": _null,
    **{d: _qapi(d) for d in ("nfs", "ssh")}, "rbd": _rbd,
    **dict.fromkeys(("http", "https", "ftp", "ftps"), _curl),
    "iscsi": _iscsi, "iser": _iscsi, "nbd": _nbd,
    **dict.fromkeys(("file", "host_device", "host_cdrom"), _file_posix),
    "luks": _luks, "qcow2": _encrypted("qcow2"), "qcow": _encrypted("qcow"),
    "throttle": _throttle, "copy-on-read": _copy_on_read, "replication": _replication,
}


def vvfat_options(filename: str) -> dict[str, str]:
    """block/vvfat.c vvfat_parse_filename(): ``fat:[12:|16:|32:][floppy:][rw:]DIR``."""
    fat_type = next((t for t in ("32", "16", "12") if f":{t}:" in filename), "0")
    last = filename.rfind(":")
    # A DOS drive letter ("fat:C:dir") keeps its colon in the directory name.
    if last >= 2 and filename[last - 2] == ":" and filename[last - 1].isalpha():
        directory = filename[last - 1:]
    else:
        directory = filename[last + 1:]
    return {"dir": directory, "fat-type": fat_type,
            "floppy": "on" if ":floppy:" in filename else "off",
            "rw": "on" if ":rw:" in filename else "off"}


def _vvfat(options: Options, span: Span, probe: bool, read_only: bool = False,
           warnings: list[Diagnostic] | None = None) -> None:
    # block/vvfat.c vvfat_open(), in its order.
    from .._values import ValueProblem, is_true, parse_number

    directory = options.get("dir")
    if directory is None:
        _fail("vvfat block driver requires a 'dir' option", span)
    floppy = "floppy" in options and is_true(options["floppy"].value)
    label = options.get("label")
    if label is not None and len(label.value.encode()) > 11:
        _fail("vvfat label cannot be longer than 11 bytes", label.span)
    try:
        fat_type = parse_number("fat-type", options["fat-type"].value) \
            if "fat-type" in options else 0
    except ValueProblem:
        return  # the typed check reports it
    fat_type = fat_type or (12 if floppy else 16)
    if fat_type not in (12, 16, 32):
        _fail("Valid FAT types are only 12, 16 and 32", span)
    if fat_type == 32 and warnings is not None:
        warnings.append(Diagnostic("vvfat-fat32", Severity.WARNING, "FAT32 has not been "
                                   "tested. You are welcome to do so!", span, Stage.NODE))
    if "rw" in options and is_true(options["rw"].value) and read_only:
        _fail("Unable to set VVFAT to 'rw' when drive is read-only", span)
    if probe and not os.path.isdir(directory.value):  # init_directories(): opendir()
        _fail(f"Could not read directory {directory.value}", span)


# Drivers whose check reads their children's keys too (quorum counts children.N, compress
# looks at its file child's driver, copy-before-write visits its target.*, blklogwrites
# reads its log's superblock).
SEES_CHILDREN = frozenset({"quorum", "compress", "copy-before-write", "blklogwrites"})
# The checks a driver makes after its children opened.
_AFTER_CHILDREN: dict[str, Callable[[Options, ProbeResult | None, Span, bool], None]] = {
    "blklogwrites": _blklogwrites, "copy-before-write": _cbw_bitmap}


def after_children(driver: str, options: Options, image: ProbeResult | None,
                   span: Span, probe: bool = False) -> None:
    """The driver's open-time checks that follow its children's opens (``probe``: they
    may read what the options name on the host, blklogwrites' log)."""
    check = _AFTER_CHILDREN.get(driver)
    if check is not None:
        check(options, image, span, probe)


def driver_checks(driver: str, options: Options, image: ProbeResult | None,
                  span: Span, probe: bool = False, read_only: bool = False,
                  warnings: list[Diagnostic] | None = None) -> None:
    """The driver's open-time checks of ``options`` (the node's own, by key); ``probe``
    lets a check look at what the options name on the host (vvfat's directory);
    ``read_only`` is the node's flag, ``warnings`` receives what the open warns."""
    if driver == "vvfat":
        _vvfat(options, span, probe, read_only, warnings)
        return
    if driver == "blkdebug":
        _blkdebug(options, image, span, probe)
        return
    if driver == "copy-on-read" and read_only:
        # block/copy-on-read.c cor_open(): the filter takes its file child with the
        # write permission (copy-on-read writes what it reads), before the bottom node
        _fail("Block node is read-only", span)
    check = _CHECKS.get(driver)
    if check is not None:
        check(options, image, span)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
