"""Connecting where a network block driver's open connects first (``check(probe_network=True)``).

QEMU's network drivers (block/nbd.c, ssh.c, curl.c, iscsi.c, gluster.c, nfs.c) open a
connection in their open; what the connect meets (nothing listening, no such socket, no
route, a name that does not resolve) decides the open. qdrive makes that one connect
itself, opt-in, and closes it at once without sending a byte: whatever the protocol
would say next is not predicted. It never connects under the untrusted policy (a drive
from an untrusted user would make qdrive contact any host: a bypass by the project's own
rule); check() does not open a session there.

Without a session (the default) a driver's open only records a note saying where QEMU
would connect. Each driver's endpoint is worked out next to its open in _fmt_protocols.py.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import select
import socket
import time
from collections.abc import Iterator

import attrs

__all__ = ["Outcome", "Session", "probing", "allowed", "allowed_now", "active", "note",
           "not_checked", "timed_out", "connected", "tcp", "tcp_if_probing", "unix",
           "srv_records"]

TIMEOUT = 2.0  # seconds a connect may take before qdrive gives up (and says so)


@attrs.frozen
class Outcome:
    """What one connect met: ``error`` 0 (connected, then closed) or an errno;
    ``resolve_error`` the getaddrinfo() failure text when the name did not resolve;
    ``ms`` how long the connect took, in whole milliseconds (as libcurl counts the time
    its "after N ms" reports: from the connect's start to its failure)."""

    error: int = 0
    resolve_error: str = ""
    ms: int = 0
    timed_out: bool = False

    @property
    def connected(self) -> bool:
        return not self.error and not self.resolve_error and not self.timed_out

    @property
    def strerror(self) -> str:
        return os.strerror(self.error)


@attrs.define
class Session:
    """One drive's check: whether connects are made, and the notes the opens left."""

    enabled: bool
    notes: list[str] = attrs.Factory(list)


_SESSION: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "qdrive_netprobe", default=None)


class probing:  # noqa: N801 - used as a function: ``with probing(on) as session:``
    """A session for the block: the network drivers' opens connect when ``enabled``.

    A class, not a contextlib.contextmanager: every drive's check enters one (issue 17)."""

    __slots__ = ("_session", "_token")

    def __init__(self, enabled: bool) -> None:
        self._session = Session(enabled)

    def __enter__(self) -> Session:
        self._token = _SESSION.set(self._session)
        return self._session

    def __exit__(self, *exc: object) -> None:
        _SESSION.reset(self._token)


_ALLOWED: contextvars.ContextVar[bool] = contextvars.ContextVar("qdrive_netprobe_allowed",
                                                               default=False)


@contextlib.contextmanager
def allowed(enabled: bool) -> Iterator[None]:
    """check_argv(probe_network=...) for the drives it hands to check() (:func:`allowed_now`)."""
    token = _ALLOWED.set(enabled)
    try:
        yield
    finally:
        _ALLOWED.reset(token)


def allowed_now() -> bool:
    """Whether the enclosing check_argv() lets its drives connect."""
    return _ALLOWED.get()


def active() -> bool:
    """Whether the open being checked may connect (a session that is enabled)."""
    session = _SESSION.get()
    return session is not None and session.enabled


def note(text: str) -> None:
    """Leave a note on the drive being checked (nothing outside a session)."""
    session = _SESSION.get()
    if session is not None and text not in session.notes:
        session.notes.append(text)


def not_checked(where: str) -> None:
    """The note of a drive whose connect was not made."""
    note(f"not checked: QEMU connects to {where} at open (use --probe-network)")


def timed_out(where: str) -> None:
    """The note of a drive whose peer neither answered nor refused in time."""
    note(f"not checked: {where} did not answer within {TIMEOUT:g} s")


def connected(where: str, driver: str) -> None:
    """The note of a drive whose connect was made: the protocol is the peer's business."""
    note(f"connected to {where} and closed at once: the {driver} protocol itself "
         "was not checked")


def tcp_if_probing(host: str, port: int | str) -> Outcome | None:
    """:func:`tcp` inside an enabled session; outside one the drive's not-checked note
    for HOST:PORT, and None."""
    if not active():
        not_checked(f"{host}:{port}")
        return None
    return tcp(host, port)


