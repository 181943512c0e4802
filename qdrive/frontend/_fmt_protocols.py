"""The protocol drivers' open checks: curl (http/https/ftp/ftps), iscsi, gluster, nbd,
nvme, nfs, ssh, rbd and file-posix.

Each mirrors its driver's open in QEMU 7.2 (block/curl.c, block/iscsi.c,
block/gluster.c, block/nbd.c, block/nvme.c, block/nfs.c, block/ssh.c, block/rbd.c,
block/file-posix.c); the ``*_filename`` functions mirror the drivers'
bdrv_parse_filename callbacks, which split a URL or a legacy file name into options.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import NoReturn, TYPE_CHECKING

from . import hostprobe
from ._fmt_common import Check, Options, _defined, _fail, _fail_detail, _no_secret
from ._fmt_qapi import _qapi
from .._values import is_true
from ..diagnostics import Diagnostic, Severity, Span, Stage, Stop, error

if TYPE_CHECKING:
    from ..probe import ProbeResult


CURL_DRIVERS = frozenset({"http", "https", "ftp", "ftps"})
_CURL_TIMEOUT_MAX = 10000  # block/curl.c CURL_TIMEOUT_MAX


def _curl(scheme: str) -> Check:
    """block/curl.c curl_open() of the driver whose protocol_name is ``scheme``."""
    def check(options: Options, image: ProbeResult | None, span: Span) -> None:
        _curl_open(scheme, options, span)
    return check


def _curl_open(scheme: str, options: Options, span: Span) -> None:
    # block/curl.c curl_open(), in its order: readahead, timeout, the cookie, the URL and
    # its scheme, then the two passwords; all before any connection is made.
    from .._values import ValueProblem, parse_number, parse_size

    try:
        readahead = parse_size("readahead", options["readahead"].value)[0] \
            if "readahead" in options else 0
        timeout = parse_number("timeout", options["timeout"].value) \
            if "timeout" in options else 0
    except ValueProblem:
        return  # the typed check reports it
    if readahead & 0x1FF:  # printed with %zd: a size_t read as signed
        signed = readahead - (1 << 64) if readahead >= 1 << 63 else readahead
        _fail(f"HTTP_READAHEAD_SIZE {signed} is not a multiple of 512", span)
    if timeout > _CURL_TIMEOUT_MAX:
        _fail("timeout parameter is too large or negative", span)
    cookie, cookie_secret = options.get("cookie"), options.get("cookie-secret")
    if cookie is not None and cookie_secret is not None:
        _fail("curl driver cannot handle both cookie and cookie secret", cookie_secret.span)
    if cookie_secret is not None and not _defined("secret", cookie_secret.value):
        _fail(_no_secret(cookie_secret.value), cookie_secret.span)
    if "url" not in options:
        _fail("curl block driver requires an 'url' option", span)
    if not options["url"].value.startswith(f"{scheme}://"):
        _fail(f"{scheme} curl driver cannot handle the URL '{options['url'].value}' (does "
              f"not start with '{scheme}://')", options["url"].span)
    for key in ("password-secret", "proxy-password-secret"):
        if key in options and not _defined("secret", options[key].value):
            _fail(_no_secret(options[key].value), options[key].span)


def glib_notices(failure: Diagnostic) -> list[Diagnostic]:
    """block/curl.c curl_open(): a failure before the socket table exists jumps to
    out_noclean, whose curl_drop_all_sockets() and g_hash_table_destroy() get a NULL
    table; GLib's criticals reach util/error-report.c qemu_log_func(), which reports them
    with error_report() ("GLib: " and the function, no "warning:"), located, before the
    error itself. QEMU goes on, so they are notices of error severity, not the error."""
    return [Diagnostic("glib-critical", Severity.ERROR, f"GLib: {function}: assertion "
                       "'hash_table != NULL' failed", failure.span, failure.stage)
            for function in ("g_hash_table_foreach_remove", "g_hash_table_destroy")]


def curl_value_notices(failure: Diagnostic, key: str, driver: str | None) -> list[Diagnostic]:
    """The GLib lines before a bad value of one of curl's own runtime options (its
    qemu_opts_absorb_qdict() fails inside curl_open(); the common ones, cache.* and
    read-only, fail earlier in block.c bdrv_open_common())."""
    from . import drivers

    info = drivers.driver(driver) if driver in CURL_DRIVERS else None
    if info is None or failure.code != "bad-value" or not info.typed(key) \
            or key in ("cache.direct", "cache.no-flush", "read-only", "auto-read-only",
                       "force-share"):
        return []
    return glib_notices(failure)


_ISCSI_SCHEMES = {"iscsi://": "tcp", "iser://": "iser"}


def _iscsi_url(url: str) -> dict[str, str] | None:
    """libiscsi iscsi_parse_full_url() as block/iscsi.c iscsi_parse_filename() uses it:
    ``iscsi://[USER[%PASSWORD]@]PORTAL/TARGET/LUN`` (iser:// for iSER), LUN all of a
    strtol() number; the options it gives (transport, portal, target, lun, and user and
    password when the URL has both), or None when it fails."""
    scheme = next((s for s in _ISCSI_SCHEMES if url.startswith(s)), None)
    if scheme is None:
        return None
    portal = url[len(scheme):][:255]  # MAX_STRING_SIZE
    found = {"transport": _ISCSI_SCHEMES[scheme]}
    credentials, at, rest = portal.partition("@")
    if at:
        portal = rest
        user, sep, password = credentials.partition("%")
        if not sep:
            user, sep, password = credentials.partition(":")
        if sep:
            found.update(user=user, password=password)
    portal, slash, target = portal.partition("/")
    target, slash_lun, lun = target.partition("/")
    if not slash or not target or not slash_lun or not _strtol_whole(lun):
        return None
    return {**found, "portal": portal, "target": target}


def _strtol_whole(text: str) -> bool:
    digits = text.lstrip(" \t\n\v\f\r")
    digits = digits[1:] if digits[:1] in ("+", "-") else digits
    return bool(text) and digits.isascii() and digits.isdigit()


def iscsi_filename(filename: str, span: Span) -> None:
    """block/iscsi.c iscsi_parse_filename(): a URL libiscsi cannot parse is refused
    while the file name is parsed (block.c bdrv_fill_options())."""
    if _iscsi_url(filename) is None:
        raise error("iscsi-url", f"Failed to parse URL : {filename}", span, Stage.FILL)


def _iscsi(options: Options, image: ProbeResult | None, span: Span) -> None:
    # block/iscsi.c iscsi_open(): the target triple (the URL's values are defaults under
    # the options), the transport, CHAP when a user is given, the header digest; all
    # before the connection (whose failure is not predicted: qdrive connects nowhere).
    url = options.get("url")
    given = {k: options[k].value for k in ("transport", "portal", "target", "user",
                                           "password") if k in options}
    values = {**((_iscsi_url(url.value) or {}) if url is not None else {}), **given}
    if not all(k in values for k in ("transport", "portal", "target")):
        _fail("Need all of transport, portal and target options", span)
    if values["transport"] not in ("tcp", "iser"):
        _fail(f"Unknown transport: {values['transport']}", span)
    secret = options.get("password-secret")
    if "user" in values:  # apply_chap()
        if secret is not None and "password" in values:
            _fail("'password' and 'password-secret' properties are mutually exclusive",
                  secret.span)
        if secret is not None and not _defined("secret", secret.value):
            _fail(_no_secret(secret.value), secret.span)
        if secret is None and "password" not in values:
            _fail("CHAP username specified but no password was given", span)
    digest = options.get("header-digest")  # apply_header_digest()
    if digest is not None and digest.value not in ("crc32c", "none", "crc32c-none",
                                                   "none-crc32c"):
        _fail(f"Invalid header-digest setting : {digest.value}", digest.span)


# block/gluster.c qemu_gluster_parse(): the hint each way of naming the volume appends
_GLUSTER_USAGE_URI = ("Usage: file=gluster[+transport]://[host[:port]]volume/path"
                      "[?socket=...][,file.debug=N][,file.logfile=/path/filename.log]")
_GLUSTER_USAGE_JSON = (
    "Usage: -drive driver=qcow2,file.driver=gluster,file.volume=testvol,"
    "file.path=/path/a.qcow2[,file.debug=9][,file.logfile=/path/filename.log],"
    "file.server.0.type=inet,file.server.0.host=1.2.3.4,file.server.0.port=24007,"
    "file.server.1.transport=unix,file.server.1.path=/var/run/glusterd.socket ...")
_GLUSTER_SCHEMES = {"gluster": False, "gluster+tcp": False, "gluster+rdma": False,
                    "gluster+unix": True}  # scheme -> unix socket


def _gluster(options: Options, image: ProbeResult | None, span: Span) -> None:
    # block/gluster.c qemu_gluster_open() -> qemu_gluster_parse(): a file name is a URI,
    # else the volume, path and server.N.* options; then glfs_init() connects (not
    # predicted: qdrive connects nowhere).
    url = options.get("url") or options.get("filename")
    if url is not None:
        if not _gluster_uri_ok(url.value):
            _fail_detail(f"invalid URI {url.value}", _GLUSTER_USAGE_URI, span)
        return
    problem, hint = _gluster_json(options)
    if problem:
        _fail_detail(problem, f"{hint}{_GLUSTER_USAGE_JSON}", span)


def _gluster_uri_ok(uri: str) -> bool:
    """qemu_gluster_parse_uri() over util/uri.c uri_parse(): a known scheme, a path of
    /VOLUME/PATH, and a socket= query exactly when the transport is unix (which takes
    no host or port). An authority's port must be digits (RFC 3986)."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in _GLUSTER_SCHEMES:
        return False
    rest, _, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    host_port = authority.rpartition("@")[2]
    host, colon, port = host_port.rpartition(":") if not host_port.startswith("[") \
        else (host_port, "", "")
    if colon and port and not port.isdigit():
        return False
    host = host if colon else host_port
    volume, _, image = path.lstrip("/").partition("/")
    if not slash or not volume or not image.lstrip("/"):
        return False  # parse_volume_options()
    params = [p for p in query.replace(";", "&").split("&") if p]
    unix = _GLUSTER_SCHEMES[scheme]
    if len(params) > 1 or unix != bool(params):
        return False
    if unix:
        return not host and not (port and int(port)) and params[0].partition("=")[0] == "socket"
    return True


