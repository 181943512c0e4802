"""QEMU's error lines, rendered by one function (qdrive/diagnostics.py qemu_line) for every
view: the stderr of a check, the caret view and str(DriveError)."""

from __future__ import annotations

import pytest

import qdrive
from qdrive.diagnostics import Diagnostic, Severity, Span, Stage, location, qemu_line
from qdrive.errors import DriveError

TEXT = "file=a.img,cache=bogus"
ERR = Diagnostic("bad-cache", Severity.ERROR, "invalid cache option", Span(11, 22),
                 Stage.LEGACY, detail="more from QEMU", hint="cache= takes ...")


@pytest.mark.parametrize(("d", "line"), [
    (ERR, f"qemu-system-x86_64: -drive {TEXT}: invalid cache option\nmore from QEMU"),
    (Diagnostic("w", Severity.WARNING, "said twice", Span(0, 4), Stage.PARSE),
     f"qemu-system-x86_64: -drive {TEXT}: warning: said twice"),
    (Diagnostic("board", Severity.ERROR, "Device needs media, but drive is empty", Span(0, 1),
                Stage.BOARD, located=False),
     "qemu-system-x86_64: Device needs media, but drive is empty"),
    # block/raw-format.c prints its probing warning with a bare fprintf
    (Diagnostic("probed-raw", Severity.WARNING, "WARNING: Image format was not specified",
                Span(0, 1), Stage.FORMAT, located=False),
     "WARNING: Image format was not specified"),
    (Diagnostic("open-blocks", Severity.ERROR, "blocks", Span(0, 1), Stage.FILE, silent=True),
     ""),
])
def test_qemu_line(d: Diagnostic, line: str) -> None:
    assert qemu_line(d, TEXT) == line


def test_location_and_option() -> None:
    assert location("qemu-system-x86_64", "-hda", "a.img") == "qemu-system-x86_64: -hda a.img: "
    assert location("", "-drive", "x") == "-drive x: "
    assert location("qemu-system-x86_64", "-nodefaults", None) == \
        "qemu-system-x86_64: -nodefaults: "
    assert qemu_line(ERR, "a.img", "qemu", "-hda").startswith("qemu: -hda a.img: invalid")


def test_render_puts_the_caret_under_the_option() -> None:
    assert ERR.render(TEXT).split("\n") == [
        f"qemu-system-x86_64: -drive {TEXT}: invalid cache option",
        " " * len("qemu-system-x86_64: -drive ") + " " * 11 + "^" + "~" * 10,
        "more from QEMU",
        "hint: cache= takes ...",
    ]


def test_drive_error_is_always_located() -> None:
    # A board message QEMU prints without the -drive location still says which drive.
    board = Diagnostic("needs-media", Severity.ERROR, "Device needs media, but drive is "
                       "empty", Span(0, 6), Stage.BOARD, located=False)
    assert str(DriveError("if=ide", board)) == (
        "-drive if=ide: Device needs media, but drive is empty\n"
        "       ^~~~~~")


def test_check_stderr_names_the_option_as_given() -> None:
    text = "file=a.img,format=raw,cache=bogus"
    for arg, option in ((text, "-drive"), (qdrive.DriveArg(text, "-hda"), "-hda")):
        bad = qdrive.check(arg, probe_files=False)
        assert bad.qemu_stderr() == (f"qemu-system-x86_64: {option} {text}: invalid cache "
                                     "option")
