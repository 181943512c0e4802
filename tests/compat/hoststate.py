"""Host states QEMU's open depends on, built for real, and QEMU's live verdict in them.

    python -m tests.compat.hoststate --record [--version 7.2]   fixtures/qemuXX/hoststate.jsonl
    python -m tests.compat.hoststate --compare [--version 7.2]  qdrive's check() against
                                                                QEMU, live, per state

The cases are data (fixtures/hoststate/cases.jsonl: ``id``, ``state``, ``category``,
``drives`` or ``argv``, and ``needs`` when qdrive needs an API it does not have yet to
model the case). Each case runs in a fresh copy of its state, built by :func:`build`:

``held-rw`` / ``held-ro``
    another QEMU (the same version) holds ``held.img`` / ``held.qcow2`` read-write, or
    read-only, when the case starts: QEMU's OFD lock bytes decide (block/file-posix.c
    raw_check_lock_bytes).
``ro-mount``
    the image folder is a read-only bind mount (EROFS on every write open).
``no-odirect``
    the image folder is a ramfs: ramfs has no direct-I/O support, so open(O_DIRECT)
    fails with EINVAL (tmpfs accepts O_DIRECT since Linux 6.6, so it will not do; a
    FUSE mount accepts it as well unless its server refuses).
``fuse-no-odirect``
    the image folder is a FUSE mount whose server refuses O_DIRECT opens with EINVAL
    (tests/block/backends/faultfs.py ``--refuse-odirect``; needs /dev/fuse and mfusepy).
``io-uring-disabled``
    ``kernel.io_uring_disabled=2`` while the case runs (io_uring_setup() fails with
    EPERM); the previous value is put back right after, also on SIGTERM. The sysctl is
    machine-wide: other processes starting an io_uring in that second fail too.
``io-uring-restricted``
    ``kernel.io_uring_disabled=1`` (only root and kernel.io_uring_group may set up a
    ring) and the images and user of ``unprivileged``.
``unprivileged``
    QEMU runs as uid/gid 65534 (setpriv for 7.2, ``chroot --userspec`` for the chroot
    versions; QEMU's own -runas / -run-with user= drop privileges only after the
    drives are open, so they would not do) on images of modes 0644, 0600, 0666, 0660
    (group 65534) and one inside a 0700 folder.
``file-types``
    ``file=`` names a directory, a FIFO, a unix socket, a symlink to a directory and a
    dangling symlink.
``missing-parent``
    names under a folder that does not exist, or under a regular file.

Mounts are made for the chroot versions a second time inside their tree (the chroot's
bind mounts are private: a mount made on the host afterwards is not seen there) and
are all undone after the case. Root is needed for every state but file-types and
missing-parent; without it those cases are skipped with the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import corpus, oracle

CASES = corpus.FIXTURES / "hoststate" / "cases.jsonl"
NOBODY = (65534, 65534)
SYSCTL = Path("/proc/sys/kernel/io_uring_disabled")


@dataclass(frozen=True)
class State:
    """A built host state: where the case runs and as whom."""

    where: Path
    user: tuple[int, int] | None = None


class Unavailable(Exception):
    """This host state cannot be built here (the reason is the message)."""


def _need_root() -> None:
    if os.geteuid() != 0:
        raise Unavailable("needs root (mounts, sysctl, setpriv)")


@contextlib.contextmanager
def _folder(prefix: str) -> Iterator[Path]:
    where = Path(oracle.scratch(prefix))
    try:
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


def _images(where: Path) -> None:
    """The few images the host-state cases name (made with the system qemu-img)."""
    for name in ("disk.img", "disk.qcow2", "cd.iso"):
        fmt, size = oracle.IMAGES[name]
        oracle._create(where / name, fmt, size)


@contextlib.contextmanager
def _mounted(args: Sequence[str], target: Path, qemu: oracle.Qemu,
             read_only: bool = False) -> Iterator[None]:
    """``mount ARGS TARGET`` on the host and, for a chroot QEMU, inside its tree too."""
    done: list[Path] = []
    try:
        subprocess.run(["mount", *args, str(target)], check=True)
        done.append(target)
        if read_only:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
        if qemu.chroot is not None:
            inner = Path(qemu.chroot + str(target))
            subprocess.run(["mount", "--bind", str(target), str(inner)], check=True)
            done.append(inner)
            if read_only:
                subprocess.run(["mount", "-o", "remount,bind,ro", str(inner)], check=True)
        yield
    finally:
        for path in reversed(done):
            subprocess.run(["umount", str(path)], check=False)


# -- the states ----------------------------------------------------------------------------


@contextlib.contextmanager
def _held(qemu: oracle.Qemu, read_only: bool) -> Iterator[State]:
    with _folder("qdrive-host-held-") as where:
        _images(where)
        shutil.copyfile(where / "disk.img", where / "held.img")
        shutil.copyfile(where / "disk.qcow2", where / "held.qcow2")
        ro = ",read-only=on" if read_only else ""
        holder = [f"file=held.img,format=raw,if=virtio{ro}",
                  f"file=held.qcow2,format=qcow2,if=virtio{ro}"]
        with oracle.Running(holder, where, qemu=qemu):
            yield State(where)


@contextlib.contextmanager
def _ro_mount(qemu: oracle.Qemu) -> Iterator[State]:
    _need_root()
    with _folder("qdrive-host-ro-") as base:
        src, mnt = base / "src", base / "mnt"
        src.mkdir()
        mnt.mkdir()
        _images(src)
        with _mounted(["--bind", str(src)], mnt, qemu, read_only=True):
            yield State(mnt)


@contextlib.contextmanager
def _no_odirect(qemu: oracle.Qemu) -> Iterator[State]:
    _need_root()
    with _folder("qdrive-host-ramfs-") as base:
        mnt = base / "ramfs"
        mnt.mkdir()
        with _mounted(["-t", "ramfs", "ramfs"], mnt, qemu):
            _images(mnt)
            yield State(mnt)


@contextlib.contextmanager
def _fuse_no_odirect(qemu: oracle.Qemu) -> Iterator[State]:
    _need_root()
    if not os.path.exists("/dev/fuse"):
        raise Unavailable("this kernel/container has no /dev/fuse")
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as exc:
        raise Unavailable(f"mfusepy or libfuse3 is missing ({exc})") from None
    from tests.block.backends.faultfs import FaultTarget

    with _folder("qdrive-host-fuse-") as base:
        target = FaultTarget(base / "mnt", base / "backing", refuse_odirect=True)
        try:
            with _bound_into_chroot(base / "mnt", qemu):
                _images(base / "mnt")
                yield State(base / "mnt")
        finally:
            target.stop()


@contextlib.contextmanager
def _bound_into_chroot(target: Path, qemu: oracle.Qemu) -> Iterator[None]:
    """A mount made on the host, bound into a chroot QEMU's tree as well."""
    if qemu.chroot is None:
        yield
        return
    inner = Path(qemu.chroot + str(target))
    inner.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "--bind", str(target), str(inner)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(inner)], check=False)


