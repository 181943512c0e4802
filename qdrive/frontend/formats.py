"""The checks a driver's own open makes on its options and on the image header it reads.

Each function mirrors one driver's open in QEMU 7.2 (the file is cited per check) for a
lone -drive: a name that only another option of the command line could define (a
secret, a throttle group, a node) is not defined, so QEMU's "not found" message is the
answer. :func:`driver_checks` runs the one for the node's driver; it raises Stop with
QEMU's text or returns when the driver would open.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from ..diagnostics import Diagnostic, Severity, Span, Stage, Stop, error

from .._values import is_true
from . import hostprobe

if TYPE_CHECKING:
    from ..model import Drive
    from ..probe import ProbeResult

__all__ = ["header_problem", "driver_checks", "crypt_method", "vvfat_options", "read_at",
           "READ_ONLY_FORMATS", "auto_read_only_problem", "missing_modules", "after_children",
           "SEES_CHILDREN", "missing_file_message", "drops_to_read_only",
           "probed_raw_warning", "abort_notice", "DEFINED_OBJECTS", "CURL_DRIVERS",
           "glib_notices", "curl_value_notices", "nvme_filename",
           "iscsi_filename", "nbd_filename",
           "nfs_filename", "ssh_filename", "rbd_filename"]

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
    # block/qcow.c qcow_open() and qcow2.c qcow2_do_open() share the magic "QFI\xfb" and
    # then read the version (a u32 at 4): each refuses the other's
    version = int.from_bytes(found.head[4:8], "big") if found.head[:4] == b"QFI\xfb" \
        and len(found.head) >= 8 else None
    if fmt == "qcow" and version is not None and version != 1:
        hint = "\nTry the 'qcow2' driver instead." if version in (2, 3) else ""
        return f"qcow (v1) does not support qcow version {version}{hint}"
    if fmt == "qcow2" and version is not None and version not in (2, 3):
        return f"Unsupported qcow2 version {version}"
    if fmt == "vdi" and found.format != "vdi":
        problem = _vdi_header(found.head)
        if problem:
            return problem
    if fmt in _NOT_THIS_FORMAT and found.format != fmt:
        return _NOT_THIS_FORMAT[fmt]
    # block/file-posix.c raw_open_common(): the protocol driver must fit the file type.
    if fmt in ("host_device", "host_cdrom") and not found.device:
        return f"'{fmt}' driver requires '{name}' to be either a character or block device"
    if fmt == "file" and found.device:
        return f"'file' driver requires '{name}' to be a regular file"
    return ""


# block/vdi.c VDI_DISK_SIZE_MAX: VDI_BLOCKS_IN_IMAGE_MAX blocks of DEFAULT_CLUSTER_SIZE
_VDI_DISK_SIZE_MAX = ((2**31 - 512) // 4) * (1 << 20)


def _vdi_header(head: bytes) -> str:
    """block/vdi.c vdi_open(): the disk size (u64 at 0x170) against its maximum, then the
    signature (u32 at 0x40), both little-endian, whatever the file really is."""
    if len(head) < 0x178:
        return ""
    disk_size = int.from_bytes(head[0x170:0x178], "little")
    if disk_size > _VDI_DISK_SIZE_MAX:
        return (f"Unsupported VDI image size (size is 0x{disk_size:x}, max supported is "
                f"0x{_VDI_DISK_SIZE_MAX:x})")
    signature = int.from_bytes(head[0x40:0x44], "little")
    if signature != 0xBEDA107F:
        return f"Image not in VDI format (bad signature {signature:08x})"
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


CURL_DRIVERS = frozenset({"http", "https", "ftp", "ftps"})
_CURL_TIMEOUT_MAX = 10000  # block/curl.c CURL_TIMEOUT_MAX


def _curl(scheme: str) -> Check:
    """block/curl.c curl_open() of the driver whose protocol_name is ``scheme``."""
    def check(options: Options, image: ProbeResult | None, span: Span) -> None:
        _curl_open(scheme, options, span)
    return check


def _curl_open(scheme: str, options: Options, span: Span) -> None:
    # block/curl.c curl_open(), in its order: readahead, timeout, the cookie, the URL and
    # its scheme, then the two passwords; all before any connection is made.
    from .._values import ValueProblem, parse_number, parse_size

    try:
        readahead = parse_size("readahead", options["readahead"].value)[0] \
            if "readahead" in options else 0
        timeout = parse_number("timeout", options["timeout"].value) \
            if "timeout" in options else 0
    except ValueProblem:
        return  # the typed check reports it
    if readahead & 0x1FF:  # printed with %zd: a size_t read as signed
        signed = readahead - (1 << 64) if readahead >= 1 << 63 else readahead
        _fail(f"HTTP_READAHEAD_SIZE {signed} is not a multiple of 512", span)
    if timeout > _CURL_TIMEOUT_MAX:
        _fail("timeout parameter is too large or negative", span)
    cookie, cookie_secret = options.get("cookie"), options.get("cookie-secret")
    if cookie is not None and cookie_secret is not None:
        _fail("curl driver cannot handle both cookie and cookie secret", cookie_secret.span)
    if cookie_secret is not None and not _defined("secret", cookie_secret.value):
        _fail(_no_secret(cookie_secret.value), cookie_secret.span)
    if "url" not in options:
        _fail("curl block driver requires an 'url' option", span)
    if not options["url"].value.startswith(f"{scheme}://"):
        _fail(f"{scheme} curl driver cannot handle the URL '{options['url'].value}' (does "
              f"not start with '{scheme}://')", options["url"].span)
    for key in ("password-secret", "proxy-password-secret"):
        if key in options and not _defined("secret", options[key].value):
            _fail(_no_secret(options[key].value), options[key].span)


def glib_notices(failure: Diagnostic) -> list[Diagnostic]:
    """block/curl.c curl_open(): a failure before the socket table exists jumps to
    out_noclean, whose curl_drop_all_sockets() and g_hash_table_destroy() get a NULL
    table; GLib's criticals reach util/error-report.c qemu_log_func(), which reports them
    with error_report() ("GLib: " and the function, no "warning:"), located, before the
    error itself. QEMU goes on, so they are notices of error severity, not the error."""
    return [Diagnostic("glib-critical", Severity.ERROR, f"GLib: {function}: assertion "
                       "'hash_table != NULL' failed", failure.span, failure.stage)
            for function in ("g_hash_table_foreach_remove", "g_hash_table_destroy")]


def curl_value_notices(failure: Diagnostic, key: str, driver: str | None) -> list[Diagnostic]:
    """The GLib lines before a bad value of one of curl's own runtime options (its
    qemu_opts_absorb_qdict() fails inside curl_open(); the common ones, cache.* and
    read-only, fail earlier in block.c bdrv_open_common())."""
    from . import drivers

    info = drivers.driver(driver) if driver in CURL_DRIVERS else None
    if info is None or failure.code != "bad-value" or not info.typed(key) \
            or key in ("cache.direct", "cache.no-flush", "read-only", "auto-read-only",
                       "force-share"):
        return []
    return glib_notices(failure)


_ISCSI_SCHEMES = {"iscsi://": "tcp", "iser://": "iser"}


def _iscsi_url(url: str) -> dict[str, str] | None:
    """libiscsi iscsi_parse_full_url() as block/iscsi.c iscsi_parse_filename() uses it:
    ``iscsi://[USER[%PASSWORD]@]PORTAL/TARGET/LUN`` (iser:// for iSER), LUN all of a
    strtol() number; the options it gives (transport, portal, target, lun, and user and
    password when the URL has both), or None when it fails."""
    scheme = next((s for s in _ISCSI_SCHEMES if url.startswith(s)), None)
    if scheme is None:
        return None
    portal = url[len(scheme):][:255]  # MAX_STRING_SIZE
    found = {"transport": _ISCSI_SCHEMES[scheme]}
    credentials, at, rest = portal.partition("@")
    if at:
        portal = rest
        user, sep, password = credentials.partition("%")
        if not sep:
            user, sep, password = credentials.partition(":")
        if sep:
            found.update(user=user, password=password)
    portal, slash, target = portal.partition("/")
    target, slash_lun, lun = target.partition("/")
    if not slash or not target or not slash_lun or not _strtol_whole(lun):
        return None
    return {**found, "portal": portal, "target": target}


def _strtol_whole(text: str) -> bool:
    digits = text.lstrip(" \t\n\v\f\r")
    digits = digits[1:] if digits[:1] in ("+", "-") else digits
    return bool(text) and digits.isascii() and digits.isdigit()


def iscsi_filename(filename: str, span: Span) -> None:
    """block/iscsi.c iscsi_parse_filename(): a URL libiscsi cannot parse is refused
    while the file name is parsed (block.c bdrv_fill_options())."""
    if _iscsi_url(filename) is None:
        raise error("iscsi-url", f"Failed to parse URL : {filename}", span, Stage.FILL)


def _iscsi(options: Options, image: ProbeResult | None, span: Span) -> None:
    # block/iscsi.c iscsi_open(): the target triple (the URL's values are defaults under
    # the options), the transport, CHAP when a user is given, the header digest; all
    # before the connection (whose failure is not predicted: qdrive connects nowhere).
    url = options.get("url")
    given = {k: options[k].value for k in ("transport", "portal", "target", "user",
                                           "password") if k in options}
    values = {**((_iscsi_url(url.value) or {}) if url is not None else {}), **given}
    if not all(k in values for k in ("transport", "portal", "target")):
        _fail("Need all of transport, portal and target options", span)
    if values["transport"] not in ("tcp", "iser"):
        _fail(f"Unknown transport: {values['transport']}", span)
    secret = options.get("password-secret")
    if "user" in values:  # apply_chap()
        if secret is not None and "password" in values:
            _fail("'password' and 'password-secret' properties are mutually exclusive",
                  secret.span)
        if secret is not None and not _defined("secret", secret.value):
            _fail(_no_secret(secret.value), secret.span)
        if secret is None and "password" not in values:
            _fail("CHAP username specified but no password was given", span)
    digest = options.get("header-digest")  # apply_header_digest()
    if digest is not None and digest.value not in ("crc32c", "none", "crc32c-none",
                                                   "none-crc32c"):
        _fail(f"Invalid header-digest setting : {digest.value}", digest.span)


# block/gluster.c qemu_gluster_parse(): the hint each way of naming the volume appends
_GLUSTER_USAGE_URI = ("Usage: file=gluster[+transport]://[host[:port]]volume/path"
                      "[?socket=...][,file.debug=N][,file.logfile=/path/filename.log]")
_GLUSTER_USAGE_JSON = (
    "Usage: -drive driver=qcow2,file.driver=gluster,file.volume=testvol,"
    "file.path=/path/a.qcow2[,file.debug=9][,file.logfile=/path/filename.log],"
    "file.server.0.type=inet,file.server.0.host=1.2.3.4,file.server.0.port=24007,"
    "file.server.1.transport=unix,file.server.1.path=/var/run/glusterd.socket ...")
_GLUSTER_SCHEMES = {"gluster": False, "gluster+tcp": False, "gluster+rdma": False,
                    "gluster+unix": True}  # scheme -> unix socket


def _gluster(options: Options, image: ProbeResult | None, span: Span) -> None:
    # block/gluster.c qemu_gluster_open() -> qemu_gluster_parse(): a file name is a URI,
    # else the volume, path and server.N.* options; then glfs_init() connects (not
    # predicted: qdrive connects nowhere).
    url = options.get("url") or options.get("filename")
    if url is not None:
        if not _gluster_uri_ok(url.value):
            _fail_detail(f"invalid URI {url.value}", _GLUSTER_USAGE_URI, span)
        return
    problem, hint = _gluster_json(options)
    if problem:
        _fail_detail(problem, f"{hint}{_GLUSTER_USAGE_JSON}", span)


def _fail_detail(message: str, detail: str, span: Span) -> NoReturn:
    raise error("driver-open", message, span, Stage.NODE, detail)


def _gluster_uri_ok(uri: str) -> bool:
    """qemu_gluster_parse_uri() over util/uri.c uri_parse(): a known scheme, a path of
    /VOLUME/PATH, and a socket= query exactly when the transport is unix (which takes
    no host or port). An authority's port must be digits (RFC 3986)."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in _GLUSTER_SCHEMES:
        return False
    rest, _, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    host_port = authority.rpartition("@")[2]
    host, colon, port = host_port.rpartition(":") if not host_port.startswith("[") \
        else (host_port, "", "")
    if colon and port and not port.isdigit():
        return False
    host = host if colon else host_port
    volume, _, image = path.lstrip("/").partition("/")
    if not slash or not volume or not image.lstrip("/"):
        return False  # parse_volume_options()
    params = [p for p in query.replace(";", "&").split("&") if p]
    unix = _GLUSTER_SCHEMES[scheme]
    if len(params) > 1 or unix != bool(params):
        return False
    if unix:
        return not host and not (port and int(port)) and params[0].partition("=")[0] == "socket"
    return True


