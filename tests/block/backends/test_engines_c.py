"""The C engines are C: every csrc/*.c compiles warning-free, also under GCC 14's errors,
and the declarations cffi sees are the header's own."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from qdrive.block.backends import _build

SOURCES = sorted(_build.CSRC.glob("*.c"))
STRICT = ["-Wall", "-Wextra", "-Werror"]
# What GCC 14 (Debian 13, Fedora 40+) makes errors by default.
GCC14 = ["-Werror=implicit-function-declaration", "-Werror=incompatible-pointer-types",
         "-Werror=int-conversion"]
CC = shutil.which("gcc") or shutil.which("cc")
# A source whose library is missing here cannot compile; the build leaves it out too.
NEEDS = {e.source: name for name, e in _build.ENGINES.items()}


def test_every_engine_has_its_source() -> None:
    names = {p.name for p in SOURCES}
    assert {e.source for e in _build.ENGINES.values()} | {"qd_bench.c"} == names


@pytest.mark.skipif(CC is None, reason="no C compiler")
@pytest.mark.parametrize("flags", [STRICT, STRICT + GCC14, GCC14 + ["-std=c11", "-O2"]],
                         ids=["wall-wextra", "gcc14-errors", "c11-O2"])
@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_compiles_warning_free(source: Path, flags: list[str], tmp_path: Path) -> None:
    engine = NEEDS.get(source.name)
    found = _build.find(engine) if engine else _build.Flags([], [], [])
    if found is None:
        pytest.skip(f"the {engine} library is not installed here")
    cmd = [str(CC), "-c", str(source), "-o", str(tmp_path / "x.o"), f"-I{_build.CSRC}",
           *(f"-I{d}" for d in found.include_dirs), *flags]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0 and not out.stderr, out.stderr


def test_cffi_reads_the_header_declarations() -> None:
    from cffi import FFI

    for name in _build.ENGINES:
        ffi = FFI()
        ffi.cdef(_build._IOVEC_CDEF + _build.cdef("common") + _build.cdef(name))
        assert ffi.sizeof("qd_bench_args") > 0


def test_the_header_declares_every_exported_function() -> None:
    """Declared before use: every non-static function a .c defines is in the header."""
    import re

    header = _build.HEADER.read_text()
    for source in SOURCES:
        for m in re.finditer(r"^(?!static)[a-z][\w \*]*?\b(qd_\w+)\(", source.read_text(), re.M):
            assert f"{m.group(1)}(" in header, f"{source.name}: {m.group(1)} is not declared"


@pytest.mark.skipif(CC is None, reason="no C compiler")
@pytest.mark.parametrize("engine", list(_build.ENGINES))
def test_cffi_module_builds_under_gcc14_errors(engine: str, tmp_path: Path) -> None:
    """The whole extension, cffi's generated wrapper included, as the wheel builds it."""
    if _build.find(engine) is None:
        pytest.skip(f"the {engine} library is not installed here")
    built = _build.build_variant(tmp_path, GCC14 + ["-Werror=return-type"], [], [engine])
    assert len(built) == 1 and Path(built[0]).stat().st_size > 0


def test_a_missing_library_is_found_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """setup.py leaves an engine out when neither pkg-config nor a compile test finds it."""
    ghost = _build.Engine("qdrive.block.backends._ghost_cffi", "qd_laio.c", "qdrive-no-such.h",
                          "qdrive-no-such", ("qdrive_no_such",), "nothing")
    monkeypatch.setitem(_build.ENGINES, "ghost", ghost)
    assert _build.find("ghost") is None
    assert _build.find("threads") is not None  # while glibc's are found


@pytest.mark.skipif(shutil.which("pkg-config") is None, reason="no pkg-config")
def test_liburing_is_found_with_pkg_config() -> None:
    if not Path("/usr/include/liburing.h").exists():
        pytest.skip("liburing-dev is not installed")
    flags = _build._pkgconfig("liburing")
    assert flags is not None and "uring" in flags.libraries
