"""block/blkio.c blkio_open(): the open errors of the libblkio drivers (QEMU 10.0's build).

Debian 13 builds QEMU with libblkio, so its ``-drive format=help`` lists io_uring,
nvme-io_uring, virtio-blk-vfio-pci, virtio-blk-vhost-user and virtio-blk-vhost-vdpa (7.2's
Debian build has none of them). Each is a protocol driver whose open does, in order:
blkio_nvme_io_uring_connect() / blkio_virtio_blk_connect() want a ``path`` option and
BDRV_O_NOCACHE ("cache.direct=off is not supported"; blkio_io_uring_connect() takes the
file name and no such demand), then blkio_connect() asks libblkio to open the path. What
libblkio says about a path was measured with qemu-system-x86_64-10.0 (Debian
1:10.0.13+ds-0+deb13u1, libblkio 1.5): :func:`_connect_error` gives the answers for a path
that is missing, empty, a directory or a regular file; a character device or a socket
may work and is left to the QEMU that opens it. Those answers need the host, so they are
given only when the check may look at the host by name (``host``).
"""

from __future__ import annotations

import os
import stat

from . import hostprobe
from ..diagnostics import Span, Stage, error

__all__ = ["DRIVERS", "blkio_open"]

DRIVERS = frozenset({"io_uring", "nvme-io_uring", "virtio-blk-vfio-pci",
                     "virtio-blk-vhost-user", "virtio-blk-vhost-vdpa"})
_ENOENT = "No such file or directory (os error 2): No such file or directory"
_NO_PATH = "One of path and fd must be set: Invalid argument"


def blkio_open(driver: str, path: str | None, nocache: bool, span: Span, *,
               host: bool) -> None:
    """blkio_open() for ``driver`` with its ``path`` (io_uring: its file name); raises the
    Stop QEMU's open would report. ``nocache`` is BDRV_O_NOCACHE (cache.direct=on)."""
    if driver != "io_uring":
        if path is None:
            raise error("blkio-path", "missing 'path' option", span, Stage.NODE)
        if not nocache:
            raise error("blkio-cache", "cache.direct=off is not supported", span, Stage.NODE,
                        hint="add cache.direct=on (or cache=none): libblkio does direct I/O")
    message = _connect_error(driver, path or "", host)
    if message is not None:
        raise error("blkio-connect", f"blkio_connect failed: {message}", span, Stage.NODE)
    if driver == "io_uring" and host and not hostprobe.io_uring_usable(None):
        # blkio_start() sets up libblkio's io_uring queue: the host refuses the ring
        # (kernel.io_uring_disabled, seccomp) with EPERM; measured with 10.0 and 11.1
        raise error("blkio-start", "blkio_start failed: Operation not permitted (os error 1): "
                    "Operation not permitted", span, Stage.NODE)


def _connect_error(driver: str, path: str, host: bool) -> str | None:
    """What libblkio's connect says of ``path`` (None: it may connect, or unknown)."""
    if not path:
        return _NO_PATH  # io_uring's empty name stops earlier (bdrv_needs_filename)
    if not host:
        return None
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        # virtio-blk-vhost-vdpa: qemu_open() failed, libblkio is given the path and
        # words its own failure to open the vhost-vdpa device
        if driver == "virtio-blk-vhost-vdpa":
            return "Failed to connect to vDPA device path: Input/output error"
        return _ENOENT
    except OSError:
        return None
    return _existing(driver, mode)


def _existing(driver: str, mode: int) -> str | None:
    """libblkio's answer for a path that exists but is not a device it drives."""
    if stat.S_ISCHR(mode) or stat.S_ISSOCK(mode):
        return None  # it may be the device or the socket the driver wants
    is_dir = stat.S_ISDIR(mode)
    if driver == "io_uring":
        return "Is a directory (os error 21): Is a directory" if is_dir else None
    if driver == "nvme-io_uring":
        return "The file must be a character device: Invalid argument"
    if driver == "virtio-blk-vfio-pci":
        # the path names a PCI device's sysfs directory: libblkio looks inside it
        return _ENOENT if is_dir else "Not a directory (os error 20): Not a directory"
    if driver == "virtio-blk-vhost-user":
        return "Connection refused (os error 111): Connection refused"
    # virtio-blk-vhost-vdpa: a directory is refused by qemu_open(O_RDWR), so libblkio
    # gets the path; a regular file is opened and handed over as the device's fd
    if is_dir:
        return "Failed to connect to vDPA device path: Input/output error"
    return "Failed to use to vDPA device fd: Input/output error"


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
