"""Every backend past its limits: buffer counts, ring depths, unreaped completions.

Backends are built directly on descriptors opened here (buffered or O_DIRECT), on a file
and on loop devices with 512- and 4096-byte sectors. Each case checks the data, not only
the completion count.
"""

from __future__ import annotations

import errno
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qdrive.block.backends import Op, Request

from .conftest import _loop
from .engines import ENGINES, IOV_MAX, aligned, check_all_full, create, opened, reap_all

TARGETS = ["file", "file-direct", "loop512", "loop4096"]


@pytest.fixture(params=TARGETS)
def where(request: pytest.FixtureRequest, image_file: Path) -> Iterator[tuple[str, bool]]:
    """(path, O_DIRECT?) for a file (buffered and direct) and two loop devices."""
    name = request.param
    if name.startswith("file"):
        yield str(image_file), name == "file-direct"
    else:
        for dev in _loop(image_file, name.removeprefix("loop")):
            yield str(dev), True


def _pattern(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _skip_native_buffered(engine: str, direct: bool) -> None:
    if engine == "native" and not direct:
        pytest.skip("QEMU runs aio=native only with O_DIRECT (the kernel would block)")


# -- item 2: many buffers in one request ------------------------------------------------------

@pytest.mark.parametrize("count", [100, 1024, IOV_MAX + 1, 3 * IOV_MAX + 7])
@pytest.mark.parametrize("engine", ENGINES)
def test_many_buffers_in_one_request(where: tuple[str, bool], engine: str, count: int) -> None:
    path, direct = where
    _skip_native_buffered(engine, direct)
    rng = random.Random(count)
    # O_DIRECT wants every buffer aligned; buffered I/O gets odd sizes to test the split.
    sizes = [4096] * count if direct else [rng.randint(1, 700) for _ in range(count)]
    total = sum(sizes)
    data = _pattern(total, count)
    wbufs, pos = [], 0
    for n in sizes:
        b = aligned(n)
        b[:] = data[pos:pos + n]
        wbufs.append(b)
        pos += n
    offset = 1 << 20
    with opened(path, direct) as fd:
        be = create(engine, fd)
        try:
            w = Request(Op.WRITE, offset, wbufs, total)
            be.submit([w])
            check_all_full(reap_all(be, 1), [w])
            with opened(path, False) as plain:
                os.fsync(fd)
                assert os.pread(plain, total, offset) == data  # writes wrote all
            rbufs = [aligned(n) for n in sizes]
            for b in rbufs:
                b[:] = b"\xee" * len(b)
            r = Request(Op.READ, offset, rbufs, total)
            be.submit([r])
            check_all_full(reap_all(be, 1), [r])
            assert b"".join(bytes(b) for b in rbufs) == data  # reads filled every buffer
        finally:
            be.close()


# -- items 3 and 5: 4,096 requests at once -----------------------------------------------------

N = 4096
BS = 4096


def _write_requests(seed: int) -> tuple[list[Request], bytes]:
    data = _pattern(N * BS, seed)
    reqs = []
    for i in range(N):
        b = aligned(BS)
        b[:] = data[i * BS:(i + 1) * BS]
        reqs.append(Request(Op.WRITE, i * BS, [b], BS, tag=i))
    return reqs, data


def _read_back(be: object, data: bytes) -> None:
    reads = [Request(Op.READ, i * BS, [aligned(BS)], BS, tag=i) for i in range(N)]
    be.submit(reads)  # type: ignore[attr-defined]
    check_all_full(reap_all(be, N), reads)
    bad = [r.tag for r in reads if bytes(r.buffers[0]) != data[r.tag * BS:(r.tag + 1) * BS]]
    assert not bad, f"{len(bad)} blocks read back wrong, first {bad[:5]}"


@pytest.mark.parametrize("engine", ENGINES)
def test_4096_requests_at_once_never_fail_for_depth(where: tuple[str, bool],
                                                     engine: str) -> None:
    """Past every ring (native 128, posix 512, io_uring's SQ, the C pool's 1,024): queued."""
    path, direct = where
    _skip_native_buffered(engine, direct)
    writes, data = _write_requests(5)
    with opened(path, direct) as fd:
        be = create(engine, fd)
        try:
            be.submit(writes)
            assert be.in_flight() == N
            check_all_full(reap_all(be, N), writes)
            assert be.in_flight() == 0
            _read_back(be, data)
        finally:
            be.close()


@pytest.mark.parametrize("waves", [1, 8])
@pytest.mark.parametrize("engine", ENGINES)
def test_4096_completions_left_unreaped(where: tuple[str, bool], engine: str,
                                        waves: int) -> None:
    """Submitted at once or in waves, left to pile up before one reap: none overwritten."""
    path, direct = where
    _skip_native_buffered(engine, direct)
    writes, data = _write_requests(3)
    per = N // waves
    with opened(path, direct) as fd:
        be = create(engine, fd)
        try:
            for wave in range(waves):
                be.submit(writes[wave * per:(wave + 1) * per])
                time.sleep(0.05)  # let the wave complete and its completions pile up
            done = reap_all(be, N)
            check_all_full(done, writes)
            _read_back(be, data)
        finally:
            closer = threading.Thread(target=be.close, daemon=True)
            closer.start()
            closer.join(60)
            assert not closer.is_alive(), "close() hangs"


@pytest.mark.parametrize("engine", ENGINES)
def test_close_with_4096_unreaped_does_not_hang(image_file: Path, engine: str) -> None:
    writes, data = _write_requests(9)
    with opened(str(image_file), True) as fd:
        be = create(engine, fd)
        be.submit(writes)
        closer = threading.Thread(target=be.close, daemon=True)
        closer.start()
        closer.join(60)
        assert not closer.is_alive(), "close() hangs"
        with opened(str(image_file), False) as plain:
            assert os.pread(plain, N * BS, 0) == data  # close() let every write finish


# -- item 4: several buffers under O_DIRECT ---------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_several_buffers_under_o_direct(where: tuple[str, bool], engine: str) -> None:
    path, direct = where
    if not direct:
        pytest.skip("a buffered target has no alignment to get wrong")
    data = _pattern(3 * 4096, 4)
    bufs = [aligned(4096) for _ in range(3)]
    for i, b in enumerate(bufs):
        b[:] = data[i * 4096:(i + 1) * 4096]
    with opened(path, True) as fd:
        be = create(engine, fd)
        try:
            many = [Request(Op.WRITE, 16384 * k, bufs, len(data)) for k in range(1, 40)]
            be.submit(many)
            check_all_full(reap_all(be, len(many)), many)
            out = [aligned(4096) for _ in range(3)]
            r = Request(Op.READ, 16384 * 39, out, len(data))
            be.submit([r])
            check_all_full(reap_all(be, 1), [r])
            assert b"".join(bytes(b) for b in out) == data
        finally:
            be.close()


@pytest.mark.parametrize("backend", [e for e in ENGINES if e != "threads-py"])
def test_several_buffers_through_the_driver_with_cache_none(image_file: Path,
                                                            backend: str) -> None:
    import qdrive

    data = _pattern(4 * 4096, 8)
    with qdrive.open(f"file={image_file},format=raw,cache=none", backend=backend) as dev:
        bufs = [dev.buffer(4096) for _ in range(4)]
        for i, b in enumerate(bufs):
            b[:] = data[i * 4096:(i + 1) * 4096]
        reqs = [Request(Op.WRITE, k << 16, bufs) for k in range(64)]
        dev.submit(reqs)
        done = []
        while len(done) < len(reqs):
            done += dev.reap(len(reqs) - len(done))
        assert all(c.error is None and c.result == len(data) for c in done)
        out = [dev.buffer(4096) for _ in range(4)]
        dev.submit([Request(Op.READ, 63 << 16, out)])
        (c,) = dev.reap(1)
        assert c.error is None and b"".join(bytes(b) for b in out) == data


# -- the contract at a full device ------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_a_full_filesystem_gives_full_writes_or_enospc(small_fs: Path, engine: str) -> None:
    """On a 16 MiB filesystem, 32 MiB of writes at once: each completes whole or with
    ENOSPC (a short write is continued first), and every whole one reads back."""
    path = small_fs / "full.img"
    with open(path, "wb") as f:
        f.truncate(64 << 20)
    chunk = 1 << 20
    writes = []
    for n in range(32):
        b = aligned(chunk)
        b[:] = bytes([n + 1]) * chunk
        writes.append(Request(Op.WRITE, n * chunk, [b], chunk, tag=n))
    with opened(str(path), False) as fd:
        be = create(engine, fd)
        try:
            be.submit(writes)
            done = reap_all(be, len(writes))
        finally:
            be.close()
        assert {id(c.request) for c in done} == {id(w) for w in writes}
        whole = [c.request.tag for c in done if c.error is None]
        failed = [c for c in done if c.error is not None]
        assert all(c.result == chunk for c in done if c.error is None)
        assert failed and all(c.error.errno == errno.ENOSPC for c in failed)  # type: ignore[union-attr]
        assert whole, "the filesystem took nothing"
        for n in whole:
            assert os.pread(fd, chunk, n * chunk) == bytes([n + 1]) * chunk
