"""The QEMU-derived tables in grammar/qemu-*/ (written by grammar/derive_qemu.py).

(a) each version's files load and have the documented shape, with known facts of 7.2;
(b) where a version's inputs are here (source tree, the same binary), regenerating gives
    the same bytes, and grammar/qemu-versions.md is what the tables give;
(c) qdrive's hand-written option table (qdrive/options.py) against the derived 7.2 lists,
    every disagreement listed with its reason;
(d) the readers against the real QEMU 7.2: the C reader's option lists against the ones in
    the binary, the schema reader against query-qmp-schema;
(e) the readers on small inputs written here (macros, #if, initialisers, QAPI documents,
    masked introspection, an ELF file built by gcc, a whole miniature source tree).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import qdrive.grammar
from qdrive import options as O
from qdrive.grammar import (
    _derive_binary,
    _derive_c,
    _derive_drivers,
    _derive_introspect,
    _derive_qapi,
    derive_qemu,
)

GRAMMAR = Path(qdrive.grammar.__file__).parent
VERSIONS = ("7.2", "10.0", "11.1")
OPT_TYPES = {"string", "bool", "number", "size"}
META = {"struct", "union", "alternate", "enum"}


def _load(version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    where = GRAMMAR / f"qemu-{version}"
    blocks = json.loads((where / "block-drivers.json").read_text(encoding="utf-8"))
    qapi = json.loads((where / "qapi-block.json").read_text(encoding="utf-8"))
    return blocks, qapi


def _options(blocks: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in blocks["option_lists"][key]["options"]}


def _runtime(blocks: dict[str, Any], driver: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key in blocks["drivers"][driver]["runtime_opts"]:
        out.update(_options(blocks, key))
    return out


# -- (a) shape ------------------------------------------------------------------------------------


def test_every_version_has_tables() -> None:
    found = sorted(p.name for p in GRAMMAR.glob("qemu-*") if p.is_dir())
    assert found == sorted(f"qemu-{v}" for v in VERSIONS)
    assert set(derive_qemu.VERSIONS) == set(VERSIONS)


@pytest.mark.parametrize("version", VERSIONS)
def test_block_drivers_shape(version: str) -> None:
    blocks, _ = _load(version)
    head = blocks["qemu"]
    assert head["version"] == version and head["format"] == derive_qemu.FORMAT
    assert head["derived_from"] in ("source", "binary")
    assert len(blocks["drivers"]) >= 40
    for key, lst in blocks["option_lists"].items():
        assert isinstance(lst["name"], str), key
        for opt in lst["options"]:
            assert isinstance(opt["name"], str) and opt["type"] in OPT_TYPES, (key, opt)
    for name, entry in blocks["drivers"].items():
        assert entry["format_name"] == name
        for key in entry.get("runtime_opts", []):
            assert key in blocks["option_lists"], (name, key)
        if entry.get("create_opts"):
            assert entry["create_opts"] in blocks["option_lists"], name
        if entry["qapi_type"] is not None:
            assert isinstance(entry["qapi_refs"], list)
    for key in blocks["generic"]:
        assert key in blocks["option_lists"]
    helped = blocks["format_help"]
    assert helped and helped["formats"], "every version's tables were made with its binary"
    # Every driver Debian's -drive format=help lists has an entry.
    assert set(helped["formats"]) <= set(blocks["drivers"])
    for name, entry in blocks["drivers"].items():
        assert entry["in_format_help"] is (name in helped["formats"])
    if head["derived_from"] == "source":
        for entry in blocks["drivers"].values():
            assert entry["source"].startswith("block/") and entry["kinds"] is not None
            for child in entry["children"]:
                assert isinstance(child["name"], str) and isinstance(child["optional"], bool)
    else:
        assert set(head["unknown_fields"]) & set(next(iter(blocks["drivers"].values()))) == set()


def _type_refs(t: object) -> list[str]:
    return [str(x) for x in t] if isinstance(t, list) else [str(t)]


@pytest.mark.parametrize("version", VERSIONS)
def test_qapi_shape(version: str) -> None:
    _, qapi = _load(version)
    types = qapi["types"]
    assert qapi["root"] == "BlockdevOptions" and len(types) >= 80
    for name, entry in types.items():
        assert entry["meta"] in META, name
        refs: list[str] = []
        if isinstance(entry.get("base"), str):
            refs.append(entry["base"])
        for m in entry.get("members", []):
            assert isinstance(m["optional"], bool), (name, m)
            refs += _type_refs(m["type"])
        for v in entry.get("variants", []):
            refs += _type_refs(v["type"])
        for ref in refs:
            assert ref in types or ref in _derive_qapi.BUILTIN_TYPES, (name, ref)
    root = types["BlockdevOptions"]
    assert root["meta"] == "union" and root["discriminator"] == "driver"
    drivers = {v["name"] for v in types["BlockdevDriver"]["values"]}
    assert {v["case"] for v in root["variants"]} <= drivers
    assert not [n for n, e in types.items() if e.get("name_known") is False]


def test_qemu72_facts() -> None:
    blocks, qapi = _load("7.2")
    qcow2 = _runtime(blocks, "qcow2")
    assert qcow2["overlap-check"]["type"] == "string"
    assert qcow2["lazy-refcounts"]["type"] == "bool"
    assert qcow2["l2-cache-size"]["type"] == "size"
    assert "encrypt.key-secret" in qcow2 and "discard-no-unref" not in qcow2
    file_opts = _runtime(blocks, "file")
    assert {"aio", "locking", "filename", "pr-manager"} <= set(file_opts)
    assert file_opts["drop-cache"]["if"] == "defined(__linux__)"
    assert _runtime(blocks, "quorum")["vote-threshold"]["type"] == "number"
    assert "throttle-group" in _runtime(blocks, "throttle")
    children = {c["name"]: c for c in blocks["drivers"]["qcow2"]["children"]}
    assert set(children) == {"file", "data-file", "backing"}
    assert children["data-file"]["optional"] and not children["file"]["optional"]
    blkverify = {c["name"]: c.get("filename_option") for c in
                 blocks["drivers"]["blkverify"]["children"]}
    assert blkverify == {"raw": "x-raw", "test": "x-image"}
    assert [c["name"] for c in blocks["drivers"]["quorum"]["children"]] == ["children.N"]
    assert blocks["drivers"]["luks"]["strong_runtime_opts"] == ["key-secret"]
    assert blocks["protocols"]["nbd+unix"] == "nbd" and blocks["protocols"]["fat"] == "vvfat"
    assert blocks["drivers"]["vvfat"]["kinds"] == ["protocol"]
    assert blocks["drivers"]["raw"]["kinds"] == ["format"]
    assert blocks["drivers"]["nfs"]["qapi_visited"] == ["BlockdevOptionsNfs"]
    common = _options(blocks, "blockdev.c:qemu_common_drive_opts")
    assert {"throttling.iops-total", "throttling.group", "stats-account-failed"} <= set(common)
    assert [v["symbol"] for v in blocks["drivers"]["nbd"]["variants"]] == [
        "bdrv_nbd_tcp", "bdrv_nbd_unix"]
    assert [e["symbol"] for e in blocks["other_hosts"]] == [
        "bdrv_file", "bdrv_host_cdrom", "bdrv_host_device"]
    # Debian 12 builds without libblkio: the blkio drivers are in the source, not the binary.
    assert blocks["drivers"]["io_uring"]["in_format_help"] is False
    assert qapi["build_conditions"]["CONFIG_BLKIO"] is False
    members = {m["name"]: m for m in qapi["types"]["BlockdevOptionsQcow2"]["members"]}
    assert members["overlap-check"]["type"] == "Qcow2OverlapChecks"
    assert members["overlap-check"]["default"] == "cached"
    assert qapi["types"]["BlockdevOptionsQcow2"]["base"] == "BlockdevOptionsGenericCOWFormat"


# -- (b) reproducible -----------------------------------------------------------------------------


def _why_not_regenerable(version: str, head: dict[str, Any]) -> str | None:
    v = derive_qemu.VERSIONS[version]
    if head["derived_from"] == "source" and derive_qemu.find_source(version) is None:
        where = ", ".join(p for p in derive_qemu.source_candidates(version) if p)
        return (f"no QEMU {version} source tree (looked in {where}; set "
                f"QDRIVE_QEMU_SRC_{version.replace('.', '_')} or run make tables as root)")
    if v.reference and derive_qemu.find_source(v.reference) is None:
        return f"no QEMU {v.reference} source tree to name {version}'s types after"
    if head["binary"]:
        if shutil.which(v.binary) is None:
            return f"the tables were made with {head['binary']}; {v.binary} is not on PATH"
        here = _derive_binary.version(v.binary)
        if here != head["binary"]:
            return f"the tables were made with {head['binary']}, {v.binary} is {here}"
        elves = [os.path.basename(p) for p in derive_qemu.elf_files(v)]
        if head.get("elf_files") is not None and elves != head["elf_files"]:
            return f"the tables read {head['elf_files']}, here there are {elves}"
    return None


@pytest.mark.parametrize("version", VERSIONS)
def test_regenerates_byte_for_byte(version: str) -> None:
    blocks, _ = _load(version)
    reason = _why_not_regenerable(version, blocks["qemu"])
    if reason:
        pytest.skip(reason)
    files = derive_qemu.derive(version)
    for name, text in files.items():
        on_disk = (GRAMMAR / f"qemu-{version}" / name).read_text(encoding="utf-8")
        assert text == on_disk, f"grammar/qemu-{version}/{name} is stale: run make tables"


def test_versions_markdown_is_current() -> None:
    text, unused = derive_qemu.versions_markdown()
    assert text == (GRAMMAR / "qemu-versions.md").read_text(encoding="utf-8"), \
        "grammar/qemu-versions.md is stale: run make tables"
    assert unused == [], "notes in grammar/_version_notes.py that explain no difference"
    assert "## 7.2 → 10.0" in text and "## 10.0 → 11.1" in text
    # every Dialect attribute that differs between releases has its why, and no note
    # outlives its difference (grammar/_derive_dialects.py)
    assert derive_qemu.behaviour_problems() == []
    assert "| 10.0 | 11.1 | `vfio_qemu_open` |" in text


# -- (c) qdrive/options.py against QEMU 7.2 -------------------------------------------------------

_DRIVE_LISTS = {
    "legacy": "blockdev.c:qemu_legacy_drive_opts",
    "common": "blockdev.c:qemu_common_drive_opts",
    "node": "block.c:bdrv_runtime_opts",
}
_ONE_TABLE = ("options.py names the first list that checks a key; drive_new() (blockdev.c) "
              "reads it from qemu_legacy_drive_opts and hands it on in the QDict, so the later "
              "lists see it again")
_NO_FORMAT_ROW = ("FORMAT_KEYS models only raw and qcow2; the other drivers' options are in the "
                  "derived tables for the open-time work of issue 14")
KNOWN_DIFFERENCES = {
    "read-only: options.py table legacy; QEMU 7.2 also has it in common, node": _ONE_TABLE,
    "werror: options.py table legacy; QEMU 7.2 also has it in common": _ONE_TABLE,
    "rerror: options.py table legacy; QEMU 7.2 also has it in common": _ONE_TABLE,
    "copy-on-read: options.py table legacy; QEMU 7.2 also has it in common": _ONE_TABLE,
    "detect-zeroes: options.py table common; QEMU 7.2 also has it in node":
        "blockdev_init() checks it in qemu_common_drive_opts; bdrv_runtime_opts has it for "
        "-blockdev nodes and sees it again when the drive's node opens",
    **{f"FORMAT_KEYS: no row for {d}": _NO_FORMAT_ROW for d in (
        "blkdebug", "blklogwrites", "blkverify", "ftp", "ftps", "gluster", "http", "https",
        "iscsi", "iser", "luks", "nbd", "null-aio", "null-co", "nvme", "parallels",
        "preallocate", "quorum", "replication", "ssh", "throttle", "vpc", "vvfat")},
}


def _table_disagreements(blocks: dict[str, Any]) -> set[str]:
    lists = {t: _options(blocks, key) for t, key in _DRIVE_LISTS.items()}
    out: set[str] = set()
    for key, row in O.OPTIONS.items():
        table = str(row.table)
        found = [t for t in lists if key in lists[t]]
        if table not in lists:
            if found:
                out.add(f"{key}: options.py table {table}; QEMU 7.2 has it in {', '.join(found)}")
            continue
        if table not in found:
            out.add(f"{key}: options.py table {table}; QEMU 7.2 has it in "
                    f"{', '.join(found) or 'no -drive list'}")
            continue
        if str(row.kind) != lists[table][key]["type"]:
            out.add(f"{key}: options.py kind {row.kind}; QEMU 7.2 {lists[table][key]['type']}")
        others = [t for t in found if t != table]
        if others:
            out.add(f"{key}: options.py table {table}; QEMU 7.2 also has it in "
                    f"{', '.join(others)}")
    for table, names in lists.items():
        for key in names:
            if key not in O.OPTIONS:
                out.add(f"{key}: QEMU 7.2 {table} list; not in options.py")
    for alias, target in O.ALIASES.items():
        if not any(target in names for names in lists.values()):
            out.add(f"alias {alias}: its target {target} is in no QEMU 7.2 list")
    throttling = {k for k in lists["common"] if k.startswith("throttling.")} - {"throttling.group"}
    out |= {f"THROTTLE_KEYS: {k}" for k in throttling ^ set(O.THROTTLE_KEYS)}
    out |= {f"NODE_KEYS: {k}" for k in set(lists["node"]) ^ set(O.NODE_KEYS)}
    proto = _options(blocks, "block/file-posix.c:raw_runtime_opts")
    out |= {f"PROTOCOL_KEYS: {k}" for k in set(proto) ^ set(O.PROTOCOL_KEYS)}
    for driver in blocks["drivers"]:
        derived = _runtime(blocks, driver)
        if driver not in O.FORMAT_KEYS:
            if derived and driver not in ("file", "host_device", "host_cdrom"):
                out.add(f"FORMAT_KEYS: no row for {driver}")
            continue
        mine = O.FORMAT_KEYS[driver]
        out |= {f"FORMAT_KEYS[{driver}]: {k}" for k in set(mine) ^ set(derived)}
        out |= {f"FORMAT_KEYS[{driver}]: {k} kind {mine[k]}, QEMU 7.2 {derived[k]['type']}"
                for k in set(mine) & set(derived) if str(mine[k]) != derived[k]["type"]}
    return out


def test_options_table_against_qemu72() -> None:
    blocks, _ = _load("7.2")
    found = _table_disagreements(blocks)
    assert found - set(KNOWN_DIFFERENCES) == set(), "new disagreements with QEMU 7.2"
    assert set(KNOWN_DIFFERENCES) - found == set(), "listed disagreements that are gone"


# -- (d) the readers against the real QEMU 7.2 ----------------------------------------------------

QEMU72 = "qemu-system-x86_64"
needs_qemu72 = pytest.mark.skipif(shutil.which(QEMU72) is None,
                                  reason=f"{QEMU72} (Debian 12's QEMU 7.2) is not installed")


@needs_qemu72
def test_c_reader_agrees_with_the_binary() -> None:
    """Every option list the tables give a Linux build is in the binary, option for option
    (name, type, default), except options under an #if the build leaves out."""
    blocks, _ = _load("7.2")
    ref = derive_qemu._linux_lists(blocks)
    exe = shutil.which(QEMU72)
    assert exe is not None
    elves = [os.path.realpath(exe), *sorted(glob.glob(
        "/usr/lib/x86_64-linux-gnu/qemu/block-*.so"))]
    found = [lst for path in elves for lst in _derive_binary.option_lists(path)]
    matched = derive_qemu._match_lists(ref, found, "7.2")
    # luks's amend list initialises its head from the create list's (block/crypto.c), so the
    # self-pointing head the ELF reader looks for is not there.
    assert set(ref) - set(matched) == {"block/crypto.c:block_crypto_amend_opts_luks"}
    conds = blocks["build_conditions"]
    keys = ("name", "type", "default")
    for key, lst in matched.items():
        want = [{k: o[k] for k in keys if k in o} for o in ref[key]["options"]
                if conds.get(o.get("if", ""), True) is not False]
        assert [{k: o[k] for k in keys if k in o} for o in lst["options"]] == want, key
    assert len(matched) >= 40


