"""-blockdev: both syntaxes, the QAPI schema, and the node graph qmp_blockdev_add builds.

Mirrors softmmu/vl.c (an argument starting with ``{`` is JSON, else util/keyval.c with
the implied key ``driver``; visit_type_BlockdevOptions() runs while the command line is
read), blockdev.c qmp_blockdev_add() (a root node needs a node-name) and block.c
bdrv_open_inherit()/bdrv_open_common(): the file child is opened before its parent,
then force-share, the file name, node-name checks (bdrv_assign_node_name), the
protocol's open (block/file-posix.c raw_open_common), and the backing child last.
Children given by name are looked up among the nodes already made
("Cannot find device=... nor node-name=...").
"""

from __future__ import annotations

import functools
import os
from typing import Any

import attrs

from ._data import read_json
from ..probe import probe_file
from .._values import id_wellformed
from . import drivers
from .formats import READ_ONLY_FORMATS, auto_read_only_problem
from .jsonarg import JsonArgError, parse_json_object
from .keyval import KeyvalError, parse_keyval
from .qapi_visit import VisitError, visit

__all__ = ["BlockdevError", "Node", "Graph", "parse_blockdev", "add_blockdev"]

_PROTOCOLS = frozenset({"file", "host_device", "host_cdrom"})


class BlockdevError(ValueError):
    """A -blockdev QEMU refuses, with QEMU's message."""


@attrs.define
class Node:
    """One block node: what devices, locks and facts need to know of it."""

    name: str
    driver: str
    read_only: bool
    filename: str | None = None  # protocol nodes: the file they open
    children: dict[str, Node] = attrs.Factory(dict)
    force_share: bool = False
    locking: str = "auto"
    options: dict[str, Any] = attrs.Factory(dict)
    users: int = 0  # BlockBackends (devices, -drive) on it
    generated: bool = False  # a name QEMU made up (#blockNNN)
    implicit_backing: bool = False  # opened for a qcow2 header's backing file
    # block.c bs->auto_backing_file: the backing file the image header names ("" none);
    # None when qdrive did not read the header (bdrv_refresh_filename() compares it)
    auto_backing_file: str | None = None

    def protocol(self) -> Node | None:
        """The protocol node under this one, following file children."""
        node: Node | None = self
        while node is not None and node.driver not in _PROTOCOLS:
            node = node.children.get("file")
        return node


@attrs.define
class Graph:
    """Every named node, the drive ids (BlockBackend names) and the throttle groups."""

    nodes: dict[str, Node] = attrs.Factory(dict)
    backend_names: set[str] = attrs.Factory(set)
    throttle_groups: set[str] = attrs.Factory(set)
    secrets: set[str] = attrs.Factory(set)
    pr_managers: set[str] = attrs.Factory(set)  # -object pr-manager-helper ids
    all_nodes: list[Node] = attrs.Factory(list)
    counter: int = 0
    touch_files: bool = True  # False: judge without opening any file


def parse_blockdev(text: str) -> dict[str, Any]:
    """The -blockdev argument read and visited as BlockdevOptions (typed), or BlockdevError."""
    try:
        if text.startswith("{"):
            raw: dict[str, Any] = parse_json_object(text)
            keyval = False
        else:
            raw, keyval = parse_keyval(text, "driver"), True
        typed = visit("BlockdevOptions", raw, keyval, drivers.current().removeprefix("qemu-"),
                      drivers.dialect().removed_drivers)
    except (KeyvalError, JsonArgError, VisitError) as exc:
        raise BlockdevError(str(exc)) from None
    assert isinstance(typed, dict)
    return typed


def _drivers() -> dict[str, Any]:
    """The driver table of the dialect being walked (drivers.current(): its grammar/
    folder), so a -blockdev node is opened with its release's drivers."""
    return _drivers_of(drivers.current())


@functools.cache
def _drivers_of(folder: str) -> dict[str, Any]:
    table: dict[str, Any] = read_json(folder, "block-drivers.json")["drivers"]
    return table


