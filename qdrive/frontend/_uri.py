"""util/uri.c, as far as the protocol drivers' file names need it (block/nfs.c, ssh.c).

uri_parse() is an RFC 3986 parser: a scheme, then ``//authority`` with an optional port
of digits, a path, ``?query`` and ``#fragment``; a character the grammar does not allow
makes it fail (None here). query_params_parse() splits the query on ``&`` (or ``;``).
"""

from __future__ import annotations

import re

import attrs

__all__ = ["Uri", "parse", "query_params"]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_PCT = r"%[0-9A-Fa-f]{2}"
_UNRESERVED_SUB = r"A-Za-z0-9\-._~!$&'()*+,;="
_REG_NAME = re.compile(rf"(?:[{_UNRESERVED_SUB}]|{_PCT})*")
_USERINFO = re.compile(rf"(?:[{_UNRESERVED_SUB}:]|{_PCT})*")
_PATH = re.compile(rf"(?:[{_UNRESERVED_SUB}:@/]|{_PCT})*")
_QUERY = re.compile(rf"(?:[{_UNRESERVED_SUB}:@/?]|{_PCT})*")


@attrs.frozen
class Uri:
    scheme: str
    user: str | None
    server: str | None  # None when the authority's host is empty
    port: int
    path: str | None  # None when empty
    query: str | None


def parse(text: str) -> Uri | None:
    """uri_parse() of an absolute URI with an authority or a path; None if it fails."""
    m = _SCHEME.match(text)
    if m is None or text[m.end():m.end() + 1] != ":":
        return None
    scheme, rest = m.group(), text[m.end() + 1:]
    rest, _, fragment = rest.partition("#")
    rest, has_query, query = rest.partition("?")
    user = server = None
    port = 0
    if rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        path = slash + path
        userinfo, at, hostport = authority.rpartition("@")
        if at:
            if not _USERINFO.fullmatch(userinfo):
                return None
            user = userinfo
        host, port_text = _split_port(hostport)
        if host is None or not (port_text.isdigit() or port_text == ""):
            return None
        port = int(port_text) if port_text else 0
        server = host or None
    else:
        path = rest
    if not _PATH.fullmatch(path) or not _QUERY.fullmatch(query) \
            or not _QUERY.fullmatch(fragment):
        return None
    return Uri(scheme, user, server, port, path or None, query if has_query else None)


def _split_port(hostport: str) -> tuple[str | None, str]:
    if hostport.startswith("["):  # IP-literal
        close = hostport.find("]")
        if close < 0:
            return None, ""
        host, after = hostport[:close + 1], hostport[close + 1:]
        if after and not after.startswith(":"):
            return None, ""
        return host, after[1:]
    host, _, port = hostport.partition(":")
    return (host if _REG_NAME.fullmatch(host) else None), port


def query_params(query: str | None) -> list[tuple[str, str | None]]:
    """query_params_parse(): (name, value) pairs; a bare name has the value None,
    ``name=`` the value ""; empty sections and ``=value`` are skipped."""
    params: list[tuple[str, str | None]] = []
    rest = query or ""
    while rest:
        end = rest.find("&")
        if end < 0:
            end = rest.find(";")
        section, rest = (rest, "") if end < 0 else (rest[:end], rest[end + 1:])
        if not section or section.startswith("="):
            continue
        name, eq, value = section.partition("=")
        params.append((name, value if eq else None))
    return params


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
