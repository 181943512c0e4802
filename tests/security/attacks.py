"""The attack catalogue: a lab of allowed and outside files, and candidates by class.

Each :class:`Candidate` is what an attacker hands a launcher: drive strings or a whole
command line, plus the files they planted in the allowed directory (built once by
:class:`Lab`). ``expect`` marks what the policy must decide where that is part of the
contract ("accept": a clean or inside-only case the policy must not refuse; "refuse":
a case QEMU would turn into an escape). Everything accepted is run in QEMU anyway.
"""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import attrs

from qdrive import Policy
from tests.compat import oracle
from tests.security import images as im

CLASSES = ("protocol", "keys", "path", "image-qcow2", "image-other", "argv", "snapshot",
           "device", "spelling", "names", "nested", "clean", "corpus")


@attrs.frozen
class Candidate:
    """One attack (or clean shape): drive strings or a command line, and a policy."""

    cls: str
    label: str
    drives: tuple[str, ...] = ()
    argv: tuple[str, ...] | None = None
    policy: str = "default"
    expect: str = ""  # "accept", "refuse" or "" (either; QEMU judges what is accepted)


class Lab:
    """The directories of one attack run.

    ``images`` is the allowed directory (and QEMU's working directory for plain runs),
    ``outside`` holds what must never be opened, ``overlay`` takes snapshot overlays,
    ``elsewhere`` is the empty working directory of hand-off runs.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.images = root / "images"
        self.outside = root / "outside"
        self.overlay = root / "overlay"
        self.elsewhere = root / "elsewhere"
        self.devices: list[str] = []

    def policy(self, name: str) -> Policy:
        images = [str(self.images)]
        if name == "wide":
            return Policy.untrusted(images, cwd=str(self.images),
                                    formats=("raw", "qcow2", "qcow", "qed", "vmdk", "vpc",
                                             "vhdx"))
        if name == "overlay":
            return Policy.untrusted(images, cwd=str(self.images), overlay_dir=str(self.overlay),
                                    overlay_budget=64 << 20)
        if name == "devices":
            return Policy.untrusted(images, cwd=str(self.images), devices=self.devices[:1])
        return Policy.untrusted(images, cwd=str(self.images))

    def build(self) -> None:
        for d in (self.images, self.outside, self.overlay, self.elsewhere):
            d.mkdir(parents=True, exist_ok=True)
        oracle.make_images(self.images)
        self._outside()
        self._paths()
        self._qcow2()
        self._others()
        self._nested()
        self._launch_files()

    def _launch_files(self) -> None:
        i = self.images
        im.raw(i / "vmlinuz")
        im.raw(i / "initrd.img")
        im.raw(i / "bios.bin", size=256 << 10)
        im.qemu_img("create", "-q", "-f", "qcow2", str(i / "huge.qcow2"), "1T")
        with open(i / "huge.raw", "wb") as f:
            f.truncate(1 << 40)

    # -- what must never be opened --------------------------------------------------------
    def _outside(self) -> None:
        o = self.outside
        im.raw(o / "secret.img", data=b"secret")
        im.qemu_img("create", "-q", "-f", "qcow2", str(o / "outside.qcow2"), "1M")
        im.raw(o / "data.raw")
        (o / "dir").mkdir(exist_ok=True)

    # -- names, links, odd files ----------------------------------------------------------
    def _paths(self) -> None:
        i, o = self.images, self.outside
        (i / "sub" / "deep").mkdir(parents=True, exist_ok=True)
        im.raw(i / "sub" / "deep" / "inner.img")
        im.symlink(i / "abs-out.img", str(o / "secret.img"))
        im.symlink(i / "abs-in.img", str(i / "disk.img"))
        im.symlink(i / "rel-out.img", "../outside/secret.img")
        im.symlink(i / "rel-in.img", "sub/deep/inner.img")
        im.symlink(i / "dangling.img", "nowhere/at/all.img")
        im.symlink(i / "linkdir", "sub/deep")
        im.symlink(i / "proc-fd.img", "/proc/self/fd/0")
        im.symlink(i / "proc-root.img", "../../../../../../proc/self/root" + str(o / "secret.img"))
        im.symlink(i / "etc", "/etc")
        im.fifo(i / "fifo.img")
        os.mknod(i / "null.img", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(i / "sock.img"))
        s.close()
        os.link(o / "secret.img", i / "hardlink-out.img")
        im.raw(i / "twice.img")
        os.link(i / "twice.img", i / "twice-again.img")
        im.raw(i / "nbd:127.0.0.1:10809")  # a local file whose name looks like a protocol
        im.raw(i / "on")  # what a bare "file.filename" flag names
        self._chains()

    def _chains(self) -> None:
        i = self.images
        # 40 links: the kernel's limit, followed; 41 and 1,500: ELOOP.
        # The top link counts too: chain40 is 40 links in all, chain41 41.
        for count, name in ((39, "chain40"), (40, "chain41"), (1500, "chain1500")):
            d = i / f"{name}.d"
            d.mkdir()
            im.raw(d / "end.img")
            for n in range(count):
                target = "end.img" if n == 0 else f"l{n - 1}"
                os.symlink(target, d / f"l{n}")
            os.symlink(f"{name}.d/l{count - 1}", i / f"{name}.img")
        # Past PATH_MAX: 18 directories of 250-character names, made and linked through
        # directory descriptors; each level's link names the next level's link, so every
        # name QEMU opens is short while the resolved path grows past 4,500 characters
        # (19 links: twice that, as a lookup restarted under load may count, is under 40).
        top = os.open(i, os.O_PATH | os.O_DIRECTORY)
        fds = [os.open("long", os.O_PATH | os.O_DIRECTORY, dir_fd=top)] if os.mkdir(
            "long", dir_fd=top) is None else []
        names = [f"{n:02d}" + "d" * 248 for n in range(18)]
        for name in names:
            os.mkdir(name, dir_fd=fds[-1])
            fds.append(os.open(name, os.O_PATH | os.O_DIRECTORY, dir_fd=fds[-1]))
        deepest = fds[-1]
        os.close(os.open("deep.img", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=deepest))
        os.symlink("deep.img", "next-in", dir_fd=deepest)
        os.symlink("../" * 20 + "outside/secret.img", "next-out", dir_fd=deepest)
        for level in range(17, -1, -1):  # fds[level] holds names[level]
            for kind in ("in", "out"):
                os.symlink(f"{names[level]}/next-{kind}", f"next-{kind}", dir_fd=fds[level])
        os.symlink("long/next-in", "pathmax-in.img", dir_fd=top)
        os.symlink("long/next-out", "pathmax-out.img", dir_fd=top)
        os.symlink("long/" + "/".join(names[:10]) + "/" + "../" * 12 + "outside/secret.img",
                   "pathmax-up.img", dir_fd=top)
        for fd in [top, *fds]:
            os.close(fd)

    # -- qcow2 ----------------------------------------------------------------------------
    def _qcow2(self) -> None:
        i, o = self.images, self.outside
        q = im.qcow2
        q(i / "b-abs-out.qcow2", backing=str(o / "secret.img").encode(),
          extensions=[(im.BACKING_FORMAT, b"raw")])
        q(i / "b-rel-out.qcow2", backing=b"../outside/secret.img",
          extensions=[(im.BACKING_FORMAT, b"raw")])
        q(i / "b-in.qcow2", backing=b"disk.img", extensions=[(im.BACKING_FORMAT, b"raw")])
        q(i / "b-in-v2.qcow2", backing=b"disk.img", version=2,
          extensions=[(im.BACKING_FORMAT, b"raw")])
        q(i / "b-probed.qcow2", backing=b"disk.img")
        q(i / "b-far.qcow2", backing=str(o / "secret.img").encode(), backing_offset=40000,
          extensions=[(im.BACKING_FORMAT, b"raw")])
        q(i / "b-far-in.qcow2", backing=b"disk.img", backing_offset=65536 - 8,
          extensions=[(im.BACKING_FORMAT, b"raw")])
        q(i / "b-nbd.qcow2", backing=b"nbd:127.0.0.1:10809", extensions=[(im.BACKING_FORMAT,
                                                                           b"raw")])
        q(i / "b-nbd-url.qcow2", backing=b"nbd://127.0.0.1:10809/x",
          extensions=[(im.BACKING_FORMAT, b"raw")])
        q(i / "b-json.qcow2", backing=b'json:{"driver":"raw","file":{"driver":"file",'
          b'"filename":"' + str(o / "secret.img").encode() + b'"}}')
        q(i / "b-file-prefix.qcow2", backing=b"file:" + str(o / "secret.img").encode(),
          extensions=[(im.BACKING_FORMAT, b"raw")])
        q(i / "b-fmt-nbd.qcow2", backing=b"127.0.0.1:10809", extensions=[(im.BACKING_FORMAT,
                                                                          b"nbd")])
        q(i / "b-fmt-file.qcow2", backing=str(o / "secret.img").encode(),
          extensions=[(im.BACKING_FORMAT, b"file")])
        q(i / "b-fmt-hostdev.qcow2", backing=b"/dev/null",
          extensions=[(im.BACKING_FORMAT, b"host_device")])
        q(i / "b-fmt-twice.qcow2", backing=b"disk.img",
          extensions=[(im.BACKING_FORMAT, b"raw"), (im.BACKING_FORMAT, b"vvfat")])
        q(i / "b-fmt-twice-ok.qcow2", backing=b"disk.img",
          extensions=[(im.BACKING_FORMAT, b"vvfat"), (im.BACKING_FORMAT, b"raw")])
        q(i / "b-nul.qcow2", backing=b"disk.img\0/../outside/secret.img",
          extensions=[(im.BACKING_FORMAT, b"raw")])
        q(i / "b-fmt-nul.qcow2", backing=b"disk.img",
          extensions=[(im.BACKING_FORMAT, b"raw\0nbd")])
        q(i / "b-symlink.qcow2", backing=b"abs-out.img", extensions=[(im.BACKING_FORMAT, b"raw")])
        q(i / "b-fdset.qcow2", backing=b"/dev/fdset/1", extensions=[(im.BACKING_FORMAT, b"raw")])
        q(i / "b-too-long.qcow2", backing=b"a" * 1024, extensions=[(im.BACKING_FORMAT, b"raw")])
        q(i / "b-offset-past.qcow2", backing=b"disk.img", backing_offset=65536 + 16,
          extensions=[(im.BACKING_FORMAT, b"raw")])
        q(i / "b-ext-after-end.qcow2", backing=b"disk.img",
          raw_extensions=bytes(8) + im._ext(im.BACKING_FORMAT, b"nbd"))
        q(i / "b-ext-huge.qcow2", backing=b"disk.img",
          raw_extensions=im.struct.pack(">II", im.BACKING_FORMAT, 0xFFFFFF00))
        q(i / "b-bigcluster.qcow2", backing=str(o / "secret.img").encode(), cluster_bits=21,
          backing_offset=(1 << 21) - 200, extensions=[(im.BACKING_FORMAT, b"raw")])
        q(i / "df-abs-out.qcow2", incompatible=im.INCOMPAT_DATA_FILE,
          extensions=[(im.DATA_FILE, str(o / "data.raw").encode())])
        q(i / "df-rel-out.qcow2", incompatible=im.INCOMPAT_DATA_FILE,
          extensions=[(im.DATA_FILE, b"../outside/data.raw")])
        im.raw(i / "data.raw")
        q(i / "df-in.qcow2", incompatible=im.INCOMPAT_DATA_FILE,
          extensions=[(im.DATA_FILE, b"data.raw")])
        q(i / "df-nbd.qcow2", incompatible=im.INCOMPAT_DATA_FILE,
          extensions=[(im.DATA_FILE, b"nbd:127.0.0.1:10809")])
        q(i / "df-unflagged.qcow2", extensions=[(im.DATA_FILE, str(o / "data.raw").encode())])
        q(i / "df-missing.qcow2", incompatible=im.INCOMPAT_DATA_FILE)
        # Data files are opened from QEMU's working directory, not the image's: sub/x
        # naming "d.raw" opens ./d.raw. One arrangement has ./d.raw outside, one inside.
        im.symlink(i / "cwd-data-out.raw", str(o / "data.raw"))
        im.raw(i / "sub" / "cwd-data-out.raw")
        q(i / "sub" / "df-cwd-out.qcow2", incompatible=im.INCOMPAT_DATA_FILE,
          extensions=[(im.DATA_FILE, b"cwd-data-out.raw")])
        im.raw(i / "cwd-data-in.raw")
        im.symlink(i / "sub" / "cwd-data-in.raw", str(o / "data.raw"))
        q(i / "sub" / "df-cwd-in.qcow2", incompatible=im.INCOMPAT_DATA_FILE,
          extensions=[(im.DATA_FILE, b"cwd-data-in.raw")])
        # Backing names are relative to the image's *name*: link.qcow2 -> deep/real.qcow2
        # naming "base.img" opens sub/base.img, not sub/deep/base.img.
        q(i / "sub" / "deep" / "real.qcow2", backing=b"base.img",
          extensions=[(im.BACKING_FORMAT, b"raw")])
        im.raw(i / "sub" / "deep" / "base.img")
        im.symlink(i / "sub" / "base.img", str(o / "secret.img"))
        im.symlink(i / "sub" / "link.qcow2", "deep/real.qcow2")
        q(i / "enc.qcow2", backing=None)
        data = bytearray((i / "enc.qcow2").read_bytes())
        data[32:36] = (1).to_bytes(4, "big")
        (i / "enc.qcow2").write_bytes(bytes(data))
        q(i / "unknown-feature.qcow2", incompatible=1 << 20)
        im.qcow2_chain(i, ["c1.qcow2", "c2.qcow2", "c3.qcow2"], "disk.img")
        q(i / "loop-a.qcow2", backing=b"loop-b.qcow2", extensions=[(im.BACKING_FORMAT,
                                                                    b"qcow2")])
        q(i / "loop-b.qcow2", backing=b"loop-a.qcow2", extensions=[(im.BACKING_FORMAT,
                                                                    b"qcow2")])
        q(i / "deep-chain-0.qcow2", backing=b"deep-chain-1.qcow2",
          extensions=[(im.BACKING_FORMAT, b"qcow2")])
        for n in range(1, 70):
            q(i / f"deep-chain-{n}.qcow2", backing=f"deep-chain-{n + 1}.qcow2".encode(),
              extensions=[(im.BACKING_FORMAT, b"qcow2")])
        im.qcow2(i / "deep-chain-70.qcow2")
        q(i / "chain-out.qcow2", backing=b"b-abs-out.qcow2", extensions=[(im.BACKING_FORMAT,
                                                                          b"qcow2")])
        q(i / "b-raw-looks-qcow2.qcow2", backing=b"looks-qcow2.img",
          extensions=[(im.BACKING_FORMAT, b"raw")])
        im.raw(i / "looks-qcow2.img", data=(i / "b-abs-out.qcow2").read_bytes()[:65536])

    # -- odd names, references of references --------------------------------------------
    def _nested(self) -> None:
        i, o = self.images, self.outside
        q = im.qcow2
        (i / "odd").mkdir(exist_ok=True)
        im.raw(i / "odd" / "nbd:127.0.0.1:10809")  # ':' after a directory: a plain name
        im.raw(i / "json:{}")  # "./json:{}" is a plain name; "json:{}" is not
        im.raw(i / "new\nline.img")
        im.raw(i / ("c" * 255))  # NAME_MAX exactly
        # A relative name of 4,000+ bytes (16 directories of 250 characters): under
        # PATH_MAX for QEMU's open(), over it once joined to the working directory.
        top = os.open(i, os.O_PATH | os.O_DIRECTORY)
        fd = top
        for n in range(16):
            os.mkdir(f"{n:02d}" + "e" * 248, dir_fd=fd)
            nxt = os.open(f"{n:02d}" + "e" * 248, os.O_PATH | os.O_DIRECTORY, dir_fd=fd)
            if fd != top:
                os.close(fd)
            fd = nxt
        os.close(os.open("long.qcow2", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
        os.close(fd)
        os.close(top)
        long_dir = "/".join(f"{n:02d}" + "e" * 248 for n in range(16))
        q(i / long_dir / "long.qcow2", backing=b"../" * 16 + b"disk.img",
          extensions=[(im.BACKING_FORMAT, b"raw")])
        fmt = [(im.BACKING_FORMAT, b"qcow2")]
        raw_fmt = [(im.BACKING_FORMAT, b"raw")]
        # References of references: the second image is the hostile one.
        q(i / "nest-json.qcow2", backing=b"b-json.qcow2", extensions=fmt)
        q(i / "nest-nbd.qcow2", backing=b"b-nbd.qcow2", extensions=fmt)
        q(i / "nest-df-out.qcow2", backing=b"df-abs-out.qcow2", extensions=fmt)
        q(i / "nest-df-in.qcow2", backing=b"df-in.qcow2", extensions=fmt)
        q(i / "nest-probed.qcow2", backing=b"b-probed.qcow2", extensions=fmt)
        q(i / "nest-vmdk-out.qcow2", backing=b"desc-abs-out.vmdk",
          extensions=[(im.BACKING_FORMAT, b"vmdk")])
        q(i / "nest-colon.qcow2", backing=b"odd/nbd:127.0.0.1:10809", extensions=raw_fmt)
        q(i / "nest-dot-json.qcow2", backing=b"./json:{}", extensions=raw_fmt)
        q(i / "nest-fdset0.qcow2", backing=b"/dev/fdset/0", extensions=raw_fmt)
        q(i / "nest-dot-fdset.qcow2", backing=b"/dev/./fdset/0", extensions=raw_fmt)
        q(i / "nest-up-fdset.qcow2", backing=b"../" * 12 + b"dev/fdset/0", extensions=raw_fmt)
        q(i / "nest-newline.qcow2", backing=b"new\nline.img", extensions=raw_fmt)
        q(i / "nest-comma.qcow2", backing=b"a,b.img", extensions=raw_fmt)
        q(i / "nest-comma-opt.qcow2", backing=b"disk.img,file.driver=nbd", extensions=raw_fmt)
        # Over the 1,023 bytes QEMU takes for a backing name (qcow2.c): refused by both.
        q(i / "nest-long.qcow2", backing=long_dir.encode() + b"/long.qcow2", extensions=fmt)
        # FIFOs where a reference leads: opening one for reading would block.
        q(i / "b-fifo.qcow2", backing=b"fifo.img", extensions=raw_fmt)
        q(i / "df-fifo.qcow2", incompatible=im.INCOMPAT_DATA_FILE,
          extensions=[(im.DATA_FILE, b"fifo.img")])
        vd = im.vmdk_descriptor
        vd(i / "desc-fifo.vmdk", ['RW 2048 FLAT "fifo.img" 0'])
        vd(i / "desc-nbd.vmdk", ['RW 2048 FLAT "nbd:127.0.0.1:10809" 0'])
        # QEMU's JSON parser takes single quotes too (a '"' would end the sscanf field).
        vd(i / "desc-json.vmdk", ["RW 2048 FLAT \"json:{'driver':'file','filename':'"
                                  f"{o}/secret.img'}}\" 0"])
        vd(i / "desc-colon.vmdk", ['RW 2048 FLAT "odd/nbd:127.0.0.1:10809" 0'])
        vd(i / "desc-fdset.vmdk", ['RW 2048 FLAT "/dev/fdset/0" 0'])
        vd(i / "desc-sparse-nest.vmdk", ['RW 2048 SPARSE "emb-out.vmdk"'],
           create_type="twoGbMaxExtentSparse")

    # -- qcow, qed, vmdk, vpc, vhdx, luks ... ---------------------------------------------
    def _others(self) -> None:
        i, o = self.images, self.outside
        im.qcow1(i / "v1-out.qcow", str(o / "secret.img").encode())
        im.qcow1(i / "v1-in.qcow", b"disk.img")
        im.qcow1(i / "v1-plain.qcow", None)
        im.qed(i / "qed-out.qed", str(o / "secret.img").encode())
        im.qed(i / "qed-in.qed", b"disk.img")
        im.qed(i / "qed-probed.qed", b"disk.img", no_probe=False)
        im.qed(i / "qed-plain.qed", None)
        im.qemu_img("create", "-q", "-f", "vmdk", str(i / "sparse.vmdk"), "1M")
        im.raw(i / "flat.raw")
        vd = im.vmdk_descriptor
        vd(i / "desc-in.vmdk", ['RW 2048 FLAT "flat.raw" 0'])
        vd(i / "desc-abs-out.vmdk", [f'RW 2048 FLAT "{o / "secret.img"}" 0'])
        vd(i / "desc-rel-out.vmdk", ['RW 2048 FLAT "../outside/secret.img" 0'])
        vd(i / "desc-two.vmdk", ['RW 1024 FLAT "flat.raw" 0',
                                 f'RW 1024 FLAT "{o / "secret.img"}" 0'])
        vd(i / "desc-then-bad.vmdk", [f'RW 1024 FLAT "{o / "secret.img"}" 0',
                                      'RW 1024 FLAT "flat.raw"'])
        vd(i / "desc-rdonly.vmdk", ['RW 1024 FLAT "flat.raw" 0',
                                    f'RDONLY 1024 FLAT "{o / "secret.img"}" 0'])
        vd(i / "desc-wrapped.vmdk", [f'RW\n1024\nFLAT\n"{o / "secret.img"}"\n0'])
        vd(i / "desc-sparse-out.vmdk", [f'RW 2048 SPARSE "{o / "outside.qcow2"}"'],
           create_type="twoGbMaxExtentSparse")
        vd(i / "desc-sparse-in.vmdk", ['RW 2048 SPARSE "sparse.vmdk"'],
           create_type="twoGbMaxExtentSparse")
        vd(i / "desc-parent-out.vmdk", ['RW 2048 FLAT "flat.raw" 0'],
           parent=str(o / "secret.img"))
        vd(i / "desc-parent-nbd.vmdk", ['RW 2048 FLAT "flat.raw" 0'],
           parent="nbd:127.0.0.1:10809")
        vd(i / "desc-longname.vmdk", ['RW 2048 FLAT "' + "x" * 511 + str(o / "secret.img")
                                      + '"'], create_type="vmfs")
        vd(i / "desc-comment-type.vmdk", ['RW 2048 FLAT "flat.raw" 0'],
           extra=f'# createType="monolithicFlat" RW 2048 FLAT "{o / "secret.img"}" 0')
        im.vmdk_sparse(i / "emb-out.vmdk", embedded=(
            '# Disk DescriptorFile\nversion=1\nCID=fedcba98\nparentCID=ffffffff\n'
            f'createType="monolithicFlat"\nRW 2048 FLAT "{o / "secret.img"}" 0\n'))
        im.vmdk_sparse(i / "hint-out.vmdk", hint=b'parentFileNameHint="' +
                       str(o / "secret.img").encode() + b'"\n')
        im.vmdk_sparse(i / "hint-past-nul.vmdk", hint=b"parentFileNameHint\0\0" +
                       str(o / "secret.img").encode() + b'"')
        im.qemu_img("create", "-q", "-f", "vpc", str(i / "dyn.vhd"), "1M")
        im.qemu_img("create", "-q", "-f", "vpc", "-o", "subformat=fixed", str(i / "fixed.vhd"),
                    "1M")
        im.vpc_differencing(i / "diff.vhd")
        im.qemu_img("create", "-q", "-f", "vhdx", str(i / "disk.vhdx"), "1M")
        im.qemu_img("create", "-q", "-f", "vdi", str(i / "disk.vdi"), "1M")
        im.qemu_img("create", "-q", "-f", "parallels", str(i / "disk.parallels"), "1M")


def _d(cls: str, label: str, *drives: str, policy: str = "default",
       expect: str = "") -> Candidate:
    return Candidate(cls, label, tuple(drives), None, policy, expect)


def _a(cls: str, label: str, *argv: str, policy: str = "default",
       expect: str = "") -> Candidate:
    return Candidate(cls, label, (), tuple(argv), policy, expect)


R, A = "refuse", "accept"
QUIET = ("-nodefaults", "-display", "none")  # what every accepted command line must have


def protocol(lab: Lab) -> Iterator[Candidate]:
    o = lab.outside
    for prefix in ("nbd:127.0.0.1:10809", "nbd+tcp://127.0.0.1:10809/x",
                   "nbd+unix:///x?socket=/tmp/nbd.sock", "http://127.0.0.1:9/x",
                   "https://127.0.0.1:9/x", "ftp://127.0.0.1:9/x", "ftps://127.0.0.1:9/x",
                   "ssh://127.0.0.1:9/x", "iscsi://127.0.0.1/iqn.x/0", "gluster://127.0.0.1/v/x",
                   "rbd:pool/x", "nfs://127.0.0.1/x", "host_device:/dev/null",
                   "host_cdrom:/dev/sr0", f"file:{o}/secret.img", "file:disk.img",
                   f"fat:{o}", f"vvfat:{o}", f"blkdebug::{o}/secret.img",
                   f"blkverify:{o}/secret.img:disk.img", "null-co://", "nvme://0000:00:01.0/1",
                   "NBD:127.0.0.1:10809", "json:{}", "nbd:127.0.0.1:10809,,x"):
        yield _d("protocol", f"file={prefix}", f"file={prefix},format=raw", expect=R)
    for drv in ("nbd", "ssh", "http", "host_device", "host_cdrom", "vvfat", "null-co",
                "iscsi", "blkdebug", "quorum", "file,file.driver=nbd"):
        yield _d("protocol", f"file.driver={drv}", f"file=disk.img,format=raw,file.driver={drv}",
                 expect=R)
    for fmt in ("nbd", "host_device", "file", "vvfat", "null-co", "blkdebug", "blkverify",
                "quorum", "throttle", "copy-on-read", "luks", "vdi", "parallels", "dmg",
                "bochs", "cloop", "QCOW2", "qcow2 "):
        yield _d("protocol", f"format={fmt}", f"file=disk.img,format={fmt}", expect=R)
    yield _d("protocol", "driver=", "file=disk.img,driver=raw", expect=R)
    yield _d("protocol", "json: raw outside",
             'file=json:{"driver":"raw",,"file":{"driver":"file",,"filename":"'
             f'{o}/secret.img"}}}},format=raw', expect=R)
    yield _d("protocol", "json: nbd", 'file=json:{"driver":"nbd",,"server":{"type":"inet",,'
             '"host":"127.0.0.1",,"port":"10809"}}', expect=R)
    yield _d("protocol", "file.filename literal nbd: name (a local file)",
             "file.filename=nbd:127.0.0.1:10809,format=raw", expect=A)
    yield _d("protocol", "file.filename literal json: name (missing local file)",
             "file.filename=json:[],format=raw", expect=R)
    yield _d("protocol", "./ with a colon (local file)", "file=./nbd:127.0.0.1:10809,format=raw",
             expect=A)
    yield _d("protocol", "file.driver=file with nbd: name", "file=nbd:127.0.0.1:10809,"
             "format=raw,file.driver=file", expect=R)


def keys(lab: Lab) -> Iterator[Candidate]:
    o = lab.outside
    sec = f"{o}/secret.img"
    for extra in (f"backing.file.filename={sec}", "backing.driver=raw",
                  f"backing.file.filename={sec},backing.driver=raw", "backing=", "backing=x",
                  f"data-file.filename={sec}", "data-file=x", f"file.file.filename={sec}",
                  f"file.backing.file.filename={sec}", "encrypt.key-secret=s",
                  "encrypt.format=luks", "file.pr-manager=pr0", "file.x-check-cache-dropped=on",
                  "file.read-only=off", "file.node-name=n", "file.detect-zeroes=on",
                  "file.dir=/etc", f"children.0.file.filename={sec}", f"config={sec}",
                  f"x-image={sec}", f"image.file.filename={sec}", f"log.file.filename={sec}",
                  f"target.file.filename={sec}", f"test.file.filename={sec}", "backing",
                  "nobacking", "Backing.file.filename=x", " backing.file.filename=x",
                  "throttle-group=g", "file.locking=off,file.aio-max-batch=2,bogus=1"):
        yield _d("keys", extra, f"file=disk.qcow2,format=qcow2,{extra}", expect=R)
    for drv, child in (("quorum", f"children.0.file.filename={sec},vote-threshold=1"),
                       ("blkdebug", f"config={sec},image.file.filename=disk.img"),
                       ("blkverify", f"test.file.filename=disk.img,raw.file.filename={sec}"),
                       ("blklogwrites", f"file.filename=disk.img,log.file.filename={sec}"),
                       ("copy-before-write", f"file.filename=disk.img,target.file.filename={sec}"),
                       ("blkreplay", f"image.file.filename={sec}"),
                       ("throttle", f"throttle-group=g,file.filename={sec}"),
                       ("copy-on-read", f"file.filename={sec}"),
                       ("preallocate", f"file.filename={sec}"),
                       ("compress", f"file.driver=qcow2,file.file.filename={sec}"),
                       ("replication", f"mode=primary,file.filename={sec}"),
                       ("snapshot-access", f"file={sec}")):
        yield _d("keys", f"driver={drv}", f"driver={drv},{child}", expect=R)
        yield _d("keys", f"format={drv}", f"format={drv},{child}", expect=R)
    yield _d("keys", "last file wins", f"file=disk.img,file={sec},format=raw", expect=R)
    yield _d("keys", "last file wins (inside)", f"file={sec},file=disk.img,format=raw",
             expect=A)
    yield _d("keys", "last format wins", "file=disk.img,format=qcow2,format=raw", expect=A)
    yield _d("keys", "file.filename flag names 'on'", "file.filename,format=raw", expect=A)
    yield _d("keys", "raw offset/size", "file=disk.img,format=raw,offset=4096,size=8192",
             expect=A)
    yield _d("keys", "qcow2 options", "file=disk.qcow2,format=qcow2,l2-cache-size=1M,"
             "lazy-refcounts=on,overlap-check=all", expect=A)
    yield _d("keys", "stats and throttling", "file=disk.img,format=raw,iops=100,bps_rd=1000,"
             "group=g,stats-intervals.0=60,stats-account-failed=on", expect=A)


def path(lab: Lab) -> Iterator[Candidate]:
    o, i = lab.outside, lab.images
    for name, expect in ((f"{o}/secret.img", R), ("../outside/secret.img", R),
                         (f"{i}/../outside/secret.img", R),
                         (f"{i}/sub/../../outside/secret.img", R),
                         ("abs-out.img", R), ("abs-in.img", R), ("rel-out.img", R),
                         ("rel-in.img", A), ("dangling.img", R), ("linkdir/inner.img", A),
                         ("linkdir/../deep/inner.img", A), ("linkdir/../../disk.img", A),
                         ("linkdir/../../../outside/secret.img", R), ("proc-fd.img", R),
                         ("proc-root.img", R), ("etc/passwd", R), ("/etc/passwd", R),
                         ("/proc/self/fd/0", R), ("/proc/self/cwd/disk.img", R),
                         (f"/proc/self/root{o}/secret.img", R), ("/dev/null", R),
                         ("/dev/fdset/1", R), ("fifo.img", R), ("null.img", R), ("sock.img", R),
                         ("sub", R), ("sub/", R), ("disk.img/", R), ("disk.img/.", R),
                         ("hardlink-out.img", R), ("twice.img", R), ("chain40.img", A),
                         ("chain41.img", R), ("chain1500.img", R), ("pathmax-in.img", A),
                         ("pathmax-out.img", R), ("pathmax-up.img", R),
                         ("x" * 5000, R), ("sub/" + "x" * 300, R), (f"{i}-evil/disk.img", R),
                         (f"{i}//sub/./deep//inner.img", A), ("./disk.img", A),
                         ("sub/deep/../../disk.img", A), ("on", A)):
        yield _d("path", name[:60], f"file={name.replace(',', ',,')},format=raw", expect=expect)
    yield _d("path", "file.filename outside", f"file.filename={o}/secret.img,format=raw",
             expect=R)
    yield _d("path", "file.filename inside", "file.filename=disk.img,format=raw", expect=A)
    yield _d("path", "backing-like name in a raw image (format=raw)", "file=b-abs-out.qcow2,"
             "format=raw", expect=A)


def image_qcow2(lab: Lab) -> Iterator[Candidate]:
    accept = {"b-in.qcow2", "b-in-v2.qcow2", "b-far-in.qcow2", "b-fmt-twice-ok.qcow2",
              "b-nul.qcow2", "b-fmt-nul.qcow2", "df-in.qcow2", "df-unflagged.qcow2",
              "c1.qcow2", "b-raw-looks-qcow2.qcow2", "sub/df-cwd-in.qcow2",
              "df-nbd.qcow2"}  # a data file name is literal: the local file "nbd:..."
    found = [*lab.images.glob("*.qcow2"), *lab.images.glob("sub/*.qcow2")]
    names = sorted(p.relative_to(lab.images).as_posix() for p in found
                   if (not p.name.startswith("deep-chain-") or p.name == "deep-chain-0.qcow2")
                   and not p.name.startswith(("nest-", "b-fifo", "df-fifo")))
    for name in names:
        # The corpus's own images (oracle.make_images) are the corpus class's to use.
        if name in oracle.ALL_IMAGES or name in ("c2.qcow2", "c3.qcow2", "loop-b.qcow2",
                                                 "sub/deep/real.qcow2", "huge.qcow2"):
            continue
        expect = A if name in accept else R
        yield _d("image-qcow2", name, f"file={name},format=qcow2,if=virtio", expect=expect)
        if expect == A:
            yield _d("image-qcow2", f"{name} read-only", f"file={name},format=qcow2,"
                     "if=virtio,read-only=on", expect=A)


def image_other(lab: Lab) -> Iterator[Candidate]:
    table = (
        ("v1-out.qcow", "qcow", R), ("v1-in.qcow", "qcow", R), ("v1-plain.qcow", "qcow", A),
        ("qed-out.qed", "qed", R), ("qed-in.qed", "qed", A), ("qed-probed.qed", "qed", R),
        ("qed-plain.qed", "qed", A), ("sparse.vmdk", "vmdk", A), ("desc-in.vmdk", "vmdk", A),
        ("desc-abs-out.vmdk", "vmdk", R), ("desc-rel-out.vmdk", "vmdk", R),
        ("desc-two.vmdk", "vmdk", R), ("desc-then-bad.vmdk", "vmdk", R),
        ("desc-rdonly.vmdk", "vmdk", A), ("desc-wrapped.vmdk", "vmdk", R),
        ("desc-sparse-out.vmdk", "vmdk", R), ("desc-sparse-in.vmdk", "vmdk", A),
        ("desc-parent-out.vmdk", "vmdk", R), ("desc-parent-nbd.vmdk", "vmdk", R),
        ("desc-longname.vmdk", "vmdk", R), ("desc-comment-type.vmdk", "vmdk", A),
        ("emb-out.vmdk", "vmdk", R), ("hint-out.vmdk", "vmdk", R),
        ("hint-past-nul.vmdk", "vmdk", R), ("dyn.vhd", "vpc", A), ("fixed.vhd", "vpc", A),
        ("diff.vhd", "vpc", R), ("disk.vhdx", "vhdx", A), ("disk.vdi", "vdi", R),
        ("disk.parallels", "parallels", R), ("disk.qcow2", "qcow", R),
        ("sparse.vmdk", "qcow2", R),
    )
    for name, fmt, expect in table:
        yield _d("image-other", f"{name} as {fmt}", f"file={name},format={fmt},if=virtio",
                 policy="wide", expect=expect)
        if fmt != "raw":
            yield _d("image-other", f"{name} as {fmt} (default policy)",
                     f"file={name},format={fmt}", expect=R)


_ARGV_REFUSE = (
    ('-blockdev', 'driver=file,filename=/etc/passwd,node-name=n'),
    ('-readconfig', '/etc/passwd'),
    ('-chardev', 'file,id=c,path=/tmp/x'),
    ('-chardev', 'socket,id=c,host=127.0.0.1,port=9'),
    ('-chardev', 'pipe,id=c,path=/tmp/x'),
    ('-chardev', 'pty,id=c'),
    ('-chardev', 'udp,id=c,host=127.0.0.1,port=9'),
    ('-chardev', 'serial,id=c,path=/dev/ttyS0'),
    ('-chardev', 'null,id=c,logfile=/tmp/x'),
    ('-chardev', 'stdio,id=c,logfile=/tmp/x'),
    ('-chardev', 'ringbuf,id=c'),
    ('-netdev', 'user,id=n'),
    ('-netdev', 'tap,id=n'),
    ('-netdev', 'socket,id=n,connect=:9'),
    ('-netdev', 'bridge,id=n'),
    ('-net', 'user'),
    ('-net', 'nic'),
    ('-nic', 'user'),
    ('-fsdev', 'local,id=f,path=/etc,security_model=none'),
    ('-virtfs', 'local,path=/etc,mount_tag=t,security_model=none'),
    ('-add-fd', 'fd=3,set=1'),
    ('-kernel', '/etc/passwd'),
    ('-initrd', '/etc/passwd'),
    ('-bios', '/etc/passwd'),
    ('-bios', '../../../../etc/passwd'),
    ('-bios', 'bios-256k.bin'),
    ('-dtb', '/etc/passwd'),
    ('-pflash', 'disk.img'),
    ('-loadvm', 'snap'),
    ('-incoming', 'exec:touch /tmp/pwned'),
    ('-incoming', 'tcp:127.0.0.1:9'),
    ('-object', 'memory-backend-file,id=m,size=1M,mem-path=/etc/passwd'),
    ('-object', 'rng-random,id=r,filename=/dev/random'),
    ('-object', 'secret,id=s,file=/etc/passwd'),
    ('-object', 'tls-creds-x509,id=t,dir=/etc'),
    ('-object', 'filter-dump,id=f,netdev=n,file=/tmp/x'),
    ('-object', 'input-linux,id=i,evdev=/dev/input/event0'),
    ('-object', '{"qom-type":"iothread","id":"x"}'),
    ('-serial', 'file:/tmp/x'),
    ('-serial', 'tcp:127.0.0.1:9'),
    ('-serial', 'unix:/tmp/x'),
    ('-serial', '/dev/ttyS0'),
    ('-serial', 'pty'),
    ('-serial', 'pipe:/tmp/x'),
    ('-serial', 'udp:127.0.0.1:9'),
    ('-serial', 'telnet:127.0.0.1:9,server=on,wait=off'),
    ('-monitor', 'unix:/tmp/m,server=on,wait=off'),
    ('-qmp', 'tcp:127.0.0.1:9'),
    ('-debugcon', 'file:/tmp/x'),
    ('-parallel', '/dev/parport0'),
    ('-device', 'loader,file=/etc/passwd,addr=0x1000'),
    ('-device', 'e1000,romfile=/etc/passwd'),
    ('-device', 'e1000,romfile'),
    ('-device', 'virtio-net-pci,netdev=n'),
    ('-device', 'usb-host,hostbus=1,hostaddr=1'),
    ('-device', 'vfio-pci,host=00:01.0'),
    ('-device', 'vhost-vsock-pci,guest-cid=3'),
    ('-device', 'vhost-user-blk-pci,chardev=c'),
    ('-device', 'isa-debugcon,chardev=c'),
    ('-device', 'virtio-9p-pci,fsdev=f,mount_tag=t'),
    ('-device', 'ivshmem-plain,memdev=m'),
    ('-device', '{"driver":"loader","file":"/etc/passwd"}'),
    ('-device', 'usb-mtp,rootdir=/etc'),
    ('-device', 'virtconsole,chardev=c'),
    ('-device', 'virtio-rng-pci,rng=r'),
    ('-device', 'scsi-generic,drive=d'),
    ('-device', 'scsi-block,drive=d'),
    ('-device', 'virtio-blk-pci,drive=d,config-wce=on,x=1'),
    ('-audiodev', 'wav,id=a,path=/tmp/x'),
    ('-audiodev', 'pa,id=a,server=127.0.0.1'),
    ('-trace', 'file=/tmp/x'),
    ('-trace', 'events=/etc/passwd'),
    ('-D', '/tmp/x'),
    ('-L', '/etc'),
    ('-mem-path', '/tmp'),
    ('-plugin', '/tmp/x.so'),
    ('-pidfile', '/tmp/x.pid'),
    ('-daemonize', None),
    ('-chroot', '/tmp'),
    ('-runas', 'nobody'),
    ('-vnc', ':0'),
    ('-vnc', 'unix:/tmp/v'),
    ('-spice', 'port=5900'),
    ('-gdb', 'tcp::1234'),
    ('-s', None),
    ('-display', 'gtk'),
    ('-display', 'vnc=:0'),
    ('-display', 'egl-headless,rendernode=/dev/x'),
    ('-display', 'none,gl=on'),
    ('-set', 'drive.d.file=/etc/passwd'),
    ('-global', 'e1000.romfile=/etc/passwd'),
    ('-machine', 'pc,dumpdtb=/tmp/x'),
    ('-machine', 'pc,kernel=/etc/passwd'),
    ('-machine', 'pc,memory-backend=m'),
    ('-M', '{"type":"pc"}'),
    ('-option-rom', '/etc/passwd'),
    ('-acpitable', 'file=/etc/passwd'),
    ('-smbios', 'file=/etc/passwd'),
    ('-fw_cfg', 'name=opt/x,file=/etc/passwd'),
    ('-tpmdev', 'passthrough,id=t,path=/dev/tpm0'),
    ('-iscsi', 'initiator-name=x'),
    ('-icount', 'shift=1,rr=record,rrfile=/tmp/x'),
    ('-dump-vmstate', '/tmp/x'),
    ('-qtest', 'unix:/tmp/q'),
    ('-qtest-log', '/tmp/x'),
    ('-k', '../../../etc/passwd'),
    ('-usbdevice', 'disk:/etc/passwd'),
    ('-usbdevice', 'serial::/dev/ttyS0'),
    ('-boot', 'splash=/etc/passwd'),
    ('-semihosting', None),
    ('---drive', 'file=disk.img,format=raw'),
    ('-drive=file=/etc/passwd', None),
    ('-accel', 'kvm,xyz=1'),
    ('-enable-kvm', 'x'),
)


def argv(lab: Lab) -> Iterator[Candidate]:
    base = (*QUIET, "-drive", "file=disk.img,format=raw,if=none,id=d")
    for opt, value in _ARGV_REFUSE:
        words = (opt,) if value is None else (opt, value)
        yield _a("argv", " ".join(words)[:70], *base, *words, expect=R)
    yield _a("argv", "no -nodefaults (default NIC)", "-display", "none", "-drive",
             "file=disk.img,format=raw", expect=R)
    yield _a("argv", "no -display none", "-nodefaults", "-drive", "file=disk.img,format=raw",
             expect=R)
    for words in (("-nographic",), ("-serial", "mon:stdio"), ("-monitor", "stdio"),
                  ("-monitor", "chardev:c"), ("-mon", "chardev=c"), ("-qmp", "stdio"),
                  ("-chardev", "stdio,mux=on,id=c")):
        yield _a("argv", " ".join(words), *base, *words, expect=R)
    yield _a("argv", "bare image name", *QUIET, "disk.img",
             expect=R)
    yield _a("argv", "program name then image named like qemu", "qemu-system-x86_64",
             *QUIET, "-drive", "file=disk.img,format=raw",
             expect=A)
    yield _a("argv", "kernel and initrd inside", *QUIET, "-kernel", "vmlinuz", "-initrd",
             "initrd.img", "-append", "console=ttyS0", expect=A)
    yield _a("argv", "initrd multiboot list", *QUIET, "-kernel", "vmlinuz", "-initrd",
             "initrd.img,abs-out.img", expect=R)
    yield _a("argv", "initrd with args", *QUIET, "-kernel", "vmlinuz", "-initrd",
             "abs-out.img x", expect=R)
    yield _a("argv", "kernel symlink outside", *QUIET, "-kernel", "abs-out.img", expect=R)
    yield _a("argv", "bios inside", *QUIET, "-bios", "bios.bin", expect=A)
    yield _a("argv", "a clean launcher line", *QUIET, "-m", "256", "-smp", "2",
             "-name", "guest=vm1", "-uuid", "12345678-1234-1234-1234-123456789abc",
             "-rtc", "base=utc", "-boot", "order=c,menu=off", "-k", "en-us",
             "-drive", "file=disk.img,format=raw,if=none,id=d0,cache=none,aio=native",
             "-device", "virtio-blk-pci,drive=d0,bootindex=1",
             "-drive", "file=cd.iso,format=raw,if=none,id=cd,media=cdrom",
             "-device", "ide-cd,drive=cd", "-device", "qemu-xhci", "-device", "usb-tablet",
             "-vga", "std", "-serial", "none", "-monitor", "none", "-chardev", "null,id=n0",
             "-object", "iothread,id=io0", "-msg", "timestamp=on", expect=A)
    yield _a("argv", "defaults kept, network off", "-nic", "none", "-display", "none", "-drive",
             "file=disk.img,format=raw,if=virtio", expect=A)


def snapshot(lab: Lab) -> Iterator[Candidate]:
    yield _d("snapshot", "snapshot=on without overlay", "file=disk.img,format=raw,snapshot=on",
             expect=R)
    yield _a("snapshot", "-snapshot without overlay", *QUIET, "-snapshot", "-drive",
             "file=disk.img,format=raw", expect=R)
    yield _d("snapshot", "snapshot=on with overlay", "file=disk.img,format=raw,snapshot=on",
             policy="overlay", expect=A)
    yield _d("snapshot", "snapshot=on qcow2 chain", "file=c1.qcow2,format=qcow2,snapshot=on",
             policy="overlay", expect=A)
    yield _a("snapshot", "-snapshot with overlay", *QUIET, "-snapshot", "-drive",
             "file=disk.img,format=raw", "-drive", "file=disk2.img,format=raw,if=virtio",
             policy="overlay", expect=A)
    yield _d("snapshot", "over the budget", "file=huge.qcow2,format=qcow2,snapshot=on",
             policy="overlay", expect=R)
    yield _d("snapshot", "budget summed over drives", *[
        f"file=disk{n}.img,format=raw,snapshot=on,if=virtio" for n in ("", "2", "3", "4")],
        policy="overlay", expect=A)
    yield _d("snapshot", "budget summed over drives (over it)",
             *["file=disk.img,format=raw,snapshot=on,if=virtio"] * 13, policy="overlay",
             expect=R)


def device(lab: Lab) -> Iterator[Candidate]:
    if len(lab.devices) < 2:
        return
    good, other = lab.devices[:2]
    yield _d("device", "allowed device", f"file={good},format=raw,if=virtio", policy="devices",
             expect=A)
    yield _d("device", "allowed device via file.driver=host_device",
             f"file.driver=host_device,file.filename={good},format=raw", policy="devices",
             expect=A)
    yield _d("device", "another device", f"file={other},format=raw", policy="devices", expect=R)
    yield _d("device", "device without the policy's leave", f"file={good},format=raw",
             expect=R)
    yield _d("device", "host_device: prefix", f"file=host_device:{good},format=raw",
             policy="devices", expect=R)
    yield _d("device", "host_device driver without the leave",
             f"file.driver=host_device,file.filename={good},format=raw", expect=R)
    yield _d("device", "symlink to another device", "file=dev-link.img,format=raw",
             policy="devices", expect=R)


def spelling(lab: Lab) -> Iterator[Candidate]:
    """Driver and key names in other cases, x-* keys, protocol-node keys, odd numbers."""
    o = lab.outside
    sec = f"{o}/secret.img"
    for fmt in ("Raw", "RAW", "qCow2", "QCOW2", "raw\t", "r\u0430w", "raw\n"):
        yield _d("spelling", f"format={fmt!r}", f"file=disk.img,format={fmt}", expect=R)
    for drv in ("File", "FILE", "file ", "Host_Device", "HOST_CDROM", "Nbd", "NBD", "json"):
        yield _d("spelling", f"file.driver={drv!r}", f"file=disk.img,format=raw,file.driver={drv}",
                 expect=R)
        yield _d("spelling", f"file.driver={drv!r} (devices)",
                 f"file=disk.img,format=raw,file.driver={drv}", policy="devices", expect=R)
    for key in (f"File={sec}", f"FILE={sec}", f"file.Filename={sec}", "Format=raw",
                f"Backing.file.filename={sec}", "Snapshot=on", "SNAPSHOT=on",
                f"file.FILENAME={sec}", f"file.filename.={sec}", f".file.filename={sec}",
                f"file..filename={sec}", f"file.filename.x={sec}"):
        yield _d("spelling", key, f"file=disk.img,format=raw,{key}", expect=R)
    for key in ("x-image", "x-raw", "x-check-cache-dropped=on", "x-blockdev-reopen=on",
                "x-data-file=/etc/passwd", "x-perm=all", "file.x-check-cache-dropped=on",
                "x-use-canonical-path-for-ramblock-id=off", "file.x-image=/etc/passwd",
                "x-force-share=on", "file.x-auto-read-only=on"):
        yield _d("spelling", key, f"file=disk.img,format=raw,{key}", expect=R)
    # Keys of the protocol node the policy allows, with every value QEMU takes or not.
    for extra in ("file.locking=off", "file.locking=on", "file.locking=auto", "file.locking=yes",
                  "file.locking=OFF", "file.locking", "file.aio=threads", "file.aio=io_uring",
                  "file.aio=native,cache.direct=on", "file.aio=native", "file.aio=NATIVE",
                  "aio=io_uring", "file.aio-max-batch=0", "file.aio-max-batch=0x40",
                  "file.aio-max-batch=-1", "file.aio-max-batch=1e3",
                  "file.drop-cache=off", "file.cache.direct=on", "file.cache.no-flush=on",
                  "file.discard=unmap", "file.aio=threads,file.aio=native",
                  "file.filename=disk.img,file.filename=disk2.img",
                  f"file.filename=disk.img,file={sec}", f"file={sec},file.filename=disk.img"):
        yield _d("spelling", extra, f"file=disk.img,format=raw,{extra}")
    # Numbers in odd bases and spellings: a size the policy reads differently from QEMU.
    for extra in ("offset=0x1000,size=0x2000", "offset=010,size=020", "offset=1k,size=8k",
                  "size=0x100000", "size=1M", "size=1.5k", "size=1e3", "size=-1",
                  "size=18446744073709551615", "size=18446744073709551616", "offset=-512",
                  "offset=0x", "size= 4096", "size=4096 ", "size=4Ki", "size=4KiB",
                  "offset=0b1000", "size=0o10000", "size=1_024", "size=\uff14\uff10\uff19\uff16",
                  "l2-cache-size=0x100000", "iops=0x10", "bps=1e9", "iops=010",
                  "iops_size=0x1000", "index=0x1", "unit=0x1", "index=-1"):
        yield _d("spelling", extra, f"file=disk.img,format=raw,if=virtio,{extra}".replace(
            "format=raw,if=virtio,l2", "format=qcow2,if=virtio,l2").replace(
            "file=disk.img,format=qcow2", "file=disk.qcow2,format=qcow2"))
    # The overlay budget reads the image's size; a raw size= or offset= may not widen it.
    for extra in ("size=0x40000000", "size=1T", "offset=0x100000", "size=0x100000"):
        yield _d("spelling", f"snapshot,{extra}", f"file=disk.img,format=raw,snapshot=on,{extra}",
                 policy="overlay")
    yield _d("spelling", "snapshot of a 1T sparse raw image", "file=huge.raw,format=raw,"
             "snapshot=on", policy="overlay", expect=R)
    for value in ("On", "ON", "yes", "true", "1", "y"):
        yield _d("spelling", f"snapshot={value}", f"file=disk.img,format=raw,snapshot={value}")
        yield _d("spelling", f"read-only={value}", f"file=disk.img,format=raw,read-only={value}")


def names(lab: Lab) -> Iterator[Candidate]:
    """Escapes, commas, long names, ':' after a directory, /dev/fdset typed by the user."""
    o = lab.outside
    sec = f"{o}/secret.img"
    for name, expect in (
            ("disk.img,,format=raw", R),  # one name "disk.img,format=raw": no format= left
            ("nbd:127.0.0.1:10809,,x", R), (",,nbd:127.0.0.1:10809", R),
            ("a,,b.img", A), ("a,,,,b.img", R), (",,", R), ("disk.img,,", R),
            (f"disk.img,,file={sec}", R), (f"disk.img,,,file={sec}", R),
            ("odd/nbd:127.0.0.1:10809", A), ("./odd/nbd:127.0.0.1:10809", A),
            ("./nbd:127.0.0.1:10809", A), ("odd:x/disk.img", R), ("sub:/disk.img", R),
            ("./json:{}", A), ("json:{}", R), ("JSON:{}", R), ("json:", R),
            (f"{lab.images}/json:{{}}", A),
            ("new\nline.img", A), ("disk.img\n", R), ("\ndisk.img", R), ("disk.img\r", R),
            (" disk.img", R), ("disk.img ", R), ("disk.img\t", R), ("disk.img\x1b", R),
            ("c" * 255, A), ("c" * 256, R), ("sub/" * 1000 + "disk.img", R),
            ("./" * 2000 + "disk.img", A),
            # Past PATH_MAX only with the redundant parts QEMU's open() keeps: the policy
            # resolves the short name (QEMU by name fails, the hand-off runs it).
            ("./" * 2045 + "disk.img", ""), ("/" * 4096 + str(lab.images)[1:] + "/disk.img", ""),
            ("/dev/fdset/0", R), ("/dev/fdset/1", R), ("//dev/fdset/0", R),
            ("/dev/./fdset/0", R), ("/dev/fdset/../fdset/0", R), ("/dev/fdset/", R),
            ("/dev/fdset/0x0", R), ("/dev/fdset/-1", R), ("../" * 20 + "dev/fdset/0", R),
            ("/dev/fd/0", R), ("/dev/stdin", R), ("/proc/self/fd/3", R),
            ("/proc/thread-self/fd/3", R)):
        yield _d("names", repr(name)[:60], f"file={name},format=raw,if=virtio", expect=expect)
    for name in ("/dev/fdset/0", "//dev/fdset/0", "odd/nbd:127.0.0.1:10809", "json:{}",
                 "nbd:127.0.0.1:10809", "new\nline.img", f"{sec}\0disk.img", "disk.img\0"):
        expect = A if name in ("odd/nbd:127.0.0.1:10809", "nbd:127.0.0.1:10809",
                               "new\nline.img", "json:{}") else R
        yield _d("names", f"file.filename={name!r}"[:60],
                 f"file.filename={name.replace(',', ',,')},format=raw,if=virtio", expect=expect)
    # Two drives, the second naming the first's descriptor set by number (hand-off runs
    # hand over set 0, 1 ...).
    for name in ("/dev/fdset/0", "/dev/fdset/1"):
        yield _d("names", f"second drive names {name}", "file=disk.img,format=raw,if=virtio",
                 f"file={name},format=raw,if=virtio", expect=R)
    yield _d("names", "a name of 4,000+ bytes (qcow2 with a backing file)",
             "file=" + "/".join(f"{n:02d}" + "e" * 248 for n in range(16)) + "/long.qcow2,"
             "format=qcow2,if=virtio", expect=A)
    yield _d("names", "file= with NUL", f"file=disk.img\0{sec},format=raw", expect=R)
    yield _d("names", "NUL in an option value", "file=disk.img,format=raw,id=a\0b", expect=R)


def nested(lab: Lab) -> Iterator[Candidate]:
    """References of references, FIFOs where a reference leads, odd reference names."""
    for name, expect in (
            ("nest-json.qcow2", R), ("nest-nbd.qcow2", R), ("nest-df-out.qcow2", R),
            ("nest-df-in.qcow2", A), ("nest-probed.qcow2", R), ("nest-colon.qcow2", A),
            ("nest-dot-json.qcow2", A), ("nest-fdset0.qcow2", R), ("nest-dot-fdset.qcow2", R),
            ("nest-up-fdset.qcow2", R), ("nest-newline.qcow2", A), ("nest-comma.qcow2", A),
            ("nest-comma-opt.qcow2", R), ("nest-long.qcow2", R), ("b-fifo.qcow2", R),
            ("df-fifo.qcow2", R), ("chain-out.qcow2", R), ("c1.qcow2", A)):
        yield _d("nested", name, f"file={name},format=qcow2,if=virtio", expect=expect)
        yield _d("nested", f"{name} snapshot", f"file={name},format=qcow2,if=virtio,"
                 "snapshot=on", policy="overlay", expect=expect)
    yield _d("nested", "nest-vmdk-out.qcow2 (wide)", "file=nest-vmdk-out.qcow2,format=qcow2",
             policy="wide", expect=R)
    yield _d("nested", "nest-vmdk-out.qcow2", "file=nest-vmdk-out.qcow2,format=qcow2", expect=R)
    for name, expect in (("desc-fifo.vmdk", R), ("desc-nbd.vmdk", ""), ("desc-json.vmdk", R),
                         ("desc-colon.vmdk", A), ("desc-fdset.vmdk", R),
                         ("desc-sparse-nest.vmdk", R)):
        yield _d("nested", name, f"file={name},format=vmdk,if=virtio", policy="wide",
                 expect=expect)
    yield _d("nested", "fifo as raw", "file=fifo.img,format=raw", expect=R)
    yield _d("nested", "fifo as qcow2", "file=fifo.img,format=qcow2", expect=R)
    yield _a("nested", "-kernel fifo", *QUIET, "-kernel", "fifo.img", expect=R)
    yield _a("nested", "-initrd fifo", *QUIET, "-kernel", "vmlinuz", "-initrd", "fifo.img",
             expect=R)


def clean(lab: Lab) -> Iterator[Candidate]:
    """The common launcher shapes: all must be accepted (no false refusals)."""
    shapes = (
        "file=disk.img,format=raw", "file=disk.img,format=raw,if=virtio",
        "file=disk.img,format=raw,if=ide,index=0",
        "file=disk.qcow2,format=qcow2,if=virtio", "file=c1.qcow2,format=qcow2,if=virtio",
        "file=disk.img,format=raw,if=virtio,cache=none,aio=native",
        "file=disk.img,format=raw,if=virtio,cache=none,aio=io_uring",
        "file=disk.img,format=raw,if=virtio,cache=writethrough",
        "file=disk.img,format=raw,if=virtio,cache=directsync",
        "file=disk.img,format=raw,if=virtio,cache=unsafe",
        "file=disk.img,format=raw,if=virtio,discard=unmap,detect-zeroes=unmap",
        "file=disk.img,format=raw,if=virtio,read-only=on",
        "file=cd.iso,format=raw,media=cdrom", "file=cd.iso,format=raw,if=ide,media=cdrom,index=2",
        "if=ide,media=cdrom,index=2", "file=fd.img,format=raw,if=floppy",
        "file=disk.img,format=raw,if=virtio,werror=stop,rerror=report",
        "file=disk.img,format=raw,if=virtio,iops=200,bps=10000000",
        "file=disk.img,format=raw,if=virtio,file.locking=off",
        "file=disk.img,format=raw,if=none,id=drive0",
        "file=a,,b.img,format=raw,if=virtio", "file=sp ace.img,format=raw,if=virtio",
        "file=disk.qcow2,format=qcow2,if=virtio,cache=none,l2-cache-size=2M",
        "file=disk.img,format=raw,if=pflash",
    )
    for s in shapes:
        yield _d("clean", s, s, expect=A)
    yield _d("clean", "two drives", "file=disk.img,format=raw,if=virtio",
             "file=disk2.img,format=raw,if=virtio", expect=A)
    d0 = ("-drive", "file=disk.img,format=raw,if=none,id=d0")
    for label, devices in (
            ("virtio-blk-pci", ("-device", "virtio-blk-pci,drive=d0")),
            ("scsi-hd", ("-device", "virtio-scsi-pci,id=s", "-device", "scsi-hd,drive=d0,bus=s.0")),
            ("ide-hd", ("-device", "ide-hd,drive=d0,bus=ide.0")),
            ("nvme", ("-device", "nvme,drive=d0,serial=abc")),
            ("usb-storage", ("-device", "qemu-xhci", "-device", "usb-storage,drive=d0,serial=s1"))):
        yield _a("clean", f"if=none + -device {label}", *QUIET, *d0, *devices, expect=A)


def corpus(lab: Lab) -> Iterator[Candidate]:
    """The recorded corpus's drive strings, as an attacker might send them."""
    path = Path(__file__).resolve().parents[2] / "fixtures" / "qemu72" / "verdicts.jsonl"
    with open(path) as f:
        next(f)
        for n, line in enumerate(f):
            case = json.loads(line)
            if "drives" in case:
                yield _d("corpus", f"#{n}", *case["drives"])
            elif "argv" in case:
                yield _a("corpus", f"#{n}", *QUIET, *case["argv"])


def all_candidates(lab: Lab) -> list[Candidate]:
    out: list[Candidate] = []
    for make in (protocol, keys, path, image_qcow2, image_other, argv, snapshot, device,
                 spelling, names, nested, clean, corpus):
        out += list(make(lab))
    return out
