"""The -drive corpus the oracle records: single drives and whole command lines.

Each case is a list of -drive strings (one command line). Files are named
relatively (see oracle.IMAGES); "missing.img" never exists.
"""

from __future__ import annotations

D = "file=disk.img,format=raw"
BOOLS = ["on", "off", "yes", "no", "true", "false", "y", "n", "ON", "1", "0", ""]
NUMBERS = ["0", "1", "010", "0x10", " 1", "1 ", "-1", "+1", "", "x", "1e3", "08", "0x",
           "18446744073709551615", "18446744073709551616", "4294967297", "1k"]
SIZES = ["0", "512", "1k", "1K", "1.5k", "0x200", "0x1k", "-1", "", "1e3", "16E", "1Q", "1.k"]


def singles() -> list[list[str]]:
    out: list[str] = []
    add = out.append
    # syntax corners
    for s in ["", ",", D + ",", "," + D, D + ",,", D + ",,,", "file=a,,b.img,format=raw",
              "file=a,b.img,format=raw", "file=a,,b.img", "file=sp ace.img,format=raw",
              "file=a=b.img,format=raw", D + ",=foo", D + ",foo", D + ",nofoo", D + ", if=ide",
              D + ",if =ide", D + ",IF=ide", D + ",If=ide", "format=raw,,if=none,file=disk.img",
              "disk.img", D + ",help", D + ",?", D + ",nohelp", D + ",delay", D + ",nodelay",
              D + ",node-name", D + ",snapshot", D + ",nosnapshot", D + ",readonly",
              D + ",noreadonly", D + ",id", D + ",noid", D + ",no", D + ",,,if=ide",
              "file=disk.img,file=disk2.img,format=raw", "file=missing.img,file=disk.img,format=raw",
              D + ",if=ide,if=none", D + ",if=none,if=ide"]:
        add(s)
    # id
    for v in ["a", "A1", "a-b.c_d", "1a", "-a", "a b", "a,,b", "", "ä", "a" * 40]:
        add(f"{D},id={v}")
    add(D + ",id=a,id=1")
    add(D + ",id=1,id=a")
    # booleans
    for key in ["snapshot", "read-only", "readonly", "copy-on-read", "cache.writeback",
                "cache.direct", "cache.no-flush", "auto-read-only", "force-share",
                "stats-account-invalid", "stats-account-failed"]:
        for v in BOOLS:
            add(f"{D},{key}={v}")
    # numbers
    for key in ["bus", "unit", "index"]:
        for v in NUMBERS:
            add(f"{D},{key}={v}")
    for key in ["iops", "bps", "throttling.iops-total", "throttling.bps-read", "iops_size",
                "bps_max", "throttling.iops-total-max-length"]:
        for v in ["0", "100", "1M", "x", "-1", "1000000000000000", "1000000000000001", ""]:
            add(f"{D},{key}={v}")
    # enums
    for v in ["writeback", "none", "off", "writethrough", "directsync", "unsafe", "on", "",
              "NONE", "foo"]:
        add(f"{D},cache={v}")
    for v in ["threads", "native", "io_uring", "", "foo", "Native"]:
        add(f"{D},aio={v}")
        add(f"{D},aio={v},cache=none")
    for v in ["ignore", "unmap", "off", "on", "", "foo"]:
        add(f"{D},discard={v}")
    for v in ["off", "on", "unmap", "", "foo"]:
        add(f"{D},detect-zeroes={v}")
        add(f"{D},detect-zeroes={v},discard=unmap")
    for v in ["ignore", "stop", "report", "enospc", "", "foo"]:
        add(f"{D},werror={v}")
        add(f"{D},rerror={v}")
    for v in ["disk", "cdrom", "", "foo", "CDROM"]:
        add(f"{D},media={v}")
        add(f"file=cd.iso,media={v}")
    for v in ["none", "ide", "scsi", "floppy", "pflash", "mtd", "sd", "virtio", "xen", "",
              "IDE", "usb"]:
        add(f"{D},if={v}")
    for v in ["raw", "qcow2", "", "foo", "file", "host_device", "vmdk", "RAW"]:
        add(f"file=disk.img,format={v}")
        add(f"file=disk.qcow2,format={v}")
    # cache combos
    for mode in ["none", "writeback", "writethrough", "directsync", "unsafe"]:
        for extra in ["cache.direct=off", "cache.direct=on", "cache.no-flush=on",
                      "cache.writeback=off"]:
            add(f"{D},cache={mode},{extra}")
    add(D + ",cache=none,cache=writethrough")
    add(D + ",cache=none,cache=none")
    add(D + ",cache=foo,cache=none")
    add(D + ",cache.direct=on,aio=native")
    add(D + ",cache.direct=off,aio=native,cache=none")
    add(D + ",aio=native,file.aio=threads")
    add(D + ",file.aio=native")
    add(D + ",file.aio=native,cache=none")
    # aliases
    add(D + ",readonly=on,read-only=off")
    add(D + ",read-only=on,readonly=off")
    add(D + ",readonly=on,readonly=off")
    add(D + ",readonly=off,readonly=on")
    add(D + ",read-only=on,read-only=off")
    add(D + ",iops=10,iops=20")
    add(D + ",iops=10,throttling.iops-total=20")
    add(D + ",group=g,throttling.group=h")
    add(D + ",bps=1,throttling.bps-total=x")
    # throttling rules
    for s in ["iops=10,iops_rd=5", "bps=10,bps_wr=5", "iops_size=4096", "iops=10,iops_size=4096",
              "iops_max=10", "iops=10,iops_max=5", "iops=10,iops_max=20",
              "iops=10,iops_max=20,throttling.iops-total-max-length=0",
              "iops=10,throttling.iops-total-max-length=5",
              "iops=10,iops_max=1000,throttling.iops-total-max-length=10000000000000000",
              "bps_max=100,bps_rd_max=50", "iops=10,group=g1", "bps_rd=1,bps_wr=2"]:
        add(f"{D},{s}")
    # placements
    for iface in ["ide", "scsi", "virtio", "floppy", "none", "pflash"]:
        for s in ["index=0", "index=1", "index=2", "index=3", "index=4", "index=7",
                  "bus=1", "bus=1,unit=0", "unit=1", "unit=2", "unit=7", "index=1,bus=0",
                  "index=1,bus=1", "index=1,unit=0", "index=-1,bus=1", "bus=-1", "index=010"]:
            add(f"{D},if={iface},{s}")
    # media, read-only and interfaces
    for iface in ["ide", "virtio", "none", "floppy", "scsi"]:
        add(f"if={iface}")
        add(f"if={iface},media=cdrom")
        add(f"if={iface},read-only=on")
        add(f"if={iface},media=cdrom,cache=none")
        add(f"file=cd.iso,format=raw,if={iface},media=cdrom")
        add(f"{D},if={iface},read-only=on")
        add(f"{D},if={iface},copy-on-read=on,read-only=on")
        add(f"{D},if={iface},werror=stop,rerror=stop")
    for s in ["if=none,format=raw", "if=none,discard=unmap", "if=none,cache=writeback",
              "if=none,file=", "file=,if=none", "if=none,id=x", "if=none,snapshot=on",
              "if=none,aio=native", "if=none,werror=stop", "if=none,bps=10",
              "if=none,detect-zeroes=on", "if=none,node-name=n1"]:
        add(s)
    # files
    for s in ["file=missing.img,format=raw", "file=missing.img", "file=disk.img",
              "file=disk.qcow2", "file=disk.qcow2,format=raw", "file=disk.img,format=qcow2",
              "file=cd.iso,media=cdrom", "file=/dev/null,format=raw,if=none",
              "file=foo:bar", "file=./foo:bar,format=raw", "file=file:disk.img,format=raw",
              "file=nbd:localhost:1", "file=json:{},format=raw",
              "file=disk.img,format=raw,file.filename=disk.img",
              "file.filename=disk.img,format=raw", "file.filename=disk.img,file.driver=file",
              "file=disk.img,driver=raw", "file=disk.img,driver=raw,format=raw",
              "file=disk.img,driver=foo", "file=disk.img,format=file",
              "file=disk.img,format=raw,file.locking=off", "file=disk.img,format=raw,file.locking=x",
              "file=disk.img,format=raw,file.aio-max-batch=x",
              "file=disk.img,format=raw,file.drop-cache=x", "file=disk.img,format=raw,file.foo=1",
              "file=disk.img,format=raw,file.driver=file", "file=disk.img,format=raw,file.driver=foo",
              "file=disk.img,format=raw,locking=off", "file=disk.img,format=raw,offset=512",
              "file=disk.img,format=raw,offset=x", "file=disk.img,format=raw,size=512",
              "file=disk.img,format=raw,size=1k,offset=1k",
              "file=disk.qcow2,format=qcow2,l2-cache-size=1M",
              "file=disk.qcow2,format=qcow2,l2-cache-size=x",
              "file=disk.qcow2,format=qcow2,lazy-refcounts=on",
              "file=disk.qcow2,format=qcow2,offset=512",
              "file=disk.img,format=raw,node-name=n1", "file=disk.img,format=raw,node-name=1n",
              "file=disk.img,format=raw,node-name=" + "n" * 32,
              "file=disk.img,format=raw,node-name=" + "n" * 31,
              "file=disk.img,format=raw,force-share=on", "file=disk.img,format=raw,force-share=on,read-only=on",
              "file=disk.img,format=raw,stats-intervals.0=10",
              "file=disk.img,format=raw,stats-intervals.0=10,stats-intervals.1=60",
              "file=disk.img,format=raw,stats-intervals.1=10",
              "file=disk.img,format=raw,stats-intervals.0=0",
              "file=disk.img,format=raw,stats-intervals.0=x",
              "file=disk.img,format=raw,stats-intervals.foo=1",
              "file=disk.img,format=raw,snapshot=on", "file=disk.img,format=raw,snapshot=on,read-only=on,if=virtio"]:
        add(s)
    # removed legacy keys and the 2008 options
    for key in ["serial=abc", "addr=5", "boot=on", "cyls=10", "heads=2", "secs=10", "trans=lba",
                "sync=on", "sync=off", "foo=bar", "unknown"]:
        add(f"{D},{key}")
        add(f"file=missing.img,format=raw,{key}")
    # unknown-option order: several at once
    add(D + ",zzz=1,aaa=2")
    add(D + ",aaa=1,zzz=2")
    add(D + ",bus=x,unit=y,index=z")
    add(D + ",snapshot=x,cache.writeback=y")
    add(D + ",read-only=x,copy-on-read=y")
    add(D + ",media=foo,if=foo")
    add(D + ",if=foo,bus=x")
    add(D + ",aio=foo,bps=x")
    add(D + ",werror=foo,rerror=foo")
    add(D + ",detect-zeroes=foo,aio=foo")
    add(D + ",discard=foo,node-name=1")
    add(D + ",cache.direct=x,file.locking=x")
    add("file=missing.img,format=raw,cache.direct=x")
    add("file=missing.img,format=raw,discard=foo")
    add("file=missing.img,format=raw,node-name=1")
    add("file=missing.img,format=raw,aio=native")
    add("file=missing.img,format=raw,file.foo=1")
    add("file=missing.img,format=foo")
    add("file=missing.img,format=qcow2")
    return [[s] for s in out]


