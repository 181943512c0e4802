"""`--compare-fio` and `--matrix` keep the workload: fio gets the drive's own cache mode.

For every cache mode the qdrive side's plan (open flags, write-through, no-flush) and the
fio command have the same O_DIRECT, O_SYNC and flush-per-write semantics. The table below
is written from QEMU's rules (block.c bdrv_parse_cache_mode(), block/io.c write-through as
a flush after each write, cache.no-flush making it a no-op; the seed's sync=on as O_SYNC),
not from the code under test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qdrive.bench.workload import CacheSemantics, Spec, bench_drive, fio_command
from qdrive.bench.matrix import ROWS, compare_fio, run_matrix
from qdrive.bench.target import TargetSession
from qdrive.block.plan import plan_open
from tests.bench.test_bench import BlockStat, loop_device  # noqa: F401 - a fixture
from tests.bench.test_bench_ui import _schema_check

needs_fio = pytest.mark.skipif(shutil.which("fio") is None, reason="fio not installed")

# (cache options, dialect) -> (O_DIRECT, O_SYNC, fdatasync after every write)
MAPPING = {
    ("cache=writeback", "qemu-7.2"): (False, False, False),
    ("cache=none", "qemu-7.2"): (True, False, False),
    ("cache=writethrough", "qemu-7.2"): (False, False, True),
    ("cache=directsync", "qemu-7.2"): (True, False, True),
    ("cache=unsafe", "qemu-7.2"): (False, False, False),
    ("cache.direct=on,cache.writeback=off", "qemu-7.2"): (True, False, True),
    ("cache=none,cache.no-flush=on", "qemu-7.2"): (True, False, False),
    ("cache.writeback=off,cache.no-flush=on", "qemu-7.2"): (False, False, False),
    ("cache=on", "qemu-0.9-sync"): (False, False, False),
    ("cache=off", "qemu-0.9-sync"): (True, False, False),
    ("cache=on,sync=on", "qemu-0.9-sync"): (False, True, False),
    ("cache=off,sync=on", "qemu-0.9-sync"): (True, True, False),
}
FIVE_MODES = [("cache=writeback", "qemu-7.2"), ("cache=none", "qemu-7.2"),
              ("cache=writethrough", "qemu-7.2"), ("cache=directsync", "qemu-7.2"),
              ("cache=unsafe", "qemu-7.2"), ("cache=on,sync=on", "qemu-0.9-sync"),
              ("cache=off,sync=on", "qemu-0.9-sync")]
IDS = {k: f"{k[0]}({k[1]})" for k in MAPPING}


def _fio_semantics(cmd: list[str]) -> tuple[bool, bool, bool]:
    """Read O_DIRECT, O_SYNC and flush-per-write back out of a fio command line."""
    opts: dict[str, list[str]] = {}
    for arg in cmd[1:]:
        key, _, value = arg.removeprefix("--").partition("=")
        opts.setdefault(key, []).append(value)
    for key in ("buffered", "o_direct", "fsync", "sync_file_range", "write_barrier",
                "end_fsync", "fsync_on_close"):
        assert key not in opts, (key, cmd)  # nothing else changes what reaches the disk
    assert len(opts["direct"]) == len(opts["sync"]) == len(opts["fdatasync"]) == 1, cmd
    assert opts["sync"][0] in ("none", "sync")
    return (opts["direct"][0] == "1", opts["sync"][0] == "sync", opts["fdatasync"][0] != "0")


@pytest.mark.parametrize("mode", MAPPING, ids=IDS.get)
def test_the_plan_has_the_mode_semantics(mode: tuple[str, str]) -> None:
    plan = plan_open(bench_drive("/x.img", *mode))
    direct, o_sync, flush = MAPPING[mode]
    assert bool(plan.open_flags & os.O_DIRECT) is direct
    assert (plan.open_flags & os.O_SYNC == os.O_SYNC) is o_sync
    assert (plan.writethrough and not plan.no_flush) is flush
    assert CacheSemantics.of(plan) == CacheSemantics(direct, o_sync, flush, plan.no_flush)


@pytest.mark.parametrize("backend", ["threads", "posix", "native", "io_uring"])
@pytest.mark.parametrize("mode", MAPPING, ids=IDS.get)
def test_fio_gets_the_same_semantics(mode: tuple[str, str], backend: str) -> None:
    cache = CacheSemantics.of(plan_open(bench_drive("/x.img", *mode)))
    cmd = fio_command(Spec("/x.img", size=1 << 20), cache, backend, 4)
    assert _fio_semantics(cmd) == MAPPING[mode]


@needs_fio
@pytest.mark.parametrize("mode", MAPPING, ids=IDS.get)
def test_fio_accepts_every_option(tmp_path: Path, mode: tuple[str, str]) -> None:
    """fio's own parser knows every option name and value (fio --parse-only)."""
    cache = CacheSemantics.of(plan_open(bench_drive("/x.img", *mode)))
    for backend, rw, readonly in (("threads", "randwrite", False), ("posix", "randrw", False),
                                  ("native", "randread", True), ("io_uring", "write", False)):
        spec = Spec(str(tmp_path / "f.img"), rw=rw)
        cmd = fio_command(spec, cache, backend, 8, readonly=readonly)
        p = subprocess.run([cmd[0], "--parse-only", *cmd[1:]], capture_output=True, text=True)
        assert p.returncode == 0, (cmd, p.stderr)
    assert os.listdir(tmp_path) == []


