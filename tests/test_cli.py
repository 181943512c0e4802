"""The command line, driven as a subprocess: output, JSON and exit codes."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest


from tests.clirun import run


def test_valid_drive(images: Path) -> None:
    p = run("check", "file=disk.img,format=raw,if=virtio", cwd=images)
    assert p.returncode == 0
    assert p.stdout == ("ok  -drive file=disk.img,format=raw,if=virtio  ->  virtio0 "
                        "(if=virtio, bus=0, unit=0)\n")


def test_invalid_drive_golden(images: Path) -> None:
    p = run("check", "file=disk.img,format=raw,aio=native", cwd=images)
    assert p.returncode == 1
    assert p.stdout == (
        "qdrive: -drive file=disk.img,format=raw,aio=native: aio=native was specified, but it "
        "requires cache.direct=on, which was not specified.\n"
        + " " * 40 + "^~~~~~~~~~\n"
        "hint: try cache=none (or cache.direct=on)\n")


def test_json(images: Path) -> None:
    p = run("check", "--json", "file=disk.img,format=raw", "file=missing.img,format=raw",
            cwd=images)
    assert p.returncode == 1
    j = json.loads(p.stdout)
    assert j["ok"] is False
    assert j["schema_version"] == 1
    assert j["drives"][1]["error"] == {
        "code": "open-failed", "severity": "error",
        "message": "Could not open 'missing.img': No such file or directory", "detail": "",
        "hint": "", "key": "file", "start": 0, "end": 16}
    assert j["first_error"]["drive"] == 1
    assert j["qemu_stderr"] == ("qemu-system-x86_64: -drive file=missing.img,format=raw: "
                                "Could not open 'missing.img': No such file or directory")


def test_qemu_user(tmp_path: Path) -> None:
    img = tmp_path / "private.img"
    img.write_bytes(b"\0" * 512)
    img.chmod(0o600)
    tmp_path.chmod(0o755)
    drive = f"file={img},format=raw,if=virtio"
    p = run("check", "--qemu-user", "65534", drive, cwd=tmp_path)
    assert p.returncode == 1 and f"Could not open '{img}': Permission denied" in p.stdout
    assert run("check", "--qemu-user", "0", drive, cwd=tmp_path).returncode == 0
    bad = run("check", "--qemu-user", "no-such-user-qdrive", drive, cwd=tmp_path)
    assert bad.returncode == 2 and "no user named 'no-such-user-qdrive'" in bad.stderr


def test_usage_error_exit_2() -> None:
    assert run("check").returncode == 2
    assert run("check", "--dialect", "nope", "file=x").returncode == 2


def test_demo_runs() -> None:
    p = run("demo")
    assert p.returncode == 0
    assert "example 1" in p.stdout and "invalid cache option" in p.stdout
    assert "Traceback" not in p.stdout + p.stderr


def test_warning_golden_and_strict(images: Path) -> None:
    p = run("check", "file=disk.img,format=raw,snapshot", cwd=images)
    assert p.returncode == 0
    assert p.stdout == (
        "qdrive: -drive file=disk.img,format=raw,snapshot: warning: short-form boolean option "
        "'snapshot' deprecated\n" + " " * 40 + "^~~~~~~~\n"
        "Please use snapshot=on instead\n"
        "ok  -drive file=disk.img,format=raw,snapshot  ->  ide0-hd0 (if=ide, bus=0, unit=0)\n")
    assert run("check", "--strict", "file=disk.img,format=raw,snapshot", cwd=images
               ).returncode == 1


def test_probe_warning_is_bare(images: Path) -> None:
    p = run("check", "file=disk.img", cwd=images)
    assert p.returncode == 0
    assert p.stdout.startswith("WARNING: Image format was not specified for 'disk.img' and "
                               "probing guessed raw.\n")
    assert "hint: add format=raw" in p.stdout


def test_multi_drive_golden(images: Path) -> None:
    p = run("check", "file=disk.img,format=raw,index=1", "file=cd.iso,media=cdrom,index=1",
            cwd=images)
    assert p.returncode == 1
    assert p.stdout == (
        "ok  -drive file=disk.img,format=raw,index=1  ->  ide0-hd1 (if=ide, bus=0, unit=1)\n"
        "qdrive: -drive file=cd.iso,media=cdrom,index=1: drive with bus=0, unit=1 (index=1) "
        "exists\n" + " " * 39 + "^~~~~~~\n"
        "QEMU stops at the first error: drive with bus=0, unit=1 (index=1) exists\n")


def test_output_json_same_as_json(images: Path) -> None:
    a = run("check", "--json", "file=disk.img,format=raw", cwd=images).stdout
    b = run("check", "--output=json", "file=disk.img,format=raw", cwd=images).stdout
    assert a == b and json.loads(a)["drives"][0]["placement"]["device_id"] == "ide0-hd0"


def test_explain(images: Path) -> None:
    p = run("check", "--explain", "file=disk.img,format=raw,cache=none,aio=native", cwd=images)
    assert p.returncode == 0
    assert "    BDRV_O flags   RDWR 0x2 | NOCACHE 0x20 | NATIVE_AIO 0x80" in p.stdout
    assert "    open() flags   O_RDWR|O_DIRECT|O_CLOEXEC" in p.stdout


def test_argv_shorthands_and_collision(images: Path) -> None:
    p = run("check", "--argv", "--", "qemu-system-x86_64", "-m", "64", "-hda", "a,b.img",
            "-cdrom", "cd.iso", "-hdc", "disk.img", "-nographic", cwd=images)
    assert p.returncode == 1
    assert "ok  -hda a,b.img  ->  ide0-hd0 (if=ide, bus=0, unit=0)" in p.stdout
    assert "ok  -cdrom cd.iso  ->  ide1-cd0 (if=ide, bus=1, unit=0)" in p.stdout
    assert ("qdrive: -hdc disk.img: drive with bus=1, unit=0 (index=2) exists\n"
            + " " * 13 + "^~~~~~~~\n") in p.stdout


def test_argv_q35_and_snapshot(images: Path) -> None:
    p = run("check", "--argv", "--json", "--", "-M", "q35", "-hdb", "disk.img", "-snapshot",
            cwd=images)
    assert p.returncode == 0
    (d,) = json.loads(p.stdout)["drives"]
    assert d["placement"]["device_id"] == "ide1-hd0"
    assert d["options"]["snapshot"] == "on" and d["warnings"] == []


def test_file_of_a_thousand_lines(images: Path, tmp_path: Path) -> None:
    lines = ["# a comment", ""]
    for n in range(1000):
        if n % 100 == 7:
            lines.append(f"file=disk.img,format=raw,index={n}\tfile=disk2.img,format=raw,"
                         f"index={n}")
        else:
            lines.append(f"file=disk.img,format=raw,if=virtio,index={n % 16}")
    cases = tmp_path / "fleet.txt"
    cases.write_text("\n".join(lines) + "\n")
    p = run("check", "-f", str(cases), cwd=images)
    assert p.returncode == 1
    assert p.stdout.count("QEMU stops at the first error: drive with bus=") == 10
    assert f"{cases}:10:\n" in p.stdout
    assert p.stdout.endswith("1000 lines: 990 ok, 10 invalid, 0 with warnings\n"
                             "errors by kind: slot-taken 10\n")
    j = run("check", "-f", str(cases), "--json", cwd=images)
    rows = [json.loads(x) for x in j.stdout.splitlines()]
    assert len(rows) == 1000 and rows[7]["ok"] is False and rows[7]["line"] == 10
    assert j.stderr.splitlines()[0] == "1000 lines: 990 ok, 10 invalid, 0 with warnings"


def test_file_from_stdin(images: Path) -> None:
    p = run("check", "-f", "-", input="file=disk.img,format=raw\n", cwd=images)
    assert p.returncode == 0 and p.stdout == "1 line: 1 ok, 0 invalid, 0 with warnings\n"


def test_usage_errors() -> None:
    assert run("check", "-f", "/nonexistent/cases.txt").returncode == 2
    assert run("check", "-f", "x", "file=y").returncode == 2
    assert run("check", "--machine", "virt", "file=x").returncode == 2
    assert run("check", "--allow-dir", "/tmp", "file=x").returncode == 2
    for bad in ("", "relative/dir", "/nonexistent-qdrive-dir"):
        p = run("check", "--policy", "untrusted", "--allow-dir", bad, "file=x,format=raw")
        assert p.returncode == 2 and "--policy untrusted: allow_dirs" in p.stderr, (bad, p)
    assert run("check", "--policy", "untrusted", "file=x,format=raw").returncode == 2


POLICY = {
    "file=disk.img": "untrusted drive: format= is required",
    "file=nbd:localhost:1,format=raw": "untrusted drive: the file name 'nbd:localhost:1' "
                                       "selects the protocol 'nbd'",
    "file=disk.img,format=raw,file.driver=nbd": "untrusted drive: protocol driver 'nbd' is "
                                               "not allowed",
    "file=json:{},format=raw": "untrusted drive: json: pseudo-file names are not allowed",
    "file=/etc/passwd,format=raw": "untrusted drive: '/etc/passwd' is outside the allowed "
                                   "directories",
    "file=../../etc/passwd,format=raw": "it leads out of the allowed directory",
    "file=disk.img,format=raw,backing.file.filename=/etc/shadow":
        "untrusted drive: option 'backing.file.filename' makes QEMU open another file",
    "file=link.img,format=raw": "'link.img' in ",
    "file=backed.qcow2,format=qcow2": "untrusted drive: image 'backed.qcow2' names its backing "
                                      "file 'disk.img': its format would be probed",
}


def test_policy_refusals(images: Path) -> None:
    link = images / "link.img"
    if not link.exists():
        link.symlink_to("/etc/hostname")
    backed = images / "backed.qcow2"
    if not backed.exists():
        header = bytearray(b"QFI\xfb\x00\x00\x00\x03" + bytes(504))
        header[8:16] = (104).to_bytes(8, "big")  # backing_file_offset
        header[16:20] = (8).to_bytes(4, "big")  # backing_file_size
        header[20:24] = (16).to_bytes(4, "big")  # cluster_bits
        header[100:104] = (104).to_bytes(4, "big")  # header_length
        header[104:112] = b"disk.img"
        backed.write_bytes(bytes(header))
    for drive, message in POLICY.items():
        p = run("check", "--policy", "untrusted", "--allow-dir", str(images), drive, cwd=images)
        assert p.returncode == 1, drive
        assert message in p.stdout, (drive, p.stdout)
        assert "Traceback" not in p.stdout + p.stderr
    ok = run("check", "--policy", "untrusted", "--allow-dir", str(images),
             "file=disk.img,format=raw", cwd=images)
    assert ok.returncode == 0, ok.stdout


def test_internal_error_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from qdrive.cli import main

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaput")

    # imported, not looked up in sys.modules: `import qdrive` no longer loads the front end
    monkeypatch.setattr(importlib.import_module("qdrive.frontend._check"), "check", boom)
    assert main(["check", "file=x"]) == 3
    err = capsys.readouterr().err
    assert err.splitlines() == ["qdrive: internal error: RuntimeError: kaput",
                                "qdrive: please report this with the command line above"]


def test_to_blockdev(images: Path) -> None:
    p = run("check", "--to-blockdev", "file=disk.img,format=raw,if=virtio",
            "file=disk.img,format=raw,snapshot=on,if=none", cwd=images)
    assert p.returncode == 0
    lines = p.stdout.splitlines()
    assert lines[1].startswith("    -blockdev '{\"driver\":\"file\",\"node-name\":\"qd-virtio0-p\"")
    assert lines[1].endswith("-device virtio-blk-pci,drive=qd-virtio0,id=virtio0,write-cache=on")
    assert lines[3] == ("    no -blockdev translation: snapshot=on has no -blockdev spelling: "
                        "create the overlay with qemu-img create -b and open that instead")


def test_argv_judges_blockdev_device_and_lists_what_it_skips(images: Path) -> None:
    p = run("check", "--argv", "--", "qemu-system-x86_64", "-m", "64", "-blockdev",
            "driver=file,filename=disk.img,node-name=n0", "-device",
            "virtio-blk-pci,drive=nosuch", cwd=images)
    assert p.returncode == 1
    assert "skip  -m 64  (not judged by qdrive)" in p.stdout
    assert "ok  -blockdev driver=file,filename=disk.img,node-name=n0" in p.stdout
    assert ("qdrive: -device virtio-blk-pci,drive=nosuch: Property 'virtio-blk-device.drive' "
            "can't find value 'nosuch'\n" + " " * 16 + "^" + "~" * 26 + "\n") in p.stdout
    assert p.stdout.endswith("QEMU stops at the first error: -device virtio-blk-pci,"
                             "drive=nosuch: Property 'virtio-blk-device.drive' can't find "
                             "value 'nosuch'\n")


def test_argv_json_has_every_option_and_qemus_stderr(images: Path) -> None:
    p = run("check", "--argv", "--json", "--", "-blockdev", "raw,file.driver=file,"
            "file.filename=disk.img", cwd=images)
    assert p.returncode == 1
    out = json.loads(p.stdout)
    assert out["ok"] is False and out["drives"] == []
    (opt,) = out["options"]
    assert opt["kind"] == "node" and opt["error"] == ("'node-name' must be specified for the "
                                                      "root node")
    assert out["stderr"].startswith("qemu-system-x86_64: -blockdev raw,")


def test_argv_json_first_error_and_stderr_are_the_whole_lines(images: Path) -> None:
    """--argv --json: qemu_stderr and first_error speak for the whole command line (not
    only its drives): an option's error names its index, a drive's is the drive's, and a
    warning-only line is ok with the warning in qemu_stderr."""
    p = run("check", "--argv", "--json", "--", "-netdev", "user,id=n0", "-machine",
            "pc,foo=1", cwd=images)
    assert p.returncode == 1
    out = json.loads(p.stdout)
    assert out["first_error"] == {
        "option": 2, "message": "Property 'pc-i440fx-7.2-machine.foo' not found",
        "stderr": "qemu-system-x86_64: Property 'pc-i440fx-7.2-machine.foo' not found"}
    assert out["qemu_stderr"] == out["stderr"] == out["first_error"]["stderr"]
    assert [o["kind"] for o in out["options"]] == ["netdev", "machine"]
    p = run("check", "--argv", "--json", "--", "-drive", "file=disk.img,cache=bogus",
            cwd=images)
    out = json.loads(p.stdout)
    assert out["first_error"]["drive"] == 0 and out["first_error"]["code"] == "bad-cache"
    p = run("check", "--argv", "--json", "--", "-netdev", "user,id=n0", cwd=images)
    out = json.loads(p.stdout)
    assert p.returncode == 0 and out["ok"] is True and out["first_error"] is None
    assert out["qemu_stderr"] == "qemu-system-x86_64: warning: netdev n0 has no peer"


def test_argv_to_blockdev_prints_an_argv_to_exec(images: Path) -> None:
    import shlex

    p = run("check", "--argv", "--to-blockdev", "--node-prefix", "my-", "--",
            "qemu-system-x86_64", "-hda", "disk.img", "-nographic", cwd=images)
    assert p.returncode == 0
    *comments, line = p.stdout.splitlines()
    assert comments == ["# note: -hda disk.img: format=raw (what QEMU's probe found; "
                        "-blockdev never probes)"]
    argv = shlex.split(line)
    assert argv[0] == "qemu-system-x86_64" and argv[-1] == "-nographic"
    assert "ide-hd,drive=my-ide0-hd0,bus=ide.0,unit=0,id=ide0-hd0,write-cache=on" in argv


def test_argv_to_blockdev_says_what_it_kept(images: Path) -> None:
    p = run("check", "--argv", "--to-blockdev", "--json", "--", "-drive",
            "file=disk.img,format=raw,if=virtio,snapshot=on", cwd=images)
    assert p.returncode == 1
    out = json.loads(p.stdout)
    assert out["complete"] is False and out["argv"] == [
        "-drive", "file=disk.img,format=raw,if=virtio,snapshot=on"]
    assert "--overlay-dir" in out["untranslated"][0]["why"]


def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``, beyond those it
    holds at start (an editable install's import finder brings pathlib in with site)."""
    import subprocess

    def loaded(code: str) -> set[str]:
        out = subprocess.run([sys.executable, "-c",
                              f"{code}\nimport sys\nprint(*sorted(sys.modules))"],
                             capture_output=True, text=True, check=True).stdout
        return set(out.split())

    return loaded(code) - loaded("pass")


