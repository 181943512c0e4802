"""What the command-line differential fuzzer found (fixtures/qemu72/fuzz-found-argv.jsonl,
recorded by QEMU 7.2) keeps agreeing with qdrive.check_argv, but for the cases listed
below, each with the reason qdrive does not match yet; the list is held honest too."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.compat import compare, corpus, oracle
from tests.fuzz import qemu_diff_argv

FOUND = qemu_diff_argv.FOUND

_NETWORK = ("QEMU connects to network storage and reports the failure; qdrive opens no "
            "connection (it only sees that a unix socket path does not exist)")
_NODE_FACTS = ("query-named-block-nodes facts of a -drive node graph with child options "
               "(backing.file.filename=...) beside -blockdev")
KNOWN = {
    "fuzz-argv-0032": _NETWORK, "fuzz-argv-0037": _NETWORK,
    "fuzz-argv-0017": _NODE_FACTS,
}


def test_the_found_cases_are_recorded() -> None:
    header, rows = corpus.read(FOUND)
    assert header is not None and header["version"] == "7.2"
    assert len(rows) >= 50
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(r["category"].startswith("fuzz:argv-") and "argv" in r for r in rows)


@pytest.fixture(scope="module")
def disagreeing(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    _, rows = corpus.read(FOUND)
    out = {}
    with oracle.image_dir("qdrive-argv-found-") as where, compare.in_dir(where):
        for row in rows:
            got = compare.ours_safely({"argv": row["argv"]})
            bad = compare.disagreements(compare.verdict(row), got)
            if bad:
                out[row["id"]] = bad
    return out


def test_every_found_case_agrees(disagreeing: dict[str, list[str]]) -> None:
    assert sorted(set(disagreeing) - set(KNOWN)) == []


def test_the_known_list_stays_honest(disagreeing: dict[str, list[str]]) -> None:
    assert sorted(set(KNOWN) - set(disagreeing)) == []


def test_candidates_are_new_and_reproducible() -> None:
    lines = [["-blockdev", "driver=raw,node-name=n0,file.driver=file,file.filename=d.img",
              "-device", "virtio-blk-pci,drive=n0"],
             ["-object", "iothread,id=io0", "-device",
              '{"driver":"virtio-blk-pci","drive":"n0","iothread":"io0"}']]
    first = qemu_diff_argv.candidates(30, 7, lines)
    assert first == qemu_diff_argv.candidates(30, 7, lines)
    assert len(first) == 30
    assert all(tuple(c["argv"]) not in {tuple(x) for x in lines} for c in first)
    assert {c["category"] for c in first} <= {f"fuzz:argv-{k}" for k in
                                             ("splice", "retarget", "json", "shuffle")}


def test_retarget_points_a_reference_elsewhere() -> None:
    argv = ["-blockdev", "driver=file,filename=d.img,node-name=a", "-blockdev",
            "driver=file,filename=e.img,node-name=b", "-device", "virtio-blk-pci,drive=a"]
    seen = {qemu_diff_argv.retarget(random.Random(n), argv)[-1] for n in range(40)}
    assert "virtio-blk-pci,drive=b" in seen
    assert any(s.endswith("drive=nosuch") for s in seen)


def test_keep_numbers_what_it_appends(tmp_path: Path) -> None:
    out = tmp_path / "found.jsonl"
    qemu_diff_argv.keep([{"category": "fuzz:argv-json", "argv": ["-m", "1"]}], out)
    qemu_diff_argv.keep([{"category": "fuzz:argv-json", "argv": ["-m", "2"]}], out)
    assert [r["id"] for r in corpus.read(out)[1]] == ["fuzz-argv-0001", "fuzz-argv-0002"]
