"""The benchmark's accounting, counted by the block layer on tiny runs (never its speed).

A loop device's /sys/block/loopN/stat counts what really reached the device: sectors
written and flush requests. The benchmark's figures are held against those counts, so no
test here compares a time or a rate.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qdrive.bench.workload import Spec, bench_drive, run_qdrive
from qdrive.bench.matrix import ROWS, RowResult, format_table, write_outputs
from qdrive.block.plan import OpenPlan, plan_open
from tests.loopfs import loop_unavailable, small_filesystem

BACKENDS = ["threads", "posix", "native", "io_uring"]
SIZE = 16 << 20


_loop_skip = loop_unavailable


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB loop device (512-byte sectors) over a sparse file."""
    why = _loop_skip()
    if why:
        pytest.skip(why)
    backing = tmp_path / "loop.img"
    with open(backing, "wb") as f:
        f.truncate(SIZE)
    dev = subprocess.run(["losetup", "--find", "--show", str(backing)], capture_output=True,
                         text=True, check=True).stdout.strip()
    try:
        yield Path(dev)
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


class BlockStat:
    """Deltas of a block device's I/O counters (Documentation/block/stat.rst)."""

    def __init__(self, dev: Path) -> None:
        self.path = f"/sys/block/{dev.name}/stat"
        self.start = self._read()

    def _read(self) -> list[int]:
        with open(self.path) as f:
            return [int(x) for x in f.read().split()]

    def delta(self) -> dict[str, int]:
        now = self._read()
        d = [b - a for a, b in zip(self.start, now, strict=False)]
        return {"read_bytes": d[2] * 512, "written_bytes": d[6] * 512, "flushes": d[15]}


def _plan(path: Path | str, cache: str = "cache=none", dialect: str = "qemu-7.2") -> OpenPlan:
    return plan_open(bench_drive(str(path), cache, dialect))


@pytest.fixture
def spec(tmp_path: Path) -> Spec:
    path = tmp_path / "b.img"
    with open(path, "wb") as f:
        f.write(bytes(SIZE))
    return Spec(str(path), size=SIZE, runtime=0.3, iodepth=8)


def _open_cost(dev: Path, plan: OpenPlan, backend: str) -> dict[str, int]:
    """What opening and closing a device moves by itself (the alignment probe's reads)."""
    import qdrive.block.driver

    stat = BlockStat(dev)
    qdrive.block.driver.open(plan, backend=backend).close()
    return stat.delta()