def multis() -> list[list[str]]:
    out = [
        [D, D + ",file.locking=off"],
        [D + ",if=ide,index=1", "file=cd.iso,media=cdrom,if=ide,index=1"],
        [D + ",bus=0", "file=disk2.img,format=raw,bus=0", "file=cd.iso,format=raw,media=cdrom,bus=0"],
        [D + ",id=a", "file=disk2.img,format=raw,id=a"],
        [D + ",id=a", "file=disk2.img,format=raw,id=1"],
        [D + ",id=ide0-hd1", "file=disk2.img,format=raw"],
        ["file=disk2.img,format=raw", D + ",id=ide0-hd0"],
        [D + ",node-name=foo", "file=disk2.img,format=raw,id=foo"],
        [D + ",id=foo,if=none", "file=disk2.img,format=raw,node-name=foo,if=none"],
        [D + ",node-name=n", "file=disk2.img,format=raw,node-name=n"],
        [D + ",if=virtio", "file=disk2.img,format=raw,if=virtio"],
        [D + ",if=virtio,index=0", "file=disk2.img,format=raw,if=virtio,index=0"],
        [D + ",if=none", "file=disk2.img,format=raw,if=none"],
        [D + ",if=none,index=0", "file=disk2.img,format=raw,if=none,index=0"],
        [D + ",if=floppy", "file=disk2.img,format=raw,if=floppy", "file=fd.img,format=raw,if=floppy"],
        [D + ",if=scsi", "file=disk2.img,format=raw,read-only=on"],
        [D + ",if=ide,foo=1", "file=disk2.img,format=raw,id=1"],
        [D + ",cache=foo", "file=disk2.img,format=raw,snapshot"],
        [D + ",snapshot", "file=disk2.img,format=raw,cache=foo"],
        ["if=virtio", D + ",if=scsi"],
        [D + ",if=scsi", "if=virtio"],
        [D + ",index=0", "file=disk2.img,format=raw,index=1", "file=cd.iso,media=cdrom,index=2",
         "file=fd.img,format=raw,if=floppy,index=0"],
        [D + ",index=0", "file=disk2.img,format=raw,index=1", "file=cd.iso,media=cdrom,index=2",
         "file=disk.qcow2,format=qcow2,index=3", "file=fd.img,format=raw,index=4"],
        [D, "file=disk2.img,format=raw", "file=cd.iso,media=cdrom", "file=disk.qcow2,format=qcow2",
         "file=fd.img,format=raw,if=ide"],
        [D + ",if=virtio", "file=disk2.img,format=raw,if=virtio,unit=0"],
        [D + ",if=none,id=x", "file=disk2.img,format=raw,if=none,id=y"],
        [D + ",if=ide,unit=1", "file=disk2.img,format=raw,if=ide"],
        [D + ",if=ide,unit=0,bus=1", "file=disk2.img,format=raw,if=ide,index=2"],
        ["file=disk.img,format=raw,if=pflash", "file=disk2.img,format=raw,if=pflash"],
    ]
    return out


