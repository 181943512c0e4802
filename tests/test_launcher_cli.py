"""The command line a script can trust: the JSON contract and its schema, --dialect auto,
--compare-dialects, and the habits (--version, did you mean, -drive pairs, FILE:LINE:,
progress, colour, closed or full streams, bare CR, long lines)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import qdrive
from qdrive.frontend import autodialect
from tests.clirun import ENV, VALIDATED, run, validator

QEMUS = {"qemu-system-x86_64": "7.2", "qemu-system-x86_64-10.0": "10.0",
         "qemu-system-x86_64-11.1": "11.1"}


# -- the JSON contract ---------------------------------------------------------------------


def test_schema_is_valid_and_can_fail() -> None:
    import jsonschema

    v = validator()
    good = qdrive.check(["file=x.img,format=raw,snapshot", "file=y.img,cache=bad"],
                        probe_files=False).to_json()
    v.validate(good)
    bad = json.loads(json.dumps(good))
    bad["drives"][0]["warnings"][0]["message"] = "WARNING: shouted"
    with pytest.raises(jsonschema.ValidationError):
        v.validate(bad)
    del good["schema_version"]
    with pytest.raises(jsonschema.ValidationError):
        v.validate(good)


def test_json_objects_and_first_error(images: Path) -> None:
    before = VALIDATED[0]
    p = run("check", "--json", "file=disk.img", "file=disk.img,format=raw,if=virtio,"
            "cache=bogus", cwd=images)
    assert VALIDATED[0] == before + 1
    j = json.loads(p.stdout)
    probe = j["drives"][0]["warnings"][0]
    assert probe["message"].startswith("Image format was not specified for 'disk.img'")
    assert probe["code"] == "probed-raw" and probe["hint"] == "add format=raw"
    assert probe["detail"].startswith("         Automatically detecting")
    assert j["first_error"] == {"drive": 1, "code": "bad-cache", "severity": "error",
                                "message": "invalid cache option", "detail": "",
                                "hint": "cache= takes writeback, none, writethrough, "
                                "directsync or unsafe", "key": "cache", "start": 35,
                                "end": 46}
    assert j["qemu_stderr"].endswith("-drive file=disk.img,format=raw,if=virtio,cache=bogus: "
                                     "invalid cache option")


def test_json_explain_and_blockdev_data(images: Path) -> None:
    p = run("check", "--json", "--explain", "--to-blockdev",
            "file=disk.img,format=raw,cache=none,if=virtio", "file=disk.img,format=raw,"
            "snapshot=on,if=none", cwd=images)
    a, b = json.loads(p.stdout)["drives"]
    assert a["explain"]["open() flags"].startswith("O_RDWR|O_DIRECT")
    assert a["blockdev"]["args"][0] == "-blockdev"
    assert b["blockdev"]["error"].startswith("snapshot=on has no -blockdev spelling")


def test_json_lines_of_a_file_validate(images: Path, tmp_path: Path) -> None:
    cases = tmp_path / "cases.txt"
    cases.write_text("file=disk.img,format=raw\nfile=disk.img,aio=native,format=raw\n")
    before = VALIDATED[0]
    p = run("check", "--json", "-f", str(cases), cwd=images)
    assert VALIDATED[0] == before + 2 and p.returncode == 1


# -- --dialect auto ------------------------------------------------------------------------


def test_choose_among_existing_dialects() -> None:
    names = ("qemu-7.2", "qemu-0.9-sync")
    assert autodialect.choose("q", "7.2.22", names) == autodialect.AutoDialect(
        "qemu-7.2", "q", "7.2.22")
    for newer in ("10.0.13", "11.1.3"):
        got = autodialect.choose("q", newer, names)
        assert got.dialect == "qemu-7.2"
        assert got.warning == (f"QEMU {newer} is newer than every dialect qdrive knows; "
                               "using qemu-7.2, the nearest older one")
    assert "older than every dialect" in (autodialect.choose("q", "6.2.0", names).warning
                                          or "")


def test_choose_when_more_dialects_exist() -> None:
    names = ("qemu-7.2", "qemu-10.0", "qemu-11.1", "qemu-0.9-sync")
    assert autodialect.choose("q", "10.0.13", names).dialect == "qemu-10.0"
    assert autodialect.choose("q", "10.2.0", names).warning is None
    assert autodialect.choose("q", "10.2.0", names).dialect == "qemu-10.0"
    assert autodialect.choose("q", "11.1.3", names) == autodialect.AutoDialect(
        "qemu-11.1", "q", "11.1.3")
    late = autodialect.choose("q", "12.0.0", names)
    assert late.dialect == "qemu-11.1" and "newer than every dialect" in (late.warning or "")
    assert autodialect.choose("q", "8.0.0", names).dialect == "qemu-7.2"


@pytest.mark.parametrize("binary", QEMUS)
def test_auto_reads_each_binary(binary: str, images: Path) -> None:
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} is not on PATH (../shared/tools/qemu-chroot makes it)")
    env = {"PATH": os.environ["PATH"]}
    p = run("check", "--dialect", "auto", "--qemu", binary, "--json",
            "file=disk.img,format=raw", cwd=images, env=env)
    j = json.loads(p.stdout)
    choice = j["dialect_choice"]
    assert choice["qemu_version"].startswith(QEMUS[binary] + ".")
    # each binary's own release dialect (qemu-7.2, qemu-10.0, qemu-11.1), no warning
    want = f"qemu-{QEMUS[binary]}"
    assert j["dialect"] == choice["dialect"] == want
    assert choice["warning"] is None and "newer than every dialect" not in p.stderr
    human = run("check", "--dialect", "auto", "--qemu", binary, "file=disk.img,format=raw",
                cwd=images, env=env)
    assert human.stdout.startswith(f"dialect {want} (auto: {shutil.which(binary)} is QEMU "
                                   f"{QEMUS[binary]}.")


def test_auto_knows_every_release_dialect() -> None:
    from qdrive.dialect import REGISTRY

    assert autodialect.release_dialects() == [((7, 2), "qemu-7.2"), ((10, 0), "qemu-10.0"),
                                              ((11, 1), "qemu-11.1")]
    assert all(d.version is None for d in REGISTRY.values() if d.legacy)
    late = autodialect.choose("q", "11.2.0")
    assert late.dialect == "qemu-11.1" and "newer than every dialect" in (late.warning or "")
    assert autodialect.choose("q", "10.1.2").dialect == "qemu-10.0"


def test_auto_uses_the_qemu_on_path(images: Path, tmp_path: Path) -> None:
    target = shutil.which("qemu-system-x86_64-10.0")
    if target is None:
        pytest.skip("qemu-system-x86_64-10.0 is not on PATH")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "qemu-system-x86_64").symlink_to(target)
    p = run("check", "--dialect", "auto", "--json", "file=disk.img,format=raw", cwd=images,
            env={"PATH": f"{bindir}:/usr/sbin:/usr/bin:/sbin:/bin"})
    assert json.loads(p.stdout)["dialect_choice"]["qemu_version"].startswith("10.0.")


def test_auto_reads_the_version_once(monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 not installed")
    calls: list[list[str]] = []
    real = subprocess.run

    def counting(cmd: list[str], **kw: object) -> object:
        calls.append(cmd)
        return real(cmd, **kw)  # type: ignore[call-overload]

    autodialect.read_version.cache_clear()
    monkeypatch.setattr(autodialect.subprocess, "run", counting)
    for _ in range(3):
        assert qdrive.check("file=x.img,format=raw", dialect="auto",
                            probe_files=False).dialect == "qemu-7.2"
    assert qdrive.parse_drive("file=x.img", dialect="auto").dialect == "qemu-7.2"
    assert len(calls) == 1


def test_auto_without_qemu_is_a_usage_error(tmp_path: Path) -> None:
    p = run("check", "--dialect", "auto", "file=x", env={"PATH": str(tmp_path)})
    assert p.returncode == 2
    assert p.stderr == ("qdrive: dialect auto: qemu-system-x86_64 not found on PATH (give "
                        "--dialect or --qemu PATH)\n")
    assert run("check", "--qemu", "/bin/true", "file=x").returncode == 2
    bad = run("check", "--dialect", "auto", "--qemu", "/bin/echo", "file=x")
    assert bad.returncode == 2 and "printed no QEMU version" in bad.stderr


# -- --compare-dialects -----------------------------------------------------------------------


def test_compare_dialects_api() -> None:
    cmp = qdrive.compare_dialects(["file=disk.img,cache=on", "file=disk.img,if=virtio"],
                                  ["qemu-7.2", "qemu-0.9-sync"], probe_files=False)
    aspects = [(d.drive, d.aspect) for d in cmp.differences]
    assert (0, "verdict") in aspects and (0, "message") in aspects
    verdict = next(d for d in cmp.differences if d.aspect == "verdict")
    assert dict(verdict.values) == {"qemu-7.2": "refused", "qemu-0.9-sync": "ok"}
    assert not cmp.same
    same = qdrive.compare_dialects("file=disk.img,format=raw", ["qemu-7.2", "qemu-7.2"],
                                   probe_files=False)
    assert same.same and same.differences == ()
    with pytest.raises(ValueError):
        qdrive.compare_dialects("file=x", ["qemu-7.2"])


def test_compare_dialects_cli(images: Path) -> None:
    p = run("check", "--offline", "--compare-dialects", "qemu-7.2,qemu-0.9-sync",
            "file=disk.img,format=raw,cache=on", cwd=images)
    assert p.returncode == 1
    assert p.stdout.splitlines()[:4] == [
        "drive 1: file=disk.img,format=raw,cache=on", "  verdict differs:",
        "    qemu-7.2       refused", "    qemu-0.9-sync  ok"]
    j = run("check", "--offline", "--json", "--compare-dialects", "qemu-7.2,qemu-0.9-sync",
            "file=disk.img,format=raw,cache=on", cwd=images)
    assert json.loads(j.stdout)["same"] is False
    assert run("check", "--compare-dialects", "qemu-7.2", "file=x").returncode == 2
    assert run("check", "--compare-dialects", "qemu-7.2,qemu-0.9-sync", "-f", "-",
               input="file=x\n").returncode == 2
    same = run("check", "--offline", "--compare-dialects", "qemu-7.2,qemu-7.2",
               "file=disk.img,format=raw", cwd=images)
    assert same.returncode == 0 and same.stdout.startswith("same in qemu-7.2 and qemu-7.2")


_ARGV = ["qemu-system-x86_64", "-M", "pc-i440fx-5.0", "-blockdev",
         "driver=null-co,node-name=n1", "-device", "virtio-blk-pci,drive=n1,scsi=off",
         "-drive", "file=gluster://h/v/i,if=none,id=d0"]


def test_compare_argv_api() -> None:
    from qdrive.frontend.compare import compare_argv

    cmp = compare_argv(_ARGV, ["qemu-7.2", "qemu-11.1"], probe_files=False)
    got = {(d.option, d.drive, d.aspect): dict(d.values) for d in cmp.differences}
    # the drive: 11.1 has no gluster driver, so no gluster: protocol
    assert got[(None, 0, "verdict")] == {"qemu-7.2": "ok", "qemu-11.1": "refused"}
    assert got[(None, 0, "message")]["qemu-11.1"] == "Unknown protocol 'gluster'"
    # an option that is not a drive: virtio-blk's "scsi" property is gone
    assert got[("-device", 5, "message")] == {
        "qemu-7.2": None, "qemu-11.1": "Property 'virtio-blk-pci.scsi' not found"}
    # what QEMU prints: 11.1 no longer has the 5.0 machine, the first error it reports
    stderr = got[("argv", -1, "stderr")]
    assert stderr["qemu-7.2"] == ""
    assert stderr["qemu-11.1"].startswith('qemu-system-x86_64: unsupported machine type: '
                                          '"pc-i440fx-5.0"')
    assert "option" in cmp.differences[-1].to_json()
    same = compare_argv(_ARGV[3:5], ["qemu-10.0", "qemu-11.1"], probe_files=False)
    assert same.same
    # 10.0 warns that the 5.0 machine is deprecated, 11.1 no longer has it
    # (the -M option itself is refused by 11.1: the option naming the machine carries it)
    machine = compare_argv(_ARGV[:3], ["qemu-10.0", "qemu-11.1"], probe_files=False)
    assert [(d.option, d.aspect) for d in machine.differences] == [
        ("-M", "verdict"), ("-M", "message"), ("argv", "stderr")]
    assert dict(machine.differences[0].values) == {"qemu-10.0": "ok", "qemu-11.1": "refused"}
    assert "is deprecated" in dict(machine.differences[2].values)["qemu-10.0"]
    with pytest.raises(ValueError):
        compare_argv(_ARGV, ["qemu-7.2"])


def test_compare_dialects_argv_cli() -> None:
    p = run("check", "--offline", "--compare-dialects", "qemu-7.2,qemu-11.1", "--argv",
            "--", *_ARGV)
    assert p.returncode == 1
    lines = p.stdout.splitlines()
    assert lines[:2] == ["drive 1: file=gluster://h/v/i,if=none,id=d0", "  verdict differs:"]
    assert "-device (argv[5]): virtio-blk-pci,drive=n1,scsi=off" in lines
    assert "the command line (what QEMU prints):" in lines
    assert "-M (argv[1]): pc-i440fx-5.0" in lines  # 11.1 refuses the machine it names
    assert lines[-1] == "7 difference(s) between qemu-7.2 and qemu-11.1"
    j = json.loads(run("check", "--offline", "--json", "--compare-dialects",
                       "qemu-7.2,qemu-11.1", "--argv", "--", *_ARGV).stdout)
    assert j["same"] is False and set(j["results"]) == {"qemu-7.2", "qemu-11.1"}
    assert "stderr" in j["results"]["qemu-11.1"]  # whole command-line results
    assert {d.get("option") for d in j["differences"]} == {None, "-M", "-device", "argv"}


# -- habits ----------------------------------------------------------------------------------


def test_version() -> None:
    p = run("--version")
    assert p.returncode == 0 and p.stdout == f"qdrive {qdrive.__version__}\n"


def test_misspelt_option_gets_the_subcommands_usage_and_a_suggestion() -> None:
    p = run("check", "--jsn", "file=x")
    assert p.returncode == 2
    assert p.stderr.startswith("usage: qdrive check ")
    assert p.stderr.endswith("qdrive check: error: unrecognized arguments: --jsn (did you "
                             "mean --json?)\n")


def test_misspelt_subcommand_and_choice_get_a_suggestion() -> None:
    p = run("chek", "file=x")
    assert p.returncode == 2 and p.stderr.startswith("usage: qdrive ")
    assert p.stderr.endswith("invalid choice: 'chek' (choose from 'check', 'verify', 'demo', "
                             "'bench') (did you mean check?)\n")
    p = run("check", "--dialect", "qemu-11.2", "file=x")
    assert p.returncode == 2 and p.stderr.endswith("(did you mean qemu-11.1?)\n")
    p = run("check", "--dialect", "xyzzy", "file=x")  # nothing close: no guess
    assert p.returncode == 2 and "did you mean" not in p.stderr


def test_drive_pairs_as_pasted(images: Path) -> None:
    p = run("check", "-drive", "file=disk.img,format=raw", "-drive",
            "file=cd.iso,media=cdrom,format=raw", cwd=images)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("ok  -drive ") == 2
    assert run("check", "file=x", "-drive").returncode == 2


def test_histogram_and_prefixes(images: Path, tmp_path: Path) -> None:
    cases = tmp_path / "c.txt"
    cases.write_text("file=disk.img,format=raw,cache=on\nfile=disk.img,format=raw,aio=native\n"
                     "file=disk.img,format=raw,cache=bogus\nfile=disk.img,format=raw\n")
    p = run("check", "-f", str(cases), cwd=images)
    lines = p.stdout.splitlines()
    assert f"{cases}:1:" in lines and f"{cases}:3:" in lines and f"{cases}:4:" not in lines
    assert lines[-2:] == ["4 lines: 1 ok, 3 invalid, 0 with warnings",
                          "errors by kind: bad-cache 2, native-needs-direct 1"]
    one = run("check", "-f", "-", input="file=disk.img,format=raw\n", cwd=images)
    assert one.stdout == "1 line: 1 ok, 0 invalid, 0 with warnings\n"


def test_bare_cr_is_not_a_line_break(images: Path, tmp_path: Path) -> None:
    cases = tmp_path / "cr.txt"
    cases.write_bytes(b"file=disk.img,format=raw\rfile=disk.img\r\nfile=disk.img,format=raw"
                      b"\r\n")
    p = run("check", "--json", "-f", str(cases), cwd=images)
    rows = [json.loads(x) for x in p.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2]
    assert rows[0]["drives"][0]["text"] == "file=disk.img,format=raw\rfile=disk.img"
    assert rows[1]["ok"] and rows[1]["drives"][0]["text"] == "file=disk.img,format=raw"


def test_long_line_is_reported_and_the_rest_checked(images: Path, tmp_path: Path) -> None:
    from qdrive.frontend.terminal import MAX_LINE

    cases = tmp_path / "long.txt"
    long = "file=" + "a" * (MAX_LINE * 3)
    at_limit = "file=disk.img,format=raw,id=" + "b" * (MAX_LINE - 28)
    assert len(at_limit) == MAX_LINE
    cases.write_text(f"{long}\nfile=disk.img,format=raw\n{at_limit}\n")
    p = run("check", "-f", str(cases), cwd=images)
    assert p.returncode == 1
    assert p.stdout.startswith(f"{cases}:1: line longer than {MAX_LINE} characters")
    j = run("check", "--json", "-f", str(cases), cwd=images)  # stdout stays JSON lines
    assert [json.loads(x)["line"] for x in j.stdout.splitlines()] == [2, 3]
    assert j.stderr.startswith(f"{cases}:1: line longer than")
    # lines 2 and 3 are checked (a line of exactly MAX_LINE characters is read whole)
    assert p.stdout.endswith("3 lines: 2 ok, 1 invalid, 0 with warnings\n"
                             "errors by kind: line-too-long 1\n")


def test_progress_is_cleared_before_each_report_line(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    from qdrive import cli

    cases = tmp_path / "many.txt"
    rows = ["file=x.img,format=raw" if n % 97 else "file=x.img,cache=bad" for n in range(400)]
    cases.write_text("\n".join(rows) + "\n")
    screen = io.StringIO()  # stdout and stderr on one terminal
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    assert cli.main(["check", "--offline", "-f", str(cases)]) == 1
    out = screen.getvalue()
    assert "\r400 lines checked" in out  # streamed: the total is not known in advance
    # Every report line starts at column 0 of a clean line: after a newline or an erase.
    for n, line in enumerate(out.split("\n")):
        if "qdrive: -drive" in line or line.startswith(str(cases)):
            start = line.rfind("\r\033[K")
            clean = line[start + 4:] if start >= 0 else line
            assert clean.startswith(("qdrive: ", str(cases))), (n, line)
            assert "lines checked" not in clean, (n, line)
    assert out.count(f"\r\033[K{cases}:") == 4  # the bar was up, and erased, before each
    assert out.endswith("\r\033[K400 lines: 395 ok, 5 invalid, 0 with warnings\n"
                        "errors by kind: bad-cache 5\n")


def test_color(images: Path) -> None:
    drive = "file=disk.img,format=raw,snapshot,cache=bad"
    plain = run("check", drive, cwd=images)
    assert "\033[" not in plain.stdout
    forced = run("check", "--color=always", drive, cwd=images)  # NO_COLOR=1 is set: always wins
    lines = forced.stdout.splitlines()
    assert lines[0] == ("qdrive: -drive file=disk.img,format=raw,snapshot,cache=bad: "
                        "\033[33mwarning:\033[0m short-form boolean option 'snapshot' "
                        "deprecated")
    assert lines[1].startswith("\033[33;1m ") and lines[1].endswith("^~~~~~~~\033[0m")
    error = next(n for n, x in enumerate(lines) if "invalid cache option" in x)
    assert lines[error].startswith("qdrive: -drive")  # the message itself stays plain
    assert lines[error + 1].startswith("\033[31;1m")
    assert "\033[" not in run("check", "--color=never", drive, cwd=images).stdout


def test_closed_and_full_streams_are_usage_errors(images: Path) -> None:
    cmd = f"{sys.executable} -m qdrive check file=disk.img,format=raw"
    for redirect, message in ((">&-", "qdrive: stdout is closed"),
                              (">/dev/full", "qdrive: cannot write the report: No space left "
                               "on device")):
        p = subprocess.run(["bash", "-c", f"{cmd} {redirect}"], capture_output=True,
                           text=True, cwd=images, env=ENV)
        assert p.returncode == 2, (redirect, p.stderr)
        assert p.stderr.startswith(message), p.stderr
        assert "Traceback" not in p.stderr and "internal error" not in p.stderr
    p = subprocess.run(["bash", "-c", f"{sys.executable} -m qdrive check -f - <&-"],
                       capture_output=True, text=True, cwd=images, env=ENV)
    assert p.returncode == 2 and p.stderr == "qdrive: -f -: stdin is closed\n"
