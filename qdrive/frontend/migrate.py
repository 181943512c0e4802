"""`--to-blockdev` for a whole command line: every -drive as -blockdev nodes and a -device.

Builds on :func:`qdrive.frontend.blockdev.to_blockdev` (one drive's nodes and device) and adds
what only the whole command line knows: an if=none drive keeps its id as the name of
its top node, so the ``-device ...,drive=ID`` options that use it still find it; a
shorthand (-hda disk.img) names the format QEMU's probe found, with a note; a
snapshot drive (snapshot=on, or -snapshot) gets an explicit qcow2 overlay in
``overlay_dir`` with the qemu-img recipe that creates it (the overlay QEMU makes has
cache.direct=off and cache.no-flush=on: block.c bdrv_temp_snapshot_options); a flash
drive becomes ``-machine pflashN=NODE``. Every other option is copied as it is.
A drive with no faithful spelling stays a -drive and is listed with the reason.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from typing import Any

import attrs

from .argv import SHORTHANDS
from .blockdev import Blockdev, TranslationError, to_blockdev
from ..model import Interface
from .placement import Placement

__all__ = ["Migration", "to_blockdev_argv"]


@attrs.frozen
class Migration:
    """The rewritten command line (an argv list), what was not translated, and notes."""

    argv: tuple[str, ...]
    untranslated: tuple[tuple[str, str], ...] = ()  # (option as typed, why)
    notes: tuple[str, ...] = ()
    recipes: tuple[str, ...] = ()  # shell commands to run first (overlays)

    @property
    def complete(self) -> bool:
        return not self.untranslated

    def to_json(self) -> dict[str, Any]:
        return {"argv": list(self.argv), "complete": self.complete,
                "untranslated": [{"option": o, "why": w} for o, w in self.untranslated],
                "notes": list(self.notes), "recipes": list(self.recipes)}


def to_blockdev_argv(argv: Sequence[str], node_prefix: str = "qd-",
                     overlay_dir: str | None = None, probe_files: bool = True) -> Migration:
    """The command line ``argv`` with its drives spelt as -blockdev/-device.

    The command line must be one QEMU accepts (see :func:`qdrive.check_argv`); if it is
    not, nothing is translated and the reason is QEMU's error.
    """
    from ._argv_options import _tokens
    from .cmdline import check_argv

    whole = check_argv(argv, probe_files=probe_files)
    args = list(argv)
    if not whole.ok:
        last = whole.qemu_stderr().splitlines()[-1] if whole.qemu_stderr() else "rejected"
        return Migration(tuple(args), (("(command line)", f"qdrive's check rejects it, so "
                                        f"nothing is translated: {last}"),))
    head = args[:1] if args and not args[0].startswith("-") and "qemu" in \
        args[0].rsplit("/", 1)[-1] else []
    rw = _Rewrite(whole, node_prefix, overlay_dir, out=list(head))
    drive_results = iter(whole.drives.drives)
    tokens = list(_tokens(argv))
    for _, option, value in tokens:
        name = option.lstrip("-")
        if name == "drive" or name in SHORTHANDS:
            rw.drive(next(drive_results), option, value)
        elif name == "snapshot":
            continue  # only -drive reads it; put back below if a -drive stays
        elif name == "device" and value is not None and rw.empty:
            rw.out += [option, _without_drive(value, rw.empty)]
        else:
            rw.keep(option, value)
    if rw.kept_drive and any(o in ("-snapshot", "--snapshot") for _, o, _ in tokens):
        rw.out.append("-snapshot")
    for prop in rw.machine_extra:
        rw.out += ["-machine", prop]
    return Migration(tuple(rw.out), tuple(rw.untranslated), tuple(rw.notes),
                     tuple(rw.recipes))


@attrs.define
class _Rewrite:
    """The command line being rewritten, and what the rewrite found on the way."""

    whole: Any  # the check_argv() result of the command line
    prefix: str
    overlay_dir: str | None
    out: list[str]
    untranslated: list[tuple[str, str]] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)
    recipes: list[str] = attrs.Factory(list)
    machine_extra: list[str] = attrs.Factory(list)
    kept_drive: bool = False  # a -drive stays, so -snapshot must too
    taken: set[str] = attrs.Factory(set)  # node names in use
    used: set[str] = attrs.Factory(set)  # drive ids a -device names
    empty: set[str | None] = attrs.Factory(set)  # empty if=none drives a device uses

    def __attrs_post_init__(self) -> None:
        st = self.whole.state
        self.taken = set(st.graph.nodes) | set(st.backends)
        # Only a device on the drive itself uses its BlockBackend: one given the drive's
        # node-name gets a BlockBackend of its own, and the drive's stays (query-block
        # lists it).
        self.used = set(st.drive_devices)
        self.empty = {r.placement.device_id for r in self.whole.drives.drives
                      if r.drive is not None and r.placement is not None
                      and _is_empty(r.drive) and r.placement.interface is Interface.NONE
                      and r.placement.device_id in self.used}

    def keep(self, option: str, value: str | None) -> None:
        self.out += [option] if value is None else [option, value]

    def drive(self, r: Any, option: str, value: str | None) -> None:
        """One -drive (or shorthand): -blockdev nodes, or kept with the reason."""
        p = r.placement
        if p is not None and p.device_id in self.empty:
            self.notes.append(f"{option} {value}: an empty drive: its device is given no "
                              "drive= (QEMU makes it an empty medium)")
            return
        if p is not None and p.interface is Interface.NONE and p.device_id not in self.used:
            self._untranslated(option, value, "no device uses this if=none drive: QEMU lists "
                               "its BlockBackend, which -blockdev does not make")
            return
        try:
            self.out += _drive(r, self.prefix, self.overlay_dir, self.taken, self.notes,
                               self.recipes, self.machine_extra)
        except TranslationError as exc:
            self._untranslated(option, value, str(exc).split(": ", 1)[-1])

    def _untranslated(self, option: str, value: str | None, why: str) -> None:
        self.untranslated.append((f"{option} {value}", why))
        self.keep(option, value)
        self.kept_drive = True


def _is_empty(d: Any) -> bool:
    return not d.file and not d.driver_options and not d.format


def _without_drive(device: str, empty: set[str | None]) -> str:
    """The -device option without its drive= when that names an empty drive."""
    import json

    if device.startswith("{"):
        props = json.loads(device)
        if props.get("drive") in empty:
            del props["drive"]
        return json.dumps(props, separators=(",", ":"))
    from .objects import _split_opts

    parts = device.split(",")
    keep = [p for p in _split_opts(device)
            if not (p[0] == "drive" and p[1] in empty)]
    if len(keep) == len(_split_opts(device)):
        return device
    del parts
    return ",".join(k if v is None else f"{k}={v.replace(',', ',,')}" for k, v in keep)


def _drive(r: Any, prefix: str, overlay_dir: str | None, taken: set[str],
           notes: list[str], recipes: list[str], machine_extra: list[str]) -> list[str]:
    d, p = r.drive, r.placement
    if d is None or p is None:
        raise TranslationError(f"cannot translate {r.text}: QEMU rejects it")
    if not d.format and r.probed_format:
        notes.append(f"{r.option} {r.text}: format={r.probed_format} (what QEMU's probe "
                     "found; -blockdev never probes)")
        d = attrs.evolve(d, format=r.probed_format)
    snapshot = bool(d.snapshot)
    read_only = bool(d.effective_read_only)
    if snapshot:
        if overlay_dir is None:
            raise TranslationError(f"cannot translate {r.text}: snapshot=on needs an "
                                   "overlay image: give an overlay directory "
                                   "(--overlay-dir)")
        d = attrs.evolve(d, snapshot=False, read_only=True)
    flash = p.interface is Interface.PFLASH
    if flash:
        p = Placement(Interface.NONE, p.bus, p.unit, p.index, p.device_id)
    bd = to_blockdev(d, p)
    ident = p.device_id or "drive"
    if p.interface is Interface.NONE and not flash and p.device_id:
        if len(p.device_id) >= 32:
            raise TranslationError(f"cannot translate {r.text}: its id is too long to "
                                   "name a node (31 characters at most)")
        top = d.node_name or p.device_id  # what the devices' drive= may name
        taken.add(top)
    else:
        top = _name(prefix, ident, taken)
    bd = _rename(bd, top, _name(prefix, f"{ident}-p", taken))
    words = bd.args()
    if snapshot:
        assert overlay_dir is not None
        overlay = os.path.join(overlay_dir, f"{top}.qcow2")
        # the backing file: the local image as QEMU resolved its name (DriveResult.image),
        # else the name as given (a protocol or json: name qemu-img reads the same way)
        plain = r.image and not (d.file or "").startswith("json:")
        image = os.path.abspath(r.image) if plain else str(d.file)
        recipes.append(shlex.join(["qemu-img", "create", "-f", "qcow2", "-b", image, "-F",
                                   str(d.format), overlay]))
        words = _overlay(words, top, _name(prefix, f"{ident}-base", taken), overlay,
                         _name(prefix, f"{ident}-o", taken), read_only)
    if flash:
        machine_extra.append(f"pflash{p.unit}={top}")
    return words


def _name(prefix: str, base: str, taken: set[str]) -> str:
    clean = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in base)
    name = (prefix + clean)[:31]
    if not name[:1].isalpha():
        name = ("n" + name)[:31]
    n = 1
    while name in taken:
        n += 1
        name = f"{(prefix + clean)[:28]}-{n}"
    taken.add(name)
    return name


def _rename(bd: Blockdev, top: str, proto: str) -> Blockdev:
    protocol = dict(bd.protocol)
    fmt = dict(bd.format) if bd.format is not None else None
    device = dict(bd.device) if bd.device is not None else None
    if fmt is None:
        protocol["node-name"] = top
    else:
        protocol["node-name"] = proto
        fmt["node-name"], fmt["file"] = top, proto
    if device is not None:
        device["drive"] = top
    return Blockdev(protocol, fmt, device)


def _overlay(words: list[str], top: str, base: str, overlay: str, overlay_file: str,
             read_only: bool) -> list[str]:
    """Rename the drive's top node to ``base`` and put a qcow2 overlay named ``top`` on
    it, opened as QEMU opens its temporary snapshot overlay."""
    import json

    out: list[str] = []
    carried: dict[str, Any] = {}
    for i, word in enumerate(words):
        if i and words[i - 1] == "-blockdev":
            node = json.loads(word)
            if node.get("node-name") == top:
                node["node-name"] = base
                # the drive's own node options belong to its top node: the overlay
                carried = {k: node[k] for k in ("detect-zeroes", "discard") if k in node}
            out.append(json.dumps(node, separators=(",", ":")))
        else:
            out.append(word)
    layer = {"driver": "qcow2", "node-name": top, "backing": base, "read-only": read_only,
             "cache": {"direct": False, "no-flush": True}, **carried,
             "file": {"driver": "file", "node-name": overlay_file, "filename": overlay,
                      "cache": {"direct": False, "no-flush": True}}}
    cut = next((i for i, w in enumerate(out) if w == "-device"), len(out))
    return out[:cut] + ["-blockdev", json.dumps(layer, separators=(",", ":"))] + out[cut:]


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
