"""The JSON contract of ``qdrive check --json`` (and ``CheckResult.to_json()``).

Versioned by :data:`SCHEMA_VERSION`; the shape is written down as a JSON Schema in
``qdrive/schema/check.schema.json`` (shipped in the wheel) and every JSON output of the
CLI tests is validated against it. Changes are additive within a version: a field is
never removed or retyped without a new version number.

Each error and warning is one object::

    {"code", "severity", "message", "detail", "hint", "key", "start", "end"}

``message`` is QEMU's first line without its ``WARNING:`` marker, ``detail`` QEMU's
extra lines, ``hint`` qdrive's suggestion, ``key`` the option the span covers (or null),
``start``/``end`` the span's character offsets in the drive's text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..diagnostics import Diagnostic

if TYPE_CHECKING:
    from .results import CheckResult, DriveResult

__all__ = ["SCHEMA_VERSION", "diagnostic_json", "drive_json", "check_json", "schema"]

SCHEMA_VERSION = 1


def _key(text: str, d: Diagnostic) -> str | None:
    """The option name under the span (``aio`` for ``aio=native``), if the span is one."""
    if not d.located or d.span.width <= 0 or d.span == (0, len(text)) and "," in text:
        return None
    part = text[d.span.start:d.span.end]
    key = part.split("=", 1)[0]
    return key if key and "," not in key else None


def diagnostic_json(text: str, d: Diagnostic) -> dict[str, Any]:
    """One error or warning as its JSON object."""
    # the marker QEMU prints before a bare warning (Diagnostic.marker) stays out of the
    # message; qemu_stderr carries QEMU's exact line
    return {"code": d.code, "severity": str(d.severity), "message": d.message,
            "detail": d.detail, "hint": d.hint, "key": _key(text, d),
            "start": d.span.start, "end": d.span.end}


def drive_json(r: DriveResult, legacy: dict[str, Any]) -> dict[str, Any]:
    """A drive's JSON: the 0.1 fields (``legacy``) with errors and warnings as objects."""
    out = dict(legacy)
    out["option"] = r.option
    out["error"] = diagnostic_json(r.text, r.error) if r.error is not None else None
    out["warnings"] = [diagnostic_json(r.text, w) for w in r.warnings]
    return out


def check_json(result: CheckResult, drives: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole result's JSON; ``drives`` are the drives' objects in order."""
    first = result.first_error
    first_json = None
    if first is not None:
        r, d = first
        first_json = {"drive": result.drives.index(r), **diagnostic_json(r.text, d)}
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "ok": result.ok,
                           "dialect": result.dialect, "first_error": first_json,
                           "qemu_stderr": result.qemu_stderr(), "drives": drives}
    return out


def schema() -> dict[str, Any]:
    """The JSON Schema of the check output (qdrive/schema/check.schema.json)."""
    import json
    from importlib import resources

    text = resources.files("qdrive.schema").joinpath("check.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
