"""query-block and query-named-block-nodes for a whole command line.

Mirrors block/qapi.c qmp_query_block() (every BlockBackend with a name or a device, in
the order they were made: the -drive ones, the flash the -machine properties made,
then one per -device given a node name) and qmp_query_named_block_nodes() (every
node, newest first). The facts of a -drive come from :mod:`qdrive.frontend.facts`; a device
changes them where it applies its own options (hw/block/block.c blkconf_apply_backend_
options: write-cache=on/off) and names the QOM type its backend is attached to.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..dialect import get as get_dialect

if TYPE_CHECKING:
    from .blockdev_args import Node
    from .cmdline import ArgvResult

__all__ = ["query_block", "query_named_block_nodes", "BACKEND_TYPES"]

# The QOM type whose BlockBackend a -device model attaches (virtio-blk-pci's backend is
# its virtio-blk-device child; usb-storage hands its drive to a scsi-hd it creates; nvme's
# drive= is the controller's own legacy namespace, hw/nvme/ctrl.c nvme_props).
BACKEND_TYPES = {"virtio-blk-pci": "virtio-blk-device", "usb-storage": "scsi-hd"}
_REMOVABLE = frozenset({"ide-cd", "scsi-cd", "floppy"})


def _on(value: str | None) -> bool | None:
    if value in ("on", "yes", "true", "y"):
        return True
    if value in ("off", "no", "false", "n"):
        return False
    return None


def _device_facts(model: str, props: dict[str, str]) -> tuple[str, bool]:
    qom = BACKEND_TYPES.get(model, model)
    removable = qom in _REMOVABLE or (model in ("scsi-hd", "usb-storage") and
                                      _on(props.get("removable")) is True)
    return qom, removable


def query_block(result: ArgvResult) -> list[dict[str, Any]] | None:
    """The facts QEMU's query-block gives, or None if QEMU would not start."""
    from .facts import query_block as drive_facts

    if not result.ok:
        return None
    drives = drive_facts(result.drives) or []
    by_id = {f["device"]: f for f in drives}
    out: list[dict[str, Any]] = []
    for facts in drives:
        name = facts["device"]
        dev = result.state.drive_devices.get(name)
        facts = dict(facts)
        swapped = _swapped_node(result, name, by_id)
        if swapped is not None:  # the node a virtio-blk-pci swapped in (DriveGlobals)
            own = facts.get("cache") or {}
            facts.update({k: swapped[k] for k in ("ro", "drv", "cache", "detect_zeroes")
                          if k in swapped})
            if "writeback" in own:  # the write cache is the backend's own
                facts["cache"] = {**facts.get("cache", {}), "writeback": own["writeback"]}
        if dev is not None:
            model, props = dev
            qom, removable = _device_facts(model, props)
            facts["type"], facts["removable"] = qom, removable
            facts = {k: facts[k] for k in ("device", "removable", "type", *[
                k for k in facts if k not in ("device", "removable", "type")])}
            wce = _on(props.get("write-cache"))
            if wce is not None and "cache" in facts:
                facts["cache"] = {**facts["cache"], "writeback": wce}
        out.append(facts)
    for node in result.state.flash_nodes:
        out.append(_node_backend(node, "cfi.pflash01", False, True))
    for model, props, node in result.state.node_devices:
        qom, removable = _device_facts(model, props)
        if node is None:  # an empty removable device: no medium, no node
            out.append({"device": "", "removable": removable, "type": qom})
            continue
        wce = _on(props.get("write-cache"))
        if isinstance(node, str):  # a -drive's node: the node's facts, not its backend's
            if node in by_id:
                out.append(_on_drive_node(by_id[node], qom, removable,
                                          True if wce is None else wce))
            continue
        out.append(_node_backend(node, qom, removable, True if wce is None else wce))
    return out


