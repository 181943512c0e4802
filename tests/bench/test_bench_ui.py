"""What a person reads from `qdrive bench` (issue 18 item 5): spelt-out labels, the
row k/N progress line that never garbles the table, repeats with their spread, the
--backends/--caches filters, "—" (null in JSON) where a figure does not apply, the plot.

Most tests build results by hand (no run, no timing); the command-line ones run tiny
workloads and look at the shape of what is printed, never at a figure's size.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qdrive.bench.matrix import (NA, ROWS, Row, RowResult, format_head, format_row,
                                 format_table, plot, select_rows, summarize, to_json,
                                 write_outputs)
from qdrive.bench.workload import Result, Spec

SPEC = Spec("/var/tmp/t.img", size=4 << 20, runtime=0.1, iodepth=4)


def _result(tool: str, ios: int, submit_us: float | None = 2.0) -> Result:
    """A run's figures, made up: ``ios`` 16 KiB requests in 0.1 s."""
    return Result(tool, "made up", ios, ios * (16 << 10), 0.1, submit_us, 0.5, 0.4, 0.9, 1.2,
                  0.01)


def _row(label: str) -> Row:
    return next(r for r in ROWS if r.label == label)


THREADS = _row("threads (thread pool), cache=none")
POOL = _row("posix, 4 pooled descriptors, cache=none")
NATIVE_WB = _row("native (Linux AIO), cache=writeback")


def _schema_check(data: dict[str, Any]) -> None:
    """``data`` is valid under the shipped qdrive/schema/bench.schema.json."""
    import jsonschema
    from importlib import resources

    text = resources.files("qdrive.schema").joinpath("bench.schema.json").read_text("utf-8")
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(data)


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qdrive", "bench", *args],
                          capture_output=True, text=True)


# -- labels -----------------------------------------------------------------------------------
def test_labels_are_spelt_out() -> None:
    head = format_head(SPEC, 3)
    for words in ("throughput (MB/s)", "I/O operations", "submission", "latency (µs)",
                  "completion", "99th percentile", "CPU seconds", "per GB", "backend",
                  "cache mode", "median (min-max)", "16 KiB random writes", "queue depth 4",
                  "3 runs of each tool per row"):
        assert words in head, words
    for cryptic in ("sub (us)", "comp (ms)", "p99 ", "s/GB", "w/o", "w/ "):
        assert cryptic not in head, cryptic
        assert not any(cryptic in r.label for r in ROWS), cryptic
    assert {r.backend_label for r in ROWS} == {
        "threads (thread pool)", "posix, no descriptor pool", "posix, 4 pooled descriptors",
        "native (Linux AIO)", "io_uring"}


# -- filters -----------------------------------------------------------------------------------
def test_filters_choose_rows() -> None:
    rows = select_rows("threads,io_uring", "none,directsync")
    assert [(r.backend, r.mode) for r in rows] == [
        ("threads", "none"), ("threads", "directsync"),
        ("io_uring", "none"), ("io_uring", "directsync")]
    assert select_rows(None, "sync=on") == (ROWS[-1],)
    assert {r.backend for r in select_rows("posix", None)} == {"posix"}
    assert len(select_rows("posix", None)) == 9  # two variants x 4 modes, and sync=on
    assert select_rows() == ROWS


@pytest.mark.parametrize(("backends", "caches", "message"), [
    ("iouring", None, "--backends: unknown name 'iouring' (did you mean io_uring?)"),
    (None, "writebak", "--caches: unknown name 'writebak' (did you mean writeback?)"),
    ("zzz", None, "--backends: unknown name 'zzz'; give one or more of threads, posix"),
    (" , ", None, "--backends needs one or more of"),
    ("threads", "sync=on", "leave no row"),
    ("native", "writeback", "no selected row can run: QEMU refuses aio=native without O_DIRECT"),
])
def test_filters_are_validated(backends: str | None, caches: str | None, message: str) -> None:
    with pytest.raises(ValueError) as info:
        select_rows(backends, caches)
    assert message in str(info.value)


