"""qdrive/frontend/netprobe.py and the network drivers' connects (check(probe_network=True)):
against 127.0.0.1 ports and Unix sockets the tests open themselves (a listener, a port
nothing listens on, a socket file without a listener), nothing outside the machine. The
messages are QEMU's as recorded in fixtures/qemu72|qemu100|qemu111; the live comparison
with the real QEMU is tests/compat/test_netprobe_live.py."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import qdrive
from qdrive.frontend import _fmt_protocols, netprobe
from tests.clirun import run


@contextlib.contextmanager
def listener() -> Iterator[int]:
    """A 127.0.0.1 port that accepts (the kernel's backlog: nothing is read or sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _probe(drive: str, dialect: str = "qemu-7.2") -> qdrive.CheckResult:
    return qdrive.check(drive, dialect=dialect, probe_network=True, probe_files=False)


def _message(result: qdrive.CheckResult) -> str:
    err = result.drives[0].error
    assert err is not None, result.drives[0].notes
    return err.qemu_text


REFUSED = {  # driver's drive string (PORT filled in) -> QEMU 7.2's message
    "nbd": ("driver=nbd,host=127.0.0.1,port={port}",
            "Failed to connect to '127.0.0.1:{port}': Connection refused"),
    "nbd-name": ("file=nbd:127.0.0.1:{port}:exportname=e",
                 "Failed to connect to '127.0.0.1:{port}': Connection refused"),
    "nbd-uri": ("file=nbd://127.0.0.1:{port}/e",
                "Failed to connect to '127.0.0.1:{port}': Connection refused"),
    "ssh": ("file=ssh://u@127.0.0.1:{port}/disk.img",
            "Failed to connect to '127.0.0.1:{port}': Connection refused"),
    "ssh-options": ("driver=ssh,server.host=127.0.0.1,server.port={port},path=/x",
                    "Failed to connect to '127.0.0.1:{port}': Connection refused"),
    "http": ("file=http://127.0.0.1:{port}/disk.img",
             "CURL: Error opening file: Failed to connect to 127.0.0.1 port {port} after N "
             "ms: Couldn't connect to server"),
    "ftps": ("driver=ftps,url=ftps://u:p@127.0.0.1:{port}/disk.img",
             "CURL: Error opening file: Failed to connect to 127.0.0.1 port {port} after N "
             "ms: Couldn't connect to server"),
    "iscsi": ("file=iscsi://127.0.0.1:{port}/iqn.2020-01.org.example:t0/0",
              "iSCSI: Failed to connect to LUN : iscsi_service failed with : "
              "iscsi_service_reconnect_if_loggedin. Can not reconnect right now."),
    "iscsi-options": ("driver=iscsi,portal=127.0.0.1:{port},target=iqn.x:y,transport=tcp",
                      "iSCSI: Failed to connect to LUN : iscsi_service failed with : "
                      "iscsi_service_reconnect_if_loggedin. Can not reconnect right now."),
    "gluster": ("file=gluster://127.0.0.1:{port}/vol/dir/img",
                "Gluster connection for volume vol, path dir/img failed to connect\n"
                "hint: failed on host 127.0.0.1 and port {port} Please refer to gluster "
                "logs for more info"),
}


def _no_ms(text: str) -> str:
    import re

    return re.sub(r"after \d+ ms", "after N ms", text)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_nothing_listening_gives_qemus_message(name: str) -> None:
    drive, message = REFUSED[name]
    port = closed_port()
    result = _probe(drive.format(port=port))
    assert not result.ok
    assert _no_ms(_message(result)) == message.format(port=port)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_listener_is_accepted_with_a_note(name: str) -> None:
    drive, _ = REFUSED[name]
    with listener() as port:
        result = _probe(drive.format(port=port))
    assert result.ok, result.qemu_stderr()
    assert any(n.startswith(f"connected to 127.0.0.1:{port} and closed at once")
               and "protocol itself was not checked" in n for n in result.drives[0].notes)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_without_probe_network_nothing_connects_and_a_note_says_where(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kw: object) -> netprobe.Outcome:
        raise AssertionError("connected without probe_network")

    monkeypatch.setattr(netprobe, "tcp", refuse)
    monkeypatch.setattr(netprobe, "unix", refuse)
    drive, _ = REFUSED[name]
    result = qdrive.check(drive.format(port=4242), probe_files=False)
    assert result.ok
    assert result.drives[0].notes == (
        "not checked: QEMU connects to 127.0.0.1:4242 at open (use --probe-network)",)


@pytest.mark.parametrize(("dialect", "words"), [
    ("qemu-7.2", "127.0.0.1 port {port} after N ms: Couldn't connect to server"),
    ("qemu-10.0", "127.0.0.1 port {port} after N ms: Could not connect to server"),
    ("qemu-11.1", "127.0.0.1:{port} after N ms: Could not connect to server")])
def test_curl_words_are_the_dialects_libcurl(dialect: str, words: str) -> None:
    port = closed_port()
    result = _probe(f"file=https://127.0.0.1:{port}/disk.img", dialect)
    assert _no_ms(_message(result)) == "CURL: Error opening file: Failed to connect to " \
        + words.format(port=port)


def test_curl_default_ports_and_ipv6_host() -> None:
    assert _fmt_protocols._url_host_port("ftps://u:p@h/x", 990) == ("h", 990)
    assert _fmt_protocols._url_host_port("http://[::1]:8080/x?y", 80) == ("::1", 8080)
    assert _fmt_protocols._url_host_port("http://h:81", 80) == ("h", 81)


def test_curl_goes_through_the_proxy_its_environment_names(
        monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    monkeypatch.setenv("http_proxy", f"127.0.0.1:{port}")
    result = _probe("file=http://192.0.2.1/disk.img")  # TEST-NET: never reached
    assert f"127.0.0.1 port {port} after" in _message(result)
    monkeypatch.setenv("no_proxy", "192.0.2.1")
    with listener() as open_port:
        monkeypatch.setenv("no_proxy", "")
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{open_port}")
        assert _probe("file=http://192.0.2.1/disk.img").ok


def test_nfs_contacts_the_portmapper(monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    monkeypatch.setattr(_fmt_protocols, "_PORTMAP", port)
    assert _message(_probe("file=nfs://127.0.0.1/export/disk.img")) == \
        "Failed to mount nfs share: nfs_service failed"
    with listener() as open_port:
        monkeypatch.setattr(_fmt_protocols, "_PORTMAP", open_port)
        assert _probe("file=nfs://127.0.0.1/export/disk.img").ok


def test_unresolvable_names() -> None:
    # .invalid never resolves (RFC 6761); the resolver answers without the network
    name = "nosuch.invalid"
    assert _message(_probe(f"driver=nbd,host={name}")).startswith(
        f"address resolution failed for {name}:10809: ")
    assert _message(_probe(f"file=http://{name}/x")) == \
        f"CURL: Error opening file: Could not resolve host: {name}"
    assert _message(_probe(f"file=iscsi://{name}/iqn.x:y/0")) == (
        f"iSCSI: Failed to connect to LUN : Failed to start full connect Invalid target:{name}"
        "  Can not resolv into IPv4/v6.")
    assert _message(_probe(f"file=nfs://{name}/x", "qemu-10.0")) == \
        "Failed to mount nfs share: nfs_mount_async failed. Failed to start connection. "


def test_iser_without_rdma_fails_at_its_event_channel() -> None:
    if os.path.exists(_fmt_protocols.RDMA_CM):
        pytest.skip("this host has an RDMA device")
    assert _message(_probe("driver=iscsi,portal=127.0.0.1,target=t,transport=iser")) == (
        "iSCSI: Failed to connect to LUN : Failed to start full connect Couldn't connect "
        "transport: Failed creating Event Channel")


def test_gluster_tries_each_server_in_turn(tmp_path: Path) -> None:
    dead = closed_port()
    sock = str(tmp_path / "glusterd.sock")
    servers = (f"driver=gluster,volume=v,path=p,server.0.type=inet,server.0.host=127.0.0.1,"
               f"server.0.port={dead},server.1.type=unix,server.1.path={sock}")
    assert _message(_probe(servers)) == (
        "Gluster connection for volume v, path p failed to connect\n"
        f"hint: failed on host 127.0.0.1 and port {dead} hint: failed on socket {sock} "
        "Please refer to gluster logs for more info")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(sock)
        s.listen(1)
        result = _probe(servers)
    assert result.ok and result.drives[0].notes == (
        f"connected to unix:{sock} and closed at once: the Gluster protocol itself was not "
        "checked",)


def test_gluster_rdma_warns_before_it_connects() -> None:
    result = _probe(f"file=gluster+rdma://127.0.0.1:{closed_port()}/v/p")
    assert [w.message for w in result.drives[0].warnings] == [
        "rdma feature is not supported, falling back to tcp"]
    assert not result.ok


def test_nbd_unix_sockets(tmp_path: Path) -> None:
    path = str(tmp_path / "nbd.sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(path)  # a socket file nothing listens on: only a connect can tell
        assert qdrive.check(f"file=nbd:unix:{path}", probe_files=True).ok
        assert _message(_probe(f"file=nbd:unix:{path}")) == \
            f"Failed to connect to '{path}': Connection refused"
        s.listen(1)
        assert _probe(f"file=nbd:unix:{path}").ok
    assert _message(_probe("file=nbd:unix:")) == "Failed to connect to '': Connection refused"


def test_nbd_abstract_sockets() -> None:
    name = f"qdrive-test-{os.getpid()}"
    drive = f"driver=nbd,server.type=unix,server.path={name},server.abstract=on"
    assert _message(_probe(drive)) == f"Failed to connect to '{name}': Connection refused"
    assert qdrive.check(drive).drives[0].notes == (
        f"not checked: QEMU connects to the abstract Unix socket '{name}' at open (use "
        "--probe-network)",)
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(b"\0" + name.encode())
        s.listen(1)
        assert _probe(drive).ok
        assert not _probe(drive + ",server.tight=off").ok  # another name: sun_path padded
    with socket.socket(socket.AF_UNIX) as s:
        s.bind((b"\0" + name.encode()).ljust(108, b"\0"))
        s.listen(1)
        assert _probe(drive + ",server.tight=off").ok


def test_curl_refuses_writes_before_it_connects() -> None:
    for drive in ("driver=http,url=http://127.0.0.1/x,auto-read-only=off",
                  "driver=https,url=https://127.0.0.1/x,copy-on-read=on",
                  "file=ftp://127.0.0.1/x,format=raw,file.auto-read-only=off"):
        assert _message(qdrive.check(drive)) == "curl driver does not support writes"
    for drive in ("driver=http,url=http://127.0.0.1/x,auto-read-only=off,read-only=on",
                  "file=http://127.0.0.1/x,copy-on-read=on",  # the raw node's, not curl's
                  "file=http://127.0.0.1/x,auto-read-only=off,snapshot=on"):
        assert qdrive.check(f"{drive},if=none").ok  # IDE has no read-only disks


def test_rbd_says_it_is_not_probed() -> None:
    for drive in ("file=rbd:pool/image:mon_host=127.0.0.1",
                  "driver=rbd,pool=p,image=i,server.0.host=127.0.0.1,server.0.port=6789",
                  "file=rbd:pool/image:conf=/etc/x.conf"):
        result = _probe(drive)
        assert result.ok and "not probed" in result.drives[0].notes[0]


def test_rbd_without_monitors_asks_dns(monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    monkeypatch.delenv("CEPH_CONF", raising=False)
    monkeypatch.setattr(_fmt_protocols, "_CEPH_CONFS", (str(tmp_path / "ceph.conf"),))
    asked: list[str] = []

    def srv(name: str, found: bool) -> bool:
        asked.append(name)
        return found

    monkeypatch.setattr(netprobe, "srv_records", lambda name: srv(name, False))
    result = _probe("driver=rbd,pool=p,image=i,if=none")
    assert result.qemu_stderr().splitlines() == [
        "unable to get monitor info from DNS SRV with service name: ceph-mon",
        "qemu-system-x86_64: -drive driver=rbd,pool=p,image=i,if=none: error connecting: "
        "No such file or directory"]
    assert asked == ["_ceph-mon._tcp"]
    assert qdrive.check("driver=rbd,pool=p,image=i").ok  # not probed: no DNS query
    assert asked == ["_ceph-mon._tcp"]
    monkeypatch.setattr(netprobe, "srv_records", lambda name: srv(name, True))
    assert _probe("driver=rbd,pool=p,image=i").ok
    (tmp_path / "ceph.conf").write_text("[global]\n")
    monkeypatch.setattr(netprobe, "srv_records", lambda name: srv(name, False))
    assert _probe("driver=rbd,pool=p,image=i").ok  # a ceph.conf may name monitors


def test_rbd_secrets() -> None:
    base = "driver=rbd,pool=p,image=i,if=none"
    assert _message(qdrive.check(f"{base},key-secret=s0")) == "No secret with id 's0'"
    assert _message(qdrive.check(f"{base},password-secret=s0")) == "No secret with id 's0'"
    assert _message(qdrive.check(f"{base},password-secret=s0,key-secret=s1")) == \
        "Legacy 'password-secret' clashes with 'key-secret'"
    assert _message(qdrive.check("file=rbd:pool/image:mon_host=127.0.0.1,format=raw,"
                                 "file.password-secret=s0")) == "No secret with id 's0'"


def test_never_under_the_untrusted_policy(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kw: object) -> netprobe.Outcome:
        raise AssertionError("connected under the untrusted policy")

    monkeypatch.setattr(netprobe, "tcp", refuse)
    monkeypatch.setattr(netprobe, "unix", refuse)
    policy = qdrive.Policy.untrusted([str(tmp_path)], cwd=str(tmp_path))
    with pytest.raises(ValueError, match="never used under an untrusted policy"):
        qdrive.check("file=nbd:127.0.0.1:10809", policy=policy, probe_network=True)
    qdrive.check("file=nbd:127.0.0.1:10809", policy=policy)  # refused or not, no connect
    with netprobe.allowed(True):  # even a caller's session does not reach a guarded check
        qdrive.check("driver=nbd,host=127.0.0.1", policy=policy)
    p = run("check", "--policy", "untrusted", "--allow-dir", str(tmp_path),
            "--probe-network", "file=nbd:127.0.0.1:10809")
    assert p.returncode == 2 and "--probe-network is never used" in p.stderr


def test_check_argv_and_the_cli() -> None:
    port = closed_port()
    argv = ["qemu-system-x86_64", "-drive", f"file=nbd:127.0.0.1:{port},if=none"]
    assert qdrive.check_argv(argv, probe_network=False).ok
    assert f"Failed to connect to '127.0.0.1:{port}'" in qdrive.check_argv(
        argv, probe_network=True).qemu_stderr()
    p = run("check", "--probe-network", f"file=nbd:127.0.0.1:{port}")
    assert p.returncode == 1 and "Connection refused" in p.stderr + p.stdout
    p = run("check", "--json", f"file=nbd:127.0.0.1:{port}")
    assert p.returncode == 0 and "use --probe-network" in p.stdout


def test_dialect_differences_around_the_connect() -> None:
    # 7.2's curl_open() hands GLib a NULL table before failing; 10.0's does not
    assert "GLib: g_hash_table_destroy" in qdrive.check("driver=ftps").qemu_stderr()
    assert "GLib" not in qdrive.check("driver=ftps", dialect="qemu-10.0").qemu_stderr()
    # 11.1's curl reads force-range with its QemuOpts, before it connects
    port = closed_port()
    for drive in (f"driver=https,url=https://127.0.0.1:{port}/x,force-range=maybe",
                  f"file=https://127.0.0.1:{port}/x,file.force-range=maybe"):
        assert _message(_probe(drive, "qemu-11.1")) == \
            "Parameter 'force-range' expects 'on' or 'off'"
    # 10.0's gluster warns it is deprecated once its open reads its options
    result = _probe(f"file=gluster://127.0.0.1:{port}/v/p", "qemu-10.0")
    assert [w.message for w in result.drives[0].warnings] == ["'gluster' is deprecated"]
    assert not _probe(f"file=gluster://127.0.0.1:{port}/v/p").drives[0].warnings


def test_gluster_and_nfs_names_by_release() -> None:
    rdma = "file=gluster+rdma://127.0.0.1:24007/v/p"
    assert _message(qdrive.check(rdma, dialect="qemu-10.0")) == \
        "Unknown protocol 'gluster+rdma'"
    assert _message(qdrive.check(f"driver=gluster,filename={rdma[5:]}",
                                 dialect="qemu-10.0")).startswith("invalid URI gluster+rdma")
    unix = "file=gluster+unix:///vol/img?socket=s"
    assert _message(qdrive.check(unix, dialect="qemu-10.0")).startswith("invalid URI")
    assert qdrive.check(unix).ok  # 7.2's util/uri.c: no host at all
    for dialect, word in (("qemu-7.2", "Illegal"), ("qemu-10.0", "Invalid")):
        assert _message(qdrive.check("file=nfs://127.0.0.1/x?uid=x", dialect=dialect)) == \
            f"{word} value for NFS parameter: uid"


def test_rbd_key_decoded_before_the_monitors() -> None:
    doubled = "QVFDVm41aE82SHpGQWhBQXEwTkN2OGp0SmNJY0UrSE9CbE1RMUE="  # base64 of a key's text
    good = "AQCVn5hO6HzFAhAAq0NCv8jtJcIcE+HOBlMQ1A=="
    for key in (doubled, "abc"):
        drive = f"file=rbd:p/i:mon_host=127.0.0.1:key={key},if=none"
        assert _message(qdrive.check(drive)) == "error connecting: Invalid argument"
        assert _message(qdrive.check(drive, dialect="qemu-10.0")) == \
            "error connecting: Invalid argument"
        assert qdrive.check(drive, dialect="qemu-11.1").ok  # sid's librados waits first
    assert qdrive.check(f"file=rbd:p/i:mon_host=127.0.0.1:key={good},if=none").ok
    assert qdrive.check(f"file=rbd:p/i:key={doubled},if=none").ok  # monitors come first


def test_blockdev_network_nodes() -> None:
    port = closed_port()
    nbd = ["-blockdev", '{"driver":"nbd","server":{"type":"inet","host":"127.0.0.1",'
           f'"port":"{port}"}},"node-name":"n0","read-only":true}}']
    assert qdrive.check_argv(nbd).ok  # not probed
    assert f"Failed to connect to '127.0.0.1:{port}': Connection refused" in \
        qdrive.check_argv(nbd, probe_network=True).qemu_stderr()
    with listener() as open_port:
        assert qdrive.check_argv([w.replace(str(port), str(open_port)) for w in nbd],
                                 probe_network=True).ok
    http = ["-blockdev", f"driver=http,url=http://127.0.0.1:{port}/x,node-name=h0"]
    assert "curl driver does not support writes" in qdrive.check_argv(http).qemu_stderr()
    assert "CURL: Error opening file: Failed to connect" in qdrive.check_argv(
        [http[0], http[1] + ",read-only=on"], probe_network=True).qemu_stderr()


@contextlib.contextmanager
def _silent_port() -> Iterator[int]:
    """A port whose accept queue is full (listen(0) and one connection waiting): the
    kernel drops further SYNs, so a connect there neither succeeds nor is refused."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(0)
        port = srv.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            yield port


def test_a_peer_that_never_answers_is_a_note_not_an_error(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    # the connect's time limit crossed: netprobe.TIMEOUT, shortened here
    monkeypatch.setattr(netprobe, "TIMEOUT", 0.2)
    with _silent_port() as port:
        assert netprobe.tcp("127.0.0.1", port).timed_out
        for drive in (f"file=nbd:127.0.0.1:{port},format=raw",
                      f"driver=http,url=http://127.0.0.1:{port}/disk.img"):
            r = _probe(drive)
            assert r.ok, drive
            assert f"not checked: 127.0.0.1:{port} did not answer within 0.2 s" in \
                r.drives[0].notes, (drive, r.drives[0].notes)
