"""qdrive.dialect: one frozen Dialect per dialect, and what each override changes."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

import qdrive
from qdrive import dialect
from qdrive._values import SizeSyntax, ValueProblem, parse_size
from qdrive.model import DIALECTS

RELEASES = ("qemu-7.2", "qemu-10.0", "qemu-11.1")


def _error(text: str, name: str) -> str:
    r = qdrive.check(text, dialect=name, probe_files=False)
    err = r.drives[0].error
    return "" if err is None else err.message


def test_registry_is_the_models_list_and_frozen() -> None:
    assert tuple(dialect.REGISTRY) == DIALECTS
    assert dialect.DEFAULT is dialect.get("qemu-7.2")
    d = dialect.get("qemu-10.0")
    assert dialect.get(d) is d and str(d) == "qemu-10.0"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        d.name = "x"  # type: ignore[misc]
    with pytest.raises(qdrive.UnsupportedDialect, match="qdrive knows qemu-7.2, qemu-10.0"):
        dialect.get("qemu-9.9")


def test_versions_and_the_legacy_dialect() -> None:
    assert [dialect.get(n).version for n in RELEASES] == [(7, 2), (10, 0), (11, 1)]
    assert [dialect.get(n).machine_version for n in RELEASES] == ["7.2", "10.0", "11.1"]
    old = dialect.get("qemu-0.9-sync")
    assert old.legacy and old.version is None and "sync" in old.options
    assert not any(dialect.get(n).legacy for n in RELEASES)
    assert all("sync" not in dialect.get(n).options for n in RELEASES)


@pytest.mark.parametrize("name", RELEASES)
def test_a_drive_carries_its_dialects_name(name: str) -> None:
    assert qdrive.parse_drive("file=a.img,format=raw", dialect=name).dialect == name
    assert qdrive.check("file=a.img,format=raw", dialect=name, probe_files=False).dialect == name


def test_size_syntax() -> None:
    assert parse_size("size", "0x1k") == (1024, "Using a multiplier suffix on hex numbers is "
                                          "deprecated: 0x1k")
    with pytest.raises(ValueProblem, match="expects a non-negative number below 2"):
        parse_size("size", "0x1k", SizeSyntax.STRICT)
    with pytest.raises(ValueProblem, match="expects a non-negative number below 2"):
        parse_size("size", "-1")
    with pytest.raises(ValueProblem, match="Value '-1' is out of range for parameter 'size'"):
        parse_size("size", "-1", SizeSyntax.STRICT)
    assert parse_size("size", "0x400", SizeSyntax.STRICT) == (1024, "")
    assert _error("file=d.img,format=raw,size=-512", "qemu-10.0") == \
        "Value '-512' is out of range for parameter 'size'"
    assert _error("file=d.img,format=raw,size=-512", "qemu-7.2").startswith(
        "Parameter 'size' expects a non-negative number")


def test_if_xen() -> None:
    assert _error("file=d.img,format=raw,if=xen", "qemu-7.2") == \
        "machine type does not support if=xen,bus=0,unit=0"
    for name in ("qemu-10.0", "qemu-11.1"):
        assert _error("file=d.img,format=raw,if=xen", name) == \
            "No 'xen-bus' bus found for device 'xen-disk'"
        assert _error("file=d.iso,media=cdrom,if=xen", name) == \
            "No 'xen-bus' bus found for device 'xen-cdrom'"


def test_json_errors() -> None:
    text = 'file=json:{"file":{"driver":"file"'
    plain = "Could not parse the JSON options: JSON parse error, premature EOI"
    assert _error(text, "qemu-7.2") == _error(text, "qemu-10.0") == plain
    assert _error(text, "qemu-11.1") == ("Could not parse the JSON options: 1:25: JSON parse "
                                         "error, premature end of input")
    assert _error('file=json:"', "qemu-11.1") == ("Could not parse the JSON options: 1:1: "
                                                  "JSON parse error, stray '\"'")


def test_options_a_release_added() -> None:
    for text, option in (("file=a.qcow2,format=qcow2,discard-no-unref=on", "discard-no-unref"),
                         ("file=b.img,format=raw,active=on", "active")):
        assert f"does not support the option '{option}'" in _error(text, "qemu-7.2")
        assert _error(text, "qemu-10.0") == _error(text, "qemu-11.1") == ""
    assert _error("file=b.img,format=raw,active=x", "qemu-10.0") == \
        "Parameter 'active' expects 'on' or 'off'"
    assert dict(dialect.get("qemu-7.2").options_added("qcow2")) == {}


def test_machine_lifecycle() -> None:
    d10, d11 = dialect.get("qemu-10.0"), dialect.get("qemu-11.1")
    assert [d10.machine_status(m) for m in ("pc-i440fx-2.1", "pc-i440fx-2.12", "pc-q35-7.0",
                                            "pc-q35-7.1", "pc", "q35", "pc-i440fx-x.y")] == [
        "removed", "deprecated", "deprecated", None, None, None, None]
    assert [d11.machine_status(m) for m in ("pc-i440fx-5.1", "pc-i440fx-5.2",
                                            "pc-i440fx-8.2")] == ["removed", "deprecated", None]
    assert dialect.get("qemu-7.2").machine_status("pc-i440fx-2.1") is None
    # versions no QEMU was released as, or after the release's own, are unknown to it
    d72 = dialect.get("qemu-7.2")
    assert [d72.machine_status(m) for m in ("pc-i440fx-3.2", "pc-q35-2.13", "pc-i440fx-8.0",
                                            "pc-q35-4.0.1", "pc-i440fx-4.0.1")] == [
        "removed", "removed", "removed", None, "removed"]
    assert [d10.machine_status(m) for m in ("pc-q35-4.0.1", "pc-i440fx-10.1")] == [
        "deprecated", "removed"]
    argv = ["-machine", "pc-i440fx-5.1", "-drive", "file=d.img,format=raw,if=none"]
    gone = qdrive.check_argv(argv, probe_files=False, dialect="qemu-11.1")
    assert not gone.ok and gone.qemu_stderr() == (
        'qemu-system-x86_64: unsupported machine type: "pc-i440fx-5.1"\n'
        "Use -machine help to list supported machines")
    old = qdrive.check_argv(argv, probe_files=False, dialect="qemu-10.0")
    assert old.ok and old.qemu_stderr().startswith(
        "qemu-system-x86_64: warning: Machine type 'pc-i440fx-5.1' is deprecated")
    assert qdrive.check_argv(argv, probe_files=False).qemu_stderr() == ""
    with pytest.raises(qdrive.UnsupportedDialect):
        qdrive.check_argv(argv, probe_files=False, dialect="qemu-0.9-sync")


def test_removed_device_property() -> None:
    argv = ["-drive", "file=d.img,format=raw,if=none,id=d0", "-device",
            "virtio-blk-pci,drive=d0,scsi=off"]
    assert qdrive.check_argv(argv, probe_files=False).ok
    new = qdrive.check_argv(argv, probe_files=False, dialect="qemu-10.0")
    assert not new.ok and new.qemu_stderr().endswith(
        "-device virtio-blk-pci,drive=d0,scsi=off: Property 'virtio-blk-pci.scsi' not found")


def test_readconfig_errors_are_located_at_the_option(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vm.cfg").write_text('[drive "d0"]\n  file = "a.img"\n\n'
                                     '[drive "1bad"]\n  file = "b.img"\n')
    (tmp_path / "dup.cfg").write_text('[drive "d0"]\n  file = "a.img"\n[drive "d0"]\n')
    old = [qdrive.check_argv(["-readconfig", f]).qemu_stderr() for f in ("vm.cfg", "dup.cfg")]
    new = [qdrive.check_argv(["-readconfig", f], dialect="qemu-11.1").qemu_stderr()
           for f in ("vm.cfg", "dup.cfg")]
    assert [re.sub(r":\d+: ", ":LINE: ", o) for o in old] == [
        "qemu-system-x86_64:vm.cfg:LINE: Parameter 'id' expects an identifier",
        "qemu-system-x86_64:dup.cfg:LINE: Duplicate ID 'd0' for drive"]
    assert new == ["qemu-system-x86_64: -readconfig vm.cfg: Parameter 'id' expects an "
                   "identifier\nIdentifiers consist of letters, digits, '-', '.', '_', "
                   "starting with a letter.",
                   "qemu-system-x86_64: -readconfig dup.cfg: Duplicate ID 'd0' for drive"]


def test_stages_read_the_dialect_not_its_name() -> None:
    from qdrive.block.flags import bdrv_flags
    from qdrive.frontend.blockdev import to_blockdev

    new = qdrive.parse_drive("file=a.img,format=raw,cache=none", dialect="qemu-11.1")
    old = qdrive.parse_drive("file=a.img,format=raw,cache=none", dialect="qemu-7.2")
    assert bdrv_flags(new) == bdrv_flags(old)
    sync = qdrive.parse_drive("file=a.img,cache=off,sync=on", dialect="qemu-0.9-sync")
    assert type(bdrv_flags(sync)).__name__ == "BdrvFlag2008"
    assert not dialect.get("qemu-11.1").translatable
    with pytest.raises(qdrive.QDriveError, match="verified for qemu-7.2 drives only"):
        to_blockdev(new)


def test_error_abort_names_the_source_as_each_build_does() -> None:
    text = "file.driver=null-co,format=raw,file.read-zeroes=ON"
    for name, where in (("qemu-7.2", "../../qapi/qapi-util.c:104:"),
                        ("qemu-10.0", "qapi/qapi-util.c:104:"),
                        ("qemu-11.1", "qapi/qapi-util.c:104:")):
        r = qdrive.check(text, dialect=name, probe_files=True)
        notes = [w.message for w in r.drives[0].warnings if w.code == "abort"]
        assert notes == [f"Unexpected error in qapi_bool_parse() at {where}"], name


def test_blkdebug_config_that_cannot_be_opened(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "disk.img").write_bytes(b"\0" * 4096)
    for text, name in (("file=blkdebug:missing.conf:disk.img", "missing.conf"),
                       ("driver=blkdebug,config=x,image.filename=disk.img", "x")):
        for d, want in (("qemu-7.2", "Could not read blkdebug config file: "),
                        ("qemu-10.0", "Could not read blkdebug config file: "),
                        ("qemu-11.1", f"Could not open '{name}': ")):
            r = qdrive.check(text, dialect=d, probe_files=True)
            err = r.drives[0].error
            assert err is not None and err.message == want + "No such file or directory", d


def test_aio_io_uring_where_the_host_refuses_a_ring(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from qdrive.frontend import hostprobe

    monkeypatch.chdir(tmp_path)
    (tmp_path / "disk.img").write_bytes(b"\0" * 65536)
    monkeypatch.setattr(hostprobe, "io_uring_usable", lambda user: False)
    text = "file=disk.img,format=raw,if=none,aio=io_uring"
    want = {"qemu-7.2": "Unable to use io_uring: failed to init linux io_uring ring",
            "qemu-10.0": None,  # the thread pool takes over at the first request
            "qemu-11.1": "aio=io_uring was specified, but is not available (disabled via "
                         "io_uring_disabled sysctl or blocked by container runtime seccomp "
                         "policy?)"}
    for name, message in want.items():
        err = qdrive.check(text, dialect=name, probe_files=True).drives[0].error
        assert (err.message if err else None) == message, name
    # libblkio's own io_uring queue is refused when it starts (10.0 and 11.1)
    err = qdrive.check("driver=io_uring,filename=disk.img,if=none", dialect="qemu-10.0",
                       probe_files=True).drives[0].error
    assert err is not None and err.message == (
        "blkio_start failed: Operation not permitted (os error 1): Operation not permitted")


def test_snapshot_overlay_over_an_inactive_node() -> None:
    text = "file=disk.img,format=raw,snapshot=on,active=off"
    assert _error(text, "qemu-10.0") == _error(text, "qemu-11.1") == (
        "Inactive '#block' can't be a backing child of active '#block'")
    assert _error("file=disk.img,format=raw,snapshot=on,active=on", "qemu-10.0") == ""
    assert _error("file=disk.img,format=raw,active=off", "qemu-10.0") == ""


@pytest.mark.parametrize("name", RELEASES)
def test_snapshot_opens_the_image_read_only(name: str) -> None:
    # bdrv_backing_flags(): so force-share=on is allowed without read-only=on
    assert _error("file=disk.img,format=raw,snapshot=on,force-share=on", name) == ""
    assert _error("file=disk.img,format=raw,force-share=on", name) == (
        "force-share=on can only be used with read-only images")


def test_machine_property_errors_and_the_deprecation_warning() -> None:
    def stderr(machine: str, name: str) -> str:
        return qdrive.check_argv(["qemu-system-x86_64", "-M", machine], False, None,
                                 name).qemu_stderr()

    # an alias names the release's newest machine; a versioned name is its own
    assert stderr("q35,pflash2=x", "qemu-10.0") == \
        "qemu-system-x86_64: Property 'pc-q35-10.0-machine.pflash2' not found"
    assert stderr("q35,pflash2=x", "qemu-7.2") == \
        "qemu-system-x86_64: Property 'pc-q35-7.2-machine.pflash2' not found"
    # 10.0 warns of a deprecated machine after applying its options (system/vl.c)
    assert stderr("pc-q35-7.0,pflash2=x", "qemu-10.0") == \
        "qemu-system-x86_64: Property 'pc-q35-7.0-machine.pflash2' not found"
    assert stderr("pc-q35-7.0", "qemu-10.0").startswith(
        "qemu-system-x86_64: warning: Machine type 'pc-q35-7.0' is deprecated")


@pytest.mark.parametrize(("size", "v72", "v100"), [
    ("1000", "Property .logical_block_size doesn't take value '1000', it's not a power of 2",
     "parameter logical_block_size must be a power of 2 between 512 and 2097152"),
    ("3", "Property .logical_block_size doesn't take value 3 (minimum: 512, maximum: "
     "2097152)", "parameter logical_block_size must be a power of 2 between 512 and 2097152"),
])
def test_block_size_property(size: str, v72: str, v100: str) -> None:
    argv = ["qemu-system-x86_64", "-drive", "driver=null-co,if=none,id=d0", "-device",
            f"virtio-blk-pci,drive=d0,logical_block_size={size}"]
    prefix = f"qemu-system-x86_64: -device virtio-blk-pci,drive=d0,logical_block_size={size}: "
    assert qdrive.check_argv(argv, False, None, "qemu-7.2").qemu_stderr() == prefix + v72
    for name in ("qemu-10.0", "qemu-11.1"):
        assert qdrive.check_argv(argv, False, None, name).qemu_stderr() == prefix + v100


def test_parallels_prealloc_mode_before_the_header(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain.img").write_bytes(b"x" * 65536)  # not a Parallels image
    text = "file=plain.img,format=parallels,prealloc-mode=bogus"
    probe = {"probe_files": True}
    for name, want in (("qemu-7.2", "Image not in Parallels format"),
                       ("qemu-10.0", "invalid parameter value: bogus")):
        err = qdrive.check(text, dialect=name, **probe).drives[0].error
        assert err is not None and err.message == want, name
    # the file child is opened first in every release
    err = qdrive.check("file=none.img,format=parallels,prealloc-mode=bogus",
                       dialect="qemu-10.0", **probe).drives[0].error
    assert err is not None and err.message.startswith("Could not open 'none.img'")
    assert _error("driver=parallels,prealloc-mode=off", "qemu-10.0") == \
        "invalid parameter value: off"


def test_active_is_a_node_option_read_before_the_drivers_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "disk.img").write_bytes(b"")
    err = qdrive.check("file=disk.img,format=dmg,active=x", dialect="qemu-10.0",
                       probe_files=True).drives[0].error
    assert err is not None and err.message == "Parameter 'active' expects 'on' or 'off'"
    assert _error("driver=nvme-io_uring,path=x,active=x", "qemu-10.0") == \
        "Parameter 'active' expects 'on' or 'off'"


def test_an_inactive_node_defers_the_ide_disks_write_permission() -> None:
    # measured with qemu-system-x86_64-10.0: accepted with active=off, refused without
    assert _error("file=disk.img,format=raw,read-only=on,active=off", "qemu-10.0") == ""
    assert _error("file=disk.img,format=raw,read-only=on", "qemu-10.0") == \
        "Block node is read-only"


def test_blockdev_reads_the_dialects_schema_and_json_words() -> None:
    def stderr(argv: list[str], name: str) -> str:
        return qdrive.check_argv(["qemu-system-x86_64", *argv], False, None,
                                 name).qemu_stderr()

    gluster = ["-blockdev", '{"driver":"gluster","volume":"v","path":"i","server":'
               '[{"type":"unix","path":"g.sock"}],"node-name":"g"}']
    assert stderr(gluster, "qemu-11.1").endswith(
        ": Parameter 'driver' does not accept value 'gluster'")
    assert "does not accept" not in stderr(gluster, "qemu-10.0")
    cut = ["-blockdev", '{"driver":"file","fi']
    assert stderr(cut, "qemu-11.1").endswith(": 1:18: JSON parse error, stray '\"fi'")
    assert stderr(cut, "qemu-7.2").endswith(": JSON parse error, stray '\"fi'")
    assert stderr(["-blockdev", '{"driver"'], "qemu-11.1").endswith(
        ": 1:10: JSON parse error, premature end of input")
    # a number still open at the end: the lexer's flush places the end one further
    assert _error('file=json:{"driver":"null-co",,"size":10485', "qemu-11.1") == (
        "Could not parse the JSON options: 1:34: JSON parse error, premature end of input")