@contextlib.contextmanager
def _io_uring_sysctl(value: str) -> Iterator[None]:
    """kernel.io_uring_disabled=VALUE while the case runs; put back after, also on SIGTERM."""
    _need_root()
    if not SYSCTL.exists():
        raise Unavailable("kernel.io_uring_disabled needs Linux 6.6 or later")
    before = SYSCTL.read_text().strip()
    previous = signal.getsignal(signal.SIGTERM)

    def restore(*_: object) -> None:
        SYSCTL.write_text(before)
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, restore)
    try:
        SYSCTL.write_text(value)
        yield
    finally:
        SYSCTL.write_text(before)
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _io_uring_disabled(qemu: oracle.Qemu) -> Iterator[State]:
    _need_root()
    with _folder("qdrive-host-uring-") as where:
        _images(where)
        with _io_uring_sysctl("2"):
            yield State(where)


@contextlib.contextmanager
def _io_uring_restricted(qemu: oracle.Qemu) -> Iterator[State]:
    with _unprivileged(qemu) as state, _io_uring_sysctl("1"):
        yield state


@contextlib.contextmanager
def _unprivileged(qemu: oracle.Qemu) -> Iterator[State]:
    _need_root()
    with _folder("qdrive-host-user-") as where:
        os.chmod(where, 0o755)
        modes = {"ro.img": 0o644, "private.img": 0o600, "rw.img": 0o666, "group.img": 0o660}
        for name, mode in modes.items():
            oracle._create(where / name, "raw", "1M")
            os.chmod(where / name, mode)
        os.chown(where / "group.img", 0, NOBODY[1])
        oracle._create(where / "ro.qcow2", "qcow2", "1M")
        os.chmod(where / "ro.qcow2", 0o644)
        closed = where / "closed"
        closed.mkdir()
        oracle._create(closed / "disk.img", "raw", "1M")
        os.chmod(closed / "disk.img", 0o666)
        os.chmod(closed, 0o700)
        yield State(where, NOBODY)


