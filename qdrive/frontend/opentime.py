"""What the top node's driver decides at open time, beyond the options qdrive always knew.

The hooks convert.py calls from ``_format_options`` (block.c bdrv_open_inherit() of the
drive's node): the node's option kinds from the derived tables (drivers.py), the
checks of its children other than ``file`` (backing.*, data-file.*, image.*, ... through
nodes.py) and the checks a driver makes against the image it opened (block/raw-format.c
raw_read_options(): offset and size against the file's length).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs

from ..diagnostics import Diagnostic, Severity, Span, Stop, error
from ..diagnostics import Stage
from ..options import Kind
from ..probe import qcow2_backing_format
from . import drivers, formats, nodes
from .formats import null_name as null_name
from .formats import raw_limits as raw_limits

if TYPE_CHECKING:
    from ..probe import ProbeResult

__all__ = ["format_child", "format_child_open", "driver_info", "kinds", "typed", "consumed",
           "node_checks", "raw_limits", "protocol_of", "consumed_by", "has_file_child",
           "protocol_checks", "protocol_content", "reference_error", "filename_checks"]


def driver_info(name: str) -> drivers.DriverInfo | None:
    """The derived table row of block driver ``name`` (None: a driver QEMU lacks)."""
    return drivers.driver(name)


def kinds(info: drivers.DriverInfo | None) -> Mapping[str, Kind]:
    """The driver's runtime options and their QemuOpts types (empty without a row)."""
    return info.kinds if info is not None else {}


def typed(info: drivers.DriverInfo | None, key: str) -> bool:
    """Whether the driver parses ``key`` by its type at open (a bad value fails there)."""
    return info is not None and info.typed(key)


def consumed(info: drivers.DriverInfo | None, key: str) -> bool:
    """``key`` is read by the node itself or belongs to one of its children."""
    if info is None:
        return False
    return info.owns(key) or info.child_of(key) not in (None, "file") \
        or key in formats.TAKEN_BY_OPEN.get(info.name, ())


def node_checks(info: drivers.DriverInfo | None, rest: Mapping[str, nodes._Entry],
                image: ProbeResult | None, whole: Span, probe: bool = False,
                filename: nodes._Entry | None = None,
                file_driver: nodes._Entry | None = None, read_only: bool = False,
                warnings: list[Diagnostic] | None = None,
                common: Mapping[str, nodes._Entry] = MappingProxyType({}),
                node_name: nodes._Entry | None = None) -> None:
    """The children's opens, in block.c's order: the driver's own children, then backing.
    ``file_driver`` is the file child's file.driver= (filters look at it: compress);
    ``common`` the node's bdrv_runtime_opts (cache.*, force-share, read-only), which its
    children inherit; ``node_name`` its own, assigned before its driver's open (a
    filter may look itself up: copy-before-write's bitmap.node)."""
    if info is None:
        return
    groups = nodes.split_children(info, {k: e for k, e in rest.items()
                                         if not k.startswith("file.") and k != "file"})
    own = groups.pop("", {})
    groups.pop("file", None)
    backing = groups.pop("backing", {})
    if info.protocol and filename is not None:  # driver=vvfat,file=fat:...
        own = {**_parsed_filename(info.name, filename, whole), **own}
    mine = own
    if info.name in formats.SEES_CHILDREN:  # built for those drivers only, not every node
        # the driver sees its children's keys too (quorum counts children.N)
        mine = {**own, **{k: e for k, e in rest.items() if k not in own}}
    if file_driver is not None and info.name in formats.SEES_CHILDREN:
        mine = {**mine, "file.driver": file_driver}
    formats.driver_checks(info.name, mine, image, whole, probe, read_only, warnings)
    host = probe
    # children read what they name: a format's when its image was read, a filter's
    # (blkreplay's image, copy-before-write's target) whenever the host is looked at
    probe = image is not None or (host and not info.is_format)
    for child in _required_children(info):
        # a child may be named by its parent's option instead (blkverify's x-image)
        if child not in groups and nodes.child_filename(info, child, own) is None:
            raise error("no-child", f'A block device must be specified for "{child}"', whole,
                        Stage.NODE)
    for child in _named_children(info, own):
        groups.setdefault(child, {})
    for child, sub in sorted(groups.items()):
        problem = nodes.open_child(child, sub, _last(sub, whole),
                                   optional=nodes._optional(info, child), probe=probe,
                                   parent=info, filename=nodes.child_filename(info, child, own),
                                   defaults=nodes.inherited(common), warnings=warnings)
        if problem is not None and info.is_format and problem.stage < Stage.NODE:
            # a format's driver opens its other children after its file child's open
            # and its header read (block/qcow2.c qcow2_do_open(): data-file)
            problem = attrs.evolve(problem, stage=Stage.NODE)
        if problem is not None:
            raise Stop(problem)
        # block/qcow2.c qcow2_do_open(): the data-file child is opened, then checked
        # against the header's external-data-file bit.
        if child == "data-file" and info.name == "qcow2" and image is not None \
                and image.format == "qcow2" and not _external_data(image.head):
            raise error("data-file", "'data-file' can only be set for images with an "
                        "external data file", _last(sub, whole), Stage.NODE)
    if node_name is not None and info.name in formats.SEES_CHILDREN:
        mine = {**mine, "node-name": node_name}
    formats.after_children(info.name, mine, image, whole, host, read_only, warnings)
    header = image.backing_file if image is not None and image.format == info.name else None
    _backing_null_warning(backing, info, warnings)
    if backing and not probe and info.supports_backing and "" not in backing \
            and "file.filename" not in backing:
        return  # the header decides (string only: assume it names a backing file)
    header_format = qcow2_backing_format(image.head) if header and image else None
    problem = nodes.open_backing(backing, _last(backing, whole), header,
                                 info.supports_backing, probe, common, header_format,
                                 warnings)
    if problem is not None:
        # after the driver's open (raw's probing warning comes first): the leftover stage
        raise Stop(attrs.evolve(problem, stage=Stage.LEFTOVER))


