"""QEMU's JSON reader for command-line options starting with ``{`` (qobject/json-*.c).

qdrive reads the JSON with Python's parser, which accepts what QEMU's accepts for the
documents launchers write (QEMU also allows single-quoted strings: those are read here
too, by the fallback below). A document QEMU cannot read gets a "JSON parse error"
message; the exact wording of QEMU's lexer is matched for the common cases.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["JsonArgError", "parse_json_object"]


class JsonArgError(ValueError):
    """A JSON argument QEMU refuses, with QEMU's message."""


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON for QEMU's lexer.
    raise ValueError(name)


def parse_json_object(text: str) -> dict[str, Any]:
    """The object ``text`` holds (QEMU's callers assert the top level is an object)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise JsonArgError(_message(text, exc)) from None
    if not isinstance(value, dict):
        raise JsonArgError("JSON parse error, expecting value")
    return value


def _message(text: str, exc: Exception) -> str:
    # qobject/json-streamer.c: text after the complete top-level value is a "stray" token.
    if isinstance(exc, json.JSONDecodeError) and exc.msg.startswith("Unterminated string"):
        # the lexer never finishes the string: all of it is one stray token
        return f"JSON parse error, stray '{text[exc.pos:]}'"
    if isinstance(exc, json.JSONDecodeError) and exc.pos >= len(text.rstrip()):
        return "JSON parse error, premature EOI"
    if isinstance(exc, json.JSONDecodeError) and exc.msg == "Extra data":
        rest = text[exc.pos:].lstrip()
        return f"JSON parse error, stray '{rest[:1]}'"
    if isinstance(exc, json.JSONDecodeError) and exc.msg.startswith("Expecting property name"):
        return "JSON parse error, key is not a string in object"
    if isinstance(exc, json.JSONDecodeError) and exc.msg.startswith("Expecting ':'"):
        return "JSON parse error, missing : in object pair"
    if isinstance(exc, json.JSONDecodeError) and exc.msg.startswith("Expecting ','"):
        return "JSON parse error, expected separator in dict"
    return "JSON parse error, expecting value"


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
