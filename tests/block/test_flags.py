"""BDRV_O_* and open() flags, the cache/aio/discard tables, OpenPlan and explain()."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import qdrive
from qdrive import BdrvFlag, BdrvFlag2008, CacheMode, bdrv_flags, open_flags, parse_drive, plan_open
from qdrive.block.flags import AIO_FLAGS, CACHE_MODES, DISCARD_FLAGS, open_flag_names
from tests.compat import oracle

# include/block/block-common.h (7.2), as listed in the reference section 5.1.
QEMU72 = {"NO_SHARE": 0x1, "RDWR": 0x2, "RESIZE": 0x4, "SNAPSHOT": 0x8, "TEMPORARY": 0x10,
          "NOCACHE": 0x20, "NATIVE_AIO": 0x80, "NO_BACKING": 0x100, "NO_FLUSH": 0x200,
          "COPY_ON_READ": 0x400, "INACTIVE": 0x800, "CHECK": 0x1000, "ALLOW_RDWR": 0x2000,
          "UNMAP": 0x4000, "PROTOCOL": 0x8000, "NO_IO": 0x10000, "AUTO_RDONLY": 0x20000,
          "IO_URING": 0x40000}
QEMU2008 = {"RDONLY": 0, "RDWR": 0x2, "ACCESS": 0x3, "CREAT": 0x4, "SNAPSHOT": 0x8,
            "FILE": 0x10, "DIRECT": 0x20, "SYNC": 0x40}


def test_flag_values_pinned() -> None:
    assert {m.name: m.value for m in BdrvFlag} == QEMU72
    assert {m.name: m.value for m in BdrvFlag2008.__members__.values()} == QEMU2008
    assert all(m.__doc__ for m in BdrvFlag)


def test_tables() -> None:
    assert dict(CACHE_MODES) == {
        CacheMode.WRITEBACK: (True, False, False), CacheMode.NONE: (True, True, False),
        CacheMode.WRITETHROUGH: (False, False, False), CacheMode.DIRECTSYNC: (False, True, False),
        CacheMode.UNSAFE: (True, False, True)}
    assert AIO_FLAGS[qdrive.Aio.NATIVE] is BdrvFlag.NATIVE_AIO
    assert DISCARD_FLAGS["on"] is BdrvFlag.UNMAP and DISCARD_FLAGS["off"] == 0


@pytest.mark.parametrize("mode", ["writeback", "none", "off", "writethrough", "directsync",
                                  "unsafe"])
@pytest.mark.parametrize("aio", ["threads", "native", "io_uring"])
@pytest.mark.parametrize("discard", ["ignore", "unmap"])
def test_every_combination(mode: str, aio: str, discard: str) -> None:
    text = f"file=d.img,format=raw,cache={mode},aio={aio},discard={discard}"
    wb, direct, no_flush = {"off": (True, True, False)}.get(mode) or CACHE_MODES[CacheMode(mode)]
    if aio == "native" and not direct:
        with pytest.raises(qdrive.DriveError):
            parse_drive(text)
        return
    d = parse_drive(text)
    f = bdrv_flags(d)
    assert bool(f & BdrvFlag.NOCACHE) == direct and bool(f & BdrvFlag.NO_FLUSH) == no_flush
    assert f & (BdrvFlag.NATIVE_AIO | BdrvFlag.IO_URING) == AIO_FLAGS[qdrive.Aio(aio)]
    assert bool(f & BdrvFlag.UNMAP) == (discard == "unmap")
    assert f & BdrvFlag.RDWR and f & BdrvFlag.AUTO_RDONLY
    assert open_flags(d) == os.O_RDWR | os.O_CLOEXEC | (os.O_DIRECT if direct else 0)
    plan = plan_open(d)
    assert (plan.writethrough, plan.direct, plan.no_flush) == (not wb, direct, no_flush)
    assert plan.aio == aio


def test_explicit_keys_override_mode_and_read_only() -> None:
    d = parse_drive("file=d.img,cache=none,cache.direct=off,read-only=on,copy-on-read=on")
    assert not bdrv_flags(d) & (BdrvFlag.NOCACHE | BdrvFlag.RDWR | BdrvFlag.COPY_ON_READ)
    assert open_flags(d) == os.O_RDONLY | os.O_CLOEXEC
    assert open_flags(parse_drive("file=d.img,snapshot=on")) == os.O_RDONLY | os.O_CLOEXEC


def test_seed_dialect() -> None:
    d = parse_drive("file=/dev/x,if=virtio,cache=off,sync=on", dialect="qemu-0.9-sync")
    assert bdrv_flags(d) == BdrvFlag2008.RDWR | BdrvFlag2008.DIRECT | BdrvFlag2008.SYNC
    assert open_flags(d) == os.O_RDWR | os.O_DIRECT | os.O_SYNC
    assert plan_open(d).aio == "native"
    assert plan_open(parse_drive("file=/dev/x,cache=on", dialect="qemu-0.9-sync")).aio == "posix"


def test_explain_issue_example() -> None:
    rows = dict(qdrive.explain(parse_drive("file=disk.img,format=raw,cache=none,aio=native")))
    assert "RDWR 0x2" in rows["BDRV_O flags"] and "NOCACHE 0x20" in rows["BDRV_O flags"]
    assert "NATIVE_AIO 0x80" in rows["BDRV_O flags"]
    assert rows["open() flags"].startswith("O_RDWR|O_DIRECT|O_CLOEXEC")
    assert open_flag_names(os.O_RDONLY) == "O_RDONLY"


@pytest.mark.live
@pytest.mark.skipif(shutil.which(oracle.QEMU) is None, reason="qemu-system-x86_64 not installed")
@pytest.mark.parametrize("extra", ["cache=none", "cache=writeback", "cache=directsync",
                                   "if=virtio,read-only=on", "if=none,read-only=on,cache=none"])
def test_open_flags_match_real_qemu(extra: str, images: Path) -> None:
    text = f"file=disk.img,format=raw,{extra}"
    want = open_flags(parse_drive(text))
    with oracle.Running([text], images) as pid:
        flags = oracle.fd_flags(pid, images / "disk.img")
    assert flags, "QEMU holds no descriptor on the image"
    for got in flags:
        assert got & os.O_ACCMODE == want & os.O_ACCMODE
        assert got & os.O_DIRECT == want & os.O_DIRECT
        assert got & os.O_CLOEXEC == want & os.O_CLOEXEC
