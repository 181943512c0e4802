"""The check-to-launch gap, shown with the real QEMU 7.2: swap the names after the check.

A qcow2 image and its raw backing file are checked; then the attacker renames both and
puts symlinks to host files in their place. Started through the descriptor hand-off,
QEMU still reads the checked inodes (its /proc/PID/fd and the guest's view of the data
say so, and strace sees no open outside); started by name, it reads the host's files.
``python -m tests.security.handoff_demo`` prints the demonstration.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import attrs

import qdrive
from tests.security import harness

DRIVE = "file=top.qcow2,format=qcow2,if=virtio"


@attrs.frozen
class Seen:
    """What one QEMU start shows."""

    argv: tuple[str, ...]
    block: str  # query-block: the top image and its backing file, as QEMU names them
    fds: tuple[tuple[str, tuple[int, int]], ...]  # its image descriptors: path, (dev, ino)
    guest_reads: bytes  # the first 16 bytes of the virtual disk (they come from the backing)
    violations: tuple[str, ...]


@attrs.frozen
class Demo:
    checked: tuple[tuple[str, tuple[int, int]], ...]  # name -> (dev, ino) when checked
    handed: Seen
    named: Seen

    def render(self) -> str:
        lines = ["checked:"]
        lines += [f"  {name}: inode {ino[1]}" for name, ino in self.checked]
        lines.append("swapped after the check: top.qcow2 -> outside/evil.qcow2 (backed by "
                     "outside/secret.img), base.img -> outside/secret.img")
        for title, seen in (("through the hand-off", self.handed), ("by name", self.named)):
            lines.append(f"{title}: qemu-system-x86_64 ... {' '.join(seen.argv)}")
            lines.append(f"  query-block: {seen.block}")
            lines += [f"  /proc/PID/fd: {p} (inode {i[1]})" for p, i in seen.fds]
            lines.append(f"  the guest reads: {seen.guest_reads!r}")
            lines.append(f"  strace: {len(seen.violations)} opens outside"
                         + "".join(f"\n    {v[:160]}" for v in seen.violations))
        return "\n".join(lines)


def _probe(images: Path, outside: Path) -> Any:
    def probe(mon: Any, pid: int | None) -> tuple[str, list[tuple[str, tuple[int, int]]]]:
        assert pid is not None
        (dev,) = mon.cmd("query-block")
        image = dev["inserted"]["image"]
        block = f"{image['filename'][:70]} backed by {dev['inserted'].get('backing_file')}"
        fds = []
        for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
            path = os.readlink(f"/proc/{pid}/fd/{fd}")
            if path.startswith((str(images), str(outside))):
                st = os.stat(f"/proc/{pid}/fd/{fd}")
                fds.append((path, (st.st_dev, st.st_ino)))
        # The guest's view of the first bytes (QEMU prints qemu-io's dump on its stdout).
        mon.cmd("human-monitor-command", **{"command-line": 'qemu-io virtio0 "read -v 0 16"'})
        return block, fds

    return probe


def _seen(run: harness.Run) -> Seen:
    assert run.accepted, run.stderr
    assert isinstance(run.probed, tuple)
    block, fds = run.probed
    line = next(x for x in run.stdout.splitlines() if x.startswith("00000000:"))
    data = bytes.fromhex(line.split(":", 1)[1].split("  ")[1].replace(" ", ""))
    argv = run.argv[len(harness.BASE) + 3:]
    return Seen(argv, block, tuple(fds), data, run.violations)


def _image(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.truncate(1 << 20)
        f.write(data.ljust(16, b"."))


def demonstrate(root: Path, mode: str = "fdset") -> Demo:
    images, outside, elsewhere = root / "images", root / "outside", root / "elsewhere"
    for d in (images, outside, elsewhere):
        d.mkdir()
    _image(images / "base.img", b"CHECKED BASE")
    _image(outside / "secret.img", b"HOST SECRET")
    for where, base in ((images / "top.qcow2", "base.img"),
                        (outside / "evil.qcow2", str(outside / "secret.img"))):
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw",
                        str(where), "1M"], check=True)
    policy = qdrive.Policy.untrusted([str(images)], cwd=str(images))
    result = qdrive.check(DRIVE, policy=policy, hand_off=mode)
    assert result.ok and result.hand_off is not None
    with result.hand_off as h:
        checked = tuple((f.name, (f.st.st_dev, f.st.st_ino)) for f in h.files)
        # The attacker moves the checked files away and plants links to host files.
        os.rename(images / "top.qcow2", images / "top.qcow2.checked")
        os.symlink(outside / "evil.qcow2", images / "top.qcow2")
        os.rename(images / "base.img", images / "base.img.checked")
        os.symlink(outside / "secret.img", images / "base.img")
        probe = _probe(images, outside)
        handed = harness.run(list(h.argv), elsewhere, [str(images)], pass_fds=h.pass_fds,
                             probe=probe)
    named = harness.run(["-drive", DRIVE], images, [str(images)], probe=probe)
    return Demo(checked, _seen(handed), _seen(named))


def main() -> int:
    why = harness.have_tools()
    if why:
        print(f"handoff_demo: {why}", file=sys.stderr)
        return 2
    for mode in ("fdset", "proc"):
        with tempfile.TemporaryDirectory(prefix="qdrive-handoff-") as tmp:
            print(f"== hand_off={mode!r}")
            print(demonstrate(Path(tmp), mode).render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
