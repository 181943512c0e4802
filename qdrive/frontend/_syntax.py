"""Tokenising a -drive string: the only module that imports lark.

The grammar lives in grammar/drive.lark (shipped as ``qdrive/grammar``). The
parser is built lazily, once, on first use, and runs with a structural
transformer so no parse tree is built.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple


from ..diagnostics import Span

__all__ = ["RawOption", "tokenize"]


class RawOption(NamedTuple):
    """One item of the option string, after QEMU's tokeniser.

    ``key`` and ``value`` are what QEMU stores (``,,`` unescaped, ``no`` of a
    flag stripped); ``span`` covers the item without its separator comma;
    ``flag`` tells the short-form boolean (``X`` / ``noX``); ``no_prefix`` says
    whether ``no`` was stripped; ``complete`` is false only for a 2008 item
    that lacks ``=``. A NamedTuple: the tokeniser makes one per item.
    """

    key: str
    value: str
    span: Span
    flag: bool = False
    no_prefix: bool = False
    complete: bool = True


def _item72(text: str, start: int, sep: bool) -> RawOption:
    # util/qemu-option.c get_opt_name_value(): the name ends at the first '=' or ','.
    body = text[:-1] if sep else text
    span = Span(start, start + len(body))
    name, eq, value = body.partition("=")
    if eq:
        return RawOption(name, value.replace(",,", ","), span)
    if name.startswith("no"):
        return RawOption(name[2:], "off", span, flag=True, no_prefix=True)
    return RawOption(name, "on", span, flag=True)


def _item08(text: str, start: int, sep: bool, bad: bool) -> RawOption:
    # vl.c r5300 get_opt_name(): the name ends at '=' only, commas included.
    body = text[:-1] if sep else text
    span = Span(start, start + len(body))
    if bad:
        return RawOption(body, "", span, complete=False)
    name, _, value = body.partition("=")
    return RawOption(name, value.replace(",,", ","), span)


@functools.cache
def _parser() -> Any:
    import lark  # deferred: `import qdrive` must not pay for lark

    class Items(lark.Transformer):  # type: ignore[type-arg]
        """Structural callbacks: token list -> RawOptions; never raises, never looks a key up."""

        def qemu72(self, tokens: list[Any]) -> list[RawOption]:
            return [_item72(str(t), t.start_pos, t.type == "ITEM72") for t in tokens]

        def qemu2008(self, tokens: list[Any]) -> list[RawOption]:
            return [
                _item08(str(t), t.start_pos, t.type == "ITEM08", t.type == "BAD08")
                for t in tokens
            ]

    return lark.Lark(
        _grammar_text(), parser="lalr", lexer="contextual", start=["qemu72", "qemu2008"],
        transformer=Items(),
    )


# Each start rule of the grammar is a plain sequence of item terminals (qemu72: ITEM72 |
# LAST72; qemu2008: ITEM08 | LAST08 | BAD08), so its language is regular. The LALR parser
# built from grammar/drive.lark proves that and supplies the terminals; the hot path then
# scans with those same terminal regexes, which costs ~1 us per item instead of lark's
# ~10 us per token. tests/frontend/test_syntax.py checks both paths agree on arbitrary input.
_RULE_TERMINALS = {"qemu72": ("ITEM72", "LAST72"), "qemu2008": ("ITEM08", "LAST08", "BAD08")}


def _grammar_path(name: str) -> str:
    from ._data import grammar_path

    return grammar_path(name)


def _grammar_text() -> str:
    with open(_grammar_path("drive.lark"), encoding="utf-8") as f:
        return f.read()


def derive_terminals() -> dict[str, str]:
    """Each start rule's terminals as one regex, derived from the grammar by lark."""
    terminals = {t.name: t.pattern.to_regexp() for t in _parser().terminals}
    return {rule: "|".join(f"(?P<{n}>{terminals[n]})" for n in names)
            for rule, names in _RULE_TERMINALS.items()}


def _grammar_hash(text: str) -> str:
    import zlib

    return f"crc32:{zlib.crc32(text.encode()):08x}"


def write_terminals() -> str:
    """Regenerate grammar/terminals.json from grammar/drive.lark (``make grammar``)."""
    import json

    data = {"grammar": _grammar_hash(_grammar_text()), "rules": derive_terminals()}
    path = _grammar_path("terminals.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=1) + "\n")
    return path


@functools.cache
def _scanner(rule: str) -> Any:
    """The compiled scanner for ``rule``: from grammar/terminals.json when it was derived
    from the current drive.lark (no lark import on the hot path), else from lark."""
    import json
    import re

    try:
        with open(_grammar_path("terminals.json"), encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError):
        saved = {}
    if saved.get("grammar") == _grammar_hash(_grammar_text()):
        pattern = saved["rules"][rule]
    else:
        pattern = derive_terminals()[rule]
    return re.compile(pattern).match


def tokenize(text: str, *, old: bool = False) -> list[RawOption]:
    """Split ``text`` into items the way QEMU 7.2 (or, with ``old``, QEMU 2008) does."""
    if not old:
        return _tokenize72(text)
    match = _scanner("qemu2008")
    out: list[RawOption] = []
    pos, end = 0, len(text)
    while pos < end:
        m = match(text, pos)
        assert m is not None, "the grammar's terminals cover every input"
        kind = m.lastgroup
        out.append(_item08(m.group(), pos, kind == "ITEM08", kind == "BAD08"))
        pos = m.end()
    return out


_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__


def _tokenize72(text: str) -> list[RawOption]:
    # _item72() inlined: this loop is most of parse_drive's cost for a plain drive.
    # findall() hands each match as (ITEM72 text, LAST72 text) without a match object;
    # it would skip input no terminal matches, so the lengths must add up to the text
    # (the terminals match at every position: tests/frontend/test_syntax.py).
    out: list[RawOption] = []
    start = 0
    for item, last in _scanner("qemu72").__self__.findall(text):
        if item:
            end = start + len(item)
            body = item[:-1]  # the separator comma is not part of the item
            span = _new(Span, (start, end - 1))
        else:
            end = start + len(last)
            body = last
            span = _new(Span, (start, end))
        start = end
        name, eq, value = body.partition("=")
        if eq:
            if ",," in value:
                value = value.replace(",,", ",")
            out.append(_new(RawOption, (name, value, span, False, False, True)))
        elif name.startswith("no"):
            out.append(_new(RawOption, (name[2:], "off", span, True, True, True)))
        else:
            out.append(_new(RawOption, (name, "on", span, True, False, True)))
    if start != len(text):
        raise AssertionError("the grammar's terminals cover every input")
    return out


def tokenize_lalr(text: str, *, old: bool = False) -> list[RawOption]:
    """The same split done by lark's LALR parser over the grammar (the reference path)."""
    result: list[RawOption] = _parser().parse(text, start="qemu2008" if old else "qemu72")
    return result
