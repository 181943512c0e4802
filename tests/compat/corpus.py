"""The corpus files: cases, recordings per QEMU version, categories and sources.

Layout (every file is JSON lines; a first line without ``drives``/``argv``/``drive`` is
the file's header)::

    fixtures/generated/singles.jsonl   generated single drives (tests/compat/generate.py)
    fixtures/generated/cmdlines.jsonl  generated command lines
    fixtures/harvest/drives.jsonl      -drive strings harvested from public projects
    fixtures/harvest/cmdlines.jsonl    whole command lines (``arch``: only x86_64 recorded)
    fixtures/qemu72/  qemu100/  qemu111/
        verdicts.jsonl                 the original corpus (fixtures/corpus/cases.jsonl)
        generated-singles.jsonl ...    one recording per corpus above, same name
        hoststate.jsonl                host-state cases recorded live (tests/compat/hoststate.py)
    fixtures/qemu72/fuzz-found.jsonl   what `make fuzz-qemu` found (7.2 only)

A recording row is the case (``id``, ``category``, ``source``, ``drives``/``argv``,
``files``) with QEMU's verdict beside it (``accepted``, ``stderr``, ``devices``,
``nodes``, ``timeout``). This module reads them; it imports nothing of qdrive.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import oracle, schema

FIXTURES = oracle.FIXTURES
RUNNABLE_ARCH = "x86_64"
# The held-back slice of the newer versions' recordings (issue 16): set aside before the
# qemu-10.0 and qemu-11.1 dialects were modelled, left out of what `make compat` and
# tests.compat.versions show, and scored once at the end (``--part heldback``). A row is
# held back by a hash of its identity (its case text), so the same case is held back in
# every version and the slice never changes when a recording is redone.
HELDBACK_VERSIONS = ("10.0", "11.1")
HELDBACK_PERCENT = 15
PARTS = ("tuning", "heldback", "all")


@dataclass(frozen=True)
class Corpus:
    """One corpus: where its cases are and what its recordings are called."""

    name: str  # the recording's file name without .jsonl, in every version folder
    cases: Path | None  # None: the cases live only in the recordings (the original corpus)
    source: str  # default source label of its rows (harvest rows name their project)
    versions: tuple[str, ...] = tuple(oracle.QEMUS)

    def recording(self, version: str) -> Path:
        return oracle.qemu(version).fixtures / f"{self.name}.jsonl"


CORPORA: tuple[Corpus, ...] = (
    Corpus("verdicts", None, "corpus"),
    Corpus("fuzz-found", None, "fuzz-found"),
    # what the command-line differential fuzzer found (tests/fuzz/qemu_diff_argv.py)
    Corpus("fuzz-found-argv", None, "fuzz-found"),
    Corpus("opentime", None, "opentime"),
    Corpus("generated-singles", FIXTURES / "generated" / "singles.jsonl", "generated"),
    Corpus("generated-cmdlines", FIXTURES / "generated" / "cmdlines.jsonl", "generated"),
    Corpus("harvest-drives", FIXTURES / "harvest" / "drives.jsonl", "harvest"),
    Corpus("harvest-cmdlines", FIXTURES / "harvest" / "cmdlines.jsonl", "harvest"),
    # session 4's held-back batch (seed 1612227700) and harvest (ids hv4-), scored once at
    # the end of that session and then kept as corpus like the rest
    Corpus("generated-hb4-singles", FIXTURES / "generated" / "hb4-singles.jsonl", "generated"),
    Corpus("generated-hb4-cmdlines", FIXTURES / "generated" / "hb4-cmdlines.jsonl",
           "generated"),
    Corpus("harvest-hv4-drives", FIXTURES / "harvest" / "hv4-drives.jsonl", "harvest"),
    Corpus("harvest-hv4-cmdlines", FIXTURES / "harvest" / "hv4-cmdlines.jsonl", "harvest"),
    # session 5's held-back batch (seed 870314182) and harvest (ids hv5-), likewise
    Corpus("generated-hb5-singles", FIXTURES / "generated" / "hb5-singles.jsonl", "generated"),
    Corpus("generated-hb5-cmdlines", FIXTURES / "generated" / "hb5-cmdlines.jsonl",
           "generated"),
    Corpus("harvest-hv5-drives", FIXTURES / "harvest" / "hv5-drives.jsonl", "harvest"),
    Corpus("harvest-hv5-cmdlines", FIXTURES / "harvest" / "hv5-cmdlines.jsonl", "harvest"),
    # session 7's held-back batch (seed 3858450628) and harvest (ids hv7-), likewise
    Corpus("generated-hb7-singles", FIXTURES / "generated" / "hb7-singles.jsonl", "generated"),
    Corpus("generated-hb7-cmdlines", FIXTURES / "generated" / "hb7-cmdlines.jsonl",
           "generated"),
    Corpus("harvest-hv7-drives", FIXTURES / "harvest" / "hv7-drives.jsonl", "harvest"),
    Corpus("harvest-hv7-cmdlines", FIXTURES / "harvest" / "hv7-cmdlines.jsonl", "harvest"),
    # session 10's held-back batch (seed 3484886466) and harvest (ids hv10-), likewise
    Corpus("generated-hb10-singles", FIXTURES / "generated" / "hb10-singles.jsonl",
           "generated"),
    Corpus("generated-hb10-cmdlines", FIXTURES / "generated" / "hb10-cmdlines.jsonl",
           "generated"),
    Corpus("harvest-hv10-drives", FIXTURES / "harvest" / "hv10-drives.jsonl", "harvest"),
    Corpus("harvest-hv10-cmdlines", FIXTURES / "harvest" / "hv10-cmdlines.jsonl", "harvest"),
    # session 11's held-back batch (seed 2551519166) and harvest (ids hv11-), likewise
    Corpus("generated-hb11-singles", FIXTURES / "generated" / "hb11-singles.jsonl",
           "generated"),
    Corpus("generated-hb11-cmdlines", FIXTURES / "generated" / "hb11-cmdlines.jsonl",
           "generated"),
    Corpus("harvest-hv11-drives", FIXTURES / "harvest" / "hv11-drives.jsonl", "harvest"),
    Corpus("harvest-hv11-cmdlines", FIXTURES / "harvest" / "hv11-cmdlines.jsonl", "harvest"),
    Corpus("hoststate", FIXTURES / "hoststate" / "cases.jsonl", "hoststate"),
    # hand-written cases for each rule of qdrive.check_argv (issue 15); 7.2 recorded them
    # first, 10.0 and 11.1 since session 5
    Corpus("cmdline-rules", FIXTURES / "cmdline" / "cmdline-rules.jsonl", "rules"),
    # crafted bochs/cloop/dmg/parallels headers and the filters' required options
    # (tests/compat/headers.py writes the cases)
    Corpus("opentime-formats", FIXTURES / "opentime" / "formats.jsonl", "opentime"),
    # nvme's open (its VFIO container) and curl's checks before it connects, hand-written
    Corpus("opentime-protocols", FIXTURES / "opentime" / "protocols.jsonl", "opentime"),
    # qcow/qcow2 versions, force-share under snapshot=on: hand-written
    Corpus("opentime-nodes", FIXTURES / "opentime" / "nodes.jsonl", "opentime"),
    # what a child node inherits and checks before its open, formats over null-co, one
    # file twice in a writing filter, qcow2 cache sizes: hand-written (issue 14, session 5)
    Corpus("opentime-children", FIXTURES / "opentime" / "children.jsonl", "opentime"),
)


def corpus(name: str) -> Corpus:
    return next(c for c in CORPORA if c.name == name)


def read(path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A corpus file: (its header or None, its rows)."""
    header: dict[str, Any] | None = None
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if not line.strip():
                continue
            row = json.loads(line)
            if n == 0 and not {"drives", "argv", "drive"} & row.keys():
                header = row
                continue
            rows.append(row)
    return header, rows


