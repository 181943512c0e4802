"""qdrive.check() against QEMU 7.2's recorded verdicts (fixtures/qemu72/verdicts.jsonl)."""

from __future__ import annotations

from pathlib import Path

from tests.compat import compare

# Block drivers whose open qdrive does not model: QEMU's message depends on a network peer
# (curl, iSCSI, gluster, NBD, ssh, rbd, nfs connect), a host device (nvme), or image
# contents qdrive does not read (dmg, cloop, vhdx logs, blklogwrites' log).
UNMODELLED_DRIVERS = ("cloop", "dmg", "vhdx", "compress", "blklogwrites",
                      "copy-before-write", "nfs", "nvme", "ssh", "http", "https", "ftp", "ftps",
                      "iscsi", "iser", "gluster", "rbd", "nbd")


def unmodelled(drives: tuple[str, ...]) -> bool:
    """A case that uses a network protocol or an unmodelled block driver."""
    from qdrive.frontend._syntax import tokenize

    for item in (i for d in drives for i in tokenize(d)):
        if item.key in ("format", "driver", "file.driver") and item.value in UNMODELLED_DRIVERS:
            return True
        if item.key == "file" and item.value.startswith("nbd:"):
            return True
    return False


# Cases qdrive deliberately does not match, each with QEMU's behaviour and the reason.
UNMATCHED = {
    ("file=nbd:localhost:1",):
        "QEMU connects to the NBD server and reports the connection error; qdrive never "
        "opens network connections",
}


def test_corpus_loads_and_is_large() -> None:
    meta, rows = compare.load()
    assert meta["cases"] == len(rows)
    assert sum(1 for r in rows if len(r.get("drives", ())) == 1) >= 2000
    assert "7.2" in str(meta["qemu"])
    assert sum(1 for r in rows if r["accepted"]) > 100
    assert sum(1 for r in rows if not r["accepted"]) > 300
    assert sum(1 for r in rows if len(r.get("drives", ())) > 1) >= 150
    assert sum(1 for r in rows if "argv" in r) >= 20


def test_every_recorded_case_agrees(in_images: Path) -> None:
    _, rows = compare.load()
    rows += compare.load_found()
    diffs = compare.differences(rows)
    unexpected = [(w, g) for w, g, _ in diffs
                  if compare.key(w) not in UNMATCHED and not unmodelled(compare.key(w))]
    assert unexpected == []
    # The unmatched list must stay honest: each entry still disagrees.
    assert set(UNMATCHED) <= {compare.key(w) for w, _, _ in diffs}


def test_facts_are_recorded() -> None:
    _, rows = compare.load()
    accepted = [r for r in rows if r["accepted"]]
    assert accepted and all("devices" in r for r in accepted)
    assert sum(len(r["devices"]) for r in accepted) >= len(accepted)


def test_translation_gives_qemu_the_same_drives(in_images: Path) -> None:
    """For every recorded case that translates, QEMU started with the -blockdev/-device
    translation reported the same query-block facts as with the original -drive, and
    today's translation is the one that was recorded."""
    _, rows = compare.load()
    translated = [r for r in rows if "blockdev" in r]
    assert len(translated) >= 300
    for row in translated:
        bd = row["blockdev"]
        assert bd["accepted"], (row["drives"], bd["stderr"])
        assert compare.same_facts(row["devices"], bd["devices"]), row["drives"]
        assert compare.translate(row["drives"]) == bd["args"], "run `make oracle`"
