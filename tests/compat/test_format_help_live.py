"""`-drive format=help`: qdrive prints the list each QEMU prints on stdout, from the
release's derived table (qdrive.frontend.drivers.format_help), and nothing on stderr."""

from __future__ import annotations

import subprocess

import pytest

from qdrive.dialect import get
from qdrive.frontend.drivers import format_help
from tests.compat import oracle

pytestmark = pytest.mark.live


@pytest.mark.parametrize("version", list(oracle.QEMUS))
def test_the_list_is_what_the_binary_prints(version: str) -> None:
    q = oracle.qemu(version)
    if not oracle.have_qemu(version):
        pytest.skip(f"{q.binary} not installed")
    done = subprocess.run(q.command(["-drive", "format=help"], cwd=oracle.REPO),
                          capture_output=True, text=True, timeout=60, cwd=oracle.REPO)
    assert (done.returncode, done.stderr) == (0, "")
    assert format_help(get(q.dialect)) == done.stdout
