"""Make the qemu-chroot trees answer like an ordinary install of their Debian release.

    python -m tests.compat.chroots [--check]

../shared/tools/qemu-chroot installs ``qemu-system-x86 qemu-utils`` with
``--no-install-recommends`` into a debootstrap ``minbase`` tree. What a user's
Debian 13 or sid install has is then missing, and each changes QEMU's verdicts:

* ``qemu-block-extra`` (a Recommends of qemu-system-x86 in Debian 12, 13 and sid, and
  installed beside Debian 12's 7.2 here): without it the curl, iSCSI, NFS, ssh, rbd and
  gluster drivers are absent and ``file=http://...`` gets ``Must specify either driver
  or file`` after a hint to install the package, where 7.2 tries to connect;
* ``qemu-system-modules-spice`` and ``qemu-system-modules-opengl`` (Recommends of
  qemu-system-x86 in Debian 13 and sid): without them qxl, qxl-vga, virtio-vga-gl and
  virtio-gpu-gl are "not a valid device model name" (grammar/qemu-*/device-models.json
  lists what the binary offers with them);
* ``/etc/hosts`` (minbase writes none): ``localhost`` does not resolve, so an nbd or
  ssh server named ``localhost`` fails with ``address resolution failed``;
* sysfs on ``/sys`` (qemu-chroot mounts /dev and /proc only): libblkio's io_uring
  driver reads a block device's queue limits under /sys/dev/block/, so
  ``driver=io_uring,filename=DEV`` got ``blkio_connect failed: No such file or
  directory`` where a host with /sys (every ordinary install) opens the device.

``prepare()`` installs the packages (the chroot's own apt-get, the QEMU version's
build), writes the Debian default /etc/hosts and mounts sysfs when they are missing;
``--check`` only reports. Root only; nothing outside /srv/<suite> is touched.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from . import oracle

HOSTS = "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"
PACKAGES = ("qemu-block-extra", "qemu-system-modules-spice", "qemu-system-modules-opengl")


def problems(qemu: oracle.Qemu) -> list[str]:
    """What differs from an ordinary install in this QEMU's tree (nothing for 7.2)."""
    root = qemu.chroot
    if root is None:
        return []
    out = []
    for pkg in PACKAGES:
        status = subprocess.run(["chroot", root, "dpkg-query", "-W", "-f=${Status}", pkg],
                                capture_output=True, text=True)
        if "install ok installed" not in status.stdout:
            out.append(f"{pkg} is not installed in {root}")
    hosts = Path(root) / "etc" / "hosts"
    if not hosts.exists() or "localhost" not in hosts.read_text():
        out.append(f"{hosts} does not name localhost")
    if not (Path(root) / "sys" / "dev" / "block").is_dir():
        out.append(f"{root}/sys has no sysfs mounted")
    return out


def prepare(qemu: oracle.Qemu) -> list[str]:
    """Fix what :func:`problems` finds; returns what was done."""
    root = qemu.chroot
    if root is None:
        return []
    done = []
    for problem in problems(qemu):
        if problem.startswith(PACKAGES):
            pkg = problem.split()[0]
            subprocess.run(["chroot", root, "apt-get", "install", "-y", "-qq",
                            "--no-install-recommends", pkg], check=True,
                           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                           stdout=subprocess.DEVNULL)
            done.append(f"installed {pkg} in {root}")
        elif problem.endswith("has no sysfs mounted"):
            subprocess.run(["mount", "-t", "sysfs", "sysfs", f"{root}/sys"], check=True)
            done.append(f"mounted sysfs on {root}/sys")
        else:
            hosts = Path(root) / "etc" / "hosts"
            hosts.write_text(HOSTS + (hosts.read_text() if hosts.exists() else ""))
            done.append(f"wrote {hosts}")
    return done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    status = 0
    for q in oracle.QEMUS.values():
        if not q.available() or q.chroot is None:
            continue
        if args.check or os.geteuid() != 0:
            for p in problems(q):
                print(f"{q.version}: {p}", file=sys.stderr)
                status = 1
        else:
            for line in prepare(q):
                print(f"{q.version}: {line}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
