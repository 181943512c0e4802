"""Derive the property names of QEMU's -device models from the binary itself:

    python -m grammar.derive_device_props [--binary qemu-system-x86_64] [--out FILE]

writes ``grammar/qemu-7.2/device-properties.json`` (data, never edited by hand): for every
model ``-device help`` lists on a bus (the ones a -device option can create; aliases are
looked up through grammar/qemu-7.2/device-models.json), the names ``-device MODEL,help``
prints (``models``) and the type it prints for each (``types``: ``<uint32>``, ``<bool>``
..., the PropertyInfo name of hw/core/qdev-properties*.c). That help is
softmmu/qdev-monitor.c qdev_device_help() over qmp_device_list_properties(), which
makes an instance, so the properties a proxy aliases from its child (virtio-*-pci) are
there too. softmmu/qdev-monitor.c qemu_opt_foreach() sets the given ones in order and
stops at a name the object lacks: "Property 'MODEL.NAME' not found".
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["derive", "main"]

_LINE = re.compile(r"^  ([A-Za-z0-9_.-]+)=(?:<(.*?)>(?:\s|$))?")
_MODELS = Path(__file__).resolve().parent / "qemu-7.2" / "device-models.json"


def _props(binary: str, model: str) -> list[str] | None:
    typed = _typed_props(binary, model)
    return None if typed is None else sorted(typed)


def _typed_props(binary: str, model: str) -> dict[str, str] | None:
    proc = subprocess.run([binary, "-device", f"{model},help"], capture_output=True,
                          text=True, timeout=60, check=False, cwd="/")
    lines = proc.stdout.splitlines()
    if not lines or not lines[0].endswith("options:"):
        return None  # not creatable here (a module that is not installed, ...)
    return {m.group(1): m.group(2) or "" for x in lines[1:] if (m := _LINE.match(x))}


def derive(binary: str) -> dict[str, object]:
    models = json.loads(_MODELS.read_text("utf-8"))["models"]
    out: dict[str, list[str]] = {}
    types: dict[str, dict[str, str]] = {}
    for name, info in sorted(models.items()):
        if info.get("bus") is None or info.get("alias_of"):
            continue
        props = _typed_props(binary, name)
        if props is not None:
            out[name] = sorted(props)
            types[name] = dict(sorted(props.items()))
    version = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             check=False).stdout.splitlines()[0].strip()
    return {"derived_from": f"{binary} -device MODEL,help for each model on a bus",
            "qemu": version, "models": out, "types": types}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--binary", default="qemu-system-x86_64")
    p.add_argument("--out", default="grammar/qemu-7.2/device-properties.json")
    args = p.parse_args(argv)
    data = derive(args.binary)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {args.out}: {len(data['models'])} models", file=sys.stderr)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
