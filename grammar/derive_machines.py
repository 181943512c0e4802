"""Derive the -machine properties QEMU accepts from the binary itself:

    python -m qdrive.grammar.derive_machines [--binary qemu-system-x86_64] [--out FILE]

writes ``grammar/qemu-7.2/machine-properties.json`` (data, never edited by hand): for the
pc and q35 machines, the QOM type name (``pc-i440fx-7.2-machine``), the properties that
exist on the machine object when softmmu/vl.c qemu_apply_machine_options() sets them and
the kinds of those whose values QEMU checks as it sets them (bool, OnOffAuto, size, int),
and the NIC models ``-nic ...,model=help`` lists for the board;
and ``nic_models``: the models of ``-device help``'s "Network devices" (aliases too) that
have a ``netdev`` property (the NICs that net/net.c net_check_clients() looks at), each
name mapped to its model's QOM type.

Those are the class properties ``-machine TYPE,help`` lists plus the ones an instance
adds while it is initialised (nvdimm, hmat, the pflash0/pflash1 aliases of
hw/i386/pc_sysfw.c, ...). The latter are found by asking a running QEMU for the machine's
properties (QMP qom-list /machine, children left out) and then starting QEMU once per
candidate with ``-machine TYPE,NAME=zz``: a property that does not exist yet at that point
is refused with "Property 'TYPE.NAME' not found", any other answer means it exists.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Sequence

__all__ = ["derive", "main"]

MACHINES = ("pc", "q35")
_HELP_LINE = re.compile(r"^  ([A-Za-z0-9_.-]+)=")


def _run(binary: str, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run([binary, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=False, cwd="/")
    return proc.stdout + proc.stderr


_HELP_TYPE = re.compile(r"^  ([A-Za-z0-9_.-]+)=<([^>]+)>")
# The help's property types whose values the QAPI visitors of qom/object.c
# object_set_properties_from_keyval() refuse with a message of their own: bool
# (qapi/qobject-input-visitor.c "expects 'on' or 'off'"), OnOffAuto (an enum: "does not
# accept value"), size ("expects size") and integers ("expects integer").
_KINDS = {"bool": "bool", "OnOffAuto": "OnOffAuto", "size": "size", "int": "int",
          "uint64_t": "int", "uint32_t": "int", "uint8_t": "int", "uint16_t": "int"}


def _help(binary: str, machine: str) -> tuple[str, set[str], dict[str, str]]:
    """The QOM type (the help's first line: ``pc-i440fx-7.2-machine options:``), the
    class properties and the kinds of those whose values are checked."""
    lines = _run(binary, "-machine", f"{machine},help").splitlines()
    qom = lines[0].split()[0]
    kinds = {m.group(1): _KINDS[m.group(2)] for x in lines[1:]
             if (m := _HELP_TYPE.match(x)) and m.group(2) in _KINDS}
    return qom, {m.group(1) for x in lines[1:] if (m := _HELP_LINE.match(x))}, kinds


def _instance(binary: str, machine: str) -> set[str]:
    """The machine object's properties once running, its child<> objects left out."""
    script = "".join(json.dumps(c) + "\n" for c in (
        {"execute": "qmp_capabilities"},
        {"execute": "qom-list", "arguments": {"path": "/machine"}},
        {"execute": "quit"}))
    out = _run(binary, "-machine", machine, "-S", "-display", "none", "-nodefaults",
               "-qmp", "stdio", stdin=script)
    names: set[str] = set()
    for line in out.splitlines():
        try:
            reply = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(reply, dict) and isinstance(reply.get("return"), list):
            names |= {p["name"] for p in reply["return"]
                      if not str(p["type"]).startswith("child<")}
    return names


def _probe(binary: str, machine: str, name: str) -> str:
    return _run(binary, "-machine", f"{machine},{name}=zz", "-S", "-display", "none",
                "-nodefaults")


def _exists(out: str, qom: str, name: str) -> bool:
    # vl.c keyval_dashify() turns the key's underscores into dashes before it is set
    return f"Property '{qom}.{name.replace('_', '-')}' not found" not in out


def _nic_models(binary: str) -> dict[str, str]:
    names: list[tuple[str, list[str]]] = []
    section = False
    for line in _run(binary, "-device", "help").splitlines():
        if line.endswith(":") and not line.startswith("name "):
            section = line == "Network devices:"
        elif section and line.startswith("name "):
            found = re.findall(r'(?:name|alias) "([^"]+)"', line)
            names.append((found[0], found))
    return {n: model for model, aliases in names
            if "  netdev=" in _run(binary, "-device", f"{model},help") for n in aliases}


def _board_nic_models(binary: str, machine: str) -> list[str]:
    """What ``-nic user,model=help`` lists: the models hw/pci/pci.c
    pci_nic_init_nofail() accepts on the board (qemu_find_nic_model())."""
    out = _run(binary, "-machine", machine, "-nodefaults", "-display", "none", "-S",
               "-nic", "user,model=help")
    lines = out.splitlines()
    start = lines.index("Supported NIC models:") + 1 if "Supported NIC models:" in lines else 0
    return [x.strip() for x in lines[start:] if x.strip() and " " not in x.strip()]


def derive(binary: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for machine in MACHINES:
        qom, props, kinds = _help(binary, machine)
        # pflash0/pflash1 are deleted from a running machine whose flash is unused, so a
        # running QEMU does not list them: they are candidates by name.
        candidates = (_instance(binary, machine) | {"pflash0", "pflash1"}) - props - {"type"}
        for name in sorted(candidates):
            said = _probe(binary, machine, name)
            if _exists(said, qom, name):
                props.add(name)
                if f"Parameter '{name}' expects 'on' or 'off'" in said:
                    kinds[name] = "bool"  # an instance property the help does not type
        out[machine] = {"qom_type": qom, "properties": sorted(props), "kinds": kinds,
                        "nic_models": _board_nic_models(binary, machine)}
    return {"derived_from": f"{binary} -machine TYPE,help; qom-list /machine; "
                            "-machine TYPE,NAME=zz per instance property",
            "qemu": _run(binary, "--version").splitlines()[0].strip(),
            "machines": out, "nic_models": _nic_models(binary)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", default="qemu-system-x86_64")
    p.add_argument("--out", default="grammar/qemu-7.2/machine-properties.json")
    args = p.parse_args(argv)
    data = derive(args.binary)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
