"""werror/rerror: stop really stops, ignore really ignores (issue 11 items 10 and 11).

QEMU (hw/block/virtio-blk.c virtio_blk_handle_rw_error, block-backend.c
blk_error_action): on BLOCK_ERROR_ACTION_STOP the request is kept on a list and the VM
stops, so the guest submits nothing more; ``cont`` resubmits the kept requests. On
IGNORE the guest is told the request succeeded.
"""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

import pytest

import qdrive.block.driver as driver

import qdrive
from qdrive.block.backends import Op, Request
from tests.block.backends.faultfs import FaultTarget
from tests.block.backends.test_contract import BUILT

MiB = 1 << 20


def _open(path: Path, backend: str, extra: str = "") -> driver.RawDevice:
    return qdrive.open(f"file={path},format=raw,cache=none{extra}", backend=backend)


def _data(dev: driver.RawDevice, byte: bytes, n: int = 4096) -> memoryview:
    buf = dev.buffer(n)[:n]
    buf[:] = byte * n
    return buf


@pytest.mark.parametrize("backend", BUILT)
def test_a_stop_refuses_new_requests_until_resume(faultfs: FaultTarget, fault_image: Path,
                                                  backend: str) -> None:
    with _open(fault_image, backend, ",werror=stop") as dev:
        faultfs.inject("write", start=MiB, end=MiB + 4096, errno="ENOSPC")
        old = _data(dev, b"o")
        with pytest.raises(driver.IOStopped) as e:
            dev.pwrite(old, MiB)
        assert e.value.errno == errno.ENOSPC and e.value.request.offset == MiB
        assert dev.stopped and dev.held == (e.value.request,)
        # Stopped means stopped: no write, no read, no flush gets through.
        for call in (lambda: dev.pwrite(_data(dev, b"n"), MiB), lambda: dev.pread(10, 0),
                     dev.flush, lambda: dev.submit([Request(Op.READ, 0, [dev.buffer(512)])])):
            with pytest.raises(driver.DeviceStoppedError) as refused:
                call()
            assert refused.value.errno == errno.ENOSPC
        faultfs.clear()  # the operator frees space ...
        (final,) = dev.resume()  # ... and continues, like QEMU's cont
        assert final.request is e.value.request and final.error is None
        assert final.result == 4096 and not dev.stopped
        # Only now does new data go in, so the retried write cannot land on top of it.
        dev.pwrite(_data(dev, b"n"), MiB)
        assert dev.pread(4096, MiB) == b"n" * 4096


@pytest.mark.parametrize("backend", BUILT)
def test_writes_queued_behind_a_stopped_one_keep_their_order(
        faultfs: FaultTarget, fault_image: Path, backend: str) -> None:
    """The newer write was submitted with the stopped one and queued behind it: it waits
    while the device is stopped and lands after the retry, never under it."""
    with _open(fault_image, backend, ",werror=stop") as dev:
        faultfs.inject("write", start=2 * MiB, end=2 * MiB + 4096, count=1)
        older = Request(Op.WRITE, 2 * MiB, [_data(dev, b"1")])
        newer = Request(Op.WRITE, 2 * MiB, [_data(dev, b"2")])
        elsewhere = Request(Op.WRITE, 3 * MiB, [_data(dev, b"3")])
        dev.submit([older, newer, elsewhere])
        got = dev.reap(3)  # the stop notice and the unrelated write; newer waits
        by = {id(c.request): c for c in got}
        assert isinstance(by[id(older)].error, driver.IOStopped)
        assert by[id(elsewhere)].error is None
        assert id(newer) not in by and dev.stopped
        assert dev.reap(1, timeout=0.2) == []  # still queued, not lost, not issued
        (retried,) = dev.resume()
        assert retried.request is older and retried.error is None
        (c,) = dev.reap(1)
        assert c.request is newer and c.error is None
        assert dev.pread(4096, 2 * MiB) == b"2" * 4096


@pytest.mark.parametrize("backend", BUILT)
def test_a_retry_that_fails_again_stops_again(faultfs: FaultTarget, fault_image: Path,
                                              backend: str) -> None:
    with _open(fault_image, backend, ",werror=stop") as dev:
        faultfs.inject("write", start=0, end=4096)  # until cleared
        with pytest.raises(driver.IOStopped):
            dev.pwrite(_data(dev, b"x"), 0)
        (again,) = dev.resume()
        assert isinstance(again.error, driver.IOStopped) and dev.stopped
        faultfs.clear()
        (done,) = dev.resume()
        assert done.error is None and dev.pread(4096, 0) == b"x" * 4096


@pytest.mark.parametrize("backend", BUILT)
def test_rerror_stop_holds_a_read(faultfs: FaultTarget, fault_image: Path,
                                  backend: str) -> None:
    with _open(fault_image, backend, ",rerror=stop") as dev:
        dev.pwrite(_data(dev, b"r"), 4 * MiB)
        faultfs.inject("read", start=4 * MiB, end=4 * MiB + 4096, count=1)
        buf = dev.buffer(4096)
        with pytest.raises(driver.IOStopped):
            dev.preadv([buf], 4 * MiB)
        (c,) = dev.resume()
        assert c.error is None and bytes(buf) == b"r" * 4096


