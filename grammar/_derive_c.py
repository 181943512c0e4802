"""A small reader of QEMU's C sources, enough to lift initialised tables out of them.

It is not a compiler. It knows what the block layer's tables need:

* tokens (comments dropped, line continuations joined), each tagged with the
  preprocessor conditions (``#if``/``#ifdef``/``#elif``/``#else``) it sits under;
* object-like and function-like macros (``#``, ``##``, ``__VA_ARGS__``) gathered from the
  file and the quoted headers it includes, expanded on demand in an initialiser;
* top-level declarations with an initialiser (``BlockDriver x = {...};``,
  ``QemuOptsList y = {...};``, ``const char *const z[] = {...};``) and function bodies;
* designated initialisers parsed into nested :class:`Braced` values.

Conditions are kept as text; :func:`holds_on_linux` decides the ones that depend only
on the host (``__linux__``, ``_WIN32``, ...) and leaves configuration switches
(``CONFIG_*``) undecided.
"""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Token", "Braced", "Decl", "Function", "SourceFile", "Macros",
    "read_source", "parse_initializer", "literal", "holds_on_linux", "split_args",
]

Cond = tuple[str, ...]


@dataclass(frozen=True)
class Token:
    """One C token: kind is id, num, str, chr or op; cond the enclosing #if texts."""

    kind: str
    text: str
    line: int
    cond: Cond = ()
    hide: frozenset[str] = frozenset()


@dataclass
class Braced:
    """A brace initialiser: items in order, each (designator or None, value, cond)."""

    items: list[tuple[str | None, Braced | list[Token], Cond]] = field(default_factory=list)

    def get(self, name: str) -> Braced | list[Token] | None:
        """The value of designator ``name`` (the last one written, as C does)."""
        found: Braced | list[Token] | None = None
        for key, value, _ in self.items:
            if key == name:
                found = value
        return found


@dataclass(frozen=True)
class Decl:
    """A top-level declaration with an initialiser."""

    name: str
    type_tokens: tuple[str, ...]
    init: tuple[Token, ...]
    cond: Cond
    line: int


@dataclass(frozen=True)
class Function:
    """A top-level function definition."""

    name: str
    body: tuple[Token, ...]
    cond: Cond
    line: int


@dataclass
class SourceFile:
    """A C file as far as this reader understands it."""

    path: str
    decls: list[Decl]
    functions: dict[str, list[Function]]
    macros: Macros


