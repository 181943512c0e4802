"""Run backend tests against the C engines built with a sanitizer.

    python -m tests.block.backends.sanitize asan [pytest args]   ASan + UBSan, every engine
    python -m tests.block.backends.sanitize tsan [pytest args]   TSan, the thread pool

The engines are compiled with the sanitizer into build/sanitize/<kind>/ next to a copy of
the qdrive package (so the ordinary build in the work tree is untouched); pytest then
runs with that directory first on PYTHONPATH and the sanitizer's runtime preloaded
(CPython itself is not instrumented, so the runtime must come first). Any report aborts
the test process, so a finding fails the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from qdrive.block.backends import _build

ROOT = Path(__file__).resolve().parents[3]

KINDS = {
    # UBSan findings abort too (no recovery), so they cannot scroll by unnoticed.
    "asan": (["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
              "-fno-omit-frame-pointer", "-g", "-O1"], ["-fsanitize=address,undefined"],
             "libasan.so", list(_build.ENGINES)),
    "tsan": (["-fsanitize=thread", "-g", "-O1"], ["-fsanitize=thread"], "libtsan.so",
             ["threads"]),
}

ENV = {
    # CPython's own allocations are not ours to judge: no leak report at exit. Every
    # other finding (overflow, use after free, double free, UB) aborts the process.
    "asan": {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1:halt_on_error=1:"
                             "allocator_may_return_null=1",
             "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
             "PYTHONMALLOC": "malloc"},
    "tsan": {"TSAN_OPTIONS": "halt_on_error=1:exitcode=66:report_signal_unsafe=0"},
}


def _runtime(name: str) -> str:
    cc = shutil.which("gcc") or "cc"
    path = subprocess.run([cc, f"-print-file-name={name}"], capture_output=True, text=True,
                          check=True).stdout.strip()
    if not os.path.isabs(path) or not os.path.exists(path):
        raise SystemExit(f"sanitize: {cc} has no {name} (install gcc's sanitizer runtimes)")
    return os.path.realpath(path)


def prepare(kind: str) -> Path:
    """Copy the package and build the sanitized engines next to it; the directory."""
    cflags, ldflags, _, names = KINDS[kind]
    out = ROOT / "build" / "sanitize" / kind
    pkg = out / "qdrive"
    shutil.rmtree(pkg, ignore_errors=True)
    shutil.copytree(ROOT / "qdrive", pkg,
                    ignore=shutil.ignore_patterns("*.so", "__pycache__", "_*_cffi.c", "*.o"))
    shutil.copytree(ROOT / "grammar", pkg / "grammar")
    built = _build.build_variant(out, cflags, ldflags, names)
    if len(built) != len([n for n in names if _build.find(n) is not None]):
        raise SystemExit("sanitize: an engine failed to build")
    return out


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in KINDS:
        print(__doc__, file=sys.stderr)
        return 2
    kind, args = argv[0], argv[1:]
    out = prepare(kind)
    env = dict(os.environ, PYTHONPATH=f"{out}{os.pathsep}{ROOT}", **ENV[kind])
    # pytest captures descriptor 2 per test and loses it when the process aborts: the
    # sanitizers write their reports to files instead, printed below.
    reports = out / "reports"
    shutil.rmtree(reports, ignore_errors=True)
    reports.mkdir()
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"):
        if var in env:
            env[var] += f":log_path={reports}/{var.split('_')[0].lower()}"
    env["LD_PRELOAD"] = _runtime(KINDS[kind][2])
    # The tests must see the sanitized modules, not the work tree's.
    probe = ("import qdrive.block.backends._threads_cffi as m, sys; "
             f"sys.exit(0 if m.__file__.startswith({str(out)!r}) else 1)")
    if subprocess.run([sys.executable, "-c", probe], env=env, cwd=out).returncode:
        raise SystemExit(f"sanitize: the tests would not load the engines in {out}")
    # --import-mode=append: pytest must not put the work tree before the copy.
    # Its own --basetemp: other pytest runs on the machine share /tmp/pytest-of-<user>.
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "--import-mode=append", "--rootdir", str(ROOT), f"--basetemp={out / 'tmp'}",
           *(str(ROOT / a) if a.startswith("tests/") else a for a in args)]
    print(f"sanitize {kind}: {' '.join(cmd)}", flush=True)
    rc = subprocess.run(cmd, env=env, cwd=out).returncode
    found = sorted(reports.iterdir())
    for report in found:
        print(f"==== {report.name}\n{report.read_text()}", file=sys.stderr)
    if found:
        print(f"sanitize {kind}: {len(found)} report(s), see above", file=sys.stderr)
        return rc or 1
    if rc == 0:  # keep the test images only when something failed
        shutil.rmtree(out / "tmp", ignore_errors=True)
    return rc


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