def _strip(entry: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in entry.items() if k not in ("source", "since", "if", "default",
                                                      "prefix")}
    for field in ("members", "values", "variants"):
        if field in out:
            out[field] = [{k: _int(v) if k == "type" else v for k, v in m.items()
                           if k not in ("default", "since", "if")} for m in out[field]]
    if "features" in out:
        out["features"] = [f if isinstance(f, str) else f["name"] for f in out["features"]]
    return out


def _int(t: object) -> object:
    ints = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "size"}
    if isinstance(t, list):
        return [_int(x) for x in t]
    return "int" if t in ints else t


@needs_qemu72
def test_qapi_reader_agrees_with_introspection() -> None:
    """The schema read from the source, with the build's conditions applied, is the schema
    the 7.2 binary reports (names recovered, integer types as introspection shows them)."""
    _, qapi = _load("7.2")
    source = qapi["types"]
    built = _derive_introspect.block_types_from_introspection(
        _derive_binary.query_schema(QEMU72), source)
    conds = qapi["build_conditions"]

    def kept(item: dict[str, Any]) -> bool:
        return "if" not in item or conds.get(derive_qemu._cond_key(item["if"])) is not False

    expect = {}
    for name, entry in source.items():
        if not kept(entry):
            continue
        entry = dict(entry)
        for field in ("members", "values", "variants"):
            if field in entry:
                entry[field] = [m for m in entry[field] if kept(m)]
        expect[name] = _strip(entry)
    assert {n: _strip(e) for n, e in built.items()} == expect


