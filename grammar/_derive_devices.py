"""grammar/qemu-X.Y/device-models.json from a QEMU binary's ``-device help`` and ``-object help``.

``models``: every name ``-device help`` lists (``name "virtio-blk-pci", bus PCI, alias
"virtio-blk"``), with its bus (null for none) and, for an alias, ``alias_of`` the name it
stands for; ``object_types``: the user-creatable types ``-object help`` lists. The binary
says what its build and the installed modules provide: a display device of a module
package that is not installed (Debian 13's qemu-system-modules-spice: qxl, qxl-vga) is
absent, as QEMU itself then refuses it ("'qxl' is not a valid device model name").
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

__all__ = ["device_models", "render"]

_NAME = re.compile(r'^name "([^"]+)"(?:, bus ([^,]+))?(?:, alias "([^"]+)")?')


def parse(device_help: str, object_help: str) -> dict[str, Any]:
    """The table from the two help texts."""
    models: dict[str, dict[str, str | None]] = {}
    for line in device_help.splitlines():
        m = _NAME.match(line)
        if m is None:
            continue
        name, bus, alias = m.groups()
        models[name] = {"bus": bus}
        if alias:
            models[alias] = {"alias_of": name, "bus": bus}
    objects = sorted(line.strip() for line in object_help.splitlines()[1:] if line.strip())
    return {"models": dict(sorted(models.items())), "object_types": objects}


def device_models(binary: str, version: str) -> dict[str, Any]:
    """Ask ``binary`` (run with no machine, no display) for both lists."""
    def ask(what: str) -> str:
        return subprocess.run([binary, what, "help"], capture_output=True, text=True,
                              check=True, timeout=60).stdout

    table = parse(ask("-device"), ask("-object"))
    # named as QEMU is, not after the wrapper (qemu-system-x86_64-10.0) that runs it
    return {"derived_from": "qemu-system-x86_64 -device help; qemu-system-x86_64 -object help",
            "qemu": version, **table}


def render(table: dict[str, Any]) -> str:
    """The file's text: sorted keys, one a line, as the 7.2 table was written."""
    return json.dumps(table, indent=0, sort_keys=True)
