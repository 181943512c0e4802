"""A seeded, class-aware generator of -drive strings and QEMU block command lines.

    python -m tests.compat.generate --seed N [--singles 3000] [--cmdlines 1000]
                                    [--out-singles FILE] [--out-cmdlines FILE]
                                    [--exclude FILE ...] [--prefix ID]

Writes JSON lines: a header (generator, seed, kind, counts per category, the table it
read), then one case per line, ``{"id", "category", "drives": [text]}`` or
``{"id", "category", "argv": [...], "files"?: {name: text}}`` (``files`` are written into
the image folder for that QEMU start only: -readconfig files). The same seed and
arguments give the same file.

The classes follow issues 14 and 15. Single drives: every driver ``-drive format=help``
lists in QEMU 7.2, 10.0 or 11.1, with its runtime options mutated (names, kinds and enum
values from grammar/qemu-*/block-drivers.json and qapi-block.json, read by
tests/compat/schema.py; an option only one version has is drawn like the others), the
node graph (backing.*, data-file, encrypt.*, file.file.*, json: names, driver=file
with filename=, file.filename taken literally), snapshot
overlays, raw offset/size against the image, pflash sizes and host files (a directory,
/dev/null, a host block device, a missing parent). Command lines: -blockdev in the
dotted and the JSON syntax, -device for block devices, -object secret/throttle-group/
iothread/pr-manager-helper, -machine pflash0=, -snapshot, -readconfig and the
shorthands. Each case is built plausible and then, with some probability, broken on
purpose (a wrong value, a missing required option, an unknown key, a dangling
reference, a duplicate). Nothing here asks qdrive: the cases depend only on the seed
and QEMU's tables.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from . import corpus, schema

Item = tuple[str, str]  # one key=value of a QemuOpts string (value None-free)
Case = dict[str, Any]

# -- the images and files of the oracle's image folder (tests/compat/oracle.py) -------------

RAW = ["disk.img", "disk2.img", "disk3.img", "disk4.img"]
BY_FORMAT = {
    "raw": RAW, "qcow2": ["disk.qcow2", "gen-overlay.qcow2", "gen-data.qcow2"],
    "qcow": ["gen.qcow"], "qed": ["gen.qed"], "vpc": ["gen.vpc"],
    "parallels": ["gen.parallels"], "vmdk": ["gen.vmdk", "harvest.vmdk"],
    "vdi": ["gen.vdi", "harvest.vdi"], "vhdx": ["gen.vhdx", "harvest.vhdx"],
    "luks": ["gen.luks", "harvest.luks"],
}
ODD_FILES = ["cd.iso", "fd.img", "missing.img", "gen-empty.img", "gen-big.img",
             "gen-enc.qcow2", "DEV", "harvest-fat", "/dev/null", "nodir/disk.img"]
FLASH = ["gen-flash-4k.img", "gen-flash-64k.img", "gen-flash-odd.img", "gen-flash-4m.img",
         "gen-flash-8m.img", "gen-flash-16m.img", "disk.img", "gen-empty.img",
         "gen-big.img", "disk.qcow2"]
def format_of(image: str) -> str:
    """The format of one of the images above (raw for anything else)."""
    return next((f for f, names in BY_FORMAT.items() if image in names), "raw")


ALL_IMAGES = sorted({i for v in BY_FORMAT.values() for i in v} | set(ODD_FILES))
JSON_ESCAPE = ",,"  # a comma inside a QemuOpts value is doubled

# -- values ------------------------------------------------------------------------------------

GOOD = {
    "bool": ["on", "off", "on", "off", "yes", "no", "true", "false"],
    "number": ["0", "1", "2", "8", "100", "512", "4096", "65536", "0x10", "010"],
    "size": ["0", "512", "4096", "4k", "64K", "1M", "2M", "1.5k", "0x200", "1G"],
    "float": ["0", "1.5", "10"],
    "string": ["x", "n0", "disk.img"],
}
BAD = {
    "bool": ["ON", "1", "0", "", "maybe", "Off", "o"],
    "number": ["-1", "x", "", "1e3", "1k", "18446744073709551616", " 1", "1 ", "4294967296",
               "0x"],
    "size": ["-1", "x", "", "1Q", "16E", "0x1k", "1e3", "1.k", "18446744073709551616"],
    "float": ["x", ""],
    "string": ["", "a,,b", "x y", "nosuch"],
    "enum": ["", "bogus", "ON"],
}
# string options whose values mean something: by the last part of the key
STRINGS = {
    "filename": RAW + ["disk.qcow2", "missing.img", "DEV"],
    "x-image": RAW + ["missing.img"], "x-raw": RAW,
    "dir": ["harvest-fat", "harvest-fat", "missing-dir", "disk.img"],
    "config": ["harvest-blkdebug.conf", "missing.conf"],
    "conf": ["harvest-ceph.conf"], "logfile": ["harvest-gluster.log"],
    "host": ["127.0.0.1", "localhost", "::1", ""],
    "port": ["10809", "0", "65536", "x", "22"],
    "path": ["harvest-nbd.sock", "/export", "img", ""],
    "export": ["exp", "", "a b"], "tls-creds": ["tls0"], "tls-hostname": ["example.org"],
    "pr-manager": ["pr0"], "url": ["http://127.0.0.1/disk.img", "ftp://127.0.0.1/d.img",
                                   "127.0.0.1", ""],
    "throttle-group": ["tg0", "tg1", ""], "label": ["QEMU VVFAT", "LBL", "twelve chars"],
    "device": ["0000:00:04.0", "0000:00:00.0", "x"],
    "prealloc-mode": ["off", "falloc", "full", "metadata", "bogus"],
    "force_size_calc": ["chs", "current_size", "bogus"], "top-id": ["n0", "top"],
    "bottom": ["n0", "b0"], "name": ["b0"], "node": ["n0"],
    "node-name": ["n0", "node-1", "1bad", "a" * 32, "a" * 31, "#b"],
    "pool": ["rbd", ""], "image": ["img", ""], "volume": ["vol", ""],
    "portal": ["127.0.0.1", "127.0.0.1:3260", ""], "target": ["iqn.2020-01.org.example:t0", ""],
    "initiator-name": ["iqn.2020-01.org.example:i0"], "user": ["root", "1000", ""],
    "password": ["x"], "cookie": ["a=b"], "username": ["u"], "proxy-username": ["u"],
    "host_key_check": ["no", "yes", "md5:x"], "hash": ["00"], "snapshot": ["s0"],
    "namespace": ["ns"], "cid": ["3"], "str": ["3"],
}
SECRET_KEYS = ("key-secret", "password-secret", "cookie-secret", "proxy-password-secret")


def value(rng: random.Random, opt: schema.Option, good: bool) -> str:
    """A value for one option: a plausible one, or one meant to be refused."""
    last = opt.key.rsplit(".", 1)[-1]
    if opt.kind == "enum":
        return rng.choice(opt.values) if good else rng.choice(BAD["enum"] + list(opt.values)
                                                                [:1]).upper()
    if not good:
        return rng.choice(BAD.get(opt.kind, BAD["string"]))
    if opt.kind == "string":
        if last in SECRET_KEYS:
            return rng.choice(["sec0", "sec0", "nosuch"])
        return rng.choice(STRINGS.get(last, GOOD["string"]))
    return rng.choice(GOOD.get(opt.kind, GOOD["string"]))


def join(items: Iterable[Item]) -> str:
    """key=value,... (a key with value None-like "" stays key=)."""
    return ",".join(k if v == FLAG else f"{k}={v}" for k, v in items)


FLAG = "\0flag"  # marks an item written without =value (QemuOpts' short-form boolean)

# -- the generic -drive options --------------------------------------------------------------

IFACES = ["none", "ide", "virtio", "scsi", "floppy", "pflash", "sd", "mtd", "xen", ""]
COMMON: list[tuple[str, list[str], list[str]]] = [  # key, plausible, implausible
    ("if", ["none", "ide", "virtio", "virtio", "scsi", "none"], ["usb", "", "IDE", "xen"]),
    ("media", ["disk", "cdrom"], ["foo", ""]),
    ("cache", ["none", "writeback", "writethrough", "directsync", "unsafe"], ["off", "foo"]),
    ("aio", ["threads", "native", "io_uring"], ["foo", ""]),
    ("read-only", ["on", "off"], ["x"]), ("readonly", ["on"], ["x"]),
    ("snapshot", ["on", "off"], ["x"]), ("discard", ["unmap", "ignore"], ["foo"]),
    ("detect-zeroes", ["on", "off", "unmap"], ["foo"]),
    ("werror", ["stop", "report", "enospc", "ignore"], ["foo"]),
    ("rerror", ["stop", "report", "ignore"], ["enospc", "foo"]),
    ("copy-on-read", ["on", "off"], ["x"]), ("id", ["d0", "drive-virtio-disk0"], ["1d", ""]),
    ("node-name", ["n0", "top"], ["1n", "a" * 32]), ("index", ["0", "1", "3"], ["x", "-2"]),
    ("bus", ["0", "1"], ["x", "9"]), ("unit", ["0", "1"], ["x", "9"]),
    ("cache.direct", ["on", "off"], ["x"]), ("cache.no-flush", ["on"], ["x"]),
    ("cache.writeback", ["off"], ["x"]), ("auto-read-only", ["on", "off"], ["x"]),
    ("force-share", ["on"], ["x"]), ("iops", ["100"], ["x"]), ("bps", ["1000000"], ["1M"]),
    ("throttling.iops-total", ["10"], ["-1"]), ("throttling.group", ["tg0"], [""]),
    ("stats-account-invalid", ["on"], ["x"]), ("serial", ["abc"], []),
    ("active", ["on", "off"], ["x"]),  # QEMU 10.0's inactive nodes
]


def common(rng: random.Random, count: int, broken: float) -> list[Item]:
    """A few generic -drive options (each plausible, or with ``broken`` odds not)."""
    out: list[Item] = []
    for key, ok, bad in rng.sample(COMMON, count):
        pool = bad if bad and rng.random() < broken else ok
        out.append((key, rng.choice(pool)))
    # most of the time, what QEMU requires beside an option comes with it
    given = dict(out)
    if given.get("force-share") == "on" and rng.random() < 0.8:
        out.append(("read-only", "on"))
    if given.get("aio") == "native" and rng.random() < 0.8:
        out.append(("cache", rng.choice(["none", "directsync"])))
    return out


# -- single drives -----------------------------------------------------------------------------

class Singles:
    """The single-drive classes; each method returns (category, items)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        # every version's drivers and options: where they differ, the verdicts do too
        self.drivers = schema.merged_drivers()

    # helpers
    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def image(self, fmt: str | None = None) -> str:
        """An image of that format most of the time, any other file now and then."""
        if fmt in BY_FORMAT and self.chance(0.8):
            return self.rng.choice(BY_FORMAT[fmt])
        return self.rng.choice(ALL_IMAGES)

    def options(self, drv: schema.Driver, prefix: str = "", count: int | None = None,
                broken: float = 0.15) -> list[Item]:
        """Some of a driver's own options with values (plausible or, with odds, not)."""
        opts = [o for o in drv.options if "." not in o.key or self.chance(0.5)]
        if not opts:
            return []
        n = count if count is not None else self.rng.choice([0, 1, 1, 2, 3])
        picked = self.rng.sample(opts, min(n, len(opts)))
        return [(prefix + o.key, value(self.rng, o, not self.chance(broken))) for o in picked]

    def child(self, key: str, fmt: str | None = None) -> list[Item]:
        """A child node spelled inline: key.driver=..., key.filename=... (or file.file...)."""
        r = self.rng.random()
        if r < 0.4:
            return [(f"{key}.driver", "file"), (f"{key}.filename", self.image("raw"))]
        if r < 0.6:
            return [(f"{key}.filename", self.image(fmt or "raw"))]
        if r < 0.8:
            f = fmt or self.rng.choice(["raw", "qcow2"])
            return [(f"{key}.driver", f), (f"{key}.file.driver", "file"),
                    (f"{key}.file.filename", self.image(f))]
        if r < 0.9:
            return [(key, self.rng.choice(["n0", "disk.img", ""]))]  # a reference
        return [(f"{key}.driver", self.rng.choice(["null-co", "file", "bogus"]))]

    def finish(self, items: list[Item], broken: float = 0.2) -> list[Item]:
        """Generic options, then (with odds) one deliberate break."""
        items = items + common(self.rng, self.rng.choice([0, 0, 1, 1, 2, 3]), 0.1)
        if self.chance(broken):
            items = self.breakage(items)
        return items

    def breakage(self, items: list[Item]) -> list[Item]:
        rng = self.rng
        op = rng.randrange(8)
        items = list(items)
        if op == 0 and items:  # drop an item (often the required one)
            items.pop(rng.randrange(len(items)))
        elif op == 1:  # an unknown key
            base = rng.choice(items)[0] if items else "x"
            items.insert(rng.randrange(len(items) + 1),
                         (rng.choice([base + "x", base.replace("-", "_"), "bogus",
                                      base.rsplit(".", 1)[0] + ".bogus"]), "1"))
        elif op == 2 and items:  # a key twice, last one different
            k, v = rng.choice(items)
            items.append((k, rng.choice(["", "x", "off", v + "x"])))
        elif op == 3 and items:  # short-form boolean
            i = rng.randrange(len(items))
            items[i] = (rng.choice(["no", ""]) + items[i][0], FLAG)
        elif op == 4 and items:  # case
            i = rng.randrange(len(items))
            items[i] = (items[i][0].upper(), items[i][1])
        elif op == 5 and items:  # an empty value
            i = rng.randrange(len(items))
            items[i] = (items[i][0], "")
        elif op == 6 and items:  # swap two
            rng.shuffle(items)
        else:  # an unescaped comma in a value
            i = rng.randrange(len(items)) if items else 0
            if items:
                items[i] = (items[i][0], items[i][1] + ",x")
        return items

    # the classes
    def driver_case(self) -> tuple[str, list[Item]]:
        name = self.rng.choice(sorted(self.drivers))
        drv = self.drivers[name]
        special = getattr(self, "drv_" + name.replace("-", "_"), None)
        if special is not None:
            items = special(drv)
        elif drv.is_format:
            items = self.format_driver(drv)
        elif drv.is_filter or name in ("quorum", "snapshot-access"):
            items = self.filter_driver(drv)
        else:
            items = self.protocol_driver(drv)
        return f"driver:{name}", self.finish(items)

    def format_driver(self, drv: schema.Driver) -> list[Item]:
        key = "format" if self.chance(0.75) else "driver"
        items: list[Item] = [("file", self.image(drv.name)), (key, drv.name)]
        if self.chance(0.2):
            items = [(key, drv.name)] + self.child("file")
        if drv.name == "luks" and self.chance(0.7):
            items.append(("key-secret", self.rng.choice(["sec0", "nosuch", ""])))
        if self.chance(0.2):
            items.append(("file.locking", self.rng.choice(["off", "on", "auto", "x"])))
        if drv.supports_backing and self.chance(0.2):
            items += self.child("backing")
        return items + self.options(drv)

    def filter_driver(self, drv: schema.Driver) -> list[Item]:
        items: list[Item] = [("driver", drv.name)]
        for c in drv.children:
            if c.required or self.chance(0.3):
                items += self.child(c.key)
        return items + self.options(drv, count=self.rng.choice([0, 1, 2]))

    def protocol_driver(self, drv: schema.Driver) -> list[Item]:
        items: list[Item] = [("driver", drv.name)]
        for o in drv.options:  # the required ones, most of the time
            if o.required and "." not in o.key and self.chance(0.85):
                items.append((o.key, value(self.rng, o, not self.chance(0.1))))
        taken = {k for k, _ in items}
        return items + [o for o in self.options(drv, count=self.rng.choice([0, 1, 2, 3]))
                        if o[0] not in taken]

    def drv_raw(self, drv: schema.Driver) -> list[Item]:
        return self.format_driver(drv)

    def drv_file(self, drv: schema.Driver) -> list[Item]:
        r = self.rng.random()
        opts = self.options(drv, prefix="", count=self.rng.choice([0, 1, 2]))
        opts = [o for o in opts if o[0] != "filename"]
        if r < 0.4:
            return [("driver", "file"), ("filename", self.image("raw"))] + opts
        if r < 0.7:
            return ([("file", self.image("raw")), ("format", "raw"), ("file.driver", "file")]
                    + [("file." + k, v) for k, v in opts])
        if r < 0.85:
            return [("file", "file:" + self.image("raw")), ("format", "raw")]
        return [("file.filename", self.image("raw")), ("file.driver", "file")] + [
            ("file." + k, v) for k, v in opts]

    def drv_host_device(self, drv: schema.Driver) -> list[Item]:
        r = self.rng.random()
        target = "DEV" if self.chance(0.8) else self.rng.choice(["disk.img", "harvest-fat"])
        opts = [o for o in self.options(drv, count=self.rng.choice([0, 1])) if o[0] != "filename"]
        if r < 0.4:
            return [("file", target), ("format", "raw"), ("file.driver", drv.name)] + [
                ("file." + k, v) for k, v in opts]
        if r < 0.7:
            return [("driver", drv.name), ("filename", target)] + opts
        return [("file", f"{drv.name}:{target}"), ("format", "raw")]

    def drv_host_cdrom(self, drv: schema.Driver) -> list[Item]:
        items = self.drv_host_device(drv)
        if self.chance(0.6):
            items.append(("media", "cdrom"))
        return items

    def drv_null_co(self, drv: schema.Driver) -> list[Item]:
        name = drv.name
        r = self.rng.random()
        if r < 0.3:
            base = [("file", f"{name}://")]
        elif r < 0.6:
            base = [("driver", name)]
        elif r < 0.8:
            base = [("file.driver", name), ("format", "raw")]
        else:
            base = [("file", f"{name}://" + self.rng.choice(["x", "disk.img", ""])),
                    ("format", "raw")]
        prefix = "file." if base[0][0] == "file.driver" else ""
        return base + self.options(drv, prefix=prefix, count=self.rng.choice([0, 1, 2, 3]))

    drv_null_aio = drv_null_co

    def drv_nbd(self, drv: schema.Driver) -> list[Item]:
        forms = [
            [("file", "nbd:127.0.0.1:10809")], [("file", "nbd:127.0.0.1:10809:exportname=exp")],
            [("file", "nbd:unix:harvest-nbd.sock")], [("file", "nbd://127.0.0.1:10809/exp")],
            [("file", "nbd+unix:///exp?socket=harvest-nbd.sock")], [("file", "nbd://")],
            [("file", "nbd:")], [("file", "nbd://127.0.0.1:x")],
            [("driver", "nbd"), ("server.type", "inet"), ("server.host", "127.0.0.1"),
             ("server.port", "10809")],
            [("driver", "nbd"), ("server.type", "unix"), ("server.path", "harvest-nbd.sock")],
            [("driver", "nbd"), ("host", "127.0.0.1"), ("port", "10809")],
            [("driver", "nbd"), ("path", "harvest-nbd.sock")],
            [("driver", "nbd")], [("driver", "nbd"), ("server.type", "inet")],
            [("file.driver", "nbd"), ("file.host", "127.0.0.1"), ("format", "raw")],
        ]
        items = list(self.rng.choice(forms))
        if items[0][0] == "driver" and self.chance(0.5):
            items += [o for o in self.options(drv, count=1) if not o[0].startswith("server.")]
        elif self.chance(0.3):
            items.append(("format", self.rng.choice(["raw", "qcow2"])))
        return items

    def drv_vvfat(self, drv: schema.Driver) -> list[Item]:
        if self.chance(0.6):
            mode = "".join(self.rng.sample(["floppy:", "rw:", "12:", "16:", "32:", "bogus:",
                                            ""], self.rng.choice([0, 1, 2])))
            items = [("file", f"fat:{mode}" + self.rng.choice(["harvest-fat", "missing-dir",
                                                               "disk.img", ""]))]
            if self.chance(0.4):
                items.append(("format", self.rng.choice(["vvfat", "raw"])))
            return items
        return [("driver", "vvfat")] + self.options(drv, count=self.rng.choice([1, 2, 3]),
                                                    broken=0.15)

    def drv_luks(self, drv: schema.Driver) -> list[Item]:
        return self.format_driver(drv)

    def drv_throttle(self, drv: schema.Driver) -> list[Item]:
        items: list[Item] = [("driver", "throttle")]
        if self.chance(0.8):
            items.append(("throttle-group", self.rng.choice(["tg0", "", "1bad"])))
        return items + self.child("file")

    def drv_blkdebug(self, drv: schema.Driver) -> list[Item]:
        if self.chance(0.4):
            conf = self.rng.choice(["harvest-blkdebug.conf", "missing.conf", ""])
            return [("file", f"blkdebug:{conf}:{self.image('raw')}")]
        return self.filter_driver(drv)

    def drv_blkverify(self, drv: schema.Driver) -> list[Item]:
        if self.chance(0.4):
            return [("file", f"blkverify:{self.image('raw')}:{self.image('raw')}")]
        return self.filter_driver(drv)

    def drv_quorum(self, drv: schema.Driver) -> list[Item]:
        n = self.rng.choice([1, 2, 3])
        items: list[Item] = [("driver", "quorum")]
        for i in range(n):
            items += self.child(f"children.{i}", "raw")
        if self.chance(0.85):
            items.append(("vote-threshold", self.rng.choice(["1", "2", "3", "0", "x"])))
        return items + self.options(drv, count=self.rng.choice([0, 1]))

    def drv_rbd(self, drv: schema.Driver) -> list[Item]:
        # rbd waits minutes for a monitor that is not there: only lines QEMU refuses first
        return self.rng.choice([
            [("file", "rbd:")], [("driver", "rbd")], [("driver", "rbd"), ("pool", "rbd")],
            [("driver", "rbd"), ("image", "img")], [("file", "rbd:pool"), ("format", "raw")],
            [("driver", "rbd"), ("pool", "p"), ("image", "i"), ("bogus", "1")],
        ])

    def drv_nvme(self, drv: schema.Driver) -> list[Item]:
        if self.chance(0.5):
            return [("file", "nvme://" + self.rng.choice(["0000:00:04.0/1", "0000:00:04.0",
                                                          "x", ""]))]
        return self.protocol_driver(drv)

    def drv_iscsi(self, drv: schema.Driver) -> list[Item]:
        if self.chance(0.5):
            return [("file", self.rng.choice([
                "iscsi://127.0.0.1/iqn.2020-01.org.example:t0/0", "iscsi://127.0.0.1",
                "iscsi://", "iscsi://127.0.0.1:3260/iqn.2020-01.org.example:t0/x"])),
                ("format", "raw")][: self.rng.choice([1, 2])]
        return self.protocol_driver(drv)

    drv_iser = drv_iscsi

    def drv_gluster(self, drv: schema.Driver) -> list[Item]:
        if self.chance(0.5):
            return [("file", self.rng.choice([
                "gluster://127.0.0.1/vol/img", "gluster+tcp://127.0.0.1:24007/vol/img",
                "gluster+unix:///vol/img?socket=harvest-gluster.sock", "gluster://127.0.0.1",
                "gluster://"]))]
        return self.protocol_driver(drv)

    def drv_nfs(self, drv: schema.Driver) -> list[Item]:
        if self.chance(0.5):
            return [("file", self.rng.choice(["nfs://127.0.0.1/export/disk.img", "nfs://",
                                              "nfs://127.0.0.1/x?uid=x",
                                              "nfs://127.0.0.1/x?bogus=1"]))]
        return self.protocol_driver(drv)

    def drv_ssh(self, drv: schema.Driver) -> list[Item]:
        if self.chance(0.5):
            return [("file", self.rng.choice(["ssh://127.0.0.1/disk.img", "ssh://",
                                              "ssh://u@127.0.0.1:22/disk.img",
                                              "ssh://127.0.0.1/x?host_key_check=no"]))]
        return self.protocol_driver(drv)

    def drv_http(self, drv: schema.Driver) -> list[Item]:
        scheme = drv.name
        if self.chance(0.5):
            items: list[Item] = [("file", f"{scheme}://127.0.0.1/disk.img")]
            if self.chance(0.5):
                items += [o for o in self.options(drv, prefix="file.", count=1)
                          if o[0] != "file.url"]
            return items
        return [("driver", scheme), ("url", f"{scheme}://127.0.0.1/disk.img")] + self.options(
            drv, count=self.rng.choice([0, 1, 2]))

    drv_https = drv_ftp = drv_ftps = drv_http

    # node graph
    def node_backing(self) -> tuple[str, list[Item]]:
        top = self.rng.choice(["gen-overlay.qcow2", "disk.qcow2", "gen.qcow", "gen.qed",
                               "disk.img", "gen.vmdk"])
        fmt = {"gen.qcow": "qcow", "gen.qed": "qed", "disk.img": "raw", "gen.vmdk": "vmdk"
               }.get(top, "qcow2")
        items: list[Item] = [("file", top), ("format", fmt)] if self.chance(0.85) else [
            ("file", top)]
        choices: list[Callable[[], list[Item]]] = [
            lambda: [("backing.file.filename", self.image(self.rng.choice(["raw", "qcow2"])))],
            lambda: [("backing.driver", self.rng.choice(["raw", "qcow2", "bogus", "file"]))],
            lambda: [("backing.node-name", self.rng.choice(["b0", "1b", "n0"]))],
            lambda: [("backing.cache.direct", self.rng.choice(["on", "off", "x"]))],
            lambda: [("backing.cache.no-flush", self.rng.choice(["on", "x"]))],
            lambda: [("backing", self.rng.choice(["null", "", "n0", "b0"]))],
            lambda: [("backing.read-only", self.rng.choice(["off", "on"]))],
            lambda: [("backing.file.locking", self.rng.choice(["off", "x"]))],
            lambda: [("backing.backing", self.rng.choice(["null", ""]))],
            lambda: [("backing.file.driver", self.rng.choice(["file", "null-co", "bogus"]))],
            lambda: [("backing.detect-zeroes", "on"), ("backing.discard", "unmap")],
            lambda: self.child("backing"),
        ]
        for make in self.rng.sample(choices, self.rng.choice([1, 1, 2, 3])):
            items += make()
        return "node:backing", self.finish(items, broken=0.15)

    def node_data_file(self) -> tuple[str, list[Item]]:
        top = self.rng.choice(["gen-data.qcow2", "gen-data.qcow2", "disk.qcow2"])
        items: list[Item] = [("file", top), ("format", "qcow2")]
        items += self.rng.choice([
            [], [("data-file.filename", self.rng.choice(["gen-data.data", "disk.img",
                                                         "missing.img"]))],
            [("data-file.driver", "file"), ("data-file.filename", "gen-data.data")],
            [("data-file", self.rng.choice(["n0", "", "gen-data.data"]))],
            [("data-file.driver", self.rng.choice(["raw", "null-co", "bogus"]))],
            [("data-file.locking", "off")], [("data-file.cache.direct", "on")],
        ])
        return "node:data-file", self.finish(items, broken=0.15)

    def node_encrypt(self) -> tuple[str, list[Item]]:
        top = self.rng.choice(["gen-enc.qcow2", "gen-enc.qcow2", "disk.qcow2", "gen.luks"])
        fmt = "luks" if top.endswith(".luks") else "qcow2"
        items: list[Item] = [("file", top), ("format", fmt)]
        extra = self.rng.choice([
            [("encrypt.key-secret", "sec0")], [("encrypt.format", "luks")],
            [("encrypt.format", "luks"), ("encrypt.key-secret", "sec0")],
            [("encrypt.format", self.rng.choice(["aes", "bogus", ""]))],
            [("encrypt.key-secret", "")], [("encrypt.bogus", "1")], [],
            [("key-secret", "sec0")], [("encrypt.iter-time", "10")],
        ])
        return "node:encrypt", self.finish(items + extra, broken=0.15)

    def node_file_chain(self) -> tuple[str, list[Item]]:
        inner = self.rng.choice(["raw", "qcow2"])
        items: list[Item] = [("format", self.rng.choice(["raw", "raw", "qcow2"])),
                             ("file.driver", inner), ("file.file.driver", "file"),
                             ("file.file.filename", self.image(inner))]
        if self.chance(0.4):
            items.append(self.rng.choice([
                ("file.file.locking", "off"), ("file.file.aio", "native"),
                ("file.file.cache.direct", "on"), ("file.file.node-name", "p0"),
                ("file.node-name", "f0"), ("file.file.file.filename", "disk.img"),
                ("file.file.bogus", "1"), ("file.offset", "512"), ("file.size", "4096"),
            ]))
        if self.chance(0.2):
            items.pop(self.rng.randrange(len(items)))
        return "node:file-chain", self.finish(items, broken=0.1)

    def node_json(self) -> tuple[str, list[Item]]:
        objs: list[Any] = [
            {"driver": "raw", "file": {"driver": "file", "filename": self.image("raw")}},
            {"driver": "qcow2", "file": {"driver": "file", "filename": self.image("qcow2")}},
            {"driver": "file", "filename": self.image("raw")},
            {"file": {"driver": "file", "filename": self.image("raw")}},
            {"driver": "qcow2", "file": {"driver": "file", "filename": "gen-overlay.qcow2"},
             "backing": self.rng.choice([None, "n0", {"driver": "raw", "file": {
                 "driver": "file", "filename": "disk.img"}}])},
            {"driver": "raw", "file": "n0"}, {"driver": "null-co", "size": 1048576},
            {"driver": "raw", "offset": 512, "file": {"driver": "file", "filename": "disk.img"}},
            {"driver": "raw", "file": {"driver": "file", "filename": "disk.img",
                                       "locking": self.rng.choice(["off", "x", True])}},
            {"driver": "bogus"}, {}, [1], "x", {"driver": "raw", "bogus": 1,
                                                "file": {"filename": "disk.img"}},
        ]
        text = "json:" + json.dumps(self.rng.choice(objs), separators=(",", ":"))
        if self.chance(0.85):
            text = text.replace(",", JSON_ESCAPE)  # as it must be written on -drive
        if self.chance(0.1):
            text = text[: self.rng.randrange(5, len(text))]
        items: list[Item] = [("file", text)]
        if self.chance(0.3):
            items.append(("format", self.rng.choice(["raw", "qcow2"])))
        return "node:json", self.finish(items, broken=0.1)

    def node_filename(self) -> tuple[str, list[Item]]:
        literal = self.rng.choice(["nbd:127.0.0.1:10809", "fat:harvest-fat", "json:{}",
                                   "null-co://", "file:disk.img", "disk.img", "./nbd:x",
                                   "http://127.0.0.1/x", "host_device:DEV"])
        items = self.rng.choice([
            [("driver", "file"), ("filename", literal)],
            [("file.filename", literal), ("format", "raw")],
            [("file.driver", "file"), ("file.filename", literal), ("format", "raw")],
            [("file", literal), ("format", "raw")],
            [("filename", self.image("raw")), ("format", "raw")],
            [("file", self.image("raw")), ("file.filename", self.image("raw"))],
            [("driver", "raw"), ("file.filename", self.image("raw"))],
        ])
        return "node:filename", self.finish(list(items), broken=0.1)

    def snapshot(self) -> tuple[str, list[Item]]:
        fmt = self.rng.choice(["raw", "qcow2", "qcow2", "vmdk", "raw"])
        items: list[Item] = [("file", self.image(fmt)), ("format", fmt), ("snapshot", "on")]
        items += common(self.rng, self.rng.choice([0, 1, 2]), 0.0)
        if self.chance(0.3):
            items.append(self.rng.choice([
                ("cache", self.rng.choice(["none", "writethrough", "directsync", "unsafe"])),
                ("read-only", "on"), ("file.locking", "off"), ("media", "cdrom"),
                ("backing.file.filename", "disk.img"), ("snapshot", "off"),
                ("copy-on-read", "on"), ("cache.direct", "on"), ("if", "none"),
            ]))
        return "snapshot:overlay", self.finish(items, broken=0.1)

    def raw_offset(self) -> tuple[str, list[Item]]:
        img = self.rng.choice(["disk.img", "gen-big.img", "fd.img", "gen-empty.img", "DEV",
                               "disk.qcow2"])
        vals = ["0", "512", "511", "1M", "1048064", "1049088", "2M", "4k", "64M", "1440k",
                "0x200", "-1", "x"]
        items: list[Item] = [("file", img), ("format", "raw")]
        for key in self.rng.sample(["offset", "size"], self.rng.choice([1, 2, 2])):
            items.append((key, self.rng.choice(vals)))
        if self.chance(0.3):
            items.append(("if", self.rng.choice(["virtio", "ide", "none", "floppy"])))
        return "raw:offset-size", self.finish(items, broken=0.05)

    def pflash(self) -> tuple[str, list[Item]]:
        items: list[Item] = [("if", "pflash")]
        if self.chance(0.9):
            items.append(("file", self.rng.choice(FLASH)))
        if self.chance(0.8):
            items.append(("format", self.rng.choice(["raw", "raw", "qcow2"])))
        for extra in self.rng.sample([("unit", self.rng.choice(["0", "1", "2"])),
                                      ("index", self.rng.choice(["0", "1"])),
                                      ("read-only", "on"), ("snapshot", "on"),
                                      ("cache", "none"), ("media", "cdrom")],
                                     self.rng.choice([0, 0, 1, 2])):
            items.append(extra)
        return "pflash:size", self.finish(items, broken=0.05)

    def host_file(self) -> tuple[str, list[Item]]:
        target = self.rng.choice(["harvest-fat", "/dev/null", "DEV", "DEV", "nodir/disk.img",
                                  ".", "/", "gen-empty.img", "/dev/zero"])
        items: list[Item] = [("file", target)]
        items += self.rng.sample([("format", "raw"), ("file.driver", self.rng.choice(
            ["file", "host_device", "host_cdrom"])), ("media", "cdrom"), ("read-only", "on"),
            ("if", self.rng.choice(["virtio", "ide", "none", "scsi"])), ("cache", "none"),
            ("aio", "native"), ("file.locking", "off")], self.rng.choice([0, 1, 2, 3]))
        return "host:file-type", self.finish(items, broken=0.05)

    CLASSES: tuple[tuple[str, float], ...] = (
        ("driver_case", 0.50), ("node_backing", 0.07), ("node_data_file", 0.03),
        ("node_encrypt", 0.04), ("node_file_chain", 0.05), ("node_json", 0.06),
        ("node_filename", 0.04), ("snapshot", 0.06), ("raw_offset", 0.05), ("pflash", 0.05),
        ("host_file", 0.05),
    )

    def one(self) -> Case:
        names, weights = zip(*self.CLASSES, strict=True)
        method = self.rng.choices(names, weights)[0]
        category, items = getattr(self, method)()
        return {"category": category, "drives": [join(items)]}