# -- (e) the readers on small inputs --------------------------------------------------------------


def _c_file(tmp_path: Path, text: str, name: str = "block/t.c") -> _derive_c.SourceFile:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return _derive_c.read_source(str(tmp_path), name)


def _init(sf: _derive_c.SourceFile, name: str) -> _derive_c.Braced:
    decl = next(d for d in sf.decls if d.name == name)
    value = _derive_c.parse_initializer(sf.macros.expand(decl.init))
    assert isinstance(value, _derive_c.Braced)
    return value


def test_c_macros_expand_like_the_preprocessor(tmp_path: Path) -> None:
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "h.h").write_text(
        '#define PREFIX "throttling."\n#define KEY(x) PREFIX #x\n'
        "#define JOIN(a, b) a ## b\n#define LIST(...) { __VA_ARGS__ }\n"
        "#define SELF SELF\n#define LONG \\\n    \"one \" \\\n    \"line\"\n")
    sf = _c_file(tmp_path, '#include "h.h"\n'
                 "static const char *const t[] = LIST(KEY(iops-total), JOIN(PRE, FIX), LONG,"
                 " SELF);\n")
    values = [_derive_c.literal(v) for _, v, _ in _init(sf, "t").items]
    assert values == ["throttling.iops - total", "throttling.", "one line", ("ref", "SELF")]


