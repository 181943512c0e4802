"""asyncio past every ring: hundreds and thousands of awaits in flight on one device.

Each eventfd wake-up must drain every completion available, and no wake-up may be lost;
a waiter that loses one hangs, so every run has a generous deadline.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest


import qdrive

from .engines import built

DEADLINE = 120.0


def _drive(path: Path, backend: str) -> str:
    return f"file={path},format=raw,cache=none"


@pytest.mark.parametrize("count", [600, 4096])
@pytest.mark.parametrize("backend", built())
def test_concurrent_awaits(image_file: Path, backend: str, count: int) -> None:
    blocks = [random.Random(n).randbytes(4096) for n in range(count)]

    async def main() -> list[bytes]:
        with qdrive.open(_drive(image_file, backend), backend=backend) as dev:
            writes = await asyncio.wait_for(asyncio.gather(
                *(dev.write(b, n * 4096) for n, b in enumerate(blocks))), DEADLINE)
            assert writes == [4096] * count
            await asyncio.wait_for(dev.aflush(), DEADLINE)
            return await asyncio.wait_for(asyncio.gather(
                *(dev.read(4096, n * 4096) for n in range(count))), DEADLINE)

    assert asyncio.run(main()) == blocks


@pytest.mark.parametrize("backend", built())
def test_awaits_and_the_queue_api_share_a_device(image_file: Path, backend: str) -> None:
    """Completions of requests submitted through submit() stay for reap()."""
    from qdrive.block.backends import Op, Request

    async def main() -> int:
        with qdrive.open(_drive(image_file, backend), backend=backend) as dev:
            queued = [Request(Op.WRITE, (1000 + n) * 4096, [dev.buffer(4096)]) for n in range(300)]
            dev.submit(queued)
            await asyncio.wait_for(asyncio.gather(
                *(dev.write(bytes([n % 251]) * 4096, n * 4096) for n in range(300))), DEADLINE)
            got = []
            while len(got) < len(queued):
                more = dev.reap(len(queued) - len(got), DEADLINE)
                assert more, f"{len(queued) - len(got)} completions of the queue API lost"
                got += more
            assert {id(c.request) for c in got} == {id(r) for r in queued}
            return len(got)

    assert asyncio.run(main()) == 300
