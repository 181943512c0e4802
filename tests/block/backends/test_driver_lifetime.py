"""Nothing outlives a RawDevice, even one dropped without close() (issue 11 item 12).

The device's request queue owns the descriptor and the backend and does not refer to the
device, so a weakref.finalize on the device can close the queue: wait for the requests in
flight, flush, stop the backend's threads, close the descriptor (and so its locks).
"""

from __future__ import annotations

import gc
import os
import warnings
from pathlib import Path

import pytest


import qdrive
from qdrive.block.backends import Op, Request
from tests.block.backends._settle import settle
from tests.block.backends.faultfs import FaultTarget
from tests.block.backends.test_contract import BUILT


def _fds() -> int:
    # Collect first: an earlier test's garbage closing its descriptors mid-test would
    # make the count drop and hide (or fake) a leak.
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _drop(make: object) -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        make()  # type: ignore[operator]
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) and "never closed" in str(w.message)
               for w in seen), [str(w.message) for w in seen]


@pytest.mark.parametrize("backend", BUILT)
def test_a_dropped_device_releases_descriptors_threads_and_locks(image_file: Path,
                                                                 backend: str) -> None:
    fds, threads = _fds(), _threads()

    def use_and_drop() -> None:
        dev = qdrive.open(f"file={image_file},format=raw,cache=none", backend=backend)
        bufs = [dev.buffer(1 << 16) for _ in range(64)]
        dev.submit([Request(Op.WRITE, n << 16, [b]) for n, b in enumerate(bufs)])
        dev.reap(64)
        # no close(): the last reference goes when this function returns

    for _ in range(3):
        _drop(use_and_drop)
    assert _fds() == fds
    assert settle(_threads, threads) == threads  # was 64 more pthreads per device (threads)
    with qdrive.open(f"file={image_file},format=raw"):  # the write lock went too
        pass


@pytest.mark.parametrize("backend", BUILT)
def test_a_device_dropped_with_requests_in_flight_finishes_them(
        faultfs: FaultTarget, fault_image: Path, backend: str) -> None:
    """The finalizer waits for the requests in flight, then flushes, like close()."""
    def submit_and_drop() -> None:
        dev = qdrive.open(f"file={fault_image},format=raw,cache=none", backend=backend)
        reqs = []
        for n in range(32):
            b = dev.buffer(4096)
            b[:] = bytes([n + 1]) * 4096
            reqs.append(Request(Op.WRITE, n * 4096, [b]))
        dev.submit(reqs)

    _drop(submit_and_drop)
    with open(faultfs.powercut(fault_image.name), "rb") as f:  # flushed, so durable
        for n in range(32):
            assert f.read(4096) == bytes([n + 1]) * 4096


def test_a_failed_flush_of_a_dropped_device_is_not_silent(faultfs: FaultTarget,
                                                          fault_image: Path) -> None:
    def write_and_drop() -> None:
        dev = qdrive.open(f"file={fault_image},format=raw,cache=writeback")
        dev.pwrite(b"w" * 512, 0)
        faultfs.inject("fsync")

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        write_and_drop()
        gc.collect()
    assert any(issubclass(w.category, RuntimeWarning) and "final flush failed" in str(w.message)
               for w in seen), [str(w.message) for w in seen]


def test_the_finalizer_does_not_keep_the_device_alive(image_file: Path) -> None:
    import weakref

    dev = qdrive.open(f"file={image_file},format=raw")
    ref = weakref.ref(dev)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        del dev
        assert ref() is None  # freed by reference counting alone: no cycle through it
