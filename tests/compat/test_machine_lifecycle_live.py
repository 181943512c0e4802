"""Each dialect's removed and deprecated versioned machines (Dialect.machine_status) against
what the installed QEMU lists with ``-machine help``, and the warning or error qdrive
predicts against the one QEMU prints for a sample of them (7.2 deprecated pc-i440fx-1.4 to
1.7 by hand with a text of its own; 9.1's MACHINE_VER_DEPRECATION/DELETION rule gives
10.0 and 11.1 theirs)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.compat import compare, oracle

pytestmark = pytest.mark.live

_LINE = re.compile(r"^(pc-(?:i440fx|q35)-(\d+)\.(\d+)(?:\.\d+)?)\s.*?(\(deprecated\))?$")
# Every versioned name QEMU could have had: majors 0 to 12, minors 0 to 12.
_CANDIDATES = [f"pc-{fam}-{a}.{b}" for fam in ("i440fx", "q35")
               for a in range(0, 13) for b in range(0, 13)]


def _needs(version: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not oracle.have_qemu(version),
                              reason=f"{oracle.qemu(version).binary} not installed "
                                     "(10.0 and 11.1: ../shared/tools/qemu-chroot as root)")


def _listed(version: str) -> dict[str, bool]:
    """The versioned machines ``-machine help`` lists: name -> deprecated."""
    q = oracle.qemu(version)
    out = subprocess.run([q.binary, "-machine", "help"], capture_output=True, text=True,
                         timeout=60, check=True, cwd="/").stdout
    return {m.group(1): bool(m.group(4)) for line in out.splitlines()
            if (m := _LINE.match(line.strip()))}


@pytest.mark.parametrize("version", [pytest.param(v, marks=_needs(v)) for v in oracle.QEMUS])
def test_machine_status_is_what_machine_help_lists(version: str) -> None:
    from qdrive.dialect import REGISTRY

    dialect = REGISTRY[f"qemu-{version}"]
    listed = _listed(version)
    assert len(listed) > 20  # the help was read
    wrong = []
    # every candidate: a name between listed ones that no release had (pc-i440fx-3.2) and
    # one newer than this release are unknown to QEMU, as removed ones are
    for name in _CANDIDATES + ["pc-q35-4.0.1", "pc-i440fx-4.0.1", "pc-q35-4.1.1"]:
        want = None if listed.get(name) is False else \
            "deprecated" if listed.get(name) else "removed"
        got = dialect.machine_status(name)
        if got != want:
            wrong.append((name, want, got))
    assert wrong == []


# One deprecated, one removed machine per release, started for real.
_SAMPLE = {"7.2": ("pc-i440fx-1.5", "pc-i440fx-1.3", "pc-q35-2.3", "pc-i440fx-3.2",
                   "pc-i440fx-8.0"),
           "10.0": ("pc-i440fx-7.0", "pc-q35-2.3", "pc-i440fx-3.2", "pc-q35-4.0.1"),
           "11.1": ("pc-q35-8.1", "pc-i440fx-5.1", "pc-q35-2.13", "pc-q35-10.2")}


@pytest.mark.parametrize(("version", "machine"), [
    pytest.param(v, m, marks=_needs(v), id=f"{v}-{m}") for v, ms in _SAMPLE.items()
    for m in ms])
def test_machine_warning_or_error_is_qemus(version: str, machine: str, tmp_path) -> None:
    case = {"argv": ["-machine", f"{machine},usb=off", "-drive",
                     "if=none,id=d0,driver=null-co"]}
    want = oracle.run(case, tmp_path, qemu=oracle.qemu(version))
    got = compare.ours(case, dialect=f"qemu-{version}")
    assert (got["accepted"], got["stderr"]) == \
        (want["accepted"], compare.strip_noise(want["stderr"]))
