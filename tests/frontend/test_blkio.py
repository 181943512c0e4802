"""Each release dialect reads its own driver tables; 10.0's libblkio drivers open as
block/blkio.c does (messages measured with qemu-system-x86_64-10.0, Debian 13)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import qdrive
from qdrive.frontend import drivers

NOT_SUPPORTED = "cache.direct=off is not supported"
ENOENT = "blkio_connect failed: No such file or directory (os error 2): No such file or directory"


def _error(text: str, name: str, probe: bool = False) -> str:
    r = qdrive.check(text, dialect=name, probe_files=probe)
    err = r.drives[0].error
    return "" if err is None else err.message


def test_each_dialect_reads_its_own_tables() -> None:
    assert drivers.current() == "qemu-7.2"  # outside a walk: the default dialect's
    with drivers.reading_for(qdrive.dialect.get("qemu-10.0")):
        assert drivers.current() == "qemu-10.0"
        assert "io_uring" in drivers.known()
        info = drivers.driver("virtio-blk-vhost-user")
        assert info is not None and info.protocol and "path" in info.kinds
    with drivers.reading_for(qdrive.dialect.get("qemu-11.1")):
        assert "gluster" not in drivers.known() and drivers.driver("gluster") is None
        assert "gluster" not in drivers.protocols().values()
    assert "io_uring" not in drivers.known() and "gluster" in drivers.known()


@pytest.mark.parametrize("name", ["qemu-10.0", "qemu-11.1"])
def test_blkio_drivers_are_known_after_7_2(name: str) -> None:
    text = "driver=virtio-blk-vfio-pci,path=x"
    assert _error(text, "qemu-7.2") == "Unknown driver 'virtio-blk-vfio-pci'"
    assert _error(text, name) == NOT_SUPPORTED


def test_gluster_is_gone_in_11_1() -> None:
    assert _error("driver=gluster,path=img", "qemu-11.1") == "Unknown driver 'gluster'"
    assert _error("driver=gluster,path=img", "qemu-10.0") != "Unknown driver 'gluster'"


@pytest.mark.parametrize(("text", "message"), [
    ("driver=nvme-io_uring", "missing 'path' option"),
    ("driver=virtio-blk-vhost-user,cache.direct=on", "missing 'path' option"),
    ("driver=virtio-blk-vhost-vdpa,path=/dev/x", NOT_SUPPORTED),
    ("driver=nvme-io_uring,path=x,cache=writeback", NOT_SUPPORTED),
    ("driver=virtio-blk-vhost-vdpa,path=,cache=none",
     "blkio_connect failed: One of path and fd must be set: Invalid argument"),
    # the demand comes from the open, before the leftover-option check
    ("driver=nvme-io_uring,path=x,serial=abc", NOT_SUPPORTED),
])
def test_blkio_open_from_the_string(text: str, message: str) -> None:
    assert _error(text, "qemu-10.0") == message


@pytest.mark.parametrize(("driver", "what", "message"), [
    ("io_uring", "missing", ENOENT),
    ("io_uring", "file", ""),
    ("io_uring", "dir", "blkio_connect failed: Is a directory (os error 21): Is a directory"),
    ("nvme-io_uring", "missing", ENOENT),
    ("nvme-io_uring", "file",
     "blkio_connect failed: The file must be a character device: Invalid argument"),
    ("virtio-blk-vfio-pci", "file",
     "blkio_connect failed: Not a directory (os error 20): Not a directory"),
    ("virtio-blk-vfio-pci", "dir", ENOENT),
    ("virtio-blk-vhost-user", "missing", ENOENT),
    ("virtio-blk-vhost-user", "file",
     "blkio_connect failed: Connection refused (os error 111): Connection refused"),
    ("virtio-blk-vhost-vdpa", "missing",
     "blkio_connect failed: Failed to connect to vDPA device path: Input/output error"),
    ("virtio-blk-vhost-vdpa", "file",
     "blkio_connect failed: Failed to use to vDPA device fd: Input/output error"),
])
def test_blkio_connect_on_the_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   driver: str, what: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_bytes(b"\0" * 4096)
    os.mkdir(tmp_path / "dir")
    key = "filename" if driver == "io_uring" else "path"
    text = f"driver={driver},{key}={what},cache.direct=on"
    assert _error(text, "qemu-10.0", probe=True) == message
    # without looking at the host only the string's own errors are given
    assert _error(text, "qemu-10.0") == ""


def test_dmg_module_notices_are_debian_12s(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from qdrive.frontend import formats

    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.img").write_bytes(b"\0" * 4096)
    empty = tmp_path / "modules"
    empty.mkdir()
    monkeypatch.setattr(formats, "MODULE_DIR", str(empty))  # neither module installed
    for name, notices in (("qemu-7.2", 2), ("qemu-10.0", 0), ("qemu-11.1", 0)):
        r = qdrive.check("file=d.img,format=dmg,if=none", dialect=name, probe_files=True)
        got = [w.message for w in r.drives[0].warnings if "module block-block-dmg" in w.message]
        assert len(got) == notices, name
        assert r.drives[0].error is not None
        assert r.drives[0].error.message == "Could not locate UDIF trailer in dmg file"


@pytest.mark.parametrize(("text", "message"), [
    # block/rbd.c qemu_rbd_parse_filename(): every release (measured with 7.2 and 11.1)
    ("file=rbd:", "Pool name is required"),
    ("file=rbd:pool", "Pool name is required"),
    ("file=rbd:p/i:key", "conf option key has no value"),
])
@pytest.mark.parametrize("name", ["qemu-7.2", "qemu-10.0", "qemu-11.1"])
def test_rbd_file_name(name: str, text: str, message: str) -> None:
    assert _error(text, name) == message


def test_rbd_conf_keys_sids_librados_refuses() -> None:
    text = r"file=rbd:p/i:id=x:auth_supported=cephx\;none:mon_host=127.0.0.1"
    assert _error(text, "qemu-11.1") == \
        "invalid conf option auth_supported: No such file or directory"
    assert _error(text, "qemu-10.0") == ""  # its librados takes the key and connects
    # an escaped colon belongs to the value, not to a next key
    assert _error(r"file=rbd:p/i:mon_host=a\:auth_supported", "qemu-11.1") == ""


def test_device_models_are_the_dialects() -> None:
    from qdrive.frontend import devices

    def has(model: str, name: str) -> bool:
        with drivers.reading_for(qdrive.dialect.get(name)):
            return devices.model_info(model) is not None

    # pvrdma went in QEMU 9.1 (hw/rdma removed); each table is its binary's -device help
    assert has("pvrdma", "qemu-7.2") and not has("pvrdma", "qemu-10.0")
    assert not has("pvrdma", "qemu-11.1")
    assert has("virtio-blk-pci", "qemu-10.0") and has("virtio-blk", "qemu-11.1")  # alias
    argv = ["qemu-system-x86_64", "-device", "pvrdma"]
    assert qdrive.check_argv(argv, False, None, "qemu-10.0").qemu_stderr() == (
        "qemu-system-x86_64: -device pvrdma: 'pvrdma' is not a valid device model name")
