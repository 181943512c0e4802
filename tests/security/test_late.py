"""Headers rewritten after the check: the same inode, other bytes.

The hand-off pins inodes, so a name swap changes nothing (test_handoff); but the
attacker owns the bytes and may rewrite a checked header before QEMU reads it. Backing
names added later are neutralised by the hand-off itself (``backing=`` on every image
node that had none); a qcow2 external data file or a vmdk embedded descriptor added
later cannot be taken away by any -drive option, and only the Landlock sandbox
(``HandOff.sandbox()``) keeps them from reaching outside. Each case is started through
the hand-off without and with the sandbox, under strace.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

import qdrive
from qdrive.frontend.policy import _sandbox
from tests.security import harness
from tests.security import images as im

pytestmark = [pytest.mark.live, pytest.mark.skipif(
    bool(harness.have_tools()) or _sandbox.abi() < 1,
    reason=harness.have_tools() or "this kernel has no Landlock")]


@attrs.frozen
class Late:
    label: str
    drive: str
    make: Callable[[Path], None]  # builds what is checked
    rewrite: Callable[[Path, Path], None]  # (images, outside): the bytes after the check
    residual: bool  # the hand-off alone cannot stop it (the sandbox must)


def _header(path: Path, **kw: object) -> None:
    """Rewrite the first cluster of ``path`` in place (same inode) as im.qcow2 would."""
    scratch = path.with_name(path.name + ".scratch")
    im.qcow2(scratch, **kw)  # type: ignore[arg-type]
    with open(path, "r+b") as f, open(scratch, "rb") as g:
        f.write(g.read(65536))
    scratch.unlink()


def _plain(name: str, fmt: str = "qcow2") -> Callable[[Path], None]:
    def make(images: Path) -> None:
        im.qemu_img("create", "-q", "-f", fmt, str(images / name), "1M")
    return make


def _embed(images: Path, outside: Path) -> None:
    data = bytearray((images / "s.vmdk").read_bytes())
    desc = struct.unpack("<Q", data[28:36])[0] * 512
    text = ('createType="monolithicFlat"\n'
            f'RW 2048 FLAT "{outside / "secret.img"}" 0\n').encode() + b"\0"
    data[12:20] = bytes(8)
    data[desc:desc + len(text)] = text
    with open(images / "s.vmdk", "r+b") as f:
        f.write(bytes(data))


def _secret(outside: Path) -> bytes:
    return str(outside / "secret.img").encode()


CASES = (
    Late("qcow2 gains a backing file", "file=a.qcow2,format=qcow2,if=virtio", _plain("a.qcow2"),
         lambda i, o: _header(i / "a.qcow2", backing=_secret(o),
                              extensions=[(im.BACKING_FORMAT, b"raw")]), False),
    Late("qcow2 gains an nbd: backing", "file=a.qcow2,format=qcow2,if=virtio", _plain("a.qcow2"),
         lambda i, o: _header(i / "a.qcow2", backing=b"nbd:127.0.0.1:10809",
                              extensions=[(im.BACKING_FORMAT, b"raw")]), False),
    Late("the backing file's own backing", "file=top.qcow2,format=qcow2,if=virtio",
         lambda i: im.qcow2_chain(i, ["top.qcow2"], "base.qcow2", "qcow2") if (
             _plain("base.qcow2")(i) is None) else None,
         lambda i, o: _header(i / "base.qcow2", backing=_secret(o),
                              extensions=[(im.BACKING_FORMAT, b"raw")]), False),
    Late("the checked backing name rewritten", "file=b.qcow2,format=qcow2,if=virtio",
         lambda i: im.qcow2_chain(i, ["b.qcow2"], "disk.img"),
         lambda i, o: _header(i / "b.qcow2", backing=_secret(o),
                              extensions=[(im.BACKING_FORMAT, b"raw")]), False),
    Late("qed gains a backing file", "file=a.qed,format=qed,if=virtio", _plain("a.qed", "qed"),
         lambda i, o: im.qed(i / "a.qed.new", _secret(o)) or (i / "a.qed").write_bytes(
             (i / "a.qed.new").read_bytes()), False),
    Late("raw rewritten as a qcow2 with a backing", "file=disk.img,format=raw,if=virtio",
         lambda i: None,
         lambda i, o: _header(i / "disk.img", backing=_secret(o),
                              extensions=[(im.BACKING_FORMAT, b"raw")]), False),
    Late("qcow2 gains an external data file", "file=a.qcow2,format=qcow2,if=virtio",
         _plain("a.qcow2"),
         lambda i, o: _header(i / "a.qcow2", incompatible=im.INCOMPAT_DATA_FILE,
                              extensions=[(im.DATA_FILE, str(o / "data.raw").encode())]), True),
    Late("sparse vmdk gains an embedded descriptor", "file=s.vmdk,format=vmdk,if=virtio",
         _plain("s.vmdk", "vmdk"), _embed, True),
)


def _start(root: Path, case: Late, sandboxed: bool) -> harness.Run:
    images, outside, elsewhere = root / "images", root / "outside", root / "else"
    for d in (images, outside, elsewhere):
        d.mkdir(parents=True)
    im.raw(images / "disk.img")
    im.raw(outside / "secret.img", data=b"secret")
    im.raw(outside / "data.raw")
    case.make(images)
    policy = qdrive.Policy.untrusted([str(images)], cwd=str(images),
                                     formats=("raw", "qcow2", "qed", "vmdk"))
    result = qdrive.check(case.drive, policy=policy, hand_off=True)
    assert result.ok and result.hand_off is not None, result.first_error
    with result.hand_off as h:
        case.rewrite(images, outside)  # after the check, before QEMU starts
        wrap = (lambda tmp: h.sandbox([tmp])) if sandboxed else None
        return harness.run(list(h.argv), elsewhere, [str(images)], pass_fds=h.pass_fds,
                           wrap=wrap)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_rewritten_after_the_check(tmp_path: Path, case: Late) -> None:
    bare, boxed = _start(tmp_path / "bare", case, False), _start(tmp_path / "boxed", case, True)
    assert boxed.violations == (), boxed.violations
    if case.residual:  # what the sandbox is there for: without it QEMU reaches outside
        assert any("/outside/" in v for v in bare.violations), bare
    else:
        assert bare.violations == (), bare.violations


def test_the_sandbox_keeps_clean_drives_working(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    im.raw(images / "disk.img")
    im.qcow2_chain(images, ["c.qcow2"], "disk.img")
    (tmp_path / "overlay").mkdir()
    policy = qdrive.Policy.untrusted([str(images)], cwd=str(images),
                                     overlay_dir=str(tmp_path / "overlay"),
                                     overlay_budget=1 << 30)
    drives = ["file=c.qcow2,format=qcow2,if=virtio,cache=none,aio=native",
              "file=disk.img,format=raw,if=virtio,read-only=on,snapshot=on"]
    for mode in ("fdset", "proc"):
        result = qdrive.check(drives, policy=policy, hand_off=mode)
        assert result.hand_off is not None
        with result.hand_off as h:
            run = harness.run(list(h.argv), tmp_path, [str(images), str(tmp_path / "overlay")],
                              writable=[str(tmp_path / "overlay")], pass_fds=h.pass_fds,
                              env=dict(h.env), wrap=lambda tmp: h.sandbox([tmp]))
        assert run.accepted and run.violations == (), (run.stderr, run.violations)
        # The sandbox refused QEMU nothing of its own; QEMU 7.2 also opens its working
        # directory "." once at start-up and goes on without it (not granted: it is the
        # launcher's directory, not QEMU's).
        refused = [e.raw for e in run.events if "EACCES" in e.raw and '"."' not in e.raw]
        assert refused == [], refused
