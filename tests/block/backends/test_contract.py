"""One contract, every backend this qdrive has, on files and loop block devices."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import gc
import os
import random
from pathlib import Path

import pytest

import qdrive.block.driver as driver

import qdrive
from qdrive.block.backends import BACKENDS, BackendUnavailable, Op, Request, load_backend

from tests.block.backends.engines import built as _built


BUILT = _built()
CACHES = ["cache=none", "cache=writeback", "cache=writethrough", "cache=unsafe"]


def _pairs(caches: list[str]) -> list[tuple[str, str]]:
    """(backend, cache) pairs QEMU allows: native only with O_DIRECT (cache=none)."""
    return [(b, c) for b in BUILT for c in caches if b != "native" or c == "cache=none"]


def _open(target: Path, cache: str, backend: str, **kw: object) -> driver.RawDevice:
    return qdrive.open(f"file={target},format=raw,{cache}", backend=backend, **kw)


def _fds() -> int:
    # Collect first: an earlier test's garbage closing its descriptors mid-test would
    # make the count drop and hide (or fake) a leak.
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("backend, cache", _pairs(["cache=none", "cache=writeback"]))
def test_random_writes_depth_74_read_back(target: Path, backend: str, cache: str) -> None:
    rng = random.Random(74)
    fds = _fds()
    with _open(target, cache, backend) as dev:
        size = dev.length
        model = bytearray(size)
        slots = 74 * 4
        slot = size // slots
        for _ in range(6):
            reqs = []
            for s in rng.sample(range(slots), 74):  # disjoint slots: one writer per byte
                n = rng.randint(1, min(slot, 70_000))
                off = s * slot + rng.randrange(slot - n + 1)
                data = rng.randbytes(n)
                model[off:off + n] = data
                reqs.append(Request(Op.WRITE, off, [memoryview(data)]))
            dev.submit(reqs)
            done = []
            while len(done) < len(reqs):
                done += dev.reap(len(reqs) - len(done))
            assert all(c.error is None and c.result == c.request.length for c in done)
        got = hashlib.sha256()
        for off in range(0, size, 1 << 20):
            got.update(dev.pread(min(1 << 20, size - off), off))
        assert got.hexdigest() == hashlib.sha256(model).hexdigest()
        # Random unaligned reads, many in flight, each checked against the model.
        reads = []
        for _ in range(74):
            n = rng.randint(1, 50_000)
            off = rng.randrange(size - n)
            reads.append(Request(Op.READ, off, [memoryview(bytearray(n))]))
        dev.submit(reads)
        done = []
        while len(done) < len(reads):
            done += dev.reap(len(reads) - len(done))
        for c in done:
            r = c.request
            assert bytes(r.buffers[0]) == bytes(model[r.offset:r.offset + r.length])
    assert _fds() == fds  # no descriptor leaked


@pytest.mark.parametrize("backend, cache", _pairs(CACHES))
def test_cache_modes_round_trip(image_file: Path, backend: str, cache: str) -> None:
    with _open(image_file, cache, backend) as dev:
        assert dev.pwrite(b"abc", 4095) == 3
        dev.flush()
        assert dev.pread(5, 4094) == b"\0abc\0"
        assert dev.plan.writethrough == (cache == "cache=writethrough")
        assert dev.plan.no_flush == (cache == "cache=unsafe")


@pytest.mark.parametrize("backend", BUILT)
def test_short_read_at_end_is_zero_filled(tmp_path: Path, backend: str) -> None:
    """QEMU's length is the size rounded up to 512 bytes (block.c refresh_total_sectors):
    the tail of the last sector reads as zeros; past it, EIO (qemu-io says the same)."""
    odd = tmp_path / "odd.img"
    odd.write_bytes(b"\xff" * 1000)
    with _open(odd, "cache=none", backend) as dev:
        assert dev.length == 1024
        assert dev.pread(34, 990) == b"\xff" * 10 + b"\0" * 24
        with pytest.raises(OSError) as e:
            dev.pread(8, 1020)
        assert e.value.errno == errno.EIO


@pytest.mark.parametrize("backend", BUILT)
def test_read_only_refuses_writes_before_the_kernel(image_file: Path, backend: str) -> None:
    with qdrive.open(f"file={image_file},format=raw,read-only=on,cache=none",
                     backend=backend) as dev:
        for call in (lambda: dev.pwrite(b"x", 0), lambda: dev.discard(0, 4096),
                     lambda: dev.write_zeroes(0, 4096), lambda: dev.truncate(0)):
            with pytest.raises(OSError) as e:
                call()
            assert e.value.errno == errno.EROFS
        assert dev.pread(4, 0) == b"\0\0\0\0"


@pytest.mark.parametrize("backend, cache", _pairs(["cache=none", "cache=writeback"]))
def test_discard_and_write_zeroes(target: Path, backend: str, cache: str) -> None:
    with _open(target, cache, backend) as dev:
        dev.pwrite(b"\x55" * (1 << 20), 0)
        dev.write_zeroes(0, 1 << 16)
        assert dev.pread(1 << 16, 0) == bytes(1 << 16)
        dev.discard(1 << 16, 1 << 16)  # a hint: the data may or may not read as zeros
        assert dev.pread(8, (1 << 20) - 8) == b"\x55" * 8


@pytest.mark.parametrize("backend", BUILT)
def test_close_with_requests_in_flight(image_file: Path, backend: str) -> None:
    fds = _fds()
    dev = _open(image_file, "cache=none", backend)
    bufs = [dev.buffer(1 << 16) for _ in range(74)]
    dev.submit([Request(Op.WRITE, n << 16, [b]) for n, b in enumerate(bufs)])
    dev.close()  # waits for all 74 before the descriptor goes
    assert _fds() == fds
    with pytest.raises(ValueError):
        dev.pread(1, 0)


def test_beyond_the_end_of_a_block_device_fails_cleanly(block_target: Path) -> None:
    with _open(block_target, "cache=none", "threads") as dev:
        with pytest.raises(OSError) as e:
            dev.pwrite(b"x" * 4096, dev.length)
        assert e.value.errno == errno.EIO  # blk_check_byte_request(), as qemu-io says
        with pytest.raises(OSError) as e:
            dev.pread(4096, dev.length)
        assert e.value.errno == errno.EIO
        assert dev.pread(0, dev.length) == b""  # at the end, nothing: fine


def test_alignment_follows_the_sector_size(block_target: Path) -> None:
    sector = int(Path(f"/sys/block/{block_target.name}/queue/logical_block_size").read_text())
    with _open(block_target, "cache=none", "threads") as dev:
        assert dev.request_alignment == sector  # BLKSSZGET
        # Memory alignment is probed separately (the loop device's DMA alignment may be
        # smaller than its logical block), as raw_probe_alignment() does.
        assert dev.buffer_alignment in (512, 1024, 2048, 4096)
        assert dev.length == 64 << 20
        dev.pwrite(b"odd", 1)  # unaligned: served through a bounce buffer (read-modify-write)
        assert dev.pread(4, 0) == b"\0odd"
        assert len(dev.buffer(100)) % sector == 0


@pytest.mark.parametrize("backend", BUILT)
def test_asyncio_api(image_file: Path, backend: str) -> None:
    async def main() -> bytes:
        with _open(image_file, "cache=none", backend) as dev:
            await asyncio.gather(*(dev.write(bytes([n]) * 1000, n * 1000) for n in range(50)))
            await dev.aflush()
            return await dev.read(50_000, 0)

    data = asyncio.run(main())
    assert data == b"".join(bytes([n]) * 1000 for n in range(50))


def test_native_needs_o_direct_as_in_qemu(image_file: Path) -> None:
    with pytest.raises(driver.DriverError, match="aio=native was specified, but it requires "
                       "cache.direct=on, which was not specified."):
        qdrive.open(f"file={image_file},format=raw,cache=writeback", backend="native")


def test_every_backend_whose_library_is_installed_was_built() -> None:
    """make test installs libaio-dev and liburing-dev first: then all four must run."""
    headers = {"posix": "/usr/include/aio.h", "native": "/usr/include/libaio.h",
               "io_uring": "/usr/include/liburing.h"}
    expected = ["threads"] + [b for b, h in headers.items() if os.path.exists(h)]
    assert BUILT == expected


def test_unbuilt_backends_say_so() -> None:
    for name in set(BACKENDS) - set(BUILT):
        with pytest.raises(BackendUnavailable, match="not built into this qdrive yet"):
            load_backend(name)
    with pytest.raises(BackendUnavailable, match="unknown backend"):
        load_backend("spdk")


def test_refuses_other_formats(tmp_path: Path) -> None:
    q = tmp_path / "x.qcow2"
    q.write_bytes(b"QFI\xfb\x00\x00\x00\x03" + bytes(4096))
    with pytest.raises(driver.DriverError, match="opens raw images only; .* is qcow2"):
        qdrive.open(f"file={q}")
    with pytest.raises(driver.DriverError, match="is qcow2"):
        qdrive.open(f"file={q},format=qcow2")
    with pytest.raises(driver.DriverError, match="is qcow2"):  # the probe under O_DIRECT too
        qdrive.open(f"file={q},cache=none")


def test_import_loads_no_driver_and_open_loads_one_backend(image_file: Path) -> None:
    import subprocess
    import sys

    code = ("import sys, qdrive; before = sorted(m for m in sys.modules "
            "if 'qdrive.block.driver' in m or 'qdrive.block.backends' in m or 'cffi' in m); "
            f"dev = qdrive.open('file={image_file},format=raw,aio=threads'); dev.close(); "
            "after = sorted(m for m in sys.modules if m.startswith('qdrive.block.backends.') or "
            "'cffi' in m); print(before, after)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    before, after = out.stdout.split("] [")
    assert before == "[", out.stderr  # import qdrive: no driver, no backend, no cffi
    loaded = set(after.rstrip("]\n").replace("'", "").split(", "))
    others = {"posix", "native", "io_uring", "_posix_cffi", "_native_cffi", "_io_uring_cffi"}
    assert "qdrive.block.backends.threads" in loaded
    assert not {f"qdrive.block.backends.{m}" for m in others} & loaded
