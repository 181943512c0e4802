"""ENOSPC on a real small filesystem under each werror policy; nothing acknowledged is lost."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

import qdrive.block.driver as driver

import qdrive

CHUNK = 1 << 20


def _fill(path: Path, policy: str, cache: str) -> tuple[list[int], BaseException | None]:
    """Write 1 MiB chunks until the filesystem refuses; returns acknowledged offsets."""
    with open(path, "wb") as f:
        f.truncate(64 << 20)  # larger than the 16 MiB filesystem: sparse
    acked: list[int] = []
    failure: BaseException | None = None
    with qdrive.open(f"file={path},format=raw,werror={policy},{cache}") as dev:
        for n in range(64):
            data = bytes([n + 1]) * CHUNK
            try:
                dev.pwrite(data, n * CHUNK)
                dev.flush()
            except OSError as exc:
                failure = exc
                break
            acked.append(n)
    return acked, failure


@pytest.mark.parametrize("cache", ["cache=none", "cache=writeback"])
@pytest.mark.parametrize("policy", ["report", "enospc", "stop", "ignore"])
def test_enospc_reaches_the_caller(small_fs: Path, policy: str, cache: str) -> None:
    path = small_fs / f"{policy}.img"
    acked, failure = _fill(path, policy, cache)
    if policy == "ignore":
        assert failure is None  # QEMU's werror=ignore: the guest is told it worked
    else:
        assert failure is not None and failure.errno == errno.ENOSPC
        assert isinstance(failure, driver.IOStopped) == (policy in ("stop", "enospc"))
        assert 0 < len(acked) < 16
        # No acknowledged write is lost: read back through a fresh open.
        with qdrive.open(f"file={path},format=raw,read-only=on") as dev:
            for n in acked:
                assert dev.pread(CHUNK, n * CHUNK) == bytes([n + 1]) * CHUNK
    path.unlink()


def test_stopped_request_can_be_resumed(small_fs: Path) -> None:
    filler = small_fs / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * (8 << 20))
    path = small_fs / "vm.img"
    acked, failure = _fill(path, "stop", "cache=writeback")
    assert isinstance(failure, driver.IOStopped)
    filler.unlink()  # the operator frees space, then resumes the failed request
    with qdrive.open(f"file={path},format=raw,werror=stop") as dev:
        req = failure.request
        dev.submit([req])
        (c,) = dev.reap(1)
        assert c.error is None and c.result == CHUNK