@needs_fio
def test_fio_readonly_refuses_a_write_workload(tmp_path: Path) -> None:
    """fio's own guard: --readonly with a write workload is refused at parse time."""
    cmd = fio_command(Spec(str(tmp_path / "f.img")), CacheSemantics(True, False, False, False),
                      "native", readonly=True)
    p = subprocess.run([cmd[0], "--parse-only", *cmd[1:]], capture_output=True, text=True)
    assert p.returncode != 0 and "rw=randwrite" in p.stderr


def test_fio_command_details() -> None:
    cache = CacheSemantics(True, False, False, False)
    cmd = fio_command(Spec("./a:b.img", runtime=0.3, size=8 << 20), cache, "native")
    assert "--runtime=300ms" in cmd  # fio reads a bare 0.3 as 26 ms
    assert "--filename=./a\\:b.img" in cmd  # ':' would split it into two files
    assert "--size=8388608" in cmd and "--allow_file_create=0" in cmd
    assert "--readonly" not in cmd
    assert fio_command(Spec("x", rw="randread"), cache, "native", readonly=True)[:2] == [
        "fio", "--readonly"]
    assert "--runtime=1ms" in fio_command(Spec("x", runtime=1e-6), cache, "native")


def _label(mode: tuple[str, str]) -> str:
    d, s, f = MAPPING[mode]
    return f"direct={int(d)},sync={int(s)},fdatasync={int(f)}"


@needs_fio
@pytest.mark.parametrize("mode", FIVE_MODES, ids=IDS.get)
def test_compare_fio_keeps_the_workload(tmp_path: Path, mode: tuple[str, str]) -> None:
    drive = bench_drive(str(tmp_path / "t.img"), *mode)
    backend = plan_open(drive).aio
    with TargetSession(drive, rw="randwrite", bs=16 << 10, size=4 << 20) as target:
        spec = Spec(target.path, size=target.length, runtime=0.1, iodepth=4)
        out = compare_fio(spec, target, drive, backend, pairs=1)
    mine, theirs = out["runs"][0]
    assert out["cache"] == mine["cache"] == theirs["cache"] == _label(mode)
    assert _fio_semantics(out["fio_command"]) == MAPPING[mode]
    assert mine["ios"] > 0 and theirs["ios"] > 0
    assert os.listdir(tmp_path) == []