def add_blockdev(graph: Graph, options: dict[str, Any]) -> Node:
    """qmp_blockdev_add(): the root node and its inline children, or BlockdevError."""
    # blockdev.c qmp_blockdev_add(): qdict_get_try_str() only asks that the name is
    # there; an empty one reaches bdrv_assign_node_name() ("Invalid node-name: ''").
    if options.get("node-name") is None:
        raise BlockdevError("'node-name' must be specified for the root node")
    return _open(graph, options, inherited_ro=None)


def _open(graph: Graph, options: dict[str, Any], inherited_ro: bool | None) -> Node:
    driver = options["driver"]
    info = _drivers().get(driver, {})
    read_only = bool(options.get("read-only", inherited_ro or False))
    children: dict[str, Node] = {}
    child_specs = [c for c in info.get("children", []) if c["name"] != "backing"]
    for spec in child_specs:  # bdrv_open_inherit(): the file child comes first
        if spec["name"] in options and spec["name"] in ("file", "data-file"):
            children[spec["name"]] = _child(graph, options[spec["name"]], read_only,
                                            options.get("cache"),
                                            options.get("force-share"))
    for spec in child_specs:
        # the other children given by node name (blkdebug's image, blkverify's raw and
        # test, copy-before-write's target ...): bdrv_open_child() -> block.c
        # bdrv_lookup_bs() finds the node or fails; the node is not modelled further
        ref = options.get(spec["name"])
        if isinstance(ref, str) and spec["name"] not in children and ref not in graph.nodes:
            raise BlockdevError(f"Cannot find device='{ref}' nor node-name='{ref}'")
    # block.c bdrv_open_common() refuses force-share on a writable node before the
    # driver's open attaches the file child
    force_share = bool(options.get("force-share", False))
    if force_share and not read_only:
        raise BlockdevError("force-share=on can only be used with read-only images")
    file_child = children.get("file")
    if driver in _METADATA_FORMATS and not read_only and file_child is not None and \
            file_child.read_only:
        # block.c bdrv_default_perms_for_storage(): a writable format node wants to write
        # its metadata child as soon as it is opened
        raise BlockdevError("Block node is read-only")
    filename = options.get("filename")
    if info.get("bdrv_needs_filename") and not filename:
        raise BlockdevError(f"The '{driver}' block driver requires a file name")
    if options.get("detect-zeroes") == "unmap" and options.get("discard") != "unmap":
        raise BlockdevError("setting detect-zeroes to unmap is not allowed without setting "
                            "discard operation to unmap")
    name = options.get("node-name")
    given = name is not None
    node = Node(name or _generated(graph), driver, read_only, filename,
                children, force_share, str(options.get("locking", "auto")), options,
                generated=not given)
    if given:
        _assign_name(graph, str(name))
    _driver_open(graph, node, options)
    if given:
        graph.nodes[str(name)] = node
    graph.all_nodes.append(node)
    _implicit_children(graph, node, options)
    if "backing" in options and options["backing"] is not None:
        try:
            children["backing"] = _child(graph, options["backing"], True)
        except BlockdevError as exc:
            raise BlockdevError(f"Could not open backing file: {exc}") from None
    return node


# format drivers whose file child holds metadata (BDRV_CHILD_METADATA); raw's is data
_METADATA_FORMATS = frozenset({"qcow2", "qcow", "vdi", "vmdk", "vhdx", "vpc", "qed",
                               "parallels", "luks"})


