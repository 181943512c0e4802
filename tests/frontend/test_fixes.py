"""Fix suggestions: the common mistakes, each fix passing check(), a recorded sample's fixes
accepted by the real QEMU 7.2, and --fix shown, never applied."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

import qdrive
from tests.clirun import run
from tests.compat import compare, oracle

FIXES = {
    # aio=native needs O_DIRECT
    "file=disk.img,format=raw,aio=native": "file=disk.img,format=raw,aio=native,cache=none",
    "file=disk.img,format=raw,cache=writethrough,aio=native":
        "file=disk.img,format=raw,cache=directsync,aio=native",
    "file=disk.img,format=raw,cache=unsafe,aio=native":
        "file=disk.img,format=raw,cache=unsafe,aio=native,cache.direct=on",
    "file=disk.img,format=raw,aio=native,cache.direct=off":
        "file=disk.img,format=raw,aio=native,cache.direct=on",
    # detect-zeroes=unmap does nothing without discard=unmap
    "file=disk.img,format=raw,detect-zeroes=unmap":
        "file=disk.img,format=raw,detect-zeroes=unmap,discard=unmap",
    "file=disk.img,format=raw,detect-zeroes=unmap,discard=ignore":
        "file=disk.img,format=raw,detect-zeroes=unmap,discard=unmap",
    # misspelt keys and values, "did you mean"
    "file=disk.img,format=raw,cahce=none": "file=disk.img,format=raw,cache=none",
    "file=disk.img,format=raw,aio=native,cahce=none":
        "file=disk.img,format=raw,aio=native,cache=none",
    "file=disk.img,format=qcwo2": "file=disk.img,format=qcow2",
    "file=disk.img,format=raw,aio=nativ,cache=none":
        "file=disk.img,format=raw,aio=native,cache=none",
    "file=disk.img,format=raw,if=virtoi": "file=disk.img,format=raw,if=virtio",
    "file=disk.img,format=raw,werror=stpo": "file=disk.img,format=raw,werror=stop",
    # values are case-sensitive
    "file=disk.img,format=raw,cache=None": "file=disk.img,format=raw,cache=none",
    "file=disk.img,format=RAW,if=VIRTIO": "file=disk.img,format=raw,if=virtio",
    "file=cd.iso,media=CDROM": "file=cd.iso,media=cdrom",
    # booleans are on/off; QEMU 0.9's cache=on
    "file=disk.img,format=raw,copy-on-read=1": "file=disk.img,format=raw,copy-on-read=on",
    "file=disk.img,format=raw,cache=on": "file=disk.img,format=raw,cache=writeback",
    # device options moved to -device
    "file=disk.img,format=raw,if=virtio,serial=abc": "file=disk.img,format=raw,if=virtio",
    "file=disk.img,format=raw,bootindex=1,if=virtio": "file=disk.img,format=raw,if=virtio",
    # warnings
    "file=disk.img,format=raw,snapshot": "file=disk.img,format=raw,snapshot=on",
}


@pytest.mark.parametrize("text", FIXES)
def test_common_mistakes(text: str) -> None:
    fix = qdrive.suggest_fix(text)
    assert fix is not None and fix.text == FIXES[text], fix
    assert fix.changes and all(isinstance(c, str) and c for c in fix.changes)
    assert qdrive.check(fix.text, probe_files=False).ok


def test_fix_names_the_device_for_moved_options() -> None:
    fix = qdrive.suggest_fix("file=disk.img,format=raw,if=none,id=d0,serial=abc")
    assert fix is not None
    assert fix.changes == ("removed serial=abc: it belongs to the device (-device ...,"
                           "drive=ID,serial=abc), not to -drive",)


def test_probed_raw_gets_format_raw(in_images: Path) -> None:
    fix = qdrive.suggest_fix("file=disk.img", probe_files=True)
    assert fix is not None and fix.text == "file=disk.img,format=raw"
    assert qdrive.suggest_fix("file=disk.img") is None  # offline: nothing probed


@pytest.mark.parametrize("text", [
    "file=disk.img,format=raw",  # nothing to fix
    "file=disk.img,format=raw,frobnicate=1",  # no known option near it
    "file=disk.img,format=raw,cache=bogus",  # no mode near it
    "file=disk.img,format=raw,if=xen",  # refused for other reasons: not a spelling
])
def test_no_fix_offered(text: str) -> None:
    assert qdrive.suggest_fix(text) is None


def test_policy_and_2008_are_not_fixed() -> None:
    assert qdrive.suggest_fix("file=x.img,cache=bad", dialect="qemu-0.9-sync") is None


def test_fix_is_never_applied(images: Path) -> None:
    text = "file=disk.img,format=raw,aio=native"
    result = qdrive.check(text, probe_files=False)
    assert not result.ok and result.drives[0].text == text
    p = run("check", "--fix", text, cwd=images)
    assert p.returncode == 1  # the drive is still refused: the fix is only shown
    assert p.stdout.endswith(
        "hint: try cache=none (or cache.direct=on)\n"
        "fix: -drive file=disk.img,format=raw,aio=native,cache=none\n"
        "      added cache=none (aio=native needs O_DIRECT)\n")


def test_fix_in_json(images: Path) -> None:
    p = run("check", "--fix", "--json", "file=disk.img,format=raw,cahce=none",
            "file=disk.img,format=raw,if=virtio", cwd=images)
    drives = __import__("json").loads(p.stdout)["drives"]
    assert drives[0]["fix"] == {"text": "file=disk.img,format=raw,cache=none", "changes": [
        "cahce=none -> cache=none (unknown option 'cahce': did you mean 'cache'?)"]}
    assert drives[1]["fix"] is None


def test_a_drive_error_carries_its_fix() -> None:
    with pytest.raises(qdrive.DriveError) as info:
        qdrive.parse_drive("file=disk.img,format=raw,aio=native")
    assert info.value.fix == "file=disk.img,format=raw,aio=native,cache=none"


def _refused_singles() -> list[str]:
    _, rows = compare.load()
    return [r["drives"][0] for r in rows if not r["accepted"] and len(r.get("drives", [])) == 1]


FIXABLE = [t for t in _refused_singles() if qdrive.suggest_fix(t) is not None]
LIVE_SAMPLE = random.Random(18).sample(FIXABLE, 12)


def test_the_corpus_has_fixable_refusals() -> None:
    assert len(FIXABLE) >= 100  # 122 of the recorded refusals when this was written


@pytest.mark.live
@pytest.mark.skipif(shutil.which(oracle.QEMU) is None, reason="qemu-system-x86_64 not "
                    "installed (make test installs it when run as root)")
@pytest.mark.parametrize("text", LIVE_SAMPLE)
def test_qemu_72_accepts_the_fix(text: str, in_images: Path) -> None:
    """A recorded refusal's fix, checked with the image probed, is accepted by QEMU 7.2."""
    assert oracle.run([text], in_images)["accepted"] is False
    fix = qdrive.suggest_fix(text, probe_files=True)
    if fix is None:  # e.g. the image is missing: offline the fix passed, with files not
        assert not qdrive.check(qdrive.suggest_fix(text).text).ok  # type: ignore[union-attr]
        return
    got = oracle.run([fix.text], in_images)
    assert got["accepted"], (text, fix, got["stderr"])
