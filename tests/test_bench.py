"""The benchmark's accounting on tiny runs (never its speed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qdrive.bench import Spec, TargetError, fio_command, prepare_target, run_fio, run_qdrive
from qdrive.bench_matrix import ROWS, format_table, write_outputs


@pytest.fixture
def spec(tmp_path: Path) -> Spec:
    s = Spec.parse(str(tmp_path / "b.img"), size="16M", runtime=0.3, iodepth=8)
    prepare_target(s)
    return s


@pytest.mark.parametrize("backend", ["threads", "posix", "native", "io_uring"])
def test_accounting(spec: Spec, backend: str) -> None:
    r = run_qdrive(spec, backend)
    assert r.ios > 0 and r.bytes == r.ios * spec.bs
    assert r.iops == pytest.approx(r.ios / r.seconds)
    assert r.mb_per_s == pytest.approx(r.bytes / r.seconds / 1e6)
    assert 0 < r.p50_ms <= r.p99_ms <= r.p999_ms
    assert r.complete_ms > 0 and r.submit_us > 0 and r.cpu_seconds > 0
    assert spec.runtime * 0.9 < r.seconds < spec.runtime + 5  # the run lasted its runtime
    j = r.to_json()
    assert set(j) >= {"tool", "label", "ios", "bytes", "seconds", "submit_us", "complete_ms",
                      "p50_ms", "p99_ms", "p999_ms", "cpu_seconds", "iops", "mb_per_s"}


@pytest.mark.skipif(shutil.which("fio") is None, reason="fio not installed")
def test_fio_side_reads_fio_json(spec: Spec) -> None:
    r = run_fio(spec, "native")
    assert r.tool == "fio" and r.ios > 0 and r.bytes == r.ios * spec.bs
    assert "--ioengine=libaio" in fio_command(spec, "native")
    assert "--numjobs=64" in fio_command(spec, "threads", 64)


def test_table_and_outputs(spec: Spec, tmp_path: Path) -> None:
    mine = run_qdrive(spec, "threads")
    results = [(ROWS[0], mine, None)]
    table = format_table(results, spec)
    assert "MB/s" in table and "qdrive threads cache=none" in table
    written = write_outputs(results, str(tmp_path / "out"))
    assert json.loads((tmp_path / "out.json").read_text())[0]["ios"] == mine.ios
    assert (tmp_path / "out.csv").read_text().startswith("tool,label,ios")
    assert written[:2] == [str(tmp_path / "out.csv"), str(tmp_path / "out.json")]


def test_matrix_rows_follow_the_seed() -> None:
    labels = [r.label for r in ROWS]
    assert "posix w/o fd pool cache=none" in labels and "posix w/ fd pool cache=none" in labels
    assert not any(r.backend == "native" and r.cache == "cache=writeback" for r in ROWS)
    assert ROWS[-1].dialect == "qemu-0.9-sync" and "sync=on" in ROWS[-1].cache


def test_block_device_needs_consent(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("losetup") is None:
        pytest.skip("needs root and losetup for a loop device")
    img = tmp_path / "d.img"
    img.write_bytes(bytes(1 << 20))
    dev = subprocess.run(["losetup", "--find", "--show", str(img)], capture_output=True,
                         text=True, check=True).stdout.strip()
    try:
        with pytest.raises(TargetError, match="--yes-destroy-data"):
            prepare_target(Spec(dev, size=1 << 20))
        assert prepare_target(Spec(dev, size=1 << 30), destroy_ok=True) is False  # untouched
        assert prepare_target(Spec(dev, rw="randread", size=1 << 20)) is False
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


def test_cli_creates_and_removes_its_file(tmp_path: Path) -> None:
    target = tmp_path / "new.img"
    p = subprocess.run([sys.executable, "-m", "qdrive", "bench", f"file={target},cache=none",
                        "--size", "8M", "--runtime", "0.2", "--iodepth", "4", "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["spec"]["size"] == 8 << 20 and out["result"]["ios"] > 0
    assert not target.exists()


@pytest.mark.parametrize("backend", ["threads", "posix", "io_uring"])
def test_writethrough_flushes_in_every_loop(spec: Spec, backend: str) -> None:
    """Write-through costs a flush per write in every backend's loop (a C loop that forgot
    it would report page-cache speed): fewer I/Os than writeback in the same time."""
    fast = run_qdrive(spec, backend, cache="cache=writeback")
    slow = run_qdrive(spec, backend, cache="cache=writethrough")
    assert slow.ios < fast.ios