def _implicit_children(graph: Graph, node: Node, options: dict[str, Any]) -> None:
    """The nodes a qcow2 image opens by itself (block/qcow2.c qcow2_do_open: the external
    data file of its header; block.c bdrv_open_backing_file: the backing file of its
    header when no backing option is given), with the parent's cache options."""
    if not _drivers().get(node.driver, {}).get("supports_backing"):
        node.auto_backing_file = ""  # no header field to name one
    if node.driver != "qcow2" or not graph.touch_files:
        return
    proto = node.children.get("file")
    proto = proto.protocol() if proto is not None else None
    if proto is None or proto.filename is None:
        return
    found = probe_file(proto.filename)
    node.auto_backing_file = found.backing_file or ""
    cache = options.get("cache")
    inherit: dict[str, Any] = {"cache": dict(cache)} if cache else {}
    data_file = _qcow2_data_file(found.head)
    if data_file and "data-file" not in options:
        path = os.path.join(os.path.dirname(proto.filename), data_file)
        child = Node(_generated(graph), "file", node.read_only, path,
                     options={**inherit}, generated=True)
        graph.all_nodes.append(child)
        node.children["data-file"] = child
    if found.backing_file and "backing" not in options:
        path = os.path.join(os.path.dirname(proto.filename), found.backing_file)
        fmt = probe_file(path).format or "raw"
        leaf = Node(_generated(graph), "file", True, path, options={**inherit},
                    generated=True, implicit_backing=True)
        graph.all_nodes.append(leaf)
        top = Node(_generated(graph), fmt, True, None, {"file": leaf},
                   options={**inherit}, generated=True, implicit_backing=True)
        graph.all_nodes.append(top)
        node.children["backing"] = top


def _qcow2_data_file(head: bytes) -> str:
    """The external data file named in a qcow2 v3 header extension (magic 0x44415441)."""
    if len(head) < 104 or head[:4] != b"QFI\xfb" or int.from_bytes(head[4:8], "big") < 3:
        return ""
    pos = int.from_bytes(head[100:104], "big")  # header_length
    while pos + 8 <= len(head):
        magic = int.from_bytes(head[pos:pos + 4], "big")
        length = int.from_bytes(head[pos + 4:pos + 8], "big")
        if magic == 0:
            return ""
        if magic == 0x44415441:
            return head[pos + 8:pos + 8 + length].decode("utf-8", "replace")
        pos += 8 + (length + 7) // 8 * 8
    return ""


def _generated(graph: Graph) -> str:
    graph.counter += 1
    return f"#block{graph.counter:03d}"


def _child(graph: Graph, ref: Any, parent_ro: bool,
           parent_cache: dict[str, Any] | None = None,
           parent_share: Any = None) -> Node:
    if isinstance(ref, str):
        node = graph.nodes.get(ref)
        if node is None:
            raise BlockdevError(f"Cannot find device='{ref}' nor node-name='{ref}'")
        return node
    if parent_cache:  # block.c bdrv_inherited_options(): an inline child takes the cache mode
        ref = {**ref, "cache": {**parent_cache, **(ref.get("cache") or {})}}
    if parent_share is not None and "force-share" not in ref:
        # block.c bdrv_inherited_options(): force-share is copied to an inline child,
        # whose own bdrv_open_common() then refuses it before opening its file
        ref = {**ref, "force-share": parent_share}
    return _open(graph, ref, inherited_ro=parent_ro)


def _assign_name(graph: Graph, name: str) -> None:
    # block.c bdrv_assign_node_name(): well-formed, not a drive's id, unique, < 32 bytes.
    if not id_wellformed(name):
        raise BlockdevError(f"Invalid node-name: '{name}'")
    if name in graph.backend_names:
        raise BlockdevError(f"node-name={name} is conflicting with a device id")
    if name in graph.nodes:
        raise BlockdevError(f"Duplicate nodes with node-name='{name}'")
    if len(name.encode("utf-8", "surrogateescape")) >= 32:
        raise BlockdevError("Node name too long")


def _driver_open(graph: Graph, node: Node, options: dict[str, Any]) -> None:
    driver = node.driver
    if driver in _PROTOCOLS and not graph.touch_files:
        return
    if driver in _PROTOCOLS:
        manager = options.get("pr-manager")
        if manager is not None and manager not in graph.pr_managers:
            # block/file-posix.c raw_open_common(): scsi/pr-manager.c pr_manager_lookup()
            # before the file is opened
            raise BlockdevError(f"No persistent reservation manager with id '{manager}'")
        _open_file(node, options)
    elif driver == "throttle":
        group = options.get("throttle-group", "")
        if group not in graph.throttle_groups:
            raise BlockdevError(f"Throttle group '{group}' does not exist")
    elif driver in _FORMAT_MESSAGES or driver == "luks":
        _open_format(graph, node, options)
    elif driver in _NETWORK:
        _network_open(graph, node, options)
    elif driver == "quorum":
        _quorum(graph, node, options)
    if driver in READ_ONLY_FORMATS or (driver == "vvfat" and not options.get("rw", False)):
        _read_only_driver(node, options)


