"""Build hook: the cffi extension modules of the C engines (the C is in
qdrive/block/backends/csrc/). Everything else lives in pyproject.toml.

An engine whose library is not installed (found by pkg-config, else by compiling a test
program against its header) is left out; its backend then reports BackendUnavailable
with the package to install, and the rest of qdrive still builds.
"""

import importlib.util
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("qdrive_build", HERE / "qdrive/block/backends/_build.py")
assert _spec is not None and _spec.loader is not None
_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_build)

modules = []
for name, engine in _build.ENGINES.items():
    if _build.find(name) is None:
        print(f"qdrive: cannot compile against <{engine.header}>: building without the "
              f"{name} backend (install {engine.package})")
    else:
        modules.append(f"qdrive/block/backends/_build.py:ffi_{name}")

# cffi compiles the engines against the limited API (their modules are .abi3.so): tag the
# wheel so, and one wheel serves every CPython from 3.11 on.
setup(cffi_modules=modules, options={"bdist_wheel": {"py_limited_api": "cp311"}})