def _backing_null_warning(backing: Mapping[str, nodes._Entry], info: drivers.DriverInfo,
                          warnings: list[Diagnostic] | None) -> None:
    """block.c bdrv_open_inherit() of the backing node: its own backing="" is taken as
    null with a deprecation warning, once that node is opened (the parent supports
    backing files, the backing node is not a reference, its driver is known); any
    backing.* option opens it, whatever the header says."""
    entry = backing.get("backing")
    if warnings is None or entry is None or entry.value != "" or "" in backing \
            or not info.supports_backing:
        return
    driver = backing.get("driver")
    if driver is not None and driver.value not in drivers.known():
        return  # "Unknown driver" comes first
    warnings.append(Diagnostic("backing-empty", Severity.WARNING, 'Use of "backing": "" is '
                               'deprecated; use "backing": null instead', entry.span,
                               Stage.LEFTOVER))


def protocol_of(filename: str) -> str:
    """block.c bdrv_find_protocol(): the driver a file name's ``prefix:`` picks."""
    prefix, colon, _ = filename.partition(":")
    if colon and prefix and "/" not in prefix:
        return drivers.protocols().get(prefix, "file")
    return "file"


def consumed_by(driver: str, key: str) -> bool:
    """``key`` is read by a protocol node of ``driver`` or by one of its children
    (blkdebug's image.*, vvfat's write-target.*)."""
    info = drivers.driver(driver)
    return info is not None and (info.owns(key) or info.child_of(key) is not None
                                 or key in formats.TAKEN_BY_OPEN.get(driver, ()))


def has_file_child(info: drivers.DriverInfo | None) -> bool:
    """Whether the driver opens a ``file`` child (an unknown driver is assumed to)."""
    return info is None or "file" in info.children