def _gluster_json(options: Options) -> tuple[str, str]:
    """qemu_gluster_parse_json(): QEMU's message and its index hint, or ("", "")."""
    count = _array_entries(options, "server.")
    if count < 1:
        return "Parameter 'server' is missing", ""
    for key in ("volume", "path"):
        if key not in options:
            return f"Parameter '{key}' is missing", ""
    from .._values import ValueProblem, parse_bool, parse_number

    for i in range(count):
        sub = {k[len(f"server.{i}."):]: e.value for k, e in options.items()
               if k.startswith(f"server.{i}.")}
        hint = f"hint: check in 'server' array index '{i}'\n"
        kind = sub.get("type")
        if kind is None:
            return "Parameter 'type' is missing", hint
        kind = "inet" if kind == "tcp" else kind
        if kind not in ("inet", "unix"):
            return "Parameter 'type' may be 'inet' or 'unix'", hint
        if kind == "unix":
            if "path" in sub and "socket" in sub:
                return "Conflicting parameters 'path' and 'socket'", hint
            if "path" not in sub and "socket" not in sub:
                return "Parameter 'path' is missing", hint
            continue
        try:  # runtime_inet_opts: to is a number, ipv4 and ipv6 booleans
            for key in ("to", "ipv4", "ipv6"):
                if key in sub:
                    (parse_number if key == "to" else parse_bool)(key, sub[key])
        except ValueProblem as p:
            return p.message, ""
        for key in ("host", "port"):
            if key not in sub:
                return f"Parameter '{key}' is missing", hint
        if "to" in sub:
            return "Parameter 'to' not supported", ""
        if "ipv4" in sub or "ipv6" in sub:
            return "Parameters 'ipv4/ipv6' not supported", ""
    return "", ""


