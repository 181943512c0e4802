"""What a child node inherits and checks before its file opens (issue 14, session 5).

block.c bdrv_inherited_options() hands every child the parent's cache.direct,
cache.no-flush and force-share (and read-only, but a backing child defaults to
read-only=on); a protocol node's bdrv_open_common() and block/file-posix.c
raw_open_common() read their options before qemu_open(). Each message here is QEMU
7.2's, as recorded in the corpus (dev1-s-*, hb4-s-*).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import qdrive
from tests.compat import oracle

from ._opentime_common import verdict

needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None,
                                    reason="qemu-img (Debian qemu-utils) is not installed")


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """disk.img (raw), dir/ (a directory); with qemu-img disk.qcow2 and overlay.qcow2."""
    where = tmp_path_factory.mktemp("children")
    (where / "disk.img").write_bytes(bytes(1 << 20))
    (where / "dir").mkdir()
    if shutil.which("qemu-img"):
        oracle.img_create(("-f", "qcow2", "disk.qcow2", "1M"), where)
        oracle.img_create(("-f", "qcow2", "-b", "disk.img", "-F", "raw", "overlay.qcow2"),
                          where)
        oracle.img_create(("-f", "qcow2", "-b", "disk.qcow2", "-F", "qcow2",
                           "overlay2.qcow2"), where)
    return where


@pytest.fixture
def images(image_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(image_dir)
    return image_dir


@pytest.mark.parametrize("text, message", [
    # the drive's node is the protocol node: its options come before the host's say
    ("driver=file,filename=dir,drop-cache=o", "Parameter 'drop-cache' expects 'on' or 'off'"),
    ("driver=host_device,filename=dir,cache.no-flush=x",
     "Parameter 'cache.no-flush' expects 'on' or 'off'"),
    ("driver=file,filename=missing,cache.no-flush=x",
     "Parameter 'cache.no-flush' expects 'on' or 'off'"),
    ("driver=file,filename=disk.img,locking=", "invalid parameter value: "),
    ("driver=file,filename=dir,node-name=#x", "Invalid node-name: '#x'"),
    ("driver=file,filename=dir,discard=x", "Invalid discard option"),
    ("driver=file,filename=dir,locking=x,drop-cache=z",
     "Parameter 'drop-cache' expects 'on' or 'off'"),
    # what the host says still comes before an unused option
    ("driver=file,filename=dir,bogus=x", "'file' driver requires 'dir' to be a regular file"),
])
def test_a_protocol_nodes_options_come_before_its_open(images: Path, text: str,
                                                       message: str) -> None:
    assert verdict(text) == (False, message)


@pytest.mark.parametrize("text, message", [
    ("format=raw,file.driver=raw,file.file.filename=disk.img,file.file.node-name=",
     "Invalid node-name: ''"),
    ("format=raw,file.driver=raw,file.file.filename=disk.img,file.file.locking=x",
     "invalid parameter value: x"),
    ("format=raw,file.driver=raw,file.file.filename=disk.img,file.file.aio=native",
     "aio=native was specified, but it requires cache.direct=on, which was not specified."),
])
def test_a_nested_file_node_checks_its_own_options(images: Path, text: str,
                                                   message: str) -> None:
    assert verdict(text) == (False, message)


def test_a_nested_file_node_inherits_cache_direct(images: Path) -> None:
    text = "format=raw,file.driver=raw,file.file.filename=disk.img,cache.direct=on," \
        "file.file.aio=native,if=none"
    assert verdict(text) == (True, "")


@needs_qemu_img
@pytest.mark.parametrize("text, message", [
    ("file=overlay.qcow2,format=qcow2,backing.file.locking=",
     "Could not open backing file: invalid parameter value: "),
    ("file=overlay.qcow2,format=qcow2,backing.file.locking=x,read-only=on",
     "Could not open backing file: invalid parameter value: x"),
    # force-share is inherited; the backing node's own read-only=off refuses it
    ("file=overlay.qcow2,format=qcow2,backing.read-only=off,force-share=on,read-only=on",
     "Could not open backing file: force-share=on can only be used with read-only images"),
])
def test_the_backing_node_inherits_and_checks(images: Path, text: str, message: str) -> None:
    assert verdict(text) == (False, message)


@needs_qemu_img
def test_a_backing_node_is_read_only_by_default(images: Path) -> None:
    # force-share=on reaches the backing node, which bdrv_backing_options() opens read-only
    text = "file=overlay.qcow2,format=qcow2,force-share=on,read-only=on," \
        "backing.file.locking=off,if=none"
    assert verdict(text) == (True, "")


_LOCKED = 'Failed to get "write" lock'


@pytest.mark.parametrize("text, locked", [
    ("driver=blklogwrites,file.driver=file,file.filename=disk.img,log.filename=disk.img",
     True),
    ("driver=blklogwrites,file=disk.img,log.filename=disk.img,if=virtio", True),
    ("driver=quorum,children.0.driver=file,children.0.filename=disk.img,"
     "children.1.driver=raw,children.1.file.filename=disk.img,vote-threshold=1", True),
    ("driver=blkverify,raw.filename=disk.img,test.driver=raw,test.file.filename=disk.img",
     True),
    ("file=blkverify:disk.img:disk.img", True),  # the name's blkverify under raw
    # no device takes write: no conflict
    ("driver=blklogwrites,file.filename=disk.img,log.filename=disk.img,if=none", False),
    ("driver=blklogwrites,file.filename=disk.img,log.filename=disk.img,read-only=on,"
     "if=virtio", False),
    # one descriptor without OFD locks neither takes nor checks the bytes
    ("driver=quorum,children.0.driver=file,children.0.filename=disk.img,"
     "children.1.driver=file,children.1.filename=disk.img,children.0.locking=off,"
     "vote-threshold=1,if=virtio", False),
])
def test_one_file_twice_in_a_writing_filter_meets_its_own_lock(
        images: Path, text: str, locked: bool) -> None:
    r = qdrive.check(text)
    if not locked:
        assert r.ok, r.qemu_stderr()
        return
    *_, first, detail = r.qemu_stderr().splitlines()
    assert first.endswith(_LOCKED) and detail == "Is another process using the image " \
        "[disk.img]?"
    # without a look at the host the string alone cannot know the two names are one file
    assert qdrive.check(text, probe_files=False).ok


@pytest.mark.parametrize("text, message", [
    ("format=qcow2,file.driver=null-co", "Image is not in qcow2 format"),
    ("format=vmdk,file.driver=null-co", "invalid VMDK image descriptor"),
    ("format=vpc,file.driver=null-aio", "invalid VPC image"),
    ("format=vdi,file=null-co://", "Image not in VDI format (bad signature 00000000)"),
    ("driver=vhdx,file.driver=null-co,readonly=on",
     "Could not open 'null-co://': Invalid argument"),
    ("format=cloop,file.driver=null-co,file.size=4k", "block_size cannot be zero"),
    ("format=dmg,file.driver=null-co", "Could not locate UDIF trailer in dmg file"),
    ("format=raw,file.driver=null-co,file.size=4k,size=8k",
     "The sum of offset (0) and size (8192) has to be smaller or equal to the  actual "
     "size of the containing file (4096)"),
])
def test_a_format_over_a_null_driver_reads_its_zeros(text: str, message: str) -> None:
    assert verdict(text + ",if=none") == (False, message)


def test_a_null_driver_is_named_by_its_url_and_raw_over_it_opens() -> None:
    assert verdict("format=raw,file.driver=null-co,file.size=4k,offset=4k,if=none") == \
        (True, "")
    r = qdrive.check("file.driver=null-co,if=none")
    assert r.ok and "Image format was not specified for 'null-co://'" in r.qemu_stderr()


def test_an_aborting_value_error_prints_no_hint() -> None:
    # util/error.c error_handle() aborts in error_setg(), before parse_option_size()
    # appends its hint about suffixes
    r = qdrive.check("driver=null-co,size=x")
    assert r.qemu_stderr().splitlines() == [
        "Unexpected error in parse_option_size() at ../../util/qemu-option.c:145:",
        "qemu-system-x86_64: -drive driver=null-co,size=x: Parameter 'size' expects a "
        "non-negative number below 2^64"]


def test_a_fat_names_rw_beats_the_rw_option(images: Path) -> None:
    # block/vvfat.c vvfat_parse_filename() puts rw from the name over rw=: an IDE disk
    # over fat:rw: is writable, over fat: it is not
    assert verdict("format=vvfat,file=fat:rw:dir,rw=off") == (True, "")
    r = qdrive.check("format=vvfat,file=fat:dir,rw=on")
    assert not r.ok and r.qemu_stderr().endswith("Block node is read-only")


def test_a_writable_vvfat_names_its_write_target(images: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMPDIR", raising=False)  # block.c get_tmp_filename()'s default
    r = qdrive.check("file=fat:rw:dir,if=none")
    assert r.ok
    assert '"rw": true, "write-target": {"driver": "qcow", "file": {"driver": "file", ' \
        '"filename": "/var/tmp/vl.XXXXXX"}}}\' and probing guessed raw' in r.qemu_stderr()
    read_only = qdrive.check("file=fat:dir,if=none")
    assert read_only.ok and "write-target" not in read_only.qemu_stderr()


@pytest.mark.parametrize("text, message", [
    ("file=disk.img,format=raw,file.backing.driver=file,file.backing.filename=disk.img",
     "Driver doesn't support backing files"),
    ("format=raw,file.driver=raw,file.file.filename=disk.img,file.file.backing.node-name=x",
     "Driver doesn't support backing files"),
    ("driver=file,filename=disk.img,backing.node-name=x",
     "Driver doesn't support backing files"),
    # backing= is null: nothing opens it, and its options go unused
    ("file=disk.img,format=raw,file.backing=,file.backing.node-name=x",
     "Block protocol 'file' doesn't support the option 'backing.node-name'"),
])
def test_a_protocol_node_has_no_backing_file(images: Path, text: str, message: str) -> None:
    assert verdict(text) == (False, message)


def test_a_protocol_nodes_null_backing_warns(images: Path) -> None:
    r = qdrive.check("file=disk.img,format=raw,file.backing=")
    assert r.ok and r.qemu_stderr().endswith(
        'warning: Use of "backing": "" is deprecated; use "backing": null instead')


@needs_qemu_img
def test_the_headers_backing_format_names_the_backing_driver(images: Path) -> None:
    from qdrive.probe import probe_file, qcow2_backing_format

    assert qcow2_backing_format(probe_file("overlay2.qcow2").head) == "qcow2"
    assert qcow2_backing_format(probe_file("overlay.qcow2").head) == "raw"
    assert qcow2_backing_format(probe_file("disk.qcow2").head) is None
    # block.c bdrv_open_backing_file(): the recorded format, whatever file is named
    assert verdict("file=overlay2.qcow2,format=qcow2,backing.file.filename=disk.img") == \
        (False, "Could not open backing file: Image is not in qcow2 format")
    assert verdict("file=overlay2.qcow2,format=qcow2,backing.file.filename=disk.img,"
                   "backing.driver=raw") == (True, "")
    assert verdict("file=overlay.qcow2,format=qcow2,backing.file.filename=disk.qcow2") == \
        (True, "")


@pytest.mark.parametrize("size, fmt, message", [
    (0, "vpc", "File too small for a VHD header"),
    (0, "vmdk", "File is too small, not a valid image"),
    # bdrv_getlength() counts whole sectors: three bytes are 512
    (3, "vpc", "invalid VPC image"),
    (3, "vmdk", "invalid VMDK image descriptor"),
])
def test_small_files_against_vpc_and_vmdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          size: int, fmt: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "small.img").write_bytes(bytes(size))
    assert verdict(f"file=small.img,format={fmt},if=none") == (False, message)


def test_a_fixed_vhd_has_its_footer_at_the_end(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    def write(kind: int, checksum: bool = True) -> None:
        footer = bytearray(512)
        footer[:8] = b"conectix"
        footer[60:64] = kind.to_bytes(4, "big")
        if checksum:  # block/vpc.c vpc_checksum()
            footer[64:68] = (~sum(footer) & 0xFFFFFFFF).to_bytes(4, "big")
        (tmp_path / "fixed.vhd").write_bytes(bytes(1 << 20) + bytes(footer))

    write(2)  # VHD_FIXED
    assert verdict("file=fixed.vhd,format=vpc,if=none") == (True, "")
    write(2, checksum=False)
    assert verdict("file=fixed.vhd,format=vpc,if=none") == \
        (False, "Incorrect header checksum")
    write(3)  # a dynamic disk's footer belongs at 0 too
    assert verdict("file=fixed.vhd,format=vpc,if=none") == (False, "invalid VPC image")


@pytest.mark.parametrize("text, message", [
    # the file child inherits force-share: its bdrv_open_common() refuses it unopened
    ("file=missing.img,format=raw,force-share=on",
     "force-share=on can only be used with read-only images"),
    ("file.filename=json:{},format=raw,force-share=on",
     "force-share=on can only be used with read-only images"),
    ("file=missing.img,format=raw,force-share=on,file.read-only=on",
     "Could not open 'missing.img': No such file or directory"),
    # and auto-read-only, typed there before anything the file node says itself
    ("file=disk.img,format=raw,file.locking=x,auto-read-only=x",
     "Parameter 'auto-read-only' expects 'on' or 'off'"),
    # a format opens its other children after its file and its header
    ("file=missing.img,format=qcow2,data-file.driver=bogus",
     "Could not open 'missing.img': No such file or directory"),
    ("file=disk.img,format=qcow2,data-file.driver=bogus", "Image is not in qcow2 format"),
    # a nested file node judges its file's type after the open, before unused options
    ("format=raw,file.driver=raw,file.file.filename=dir",
     "'file' driver requires 'dir' to be a regular file"),
    ("driver=blkreplay,image.driver=file,image.filename=dir,bogus=1",
     "'file' driver requires 'dir' to be a regular file"),
    ("file=blkdebug::dir,format=raw", "'file' driver requires 'dir' to be a regular file"),
    ("file=blkdebug::dir,readonly=on", "'file' driver requires 'dir' to be a regular file"),
    # the filter's node-name is assigned before its open: its bitmap lookup finds itself
    ("driver=copy-before-write,file.filename=disk.img,node-name=top,"
     "target.driver=null-co,bitmap.node=top,bitmap.name=b0", "Dirty bitmap 'b0' not found"),
])
def test_what_comes_before_and_after_a_childs_open(images: Path, text: str,
                                                   message: str) -> None:
    assert verdict(text + ",if=none") == (False, message)


@needs_qemu_img
def test_a_format_over_a_format_child_reads_zeros_at_its_end(images: Path) -> None:
    # a fresh qcow2's guest data are zeros to its end: no VHD footer there either
    assert verdict("format=vpc,file.driver=qcow2,file.file.filename=disk.qcow2,if=none") == \
        (False, "invalid VPC image")


def test_a_probed_child_warns_before_its_unused_options(images: Path) -> None:
    # blkverify's test child named by x-image and probed raw: raw_open() warns, then
    # bdrv_open_inherit() finds test.filename unused
    text = "driver=blkverify,raw.driver=raw,raw.file.filename=disk.img," \
        "test.filename=missing.img,x-image=disk.img,if=none"
    lines = qdrive.check(text).qemu_stderr().splitlines()
    assert lines[0] == "WARNING: Image format was not specified for 'disk.img' and probing " \
        "guessed raw."
    assert lines[-1] == f"qemu-system-x86_64: -drive {text}: Block format 'raw' does not " \
        "support the option 'filename'"
    # x-image alone names the test child
    r = qdrive.check("driver=blkverify,raw.filename=disk.img,x-image=disk.img,if=none")
    assert r.ok and "probing guessed raw" in r.qemu_stderr()
    assert "probing" not in qdrive.check("driver=blkverify,raw.filename=disk.img,"
                                         "x-image=disk.img,if=none,read-only=on").qemu_stderr()


@needs_qemu_img
@pytest.mark.parametrize("extra, message", [
    ("l2-cache-entry-size=1G,BOGUS=1",
     "L2 cache entry size must be a power of two between 512 and the cluster size (65536)"),
    ("l2-cache-entry-size=1000",
     "L2 cache entry size must be a power of two between 512 and the cluster size (65536)"),
    ("cache-size=1M,l2-cache-size=1M,refcount-cache-size=1k",
     "cache-size, l2-cache-size and refcount-cache-size may not be set at the same time"),
    ("cache-size=1M,l2-cache-size=2M", "l2-cache-size may not exceed cache-size"),
    ("cache-size=1M,refcount-cache-size=2M", "refcount-cache-size may not exceed cache-size"),
    ("l2-cache-entry-size=4k", ""),
    ("cache-size=1M,l2-cache-size=512k", ""),
])
def test_qcow2_cache_sizes_against_the_cluster_size(images: Path, extra: str,
                                                    message: str) -> None:
    assert verdict(f"file=disk.qcow2,format=qcow2,{extra},if=none") == (not message, message)


@needs_qemu_img
def test_blkdebugs_json_image_is_probed_and_named_by_its_file(images: Path) -> None:
    from qdrive.frontend.facts import query_block

    r = qdrive.check('if=none,file=blkdebug::json:{"filename":"disk.qcow2",,"cache":'
                     '{"direct":false}}')
    assert r.ok and query_block(r)[0]["drv"] == "qcow2"
    raw = qdrive.check('if=none,file=blkdebug::json:{"filename":"disk.img",,"locking":"off"}')
    assert "not specified for 'blkdebug::disk.img' and probing guessed raw" in \
        raw.qemu_stderr()


def test_blkverify_children_that_differ_stop_the_first_disk_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.img").write_bytes(bytes(1 << 16))
    (tmp_path / "b.img").write_bytes(bytes(7) + b"\x01" + bytes((1 << 16) - 8))
    text = "driver=blkverify,raw.filename=a.img,test.driver=file,test.filename=b.img"
    # a disk's realize guesses its geometry from sector 0, through both children; the
    # message is blkverify's own fprintf, without the program's name
    for iface in ("ide", "virtio"):
        r = qdrive.check(f"{text},if={iface}")
        assert not r.ok and r.qemu_stderr() == \
            "blkverify: read offset=0 bytes=512 contents mismatch at offset 7"
    assert qdrive.check(f"{text},if=none").ok  # no device reads it
    assert qdrive.check(f"{text},media=cdrom").ok  # nor a CD-ROM's realize
    same = "driver=blkverify,raw.filename=a.img,test.driver=file,test.filename=a.img"
    assert qdrive.check(f"{same},if=virtio,read-only=on").ok


def test_preallocate_align_in_sectors_and_in_the_direct_request_alignment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    from qdrive.frontend import hostprobe

    # /var/tmp is a disk filesystem where /tmp may be a tmpfs; a sparse file (as the
    # harness makes disk.img) is where ext4 wants O_DIRECT reads of whole blocks
    where = Path(tempfile.mkdtemp(dir="/var/tmp" if Path("/var/tmp").is_dir() else None))
    try:
        monkeypatch.chdir(where)
        with open(where / "disk.img", "wb") as f:
            f.truncate(1 << 20)
        base = "driver=preallocate,file.filename=disk.img,if=none"
        assert verdict(f"{base},prealloc-align=100") == \
            (False, "prealloc-align parameter of preallocate filter is not aligned to 512")
        assert verdict(f"{base},prealloc-align=512") == (True, "")  # no O_DIRECT: 1
        request = hostprobe.direct_alignment("disk.img")
        if request is None or request <= 512:
            pytest.skip("this filesystem needs no O_DIRECT alignment above a sector")
        assert verdict(f"{base},prealloc-align=512,cache=none") == (
            False, "prealloc-align parameter of preallocate filter is not aligned to "
            f"underlying node request alignment ({request})")
        assert verdict(f"{base},prealloc-align={request},cache=none") == (True, "")
    finally:
        shutil.rmtree(where)