def test_c_conditions_are_kept_and_decided(tmp_path: Path) -> None:
    sf = _c_file(tmp_path, "#define HAVE_X 1\n"
                 "static const char *const t[] = {\n"
                 "#if defined(__linux__)\n  \"linux\",\n"
                 "#elif defined(_WIN32)\n  \"windows\",\n"
                 "#else\n  \"other\",\n#endif\n"
                 "#ifdef CONFIG_FOO\n  \"foo\",\n#endif\n  NULL\n};\n")
    items = _init(sf, "t").items
    conds = {_derive_c.literal(v): c for _, v, c in items}
    assert conds["linux"] == ("defined(__linux__)",)
    assert conds["windows"] == ("!(defined(__linux__)) && (defined(_WIN32))",)
    assert conds["other"] == ("!(defined(__linux__)) && !(defined(_WIN32))",)
    assert conds["foo"] == ("defined(CONFIG_FOO)",)
    hold = _derive_c.holds_on_linux
    assert [hold(c[0]) for c in (conds["linux"], conds["windows"], conds["other"])] == [
        True, False, False]
    assert hold("defined(CONFIG_FOO)") is None
    assert hold("defined(HAVE_X) && !defined(__APPLE__)", sf.macros) is True
    assert hold("QEMU_VERSION > 5") is None


