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
from typing import Any, TYPE_CHECKING

# The checks live per driver family (the _fmt_* modules); this one keeps the table that
# picks a driver's check and the names the rest of qdrive imports from here.
from ._fmt_common import Check, DEFINED_OBJECTS, Options, _fail, _secret
from ._fmt_filters import (_blkdebug, _blkdebug_limits, _blklogwrites, _cbw, _cbw_bitmap,
                           _compress, _copy_on_read, _null, _quorum, _replication, _throttle,
                           abort_notice, quorum_lengths)
from ._fmt_filters import blkdebug_config_error as blkdebug_config_error
from ._fmt_filters import preallocate_align as preallocate_align
from ._fmt_headers import header_problem, read_at
from ._fmt_protocols import (CURL_DRIVERS, TAKEN_BY_OPEN, _curl, _file_posix, _gluster,
                             _iscsi, _nbd, _nfs, _nvme, _rbd, _ssh,
                             curl_value_notices, glib_notices, iscsi_filename, nbd_filename,
                             nfs_filename, nvme_filename, rbd_filename, ssh_filename)
from .._values import is_true
from ..diagnostics import Diagnostic, Severity, Span, Stage, Stop, error

if TYPE_CHECKING:
    from ..model import Drive
    from ..probe import ProbeResult

__all__ = ["header_problem", "driver_checks", "crypt_method", "vvfat_options", "read_at",
           "READ_ONLY_FORMATS", "auto_read_only_problem", "missing_modules", "after_children",
           "SEES_CHILDREN", "missing_file_message", "drops_to_read_only",
           "probed_raw_warning", "abort_notice", "DEFINED_OBJECTS", "CURL_DRIVERS", "TAKEN_BY_OPEN",
           "glib_notices", "curl_value_notices", "nvme_filename",
           "iscsi_filename", "nbd_filename", "preallocate_align",
           "nfs_filename", "ssh_filename", "rbd_filename", "null_name", "raw_limits"]


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
        # block/vvfat.c vvfat_parse_filename() puts the fat: name's rw over rw=
        if d.file is not None and d.file.startswith("fat:"):
            return vvfat_options(d.file)["rw"] != "on"
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
        if fmt == "qcow2":
            _qcow2_cache_sizes(options, image, span)
            _qcow2_runtime(options, image, span)
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


