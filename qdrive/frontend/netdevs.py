"""-netdev against the NICs of a command line: what net/net.c says once the machine is made.

QEMU creates the network clients in net_init_clients() (net/net.c): the "modern" (JSON)
-netdev options first, then the QemuOpts ones in command-line order; each NIC device adds
its own client when it is realized, in the order the devices are created (QemuOpts
-device options, then JSON ones). A NIC's ``netdev=`` must name a client
(hw/core/qdev-properties-system.c set_netdev(): "can't find value") that no other NIC
has taken ("it's in use"). qemu_machine_creation_done() then calls net_check_clients(),
which warns about every client left without a peer, in creation order: "netdev ID has no
peer", "nic NAME has no peer" (NAME is the device's id, or MODEL.N, N counting the
clients of that model before it: net/net.c assign_name()).

Only -netdev's id is read here (its backend is not judged). A command line with -net
(hubs) or -nic (a board NIC) is left alone, apart from the netdev warnings -nic cannot
change.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from ._data import read_json

__all__ = ["check_network", "duplicate_netdev", "nic_model", "unsupported_nic", "hub_warnings"]


@functools.cache
def _nic_models() -> dict[str, str]:
    table: dict[str, str] = read_json("qemu-7.2", "machine-properties.json")["nic_models"]
    return table


def nic_model(name: str) -> str | None:
    """The QOM type of a NIC model or alias (``virtio-net`` -> ``virtio-net-pci``)."""
    return _nic_models().get(name)


def _opts_id(text: str) -> str | None:
    """``id=`` of a QemuOpts argument (``,,`` is a comma inside a value)."""
    parts = text.replace(",,", "\0").split(",")
    for part in parts:
        key, eq, value = part.partition("=")
        if eq and key == "id":
            return value.replace("\0", ",")
    return None


def _netdev_id(text: str) -> str | None:
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return str(value["id"]) if isinstance(value, dict) and "id" in value else None
    return _opts_id(text)


def _netdevs(tokens: Sequence[tuple[int, str, str | None]]) -> list[str]:
    """The -netdev ids in creation order: JSON ones first (netdev_init_modern())."""
    texts = [v for _, o, v in tokens if o.lstrip("-") == "netdev" and v is not None]
    ordered = [t for t in texts if t.startswith("{")] + [t for t in texts
                                                         if not t.startswith("{")]
    return [i for i in (_netdev_id(t) for t in ordered) if i is not None]


def duplicate_netdev(tokens: Sequence[tuple[int, str, str | None]]
                     ) -> tuple[int, str, str] | None:
    """The first QemuOpts -netdev whose id an earlier one has: util/qemu-option.c
    qemu_opts_create() refuses it while the command line is parsed."""
    seen: set[str] = set()
    for index, option, text in tokens:
        if option.lstrip("-") != "netdev" or text is None or text.startswith("{"):
            continue
        ident = _opts_id(text)
        if ident is not None and ident in seen:
            return index, text, f"Duplicate ID '{ident}' for netdev"
        if ident is not None:
            seen.add(ident)
    return None


def _opts_value(text: str, key: str, implied: str = "type") -> str | None:
    """A key of a QemuOpts argument whose first bare word is ``implied``."""
    for n, part in enumerate(text.replace(",,", "\0").split(",")):
        name, eq, value = part.partition("=")
        if (name if eq else implied if n == 0 else None) == key:
            return (value if eq else name).replace("\0", ",")
    return None


def unsupported_nic(tokens: Sequence[tuple[int, str, str | None]], board: str
                    ) -> tuple[int, str] | None:
    """hw/i386/pc.c pc_nic_init(): each -nic and -net nic the board makes, in order;
    ne2k_isa is the ISA one, the others go to hw/pci/pci.c pci_nic_init_nofail(), which
    knows "virtio" and the models ``model=help`` lists (qemu_find_nic_model():
    "Unsupported NIC model: X", then exit). (argv index, message) of the first, or None;
    pc and q35 only, and only in the releases that exit (Dialect.nic_model_refused)."""
    from .drivers import dialect

    if board not in ("pc", "q35") or not dialect().nic_model_refused:
        return None
    known = set(read_json("qemu-7.2", "machine-properties.json")["machines"][board]
                .get("nic_models") or [])
    for index, option, value in tokens:
        name = option.lstrip("-")
        if value is None or name not in ("nic", "net") or value.startswith("{"):
            continue
        kind = _opts_value(value, "type")
        if name == "net" and kind != "nic" or name == "nic" and kind == "none":
            continue
        if name == "net" and _opts_value(value, "netdev") is not None and kind != "nic":
            continue
        model = _opts_value(value, "model")
        if model is None or model in ("help", "?", "virtio", "ne2k_isa") or model in known:
            continue
        return index, f"Unsupported NIC model: {model}"
    return None


def hub_warnings(tokens: Sequence[tuple[int, str, str | None]]) -> list[str]:
    """net/hub.c net_hub_check_clients() for the one hub -net options share (hub 0): a
    NIC without a host backend, or a host backend without a NIC, on it."""
    has_nic = has_host = False
    for _, option, value in tokens:
        if option.lstrip("-") != "net" or value is None:
            continue
        kind = _opts_value(value, "type")
        if kind == "nic":
            has_nic |= _opts_value(value, "netdev") is None
        elif kind not in (None, "none"):
            has_host = True
    if has_host and not has_nic:
        return ["hub 0 with no nics"]
    if has_nic and not has_host:
        return ["hub 0 is not connected to host network"]
    return []


def check_network(tokens: Sequence[tuple[int, str, str | None]],
                  devices: Sequence[tuple[int, str, dict[str, Any]]]
                  ) -> tuple[list[tuple[int, str, str]], list[str]]:
    """(errors as (argv index, -device text, message), warnings) for ``devices`` given in
    creation order as (argv index, text, properties)."""
    names = {o.lstrip("-") for _, o, _ in tokens}
    if "net" in names:
        return [], hub_warnings(tokens)
    netdevs = _netdevs(tokens)
    peered: set[str] = set()
    clients: list[tuple[str, str, bool]] = [("netdev", n, False) for n in netdevs]
    models: list[str] = []
    errors: list[tuple[int, str, str]] = []
    for index, text, props in devices:
        model = nic_model(str(props.get("driver", "")))
        if model is None:
            continue
        # the virtio-net-pci proxies alias netdev= to their virtio-net-device
        # (hw/virtio/virtio-net-pci.c), whose name the property errors carry
        owner = "virtio-net-device" if model.startswith("virtio-net-pci") else model
        ref = props.get("netdev")
        if ref is not None:
            ref = str(ref)
            if ref not in netdevs:
                errors.append((index, text, f"Property '{owner}.netdev' can't find value "
                                            f"'{ref}'"))
                break
            if ref in peered:
                errors.append((index, text, f"Property '{owner}.netdev' can't take value "
                                            f"'{ref}', it's in use"))
                break
            peered.add(ref)
        name = str(props["id"]) if "id" in props else f"{model}.{models.count(model)}"
        models.append(model)
        clients.append(("nic", name, ref is not None))
    if errors:
        return errors, []
    return [], [f"{kind} {name} has no peer" for kind, name, has_peer in clients
                if not has_peer and (kind == "nic" and "nic" not in names or
                                     kind == "netdev" and name not in peered)]


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
