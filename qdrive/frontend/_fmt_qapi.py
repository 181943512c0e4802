"""The QAPI visits a driver's open makes of its own options (qapi/block-core.json).

Drivers that parse their options with a QAPI visitor rather than QemuOpts
(block/ssh.c, block/rbd.c, block/copy-before-write.c, block/blkdebug.c ...) refuse
a member the schema does not have and a missing required one the way
qapi/qobject-input-visitor.c words it; ssh's legacy host_key_check= is turned into
its QAPI form first (block/ssh.c ssh_process_legacy_options()).
"""

from __future__ import annotations

from typing import Any, TYPE_CHECKING

from ._fmt_common import Check, Options, _fail
from ..diagnostics import Span

if TYPE_CHECKING:
    from ..probe import ProbeResult


def _qapi(driver: str) -> Check:
    """Drivers that read their options with a QAPI visitor (block/nfs.c, rbd.c, ssh.c:
    qobject_input_visitor_new_flat_confused() over the node's remaining options)."""
    def check(options: Options, image: ProbeResult | None, span: Span) -> None:
        from ..options import NODE_KEYS
        from . import drivers

        own = {k: e for k, e in options.items() if k not in NODE_KEYS and k != "filename"}
        name = own.pop("url", None) if driver == "ssh" else None
        if name is not None:  # ssh_parse_filename() put the URL's options in
            parsed = _ssh_uri_options(name.value, span)
            if parsed is None:
                return
            own = {**parsed, **own}
        elif driver == "ssh":
            pass  # filename= as an option is not parsed: the visit misses server
        elif "url" in own or "filename" in options:
            return  # a URL file name: bdrv_parse_filename() makes the options
        if driver == "ssh":
            own = _ssh_legacy(own, span)
        for key in own:  # qdict_crumple(): "a" and "a.b" cannot both be given
            head = key.split(".")[0]
            if head != key and head in own:
                _fail("Cannot mix scalar and non-scalar keys", own[key].span)
        members = drivers.qapi_struct(drivers.qapi_type(driver))
        heads = {k.split(".")[0] for k in own}
        _visit(members, own, "", span)
        if own:
            _first_unexpected(own, heads, {m["name"] for m in members}, span)
    return check


def _first_unexpected(own: dict[str, Any], heads: set[str], members: set[str],
                      span: Span) -> None:
    """qobject_input_check_struct() over what the visit left: a key under a member
    struct was named when that struct's visit ended (its flat name); a top-level one is
    the first the visitor's GHashTable still holds (qobject_input_push() fills it with
    the crumpled dict's keys in QDict order; qdrive.frontend._ghash), named without
    what lies below it."""
    from ._ghash import StrTable
    from ._qdict import in_qdict_order, qdict_order

    nested = [k for k in own if "." in k and k.split(".")[0] in members]
    if nested:
        key = min(nested, key=lambda k: (qdict_order(k), own[k].seq))
        _fail(f"Parameter '{key}' is unexpected", own[key].span)
    table = StrTable(in_qdict_order(list(heads)))
    for head in heads - {k.split(".")[0] for k in own}:
        table.pop(head)
    first = next(iter(table))
    entry = own.get(first) or own[min(k for k in own if k.split(".")[0] == first)]
    _fail(f"Parameter '{first}' is unexpected", entry.span)


def _ssh_uri_options(filename: str, span: Span) -> dict[str, Any] | None:
    """block/ssh.c parse_uri(): the options an ssh:// file name stands for (user,
    server.host, server.port, path and a host_key_check query parameter; others are
    ignored), or None when it is not one (ssh_filename() reports a bad one)."""
    from . import _uri
    from ._fmt_common import synthetic

    uri = _uri.parse(filename)
    if uri is None or uri.scheme != "ssh" or not uri.server or not uri.path:
        return None
    out = {"server.host": uri.server, "server.port": str(uri.port or 22), "path": uri.path}
    if uri.user:
        out["user"] = uri.user
    for name, value in _uri.query_params(uri.query):
        if name == "host_key_check" and value is not None:
            out["host_key_check"] = value
    return {k: synthetic(k, v, span) for k, v in out.items()}


_HOST_KEY_CHECKS = {"no": {"mode": "none"}, "yes": {"mode": "known_hosts"},
                    **{f"{t}:": {"mode": "hash", "type": t} for t in ("md5", "sha1", "sha256")}}


