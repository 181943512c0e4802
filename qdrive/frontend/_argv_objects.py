"""softmmu/vl.c qemu_create_early_backends() and configure_blockdev(): the -object
options are created (qom/object_interfaces.c user_creatable_add_qapi), then every
-blockdev node (blockdev.c qmp_blockdev_add), each in command-line order.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._argv_locks import _format_locks
from ._argv_state import Phase, _State
from .blockdev_args import BlockdevError, add_blockdev
from .objects import ObjectError, create_object, parse_object


def _early_objects(tokens: list[tuple[int, str, str | None]]) -> dict[str, frozenset[str]]:
    """The ids of the -object secrets and throttle groups, by kind: softmmu/vl.c
    qemu_create_early_backends() makes them before configure_blockdev() opens the
    drives, so a drive's key-secret= or throttle-group= finds them (an object that
    fails stops QEMU before any drive, and that error is reported on its own)."""
    found: dict[str, set[str]] = {"secret": set(), "throttle-group": set(), "": set()}
    for _, option, value in tokens:
        if option != "-object" or value is None:
            continue
        try:
            props = parse_object(value, set())
        except ObjectError:
            continue
        kind = str(props.get("qom-type"))
        found[""].add(str(props.get("id")))
        if kind in found:
            found[kind].add(str(props.get("id")))
    return {k: frozenset(v) for k, v in found.items()}


def create_objects(st: _State, parsed: list[tuple[int, str, str, Any]],
                   probe_files: bool) -> None:
    """qemu_create_early_backends(): each -object, stopping at the first that fails."""
    secrets: dict[str, bytes] = {}
    created: set[str] = set()
    for index, option, text, obj in parsed:
        if option != "-object":
            continue
        if str(obj.get("id")) in created:
            # qom/object.c object_property_try_add_child() under /objects
            st.fail(Phase.OBJECTS, index, f"attempt to add duplicate property "
                    f"'{obj.get('id')}' to object (type 'container')")
            return
        created.add(str(obj.get("id")))
        # hw/display/virtio-gpu-udmabuf.c find_memory_backend_type(): a memfd backend
        # with seals (backends/hostmem-memfd.c: seal=on unless told otherwise)
        st.sealed_memfd |= obj.get("qom-type") == "memory-backend-memfd" and str(
            obj.get("seal", "on")) not in ("off", "no", "false", "n", "False")
        try:
            note = create_object(obj, probe_files, secrets)
        except ObjectError as exc:
            st.fail(Phase.OBJECTS, index, str(exc),
                    *((option, text) if exc.located else ()))
            return
        if note:
            st.results[index] = attrs.evolve(st.results[index], note=note)


def create_blockdevs(st: _State, parsed: list[tuple[int, str, str, Any]]) -> None:
    """configure_blockdev(): each -blockdev node (qmp_blockdev_add) with the locks its
    format nodes take, stopping at the first that fails."""
    for index, option, text, opts in parsed:
        if option != "-blockdev":
            continue
        before = len(st.graph.all_nodes)
        try:
            add_blockdev(st.graph, opts)
            problem = _format_locks(st, st.graph.all_nodes[before:])
        except BlockdevError as exc:
            problem = str(exc)
        if problem:
            st.fail(Phase.BLOCKDEV, index, problem, option, text)
            return
