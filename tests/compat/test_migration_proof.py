"""The recorded proof of `--argv --to-blockdev` (fixtures/qemu72/migration-proof.jsonl).

Recorded by `python -m tests.compat.migration_proof --record` (QEMU 7.2 started with
every translation). Checked here without QEMU: every translated command line gave
QEMU's facts of the original, every other one says why it was not translated, and
today's translations are still the recorded ones (a change needs a new proof).
"""

from __future__ import annotations

from pathlib import Path


from tests.compat import migration_proof, oracle


def test_the_proof_covers_the_corpus_and_every_translation_holds() -> None:
    header, rows = migration_proof.load()
    assert header["version"] == "7.2" and "7.2" in header["qemu"]
    assert header == {**header, **migration_proof.counts(rows)}
    assert header["translated"] >= 250
    failed = [r["id"] for r in rows if "translated" in r and not (
        r.get("same_devices") and r.get("same_nodes", True))]
    assert failed == []
    assert all(r["why"] for r in rows if "translated" not in r)


def test_every_candidate_is_in_the_proof() -> None:
    _, rows = migration_proof.load()
    recorded = {r["id"] for r in rows}
    assert {r["id"] for r in migration_proof.candidates()} == recorded


def test_todays_translations_are_the_recorded_ones(in_images: Path) -> None:
    # Every row, not a sample (a sample let a stale recording pass for a session); the
    # translation reads the images, as recorded.
    _, rows = migration_proof.load()
    by_id = {r["id"]: r for r in migration_proof.candidates()}
    for row in rows:
        if oracle.DEV in " ".join(row["argv"]) and not (in_images / oracle.DEV).exists():
            continue  # the loop device is made by the recorder's image folder only
        again = migration_proof.translate(by_id[row["id"]])
        assert again.get("translated") == row.get("translated"), row["id"]
        assert again.get("why") == row.get("why"), row["id"]
