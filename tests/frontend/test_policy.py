"""qdrive.Policy through the API: construction, the allow-list, and what is never opened.

The regression tests here each close one class of what the attack run against the old
policy found (issue 12); every one of them failed against that policy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import qdrive
from qdrive.frontend.policy import _resolve
from qdrive.frontend.argv import check_argv
from qdrive.frontend.policy import PolicyError, overlay_bound

@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """Every os.open(), open() and openat2 system call made while the test runs."""
    import builtins

    events: list[tuple[str, object]] = []
    real_os_open, real_open, real_openat2 = os.open, builtins.open, _resolve._openat2
    qdrive.check("file=x,format=raw", probe_files=False)  # imports done before recording

    def os_open(path: object, *args: object, **kwargs: object) -> int:
        events.append(("open", os.fsdecode(path) if isinstance(path, str | bytes) else path))
        return real_os_open(path, *args, **kwargs)  # type: ignore[arg-type]

    def py_open(path: object, *args: object, **kwargs: object) -> object:
        events.append(("open", path))
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    def openat2(dirfd: int, rel: str, flags: int, resolve: int) -> int:
        try:
            fd = real_openat2(dirfd, rel, flags, resolve)
        except OSError as exc:  # the kernel refused: nothing was opened
            events.append(("openat2 refused", f"{rel}: {exc.strerror}"))
            raise
        events.append(("openat2", os.readlink(f"/proc/self/fd/{fd}")))
        return fd

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", py_open)
    monkeypatch.setattr(_resolve, "_openat2", openat2)
    return events


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    d = tmp_path / "images"
    d.mkdir()
    for name in ("disk.img", "base.img"):
        with open(d / name, "wb") as f:
            f.truncate(1 << 20)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.img").write_bytes(b"secret")
    return d


def _policy(allowed: Path, **kw: object) -> qdrive.Policy:
    return qdrive.Policy.untrusted([str(allowed)], cwd=str(allowed), **kw)  # type: ignore[arg-type]


def _code(result: qdrive.CheckResult) -> str:
    first = result.first_error
    return first[1].code if first else "ok"


def _qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


needs_qemu_img = pytest.mark.skipif(not os.path.exists("/usr/bin/qemu-img"),
                                    reason="qemu-img is not installed (qemu-utils)")


# -- construction ------------------------------------------------------------------------
def test_untrusted_takes_an_iterable_and_refuses_a_str(allowed: Path) -> None:
    with pytest.raises(PolicyError, match="not a single str"):
        qdrive.Policy.untrusted(str(allowed))  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="not a single bytes"):
        qdrive.Policy.untrusted(os.fsencode(allowed))  # type: ignore[arg-type]
    assert qdrive.Policy.untrusted(iter([str(allowed)])).allow_dirs == (str(allowed),)
    assert qdrive.Policy.untrusted([allowed]).allow_dirs == (str(allowed),)  # a PathLike


@pytest.mark.parametrize("bad,message", [
    ("", "an empty directory name allows the working directory"),
    ("images", "is relative"), ("./images", "is relative"),
    ("/nonexistent-qdrive", "is not a directory"), ("/", "is the root directory"),
    ("/tmp/../", "is the root directory"), ("/tmp\0x", "NUL"),
])
def test_bad_directories_are_refused_clearly(bad: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        qdrive.Policy.untrusted([bad])


def test_other_arguments_are_validated(allowed: Path) -> None:
    with pytest.raises(PolicyError, match="allow_dirs is empty"):
        qdrive.Policy.untrusted([])
    with pytest.raises(PolicyError, match="cannot inspect luks"):
        _policy(allowed, formats=("raw", "luks"))
    with pytest.raises(PolicyError, match="not a single str"):
        _policy(allowed, formats="raw")
    with pytest.raises(PolicyError, match="both overlay_dir and overlay_budget"):
        _policy(allowed, overlay_dir=str(allowed))
    with pytest.raises(PolicyError, match="positive number of bytes"):
        _policy(allowed, overlay_dir=str(allowed), overlay_budget=0)
    with pytest.raises(PolicyError, match="not a block device"):
        _policy(allowed, devices=["/dev/null"])
    assert isinstance(PolicyError("x"), ValueError)


def test_trusted_policy_refuses_nothing(in_images: Path) -> None:
    assert qdrive.check("file=/etc/hostname,format=raw,if=virtio,read-only=on",
                        policy=qdrive.Policy()).ok


# -- the allow-list ----------------------------------------------------------------------
def test_refusals_carry_codes_and_spans(allowed: Path) -> None:
    text = "file=disk.img,format=raw,file.driver=ssh"
    (d,) = qdrive.check(text, policy=_policy(allowed)).drives
    assert d.error is not None and d.error.code == "policy-protocol"
    assert text[d.error.span.start:d.error.span.end] == "file.driver=ssh"
    assert qdrive.check("file=disk.img,format=raw", policy=_policy(allowed)).ok


@pytest.mark.parametrize("drive,code", [
    ("file=host_device:/dev/null,format=raw", "policy-protocol"),
    ("file=host_cdrom:/dev/sr0,format=raw", "policy-protocol"),
    ("file=nbd:127.0.0.1:10809,format=raw", "policy-protocol"),
    ("file=disk.img,format=raw,file.driver=host_device", "policy-protocol"),
    ("file=json:{},format=raw", "policy-json"),
    ("driver=quorum,children.0.file.filename=disk.img,vote-threshold=1", "policy-key"),
    ("driver=blkdebug,config=/etc/passwd,image.file.filename=disk.img", "policy-key"),
    ("format=blkverify,test.file.filename=disk.img,raw.file.filename=/etc/passwd",
     "policy-key"),
    ("format=blklogwrites,file.filename=disk.img,log.file.filename=/etc/passwd", "policy-key"),
    ("format=copy-before-write,file.filename=disk.img,target.file.filename=/etc/passwd",
     "policy-key"),
    ("format=blkreplay,image.file.filename=/etc/passwd", "policy-key"),
    ("format=throttle,throttle-group=g,file.filename=disk.img", "policy-key"),
    ("file=disk.img,format=qcow2,backing.file.filename=/etc/passwd", "policy-key"),
    ("file=disk.img,format=qcow2,data-file.filename=/etc/passwd", "policy-key"),
    ("file=disk.img,format=raw,file.pr-manager=p", "policy-key"),
    ("file=disk.img,format=vvfat", "policy-format"),
    ("file=disk.img", "policy-format"),
])
def test_what_is_not_on_the_list_is_refused_by_the_policy(allowed: Path, drive: str,
                                                          code: str) -> None:
    """Refused for the policy's own reason, not because the converter predicts that QEMU
    fails (issue 12: fixing that prediction would have made these live bypasses)."""
    assert _code(qdrive.check(drive, policy=_policy(allowed))) == code


def test_file_filename_inside_is_accepted(allowed: Path) -> None:
    # The old policy refused it by a prefix test ("file.f" is not "file.file").
    assert qdrive.check("file.filename=disk.img,format=raw", policy=_policy(allowed)).ok


def test_devices_only_when_allowed(allowed: Path) -> None:
    assert _code(qdrive.check("file=/dev/null,format=raw", policy=_policy(allowed))) == \
        "policy-path"


# -- names and files ---------------------------------------------------------------------
def test_hard_links_symlinks_and_odd_files(allowed: Path) -> None:
    outside = allowed.parent / "outside"
    os.link(outside / "secret.img", allowed / "hard.img")
    os.symlink(outside / "secret.img", allowed / "abs.img")
    os.symlink("../outside/secret.img", allowed / "rel.img")
    os.mkfifo(allowed / "fifo.img")
    (allowed / "dir.img").mkdir()
    policy = _policy(allowed)
    for name, code in (("hard.img", "policy-hardlink"), ("abs.img", "policy-path"),
                       ("rel.img", "policy-path"), ("fifo.img", "policy-file"),
                       ("dir.img", "policy-file"), ("missing.img", "policy-path")):
        assert _code(qdrive.check(f"file={name},format=raw", policy=policy)) == code, name
    assert qdrive.check("file=hard.img,format=raw",
                        policy=_policy(allowed, allow_hardlinks=True)).ok


def test_long_symlink_chains_are_judged_by_the_kernel(allowed: Path) -> None:
    """Past PATH_MAX os.path.realpath stops resolving; 1,500 links made it recurse."""
    d = allowed / "c"
    d.mkdir()
    os.symlink("../../outside/secret.img", d / "l0")
    for n in range(1, 1500):
        os.symlink(f"l{n - 1}", d / f"l{n}")
    policy = _policy(allowed)
    assert _code(qdrive.check("file=c/l1499,format=raw", policy=policy)) == "policy-path"
    assert _code(qdrive.check("file=c/l10,format=raw", policy=policy)) == "policy-path"


@needs_qemu_img
def test_backing_name_anywhere_in_the_first_cluster(allowed: Path) -> None:
    from tests.security import images as im

    secret = str(allowed.parent / "outside" / "secret.img").encode()
    im.qcow2(allowed / "far.qcow2", backing=secret, backing_offset=30000,
             extensions=[(im.BACKING_FORMAT, b"raw")])
    im.qcow2(allowed / "nbd.qcow2", backing=b"nbd:127.0.0.1:10809",
             extensions=[(im.BACKING_FORMAT, b"raw")])
    im.qcow2(allowed / "df.qcow2", incompatible=im.INCOMPAT_DATA_FILE,
             extensions=[(im.DATA_FILE, secret)])
    im.qcow2(allowed / "probed.qcow2", backing=b"base.img")
    im.qcow2(allowed / "ok.qcow2", backing=b"base.img", extensions=[(im.BACKING_FORMAT, b"raw")])
    policy = _policy(allowed)
    for name in ("far", "nbd", "df", "probed"):
        r = qdrive.check(f"file={name}.qcow2,format=qcow2", policy=policy)
        assert _code(r) == "policy-reference", name
    assert qdrive.check("file=ok.qcow2,format=qcow2", policy=policy).ok


@needs_qemu_img
def test_other_formats_are_refused_unless_named_and_then_inspected(allowed: Path) -> None:
    from tests.security import images as im

    secret = str(allowed.parent / "outside" / "secret.img").encode()
    im.qed(allowed / "a.qed", secret)
    im.qcow1(allowed / "a.qcow", b"base.img")
    im.vmdk_descriptor(allowed / "a.vmdk", [f'RW 2048 FLAT "{secret.decode()}" 0'])
    wide = _policy(allowed, formats=("raw", "qcow2", "qed", "qcow", "vmdk"))
    for name, fmt in (("a.qed", "qed"), ("a.qcow", "qcow"), ("a.vmdk", "vmdk")):
        assert _code(qdrive.check(f"file={name},format={fmt}", policy=_policy(allowed))) == \
            "policy-format"
        assert _code(qdrive.check(f"file={name},format={fmt}", policy=wide)) == \
            "policy-reference", name


def test_snapshot_needs_an_overlay_and_fits_the_budget(allowed: Path, tmp_path: Path) -> None:
    drive = "file=disk.img,format=raw,snapshot=on"
    assert _code(qdrive.check(drive, policy=_policy(allowed))) == "policy-snapshot"
    assert _code(qdrive.check("file=disk.img,format=raw", snapshot=True,
                              policy=_policy(allowed))) == "policy-snapshot"
    one = overlay_bound(1 << 20)
    fits = _policy(allowed, overlay_dir=str(tmp_path), overlay_budget=2 * one)
    two = qdrive.check([drive, drive.replace("disk", "base")], policy=fits)
    assert two.ok and [w.code for w in two.drives[0].warnings] == ["policy-overlay"]
    assert f"TMPDIR={tmp_path}" in two.drives[0].warnings[0].message
    r = qdrive.check([drive] * 3, policy=fits)
    assert [d.ok for d in r.drives] == [True, True, False]
    assert "over the budget" in r.drives[2].error.message  # type: ignore[union-attr]


# -- what is never opened ----------------------------------------------------------------
def test_no_format_opens_nothing(allowed: Path, opens: list[tuple[str, object]]) -> None:
    """The old policy probed the file (outside the allowed directories) before refusing."""
    secret = str(allowed.parent / "outside" / "secret.img")
    assert _code(qdrive.check(f"file={secret}", policy=_policy(allowed))) == "policy-format"
    assert _code(qdrive.check("file=disk.img", policy=_policy(allowed))) == "policy-format"
    assert opens == []


def test_outside_names_are_never_opened(allowed: Path, opens: list[tuple[str, object]]) -> None:
    secret = str(allowed.parent / "outside" / "secret.img")
    os.symlink(secret, allowed / "abs.img")
    qdrive.check([f"file={secret},format=raw", "file=../outside/secret.img,format=raw",
                  "file=abs.img,format=raw"], policy=_policy(allowed))
    # The allowed directory itself (O_PATH), then lookups the kernel refused (EXDEV):
    # nothing outside was opened, not even O_PATH.
    assert opens[0] == ("open", str(allowed)), opens
    assert {e for e, _ in opens[1:]} == {"openat2 refused"}, opens


def test_offline_reads_no_image_and_says_so(allowed: Path,
                                            opens: list[tuple[str, object]]) -> None:
    r = qdrive.check("file=disk.img,format=raw", policy=_policy(allowed), probe_files=False)
    assert r.ok and opens == []
    (w,) = r.drives[0].warnings
    assert w.code == "policy-offline" and "judged the drive string only" in w.message
    assert _code(qdrive.check("file=/etc/passwd,format=raw", policy=_policy(allowed),
                              probe_files=False)) == "policy-path"


# -- command lines ------------------------------------------------------------------------
@pytest.mark.parametrize("words", [
    ["-blockdev", "driver=file,filename=/etc/passwd,node-name=x"],
    ["-readconfig", "/etc/passwd"], ["-chardev", "file,id=c,path=/tmp/x"],
    ["-chardev", "socket,id=c,host=localhost,port=1"], ["-netdev", "user,id=n"],
    ["-add-fd", "fd=3,set=1"], ["-kernel", "/boot/vmlinuz"], ["-loadvm", "s"],
    ["-incoming", "exec:true"], ["-object", "memory-backend-file,id=m,mem-path=/tmp,size=1M"],
    ["-serial", "file:/tmp/x"], ["-monitor", "unix:/tmp/m"], ["-device", "e1000,romfile=/x"],
    ["-device", "loader,file=/etc/passwd"], ["-trace", "file=/tmp/t"], ["-D", "/tmp/log"],
    ["-mem-path", "/tmp"], ["-plugin", "x.so"], ["-set", "drive.d.file=/etc/passwd"],
    ["-global", "e1000.romfile=/x"], ["-fsdev", "local,id=f,path=/,security_model=none"],
    ["-nographic"], ["-monitor", "stdio"], ["-qmp", "stdio"], ["-mon", "chardev=c"],
    ["-serial", "mon:stdio"], ["-chardev", "stdio,mux=on,id=c"],
])
def test_argv_refuses_what_it_cannot_judge(allowed: Path, words: list[str]) -> None:
    r = check_argv(["-nodefaults", "-display", "none", *words], policy=_policy(allowed))
    assert not r.ok and [o.option for o in r.options] == [words[0]]
    assert r.options[0].error is not None and r.options[0].error.code == "policy-option"


def test_argv_default_network_and_a_clean_line(allowed: Path) -> None:
    r = check_argv(["-drive", "file=disk.img,format=raw"], policy=_policy(allowed))
    assert not r.ok and "user-mode networking" in r.options[0].error.message  # type: ignore
    assert "-display none" in r.options[1].error.message  # type: ignore
    ok = check_argv(["qemu-system-x86_64", "-nodefaults", "-m", "1G", "-drive",
                     "file=disk.img,format=raw,if=none,id=d", "-device", "virtio-blk-pci,drive=d",
                     "-serial", "none", "-display", "none"], policy=_policy(allowed))
    assert ok.ok, [o.error for o in ok.options]
    assert check_argv(["-M", '{"type":"pc"}'], policy=_policy(allowed)).options[0].option == \
        "-machine"


def test_limits_give_refusals_not_exceptions(allowed: Path) -> None:
    """Past every limit the check has: a refusal, never a traceback, nothing leaked."""
    from qdrive.frontend.policy._guard import MAX_CHAIN, MAX_FILES
    from tests.security import images as im

    for n in range(MAX_CHAIN + 2):  # c0 -> c1 -> ... -> base.img
        below = f"c{n + 1}.qcow2" if n < MAX_CHAIN + 1 else "base.img"
        im.qcow2(allowed / f"c{n}.qcow2", backing=below.encode(), extensions=[
            (im.BACKING_FORMAT, b"qcow2" if n < MAX_CHAIN + 1 else b"raw")])
    policy = _policy(allowed)
    before = set(os.listdir("/proc/self/fd"))
    deep = qdrive.check("file=c0.qcow2,format=qcow2", policy=policy)
    assert _code(deep) == "policy-reference" and "more than 64 files" in \
        deep.first_error[1].message  # type: ignore[index]
    # c{k} reaches c{k}..c{MAX_CHAIN + 1} and base.img: MAX_CHAIN + 3 - k files.
    at_limit = qdrive.check("file=c3.qcow2,format=qcow2", policy=policy)
    assert at_limit.ok  # exactly MAX_CHAIN files
    per_drive = MAX_CHAIN + 3 - 44
    many = ["file=c44.qcow2,format=qcow2,if=none,read-only=on"] * 15
    wide = qdrive.check(many, policy=policy)
    assert _code(wide) == "policy-files"
    assert sum(d.ok for d in wide.drives) == MAX_FILES // per_drive
    assert set(os.listdir("/proc/self/fd")) <= before  # nothing left open (others' may close)


def test_running_out_of_descriptors_is_a_refusal(allowed: Path) -> None:
    from tests.security import images as im

    for n in range(30):
        below = f"d{n + 1}.qcow2" if n < 29 else "base.img"
        im.qcow2(allowed / f"d{n}.qcow2", backing=below.encode(), extensions=[
            (im.BACKING_FORMAT, b"qcow2" if n < 29 else b"raw")])
    script = (
        "import resource, qdrive\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))\n"
        f"p = qdrive.Policy.untrusted([{str(allowed)!r}], cwd={str(allowed)!r})\n"
        "r = qdrive.check('file=d0.qcow2,format=qcow2', policy=p)\n"
        "print(r.first_error[1].code, r.first_error[1].message)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout.startswith("policy-") and "Too many open files" in done.stdout, done.stdout
