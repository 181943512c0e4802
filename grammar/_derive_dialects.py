"""The behaviour section of grammar/qemu-versions.md: what the Dialect objects override.

The derived tables' diff (``_derive_diff``) lists what each version's drivers and schema
offer; what a release *says* differently (a message, an order of checks, a warning) is
data on its Dialect (qdrive/dialect.py). This module lists every Dialect attribute whose
value differs from the release before, each with its note from
grammar/_version_notes.py BEHAVIOUR; a difference without a note, or a note without a
difference, is reported so the versions test fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from qdrive.dialect import REGISTRY, Dialect

__all__ = ["differences", "render"]

# qdrive's own bookkeeping, not something QEMU says: names, where the tables come from
# (the summary table says it), and which dialects qdrive has verified -blockdev with
_NOT_BEHAVIOUR = frozenset({"name", "version", "description", "tables", "device_tables",
                            "translatable", "command_line", "legacy"})

Difference = tuple[str, str, str, str]  # (old release, new release, attribute, change)


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ".".join(map(str, value))
    if hasattr(value, "name") and hasattr(value, "value"):  # an enum member
        return str(value.name)
    return repr(value) if isinstance(value, str) else str(value)


def _flat(value: Any) -> set[str] | None:
    """A set or a mapping of sets/mappings as "KEY: ITEM" strings (None: not one)."""
    if isinstance(value, frozenset | set):
        return {str(v) for v in value}
    if isinstance(value, Mapping):
        out: set[str] = set()
        for key, inner in value.items():
            items = inner.keys() if isinstance(inner, Mapping) else inner
            out |= {f"{key}: {item}" for item in items}
        return out
    return None


def _change(old: Any, new: Any) -> str:
    a, b = _flat(old), _flat(new)
    if a is not None and b is not None:
        parts = [f"+{x}" for x in sorted(b - a)] + [f"-{x}" for x in sorted(a - b)]
        return ", ".join(parts)
    return f"{_show(old)} → {_show(new)}"


def differences(registry: Mapping[str, Dialect] = REGISTRY) -> list[Difference]:
    """Each behaviour attribute that differs between consecutive releases (by version)."""
    releases = sorted((d for d in registry.values() if d.version is not None),
                      key=lambda d: d.version or (0, 0))
    out = []
    for old, new in zip(releases, releases[1:], strict=False):
        for field in attrs.fields(Dialect):
            if field.name in _NOT_BEHAVIOUR:
                continue
            a, b = getattr(old, field.name), getattr(new, field.name)
            if a != b:
                out.append((old.machine_version or "", new.machine_version or "", field.name,
                            _change(a, b)))
    return out


def render(notes: Mapping[tuple[str, str, str], str]) -> tuple[list[str], list[str]]:
    """The section's lines, and the problems: differences without a note and notes that
    explain no difference."""
    found = differences()
    lines = ["", "## Behaviour: what each release's Dialect overrides", "",
             "The attributes of qdrive/dialect.py whose value differs from the release "
             "before:", "what the release prints or checks differently, and the QEMU "
             "change behind it.", "",
             "| from | to | attribute | change | why |", "|---|---|---|---|---|"]
    problems = []
    for old, new, name, change in found:
        why = notes.get((old, new, name), "")
        if not why:
            problems.append(f"no note for {old} → {new} {name}")
        cells = (old, new, f"`{name}`", change, why)
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ")
                                       for c in cells) + " |")
    keys = {(old, new, name) for old, new, name, _ in found}
    problems += [f"note without a difference: {k}" for k in notes if k not in keys]
    return lines, problems