# -- command lines -----------------------------------------------------------------------------

# device model -> property -> (plausible values, implausible values)
DEVICE_PROPS: dict[str, dict[str, tuple[list[str], list[str]]]] = {
    "virtio-blk-pci": {
        "num-queues": (["1", "4"], ["0", "x"]), "queue-size": (["128", "256"], ["3"]),
        "iothread": (["io0"], ["nosuch"]), "write-cache": (["on", "off", "auto"], ["x"]),
        "logical_block_size": (["512", "4096"], ["1000"]),
        "physical_block_size": (["4096", "512"], ["3"]), "serial": (["s1"], ["x" * 30]),
        "discard_granularity": (["4096", "0"], ["x"]), "share-rw": (["on"], ["x"]),
        "werror": (["stop", "report"], ["foo"]), "config-wce": (["off"], []),
        "scsi": (["off"], ["on"]), "disable-legacy": (["on"], ["x"])},
    "ide-hd": {
        "bus": (["ide.0", "ide.1"], ["ide.2", "ide.4"]), "unit": (["0", "1"], ["2"]),
        "serial": (["s1"], ["x" * 30]), "model": (["m"], []),
        "wwn": (["0x5000c50015ea71ac"], ["x"]),
        "logical_block_size": (["512", "4096"], ["1024"]), "write-cache": (["off"], ["x"]),
        "rotation_rate": (["1", "7200"], ["x"]), "ver": (["1.0"], []),
        "cyls": (["16"], ["0"]), "discard_granularity": (["512"], []),
        "share-rw": (["on"], [])},
    "ide-cd": {"bus": (["ide.0", "ide.1"], ["ide.3"]), "unit": (["0", "1"], ["5"]),
               "serial": (["c1"], []), "model": (["m"], [])},
    "scsi-hd": {
        "bus": (["scsi0.0"], ["scsi1.0", "scsi0.1"]), "scsi-id": (["0", "1"], ["300"]),
        "lun": (["0", "1"], ["300"]), "serial": (["s1"], []), "vendor": (["v"], []),
        "product": (["p"], ["p" * 20]), "logical_block_size": (["512", "4096"], ["100"]),
        "write-cache": (["off"], []), "rotation_rate": (["1"], []),
        "channel": (["0"], ["1"]), "device_id": (["d1"], [])},
    "scsi-cd": {"bus": (["scsi0.0"], []), "scsi-id": (["0", "2"], []), "lun": (["0"], [])},
    "floppy": {"unit": (["0", "1"], ["2"])},
    "usb-storage": {"removable": (["on", "off"], []), "serial": (["u1"], []),
                    "port": (["1"], ["9"])},
    "nvme": {"serial": (["n1"], [""]), "num_queues": (["4"], []),
             "logical_block_size": (["4096", "512"], ["3"]),
             "max_ioqpairs": (["2"], ["0"])},
}
MODELS = sorted(DEVICE_PROPS)
BAD_MODELS = ["ide-drive", "virtio-blk", "scsi-disk", "virtio-blk-device", "ide-hdd",
              "usb-bot"]