def test_c_top_level_reads_past_strings_and_comments(tmp_path: Path) -> None:
    sf = _c_file(tmp_path, "/* { unbalanced in a comment */\n"
                 'static const char *s = "} also \\" here {";\n'
                 "static char c = '{';\n"
                 "static int GRAPH_RDLOCK coroutine_fn f(int a)\n{\n  if (a) { return g(a); }\n"
                 "  return 0;\n}\n"
                 "static void __attribute__((constructor)) init(void) { f(1); }\n"
                 "static QemuOptsList after = { .name = \"after\", };\n")
    assert sorted(sf.functions) == ["f", "init"]
    assert [d.name for d in sf.decls] == ["s", "c", "after"]
    assert _derive_c.literal(_init(sf, "after").get("name")) == "after"


_TREE_C = r'''
#include "qemu/osdep.h"
#define T_OPT_SIZE "size"
static QemuOptsList t_runtime_opts = {
    .name = "t",
    .head = QTAILQ_HEAD_INITIALIZER(t_runtime_opts.head),
    .desc = {
        { .name = T_OPT_SIZE, .type = QEMU_OPT_SIZE, .help = "the size", },
        { .name = "zeroes", .type = QEMU_OPT_BOOL, .def_value_str = "on" },
#ifdef CONFIG_T_EXTRA
        { .name = "extra", .type = QEMU_OPT_STRING, },
#endif
        { NULL }
    },
};
static QemuOptsList t_unused_opts = {
    .name = "unused",
    .head = QTAILQ_HEAD_INITIALIZER(t_unused_opts.head),
    .desc = { { /* end of list */ } },
};
static const char *const t_strong[] = { T_OPT_SIZE, NULL };
static int t_parse(QemuOpts **opts, QDict *options)
{
    *opts = qemu_opts_create(&t_runtime_opts, NULL, 0, &error_abort);
    return qemu_opts_absorb_qdict(*opts, options, NULL) ? 0 : -1;
}
static int t_open(BlockDriverState *bs, QDict *options, int flags, Error **errp)
{
    QemuOpts *opts;
    char name[32];
    int i;
    t_parse(&opts, options);
    bdrv_open_file_child(qemu_opt_get(opts, "x-file"), options, "file", bs, errp);
    for (i = 0; i < 2; i++) {
        snprintf(name, 32, "parts.%d", i);
        bdrv_open_child(NULL, options, name, bs, &child_of_bds, BDRV_CHILD_DATA, true, errp);
    }
    return 0;
}
static BlockDriver bdrv_t = {
    .format_name = "t",
    .protocol_name = "t",
    .bdrv_open = t_open,
    .is_format = true,
    .supports_backing = true,
    .strong_runtime_opts = t_strong,
};
static BlockDriver bdrv_t_unix = {
    .format_name = "t",
    .protocol_name = "t+unix",
    .bdrv_open = t_open,
    .is_format = true,
    .supports_backing = true,
    .strong_runtime_opts = t_strong,
};
static void t_init(void) { bdrv_register(&bdrv_t); bdrv_register(&bdrv_t_unix); }
block_init(t_init);
'''