def _swapped_node(result: ArgvResult, drive: str, by_id: dict[str, dict[str, Any]]
                  ) -> dict[str, Any] | None:
    node = result.state.swapped_nodes.get(drive)
    owner = next((r.placement.device_id for r in result.drives.drives
                  if node and r.ok and r.drive is not None and r.drive.node_name == node
                  and r.placement is not None), None)
    return by_id.get(owner) if owner else None


def _on_drive_node(drive: dict[str, Any], qom: str, removable: bool, writeback: bool
                   ) -> dict[str, Any]:
    """A device's own BlockBackend on a -drive's node (hw/core/qdev-properties-system.c
    set_drive_helper() blk_new()): the node's driver, read-only and cache flags, with the
    device's write cache and none of the drive's BlockBackend throttling."""
    cache = drive.get("cache") or {}
    return {"device": "", "removable": removable, "type": qom, "ro": drive.get("ro"),
            "drv": drive.get("drv"),
            "cache": {"no-flush": bool(cache.get("no-flush", False)),
                      "direct": bool(cache.get("direct", False)), "writeback": writeback},
            "detect_zeroes": drive.get("detect_zeroes", "off"), "throttle": {}}


def _node_backend(node: Node, qom: str, removable: bool, writeback: bool) -> dict[str, Any]:
    cache = node.options.get("cache") or {}
    return {"device": "", "removable": removable, "type": qom, "ro": node.read_only,
            "drv": node.driver,
            "cache": {"no-flush": bool(cache.get("no-flush", False)),
                      "direct": bool(cache.get("direct", False)), "writeback": writeback},
            "detect_zeroes": str(node.options.get("detect-zeroes", "off")), "throttle": {}}


def _driver_info(driver: str) -> dict[str, Any]:
    """The walked dialect's table entry of a block driver (grammar/*/block-drivers.json)."""
    from .blockdev_args import _drivers

    info: dict[str, Any] = _drivers().get(driver, {})
    return info


def _strong(driver: str) -> list[str]:
    opts: list[str] = _driver_info(driver).get("strong_runtime_opts") or []
    return opts


# Drivers whose own .bdrv_refresh_filename QEMU 7.2 calls (grep block/*.c): null's is
# modelled below; the others (blkdebug:, blkverify:, nbd://, ...) build names qdrive does
# not, so their nodes are beyond this model.
_OWN_REFRESH = frozenset({"blkdebug", "blkverify", "copy-before-write", "snapshot-access",
                          "ftp", "ftps", "http", "https", "nbd", "nfs", "ssh", "nvme"})
_NULL_IGNORED = frozenset({"filename", "driver", "latency-ns"})  # block/null.c
# Drivers with .bdrv_gather_child_options: quorum's is modelled (its children as one
# list); vmdk's (block/vmdk.c, extents) is beyond the model.
_OWN_CHILD_OPTIONS = frozenset({"vmdk"})


