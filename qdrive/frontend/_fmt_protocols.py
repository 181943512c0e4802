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

from . import hostprobe, netprobe
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
    _curl_connect(scheme, options["url"].value, span)


def glib_notices(failure: Diagnostic) -> list[Diagnostic]:
    """block/curl.c curl_open(): a failure before the socket table exists jumps to
    out_noclean, whose curl_drop_all_sockets() and g_hash_table_destroy() get a NULL
    table; GLib's criticals reach util/error-report.c qemu_log_func(), which reports them
    with error_report() ("GLib: " and the function, no "warning:"), located, before the
    error itself. QEMU goes on, so they are notices of error severity, not the error.
    Only in the dialects whose curl driver still does it (Dialect.curl_glib_criticals)."""
    from . import drivers

    if not drivers.dialect().curl_glib_criticals:
        return []
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
    # before the connection (_iscsi_connect: made with probe_network only).
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
    _iscsi_connect(values["portal"], values["transport"], span)


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


def _gluster(options: Options, image: ProbeResult | None, span: Span,
             warnings: list[Diagnostic] | None = None) -> None:
    # block/gluster.c qemu_gluster_open() -> qemu_gluster_parse(): a file name is a URI,
    # else the volume, path and server.N.* options; then glfs_init() connects
    # (_gluster_connect: made with probe_network only).
    from . import drivers

    if "gluster" in drivers.dialect().deprecated_drivers and warnings is not None:
        warnings.append(Diagnostic("deprecated-driver", Severity.WARNING,
                                   "'gluster' is deprecated", span, Stage.NODE))
    url = options.get("url") or options.get("filename")
    if url is not None:
        if not _gluster_uri_ok(url.value):
            _fail_detail(f"invalid URI {url.value}", _GLUSTER_USAGE_URI, span)
        if url.value.startswith("gluster+rdma://") and warnings is not None:
            # qemu_gluster_parse_uri(): RDMA went with glusterfs 3.x's volfile transport
            warnings.append(Diagnostic("gluster-rdma", Severity.WARNING, "rdma feature is "
                                       "not supported, falling back to tcp", span, Stage.NODE))
        _gluster_connect(*_gluster_uri_servers(url.value), span)
        return
    problem, hint = _gluster_json(options)
    if problem:
        _fail_detail(problem, f"{hint}{_GLUSTER_USAGE_JSON}", span)
    _gluster_connect(options["volume"].value, options["path"].value,
                     _gluster_json_servers(options), span)


def _gluster_uri_ok(uri: str) -> bool:
    """qemu_gluster_parse_uri() over util/uri.c uri_parse(): a known scheme, a path of
    /VOLUME/PATH, and a socket= query exactly when the transport is unix (which takes
    no host or port). An authority's port must be digits (RFC 3986)."""
    from . import drivers

    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in _GLUSTER_SCHEMES or scheme not in drivers.protocols():
        return False  # a transport the release dropped (10.0: gluster+rdma) too
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
        if drivers.dialect().gluster_unix_empty_host and rest.startswith("/"):
            return False  # "//" then the path: an authority whose host is ""
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
    # visited, then the TLS credentials; nbd_open() then connects (nbd_connect() ->
    # socket_connect()): with probe_network qdrive connects too; without it a Unix
    # socket's name is judged on the host (probing), a TCP address not at all.
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
    if server["type"] == "inet":
        _inet_connect(server["host"], server["port"], "NBD", span)
    elif server["type"] == "unix":
        _unix_connect(server, "NBD", span, probe)
    else:  # vsock, fd: nothing of the host qdrive asks
        netprobe.not_checked(f"the {server['type']} address")


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
            from . import drivers

            word = drivers.dialect().nfs_bad_value
            _fill_fail(f"{word} value for NFS parameter: {name}", span)
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


def _rbd_key(filename: str) -> str | None:
    """The value of an ``rbd:`` name's key= pair (the last one: rados_conf_set() keeps
    it), unescaped; None without one."""
    _, rest = _rbd_token(filename[len("rbd:"):], "/")
    _, rest = _rbd_token(rest or "", ":")
    key = None
    while rest is not None:
        name, rest = _rbd_token(rest, "=")
        if rest is None:
            break
        value, rest = _rbd_token(rest, ":")
        if _rbd_unescape(name) == "key":
            key = _rbd_unescape(value)
    return key