@needs_fio
@pytest.mark.parametrize("mode", FIVE_MODES, ids=IDS.get)
def test_compare_fio_on_the_command_line(tmp_path: Path, mode: tuple[str, str]) -> None:
    import json

    p = subprocess.run([sys.executable, "-m", "qdrive", "bench",
                        f"file={tmp_path / 't.img'},{mode[0]}", "--size", "4M",
                        "--runtime", "0.1", "--iodepth", "4", "--compare-fio", "--pairs", "1",
                        "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["cache"] == _label(mode)
    assert _fio_semantics(out["fio_command"]) == MAPPING[mode]
    assert out["schema_version"] == 1 and out["pairs"] == 1 and out["spec"]["iodepth"] == 4
    assert out["target"]["created"] is True
    _schema_check(out)
    assert os.listdir(tmp_path) == []


@needs_fio
def test_compare_fio_with_a_colon_in_the_name(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "qdrive", "bench", "file=./a:b.img,cache=none",
                        "--size", "4M", "--runtime", "0.1", "--compare-fio", "--pairs", "1"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert os.listdir(tmp_path) == []  # fio wrote neither "./a" nor "b.img"


def test_matrix_rows_keep_their_modes(tmp_path: Path) -> None:
    drive = bench_drive(str(tmp_path / "t.img"))
    with TargetSession(drive, rw="randwrite", bs=16 << 10, size=1 << 20) as target:
        for row in ROWS:
            mode = (row.cache, row.dialect)
            plan = target.plan(row.drive(target.path))
            assert CacheSemantics.of(plan).label() == _label(mode), row
            assert row.label.endswith(row.cache) or "sync=on" in row.label
            assert plan.locking == "off" and plan.path == target.path


@needs_fio
def test_matrix_rows_run_with_their_modes(tmp_path: Path) -> None:
    rows = tuple(r for r in ROWS if r.label in (
        "threads (thread pool), cache=writethrough", "io_uring, cache=directsync",
        "native (Linux AIO), cache=none", "posix, no descriptor pool, cache=directsync"))
    assert len(rows) == 4
    drive = bench_drive(str(tmp_path / "t.img"))
    with TargetSession(drive, rw="randwrite", bs=16 << 10, size=4 << 20) as target:
        spec = Spec(target.path, size=target.length, runtime=0.1, iodepth=4)
        results = run_matrix(spec, target, rows)
    for result in results:
        row, (mine,), (theirs,) = result.row, result.mine, result.theirs
        assert mine.cache == theirs.cache == _label((row.cache, row.dialect)), row
        assert mine.label == row.label and theirs.label == f"fio {row.label}"
    assert os.listdir(tmp_path) == []


# -- what reaches the device -------------------------------------------------------------------

FLUSHING = {("cache=writethrough", "qemu-7.2"): True, ("cache=directsync", "qemu-7.2"): True,
            ("cache=on,sync=on", "qemu-0.9-sync"): True, ("cache=writeback", "qemu-7.2"): False,
            ("cache=none", "qemu-7.2"): False}


@needs_fio
@pytest.mark.parametrize("mode", FLUSHING, ids=IDS.get)
def test_both_sides_flush_as_the_mode_says(loop_device: Path,  # noqa: F811
                                          mode: tuple[str, str]) -> None:
    """Counted by the device: with one request in flight, qdrive and fio each cost a flush
    per write in the flushing modes (fio may skip the sync after its very last write) and
    none in the others (qdrive's close() may flush once)."""
    import json

    stat = BlockStat(loop_device)
    p = subprocess.run([sys.executable, "-m", "qdrive", "bench", f"file={loop_device},{mode[0]}",
                        "--yes-destroy-data", "--runtime", "0.3", "--iodepth", "1",
                        "--backend", "threads", "--compare-fio", "--pairs", "1", "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    mine, theirs = json.loads(p.stdout)["runs"][0]
    flushes = stat.delta()["flushes"]
    assert mine["ios"] > 0 and theirs["ios"] > 0
    if FLUSHING[mode]:
        assert flushes >= mine["ios"] + theirs["ios"] - 1, (flushes, mine["ios"], theirs["ios"])
    else:
        assert flushes <= 2, flushes
