"""Build recipe of the four C engines (cffi API mode); the C is in csrc/.

Each engine is its own extension module, so a machine without liburing still builds
libaio's and glibc's. ``available()`` finds each engine's library the way the system
says it is installed: pkg-config where the library ships a .pc file (liburing), else a
compile-and-link test of its header (libaio ships no .pc). An engine whose test fails
is left out of the build; its backend then reports BackendUnavailable naming the
package to install.

setup.py loads this file by path (qdrive's own dependencies need not be installed at
build time), and so does the sanitizer build (``python -m qdrive.block.backends._build``,
see the Makefile's sanitize targets), which compiles the same modules with extra flags
into a separate directory.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import NamedTuple

CSRC = Path(__file__).resolve().parent / "csrc"
HEADER = CSRC / "qd_engines.h"

# cffi needs the iovec layout (the C compiler gets it from <sys/uio.h>).
_IOVEC_CDEF = "struct iovec { void *iov_base; size_t iov_len; };\n"


class Engine(NamedTuple):
    """One C engine: its source, the header that must compile, how to find the library."""

    module: str          # the extension module
    source: str          # csrc/<source>
    header: str          # the library's header (compile test)
    pkgconfig: str       # the .pc name, "" when the library ships none
    libraries: tuple[str, ...]
    package: str         # the Debian package with the header


ENGINES = {
    "native": Engine("qdrive.block.backends._native_cffi", "qd_laio.c", "libaio.h", "",
                     ("aio",), "libaio-dev"),
    "io_uring": Engine("qdrive.block.backends._io_uring_cffi", "qd_uring.c", "liburing.h",
                       "liburing", ("uring",), "liburing-dev"),
    "posix": Engine("qdrive.block.backends._posix_cffi", "qd_paio.c", "aio.h", "", ("rt",),
                    "libc6-dev"),
    "threads": Engine("qdrive.block.backends._threads_cffi", "qd_tpool.c", "pthread.h", "",
                      ("pthread",), "libc6-dev"),
}


class Flags(NamedTuple):
    include_dirs: list[str]
    library_dirs: list[str]
    libraries: list[str]


def cdef(block: str) -> str:
    """The declarations between ``@cdef block`` and ``@end`` in qd_engines.h."""
    text = HEADER.read_text()
    m = re.search(rf"/\* @cdef {re.escape(block)} \*/\n(.*?)/\* @end \*/", text, re.S)
    if m is None:
        raise RuntimeError(f"{HEADER} has no @cdef {block} block")
    return m.group(1)


def _compiler() -> list[str]:
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shlex.split(cc)


def _pkgconfig(name: str) -> Flags | None:
    if not name or shutil.which("pkg-config") is None:
        return None
    try:
        out = subprocess.run(["pkg-config", "--cflags", "--libs", name], capture_output=True,
                             text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return None
    return Flags([f[2:] for f in out if f.startswith("-I")],
                 [f[2:] for f in out if f.startswith("-L")],
                 [f[2:] for f in out if f.startswith("-l")])


def _links(engine: Engine, flags: Flags) -> bool:
    """Does a program including the engine's header compile and link here?"""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "probe.c")
        src.write_text(f"#include <{engine.header}>\nint main(void) {{ return 0; }}\n")
        cmd = [*_compiler(), *shlex.split(os.environ.get("CFLAGS", "")), str(src),
               "-o", str(Path(tmp, "probe")), *(f"-I{d}" for d in flags.include_dirs),
               *(f"-L{d}" for d in flags.library_dirs), *(f"-l{lib}" for lib in flags.libraries)]
        try:
            return subprocess.run(cmd, capture_output=True).returncode == 0
        except OSError:
            return False


def find(name: str) -> Flags | None:
    """How to build engine ``name`` here, or None when its library is missing."""
    engine = ENGINES[name]
    flags = _pkgconfig(engine.pkgconfig) or Flags([], [], list(engine.libraries))
    return flags if _links(engine, flags) else None


def make_ffi(name: str, flags: Flags, extra_compile_args: list[str] | None = None,
             extra_link_args: list[str] | None = None, relative: bool = True) -> object:
    """The cffi builder of engine ``name``: its cdef block, its .c and the shared loop."""
    from cffi import FFI

    engine = ENGINES[name]
    ffi = FFI()
    ffi.cdef(_IOVEC_CDEF + cdef("common") + cdef(name))
    here = Path.cwd()
    # setuptools wants sources relative to setup.py; ffi.compile() (which changes into
    # its own directory) and a build elsewhere get absolute paths.
    sources = [os.path.relpath(CSRC / f, here) if relative and (CSRC / f).is_relative_to(here)
               else str(CSRC / f) for f in (engine.source, "qd_bench.c")]
    ffi.set_source(engine.module, '#include "qd_engines.h"', sources=sources,
                   include_dirs=[str(CSRC), *flags.include_dirs],
                   library_dirs=flags.library_dirs, libraries=flags.libraries,
                   extra_compile_args=extra_compile_args or [],
                   extra_link_args=extra_link_args or [])
    return ffi


def _builder(name: str) -> object:
    flags = find(name)
    if flags is None:
        raise RuntimeError(f"engine {name} has no library here")
    return make_ffi(name, flags)


# setup.py's cffi_modules entries ("qdrive/block/backends/_build.py:ffi_native"): cffi calls them.
def ffi_native() -> object:
    return _builder("native")


def ffi_io_uring() -> object:
    return _builder("io_uring")


def ffi_posix() -> object:
    return _builder("posix")


def ffi_threads() -> object:
    return _builder("threads")


def build_variant(outdir: Path, cflags: list[str], ldflags: list[str],
                  names: list[str]) -> list[str]:
    """Compile engines ``names`` with extra flags (a sanitizer) into ``outdir``, laid out
    as the package (outdir/qdrive/block/backends/...so); returns the module files."""
    built = []
    for name in names:
        flags = find(name)
        if flags is None:
            print(f"qdrive: {name}: its library is missing, not built", file=sys.stderr)
            continue
        ffi = make_ffi(name, flags, cflags, ldflags, relative=False)
        tmp = outdir / "build" / name
        tmp.mkdir(parents=True, exist_ok=True)
        so = ffi.compile(tmpdir=str(tmp))  # type: ignore[attr-defined]
        # Where the package keeps it: the module's own dotted path (qdrive.block.backends).
        target = outdir.joinpath(*ENGINES[name].module.split(".")[:-1]) / Path(so).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(so, target)
        built.append(str(target))
    return built


def main(argv: list[str]) -> int:
    """python -m qdrive.block.backends._build OUTDIR "CFLAGS" "LDFLAGS" [ENGINE...]"""
    if len(argv) < 3:
        print(main.__doc__, file=sys.stderr)
        return 2
    names = argv[3:] or list(ENGINES)
    for path in build_variant(Path(argv[0]), shlex.split(argv[1]), shlex.split(argv[2]),
                              names):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