def _ssh_legacy(own: dict[str, Any], span: Span) -> dict[str, Any]:
    """block/ssh.c ssh_process_legacy_options(): host, port and host_key_check become
    server.* and host-key-check.*, before the QAPI visit of what is left."""
    host, port, check = (own.pop(k, None) for k in ("host", "port", "host_key_check"))
    if host is None and port is not None:
        _fail("port may not be used without host", span)
    left = dict(own)
    if host is not None:  # their values are strings to the visitor: any will do
        left["server.host"] = host
        left["server.port"] = port or host
    if check is not None:
        from ._fmt_common import synthetic

        prefix = next((p for p in _HOST_KEY_CHECKS if check.value == p
                       or (p.endswith(":") and check.value.startswith(p))), None)
        if prefix is None:
            _fail(f"unknown host_key_check setting ({check.value})", span)
        values = dict(_HOST_KEY_CHECKS[prefix])
        if prefix.endswith(":"):
            values["hash"] = check.value[len(prefix):]
        for member, value in values.items():  # the QDict entries it puts in their place
            left[f"host-key-check.{member}"] = synthetic(f"host-key-check.{member}", value,
                                                         check.span)
    return left


def _visit(members: list[dict[str, Any]], own: dict[str, Any], prefix: str,
           span: Span) -> None:
    """Visit the struct's members in order, consuming ``own``'s keys as QAPI would."""
    from . import drivers

    for member in members:
        name = prefix + member["name"]
        nested = isinstance(member["type"], str) and drivers.qapi_struct(member["type"])
        union = _qapi_type(member["type"]) if isinstance(member["type"], str) else {}
        if union.get("meta") == "union" and any(k.startswith(name + ".") for k in own):
            _visit_union(union, own, name + ".", span)
            continue
        if nested:
            inner = [k for k in own if k.startswith(name + ".")]
            if not inner:
                if not member["optional"]:
                    _fail(f"Parameter '{name}' is missing", span)
                continue
            _visit(nested, own, name + ".", span)
            continue
        if isinstance(member["type"], list) or (isinstance(member["type"], str) and any(
                k.startswith(name + ".") for k in own)):
            for k in [k for k in own if k.startswith(name + ".")]:
                del own[k]
            continue
        if name in own:
            values = {v["name"] for v in union.get("values", [])} \
                if union.get("meta") == "enum" else None
            if values and own[name].value not in values:  # input_type_enum()
                _fail(f"Parameter '{member['name']}' does not accept value "
                      f"'{own[name].value}'", own[name].span)
            problem = scalar_problem(name, member["name"], member["type"],
                                     str(own[name].value)) \
                if isinstance(member["type"], str) else ""
            if problem:  # the flat-confused visitor reads numbers and booleans from text
                _fail(problem, own[name].span)
            del own[name]
        elif not member["optional"]:
            _fail(f"Parameter '{name}' is missing", span)


def _visit_union(union: dict[str, Any], own: dict[str, Any], prefix: str,
                 span: Span) -> None:
    """A flat union member (SshHostKeyCheck): its base members, the discriminator
    among them and required, then the members of the variant its value picks."""
    from . import drivers

    members = list(union.get("members", []))
    _visit(members, {k: v for k, v in own.items()}, prefix, span)  # missing members
    tag = own.get(prefix + union["discriminator"])
    kind = next((m["type"] for m in members if m["name"] == union["discriminator"]), None)
    values = {v["name"] for v in _qapi_type(kind).get("values", [])} if kind else set()
    if tag is not None and values and tag.value not in values:
        _fail(f"Parameter '{union['discriminator']}' does not accept value '{tag.value}'",
              tag.span)
    for m in members:
        own.pop(prefix + m["name"], None)
    variant = next((v["type"] for v in union.get("variants", [])
                    if tag is not None and v["case"] == tag.value), None)
    if variant:
        _visit(drivers.qapi_struct(variant), own, prefix, span)
    _unexpected(own, prefix, span)


def _qapi_type(name: str) -> dict[str, Any]:
    from . import drivers

    return dict(drivers._tables()[1]["types"].get(name) or {})


def _unexpected(own: dict[str, Any], prefix: str, span: Span) -> None:
    """qobject_input_check_struct(): a key the struct did not visit."""
    left = [k for k in own if k.startswith(prefix)]
    if left:
        from ._qdict import qdict_order

        key = min(left, key=lambda k: (qdict_order(k), own[k].seq))
        _fail(f"Parameter '{key}' is unexpected", own[key].span)


