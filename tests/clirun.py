"""Running the qdrive command in a subprocess, with every JSON it prints validated.

Every JSON document the CLI tests see (a whole stdout, or one per line with -f) is checked
against the schema shipped in the package (qdrive/schema/check.schema.json); VALIDATED
counts them so a test can show the check ran.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

VALIDATED: list[int] = [0]
ENV = {"NO_COLOR": "1", "PATH": "/usr/bin:/bin"}


def validator() -> Any:
    import jsonschema

    from qdrive.frontend.jsonout import schema

    s = schema()
    jsonschema.Draft202012Validator.check_schema(s)
    return jsonschema.Draft202012Validator(s)


def json_documents(stdout: str) -> list[Any]:
    """The JSON documents in a stdout: the whole text, or each line that is one."""
    text = stdout.strip()
    if not text.startswith("{"):
        return []
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def validate_output(stdout: str) -> None:
    v = validator()
    for doc in json_documents(stdout):
        v.validate(doc)
        VALIDATED[0] += 1


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, "-m", "qdrive", *args], capture_output=True,
                       text=True, cwd=cwd, env={**ENV, **(env or {})}, input=input,
                       stdin=None if input is not None else subprocess.DEVNULL)
    validate_output(p.stdout)
    return p
