"""What QEMU 7.2 decides when it opens a drive's nodes (qdrive/frontend/: drivers.py,
nodes.py, opentime.py, formats.py, jsonname.py), on images made here.

Every expected message is QEMU 7.2's own, as recorded by the harness in
fixtures/qemu72/opentime.jsonl (the same strings run against the oracle's images).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import qdrive
from qdrive.frontend import drivers, jsonname
from tests.compat import oracle

from ._opentime_common import verdict

needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None,
                                    reason="qemu-img (Debian qemu-utils) is not installed")


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """disk.img (raw, 1 MiB), dir/; with qemu-img also disk.qcow2, overlay.qcow2 (backing
    disk.img), disk.vdi and enc.qcow2 (LUKS-encrypted). Made once: qemu-img is slow."""
    where = tmp_path_factory.mktemp("opentime")
    (where / "disk.img").write_bytes(bytes(1 << 20))
    (where / "dir").mkdir()
    if shutil.which("qemu-img"):
        def make(*args: str) -> None:
            oracle.img_create(args, where)
        make("-f", "qcow2", "disk.qcow2", "1M")
        make("-f", "qcow2", "-b", "disk.img", "-F", "raw", "overlay.qcow2")
        make("-f", "vdi", "disk.vdi", "1M")
        make("-f", "qcow2", "--object", "secret,id=s0,data=pw", "-o",
             "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10", "enc.qcow2",
             "1M")  # a fixed short PBKDF2 time: the benchmark fails on a loaded machine
    return where


@pytest.fixture
def images(image_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(image_dir)
    return image_dir


@pytest.mark.parametrize("text, message", [
    ("file=disk.img,format=raw,offset=2M",
     "Offset (2097152) cannot be greater than size of the containing file (1048576)"),
    ("file=disk.img,format=raw,offset=512,size=1M",
     "The sum of offset (512) and size (1048576) has to be smaller or equal to the  actual "
     "size of the containing file (1048576)"),
    ("file=disk.img,format=raw,size=1000", "Specified size is not multiple of 512"),
    ("file=disk.img,format=raw,backing.node-name=b0", "Driver doesn't support backing files"),
    ("driver=null-co,read-zeroes=maybe", "Parameter 'read-zeroes' expects 'on' or 'off'"),
    ("file=disk.img,format=luks", "Parameter 'key-secret' is required for cipher"),
    ("file=disk.img,format=luks,key-secret=sec0", "No secret with id 'sec0'"),
    ('file=json:{"driver":"bogus"}', "Unknown driver 'bogus'"),
    ("file=json:[1]", "Invalid JSON object given"),
    ("file=json:{},format=raw", 'A block device must be specified for "file"'),
    ('file=json:{"driver":"raw",,"file":{"filename":"disk.img"',
     "Could not parse the JSON options: JSON parse error, premature EOI"),
    ('file=json:{"driver":"raw",,"file":"n0"}', "Cannot find device='n0' nor node-name='n0'"),
    ("format=raw,file.driver=qcow2,file.file.driver=file",
     "The 'file' block driver requires a file name"),
    ("format=qcow2,file.driver=raw,file.file.filename=disk.img", "Image is not in qcow2 format"),
    ("file.filename=null-co://,format=raw",
     "Could not open 'null-co://': No such file or directory"),
    ("driver=file,filename=", "The 'file' block driver requires a file name"),
    ("driver=vvfat", "vvfat block driver requires a 'dir' option"),
    ("file=fat:missing-dir", "Could not read directory missing-dir"),
    ("driver=vvfat,dir=dir,fat-type=13", "Valid FAT types are only 12, 16 and 32"),
    ("driver=vvfat,dir=dir,label=twelve chars,if=none",
     "vvfat label cannot be longer than 11 bytes"),
    ("driver=throttle,throttle-group=tg0,file.filename=disk.img",
     "Throttle group 'tg0' does not exist"),
    ("driver=throttle,file.filename=disk.img", "Please specify a throttle group"),
    ("driver=nfs,path=/x", "Parameter 'server' is missing"),
    ("driver=rbd,image=i", "Parameter 'pool' is missing"),
    ("driver=rbd,pool=p,image=i,bogus=1", "Parameter 'bogus' is unexpected"),
    ("driver=blkreplay", 'A block device must be specified for "image"'),
    ("driver=https", "curl block driver requires an 'url' option"),
    ("file.driver=nbd", "NBD server address missing"),
    ("driver=nbd,host=127.0.0.1,tls-creds=t0", "No TLS credentials with id 't0'"),
    ("driver=iscsi,portal=127.0.0.1", "Need all of transport, portal and target options"),
    ("file=disk.img,file.pr-manager=pm0", "No persistent reservation manager with id 'pm0'"),
    ("driver=replication,file.filename=disk.img", "Missing the option mode"),
    ("driver=replication,mode=both,file.filename=disk.img",
     "The option mode's value should be primary or secondary"),
    ("driver=replication,mode=secondary,file.filename=disk.img", "Missing the option top-id"),
    ("driver=copy-on-read,file.filename=disk.img,bottom=b0", "Bottom node 'b0' not found"),
    ("file=blkdebug:missing.conf:disk.img",
     "Could not read blkdebug config file: No such file or directory"),
    ("driver=quorum", "Number of provided children must be 1 or more"),
])
def test_open_time_refusals(images: Path, text: str, message: str) -> None:
    assert verdict(text) == (False, message)


@pytest.mark.parametrize("text", [
    "file.driver=null-co,format=raw,file.read-zeroes=on",
    "driver=null-co,read-zeroes=on,size=1M",
    "driver=null-co",  # a null drive has a medium
    'file=json:{"driver":"raw",,"file":{"driver":"file",,"filename":"disk.img"}}',
    "driver=blkreplay,image.driver=file,image.filename=disk.img",
    "driver=vvfat,dir=dir,if=none",
    "file=disk.img,format=raw,offset=512k,size=512k",
])
def test_open_time_acceptances(images: Path, text: str) -> None:
    assert verdict(text) == (True, "")


@needs_qemu_img
@pytest.mark.parametrize("text, message", [
    ("file=disk.qcow2,format=qcow2,backing.node-name=b0",
     "Could not open backing file: Must specify either driver or file"),
    ("file=disk.qcow2,backing=n0",
     "Could not open backing file: Cannot find device='n0' nor node-name='n0'"),
    ("file=overlay.qcow2,format=qcow2,backing.driver=bogus",
     "Could not open backing file: Unknown driver 'bogus'"),
    ("file=overlay.qcow2,format=qcow2,backing.file.filename=missing.img",
     "Could not open backing file: Could not open 'missing.img': No such file or directory"),
    ("file=overlay.qcow2,format=qcow2,backing.cache.direct=x",
     "Could not open backing file: Parameter 'cache.direct' expects 'on' or 'off'"),
    ("file=enc.qcow2,format=qcow2", "Parameter 'encrypt.key-secret' is required for cipher"),
    ("file=enc.qcow2,format=qcow2,encrypt.format=aes",
     "Header reported 'luks' encryption format but options specify 'aes'"),
    ("file=disk.qcow2,format=qcow2,encrypt.format=luks",
     "No encryption in image header, but options specified format 'luks'"),
    ("file=disk.qcow2,format=qcow2,data-file.filename=disk.img",
     "'data-file' can only be set for images with an external data file"),
    ("format=raw,file.driver=qcow2,file.file.filename=disk.img", "Image is not in qcow2 format"),
])
def test_the_node_graph_against_images(images: Path, text: str, message: str) -> None:
    assert verdict(text) == (False, message)


@needs_qemu_img
def test_backing_options_open_the_headers_backing_file(images: Path) -> None:
    assert verdict("file=overlay.qcow2,format=qcow2,backing.node-name=b0") == (True, "")
    # the regression of the VDI signature check: a real VDI image opens
    assert verdict("file=disk.vdi,format=vdi") == (True, "")


def test_probe_files_false_keeps_the_string_only_verdict(images: Path) -> None:
    # offset/size against the file and the vvfat directory need the host
    assert verdict("file=disk.img,format=raw,offset=2M", probe_files=False) == (True, "")
    assert verdict("file=fat:missing-dir,if=none", probe_files=False)[0]


def test_json_name_query_block_reports_the_json_driver(images: Path) -> None:
    from qdrive.frontend.facts import query_block

    r = qdrive.check('file=json:{"driver":"null-co",,"size":1048576},id=d0')
    devices = query_block(r)
    assert devices is not None and devices[0]["drv"] == "null-co"


def test_protocol_probing_warns_with_qemus_name(images: Path) -> None:
    r = qdrive.check("file=null-co://")
    assert r.ok
    assert r.qemu_stderr().startswith(
        "WARNING: Image format was not specified for 'null-co://' and probing guessed raw.")


def test_json_names_parse_and_flatten() -> None:
    assert jsonname.parse('json:{"driver":"raw","file":{"driver":"file","locking":true},'
                          '"backing":null,"n":[1,2]}') == {
        "driver": "raw", "file.driver": "file", "file.locking": "on", "backing": None,
        "n.0": "1", "n.1": "2"}
    for text, why in (("json:", "Expecting a JSON value"),
                      ('json:{"dr', "JSON parse error, stray '\"dr'"),
                      ('json:{"a":1', "JSON parse error, premature EOI"),
                      # qobject/json-streamer.c reports a lexer error at once (7.2, 10.0)
                      ('json:{"driver":"raw",format=qcow2,if=ide',
                       "JSON parse error, stray '='"),
                      ('json:{"driver":"raw","size":1@2}', "JSON parse error, stray '@'"),
                      ('json:{"a":"x=@"', "JSON parse error, premature EOI")):
        with pytest.raises(jsonname.JsonNameError) as e:
            jsonname.parse(text)
        assert str(e.value) == f"Could not parse the JSON options: {why}"


def test_driver_tables_cover_format_help() -> None:
    """Every driver `-drive format=help` lists has a table entry, and the entries come
    from the derived tables (not a hand-written list)."""
    for name in drivers.known():
        info = drivers.driver(name)
        assert info is not None, name
    null = drivers.driver("null-co")
    assert null is not None and null.protocol and null.typed("read-zeroes")
    qcow2 = drivers.driver("qcow2")
    assert qcow2 is not None and qcow2.supports_backing and qcow2.child_of(
        "backing.file.filename") == "backing" and qcow2.child_of("data-file") == "data-file"
    quorum = drivers.driver("quorum")
    assert quorum is not None and quorum.child_of("children.3.driver") == "children.3"
    assert drivers.driver("no-such-driver") is None


# -- the header checks of the formats qemu-img does not write (tests/compat/headers.py
# makes the images; fixtures/qemu72/opentime-formats.jsonl holds QEMU 7.2's words) ------


@pytest.fixture(scope="module")
def header_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.compat.headers import header_files

    where = tmp_path_factory.mktemp("headers")
    for name, content in header_files().items():
        (where / name).write_bytes(content)
    (where / "disk.img").write_bytes(bytes(1 << 20))
    (where / "empty.img").write_bytes(b"")
    (where / "fat").mkdir()
    return where


@pytest.fixture
def headers(header_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(header_dir)
    return header_dir


@pytest.mark.parametrize("name, fmt, message", [
    ("hdr-bochs-version.img", "bochs", "Image not in Bochs format"),
    ("hdr-bochs-extent-small.img", "bochs", "Extent size must be at least 512"),
    ("hdr-bochs-extent-odd.img", "bochs", "Extent size 3000 is not a power of two"),
    ("hdr-bochs-extent-big.img", "bochs", "Extent size 16777216 is too large"),
    ("hdr-bochs-catalog-big.img", "bochs", "Catalog size is too large"),
    ("hdr-bochs-catalog-small.img", "bochs", "Catalog size is too small for this disk size"),
    ("hdr-cloop-odd.img", "cloop", "block_size 1000 must be a multiple of 512"),
    ("hdr-cloop-zero.img", "cloop", "block_size cannot be zero"),
    ("hdr-cloop-big.img", "cloop", "block_size 134217728 must be 64 MB or less"),
    ("hdr-cloop-count.img", "cloop", "n_blocks 536870912 must be 536870911 or less"),
    ("hdr-cloop-offsets.img", "cloop",
     "image requires too many offsets, try increasing block size"),
    ("hdr-cloop-order.img", "cloop",
     "offsets not monotonically increasing at index 2, image file is corrupt"),
    ("hdr-cloop-chunk.img", "cloop",
     "invalid compressed block size at index 1, image file is corrupt"),
    # bdrv_getlength() counts whole sectors: 300 bytes are one
    ("hdr-dmg-short.img", "dmg", "Could not locate UDIF trailer in dmg file"),
    ("empty.img", "dmg", "dmg file must be at least 512 bytes long"),
    ("hdr-dmg-nokoly.img", "dmg", "Could not locate UDIF trailer in dmg file"),
    ("hdr-dmg-fork.img", "dmg", "Could not open 'hdr-dmg-fork.img': Invalid argument"),
    ("hdr-dmg-empty.img", "dmg", "Could not open 'hdr-dmg-empty.img': Invalid argument"),
    ("hdr-parallels-version.img", "parallels", "Image not in Parallels format"),
    ("hdr-parallels-tracks.img", "parallels", "Invalid image: Zero sectors per track"),
    ("hdr-parallels-cluster.img", "parallels", "Invalid image: Too big cluster"),
    ("hdr-parallels-catalog.img", "parallels", "Catalog too large"),
    ("disk.img", "vhdx", "Could not open 'disk.img': Invalid argument"),
])
def test_format_headers(headers: Path, name: str, fmt: str, message: str) -> None:
    assert verdict(f"file={name},format={fmt},if=none") == (False, message)


@pytest.mark.parametrize("name, fmt", [
    ("hdr-bochs.img", "bochs"), ("hdr-bochs-v1.img", "bochs"), ("hdr-cloop.img", "cloop"),
    ("hdr-parallels.img", "parallels"), ("hdr-parallels-v1.img", "parallels"),
])
def test_valid_headers_open_and_read_only_formats_stay_read_only(
        headers: Path, name: str, fmt: str) -> None:
    from qdrive.frontend.facts import query_block

    r = qdrive.check(f"file={name},format={fmt},if=none")
    assert r.ok, r.qemu_stderr()
    facts = query_block(r)
    assert facts is not None and facts[0]["ro"] is (fmt != "parallels")
    # an IDE disk needs a writable node; a format that cannot write gives none
    assert verdict(f"file={name},format={fmt}")[0] is (fmt == "parallels")


@pytest.mark.parametrize("extra", [",copy-on-read=on", ",auto-read-only=off"])
def test_read_only_formats_cannot_drop_to_read_only(headers: Path, extra: str) -> None:
    # block.c bdrv_apply_auto_read_only(), before the header is read
    assert verdict(f"file=hdr-cloop-zero.img,format=cloop,if=none{extra}") == (
        False, "Image is read-only")
    assert verdict(f"file=hdr-cloop-zero.img,format=cloop,if=none,read-only=on{extra}")[1] \
        == "block_size cannot be zero"


def test_dmg_prints_debians_missing_module_notices(headers: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from qdrive.frontend import formats

    monkeypatch.setattr(formats, "MODULE_DIR", str(headers / "no-modules"))
    lines = qdrive.check("file=hdr-dmg-nokoly.img,format=dmg,if=none").qemu_stderr()
    assert lines.splitlines()[:2] == [
        f"qemu: module block-block-{m} not found, do you want to install qemu-block-extra "
        "package?" for m in ("dmg-bz2", "dmg-lzfse")]
    (headers / "no-modules").mkdir(exist_ok=True)
    for m in ("dmg-bz2", "dmg-lzfse"):
        (headers / "no-modules" / f"block-{m}.so").touch()
    assert "module" not in qdrive.check("file=hdr-dmg-nokoly.img,format=dmg,if=none"
                                        ).qemu_stderr()


@pytest.mark.parametrize("text, message", [
    ("prealloc-mode=off", "invalid parameter value: off"),
    ("prealloc-mode=truncate", ""),
])
def test_parallels_prealloc_mode(headers: Path, text: str, message: str) -> None:
    assert verdict(f"file=hdr-parallels.img,format=parallels,if=none,{text}") == (
        not message, message)


@pytest.mark.parametrize("child, message", [
    ("file=disk.img", "Compression is not supported for underlying format: file"),
    ("file.driver=raw,file.file.filename=disk.img",
     "Compression is not supported for underlying format: raw"),
])
def test_compress_needs_a_compressing_child(headers: Path, child: str, message: str) -> None:
    assert verdict(f"driver=compress,{child},if=none") == (False, message)


LOG = "driver=blklogwrites,file.filename=disk.img,log.filename=disk.img,if=none"


@pytest.mark.parametrize("extra, message", [
    (",log-sector-size=4096,log-append=on",
     "log-append and log-sector-size are mutually exclusive"),
    (",log-sector-size=1000", "Invalid log sector size 1000"),
    (",log-sector-size=16", "Invalid log sector size 16"),
    (",log-sector-size=16M", "Invalid log sector size 16777216"),
    (",log-super-update-interval=0", "Invalid log superblock update interval 0"),
    (",log-append=on", "Invalid log superblock magic"),  # the log (disk.img) is zeros
])
def test_blklogwrites_rules(headers: Path, extra: str, message: str) -> None:
    assert verdict(LOG + extra) == (False, message)


def test_blklogwrites_appends_to_an_empty_log(headers: Path) -> None:
    # an empty log gets a superblock made up (sector size 512); probe_files=False reads
    # no log at all
    assert verdict(LOG.replace("log.filename=disk.img", "log.filename=empty.img") +
                   ",log-append=on") == (True, "")
    assert verdict(LOG + ",log-append=on", probe_files=False) == (True, "")


CBW = "driver=copy-before-write,file.driver=file,file.filename=disk.img,if=none"


@pytest.mark.parametrize("extra, message", [
    ("", "Parameter 'target' is missing"),
    (",target.filename=disk.img", "Parameter 'target.driver' is missing"),
    (",target.driver=file", "Parameter 'target.filename' is missing"),
    (",target.driver=nosuch", "Parameter 'driver' does not accept value 'nosuch'"),
    (",target.driver=file,target.filename=disk.img,target.bogus=1",
     "Parameter 'target.bogus' is unexpected"),
    (",target.driver=file,target.filename=disk.img,bitmap.name=b0",
     "Parameter 'bitmap.node' is missing"),
    (",target.driver=file,target.filename=disk.img,on-cbw-error=x",
     "Parameter 'on-cbw-error' does not accept value 'x'"),
    (",target.driver=file,target.filename=disk.img,bogus=1", "Parameter 'bogus' is unexpected"),
    (",target.driver=file,target.filename=disk.img,bitmap.node=n9,bitmap.name=b0",
     "Node 'n9' not found"),
])
def test_copy_before_write_visits_its_options(headers: Path, extra: str, message: str) -> None:
    assert verdict(CBW + extra) == (False, message)


def test_copy_before_write_without_file() -> None:
    assert verdict("driver=copy-before-write,target=n0,if=none", probe_files=False) == (
        False, "Parameter 'file' is missing")


def test_vvfat_rw_and_fat32(headers: Path) -> None:
    assert verdict("file=fat:rw:fat,snapshot=on,if=none") == (
        False, "Unable to set VVFAT to 'rw' when drive is read-only")
    r = qdrive.check("file=fat:32:fat,if=none")
    assert r.ok
    lines = r.qemu_stderr().splitlines()
    assert lines[0] == ("qemu-system-x86_64: -drive file=fat:32:fat,if=none: warning: "
                        "FAT32 has not been tested. You are welcome to do so!")
    # format probing over the vvfat node names it by its options (json:, QDict order)
    assert lines[1] == ("WARNING: Image format was not specified for 'json:{\"fat-type\": "
                        "32, \"dir\": \"fat\", \"driver\": \"vvfat\", \"floppy\": false, "
                        "\"rw\": false}' and probing guessed raw.")
    # without rw the node is read-only: an IDE disk cannot have it
    assert verdict("driver=vvfat,dir=fat") == (False, "qemu-system-x86_64: Block node is "
                                                      "read-only")
    assert verdict("driver=vvfat,dir=fat,if=virtio")[0]


def test_warnings_in_json_keep_qemus_marker_apart(images: Path) -> None:
    # issue 14 item 4 / issue 18's contract: message as QEMU means it, stderr exact
    from qdrive.frontend import jsonout

    r = qdrive.check("file=disk.img,if=none")
    out = r.to_json()
    warning = out["drives"][0]["warnings"][0]
    assert warning["code"] == "probed-raw"
    assert warning["message"] == ("Image format was not specified for 'disk.img' and probing "
                                  "guessed raw.")
    assert out["qemu_stderr"].splitlines()[0] == "WARNING: " + warning["message"]
    assert r.drives[0].warnings[0].marker == "WARNING: "
    pytest.importorskip("jsonschema").validate(out, jsonout.schema())


def test_module_notices_in_json(headers: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qdrive.frontend import formats, jsonout

    monkeypatch.setattr(formats, "MODULE_DIR", str(headers / "nowhere"))
    r = qdrive.check("file=hdr-dmg-nokoly.img,format=dmg,if=none")
    out = r.to_json()
    notices = [w["message"] for w in out["drives"][0]["warnings"]]
    assert notices == out["qemu_stderr"].splitlines()[:2]  # printed bare, no marker
    pytest.importorskip("jsonschema").validate(out, jsonout.schema())


@pytest.mark.parametrize("sizes, message", [
    ({"fl.img": 1000}, "system firmware block device pflash0 has invalid size 1024\n"
     "qemu-system-x86_64: info: its size must be a non-zero multiple of 0x1000"),
    ({"fl.img": 0}, "system firmware block device pflash0 has invalid size 0\n"
     "qemu-system-x86_64: info: its size must be a non-zero multiple of 0x1000"),
    ({"fl.img": 16 << 20}, "combined size of system firmware exceeds 8388608 bytes"),
    ({"fl.img": 4 << 20, "vars.img": 5 << 20},
     "combined size of system firmware exceeds 8388608 bytes"),
    ({"fl.img": 4 << 20, "vars.img": 64 << 10}, ""),
])
def test_pflash_image_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            sizes: dict[str, int], message: str) -> None:
    # hw/i386/pc_sysfw.c pc_system_flash_map(), at machine init
    monkeypatch.chdir(tmp_path)
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(bytes(size))
    r = qdrive.check([f"if=pflash,format=raw,file={name}" for name in sizes])
    assert r.ok is (not message)
    assert r.qemu_stderr() == (f"qemu-system-x86_64: {message}" if message else "")
    # the size is the host's: a string-only verdict has none
    assert qdrive.check([f"if=pflash,format=raw,file={n}" for n in sizes],
                        probe_files=False).ok


@pytest.mark.parametrize("extra, message", [
    (",config=missing.conf", "Could not read blkdebug config file: No such file or directory"),
    (",inject-error.0.errno=5", "Missing event name for rule"),
    (",set-state.0.new_state=2", "Missing event name for rule"),
    (",inject-error.0.event=nosuch", "invalid parameter value: nosuch"),
    # driver= naming a protocol driver opens it as a protocol (BDRV_O_PROTOCOL)
    (",bogus=1", "Block protocol 'blkdebug' doesn't support the option 'bogus'"),
])
def test_blkdebug_rules(headers: Path, extra: str, message: str) -> None:
    assert verdict("driver=blkdebug,image.filename=disk.img,if=none" + extra) == (
        False, message)


def test_blkdebug_config_is_read_only_when_probing(headers: Path) -> None:
    assert verdict("driver=blkdebug,image.filename=disk.img,if=none,config=missing.conf",
                   probe_files=False) == (True, "")


def test_probes_past_offset_zero(headers: Path) -> None:
    from qdrive.probe import probe_file

    # block/bochs.c, cloop.c probes; parallels' HEADER_MAGIC2 (what qemu-img writes)
    assert probe_file("hdr-bochs.img").format == "bochs"
    assert probe_file("hdr-cloop.img").format == "cloop"
    assert probe_file("hdr-parallels.img").format == "parallels"
    assert probe_file("hdr-parallels-version.img").format == "raw"  # version 3
    assert probe_file("disk.img").format == "raw"


def test_blkverify_file_name_probes_its_test_image(headers: Path) -> None:
    r = qdrive.check("file=blkverify:disk.img:empty.img,if=none")
    assert r.ok
    names = [line.split("'")[1] for line in r.qemu_stderr().splitlines()
             if line.startswith("WARNING:")]
    assert names == ["empty.img", "blkverify:disk.img:empty.img"]
    assert verdict("file=blkverify:disk.img:fat,if=none") == (
        False, "'file' driver requires 'fat' to be a regular file")


def test_host_cdrom_names_and_media(headers: Path) -> None:
    # raw-posix strips the protocol prefix; the file type is checked against host_cdrom
    assert verdict("file=host_cdrom:disk.img,format=raw,if=none") == (
        False, "'host_cdrom' driver requires 'disk.img' to be either a character or block "
               "device")
    # a device that is no CD-ROM drive has no disc (cdrom_is_inserted()): an IDE disk
    # needs one, but its node's permissions are checked first
    assert verdict("file=host_cdrom:/dev/null,format=raw") == (
        False, "qemu-system-x86_64: Device needs media, but drive is empty")
    assert verdict("file=host_cdrom:/dev/null,format=raw,read-only=on") == (
        False, "qemu-system-x86_64: Block node is read-only")
    assert verdict("file=host_cdrom:/dev/null,format=raw,if=none")[0]
    assert verdict("file=host_cdrom:/dev/null,format=raw", probe_files=False)[0]


BACKING_NULL = ('warning: Use of "backing": "" is deprecated; use "backing": null instead')


@needs_qemu_img
def test_backing_empty_string_is_null_with_a_warning(images: Path) -> None:
    text = "file=overlay.qcow2,format=qcow2,backing=,if=none"
    r = qdrive.check(text)
    assert r.ok and r.qemu_stderr() == f"qemu-system-x86_64: -drive {text}: {BACKING_NULL}"
    # no backing file is opened, so its options go unused
    assert verdict("file=overlay.qcow2,format=qcow2,backing=,backing.node-name=b0,if=none") \
        == (False, "Block format 'qcow2' does not support the option 'backing.node-name'")
    # json:'s null is no deprecated spelling
    r = qdrive.check('file=json:{"driver":"qcow2",,"file":{"driver":"file",,"filename":'
                     '"overlay.qcow2"},,"backing":null},if=none')
    assert r.ok and r.qemu_stderr() == ""
    # the backing node's own backing= warns when that node opens
    text = "file=overlay.qcow2,format=qcow2,backing.backing=,if=none"
    assert qdrive.check(text).qemu_stderr().splitlines()[0] == (
        f"qemu-system-x86_64: -drive {text}: {BACKING_NULL}")
    assert "deprecated" not in qdrive.check(
        "file=overlay.qcow2,format=qcow2,backing.backing=,backing.driver=bogus,if=none"
    ).qemu_stderr()


@pytest.mark.parametrize("text, message", [
    # the json: name's file child is a local file: its header is read
    ('file=json:{"driver":"raw",,"file":{"driver":"file",,"filename":"disk.img"}},'
     'format=qcow2,if=none', "Image is not in qcow2 format"),
    # format= replaces the json:'s driver=file: the qcow2 node has no file child
    ('file=json:{"driver":"file",,"filename":"disk.img"},format=qcow2,if=none',
     'A block device must be specified for "file"'),
])
def test_json_names_open_their_local_files(images: Path, text: str, message: str) -> None:
    assert verdict(text) == (False, message)


def test_json_file_child_is_probed(images: Path) -> None:
    r = qdrive.check('file=json:{"file":{"driver":"file",,"filename":"disk.img"}},if=none')
    assert r.ok and r.qemu_stderr().startswith(
        "WARNING: Image format was not specified for 'disk.img' and probing guessed raw.")


@pytest.mark.parametrize("extra, message", [
    (",force-share=on", "force-share=on can only be used with read-only images"),
    (",auto-read-only=x", "Parameter 'auto-read-only' expects 'on' or 'off'"),
    (",node-name=1n", "Invalid node-name: '1n'"),
    (",prealloc-mode=off", "Image not in Parallels format"),  # the driver's own, after
])
def test_node_checks_come_before_the_header(headers: Path, extra: str, message: str) -> None:
    # block.c bdrv_open_common() before the driver's open reads the header
    assert verdict(f"file=disk.img,format=parallels,if=none{extra}") == (False, message)


@pytest.mark.parametrize("text, site, message", [
    ("driver=null-co,read-zeroes=maybe,if=none", "qapi_bool_parse() at "
     "../../qapi/qapi-util.c:104", "Parameter 'read-zeroes' expects 'on' or 'off'"),
    ("file.driver=null-aio,format=raw,file.latency-ns=1k,if=none", "parse_option_number() "
     "at ../../util/qemu-option.c:104", "Parameter 'latency-ns' expects a number"),
])
def test_null_option_errors_abort(text: str, site: str, message: str) -> None:
    # block/null.c absorbs its options with &error_abort: util/error.c says where
    lines = qdrive.check(text, probe_files=False).qemu_stderr().splitlines()
    assert lines == [f"Unexpected error in {site}:",
                     f"qemu-system-x86_64: -drive {text}: {message}"]


def test_null_latency_must_fit_int64() -> None:
    assert verdict("driver=null-aio,latency-ns=-1,if=none", probe_files=False) == (
        False, "latency-ns is invalid")


@pytest.mark.parametrize("text", [
    "format=qcow2,file.driver=raw,file.file.driver=file,file.file.filename=dir,if=none",
    "format=qcow2,file.driver=qcow2,file.file.filename=/dev/null,if=none",
])
def test_a_format_childs_file_is_checked_for_its_type(images: Path, text: str) -> None:
    name = text.split("filename=")[1].split(",")[0]
    assert verdict(text) == (False, f"'file' driver requires '{name}' to be a regular file")


def test_copy_on_read_filter_needs_a_writable_child(images: Path) -> None:
    text = "driver=copy-on-read,file.driver=file,file.filename=disk.img,read-only=on,bottom=n0"
    assert verdict(text) == (False, "Block node is read-only")  # located, before bottom
    assert verdict(text.replace(",read-only=on", "")) == (False, "Bottom node 'n0' not found")


# -- nvme and curl (fixtures/opentime/protocols.jsonl, recorded by QEMU 7.2) -----------

NO_VFIO = "Failed to open {}: No such file or directory"  # {}: the container node


@pytest.fixture
def no_vfio(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # the recording host has no vfio module: point the container at a missing node
    from qdrive.frontend import hostprobe

    monkeypatch.setattr(hostprobe, "VFIO_CONTAINER", str(tmp_path / "no-vfio"))


@pytest.mark.parametrize("text, message", [
    ("driver=nvme", "'device' option is required"),
    ("file=nvme://", "'device' option is required"),
    ("file=nvme:x", "'device' option is required"),
    ("file=nvme://0000:00:04.0/abc", "Invalid namespace 'abc', positive number expected"),
    ("file=nvme://0000:00:04.0/1,if=virtio", NO_VFIO),
    ("file=nvme://0000:00:04.0/,readonly=on", NO_VFIO),
    ("driver=nvme,device=0000:00:04.0,serial=abc", NO_VFIO),
])
def test_nvme_opens_vfios_container_first(no_vfio: None, text: str, message: str) -> None:
    from qdrive.frontend import hostprobe

    # open-time errors, before the board (IDE refuses a read-only disk) and the leftovers
    assert verdict(text) == (False, message.format(hostprobe.VFIO_CONTAINER))


def test_nvme_with_a_container_is_not_judged_further(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    from qdrive.frontend import hostprobe

    (tmp_path / "vfio").touch()
    monkeypatch.setattr(hostprobe, "VFIO_CONTAINER", str(tmp_path / "vfio"))
    assert verdict("file=nvme://0000:00:04.0,if=none") == (True, "")
    # the string-only verdict never looks at the host
    monkeypatch.setattr(hostprobe, "VFIO_CONTAINER", str(tmp_path / "missing"))
    assert verdict("file=nvme://0000:00:04.0,if=none", probe_files=False) == (True, "")


@pytest.mark.parametrize("text", [
    "driver=nvme,namespace=abc", "file=nvme://0000:00:04.0,file.namespace=x"])
def test_nvme_namespace_errors_abort(text: str) -> None:
    # block/nvme.c absorbs its options with &error_abort, before it asks for device=
    lines = qdrive.check(text, probe_files=False).qemu_stderr().splitlines()
    assert lines == ["Unexpected error in parse_option_number() at "
                     "../../util/qemu-option.c:104:",
                     f"qemu-system-x86_64: -drive {text}: Parameter 'namespace' expects a "
                     "number"]


GLIB = [f"GLib: {f}: assertion 'hash_table != NULL' failed"
        for f in ("g_hash_table_foreach_remove", "g_hash_table_destroy")]


@pytest.mark.parametrize("text, message", [
    ("driver=http,url=http://127.0.0.1/disk.img,readahead=1000",
     "HTTP_READAHEAD_SIZE 1000 is not a multiple of 512"),
    ("driver=http,url=http://127.0.0.1/disk.img,timeout=10001",
     "timeout parameter is too large or negative"),
    ("driver=http,url=https://127.0.0.1/disk.img",
     "http curl driver cannot handle the URL 'https://127.0.0.1/disk.img' (does not start "
     "with 'http://')"),
    ("driver=http,url=http://127.0.0.1/disk.img,timeout=x", "Parameter 'timeout' expects a "
     "number"),
    ("file=https://127.0.0.1/disk.img,file.sslverify=maybe",
     "Parameter 'sslverify' expects 'on' or 'off'"),
    ("file=ftp:disk.img,file.url=ftp://127.0.0.1/disk.img",  # the file name is the url
     "ftp curl driver cannot handle the URL 'ftp:disk.img' (does not start with 'ftp://')"),
    ("driver=ftp,url=ftp://127.0.0.1/disk.img,password-secret=nosuch,timeout=20000",
     "timeout parameter is too large or negative"),
])
def test_curl_fails_before_its_socket_table(text: str, message: str) -> None:
    # block/curl.c out_noclean: GLib's two criticals (error_report, located) come first
    lines = qdrive.check(text, probe_files=False).qemu_stderr().splitlines()
    where = f"qemu-system-x86_64: -drive {text}: "
    assert lines == [where + line for line in [*GLIB, message]]


def test_curl_common_options_fail_before_curls_open() -> None:
    text = "driver=http,url=http://127.0.0.1/disk.img,cache.direct=x"
    assert qdrive.check(text, probe_files=False).qemu_stderr() == (
        f"qemu-system-x86_64: -drive {text}: Parameter 'cache.direct' expects 'on' or 'off'")


@pytest.mark.parametrize("url", [
    "iscsi://", "iscsi://127.0.0.1", "iscsi://127.0.0.1/", "iscsi://127.0.0.1/t",
    "iscsi://127.0.0.1/t/", "iscsi://127.0.0.1/t/x", "iscsi://127.0.0.1/t/1/2", "iscsi:x",
    "iser://127.0.0.1/t/x",
])
def test_iscsi_urls_libiscsi_cannot_parse(url: str) -> None:
    # block/iscsi.c iscsi_parse_filename(), while the file name is parsed: before the
    # raw node's leftover option
    text = f"file={url},format=raw,active=x"
    assert verdict(text, probe_files=False) == (False, f"Failed to parse URL : {url}")


@pytest.mark.parametrize("text, message", [
    ("file=iscsi://127.0.0.1/t/0,file.user=u",
     "CHAP username specified but no password was given"),
    ("file=iscsi://127.0.0.1/t/0,file.header-digest=CRC32C",
     "Invalid header-digest setting : CRC32C"),
    ("file=iscsi://127.0.0.1/t/0,file.transport=udp", "Unknown transport: udp"),
    ("file=iscsi://127.0.0.1/t/0,file.user=u,file.password-secret=s", "No secret with id 's'"),
    ("driver=iscsi,transport=tcp,portal=127.0.0.1,target=t,user=u,password=p,"
     "password-secret=s", "'password' and 'password-secret' properties are mutually exclusive"),
    ("driver=iscsi,portal=127.0.0.1,target=t", "Need all of transport, portal and target "
     "options"),
])
def test_iscsi_checks_before_it_connects(text: str, message: str) -> None:
    assert verdict(text, probe_files=False) == (False, message)


@pytest.mark.parametrize("text", [
    "file=iscsi://127.0.0.1/t/ 1,if=none", "file=iscsi://127.0.0.1/t/-1,if=none",
    "file=iscsi://u%p@127.0.0.1/t/0,if=none",
    # apply_chap() looks at the passwords only for a user
    "file=iscsi://127.0.0.1/t/0,file.password=p,file.password-secret=s,if=none",
])
def test_iscsi_that_would_connect_is_not_judged(text: str) -> None:
    assert verdict(text, probe_files=False) == (True, "")


GLUSTER_JSON_USAGE = (
    "Usage: -drive driver=qcow2,file.driver=gluster,file.volume=testvol,"
    "file.path=/path/a.qcow2[,file.debug=9][,file.logfile=/path/filename.log],"
    "file.server.0.type=inet,file.server.0.host=1.2.3.4,file.server.0.port=24007,"
    "file.server.1.transport=unix,file.server.1.path=/var/run/glusterd.socket ...")


@pytest.mark.parametrize("options, lines", [
    ("path=img", ["Parameter 'server' is missing"]),
    ("path=p,server.0.type=inet", ["Parameter 'volume' is missing"]),
    # server.1 without server.0: qdict_array_entries() finds a key it cannot place
    ("path=p,volume=v,server.1.type=inet", ["Parameter 'server' is missing"]),
    ("path=,volume=v,server.0.host=h", ["Parameter 'type' is missing",
                                        "hint: check in 'server' array index '0'"]),
    ("path=p,volume=v,server.0.type=tcp,server.0.host=h,server.0.port=1,server.1.type=x",
     ["Parameter 'type' may be 'inet' or 'unix'", "hint: check in 'server' array index '1'"]),
    ("path=p,volume=v,server.0.type=unix,server.0.path=a,server.0.socket=b",
     ["Conflicting parameters 'path' and 'socket'",
      "hint: check in 'server' array index '0'"]),
    ("path=p,volume=v,server.0.type=inet,server.0.host=h,server.0.port=1,server.0.to=5",
     ["Parameter 'to' not supported"]),
])
def test_gluster_options_name_a_volume(options: str, lines: list[str]) -> None:
    text = f"driver=gluster,{options}"
    where = f"qemu-system-x86_64: -drive {text}: "
    got = qdrive.check(text, probe_files=False).qemu_stderr().splitlines()
    assert got == [where + lines[0], *lines[1:], GLUSTER_JSON_USAGE]


@pytest.mark.parametrize("uri, valid", [
    ("gluster://", False), ("gluster://127.0.0.1", False), ("gluster://h/v", False),
    ("gluster://h:x/v/p", False),
    ("gluster://h/v/p?socket=x", False), ("gluster+unix:///v/p", False),
    ("gluster+unix://h/v/p?socket=x", False),
    ("gluster://h/v/p", True), ("gluster+tcp://h:24007/v/dir/p", True),
    ("gluster+unix:///v/p?socket=/run/s", True),
])
def test_gluster_uris(uri: str, valid: bool) -> None:
    text = f"file={uri},if=none"
    if valid:  # it would connect: not judged
        assert verdict(text, probe_files=False) == (True, "")
        return
    lines = qdrive.check(text, probe_files=False).qemu_stderr().splitlines()
    assert lines == [f"qemu-system-x86_64: -drive {text}: invalid URI {uri}",
                     "Usage: file=gluster[+transport]://[host[:port]]volume/path"
                     "[?socket=...][,file.debug=N][,file.logfile=/path/filename.log]"]


@pytest.mark.parametrize("text, message", [
    ("file=nbd://127.0.0.1:x", "No valid URL specified"),
    ("file=nbd+unix:///e", "No valid URL specified"),  # no socket=
    ("file=nbd://h/e?socket=s", "No valid URL specified"),
    ("file=nbd:127.0.0.1", "error parsing address '127.0.0.1'"),
    ("file=nbd::", "error parsing port in address ':'"),
    ("file=nbd:", "NBD server address missing"),
    ("file=nbd:x:exportname=e,file.export=y", "Option 'export' cannot be used with a file "
     "name"),
    ("driver=nbd,server.type=inet,server.host=h", "Parameter 'port' is missing"),
    ("driver=nbd,server.type=x", "Parameter 'type' does not accept value 'x'"),
    ("driver=nbd,path=p,port=1", "port may not be used without host"),
    ("driver=nbd,host=h,server.type=inet", "Cannot use 'server' and path/host/port at the "
     "same time"),
    # the visitor's GHashTable, not the QDict, decides which unexpected key it names
    ("driver=nbd,server.type=inet,server.host=h,server.port=1,server.x=1,server.a=2",
     "Parameter 'a' is unexpected"),
    ("driver=nbd,server.type=unix,server.path=p,tls-creds=t", "No TLS credentials with id 't'"),
])
def test_nbd_checks_before_it_connects(text: str, message: str) -> None:
    assert verdict(text, probe_files=False) == (False, message)


def test_nbd_unix_socket_is_looked_at_when_probing(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain").touch()
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind("live.sock")
        assert verdict("file=nbd:unix:missing.sock") == (
            False, "Failed to connect to 'missing.sock': No such file or directory")
        assert verdict("file=nbd:unix:plain") == (
            False, "Failed to connect to 'plain': Connection refused")
        assert verdict("file=nbd:unix:missing.sock,if=none", probe_files=False) == (True, "")
        assert verdict("file=nbd:unix:live.sock,if=none") == (True, "")  # not judged


def test_ghash_order_is_glibs_slot_order() -> None:
    from qdrive.frontend._qdict import ghash_order

    # recorded: QEMU 7.2 names "a" before "x" (opentime-protocols.jsonl)
    order = ghash_order(["type", "host", "port", "x", "a"])
    assert order is not None and sorted(order) == ["a", "host", "port", "type", "x"]
    assert order.index("a") < order.index("x")
    assert ghash_order([f"k{i}" for i in range(9)]) is None  # beyond 8 slots


@pytest.mark.parametrize("text, message", [
    ("file=nfs://", "missing hostname in URI"),
    ("file=nfs://127.0.0.1", "missing file path in URI"),
    ("file=nfs:x", "missing hostname in URI"),
    ("file=nfs://h h/x", "Invalid URI specified"),
    ("file=nfs://127.0.0.1/x?uid", "Value for NFS parameter expected: uid"),
    ("file=nfs://127.0.0.1/x?uid=-1", "Illegal value for NFS parameter: uid"),
    ("file=nfs://127.0.0.1/x?bogus=1", "Unknown NFS parameter name: bogus"),
    ("file=nfs://h/x,file.debug=1", "Option debug cannot be used with a filename"),
    ("file=ssh://h", "missing remote path in URI"),
    ("file=ssh://h/p,file.port=1", "Option 'port' cannot be used with a file name"),
    ("driver=ssh,path=p,port=0", "port may not be used without host"),
    ("driver=ssh,host=h,path=p,host_key_check=bogus", "unknown host_key_check setting (bogus)"),
    ("file=rbd:pool", "Pool name is required"),
    ("file=rbd:pool/img:conf", "conf option conf has no value"),
])
def test_nfs_ssh_rbd_names_before_they_connect(text: str, message: str) -> None:
    # the file name is parsed first: before the raw node's leftover option
    assert verdict(f"{text},format=raw,active=x", probe_files=False) == (False, message) \
        if text.startswith("file=") else verdict(text, probe_files=False) == (False, message)


@pytest.mark.parametrize("text, parts", [
    ("nfs://h:2049/p/q?uid=1", ("nfs", None, "h", 2049, "/p/q", "uid=1")),
    ("nbd+unix:///e?socket=s", ("nbd+unix", None, None, 0, "/e", "socket=s")),
    ("ssh://u@h/p", ("ssh", "u", "h", 0, "/p", None)),
    ("nfs://[::1]/p", ("nfs", None, "[::1]", 0, "/p", None)),
])
def test_uri_parse(text: str, parts: tuple[object, ...]) -> None:
    from qdrive.frontend import _uri

    uri = _uri.parse(text)
    assert uri is not None
    assert (uri.scheme, uri.user, uri.server, uri.port, uri.path, uri.query) == parts


@pytest.mark.parametrize("text", ["nfs://h:x/p", "nfs://h h/p", "1nfs://h/p", "nfs//h"])
def test_uri_parse_refuses(text: str) -> None:
    from qdrive.frontend import _uri

    assert _uri.parse(text) is None


def test_query_params() -> None:
    from qdrive.frontend import _uri

    assert _uri.query_params("&&a=1&b&=3&c=") == [("a", "1"), ("b", None), ("c", "")]


def _qfi(version: int) -> bytes:
    # the magic qcow and qcow2 share, then the version; the rest of a sector zeroed
    return (b"QFI\xfb" + version.to_bytes(4, "big")).ljust(4096, b"\0")


@pytest.mark.parametrize("version, fmt, message", [
    (1, "qcow2", "Unsupported qcow2 version 1"),
    (4, "qcow2", "Unsupported qcow2 version 4"),
    (2, "qcow", "qcow (v1) does not support qcow version 2\nTry the 'qcow2' driver instead."),
    (5, "qcow", "qcow (v1) does not support qcow version 5"),
])
def test_qcow_and_qcow2_refuse_each_others_versions(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     version: int, fmt: str,
                                                     message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "img").write_bytes(_qfi(version))
    text = f"file=img,format={fmt},if=none"
    assert qdrive.check(text).qemu_stderr() == f"qemu-system-x86_64: -drive {text}: {message}"


@pytest.mark.parametrize("extra, ok", [
    ("snapshot=on", True),  # the drive's node is the overlay's read-only backing file
    ("snapshot=on,read-only=off", True),
    ("snapshot=on,file.read-only=off", False),  # the file child is still read-write
    ("read-only=on,file.read-only=off", False),
    ("read-only=on,file.read-only=on", True),
    ("", False),
])
def test_force_share_needs_every_node_read_only(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                extra: str, ok: bool) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "disk.img").write_bytes(bytes(1 << 20))
    text = ",".join(p for p in ("file=disk.img,format=raw,force-share=on", extra, "if=none")
                    if p)
    assert verdict(text) == (ok, "" if ok else
                             "force-share=on can only be used with read-only images")


@pytest.mark.parametrize("extra, message", [
    ("backing.driver=raw,backing.node-name=1b", "Invalid node-name: '1b'"),  # before raw's file
    ("backing.driver=qcow2,backing.cache.direct=x", "Parameter 'cache.direct' expects 'on' or "
     "'off'"),
    ("backing.file.filename=disk.img,backing.discard=x", "Invalid discard option"),
    ("backing.file.filename=disk.img,backing.force-share=on,backing.read-only=off",
     "force-share=on can only be used with read-only images"),
])
@needs_qemu_img
def test_a_backing_nodes_common_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        extra: str, message: str) -> None:
    # block.c bdrv_open_common() of the backing node, before its driver's open (and
    # before the top node's leftover bogus=)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "disk.img").write_bytes(bytes(1 << 20))
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "top.qcow2", "1M"], check=True)
    text = f"file=top.qcow2,format=qcow2,{extra},bogus=1"
    assert verdict(text) == (False, f"Could not open backing file: {message}")


@needs_qemu_img
@pytest.mark.parametrize("text, message", [
    # the file child inherits force-share: its bdrv_open_common() refuses it before
    # file-posix reads locking= ...
    ("file=disk.img,format=raw,file.locking=x,force-share=on",
     "force-share=on can only be used with read-only images"),
    # ... and before a format child reads its header
    ("format=raw,file.driver=qcow2,file.file.driver=file,file.file.filename=disk.img,"
     "force-share=on", "force-share=on can only be used with read-only images"),
    ("file.driver=qcow2,file.file.driver=file,file.file.filename=top.qcow2,file.size=4096,"
     "force-share=x", "Parameter 'force-share' expects 'on' or 'off'"),
    ("file=rbd:,force-share=on", "Pool name is required"),  # the file name comes first
    ("format=raw,file.driver=qcow2,file.file.filename=top.qcow2,force-share=on,"
     "read-only=on,if=none", ""),
    ("format=raw,file.driver=qcow2,file.file.filename=top.qcow2,force-share=on,"
     "snapshot=on,if=none", ""),
])
def test_force_share_is_inherited_by_file_children(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   text: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "disk.img").write_bytes(bytes(1 << 20))
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "top.qcow2", "1M"], check=True)
    assert verdict(text) == (not message, message)


@needs_qemu_img
@pytest.mark.parametrize("text", [
    "driver=blkreplay,image.driver=qcow2,image.file.driver=file,image.file.filename={}",
    "driver=copy-before-write,file.driver=null-co,target.driver=qcow2,"
    "target.file.driver=file,target.file.filename={}",
])
def test_a_filters_children_read_their_headers(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               text: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "disk.img").write_bytes(bytes(1 << 20))
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "top.qcow2", "1M"], check=True)
    assert verdict(text.format("disk.img")) == (False, "Image is not in qcow2 format")
    assert verdict(text.format("top.qcow2") + ",if=none") == (True, "")
    # the string-only verdict reads nothing
    assert verdict(text.format("disk.img") + ",if=none", probe_files=False) == (True, "")


@pytest.mark.parametrize("size, signature, message", [
    (1 << 20, 0, "Image not in VDI format (bad signature 00000000)"),
    (0x7E7E7E7E7E7E7E7E, 0, "Unsupported VDI image size (size is 0x7e7e7e7e7e7e7e7e, max "
     "supported is 0x1fffff8000000)"),  # the size is checked before the signature
])
def test_vdi_reads_its_header_from_any_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            size: int, signature: int, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    head = bytearray(b"QFI\xfb\0\0\0\3".ljust(4096, b"\0"))  # a qcow2 magic: not raw
    head[0x40:0x44] = signature.to_bytes(4, "little")
    head[0x170:0x178] = size.to_bytes(8, "little")
    (tmp_path / "img").write_bytes(bytes(head))
    assert verdict("file=img,format=vdi,if=none") == (False, message)


@pytest.mark.parametrize("content", [b"", b"abc", bytes(0x100)])
def test_vdi_reads_zeros_past_a_short_files_end(tmp_path: Path, content: bytes,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # block/io.c pads a read past the end of the file with zeros: vdi_open() sees
    # signature 0 in a file shorter than its header (QEMU 7.2, 10.0 and 11.1 alike)
    (tmp_path / "short.img").write_bytes(content)
    monkeypatch.chdir(tmp_path)
    assert verdict("format=vdi,file=short.img,readonly=on") == (
        False, "Image not in VDI format (bad signature 00000000)")