@contextlib.contextmanager
def _file_types(qemu: oracle.Qemu) -> Iterator[State]:
    with _folder("qdrive-host-types-") as where:
        _images(where)
        (where / "dir").mkdir()
        os.mkfifo(where / "fifo")
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(str(where / "sock"))  # the socket file stays after close
        (where / "link-dir").symlink_to("dir")
        (where / "dangling").symlink_to("nothing-here")
        yield State(where)


@contextlib.contextmanager
def _missing_parent(qemu: oracle.Qemu) -> Iterator[State]:
    with _folder("qdrive-host-parent-") as where:
        _images(where)
        yield State(where)


STATES: Mapping[str, Callable[[oracle.Qemu], contextlib.AbstractContextManager[State]]] = {
    "held-rw": lambda q: _held(q, False), "held-ro": lambda q: _held(q, True),
    "ro-mount": _ro_mount, "no-odirect": _no_odirect, "fuse-no-odirect": _fuse_no_odirect,
    "io-uring-disabled": _io_uring_disabled, "io-uring-restricted": _io_uring_restricted,
    "unprivileged": _unprivileged,
    "file-types": _file_types, "missing-parent": _missing_parent,
}


def build(state: str, qemu: oracle.Qemu = oracle.DEFAULT
          ) -> contextlib.AbstractContextManager[State]:
    """``with build("ro-mount") as s:`` the state, torn down after (raises Unavailable)."""
    return STATES[state](qemu)


# -- the verdicts --------------------------------------------------------------------------


def cases() -> list[dict[str, Any]]:
    return corpus.read(CASES)[1]


def live(case: Mapping[str, Any], qemu: oracle.Qemu = oracle.DEFAULT,
         timeout: float = 20.0) -> dict[str, Any]:
    """QEMU's verdict on a case, run in a freshly built copy of its state."""
    with build(case["state"], qemu) as s:
        return oracle.run(corpus.as_case(case) or {}, s.where, timeout=timeout, qemu=qemu,
                          user=s.user)