@pytest.mark.parametrize("backend", BUILT)
def test_enospc_stops_only_on_enospc(faultfs: FaultTarget, fault_image: Path,
                                     backend: str) -> None:
    with _open(fault_image, backend, ",werror=enospc") as dev:
        faultfs.inject("write", start=0, end=4096, count=1)  # EIO: reported
        with pytest.raises(OSError) as e:
            dev.pwrite(_data(dev, b"a"), 0)
        assert e.value.errno == errno.EIO and not isinstance(e.value, driver.IOStopped)
        assert not dev.stopped
        faultfs.inject("write", start=0, end=4096, count=1, errno="ENOSPC")
        with pytest.raises(driver.IOStopped):
            dev.pwrite(_data(dev, b"a"), 0)
        assert dev.stopped


def test_close_on_a_stopped_device_drops_the_held_request(faultfs: FaultTarget,
                                                          fault_image: Path) -> None:
    dev = _open(fault_image, "threads", ",werror=stop")
    faultfs.inject("write", start=0, end=4096)
    with pytest.raises(driver.IOStopped):
        dev.pwrite(_data(dev, b"z"), 0)
    faultfs.clear()
    dev.close()  # the held write was reported by its IOStopped: nothing else to say
    with _open(fault_image, "threads") as again:
        assert again.pread(4096, 0) == bytes(4096)


def test_close_with_requests_queued_behind_a_held_one_says_so(faultfs: FaultTarget,
                                                             fault_image: Path) -> None:
    dev = _open(fault_image, "threads", ",werror=stop")
    faultfs.inject("write", start=0, end=4096, count=1)
    a, b = (Request(Op.WRITE, 0, [_data(dev, x)]) for x in (b"a", b"b"))
    dev.submit([a, b])
    dev.reap(1)
    with pytest.raises(driver.DeviceStoppedError, match="never written"):
        dev.close()


@pytest.mark.parametrize("backend", BUILT)
def test_asyncio_sees_the_stop(faultfs: FaultTarget, fault_image: Path, backend: str) -> None:
    async def main(dev: driver.RawDevice) -> None:
        faultfs.inject("write", start=0, end=4096, count=1)
        with pytest.raises(driver.IOStopped):
            await dev.write(_data(dev, b"q"), 0)
        with pytest.raises(driver.DeviceStoppedError):
            await dev.write(_data(dev, b"q"), 8192)
        (c,) = dev.resume()
        assert c.error is None
        assert await dev.read(4096, 0) == b"q" * 4096

    with _open(fault_image, backend, ",werror=stop") as dev:
        asyncio.run(main(dev))


# -- item 11: ignore means the caller is told it worked ----------------------------------------

@pytest.mark.parametrize("backend", BUILT)
def test_werror_ignore_reports_the_full_length(faultfs: FaultTarget, fault_image: Path,
                                               backend: str) -> None:
    with _open(fault_image, backend, ",werror=ignore") as dev:
        faultfs.inject("write", start=0, end=1 << 20)
        assert dev.pwrite(_data(dev, b"i", 8192), 0) == 8192  # was -1
        r = Request(Op.WRITE, 4096, [_data(dev, b"j")])
        dev.submit([r])
        (c,) = dev.reap(1)
        assert c.error is None and c.result == 4096
        faultfs.inject("fsync")
        dev.flush()  # a failing flush is ignored too (virtio-blk applies werror to flushes)
        faultfs.clear()
        assert dev.pread(8192, 0) == bytes(8192)  # ignored: really not written
        assert not dev.stopped


@pytest.mark.parametrize("backend", BUILT)
def test_rerror_ignore_reports_the_full_length(faultfs: FaultTarget, fault_image: Path,
                                               backend: str) -> None:
    with _open(fault_image, backend, ",rerror=ignore") as dev:
        faultfs.inject("read", start=0, end=1 << 20)
        assert len(dev.pread(4096, 0)) == 4096
        buf = dev.buffer(8192)
        assert dev.preadv([buf], 0) == 8192


def test_an_error_leaving_a_with_block_is_not_replaced_by_close(faultfs: FaultTarget,
                                                              fault_image: Path) -> None:
    """A stop inside ``with`` leaves requests queued behind the held one, so close() has
    something to say; the stop stays the exception raised, close()'s word is a note."""
    with pytest.raises(driver.IOStopped) as e:
        with _open(fault_image, "threads", ",werror=stop") as dev:
            faultfs.inject("write", start=0, end=4096, count=1)
            a, b = (Request(Op.WRITE, 0, [_data(dev, x)]) for x in (b"a", b"b"))
            dev.submit([a, b])
            (c,) = dev.reap(1)
            assert c.error is not None
            raise c.error
    assert any("never written" in note for note in e.value.__notes__)