def _ceph_key_ok(text: str) -> bool | None:
    """Whether librados can take ``text`` as a key (auth/Crypto.cc CryptoKey::decode():
    base64 of a __le16 type, an 8-byte utime, a __le16 length and the secret; AES needs
    16 bytes). None for a type qdrive does not know (a later Ceph's)."""
    import base64
    import binascii
    import struct

    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) < 12:
        return False
    kind, length = (int(struct.unpack_from("<H", raw, at)[0]) for at in (0, 10))
    if len(raw) < 12 + length:
        return False
    if kind == 0:  # CEPH_CRYPTO_NONE
        return True
    if kind == 1:  # CEPH_CRYPTO_AES
        return length == 16
    return None


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


def _ssh(options: Options, image: ProbeResult | None, span: Span) -> None:
    """block/ssh.c ssh_open(): the QAPI visit of the options, then connect_to_ssh()
    connects (inet_connect_saddr()) before libssh says a word."""
    _qapi("ssh")(options, image, span)
    host, port = _ssh_server(options)
    if host is not None:
        _inet_connect(host, port, "SSH", span)


def _nfs(options: Options, image: ProbeResult | None, span: Span) -> None:
    """block/nfs.c nfs_file_open(): the QAPI visit, then nfs_client_open() mounts."""
    _qapi("nfs")(options, image, span)
    host = _nfs_server(options)
    if host is not None:
        _nfs_connect(host, span)


# Options a driver's open takes out of its QDict by hand (no QemuOptsList or QAPI type
# lists them, so the derived tables do not): block/rbd.c qemu_rbd_open()'s legacy name
# of key-secret.
TAKEN_BY_OPEN: Mapping[str, tuple[str, ...]] = {"rbd": ("password-secret",)}


def _rbd(options: Options, image: ProbeResult | None, span: Span,
         warnings: list[Diagnostic] | None = None) -> None:
    """block/rbd.c: an ``rbd:`` file name as qemu_rbd_parse_filename() splits it, then
    the QAPI visit of the options (password-secret taken out before it), then
    qemu_rbd_connect()'s qemu_rbd_set_keypairs() and qemu_rbd_set_auth()."""
    url = options.get("url")
    keys = rbd_filename(url.value, url.span) if url is not None and \
        url.value.startswith("rbd:") else []
    legacy = options.get("password-secret")
    _qapi("rbd")({k: e for k, e in options.items() if k != "password-secret"}, image, span)
    if legacy is not None and "key-secret" in options:
        _fail("Legacy 'password-secret' clashes with 'key-secret'", span)
    from . import drivers

    refused = drivers.dialect().rbd_unknown_conf
    bad = next((k for k in keys if k in refused), None)
    if bad is not None:  # rados_conf_set() -ENOENT
        _fail(f"invalid conf option {bad}: No such file or directory", span)
    secret = legacy or options.get("key-secret")  # qemu_rbd_set_auth()
    if secret is not None and not _defined("secret", secret.value):
        _fail(_no_secret(secret.value), secret.span)
    named = "mon_host" in keys or any(k.startswith("server.") for k in options) \
        or "conf" in options or (url is not None and _rbd_conf_named(url.value))
    key = _rbd_key(url.value) if url is not None and "key" in keys else None
    if named and key is not None and drivers.dialect().ceph_key_decoded_first \
            and _ceph_key_ok(key) is False:
        # rados_connect(): the monitor map is built, then the key decoded, before any
        # monitor is contacted (-EINVAL for a key that is no CryptoKey)
        _fail("error connecting: Invalid argument", span)
    _rbd_monitors(named, span, warnings)


_CEPH_CONFS = ("/etc/ceph/ceph.conf", "~/.ceph/ceph.conf", "ceph.conf")  # librados's search


def _rbd_conf_named(filename: str) -> bool:
    """An ``rbd:`` name's conf=FILE (qemu_rbd_parse_filename() keeps it for QEMU)."""
    return re.search(r"(?<!\\):conf=", filename) is not None


