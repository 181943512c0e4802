"""Derive QEMU's block-layer tables from QEMU itself: ``make tables`` runs this.

    python -m qdrive.grammar.derive_qemu [--version 7.2 ...] [--source DIR] [--binary PATH]
                                         [--fetch] [--check] [--out DIR]

For each QEMU version it writes its files under ``grammar/qemu-<major.minor>/``; they are
data (shipped in the package as ``qdrive/grammar/qemu-*/*.json``), never edited by hand:

``block-drivers.json``
    ``qemu``: where the tables come from (version, Debian package, the binary's
    ``--version`` line, ``derived_from``: ``source`` or ``binary``).
    ``format_help``: the binary's ``-drive format=help`` lists (``formats``,
    ``read_only``), or null when no binary was at hand.
    ``drivers``: format name -> one entry per ``BlockDriver`` of block/*.c that a Linux
    build compiles (fields described in grammar/_derive_drivers.py), plus
    ``in_format_help``, ``qapi_type`` (the BlockdevOptions branch of that driver) and
    ``qapi_refs`` (its members that name or define another node: file, backing, ...).
    ``protocols``: protocol name (``nbd+unix``, ``fat``) -> format name.
    ``option_lists``: ``FILE:SYMBOL`` -> a QemuOptsList: ``name``, ``options`` (each
    ``name``, ``type`` string/bool/number/size, ``help``, ``default``, ``if``).
    ``generic``: the keys of the block layer's own lists (bdrv_runtime_opts,
    qemu_legacy_drive_opts, qemu_common_drive_opts, qemu_drive_opts, file-posix's
    raw_runtime_opts, the throttle driver's throttle_opts).
    ``other_hosts``: drivers compiled only on other hosts (file-win32.c, FreeBSD's
    host_cdrom).

``device-models.json`` (when the version's binary is at hand)
    the binary's ``-device help`` and ``-object help`` (grammar/_derive_devices.py).

``qapi-block.json``
    ``qemu``: as above. ``root``: ``BlockdevOptions``. ``types``: every type it reaches,
    in the shape described in grammar/_derive_qapi.py.

Where a version's source is not available (QEMU 11.1 today: Debian sid's source package
is not in the archive this machine reaches), ``derived_from`` is ``binary``:
``qapi-block.json`` comes from the binary's ``query-qmp-schema``, named after the nearest
source-derived version (grammar/_derive_introspect.py); ``block-drivers.json`` lists the
drivers ``-drive format=help`` names, with the QemuOptsLists read out of the executable
and its block modules (grammar/_derive_binary.py) matched to the reference version's
lists by name and option names. Facts only the C source holds (callbacks, probe,
children opened, strong options, protocol names) are then absent from a driver entry
and ``qemu.unknown_fields`` lists them.

The output is deterministic: sorted keys, no timestamps, nothing from the environment
but the inputs named in ``qemu``.
"""

from __future__ import annotations

from typing import Any

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from . import (_derive_binary, _derive_devices, _derive_dialects, _derive_diff,
               _derive_drivers, _derive_introspect, _derive_qapi)
from ._version_notes import BEHAVIOUR, NOTES

__all__ = ["VERSIONS", "QemuVersion", "derive", "render", "find_source", "main"]

GRAMMAR = os.path.dirname(os.path.abspath(__file__))
CACHE = "/var/cache/qdrive"
FORMAT = 1
UNKNOWN_FROM_BINARY = (
    "source", "symbol", "line", "protocol_name", "is_format", "is_filter", "supports_backing",
    "bdrv_needs_filename", "open", "probe", "probe_device", "parse_filename", "qapi_visited",
    "children",
    "strong_runtime_opts", "mutable_opts", "amend_opts", "kinds", "build", "registered",
)


@dataclass(frozen=True)
class QemuVersion:
    """One QEMU release qdrive models, and where its inputs come from."""

    name: str  # major.minor
    debian: str  # the Debian source package version
    suite: str  # the Debian suite that ships it
    binary: str  # the qemu-system-x86_64 of that version on PATH
    reference: str | None = None  # for a binary-only version: the schema to name types after