def _gluster_json(options: Options) -> tuple[str, str]:
    """qemu_gluster_parse_json(): QEMU's message and its index hint, or ("", "")."""
    count = _array_entries(options, "server.")
    if count < 1:
        return "Parameter 'server' is missing", ""
    for key in ("volume", "path"):
        if key not in options:
            return f"Parameter '{key}' is missing", ""
    from .._values import ValueProblem, parse_bool, parse_number

    for i in range(count):
        sub = {k[len(f"server.{i}."):]: e.value for k, e in options.items()
               if k.startswith(f"server.{i}.")}
        hint = f"hint: check in 'server' array index '{i}'\n"
        kind = sub.get("type")
        if kind is None:
            return "Parameter 'type' is missing", hint
        kind = "inet" if kind == "tcp" else kind
        if kind not in ("inet", "unix"):
            return "Parameter 'type' may be 'inet' or 'unix'", hint
        if kind == "unix":
            if "path" in sub and "socket" in sub:
                return "Conflicting parameters 'path' and 'socket'", hint
            if "path" not in sub and "socket" not in sub:
                return "Parameter 'path' is missing", hint
            continue
        try:  # runtime_inet_opts: to is a number, ipv4 and ipv6 booleans
            for key in ("to", "ipv4", "ipv6"):
                if key in sub:
                    (parse_number if key == "to" else parse_bool)(key, sub[key])
        except ValueProblem as p:
            return p.message, ""
        for key in ("host", "port"):
            if key not in sub:
                return f"Parameter '{key}' is missing", hint
        if "to" in sub:
            return "Parameter 'to' not supported", ""
        if "ipv4" in sub or "ipv6" in sub:
            return "Parameters 'ipv4/ipv6' not supported", ""
    return "", ""