def _array_entries(options: Options, prefix: str) -> int:
    """qobject/block-qdict.c qdict_array_entries(): how many of PREFIX0, PREFIX1, ...
    there are, each a key or a sub-dict but not both; -1 if a PREFIX key is left over."""
    handled = sum(1 for k in options if not k.startswith(prefix))
    i = 0
    while True:
        below = sum(1 for k in options if k.startswith(f"{prefix}{i}."))
        whole = f"{prefix}{i}" in options
        if below and whole:
            return -1
        if not below and not whole:
            break
        handled += below or 1
        i += 1
    return i if handled == len(options) else -1


_NBD_URI_SCHEMES = {"nbd": False, "nbd+tcp": False, "nbd+unix": True}  # -> unix socket


def nbd_filename(filename: str, keys: Iterable[str], span: Span) -> dict[str, str]:
    """block/nbd.c nbd_parse_filename(): the server.* and export options a file name
    gives, or Stop (while the file name is parsed, block.c bdrv_fill_options())."""
    from ._qdict import qdict_order

    for key in sorted(keys, key=qdict_order):  # nbd_has_filename_options_conflict()
        if key in ("host", "port", "path", "export") or key.startswith("server."):
            raise error("nbd-name", f"Option '{key}' cannot be used with a file name", span,
                        Stage.FILL)
    if "://" in filename:
        parsed = _nbd_uri(filename)
        if parsed is None:
            raise error("nbd-name", "No valid URL specified", span, Stage.FILL)
        return parsed
    found: dict[str, str] = {}
    name, sep, export = filename.partition(":exportname=")
    if sep and not export:
        return {}  # QEMU keeps nothing of the name then
    if sep:
        found["export"] = export
    if not name.startswith("nbd:"):
        raise error("nbd-name", "File name string for NBD must start with 'nbd:'", span,
                    Stage.FILL)
    spec = name[len("nbd:"):]
    if not spec:
        return found
    if spec.startswith("unix:"):
        return {**found, "server.type": "unix", "server.path": spec[len("unix:"):]}
    address = _inet_parse(spec)
    if address is None:  # util/qemu-sockets.c inet_parse()
        what = "port in address" if spec.startswith(":") else "IPv6 address" \
            if spec.startswith("[") else "address"
        raise error("nbd-name", f"error parsing {what} '{spec}'", span, Stage.FILL)
    return {**found, "server.type": "inet", "server.host": address[0],
            "server.port": address[1]}


