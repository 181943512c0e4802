"""Coverage-guided fuzz targets (atheris/libFuzzer) for every entry point that reads text.

Run one: python -m tests.fuzz.targets TARGET [libFuzzer flags] [CORPUS_DIR...]
Targets: parse72, parse2008, check, argv, blockdev, keyval (util/keyval.c's syntax),
blockdev_json (-blockdev keyval or JSON through the QAPI schema and the node graph),
cmdline (qdrive.check_argv on a whole command line). Each feeds arbitrary input and
fails (a libFuzzer crash) on any exception other than the documented ones, or when a
promise breaks: a valid drive must round-trip, an error span must lie in its input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import qdrive
from qdrive.frontend.argv import read_argv


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _parse(text: str, dialect: str) -> None:
    try:
        d = qdrive.parse_drive(text, dialect=dialect)
    except qdrive.DriveError as e:
        start, end = e.span
        assert 0 <= start <= end <= len(text), (text, e.span)
        str(e)
        return
    if dialect == "qemu-7.2":
        canonical = d.to_string()
        again = qdrive.parse_drive(canonical)
        assert again == d, (text, canonical)
        assert again.to_string() == canonical


def parse72(data: bytes) -> None:
    _parse(_text(data), "qemu-7.2")


def parse2008(data: bytes) -> None:
    _parse(_text(data), "qemu-0.9-sync")


def check(data: bytes) -> None:
    drives = _text(data).split("\t")[:4]
    result = qdrive.check(drives, probe_files=False)
    json.dumps(result.to_json())
    result.qemu_stderr()
    for r in result.drives:
        if r.error is not None:
            assert 0 <= r.error.span.start <= r.error.span.end <= len(r.text)


def argv(data: bytes) -> None:
    cmd = read_argv(_text(data).split("\0")[:12])
    result = qdrive.check(cmd.drives, machine="pc", snapshot=cmd.snapshot, probe_files=False)
    json.dumps(result.to_json())


def blockdev(data: bytes) -> None:
    try:
        d = qdrive.parse_drive(_text(data))
        qdrive.to_blockdev(d).args()
    except (qdrive.DriveError, qdrive.TranslationError):
        return


def keyval(data: bytes) -> None:
    from qdrive.frontend.keyval import KeyvalError, parse_keyval

    text = _text(data)
    try:
        out = parse_keyval(text, "driver" if text[:1] != "," else None)
    except KeyvalError as e:
        assert str(e)
        return
    assert isinstance(out, dict)


def blockdev_json(data: bytes) -> None:
    # -blockdev both ways: keyval or JSON, then the QAPI schema, then the node graph
    # (without opening files).
    from qdrive.frontend.blockdev_args import BlockdevError, Graph, add_blockdev, parse_blockdev

    try:
        opts = parse_blockdev(_text(data))
        add_blockdev(Graph(touch_files=False), opts)
    except BlockdevError as e:
        assert str(e)


def cmdline(data: bytes) -> None:
    whole = qdrive.check_argv(_text(data).split("\0")[:16], probe_files=False)
    json.dumps(whole.to_json())
    whole.qemu_stderr()
    assert len(whole.options) <= 16


TARGETS: dict[str, Callable[[bytes], None]] = {
    "parse72": parse72, "parse2008": parse2008, "check": check, "argv": argv,
    "blockdev": blockdev, "keyval": keyval, "blockdev_json": blockdev_json,
    "cmdline": cmdline,
}


def main() -> None:
    import atheris  # only the fuzzing process needs it; the replay tests import this module

    atheris.instrument_all()  # coverage for qdrive (already imported) and everything else
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
