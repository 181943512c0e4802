"""The image locks and node permissions of a whole command line.

block/file-posix.c raw_check_lock_bytes(): a format node, a drive or a device that takes
write where another holder refuses to share it (or refuses where another writes) fails;
block.c bdrv_default_perms_for_storage/_for_cow say which holder takes what, and
bdrv_parent_perms_conflict() words a clash between two parents of one node.
"""

from __future__ import annotations

import os
from typing import Any

from ._graph_locks import METADATA_FORMATS
from ._argv_state import Phase, _State
from .blockdev_args import Node


def _drive_lock_facts(r: Any) -> tuple[tuple[int, int], str, bool] | None:
    """(file identity, name, writes) of a drive's image as its device takes it."""
    from ..probe import file_identity

    d = r.drive
    if d is None or not r.image or d.force_share or d.snapshot or \
            d.driver_options.get("file.locking") == "off":
        return None
    name = r.image  # resolved once, by the converter
    ident = file_identity(name)
    return None if ident is None else (ident, name, not d.effective_read_only)


def _snapshot_backing_facts(r: Any) -> tuple[tuple[int, int], str, bool] | None:
    """A snapshot=on drive's image is the backing file of its temporary overlay: once its
    device asks for permissions it is read and kept from writers (block.c
    bdrv_default_perms_for_cow), so a writer elsewhere refuses it its shared lock."""
    from ..probe import file_identity

    d = r.drive
    if d is None or not r.image or not d.snapshot or d.force_share or \
            d.driver_options.get("file.locking") == "off":
        return None
    name = r.image  # resolved once, by the converter
    ident = file_identity(name)
    return None if ident is None else (ident, name, False)


def _board_holders(st: _State, drives: Any) -> None:
    """The devices the board made for IDE, floppy and flash drives hold their images
    (their conflicts with each other are the drives' own verdict)."""
    from ..model import Interface

    for r in drives.drives:
        p = r.placement
        if not r.ok or p is None or p.interface not in (Interface.IDE, Interface.FLOPPY,
                                                        Interface.PFLASH):
            continue
        facts = _drive_lock_facts(r)
        if facts is not None:
            ident, _, writes = facts
            st.locks.holders.append((ident, writes, p.interface is not Interface.PFLASH,
                                     id(r)))


def _virtio_drive_locks(st: _State, drives: Any) -> None:
    """The devices if=virtio drives asked for come after every -device."""
    from ..model import Interface

    if any(e.error for e in st.events):
        return
    for n, r in enumerate(drives.drives):
        p = r.placement
        if not r.ok or p is None or p.interface is not Interface.VIRTIO:
            continue
        facts = _drive_lock_facts(r) or _snapshot_backing_facts(r)
        if facts is None:
            continue
        ident, name, writes = facts
        problem = st.locks.take(ident, name, writes, True, r, frozenset({id(r)}))
        if problem:
            st.fail(Phase.DRIVE_DEVICES, n, problem, r.option, r.text)
            return


_OFF = ("off", "false", "no", "n")
_FORMATS = METADATA_FORMATS  # a format node keeps its file's write permission to itself


def _format_locks(st: _State, nodes: list[Node]) -> str:
    """A format node keeps others from writing its file (block.c
    bdrv_default_perms_for_storage: metadata children), and writes it when writable."""
    from ..probe import file_identity

    for node in nodes:
        if node.implicit_backing and node.filename is not None:
            # an implicit backing file (or its format's file): read-only, unshares write
            ident = file_identity(node.filename)
            if ident is not None:
                problem = st.locks.take(ident, node.filename, False, True, node)
                if problem:
                    return f"Could not open backing file: {problem}"
            continue
        if node.driver not in _FORMATS:
            continue
        child = node.children.get("file")
        proto = child.protocol() if child is not None else None
        if proto is None or proto.filename is None or proto.locking == "off" or \
                proto.force_share or node.force_share:
            continue
        ident = file_identity(proto.filename)
        if ident is not None:
            problem = st.locks.take(ident, proto.filename, not node.read_only, True, node)
            if problem:
                return problem
    return ""