def _rbd_monitors(named: bool, span: Span, warnings: list[Diagnostic] | None) -> None:
    """qemu_rbd_connect() -> rados_connect(). With monitors named (mon_host, server.N,
    a conf file) librados waits for them, and QEMU hangs while none answers: no connect
    of qdrive's could tell what QEMU would say. With none named and no ceph.conf where
    librados looks, it asks DNS for _ceph-mon._tcp SRV records (with probe_network, so
    does qdrive): without any, librados prints its line and the connect fails ENOENT."""
    import os

    unnamed = not named and not os.environ.get("CEPH_CONF") and not any(
        os.path.exists(os.path.expanduser(c)) for c in _CEPH_CONFS)
    if not unnamed or not netprobe.active():
        netprobe.note("not checked: QEMU's librados contacts the Ceph monitors at open and "
                      "waits while none answers (not probed)")
        return
    found = netprobe.srv_records("_ceph-mon._tcp")
    if found is None or found:
        netprobe.note("not checked: librados would take its monitors from DNS SRV records "
                      "(_ceph-mon._tcp)" if found else "not checked: no DNS server "
                      "answered for _ceph-mon._tcp")
        return
    if warnings is not None:  # ceph's MonMap::build_initial() prints it to stderr
        warnings.append(Diagnostic("rbd-no-monitors", Severity.WARNING, "unable to get "
                                   "monitor info from DNS SRV with service name: ceph-mon",
                                   span, Stage.NODE, located=False, marker=""))
    _net_fail("error connecting: No such file or directory", span)


# What each driver connects to first, and QEMU's words when that connect fails. The
# connects are made only inside an enabled netprobe session (check(probe_network=True));
# otherwise each leaves a note naming the endpoint.

def _net_fail(message: str, span: Span, detail: str = "") -> NoReturn:
    """The open fails at its connect (code ``net-connect``: no GLib lines before curl's,
    whose socket table exists by then)."""
    raise error("net-connect", message, span, Stage.NODE, detail)


def _inet_connect(host: str, port: str, driver: str, span: Span) -> None:
    """util/qemu-sockets.c inet_connect_saddr() (nbd's, ssh's socket): its two errors."""
    where = f"{host}:{port}"
    met = netprobe.tcp_if_probing(host, port)
    if met is None:
        return
    if met.resolve_error:  # inet_parse_connect_saddr()
        _net_fail(f"address resolution failed for {where}: {met.resolve_error}", span)
    if met.timed_out:
        netprobe.timed_out(where)
    elif met.error:  # inet_connect_addr()
        _net_fail(f"Failed to connect to '{where}': {met.strerror}", span)
    else:
        netprobe.connected(where, driver)


def _unix_connect(server: Mapping[str, str], driver: str, span: Span, probe: bool) -> None:
    """unix_connect_saddr(): a connect with probe_network (abstract names too); without
    it, with probe_files, the name judged on the host (hostprobe)."""
    path, abstract = server["path"], is_true(server.get("abstract", "off"))
    if netprobe.active():
        met = netprobe.unix(path, abstract, is_true(server.get("tight", "on")))
        if met.error:
            _net_fail(f"Failed to connect to '{path}': {met.strerror}", span)
        netprobe.connected(f"unix:{path}", driver)
        return
    refused = hostprobe.unix_connect_problem(path) if probe and not abstract else ""
    if refused:
        _fail(f"Failed to connect to '{path}': {refused}", span)
    netprobe.not_checked(f"the{' abstract' if abstract else ''} Unix socket '{path}'")


_CURL_PORTS = {"http": 80, "https": 443, "ftp": 21, "ftps": 990}  # libcurl's defaults
_CURL_PREFIX = "CURL: Error opening file: "  # block/curl.c curl_open()


