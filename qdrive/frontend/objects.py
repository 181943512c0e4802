"""-object secret, throttle-group, iothread, pr-manager-helper: parsing and creation.

Mirrors softmmu/vl.c object_option_parse() (QemuOpts with the implied key qom-type, or
JSON; then the ObjectOptions visit), qom/object_interfaces.c (ids), crypto/secret.c and
crypto/secret_common.c (data/file/format), block/throttle-groups.c (limit checks,
util/throttle.c throttle_is_valid) and scsi/pr-manager-helper.c (the socket is
connected when the object is made). Objects of other types are read for their id only.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from .._values import ID_EXPECTED, ID_HINT, id_wellformed

__all__ = ["ObjectError", "KNOWN", "parse_object", "create_object"]

# qapi/qom.json: the members qdrive checks, per qom-type (name -> kind).
_IOTHREAD = {"poll-max-ns": "int", "poll-grow": "int", "poll-shrink": "int",
             "aio-max-batch": "int", "thread-pool-min": "int", "thread-pool-max": "int"}
# (in the visit's order: SecretCommonProperties first, as qapi/qom.json has them)
_SECRET = {"loaded": "bool", "format": "fmt", "keyid": "str", "iv": "str", "data": "str",
           "file": "str"}
_THROTTLE_LIMITS = [f"{what}{op}{suffix}" for what in ("bps", "iops")
                    for op in ("-total", "-read", "-write")
                    for suffix in ("", "-max", "-max-length")] + ["iops-size"]
_THROTTLE = {"limits": "limits", **{f"x-{k}": "int" for k in _THROTTLE_LIMITS}}
KNOWN = {"iothread": _IOTHREAD, "secret": _SECRET, "throttle-group": _THROTTLE,
         "pr-manager-helper": {"path": "str!"}}


class ObjectError(ValueError):
    """An -object QEMU refuses; ``located`` says whether QEMU names the option."""

    def __init__(self, message: str, located: bool = True) -> None:
        super().__init__(message)
        self.located = located


def _split_opts(text: str) -> list[tuple[str, str | None]]:
    # util/qemu-option.c: ",," is a comma; a fragment without "=" is a flag (or the
    # implied qom-type when first).
    parts: list[tuple[str, str | None]] = []
    i, n = 0, len(text)
    while i <= n:
        buf = []
        while i < n:
            if text[i] == ",":
                if i + 1 < n and text[i + 1] == ",":
                    buf.append(",")
                    i += 2
                    continue
                break
            buf.append(text[i])
            i += 1
        item = "".join(buf)
        key, eq, value = item.partition("=")
        parts.append((key, value if eq else None))
        i += 1
    return parts


_ID_HINT = f"{ID_EXPECTED}\n{ID_HINT}"


def parse_object(text: str, seen_ids: set[str]) -> dict[str, Any]:
    """The object's properties (strings, or JSON values), or ObjectError (while parsing)."""
    if text.startswith("{"):
        from .jsonarg import JsonArgError, parse_json_object

        try:
            document = parse_json_object(text)
        except JsonArgError as exc:
            raise ObjectError(str(exc)) from None
        return _visit(document, seen_ids, json_mode=True)
    props: dict[str, Any] = {}
    for n, (key, value) in enumerate(_split_opts(text)):
        if value is None:
            if n == 0:
                key, value = "qom-type", key
            elif key.startswith("no"):
                key, value = key[2:], "off"
            else:
                value = "on"
        if key == "id":
            if not id_wellformed(value):
                raise ObjectError(_ID_HINT)
            if value in seen_ids:
                raise ObjectError(f"Duplicate ID '{value}' for object")
        props[key] = value
    if "qom-type" not in props:
        raise ObjectError("Parameter 'qom-type' is missing")
    return _visit(props, seen_ids, json_mode=False)