def _array_entries(options: Options, prefix: str) -> int:
    """qobject/block-qdict.c qdict_array_entries(): how many of PREFIX0, PREFIX1, ...
    there are, each a key or a sub-dict but not both; -1 if a PREFIX key is left over."""
    handled = sum(1 for k in options if not k.startswith(prefix))
    i = 0
    while True:
        below = sum(1 for k in options if k.startswith(f"{prefix}{i}."))
        whole = f"{prefix}{i}" in options
        if below and whole:
            return -1
        if not below and not whole:
            break
        handled += below or 1
        i += 1
    return i if handled == len(options) else -1


_NBD_URI_SCHEMES = {"nbd": False, "nbd+tcp": False, "nbd+unix": True}  # -> unix socket


def nbd_filename(filename: str, keys: Iterable[str], span: Span) -> dict[str, str]:
    """block/nbd.c nbd_parse_filename(): the server.* and export options a file name
    gives, or Stop (while the file name is parsed, block.c bdrv_fill_options())."""
    from ._qdict import qdict_order

    for key in sorted(keys, key=qdict_order):  # nbd_has_filename_options_conflict()
        if key in ("host", "port", "path", "export") or key.startswith("server."):
            raise error("nbd-name", f"Option '{key}' cannot be used with a file name", span,
                        Stage.FILL)
    if "://" in filename:
        parsed = _nbd_uri(filename)
        if parsed is None:
            raise error("nbd-name", "No valid URL specified", span, Stage.FILL)
        return parsed
    found: dict[str, str] = {}
    name, sep, export = filename.partition(":exportname=")
    if sep and not export:
        return {}  # QEMU keeps nothing of the name then
    if sep:
        found["export"] = export
    if not name.startswith("nbd:"):
        raise error("nbd-name", "File name string for NBD must start with 'nbd:'", span,
                    Stage.FILL)
    spec = name[len("nbd:"):]
    if not spec:
        return found
    if spec.startswith("unix:"):
        return {**found, "server.type": "unix", "server.path": spec[len("unix:"):]}
    address = _inet_parse(spec)
    if address is None:  # util/qemu-sockets.c inet_parse()
        what = "port in address" if spec.startswith(":") else "IPv6 address" \
            if spec.startswith("[") else "address"
        raise error("nbd-name", f"error parsing {what} '{spec}'", span, Stage.FILL)
    return {**found, "server.type": "inet", "server.host": address[0],
            "server.port": address[1]}


