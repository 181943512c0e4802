"""The C thread pool's hand-offs, counted (never timed).

A futex wake-up and the context switch it causes cost more than a 16k write on this
machine kind, so the pool (csrc/qd_tpool.c) makes them only when someone sleeps, one call
per batch. These tests read the pool's own counters (threads.COUNTERS) and bound them by
the number of submit and reap calls, which is what the design promises; a pool that goes
back to one wake-up per request fails them. Every request is also checked to come back
exactly once with its full length, and the data to be what was written.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from qdrive.block.backends import Op, Request

from .engines import aligned, built, check_all_full, create, opened, reap_all

pytestmark = pytest.mark.skipif("threads" not in built(), reason="the C pool was not built")

BS = 4096


def _parked(pool: Any, workers: int) -> dict[str, int]:
    """Wait (bounded) until every worker has gone to sleep once; the counters then."""
    deadline = time.monotonic() + 30
    while (c := pool.counters())["worker_sleeps"] < workers and time.monotonic() < deadline:
        time.sleep(0.01)
    assert c["worker_sleeps"] >= workers, c
    return c


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in after}


def _read(path: Path, offset: int, n: int) -> bytes:
    """Through the page cache (O_DIRECT writes invalidate it, so this sees them)."""
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(n)


def _pattern(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def test_a_batch_wakes_its_sleeping_workers_with_one_call(image_file: Path) -> None:
    workers = 8
    with opened(str(image_file), True) as fd:
        pool = create("threads", fd, workers=workers)
        try:
            before = _parked(pool, workers)
            reqs = []
            for i in range(workers):
                buf = aligned(BS)
                buf[:] = _pattern(BS, i)
                reqs.append(Request(Op.WRITE, i * BS, [buf], BS, i))
            pool.submit(reqs)
            check_all_full(reap_all(pool, len(reqs)), reqs)
            d = _delta(pool.counters(), before)
        finally:
            pool.close()
        # One submit call of 8 requests to 8 sleeping workers: one FUTEX_WAKE (a
        # condition variable signalled per request made 8).
        assert d["submits"] == 1 and d["requests"] == workers
        assert d["worker_wake_calls"] == 1, d
    assert _read(image_file, 0, workers * BS) == b"".join(_pattern(BS, i) for i in range(workers))


@pytest.mark.parametrize("workers", [1, 4, 64])
def test_wake_calls_are_bounded_by_calls_not_requests(image_file: Path, workers: int) -> None:
    """Thousands of requests through the ring (several times its capacity, so its
    positions wrap), in batches of 1..96 with reaps of varying size in between."""
    rng = random.Random(workers)
    total = 5000
    blocks = (64 << 20) // BS
    expect: dict[int, bytes] = {}
    with opened(str(image_file), True) as fd:
        pool = create("threads", fd, workers=workers)
        try:
            before = pool.counters()
            done = sent = 0
            while done < total:
                n = min(rng.randint(1, 96), total - sent)
                reqs = []
                # Two writes to one block in flight at once may land in either order (as
                # in QEMU): a batch writes distinct blocks, and is reaped before the next.
                for block in rng.sample(range(blocks), n):
                    buf = aligned(BS)
                    buf[:] = _pattern(BS, sent)
                    expect[block] = bytes(buf)  # the last write to a block wins below
                    reqs.append(Request(Op.WRITE, block * BS, [buf], BS, sent))
                    sent += 1
                if reqs:
                    pool.submit(reqs)
                got = reap_all(pool, pool.in_flight())
                assert all(c.error is None and c.result == BS for c in got)
                done += len(got)
            d = _delta(pool.counters(), before)
        finally:
            pool.close()
    for block, data in expect.items():
        assert _read(image_file, block * BS, BS) == data
    assert d["requests"] == total
    assert d["worker_wake_calls"] <= d["submits"], d  # at most one per submit call
    # The reaper is woken once per wait at most (each sleep re-arms the wait once).
    assert d["reaper_wake_calls"] <= d["reaps"] + d["reaper_sleeps"], d
    assert d["reaper_sleeps"] <= d["reaps"], d  # and sleeps once per reap at most


def _bench(image_file: Path, cache: str, seconds: float, seed: int,
           **kw: Any) -> tuple[dict[str, Any], dict[str, int]]:
    """The C benchmark loop (16k random writes at the seed's depth, 74, on 64 workers) on
    a drive with ``cache``: its result and the pool's counters over the run."""
    import qdrive

    depth, bs = 74, 16 << 10
    with qdrive.open(f"file={image_file},format=raw,{cache},aio=threads",
                     backend="threads") as dev:
        backend = dev._backend
        before = backend.counters()
        out = backend.run_bench(write=True, random=True, bs=bs, depth=depth,
                                nblocks=(64 << 20) // bs, seconds=seconds, seed=seed,
                                buffers=dev.buffer(depth * bs), **kw)
        return out, _delta(backend.counters(), before)


@pytest.mark.parametrize("cache", ["cache=none", "cache=writeback", "cache=directsync"])
def test_benchmark_loop_wakes_once_a_round_and_never_the_eventfd(image_file: Path,
                                                                 cache: str) -> None:
    """The C benchmark loop at the seed's depth (74) on 64 workers: the workers it wakes
    are woken once per round (per reap), the reaper once per wait, and the eventfd,
    which nobody reads meanwhile, is not written."""
    out, d = _bench(image_file, cache, 0.5, 3, flush_each=cache == "cache=directsync")
    assert out["errors"] == 0 and out["ios"] > 0
    flushes = d["requests"] - out["ios"]
    assert flushes == 0 if cache != "cache=directsync" else 0 < flushes <= out["ios"]
    assert d["eventfd_writes"] == 0, d
    assert d["worker_wake_calls"] <= d["reaps"] + 1, d  # +1: the loop's last kick
    assert d["reaper_wake_calls"] <= d["reaps"] + d["reaper_sleeps"], d


@pytest.mark.parametrize("cache", ["cache=directsync", "cache=writethrough"])
def test_benchmark_reaper_sleeps_about_once_a_flush_with_qemus_one_flush(image_file: Path,
                                                                         cache: str) -> None:
    """Write-through with one flush in flight (QEMU's shape): a write that completes while
    the flush runs can only wait for the next one, so the reaper sleeps until the flush
    ends rather than waking for each write. Each sleep ends with a flush finishing, or
    with a write finishing while none runs (and that round starts one): at most two sleeps
    a flush (it was ~20 a flush when every write woke the reaper)."""
    out, d = _bench(image_file, cache, 0.5, 5, flush_each=True, flush_depth=1)
    flushes = d["requests"] - out["ios"]
    assert out["errors"] == 0 and out["ios"] > 0 and flushes > 0
    assert d["reaper_sleeps"] <= 2 * flushes + 1, (d, flushes)


@pytest.mark.parametrize(("cache", "early"), [
    ("cache=writethrough", True), ("cache=writeback", False), ("cache=none", False),
    ("cache=directsync", False), ("cache=unsafe", False),
    ("cache.writeback=off,cache.no-flush=on", False)])
def test_write_through_on_the_page_cache_starts_each_writes_writeback(
        image_file: Path, cache: str, early: bool) -> None:
    """cache=writethrough (no O_DIRECT, a real flush after each write): every write the
    pool runs starts its own writeback at once, so the flush that completes it finds the
    pages on their way (csrc/qd_tpool.c early_writeback); with O_DIRECT, with the flush a
    no-op or without write-through, none does. The data and the flush count are the
    same either way."""
    import qdrive

    n = 40
    with qdrive.open(f"file={image_file},format=raw,{cache},aio=threads",
                     backend="threads") as dev:
        backend = dev._backend
        before = backend.counters()
        data = [_pattern(BS, i) for i in range(n)]
        for i, block in enumerate(data):
            assert dev.pwrite(block, i * BS) == BS
        d = _delta(backend.counters(), before)
        assert [dev.pread(BS, i * BS) for i in range(n)] == data
    assert d["early_writebacks"] == (n if early else 0), d
    flushes = d["requests"] - n
    assert flushes == (n if early or "directsync" in cache else 0), d


def test_the_benchmark_loop_starts_the_writeback_of_every_write_through_write(
        image_file: Path) -> None:
    out, d = _bench(image_file, "cache=writethrough", 0.3, 7, flush_each=True)
    assert out["errors"] == 0 and out["ios"] > 0
    assert d["early_writebacks"] == out["ios"], (d, out["ios"])
