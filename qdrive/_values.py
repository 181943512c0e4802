"""QEMU's value parsers: booleans, numbers and sizes, with QEMU's error texts.

Each function returns the value or raises :class:`ValueProblem` carrying
QEMU's message. They mirror qapi/qapi-util.c qapi_bool_parse(),
util/qemu-option.c parse_option_number()/parse_option_size() and
util/cutils.c qemu_strtou64()/do_strtosz() of QEMU 7.2 (and, for sizes, of 10.0:
:class:`SizeSyntax`).
"""

from __future__ import annotations

import enum
import re

__all__ = [
    "ValueProblem", "parse_bool", "parse_number", "parse_size", "strtoull", "to_int32",
    "U64_MAX", "id_wellformed", "is_true", "SizeSyntax", "on_off", "option_text",
]

U64_MAX = 2**64 - 1
_SPACE = " \t\n\v\f\r"
_TRUE = frozenset({"on", "yes", "true", "y"})
_FALSE = frozenset({"off", "no", "false", "n"})
_SIZE_HINT = (
    "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
    "and exabytes, respectively."
)
_SUFFIX = {c: 1024**i for i, c in enumerate("bkmgtpe")}


class SizeSyntax(enum.Enum):
    """How util/cutils.c qemu_strtosz() reads a size; a Dialect says which (qdrive.dialect)."""

    # 7.2: a hex number with a multiplier suffix (0x1k) is read, with a deprecation
    # warning; a minus sign gives "expects a non-negative number below 2^64".
    HEX_SUFFIX_DEPRECATED = "7.2"
    # 8.x on (measured on 10.0 and 11.1): the deprecated hex-with-suffix form is refused
    # like any malformed size, and a negative number is ERANGE from parse_uint() under
    # qemu_strtou64(), which parse_option_size() words "out of range".
    STRICT = "10.0"


class ValueProblem(Exception):
    """A value QEMU refuses: ``message`` (and ``detail`` lines) are QEMU's words."""

    def __init__(self, message: str, detail: str = "", warning: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.warning = warning


def parse_bool(name: str, value: str) -> bool:
    """qapi_bool_parse(): exactly on/yes/true/y or off/no/false/n, case-sensitive."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueProblem(f"Parameter '{name}' expects 'on' or 'off'")


def is_true(value: str) -> bool:
    """Whether ``value`` is one of QEMU's spellings of a true boolean (on/yes/true/y)."""
    return value in _TRUE


def strtoull(text: str, base: int = 0) -> tuple[int | None, str, bool]:
    """glibc strtoull(): (value or None if no digits, unparsed rest, overflowed).

    Leading white space and one sign are accepted; base 0 picks hex for 0x,
    octal for a leading 0; a minus wraps modulo 2**64 as C does.
    """
    i = len(text) - len(text.lstrip(_SPACE))
    neg = text[i : i + 1] == "-"
    if text[i : i + 1] in ("+", "-"):
        i += 1
    if base in (0, 16) and text[i : i + 2].lower() == "0x" and _digits(text, i + 2, 16):
        base, i = 16, i + 2
    elif base == 0:
        base = 8 if text[i : i + 1] == "0" else 10
    n = _digits(text, i, base)
    if n == 0:
        return None, text, False
    magnitude = int(text[i : i + n], base)
    if magnitude > U64_MAX:
        return U64_MAX, text[i + n :], True
    value = (-magnitude) % 2**64 if neg else magnitude
    return value, text[i + n :], False


def prop_int(text: str) -> int:
    """A qdev integer property as qemu_strtoi64(base 0) reads it ("010" is octal); 0 when
    it is none (refused earlier by the property's own parser)."""
    value, rest, overflow = strtoull(text)
    if value is None or rest or overflow:
        return 0
    return value - (1 << 64) if value >= 1 << 63 else value


def _digits(text: str, i: int, base: int) -> int:
    ok = "0123456789abcdef"[:base]
    n = 0
    while i + n < len(text) and text[i + n].lower() in ok:
        n += 1
    return n


def parse_number(name: str, value: str) -> int:
    """parse_option_number(): qemu_strtou64(value, NULL, 0) with QEMU's messages."""
    result, rest, overflow = strtoull(value)
    if result is None or rest:
        raise ValueProblem(f"Parameter '{name}' expects a number")
    if overflow:
        raise ValueProblem(f"Value '{value}' is too large for parameter '{name}'")
    return result


def parse_size(name: str, value: str,
               syntax: SizeSyntax = SizeSyntax.HEX_SUFFIX_DEPRECATED) -> tuple[int, str]:
    """parse_option_size(): (bytes, warning or "") as qemu_strtosz() reads it (7.2's
    unless ``syntax`` says otherwise)."""
    strict = syntax is SizeSyntax.STRICT
    bad = ValueProblem(
        f"Parameter '{name}' expects a non-negative number below 2^64", _SIZE_HINT
    )
    result, rest, overflow = strtoull(value, 10)
    if result is None:
        raise bad
    if overflow:
        raise ValueProblem(f"Value '{value}' is out of range for parameter '{name}'")
    if "-" in value[: len(value) - len(rest)]:
        if strict:
            raise ValueProblem(f"Value '{value}' is out of range for parameter '{name}'")
        raise bad
    warning, fraction = "", 0.0
    if result == 0 and rest[:1] in ("x", "X"):
        result, rest, overflow = strtoull(value, 16)
        if result is None or rest[:1] == ".":
            raise bad
        if overflow:
            raise ValueProblem(f"Value '{value}' is out of range for parameter '{name}'")
        if rest[:1].lower() in _SUFFIX:
            if strict:
                raise bad
            warning = f"Using a multiplier suffix on hex numbers is deprecated: {value}"
    elif rest[:1] == ".":
        fraction, rest = _fraction(rest, bad)
    mul = _SUFFIX.get(rest[:1].lower(), 0) if rest else 0
    if mul:
        rest = rest[1:]
    else:
        mul = 1
    if rest or (mul == 1 and fraction):
        raise bad
    total = result * mul + int(fraction * mul + 0.5)
    if total > U64_MAX:
        raise ValueProblem(f"Value '{value}' is out of range for parameter '{name}'")
    return total, warning


def _fraction(rest: str, bad: ValueProblem) -> tuple[float, str]:
    # do_strtosz(): ".5k" style fractions; an exponent makes the whole input invalid.
    n = 1
    while n < len(rest) and rest[n].isdigit():
        n += 1
    if rest[n : n + 1] in ("e", "E"):
        raise bad
    return (float("0" + rest[:n]) if n > 1 else 0.0), rest[n:]


def to_int32(value: int) -> int:
    """The C cast of a uint64 option into an ``int`` (blockdev.c stores bus/unit/index so)."""
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


_ID = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")


# qemu_opts_create() and user_creatable_add_qapi()'s words for an id id_wellformed() refuses:
# the error, then its hint (printed on a line of its own)
ID_EXPECTED = "Parameter 'id' expects an identifier"
ID_HINT = "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter."


def id_wellformed(ident: str) -> bool:
    """util/id.c id_wellformed(): an ASCII letter, then ASCII letters, digits, '-', '.', '_'."""
    return _ID.fullmatch(ident) is not None


def on_off(flag: bool) -> str:
    """QEMU's spelling of a boolean option's value (qapi/qmp bool: "on"/"off")."""
    return "on" if flag else "off"


def option_text(value: object) -> str:
    """A typed option value as QEMU's command line spells it: on/off for booleans, the
    value of an enum member, decimal for numbers, strings as they are."""
    if isinstance(value, bool):
        return on_off(value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)