def _inet_parse(spec: str) -> tuple[str, str] | None:
    """inet_parse()'s HOST:PORT (sscanf "%64[^:]:%32[^,]"; [V6]:PORT; :PORT)."""
    if spec.startswith("["):
        host, close, port = spec[1:].partition("]:")
        return (host, port) if close and host and port else None
    host, colon, port = spec.partition(":")
    if not colon or not port or len(host) > 64:
        return None
    return host, port


def _nbd_uri(uri: str) -> dict[str, str] | None:
    """nbd_parse_uri(): nbd[+tcp]://HOST[:PORT][/EXPORT], nbd+unix:///EXPORT?socket=PATH."""
    scheme, _, rest = uri.partition("://")
    if scheme not in _NBD_URI_SCHEMES:
        return None
    rest, _, query = rest.partition("?")
    authority, _, export = rest.partition("/")
    server, colon, port = authority.rpartition("@")[2].rpartition(":") \
        if "]" not in authority.rpartition(":")[2] else (authority, "", "")
    server = server if colon else authority.rpartition("@")[2]
    if colon and port and not port.isdigit():
        return None  # util/uri.c: a port is digits
    found = {"export": export} if export else {}
    params = [p for p in query.replace(";", "&").split("&") if p]
    unix = _NBD_URI_SCHEMES[scheme]
    if len(params) > 1 or unix != bool(params):
        return None
    if unix:
        name, _, path = params[0].partition("=")
        if server or (port and int(port)) or name != "socket":
            return None
        return {**found, "server.type": "unix", "server.path": path}
    if not server:
        return None
    host = server[1:-1] if server.startswith("[") else server
    return {**found, "server.type": "inet", "server.host": host,
            "server.port": str(int(port) if port and int(port) else 10809)}


