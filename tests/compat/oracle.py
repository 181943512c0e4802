"""Run the real qemu-system-x86_64 on drives and record its verdict, via qemu.qmp.

QEMU connects to a QMP server of ours (``-qmp unix:SOCK``). Accepted = the QMP
session is established *and* QEMU answers ``query-status`` (the greeting alone
can come before the board has created its devices); rejected = QEMU exits
first, and its stderr holds the message. For an accepted case the facts of
``query-block`` and the QOM type of each attached device are recorded. Images
are made by ``make_images`` in a scratch directory and drives name them
relatively, so fixtures hold no paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

QEMU = "qemu-system-x86_64"
BASE_ARGS = ["-M", "pc", "-accel", "tcg", "-nodefaults", "-display", "none", "-S"]
# query-block "inserted" keys recorded as facts (throttle limits, cache, ...).
THROTTLE_FACTS = ("bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr", "bps_max",
                  "bps_rd_max", "bps_wr_max", "iops_max", "iops_rd_max", "iops_wr_max",
                  "iops_size")

# name -> (qemu-img format, size); the corpus refers to these names.
IMAGES = {
    "disk.img": ("raw", "1M"), "disk2.img": ("raw", "1M"), "disk3.img": ("raw", "1M"),
    "disk4.img": ("raw", "1M"), "disk.qcow2": ("qcow2", "1M"),
    "cd.iso": ("raw", "1M"), "a,b.img": ("raw", "1M"), "sp ace.img": ("raw", "1M"),
    "a=b.img": ("raw", "1M"), "fd.img": ("raw", "1440K"),
}


def have_qemu() -> bool:
    return shutil.which(QEMU) is not None and shutil.which("qemu-img") is not None


def make_images(where: Path) -> None:
    """Create the corpus images (qemu-img when present, else sparse raw files)."""
    for name, (fmt, size) in IMAGES.items():
        path = where / name
        if path.exists():
            continue
        if shutil.which("qemu-img"):
            subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(path), size], check=True)
        elif fmt == "raw":
            with open(path, "wb") as f:
                f.truncate(1 << 20)
        else:  # a minimal qcow2 header is enough for the probe
            with open(path, "wb") as f:
                f.write(b"QFI\xfb\x00\x00\x00\x03" + bytes(504))


def qemu_args(case: dict[str, list[str]]) -> list[str]:
    """QEMU arguments for a corpus case: {"drives": [...]} or {"argv": [...]}."""
    if "argv" in case:
        return list(case["argv"])
    return [a for d in case["drives"] for a in ("-drive", d)]


def run(case: list[str] | dict[str, list[str]], cwd: Path,
        timeout: float = 20.0) -> dict[str, object]:
    """One QEMU start: {"accepted", "stderr", "devices"} (devices only when accepted)."""
    if not isinstance(case, dict):
        case = {"drives": case}
    logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)  # EOF at quit is expected
    return asyncio.run(_run(qemu_args(case), cwd, timeout))


async def _run(args: list[str], cwd: Path, timeout: float) -> dict[str, object]:
    from qemu.qmp import QMPClient

    with tempfile.TemporaryDirectory(prefix="qdrive-qmp-") as tmp:
        sock = os.path.join(tmp, "qmp.sock")
        client = QMPClient("qdrive-oracle")
        await client.start_server(sock)
        proc = await asyncio.create_subprocess_exec(
            QEMU, *BASE_ARGS, "-qmp", f"unix:{sock}", *args, cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        try:
            devices = await asyncio.wait_for(_session(client, proc), timeout)
        except (TimeoutError, Exception):  # noqa: BLE001 - any failure = rejected
            devices = None
        finally:
            with contextlib.suppress(ProcessLookupError):
                if proc.returncode is None:
                    proc.kill()
            assert proc.stderr is not None
            err = await proc.stderr.read()
            await proc.wait()
            with contextlib.suppress(Exception):
                await client.disconnect()
    out: dict[str, object] = {"accepted": devices is not None,
                              "stderr": err.decode("utf-8", "replace").rstrip("\n")}
    if devices is not None:
        out["devices"] = devices
    return out


async def _session(client: Any, proc: asyncio.subprocess.Process) -> list[dict[str, Any]]:
    accept = asyncio.ensure_future(client.accept())
    died = asyncio.ensure_future(proc.wait())
    done, _ = await asyncio.wait({accept, died}, return_when=asyncio.FIRST_COMPLETED)
    if accept not in done:
        accept.cancel()
        raise RuntimeError("QEMU exited before the QMP session")
    accept.result()
    died.cancel()
    await client.execute("query-status")
    devices = [await _facts(client, b) for b in await client.execute("query-block")]
    with contextlib.suppress(Exception):
        await client.execute("quit")
    return devices


async def _facts(client: Any, block: dict[str, Any]) -> dict[str, Any]:
    """The facts qdrive predicts, from one query-block entry (and qom-get for the device)."""
    facts: dict[str, Any] = {"device": block["device"], "removable": block["removable"]}
    if block.get("qdev"):
        facts["type"] = await client.execute("qom-get", {"path": block["qdev"],
                                                         "property": "type"})
    inserted = block.get("inserted")
    if inserted is not None:
        facts.update(ro=inserted["ro"], drv=inserted["drv"], cache=inserted["cache"],
                     detect_zeroes=inserted["detect_zeroes"],
                     throttle={k: inserted[k] for k in THROTTLE_FACTS if inserted.get(k)})
    return facts


class Running:
    """A QEMU started on drives and left running (``with Running(drives, cwd) as pid``)."""

    def __init__(self, drives: list[str], cwd: Path) -> None:
        self.dir = tempfile.mkdtemp(prefix="qdrive-run-")
        ready = os.path.join(self.dir, "ready")
        args = [QEMU, *BASE_ARGS, "-qmp", f"unix:{ready},server=on,wait=off",
                *qemu_args({"drives": drives})]
        self.proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.sock = ready

    def __enter__(self) -> int:
        from qemu.qmp.legacy import QEMUMonitorProtocol

        for _ in range(200):  # the socket appears once QEMU has parsed its options
            if os.path.exists(self.sock) or self.proc.poll() is not None:
                break
            subprocess.run(["sleep", "0.05"], check=False)
        if self.proc.poll() is not None:
            raise RuntimeError(self._stop())
        mon = QEMUMonitorProtocol(self.sock)
        mon.connect()
        mon.cmd("query-status")  # answered only once machine init is done
        mon.close()
        return self.proc.pid

    def _stop(self) -> str:
        self.proc.kill()
        _, err = self.proc.communicate()
        shutil.rmtree(self.dir, ignore_errors=True)
        return err.decode("utf-8", "replace")

    def __exit__(self, *exc: object) -> None:
        self._stop()


def fd_flags(pid: int, path: Path) -> list[int]:
    """open() flags of every descriptor of ``pid`` that refers to ``path`` (/proc/PID/fdinfo)."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target == str(path):
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("flags:"):
                        out.append(int(line.split()[1], 8))
    return out