def tcp(host: str, port: int | str, family: int = socket.AF_UNSPEC,
        timeout: float | None = None) -> Outcome:
    """Connect to HOST:PORT as util/qemu-sockets.c inet_connect_saddr() does: every
    address getaddrinfo() gives (AI_ADDRCONFIG), in order, until one connects; the last
    failure otherwise. Non-blocking, at most ``timeout`` (None: TIMEOUT, read per call)
    seconds per address; ``ms`` counts from before the name is resolved (libcurl's
    connect phase starts there)."""
    timeout = TIMEOUT if timeout is None else timeout
    start = time.monotonic()
    try:
        found = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0,
                                   socket.AI_ADDRCONFIG)
    except socket.gaierror as exc:
        return Outcome(resolve_error=exc.strerror or str(exc))
    except UnicodeError:  # a name the IDNA codec refuses is no name
        return Outcome(resolve_error=os.strerror(errno.EINVAL))
    last = Outcome(error=errno.ECONNREFUSED)
    for fam, kind, proto, _, address in found:
        last = _connect(socket.socket(fam, kind, proto), address, timeout)
        if last.connected:
            break
    return attrs.evolve(last, ms=_elapsed(start))


def unix(path: str, abstract: bool = False, tight: bool = True,
         timeout: float = TIMEOUT) -> Outcome:
    """Connect to the Unix socket ``path`` as unix_connect_saddr() does; an abstract
    name has a NUL first, and without ``tight`` the whole sun_path (108 bytes) counts."""
    name: str | bytes = path
    if not path and not abstract:
        # QEMU passes the whole struct sockaddr_un: an empty path is an abstract name of
        # NULs, which nothing listens on (ECONNREFUSED), where a short one is EINVAL
        name = b"\0" * 108
    elif abstract:
        raw = b"\0" + os.fsencode(path)
        name = raw if tight else raw.ljust(108, b"\0")
    return _connect(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), name, timeout)


RESOLV_CONF = "/etc/resolv.conf"


def srv_records(service: str, timeout: float = TIMEOUT) -> bool | None:
    """Whether DNS has SRV records for ``service`` (``_ceph-mon._tcp``) as res_search()
    looks: the name under each search domain of resolv.conf, then alone, asking its
    nameservers over UDP. None when no nameserver answered."""
    servers, domains = _resolv_conf()
    names = [f"{service}.{d}" for d in domains] + [service]
    answered = False
    for name in names:
        for server in servers:
            found = _srv_query(server, name, timeout)
            if found is None:
                continue
            answered = True
            if found:
                return True
            break  # this server answered for this name: the next name
    return False if answered else None


def _resolv_conf() -> tuple[list[str], list[str]]:
    servers, domains = [], []
    try:
        with open(RESOLV_CONF) as f:
            for line in f:
                words = line.split()
                if len(words) >= 2 and words[0] == "nameserver":
                    servers.append(words[1])
                elif words and words[0] in ("search", "domain"):
                    domains = words[1:]
    except OSError:
        pass
    return servers or ["127.0.0.1"], domains  # glibc's default: the local resolver


def _srv_query(server: str, name: str, timeout: float) -> bool | None:
    """One DNS query (type SRV, class IN) to ``server``: answers found, none, or None
    when nothing (or nothing readable) came back in time."""
    import random
    import struct

    ident = random.getrandbits(16)
    question = b"".join(bytes([len(p)]) + p.encode("idna") for p in name.split(".") if p)
    packet = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + b"\0" \
        + struct.pack(">HH", 33, 1)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(packet, (server, 53))
            reply = sock.recv(4096)
        except OSError:
            return None
    if len(reply) < 12:
        return None
    got, flags, _, answers = struct.unpack(">HHHH", reply[:8])
    if got != ident or not flags & 0x8000:
        return None
    return bool((flags & 0xF) == 0 and answers > 0)


def _connect(sock: socket.socket, address: object, timeout: float) -> Outcome:
    with sock:
        sock.setblocking(False)
        start = time.monotonic()
        try:
            code = sock.connect_ex(address)  # type: ignore[arg-type]
        except OSError as exc:  # a name too long, a bad address
            code = exc.errno or errno.EINVAL
        if code in (errno.EINPROGRESS, errno.EAGAIN):
            _, ready, _ = select.select([], [sock], [], timeout)
            if not ready:
                return Outcome(error=errno.ETIMEDOUT, timed_out=True,
                               ms=_elapsed(start))
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return Outcome(error=code, ms=_elapsed(start))


def _elapsed(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


def __dir__() -> list[str]:
    return sorted(__all__)