def _curl_connect(scheme: str, url: str, span: Span) -> None:
    """block/curl.c curl_open() -> curl_easy_perform() of the size request: libcurl
    connects to the URL's host (or the proxy its environment names, as libcurl reads
    it) and reports curl_easy_strerror() with its error buffer."""
    host, port = _url_host_port(url, _CURL_PORTS[scheme])
    proxy = _curl_proxy(scheme, host)
    if proxy is not None:
        host, port = proxy
    where = f"{host}:{port}"
    met = netprobe.tcp_if_probing(host, port)
    if met is None:
        return
    if met.resolve_error:
        _net_fail(f"{_CURL_PREFIX}Could not resolve {'proxy' if proxy else 'host'}: {host}", span)
    if met.timed_out:
        netprobe.timed_out(where)
    elif met.error:
        from . import drivers

        text = drivers.dialect().curl_connect_failed.format(host=host, port=port, ms=met.ms)
        _net_fail(f"{_CURL_PREFIX}{text}", span)
    else:
        netprobe.connected(where, scheme.upper())


def _url_host_port(url: str, default: int) -> tuple[str, int]:
    """A URL's host (IPv6 brackets dropped, as libcurl names it) and port."""
    authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = hostport.partition(":")
    return host, int(port) if port.isdigit() else default


def _curl_proxy(scheme: str, host: str) -> tuple[str, int] | None:
    """libcurl's proxy from the environment (lib/url.c detect_proxy()): SCHEME_proxy
    (http_proxy in lower case only), then ALL_PROXY, unless NO_PROXY names the host."""
    import os

    names = [f"{scheme}_proxy"] + ([] if scheme == "http" else [f"{scheme.upper()}_PROXY"])
    value = next((os.environ[n] for n in (*names, "all_proxy", "ALL_PROXY")
                  if os.environ.get(n)), None)
    if value is None:
        return None
    skip = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    for entry in (e.strip().lstrip(".") for e in skip.split(",")):
        if entry == "*" or (entry and (host == entry or host.endswith(f".{entry}"))):
            return None
    if "://" not in value:
        value = f"http://{value}"
    return _url_host_port(value, 1080)


_ISCSI_FAILED = "iSCSI: Failed to connect to LUN : "  # block/iscsi.c iscsi_open()
RDMA_CM = "/dev/infiniband/rdma_cm"  # librdmacm's device: iSER's event channel


def _iscsi_connect(portal: str, transport: str, span: Span) -> None:
    """block/iscsi.c iscsi_open() -> libiscsi iscsi_full_connect_sync(): the portal's
    name is resolved, then the transport connects (iSER: an RDMA event channel first)."""
    host, port = _iscsi_portal(portal)
    where = f"{host}:{port}"
    if not netprobe.active():
        netprobe.not_checked(where)
        return
    met = netprobe.tcp(host, port) if host else netprobe.Outcome(resolve_error="empty")
    if met.resolve_error:  # iscsi_connect_async()
        _net_fail(f"{_ISCSI_FAILED}Failed to start full connect Invalid target:{host}  Can not "
              "resolv into IPv4/v6.", span)
    import os

    if transport == "iser":
        if not os.path.exists(RDMA_CM):  # iser_connect(): rdma_create_event_channel()
            _net_fail(f"{_ISCSI_FAILED}Failed to start full connect Couldn't connect transport: "
                  "Failed creating Event Channel", span)
        netprobe.not_checked(f"{where} over RDMA")
    elif met.timed_out:
        netprobe.timed_out(where)
    elif met.error:  # the socket's error ends the login's iscsi_service()
        _net_fail(f"{_ISCSI_FAILED}iscsi_service failed with : "
              "iscsi_service_reconnect_if_loggedin. Can not reconnect right now.", span)
    else:
        netprobe.connected(where, "iSCSI")