class Cmdlines:
    """The command-line classes; each method returns a case without its id."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.singles = Singles(rng)
        self.n = 0

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # pieces
    def drive_none(self, ident: str, image: str | None = None) -> list[str]:
        img = image or self.singles.image(self.rng.choice(["raw", "qcow2"]))
        items = [("file", img), ("format", format_of(img)), ("if", "none"), ("id", ident)]
        if self.chance(0.3):
            items += common(self.rng, 1, 0.1)
        return ["-drive", join(i for i in items)]

    def blockdev_nodes(self, name: str, json_syntax: bool, image: str | None = None
                       ) -> list[str]:
        """A protocol node and a format node over it (or one inline), named ``name``."""
        img = image or self.singles.image(self.rng.choice(["raw", "raw", "qcow2"]))
        proto: dict[str, Any] = {"driver": "file", "filename": img, "node-name": f"{name}-f"}
        top: dict[str, Any] = {"driver": format_of(img), "node-name": name}
        r = self.rng.random()
        out: list[dict[str, Any]]
        if r < 0.45:
            top["file"] = f"{name}-f"
            out = [proto, top]
        elif r < 0.8:
            top["file"] = {"driver": "file", "filename": img}
            out = [top]
        else:
            proto["node-name"] = name
            out = [proto]
        for node in out:
            if self.chance(0.25):
                node.update(self.node_extras())
        return [a for node in out for a in ("-blockdev", self.spell(node, json_syntax))]

    def node_extras(self) -> dict[str, Any]:
        return dict(self.rng.sample([
            ("read-only", self.rng.choice([True, False])), ("cache", {"direct": True}),
            ("cache", {"no-flush": True}), ("discard", "unmap"), ("detect-zeroes", "on"),
            ("auto-read-only", True), ("force-share", True)], self.rng.choice([1, 2])))

    def spell(self, node: dict[str, Any], json_syntax: bool) -> str:
        """A -blockdev argument: JSON, or keyval's dotted keys (commas doubled in values)."""
        if json_syntax:
            return json.dumps(node, separators=(",", ":"))
        flat = list(_dotted(node))
        if flat and flat[0][0] == "driver" and self.chance(0.3):
            return ",".join([flat[0][1]] + [f"{k}={v}" for k, v in flat[1:]])  # implied key
        return ",".join(f"{k}={v}" for k, v in flat)

    def device(self, drive: str | None, model: str | None = None) -> list[str]:
        model = model or self.rng.choice(MODELS + ["virtio-blk-pci"] * 4 + ["ide-hd"] * 2)
        props = [f"drive={drive}"] if drive is not None else []
        table = DEVICE_PROPS.get(model, {})
        for key in self.rng.sample(sorted(table), min(self.rng.choice([0, 0, 1, 2]),
                                                      len(table))):
            good, bad = table[key]
            props.append(f"{key}={self.rng.choice(bad if bad and self.chance(0.2) else good)}")
        if model == "nvme" and not any(p.startswith("serial=") for p in props) and self.chance(
                0.8):
            props.append("serial=n1")
        if self.chance(0.2):
            props.append(f"bootindex={self.rng.choice(['0', '1', '1', '2', 'x'])}")
        if self.chance(0.15):
            props.append(f"id={self.rng.choice(['dev0', 'dev0', 'd0', '1x'])}")
        return ["-device", ",".join([model] + props)]

    def controllers(self, model: str) -> list[str]:
        if model.startswith("scsi-") and self.chance(0.9):
            return ["-device", "virtio-scsi-pci,id=scsi0"]
        if model.startswith("usb-") and self.chance(0.9):
            return self.rng.choice([["-usb"], ["-device", "qemu-xhci,id=xhci"],
                                    ["-device", "piix3-usb-uhci"]])
        return []

    def objects(self) -> list[str]:
        """One -object of the kinds block devices refer to (plausible or not)."""
        return ["-object", self.rng.choice([
            "secret,id=sec0,data=harvest", "secret,id=sec0,file=gen-passphrase.txt",
            "secret,id=sec0,data=aGFydmVzdA==,format=base64", "secret,id=sec0",
            "secret,id=sec0,data=harvest,format=bogus", "secret,id=sec0,file=missing.txt",
            "secret,id=sec0,data=x,keyid=nosuch,iv=AAAAAAAAAAAAAAAAAAAAAA==",
            "throttle-group,id=tg0,x-iops-total=100",
            "throttle-group,id=tg0,limits.bps-total=1000000",
            "throttle-group,id=tg0,x-iops-total=-1", "throttle-group,id=tg0,bogus=1",
            "throttle-group,id=tg1,x-iops-total=100,x-iops-total-max=50",
            "iothread,id=io0", "iothread,id=io0,poll-max-ns=32768", "iothread,id=io0,bogus=1",
            "pr-manager-helper,id=pr0,path=harvest-pr-helper.sock", "pr-manager-helper,id=pr0",
            "secret,id=1bad,data=x", "bogus-object,id=x", "iothread",
        ])]

    # the classes
    def blockdev(self, json_syntax: bool) -> Case:
        argv: list[str] = []
        names = ["n0", "n1"][: self.rng.choice([1, 1, 2])]
        for name in names:
            argv += self.blockdev_nodes(name, json_syntax)
        for name in names:
            if self.chance(0.8):
                argv += self.device(name, self.rng.choice(["virtio-blk-pci", "ide-hd",
                                                           "scsi-hd", "virtio-blk-pci"]))
        argv = self.insert_controllers(argv)
        if self.chance(0.45):
            argv = self.break_blockdev(argv, json_syntax)
        return {"category": "argv:blockdev-json" if json_syntax else "argv:blockdev",
                "argv": argv}

    def insert_controllers(self, argv: list[str]) -> list[str]:
        """One SCSI and one USB controller in front when a device needs its bus."""
        models = [argv[i + 1].split(",", 1)[0] for i, a in enumerate(argv[:-1])
                  if a == "-device"]
        extra: list[str] = []
        for bus in ("scsi-", "usb-"):
            first = next((m for m in models if m.startswith(bus)), None)
            if first is not None:
                extra += self.controllers(first)
        return extra + argv

    def break_blockdev(self, argv: list[str], json_syntax: bool) -> list[str]:
        rng = self.rng
        idx = [i + 1 for i, a in enumerate(argv) if a == "-blockdev"]
        i = rng.choice(idx)
        text = argv[i]
        op = rng.randrange(10)
        if json_syntax:
            node = json.loads(text)
            if op == 0:
                node.pop("node-name", None)
            elif op == 1:
                node["bogus"] = 1
            elif op == 2:
                node.pop("file", None)
            elif op == 3:
                node["file"] = "nosuch"
            elif op == 4:
                node["read-only"] = "on"  # a string where JSON wants a bool
            elif op == 5:
                argv.insert(i + 1, "-blockdev")
                argv.insert(i + 2, text)  # the same node twice
                return argv
            elif op == 6:
                argv[i] = text[: rng.randrange(1, len(text))]
                return argv
            elif op == 7:
                node["driver"] = rng.choice(["bogus", "Raw", ""])
            elif op == 8:
                node["node-name"] = rng.choice(["1bad", "a" * 32, ""])
            else:
                node["cache"] = {"direct": "yes"}
            argv[i] = json.dumps(node, separators=(",", ":"))
            return argv
        if op == 0:
            argv[i] = ",".join(p for p in text.split(",") if not p.startswith("node-name="))
        elif op == 1:
            argv[i] = text + rng.choice([",bogus=1", ",read-only", ",x", ",", ",,", ",=1"])
        elif op == 2:
            argv[i] = ",".join(p for p in text.split(",") if not p.startswith("file"))
        elif op == 3:
            argv[i] = text.replace("file=n", "file=nosuch", 1) if "file=n" in text else (
                text + ",file=nosuch")
        elif op == 4:
            argv[i] = text + rng.choice([",read-only=yes", ",read-only=x", ",cache.direct=1",
                                         ",discard=foo", ",aio=native"])
        elif op == 5:
            argv[i + 1:i + 1] = ["-blockdev", text]
        elif op == 6:
            argv[i] = text + rng.choice([",a" + "b" * 130 + "=1", ",a..b=1", ",.x=1",
                                         ",file.0=x", ",help"])
        elif op == 7:
            argv[i] = text.replace("driver=", rng.choice(["driver=bogus", "Driver=",
                                                          "driver=,"]), 1)
        elif op == 8:
            argv[i] = text.replace("node-name=", "node-name=" + rng.choice(["1", "#", "a" * 32]),
                                   1)
        else:  # keyval's escaping: ,, inside a value
            argv[i] = text.replace(".img", ",,img", 1) if ".img" in text else text + ",,"
        return argv

    def device_case(self) -> Case:
        argv: list[str] = []
        if self.chance(0.3):
            argv += ["-M", self.rng.choice(["q35", "q35", "pc", "isapc"])]
        drives = ["d0", "d1"][: self.rng.choice([1, 1, 2])]
        for ident in drives:
            argv += (self.drive_none(ident) if self.chance(0.7)
                     else self.blockdev_nodes(ident, self.chance(0.3)))
        devices: list[list[str]] = []
        for ident in drives:
            devices.append(self.device(ident))
        r = self.rng.random()
        if r < 0.1:  # dangling reference
            devices.append(self.device("nosuch"))
        elif r < 0.2:  # one drive on two devices
            devices.append(self.device(drives[0]))
        elif r < 0.28:  # an empty removable device
            devices.append(self.device(None, self.rng.choice(["ide-cd", "scsi-cd", "floppy",
                                                              "ide-hd", "virtio-blk-pci"])))
        elif r < 0.35:
            devices.append(["-device", self.rng.choice(BAD_MODELS) + f",drive={drives[0]}"])
        elif r < 0.42:  # an unknown property
            model, *props = devices[0][1].split(",")
            devices[0] = ["-device", ",".join([model, *props, "bogus-prop=1"])]
        elif r < 0.5:  # a drive that if=ide already connects
            argv += ["-drive", f"file={self.singles.image('raw')},format=raw,if=ide,id=di"]
            devices.append(self.device("di", "ide-hd"))
        elif r < 0.55:  # duplicate ids
            devices = [d[:1] + [d[1] + ",id=dev0"] for d in devices] + [
                ["-device", "virtio-blk-pci,id=dev0"]]
        elif r < 0.6 and "-drive" in argv:  # a read-only drive on a device that writes
            argv[argv.index("-drive") + 1] += ",read-only=on"
        argv = self.insert_controllers(argv + [a for d in devices for a in d])
        return {"category": "argv:device", "argv": argv}

    def object_case(self) -> Case:
        argv: list[str] = []
        for _ in range(self.rng.choice([1, 1, 2])):
            argv += self.objects()
        users = [
            ["-drive", "file=gen.luks,format=luks,key-secret=sec0,if=virtio"],
            ["-drive", "file=harvest.luks,format=luks,key-secret=sec0,if=none,id=d0"],
            ["-drive", "file=gen-enc.qcow2,format=qcow2,encrypt.key-secret=sec0,if=virtio"],
            ["-drive", "file=gen-enc.qcow2,format=qcow2,encrypt.format=luks,"
                       "encrypt.key-secret=sec0"],
            ["-blockdev", "driver=file,filename=disk.img,node-name=f0", "-blockdev",
             "driver=throttle,throttle-group=tg0,file=f0,node-name=t0", "-device",
             "virtio-blk-pci,drive=t0"],
            ["-drive", "file=disk.img,format=raw,if=none,id=d0", "-device",
             "virtio-blk-pci,drive=d0,iothread=io0"],
            ["-drive", "file=disk.img,format=raw,file.pr-manager=pr0,if=virtio"],
            ["-drive", "file=disk.img,format=raw,throttling.group=tg0,throttling.iops-total=10"],
            ["-drive", "file=disk.img,format=raw,if=virtio"],
            ["-device", "virtio-scsi-pci,iothread=io0"],
            ["-blockdev", "driver=luks,key-secret=sec0,node-name=l0,file.driver=file,"
                          "file.filename=gen.luks"],
        ]
        argv += self.rng.choice(users)
        if self.chance(0.3):
            argv += self.objects()  # after its user, or a duplicate
        return {"category": "argv:object", "argv": argv}

    def pflash_case(self) -> Case:
        argv: list[str] = []
        props = []
        for unit in self.rng.sample(["0", "1"], self.rng.choice([1, 1, 2])):
            name = f"fl{unit}"
            img = self.rng.choice(FLASH)
            node: dict[str, Any] = {"driver": "raw", "node-name": name,
                                    "file": {"driver": "file", "filename": img}}
            if self.chance(0.3):
                node["read-only"] = True
            argv += ["-blockdev", self.spell(node, self.chance(0.3))]
            props.append(f"pflash{unit}={name}")
        if self.chance(0.15):
            props.append(f"pflash{self.rng.choice(['0', '1', '2'])}=nosuch")
        argv = ["-machine", ",".join([self.rng.choice(["pc", "q35", "type=q35"])] + props)
                ] + argv
        if self.chance(0.2):
            argv += ["-drive", f"if=pflash,format=raw,file={self.rng.choice(FLASH)}"]
        return {"category": "argv:pflash", "argv": argv}

    def snapshot_case(self) -> Case:
        argv = ["-snapshot"]
        r = self.rng.random()
        if r < 0.4:
            argv += self.blockdev_nodes("n0", self.chance(0.3))
            argv += self.device("n0", "virtio-blk-pci")
        elif r < 0.7:
            fmt = self.rng.choice(["raw", "qcow2"])
            argv += ["-drive", join([("file", self.singles.image(fmt)), ("format", fmt)]
                                    + common(self.rng, self.rng.choice([0, 1]), 0.0))]
        else:
            argv += ["-drive", f"file={self.singles.image('raw')},format=raw,snapshot=off",
                     "-hdb", self.singles.image("raw")]
        if self.chance(0.5):
            self.rng.shuffle(argv)  # -snapshot anywhere on the line
            argv = _regroup(argv)
        return {"category": "argv:snapshot", "argv": argv}

    def readconfig_case(self) -> Case:
        self.n += 1
        name = f"gen-readconfig-{self.n}.cfg"
        sections = []
        for i in range(self.rng.choice([1, 1, 2])):
            fmt = self.rng.choice(["raw", "qcow2"])
            keys = [("file", self.singles.image(fmt)), ("format", fmt)]
            keys += [(k, v) for k, v in common(self.rng, self.rng.choice([0, 1, 2]), 0.2)
                     if k != "id"]
            head = self.rng.choice([f'[drive "d{i}"]', "[drive]", f'[drive "d{i}"]',
                                    '[drive "1bad"]', "[drive-x]", '[drive "d0"]'])
            sections.append(head + "\n" + "".join(f'  {k} = "{v}"\n' for k, v in keys))
        text = "\n".join(sections)
        if self.chance(0.1):
            text = text.replace('"', "", 1)  # a syntax error
        argv = ["-readconfig", name]
        if self.chance(0.3):
            argv += self.device("d0", "virtio-blk-pci")
        return {"category": "argv:readconfig", "argv": argv, "files": {name: text}}

    def shorthand_case(self) -> Case:
        opts = ["-hda", "-hdb", "-hdc", "-hdd", "-cdrom", "-fda", "-fdb", "-sd", "-pflash",
                "-mtdblock"]
        argv: list[str] = []
        for opt in self.rng.sample(opts, self.rng.choice([1, 2, 3])):
            fmt = "qcow2" if self.chance(0.2) else "raw"
            argv += [opt, self.rng.choice([self.singles.image(fmt), "missing.img",
                                           "a,b.img", "disk.img,format=raw"])]
        if self.chance(0.3):
            argv += self.rng.choice([
                ["-drive", "file=disk2.img,format=raw,index=0"],
                ["-device", "ide-hd,bus=ide.0,unit=0,drive=d0", "-drive",
                 "file=disk3.img,format=raw,if=none,id=d0"],
                ["-snapshot"], ["-M", "q35"], ["disk4.img"],
            ])
        return {"category": "argv:shorthand", "argv": argv}

    def lock_case(self) -> Case:
        img = self.rng.choice(["disk.img", "disk.qcow2"])
        fmt = "qcow2" if img.endswith("qcow2") else "raw"
        pieces = [
            ["-drive", f"file={img},format={fmt},if=virtio"],
            ["-drive", f"file={img},format={fmt},if=virtio,read-only=on"],
            ["-drive", f"file={img},format={fmt},if=none,id=dl"],
            ["-blockdev", f"driver=file,filename={img},node-name=lf"],
            ["-blockdev", f"driver={fmt},file.driver=file,file.filename={img},node-name=lq,"
                          "read-only=on"],
            ["-drive", f"file={img},format={fmt},if=virtio,file.locking=off"],
            ["-drive", f"file={img},format={fmt},if=virtio,snapshot=on"],
            ["-drive", f"file={img},format={fmt},if=virtio,read-only=on,force-share=on"],
        ]
        argv = [a for p in self.rng.sample(pieces, 2) for a in p]
        if "node-name=lq" in " ".join(argv) and self.chance(0.6):
            argv += self.device("lq", "virtio-blk-pci")
        if "id=dl" in " ".join(argv) and self.chance(0.6):
            argv += self.device("dl", "virtio-blk-pci")
        return {"category": "argv:lock", "argv": argv}

    def clash_case(self) -> Case:
        """Names defined twice or in the wrong namespace: drive ids, node names."""
        argv = self.rng.choice([
            ["-drive", "file=disk.img,format=raw,if=none,id=x", "-blockdev",
             "driver=file,filename=disk2.img,node-name=x"],
            ["-blockdev", "driver=file,filename=disk.img,node-name=x", "-drive",
             "file=disk2.img,format=raw,if=none,id=x"],
            ["-drive", "file=disk.img,format=raw,if=none,node-name=x", "-blockdev",
             "driver=file,filename=disk2.img,node-name=x"],
            ["-blockdev", "driver=file,filename=disk.img,node-name=x", "-device",
             "virtio-blk-pci,drive=x", "-device", "virtio-blk-pci,drive=x"],
            ["-drive", "file=disk.img,format=raw,if=none,id=x", "-device",
             "virtio-blk-pci,drive=x,id=x"],
            ["-blockdev", "driver=file,filename=disk.img,node-name=f", "-blockdev",
             "driver=raw,file=f,node-name=r", "-blockdev", "driver=raw,file=f,node-name=r2"],
            ["-blockdev", "driver=file,filename=disk.img,node-name=f", "-blockdev",
             "driver=raw,file=f,node-name=r", "-device", "virtio-blk-pci,drive=f"],
        ])
        return {"category": "argv:clash", "argv": list(argv)}

    CLASSES: tuple[tuple[str, float], ...] = (
        ("blockdev_keyval", 0.18), ("blockdev_json", 0.10), ("device_case", 0.24),
        ("object_case", 0.12), ("pflash_case", 0.07), ("snapshot_case", 0.06),
        ("readconfig_case", 0.06), ("shorthand_case", 0.07), ("lock_case", 0.06),
        ("clash_case", 0.04),
    )

    def blockdev_keyval(self) -> Case:
        return self.blockdev(False)

    def blockdev_json(self) -> Case:
        return self.blockdev(True)

    def one(self) -> Case:
        names, weights = zip(*self.CLASSES, strict=True)
        return dict(getattr(self, self.rng.choices(names, weights)[0])())


