"""qdrive verify against a real QEMU 7.2 started by the test (through qemu.qmp)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

import qdrive
from tests.clirun import run
from tests.compat import oracle

pytestmark = [pytest.mark.live, pytest.mark.skipif(
    shutil.which(oracle.QEMU) is None,
    reason="qemu-system-x86_64 not installed (make test installs it when run as root)")]

DRIVES = ["file=disk.img,format=raw,if=virtio,cache=none,aio=native,detect-zeroes=on",
          "file=cd.iso,format=raw,media=cdrom,if=ide,index=2",
          "file=disk.qcow2,format=qcow2,if=none,id=spare,node-name=spare-fmt,read-only=on,"
          "bps=1048576"]


def test_verify_agrees_with_the_vm_it_predicted(images: Path) -> None:
    vm = oracle.Running(DRIVES, images)
    with vm:
        sock = vm.sock
        p = run("verify", "--qmp", sock, *DRIVES, cwd=images)
        assert p.returncode == 0, p.stdout + p.stderr
        assert p.stdout == ("3 drives verified: the running QEMU reports what qdrive "
                            "predicted\n")
        j = run("verify", "--json", "--qmp", sock, *DRIVES, cwd=images)
        assert json.loads(j.stdout) == {"schema_version": 1, "ok": True, "mismatches": []}


def test_verify_prints_each_mismatch(images: Path) -> None:
    started = ["file=disk.img,format=raw,if=virtio,cache=writeback",
               "file=cd.iso,format=raw,media=cdrom,if=ide,index=2"]
    believed = ["file=disk.img,format=raw,if=virtio,cache=none,detect-zeroes=on",
                "file=cd.iso,format=raw,media=cdrom,if=ide,index=3"]
    vm = oracle.Running(started, images)
    with vm:
        p = run("verify", "--qmp", vm.sock, *believed, cwd=images)
    assert p.returncode == 1
    assert p.stdout.splitlines() == [
        'mismatch  virtio0: cache: qdrive predicted {"direct": true, "no-flush": false, '
        '"writeback": true}, QEMU reports {"direct": false, "no-flush": false, '
        '"writeback": true}',
        'mismatch  virtio0: detect_zeroes: qdrive predicted "on", QEMU reports "off"',
        'mismatch  ide1-cd1: device: qdrive predicted "present", QEMU reports "missing"',
        'mismatch  ide1-cd0: device: qdrive predicted "missing", QEMU reports "present"',
        "2 drives verified: 4 mismatch(es)"]


def test_verify_api_on_a_qmp_client(images: Path) -> None:
    from qemu.qmp import QMPClient

    result = qdrive.check(DRIVES[:1], probe_files=False)

    async def ask(sock: str) -> list[qdrive.Mismatch]:
        client = QMPClient("test")
        await client.connect(sock)
        try:
            return await qdrive.verify(client, result)
        finally:
            await client.disconnect()

    vm = oracle.Running(DRIVES[:1], images)
    with vm:
        assert asyncio.run(ask(vm.sock)) == []


def test_verify_usage_errors(images: Path, tmp_path: Path) -> None:
    p = run("verify", "--qmp", str(tmp_path / "nothing.sock"), "file=disk.img,format=raw",
            cwd=images)
    assert p.returncode == 2 and p.stderr.startswith("qdrive: cannot connect to QMP at ")
    refused = run("verify", "--qmp", str(tmp_path / "x"), "file=disk.img,format=raw,cache=x",
                  cwd=images)
    assert refused.returncode == 2 and "refused by QEMU's rules" in refused.stderr


def test_the_launcher_example_runs(tmp_path: Path) -> None:
    import subprocess
    import sys

    example = Path(__file__).resolve().parents[2] / "examples" / "launcher.py"
    p = subprocess.run([sys.executable, str(example), str(tmp_path)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout == "2 drives started, 0 mismatches\n"
    assert (tmp_path / "disk.img").stat().st_size == 64 << 20