@pytest.mark.parametrize(("args", "message"), [
    (["--matrix", "--backends", "thread"], "--backends: unknown name 'thread' (did you mean "
     "threads?)"),
    (["--caches", "none"], "--caches choose rows of --matrix: add --matrix"),
    (["--repeat", "0"], "--repeat must be at least 1"),
    (["--compare-fio", "--repeat", "2"], "--compare-fio repeats with --pairs"),
])
def test_bench_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    p = _bench(f"file={tmp_path / 'x.img'}", *args)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith("qdrive: ") and message in p.stderr, p.stderr
    assert p.stderr.count("\n") == 1 and not (tmp_path / "x.img").exists()


# -- "—" and null -------------------------------------------------------------------------------
def _made_up() -> list[RowResult]:
    return [RowResult(THREADS, (_result("qdrive", 100), _result("qdrive", 300),
                                _result("qdrive", 200)),
                      (_result("fio", 100, None), _result("fio", 100, None),
                       _result("fio", 400, None))),
            RowResult(POOL, (_result("qdrive", 50),), (), POOL.no_fio),
            RowResult(NATIVE_WB, (), (), NATIVE_WB.skip)]


def test_the_table_shows_spread_and_dashes() -> None:
    threads, pool, native = (format_row(r).splitlines() for r in _made_up())
    # qdrive: 100, 300, 200 requests of 16 KiB in 0.1 s -> 16.4, 49.2, 32.8 MB/s
    assert re.search(r"threads \(thread pool\)\s+cache=none\s+qdrive\s+32\.8 \(16\.4-49\.2\)"
                     r"\s+2,000\s", threads[0]), threads[0]
    # fio psync has no submission latency; the ratios per pair are 1, 3 and 0.5
    assert re.search(r"^\s+fio psync\s+16\.4 \(16\.4-65\.5\)\s+1,000\s+—\s+0\.500", threads[1])
    assert threads[1].endswith("1.00 (0.50-3.00)")
    assert "qdrive" in pool[0] and pool[0].split().count(NA) == 0
    assert pool[1].split()[1:] == [NA] * 7  # fio, then every figure and the ratio
    assert native[0].split()[-6:] == [NA] * 6 and native[1].split()[1:] == [NA] * 7
    table = format_table(_made_up(), SPEC)
    assert table.endswith(f"{NA} {POOL.no_fio}\n{NA} {NATIVE_WB.skip}\n"
                          f"{NA} fio measures no submission latency for psync, a synchronous "
                          "engine (the submission is the whole I/O)")


def test_json_and_csv_carry_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # no plot: not what is tested here
    written, note = write_outputs(_made_up(), str(tmp_path / "m"), SPEC)
    data = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(to_json(_made_up(), SPEC)))
    threads, pool, native = data["rows"]
    assert threads["qdrive"]["repeats"] == 3 and len(threads["runs"]["qdrive"]) == 3
    assert threads["qdrive"]["iops"] == {"median": 2000.0, "min": 1000.0, "max": 3000.0}
    assert threads["fio"]["submit_us"] is None and threads["fio_engine"] == "psync"
    assert threads["ratio_qdrive_fio"] == {"median": 1.0, "min": 0.5, "max": 3.0}
    assert pool["fio"] is None and pool["ratio_qdrive_fio"] is None
    assert pool["no_fio"] == POOL.no_fio and pool["applies"] is True
    assert native["applies"] is False and native["qdrive"] is None and native["fio"] is None
    assert native["reason"] == NATIVE_WB.skip
    _schema_check(data)
    with open(tmp_path / "m.csv", encoding="utf-8", newline="") as f:
        lines = list(csv.DictReader(f))
    assert [(x["backend"], x["tool"]) for x in lines] == [
        ("threads (thread pool)", "qdrive"), ("threads (thread pool)", "fio psync"),
        ("posix, 4 pooled descriptors", "qdrive"), ("posix, 4 pooled descriptors", "fio"),
        ("native (Linux AIO)", "qdrive"), ("native (Linux AIO)", "fio")]
    assert lines[0]["iops_median"] == "2000.0" and lines[0]["ratio_qdrive_fio_median"] == NA
    assert lines[1]["submit_us_median"] == NA and lines[1]["ratio_qdrive_fio_max"] == "3.0"
    assert lines[3]["mb_per_s_median"] == NA and lines[3]["note"] == POOL.no_fio
    assert all(v == NA for k, v in lines[4].items() if k.endswith(("_median", "_min", "_max")))
    assert lines[4]["note"] == NATIVE_WB.skip
    assert written == [str(tmp_path / "m.csv"), str(tmp_path / "m.json")]
    assert note.startswith("no plot: matplotlib is not installed (pip install 'qdrive[plot]'")