# What a plain check never needs (issue 17, start-up): the untrusted policy (its guard
# and hand-off pull in ctypes, shutil, bz2, lzma), the block wing, the -blockdev
# translation, difflib (usage errors only), lark, cffi, and pathlib with the urllib.parse
# and ipaddress it imports (with the policy, 21.6M of a check's 389.5M instructions).
_NOT_FOR_A_CHECK = {"qdrive.frontend.policy", "qdrive.frontend.policy._guard",
                    "qdrive.frontend.policy._handoff",
                    "qdrive.frontend.policy._resolve", "qdrive.frontend.policy._inspect",
                    "qdrive.frontend.blockdev", "qdrive.block.flags", "qdrive.block.plan",
                    "qdrive.block.driver", "ctypes", "shutil", "difflib", "lark", "cffi",
                    "pathlib", "urllib.parse", "ipaddress"}


def test_a_plain_check_loads_only_what_it_needs(tmp_path: Path) -> None:
    image = tmp_path / "a.img"
    image.write_bytes(b"\0" * 4096)
    for offline in ([], ["--offline"]):
        loaded = _loaded_after("import qdrive.cli as c\n"
                               f"c.main(['check', *{offline!r}, 'file={image},format=raw'])")
        assert "qdrive.frontend._check" in loaded  # the check did run
        assert loaded & _NOT_FOR_A_CHECK == set()