def _nbd(options: Options, span: Span, probe: bool) -> None:
    # block/nbd.c nbd_process_options(): host/port/path become server.*, the address is
    # visited, then the TLS credentials; nbd_open() then connects: a Unix socket is
    # judged on the host (probing), a TCP address is not (qdrive connects nowhere).
    url = options.get("url")
    given = {k: e.value for k, e in options.items() if k != "url"}
    if url is not None:
        try:
            given = {**nbd_filename(url.value, (), span), **given}
        except Stop:
            pass  # reported while the file name was parsed
    legacy = {k: given.pop(k) for k in ("path", "host", "port") if k in given}
    if legacy and any(k.startswith("server.") for k in given):
        _fail("Cannot use 'server' and path/host/port at the same time", span)
    if "path" in legacy and "host" in legacy:
        _fail("path and host may not be used at the same time", span)
    if "path" in legacy and "port" in legacy:
        _fail("port may not be used without host", span)
    if "path" in legacy:
        given.update({"server.type": "unix", "server.path": legacy["path"]})
    elif "host" in legacy:
        given.update({"server.type": "inet", "server.host": legacy["host"],
                      "server.port": legacy.get("port", "10809")})
    server = {k[len("server."):]: v for k, v in given.items() if k.startswith("server.")}
    if not server:
        _fail("NBD server address missing", span)
    problem = _socket_address(server)
    if problem:
        _fail(problem, span)
    creds = options.get("tls-creds")
    if creds is not None:
        _fail(f"No TLS credentials with id '{creds.value}'", creds.span)
    if probe and server["type"] == "unix" and not is_true(server.get("abstract", "off")):
        refused = hostprobe.unix_connect_problem(server["path"])
        if refused:
            _fail(f"Failed to connect to '{server['path']}': {refused}", span)