def locks() -> list[list[str]]:
    """One image given twice: QEMU's image locks decide (block/file-posix.c)."""
    rw, ro = D, D + ",read-only=on"
    pairs = [
        (rw, rw), (rw, rw + ",if=virtio"), (rw + ",if=virtio", rw + ",if=virtio"),
        (rw + ",if=virtio", rw), (rw, ro + ",if=virtio"), (ro + ",if=virtio", rw),
        (ro + ",if=virtio", ro + ",if=virtio"), (rw, rw + ",file.locking=off"),
        (rw + ",file.locking=off", rw), (rw + ",if=none", rw), (rw, rw + ",if=none"),
        (rw + ",if=none", rw + ",if=none"), (rw, "file=disk.img,media=cdrom"),
        ("file=disk.img,media=cdrom", rw), (rw + ",if=floppy", rw + ",if=floppy"),
        (rw + ",if=floppy", rw), (rw, rw + ",if=floppy"), (rw + ",if=pflash", rw),
        (rw, rw + ",if=pflash"), (rw + ",snapshot=on", rw), (rw, rw + ",snapshot=on"),
        (rw, ro + ",force-share=on,if=virtio"), (rw + ",if=virtio", ro + ",force-share=on,"
                                                 "if=virtio"),
        ("file=disk.img", rw), (rw, "file=./disk.img,format=raw"),
        (rw + ",snapshot=on", rw + ",snapshot=on"), (ro + ",if=virtio", rw + ",snapshot=on"),
        (rw + ",if=pflash", rw + ",if=virtio"), (rw + ",if=virtio", rw + ",if=pflash"),
        ("file=disk.img,media=cdrom", "file=disk.img,media=cdrom"),
        (rw + ",if=none", rw + ",if=virtio"), (rw + ",cache=none", rw + ",cache=none"),
    ]
    return [list(p) for p in pairs] + [[rw, "file=disk2.img,format=raw", rw],
                                       ["file=disk2.img,format=raw,if=virtio", rw, rw]]