def test_summarize() -> None:
    s = summarize([_result("qdrive", 1), _result("qdrive", 5), _result("qdrive", 4),
                   _result("qdrive", 2)])
    assert s is not None and s["repeats"] == 4
    assert s["iops"] == {"median": 30.0, "min": 10.0, "max": 50.0}
    assert summarize([]) is None
    assert summarize([_result("fio", 1, None)])["submit_us"] is None  # type: ignore[index]


# -- the plot ------------------------------------------------------------------------------------
def test_the_plot_has_title_legend_log_axis_and_groups(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the optional plot extra is not installed")
    results = _made_up() + [RowResult(_row("threads (thread pool), cache=writeback"),
                                      (_result("qdrive", 900),))]
    fig = plot(results, SPEC)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert ax.get_title().startswith("qdrive bench: 16 KiB random writes")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cache=none", "cache=writeback"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["fio, same engine and cache semantics", "threads (thread pool)",
                      "posix, 4 pooled descriptors", "native (Linux AIO)"]
    bars = {c.get_label(): len(c.patches) for c in ax.containers if hasattr(c, "patches")}
    # threads in both groups; the pool in cache=none; native's writeback does not apply
    assert bars == {"threads (thread pool)": 2, "posix, 4 pooled descriptors": 1,
                    "native (Linux AIO)": 0}
    assert NA in [t.get_text() for t in ax.texts]
    written, note = write_outputs(results, str(tmp_path / "p"), SPEC)
    assert note == "" and written[-1] == str(tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- the command line ----------------------------------------------------------------------------
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_matrix_progress_never_garbles_the_table(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """stdout and stderr on one terminal: the progress line says row k/N with elapsed and
    remaining time, and is erased before each table line and drawn again after."""
    from qdrive import cli

    screen = _Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code = cli.main(["bench", f"file={tmp_path / 'g.img'}", "--matrix", "--size", "1M",
                     "--runtime", "0.02", "--iodepth", "2", "--repeat", "2",
                     "--backends", "threads,native", "--caches", "none,writeback",
                     "--out", str(tmp_path / "g")])
    out = screen.getvalue()
    assert code == 0, out
    steps = re.findall(r"\] row (\d)/4  (.+?): (qdrive|fio)  (\d+:\d\d) elapsed, about "
                       r"(\d+:\d\d) left\x1b\[K", out)
    assert [s[0] for s in steps][0] == "1" and {s[0] for s in steps} == {"1", "2", "3"}
    # the line is redrawn every second while a run measures (how often depends on the
    # machine's speed): a run's start is where the (row, label, side) drawn changes
    starts = [s[:3] for n, s in enumerate(steps) if n == 0 or s[:3] != steps[n - 1][:3]]
    assert sum(s[2] == "qdrive" for s in starts) == 6  # 3 rows run, twice each; one is "—"
    for n, line in enumerate(out.split("\n")):
        clean = line[line.rfind("\r\x1b[K") + 4:] if "\r\x1b[K" in line else line
        assert "] row " not in clean or not clean.startswith(("threads", "native")), (n, line)
    table = [x[x.rfind("\x1b[K") + 3:] for x in out.split("\n") if "  qdrive  " in x]
    assert [x.split("  ")[0] for x in table] == ["threads (thread pool)"] * 2 + [
        "native (Linux AIO)"] * 2
    assert out.count("\r\x1b[Kthreads (thread pool)") == 2  # erased before each report
    assert out.count("\r\x1b[Knative (Linux AIO)") == 2
    assert "\nwrote " in out and "no plot: matplotlib is not installed" in out
    assert not (tmp_path / "g.img").exists()


def test_matrix_json_has_nulls(tmp_path: Path) -> None:
    p = _bench(f"file={tmp_path / 'j.img'}", "--matrix", "--size", "1M", "--runtime", "0.02",
               "--iodepth", "2", "--backends", "native", "--caches", "none,writethrough",
               "--repeat", "2", "--json", "--out", str(tmp_path / "j"))
    assert p.returncode == 0, p.stderr
    data: dict[str, Any] = json.loads(p.stdout)
    assert data["spec"]["iodepth"] == 2
    ran, refused = data["rows"]
    assert ran["cache"] == "cache=none" and ran["qdrive"]["repeats"] == 2
    assert set(ran["qdrive"]) >= {"mb_per_s", "iops", "submit_us", "complete_ms", "p99_ms",
                                  "cpu_per_gb"}
    assert refused["applies"] is False and refused["qdrive"] is None
    assert refused["fio"] is None and refused["ratio_qdrive_fio"] is None
    assert p.stderr.startswith(f"wrote {tmp_path / 'j'}.csv")
    assert json.loads((tmp_path / "j.json").read_text(encoding="utf-8"))["rows"][1] == refused
    _schema_check(data)


def test_a_single_drive_repeated(tmp_path: Path) -> None:
    p = _bench(f"file={tmp_path / 'r.img'},cache=none", "--size", "1M", "--runtime", "0.02",
               "--iodepth", "2", "--repeat", "3")
    assert p.returncode == 0, p.stderr
    assert re.fullmatch(r"threads cache=none: [\d.]+ MB/s \(min [\d.]+, max [\d.]+, medians of "
                        r"3 runs\), .*s per GB\)\n", p.stdout), p.stdout
    j = _bench(f"file={tmp_path / 'r.img'},cache=none", "--size", "1M", "--runtime", "0.02",
               "--iodepth", "2", "--repeat", "3", "--json")
    data = json.loads(j.stdout)
    assert len(data["runs"]) == 3 and data["summary"]["repeats"] == 3
    assert data["result"] in data["runs"]
    mb = sorted(r["mb_per_s"] for r in data["runs"])
    assert data["result"]["mb_per_s"] == mb[1]  # the run with the median throughput
    _schema_check(data)


def test_the_schema_is_not_empty() -> None:
    """The schema refuses what the bench never writes (a figure as text, a missing null)."""
    import jsonschema

    good = to_json(_made_up(), SPEC)
    _schema_check(good)
    bad_figure = json.loads(json.dumps(good))
    bad_figure["rows"][0]["qdrive"]["iops"] = {"median": "fast", "min": 1, "max": 2}
    missing = json.loads(json.dumps(good))
    del missing["rows"][2]["fio"]
    for bad in (bad_figure, missing, {"spec": good["spec"]}):
        with pytest.raises(jsonschema.ValidationError):
            _schema_check(bad)


def _compare_doc() -> dict[str, Any]:
    """What `bench --compare-fio --json` prints, built by hand from made-up runs."""
    mine, theirs = _result("qdrive", 200).to_json(), _result("fio", 100, None).to_json()
    return {"schema_version": 1, "spec": json.loads(json.dumps(to_json([], SPEC)["spec"])),
            "target": {"path": SPEC.path, "length": SPEC.size, "created": True,
                       "block_device": False, "read_only": False},
            "pairs": 1, "backend": "threads", "cache": "direct=1,sync=0,fdatasync=0",
            "fio_command": ["fio", "--name=qdrive"], "ratios": [2.0], "min": 2.0,
            "median": 2.0, "max": 2.0, "runs": [[mine, theirs]]}


def test_the_compare_schema_is_not_empty() -> None:
    """--compare-fio --json has its own branch of bench.schema.json: versioned, each pair
    qdrive first and fio second."""
    import jsonschema

    _schema_check(_compare_doc())
    swapped = _compare_doc()
    swapped["runs"][0].reverse()
    unversioned = _compare_doc()
    del unversioned["schema_version"]
    no_pairs = _compare_doc()
    no_pairs["runs"] = []
    for bad in (swapped, unversioned, no_pairs):
        with pytest.raises(jsonschema.ValidationError):
            _schema_check(bad)