def _dotted(node: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, str]]:
    for k, v in node.items():
        if isinstance(v, dict):
            yield from _dotted(v, f"{prefix}{k}.")
        elif isinstance(v, bool):
            yield prefix + k, "on" if v else "off"
        else:
            yield prefix + k, str(v).replace(",", ",,")


def _regroup(argv: list[str]) -> list[str]:
    """After a shuffle: put every option back before its own argument."""
    opts = [a for a in argv if a.startswith("-") and a != "-snapshot"]
    out: list[str] = []
    rest = [a for a in argv if not a.startswith("-")]
    for a in argv:
        if a == "-snapshot":
            out.append(a)
        elif a in opts:
            out += [a, rest.pop(0)]
    return out


# -- the batch ---------------------------------------------------------------------------------

def key(case: Case) -> tuple[str, ...]:
    """A case's identity (drives or argv, and the files it writes): tests/compat/corpus.py."""
    return corpus.key(case)


def batch(make: Callable[[], Case], count: int, prefix: str,
          exclude: Collection[tuple[str, ...]]) -> list[Case]:
    """``count`` distinct cases, none in ``exclude``, ids ``PREFIX-00001`` ..."""
    out: list[Case] = []
    seen = set(exclude)
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > count * 50:
            raise RuntimeError(f"only {len(out)} distinct cases after {attempts} attempts")
        case = make()
        text = json.dumps(case)
        if "\\u0000" in text:
            continue
        k = key(case)
        if k in seen:
            continue
        seen.add(k)
        out.append({"id": f"{prefix}-{len(out) + 1:05d}", **case})
    return out


