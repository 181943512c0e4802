"""Fixtures of the attack suite: identical labs (one per QEMU worker), loop devices."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.security import harness, redteam
from tests.security.attacks import Lab

WORKERS = 3


@pytest.fixture(scope="session")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Lab]]:
    """Three identical labs, each with two loop devices of its own when root can make them."""
    why = harness.have_tools()
    if why:
        pytest.skip(why)
    if os.geteuid() != 0:
        pytest.skip("the attack lab makes device nodes and loop devices: it needs root")
    built = redteam.build_labs(tmp_path_factory.mktemp("redteam"), WORKERS)
    with redteam.loop_devices(built):
        yield built
