"""A fault-injecting FUSE filesystem: the disk that fails on command (this kernel has no
device-mapper, so no dm-flakey or dm-dust).

Run as a process (``python -m tests.block.backends.faultfs MOUNTPOINT BACKING_DIR``); the tests
drive it through :class:`FaultTarget`. Each file in the mount's root directory is an image
kept as two files in BACKING_DIR:

- ``NAME``: everything that reached the "disk" (every write the kernel handed us);
- ``NAME.powercut``: only what a successful fsync/fdatasync covered, i.e. what a power cut
  would leave. A failed fsync drops what it covered: those bytes stay readable (they are
  in the disk's volatile cache) but never reach the power-cut image, even when a later
  fsync succeeds. That is what Linux does to a page cache whose writeback failed, and why
  QEMU's file-posix poisons every later flush (page_cache_inconsistent).

Faults are rules written as JSON lines to ``MOUNTPOINT/.control``: an operation (read,
write, fsync), an optional file name, a byte range (reads and writes that overlap it
fail; fsync ignores the range), an errno (EIO, ENOSPC ...), a count (-1: until
cleared) and, for fsync, whether the failure loses what it covered (the default) or is
transient (the data stay pending for the next fsync). ``hold`` makes every fsync wait
(counted as ``fsync_held``) until ``release``, so a test can tell a flush that runs
beside other requests from one its caller waits for, by order, never by time; ``clear``
releases too. Reading ``.control`` returns the
rules still armed and counters of what ran and what failed, as JSON. The control file is
opened with FOPEN_DIRECT_IO, so no page cache sits between a command and the filesystem.

Image files keep the page cache (no FOPEN_DIRECT_IO) unless ``--direct-io`` is given, so
buffered I/O behaves as on a disk filesystem; O_DIRECT opens work either way, unless
``--refuse-odirect`` is given: then an open with O_DIRECT fails with EINVAL, as on a
filesystem without direct I/O (the host state QEMU's cache=none cannot open).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CONTROL = ".control"
POWERCUT = ".powercut"


# -- the filesystem's state (no FUSE here: testable on its own) --------------------------

class Rule:
    """One armed fault: ``op`` on ``name`` (None: any file) overlapping [start, end)."""

    def __init__(self, op: str, *, errno_: int = errno.EIO, name: str | None = None,
                 start: int = 0, end: int = 1 << 63, count: int = -1,
                 lose: bool = True) -> None:
        if op not in ("read", "write", "fsync"):
            raise ValueError(f"unknown fault operation {op!r}")
        self.op, self.errno, self.name = op, errno_, name
        self.start, self.end, self.count, self.lose = start, end, count, lose

    def matches(self, op: str, name: str, offset: int, length: int) -> bool:
        if self.count == 0 or op != self.op or self.name not in (None, name):
            return False
        return op == "fsync" or (offset < self.end and self.start < offset + max(length, 1))

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, "errno": self.errno, "name": self.name, "start": self.start,
                "end": self.end, "count": self.count, "lose": self.lose}


class Image:
    """One image: the disk file, the power-cut file and the ranges written since the last
    successful fsync."""

    def __init__(self, backing: Path, name: str) -> None:
        self.disk = os.open(backing / name, os.O_RDWR | os.O_CREAT, 0o644)
        self.powercut = os.open(backing / (name + POWERCUT), os.O_RDWR | os.O_CREAT, 0o644)
        self.dirty: list[tuple[int, int]] = []

    def size(self) -> int:
        return os.fstat(self.disk).st_size

    def write(self, data: bytes, offset: int) -> int:
        n = os.pwrite(self.disk, data, offset)
        self.dirty.append((offset, offset + n))
        return n

    def truncate(self, length: int) -> None:
        # Metadata is taken as durable at once (the images are preallocated by the tests).
        os.ftruncate(self.disk, length)
        os.ftruncate(self.powercut, length)
        self.dirty = [(s, min(e, length)) for s, e in self.dirty if s < length]

    def commit(self) -> None:
        """A successful flush: what was written since the last one becomes durable."""
        for start, end in _merge(self.dirty):
            pos = start
            while pos < end:
                chunk = os.pread(self.disk, min(end - pos, 1 << 20), pos)
                if not chunk:
                    break
                os.pwrite(self.powercut, chunk, pos)
                pos += len(chunk)
        self.dirty = []

    def drop(self) -> None:
        """A failed flush: what it covered never becomes durable."""
        self.dirty = []

    def close(self) -> None:
        os.close(self.disk)
        os.close(self.powercut)


def _merge(ranges: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    cur: tuple[int, int] | None = None
    for s, e in sorted(ranges):
        if cur is not None and s <= cur[1]:
            cur = (cur[0], max(cur[1], e))
            continue
        if cur is not None:
            yield cur
        cur = (s, e)
    if cur is not None:
        yield cur


class State:
    """Images, rules and counters, behind one lock (libfuse calls us from many threads)."""

    def __init__(self, backing: Path) -> None:
        self.backing = backing
        self.images: dict[str, Image] = {}
        self.rules: list[Rule] = []
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.gate = threading.Event()  # set: fsyncs run; clear: they wait (hold)
        self.gate.set()

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def fault(self, op: str, name: str, offset: int = 0, length: int = 0) -> Rule | None:
        """The first armed rule for this operation, used up by one; None: no fault."""
        self.count(op)
        for rule in self.rules:
            if rule.matches(op, name, offset, length):
                if rule.count > 0:
                    rule.count -= 1
                self.count(f"{op}_failed")
                return rule
        return None

    def command(self, line: str) -> None:
        cmd = json.loads(line)
        what = cmd.pop("cmd")
        if what == "inject":
            cmd["errno_"] = _errno(cmd.pop("errno", "EIO"))
            self.rules.append(Rule(**cmd))
        elif what == "clear":
            self.rules = []
            self.gate.set()
        elif what == "hold":
            self.gate.clear()
        elif what == "release":
            self.gate.set()
        elif what == "reset-counts":
            self.counts = {}
        else:
            raise ValueError(f"unknown command {what!r}")

    def status(self) -> bytes:
        rules = [r.as_dict() for r in self.rules if r.count != 0]
        return (json.dumps({"rules": rules, "counts": self.counts}) + "\n").encode()


def _errno(value: int | str) -> int:
    return value if isinstance(value, int) else int(getattr(errno, value))


# -- the FUSE operations ------------------------------------------------------------------

def _operations(state: State, direct_io: bool, refuse_odirect: bool = False) -> Any:
    import mfusepy

    def fail(err: int) -> mfusepy.FuseOSError:
        return mfusepy.FuseOSError(err)

    def check_direct(fi: Any) -> None:
        if refuse_odirect and fi.flags & os.O_DIRECT:
            raise fail(errno.EINVAL)

    class FaultOps(mfusepy.Operations):  # type: ignore[misc]
        use_ns = True

        def _image(self, path: str | None) -> tuple[str, Image]:
            if path is None:  # an image removed while still open (hard_remove)
                raise fail(errno.ENOENT)
            name = path.lstrip("/")
            try:
                return name, state.images[name]
            except KeyError:
                raise fail(errno.ENOENT) from None

        def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
            now = time.time_ns()
            base = {"st_uid": 0, "st_gid": 0, "st_atime": now, "st_mtime": now,
                    "st_ctime": now}
            if path == "/":
                return {**base, "st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
            if path == "/" + CONTROL:
                return {**base, "st_mode": stat.S_IFREG | 0o600, "st_nlink": 1, "st_size": 0}
            with state.lock:
                _, img = self._image(path)
                size = img.size()
            return {**base, "st_mode": stat.S_IFREG | 0o644, "st_nlink": 1, "st_size": size,
                    "st_blocks": (size + 511) // 512, "st_blksize": 4096}

        def readdir(self, path: str, fh: Any) -> list[str]:
            with state.lock:
                return [".", "..", CONTROL, *state.images]

        def create(self, path: str, mode: int, fi: Any = None) -> int:
            check_direct(fi)
            name = path.lstrip("/")
            with state.lock:
                if name not in state.images:
                    state.images[name] = Image(state.backing, name)
            fi.direct_io = int(direct_io)
            return 0

        def open(self, path: str, fi: Any) -> int:
            if path == "/" + CONTROL:
                fi.direct_io = 1  # commands and status never sit in a page cache
                return 0
            with state.lock:
                self._image(path)
            check_direct(fi)
            fi.direct_io = int(direct_io)
            return 0

        def truncate(self, path: str, length: int, fh: Any = None) -> int:
            if path == "/" + CONTROL:
                return 0
            with state.lock:
                self._image(path)[1].truncate(length)
            return 0

        def unlink(self, path: str) -> int:
            name = path.lstrip("/")
            with state.lock:
                img = state.images.pop(name, None)
                if img is None:
                    raise fail(errno.ENOENT)
                img.close()
                for suffix in ("", POWERCUT):
                    (state.backing / (name + suffix)).unlink(missing_ok=True)
            return 0

        def read(self, path: str, size: int, offset: int, fh: Any) -> bytes:
            if path == "/" + CONTROL:
                with state.lock:
                    return state.status()[offset:offset + size]
            with state.lock:
                name, img = self._image(path)
                rule = state.fault("read", name, offset, size)
                if rule:
                    raise fail(rule.errno)
                return os.pread(img.disk, size, offset)

        def write(self, path: str, data: bytes, offset: int, fh: Any) -> int:
            with state.lock:
                if path == "/" + CONTROL:
                    for line in data.decode().splitlines():
                        if line.strip():
                            try:
                                state.command(line)
                            except (ValueError, TypeError, KeyError) as exc:
                                print(f"faultfs: bad command {line!r}: {exc}", file=sys.stderr)
                                raise fail(errno.EINVAL) from None
                    return len(data)
                name, img = self._image(path)
                rule = state.fault("write", name, offset, len(data))
                if rule:
                    raise fail(rule.errno)
                return img.write(data, offset)

        def fsync(self, path: str, datasync: int, fh: Any) -> int:
            if path == "/" + CONTROL:
                return 0
            with state.lock:
                if not state.gate.is_set():
                    state.count("fsync_held")
            state.gate.wait()  # outside the lock: reads and writes go on meanwhile
            with state.lock:
                name, img = self._image(path)
                rule = state.fault("fsync", name)
                if rule:
                    if rule.lose:
                        img.drop()
                    raise fail(rule.errno)
                img.commit()
            return 0

        def statfs(self, path: str) -> dict[str, int]:
            return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 1 << 20,
                    "f_bfree": 1 << 19, "f_bavail": 1 << 19, "f_namemax": 255}

    return FaultOps()


def serve(mountpoint: str, backing: Path, direct_io: bool,
          refuse_odirect: bool = False) -> None:
    """Mount and serve until SIGTERM/SIGINT (libfuse unmounts on the way out)."""
    import mfusepy

    state = State(backing)
    try:
        mfusepy.FUSE(_operations(state, direct_io, refuse_odirect), mountpoint, raw_fi=True,
                     foreground=True, allow_other=True, fsname="qdrive-faultfs", max_threads=16,
                     hard_remove=True)  # unlink an open image at once (no .fuse_hidden)
    except RuntimeError:  # libfuse 3 reports a loop ended by a signal as an error
        if os.path.ismount(mountpoint):
            raise


# -- the tests' handle ----------------------------------------------------------------------

class FaultTarget:
    """A running faultfs process: create images, arm faults, read the power-cut image."""

    def __init__(self, mountpoint: Path, backing: Path, *, direct_io: bool = False,
                 refuse_odirect: bool = False) -> None:
        self.mountpoint, self.backing = mountpoint, backing
        mountpoint.mkdir(parents=True, exist_ok=True)
        backing.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "tests.block.backends.faultfs", str(mountpoint), str(backing)]
        if direct_io:
            args.append("--direct-io")
        if refuse_odirect:
            args.append("--refuse-odirect")
        root = Path(__file__).resolve().parents[3]
        self._proc = subprocess.Popen(args, cwd=root, stdin=subprocess.DEVNULL,
                                      preexec_fn=_die_with_parent)
        self._wait_mounted()

    def _wait_mounted(self) -> None:
        for _ in range(1000):  # up to ~20 s on a loaded machine
            if self._proc.poll() is not None:
                raise RuntimeError(f"faultfs exited with status {self._proc.returncode}")
            if os.path.ismount(self.mountpoint):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("faultfs did not mount")

    # images
    def create(self, name: str, size: int) -> Path:
        path = self.mountpoint / name
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)
        return path

    def remove(self, name: str) -> None:
        (self.mountpoint / name).unlink(missing_ok=True)

    def disk(self, name: str) -> Path:
        """Everything that reached the disk."""
        return self.backing / name

    def powercut(self, name: str) -> Path:
        """Only what a successful flush covered."""
        return self.backing / (name + POWERCUT)

    # faults
    def _send(self, **cmd: Any) -> None:
        fd = os.open(self.mountpoint / CONTROL, os.O_WRONLY)
        try:
            os.write(fd, (json.dumps(cmd) + "\n").encode())
        finally:
            os.close(fd)

    def inject(self, op: str, *, errno: int | str = "EIO", name: str | None = None,
               start: int = 0, end: int = 1 << 63, count: int = -1, lose: bool = True) -> None:
        """Arm a fault: ``op`` (read, write, fsync) on ``name`` (None: any image) over
        [start, end) fails with ``errno`` ``count`` times (-1: until cleared). A failed
        fsync loses what it covered unless ``lose`` is False (a transient failure: the data
        stay pending for the next fsync)."""
        self._send(cmd="inject", op=op, errno=errno, name=name, start=start, end=end,
                   count=count, lose=lose)

    def hold(self) -> None:
        """Every fsync from now on waits until :meth:`release` (or :meth:`clear`)."""
        self._send(cmd="hold")

    def release(self) -> None:
        self._send(cmd="release")

    def clear(self) -> None:
        self._send(cmd="clear")
        self._send(cmd="reset-counts")

    def status(self) -> dict[str, Any]:
        fd = os.open(self.mountpoint / CONTROL, os.O_RDONLY)
        try:
            data = b""
            # Stop at the first short read: the status is made anew for each read, so
            # reading on past it could append the tail of a newer, longer status.
            while len(chunk := os.read(fd, 1 << 16)) == 1 << 16:
                data += chunk
            data += chunk
        finally:
            os.close(fd)
        result: dict[str, Any] = json.loads(data)
        return result

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if os.path.ismount(self.mountpoint):  # killed before libfuse could unmount
            subprocess.run(["umount", "-l", str(self.mountpoint)], check=False)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, however it dies, so
    libfuse unmounts and no stale mount is left (prctl PR_SET_PDEATHSIG)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mountpoint")
    parser.add_argument("backing", type=Path)
    parser.add_argument("--direct-io", action="store_true",
                        help="open image files with FOPEN_DIRECT_IO (no page cache)")
    parser.add_argument("--refuse-odirect", action="store_true",
                        help="fail every open with O_DIRECT with EINVAL")
    args = parser.parse_args(argv)
    serve(args.mountpoint, args.backing, args.direct_io, args.refuse_odirect)


if __name__ == "__main__":
    main()
