"""qdrive.frontend._ghash: GHashTable's order, which names the unexpected -blockdev key.

The orders asserted against QEMU are in tests/frontend/test_cmdline.py and the recorded
argv:rule-unexpected cases; here the table is held to being a set whatever it goes
through (growth, tombstones, shrinking), with its order fixed by the slots alone.
"""

from __future__ import annotations

import random

from qdrive.frontend._ghash import StrTable, str_hash
from qdrive.frontend._qdict import in_qdict_order


def test_str_hash_is_djb2_over_signed_bytes() -> None:
    assert str_hash("") == 5381
    assert str_hash("a") == 5381 * 33 + 97
    assert str_hash("\xe9") == ((5381 * 33 + (0xC3 - 256)) * 33 + (0xA9 - 256)) & 0xFFFFFFFF


def test_the_table_stays_a_set_through_resizes() -> None:
    rng = random.Random(5)
    table, model = StrTable(), set()
    sizes = set()
    for step in range(3000):
        key = f"k{rng.randrange(200)}"
        if rng.random() < 0.55:
            table.add(key)
            model.add(key)
        else:
            table.pop(key, None)
            model.discard(key)
        sizes.add(table.size)
        if step % 97 == 0:
            assert sorted(table) == sorted(model) and len(table) == len(model)
    assert sorted(table) == sorted(model)
    assert {8, 16, 32, 64, 128, 256} <= sizes  # grew and shrank through these


def test_iteration_is_slot_order() -> None:
    """-blockdev driver=raw,node-name=n0,file=n0-f,bps_max=...,throttling.bps-total-max=...:
    the keys go in in QDict order; once the visitor has read driver, node-name and file,
    QEMU names 'throttling' (recorded: rule-unexpected-01), as the slots give it."""
    keys = in_qdict_order(["driver", "node-name", "file", "bps_max", "throttling"])
    assert keys == ["node-name", "driver", "throttling", "bps_max", "file"]
    table = StrTable(keys)
    assert list(table) == ["driver", "throttling", "bps_max", "file", "node-name"]
    for key in ("driver", "node-name", "file"):
        table.pop(key)
    assert list(table) == ["throttling", "bps_max"]
    assert "throttling" in table and "driver" not in table