def _first_unprocessed(props: dict[str, Any], members: dict[str, str]) -> str:
    """The unknown key QEMU names: qapi/opts-visitor.c keeps the options in a GHashTable
    (opts_start_struct(): in command-line order, the id as a fake option last), removes
    each member the ObjectOptions visit reads, and names the first left
    (opts_check_struct(): "Invalid parameter")."""
    from ._ghash import StrTable

    table = StrTable([k for k in props if k != "id"] + (["id"] if "id" in props else []))
    for key in ("qom-type", "id", *members):
        table.pop(key, None)
    return next(iter(table))


def _first_unexpected(props: dict[str, Any], members: dict[str, str]) -> str:
    """JSON: the qobject input visitor's GHashTable of the object's keys, filled in QDict
    order (qobject_input_push()), less the members read; the first left."""
    from ._ghash import StrTable
    from ._qdict import in_qdict_order

    table = StrTable(in_qdict_order(list(props)))
    for key in ("qom-type", "id", *members):
        table.pop(key, None)
    return next(iter(table))


def _visit(props: dict[str, Any], seen_ids: set[str], json_mode: bool) -> dict[str, Any]:
    qom_type = props.get("qom-type")
    from .devices import object_types

    if str(qom_type) not in object_types():
        raise ObjectError(f"Parameter 'qom-type' does not accept value '{qom_type}'")
    if "id" not in props:
        raise ObjectError("Parameter 'id' is missing")
    if not isinstance(props["id"], str):  # qapi/qobject-input-visitor.c, type str
        raise ObjectError("Invalid parameter type for 'id', expected: string")
    members = KNOWN.get(str(qom_type))
    if members is None:
        from .devices import object_types

        if str(qom_type) not in object_types():
            raise ObjectError(f"Parameter 'qom-type' does not accept value '{qom_type}'")
        return props  # not judged here (qdrive does not know its members)
    unknown = [k for k in props if k not in ("qom-type", "id") and k not in members]
    for key, value in props.items():
        if key in ("qom-type", "id") or key in unknown:
            continue
        kind = members[key]
        if kind == "fmt" and value not in ("raw", "base64"):
            raise ObjectError(f"Parameter 'format' does not accept value '{value}'")
        if json_mode and kind.rstrip("!") in ("str", "fmt") and not isinstance(value, str):
            # qapi/qobject-input-visitor.c: the JSON value must already be a string
            raise ObjectError(f"Invalid parameter type for '{key}', expected: string")
        if kind == "int" and not json_mode and not _is_int(str(value)):
            raise ObjectError(f"Parameter '{key}' expects an int64 value")
    for key, kind in members.items():
        if kind.endswith("!") and key not in props:
            raise ObjectError(f"Parameter '{key}' is missing")
    if unknown and json_mode:  # qobject_input_check_struct(), after the members
        raise ObjectError(f"Parameter '{_first_unexpected(props, members)}' is unexpected")
    if unknown:  # opts_check_struct(), once every member was visited
        raise ObjectError(f"Invalid parameter '{_first_unprocessed(props, members)}'")
    return props


def _is_int(text: str) -> bool:
    try:
        int(text, 0)
    except ValueError:
        return False
    return True


def create_object(props: dict[str, Any], touch_files: bool = True,
                  secrets: dict[str, bytes] | None = None) -> str:
    """user_creatable_add_qapi(): what completing the object checks (unlocated errors).

    ``touch_files=False`` skips what reads a file or connects a socket. ``secrets``
    holds the secrets made so far (id -> value), for keyid=; a secret made here is
    added. Returns a note when a check could not be made (an encrypted secret without
    the optional ``cryptography`` package)."""
    kind = props.get("qom-type")
    if not touch_files and kind in ("secret", "pr-manager-helper"):
        return ""
    if kind == "secret":
        return _secret(props, {} if secrets is None else secrets)
    if kind == "throttle-group":
        _throttle(props)
    elif kind == "pr-manager-helper":
        _pr_helper(str(props["path"]))
    return ""


