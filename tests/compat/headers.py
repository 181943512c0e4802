"""Small images of the formats qemu-img cannot write, each with one header field set to
what a driver's open checks (issue 14): bochs, cloop, dmg and parallels.

The layouts follow QEMU 7.2's readers (block/bochs.c struct bochs_header, block/cloop.c
cloop_open(), block/dmg.c dmg_find_koly_offset() and the trailer offsets dmg_open() reads,
block/parallels.c ParallelsHeader). The oracle writes them into every image folder
(tests/compat/oracle.py HEADER_FILES), so a recording and a later scoring see the same
bytes. Nothing here imports qdrive.
"""

from __future__ import annotations

import struct
import zlib

__all__ = ["header_files"]

_SECTOR = 512


def _bochs(*, version: int = 0x20000, extent: int = 4096, catalog: int | None = None,
           disk: int = 1 << 20, magic: bytes = b"Bochs Virtual HD Image") -> bytes:
    """A growing redolog: 512-byte header, the catalog (every extent unallocated)."""
    needed = -(-(disk // _SECTOR) // max(extent // _SECTOR, 1))
    entries = needed if catalog is None else catalog
    head = magic.ljust(32, b"\0") + b"Redolog".ljust(16, b"\0") + b"Growing".ljust(16, b"\0")
    head += struct.pack("<IIIII", version, _SECTOR, entries, _SECTOR, extent)
    if version == 0x10000:
        head += struct.pack("<Q", disk)
    else:
        head += struct.pack("<IQ", 0, disk)
    head = head.ljust(_SECTOR, b"\0")
    shown = min(entries, 4096)  # a huge catalog is refused before it is read
    return head + b"\xff" * (4 * shown)


_CLOOP_PREAMBLE = (b"#!/bin/sh\n#V2.0 Format\n"
                   b"modprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n")


def _cloop(*, block_size: int = 65536, n_blocks: int = 1,
           offsets: list[int] | None = None) -> bytes:
    """The preamble (128 bytes), block size and count (big endian), the offsets table,
    then one zlib block of zeros."""
    block = zlib.compress(bytes(block_size if 0 < block_size <= 1 << 20 else _SECTOR))
    start = 128 + 8 + 8 * (n_blocks + 1)
    if offsets is None:
        offsets = [start + i * len(block) for i in range(n_blocks + 1)]
    table = b"".join(struct.pack(">Q", o) for o in offsets)
    data = block * n_blocks if n_blocks <= 16 else b""
    return _CLOOP_PREAMBLE.ljust(128, b"\0") + struct.pack(">II", block_size, n_blocks) + \
        table + data


def _dmg(*, size: int = 4096, koly: bool = True, data_fork: int = 0,
         plist: tuple[int, int] = (0, 0)) -> bytes:
    """Zeros with a UDIF trailer ("koly", big-endian fields) in the last sector."""
    body = bytearray(size)
    if koly:
        at = size - _SECTOR
        body[at:at + 4] = b"koly"
        struct.pack_into(">Q", body, at + 0x18, data_fork)
        struct.pack_into(">QQ", body, at + 0xD8, *plist)
    return bytes(body)


def _parallels(*, magic: bytes = b"WithouFreSpacExt", version: int = 2, tracks: int = 2048,
               bat: int = 1, sectors: int = 2048) -> bytes:
    """A ParallelsHeader (little endian) and its catalog, no data clusters."""
    head = magic + struct.pack("<IIIIIQIIIQ", version, 16, 32, tracks, bat, sectors, 0,
                               0, 0, 0)
    return (head.ljust(64, b"\0") + bytes(4 * min(bat, 1024))).ljust(_SECTOR, b"\0")


def header_files() -> dict[str, bytes]:
    """File name -> content of every crafted image."""
    return {
        "hdr-bochs.img": _bochs(),
        "hdr-bochs-v1.img": _bochs(version=0x10000),
        "hdr-bochs-version.img": _bochs(version=3),
        "hdr-bochs-extent-small.img": _bochs(extent=256),
        "hdr-bochs-extent-odd.img": _bochs(extent=3000),
        "hdr-bochs-extent-big.img": _bochs(extent=16 << 20),
        "hdr-bochs-catalog-big.img": _bochs(catalog=0x100001),
        "hdr-bochs-catalog-small.img": _bochs(catalog=4),
        "hdr-cloop.img": _cloop(),
        "hdr-cloop-odd.img": _cloop(block_size=1000),
        "hdr-cloop-zero.img": _cloop(block_size=0),
        "hdr-cloop-big.img": _cloop(block_size=128 << 20),
        "hdr-cloop-count.img": _cloop(n_blocks=0x20000000, offsets=[]),
        "hdr-cloop-offsets.img": _cloop(n_blocks=0x4000000, offsets=[]),
        "hdr-cloop-order.img": _cloop(n_blocks=2, offsets=[200, 300, 250]),
        "hdr-cloop-chunk.img": _cloop(n_blocks=1, offsets=[152, 152 + (200 << 20)]),
        "hdr-dmg-short.img": _dmg(size=300, koly=False),
        "hdr-dmg-nokoly.img": _dmg(koly=False),
        "hdr-dmg-fork.img": _dmg(data_fork=1 << 40),
        "hdr-dmg-empty.img": _dmg(),
        "hdr-parallels.img": _parallels(),
        "hdr-parallels-v1.img": _parallels(magic=b"WithoutFreeSpace"),
        "hdr-parallels-version.img": _parallels(version=3),
        "hdr-parallels-tracks.img": _parallels(tracks=0),
        "hdr-parallels-cluster.img": _parallels(tracks=0x7FFFFFFF // 513 + 1),
        "hdr-parallels-catalog.img": _parallels(bat=0x20000000),
    }


_FORMAT_OF = {"bochs": "bochs", "cloop": "cloop", "dmg": "dmg", "parallels": "parallels"}


def cases() -> list[dict[str, object]]:
    """The corpus of these images and of the filters' required options
    (fixtures/opentime/formats.jsonl): ``python -m tests.compat.headers`` writes it."""
    drives: list[tuple[str, str]] = []
    for name in header_files():
        fmt = _FORMAT_OF[name.split("-")[1].split(".")[0]]
        drives.append((f"driver:{fmt}", f"file={name},format={fmt},if=none"))
        if "-" not in name.removeprefix("hdr-").removesuffix(".img"):  # the valid one
            drives += [(f"driver:{fmt}", f"file={name},format={fmt}{extra}") for extra in (
                "", ",if=none,copy-on-read=on", ",if=none,read-only=on",
                ",if=none,auto-read-only=off", ",if=virtio", ",if=none,snapshot=on",
                ",if=none,force-share=on,read-only=on")]
    drives += [("driver:parallels", f"file=hdr-parallels.img,format=parallels,if=none,"
                f"prealloc-mode={m}") for m in ("falloc", "truncate", "off", "full")]
    drives += [("driver:bochs", "file=hdr-cloop.img,format=bochs,if=none"),
               ("driver:cloop", "file=hdr-bochs.img,format=cloop,if=none"),
               ("driver:dmg", "file=disk.img,format=dmg,if=none"),
               ("driver:vhdx", "file=disk.qcow2,format=vhdx,if=none"),
               ("driver:vhdx", "format=vhdx,file.driver=file,file.filename=disk2.img,if=none")]
    base = "file.driver=file,file.filename=disk.img,if=none"
    drives += [("driver:compress", f"driver=compress,{child},if=none") for child in (
        "file=disk.img", "file.driver=file,file.filename=disk.img",
        "file.driver=raw,file.file.filename=disk.img",
        "file.driver=qcow2,file.file.filename=disk.qcow2",
        "file.driver=qcow2,file.file.filename=disk.qcow2,bogus=1",
        "file.driver=vmdk,file.file.filename=gen.vmdk",
        "file.driver=qcow,file.file.filename=gen.qcow")]
    drives += [("driver:blklogwrites", f"driver=blklogwrites,{base},log.filename=disk2.img"
                f"{extra}") for extra in (
        "", ",log-sector-size=4096", ",log-sector-size=1000", ",log-sector-size=16",
        ",log-sector-size=16M", ",log-sector-size=4096,log-append=on",
        ",log-super-update-interval=0", ",log-super-update-interval=10",
        ",log-append=off,log-sector-size=64K")]
    drives += [("driver:copy-before-write", f"driver=copy-before-write,{base}{extra}")
               for extra in (
        "", ",target.filename=disk2.img", ",target.driver=file",
        ",target.driver=file,target.filename=disk2.img",
        ",target.driver=nosuch,target.filename=disk2.img",
        ",target.driver=qcow2,target.file.filename=disk.qcow2",
        ",target.driver=file,target.filename=disk2.img,bitmap.name=b0",
        ",target.driver=file,target.filename=disk2.img,bitmap.node=n9",
        ",target.driver=file,target.filename=disk2.img,bitmap.node=n9,bitmap.name=b0",
        ",node-name=top,target.driver=file,target.filename=disk2.img,bitmap.node=top,"
        "bitmap.name=b0",
        ",target.driver=file,target.filename=disk2.img,on-cbw-error=bogus",
        ",target.driver=file,target.filename=disk2.img,on-cbw-error=break-snapshot",
        ",target.driver=file,target.filename=disk2.img,cbw-timeout=5",
        ",target.driver=file,target.filename=disk2.img,bogus=1",
        ",target.driver=file,target.filename=disk2.img,target.bogus=1",
        ",target=n0")]
    drives += [("driver:copy-before-write", "driver=copy-before-write,target.driver=file,"
                "target.filename=disk2.img,if=none")]
    drives += [("driver:vvfat", d) for d in (
        "file=fat:rw:harvest-fat,snapshot=on,if=none", "file=fat:rw:harvest-fat,read-only=on",
        "file=fat:32:harvest-fat,if=none", "file=fat:32:floppy:harvest-fat,if=none",
        "driver=vvfat,dir=harvest-fat", "driver=vvfat,dir=harvest-fat,if=virtio",
        "driver=vvfat,dir=harvest-fat,rw=on,read-only=on,if=none",
        "file=fat:harvest-fat,format=raw", "file=fat:harvest-fat,format=raw,if=none",
        "driver=vvfat,dir=harvest-fat,fat-type=32,if=none")]
    return [{"id": f"hdr-{n:04d}", "category": category, "drives": [text]}
            for n, (category, text) in enumerate(drives, 1)]


def main() -> None:
    import json
    from pathlib import Path

    out = Path(__file__).resolve().parents[2] / "fixtures" / "opentime" / "formats.jsonl"
    out.parent.mkdir(exist_ok=True)
    rows = cases()
    header = {"generator": "tests/compat/headers.py", "kind": "singles", "cases": len(rows)}
    out.write_text("".join(json.dumps(r) + "\n" for r in [header, *rows]))
    print(f"{len(rows)} cases into {out}")


if __name__ == "__main__":
    main()