def write(path: Path, header: Mapping[str, Any] | None, rows: Iterable[Mapping[str, Any]]
          ) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        if header is not None:
            f.write(json.dumps(header, ensure_ascii=False) + "\n")
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def as_case(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the oracle runs for a row (None: not for qemu-system-x86_64, see ``arch``)."""
    if row.get("arch", RUNNABLE_ARCH) != RUNNABLE_ARCH:
        return None
    if "drives" in row:
        case: dict[str, Any] = {"drives": list(row["drives"])}
    elif "drive" in row:  # the harvest's shape
        case = {"drives": [row["drive"]]}
    else:
        case = {"argv": list(row["argv"])}
    if row.get("files"):
        case["files"] = dict(row["files"])
    return case


def key(row: Mapping[str, Any]) -> tuple[str, ...]:
    """A row's identity: its drives or argv, and the files it writes."""
    case = as_case({**row, "arch": RUNNABLE_ARCH}) or {}
    base = tuple(case["drives"]) if "drives" in case else ("ARGV", *case.get("argv", ()))
    files = sorted((case.get("files") or {}).items())
    return base + tuple(f"FILE {name}={text}" for name, text in files)


def project(row: Mapping[str, Any]) -> str:
    """The harvest project of a row (its id without the running number)."""
    return str(row.get("project") or str(row.get("id", "")).rsplit("-", 1)[0])


def source(row: Mapping[str, Any], default: str) -> str:
    """The label rows are grouped by: harvest:<project>, generated, corpus, ..."""
    if default == "harvest":
        return f"harvest:{project(row)}"
    return str(row.get("source_label") or default)


# -- categories --------------------------------------------------------------------------------

_PROTOCOLS = sorted(schema.tables("7.2")[0]["protocols"], key=len, reverse=True)
_DRIVERS = set(schema.format_help("7.2"))
_HOST_FILES = {"DEV", "/dev/null", "/dev/zero", "harvest-fat", ".", "/"}
_SHORTHANDS = {"-hda", "-hdb", "-hdc", "-hdd", "-cdrom", "-fda", "-fdb", "-sd", "-pflash",
               "-mtdblock"}


def items(text: str) -> list[tuple[str, str]]:
    """QemuOpts items of a -drive string, roughly (``,,`` kept inside values)."""
    out = []
    for part in re.split(r"(?<!,),(?!,)", text):
        k, eq, v = part.partition("=")
        out.append((k, v.replace(",,", ",") if eq else "on"))
    return out


def protocol_of(filename: str) -> str | None:
    """The driver a ``proto:`` file name selects (nbd:, fat:, null-co://, http://, ...)."""
    for proto in _PROTOCOLS:
        if filename.startswith(proto + ":"):
            return str(schema.tables("7.2")[0]["protocols"][proto])
    return None


def category(row: Mapping[str, Any]) -> str:
    """A row's class: its own ``category``, else one read from its text."""
    if row.get("category"):
        return str(row["category"])
    case = as_case({**row, "arch": RUNNABLE_ARCH}) or {}
    if "argv" in case:
        return _argv_category(case["argv"])
    drives = case.get("drives", [])
    if len(drives) != 1:
        files = [v for d in drives for k, v in items(d) if k == "file"]
        return "multi:lock" if len(files) != len(set(files)) else "multi:placement"
    return _drive_category(drives[0])


def _drive_category(text: str) -> str:
    kv = items(text)
    keys = [k for k, _ in kv]
    get = dict(kv).get
    if str(get("file", "")).startswith("json:"):
        return "node:json"
    for prefix, name in (("backing", "node:backing"), ("data-file", "node:data-file"),
                         ("encrypt.", "node:encrypt"), ("file.file.", "node:file-chain")):
        if any(k.startswith(prefix) for k in keys):
            return name
    if get("snapshot") in ("on", "yes", "true", "y"):
        return "snapshot:overlay"
    if get("if") == "pflash":
        return "pflash:size"
    if get("format") == "raw" and {"offset", "size"} & set(keys):
        return "raw:offset-size"
    proto = protocol_of(str(get("file", "")))
    for name in (proto, get("file.driver") if get("file.driver") != "file" else None,
                 get("driver"), get("format"), get("file.driver")):
        if name in _DRIVERS:
            return f"driver:{name}"
    if get("file") in _HOST_FILES:
        return "host:file-type"
    return "drive:probed" if "file" in dict(kv) else "drive:options"


def _argv_category(argv: list[str]) -> str:
    opts = {a for a in argv if a.startswith("-")}
    values = dict(zip(argv, [*argv[1:], ""], strict=True))
    if "-blockdev" in opts:
        json_syntax = any(argv[i + 1].startswith("{") for i, a in enumerate(argv[:-1])
                          if a == "-blockdev")
        return "argv:blockdev-json" if json_syntax else "argv:blockdev"
    if "-readconfig" in opts:
        return "argv:readconfig"
    machine = values.get("-machine", "") + values.get("-M", "")
    if "pflash" in machine:
        return "argv:pflash"
    if "-device" in opts:
        return "argv:device"
    if "-object" in opts:
        return "argv:object"
    if "-snapshot" in opts:
        return "argv:snapshot"
    if opts & _SHORTHANDS or (argv and not argv[0].startswith("-")):  # a bare image name
        return "argv:shorthand"
    return "argv:drive"


def heldback(row: Mapping[str, Any]) -> bool:
    """Whether a row's case is in the held-back slice (:data:`HELDBACK_PERCENT` of cases)."""
    digest = hashlib.sha256("\n".join(key(row)).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < HELDBACK_PERCENT


def in_part(row: Mapping[str, Any], version: str, part: str) -> bool:
    """Whether a row of ``version`` belongs to ``part`` (one of :data:`PARTS`): versions
    outside :data:`HELDBACK_VERSIONS` hold nothing back."""
    if part == "all" or version not in HELDBACK_VERSIONS:
        return part != "heldback"
    return heldback(row) == (part == "heldback")


def rows(name: str, version: str, part: str = "all") -> Iterator[dict[str, Any]]:
    """The recorded rows of a corpus for a version, each with ``category`` and ``source``
    (``part``: the tuning slice, the held-back slice, or all; see :func:`in_part`)."""
    assert part in PARTS, part
    c = corpus(name)
    _, recorded = read(c.recording(version))
    for row in recorded:
        if in_part(row, version, part):
            yield {**row, "category": category(row), "source": source(row, c.source)}