def _inet_parse(spec: str) -> tuple[str, str] | None:
    """inet_parse()'s HOST:PORT (sscanf "%64[^:]:%32[^,]"; [V6]:PORT; :PORT)."""
    if spec.startswith("["):
        host, close, port = spec[1:].partition("]:")
        return (host, port) if close and host and port else None
    host, colon, port = spec.partition(":")
    if not colon or not port or len(host) > 64:
        return None
    return host, port


def _nbd_uri(uri: str) -> dict[str, str] | None:
    """nbd_parse_uri(): nbd[+tcp]://HOST[:PORT][/EXPORT], nbd+unix:///EXPORT?socket=PATH."""
    scheme, _, rest = uri.partition("://")
    if scheme not in _NBD_URI_SCHEMES:
        return None
    rest, _, query = rest.partition("?")
    authority, _, export = rest.partition("/")
    server, colon, port = authority.rpartition("@")[2].rpartition(":") \
        if "]" not in authority.rpartition(":")[2] else (authority, "", "")
    server = server if colon else authority.rpartition("@")[2]
    if colon and port and not port.isdigit():
        return None  # util/uri.c: a port is digits
    found = {"export": export} if export else {}
    params = [p for p in query.replace(";", "&").split("&") if p]
    unix = _NBD_URI_SCHEMES[scheme]
    if len(params) > 1 or unix != bool(params):
        return None
    if unix:
        name, _, path = params[0].partition("=")
        if server or (port and int(port)) or name != "socket":
            return None
        return {**found, "server.type": "unix", "server.path": path}
    if not server:
        return None
    host = server[1:-1] if server.startswith("[") else server
    return {**found, "server.type": "inet", "server.host": host,
            "server.port": str(int(port) if port and int(port) else 10809)}


def _nbd(options: Options, span: Span, probe: bool) -> None:
    # block/nbd.c nbd_process_options(): host/port/path become server.*, the address is
    # visited, then the TLS credentials; nbd_open() then connects: a Unix socket is
    # judged on the host (probing), a TCP address is not (qdrive connects nowhere).
    url = options.get("url")
    given = {k: e.value for k, e in options.items() if k != "url"}
    if url is not None:
        try:
            given = {**nbd_filename(url.value, (), span), **given}
        except Stop:
            pass  # reported while the file name was parsed
    legacy = {k: given.pop(k) for k in ("path", "host", "port") if k in given}
    if legacy and any(k.startswith("server.") for k in given):
        _fail("Cannot use 'server' and path/host/port at the same time", span)
    if "path" in legacy and "host" in legacy:
        _fail("path and host may not be used at the same time", span)
    if "path" in legacy and "port" in legacy:
        _fail("port may not be used without host", span)
    if "path" in legacy:
        given.update({"server.type": "unix", "server.path": legacy["path"]})
    elif "host" in legacy:
        given.update({"server.type": "inet", "server.host": legacy["host"],
                      "server.port": legacy.get("port", "10809")})
    server = {k[len("server."):]: v for k, v in given.items() if k.startswith("server.")}
    if not server:
        _fail("NBD server address missing", span)
    problem = _socket_address(server)
    if problem:
        _fail(problem, span)
    creds = options.get("tls-creds")
    if creds is not None:
        _fail(f"No TLS credentials with id '{creds.value}'", creds.span)
    if probe and server["type"] == "unix" and not is_true(server.get("abstract", "off")):
        refused = hostprobe.unix_connect_problem(server["path"])
        if refused:
            _fail(f"Failed to connect to '{server['path']}': {refused}", span)