_TREE_WIN = r'''
static BlockDriver bdrv_w = { .format_name = "t", .protocol_name = "w", };
static void w_init(void) { bdrv_register(&bdrv_w); }
'''

_TREE_QAPI = r"""
# A comment with a 'quote' and a { brace
{ 'include': 'common.json' }

##
# @BlockdevOptionsT:
#
# @size: how big (default: 1M)
#
# @zeroes: read zeroes.  Defaults to true.  (since 9.1)
#
# @file: the child
#
# Since: 9.0
##
{ 'struct': 'BlockdevOptionsT',
  'data': { '*size': 'size', '*zeroes': 'bool', 'file': 'BlockdevRef',
            '*extra': { 'type': 'str', 'if': 'CONFIG_T_EXTRA',
                        'features': [ 'unstable' ] } } }

##
# @BlockdevRef:
#
# Since: 2.9
##
{ 'alternate': 'BlockdevRef',
  'data': { 'definition': 'BlockdevOptions', 'reference': 'str' } }

{ 'union': 'BlockdevOptions',
  'base': { 'driver': 'BlockdevDriver', '*node-name': 'str' },
  'discriminator': 'driver',
  'data': { 't': 'BlockdevOptionsT' } }
"""

_TREE_COMMON = r"""
##
# @BlockdevDriver:
#
# @t: the test driver (default)
##
{ 'enum': 'BlockdevDriver', 'data': [ 't', { 'name': 'u', 'if': 'CONFIG_U' } ] }
{ 'struct': 'Unreached', 'data': { 'x': 'int' } }
"""


def _generic(name: str) -> str:
    return (f"QemuOptsList {name} = {{ .name = \"{name}\", .head = "
            f"QTAILQ_HEAD_INITIALIZER({name}.head), .desc = {{ {{ .name = \"{name}-opt\", "
            f".type = QEMU_OPT_STRING }}, {{ }} }} }};\n")


