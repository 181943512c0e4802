"""The network drivers' connects, live: for each driver the real QEMU (7.2, and 10.0 and
11.1 when their binaries are on PATH) opens a drive (a) at a 127.0.0.1 port nothing
listens on and (b) at a listener this test opens, which accepts and closes at once.

(a) qdrive's check(probe_network=True) must give QEMU's verdict and message; (b) qdrive
must accept with its note that the protocol was not checked, while whatever QEMU says
after the connect (the protocol's business: an empty reply, a closed handshake) is
recorded in the test's output, not asserted. Only ports and sockets on this machine.
nfs always contacts port 111 (libnfs's portmapper): it is run for (a) when nothing
listens there, and never for (b) (the test does not take a privileged port); rbd names
no monitors for (a): librados looks for a ceph.conf and for DNS SRV records, as
qdrive does (a QEMU that found monitors and hangs counts as accepting, like qdrive's
note).
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import qdrive
from tests.compat import compare, oracle

pytestmark = pytest.mark.live

PROG = "qemu-system-x86_64"
DRIVES = {  # driver -> a -drive string, {port} the 127.0.0.1 port it connects to
    "nbd": "driver=nbd,host=127.0.0.1,port={port}",
    "ssh": "file=ssh://u@127.0.0.1:{port}/disk.img",
    "http": "file=http://127.0.0.1:{port}/disk.img",
    "https": "file=https://127.0.0.1:{port}/disk.img",
    "ftp": "file=ftp://127.0.0.1:{port}/disk.img",
    "ftps": "file=ftps://127.0.0.1:{port}/disk.img",
    "iscsi": "file=iscsi://127.0.0.1:{port}/iqn.2020-01.org.example:t0/0",
    "gluster": "file=gluster://127.0.0.1:{port}/vol/img",
    "nfs": "file=nfs://127.0.0.1/export/disk.img",  # port 111, see the docstring
    "rbd": "driver=rbd,pool=p,image=i",  # no monitors named: librados asks DNS (SRV)
}
NO_LISTENER = {"nfs", "rbd"}  # (b) needs a port the test cannot pick
VERSIONS = [v for v, q in oracle.QEMUS.items() if q.available()]
TIMEOUT = 20  # seconds QEMU may take; a QEMU still running then has accepted the drive


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _accept_and_close() -> Iterator[int]:
    """A listener that accepts every connection and closes it without a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                peer, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            peer.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        done.set()
        thread.join()
        server.close()


def _qemu(version: str, drive: str) -> tuple[bool, str]:
    """QEMU's verdict and stderr on one -drive (if=none): accepted when still running."""
    q = oracle.qemu(version)
    with tempfile.TemporaryDirectory(prefix="qdrive-net-") as where:
        argv = q.command([*oracle.BASE_ARGS, "-monitor", "none", "-drive", f"{drive},if=none"],
                         cwd=Path(where))
        try:
            p = subprocess.run(argv, capture_output=True, text=True, cwd=where,
                               timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            out = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
            return True, out.strip()
    return p.returncode == 0, compare.strip_noise(p.stderr).strip()


def _ours(version: str, drive: str) -> qdrive.CheckResult:
    return qdrive.check(f"{drive},if=none", dialect=f"qemu-{version}", probe_network=True,
                        probe_files=False)


def _same(text: str) -> str:
    return re.sub(r"after \d+ ms", "after N ms", text).rstrip()


def _portmapper_listening() -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", 111)) == 0


needs_qemu = pytest.mark.skipif(not VERSIONS, reason="qemu-system-x86_64 not installed "
                                "(make test installs it as root)")


@needs_qemu
@pytest.mark.parametrize("version", VERSIONS or ["7.2"])
@pytest.mark.parametrize("driver", sorted(DRIVES))
def test_nothing_listening(version: str, driver: str) -> None:
    if driver == "nfs" and _portmapper_listening():
        pytest.skip("a portmapper listens on 127.0.0.1:111 here")
    drive = DRIVES[driver].format(port=_closed_port())
    accepted, stderr = _qemu(version, drive)
    ours = _ours(version, drive)
    assert (ours.ok, _same(ours.qemu_stderr(PROG))) == (accepted, _same(stderr))


@needs_qemu
@pytest.mark.parametrize("version", VERSIONS or ["7.2"])
@pytest.mark.parametrize("driver", sorted(set(DRIVES) - NO_LISTENER))
def test_a_listener_that_closes(version: str, driver: str) -> None:
    with _accept_and_close() as port:
        drive = DRIVES[driver].format(port=port)
        ours = _ours(version, drive)
        accepted, stderr = _qemu(version, drive)
    print(f"QEMU {version} {driver} after the connect: accepted={accepted} {stderr!r}")
    if driver == "gluster" and f"qemu-{version}" != "qemu-7.2" and not ours.ok:
        # 11.1 removed the driver (deprecated in 9.2): no connect is made
        assert "Unknown protocol 'gluster'" in ours.qemu_stderr(PROG)
        return
    assert ours.ok, ours.qemu_stderr(PROG)
    assert any(n.startswith(f"connected to 127.0.0.1:{port} and closed at once")
               for n in ours.drives[0].notes)
