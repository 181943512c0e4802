"""Convert once: check() walks each drive one time, and the image's name is decided in one
place (qdrive/frontend/_conversion.py local_image) that every later stage reads."""

from __future__ import annotations

from pathlib import Path

import pytest

import qdrive
from qdrive.frontend import _convert, _walk
from qdrive.frontend._conversion import local_image
from qdrive.frontend._syntax import tokenize
from qdrive.model import Interface
from qdrive.probe import ProbeResult


@pytest.mark.parametrize(("text", "expected"), [
    ("file=disk.img", ("disk.img", "file")),
    ("file=dir/a:b.img", ("dir/a:b.img", "file")),  # ':' after a '/': a local name
    ("file=./a:b", ("./a:b", "file")),
    ("file=nbd:localhost:10809", ("", "")),  # a protocol prefix
    # file-posix's own prefixes are stripped (block/file-posix.c raw_parse_filename())
    ("file=file:disk.img", ("disk.img", "file")),
    ("file=host_cdrom:/dev/sr0", ("/dev/sr0", "file")),
    ("file=json:{\"driver\": \"raw\"}", ("", "")),
    ("file.filename=disk.img,file.driver=file", ("disk.img", "file.filename")),
    ("file.filename=x:y", ("x:y", "file.filename")),  # taken literally
    ("file.filename=disk.img,file.driver=nbd", ("", "")),
    ("file=disk.img,file.driver=host_device", ("disk.img", "file")),
    ("driver=file,filename=disk.img", ("disk.img", "filename")),
    ("driver=raw,filename=disk.img", ("", "")),
    ("file=,file.filename=b.img", ("b.img", "file.filename")),
    ("file=a.img,file=b.img", ("b.img", "file")),  # the later value replaces the earlier
    ("format=raw", ("", "")),
])
def test_local_image(text: str, expected: tuple[str, str]) -> None:
    assert local_image({i.key: i.value for i in tokenize(text)}) == expected


@pytest.mark.parametrize("text", [
    "file=disk.img,format=raw", "file=disk.img,format=raw,copy-on-read=on",
    "driver=file,filename=disk.img", "file.filename=disk.img,format=raw",
])
def test_the_walk_and_the_shortcut_name_the_image_alike(text: str) -> None:
    walked = _convert.walk_72(text, tokenize(text), Interface.IDE)
    either = _convert.convert_72(text, tokenize(text), Interface.IDE)
    assert walked.image_name == either.image_name == local_image(
        {i.key: i.value for i in tokenize(text)})[0]




def _counting(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    walks: list[str] = []
    reads: list[str] = []
    real_walk, real_read = _convert.walk_72, _walk.Walk.__init__

    def walk(text: str, *a: object, **k: object) -> object:
        walks.append(text)
        return real_walk(text, *a, **k)  # type: ignore[arg-type]

    def init(self: _walk.Walk, *a: object, **k: object) -> None:
        real_read(self, *a, **k)  # type: ignore[arg-type]
        reader = self.read_header
        if reader is not None:
            def counted(name: str) -> ProbeResult:
                reads.append(name)
                return reader(name)
            self.read_header = counted

    monkeypatch.setattr(_convert, "walk_72", walk)
    monkeypatch.setattr(_walk.Walk, "__init__", init)
    return walks, reads


def test_a_probed_format_takes_one_walk(qcow2: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    walks, reads = _counting(monkeypatch)
    text = f"file={qcow2}"  # no format=: QEMU probes qcow2, then qcow2 opens the image
    result = qdrive.check(text)
    assert result.ok, result.qemu_stderr()
    assert result.drives[0].probed_format == "qcow2"
    assert walks == [text]
    assert reads == [str(qcow2)]


def test_the_probed_format_judges_the_options(qcow2: Path) -> None:
    # qcow2's own option: accepted only because the walk read the header first.
    assert qdrive.check(f"file={qcow2},lazy-refcounts=on").ok
    bad = qdrive.check(f"file={qcow2},offset=512")
    assert bad.qemu_stderr().endswith(
        "Block format 'qcow2' does not support the option 'offset'")


def test_an_early_error_reads_no_header(qcow2: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    walks, reads = _counting(monkeypatch)
    result = qdrive.check(f"file={qcow2},cache=bogus")
    assert result.qemu_stderr().endswith("invalid cache option")
    assert len(walks) == 1 and reads == []


@pytest.mark.parametrize(("last", "direct"), [("off", True), ("none", True),
                                              ("writeback", False)])
def test_a_failed_drive_is_opened_with_the_options_qemu_holds(last: str, direct: bool) -> None:
    # A second cache= is left over and fails after the open (recorded from QEMU 7.2 for
    # cache=off); the open itself uses the last one, expanded: "off" is none's O_DIRECT,
    # which /dev/null refuses.
    text = f"file=/dev/null,media=cdrom,cache=none,cache={last}"
    stderr = qdrive.check(text).qemu_stderr()
    o_direct = "Could not open '/dev/null': filesystem does not support O_DIRECT"
    assert stderr.endswith(o_direct if direct else
                           "Block format 'raw' does not support the option 'cache'")