# qapi/sockets.json SocketAddress: the members each type requires, then its optional ones
# (Debian's 7.2 is built for Linux with IPPROTO_MPTCP)
_SOCKET_MEMBERS = {"inet": (("host", "port"), ("numeric", "to", "ipv4", "ipv6",
                                               "keep-alive", "mptcp")),
                   "unix": (("path",), ("abstract", "tight")),
                   "vsock": (("cid", "port"), ()), "fd": (("str",), ())}


def _socket_address(server: Mapping[str, str]) -> str:
    """visit_type_SocketAddress() over the flat server.* options: the type, the members
    its branch requires, then visit_check_struct(): nothing else (values not typed)."""
    from ._qdict import ghash_order, qdict_order

    kind = server.get("type")
    if kind is None:
        return "Parameter 'type' is missing"
    if kind not in _SOCKET_MEMBERS:
        return f"Parameter 'type' does not accept value '{kind}'"
    required, optional = _SOCKET_MEMBERS[kind]
    missing = next((m for m in required if m not in server), None)
    if missing:
        return f"Parameter '{missing}' is missing"
    known = ("type", *required, *optional)
    walk = sorted(server, key=qdict_order)
    extra = [k for k in ghash_order(walk) or walk if k not in known]
    return f"Parameter '{extra[0]}' is unexpected" if extra else ""


def nvme_filename(filename: str, span: Span) -> None:
    """block/nvme.c nvme_parse_filename(): ``nvme://DEVICE[/NAMESPACE]``; a namespace that
    is not a decimal number is refused while the file name is parsed."""
    rest = filename.removeprefix("nvme://")
    if rest == filename or not rest or "/" not in rest:
        return
    namespace = rest.partition("/")[2]
    if namespace and not (namespace.isascii() and namespace.isdigit()
                          and int(namespace) < 1 << 64):
        raise error("nvme-name", f"Invalid namespace '{namespace}', positive number "
                    "expected", span, Stage.FILL)


def _nvme(options: Options, span: Span, probe: bool) -> None:
    # block/nvme.c nvme_file_open(): the PCI address (given, or parsed from nvme://...),
    # then nvme_init() opens VFIO's container (util/vfio-helpers.c), a host fact.
    url = options.get("url")
    parsed = url is not None and len(url.value) > len("nvme://") \
        and url.value.startswith("nvme://")
    if "device" not in options and not parsed:
        _fail("'device' option is required", span)
    from . import drivers  # as _rbd() does

    problem = hostprobe.vfio_container_problem(drivers.dialect().vfio_qemu_open) \
        if probe else ""
    if problem:
        _fail(problem, span)


_NFS_PARAMS = frozenset({"uid", "gid", "tcp-syncnt", "readahead", "pagecache", "debug"})
_NFS_CONFLICTS = frozenset({"host", "path", "user", "group", "tcp-syn-count",
                            "readahead-size", "page-cache-size", "debug"})
_SSH_CONFLICTS = frozenset({"host", "port", "path", "user", "host_key_check"})


def _first_conflict(keys: Iterable[str], names: frozenset[str]) -> str | None:
    """The first key (in QDict order) a file name may not come with: ``names`` or any
    server.* (block/nfs.c, ssh.c *_has_filename_options_conflict())."""
    from ._qdict import qdict_order

    return next((k for k in sorted(keys, key=qdict_order)
                 if k in names or k.startswith("server.")), None)


def _fill_fail(message: str, span: Span) -> NoReturn:
    raise error("protocol-name", message, span, Stage.FILL)


