"""The original -drive corpus the oracle records: single drives and whole command lines.

The cases are data, in fixtures/corpus/cases.jsonl (a header line, then one case per
line: ``{"drives": [text, ...]}`` for one command line of -drive options, or
``{"argv": [...]}``). They were written by 0.1's generator and frozen as data in 0.2;
new cases go to the other corpora (fixtures/generated, fixtures/harvest,
fixtures/cmdline ...). Files are named relatively (see oracle.IMAGES); "missing.img"
never exists. `make oracle` records QEMU 7.2's verdicts on them into
fixtures/qemu72/verdicts.jsonl.
"""

from __future__ import annotations

import json
from functools import cache

from .oracle import REPO

CASES = REPO / "fixtures" / "corpus" / "cases.jsonl"


@cache
def _load() -> tuple[dict[str, list[str]], ...]:
    lines = CASES.read_text(encoding="utf-8").splitlines()
    header, rows = json.loads(lines[0]), [json.loads(line) for line in lines[1:] if line]
    if header.get("cases") != len(rows):
        raise ValueError(f"{CASES}: the header says {header.get('cases')} cases, "
                         f"the file has {len(rows)}")
    return tuple(rows)


def all_cases() -> list[dict[str, list[str]]]:
    """Every case, in the recorded order (a fresh copy: callers may change it)."""
    return [{k: list(v) for k, v in row.items()} for row in _load()]