def _secret(props: dict[str, Any], secrets: dict[str, bytes]) -> str:
    # crypto/secret.c qcrypto_secret_load_data(): exactly one of data and file.
    if "data" in props and "file" in props:
        raise ObjectError("'data' and 'file' are mutually exclusive", located=False)
    if "file" in props:
        name = str(props["file"])
        try:
            with open(name, "rb") as f:
                value = f.read()
        except OSError as exc:
            raise ObjectError(f"Unable to read {name}: Failed to open file \u201c{name}\u201d: "
                              f"{exc.strerror}", located=False) from None
    elif "data" not in props:
        raise ObjectError("Either 'file' or 'data' must be provided", located=False)
    else:
        value = str(props["data"]).encode("utf-8", "surrogateescape")
    note = ""
    if "keyid" in props:
        plain = _decrypt(props, value, secrets)
        if plain is None:
            note = "encrypted secret not verified: install qdrive[crypto] (cryptography)"
            plain = b""
        value = plain
    elif props.get("format") == "base64":
        value = _base64(value)
    secrets[str(props["id"])] = value
    return note


def _base64(data: bytes) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ObjectError("Base64 data is not valid", located=False) from None


def _decrypt(props: dict[str, Any], data: bytes, secrets: dict[str, bytes]) -> bytes | None:
    """crypto/secret_common.c qcrypto_secret_decrypt(): AES-256-CBC with the key secret,
    then the padding check; None when the cryptography package is not installed."""
    keyid = str(props["keyid"])
    if keyid not in secrets:
        raise ObjectError(f"No secret with id '{keyid}'", located=False)
    key = secrets[keyid]
    if len(key) != 32:
        raise ObjectError("Key should be 32 bytes in length", located=False)
    if "iv" not in props:
        raise ObjectError("IV is required to decrypt secret", located=False)
    iv = _base64(str(props["iv"]).encode())
    if len(iv) != 16:
        raise ObjectError(f"IV should be 16 bytes in length not {len(iv)}", located=False)
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        return None
    cipher = _base64(data) if props.get("format") == "base64" else data
    if not cipher or len(cipher) % 16:
        raise ObjectError("Data size must be a multiple of the cipher block size",
                          located=False)
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = dec.update(cipher) + dec.finalize()
    pad = plain[-1]
    if pad > 16 or pad > len(plain):
        raise ObjectError(f"Incorrect number of padding bytes ({pad}) found on decrypted "
                          "data", located=False)
    return plain[:-pad]


def _throttle(props: dict[str, Any]) -> None:
    values: dict[str, int] = {}
    limits = props.get("limits")
    if isinstance(limits, dict):
        values.update({k: int(v) for k, v in limits.items() if _is_int(str(v))})
    if any(v < 0 for v in values.values()):
        raise ObjectError("Property values cannot be negative", located=False)
    for name, raw in props.items():  # throttle_group_set(), one x- property at a time
        key = name.removeprefix("x-")
        if name == key or key not in _THROTTLE_LIMITS or not _is_int(str(raw)):
            continue
        values[key] = value = int(str(raw), 0)
        if value < 0:
            raise ObjectError("Property values cannot be negative", located=False)
        if key.endswith("-max-length") and value > 0xFFFFFFFF:
            # QEMU 7.2's text, the missing space of its two joined literals included
            raise ObjectError(f"{name} value must be in therange [0, 4294967295]",
                              located=False)
    # throttle_group_obj_complete(): the whole configuration through throttle_is_valid(),
    # the check -drive's throttling.* options get too (burst lengths default to 1)
    from ..diagnostics import Span, Stop
    from .rules import check_throttling

    try:
        check_throttling({f"throttling.{k}": v for k, v in values.items()},
                         lambda key: Span(0, 0))
    except Stop as stop:
        raise ObjectError(stop.diagnostic.message, located=False) from None


def _pr_helper(path: str) -> None:
    # scsi/pr-manager-helper.c pr_manager_helper_initialize(): connects at creation.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as exc:
        raise ObjectError(f"Failed to connect to '{path}': {os.strerror(exc.errno or 0)}",
                          located=False) from None
    finally:
        s.close()


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
