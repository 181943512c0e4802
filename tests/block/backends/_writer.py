"""The process the kill -9 durability test kills: it writes 4 KiB blocks through qdrive,
one after another, and reports on stdout each write and each flush that returned.

``python -m tests.block.backends._writer DRIVE BACKEND SEED FIRST COUNT FLUSH_EVERY``: block
FIRST+k gets :func:`block` (SEED, FIRST+k); "W i" follows each pwrite that returned, "F i"
each flush that returned (covering every block up to i). After COUNT blocks it waits to be
killed.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

BS = 4096


def block(seed: int, i: int) -> bytes:
    """The contents of block ``i`` in the round with ``seed`` (distinct per round)."""
    return hashlib.sha256(f"{seed}:{i}".encode()).digest() * (BS // 32)


def main() -> None:
    import qdrive

    drive, backend = sys.argv[1], sys.argv[2]
    seed, first, count, flush_every = (int(a) for a in sys.argv[3:7])
    dev = qdrive.open(drive, backend=backend)
    buf = dev.buffer(BS)
    os.write(1, b"R\n")
    for k in range(count):
        i = first + k
        buf[:] = block(seed, i)
        dev.pwrite(buf, i * BS)
        os.write(1, f"W {i}\n".encode())
        if (k + 1) % flush_every == 0:
            dev.flush()
            os.write(1, f"F {i}\n".encode())
    while True:  # the test kills us; never close(), which would flush
        time.sleep(1)


if __name__ == "__main__":
    main()
