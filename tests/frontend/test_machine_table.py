"""grammar/qemu-7.2/machine-properties.json against the QEMU it was derived from
(grammar/derive_machines.py): the class properties `-machine TYPE,help` lists, the QOM
type names, and the NIC models; the instance properties are checked by the recorded
argv:rule-machine cases (pflash0, nvdimm, hmat accepted; rtc_state refused)."""

from __future__ import annotations

import pytest

from qdrive.grammar import derive_machines
from qdrive.frontend._data import read_json
from tests.compat import oracle

pytestmark = pytest.mark.skipif(not oracle.have_qemu("7.2"),
                                reason="needs qemu-system-x86_64 7.2")


@pytest.mark.parametrize("machine", derive_machines.MACHINES)
def test_the_class_properties_are_qemus(machine: str) -> None:
    table = read_json("qemu-7.2", "machine-properties.json")["machines"][machine]
    qom, listed, kinds = derive_machines._help("qemu-system-x86_64", machine)
    assert table["qom_type"] == qom
    assert listed <= set(table["properties"])
    # the class properties' kinds as the help types them (instance ones: bool, probed)
    assert {k: v for k, v in table["kinds"].items() if k in listed} == kinds
    assert table["kinds"]["smm"] == "OnOffAuto" and table["kinds"]["nvdimm"] == "bool"
    assert {"pflash0", "pflash1", "nvdimm"} <= set(table["properties"])
    assert "type" not in table["properties"]


def test_the_nic_models_are_qemus() -> None:
    table = read_json("qemu-7.2", "machine-properties.json")["nic_models"]
    assert table["virtio-net"] == "virtio-net-pci" and table["e1000-82540em"] == "e1000"
    assert "virtio-blk-pci" not in table


@pytest.mark.parametrize("model", ["virtio-balloon-pci", "usb-tablet", "pcie-root-port",
                                   "virtserialport", "e1000"])
def test_the_device_property_names_are_qemus(model: str) -> None:
    # grammar/qemu-7.2/device-properties.json (grammar/derive_device_props.py)
    from qdrive.grammar import derive_device_props

    table = read_json("qemu-7.2", "device-properties.json")["models"]
    assert table[model] == derive_device_props._props("qemu-system-x86_64", model)


def test_the_board_nic_models_are_qemus() -> None:
    table = read_json("qemu-7.2", "machine-properties.json")["machines"]
    for machine in derive_machines.MACHINES:
        assert table[machine]["nic_models"] == derive_machines._board_nic_models(
            "qemu-system-x86_64", machine)
        assert "virtio-net-pci" in table[machine]["nic_models"]
