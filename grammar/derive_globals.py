"""Derive what QEMU's -global check at machine creation says, from the binary itself:

    python -m qdrive.grammar.derive_globals [--binary qemu-system-x86_64] [--out FILE]

writes ``grammar/qemu-7.2/globals.json`` (data, never edited by hand) for
hw/core/qdev-properties.c qdev_prop_check_globals(), which runs once the machine and
the -device options are created and warns about each -global no object took:

* "global DRIVER.PROP has invalid class name" when DRIVER is no device class
  (object_class_by_name() finds no class, or one that is not a TYPE_DEVICE; a class of
  a module QEMU has not loaded counts as none);
* "global DRIVER.PROP=VALUE not used" when DRIVER is a device class that is not
  hotpluggable (DeviceClass.hotpluggable) and no object of it or of a subclass was made
  (``always_made``: the classes of objects every start makes, such as the migration
  object's, which take any global).

The facts are read by asking QEMU, not its sources: the candidate names are the device
types ``qom-list-types`` reports (abstract ones too, each with its parent); one start with
``-M none -nodefaults`` and a ``-global driver=T,property=qdrive-probe,value=1`` for every
candidate then answers, per candidate, which of the three cases it is (nothing is made
under -M none, so nothing takes a global). For each board (pc and q35 with and without
usb=on, isapc, microvm, as the oracle starts them: -nodefaults -accel tcg -S), a start
per class that is not
hotpluggable tells whether the board makes an object of it: the probe property exists
on no class, so a board object refuses the global ("can't apply global ... not found")
where an unmade class only warns.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Sequence

__all__ = ["derive", "main"]

BOARDS = ("pc", "pc,usb=on", "q35", "q35,usb=on", "isapc", "microvm")
_PROBE = "qdrive-probe"
_BASE = ("-nodefaults", "-display", "none", "-S", "-accel", "tcg")


def _run(binary: str, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run([binary, *args], input=stdin, capture_output=True, text=True,
                          timeout=120, check=False, cwd="/")
    return proc.stdout + proc.stderr


def _types(binary: str) -> dict[str, str | None]:
    """Every device type QEMU lists (abstract ones too), with its parent type."""
    script = "".join(json.dumps(c) + "\n" for c in (
        {"execute": "qmp_capabilities"},
        {"execute": "qom-list-types", "arguments": {"implements": "device",
                                                     "abstract": True}},
        {"execute": "quit"}))
    out = _run(binary, "-M", "none", *_BASE, "-qmp", "stdio", stdin=script)
    for line in out.splitlines():
        try:
            reply = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(reply, dict) and isinstance(reply.get("return"), list) and \
                reply["return"] and "name" in reply["return"][0]:
            return {t["name"]: t.get("parent") for t in reply["return"]}
    raise SystemExit(f"derive_globals: {binary} listed no device types")


_QUIT = "".join(json.dumps(c) + "\n" for c in ({"execute": "qmp_capabilities"},
                                              {"execute": "quit"}))


def _probe_args(names: Sequence[str]) -> list[str]:
    return [a for n in names for a in ("-global", f"driver={n},property={_PROBE},value=1")]


def _start(binary: str, *args: str) -> str:
    """One start that stops at once (QMP quit once the machine is made)."""
    return _run(binary, *args, "-qmp", "stdio", stdin=_QUIT)


_REFUSED = re.compile(rf"can't apply global (\S+)\.{_PROBE}=1: ")


def _classify(binary: str, names: Sequence[str]) -> tuple[set[str], set[str], set[str]]:
    """(no device class, device class not hotpluggable, made even under -M none), from
    the warnings of one start; a class of an object every start makes (the migration
    object is a device) refuses the probe and stops QEMU, so it is set aside and the
    start made again without it."""
    left, always = list(names), set()
    while True:
        out = _start(binary, "-M", "none", *_BASE, *_probe_args(left))
        refused = _REFUSED.search(out)
        if refused is None:
            break
        always.add(refused.group(1))
        left.remove(refused.group(1))
    invalid = set(re.findall(rf"warning: global (\S+)\.{_PROBE} has invalid class name", out))
    unused = set(re.findall(rf"warning: global (\S+)\.{_PROBE}=1 not used", out))
    return invalid, unused, always


def _board_made(binary: str, board: str, name: str) -> bool:
    out = _start(binary, "-M", board, *_BASE, *_probe_args([name]))
    return f"{_PROBE}' not found" in out or "can't apply global" in out


def derive(binary: str) -> dict[str, object]:
    types = _types(binary)
    invalid, unused, always = _classify(binary, sorted(types))
    devices = {n: p for n, p in types.items() if n not in invalid}
    boards = {b: sorted(n for n in sorted(unused) if _board_made(binary, b, n))
              for b in BOARDS}
    return {"derived_from": f"{binary}: qom-list-types implements=device abstract=true; "
                            f"-M none with -global driver=T,property={_PROBE},value=1 per "
                            "type; -M BOARD (-nodefaults -accel tcg) per class not "
                            "hotpluggable",
            "qemu": _run(binary, "--version").splitlines()[0].strip(),
            "device_types": dict(sorted(devices.items())),
            "not_hotpluggable": sorted(unused),
            "always_made": sorted(always),
            "board_objects": boards}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", default="qemu-system-x86_64")
    p.add_argument("--out", default="grammar/qemu-7.2/globals.json")
    args = p.parse_args(argv)
    data = derive(args.binary)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