def _iscsi_portal(portal: str) -> tuple[str, int]:
    """libiscsi's portal: HOST[:PORT] or [V6][:PORT], port 3260 by default."""
    if portal.startswith("["):
        host, _, rest = portal[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, colon, port = portal.rpartition(":")
        host, port = (host, port) if colon and port.isdigit() else (portal, "")
    return host, int(port) if port.isdigit() else 3260


_GLUSTER_PORT = "24007"  # block/gluster.c GLUSTER_DEFAULT_PORT


def _gluster_uri_servers(uri: str) -> tuple[str, str, list[tuple[str, str]]]:
    """qemu_gluster_parse_uri(): the volume, the path and the one server ("unix", PATH)
    or (HOST, PORT), the host "localhost" when the URI names none."""
    scheme, _, rest = uri.partition("://")
    rest, _, query = rest.partition("?")
    authority, _, path = rest.partition("/")
    volume, _, image = path.lstrip("/").partition("/")
    if _GLUSTER_SCHEMES[scheme]:
        return volume, image.lstrip("/"), [("unix", query.partition("=")[2])]
    host, port = _url_host_port(f"x://{authority}", 0)
    return volume, image.lstrip("/"), [(host or "localhost", str(port or _GLUSTER_PORT))]


def _gluster_json_servers(options: Options) -> list[tuple[str, str]]:
    """qemu_gluster_parse_json()'s servers, in order: ("unix", PATH) or (HOST, PORT)."""
    servers = []
    for i in range(_array_entries(options, "server.")):
        sub = {k[len(f"server.{i}."):]: e.value for k, e in options.items()
               if k.startswith(f"server.{i}.")}
        if sub.get("type") == "unix":
            servers.append(("unix", sub.get("path") or sub.get("socket", "")))
        else:
            servers.append((sub["host"], sub["port"]))
    return servers


def _gluster_connect(volume: str, path: str, servers: list[tuple[str, str]],
                     span: Span) -> None:
    """qemu_gluster_glfs_init() -> glfs_init(): libgfapi tries each volfile server in
    turn; only when none answers does QEMU fail, naming every one of them."""
    wheres = [f"unix:{b}" if a == "unix" else f"{a}:{b}" for a, b in servers]
    if not netprobe.active():
        netprobe.not_checked(" or ".join(wheres))
        return
    hints = []
    for (host, port), where in zip(servers, wheres, strict=True):
        met = netprobe.unix(port) if host == "unix" else netprobe.tcp(host, port)
        if met.connected or met.timed_out:
            if met.connected:
                netprobe.connected(where, "Gluster")
            else:
                netprobe.timed_out(where)
            return
        hints.append(f"hint: failed on socket {port} " if host == "unix"
                     else f"hint: failed on host {host} and port {port} ")
    _net_fail(f"Gluster connection for volume {volume}, path {path} failed to connect", span,
              "".join(hints) + "Please refer to gluster logs for more info")


def _ssh_server(options: Options) -> tuple[str | None, str]:
    """The host and port block/ssh.c connects to: the file name's, host/port, or
    server.host/server.port; port 22 unless given."""
    from . import _uri

    url = options.get("url")
    if url is not None and url.value.startswith("ssh:"):
        uri = _uri.parse(url.value)
        if uri is None or not uri.server:
            return None, ""
        name = uri.server[1:-1] if uri.server.startswith("[") else uri.server
        return name, str(uri.port or 22)
    host = options.get("server.host") or options.get("host")
    port = options.get("server.port") or options.get("port")
    return (host.value if host else None), (port.value if port else "22")


_NFS_MOUNT_FAILED = "Failed to mount nfs share: "  # block/nfs.c nfs_client_open()
_PORTMAP = 111  # libnfs asks the server's portmapper for the MOUNT program first


def _nfs_server(options: Options) -> str | None:
    from . import _uri

    url = options.get("url")
    if url is not None and url.value.startswith("nfs:"):
        uri = _uri.parse(url.value)
        return uri.server if uri is not None else None
    host = options.get("server.host")
    return host.value if host is not None else None


def _nfs_connect(host: str, span: Span) -> None:
    """nfs_client_open() -> nfs_mount(): libnfs connects to the portmapper (port 111)."""
    where = f"{host}:{_PORTMAP}"
    met = netprobe.tcp_if_probing(host, _PORTMAP)
    if met is None:
        return
    if met.resolve_error:
        from . import drivers

        _net_fail(_NFS_MOUNT_FAILED + drivers.dialect().nfs_unresolved.format(host=host), span)
    if met.timed_out:
        netprobe.timed_out(where)
    elif met.error:  # nfs_service() meets the socket's error
        _net_fail(f"{_NFS_MOUNT_FAILED}nfs_service failed", span)
    else:
        netprobe.connected(where, "NFS")
