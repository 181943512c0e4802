"""Compare qdrive.check() with recorded QEMU verdicts."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import qdrive
from qdrive.argv import read_argv
from qdrive.facts import query_block

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


def ours(case: list[str] | dict[str, list[str]]) -> dict[str, object]:
    """qdrive's verdict on a case: a list of -drive strings, or {"drives"|"argv": [...]}."""
    if isinstance(case, dict) and "argv" in case:
        cmd = read_argv(case["argv"])
        result = qdrive.check(cmd.drives, machine=cmd.machine, snapshot=cmd.snapshot)
    else:
        result = qdrive.check(case["drives"] if isinstance(case, dict) else case)
    out: dict[str, object] = {"accepted": result.ok, "stderr": result.qemu_stderr(PROG)}
    devices = query_block(result)
    if devices is not None:
        out["devices"] = devices
    return out


CATEGORIES = ("accept/reject", "message", "facts")


def translate(drives: list[str]) -> list[str] | None:
    """The -blockdev/-device argv for a whole case, or None if a drive does not translate."""
    result = qdrive.check(drives, probe_files=False)
    if not result.ok:
        return None
    args: list[str] = []
    for r in result.drives:
        assert r.drive is not None
        try:
            bd = r.drive.to_blockdev(r.placement)
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
    if "devices" in row:
        want["devices"] = row["devices"]
    return want


def disagreements(want: dict[str, object], got: dict[str, object]) -> list[str]:
    """The categories in which two verdicts differ."""
    bad = []
    if want["accepted"] != got["accepted"]:
        bad.append("accept/reject")
    if want["stderr"] != got["stderr"]:
        bad.append("message")
    if want["accepted"] and want.get("devices") != got.get("devices"):
        bad.append("facts")
    return bad


def key(row: dict) -> tuple[str, ...]:
    """A row's identity: its drives, or its argv."""
    return tuple(row["drives"] if "drives" in row else ["ARGV", *row["argv"]])


def differences(rows: list[dict]) -> list[tuple[dict, dict, list[str]]]:
    """(recorded, ours, categories) for every case that disagrees; cwd = images dir."""
    out = []
    for row in rows:
        case = {k: row[k] for k in ("drives", "argv") if k in row}
        got, want = ours(case), verdict(row)
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
