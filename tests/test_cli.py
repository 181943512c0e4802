"""The command line, driven as a subprocess: output, JSON and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qdrive", *args], capture_output=True,
                          text=True, cwd=cwd, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"})


def test_valid_drive(images: Path) -> None:
    p = run("check", "file=disk.img,format=raw,if=virtio", cwd=images)
    assert p.returncode == 0
    assert p.stdout == ("ok  -drive file=disk.img,format=raw,if=virtio  ->  virtio0 "
                        "(if=virtio, bus=0, unit=0)\n")


def test_invalid_drive_golden(images: Path) -> None:
    p = run("check", "file=disk.img,format=raw,aio=native", cwd=images)
    assert p.returncode == 1
    assert p.stdout == (
        "qdrive: -drive file=disk.img,format=raw,aio=native: aio=native was specified, but it "
        "requires cache.direct=on, which was not specified.\n"
        + " " * 40 + "^~~~~~~~~~\n"
        "hint: try cache=none (or cache.direct=on)\n")


def test_json(images: Path) -> None:
    p = run("check", "--json", "file=disk.img,format=raw", "file=missing.img,format=raw",
            cwd=images)
    assert p.returncode == 1
    j = json.loads(p.stdout)
    assert j["ok"] is False
    assert j["drives"][1]["error"] == {
        "message": "Could not open 'missing.img': No such file or directory", "start": 0,
        "end": 16}


def test_usage_error_exit_2() -> None:
    assert run("check").returncode == 2
    assert run("check", "--dialect", "nope", "file=x").returncode == 2


def test_demo_runs() -> None:
    p = run("demo")
    assert p.returncode == 0
    assert "example 1" in p.stdout and "invalid cache option" in p.stdout
    assert "Traceback" not in p.stdout + p.stderr
