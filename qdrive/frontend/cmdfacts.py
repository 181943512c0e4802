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
    out: list[dict[str, Any]] = []
    for facts in drives:
        name = facts["device"]
        dev = result.state.drive_devices.get(name)
        facts = dict(facts)
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
        out.append(_node_backend(node, qom, removable, True if wce is None else wce))
    return out


def _node_backend(node: Node, qom: str, removable: bool, writeback: bool) -> dict[str, Any]:
    cache = node.options.get("cache") or {}
    return {"device": "", "removable": removable, "type": qom, "ro": node.read_only,
            "drv": node.driver,
            "cache": {"no-flush": bool(cache.get("no-flush", False)),
                      "direct": bool(cache.get("direct", False)), "writeback": writeback},
            "detect_zeroes": str(node.options.get("detect-zeroes", "off")), "throttle": {}}


def _strong(driver: str) -> list[str]:
    from .blockdev_args import _drivers

    opts: list[str] = _drivers().get(driver, {}).get("strong_runtime_opts") or []
    return opts


def _full_options(node: Node) -> dict[str, Any]:
    """What block.c bdrv_refresh_filename() keeps of a node: its driver, the options
    that change what it reads (strong runtime options), and its file child's."""
    if node.filename is not None and node.driver in ("file", "host_device", "host_cdrom"):
        return {"driver": node.driver, "filename": node.filename}
    out: dict[str, Any] = {"driver": node.driver}
    for key in _strong(node.driver):
        if not key.endswith(".") and key in node.options:
            out[key] = node.options[key]
    child = node.children.get("file")
    if child is not None:
        out["file"] = _full_options(child)
    backing = node.children.get("backing")
    if backing is not None and node.filename is None and backing.generated and \
            node.generated and node.children.get("file") is not None and \
            (node.children["file"].filename or "").startswith("/var/tmp/vl."):
        out["backing"] = _full_options(backing)  # the temporary snapshot overlay
    return out


def _ordered(value: Any) -> Any:
    from ._qdict import in_qdict_order

    if isinstance(value, dict):
        return {k: _ordered(value[k]) for k in in_qdict_order(value)}
    return value


def filename(node: Node) -> str:
    """The node's filename as query-named-block-nodes reports it: the image's name, or
    json:{...} when a node on the way has options of its own that matter."""
    full = _full_options(node)
    plain = full
    while "file" in plain and len(plain) == 2:
        plain = plain["file"]
    if set(plain) == {"driver", "filename"}:
        return str(plain["filename"])
    return "json:" + json.dumps(_ordered(full), separators=(", ", ": "))


_SIMPLE_KEYS = frozenset({"file.locking", "file.aio", "node-name", "file.node-name"})


def _drive_nodes(r: Any) -> list[Node] | None:
    """The nodes a -drive makes, oldest first: its protocol node, its format node, the
    qcow2 header's backing/data files, and with snapshot=on the read-only image under a
    temporary qcow2 overlay (block.c bdrv_append_temp_snapshot); None when the drive
    is beyond this model."""
    from ..model import cache_triple
    from .blockdev_args import Graph, Node, _implicit_children

    d = r.drive
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
        graph.all_nodes += [temp, overlay]
    return graph.all_nodes


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
        proto = node.protocol()
        if proto is None or proto.filename is None:
            return None
        cache = node.options.get("cache") or {}
        out.append({"node-name": node.name, "drv": node.driver, "ro": node.read_only,
                    "cache": {"no-flush": bool(cache.get("no-flush", False)),
                              "direct": bool(cache.get("direct", False)),
                              "writeback": True},
                    "detect_zeroes": str(node.options.get("detect-zeroes", "off")),
                    "file": filename(node), "backing_file_depth": 0,
                    "encrypted": node.driver == "luks"})
    return out


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