def argvs() -> list[list[str]]:
    """Whole command lines: shorthands (paths literal), -snapshot, -M, skipped options."""
    return [
        ["-hda", "disk.img"], ["-hda", "a,b.img"], ["-hda", "disk.img,format=raw"],
        ["-hda", "missing.img"], ["disk.img"], ["-m", "64", "disk.img"],
        ["-hda", "disk.img", "-hdb", "disk2.img"], ["-hda", "disk.img", "-snapshot"],
        ["-snapshot", "-drive", D], ["-snapshot", "-drive", D + ",snapshot=off"],
        ["-cdrom", "cd.iso"], ["-hdc", "disk.img", "-cdrom", "cd.iso"],
        ["-M", "q35", "-hdc", "disk.img", "-cdrom", "cd.iso"],
        ["-M", "q35", "-hda", "disk.img", "-hdb", "disk2.img", "-cdrom", "cd.iso"],
        ["-machine", "q35", "-drive", D + ",index=1", "-drive", "file=disk2.img,format=raw,index=5"],
        ["-machine", "type=q35", "-drive", D + ",bus=5"],
        ["-M", "q35", "-drive", D + ",bus=6"],
        ["-fda", "fd.img"], ["-fda", "fd.img", "-fdb", "disk2.img"], ["-fdb", "fd.img"],
        ["-sd", "disk.img"], ["-mtdblock", "disk.img"], ["-pflash", "disk.img"],
        ["-hda", "disk.img", "-drive", "file=disk2.img,format=raw,index=0"],
        ["-drive", D + ",index=1", "-hdb", "disk2.img"],
        ["-hda", "disk.img", "-hdb", "disk2.img", "-hdc", "fd.img", "-hdd", "disk.qcow2",
         "-cdrom", "cd.iso"],
        ["-hdd", "disk.qcow2", "-snapshot"], ["-cdrom", "missing.iso"],
        ["-nographic", "-hda", "disk.img"], ["-name", "x", "-hda", "sp ace.img"],
    ]


