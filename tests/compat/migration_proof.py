"""The proof of `--argv --to-blockdev`: QEMU 7.2 started with both command lines.

    python -m tests.compat.migration_proof --record   start QEMU on every translation
    python -m tests.compat.migration_proof            print the counts of the recording

For every command line QEMU accepted in the command-line corpora (generated-cmdlines,
harvest-cmdlines) with at least one drive, qdrive's translation
(qdrive.frontend.migrate.to_blockdev_argv, snapshot overlays in ``overlays/`` of the
image folder, created first with the recipe it gives) is started under QEMU 7.2, and
its facts are compared with the recorded facts of the original: query-block (per
device, without the BlockBackend's name, which -blockdev devices do not have) and,
where the original was recorded with them, query-named-block-nodes (without the node
names and the overlay file names, which the translation chooses). Lists are compared
as multisets: -blockdev nodes are made before -drive ones, so the order moves. Lines
that do not translate are recorded with the reason. The recording is
fixtures/qemu72/migration-proof.jsonl; tests/compat/test_migration_proof.py checks it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from . import compare, corpus, oracle

RECORDING = oracle.FIXTURES / "qemu72" / "migration-proof.jsonl"
CORPORA = ("generated-cmdlines", "harvest-cmdlines")
OVERLAYS = "overlays"


def candidates() -> Iterator[dict[str, Any]]:
    """Accepted, non-timeout rows of the command-line corpora that have a drive."""
    from qdrive.frontend.argv import read_argv

    for name in CORPORA:
        for row in corpus.rows(name, "7.2"):
            if row.get("accepted") and not row.get("timeout") and (
                    read_argv(row["argv"]).drives or "-readconfig" in row["argv"]):
                yield {**row, "corpus": name}


def translate(row: dict[str, Any]) -> dict[str, Any]:
    """The translation of one row (run in the image folder), or why there is none."""
    from qdrive.frontend.migrate import to_blockdev_argv

    argv = row["argv"]
    if "-readconfig" in argv:
        return {"why": "-readconfig: the drives of a config file are not rewritten (they "
                       "stay in the file)"}
    m = to_blockdev_argv(argv, overlay_dir=OVERLAYS)
    if not m.complete:
        return {"why": "; ".join(f"{o}: {w}" for o, w in m.untranslated)}
    return {"translated": list(m.argv), "recipes": list(m.recipes)}


def _strip_devices(devices: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps({k: v for k, v in d.items() if k != "device"}, sort_keys=True)
                  for d in devices)


_OVERLAY_FILE = re.compile(r"/var/tmp/vl\.\w{6}|overlays/[^\"\\]+\.qcow2")


def _strip_nodes(nodes: list[dict[str, Any]]) -> list[str]:
    out = []
    for n in nodes:
        n = {k: v for k, v in n.items() if k != "node-name"}
        if isinstance(n.get("file"), str):
            n["file"] = _OVERLAY_FILE.sub("<overlay>", n["file"])
        out.append(json.dumps(n, sort_keys=True))
    return sorted(out)


def judge(row: dict[str, Any], got: dict[str, Any]) -> dict[str, Any]:
    """Whether the translation's facts equal the original's."""
    same_devices = got.get("accepted") and _strip_devices(row.get("devices", [])) == \
        _strip_devices(got.get("devices", []))
    out = {"accepted": got.get("accepted"), "same_devices": bool(same_devices)}
    if "nodes" in row:
        out["same_nodes"] = bool(got.get("accepted")) and _strip_nodes(row["nodes"]) == \
            _strip_nodes(got.get("nodes", []))
    if not got.get("accepted"):
        out["stderr"] = got.get("stderr", "")
    return out


def record() -> int:
    qemu = oracle.qemu("7.2")
    rows = []
    with oracle.image_dir("qdrive-migrate-") as where:
        (where / OVERLAYS).mkdir()
        with compare.in_dir(where):
            for row in candidates():
                with oracle.case_files(where, row.get("files", {})):
                    t = translate(row)
                    entry: dict[str, Any] = {"id": row.get("id"), "corpus": row["corpus"],
                                             "argv": row["argv"], **t}
                    if "translated" in t:
                        for recipe in t["recipes"]:
                            subprocess.run(shlex.split(recipe), cwd=where, check=True,
                                           capture_output=True)
                        got = asyncio.run(oracle._run(t["translated"], where, 20.0, qemu,
                                                      None))
                        for f in (where / OVERLAYS).iterdir():
                            f.unlink()
                        entry.update(judge(row, got))
                rows.append(entry)
                print(_line(entry), file=sys.stderr)
    header = {"qemu": qemu.version_line, "version": "7.2", "corpora": list(CORPORA),
              **counts(rows)}
    RECORDING.write_text("".join(json.dumps(r) + "\n" for r in [header, *rows]), "utf-8")
    print(json.dumps(header))
    return 0


def _line(entry: dict[str, Any]) -> str:
    if "why" in entry:
        return f"{entry['id']}: not translated: {entry['why']}"
    return f"{entry['id']}: devices {'=' if entry['same_devices'] else '!='}" + (
        f", nodes {'=' if entry['same_nodes'] else '!='}" if "same_nodes" in entry else "")


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    translated = [r for r in rows if "translated" in r]
    proven = [r for r in translated if r.get("same_devices") and r.get("same_nodes", True)]
    return {"candidates": len(rows), "translated": len(translated), "proven": len(proven),
            "not_translated": len(rows) - len(translated)}


def load() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    lines = RECORDING.read_text("utf-8").splitlines()
    return json.loads(lines[0]), [json.loads(x) for x in lines[1:]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args(argv)
    if args.record:
        return record()
    header, rows = load()
    print(json.dumps(header))
    for r in rows:
        if "why" in r or not (r.get("same_devices") and r.get("same_nodes", True)):
            print(_line(r))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
