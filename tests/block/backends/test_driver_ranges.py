"""Requests outside the device fail with EIO, as in QEMU (issue 11 item 13).

QEMU's block-backend.c blk_check_byte_request() refuses a request that does not lie
inside the device (negative offset or length, or past the end) with EIO; the device's
length is the image size rounded up to 512 bytes (block.c refresh_total_sectors), so the
tail of a last partial sector reads as zeros. qemu-io 7.2 on a 1000-byte raw image:
"length" says 1 KiB, "read 990 34" gives ten 0xaa bytes and 24 zeros, "read 1020 8" and
"write 1024 1" fail with "Input/output error", "read 1024 0" and "read 0 0" succeed.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest


import qdrive
from qdrive.block.backends import Op, Request
from tests.block.backends.test_contract import BUILT

CACHES = ["cache=none", "cache=writeback"]


def _pairs() -> list[tuple[str, str]]:
    return [(b, c) for b in BUILT for c in CACHES if b != "native" or c == "cache=none"]


def _eio(call: Callable[[], object]) -> None:
    with pytest.raises(OSError) as e:
        call()
    assert type(e.value) is OSError  # a plain OSError: not OverflowError, not ValueError
    assert e.value.errno == errno.EIO, e.value


@pytest.mark.parametrize("backend, cache", _pairs())
def test_out_of_range_requests_fail_with_eio(target: Path, backend: str, cache: str) -> None:
    with qdrive.open(f"file={target},format=raw,{cache}", backend=backend) as dev:
        end = dev.length
        size_before = os.fstat(dev.fileno()).st_size
        _eio(lambda: dev.pwrite(b"x" * 4096, end))  # the image does not grow
        _eio(lambda: dev.pwrite(b"x", end))
        _eio(lambda: dev.pwrite(b"x" * 8192, end - 4096))  # crosses the end
        _eio(lambda: dev.pread(1, end))
        _eio(lambda: dev.pread(4096, end - 512))
        _eio(lambda: dev.pread(-5, 0))  # was 4,091 bytes
        _eio(lambda: dev.pread(1, -1))
        _eio(lambda: dev.pwrite(b"x", -4096))
        _eio(lambda: dev.pread(1, 2**63))  # was OverflowError
        _eio(lambda: dev.pwrite(b"x", 2**63))
        _eio(lambda: dev.pread(2**63, 0))
        _eio(lambda: dev.discard(end, 4096))
        _eio(lambda: dev.write_zeroes(end - 4096, 8192))
        _eio(lambda: dev.discard(0, -1))
        assert os.fstat(dev.fileno()).st_size == size_before
        # At the end, nothing is fine; so is an empty request anywhere inside.
        assert dev.pread(0, end) == b""
        assert dev.pread(0, 0) == b""  # was ValueError under O_DIRECT only
        assert dev.pwrite(b"", end) == 0
        assert dev.pread(512, end - 512) == bytes(512)


@pytest.mark.parametrize("backend", BUILT)
def test_a_bad_request_in_a_batch_starts_nothing(image_file: Path, backend: str) -> None:
    with qdrive.open(f"file={image_file},format=raw,cache=none", backend=backend) as dev:
        good = Request(Op.WRITE, 0, [memoryview(b"a" * 4096)])
        bad = Request(Op.WRITE, dev.length, [memoryview(b"b" * 4096)])
        _eio(lambda: dev.submit([good, bad]))
        assert dev.in_flight() == 0
        assert dev.pread(4096, 0) == bytes(4096)  # the good one never started
        dev.submit([good])  # and can be submitted on its own
        (c,) = dev.reap(1)
        assert c.error is None and c.result == 4096


@pytest.mark.parametrize("cache", ["cache=none", "cache=writeback"])
def test_length_is_rounded_up_to_a_sector_as_in_qemu(tmp_path: Path, cache: str) -> None:
    image = tmp_path / "odd.img"
    image.write_bytes(b"\xaa" * 1000)
    with qdrive.open(f"file={image},format=raw,{cache}") as dev:
        assert dev.length == 1024  # qemu-io: "1 KiB"
        assert dev.pread(34, 990) == b"\xaa" * 10 + bytes(24)
        _eio(lambda: dev.pread(8, 1020))
        _eio(lambda: dev.pwrite(b"x", 1024))
        assert dev.pwrite(b"y" * 24, 1000) == 24  # the tail of the last sector: allowed
    assert image.stat().st_size == 1024  # as qemu-io "write 1000 24" leaves it


def test_zero_length_requests_complete_through_the_queue(image_file: Path) -> None:
    with qdrive.open(f"file={image_file},format=raw,cache=none") as dev:
        reqs = [Request(Op.READ, 7, [memoryview(bytearray())]), Request(Op.WRITE, 0, []),
                Request(Op.DISCARD, 3, (), 0)]
        dev.submit(reqs)
        done = dev.reap(3)
        assert sorted(id(c.request) for c in done) == sorted(id(r) for r in reqs)
        assert all(c.error is None and c.result == 0 for c in done)


def test_odd_arguments_are_type_errors(image_file: Path) -> None:
    with qdrive.open(f"file={image_file},format=raw") as dev:
        with pytest.raises(TypeError):
            dev.pread(1, 0.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError):  # a read into bytes cannot work
            dev.preadv([memoryview(b"abc")], 0)
        r = Request(Op.WRITE, 0, [memoryview(b"x")])
        with pytest.raises(ValueError, match="already submitted"):
            dev.submit([r, r])