IFACES = [None, "ide", "scsi", "virtio", "floppy", "none", "pflash", "sd", "mtd", "xen"]
FILES = ["file=disk.img,format=raw", "file=disk.qcow2,format=qcow2", "file=cd.iso,media=cdrom",
         "", "file=missing.img,format=raw", "file=disk.img"]
EXTRAS = ["", "read-only=on", "cache=none", "snapshot=on", "werror=stop", "index=1",
          "aio=native,cache=none", "discard=unmap,detect-zeroes=unmap", "iops=100",
          "copy-on-read=on", "cache=unsafe,bps=1000", "unit=1", "media=cdrom,read-only=off",
          "werror=enospc,rerror=ignore", "serial=x", "sync=on", "id=d0,node-name=n0"]


def _join(*parts: str | None) -> str:
    return ",".join(p for p in parts if p)


def grid() -> list[str]:
    """Interfaces x files x common options: the bulk of the single-drive corpus."""
    out = []
    for iface in IFACES:
        for f in FILES:
            for extra in EXTRAS:
                out.append(_join(f, f"if={iface}" if iface else None, extra))
    return out


THROTTLE = ["bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr", "bps_max", "bps_rd_max",
            "bps_wr_max", "iops_max", "iops_rd_max", "iops_wr_max", "iops_size",
            *(f"throttling.{w}-{d}{t}" for w in ("bps", "iops")
              for d in ("total", "read", "write") for t in ("", "-max", "-max-length")),
            "throttling.iops-size"]


