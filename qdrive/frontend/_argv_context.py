"""The AioContext (main loop or an -object iothread) each node graph the devices use
sits in, as QEMU moves it while it makes the devices.

Only three moments move a graph before the guest runs:

- hw/core/qdev-properties-system.c set_drive_helper(): a drive= naming a node (not a
  -drive id) makes a BlockBackend for the device, in the main loop's context for every
  block device but the SCSI disks (DEFINE_PROP_DRIVE_IOTHREAD in hw/scsi/scsi-disk.c:
  the node's own context). Inserting it moves the node, and every node and BlockBackend
  joined to it, into that context (block.c bdrv_attach_child_common());
- hw/scsi/scsi-disk.c scsi_realize(): a SCSI disk whose node is outside the main loop
  needs an HBA that supports iothreads (virtio-scsi only, hw/scsi/virtio-scsi.c);
- hw/scsi/virtio-scsi.c virtio_scsi_hotplug(): the disk is moved into the HBA's context
  (7.2: the iothread's, else the main loop's once ioeventfd is on, from
  hw/scsi/virtio-scsi-dataplane.c virtio_scsi_dataplane_setup(); 10.0 tries an iothread
  only, and ignores a refusal).

A move is refused when another device's BlockBackend is on the graph (block/
block-backend.c blk_root_change_aio_ctx(): "Cannot change iothread of active block
backend"); a -drive's own BlockBackend has a name and no device, and follows. virtio-blk
moves its node only when its dataplane starts (hw/block/dataplane/virtio-blk.c
virtio_blk_data_plane_start(), with the guest running): never here.
"""

from __future__ import annotations

from typing import Any

from ._argv_state import _Context, _State

# the block devices whose drive= is DEFINE_PROP_DRIVE_IOTHREAD (7.2 to 11.1)
IOTHREAD_AWARE = frozenset({"scsi-hd", "scsi-cd"})
REFUSED = "Cannot change iothread of active block backend"
_ON = ("on", "yes", "true", "y")


def _graph_key(st: _State, name: str) -> object:
    """One key for every name of one graph: a -drive by its id or its node-name, a
    -blockdev node by the nodes it is joined to (children and parents)."""
    r = st.backends.get(name)
    if r is None and name in st.drive_nodes:
        r = next((b for b in st.backends.values()
                  if b.drive is not None and b.drive.node_name == name), None)
    if r is not None:
        return ("drive", id(r))
    node = st.graph.nodes.get(name)
    if node is None:
        return ("name", name)
    return ("graph", min(id(n) for n in _joined(st, node)))


def _joined(st: _State, node: Any) -> list[Any]:
    """The node and every node joined to it by a child link, either way."""
    parents: dict[int, list[Any]] = {}
    for n in st.graph.all_nodes + list(st.graph.nodes.values()):
        for child in n.children.values():
            parents.setdefault(id(child), []).append(n)
    seen: dict[int, Any] = {}
    todo = [node]
    while todo:
        n = todo.pop()
        if id(n) in seen:
            continue
        seen[id(n)] = n
        todo += list(n.children.values()) + parents.get(id(n), [])
    return list(seen.values())


def context_of(st: _State, name: str) -> _Context:
    return st.contexts.setdefault(_graph_key(st, name), _Context())


def attach(st: _State, model: str, name: str, fresh: bool) -> str:
    """set_drive_helper(): the device's BlockBackend goes on the graph; a new one
    (``fresh``: drive= named a node) of a device that is not iothread-aware pulls the
    graph into the main loop."""
    ctx = context_of(st, name)
    if fresh and model not in IOTHREAD_AWARE and ctx.iothread is not None:
        if ctx.devices:
            return REFUSED
        ctx.iothread = None
    ctx.devices += 1
    return ""


def hba_of(st: _State, props: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The HBA a SCSI disk goes on (its bus=, else the first SCSI bus) and its props."""
    found = st.controllers.get(props.get("bus", ""))
    if found is None and st.controllers:
        found = next(iter(st.controllers.values()))
    return found if found is not None else ("", {})


def scsi_realize(st: _State, props: dict[str, str]) -> str:
    """hw/scsi/scsi-disk.c scsi_realize(), after the block sizes: a node outside the
    main loop on an HBA without iothread support."""
    name = props.get("drive")
    hba, _ = hba_of(st, props)
    if not name or not hba or context_of(st, name).iothread is None:
        return ""
    return "" if hba.startswith("virtio-scsi") else "HBA does not support iothreads"


def scsi_hotplug(st: _State, props: dict[str, str]) -> str:
    """hw/scsi/virtio-scsi.c virtio_scsi_hotplug(): the disk into the HBA's context."""
    name = props.get("drive")
    hba, hba_props = hba_of(st, props)
    if not name or not hba.startswith("virtio-scsi"):
        return ""
    target = hba_props.get("iothread")
    fatal = st.dialect.scsi_hotplug_context_fatal
    if target is None and (not fatal or hba_props.get("ioeventfd", "on") not in _ON):
        return ""  # no context of its own (10.0: the main loop's is not asked for)
    ctx = context_of(st, name)
    if ctx.iothread == target:
        return ""
    if ctx.devices > 1:  # another device's BlockBackend is on the graph
        return REFUSED if fatal else ""
    ctx.iothread = target
    return ""
