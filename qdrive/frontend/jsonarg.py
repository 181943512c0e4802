"""QEMU's JSON reader for command-line options starting with ``{`` (qobject/json-*.c).

qdrive reads the JSON with Python's parser, which accepts what QEMU's accepts for the
documents launchers write (QEMU also allows single-quoted strings: those are read here
too, by the fallback below). A document QEMU cannot read gets a "JSON parse error"
message; the exact wording of QEMU's lexer is matched for the common cases.
"""

from __future__ import annotations

import json
from typing import Any

from .jsonname import lexer_error_at

__all__ = ["JsonArgError", "parse_json_object"]


class JsonArgError(ValueError):
    """A JSON argument QEMU refuses, with QEMU's message."""


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON for QEMU's lexer.
    raise ValueError(name)


def parse_json_object(text: str, located: bool | None = None) -> dict[str, Any]:
    """The object ``text`` holds (QEMU's callers assert the top level is an object).

    ``located``: a stray token or the end of the input is placed at its ``line:column``,
    as 11.1's qobject/json-parser.c does (jsonname.where()); None: as the walked
    dialect does (Dialect.json_errors)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        message = _message(text, exc)
        if located is None:
            from . import drivers
            from ..dialect import JsonErrors

            located = drivers.dialect().json_errors is JsonErrors.LOCATED
        raise JsonArgError(_locate(text, message) if located else message) from None
    if not isinstance(value, dict):
        raise JsonArgError("JSON parse error, expecting value")
    return value


def _message(text: str, exc: Exception) -> str:
    # qobject/json-streamer.c: text after the complete top-level value is a "stray" token.
    if isinstance(exc, json.JSONDecodeError) and exc.msg.startswith("Unterminated string"):
        # the lexer never finishes the string: all of it is one stray token
        return f"JSON parse error, stray '{text[exc.pos:]}'"
    at = lexer_error_at(text) if isinstance(exc, json.JSONDecodeError) and \
        exc.msg != "Extra data" and not exc.msg.startswith("Unterminated string") else None
    if at is not None:
        return f"JSON parse error, stray '{text[at]}'"
    if isinstance(exc, json.JSONDecodeError) and exc.pos >= len(text.rstrip()):
        return "JSON parse error, premature EOI"
    if isinstance(exc, json.JSONDecodeError) and exc.msg == "Extra data":
        # qobject/qjson.c consume_json(): whatever follows a complete value is a second
        # message, good or bad
        return "Expecting at most one JSON value"
    if isinstance(exc, json.JSONDecodeError) and exc.msg.startswith("Expecting property name"):
        return "JSON parse error, key is not a string in object"
    if isinstance(exc, json.JSONDecodeError) and exc.msg.startswith("Expecting ':'"):
        return "JSON parse error, missing : in object pair"
    if isinstance(exc, json.JSONDecodeError) and exc.msg.startswith("Expecting ','"):
        return "JSON parse error, expected separator in dict"
    return "JSON parse error, expecting value"


def _locate(text: str, message: str) -> str:
    """The located words of the two errors 11.1 was seen to place (a stray token, the
    end of the input); the others keep 7.2's words."""
    from .jsonname import where

    if message.startswith("JSON parse error, stray '"):
        token = message[len("JSON parse error, stray '"):-1]
        start = text.rfind(token) if token else -1
        if start >= 0:
            return f"{where(text, start)}: {message}"
    if message == "JSON parse error, premature EOI":
        return f"{where(text, None)}: JSON parse error, premature end of input"
    return message


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