def _drive_locks(st: _State, drives: Any) -> None:
    """The same for each -drive with a format node (drive_new opens it at once)."""
    from ..probe import file_identity

    if any(e.error and e.phase <= Phase.DRIVES for e in st.events):
        return
    for n, r in enumerate(drives.drives):
        d = r.drive
        if d is None or r.format not in _FORMATS or not r.image or d.force_share or \
                d.driver_options.get("file.locking") == "off" or \
                d.driver_options.get("active") in _OFF:  # 10.0: an inactive node locks nothing
            continue
        name = r.image  # resolved once, by the converter
        ident = file_identity(name)
        if ident is None:
            continue
        problem = st.locks.take(ident, name, not d.effective_read_only and not d.snapshot,
                                True, r)
        if not problem:
            problem = _backing_lock(st, name, r)
        if problem:
            st.fail(Phase.DRIVES, n, problem, r.option, r.text)
            return


def _backing_lock(st: _State, name: str, owner: object) -> str:
    """A qcow2 image's backing file, opened read-only, refuses to share write
    (block.c bdrv_default_perms_for_cow)."""
    from ..probe import file_identity, probe_file

    found = probe_file(name)
    if found.format != "qcow2" or not found.backing_file:
        return ""
    path = os.path.join(os.path.dirname(name), found.backing_file)
    ident = file_identity(path)
    if ident is None:
        return ""
    problem = st.locks.take(ident, found.backing_file, False, True, owner)
    return f"Could not open backing file: {problem}" if problem else ""


def _writable_below(node: Node, write: bool) -> str:
    """block.c bdrv_node_refresh_perm(): a writer's permission goes down the file chain
    (a raw node passes it on), and a read-only node under it refuses it."""
    if write and any(n.read_only for n in _chain(node)[1:]):
        return "Block node is read-only"
    return ""


def _node_perms(st: _State, node: str, write: bool, share: bool, desc: str,
                kept: str) -> str:
    """block.c bdrv_parent_perms_conflict(): every ordered pair of the node's parents,
    the newest first (bdrv_replace_child_noperm inserts at the head), each asking
    bdrv_a_allow_b() whether a shares what b takes."""
    users = st.node_users.setdefault(node, [])
    older = list(reversed(users))
    culprit = next(((o[2], desc) for o in older if o[0] and not share), None) or next(
        ((desc, o[2]) for o in older if write and not o[1]), None)
    if culprit is not None:
        return (f"Permission conflict on node '{node}': permissions 'write' are both "
                f"required by {culprit[0]} (uses node '{node}' as 'root' child) and "
                f"unshared by {culprit[1]} (uses node '{node}' as 'root' child).")
    users.append((write, share, kept))
    return ""


def _node_host_problem(node: Node, write: bool, share: bool) -> str:
    """A device attaching to a -blockdev node asks its file for consistent read (and
    write), refusing write unless share-rw (hw/block/block.c blkconf_apply_backend_options);
    block/file-posix.c raw_check_perm() reopens the file O_RDWR for a writer that it
    opened read-only (auto-read-only=on), then tests other processes' lock bytes. The
    node had no parent before, so the file held nothing and shared everything."""
    from . import hostprobe

    proto = node.protocol()
    if proto is None or proto.filename is None:
        return ""
    facts = hostprobe.file_facts(proto.filename, proto.locking != "off", None)
    if facts is None:
        return ""
    share = share or node.force_share or proto.force_share  # block.c bdrv_child_perm()
    perms = hostprobe.Perms(
        frozenset({hostprobe.CONSISTENT_READ} | ({hostprobe.WRITE} if write else set())),
        frozenset() if share else frozenset({hostprobe.WRITE}))
    found = hostprobe.perm_problem(facts, perms, hostprobe.Perms(frozenset(), frozenset()))
    if found is None:
        return ""
    message, hint = found
    return f"{message}\n{hint}" if hint else message


def _chain(node: Node | None) -> list[Node]:
    out: list[Node] = []
    while node is not None:
        out.append(node)
        node = node.children.get("file")
    return out


def _identity_of(st: _State, name: str) -> tuple[tuple[int, int] | None, str]:
    from ..probe import file_identity

    if name in st.backends:
        facts = _drive_lock_facts(st.backends[name])
        return (facts[0], facts[1]) if facts is not None else (None, "")

    node = st.graph.nodes.get(name)
    if node is not None:
        proto = node.protocol()
        if proto is None or proto.filename is None or proto.locking == "off" or \
                node.force_share:
            return None, ""
        return file_identity(proto.filename), proto.filename
    return None, ""