# qapi/sockets.json SocketAddress: the members each type requires, then its optional ones
# (Debian's 7.2 is built for Linux with IPPROTO_MPTCP)
_SOCKET_MEMBERS = {"inet": (("host", "port"), ("numeric", "to", "ipv4", "ipv6",
                                               "keep-alive", "mptcp")),
                   "unix": (("path",), ("abstract", "tight")),
                   "vsock": (("cid", "port"), ()), "fd": (("str",), ())}


def _socket_address(server: Mapping[str, str]) -> str:
    """visit_type_SocketAddress() over the flat server.* options: the type, the members
    its branch requires, then visit_check_struct(): nothing else (values not typed)."""
    from ._qdict import ghash_order, qdict_order

    kind = server.get("type")
    if kind is None:
        return "Parameter 'type' is missing"
    if kind not in _SOCKET_MEMBERS:
        return f"Parameter 'type' does not accept value '{kind}'"
    required, optional = _SOCKET_MEMBERS[kind]
    missing = next((m for m in required if m not in server), None)
    if missing:
        return f"Parameter '{missing}' is missing"
    known = ("type", *required, *optional)
    walk = sorted(server, key=qdict_order)
    extra = [k for k in ghash_order(walk) or walk if k not in known]
    return f"Parameter '{extra[0]}' is unexpected" if extra else ""


def nvme_filename(filename: str, span: Span) -> None:
    """block/nvme.c nvme_parse_filename(): ``nvme://DEVICE[/NAMESPACE]``; a namespace that
    is not a decimal number is refused while the file name is parsed."""
    rest = filename.removeprefix("nvme://")
    if rest == filename or not rest or "/" not in rest:
        return
    namespace = rest.partition("/")[2]
    if namespace and not (namespace.isascii() and namespace.isdigit()
                          and int(namespace) < 1 << 64):
        raise error("nvme-name", f"Invalid namespace '{namespace}', positive number "
                    "expected", span, Stage.FILL)


def _nvme(options: Options, span: Span, probe: bool) -> None:
    # block/nvme.c nvme_file_open(): the PCI address (given, or parsed from nvme://...),
    # then nvme_init() opens VFIO's container (util/vfio-helpers.c), a host fact.
    url = options.get("url")
    parsed = url is not None and len(url.value) > len("nvme://") \
        and url.value.startswith("nvme://")
    if "device" not in options and not parsed:
        _fail("'device' option is required", span)
    problem = hostprobe.vfio_container_problem() if probe else ""
    if problem:
        _fail(problem, span)