def protocol_checks(driver: str, child: Mapping[str, nodes._Entry], filename: str,
                    whole: Span, probe: bool = False, read_only: bool = False,
                    warnings: list[Diagnostic] | None = None) -> None:
    """A protocol child's typed runtime options (file-posix's are rules.py's), then its
    driver's open-time checks (formats.py). A URL file name stands for the options
    bdrv_parse_filename() would make of it."""
    info = drivers.driver(driver)
    if info is None:
        return
    filename_checks(driver, child, filename, whole)
    if driver not in ("file", "host_device", "host_cdrom"):
        _typed_child(info, child, warnings)
    prefix = {"null-co": "null-co://", "null-aio": "null-aio://"}.get(driver)
    if prefix is not None and filename and filename != prefix:  # block/null.c
        raise error("null-name", f"The only allowed filename for this driver is '{prefix}'",
                    whole, Stage.FILL)
    options = dict(child)
    if filename and driver == "vvfat":
        options = {**_parsed_filename(driver, nodes.synthetic("file", filename, whole),
                                      whole), **options}
    elif filename and driver in formats.CURL_DRIVERS:
        # block/curl.c curl_parse_filename() puts the file name as url=, over file.url=
        options["url"] = nodes.synthetic("url", filename, whole)
    elif filename and driver not in ("file", "host_device", "host_cdrom"):
        options.setdefault("url", nodes.synthetic("url", filename, whole))
    try:
        formats.driver_checks(driver, options, None, whole, probe, read_only, warnings)
    except Stop as stop:
        raise Stop(attrs.evolve(stop.diagnostic, stage=Stage.CHILD)) from None


def filename_checks(driver: str, child: Mapping[str, nodes._Entry], filename: str,
                    whole: Span) -> None:
    """The protocol's bdrv_parse_filename() (block.c bdrv_fill_options()), before the
    node's bdrv_open_common(): what a file name it cannot parse makes QEMU say."""
    if not filename:
        return
    if driver == "nvme":
        formats.nvme_filename(filename, whole)
    elif driver in ("iscsi", "iser"):
        formats.iscsi_filename(filename, whole)
    elif driver == "nbd":
        formats.nbd_filename(filename, child, whole)
    elif driver == "nfs":
        formats.nfs_filename(filename, child, whole)
    elif driver == "ssh":
        formats.ssh_filename(filename, child, whole)
    elif driver == "rbd":
        formats.rbd_filename(filename, whole)


def _typed_child(info: drivers.DriverInfo, child: Mapping[str, nodes._Entry],
                 warnings: list[Diagnostic] | None) -> None:
    """block.c bdrv_open_common() reads the common options (cache.*, read-only, ...)
    before the driver's own open absorbs its runtime options; a curl driver's failure
    there comes with its GLib lines (formats.glib_notices)."""
    common = {k: e for k, e in child.items() if k in nodes._COMMON_BOOLS}
    problem = nodes.typed_options(info, common, warnings) or nodes.typed_options(
        info, {k: e for k, e in child.items() if k not in common}, warnings)
    if problem is None:
        return
    problem = attrs.evolve(problem, stage=Stage.CHILD)
    if info.name in formats.CURL_DRIVERS and warnings is not None \
            and problem.code == "bad-value" and not any(
                e.span == problem.span for e in common.values()):
        warnings.extend(formats.glib_notices(problem))
    raise Stop(problem)


def reference_error(entry: nodes._Entry) -> Diagnostic:
    """A child given as the name of another node: a lone -drive defines none."""
    return nodes.reference(entry)