def _qcow2_cache_sizes(options: Options, image: ProbeResult, span: Span) -> None:
    """block/qcow2.c read_cache_sizes(), the first of qcow2_update_options_prepare()'s
    checks: cache-size against its parts, then the L2 cache entry size against the
    header's cluster size (cluster_bits, a u32 at 20; the disk size a u64 at 24)."""
    from .._values import ValueProblem, parse_size

    def size(key: str) -> int | None:
        entry = options.get(key)
        try:
            return parse_size(key, entry.value)[0] if entry is not None else None
        except ValueProblem:
            return None  # the typed check reports it

    head = image.head
    if len(head) < 32:
        return
    cluster = 1 << int.from_bytes(head[20:24], "big")
    disk = int.from_bytes(head[24:32], "big")
    # l2_entry_size(): 8 bytes, 16 with extended L2 entries (incompatible bit 4, v3)
    extended = int.from_bytes(head[4:8], "big") >= 3 and len(head) >= 80 and \
        int.from_bytes(head[72:80], "big") & 16
    max_l2 = -(-(-(-disk // cluster) * (16 if extended else 8)) // cluster) * cluster
    combined, l2_set, refcount = (size(k) for k in ("cache-size", "l2-cache-size",
                                                     "refcount-cache-size"))
    l2 = min(max_l2, l2_set if l2_set is not None else 32 << 20)
    if combined is not None:
        if l2_set is not None and refcount is not None:
            _fail("cache-size, l2-cache-size and refcount-cache-size may not be set at "
                  "the same time", span)
        if l2_set is not None and l2_set > combined:
            _fail("l2-cache-size may not exceed cache-size", span)
        if refcount is not None and refcount > combined:
            _fail("refcount-cache-size may not exceed cache-size", span)
        if l2_set is None:
            min_refcount = 4 * cluster  # MIN_REFCOUNT_CACHE_SIZE clusters
            l2 = combined - refcount if refcount is not None else (
                max_l2 if combined >= max_l2 + min_refcount
                else combined - min(combined, min_refcount))
    entry = size("l2-cache-entry-size")
    if entry is None:
        entry = cluster if l2 >= max_l2 else min(cluster, 4096)
    if entry < 512 or entry > cluster or entry & (entry - 1):
        _fail("L2 cache entry size must be a power of two between 512 and the cluster "
              f"size ({cluster})", span)


_OVERLAP_TEMPLATES = ("none", "constant", "cached", "all")


def _qcow2_runtime(options: Options, image: ProbeResult, span: Span) -> None:
    """qcow2_update_options_prepare() after the caches: the cache clean interval (a
    number, so -1 wraps to 2^64-1) within UINT_MAX, lazy refcounts only on a version 3
    image (the header's version, a u32 at 4), then overlap-check against its template
    and the template's name."""
    from .._values import ValueProblem, parse_bool, parse_number

    try:
        interval = options.get("cache-clean-interval")
        if interval is not None and parse_number("cache-clean-interval",
                                                 interval.value) > 0xFFFFFFFF:
            _fail("Cache clean interval too big", span)
        lazy = options.get("lazy-refcounts")
        if lazy is not None and parse_bool("lazy-refcounts", lazy.value) and \
                int.from_bytes(image.head[4:8], "big") < 3:
            _fail("Lazy refcounts require a qcow2 image with at least qemu 1.1 "
                  "compatibility level", span)
    except ValueProblem:
        return  # the typed check reports it
    check, template = (options.get(k) for k in ("overlap-check", "overlap-check.template"))
    if check is not None and template is not None and check.value != template.value:
        _fail(f"Conflicting values for qcow2 options 'overlap-check' ('{check.value}') and "
              f"'overlap-check.template' ('{template.value}')", span)
    chosen = (check or template)
    if chosen is not None and chosen.value not in _OVERLAP_TEMPLATES:
        _fail(f"Unsupported value '{chosen.value}' for qcow2 option 'overlap-check'. "
              "Allowed are any of the following: none, constant, cached, all", span)


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


def _vpc(options: Options, image: ProbeResult | None, span: Span) -> None:
    mode = options.get("force_size_calc")  # block/vpc.c vpc_open(): before the header
    if mode is not None and mode.value not in ("current_size", "chs"):
        raise error("driver-open", f"Invalid size calculation mode: '{mode.value}'",
                    mode.span, Stage.FILE_CHECKS)


_CHECKS: dict[str, Check] = {
    "quorum": _quorum, "vpc": _vpc, "parallels": _parallels, "compress": _compress,
    "copy-before-write": _cbw, "null-co": _null, "null-aio": _null,
    "nfs": _nfs, "ssh": _ssh, "rbd": _rbd,
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
    "blklogwrites": _blklogwrites, "copy-before-write": _cbw_bitmap,
    "blkdebug": _blkdebug_limits, "quorum": quorum_lengths}


def after_children(driver: str, options: Options, image: ProbeResult | None,
                   span: Span, probe: bool = False, read_only: bool = False,
                   warnings: list[Diagnostic] | None = None) -> None:
    """The driver's open-time checks that follow its children's opens (``probe``: they
    may read what the options name on the host, blklogwrites' log; ``read_only``: the
    node's flag; ``warnings`` receives what they warn)."""
    if driver == "copy-before-write" and read_only:
        # block/copy-before-write.c cbw_open(): the target child is attached with the
        # write permission (cbw_child_perm()), which a read-only node cannot grant; after
        # the options' visit and both children's opens, before the bitmap lookup
        _fail("Block node is read-only", span)
    check = _AFTER_CHILDREN.get(driver)
    if check is not None:
        check(options, image, span, probe)
    if driver == "copy-before-write":
        cbw_min_cluster(options, span)
        if warnings is not None:
            warnings.extend(cbw_cluster_warning(options, span))


def cbw_min_cluster(options: Options, span: Span) -> None:
    """10.0's block/block-copy.c block_copy_state_new(): min-cluster-size (new in 9.2)
    must be a power of two (seen live: 0 keeps the default)."""
    from .._values import ValueProblem, parse_size
    from . import drivers

    given = options.get("min-cluster-size")
    if given is None or (drivers.dialect().version or (7, 2)) < (10, 0):
        return
    try:
        size = parse_size("min-cluster-size", given.value)[0]
    except ValueProblem:
        return  # the typed check reports it
    if size and size & (size - 1):
        _fail("Cannot create block-copy-state: min-cluster-size needs to be a power of 2",
              span)


# Target drivers without bdrv_get_info() that are no filter (block.c bdrv_get_info():
# -ENOTSUP), as 7.2's block/*.c declare them, among those a target may be here.
_NO_GET_INFO = frozenset({"null-co", "null-aio", "bochs", "cloop", "dmg", "parallels"})


def cbw_cluster_warning(options: Options, span: Span) -> list[Diagnostic]:
    """block/block-copy.c block_copy_calculate_cluster_size(), as cbw_open() sets up
    its block-copy state: a target whose driver gives no cluster size and that has no
    backing file gets the default size, with a warning (10.0 words it anew and prints
    min-cluster-size when that is larger)."""
    from .._values import ValueProblem, parse_size
    from . import drivers

    target = options.get("target.driver")
    if target is None or target.value not in _NO_GET_INFO or \
            any(k.startswith("target.backing") for k in options):
        return []
    head = "The target block device doesn't provide information about the block size " \
        "and it doesn't have a backing file. "
    if (drivers.dialect().version or (7, 2)) < (10, 0):
        text = head + "The default block size of 65536 bytes is used. If the actual " \
            "block size of the target exceeds this default, the backup may be unusable"
    else:
        given = options.get("min-cluster-size")
        try:
            size = max(parse_size("min-cluster-size", given.value)[0] if given else 0, 65536)
        except ValueProblem:
            return []
        text = head + f"The (default) block size of {size} bytes is used. If the actual " \
            "block size of the target exceeds this value, the backup may be unusable"
    return [Diagnostic("cbw-cluster-size", Severity.WARNING, text, span, Stage.NODE)]


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
    if driver == "gluster":  # its rdma warning
        _gluster(options, image, span, warnings)
        return
    if driver == "rbd":  # librados's line about its monitors
        _rbd(options, image, span, warnings)
        return
    check = _CHECKS.get(driver)
    if check is None:
        return
    try:
        check(options, image, span)
    except Stop as stop:
        if driver in CURL_DRIVERS and warnings is not None \
                and stop.diagnostic.code != "net-connect":
            warnings.extend(glib_notices(stop.diagnostic))
        raise


def null_name(driver: str, options: Mapping[str, Any]) -> str:
    """A null-co/null-aio node's name (block/null.c null_refresh_filename()): its URL
    while no strong option is given (size, read-zeroes: null_strong_runtime_opts),
    else block.c's json:{...} of the driver and those options, in QDict order."""
    import json

    from ._qdict import in_qdict_order

    strong = {k: str(options[k].value) for k in ("size", "read-zeroes") if k in options}
    if not strong:
        return f"{driver}://"
    opts = {"driver": driver, **strong}
    return "json:" + json.dumps({k: opts[k] for k in in_qdict_order(opts)},
                                separators=(", ", ": "))


def raw_limits(offset: int, size: int | None, file_size: int, span: Span) -> None:
    """block/raw-format.c raw_apply_options(): offset/size must fit inside the file."""
    file_size = -(-file_size // 512) * 512  # bdrv_getlength(): whole sectors
    if offset > file_size:
        raise error("raw-offset", f"Offset ({offset}) cannot be greater than size of the "
                    f"containing file ({file_size})", span, Stage.NODE)
    if size is not None and file_size - offset < size:
        raise error("raw-size", f"The sum of offset ({offset}) and size ({size}) has to be "
                    f"smaller or equal to the  actual size of the containing file "
                    f"({file_size})", span, Stage.NODE)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
