"""A small launcher: checked drives -> QEMU's argv -> a running VM -> verified.

    python examples/launcher.py [DIR]

Creates DIR/disk.img (64 MiB) and DIR/seed.iso if they are missing, builds the drives
with qdrive.drive(), lets qdrive.check() judge them as QEMU would (and raise with QEMU's
message if it would refuse them), starts qemu-system-x86_64 paused with to_args(), and
compares what the running QEMU reports with the prediction (qdrive.verify, qemu.qmp).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile

from qemu.qmp import QMPClient

import qdrive


def images(where: str) -> tuple[str, str]:
    disk, iso = os.path.join(where, "disk.img"), os.path.join(where, "seed.iso")
    for path, size in ((disk, 64 << 20), (iso, 1 << 20)):
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.truncate(size)
    return disk, iso


async def launch(where: str) -> int:
    disk, iso = images(where)
    result = qdrive.check([
        qdrive.drive(file=disk, format="raw", interface="virtio", cache="none", aio="native",
                     discard="unmap", detect_zeroes="unmap"),
        qdrive.drive(file=iso, format="raw", media="cdrom"),
    ])
    result.raise_for_error()  # a DriveError with QEMU's message and a caret
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "qmp.sock")
        client = QMPClient("launcher")
        await client.start_server(sock)
        qemu = await asyncio.create_subprocess_exec(
            "qemu-system-x86_64", "-nodefaults", "-display", "none", "-S", "-accel", "tcg",
            "-qmp", f"unix:{sock}", *result.to_args())
        try:
            await client.accept()
            mismatches = await qdrive.verify(client, result)
        finally:
            # Disconnect first, then stop QEMU: a QMP "quit" would race its EOF with
            # disconnect(), which then raises the EOFError.
            await client.disconnect()
            qemu.terminate()
            await qemu.wait()
    for m in mismatches:
        print(f"mismatch: {m}")
    print(f"{len(result.drives)} drives started, {len(mismatches)} mismatches")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(launch(sys.argv[1] if len(sys.argv) > 1 else ".")))
