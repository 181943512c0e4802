"""Build hook: the cffi extension modules of the native AIO backends.

Everything else lives in pyproject.toml. A backend whose development header is missing
is left out of the build (its module then reports BackendUnavailable with the package
to install); the rest of qdrive, and the other backends, still build.
"""

import os

from setuptools import setup

HEADERS = {
    "ffi_native": ("/usr/include/libaio.h", "libaio-dev"),
    "ffi_io_uring": ("/usr/include/liburing.h", "liburing-dev"),
    "ffi_posix": ("/usr/include/aio.h", "libc6-dev"),
    "ffi_threads": ("/usr/include/pthread.h", "libc6-dev"),
}

modules = [f"qdrive/backends/_build.py:{name}" for name, (header, _) in HEADERS.items()
           if os.path.exists(header)]
for name, (header, package) in HEADERS.items():
    if not os.path.exists(header):
        print(f"qdrive: {header} missing, building without {name[4:]} (install {package})")

setup(cffi_modules=modules)
