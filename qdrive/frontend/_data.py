"""The data files shipped beside the grammar (qdrive/grammar: drive.lark, terminals.json,
qemu-X.Y/*.json), found and read in one place.

A plain path beside the qdrive.grammar package: importlib.resources would pull in tempfile
and shutil, several ms of start-up for files that are always on disk. Callers cache what
they build from a file; this module keeps nothing.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any

__all__ = ["grammar_path", "read_json"]


def grammar_path(*parts: str) -> str:
    """The path of a file (or folder) of the qdrive.grammar package."""
    grammar = importlib.import_module("qdrive.grammar")
    return os.path.join(os.path.dirname(grammar.__file__ or ""), *parts)


def read_json(*parts: str) -> Any:
    """A fresh parse of a JSON file of the qdrive.grammar package (the caller may change it)."""
    with open(grammar_path(*parts), encoding="utf-8") as f:
        return json.load(f)
