"""``json:{...}`` file names: the node's options written as one JSON object.

block.c parse_json_protocol() runs in bdrv_open_inherit() before bdrv_fill_options():
the text after ``json:`` is parsed (qobject/json-parser.c), must be an object, is
flattened into dotted keys (qdict_flatten(): {"file": {"driver": "file"}} becomes
``file.driver``) and joined into the node's options without replacing a key the
options already hold (qdict_join(..., false)). Values arrive typed (QBool, QNum), and
QemuOpts later reads them as their text: true is "on", 512 is "512".

The error words are 7.2's; ``located=True`` gives the later parser's (seen in QEMU
11.1, not in 10.0): the offending token's ``line:column: `` before the message and the
end of input spelled out (qdrive/dialect.py JsonErrors.LOCATED).
"""

from __future__ import annotations

import json
from typing import Any

from .._values import on_off

__all__ = ["where", "lexer_error_at", "JsonNameError", "parse"]

PREFIX = "json:"


class JsonNameError(ValueError):
    """The JSON part is not an object QEMU would accept; the message is QEMU's."""


def parse(filename: str, located: bool = False) -> dict[str, str | None]:
    """The flattened options of ``json:{...}`` (None for a JSON null); ``located``: the
    error names its line and column (see the module docstring)."""
    text = filename[len(PREFIX):]
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, too many digits
        if isinstance(exc, json.JSONDecodeError) and exc.msg == "Extra data":
            # qobject/qjson.c consume_json(): once a whole value has arrived, whatever the
            # lexer or parser says of the rest is a second value (7.2 and 11.1 alike)
            why = "Expecting at most one JSON value"
        else:
            why = _why_located(text) if located else _why(text, exc)
        raise JsonNameError(f"Could not parse the JSON options: {why}") from None
    if not isinstance(value, dict):
        raise JsonNameError("Invalid JSON object given")
    out: dict[str, str | None] = {}
    try:
        _flatten(value, "", out)
    except RecursionError:  # deeper than QEMU's parser nests (it stops at 1024)
        raise JsonNameError("Could not parse the JSON options: JSON parse error, too "
                            "large nesting") from None
    return out


def _why(text: str, exc: Exception) -> str:
    """qobject/json-parser.c's words for the usual ways a -drive cuts JSON short."""
    if not text.strip():
        return "Expecting a JSON value"
    at = lexer_error_at(text)
    if at is not None:  # a character no token starts with, met before the object closes
        return f"JSON parse error, stray '{text[at]}'"
    start = _open_string(text)
    if start is not None:  # the lexer stops inside a string: the token is stray
        return f"JSON parse error, stray '{text[start:]}'"
    return "JSON parse error, premature EOI"


def _why_located(text: str) -> str:
    """_why() in the located words: the stray string's start, or the end of the input,
    as 1-based ``line:column`` (qobject/json-parser.c parse_error() of the later parser)."""
    if not text.strip():
        return "Expecting a JSON value"
    # not lexer_error_at(): 11.1's parser meets a keyword in a key's place first
    # ('{"a":1,format=x' is "1:8: JSON parse error, expecting key"), not modelled
    start = _open_string(text)
    if start is not None:
        return f"{where(text, start)}: JSON parse error, stray '{text[start:]}'"
    return f"{where(text, None)}: JSON parse error, premature end of input"


def where(text: str, offset: int | None) -> str:
    """1-based ``line:column`` of ``offset`` in ``text``; None: the end of the input, as
    qobject/json-lexer.c places it: one past the last character, and one more when a
    number or keyword is still open there (the flush's NUL ends that token first; seen in
    11.1: '..."size":10485' ends at 1:34, '{"driver"' at 1:10)."""
    if offset is None:
        offset = len(text)
        if text and text[-1].isalnum():
            offset += 1
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{line}:{column}"


# what can start a token of qobject/json-lexer.c (a letter starts a keyword, a quote a
# string); any other character is a lexing error, reported as a stray token
_TOKEN_START = frozenset('{}[],:"\'-0123456789 \t\r\n+.') | frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def lexer_error_at(text: str) -> int | None:
    """Where the first character outside a string that starts no token is, while the
    top-level value is still open: qobject/json-streamer.c reports the lexer's error at
    once, before the parser has seen the document (None when there is none, or when it
    is the very first character)."""
    depth, quote, escaped = 0, "", False
    for n, c in enumerate(text):
        if quote:
            escaped, quote = (not escaped and c == "\\"), (
                "" if c == quote and not escaped else quote)
            continue
        if c in "\"'":
            quote = c
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth <= 0:
                return None
        elif c not in _TOKEN_START:
            return n or None
    return None


def _open_string(text: str) -> int | None:
    """Where the string still open at the end of ``text`` starts, if one is."""
    start, escaped = None, False
    for i, c in enumerate(text):
        if start is None:
            if c == '"':
                start = i
        elif escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == '"':
            start = None
    return start


def _flatten(value: dict[str, Any], prefix: str, out: dict[str, str | None]) -> None:
    for key, item in value.items():
        name = prefix + key
        if isinstance(item, dict):
            _flatten(item, name + ".", out)
        elif isinstance(item, list):
            _flatten({str(i): v for i, v in enumerate(item)}, name + ".", out)
        elif isinstance(item, bool):
            out[name] = on_off(item)
        elif item is None:
            out[name] = None
        else:
            out[name] = str(item)


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