def test_import_qdrive_loads_no_later_stage() -> None:
    loaded = _loaded_after("import qdrive")
    assert loaded & _NOT_FOR_A_CHECK == set()


def test_the_front_doors_lazy_names_are_the_stages_own() -> None:
    import qdrive
    from qdrive.block import flags, plan
    from qdrive.frontend import blockdev, policy

    assert (qdrive.BdrvFlag, qdrive.open_flags, qdrive.AIO_FLAGS) == (
        flags.BdrvFlag, flags.open_flags, flags.AIO_FLAGS)
    assert (qdrive.OpenPlan, qdrive.plan_open, qdrive.explain) == (
        plan.OpenPlan, plan.plan_open, plan.explain)
    assert (qdrive.to_blockdev, qdrive.Policy) == (blockdev.to_blockdev, policy.Policy)
    assert {"BdrvFlag", "Policy", "to_blockdev"} <= set(dir(qdrive))


def test_check_file_builds_the_policy_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import qdrive.cli as cli

    calls: list[object] = []
    real = cli._policy

    def counted(args: object) -> object:
        calls.append(args)
        return real(args)  # type: ignore[arg-type]

    monkeypatch.setattr(cli, "_policy", counted)
    lines = tmp_path / "drives.txt"
    lines.write_text("file=a.img,format=raw\n" * 7 + "file=b.img,format=raw,cache=on\n")
    assert cli.main(["check", "--offline", "-f", str(lines)]) == 1
    assert "8 lines: 7 ok, 1 invalid" in capsys.readouterr().out
    assert len(calls) == 1  # one per file, not one per line