# -- tokens and the preprocessor -----------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\f\v]+)
  | (?P<nl>\n)
  | (?P<comment>/\*.*?\*/|//[^\n]*)
  | (?P<str>(?:u8|[uUL])?"(?:[^"\\\n]|\\.)*")
  | (?P<chr>'(?:[^'\\\n]|\\.)*')
  | (?P<num>\.?[0-9](?:[eEpP][+-]|[0-9a-zA-Z_.])*)
  | (?P<id>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>\.\.\.|<<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^!=<>]=|\#\#
           |[][{}()<>.,;:?~!+\-*/%&|^=#])
  | (?P<bad>.)
""", re.VERBOSE | re.DOTALL)


def _join_continuations(text: str) -> str:
    # A backslash-newline joins two physical lines; keep the newline count by
    # moving the swallowed newlines to the end of the logical line.
    out: list[str] = []
    logical: list[str] = []
    for line in text.split("\n"):
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            logical.append(stripped[:-1] + " ")
            continue
        logical.append(line)
        out.append("".join(logical) + "\n" * (len(logical) - 1))
        logical = []
    out.append("".join(logical))
    return "\n".join(out)


def _raw_tokens(text: str) -> Iterator[tuple[str, str, int, bool]]:
    """(kind, text, line, at_line_start) for every token; newlines kept as kind 'nl'."""
    line = 1
    at_start = True
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "bad"
        value = m.group()
        if kind == "ws":
            continue
        if kind == "comment":
            line += value.count("\n")
            continue
        if kind == "nl":
            yield ("nl", "\n", line, at_start)
            line += 1
            at_start = True
            continue
        yield (kind, value, line, at_start)
        at_start = False


@dataclass
class _Branch:
    conds: list[str]  # the texts of the earlier branches of this #if chain
    current: str


def _cond_text(words: list[str]) -> str:
    """An #if expression written back with C's usual spacing: ``defined(X) && !Y``."""
    out = ""
    for w in words:
        if out and not (out.endswith(("(", "!")) or w in (")", "(") and out.endswith("defined")
                        or w == ")"):
            out += " "
        out += w
    return out


def _negate(texts: Sequence[str]) -> str:
    return " && ".join(f"!({t})" for t in texts)


class _Preprocessor:
    """Walks directives; collects macros; tags ordinary tokens with their conditions."""

    def __init__(self, macros: Macros) -> None:
        self.macros = macros
        self.stack: list[_Branch] = []
        self.includes: list[str] = []

    def cond(self) -> Cond:
        return tuple(b.current for b in self.stack)

    def directive(self, words: list[tuple[str, str]], line: int) -> None:
        if not words:
            return
        name, rest = words[0][1], words[1:]
        text = _cond_text([w for _, w in rest])
        if name in ("if", "ifdef", "ifndef"):
            expr = text if name == "if" else (
                f"defined({text})" if name == "ifdef" else f"!defined({text})")
            self.stack.append(_Branch([expr], expr))
        elif name == "elif" and self.stack:
            top = self.stack[-1]
            top.current = f"{_negate(top.conds)} && ({text})"
            top.conds.append(text)
        elif name == "else" and self.stack:
            top = self.stack[-1]
            top.current = _negate(top.conds)
        elif name == "endif" and self.stack:
            self.stack.pop()
        elif name == "define" and rest:
            self.macros.define(rest, self.cond())
        elif name == "undef" and rest:
            self.macros.undef(rest[0][1])
        elif name == "include" and rest and rest[0][0] == "str":
            self.includes.append(rest[0][1][1:-1])


def _tokenize(text: str, macros: Macros) -> tuple[list[Token], list[str]]:
    """Ordinary tokens of ``text`` (directives applied) and its quoted includes."""
    pp = _Preprocessor(macros)
    tokens: list[Token] = []
    raw = list(_raw_tokens(_join_continuations(text)))
    i = 0
    while i < len(raw):
        kind, value, line, at_start = raw[i]
        if kind == "op" and value == "#" and at_start:
            j = i + 1
            words = []
            while j < len(raw) and raw[j][0] != "nl":
                words.append((raw[j][0], raw[j][1]))
                j += 1
            pp.directive(words, line)
            i = j
            continue
        if kind != "nl":
            tokens.append(Token(kind, value, line, pp.cond()))
        i += 1
    return tokens, pp.includes


# -- macros ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Macro:
    params: tuple[str, ...] | None  # None: object-like
    body: tuple[tuple[str, str], ...]
    variadic: bool


class Macros:
    """#define'd names. The first definition whose condition may hold on Linux wins."""

    def __init__(self) -> None:
        self.table: dict[str, _Macro] = {}

    def define(self, words: list[tuple[str, str]], cond: Cond) -> None:
        if any(holds_on_linux(c) is False for c in cond):
            return
        name = words[0][1]
        if name in self.table:
            return
        rest = words[1:]
        # A function-like macro has '(' right after the name: the tokenizer lost the
        # spacing, so look at the source shape: NAME( with parameters then ')'.
        if rest and rest[0][1] == "(" and _looks_like_params(rest):
            close = next(i for i, w in enumerate(rest) if w[1] == ")")
            params = [w[1] for w in rest[1:close] if w[1] != ","]
            variadic = bool(params) and params[-1] == "..."
            if variadic:
                params[-1] = "__VA_ARGS__"
            self.table[name] = _Macro(tuple(params), tuple(rest[close + 1:]), variadic)
        else:
            self.table[name] = _Macro(None, tuple(rest), False)

    def undef(self, name: str) -> None:
        self.table.pop(name, None)

    def expand(self, tokens: Sequence[Token]) -> list[Token]:
        """``tokens`` with every macro expanded; a macro is not expanded again inside its
        own expansion (each token carries the names it came from, as C's hide sets)."""
        work = list(tokens)
        out: list[Token] = []
        i = 0
        while i < len(work):
            tok = work[i]
            macro = self.table.get(tok.text) if tok.kind == "id" else None
            if macro is None or tok.text in tok.hide:
                out.append(tok)
                i += 1
                continue
            hide = tok.hide | {tok.text}
            if macro.params is None:
                work[i:i + 1] = [Token(k, t, tok.line, tok.cond, hide) for k, t in macro.body]
                continue
            if i + 1 >= len(work) or work[i + 1].text != "(":
                out.append(tok)
                i += 1
                continue
            args, end = _collect_args(work, i + 1)
            work[i:end] = self._substitute(macro, args, tok, hide)
        return out

    def _substitute(self, macro: _Macro, args: list[list[Token]], at: Token,
                    hide: frozenset[str]) -> list[Token]:
        params = macro.params or ()
        if macro.variadic:
            fixed = len(params) - 1
            rest = args[fixed:]
            joined: list[Token] = []
            for n, a in enumerate(rest):
                if n:
                    joined.append(Token("op", ",", at.line, at.cond))
                joined.extend(a)
            args = args[:fixed] + [joined]
        bound = {p: (args[n] if n < len(args) else []) for n, p in enumerate(params)}
        body = [Token(k, t, at.line, at.cond, hide) for k, t in macro.body]
        out: list[Token] = []
        i = 0
        while i < len(body):
            tok = body[i]
            if tok.text == "#" and i + 1 < len(body) and body[i + 1].text in bound:
                text = " ".join(t.text for t in bound[body[i + 1].text])
                out.append(Token("str", '"' + text.replace("\\", "\\\\").replace('"', '\\"')
                                 + '"', at.line, at.cond))
                i += 2
                continue
            if tok.text == "##" and out and i + 1 < len(body):
                nxt = body[i + 1]
                right = bound.get(nxt.text, [nxt]) if nxt.kind == "id" else [nxt]
                left = out.pop()
                pasted = left.text + (right[0].text if right else "")
                out.append(Token("id" if re.fullmatch(r"\w+", pasted) else left.kind,
                                 pasted, at.line, at.cond))
                out.extend(right[1:])
                i += 2
                continue
            if tok.kind == "id" and tok.text in bound:
                pasting = i + 1 < len(body) and body[i + 1].text == "##"
                value = bound[tok.text]
                value = value if pasting else self.expand(value)
                out.extend(Token(t.kind, t.text, t.line, t.cond, t.hide | hide) for t in value)
                i += 1
                continue
            out.append(tok)
            i += 1
        return out


def _looks_like_params(rest: list[tuple[str, str]]) -> bool:
    for kind, text in rest[1:]:
        if text == ")":
            return True
        if not (kind == "id" or text in (",", "...")):
            return False
    return False


def _collect_args(tokens: Sequence[Token], open_at: int) -> tuple[list[list[Token]], int]:
    """Arguments of a call whose '(' is at ``open_at``; returns them and the index after ')'."""
    depth = 0
    args: list[list[Token]] = [[]]
    i = open_at
    while i < len(tokens):
        t = tokens[i].text
        if t in "([{" and tokens[i].kind == "op":
            depth += 1
            if depth > 1:
                args[-1].append(tokens[i])
        elif t in ")]}" and tokens[i].kind == "op":
            depth -= 1
            if depth == 0:
                return (args if any(args) else []), i + 1
            args[-1].append(tokens[i])
        elif t == "," and depth == 1:
            args.append([])
        else:
            args[-1].append(tokens[i])
        i += 1
    return args, i


def split_args(tokens: Sequence[Token], open_at: int) -> tuple[list[list[Token]], int]:
    """The arguments of the call whose '(' is at ``open_at`` (see :func:`_collect_args`)."""
    return _collect_args(tokens, open_at)


# -- host conditions -------------------------------------------------------------------------

_LINUX_TRUE = frozenset({
    "__linux__", "__linux", "linux", "__x86_64__", "__GLIBC__", "__GNUC__", "CONFIG_LINUX",
    "CONFIG_POSIX", "__unix__",
})
_LINUX_FALSE = frozenset({
    "_WIN32", "_WIN64", "WIN32", "__APPLE__", "__FreeBSD__", "__FreeBSD_kernel__",
    "__DragonFly__", "__NetBSD__", "__OpenBSD__", "__sun__", "__sun", "__HAIKU__",
    "CONFIG_WIN32", "CONFIG_DARWIN", "CONFIG_BSD", "CONFIG_SOLARIS", "__CYGWIN__",
    "__EMSCRIPTEN__",
})
_COND_TOKEN = re.compile(r"\s*(defined|\|\||&&|!|\(|\)|[A-Za-z_]\w*|\d+\w*|\S)")


def holds_on_linux(text: str, macros: Macros | None = None) -> bool | None:
    """Whether an #if condition holds in a Linux x86-64 build; None when it depends on
    the configuration (CONFIG_* switches, versions) or on something this reader cannot
    evaluate. ``defined(X)`` of a macro in ``macros`` holds."""
    words = _COND_TOKEN.findall(text)
    token = _KNOWN.set(macros)
    try:
        value, rest = _or(words)
    except (IndexError, ValueError):
        return None
    finally:
        _KNOWN.reset(token)
    return value if not rest else None


def _or(w: list[str]) -> tuple[bool | None, list[str]]:
    value, w = _and(w)
    while w and w[0] == "||":
        right, w = _and(w[1:])
        value = True if (value is True or right is True) else (
            False if (value is False and right is False) else None)
    return value, w


def _and(w: list[str]) -> tuple[bool | None, list[str]]:
    value, w = _not(w)
    while w and w[0] == "&&":
        right, w = _not(w[1:])
        value = False if (value is False or right is False) else (
            True if (value is True and right is True) else None)
    return value, w


def _not(w: list[str]) -> tuple[bool | None, list[str]]:
    if w[0] == "!":
        value, rest = _not(w[1:])
        return (None if value is None else not value), rest
    if w[0] == "(":
        value, rest = _or(w[1:])
        if not rest or rest[0] != ")":
            raise ValueError("unbalanced")
        return value, rest[1:]
    if w[0] == "defined":
        if w[1] == "(":
            name, rest = w[2], w[4:]
        else:
            name, rest = w[1], w[2:]
        return _known(name), rest
    if re.fullmatch(r"\d+", w[0]):
        return int(w[0]) != 0, w[1:]
    if len(w) > 1 and w[1] in ("<", ">", "<=", ">=", "==", "!=", "("):
        raise ValueError("not evaluated")
    return _known(w[0]), w[1:]


_KNOWN: contextvars.ContextVar[Macros | None] = contextvars.ContextVar("_KNOWN", default=None)


def _known(name: str) -> bool | None:
    if name in _LINUX_TRUE:
        return True
    if name in _LINUX_FALSE:
        return False
    macros = _KNOWN.get()
    if macros is not None and name in macros.table:
        return True
    return None


# -- files, includes and top-level declarations -------------------------------------------------

_HEADER_CACHE: dict[str, tuple[list[tuple[str, tuple[tuple[str, str], ...], Cond]], list[str]]] = {}


def _header_defines(path: str) -> tuple[list[tuple[str, tuple[tuple[str, str], ...], Cond]],
                                        list[str]]:
    """The #define lines (with conditions) and quoted includes of a header, cached."""
    if path not in _HEADER_CACHE:
        recorder = _Recorder()
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
        _, includes = _tokenize(text, recorder)
        _HEADER_CACHE[path] = (recorder.defines, includes)
    return _HEADER_CACHE[path]


class _Recorder(Macros):
    """Records #define lines instead of deciding them (header caching)."""

    def __init__(self) -> None:
        super().__init__()
        self.defines: list[tuple[str, tuple[tuple[str, str], ...], Cond]] = []

    def define(self, words: list[tuple[str, str]], cond: Cond) -> None:
        self.defines.append((words[0][1], tuple(words), cond))


def _resolve_include(name: str, here: str, root: str) -> str | None:
    for base in (here, os.path.join(root, "include"), root):
        path = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(path):
            return path
    return None


def _gather_macros(includes: list[str], here: str, root: str, macros: Macros,
                   seen: set[str]) -> None:
    for name in includes:
        path = _resolve_include(name, here, root)
        if path is None or path in seen:
            continue
        seen.add(path)
        defines, nested = _header_defines(path)
        for _, words, cond in defines:
            macros.define(list(words), cond)
        _gather_macros(nested, os.path.dirname(path), root, macros, seen)


def read_source(root: str, relpath: str) -> SourceFile:
    """Tokenise ``root/relpath``, gather the macros it can see, split its top level."""
    path = os.path.join(root, relpath)
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        text = f.read()
    own = _Recorder()
    tokens, includes = _tokenize(text, own)
    macros = Macros()
    # The file's own macros first, then its headers' (a header name redefined by the
    # file keeps the file's meaning for the code below the #define, which is the usual case).
    for _, words, cond in own.defines:
        macros.define(list(words), cond)
    _gather_macros(includes, os.path.dirname(path), root, macros, {path})
    decls, functions = _top_level(tokens)
    return SourceFile(relpath, decls, functions, macros)


def _matching(tokens: Sequence[Token], i: int) -> int:
    """Index of the bracket closing the one at ``i``."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    want = pairs[tokens[i].text]
    opening = tokens[i].text
    depth = 0
    for j in range(i, len(tokens)):
        t = tokens[j]
        if t.kind != "op":
            continue
        if t.text == opening:
            depth += 1
        elif t.text == want:
            depth -= 1
            if depth == 0:
                return j
    return len(tokens) - 1


def _function_name(stmt: list[Token]) -> str | None:
    i = 0
    while i < len(stmt):
        t = stmt[i]
        if t.text == "(" and i > 0 and stmt[i - 1].kind == "id":
            name = stmt[i - 1].text
            if name in ("__attribute__", "QEMU_PACKED", "G_GNUC_PRINTF", "__declspec"):
                i = _matching(stmt, i) + 1
                continue
            return name
        i += 1
    return None


def _top_level(tokens: list[Token]) -> tuple[list[Decl], dict[str, list[Function]]]:
    decls: list[Decl] = []
    functions: dict[str, list[Function]] = {}
    stmt: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind == "op" and tok.text in "([":
            end = _matching(tokens, i)
            stmt.extend(tokens[i:end + 1])
            i = end + 1
            continue
        if tok.kind == "op" and tok.text == "{":
            end = _matching(tokens, i)
            has_eq = any(t.kind == "op" and t.text == "=" for t in stmt)
            if not has_eq and stmt and stmt[-1].text == ")":
                name = _function_name(stmt)
                if name:
                    fn = Function(name, tuple(tokens[i + 1:end]), stmt[0].cond, stmt[0].line)
                    functions.setdefault(name, []).append(fn)
                stmt = []
                i = end + 1
                continue
            stmt.extend(tokens[i:end + 1])
            i = end + 1
            continue
        if tok.kind == "op" and tok.text == ";":
            decl = _declaration(stmt)
            if decl is not None:
                decls.append(decl)
            stmt = []
            i += 1
            continue
        stmt.append(tok)
        i += 1
    return decls, functions


def _declaration(stmt: list[Token]) -> Decl | None:
    eq = next((n for n, t in enumerate(stmt) if t.kind == "op" and t.text == "="), None)
    if eq is None or eq == 0:
        return None
    head = stmt[:eq]
    # The declared name: the last identifier of the declarator (arrays: before '[').
    names = [t for t in head if t.kind == "id"]
    if not names:
        return None
    bracket = next((n for n, t in enumerate(head) if t.text == "["), None)
    if bracket is not None:
        before = [t for t in head[:bracket] if t.kind == "id"]
        name = before[-1].text if before else names[-1].text
    else:
        name = names[-1].text
    types = tuple(t.text for t in head)
    return Decl(name, types, tuple(stmt[eq + 1:]), stmt[0].cond, stmt[0].line)


# -- initialisers and values -------------------------------------------------------------------


def parse_initializer(tokens: Sequence[Token]) -> Braced | list[Token]:
    """A C initialiser: a :class:`Braced` for ``{...}``, else the expression's tokens."""
    toks = list(tokens)
    if toks and toks[0].text == "{":
        value, _ = _braced(toks, 0)
        return value
    return toks


def _braced(toks: list[Token], i: int) -> tuple[Braced, int]:
    end = _matching(toks, i)
    out = Braced()
    j = i + 1
    while j < end:
        if toks[j].text == ",":
            j += 1
            continue
        start_cond = toks[j].cond
        designator: str | None = None
        if toks[j].text in (".", "[") and toks[j].kind == "op":
            k = j
            parts: list[str] = []
            while k < end and toks[k].text != "=":
                if toks[k].kind == "id":
                    parts.append(toks[k].text)
                elif toks[k].text not in (".", "[", "]"):
                    parts.append(toks[k].text)
                k += 1
            designator = ".".join(parts)
            j = k + 1
        if j < end and toks[j].text == "{":
            value, j = _braced(toks, j)
            out.items.append((designator, value, start_cond))
            continue
        k = j
        expr: list[Token] = []
        while k < end and toks[k].text != ",":
            if toks[k].kind == "op" and toks[k].text in "([{":
                close = _matching(toks, k)
                expr.extend(toks[k:close + 1])
                k = close + 1
                continue
            expr.append(toks[k])
            k += 1
        if expr:
            out.items.append((designator, expr, start_cond))
        j = k
    return out, end + 1


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'",
            "a": "\a", "b": "\b", "f": "\f", "v": "\v", "?": "?"}


