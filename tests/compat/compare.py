"""Compare qdrive.check() with recorded QEMU verdicts."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import qdrive
import qdrive.frontend.facts as qdrive_facts
from qdrive import to_blockdev
from qdrive.dialect import get as get_dialect
from qdrive.frontend.argv import read_argv
from qdrive.frontend.facts import query_block

from . import oracle

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qemu72"
PROG = "qemu-system-x86_64"


def load(path: Path = FIXTURES / "verdicts.jsonl") -> tuple[dict[str, object], list[dict]]:
    """The recorded corpus: its header and rows."""
    lines = path.read_text("utf-8").splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


def load_found() -> list[dict]:
    """Cases the differential fuzzer found (fixtures/qemu72/fuzz-found.jsonl), if any."""
    path = FIXTURES / "fuzz-found.jsonl"
    return load(path)[1] if path.exists() else []


def strip_noise(stderr: str) -> str:
    """Drop lines that are not about drives (the exit on signal after `quit`)."""
    return "\n".join(x for x in stderr.splitlines() if "terminating on signal" not in x)


def ours(case: list[str] | dict[str, Any], dialect: str | None = None,
         probe_network: bool = False, **options: Any) -> dict[str, object]:
    """qdrive's verdict on a case: a list of -drive strings, or {"drives"|"argv": [...]}.

    ``dialect`` and ``options`` are passed to check() when given (qdrive raises
    UnsupportedDialect for a dialect it does not know). ``nodes``
    (query-named-block-nodes) is predicted once qdrive.frontend.facts offers
    ``query_named_block_nodes``; until then it is absent. ``probe_network``: the
    network drives connect (the recordings were made on a host where nothing listens).
    """
    extra: dict[str, Any] = dict(options) if dialect is None else {**options,
                                                                    "dialect": dialect}
    if isinstance(case, dict) and "argv" in case and \
            not get_dialect(extra.get("dialect", "qemu-7.2")).legacy and \
            set(extra) <= {"dialect"}:
        whole = qdrive.check_argv(case["argv"], dialect=extra.get("dialect", "qemu-7.2"),
                                  probe_network=probe_network)
        out_argv: dict[str, object] = {"accepted": whole.ok, "stderr": whole.qemu_stderr(PROG)}
        from qdrive.frontend import cmdfacts

        devices = cmdfacts.query_block(whole)
        if devices is not None:
            out_argv["devices"] = devices
        nodes = cmdfacts.query_named_block_nodes(whole)
        if nodes is not None:
            out_argv["nodes"] = nodes
        return out_argv
    if isinstance(case, dict) and "argv" in case:
        cmd = read_argv(case["argv"])
        result = qdrive.check(cmd.drives, machine=cmd.machine, snapshot=cmd.snapshot,
                              probe_network=probe_network, **extra)
    else:
        result = qdrive.check(case["drives"] if isinstance(case, dict) else case,
                              probe_network=probe_network, **extra)
    out: dict[str, object] = {"accepted": result.ok, "stderr": result.qemu_stderr(PROG)}
    devices = query_block(result)
    if devices is not None:
        out["devices"] = devices
    nodes = getattr(qdrive_facts, "query_named_block_nodes", None)
    if nodes is not None and devices is not None:
        out["nodes"] = nodes(result)
    return out


def live_verdicts(case: dict[str, Any], cwd: Path, dialect: str = "qemu-7.2"
                  ) -> tuple[tuple[bool, str], tuple[bool, str]]:
    """(qdrive's, QEMU's) verdict and stderr for ``case``, QEMU started for real in
    ``cwd`` (7.2 unless ``dialect`` names another), its noise stripped: the pair a live
    test asserts equal."""
    want = oracle.run(case, cwd, qemu=oracle.qemu(dialect))  # writes and removes "files"
    files = case.get("files", {})
    for name, text in files.items():  # qdrive reads them where QEMU did
        (cwd / name).write_text(text)
    try:
        got = ours(case, dialect=dialect)
    finally:
        for name in files:
            (cwd / name).unlink()
    return (got["accepted"], got["stderr"]), (want["accepted"], strip_noise(want["stderr"]))


def ours_safely(case: dict[str, Any], dialect: str | None = None,
                probe_network: bool = False, **options: Any) -> dict[str, object]:
    """ours(), with an exception qdrive raises turned into a verdict that agrees with
    nothing (a scoring run must see every case through)."""
    try:
        return ours(case, dialect, probe_network, **options)
    except qdrive.UnsupportedDialect:
        raise
    except Exception as e:  # noqa: BLE001 - any qdrive failure is a disagreement
        return {"accepted": None, "stderr": f"qdrive raised {type(e).__name__}: {e}"}


CATEGORIES = ("accept/reject", "message", "facts", "node facts")


def translate(drives: list[str]) -> list[str] | None:
    """The -blockdev/-device argv for a whole case, or None if a drive does not translate."""
    result = qdrive.check(drives, probe_files=False)
    if not result.ok:
        return None
    args: list[str] = []
    for r in result.drives:
        assert r.drive is not None
        try:
            bd = to_blockdev(r.drive, r.placement)
        except qdrive.TranslationError:
            return None
        if bd.device is None:  # if=none: query-block lists no backend to compare
            return None
        args += bd.args()
    return args


def same_facts(drive_facts: list[dict], blockdev_facts: list[dict]) -> bool:
    """query-block facts equal but for the BlockBackend name (-device backends have none)."""
    strip = [[{k: v for k, v in d.items() if k != "device"} for d in facts]
             for facts in (drive_facts, blockdev_facts)]
    return strip[0] == strip[1]


def verdict(row: dict) -> dict[str, object]:
    """The recorded verdict of a row, in the shape ours() returns."""
    want = {"accepted": row["accepted"], "stderr": strip_noise(row["stderr"])}
    for facts in ("devices", "nodes"):
        if facts in row:
            want[facts] = row[facts]
    return want


# What varies from one QEMU run to the next and no one can predict: the numbers of the
# node names QEMU makes up (block.c bdrv_assign_node_name(): "#block" and a counter that
# depends on allocation order), the temporary overlay of snapshot=on (block.c
# bdrv_append_temp_snapshot(): a mkstemp() name in /var/tmp), curl's connect time in
# its error text, and what cloop reads as its block size out of a LUKS image
# (block/cloop.c cloop_open(): bytes 128-131, inside the header's random master-key
# digest, so each image qemu-img creates gives another number: the oracle's LUKS
# templates are made anew on every machine, tests/compat/oracle.py).
NOISE = ((re.compile(r"#block\d+"), "#block"),
         (re.compile(r"/var/tmp/vl\.\w{6}"), "/var/tmp/vl.XXXXXX"),
         (re.compile(r"after \d+ ms"), "after N ms"),
         (re.compile(r"(file=(?:gen|harvest2?)\.luks,[^\n]*: block_size )\d+( must be a "
                     r"multiple of 512)"), r"\1N\2"))


def normalise(value: Any) -> Any:
    """A message or a list of facts with :data:`NOISE` replaced (for comparing only)."""
    if isinstance(value, str):
        for pattern, repl in NOISE:
            value = pattern.sub(repl, value)
        return value
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    return value


def disagreements(want: dict[str, object], got: dict[str, object]) -> list[str]:
    """The categories in which two verdicts differ (:data:`NOISE` aside)."""
    bad = []
    if want["accepted"] != got["accepted"]:
        bad.append("accept/reject")
    if normalise(want["stderr"]) != normalise(got["stderr"]):
        bad.append("message")
    if want["accepted"] and want.get("devices") != got.get("devices"):
        bad.append("facts")
    if want["accepted"] and "nodes" in want and normalise(want["nodes"]) != normalise(
            got.get("nodes")):
        bad.append("node facts")
    return bad


def key(row: dict) -> tuple[str, ...]:
    """A row's identity: its drives, or its argv."""
    return tuple(row["drives"] if "drives" in row else ["ARGV", *row["argv"]])


def differences(rows: list[dict], dialect: str | None = None
                ) -> list[tuple[dict, dict, list[str]]]:
    """(recorded, ours, categories) for every case that disagrees; cwd = images dir;
    qdrive is asked in ``dialect`` (qemu-7.2 by default)."""
    out = []
    for row in rows:
        case = {k: row[k] for k in ("drives", "argv") if k in row}
        with oracle.case_files(Path.cwd(), row.get("files", {})):
            got, want = ours(case, dialect), verdict(row)
        bad = disagreements(want, got)
        if bad:
            out.append((want | case, got, bad))
    return out


@contextmanager
def in_dir(path: Path) -> Iterator[None]:
    here = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(here)