_NFS_PARAMS = frozenset({"uid", "gid", "tcp-syncnt", "readahead", "pagecache", "debug"})
_NFS_CONFLICTS = frozenset({"host", "path", "user", "group", "tcp-syn-count",
                            "readahead-size", "page-cache-size", "debug"})
_SSH_CONFLICTS = frozenset({"host", "port", "path", "user", "host_key_check"})


def _first_conflict(keys: Iterable[str], names: frozenset[str]) -> str | None:
    """The first key (in QDict order) a file name may not come with: ``names`` or any
    server.* (block/nfs.c, ssh.c *_has_filename_options_conflict())."""
    from ._qdict import qdict_order

    return next((k for k in sorted(keys, key=qdict_order)
                 if k in names or k.startswith("server.")), None)


def _fill_fail(message: str, span: Span) -> NoReturn:
    raise error("protocol-name", message, span, Stage.FILL)


def nfs_filename(filename: str, keys: Iterable[str], span: Span) -> None:
    """block/nfs.c nfs_parse_filename() -> nfs_parse_uri(), while the file name is
    parsed (block.c bdrv_fill_options())."""
    from . import _uri

    conflict = _first_conflict(keys, _NFS_CONFLICTS)
    if conflict is not None:
        _fill_fail(f"Option {conflict} cannot be used with a filename", span)
    uri = _uri.parse(filename)
    if uri is None:
        _fill_fail("Invalid URI specified", span)
    if uri.scheme != "nfs":
        _fill_fail("URI scheme must be 'nfs'", span)
    if uri.server is None:
        _fill_fail("missing hostname in URI", span)
    if uri.path is None:
        _fill_fail("missing file path in URI", span)
    for name, value in _uri.query_params(uri.query):
        if value is None:
            _fill_fail(f"Value for NFS parameter expected: {name}", span)
        if not _parse_uint_full(value):
            _fill_fail(f"Illegal value for NFS parameter: {name}", span)
        if name not in _NFS_PARAMS:
            _fill_fail(f"Unknown NFS parameter name: {name}", span)