def both(case: Mapping[str, Any], qemu: oracle.Qemu = oracle.DEFAULT
         ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(QEMU's live verdict, qdrive's) on a case, both in one built state.

    qdrive is asked first, with the state in place, through a single call to
    ``qdrive.check(...)`` (tests/compat/compare.py ours()); for the unprivileged state
    it is told the user QEMU runs as when check() takes ``qemu_user``.
    """
    from . import compare

    with build(case["state"], qemu) as s:
        run = corpus.as_case(case) or {}
        with compare.in_dir(s.where):
            got = _ask_qdrive(compare, run, s.user, qemu)
        want = oracle.run(run, s.where, qemu=qemu, user=s.user)
    return want, got


def modelled(case: Mapping[str, Any]) -> bool:
    """Whether qdrive is meant to agree on the case (no ``needs`` left unmet)."""
    return not case.get("needs")


def disagreements_in(state: str, group: Sequence[Mapping[str, Any]],
                     qemu: oracle.Qemu = oracle.DEFAULT
                     ) -> list[tuple[Mapping[str, Any], dict[str, Any], dict[str, Any], list[str]]]:
    """(case, QEMU's verdict, qdrive's, categories) for each case of ``group`` on which
    qdrive and the live QEMU part, all run in one build of ``state`` (raises Unavailable).

    qdrive is asked first for each case, with the state in place, then QEMU; QEMU has
    exited before the next case starts, so no case sees another's locks."""
    from . import compare

    out = []
    with build(state, qemu) as s:
        for case in group:
            run = corpus.as_case(case) or {}
            with compare.in_dir(s.where):
                got = _ask_qdrive(compare, run, s.user, qemu)
            want = compare.verdict(oracle.run(run, s.where, qemu=qemu, user=s.user))
            bad = compare.disagreements(want, got)
            if bad:
                out.append((case, want, got, bad))
    return out


def _ask_qdrive(compare: Any, run: dict[str, Any], user: tuple[int, int] | None,
                qemu: oracle.Qemu = oracle.DEFAULT) -> dict[str, Any]:
    """qdrive's verdict in the dialect of the QEMU it is compared with (qemu-10.0 for
    the 10.0 binary), told the user QEMU runs as when check() takes ``qemu_user``."""
    import qdrive

    dialect = qemu.dialect
    if user is not None and "qemu_user" in inspect.signature(qdrive.check).parameters:
        return dict(compare.ours_safely(run, dialect, qemu_user=user[0]))
    return dict(compare.ours_safely(run, dialect))


def record(qemu: oracle.Qemu) -> Path:
    """Record every case live into the version's hoststate.jsonl."""
    rows, skipped = [], []
    start = time.monotonic()
    for case in cases():
        try:
            verdict = live(case, qemu)
        except Unavailable as e:
            skipped.append((case["id"], str(e)))
            continue
        rows.append({k: case[k] for k in ("id", "state", "category", "needs", "drives",
                                          "argv") if k in case} | verdict)
    out = qemu.fixtures / "hoststate.jsonl"
    header = {"qemu": qemu.version_line, "version": qemu.version, "cases": len(rows),
              "accepted": sum(1 for r in rows if r["accepted"]),
              "timeouts": sum(1 for r in rows if r.get("timeout")),
              "seconds": round(time.monotonic() - start, 1),
              "from": "fixtures/hoststate/cases.jsonl", "skipped": skipped}
    corpus.write(out, header, rows)
    return out


def compare_all(qemu: oracle.Qemu) -> int:
    """Print qdrive's live agreement with QEMU per state; the number of disagreements."""
    from . import compare, scoring

    per: dict[str, scoring.Tally] = {}
    bad_cases = []
    for case in cases():
        try:
            want, got = both(case, qemu)
        except Unavailable as e:
            print(f"skipped {case['id']}: {e}")
            continue
        want = compare.verdict(want)
        bad = compare.disagreements(want, got)
        for name in (case["state"], "all"):
            per.setdefault(name, scoring.Tally()).add(want, bad)
        if bad:
            bad_cases.append((case, want, got))
    print(f"host states, live against {qemu.version_line}")
    print("\n".join(scoring.render("state", per)))
    for case, want, got in bad_cases:
        note = f"  (needs {', '.join(case['needs'])})" if case.get("needs") else ""
        print(f"\n{case['id']} [{case['state']}]{note}: {compare.key(case)}")
        print("  QEMU  :", want["accepted"], repr(want["stderr"]))
        print("  qdrive:", got["accepted"], repr(got["stderr"]))
    return len(bad_cases)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", default="7.2", choices=list(oracle.QEMUS))
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--record", action="store_true")
    group.add_argument("--compare", action="store_true")
    args = ap.parse_args(argv)
    qemu = oracle.qemu(args.version)
    if not oracle.have_qemu(args.version):
        print(f"{qemu.binary} is not installed", file=sys.stderr)
        return 2
    if args.record:
        print(f"recorded {record(qemu)}")
        return 0
    compare_all(qemu)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