def protocol_content(driver: str, filename: str, probe: bool, whole: Span,
                     read_only: bool = False, warnings: list[Diagnostic] | None = None,
                     size: nodes._Entry | None = None,
                     name: str = "") -> tuple[ProbeResult | None, str]:
    """What format probing (or the named format's header read) gets from a protocol
    child that is not a local file, and the name QEMU's messages give it: null-co and
    null-aio read zeros, ``size`` of them (1 GiB by default), and are named by their URL
    (block/null.c null_refresh_filename()); blkdebug:CONFIG:IMAGE reads IMAGE
    (block/blkdebug.c blkdebug_parse_filename()), after its config file (read_config():
    it must exist)."""
    from ..probe import ProbeResult, probe_file
    from .._values import ValueProblem, parse_size

    if driver in ("null-co", "null-aio"):
        length = 1 << 30
        if size is not None:
            try:
                length = parse_size("size", size.value)[0]
            except ValueProblem:
                return None, ""  # null_file_open() refuses it first
        zeros = bytes(min(length, 1024))  # its head and its tail (dmg's trailer)
        return ProbeResult(True, "", "raw", True, False, None, zeros[:512], length,
                           zeros), filename or name or f"{driver}://"
    if driver == "vvfat" and filename.startswith("fat:") and probe:
        return _vvfat_disk(filename, read_only)
    if driver == "blkverify" and filename.startswith("blkverify:") and probe:
        return _blkverify_test(filename, whole, read_only, warnings)
    if driver == "blkdebug" and filename.startswith("blkdebug:") and probe:
        config, colon, image = filename[len("blkdebug:"):].partition(":")
        if not colon:
            raise error("blkdebug-name", "blkdebug requires both config file and image "
                        "path", whole, Stage.FILL)
        if config and not os.path.exists(config):
            raise error("blkdebug-config", formats.blkdebug_config_error(
                config, "No such file or directory"), whole, Stage.CHILD)
        if image.startswith("json:"):
            # block.c bdrv_refresh_filename(): the image node's options that are not
            # strong (cache.*, locking) drop out of its name, which becomes the file's
            image = _json_local_file(image)
            filename = f"blkdebug:{config}:{image}" if image else filename
        if image and ":" not in image.split("/")[0]:
            from . import hostprobe

            found = probe_file(image)
            if found.error:
                raise error("open-failed", f"Could not open '{image}': {found.error}", whole,
                            Stage.CHILD)
            # its image child is a file node: raw_open_common() judges the file's type
            problem = hostprobe.file_type_problem(image, "file")
            if problem:
                raise error("host-open", problem, whole, Stage.CHILD)
            return found, filename
    return None, ""


def _json_local_file(name: str) -> str:
    """The local file a json: image name opens (block.c parse_json_protocol(): a
    ``filename`` for the file driver, nothing nested), else ""."""
    from . import jsonname

    try:
        parsed = jsonname.parse(name)
    except jsonname.JsonNameError:
        return ""
    if parsed.get("driver", "file") != "file" or any(k == "file" or k.startswith("file.")
                                                     for k in parsed):
        return ""
    return parsed.get("filename") or ""


def _blkverify_test(filename: str, whole: Span, read_only: bool,
                    warnings: list[Diagnostic] | None) -> tuple[ProbeResult | None, str]:
    """block/blkverify.c: ``blkverify:RAW:TEST`` opens RAW as a protocol and probes the
    format of TEST (its raw-probing warning comes first); what the drive's own probe
    then reads is TEST's guest data, so it guesses raw and names the whole file name."""
    from ..probe import ProbeResult, probe_file
    from . import hostprobe

    raw, colon, test = filename[len("blkverify:"):].partition(":")
    if not colon or not test or ":" in test.split("/")[0]:
        return None, ""
    found = probe_file(test)
    if found.error:
        raise error("open-failed", f"Could not open '{test}': {found.error}", whole,
                    Stage.CHILD)
    problem = hostprobe.file_type_problem(test, "host_device" if found.device else "file")
    if problem:
        raise error("host-open", problem, whole, Stage.CHILD)
    if found.format == "raw" and not read_only and warnings is not None:
        warnings.append(formats.probed_raw_warning(test, whole))
    if found.format == "raw":
        _blkverify_compare(raw, test, whole)
    return ProbeResult(True, "", "raw", True, False, None, bytes(512), found.size), filename


_BLKVERIFY_READ = 512  # the probe's first read through blkverify, as 7.2 reports it


def _blkverify_compare(raw: str, test: str, whole: Span) -> None:
    """block/blkverify.c blkverify_co_prwv(): the drive's format probe reads the first
    sector through blkverify, which compares RAW's bytes with TEST's and, when they
    differ, prints where with a bare fprintf and exits (blkverify_err()). Only a raw TEST
    is compared here: its guest data is its bytes (past the end: zeros)."""
    def first(name: str) -> bytes | None:
        try:
            with open(name, "rb") as f:
                return f.read(_BLKVERIFY_READ).ljust(_BLKVERIFY_READ, b"\0")
        except OSError:
            return None

    a, b = first(raw), first(test)
    if a is None or b is None or a == b:
        return
    at = next(n for n in range(_BLKVERIFY_READ) if a[n] != b[n])
    raise Stop(Diagnostic("blkverify-mismatch", Severity.ERROR,
                          f"blkverify: read offset=0 bytes={_BLKVERIFY_READ} contents "
                          f"mismatch at offset {at}", whole, Stage.CHILD, located=False,
                          bare=True))


