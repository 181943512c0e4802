"""The judge can fail: what an escape looks like to it, and what it must not call one.

The attack suite's verdict is only as good as :mod:`tests.security.harness`: here QEMU is
started on purpose with what the policy refuses (a file outside, an nbd: server, a host
file through a symlink) and each run must show a violation; a clean run must show none.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.security import harness
from tests.security import images as im


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    inside, outside = tmp_path / "in", tmp_path / "out"
    inside.mkdir()
    outside.mkdir()
    im.raw(inside / "disk.img")
    im.raw(outside / "secret.img")
    im.symlink(inside / "link.img", str(outside / "secret.img"))
    return inside, outside


def test_trace_parsing_and_judging() -> None:
    cwd = "/allowed"
    trace = "\n".join((
        '10 execve("/usr/bin/qemu-system-x86_64", ["qemu"], 0x0 /* 1 var */) = 0',
        '10 openat(AT_FDCWD</allowed>, "disk.img", O_RDONLY) = 5</allowed/disk.img>',
        '10 openat(AT_FDCWD</allowed>, "link.img", O_RDONLY) = 6</out/secret.img>',
        '10 openat(AT_FDCWD</allowed>, "../out/x", O_RDONLY) = -1 ENOENT (No such file)',
        '10 openat(AT_FDCWD</allowed>, "' + "/" * 20 + 'etc"..., O_RDONLY) = -1 ENAMETOOLONG'
        ' (File name too long)',
        '10 openat(AT_FDCWD</allowed>, "' + "/" * 20 + 'etc"..., O_RDONLY) = 7</etc>',
        '10 connect(9<socket:[1]>, {sa_family=AF_INET, sin_port=htons(10809)}, 16) = -1 '
        'ECONNREFUSED (Connection refused)',
    ))
    evs = harness.events(trace, cwd)
    bad = harness.judge(evs, ["/allowed"], [], "/tmp/q.sock", cwd)
    assert [b.split(":")[0] for b in bad] == ["opens /out/secret.img", "opens /out/x",
                                              "opens /etc", "connects"], bad


@pytest.mark.live
def test_escapes_are_seen(dirs: tuple[Path, Path]) -> None:
    if harness.have_tools():
        pytest.skip(harness.have_tools())
    inside, outside = dirs
    allowed = [str(inside)]
    clean = harness.run(["-drive", "file=disk.img,format=raw,if=virtio"], inside, allowed)
    assert clean.accepted and clean.violations == (), clean.violations
    out = harness.run(["-drive", f"file={outside}/secret.img,format=raw,if=virtio"], inside,
                      allowed)
    assert any(v.startswith(f"opens {outside}/secret.img") for v in out.violations), out
    assert any(f"holds {outside}/secret.img open" == v for v in out.violations), out
    link = harness.run(["-drive", "file=link.img,format=raw,if=virtio"], inside, allowed)
    assert any(v.startswith(f"opens {outside}/secret.img") for v in link.violations), link
    with socket.socket() as srv:  # a listener, so QEMU's connect is real
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        nbd = harness.run(["-drive", f"file=nbd:127.0.0.1:{port},format=raw,if=virtio"],
                          inside, allowed, timeout=10)
    assert any(v.startswith("connects") for v in nbd.violations), nbd.violations
