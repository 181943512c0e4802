"""The descriptor hand-off: what it gives a launcher, and QEMU using the checked inodes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import qdrive
from qdrive.frontend.argv import check_argv
from tests.security import harness
from tests.security import images as im
from tests.security.handoff_demo import demonstrate


def _fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Path, qdrive.Policy]]:
    images = tmp_path / "images"
    images.mkdir()
    im.raw(images / "disk.img")
    im.raw(images / "base.img")
    im.qemu_img("create", "-q", "-f", "qcow2", "-b", "base.img", "-F", "raw",
                str(images / "top.qcow2"), "1M")
    im.raw(images / "data.raw")
    im.qcow2(images / "df.qcow2", incompatible=im.INCOMPAT_DATA_FILE,
             extensions=[(im.DATA_FILE, b"data.raw")])
    im.raw(images / "flat.raw")
    im.vmdk_descriptor(images / "desc.vmdk", ['RW 2048 FLAT "flat.raw" 0'])
    (tmp_path / "overlay").mkdir()
    yield images, qdrive.Policy.untrusted(
        [str(images)], cwd=str(images), formats=("raw", "qcow2", "vmdk"),
        overlay_dir=str(tmp_path / "overlay"), overlay_budget=1 << 30)


def test_arguments_and_descriptors(lab: tuple[Path, qdrive.Policy]) -> None:
    images, policy = lab
    before = _fds()
    r = qdrive.check(["file=top.qcow2,format=qcow2,if=virtio",
                      "file=disk.img,format=raw,if=virtio,read-only=on"], policy=policy,
                     hand_off=True)
    assert r.ok and r.hand_off is not None
    h = r.hand_off
    add_fd = [a for a in h.argv if a.startswith("fd=")]
    # top.qcow2 read-write: two descriptors (read-only and read-write); base.img and the
    # read-only disk.img: one each.
    assert len(add_fd) == len(h.pass_fds) == 4 and all(fd > 2 for fd in h.pass_fds)
    drives = [h.argv[n + 1] for n, a in enumerate(h.argv) if a == "-drive"]
    assert drives[0].startswith("file=/dev/fdset/") and \
        "backing.driver=raw,backing.file.driver=file,backing.file.filename=/dev/fdset/" in drives[0]
    assert drives[1].startswith("file=/dev/fdset/") and drives[1].endswith("read-only=on")
    for fd in h.pass_fds:
        target = os.readlink(f"/proc/self/fd/{fd}")
        assert target.startswith(str(images)), target
    h.close()
    h.close()  # twice is fine
    assert _fds() <= before  # nothing leaked (earlier tests' descriptors may close meanwhile)


def test_data_file_is_handed_over_too(lab: tuple[Path, qdrive.Policy]) -> None:
    _, policy = lab
    r = qdrive.check("file=df.qcow2,format=qcow2,if=virtio", policy=policy, hand_off="proc")
    assert r.hand_off is not None
    with r.hand_off as h:
        (drive,) = [h.argv[n + 1] for n, a in enumerate(h.argv) if a == "-drive"]
        assert "data-file.driver=file,data-file.filename=/proc/self/fd/" in drive
        assert not any(a == "-add-fd" for a in h.argv)


def test_what_no_option_can_redirect_is_refused(lab: tuple[Path, qdrive.Policy]) -> None:
    _, policy = lab
    assert qdrive.check("file=desc.vmdk,format=vmdk", policy=policy).ok  # by name: fine
    before = _fds()
    r = qdrive.check("file=desc.vmdk,format=vmdk", policy=policy, hand_off=True)
    assert r.hand_off is None and not r.ok
    assert r.drives[0].error is not None and r.drives[0].error.code == "policy-handoff"
    assert _fds() <= before


def test_refused_results_hold_nothing(lab: tuple[Path, qdrive.Policy]) -> None:
    _, policy = lab
    before = _fds()
    r = qdrive.check(["file=disk.img,format=raw", "file=/etc/passwd,format=raw"],
                     policy=policy, hand_off=True)
    assert not r.ok and r.hand_off is None
    assert _fds() <= before


def test_snapshot_overlays_get_tmpdir(lab: tuple[Path, qdrive.Policy], tmp_path: Path) -> None:
    _, policy = lab
    r = qdrive.check("file=disk.img,format=raw,snapshot=on", policy=policy, hand_off=True)
    assert r.hand_off is not None
    with r.hand_off as h:
        assert h.env == {"TMPDIR": str(tmp_path / "overlay")}
        # snapshot=on opens the image read-only under the overlay: one descriptor
        assert len(h.pass_fds) == 1


def test_misuse_is_an_error(lab: tuple[Path, qdrive.Policy]) -> None:
    _, policy = lab
    with pytest.raises(ValueError, match="untrusted Policy"):
        qdrive.check("file=disk.img,format=raw", hand_off=True)
    with pytest.raises(ValueError, match="offline"):
        qdrive.check("file=disk.img,format=raw", policy=policy, probe_files=False,
                     hand_off=True)
    with pytest.raises(ValueError, match="'fdset' or 'proc'"):
        qdrive.check("file=disk.img,format=raw", policy=policy, hand_off="names")


def test_command_line_hand_off(lab: tuple[Path, qdrive.Policy]) -> None:
    images, policy = lab
    im.raw(images / "vmlinuz")
    r = check_argv(["qemu-system-x86_64", "-nodefaults", "-display", "none", "-m", "256", "-drive",
                    "file=disk.img,format=raw,if=none,id=d0", "-device",
                    "virtio-blk-pci,drive=d0", "-kernel", "vmlinuz"], policy=policy,
                   hand_off=True)
    assert r.ok and r.hand_off is not None
    with r.hand_off as h:
        argv = list(h.argv)
        assert "qemu-system-x86_64" not in argv  # the launcher puts its own binary first
        assert argv[argv.index("-m") + 1] == "256"
        kernel = argv[argv.index("-kernel") + 1]
        assert kernel.startswith("/proc/self/fd/") and int(kernel.rsplit("/", 1)[1]) in \
            h.pass_fds


needs_tools = pytest.mark.skipif(bool(harness.have_tools()), reason=harness.have_tools() or "-")


@pytest.mark.live
@needs_tools
@pytest.mark.parametrize("mode", ["fdset", "proc"])
def test_qemu_uses_the_checked_inode_after_a_swap(tmp_path: Path, mode: str) -> None:
    """The names are swapped for links to host files after the check: through the
    hand-off QEMU holds and reads the checked inodes; by name it reads the host's."""
    demo = demonstrate(tmp_path, mode)
    print("\n" + demo.render())
    checked = {ident for _, ident in demo.checked}
    assert demo.handed.violations == ()
    assert demo.handed.guest_reads.startswith(b"CHECKED BASE")
    assert {ident for _, ident in demo.handed.fds} == checked
    assert "/dev/fdset/" in demo.handed.block or "/proc/self/fd/" in demo.handed.block
    # The same drive started by name after the swap is what the hand-off prevents:
    assert demo.named.guest_reads.startswith(b"HOST SECRET")
    assert any("outside/secret.img" in v for v in demo.named.violations)
    assert not {ident for _, ident in demo.named.fds} & checked