def _read_only_driver(node: Node, options: dict[str, Any]) -> None:
    """A driver that cannot write (block/vvfat.c vvfat_open() without rw, bochs, cloop,
    dmg) calls block.c bdrv_apply_auto_read_only(): the node drops to read-only under
    auto-read-only=on, else its open fails. -blockdev has no copy-on-read option."""
    why = auto_read_only_problem(node.read_only, False,
                                 bool(options.get("auto-read-only", False)))
    if why:
        raise BlockdevError(why)
    node.read_only = True


def _quorum(graph: Graph, node: Node, options: dict[str, Any]) -> None:
    """block/quorum.c quorum_open() on typed options (BlockdevOptionsQuorum): the
    children count, the vote threshold, blkverify's constraints (the read pattern is an
    enum the QAPI visit checked), then each child opened in turn by bdrv_open_child():
    a reference must name a node already made."""
    children = options.get("children") or []
    if len(children) < 1:
        raise BlockdevError("Number of provided children must be 1 or more")
    threshold = int(options.get("vote-threshold", 0))
    if threshold < 1:
        raise BlockdevError("Parameter 'vote-threshold' expects a value >= 1")
    if threshold > len(children):
        raise BlockdevError("threshold may not exceed children count")
    if options.get("read-pattern", "quorum") == "quorum" and options.get("blkverify"):
        if len(children) != 2 or threshold != 2:
            raise BlockdevError("blkverify=on can only be set if there are exactly two "
                                "files and vote-threshold is 2")
        if options.get("rewrite-corrupted"):
            raise BlockdevError("rewrite-corrupted=on cannot be used with blkverify=on")
    for n, ref in enumerate(children):
        node.children[f"children.{n}"] = _child(graph, ref, node.read_only)


_NETWORK = frozenset({"nbd", "ssh", "http", "https", "ftp", "ftps", "iscsi", "gluster",
                      "nfs"})


def _network_open(graph: Graph, node: Node, options: dict[str, Any]) -> None:
    """A network driver's open: curl's write refusal (-blockdev has no auto-read-only
    default), then the connect the -drive path makes (_fmt_protocols; only inside an
    enabled netprobe session, check_argv(probe_network=True)), then, with files looked
    at, a missing nbd socket."""
    from . import _fmt_protocols as p
    from ..diagnostics import Span, Stop

    driver = node.driver
    if driver in p.CURL_DRIVERS and not node.read_only and not options.get("auto-read-only"):
        raise BlockdevError("curl driver does not support writes")
    server = options.get("server")
    where = Span(0, 0)
    try:
        if driver in ("nbd", "ssh", "nfs") and isinstance(server, dict):
            if server.get("type", "inet") == "unix" and driver == "nbd":
                p._unix_connect({k: _text(v) for k, v in server.items()}, "NBD", where,
                                graph.touch_files)
            elif driver == "nfs" and "host" in server:
                p._nfs_connect(str(server["host"]), where)
            elif "host" in server:
                default = "22" if driver == "ssh" else "10809"
                p._inet_connect(str(server["host"]), str(server.get("port", default)),
                                driver.upper(), where)
        elif driver in p.CURL_DRIVERS and isinstance(options.get("url"), str):
            p._curl_connect(driver, options["url"], where)
        elif driver == "iscsi" and isinstance(options.get("portal"), str):
            p._iscsi_connect(options["portal"], str(options.get("transport", "tcp")), where)
        elif driver == "gluster" and isinstance(options.get("server"), list):
            servers = [("unix", str(s.get("path", ""))) if s.get("type") == "unix"
                       else (str(s.get("host", "")), str(s.get("port", "")))
                       for s in options["server"] if isinstance(s, dict)]
            p._gluster_connect(str(options.get("volume", "")), str(options.get("path", "")),
                               servers, where)
    except Stop as stop:
        raise BlockdevError(stop.diagnostic.qemu_text) from None