def _visit_ref(own: dict[str, Any], name: str, optional: bool, span: Span) -> None:
    """A BlockdevRef member: a node's name (a string) or a BlockdevOptions dict."""
    if name in own:
        del own[name]
        return
    if not any(k.startswith(name + ".") for k in own):
        if not optional:
            _fail(f"Parameter '{name}' is missing", span)
        return
    _visit_blockdev(own, name + ".", span)


def _visit_blockdev(own: dict[str, Any], prefix: str, span: Span) -> None:
    """visit_type_BlockdevOptions() over flat keys: the discriminator, the base members,
    the driver's own struct, then the check for keys left over."""
    from . import drivers

    driver = own.pop(prefix + "driver", None)
    if driver is None:
        _fail(f"Parameter '{prefix}driver' is missing", span)
    names = {v["name"] for v in _qapi_type("BlockdevDriver").get("values", [])}
    if driver.value not in names:  # visit_type_enum() names the member, not its path
        _fail(f"Parameter 'driver' does not accept value '{driver.value}'", driver.span)
    base = [m for m in _qapi_type("BlockdevOptions").get("members", [])
            if m["name"] != "driver"]
    _visit_members(own, prefix, base + drivers.qapi_struct(drivers.qapi_type(driver.value)),
                   span)
    _unexpected(own, prefix, span)


def _visit_members(own: dict[str, Any], prefix: str, members: list[dict[str, Any]],
                   span: Span, scalars: bool = False) -> None:
    """``scalars``: the visit reads integers and booleans from their text too (the
    keyval rules of qobject_input_visitor_new_flat_confused(); copy-before-write)."""
    for member in members:
        name, kind = prefix + member["name"], member["type"]
        inner = [k for k in own if k.startswith(name + ".")]
        if kind in ("BlockdevRef", "BlockdevRefOrNull"):
            _visit_ref(own, name, member["optional"], span)
            continue
        if scalars and name in own and isinstance(kind, str):
            problem = scalar_problem(name, member["name"], kind, str(own[name].value))
            if problem:
                _fail(problem, own[name].span)
        meta = _qapi_type(kind).get("meta") if isinstance(kind, str) else None
        if meta == "struct" and name not in own:
            if inner:
                from . import drivers

                _visit_members(own, name + ".", drivers.qapi_struct(kind), span, scalars)
                _unexpected(own, name + ".", span)
            elif not member["optional"]:
                _fail(f"Parameter '{name}' is missing", span)
            continue
        if meta == "enum" and name in own:
            values = {v["name"] for v in _qapi_type(kind).get("values", [])}
            if own[name].value not in values:
                _fail(f"Parameter '{member['name']}' does not accept value "
                      f"'{own[name].value}'", own[name].span)
        if name not in own and not inner and not member["optional"]:
            _fail(f"Parameter '{name}' is missing", span)
        own.pop(name, None)
        for k in inner:
            del own[k]


_INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "uint8": 8, "uint16": 16, "uint32": 32}


def scalar_problem(full: str, name: str, kind: str, text: str) -> str:
    """qapi/qobject-input-visitor.c's keyval readers of one member's text: the number
    (qemu_strtoi64/qemu_strtou64, base 0) under its full dotted name, then the range
    the narrower visit_type_*() checks under the member's own name; booleans."""
    from .._values import _FALSE, _TRUE, strtoull

    if kind == "bool":
        return "" if text in _TRUE or text in _FALSE else \
            f"Parameter '{full}' expects 'on' or 'off'"
    if kind not in ("int", "int64", "uint64", "size") and kind not in _INT_BITS:
        return ""
    if kind == "size":
        return ""  # qemu_strtosz: read by the typed checks of the size options
    signed = not kind.startswith("u")
    body = text.lstrip(" \t\n\v\f\r")
    negative = body.startswith("-")
    value, rest, overflow = strtoull(text)
    if value is None or rest or overflow:
        return f"Parameter '{full}' expects integer"
    if signed:
        value = -((-value) % 2**64) if negative else value
        if value >= 2**63 or value < -2**63:
            return f"Parameter '{full}' expects integer"
    bits = _INT_BITS.get(kind)
    if bits is None:
        return ""
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not low <= value <= high:
        return f"Parameter '{name}' expects {kind}_t"
    return ""