def nfs_filename(filename: str, keys: Iterable[str], span: Span) -> None:
    """block/nfs.c nfs_parse_filename() -> nfs_parse_uri(), while the file name is
    parsed (block.c bdrv_fill_options())."""
    from . import _uri

    conflict = _first_conflict(keys, _NFS_CONFLICTS)
    if conflict is not None:
        _fill_fail(f"Option {conflict} cannot be used with a filename", span)
    uri = _uri.parse(filename)
    if uri is None:
        _fill_fail("Invalid URI specified", span)
    if uri.scheme != "nfs":
        _fill_fail("URI scheme must be 'nfs'", span)
    if uri.server is None:
        _fill_fail("missing hostname in URI", span)
    if uri.path is None:
        _fill_fail("missing file path in URI", span)
    for name, value in _uri.query_params(uri.query):
        if value is None:
            _fill_fail(f"Value for NFS parameter expected: {name}", span)
        if not _parse_uint_full(value):
            _fill_fail(f"Illegal value for NFS parameter: {name}", span)
        if name not in _NFS_PARAMS:
            _fill_fail(f"Unknown NFS parameter name: {name}", span)


def _parse_uint_full(text: str) -> bool:
    """util/cutils.c parse_uint_full(text, base 0): spaces, no sign, all consumed."""
    digits = text.lstrip(" \t\n\v\f\r")
    if re.fullmatch(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*", digits) is None:
        return False
    return int(digits, 0) < 1 << 64 if digits[:2].lower() == "0x" or digits == "0" \
        or not digits.startswith("0") else int(digits, 8) < 1 << 64


def ssh_filename(filename: str, keys: Iterable[str], span: Span) -> None:
    """block/ssh.c ssh_parse_filename() -> parse_uri(); a URI uri_parse() refuses sets no
    error there (the open then misses its options)."""
    from . import _uri

    conflict = _first_conflict(keys, _SSH_CONFLICTS)
    if conflict is not None:
        _fill_fail(f"Option '{conflict}' cannot be used with a file name", span)
    uri = _uri.parse(filename)
    if uri is None:
        return
    if uri.scheme != "ssh":
        _fill_fail("URI scheme must be 'ssh'", span)
    if not uri.server:
        _fill_fail("missing hostname in URI", span)
    if not uri.path:
        _fill_fail("missing remote path in URI", span)


def rbd_filename(filename: str, span: Span) -> list[str]:
    """block/rbd.c qemu_rbd_parse_filename(): ``rbd:POOL/IMAGE[@SNAP][:KEY=VALUE...]``,
    its separators found by qemu_rbd_next_tok() (a backslash escapes the next
    character); the keys it passes to librados (``conf`` and ``id`` are QEMU's own)."""
    if not filename.startswith("rbd:"):
        _fill_fail("File name must start with 'rbd:'", span)
    pool, rest = _rbd_token(filename[len("rbd:"):], "/")
    if rest is None:
        _fill_fail("Pool name is required", span)
    _image, rest = _rbd_token(rest, ":")
    keys: list[str] = []
    while rest is not None:
        name, rest = _rbd_token(rest, "=")
        if rest is None:
            _fill_fail(f"conf option {_rbd_unescape(name)} has no value", span)
        _value, rest = _rbd_token(rest, ":")
        if _rbd_unescape(name) not in ("conf", "id"):
            keys.append(_rbd_unescape(name))
    return keys


def _rbd_token(text: str, delim: str) -> tuple[str, str | None]:
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            i += 2
            continue
        if text[i] == delim:
            return text[:i], text[i + 1:]
        i += 1
    return text, None


def _rbd_unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _file_posix(options: Options, image: ProbeResult | None, span: Span) -> None:
    manager = options.get("pr-manager")  # block/file-posix.c raw_open_common()
    if manager is not None:
        raise error("driver-open", f"No persistent reservation manager with id "
                    f"'{manager.value}'", manager.span, Stage.CHILD)


def _rbd(options: Options, image: ProbeResult | None, span: Span) -> None:
    """block/rbd.c: an ``rbd:`` file name as qemu_rbd_parse_filename() splits it, then
    the QAPI visit of the options, then qemu_rbd_connect()'s qemu_rbd_set_keypairs()."""
    url = options.get("url")
    keys = rbd_filename(url.value, url.span) if url is not None and \
        url.value.startswith("rbd:") else []
    _qapi("rbd")(options, image, span)
    from . import drivers

    refused = drivers.dialect().rbd_unknown_conf
    bad = next((k for k in keys if k in refused), None)
    if bad is not None:  # rados_conf_set() -ENOENT
        _fail(f"invalid conf option {bad}: No such file or directory", span)
