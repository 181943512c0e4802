"""Phase 1 of a command line: every option read in turn, as softmmu/vl.c qemu_init()'s
option loop does.

-drive and -device strings are parsed as QemuOpts (ids, duplicates, the deprecated
bare flags of util/qemu-option.c), -blockdev is read and visited as BlockdevOptions,
-object as ObjectOptions, -machine with keyval (util/keyval.c) and -global with
softmmu/qdev-monitor.c qemu_global_option(); nothing is created yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from ._argv_state import OptionResult, PROG, Phase, _Event, _State
from .._values import ID_EXPECTED, ID_HINT, id_wellformed, on_off
from .argv import NO_ARG, SHORTHANDS
from .blockdev_args import BlockdevError, parse_blockdev
from .devices import BLOCK_MODELS
from .objects import ObjectError, parse_object


def _tokens(argv: Sequence[str]) -> list[tuple[int, str, str | None]]:
    args = list(argv)
    base = 0
    if args and not args[0].startswith("-") and "qemu" in args[0].rsplit("/", 1)[-1]:
        args, base = args[1:], 1
    out: list[tuple[int, str, str | None]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-") or arg == "-":
            out.append((i + base, "-hda", arg))
            i += 1
            continue
        name = arg.lstrip("-")
        value = args[i + 1] if name not in NO_ARG and i + 1 < len(args) else None
        out.append((i + base, arg, value))
        i += 1 if name in NO_ARG else 2
    return out


def _bare_machine_key(value: str) -> str:
    """The first item after the implied type= that has no "=" (keyval refuses it)."""
    return next((part for part in value.split(",")[1:] if part and "=" not in part), "")


def _machine_props(value: str) -> dict[str, str]:
    out = {}
    for n, part in enumerate(value.split(",")):
        key, eq, v = part.partition("=")
        if not eq and n == 0:
            out["type"] = key
        elif eq:
            out[key] = v
    return out


def _parse_blockdev(st: _State, index: int, option: str, text: str,
                    parsed: list[tuple[int, str, str, Any]]) -> None:
    st.results[index] = OptionResult(index, option, text, "node")
    try:
        opts = parse_blockdev(text)
    except BlockdevError as exc:
        st.fail(Phase.PARSE, index, str(exc), option, text)
        return
    parsed.append((index, option, text, opts))
    st.results[index] = OptionResult(index, option, text, "node")


def _parse_object(st: _State, index: int, option: str, text: str,
                  parsed: list[tuple[int, str, str, Any]]) -> None:
    st.results[index] = OptionResult(index, option, text, "object")
    if not text.startswith("{"):
        _flag_warnings(st, index, option, text)
    try:
        props = parse_object(text, st.object_ids)
    except ObjectError as exc:
        st.fail(Phase.PARSE, index, str(exc), option, text)
        return
    if not text.startswith("{"):
        # only QemuOpts (the keyval spelling) knows the ids it has read; a JSON object's
        # duplicate id is found when it is added (see _create_objects)
        st.object_ids.add(str(props.get("id")))
    kind = props.get("qom-type")
    if kind == "throttle-group":
        st.graph.throttle_groups.add(str(props["id"]))
    elif kind == "secret":
        st.graph.secrets.add(str(props["id"]))
    elif kind == "iothread":
        st.iothreads.add(str(props["id"]))
    elif kind == "pr-manager-helper":
        st.graph.pr_managers.add(str(props["id"]))
    parsed.append((index, option, text, props))
    st.results[index] = OptionResult(index, option, text, "object")


_ID_HINT = f"{ID_EXPECTED}\n{ID_HINT}"


def _parse_device(st: _State, index: int, option: str, text: str,
                  parsed: list[tuple[int, str, str, Any]]) -> None:
    from .objects import _split_opts

    st.results[index] = OptionResult(index, option, text, "device")
    if text.startswith("{"):
        from .jsonarg import JsonArgError, parse_json_object

        try:
            props: dict[str, Any] = parse_json_object(text)
        except JsonArgError as exc:
            st.fail(Phase.PARSE, index, str(exc), option, text)
            return
        # qdev_device_add_from_qdict() reads driver, bus and id with qdict_get_try_str():
        # one that is not a string is as good as absent
        props = {k: _json_str(v) for k, v in props.items()
                 if k not in ("driver", "bus", "id") or isinstance(v, str)}
    else:
        props = {}
        _flag_warnings(st, index, option, text)
        for n, (key, value) in enumerate(_split_opts(text)):
            if value is None:
                if n == 0:
                    key, value = "driver", key
                else:
                    key, value = _flag(key)
            # util/qemu-option.c opts_parse_id(): the first id= names the device; the
            # later ones are skipped unread (opts_do_parse())
            if key == "id" and "id" not in props:
                if not id_wellformed(value):
                    st.fail(Phase.PARSE, index, _ID_HINT, option, text)
                    return
                if value in st.device_ids:
                    st.fail(Phase.PARSE, index, f"Duplicate ID '{value}' for device",
                            option, text)
                    return
            props.setdefault(key, value)
    if "id" in props:
        st.device_ids.add(props["id"])
    parsed.append((index, option, text, props))
    from .netdevs import nic_model

    judged = props.get("driver") in BLOCK_MODELS
    nic = nic_model(str(props.get("driver", ""))) is not None
    st.results[index] = OptionResult(
        index, option, text, "device" if judged or nic else "skipped", None,
        None if judged or nic else "device model not judged",
        "a network card: only its netdev= is judged" if nic else None)


def _flag(item: str) -> tuple[str, str]:
    """util/qemu-option.c get_opt_name_value(): a bare NAME is NAME=on, noNAME NAME=off."""
    return (item[2:], "off") if item.startswith("no") else (item, "on")


def _flag_warnings(st: _State, index: int, option: str, text: str) -> None:
    """The deprecation warning QemuOpts prints, as it reads the option, for each bare
    flag after the implied first item (util/qemu-option.c get_opt_name_value)."""
    from .objects import _split_opts

    for key, value in _split_opts(text)[1:]:
        if value is None and key and key != "help" and key != "?":
            name, on = _flag(key)
            st.events.append(_Event(Phase.PARSE, index, f"{PROG}: {option} {text}: warning: "
                                    f"short-form boolean option '{key}' deprecated\n"
                                    f"Please use {name}={on} instead", False))


def _json_str(v: Any) -> Any:
    if isinstance(v, bool):
        return on_off(v)
    if isinstance(v, int | float):
        return str(v)
    return v


def _global(text: str) -> tuple[str, str, str]:
    """softmmu/qdev-monitor.c qemu_global_option(): DRIVER.PROP=VALUE, or
    driver=,property=,value=; (driver, property, value)."""
    head, _, value = text.partition("=")
    if "." in head and not head.startswith("driver"):
        driver, _, prop = head.partition(".")
        return driver, prop, value
    from .objects import _split_opts

    opts = {k: v or "" for k, v in _split_opts(text)}
    return opts.get("driver", ""), opts.get("property", ""), opts.get("value", "")


@attrs.define
class _Read:
    """What reading the options hands on to the later phases."""

    parsed: list[tuple[int, str, str, Any]] = attrs.Factory(list)  # (index, option, text,
    # its parsed form): the -blockdev, -object and -device options, in order
    drive_at: list[int] = attrs.Factory(list)  # the argv index of each drive, in order
    machine_props: dict[str, str] = attrs.Factory(dict)
    machine_texts: list[tuple[int, str]] = attrs.Factory(list)
    fdc_globals: list[tuple[str, str, str]] = attrs.Factory(list)  # -global isa-fdc.*


def read_options(st: _State, tokens: list[tuple[int, str, str | None]],
                 probe_files: bool) -> _Read:
    """softmmu/vl.c qemu_init(): the option loop, one option at a time."""
    read = _Read()
    for index, option, value in tokens:
        _read_option(st, read, index, option, value, probe_files)
    return read


def _read_option(st: _State, read: _Read, index: int, option: str, value: str | None,
                 probe_files: bool) -> None:
    name = option.lstrip("-")
    if name == "drive" or name in SHORTHANDS:
        read.drive_at.append(index)
        st.results[index] = OptionResult(index, option, value, "drive")
    elif name == "readconfig" and value is not None:
        read.drive_at.extend([index] * _config_drives(value, probe_files))
        st.results[index] = OptionResult(index, option, value, "config")
    elif value is None and name not in NO_ARG:
        st.results[index] = OptionResult(index, option, None, "skipped", None,
                                         "no argument")
    elif name == "blockdev":
        _parse_blockdev(st, index, option, value or "", read.parsed)
    elif name == "object":
        _parse_object(st, index, option, value or "", read.parsed)
    elif name == "device":
        _parse_device(st, index, option, value or "", read.parsed)
    elif name in ("machine", "M"):
        _read_machine(st, read, index, option, value or "")
    else:
        st.results[index] = _other_option(st, read, index, option, value)


def _read_machine(st: _State, read: _Read, index: int, option: str, value: str) -> None:
    read.machine_props.update(_machine_props(value))
    read.machine_texts.append((index, value))
    st.results[index] = OptionResult(index, option, value, "machine")
    bare = _bare_machine_key(value)
    if bare:
        # softmmu/vl.c: -machine is read with keyval_parse_into(..., "type"), so
        # only the first item may omit its "=" (util/keyval.c keyval_parse_one)
        st.fail(Phase.PARSE, index, f"Expected '=' after parameter '{bare}'",
                option, value)


def _other_option(st: _State, read: _Read, index: int, option: str,
                  value: str | None) -> OptionResult:
    """-snapshot, -netdev and the -global options on the board's floppy controller or a
    block device; every other option is not judged."""
    name = option.lstrip("-")
    if name == "global":  # every one is asked about once the machine is made
        st.qom_globals.append(_global(value or ""))
    if name == "snapshot":
        return OptionResult(index, option, value, "machine")
    if name == "netdev":
        return OptionResult(index, option, value, "netdev", note=(
            "only its id is read (duplicates, peers): its backend is not judged"))
    if name == "global" and _global(value or "")[0] == "isa-fdc":
        read.fdc_globals.append(_global(value or ""))
        return OptionResult(index, option, value, "machine")
    if name == "global" and _global(value or "")[0] in BLOCK_MODELS:
        st.globals_.append(_global(value or ""))
        return OptionResult(index, option, value, "machine")
    return OptionResult(index, option, value, "skipped", None, "not judged by qdrive")


def _config_drives(path: str, probe_files: bool) -> int:
    """How many drives a -readconfig file gives (its [drive] sections): their verdicts
    are the option's."""
    from .readconfig import read_config

    return sum(1 for s in read_config(path)[0] if s.group == "drive") if probe_files else 0