VERSIONS: Mapping[str, QemuVersion] = {
    "7.2": QemuVersion("7.2", "1:7.2+dfsg-7+deb12u18", "bookworm", "qemu-system-x86_64"),
    "10.0": QemuVersion("10.0", "1:10.0.13+ds-0+deb13u1", "trixie", "qemu-system-x86_64-10.0"),
    "11.1": QemuVersion("11.1", "1:11.1.3+ds-1", "sid", "qemu-system-x86_64-11.1",
                        reference="10.0"),
}


# -- inputs --------------------------------------------------------------------------------------


def _source_version(root: str) -> str | None:
    try:
        with open(os.path.join(root, "VERSION"), encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


def _debian_version(root: str) -> str | None:
    try:
        with open(os.path.join(root, "debian", "changelog"), encoding="utf-8") as f:
            m = re.match(r"\S+ \(([^)]+)\)", f.readline())
    except OSError:
        return None
    return m.group(1) if m else None


def _is_tree(root: str, version: str) -> bool:
    found = _source_version(root)
    if not found:
        return False
    return (found + ".").startswith(version + ".") and os.path.isfile(
        os.path.join(root, "qapi", "block-core.json"))


def source_candidates(version: str) -> list[str]:
    """Where a source tree of ``version`` is looked for, in order."""
    env = os.environ.get("QDRIVE_QEMU_SRC_" + version.replace(".", "_"))
    out = [env] if env else []
    out += sorted(glob.glob(os.path.join(CACHE, "qemu-src", version, "qemu-*/")))
    out.append(f"/work/src/qemu-{version}")
    return out


def find_source(version: str) -> str | None:
    """The first source tree of ``version`` found: $QDRIVE_QEMU_SRC_7_2 (for 7.2), then
    /var/cache/qdrive/qemu-src/VERSION/qemu-*/, then /work/src/qemu-VERSION."""
    for path in source_candidates(version):
        if path and _is_tree(path, version):
            return os.path.abspath(path).rstrip("/")
    return None


def fetch_source(v: QemuVersion) -> str | None:
    """``apt-get source qemu=DEBIAN`` into /var/cache/qdrive/qemu-src/VERSION (root only);
    a deb-src entry for the suite is added first when apt does not know the version."""
    if os.geteuid() != 0:
        print(f"derive_qemu: not root, not fetching the QEMU {v.name} source", file=sys.stderr)
        return None
    if shutil.which("dpkg-source") is None:
        _apt("install", "-y", "-qq", "dpkg-dev")
    if not _apt_knows_source(v.debian):
        _add_deb_src(v.suite)
    where = os.path.join(CACHE, "qemu-src", v.name)
    os.makedirs(where, exist_ok=True)
    done = subprocess.run(["apt-get", "source", "-qq", f"qemu={v.debian}"], cwd=where,
                          check=False)
    if done.returncode != 0:
        print(f"derive_qemu: apt-get source qemu={v.debian} failed", file=sys.stderr)
        return None
    return find_source(v.name)


def _apt_knows_source(debian: str) -> bool:
    """Whether apt's deb-src entries offer qemu at that Debian version (``apt-cache
    showsrc`` takes no version, so its list of versions is searched)."""
    shown = subprocess.run(["apt-cache", "showsrc", "qemu"], capture_output=True, text=True,
                           check=False).stdout
    return f"\nVersion: {debian}\n" in f"\n{shown}\n"


def _apt(*args: str) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", *args], check=False, env=env)


def _add_deb_src(suite: str) -> None:
    path = f"/etc/apt/sources.list.d/qdrive-qemu-src-{suite}.sources"
    with open(path, "w", encoding="utf-8") as f:
        f.write("Types: deb-src\nURIs: http://deb.debian.org/debian\n"
                f"Suites: {suite}\nComponents: main\n"
                "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    _apt("update", "-qq")


def _have(binary: str) -> bool:
    return shutil.which(binary) is not None


def _chroot_of(binary: str) -> str | None:
    """The tree a qemu-chroot wrapper runs its QEMU in (``exec chroot /srv/sid ...``)."""
    path = shutil.which(binary)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    m = re.search(rb"exec chroot (\S+) ", head)
    return m.group(1).decode() if m else None


def elf_files(v: QemuVersion) -> list[str]:
    """The executable of ``v.binary`` and its block modules, as files to read."""
    root = _chroot_of(v.binary)
    exe = os.path.join(root, "usr/bin/qemu-system-x86_64") if root else shutil.which(v.binary)
    if exe is None or not os.path.isfile(exe):
        return []
    module_dirs = [os.path.join(root or "/", "usr/lib/x86_64-linux-gnu/qemu"),
                   os.path.join(CACHE, "qemu-bin", v.name, "usr/lib/x86_64-linux-gnu/qemu")]
    modules: dict[str, str] = {}
    for d in module_dirs:
        for path in sorted(glob.glob(os.path.join(d, "block-*.so"))):
            modules.setdefault(os.path.basename(path), path)
    return [exe, *sorted(modules.values())]


def fetch_modules(v: QemuVersion) -> None:
    """Debian's qemu-block-extra of ``v`` (curl, iscsi, nfs, rbd, ssh, blkio modules)
    unpacked under /var/cache/qdrive/qemu-bin/VERSION, for reading only (root, and a
    qemu-chroot tree to run apt-get download in)."""
    root = _chroot_of(v.binary)
    where = os.path.join(CACHE, "qemu-bin", v.name)
    if root is None or os.geteuid() != 0 or glob.glob(os.path.join(where, "usr")):
        return
    os.makedirs(where, exist_ok=True)
    tmp = f"/tmp/qdrive-derive-{os.getpid()}"
    os.makedirs(tmp, exist_ok=True)
    try:
        subprocess.run(["chroot", root, "sh", "-c",
                        f"cd {tmp} && apt-get download -qq qemu-block-extra={v.debian}"],
                       check=False)
        for deb in glob.glob(os.path.join(tmp, "*.deb")):
            subprocess.run(["dpkg-deb", "-x", deb, where], check=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- deriving -----------------------------------------------------------------------------------


_NODE_REF_TYPES = {"BlockdevRef", "BlockdevRefOrNull"}


def _flat_members(types: Mapping[str, dict[str, Any]], name: str) -> list[dict[str, Any]]:
    entry = types.get(name, {})
    base = entry.get("base")
    inherited = _flat_members(types, base) if isinstance(base, str) else []
    return inherited + list(entry.get("members", []))  # type: ignore[call-overload]


def _qapi_refs(types: Mapping[str, dict[str, Any]], name: str) -> list[dict[str, Any]]:
    out = []
    for m in _flat_members(types, name):
        t = m["type"]
        inner = t[0] if isinstance(t, list) else t
        if inner in _NODE_REF_TYPES:
            out.append({"name": m["name"], "optional": m["optional"], "list": isinstance(t, list),
                        "null": inner == "BlockdevRefOrNull"})
    return out


def _link_qapi(drivers: dict[str, dict[str, Any]],
               types: Mapping[str, dict[str, Any]]) -> None:
    variants = {str(v["case"]): str(v["type"])
                for v in types["BlockdevOptions"].get("variants", [])}  # type: ignore[attr-defined]
    for name, entry in drivers.items():
        qapi = variants.get(name)
        entry["qapi_type"] = qapi
        entry["qapi_refs"] = _qapi_refs(types, qapi) if qapi else []


def _header(v: QemuVersion, derived_from: str, root: str | None, binary: str | None,
            extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    head: dict[str, Any] = {
        "version": v.name, "derived_from": derived_from, "format": FORMAT,
        "generator": "grammar/derive_qemu.py",
        "source_version": _source_version(root) if root else None,
        "debian": (_debian_version(root) if root else None) or v.debian,
        "binary": _derive_binary.version(binary) if binary else None,
    }
    head.update(extra or {})
    return head


def _cond_key(cond: object) -> str:
    return cond if isinstance(cond, str) else json.dumps(cond, sort_keys=True)


def _votes_to_table(votes: dict[str, set[bool]]) -> dict[str, bool | None]:
    return {k: (next(iter(v)) if len(v) == 1 else None) for k, v in sorted(votes.items())}


def _qapi_conditions(source: Mapping[str, dict[str, Any]],
                     built: Mapping[str, dict[str, Any]]) -> dict[str, bool | None]:
    """Each ``if`` of the schema source -> whether the binary has what it guards (None when
    the binary has some of it and not the rest)."""
    votes: dict[str, set[bool]] = {}

    def vote(cond: object, present: bool) -> None:
        votes.setdefault(_cond_key(cond), set()).add(present)

    for name, entry in source.items():
        have = built.get(name)
        if "if" in entry:
            vote(entry["if"], have is not None)
        if have is None:
            continue
        have_members = {str(m["name"]) for m in _flat_members(built, name)}
        for m in entry.get("members", []):  # type: ignore[attr-defined]
            if "if" in m:
                vote(m["if"], m["name"] in have_members)
        have_cases = {str(c["case"]) for c in have.get("variants", [])}  # type: ignore[attr-defined]
        for c in entry.get("variants", []):  # type: ignore[attr-defined]
            if "if" in c and entry["meta"] == "union":
                vote(c["if"], c["case"] in have_cases)
        have_values = {str(x["name"]) for x in have.get("values", [])}  # type: ignore[attr-defined]
        for x in entry.get("values", []):  # type: ignore[attr-defined]
            if "if" in x:
                vote(x["if"], x["name"] in have_values)
    return _votes_to_table(votes)


def _option_conditions(lists: Mapping[str, dict[str, Any]],
                       found: Mapping[str, dict[str, Any]]) -> dict[str, bool | None]:
    """Each ``if`` inside a QemuOptsList of the source -> whether the binary's list has
    the options it guards."""
    votes: dict[str, set[bool]] = {}
    for key, lst in found.items():
        names = {str(o["name"]) for o in lst["options"]}  # type: ignore[attr-defined]
        for o in lists[key]["options"]:  # type: ignore[attr-defined]
            if "if" in o:
                votes.setdefault(str(o["if"]), set()).add(o["name"] in names)
    return _votes_to_table(votes)


def _from_source(v: QemuVersion, root: str, binary: str | None) -> tuple[dict, dict]:
    header = _header(v, "source", root, binary)
    types = _derive_qapi.block_types(_derive_qapi.read_schema(root))
    tables = _derive_drivers.derive_sources(root)
    helped = _derive_binary.format_help(binary) if binary else None
    drivers = tables["drivers"]
    assert isinstance(drivers, dict)
    for name, entry in drivers.items():
        entry["in_format_help"] = (name in helped["formats"]) if helped else None
    _link_qapi(drivers, types)
    blocks = {"qemu": header, "format_help": helped, **tables}
    qapi = {"qemu": header, "root": _derive_qapi.ROOT, "types": types}
    if binary:
        built = _derive_introspect.block_types_from_introspection(
            _derive_binary.query_schema(binary), types)
        qapi["build_conditions"] = _qapi_conditions(types, built)
        elves = elf_files(v)
        found = [lst for path in elves for lst in _derive_binary.option_lists(path)]
        matched = _match_lists(_linux_lists(blocks), found, v.name)
        blocks["build_conditions"] = _option_conditions(tables["option_lists"], matched)
        blocks["qemu"] = dict(header, elf_files=[os.path.basename(p) for p in elves])
        qapi["qemu"] = blocks["qemu"]
    return blocks, qapi


def _jaccard(a: set[str], b: set[str]) -> float:
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def _match_lists(reference: Mapping[str, dict[str, Any]], found: list[dict[str, Any]],
                 ref_name: str) -> dict[str, dict[str, Any]]:
    """Reference key -> the binary's list with the same name and the most option names
    in common (at least half of them, or the only list of that name), each used once."""
    scored = []
    for key, ref in reference.items():
        ref_names = {str(o["name"]) for o in ref["options"]}  # type: ignore[attr-defined]
        same = [n for n, f in enumerate(found) if f["name"] == ref["name"]]
        for n in same:
            names = {str(o["name"]) for o in found[n]["options"]}  # type: ignore[attr-defined]
            score = _jaccard(ref_names, names)
            if score >= 0.5 or len(same) == 1:
                scored.append((-score, key, n))
    out: dict[str, dict[str, Any]] = {}
    used: set[int] = set()
    for _, key, n in sorted(scored):
        if key in out or n in used:
            continue
        used.add(n)
        entry = dict(found[n])
        entry["matched_to"] = f"qemu-{ref_name} {key}"
        out[key] = entry
    return dict(sorted(out.items()))


def _linux_lists(blocks: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The option lists a Linux build has: the generic ones and those of its drivers."""
    all_lists = blocks["option_lists"]
    assert isinstance(all_lists, dict)
    keys = set(blocks["generic"])  # type: ignore[call-overload]
    for entry in blocks["drivers"].values():  # type: ignore[attr-defined]
        keys.update(entry["runtime_opts"])
        keys.update(k for k in (entry["create_opts"], entry["amend_opts"]) if k)
    return {k: v for k, v in all_lists.items() if k in keys}


def _from_binary(v: QemuVersion, binary: str, reference: tuple[dict, dict]) -> tuple[dict, dict]:
    ref_blocks, ref_qapi = reference
    ref_name = str(ref_blocks["qemu"]["version"])
    elves = elf_files(v)
    header = _header(v, "binary", None, binary, {
        "reference": f"qemu-{ref_name}",
        "elf_files": [os.path.basename(p) for p in elves],
        "unknown_fields": list(UNKNOWN_FROM_BINARY),
    })
    types = _derive_introspect.block_types_from_introspection(
        _derive_binary.query_schema(binary), ref_qapi["types"])
    helped = _derive_binary.format_help(binary)
    found = [lst for path in elves for lst in _derive_binary.option_lists(path)]
    lists = _match_lists(_linux_lists(ref_blocks), found, ref_name)
    drivers: dict[str, dict[str, Any]] = {}
    for name in helped["formats"]:
        ref = ref_blocks["drivers"].get(name)
        entry: dict[str, Any] = {"format_name": name, "in_format_help": True}
        if ref is not None:
            entry["runtime_opts"] = [k for k in ref["runtime_opts"] if k in lists]
            entry["create_opts"] = ref["create_opts"] if ref["create_opts"] in lists else None
        drivers[name] = entry
    _link_qapi(drivers, types)
    generic = [k for k in ref_blocks["generic"] if k in lists]
    blocks = {"qemu": header, "format_help": helped, "drivers": dict(sorted(drivers.items())),
              "protocols": {}, "option_lists": lists, "generic": generic, "other_hosts": []}
    qapi = {"qemu": header, "root": _derive_qapi.ROOT, "types": types}
    return blocks, qapi


def render(table: object) -> str:
    """The one JSON spelling of a table: sorted keys, one space indent, a final newline."""
    return json.dumps(table, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def derive(version: str, source: str | None = None, binary: str | None = None,
           use_binary: bool = True, reference_source: str | None = None) -> dict[str, str]:
    """File name -> rendered text of ``version``'s tables (nothing is written)."""
    v = VERSIONS[version]
    if binary is None and use_binary and _have(v.binary):
        binary = v.binary
    if v.reference is None or source is not None:
        root = source or find_source(version)
        if root is None:
            raise FileNotFoundError(f"no QEMU {version} source tree (looked in "
                                    f"{', '.join(p for p in source_candidates(version) if p)})")
        blocks, qapi = _from_source(v, root, binary if use_binary else None)
    else:
        if binary is None:
            raise FileNotFoundError(f"QEMU {version} is derived from its binary "
                                    f"({v.binary}), which is not on PATH")
        ref_root = reference_source or find_source(v.reference)
        if ref_root is None:
            raise FileNotFoundError(f"no QEMU {v.reference} source tree to name "
                                    f"{version}'s types after")
        reference = _from_source(VERSIONS[v.reference], ref_root, None)
        blocks, qapi = _from_binary(v, binary, reference)
    files = {"block-drivers.json": render(blocks), "qapi-block.json": render(qapi)}
    if binary is not None and use_binary:
        # the -device and -object models the binary (and its installed modules) has
        files["device-models.json"] = _derive_devices.render(
            _derive_devices.device_models(binary, version))
    return files


def out_dir(version: str, base: str = GRAMMAR) -> str:
    return os.path.join(base, f"qemu-{version}")


def load_tables(base: str = GRAMMAR) -> dict[str, dict[str, Any]]:
    """version -> {"blocks", "qapi"} for every version whose files exist, oldest first."""
    out: dict[str, dict[str, Any]] = {}
    for version in sorted(VERSIONS, key=lambda s: tuple(map(int, s.split(".")))):
        where = out_dir(version, base)
        try:
            with open(os.path.join(where, "block-drivers.json"), encoding="utf-8") as f:
                blocks = json.load(f)
            with open(os.path.join(where, "qapi-block.json"), encoding="utf-8") as f:
                qapi = json.load(f)
        except OSError:
            continue
        out[version] = {"blocks": blocks, "qapi": qapi}
    return out


def versions_markdown(base: str = GRAMMAR) -> tuple[str, list[int]]:
    """The text of grammar/qemu-versions.md and the notes that explained nothing."""
    text, unused = _derive_diff.render_markdown(load_tables(base), NOTES)
    lines, _ = _derive_dialects.render(BEHAVIOUR)
    return text + "\n".join(lines) + "\n", unused


def behaviour_problems() -> list[str]:
    """Dialect differences without a note in grammar/_version_notes.py, and notes that
    explain none (grammar/_derive_dialects.py)."""
    return _derive_dialects.render(BEHAVIOUR)[1]


# -- the command ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="derive_qemu", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="append", choices=sorted(VERSIONS),
                        help="QEMU version (default: all)")
    parser.add_argument("--source", help="QEMU source tree (only with one --version)")
    parser.add_argument("--binary", help="qemu-system-x86_64 of that version")
    parser.add_argument("--no-binary", action="store_true",
                        help="do not run QEMU (format_help is then null)")
    parser.add_argument("--fetch", action="store_true",
                        help="apt-get source a missing source tree (root)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a file differs from what it would be")
    parser.add_argument("--out", default=GRAMMAR, help="the grammar directory")
    args = parser.parse_args(argv)
    versions = args.version or sorted(VERSIONS, key=lambda s: tuple(map(int, s.split("."))))
    if (args.source or args.binary) and len(versions) != 1:
        parser.error("--source and --binary need exactly one --version")
    status = 0
    for version in versions:
        v = VERSIONS[version]
        source = args.source
        if args.fetch:
            if v.reference is None and source is None and find_source(version) is None:
                source = fetch_source(v)
            fetch_modules(v)
            if v.reference is not None:
                if find_source(v.reference) is None:
                    fetch_source(VERSIONS[v.reference])
        try:
            files = derive(version, source, args.binary, use_binary=not args.no_binary)
        except (FileNotFoundError, _derive_binary.BinaryError) as exc:
            print(f"derive_qemu: qemu-{version}: {exc}", file=sys.stderr)
            status = 1
            continue
        lost = _binary_lost(out_dir(version, args.out), files)
        if lost and not args.no_binary:
            # Tables made with the binary are not replaced by poorer ones made without.
            print(f"derive_qemu: qemu-{version}: the current tables were made with {lost}, "
                  f"which is not here ({v.binary}; ../shared/tools/qemu-chroot makes the "
                  "10.0 and 11.1 ones); keeping them (--no-binary to replace them)",
                  file=sys.stderr)
            status = 1
            continue
        status |= _write(out_dir(version, args.out), files, args.check)
    text, unused = versions_markdown(args.out)
    for n in unused:
        print(f"derive_qemu: note {NOTES[n][:4]} explains no difference", file=sys.stderr)
    status |= _write(args.out, {"qemu-versions.md": text}, args.check)
    return status


def _binary_lost(where: str, files: Mapping[str, str]) -> str | None:
    """The binary the tables on disk were made with, when the new ones were made without."""
    try:
        with open(os.path.join(where, "block-drivers.json"), encoding="utf-8") as f:
            old = json.load(f)["qemu"].get("binary")
    except (OSError, ValueError, KeyError):
        return None
    new = json.loads(files["block-drivers.json"])["qemu"].get("binary")
    return old if old and not new else None


def _write(where: str, files: Mapping[str, str], check: bool) -> int:
    status = 0
    for name, text in files.items():
        path = os.path.join(where, name)
        try:
            with open(path, encoding="utf-8") as f:
                same = f.read() == text
        except OSError:
            same = False
        if check:
            if not same:
                print(f"derive_qemu: {path} is not what the sources give", file=sys.stderr)
                status = 1
            continue
        if not same:
            os.makedirs(where, exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        print(f"{path}: {'unchanged' if same else 'written'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
