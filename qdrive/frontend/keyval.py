"""QEMU's dotted KEY=VALUE syntax of -blockdev, -machine and -audiodev (util/keyval.c).

This is not QemuOpts (qdrive/frontend/_syntax.py): keys are QAPI names joined by ``.``
(``file.filename``), a key made of digits is a list index (``server.0.host``),
``,,`` is a literal comma in a value, and the first fragment may omit its key
(the implied key, ``driver`` for -blockdev). The result is a nested dict with
string leaves; lists become Python lists. Errors carry util/keyval.c's messages.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KeyvalError", "parse_keyval", "parse_qapi_name"]

# util/keyval.c: a key fragment is copied into a 128-byte buffer with its NUL.
_MAX_FRAGMENT = 127


class KeyvalError(ValueError):
    """A keyval string QEMU refuses, with QEMU's message."""


def parse_qapi_name(s: str, start: int = 0) -> int:
    """Length of the QAPI name at ``s[start:]`` (qapi/qapi-util.c parse_qapi_name,
    not complete), or -1: an optional ``__RFQDN_`` prefix, a letter, then letters,
    digits, ``-`` and ``_``."""
    p = start
    n = len(s)
    if p < n and s[p] == "_":
        p += 1
        if p >= n or s[p] != "_":
            return -1
        p += 1
        while p < n and (s[p].isascii() and s[p].isalnum() or s[p] in "-."):
            p += 1
        if p >= n or s[p] != "_":
            return -1
        p += 1
    if p >= n or not (s[p].isascii() and s[p].isalpha()):
        return -1
    p += 1
    while p < n and (s[p].isascii() and s[p].isalnum() or s[p] in "-_"):
        p += 1
    return p - start


def _index_len(s: str, start: int) -> int:
    """Length of the run of decimal digits at ``s[start:]`` (util/keyval.c key_to_index)."""
    p = start
    while p < len(s) and "0" <= s[p] <= "9":
        p += 1
    return p - start


def _is_index(key: str) -> bool:
    return bool(key) and _index_len(key, 0) == len(key)


def _put(cur: dict[str, Any], key: str, value: str | None, whole: str, upto: int) -> Any:
    # keyval_parse_put(): a key is either a value or a dict, never both.
    old = cur.get(key)
    if old is not None:
        if isinstance(old, str) != (value is not None):
            raise KeyvalError(f"Parameters '{whole[:upto]}.*' used inconsistently")
        if value is None:
            return old
    new: Any = {} if value is None else value
    cur[key] = new
    return new


def _help_len(s: str) -> int:
    # util/cutils.c starts_with_help_option(): "help" or "?" followed by nothing, ",", "="
    for word in ("help", "?"):
        if s.startswith(word):
            return len(word)
    return 0


def _parse_one(out: dict[str, Any], params: str, pos: int, implied: str | None
               ) -> tuple[int, bool]:
    """One KEY=VALUE at ``params[pos:]``: the position after it, and whether it was help."""
    rest = params[pos:]
    length = len(rest)
    for i, c in enumerate(rest):
        if c in "=,":
            length = i
            break
    key_text, key_start = params, pos
    val_end = None
    if length and (pos + length >= len(params) or params[pos + length] != "="):
        if _help_len(rest) == length and length:
            after = pos + length
            return (after + 1 if after < len(params) and params[after] == "," else after), True
        if implied:
            key_text, key_start, val_end = implied, 0, pos + length
            length = len(implied)
    key_end = key_start + length
    cur = out
    s = key_start
    prev = ""
    while True:
        if s != key_start and _index_len(key_text, s) > 0:
            n = _index_len(key_text, s)
        else:
            n = max(parse_qapi_name(key_text[:key_end], s), 0)
        if not n or (s + n < key_end and key_text[s + n] != "."):
            raise KeyvalError(f"Invalid parameter '{key_text[key_start:key_end]}'")
        if n > _MAX_FRAGMENT:
            fragment = " fragment" if s != key_start or s + n != key_end else ""
            raise KeyvalError(f"Parameter{fragment} '{key_text[s:s + n]}' is too long")
        if s != key_start:
            cur = _put(cur, prev, None, key_text[key_start:], s - 1 - key_start)
        prev = key_text[s:s + n]
        s += n
        if s >= key_end or key_text[s] != ".":
            break
        s += 1
    if val_end is not None:
        value = params[pos:val_end]
        nxt = val_end + 1 if val_end < len(params) and params[val_end] == "," else val_end
    else:
        if s >= len(key_text) or key_text[s] != "=":
            raise KeyvalError(f"Expected '=' after parameter '{key_text[key_start:s]}'")
        s += 1
        chars: list[str] = []
        while s < len(params):
            if params[s] == ",":
                s += 1
                if s >= len(params) or params[s] != ",":
                    break
            chars.append(params[s])
            s += 1
        value, nxt = "".join(chars), s
    _put(cur, prev, value, key_text[key_start:], key_end - key_start)
    return nxt, False


def _listify(cur: dict[str, Any], path: list[str]) -> Any:
    # keyval_listify(): a dict whose keys are all indexes becomes a list.
    has_index = has_member = False
    for key, value in list(cur.items()):
        if _is_index(key):
            has_index = True
        else:
            has_member = True
        if isinstance(value, dict):
            cur[key] = _listify(value, [*path, key])
    if has_index and has_member:
        raise KeyvalError(f"Parameters '{_reassemble(path)}*' used inconsistently")
    if not has_index:
        return cur
    by_index: dict[int, Any] = {}
    for key, value in cur.items():
        by_index.setdefault(min(int(key), 2**31 - 1), value)
    out = []
    for i in range(min(len(cur) + 1, max(by_index) + 1)):
        if i not in by_index:
            raise KeyvalError(f"Parameter '{_reassemble(path)}{i}' missing")
        out.append(by_index[i])
    return out


def _reassemble(path: list[str]) -> str:
    return "".join(f"{p}." for p in path)


def parse_keyval(params: str, implied_key: str | None = None) -> dict[str, Any]:
    """``params`` as util/keyval.c keyval_parse() reads it (help not allowed)."""
    out: dict[str, Any] = {}
    pos, help_asked = 0, False
    implied = implied_key
    while pos < len(params):
        pos, asked = _parse_one(out, params, pos, implied)
        help_asked = help_asked or asked
        implied = None
    if help_asked:
        raise KeyvalError("Help is not available for this option")
    result = _listify(out, [])
    assert isinstance(result, dict)
    return result


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