def _parse_uint_full(text: str) -> bool:
    """util/cutils.c parse_uint_full(text, base 0): spaces, no sign, all consumed."""
    digits = text.lstrip(" \t\n\v\f\r")
    if re.fullmatch(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*", digits) is None:
        return False
    return int(digits, 0) < 1 << 64 if digits[:2].lower() == "0x" or digits == "0" \
        or not digits.startswith("0") else int(digits, 8) < 1 << 64


def ssh_filename(filename: str, keys: Iterable[str], span: Span) -> None:
    """block/ssh.c ssh_parse_filename() -> parse_uri(); a URI uri_parse() refuses sets no
    error there (the open then misses its options)."""
    from . import _uri

    conflict = _first_conflict(keys, _SSH_CONFLICTS)
    if conflict is not None:
        _fill_fail(f"Option '{conflict}' cannot be used with a file name", span)
    uri = _uri.parse(filename)
    if uri is None:
        return
    if uri.scheme != "ssh":
        _fill_fail("URI scheme must be 'ssh'", span)
    if not uri.server:
        _fill_fail("missing hostname in URI", span)
    if not uri.path:
        _fill_fail("missing remote path in URI", span)


def rbd_filename(filename: str, span: Span) -> list[str]:
    """block/rbd.c qemu_rbd_parse_filename(): ``rbd:POOL/IMAGE[@SNAP][:KEY=VALUE...]``,
    its separators found by qemu_rbd_next_tok() (a backslash escapes the next
    character); the keys it passes to librados (``conf`` and ``id`` are QEMU's own)."""
    if not filename.startswith("rbd:"):
        _fill_fail("File name must start with 'rbd:'", span)
    pool, rest = _rbd_token(filename[len("rbd:"):], "/")
    if rest is None:
        _fill_fail("Pool name is required", span)
    _image, rest = _rbd_token(rest, ":")
    keys: list[str] = []
    while rest is not None:
        name, rest = _rbd_token(rest, "=")
        if rest is None:
            _fill_fail(f"conf option {_rbd_unescape(name)} has no value", span)
        _value, rest = _rbd_token(rest, ":")
        if _rbd_unescape(name) not in ("conf", "id"):
            keys.append(_rbd_unescape(name))
    return keys


def _rbd_token(text: str, delim: str) -> tuple[str, str | None]:
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            i += 2
            continue
        if text[i] == delim:
            return text[:i], text[i + 1:]
        i += 1
    return text, None


def _rbd_unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


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
        if driver == "ssh":
            own = _ssh_legacy(own, span)
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


_HOST_KEY_CHECKS = {"no": {"mode": "none"}, "yes": {"mode": "known_hosts"},
                    **{f"{t}:": {"mode": "hash", "type": t} for t in ("md5", "sha1", "sha256")}}


def _ssh_legacy(own: dict[str, Any], span: Span) -> dict[str, Any]:
    """block/ssh.c ssh_process_legacy_options(): host, port and host_key_check become
    server.* and host-key-check.*, before the QAPI visit of what is left."""
    host, port, check = (own.pop(k, None) for k in ("host", "port", "host_key_check"))
    if host is None and port is not None:
        _fail("port may not be used without host", span)
    left = dict(own)
    if host is not None:  # their values are strings to the visitor: any will do
        left["server.host"] = host
        left["server.port"] = port or host
    if check is not None:
        prefix = next((p for p in _HOST_KEY_CHECKS if check.value == p
                       or (p.endswith(":") and check.value.startswith(p))), None)
        if prefix is None:
            _fail(f"unknown host_key_check setting ({check.value})", span)
        for member in (*_HOST_KEY_CHECKS[prefix], *(("hash",) if prefix.endswith(":")
                                                      else ())):
            left[f"host-key-check.{member}"] = check
    return left


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
    keys = rbd_filename(url.value, url.span) if url is not None and \
        url.value.startswith("rbd:") else []
    _qapi("rbd")(options, image, span)
    from . import drivers

    refused = drivers.dialect().rbd_unknown_conf
    bad = next((k for k in keys if k in refused), None)
    if bad is not None:  # rados_conf_set() -ENOENT
        _fail(f"invalid conf option {bad}: No such file or directory", span)


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
# block/null.c and block/nvme.c absorb with &error_abort (their typed keys, by driver)
_ABORTING = {"null-co": frozenset({"size", "latency-ns", "read-zeroes"}),
             "null-aio": frozenset({"size", "latency-ns", "read-zeroes"}),
             "nvme": frozenset({"namespace"})}


def abort_notice(error: Diagnostic, key: str, driver: str | None,
                 prefix: str = "../../") -> Diagnostic | None:
    """The "Unexpected error in ..." line QEMU prints before a null-co/null-aio/nvme
    option's value error (the key as the node sees it, the node's driver); ``prefix`` is
    how the build spells its source files' path (Dialect.source_prefix)."""
    if key not in _ABORTING.get(driver or "", frozenset()) or error.code != "bad-value":
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
    **{d: _curl(d) for d in sorted(CURL_DRIVERS)},
    "iscsi": _iscsi, "iser": _iscsi, "gluster": _gluster,
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
    if driver == "nvme":
        _nvme(options, span, probe)
        return
    if driver == "nbd":
        _nbd(options, span, probe)
        return
    check = _CHECKS.get(driver)
    if check is None:
        return
    try:
        check(options, image, span)
    except Stop as stop:
        if driver in CURL_DRIVERS and warnings is not None:
            warnings.extend(glib_notices(stop.diagnostic))
        raise


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