def _text(value: Any) -> str:
    """A JSON scalar as the flat option string QEMU's visitor would read (on/off)."""
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


# What a format driver says when its file is not of its format (block/qcow2.c, ...).
_FORMAT_MESSAGES = {"qcow2": "Image is not in qcow2 format",
                    "vmdk": "invalid VMDK image descriptor",
                    "qcow": "Image not in qcow format", "vpc": "invalid VPC image",
                    "qed": "Image not in QED format",
                    "parallels": "Image not in Parallels format",
                    "bochs": "Image not in Bochs format"}


def _open_file(node: Node, options: dict[str, Any]) -> None:
    # block/file-posix.c raw_open_common(): open, then the file type, then aio=native.
    name = str(options.get("filename", ""))
    found = probe_file(name)
    why = _host_open_problem(node, options, name, found.error)
    if why:
        raise BlockdevError(f"Could not open '{name}': {why}")
    if os.path.isdir(name) and not node.read_only:
        # raw_open_common() opens O_RDWR unless read-only: open(2) refuses a directory
        raise BlockdevError(f"Could not open '{name}': Is a directory")
    if node.driver == "file" and os.path.isdir(name):
        raise BlockdevError(f"'file' driver requires '{name}' to be a regular file")
    if node.driver in ("host_device", "host_cdrom") and not found.device:
        raise BlockdevError(f"'{node.driver}' driver requires '{name}' to be either a "
                            "character or block device")
    if node.driver == "file" and found.device:
        raise BlockdevError(f"'file' driver requires '{name}' to be a regular file")
    cache = options.get("cache") or {}
    if options.get("aio") == "native" and not cache.get("direct", False):
        raise BlockdevError("aio=native was specified, but it requires cache.direct=on, "
                            "which was not specified.")
    _io_uring_ring(options)


def _host_open_problem(node: Node, options: dict[str, Any], name: str, own_error: str) -> str:
    """raw_open_common()'s qemu_open(): O_RDWR unless read-only= or auto-read-only=
    (-blockdev, unlike -drive, defaults auto-read-only off: blockdev.c), O_DIRECT with
    cache.direct=on; hostprobe judges it as it does for -drive. "" when it opens."""
    from . import hostprobe

    cache = options.get("cache") or {}
    write = not node.read_only and not options.get("auto-read-only", False)
    why = hostprobe.open_problem(name, None, direct=bool(cache.get("direct", False)),
                                 write=write, own_error=own_error)
    if why == "":  # a FIFO: whatever our own probe met is what was said before
        return own_error
    return why or ""


def _io_uring_ring(options: dict[str, Any]) -> None:
    """raw_open_common(): aio=io_uring sets the ring up at the open (7.2, 11.1; 10.0
    waits for the first request and falls back), hostprobe tells if the host allows it."""
    from . import hostprobe

    refused = drivers.dialect().io_uring_refused
    if options.get("aio") != "io_uring" or not refused or hostprobe.io_uring_usable(None):
        return
    errno_text = drivers.dialect().io_uring_blockdev_errno
    raise BlockdevError(f"{refused}: {errno_text}" if errno_text else refused)


def _open_format(graph: Graph, node: Node, options: dict[str, Any]) -> None:
    if not graph.touch_files:
        return
    proto = node.children.get("file")
    proto = proto.protocol() if proto is not None else None
    if proto is None or proto.filename is None:
        return
    found = probe_file(proto.filename)
    if found.error:
        return
    if node.driver == "luks":
        if found.format != "luks":
            raise BlockdevError("Volume is not in LUKS format")
        secret = options.get("key-secret")
        if secret is None:
            raise BlockdevError("Parameter 'key-secret' is required for cipher")
        if secret not in graph.secrets:
            raise BlockdevError(f"No secret with id '{secret}'")
        return
    if found.format != node.driver:
        raise BlockdevError(_FORMAT_MESSAGES[node.driver])


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
