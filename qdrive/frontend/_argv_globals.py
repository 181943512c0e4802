"""-global options no object took: hw/core/qdev-properties.c qdev_prop_check_globals().

softmmu/vl.c qemu_machine_creation_done() asks, after every device is made, about each
-global in command-line order that no object used (qdev_prop_set_globals() marks one
used when it applies it to an object of its class or of a subclass):

* its driver is no device class (object_class_by_name() finds none, or a class that
  is not a device; a module's class QEMU did not load is none): "global D.P has invalid
  class name";
* its driver is a device class that is not hotpluggable: "global D.P=V not used";
* any other is left alone (a hotpluggable class may still get an object later).

The classes, which of them are not hotpluggable and which of those each board makes
are facts read off each QEMU (grammar/qemu-X.Y/globals.json, grammar/derive_globals.py).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from ._argv_state import PROG, Phase, _Event, _State
from ._data import read_json

__all__ = ["check_globals"]

# after every other line qemu_machine_creation_done() prints (net_check_clients())
_ORDER = 1 << 20


@functools.cache
def _table(folder: str) -> dict[str, Any]:
    table: dict[str, Any] = read_json(folder, "globals.json")
    return table


def check_globals(st: _State, machine: str, usb: bool, tokens: Iterable[tuple[int, str,
                  str | None]], devices: Iterable[tuple[int, str, str, Any]],
                  drives: Any) -> None:
    """The warnings qdev_prop_check_globals() prints, once the machine is made (nothing
    when an earlier phase failed, or when a -vga option may have made a display
    device qdrive does not follow)."""
    if not st.qom_globals or any(e.error for e in st.events):
        return
    table = _table(st.dialect.device_tables)
    classes: Mapping[str, str | None] = table["device_types"]
    made = _made(table, machine, usb, devices, drives)
    display = any(o.lstrip("-") == "vga" and v != "none" for _, o, v in tokens)
    for n, (driver, prop, value) in enumerate(st.qom_globals):
        if driver not in classes:
            text = f"global {driver}.{prop} has invalid class name"
        elif driver in table["not_hotpluggable"] and not display and \
                not any(_is_a(t, driver, classes) for t in made):
            text = f"global {driver}.{prop}={value} not used"
        else:
            continue
        st.events.append(_Event(Phase.CREATION_DONE, _ORDER + n,
                                f"{PROG}: warning: {text}", False))


def _made(table: Mapping[str, Any], machine: str, usb: bool,
          devices: Iterable[tuple[int, str, str, Any]], drives: Any) -> set[str]:
    """The classes of the objects the start makes: those every start makes, the
    board's, each -device's, and the devices the -drive interfaces ask for."""
    from .devices import model_info

    board = _board(machine)
    out = set(table["always_made"])
    out.update(table["board_objects"].get(f"{board},usb=on" if usb else board, ()))
    for _, _, _, props in devices:
        given = props.get("driver", "") if isinstance(props, Mapping) else ""
        info = model_info(str(given))
        out.add(info[0] if info is not None else str(given))
    for r in getattr(drives, "drives", ()):
        p = r.placement
        if r.ok and p is not None:
            out.update(_drive_models(p.interface.value))
    return out


def _drive_models(interface: str) -> tuple[str, ...]:
    # hw/i386/pc.c and softmmu/vl.c: the devices the legacy interfaces ask for
    return {"ide": ("ide-hd", "ide-cd"), "virtio": ("virtio-blk-pci",),
            "floppy": ("floppy",), "scsi": ("scsi-hd", "scsi-cd", "lsi53c895a"),
            "pflash": ("cfi.pflash01",)}.get(interface, ())


def _board(machine: str) -> str:
    from ._argv_machine import board_name

    name = board_name(machine or "pc")
    return name if name in ("pc", "q35", "isapc", "microvm") else "none"


def _is_a(name: str, ancestor: str, classes: Mapping[str, str | None]) -> bool:
    """object_dynamic_cast(): ``name`` is ``ancestor`` or one of its subclasses."""
    seen = 0
    current: str | None = name
    while current is not None and seen < 64:
        if current == ancestor:
            return True
        current, seen = classes.get(current), seen + 1
    return False


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