def generate(seed: int, singles: int, cmdlines: int, prefix: str,
             exclude: Collection[tuple[str, ...]] = frozenset()
             ) -> tuple[list[Case], list[Case]]:
    """The single-drive and the command-line batch of one seed."""
    rng = random.Random(seed)
    s = batch(Singles(rng).one, singles, f"{prefix}-s", exclude)
    c = batch(Cmdlines(rng).one, cmdlines, f"{prefix}-c", exclude)
    return s, c


def write(path: Path, cases: Sequence[Case], header: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cats = Counter(c["category"] for c in cases)
    head = {**header, "cases": len(cases), "categories": dict(sorted(cats.items()))}
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(head, ensure_ascii=False) + "\n")
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")


def load_keys(paths: Iterable[Path]) -> set[tuple[str, ...]]:
    """Case keys of corpus files: case files, recordings or the harvest's items."""
    return {corpus.key(row) for path in paths for row in corpus.read(path)[1]}


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(corpus.oracle.REPO))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--singles", type=int, default=3000)
    ap.add_argument("--cmdlines", type=int, default=1000)
    ap.add_argument("--out-singles", type=Path, required=True)
    ap.add_argument("--out-cmdlines", type=Path, required=True)
    ap.add_argument("--prefix", default=None, help="id prefix (default gen<seed>)")
    ap.add_argument("--exclude", type=Path, nargs="*", default=[],
                    help="corpus files whose cases must not be generated again")
    ap.add_argument("--quiet", action="store_true", help="print counts only")
    args = ap.parse_args(argv)
    exclude = load_keys(args.exclude)
    prefix = args.prefix or f"gen{args.seed}"
    s, c = generate(args.seed, args.singles, args.cmdlines, prefix, exclude)
    header = {"generator": "tests/compat/generate.py", "seed": args.seed, "prefix": prefix,
              "tables": [f"grammar/qemu-{v}" for v in schema.VERSIONS],
              "excluded": [_relative(p) for p in args.exclude],
              "excluded_cases": len(exclude)}
    write(args.out_singles, s, {**header, "kind": "singles"})
    write(args.out_cmdlines, c, {**header, "kind": "cmdlines"})
    print(f"generated {len(s)} single drives into {args.out_singles} and {len(c)} command "
          f"lines into {args.out_cmdlines}", file=sys.stderr)
    if not args.quiet:
        for name, n in sorted(Counter(x["category"] for x in s + c).items()):
            print(f"  {name:<28}{n:>6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
