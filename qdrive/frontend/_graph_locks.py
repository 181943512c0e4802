"""Image locks between the nodes of one drive's own graph.

QEMU opens every file node with a descriptor of its own, and block/file-posix.c
raw_check_lock_bytes() sees the lock bytes of the other descriptors of the same
process as it sees another process's. So one -drive whose graph opens one image twice
conflicts with itself: a writable metadata format (qcow2, vmdk ...) takes the write
permission on its file and shares it with nobody (block.c
bdrv_default_perms_for_storage()); a second format node on the same file, read-only as
a backing node is, also refuses to share write, and its attach fails with "Failed to
get shared "write" lock". Only the format nodes over local files are followed here (the
top node and the child format nodes qdrive.frontend.nodes opens); a raw node passes its
parents' permissions on and takes none of its own at open.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["METADATA_FORMATS", "one_graph", "take"]

# the formats whose node keeps its file's write permission to itself
METADATA_FORMATS = frozenset({"qcow2", "qcow", "qed", "vmdk", "vpc", "vdi", "vhdx",
                              "parallels", "luks", "bochs", "cloop", "dmg"})

_Held = list[tuple[int, int, bool]]  # (device, inode, writes); every holder unshares write
_OPEN: ContextVar[_Held | None] = ContextVar("qdrive_graph_locks", default=None)


@contextmanager
def one_graph() -> Iterator[None]:
    """The opens of one drive's graph: the locks its nodes hold, forgotten after."""
    token = _OPEN.set([])
    try:
        yield
    finally:
        _OPEN.reset(token)


def take(name: str, write: bool) -> str:
    """A metadata format node's file node on ``name`` (a local file, as QEMU names it):
    the error its lock check gives against the graph's earlier nodes, or "" (then it
    holds its bytes: write when ``write``; like every holder here it shares no write)."""
    from ..probe import file_identity

    held = _OPEN.get()
    ident = file_identity(name) if held is not None else None
    if held is None or ident is None:
        return ""
    same = [w for dev, ino, w in held if (dev, ino) == ident]
    # raw_check_lock_bytes(): the permissions it takes first (any earlier holder
    # unshares write), then the ones it unshares (an earlier writer holds write)
    if write and same:
        return f'Failed to get "write" lock\nIs another process using the image [{name}]?'
    if any(same):
        return f'Failed to get shared "write" lock\nIs another process using the image [{name}]?'
    held.append((*ident, write))
    return ""


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
