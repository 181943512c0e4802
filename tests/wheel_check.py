"""``make wheel-check``: build the wheel and sdist from a clean clone of HEAD, install the
wheel into a fresh venv per Python 3.11-3.13 found, and use it outside the source tree.

Prints one line per step; exits non-zero on the first failure. Not part of ``make test``
(it builds in isolated environments, which fetch setuptools and cffi).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VERSIONS = ("3.11", "3.12", "3.13")
SMOKE = """
import qdrive
d = qdrive.drive(file="disk.img", format="raw", interface="virtio", cache="none", aio="native")
result = qdrive.check(d, probe_files=False)
result.raise_for_error()
assert result.to_args() == ["-drive", d.to_string()]
assert qdrive.suggest_fix("file=x,format=raw,aio=native").text.endswith("cache=none")
from qdrive.frontend.jsonout import schema
assert schema()["$defs"]["schema_version"] == {"const": 1}
assert qdrive.__file__.find("site-packages") > 0, qdrive.__file__
print("ok", qdrive.__file__)
"""


def pythons() -> list[str]:
    found = []
    for v in VERSIONS:
        # pyenv's own interpreters first: its shims on PATH fail for versions not selected
        candidates = [*sorted(glob.glob(os.path.expanduser(
            f"~/.pyenv/versions/{v}.*/bin/python{v}"))), shutil.which(f"python{v}")]
        exe = next((c for c in candidates if c and "/shims/" not in c), None)
        if exe:
            found.append(exe)
    return found


def step(what: str, cmd: list[str], cwd: Path | str) -> None:
    print(f"wheel-check: {what}", flush=True)
    subprocess.run(cmd, cwd=cwd, check=True)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="qdrive-wheel-") as tmp:
        src, dist = Path(tmp) / "src", Path(tmp) / "dist"
        step("clean clone", ["git", "clone", "-q", str(REPO), str(src)], tmp)
        # pypa/build in a venv of its own: both artifacts built in isolated environments
        # with the build-system requirements of pyproject.toml, as a packager builds them.
        tools = Path(tmp) / "build-venv"
        step("build tool", [sys.executable, "-m", "venv", str(tools)], tmp)
        step("build tool", [str(tools / "bin/python"), "-m", "pip", "install", "-q", "build"],
             tmp)
        step("sdist and wheel", [str(tools / "bin/python"), "-m", "build", "-o", str(dist),
                                 "."], src)
        (wheel,) = dist.glob("*.whl")
        assert "-cp311-abi3-" in wheel.name, wheel.name
        (sdist,) = dist.glob("*.tar.gz")
        with tarfile.open(sdist) as t:
            names = t.getnames()
        for needed in ("tests/test_cli.py", "fixtures/qemu72/verdicts.jsonl", "LICENSE",
                       "Makefile", "grammar/drive.lark"):
            assert any(n.endswith(needed) for n in names), f"sdist lacks {needed}"
        print(f"wheel-check: {wheel.name}, {sdist.name} ({len(names)} files)")
        for exe in pythons():
            venv = Path(tmp) / f"venv-{Path(exe).name}"
            step(f"venv {exe}", [exe, "-m", "venv", str(venv)], tmp)
            step("install", [str(venv / "bin/python"), "-m", "pip", "install", "-q",
                             str(wheel)], tmp)
            step("use it", [str(venv / "bin/python"), "-c", SMOKE], tmp)
            step("the command", [str(venv / "bin/qdrive"), "--version"], tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
