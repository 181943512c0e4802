"""The scoring instruments count what they say they count, and the held-back scorer
prints tables only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.compat import compare, corpus, score_heldback, scoring
from tests.compat.test_recorded import UNMATCHED


def _agreeing_rows(n: int) -> list[dict]:
    _, rows = compare.load()
    return [r for r in rows if compare.key(r) not in UNMATCHED][:n]


def test_a_changed_message_is_one_message_disagreement(images: Path) -> None:
    rows = [{**r, "category": corpus.category(r), "source": "corpus"}
            for r in _agreeing_rows(20)]
    rows[3] = {**rows[3], "stderr": rows[3]["stderr"] + " (changed)"}
    rows.append({**rows[0], "timeout": True})  # not scored, counted apart
    results = list(zip(scoring.score(rows, images, None, has_dev=False), rows, strict=True))
    t = scoring.tally(results, lambda r: r["source"])["all"]
    assert (t.cases, t.timeouts) == (20, 1)
    assert (t.agree["accept/reject"], t.total["accept/reject"]) == (20, 20)
    assert (t.agree["message"], t.total["message"]) == (19, 20)
    accepted = sum(1 for r in rows[:20] if r["accepted"])
    assert (t.agree["facts"], t.total["facts"]) == (accepted, accepted)
    lines = scoring.render("source", {"corpus": t, "all": t})
    assert lines[-1].startswith("all") and "19/20  95.0%" in lines[-1]


def test_recorded_nodes_count_as_node_facts(images: Path) -> None:
    node = {"node-name": "f0", "drv": "file", "ro": False,
            "cache": {"no-flush": False, "direct": False, "writeback": True},
            "detect_zeroes": "off", "file": "disk.img", "backing_file_depth": 0,
            "encrypted": False}
    row = {"argv": ["-blockdev", "driver=file,filename=disk.img,node-name=f0"],
           "accepted": True, "stderr": "", "devices": [], "nodes": [node],
           "category": "argv:blockdev"}
    wrong = {**row, "nodes": [{**node, "ro": True}]}
    scored = list(scoring.score([row, wrong], images, None, has_dev=False))
    assert all(isinstance(s, scoring.Scored) for s in scored)
    t = scoring.tally(list(zip(scored, [row, wrong], strict=True)), lambda r: "x")["all"]
    assert t.total["node facts"] == 2 and t.agree["node facts"] == 1  # check_argv predicts
    good, bad = scored
    assert isinstance(good, scoring.Scored) and isinstance(bad, scoring.Scored)
    assert good.bad == [] and bad.bad == ["node facts"]


def _fake_heldback(root: Path) -> list[str]:
    """A held-back tree made of dev recordings; the case texts it holds."""
    texts = []
    for src, dst in (("generated-singles", "generated/qemu72/cases-singles.jsonl"),
                     ("harvest-cmdlines", "harvest-recorded/qemu72/cmdlines.jsonl")):
        header, rows = corpus.read(corpus.corpus(src).recording("7.2"))
        rows = [r for r in rows if "DEV" not in json.dumps(r)][:15]
        corpus.write(root / dst, header, rows)
        texts += [t for r in rows for t in r.get("drives") or r.get("argv") if len(t) > 12]
    return texts


def test_score_heldback_prints_tables_and_no_case(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    texts = _fake_heldback(tmp_path)
    assert score_heldback.main(["--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "batch file" in out and "category" in out and "harvest:" in out
    assert out.count("\nall ") == 3  # one total line per table
    leaked = [t for t in texts if t in out]
    assert leaked == []


def test_score_heldback_refuses_an_unknown_dialect(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    _fake_heldback(tmp_path)
    assert score_heldback.main(["--root", str(tmp_path), "--dialect", "qemu-9.9"]) == 2
    assert "9.9" in capsys.readouterr().err
