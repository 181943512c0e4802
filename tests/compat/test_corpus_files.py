"""The corpus files can't silently rot: they load, they are large, every case is recorded
by every QEMU version, and the generated batches are what their seed gives."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.compat import corpus, generate, oracle, schema

WITH_CASES = [c for c in corpus.CORPORA if c.cases is not None]
KNOWN_CATEGORY = ("driver:", "node:", "snapshot:", "raw:", "pflash:", "host:", "argv:",
                  "drive:", "multi:")
MINIMUM = {"generated-singles": 3000, "generated-cmdlines": 1000, "harvest-drives": 600,
           "harvest-cmdlines": 900, "hoststate": 80, "cmdline-rules": 90,
           "opentime-formats": 90, "opentime-protocols": 30,
           "opentime-nodes": 10, "opentime-children": 60,
           "generated-hb4-singles": 600, "generated-hb4-cmdlines": 200,
           "harvest-hv4-drives": 150, "harvest-hv4-cmdlines": 110,
           "generated-hb5-singles": 600, "generated-hb5-cmdlines": 200,
           "harvest-hv5-drives": 160, "harvest-hv5-cmdlines": 150,
           "generated-hb7-singles": 600, "generated-hb7-cmdlines": 200,
           "harvest-hv7-drives": 160, "harvest-hv7-cmdlines": 200,
           "generated-hb10-singles": 1500, "generated-hb10-cmdlines": 600,
           "harvest-hv10-drives": 170, "harvest-hv10-cmdlines": 250,
           "generated-hb11-singles": 1500, "generated-hb11-cmdlines": 600,
           "harvest-hv11-drives": 170, "harvest-hv11-cmdlines": 230}


def _well_formed(row: Mapping[str, Any]) -> None:
    shapes = [k for k in ("drives", "argv", "drive") if k in row]
    assert len(shapes) == 1, row
    value = row[shapes[0]]
    if shapes[0] == "drive":
        assert isinstance(value, str)
    else:
        assert isinstance(value, list) and value and all(isinstance(x, str) for x in value)
    files = row.get("files", {})
    assert isinstance(files, dict) and all(
        isinstance(k, str) and "/" not in k and isinstance(v, str) for k, v in files.items())


@pytest.mark.parametrize("c", WITH_CASES, ids=lambda c: c.name)
def test_case_files_load_and_are_large(c: corpus.Corpus) -> None:
    assert c.cases is not None
    _, rows = corpus.read(c.cases)
    assert len(rows) >= MINIMUM[c.name]
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "case ids are unique"
    for row in rows:
        _well_formed(row)
        assert corpus.category(row).startswith(KNOWN_CATEGORY), row
    # a host-state case is its text in its state (held-rw and held-ro share texts)
    assert len({(r.get("state"), *corpus.key(r)) for r in rows}) == len(rows), "no case twice"


@pytest.mark.parametrize("version", list(oracle.QEMUS))
@pytest.mark.parametrize("c", WITH_CASES, ids=lambda c: c.name)
def test_every_case_is_recorded_by_every_version(c: corpus.Corpus, version: str) -> None:
    assert c.cases is not None
    if version not in c.versions:
        pytest.skip(f"{c.name} is recorded by QEMU {', '.join(c.versions)} only")
    _, cases = corpus.read(c.cases)
    header, recorded = corpus.read(c.recording(version))
    assert header is not None and header["version"] == version
    assert header["qemu"].startswith(f"QEMU emulator version {version}.")
    skipped = {i for i, _ in header.get("skipped", [])}  # host states not buildable there
    runnable = {r["id"]: corpus.as_case(r) for r in cases if corpus.as_case(r) is not None}
    by_id = {r["id"]: r for r in recorded}
    assert len(by_id) == len(recorded), "a case recorded twice"
    assert set(by_id) | skipped == set(runnable), "recordings and cases differ"
    assert header["cases"] == len(recorded)
    for ident, row in by_id.items():
        assert corpus.as_case(row) == runnable[ident], ident
        _verdict_well_formed(row)


def _verdict_well_formed(row: Mapping[str, Any]) -> None:
    assert isinstance(row["accepted"], bool) and isinstance(row["stderr"], str)
    if row["accepted"]:
        assert isinstance(row["devices"], list)
        for d in row["devices"]:
            assert {"device", "removable"} <= d.keys()
        argv = row.get("argv", ())
        assert ("nodes" in row) == ("-blockdev" in argv), row.get("id")
    else:
        assert "devices" not in row
    assert "qdrive-" not in json.dumps(row), "fixtures hold no image folder paths"


@pytest.mark.parametrize("version", ["10.0", "11.1"])
def test_the_original_corpus_is_recorded_by_the_newer_versions(version: str) -> None:
    _, ours = corpus.read(corpus.corpus("verdicts").recording("7.2"))
    header, theirs = corpus.read(corpus.corpus("verdicts").recording(version))
    assert header is not None and header["version"] == version
    assert [corpus.key(r) for r in theirs] == [corpus.key(r) for r in ours]
    for row in theirs:
        _verdict_well_formed(row)


def test_recordings_hold_both_verdicts() -> None:
    """A corpus QEMU always accepted (or always refused) would measure little. What
    projects write is mostly accepted, so a harvest may lean further that way."""
    for c in WITH_CASES:
        _, rows = corpus.read(c.recording("7.2"))
        accepted = sum(r["accepted"] for r in rows)
        most = 0.97 if c.source == "harvest" else 0.9
        assert 0.1 * len(rows) < accepted < most * len(rows), c.name


def test_the_harvest_keeps_its_provenance() -> None:
    for name in ("drives.jsonl", "cmdlines.jsonl"):
        _, rows = corpus.read(corpus.FIXTURES / "harvest" / name)
        for row in rows:
            assert {"repo", "path", "commit"} <= row["source"].keys(), row["id"]
            assert row["original"], row["id"]
    _, cmdlines = corpus.read(corpus.FIXTURES / "harvest" / "cmdlines.jsonl")
    arches = Counter(r["arch"] for r in cmdlines)
    assert arches["x86_64"] > 700 and len(arches) > 5  # the others stay for parser tests
    assert (corpus.FIXTURES / "harvest" / "SOURCES.md").stat().st_size > 1000


def test_every_driver_of_format_help_is_generated() -> None:
    _, rows = corpus.read(corpus.corpus("generated-singles").cases)
    drivers = {r["category"].removeprefix("driver:") for r in rows}
    for version in schema.VERSIONS:
        assert set(schema.format_help(version)) <= drivers, version


def test_generated_command_lines_cover_issue_15s_classes() -> None:
    _, rows = corpus.read(corpus.corpus("generated-cmdlines").cases)
    got = Counter(r["category"] for r in rows)
    for name in ("blockdev", "blockdev-json", "device", "object", "pflash", "snapshot",
                 "readconfig", "shorthand", "lock"):
        assert got[f"argv:{name}"] >= 40, name


@pytest.mark.parametrize("kind", ["singles", "cmdlines"])
def test_the_generated_batch_is_what_its_seed_gives(kind: str, tmp_path: Path) -> None:
    path = corpus.corpus(f"generated-{kind}").cases
    assert path is not None
    header, rows = corpus.read(path)
    assert header is not None
    keys = generate.load_keys(oracle.REPO / p for p in header["excluded"])
    assert len(keys) == header["excluded_cases"]
    singles, cmdlines = generate.generate(header["seed"], 3000, 1000, header["prefix"], keys)
    assert (singles if kind == "singles" else cmdlines) == rows
