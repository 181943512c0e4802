"""What QEMU 10.0 and 11.1 say differently from 7.2, each difference read off the Dialect
(qdrive/dialect.py; the list with the QEMU change behind each is grammar/qemu-versions.md).
The messages were measured with qemu-system-x86_64-10.0 and -11.1 (the Debian 13 and sid
builds, tests/compat/chroots.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import qdrive


def _stderr(text: str, name: str, **options: object) -> str:
    return qdrive.check(text, dialect=name, **options).qemu_stderr("qemu-system-x86_64")


@pytest.mark.parametrize(("name", "message"), [
    ("qemu-7.2", "Failed to open {}: No such file or directory"),
    ("qemu-10.0", "Failed to open {}: No such file or directory"),
    ("qemu-11.1", "Could not open '{}': No such file or directory"),
])
def test_nvme_vfio_container_wording(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     name: str, message: str) -> None:
    from qdrive.frontend import hostprobe

    missing = str(tmp_path / "no-vfio")
    monkeypatch.setattr(hostprobe, "VFIO_CONTAINER", missing)
    text = "driver=nvme,device=0000:00:04.0,namespace=1"
    assert _stderr(text, name) == \
        f"qemu-system-x86_64: -drive {text}: {message.format(missing)}"


# -- 10.0: aio=io_uring where the host refuses a ring ------------------------------------

FALLBACK = ("Unable to use linux io_uring, falling back to thread pool: failed to init "
            "linux io_uring ring: Operation not permitted")


@pytest.fixture
def refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # kernel.io_uring_disabled=2 (or a seccomp filter returning EPERM), for qdrive's probe
    from qdrive.frontend import hostprobe

    monkeypatch.setattr(hostprobe, "io_uring_refusal", lambda user: "Operation not permitted")


def _at(text: str) -> str:
    return f"qemu-system-x86_64: -drive {text}: {FALLBACK}"


BARE = f"qemu-system-x86_64: {FALLBACK}"
PROBED_RAW = ("WARNING: Image format was not specified for 'disk.img' and probing guessed raw.\n"
              "         Automatically detecting the format is dangerous for raw images, "
              "write operations on block 0 will be restricted.\n"
              "         Specify the 'raw' format explicitly to remove the restrictions.")


# Each as qemu-system-x86_64-10.0 printed it, the ring refused by a seccomp filter
@pytest.mark.parametrize(("drives", "lines"), [
    # raw reads nothing at its open: the virtio-blk device's geometry read is the first
    (["file=disk.img,format=raw,if=virtio,aio=io_uring"], ["@0"]),
    (["file=disk.img,format=raw,if=virtio,aio=io_uring,read-only=on"], ["@0"]),
    # with O_DIRECT that 512-byte read goes through the thread pool
    (["file=disk.img,format=raw,if=virtio,aio=io_uring,cache=none"], []),
    # no device, no request; an empty image has no sector to read
    (["file=disk.img,format=raw,if=none,aio=io_uring"], []),
    (["file=gen-empty.img,format=raw,if=virtio,aio=io_uring"], []),
    (["file=cd.iso,format=raw,if=ide,media=cdrom,aio=io_uring"], []),
    (["file=fd.img,format=raw,if=floppy,aio=io_uring"], []),
    # the probe reads, before raw's warning; a format's open reads its header
    (["file=disk.img,if=none,aio=io_uring"], ["@0", PROBED_RAW]),
    (["file=disk.img,if=none,aio=io_uring,cache=none"], [PROBED_RAW]),
    (["file=disk.qcow2,format=qcow2,if=none,aio=io_uring"], ["@0"]),
    (["file=disk.qcow2,format=qcow2,if=virtio,aio=io_uring,cache=none"], []),
    (["file=gen.vdi,format=vdi,if=none,aio=io_uring,cache=none"], ["@0"]),
    # the temporary overlay's file node inherits aio=io_uring: one more node to warn
    (["file=disk.img,format=raw,if=virtio,aio=io_uring,snapshot=on"], ["@0", "@0"]),
    (["file=disk.img,format=raw,if=none,aio=io_uring,snapshot=on,cache=none"], ["@0"]),
    # the board's IDE disk is realized at machine init (no location), before -device's
    (["file=disk.img,format=raw,if=virtio,aio=io_uring",
      "file=disk2.img,format=raw,if=ide,aio=io_uring"], [BARE, "@0"]),
])
def test_io_uring_fallback_warns_at_the_first_request(in_images: Path, refused: None,
                                                      drives: list[str],
                                                      lines: list[str]) -> None:
    want = [_at(drives[int(x[1:])]) if x.startswith("@") else x for x in lines]
    assert qdrive.check(drives, dialect="qemu-10.0").qemu_stderr() == "\n".join(want)


def test_io_uring_fallback_of_flash_reads_only_data(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    refused: None) -> None:
    # hw/block/block.c blk_pread_nonzeroes(): a flash image of holes is never read
    monkeypatch.chdir(tmp_path)
    with open("holes.img", "wb") as f:
        f.truncate(65536)
    with open("data.img", "wb") as f:
        f.write(b"\x01" * 4096 + bytes(61440))
    for name, want in (("holes.img", ""), ("data.img", BARE)):
        text = f"file={name},format=raw,if=pflash,aio=io_uring,cache=none"
        assert qdrive.check(text, dialect="qemu-10.0").qemu_stderr() == want, name


@pytest.mark.parametrize("name", ["qemu-7.2", "qemu-11.1"])
def test_io_uring_refused_at_the_open_elsewhere(in_images: Path, refused: None,
                                                monkeypatch: pytest.MonkeyPatch,
                                                name: str) -> None:
    from qdrive.frontend import hostprobe

    monkeypatch.setattr(hostprobe, "io_uring_usable", lambda user: False)
    r = qdrive.check("file=disk.img,format=raw,if=virtio,aio=io_uring", dialect=name)
    assert not r.ok and FALLBACK not in r.qemu_stderr()


# -- seen first where 10.0's options let a drive get further than 7.2's -------------------

CBW = ("driver=copy-before-write,file.driver=raw,file.file.driver=file,"
       "file.file.filename=disk.img,target.driver=file,target.filename=disk4.img")


@pytest.mark.parametrize("name", ["qemu-7.2", "qemu-10.0", "qemu-11.1"])
@pytest.mark.parametrize(("extra", "message"), [
    (",read-only=on", "Block node is read-only"),  # the target cannot be written
    (",snapshot=on,if=none", "Block node is read-only"),  # the overlay's base is read-only
    (",media=cdrom", "Block node is read-only"),
    (",if=none", ""),
])
def test_copy_before_write_on_a_read_only_node(in_images: Path, name: str, extra: str,
                                               message: str) -> None:
    text = CBW + extra
    want = f"qemu-system-x86_64: -drive {text}: {message}" if message else ""
    assert _stderr(text, name) == want


@pytest.mark.parametrize(("argv", "missing"), [
    (["-blockdev", "driver=blkdebug,image=img,node-name=dbg,inject-error.0.event=none,"
      "inject-error.0.delay-ns=1000"], "img"),  # delay-ns: 10.0's blkdebug takes it
    (["-blockdev", "driver=blkverify,raw=a,test=b,node-name=x"], "a"),
    (["-blockdev", "driver=file,filename=disk.img,node-name=a",
      "-blockdev", "driver=blkverify,raw=a,test=b,node-name=x"], "b"),
])
def test_blockdev_children_named_by_reference(in_images: Path, argv: list[str],
                                              missing: str) -> None:
    # block.c bdrv_open_child() -> bdrv_lookup_bs(): every child, not only file
    want = (f"qemu-system-x86_64: -blockdev {argv[-1]}: "
            f"Cannot find device='{missing}' nor node-name='{missing}'")
    assert qdrive.check_argv(argv, dialect="qemu-10.0").qemu_stderr() == want
    ok = ["-blockdev", "driver=file,filename=disk.img,node-name=img",
          "-blockdev", "driver=blkdebug,image=img,node-name=dbg"]
    assert qdrive.check_argv(ok, dialect="qemu-10.0").qemu_stderr() == ""


@pytest.mark.parametrize(("prop", "have"), [
    # iothread-vq-mapping: QEMU 9.0 (as in -device virtio-blk-pci,help of each binary)
    ("iothread-vq-mapping=x", {"qemu-7.2": False, "qemu-10.0": True, "qemu-11.1": True}),
    ("scsi=off", {"qemu-7.2": True, "qemu-10.0": False, "qemu-11.1": False}),
    ("x-disable-pcie=off", {"qemu-7.2": True, "qemu-10.0": True, "qemu-11.1": False}),
    ("stats-intervals=x", {"qemu-7.2": False, "qemu-10.0": False, "qemu-11.1": True}),
])
def test_block_device_properties_per_release(in_images: Path, prop: str,
                                             have: dict[str, bool]) -> None:
    argv = ["-drive", "file=disk.img,format=raw,if=none,id=d0",
            "-device", f"virtio-blk-pci,drive=d0,{prop}"]
    key = prop.partition("=")[0]
    for name, known in have.items():
        out = qdrive.check_argv(argv, dialect=name).qemu_stderr()
        assert (f"Property 'virtio-blk-pci.{key}' not found" not in out) is known, name


@pytest.mark.parametrize(("name", "named"), [
    ("qemu-7.2", ""), ("qemu-10.0", ': "virt"'), ("qemu-11.1", ': "virt"')])
def test_unknown_machine_is_named_after_7_2(name: str, named: str) -> None:
    # system/vl.c select_machine()
    assert qdrive.check_argv(["-M", "virt"], dialect=name).qemu_stderr() == (
        f"qemu-system-x86_64: unsupported machine type{named}\n"
        "Use -machine help to list supported machines")


@pytest.mark.parametrize(("name", "holder"), [
    ("qemu-7.2", "/machine/peripheral-anon/device[1]"),
    ("qemu-10.0", "/machine/peripheral-anon/device[1]/scsi.0/legacy[0]"),
    ("qemu-11.1", "/machine/peripheral-anon/device[1]/scsi.0/legacy[0]"),
])
def test_usb_storage_permissions_are_its_scsi_disks(in_images: Path, name: str,
                                                    holder: str) -> None:
    argv = ["-usb", "-blockdev", "driver=qcow2,node-name=d0,file.driver=file,"
            "file.filename=gen-data.qcow2", "-device", "ide-cd,drive=d0",
            "-device", "usb-storage,drive=d0"]
    assert qdrive.check_argv(argv, dialect=name).qemu_stderr() == (
        "qemu-system-x86_64: -device usb-storage,drive=d0: Permission conflict on node "
        f"'d0': permissions 'write' are both required by block device '{holder}' (uses "
        "node 'd0' as 'root' child) and unshared by block device "
        "'/machine/peripheral-anon/device[0]' (uses node 'd0' as 'root' child).")


@pytest.mark.parametrize(("name", "message"), [
    ("qemu-7.2", "No 'virtio-bus' bus found for device 'virtio-blk-device'"),
    ("qemu-10.0", "No 'virtio-bus' bus found for device 'virtio-blk-device'"),
    ("qemu-11.1", "A 'virtio-bus' bus was found but is full"),
])
def test_only_full_virtio_buses(name: str, message: str) -> None:
    # virtio-scsi-pci's own virtio-bus holds its backend; none is left for the device
    argv = ["-device", "virtio-scsi-pci", "-device", "virtio-blk-device"]
    assert qdrive.check_argv(argv, dialect=name).qemu_stderr() == \
        f"qemu-system-x86_64: -device virtio-blk-device: {message}"
    alone = qdrive.check_argv(["-device", "virtio-blk-device"], dialect=name).qemu_stderr()
    assert alone.endswith("No 'virtio-bus' bus found for device 'virtio-blk-device'")


def test_drive_parse_warning_comes_before_a_removed_machine(in_images: Path) -> None:
    # the short-form boolean warning is printed as the option loop reads -drive; the
    # machine 11.1 removed (pc-i440fx-4.1) is refused by select_machine() after the loop
    drive = "if=pflash,unit=0,format=raw,readonly,file=disk.img"
    argv = ["-drive", drive, "-machine", "type=pc-i440fx-4.1"]
    assert qdrive.check_argv(argv, dialect="qemu-11.1").qemu_stderr() == (
        f"qemu-system-x86_64: -drive {drive}: warning: short-form boolean option "
        "'readonly' deprecated\nPlease use readonly=on instead\n"
        'qemu-system-x86_64: unsupported machine type: "pc-i440fx-4.1"\n'
        "Use -machine help to list supported machines")


@pytest.mark.parametrize("model", ["qxl", "qxl-vga", "virtio-vga-gl"])
def test_display_modules_an_ordinary_install_has(model: str) -> None:
    # Debian 13 and sid's qemu-system-x86 recommend qemu-system-modules-spice/-opengl
    # (tests/compat/chroots.py): their devices are in every release's table
    from qdrive.frontend import devices, drivers

    for name in ("qemu-7.2", "qemu-10.0", "qemu-11.1"):
        with drivers.reading_for(qdrive.dialect.get(name)):
            assert devices.model_info(model) is not None, name


@pytest.mark.parametrize(("name", "refused"), [("qemu-7.2", True), ("qemu-10.0", False),
                                               ("qemu-11.1", False)])
def test_a_nic_model_the_board_lacks(name: str, refused: bool) -> None:
    # 7.2 exits on it; 10.0 and 11.1 leave the NIC uncreated and start (recorded in
    # fixtures/qemu100|qemu111/cmdline-rules.jsonl, rule-nic-*)
    got = qdrive.check_argv(["-nic", "user,model=foo"], probe_files=False, dialect=name)
    assert got.qemu_stderr() == ("qemu-system-x86_64: Unsupported NIC model: foo"
                                 if refused else "")


@pytest.mark.parametrize("name", ["qemu-7.2", "qemu-10.0", "qemu-11.1"])
def test_each_release_knows_its_other_devices_properties(name: str) -> None:
    # grammar/qemu-X.Y/device-properties.json, derived from each binary
    argv = ["-device", "virtio-balloon-pci,id=b,adr=0x4"]
    assert qdrive.check_argv(argv, probe_files=False, dialect=name).qemu_stderr() == (
        "qemu-system-x86_64: -device virtio-balloon-pci,id=b,adr=0x4: Property "
        "'virtio-balloon-pci.adr' not found")
