"""Open-time rules added after the held-back batch of session 10 missed them, each case
started under the real QEMU 7.2 beside qdrive: blkdebug's alignment overrides
(block/blkdebug.c blkdebug_open()), the QAPI visit of ssh/nfs options through a flat
union, an enum and a boolean (qapi/qobject-input-visitor.c), and the ones below as they
land. qdrive's verdict and message must be QEMU's, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat import compare, oracle

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not oracle.have_qemu("7.2"), reason="QEMU 7.2 not installed")]

_BLKDEBUG = "driver=blkdebug,image.driver=raw,image.file.driver=file,image.file.filename=disk3.img,"
_SSH = "driver=ssh,path=harvest-nbd.sock,host=127.0.0.1,user=1000,"
DRIVES = [
    _BLKDEBUG + "align=1.5k",  # not a power of two
    _BLKDEBUG + "align=2147483648",  # at INT_MAX's next power
    _BLKDEBUG + "align=1048576",  # a power of two the 1 MiB image is a multiple of
    _BLKDEBUG + "align=4096,max-transfer=1000",  # not a multiple of align
    _BLKDEBUG + "align=512,max-transfer=4096",
    _BLKDEBUG + "opt-discard=1024,max-discard=1536",  # max-discard against opt-discard
    _BLKDEBUG + "opt-write-zero=512,max-write-zero=1024",
    _BLKDEBUG + "max-write-zero=3",  # alignment 1 without O_DIRECT: any value
    _SSH + "host-key-check.type=sha256",  # the union's discriminator is required
    _SSH + "host-key-check.mode=hash",  # then the variant's members
    _SSH + "host-key-check.mode=bogus",
    _SSH + "host-key-check.mode=hash,host-key-check.type=md5",
    _SSH + "host-key-check.mode=hash,host-key-check.type=bogus,host-key-check.hash=ab",
    _SSH + "host-key-check.mode=none,host-key-check.x=1",
    "driver=ssh,path=x,server.host=127.0.0.1,server.port=22,server.ipv4=maybe",
    "driver=nfs,path=,user=4096,server.type=BOGUS",  # the enum before the missing host
    "driver=nfs,path=/x,server.type=inet,server.host=127.0.0.1,uid=x",
    # an ssh:// file name's options (block/ssh.c parse_uri()) are visited too, before
    # the connection
    "file=ssh://127.0.0.1/x?host_key_check=no,file.bogus=1",
    "file=ssh://127.0.0.1/x?host_key_check=sha1:abc,file.zz=1,file.aa=2",
    "driver=ssh,path=x,host=127.0.0.1,host_key_check=yes,q=1",
    # a reference beside the parent's option naming a file (blkverify's x-image=)
    "driver=blkverify,raw.filename=disk3.img,test=disk.img,x-image=,cache.no-flush=on",
    "driver=blkverify,raw.filename=disk3.img,test=disk.img,x-image=disk2.img",
    # raw's probing warning on a backing node opened read-write (block/raw-format.c
    # raw_open()), over a file and over a null driver's zeros, named by its URL or by
    # json:{...} once a strong option is given (block/null.c null_refresh_filename())
    "file=gen.vmdk,format=vmdk,backing.file.driver=null-co,backing.read-only=off,if=none",
    "file=gen.vmdk,format=vmdk,backing.file.driver=null-co,if=none",  # read-only: none
    "file=gen.vmdk,format=vmdk,backing.file.driver=null-aio,backing.file.read-zeroes=on,"
    "backing.read-only=off,if=none",
    "file=gen.vmdk,format=vmdk,backing.file.driver=file,backing.file.filename=disk3.img,"
    "backing.read-only=off,if=none",
    "file.driver=null-aio,file.size=4096,if=none",
    # a null driver parses only a file name given as one (block.c bdrv_fill_options())
    "file.driver=null-co,file.filename=disk.img,if=none",
    "file.driver=null-co,file.filename=null-co://,if=none",
    "file=null-co://x,if=none",
    "file=gen-overlay.qcow2,format=qcow2,backing.file.filename=null-co://,"
    "backing.file.driver=null-co,if=none",
    "file=gen-overlay.qcow2,format=qcow2,backing.file=null-co://x,if=none",
    # bdrv_open_common()'s order in a child: its options, force-share, the file name a
    # file-posix driver needs, discard, then the node-name
    "file=disk.qcow2,format=qcow2,backing.backing=,backing.cache.no-flush=x,"
    "backing.file.driver=file,if=none",
    "file=disk.qcow2,format=qcow2,backing.file.driver=file,backing.file.discard=x,"
    "backing.file.node-name=0bad,if=none",
    "file=disk.qcow2,format=qcow2,backing.file.driver=file,backing.file.force-share=on,"
    "if=none",
    "driver=qcow2,file.driver=file,file.discard=x,file.node-name=0x,if=none",
    # qcow2_update_options_prepare() after the caches, before the unused options
    "file=disk.qcow2,format=qcow2,cache-clean-interval=-1,bogus=1,if=none",
    "file=disk.qcow2,format=qcow2,cache-clean-interval=4294967296,if=none",
    "file=disk.qcow2,format=qcow2,cache-clean-interval=4294967295,if=none",
    "file=disk.qcow2,format=qcow2,lazy-refcounts=on,if=none",  # a version 3 image
    "file=disk.qcow2,format=qcow2,overlap-check=all,overlap-check.template=none,if=none",
    "file=disk.qcow2,format=qcow2,overlap-check=bogus,if=none",
    "file=disk.qcow2,format=qcow2,overlap-check.template=bogus,if=none",
    "file=disk.qcow2,format=qcow2,overlap-check=none,overlap-check.template=none,if=none",
    # file-posix's options are unknown to other protocols, before the format's header
    "format=parallels,file.driver=null-co,file.locking=on,if=none",
    "format=raw,file.driver=null-aio,file.aio=threads,if=none",
    "format=raw,file.driver=null-co,file.drop-cache=on,if=none",
    # a flat-confused visit names the first unexpected key in its GHashTable's order
    "driver=rbd,pool=p,image=i,bogus=1,cache.direct=on,active=on",
    "driver=rbd,pool=p,image=i,zz=1,aa=2,mm=3",
    "driver=nfs,path=/x,server.type=inet,server.host=127.0.0.1,q=1,r=2,s=3,t=4",
    # an empty file.filename= is a name: the file driver's, which needs a non-empty one
    "driver=raw,file.filename=",
    "driver=vmdk,file.filename=",
    "format=vmdk,file.filename=,node-name=n0",
    "driver=raw,file.filename=,file.discard=x",
    # raw_open_common(): the pr-manager lookup, the open, then aio=native's O_DIRECT,
    # before the node's unused options
    "driver=file,filename=disk.img,aio=native",  # a protocol node of its own
    "driver=file,filename=disk.img,aio=native,serial=abc",
    "driver=file,filename=disk.img,aio=native,cache=none",
    "driver=file,filename=missing.img,aio=native",
    "driver=file,filename=disk.img,aio=native,pr-manager=x",
    "file=disk.img,format=raw,file.pr-manager=,file.aio=native",
    "file=disk.img,format=raw,file.aio=native,file.bogus=1",
    # backing="" is null on any node (a protocol backing node too)
    "file=gen.qed,backing.driver=file,backing.filename=disk.img,backing.backing=,if=none",
    # blkdebug_parse_perms(): after the rules, before the image child
    "driver=blkdebug,image.driver=file,image.filename=disk2.img,x-image=disk3.img,"
    "take-child-perms.0=ON",
    "driver=blkdebug,image.driver=file,image.filename=disk2.img,take-child-perms.0=write,"
    "take-child-perms.1=bad",
    "driver=blkdebug,image.driver=file,image.filename=disk2.img,inject-error.0.event=bogus,"
    "take-child-perms.0=x",
    # quorum_getlength(): every child as long as the first (refresh_total_sectors())
    "driver=quorum,children.0.driver=file,children.0.filename=disk4.img,"
    "children.1.driver=file,children.1.filename=gen-big.img,vote-threshold=1,if=none",
    "driver=quorum,children.0.driver=raw,children.0.file.driver=file,"
    "children.0.file.filename=disk2.img,children.1.driver=null-co,vote-threshold=1,if=none",
    "driver=quorum,children.0.driver=file,children.0.filename=disk4.img,"
    "children.1.driver=null-co,children.1.size=1M,vote-threshold=1,if=none",
    "driver=quorum,children.0.driver=qcow2,children.0.file.filename=disk.qcow2,"
    "children.1.driver=null-co,children.1.size=1M,vote-threshold=1,serial=abc,if=none",
    # raw's offset/size against a format child's length, and a raw child's own window
    "format=raw,file.driver=raw,file.file.driver=file,file.file.filename=disk4.img,size=1G,"
    "offset=4k,if=none",
    "format=qcow2,file.driver=raw,file.file.driver=file,file.file.filename=gen.vpc,"
    "file.size=4096,if=none",
    "format=raw,file.driver=qcow2,file.file.driver=file,file.file.filename=gen-overlay.qcow2,"
    "offset=1M,size=512,if=none",
    "format=raw,file.driver=raw,file.file.filename=disk4.img,file.offset=512k,size=1M,if=none",
    "format=raw,file.driver=raw,file.file.filename=disk4.img,file.offset=512k,size=512k,"
    "if=none",
    "format=raw,file.driver=raw,file.file.filename=disk4.img,file.size=1000,if=none",
    # a disk device's geometry guess reads sector 0 through blkverify: test read as a
    # file (test.driver=file) gives its header bytes
    "test.driver=file,raw.driver=raw,raw.file.filename=disk2.img,test.filename=gen.vdi,"
    "raw.file.driver=file,unit=1,driver=blkverify",
    "driver=blkverify,raw.driver=file,raw.filename=disk3.img,test.driver=file,"
    "test.filename=gen.vmdk,if=virtio",
    "driver=blkverify,raw.driver=file,raw.filename=disk3.img,test.filename=gen.vmdk,"
    "if=virtio",  # test probed as vmdk: zeros
    "driver=blkverify,raw.driver=file,raw.filename=disk3.img,test.driver=file,"
    "test.filename=gen.vmdk,if=none",  # no device, no read
    # copy-before-write: the flat-confused visit's crumple, and block-copy's default
    # cluster size for a target that gives none
    "driver=copy-before-write,file.driver=raw,driver.bogus=1,file.file.driver=file,"
    "file.file.filename=disk4.img,target.driver=null-co,bitmap.node=n0",
    "driver=copy-before-write,file.filename=disk4.img,target.driver=null-co,bitmap=x,"
    "bitmap.node=y",
    "driver=copy-before-write,file.filename=disk4.img,target.driver=null-co,if=none",
    "driver=copy-before-write,file.filename=disk3.img,target.driver=null-co,"
    "min-cluster-size=8,if=none",
    "driver=copy-before-write,file.filename=disk3.img,target.driver=file,"
    "target.filename=disk2.img,if=none",
    # one drive's graph opening one image twice locks itself out
    "file=disk.qcow2,backing.driver=qcow2,backing.file.driver=file,"
    "backing.file.filename=disk.qcow2,cache-clean-interval=010,bogus=1",
    "file=disk.qcow2,format=qcow2,backing.driver=qcow2,backing.file.filename=disk.qcow2,"
    "if=none",
    "file=disk.qcow2,format=qcow2,backing.driver=qcow2,backing.file.filename=disk.qcow2,"
    "readonly=on,if=none",  # two readers
    "file=disk.qcow2,format=qcow2,backing.driver=raw,backing.file.filename=disk.qcow2,"
    "if=none",  # raw takes nothing of its own at open
    "file=disk.qcow2,format=qcow2,backing.driver=qcow2,backing.file.filename=disk.qcow2,"
    "file.locking=off,if=none",
    "driver=copy-before-write,file.driver=qcow2,file.file.driver=file,"
    "file.file.filename=disk.qcow2,target.driver=qcow2,target.file.driver=file,"
    "target.file.filename=gen-overlay.qcow2",  # the target's header backing
]


@pytest.mark.parametrize("drive", DRIVES)
def test_open_rules_are_qemus(drive: str, in_images: Path) -> None:
    ours, qemus = compare.live_verdicts({"drives": [drive]}, in_images)
    assert ours == qemus


# 10.0's active=off opens a node inactive: it takes no image locks, so one image twice in
# one graph, or beside another drive, is no conflict there (7.2 has no such option)
LATER = [
    {"drives": ["file=disk.qcow2,format=qcow2,backing.driver=qcow2,"
                "backing.file.filename=disk.qcow2,active=off,if=none"]},
    {"argv": ["-drive", "file=disk.qcow2,format=qcow2,if=none,id=d0", "-drive",
              "file=gen-overlay.qcow2,format=qcow2,if=none,id=d1,active=off"]},
    {"argv": ["-drive", "file=disk.qcow2,format=qcow2,if=none,id=d0", "-drive",
              "file=gen-overlay.qcow2,format=qcow2,if=none,id=d1"]},
]


@pytest.mark.parametrize("case", LATER)
@pytest.mark.parametrize("version", ["10.0", "11.1"])
def test_inactive_nodes_lock_nothing(case: dict, version: str, in_images: Path) -> None:
    if not oracle.have_qemu(version):
        pytest.skip(f"QEMU {version} not installed (../shared/tools/qemu-chroot as root)")
    ours, qemus = compare.live_verdicts(case, in_images, dialect=f"qemu-{version}")
    assert ours == qemus