def _vvfat_disk(filename: str, read_only: bool) -> tuple[ProbeResult | None, str]:
    """block/vvfat.c: the disk it makes of a directory carries no format magic (its first
    sector is a partition table or a FAT boot sector), so probing guesses raw. The node
    has no file name of its own: bdrv_refresh_filename() writes its options as a json:
    name, typed (vvfat_parse_filename() puts fat-type as a number, floppy and rw as
    booleans), in QDict order."""
    import json

    from ..probe import ProbeResult
    from ._qdict import in_qdict_order

    parsed = formats.vvfat_options(filename)
    if not os.path.isdir(parsed["dir"]):
        return None, ""  # init_directories() fails first
    typed: dict[str, object] = {"dir": parsed["dir"], "fat-type": int(parsed["fat-type"]),
                                "floppy": parsed["floppy"] == "on",
                                "rw": parsed["rw"] == "on", "driver": "vvfat"}
    if parsed["rw"] == "on" and not read_only:
        # vvfat_open() -> enable_write_target(): a qcow overlay on a temporary file
        # (block.c get_tmp_filename(): $TMPDIR or /var/tmp, mkstemp()'s random six
        # characters, which no one can predict: X here) becomes a child in the name
        tmp = os.environ.get("TMPDIR") or "/var/tmp"
        typed["write-target"] = {"driver": "qcow", "file": {
            "driver": "file", "filename": f"{tmp}/vl.XXXXXX"}}

    def ordered(value: object) -> object:
        if isinstance(value, dict):
            return {k: ordered(value[k]) for k in in_qdict_order(value)}
        return value

    name = "json:" + json.dumps(ordered(typed))
    return ProbeResult(True, "", "raw", True, False, None, bytes(512), None), name


def format_child(driver: str) -> bool:
    """``file.driver=`` names a format or filter: the file child is itself a graph."""
    info = drivers.driver(driver)
    return info is not None and not info.protocol and driver in drivers.known()


def format_child_open(child: Mapping[str, nodes._Entry], filename: str, probe: bool,
                      whole: Span) -> tuple[Diagnostic | None, ProbeResult | None, str]:
    """Open a drive's file child that is itself a format node (file.driver=qcow2 ...),
    as block.c bdrv_open_child() would: (the error, if any; the header the top format
    reads through it; the file name QEMU reports for it)."""
    return nodes.open_format_child(dict(child), filename or None, whole, probe)


def _parsed_filename(driver: str, filename: nodes._Entry,
                     whole: Span) -> dict[str, nodes._Entry]:
    """The options bdrv_parse_filename() makes of a protocol file name."""
    if driver == "vvfat" and filename.value.startswith("fat:"):
        return {k: nodes.synthetic(k, v, filename.span)
                for k, v in formats.vvfat_options(filename.value).items()}
    return {"url": nodes.synthetic("url", filename.value, filename.span)}


def _named_children(info: drivers.DriverInfo, own: Mapping[str, nodes._Entry]) -> list[str]:
    """Children an option of the parent names (blkverify x-image=...)."""
    return [name for name in drivers.child_rows(info.name)
            if name != "file" and nodes.child_filename(info, name, own)]


def _required_children(info: drivers.DriverInfo) -> list[str]:
    # vvfat opens write-target only for rw=on (block/vvfat.c enable_write_target()).
    return [name for name, row in drivers.child_rows(info.name).items()
            if name not in ("file", "backing", "write-target") and not name.endswith(".N")
            and not row.get("optional", True)]


def _last(options: Mapping[str, nodes._Entry], whole: Span) -> Span:
    if not options:
        return whole
    return max(options.values(), key=lambda e: e.seq).span


def _external_data(head: bytes) -> bool:
    # qcow2 v3 header: incompatible_features (u64 at 72), bit 2 = external data file.
    if len(head) < 80 or int.from_bytes(head[4:8], "big") < 3:
        return False
    return bool(int.from_bytes(head[72:80], "big") & 4)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