def _mini_tree(root: Path) -> Path:
    files = {
        "VERSION": "7.2.0\n",
        "block/t.c": _TREE_C,
        "block/w.c": _TREE_WIN,
        "block/file-posix.c": _generic("raw_runtime_opts"),
        "block/throttle.c": _generic("throttle_opts"),
        "block/meson.build": "block_ss.add(files(\n  't.c',\n  'throttle.c',\n))\n"
                             "block_ss.add(when: 'CONFIG_WIN32', if_true: files('w.c'))\n"
                             "block_ss.add(when: 'CONFIG_POSIX', if_true: files('file-posix.c'))\n",
        "block.c": _generic("bdrv_runtime_opts"),
        "blockdev.c": "".join(_generic(n) for n in (
            "qemu_legacy_drive_opts", "qemu_common_drive_opts", "qemu_drive_opts")),
        "include/qemu/osdep.h": "#define QEMU_OSDEP_H\n",
        "qapi/block-core.json": _TREE_QAPI,
        "qapi/common.json": _TREE_COMMON,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_miniature_tree_gives_its_tables_twice_the_same(tmp_path: Path) -> None:
    tree = _mini_tree(tmp_path / "qemu")
    first = derive_qemu.derive("7.2", str(tree), use_binary=False)
    assert derive_qemu.derive("7.2", str(tree), use_binary=False) == first
    blocks = json.loads(first["block-drivers.json"])
    t = blocks["drivers"]["t"]
    assert t["runtime_opts"] == ["block/t.c:t_runtime_opts"]
    assert t["kinds"] == ["format", "protocol"] and t["strong_runtime_opts"] == ["size"]
    assert t["children"] == [
        {"name": "file", "call": "bdrv_open_file_child", "optional": False,
         "filename_option": "x-file"},
        {"name": "parts.N", "call": "bdrv_open_child", "optional": True},
        {"name": "backing", "call": "bdrv_open_backing_file (block.c)", "optional": True}]
    assert t["variants"] == [{"symbol": "bdrv_t_unix", "line": 48,
                              "protocol_name": "t+unix", "registered": True}]
    assert t["qapi_type"] == "BlockdevOptionsT"
    assert [r["name"] for r in t["qapi_refs"]] == ["file"]
    assert blocks["protocols"] == {"t": "t", "t+unix": "t"}
    assert [(e["symbol"], e["build"]) for e in blocks["other_hosts"]] == [
        ("bdrv_w", "CONFIG_WIN32")]
    opts = blocks["option_lists"]["block/t.c:t_runtime_opts"]["options"]
    assert opts == [
        {"name": "size", "type": "size"},
        {"name": "zeroes", "type": "bool", "default": "on"},
        {"name": "extra", "type": "string", "if": "defined(CONFIG_T_EXTRA)"}]
    assert "block/t.c:t_unused_opts" not in blocks["option_lists"]
    assert blocks["format_help"] is None and t["in_format_help"] is None
    qapi = json.loads(first["qapi-block.json"])
    assert sorted(qapi["types"]) == ["BlockdevDriver", "BlockdevOptions", "BlockdevOptionsT",
                                     "BlockdevRef"]
    members = {m["name"]: m for m in qapi["types"]["BlockdevOptionsT"]["members"]}
    assert members["size"] == {"name": "size", "optional": True, "type": "size",
                               "default": "1M"}
    assert members["zeroes"]["default"] == "true" and members["zeroes"]["since"] == "9.1"
    assert members["extra"]["if"] == "CONFIG_T_EXTRA"
    assert members["extra"]["features"] == ["unstable"]
    assert qapi["types"]["BlockdevOptionsT"]["since"] == "9.0"
    assert qapi["types"]["BlockdevDriver"]["default"] == "t"
    assert qapi["types"]["BlockdevOptions"]["members"][0]["name"] == "driver"


def test_the_command_writes_checks_and_keeps_binary_tables(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    tree = _mini_tree(tmp_path / "qemu")
    out = tmp_path / "grammar"
    args = ["--version", "7.2", "--source", str(tree), "--out", str(out), "--no-binary"]
    assert derive_qemu.main(args) == 0
    assert derive_qemu.main([*args, "--check"]) == 0
    drivers = out / "qemu-7.2" / "block-drivers.json"
    drivers.write_text(drivers.read_text().replace('"t_runtime_opts"', '"edited"'))
    assert derive_qemu.main([*args, "--check"]) == 1
    assert "is not what the sources give" in capsys.readouterr().err
    # Tables recorded with a binary are not replaced by ones made without it.
    recorded = json.loads(derive_qemu.derive("7.2", str(tree), use_binary=False)
                          ["block-drivers.json"])
    recorded["qemu"]["binary"] = "QEMU emulator version 7.2.0"
    drivers.write_text(json.dumps(recorded))
    monkeypatch.setattr(derive_qemu, "_have", lambda binary: False)
    assert derive_qemu.main(args[:-1]) == 1
    assert "keeping them" in capsys.readouterr().err
    assert json.loads(drivers.read_text())["qemu"]["binary"] == "QEMU emulator version 7.2.0"


def test_missing_source_says_where_it_looked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(derive_qemu, "find_source", lambda version: None)
    with pytest.raises(FileNotFoundError, match="no QEMU 7.2 source tree"):
        derive_qemu.derive("7.2", use_binary=False)


def test_qapi_reader_rejects_what_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "qapi").mkdir()
    (tmp_path / "qapi" / "block-core.json").write_text("{ 'struct': 'X', 'data' 'y' }\n")
    with pytest.raises(_derive_qapi.SchemaError, match="':' expected"):
        _derive_qapi.read_schema(str(tmp_path))
    (tmp_path / "qapi" / "block-core.json").write_text(
        "{ 'union': 'BlockdevOptions', 'base': { 'driver': 'Missing' },"
        " 'discriminator': 'driver', 'data': {} }\n")
    with pytest.raises(_derive_qapi.SchemaError, match="'Missing' is used but not defined"):
        _derive_qapi.block_types(_derive_qapi.read_schema(str(tmp_path)))


def test_introspection_is_named_after_the_reference() -> None:
    reference = {
        "BlockdevOptions": {"meta": "union", "base": None, "discriminator": "driver",
                            "members": [{"name": "driver", "type": "BlockdevDriver",
                                         "optional": False}],
                            "variants": [{"case": "t", "type": "BlockdevOptionsT"}]},
        "BlockdevDriver": {"meta": "enum", "values": [{"name": "t"}]},
        "Base": {"meta": "struct", "base": None,
                 "members": [{"name": "file", "type": "Ref", "optional": False}]},
        "BlockdevOptionsT": {"meta": "struct", "base": "Base",
                             "members": [{"name": "n", "type": "uint32", "optional": True}]},
        "Ref": {"meta": "alternate", "variants": [{"case": "definition",
                                                   "type": "BlockdevOptions"},
                                                  {"case": "reference", "type": "str"}]},
    }
    schema = [
        {"name": "blockdev-add", "meta-type": "command", "arg-type": "1", "ret-type": "0"},
        {"name": "0", "meta-type": "object", "members": []},
        {"name": "1", "meta-type": "object", "tag": "driver",
         "members": [{"name": "driver", "type": "2"}],
         "variants": [{"case": "t", "type": "3"}, {"case": "u", "type": "0"},
                      {"case": "new", "type": "6"}]},
        {"name": "2", "meta-type": "enum", "values": ["t", "u", "new"]},
        {"name": "3", "meta-type": "object",
         "members": [{"name": "file", "type": "4"}, {"name": "n", "type": "int",
                                                     "default": None},
                     {"name": "more", "type": "[5]", "default": None,
                      "features": ["unstable"]}]},
        {"name": "4", "meta-type": "alternate", "members": [{"type": "1"}, {"type": "str"}]},
        {"name": "[5]", "meta-type": "array", "element-type": "5"},
        {"name": "5", "meta-type": "enum", "values": ["a"]},
        {"name": "6", "meta-type": "object", "members": [{"name": "x", "type": "str"}]},
        {"name": "int", "meta-type": "builtin", "json-type": "int"},
        {"name": "str", "meta-type": "builtin", "json-type": "string"},
    ]
    types = _derive_introspect.block_types_from_introspection(schema, reference)
    assert types["BlockdevOptionsT"] == {
        "meta": "struct", "base": "Base", "source": "query-qmp-schema",
        "members": [{"name": "n", "optional": True, "type": "int"},
                    {"name": "more", "optional": True, "type": ["?BlockdevOptionsT.more"],
                     "features": ["unstable"]}]}
    assert types["Base"]["members"] == [{"name": "file", "optional": False, "type": "Ref"}]
    assert types["Ref"]["variants"] == [{"case": "definition", "type": "BlockdevOptions"},
                                        {"case": "reference", "type": "str"}]
    # The branch without a type of its own ('u') is left out, as the schema source does.
    assert [v["case"] for v in types["BlockdevOptions"]["variants"]] == ["t", "new"]
    assert types["?BlockdevOptions.new"]["name_known"] is False
    assert types["?BlockdevOptionsT.more"]["meta"] == "enum"


def test_elf_reader_finds_option_lists(tmp_path: Path) -> None:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed (make test installs it as root)")
    so = tmp_path / "fixture.so"
    source = Path(__file__).parents[1] / "data" / "qemu_optslist.c"
    subprocess.run([gcc, "-O0", "-fPIC", "-shared", "-o", str(so), str(source)], check=True)
    found = _derive_binary.option_lists(str(so))
    assert found == [
        {"name": "fixture", "binary": "fixture.so", "options": [
            {"name": "offset", "type": "size"},
            {"name": "verbose", "type": "bool", "default": "off"},
            {"name": "mode", "type": "string"},
            {"name": "count", "type": "number"}]},
        {"name": "implied", "binary": "fixture.so", "options": [],
         "implied_opt_name": "path", "merge_lists": True},
    ]
    with pytest.raises(_derive_binary.BinaryError, match="not a little-endian ELF64"):
        _derive_binary.option_lists(str(source))


def test_driver_tables_need_the_generic_lists(tmp_path: Path) -> None:
    tree = _mini_tree(tmp_path / "qemu")
    (tree / "block.c").write_text("/* no bdrv_runtime_opts */\n")
    with pytest.raises(ValueError, match="generic option lists not found: block.c:"):
        _derive_drivers.derive_sources(str(tree))


def test_meson_conditions(tmp_path: Path) -> None:
    meson = tmp_path / "meson.build"
    meson.write_text("block_ss.add(files('a.c'))\nif get_option('b').allowed()\n"
                     "  block_ss.add(files('b.c'))\nelse\n  block_ss.add(files('c.c'))\nendif\n"
                     "if host_os == 'windows'\n  block_ss.add(files('w.c'))\nendif\n"
                     "foreach m : [\n  [curl, 'curl', files('curl.c')],\n]\nendforeach\n")
    conds = _derive_drivers.meson_conditions(str(meson))
    assert conds == {"a.c": None, "b.c": "get_option('b').allowed()",
                     "c.c": "not (get_option('b').allowed())", "w.c": "host_os == 'windows'",
                     "curl.c": "module curl (curl)"}
    assert not _derive_drivers._built_on_linux(conds["w.c"])
    assert _derive_drivers._built_on_linux(conds["c.c"])


def test_apt_source_versions_are_recognised() -> None:
    """Regression: apt-cache showsrc takes no version, so asking for qemu=VERSION found
    nothing and fetch_source added a second deb-src entry for a suite apt already had."""
    if shutil.which("apt-cache") is None:
        pytest.skip("apt-cache is not installed")
    shown = subprocess.run(["apt-cache", "showsrc", "qemu"], capture_output=True, text=True,
                           check=False).stdout
    v = derive_qemu.VERSIONS["7.2"]
    if f"Version: {v.debian}" not in shown:
        pytest.skip(f"apt has no deb-src entry offering qemu {v.debian}")
    assert derive_qemu._apt_knows_source(v.debian)
    assert not derive_qemu._apt_knows_source(v.debian + "~not-a-version")