def option_values() -> list[str]:
    """Every option with valid and invalid values, and the syntax corners per key."""
    out = []
    for key in THROTTLE:
        for v in ["0", "7", "0x10", "1M", "-5", "1000000000000001", ""]:
            out.append(f"{D},{key}={v}")
    keys = ["snapshot", "read-only", "copy-on-read", "cache", "aio", "discard", "detect-zeroes",
            "werror", "rerror", "media", "if", "index", "bus", "unit", "id", "node-name",
            "format", "cache.direct", "cache.no-flush", "cache.writeback", "force-share",
            "auto-read-only", "group"]
    for key in keys:
        out += [f"{D},{key.upper()}=on", f"{D}, {key}=on", f"{D},{key} =on",
                f"{D},{key}=on ", f"{D},{key}", f"{D},no{key}", f"{D},{key}=,",
                f"{D},{key}=on,{key}=off", f"{D},{key}=off,{key}=on"]
    for key, values in [("file.aio", ["threads", "native", "io_uring", "x", ""]),
                        ("file.locking", ["on", "off", "auto", "x", ""]),
                        ("file.aio-max-batch", ["0", "32", "x", "-1"]),
                        ("file.drop-cache", ["on", "off", "x"]),
                        ("file.x-check-cache-dropped", ["on", "x"]),
                        ("file.cache.direct", ["on", "off", "x"]),
                        ("file.node-name", ["p0", "1p"]),
                        ("file.discard", ["unmap", "x"]),
                        ("file.read-only", ["on", "off"])]:
        for v in values:
            out += [f"{D},{key}={v}", f"{D},cache=none,{key}={v}"]
    for key, values in [("lazy-refcounts", ["on", "x"]), ("cache-size", ["1M", "x", "1.5M"]),
                        ("l2-cache-entry-size", ["4096", "x"]),
                        ("refcount-cache-size", ["64k", "-1"]),
                        ("cache-clean-interval", ["10", "x", "1k"]),
                        ("overlap-check", ["none", "all", "x"]),
                        ("overlap-check.template", ["cached", "x"]),
                        ("overlap-check.main-header", ["on", "x"]),
                        ("pass-discard-request", ["on", "maybe"])]:
        for v in values:
            out += [f"file=disk.qcow2,format=qcow2,{key}={v}", f"{D},{key}={v}"]
    for v in SIZES:
        out += [f"{D},offset={v}", f"{D},size={v}"]
    for name in ["a,,b.img", "sp ace.img", "a=b.img", "./a,,b.img", "missing,,x.img",
                 "./disk.img", "disk.img/", "", "a,b.img"]:
        for fmt in ["", ",format=raw", ",format=qcow2", ",media=cdrom"]:
            out.append(f"file={name}{fmt}")
    return out


DISKS = ["disk.img", "disk2.img", "disk3.img", "disk4.img"]
SPECS = ["", "index=0", "index=1", "index=2", "index=3", "unit=0", "unit=1", "bus=1",
         "bus=1,unit=1", "id=d", "media=cdrom"]


def generated_multis(count: int = 160) -> list[list[str]]:
    """Two to four drives over the interfaces, with indexes, units, buses and ids."""
    import random

    rng = random.Random(2008)
    out: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    while len(out) < count:
        n = rng.choice([2, 2, 3, 4])
        drives = []
        for i in range(n):
            iface = rng.choice([None, "ide", "ide", "virtio", "none", "floppy", "scsi",
                                "pflash"])
            spec = rng.choice(SPECS)
            drives.append(_join(f"file={DISKS[i]},format=raw",
                                f"if={iface}" if iface else None, spec))
        if tuple(drives) not in seen:
            seen.add(tuple(drives))
            out.append(drives)
    return out


def _unique(cases: list[list[str]]) -> list[list[str]]:
    seen: set[tuple[str, ...]] = set()
    out = []
    for c in cases:
        if tuple(c) not in seen:
            seen.add(tuple(c))
            out.append(c)
    return out


def all_cases() -> list[dict[str, list[str]]]:
    single = _unique(singles() + [[s] for s in grid() + option_values()])
    multi = _unique(multis() + generated_multis() + locks())
    return ([{"drives": d} for d in single + multi] + [{"argv": a} for a in argvs()])