@pytest.mark.parametrize("rw", ["randwrite", "write", "randread", "read", "randrw"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_accounting_matches_the_device(loop_device: Path, backend: str, rw: str) -> None:
    """O_DIRECT: every byte the result counts reached the device, and at most the
    requests still in flight at the deadline (iodepth x bs) more."""
    spec = Spec(str(loop_device), rw=rw, size=SIZE, runtime=0.2, iodepth=8)
    plan = _plan(loop_device)
    cost = _open_cost(loop_device, plan, backend)
    stat = BlockStat(loop_device)
    r = run_qdrive(spec, plan, backend)
    moved = {k: v - cost[k] for k, v in stat.delta().items()}
    total = moved["read_bytes"] + moved["written_bytes"]
    assert r.ios > 0 and r.bytes == r.ios * spec.bs
    assert r.bytes <= total <= r.bytes + spec.iodepth * spec.bs, (r, moved)
    if rw in ("randread", "read"):
        assert moved["written_bytes"] == 0
    if rw in ("randwrite", "write"):
        assert moved["read_bytes"] == 0
    assert r.iops == pytest.approx(r.ios / r.seconds)
    assert r.mb_per_s == pytest.approx(r.bytes / r.seconds / 1e6)
    assert 0 < r.p50_ms <= r.p99_ms <= r.p999_ms
    assert r.complete_ms > 0 and r.submit_us is not None and r.submit_us > 0 and r.cpu_seconds >= 0
    assert set(r.to_json()) >= {"tool", "label", "ios", "bytes", "seconds", "submit_us",
                                "complete_ms", "p50_ms", "p99_ms", "p999_ms", "cpu_seconds",
                                "iops", "mb_per_s", "cache"}


# cache options -> does each write cost a flush (QEMU's semantics)?
FLUSHES = {
    ("cache=writeback", "qemu-7.2"): False,
    ("cache=none", "qemu-7.2"): False,
    ("cache=unsafe", "qemu-7.2"): False,
    ("cache=writethrough", "qemu-7.2"): True,
    ("cache=directsync", "qemu-7.2"): True,
    ("cache=on,sync=on", "qemu-0.9-sync"): True,  # O_SYNC: the kernel flushes each write
    ("cache=off,sync=on", "qemu-0.9-sync"): True,
}


def _flush_cases() -> list[tuple[str, tuple[str, str]]]:
    # aio=native needs O_DIRECT, as in QEMU: it is not run with the buffered modes.
    return [(b, c) for b in BACKENDS for c in FLUSHES
            if b != "native" or _plan("x", *c).direct]


@pytest.mark.parametrize(("backend", "cache"), _flush_cases(),
                         ids=[f"{b}-{c}" for b, (c, _) in _flush_cases()])
def test_flushes_counted_by_the_device(loop_device: Path, backend: str,
                                       cache: tuple[str, str]) -> None:
    """Write-through, directsync and O_SYNC cost the device a flush per write in every
    backend's loop (a loop that forgot it would report page-cache speed); the other modes
    cost none. One request in flight, so the block layer cannot merge two flushes."""
    plan = _plan(loop_device, *cache)
    spec = Spec(str(loop_device), size=SIZE, runtime=0.2, iodepth=1)
    stat = BlockStat(loop_device)
    r = run_qdrive(spec, plan, backend)
    flushes = stat.delta()["flushes"]
    assert r.ios > 0
    if FLUSHES[cache]:
        assert flushes >= r.ios, (r.ios, flushes)
    else:
        assert flushes <= 1, (r.ios, flushes)  # at most close()'s own flush


@pytest.mark.parametrize("backend", BACKENDS)
def test_write_through_flushes_cover_the_writes_before_them(loop_device: Path,
                                                           backend: str) -> None:
    """Eight writes in flight under directsync: the flush is a request in flight, one at
    a time (block/io.c bdrv_co_flush), covering at most the eight writes that finished
    before it started, so the device sees at least one flush per eight writes counted,
    and never more than one per write (plus close()'s own)."""
    plan = _plan(loop_device, "cache=directsync")
    spec = Spec(str(loop_device), size=SIZE, runtime=0.2, iodepth=8)
    stat = BlockStat(loop_device)
    r = run_qdrive(spec, plan, backend)
    moved = stat.delta()
    assert r.ios > 0 and moved["written_bytes"] >= r.bytes
    assert r.ios / spec.iodepth <= moved["flushes"] <= r.ios + 1, (r.ios, moved)


@pytest.mark.parametrize("backend", ["threads", "posix", "native", "io_uring"])
def test_the_flush_depth_is_checked_against_the_engine(tmp_path: Path, backend: str) -> None:
    """Each write-through flush in flight takes a place in the engine: a loop asking for
    a full engine and a flush is refused before it starts, and so is no flush at all."""
    import qdrive.block.driver

    path = tmp_path / "d.img"
    path.write_bytes(bytes(1 << 20))
    with qdrive.block.driver.open(_plan(path, "cache=directsync"), backend=backend) as dev:
        engine: Any = dev._backend
        if not hasattr(engine, "run_bench"):
            pytest.skip(f"{backend}: no C engine here")
        cap = engine.capacity
        buffers = dev.buffer(4096 * cap)
        kw = {"write": True, "random": False, "bs": 4096, "nblocks": 256, "seconds": 0.01,
              "seed": 1, "buffers": buffers, "flush_each": True}
        with pytest.raises(ValueError, match="and 1 write-through flush"):
            engine.run_bench(depth=cap, **kw)
        with pytest.raises(ValueError, match="flush_depth"):
            engine.run_bench(depth=1, flush_depth=0, **kw)
        out = engine.run_bench(depth=cap - 2, flush_depth=2, **kw)
        assert out["ios"] > 0 and out["errors"] == 0


def test_the_cli_takes_a_flush_depth(tmp_path: Path) -> None:
    """--flush-depth reaches the workload (fio's shape: each job flushes on its own);
    outside 1..--iodepth it is a usage error before anything is created."""
    target = tmp_path / "f.img"
    base = [sys.executable, "-m", "qdrive", "bench", f"file={target},cache=directsync",
            "--size", "4M", "--runtime", "0.1", "--iodepth", "8"]
    p = subprocess.run([*base, "--flush-depth", "4", "--json"], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["spec"]["flush_depth"] == 4 and out["result"]["ios"] > 0
    for bad in ("0", "9"):
        p = subprocess.run([*base, "--flush-depth", bad], capture_output=True, text=True)
        assert p.returncode == 2 and p.stdout == ""
        assert p.stderr == "qdrive: --flush-depth must be between 1 and --iodepth (8)\n"
        assert not target.exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_parallel_flushes_still_flush_every_write(loop_device: Path, backend: str) -> None:
    """With four flushes allowed in flight, every write still waits for a flush that
    started after it finished: the device counts at least one flush per eight writes and
    at most one per write (plus close()'s own)."""
    import attrs

    plan = _plan(loop_device, "cache=directsync")
    spec = attrs.evolve(Spec(str(loop_device), size=SIZE, runtime=0.2, iodepth=8),
                        flush_depth=4)
    stat = BlockStat(loop_device)
    r = run_qdrive(spec, plan, backend)
    moved = stat.delta()
    assert r.ios > 0 and moved["written_bytes"] >= r.bytes
    assert r.ios / spec.iodepth <= moved["flushes"] <= r.ios + 1, (r.ios, moved)


def test_table_and_outputs(spec: Spec, tmp_path: Path) -> None:
    mine = run_qdrive(spec, _plan(spec.path), "threads", label=ROWS[0].label)
    results = [RowResult(ROWS[0], (mine,))]
    table = format_table(results, spec)
    assert "throughput (MB/s)" in table and "threads (thread pool)" in table
    written, _ = write_outputs(results, str(tmp_path / "out"), spec)
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["rows"][0]["runs"]["qdrive"][0]["ios"] == mine.ios
    assert data["rows"][0]["fio"] is None  # no fio run: null
    assert (tmp_path / "out.csv").read_text().startswith("backend,backend_options,cache,")
    assert written[:2] == [str(tmp_path / "out.csv"), str(tmp_path / "out.json")]


def test_matrix_rows_follow_the_seed() -> None:
    labels = [r.label for r in ROWS]
    assert "posix, no descriptor pool, cache=none" in labels
    assert "posix, 4 pooled descriptors, cache=none" in labels
    native_buffered = [r for r in ROWS if r.backend == "native" and r.mode == "writeback"]
    assert len(native_buffered) == 1 and native_buffered[0].skip  # shown as "—", not run
    assert ROWS[-1].dialect == "qemu-0.9-sync" and "sync=on" in ROWS[-1].cache


def test_cli_creates_and_removes_its_file(tmp_path: Path) -> None:
    target = tmp_path / "new.img"
    p = subprocess.run([sys.executable, "-m", "qdrive", "bench", f"file={target},cache=none",
                        "--size", "8M", "--runtime", "0.2", "--iodepth", "4", "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["spec"]["size"] == 8 << 20 and out["result"]["ios"] > 0
    assert out["target"] == {"path": str(target), "length": 8 << 20, "created": True,
                             "block_device": False, "read_only": False}
    assert out["result"]["cache"] == "direct=1,sync=0,fdatasync=0"
    assert p.stderr == ""  # no progress line when stderr is not a terminal
    assert not target.exists()


def test_cli_keep(tmp_path: Path) -> None:
    target = tmp_path / "kept.img"
    p = subprocess.run([sys.executable, "-m", "qdrive", "bench", f"file={target}",
                        "--size", "4M", "--runtime", "0.1", "--iodepth", "2", "--keep"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("threads cache=writeback: ") and " MB/s, " in p.stdout
    assert target.stat().st_size == 4 << 20


LINE = (r"[\d,.]+ MB/s, [\d,]+ IOPS, submission [\d.]+ µs, completion [\d.]+ ms \(median "
        r"[\d.]+, 99th percentile [\d.]+, 99\.9th [\d.]+\), [\d.]+ CPU s \([\d.]+ s per GB\)")


def test_the_figures_line(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "qdrive", "bench",
                        f"file={tmp_path / 'n.img'},cache=directsync,aio=io_uring",
                        "--size", "4M", "--runtime", "0.1", "--iodepth", "2"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert re.fullmatch(r"io_uring cache=directsync: " + LINE + "\n", p.stdout), p.stdout


def test_the_progress_line_on_a_terminal(tmp_path: Path) -> None:
    from tests.bench.test_bench_signals import Bench

    run = Bench(f"file={tmp_path / 'n.img'},cache=none", "--size", "128M", "--runtime", "0.2")
    code, out, err = run.finish()
    assert code == 0, err
    assert "preparing" in err and "0 / 128 MiB" in err and "64 / 128 MiB" in err
    assert "running 0.2 s in the C engine" in err
    assert run.seen.endswith("\x1b[K")  # the line is erased before the figures appear
    assert re.fullmatch(r"threads cache=none: " + LINE + "\n", out), out
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("rw", ["randwrite", "randrw"])  # the C loop, the Python loop
def test_an_io_error_is_exit_1(tmp_path: Path, rw: str) -> None:
    """A run that fails (ENOSPC writing into a sparse image on a full filesystem) says so
    in one line and exits 1; the image is the user's, so it stays."""
    with small_filesystem(tmp_path) as mnt:
        vfs = os.statvfs(mnt)
        with open(mnt / "filler", "wb") as f:  # leave 256 KiB: a few writes fill it
            os.posix_fallocate(f.fileno(), 0, vfs.f_bavail * vfs.f_frsize - (256 << 10))
        image = mnt / "sparse.img"
        with open(image, "wb") as f:
            f.truncate(64 << 20)
        p = subprocess.run([sys.executable, "-m", "qdrive", "bench", f"file={image},cache=none",
                            "--yes-destroy-data", "--runtime", "0.5", "--rw", rw],
                           capture_output=True, text=True)
        assert p.returncode == 1 and p.stdout == ""
        assert p.stderr.startswith(f"qdrive: the benchmark failed on {image}: ")
        assert p.stderr.endswith("No space left on device\n") and p.stderr.count("\n") == 1
        assert image.stat().st_size == 64 << 20


def test_the_matrix_on_the_command_line(tmp_path: Path) -> None:
    target = tmp_path / "m.img"
    p = subprocess.run([sys.executable, "-m", "qdrive", "bench", f"file={target}",
                        "--matrix", "--size", "4M", "--runtime", "0.05", "--iodepth", "2",
                        "--out", str(tmp_path / "table")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    mine = [x for x in lines if "  qdrive  " in x]
    assert [x.split("  qdrive  ")[0].split() for x in mine] == [
        [*r.backend_label.split(), r.cache_label] if "(2008)" not in r.cache_label else
        [*r.backend_label.split(), *r.cache_label.split()] for r in ROWS]
    fio = shutil.which("fio") is not None
    ran = [r for r in ROWS if not r.skip and not r.no_fio]
    engines = r"  fio (psync|posixaio|libaio|io_uring) "  # a fio line that ran names its engine
    assert sum(bool(re.search(engines, x)) for x in lines) == (len(ran) if fio else 0)
    assert any(x.startswith("wrote ") for x in lines)
    assert lines[-1].startswith(f"wrote {tmp_path / 'table'}.csv, {tmp_path / 'table'}.json")
    rows = json.loads((tmp_path / "table.json").read_text())["rows"]
    assert len(rows) == len(ROWS)
    assert sum(r["fio"] is not None for r in rows) == (len(ran) if fio else 0)
    assert not target.exists()