def _flat(options: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """bs->options as QEMU holds them: a flat QDict (block.c bdrv_open_inherit()
    qdict_flatten()), children given by reference left as their names."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _strong_options(node: Node) -> tuple[dict[str, Any], bool]:
    """block.c append_strong_runtime_options(): "driver", "filename" and the driver's
    strong runtime options found in bs->options, and whether any but the first two was."""
    flat = _flat(node.options)
    if node.filename is not None:
        flat.setdefault("filename", node.filename)
    out: dict[str, Any] = {}
    found_any = False
    for key in ("driver", "filename", *_strong(node.driver)):
        hits = [k for k in flat if k.startswith(key)] if key.endswith(".") else \
            [key] if key in flat else []
        for k in hits:
            out[k] = flat[k]
        found_any |= bool(hits) and key not in ("driver", "filename")
    out.setdefault("driver", node.driver)
    return out, found_any


def _backing_overridden(node: Node, backing_name: str | None) -> bool | None:
    """block.c bdrv_backing_overridden(): the backing child is not the one the image
    header names (auto_backing_file; after a backing opened from the header, that
    child's own name). None: the header was not read, so qdrive cannot say."""
    backing = node.children.get("backing")
    if backing is not None and backing.implicit_backing:
        return False
    if node.auto_backing_file is None:
        return None if backing is not None else False
    if backing is None:
        return node.auto_backing_file != ""
    return node.auto_backing_file != backing_name


def _refresh(node: Node) -> tuple[str, dict[str, Any]] | None:
    """block.c bdrv_refresh_filename(): (exact_filename, full_open_options) of a node,
    its children first; None when the node is beyond this model."""
    if node.driver in _OWN_REFRESH or node.driver in _OWN_CHILD_OPTIONS:
        return None
    refreshed: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, child in node.children.items():
        got = _refresh(child)
        if got is None:
            return None
        refreshed[name] = got
    backing = refreshed.get("backing")
    overridden = _backing_overridden(node, _name(*backing) if backing else None)
    if overridden is None:
        return None
    opts, generate_json = _strong_options(node)
    generate_json |= overridden
    if node.driver == "quorum":  # block/quorum.c quorum_gather_child_options()
        opts["children"] = [refreshed[k][1] for k in sorted(
            (k for k in refreshed if k.startswith("children.")),
            key=lambda k: int(k.split(".")[1]))]
    for name, (_, child_opts) in refreshed.items():
        if (name != "backing" or overridden) and not name.startswith("children."):
            opts[name] = child_opts
    if overridden and backing is None:
        opts["backing"] = None  # "Force no backing file"
    info = _driver_info(node.driver)
    primary = node.children.get("file")
    if node.driver in ("null-co", "null-aio"):  # block/null.c null_refresh_filename()
        exact = "" if set(opts) - _NULL_IGNORED else f"{node.driver}://"
    elif primary is not None:
        # a format node takes its protocol child's name unless it is a filter, the
        # child is not a protocol, or strong options / an overridden backing matter
        child_exact = refreshed["file"][0]
        is_protocol = "bdrv_file_open" in (_driver_info(primary.driver).get("open") or {})
        exact = child_exact if child_exact and is_protocol and not info.get("is_filter") \
            and not generate_json else ""
    else:  # bdrv_open_common(): a protocol keeps the name it was opened with
        exact = str(opts.get("filename") or "")
    return exact, opts


def _name(exact: str, opts: dict[str, Any]) -> str:
    """bs->filename: the exact name, else json:{full_open_options} in QDict order."""
    return exact or "json:" + json.dumps(_ordered(opts), separators=(", ", ": "))


def _ordered(value: Any) -> Any:
    from ._qdict import in_qdict_order

    if isinstance(value, dict):
        return {k: _ordered(value[k]) for k in in_qdict_order(value)}
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


def filename(node: Node) -> str | None:
    """The node's filename as query-named-block-nodes reports it: the image's name, or
    json:{...} when a node on the way has options of its own that matter; None when
    the node is beyond this model."""
    got = _refresh(node)
    return None if got is None else _name(*got)


_SIMPLE_KEYS = frozenset({"file.locking", "file.aio", "node-name", "file.node-name"})


def _drive_nodes(r: Any) -> list[Node] | None:
    """The nodes a -drive makes, oldest first: its protocol node, its format node, the
    qcow2 header's backing/data files, and with snapshot=on the read-only image under a
    temporary qcow2 overlay (block.c bdrv_append_temp_snapshot); None when the drive
    is beyond this model."""
    from ..model import cache_triple
    from .blockdev_args import Graph, Node, _implicit_children

    d = r.drive
    if d is not None and not d.file and r.format in _NULL_DRIVERS and \
            set(d.driver_options) <= _NULL_KEYS and not get_dialect(d.dialect).legacy:
        return _null_drive_nodes(r)
    if d is None or not d.file or r.format is None or ":" in d.file.split("/")[0] or \
            any(k not in _SIMPLE_KEYS for k in d.driver_options) or \
            get_dialect(d.dialect).legacy:
        return None
    _, direct, no_flush = cache_triple(d)
    cache = {"direct": direct, "no-flush": no_flush}
    name = d.file  # a plain local name: the test above leaves no prefix
    graph = Graph()
    ro = bool(d.effective_read_only) or bool(d.snapshot)
    file_name = d.driver_options.get("file.node-name")
    proto = Node(file_name or "#block", "file", ro, name, options={"cache": cache},
                 generated=not file_name)
    zeroes = str(d.detect_zeroes or "off")
    if r.format in ("file", "host_device", "host_cdrom"):
        proto.driver = r.format
        proto.options["detect-zeroes"] = "off" if d.snapshot else zeroes
        graph.all_nodes.append(proto)
        top = proto
    else:
        top = Node(d.node_name or "#block", r.format, ro, None, {"file": proto},
                   options={"cache": cache, "detect-zeroes": "off" if d.snapshot else zeroes},
                   generated=not d.node_name)
        graph.all_nodes += [proto, top]
        _implicit_children(graph, top, {"cache": cache})
    if d.snapshot:
        temp = Node("#block", "file", False, "/var/tmp/vl.XXXXXX",
                    options={"cache": {"direct": False, "no-flush": True}}, generated=True)
        overlay = Node("#block", "qcow2", bool(d.effective_read_only), None,
                       {"file": temp, "backing": top},
                       options={"cache": {"direct": False, "no-flush": True},
                                "detect-zeroes": zeroes}, generated=True)
        # block.c bdrv_append_temp_snapshot(): the overlay is created with a size only,
        # so its header names no backing file and the one appended counts as overridden
        overlay.auto_backing_file = ""
        graph.all_nodes += [temp, overlay]
    return graph.all_nodes


_NULL_DRIVERS = frozenset({"null-co", "null-aio"})
_NULL_KEYS = frozenset({"node-name", "read-zeroes", "size", "latency-ns"})


def _null_drive_nodes(r: Any) -> list[Node] | None:
    """A -drive driver=null-co (no file): one protocol node whose options stay the
    strings QemuOpts read (so its json: name says "read-zeroes": "on"); with
    snapshot=on beyond this model."""
    from ..model import cache_triple
    from .blockdev_args import Node

    d = r.drive
    if d.snapshot:
        return None
    _, direct, no_flush = cache_triple(d)
    options: dict[str, Any] = {k: v for k, v in d.driver_options.items() if k != "node-name"}
    options |= {"cache": {"direct": direct, "no-flush": no_flush},
                "detect-zeroes": str(d.detect_zeroes or "off")}
    return [Node(d.node_name or "#block", r.format, bool(d.effective_read_only), None,
                 options=options, generated=not d.node_name)]


def query_named_block_nodes(result: ArgvResult) -> list[dict[str, Any]] | None:
    """The facts of every node, newest first; None when a node is beyond qdrive's model
    (a -drive's nodes, a filename QEMU would spell as json:{...})."""
    if not result.ok:
        return None
    nodes = list(result.state.graph.all_nodes)
    for r in result.drives.drives:  # -drive nodes are made after every -blockdev node
        made = _drive_nodes(r)
        if made is None:
            return None
        nodes += made
    out = []
    for node in reversed(nodes):
        name = filename(node)
        if name is None:
            return None
        cache = node.options.get("cache") or {}
        out.append({"node-name": node.name, "drv": node.driver, "ro": node.read_only,
                    "cache": {"no-flush": bool(cache.get("no-flush", False)),
                              "direct": bool(cache.get("direct", False)),
                              "writeback": True},
                    "detect_zeroes": str(node.options.get("detect-zeroes", "off")),
                    "file": name, "backing_file_depth": 0,
                    "encrypted": node.driver == "luks"})
    return out


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