def _unquote(text: str) -> str:
    body = text[text.index('"') + 1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "x":
                m = re.match(r"[0-9a-fA-F]+", body[i + 2:])
                digits = m.group() if m else "0"
                out.append(chr(int(digits, 16)))
                i += 2 + len(digits)
                continue
            if nxt in "01234567":
                m = re.match(r"[0-7]{1,3}", body[i + 1:])
                digits = m.group() if m else "0"
                out.append(chr(int(digits, 8)))
                i += 1 + len(digits)
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def literal(value: Braced | list[Token] | None) -> object:
    """The Python value of a simple expression: str (adjacent literals joined), bool, int,
    None for NULL/0-pointers, ``("ref", name)`` for ``name``/``&name``, else the text."""
    if value is None or isinstance(value, Braced):
        return None
    toks = [t for t in value if t.text not in ("(", ")")] if value else []
    if not toks:
        return None
    if all(t.kind == "str" for t in toks):
        return "".join(_unquote(t.text) for t in toks)
    if len(toks) == 1:
        t = toks[0]
        if t.text in ("true", "false"):
            return t.text == "true"
        if t.text == "NULL":
            return None
        if t.kind == "num":
            try:
                return int(t.text.rstrip("uUlL"), 0)
            except ValueError:
                return t.text
        if t.kind == "id":
            return ("ref", t.text)
    if len(toks) == 2 and toks[0].text == "&" and toks[1].kind == "id":
        return ("ref", toks[1].text)
    return " ".join(t.text for t in value)
