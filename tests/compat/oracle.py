"""Run the real qemu-system-x86_64 on -drive strings and record its verdict.

Accepted = the QMP greeting arrives on the control monitor (the machine was
built, every drive created and claimed); rejected = QEMU exits first. The
message is what QEMU wrote to stderr. Images are made by ``make_images`` in a
scratch directory and drives name them relatively, so fixtures hold no paths.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from pathlib import Path

QEMU = "qemu-system-x86_64"
BASE_ARGS = ["-M", "pc", "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
             "-chardev", "stdio,id=mon0", "-mon", "chardev=mon0,mode=control"]

# name -> (qemu-img format, size); the corpus refers to these names.
IMAGES = {
    "disk.img": ("raw", "1M"), "disk2.img": ("raw", "1M"), "disk.qcow2": ("qcow2", "1M"),
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


def run(drives: list[str] | dict[str, list[str]], cwd: Path,
        timeout: float = 20.0) -> dict[str, object]:
    """One QEMU start; returns {"accepted": bool, "stderr": str}.

    The greeting can come before the board has created its devices, so a case
    counts as accepted only once QEMU has also answered a command after
    qmp_capabilities (by then machine init and every drive are done).
    """
    case = drives if isinstance(drives, dict) else {"drives": drives}
    args = [QEMU, *BASE_ARGS, *qemu_args(case)]
    proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    accepted = _wait_for(proc, b'"QMP"', timeout)
    if accepted:
        try:
            proc.stdin.write(b'{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n')
            proc.stdin.flush()
        except BrokenPipeError:
            accepted = False
        accepted = accepted and _wait_for(proc, b'"status"', timeout)
    if accepted:
        proc.stdin.write(b'{"execute":"quit"}\n')
        proc.stdin.flush()
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return {"accepted": accepted, "stderr": err.decode("utf-8", "replace").rstrip("\n")}


def _wait_for(proc: subprocess.Popen[bytes], marker: bytes, timeout: float) -> bool:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                return False
            buf += chunk
            if marker in buf:
                return True
        elif proc.poll() is not None:
            return False
    return False


class Running:
    """A QEMU started on drives and left running (``with Running(drives, cwd) as pid``)."""

    def __init__(self, drives: list[str], cwd: Path) -> None:
        args = [QEMU, *BASE_ARGS]
        for d in drives:
            args += ["-drive", d]
        self.proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def __enter__(self) -> int:
        assert self.proc.stdin is not None
        if not _wait_for(self.proc, b'"QMP"', 20):
            raise RuntimeError(self._stop())
        self.proc.stdin.write(b'{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n')
        self.proc.stdin.flush()
        if not _wait_for(self.proc, b'"status"', 20):
            raise RuntimeError(self._stop())
        return self.proc.pid

    def _stop(self) -> str:
        self.proc.kill()
        _, err = self.proc.communicate()
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
