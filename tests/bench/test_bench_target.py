"""`qdrive bench` touches only what it may: every refusal leaves the target byte-for-byte.

Each case runs the real command on a real file (raw with random content, a qcow2 made by
qemu-img, a file a real QEMU 7.2 holds, a loop device, a full filesystem) and compares the
target's checksum, size and modification time before and after.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


import qdrive
from tests.compat import oracle
from tests.loopfs import loop_unavailable, small_filesystem

RAW_SIZE = 4 << 20
needs_qemu = pytest.mark.skipif(shutil.which(oracle.QEMU) is None,
                                reason="qemu-system-x86_64 not installed")
needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None,
                                    reason="qemu-img not installed")


def bench(*args: str, cwd: Path | None = None,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qdrive", "bench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_refused(p: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2, nothing on stdout, one line on stderr that says what to do."""
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("qdrive: "), p.stderr
    assert "internal error" not in p.stderr and "Traceback" not in p.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


class Fingerprint:
    """Content hash, size and mtime of a file or device (the whole of it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.value = self._take()

    def _take(self) -> tuple[str, int, int]:
        st = os.stat(self.path)
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return h.hexdigest(), os.path.getsize(self.path) if not self.path.is_block_device() \
            else _device_size(self.path), st.st_mtime_ns

    def unchanged(self) -> bool:
        return self._take() == self.value


def _device_size(path: Path) -> int:
    with open(path, "rb") as f:
        return f.seek(0, os.SEEK_END)


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """A raw image full of random bytes (a zero-filled one would hide a zero-fill)."""
    path = tmp_path / "disk.img"
    path.write_bytes(os.urandom(RAW_SIZE))
    return path




# -- an existing raw file ------------------------------------------------------------------
REFUSED_ON_RAW = {
    "randwrite without consent": (["--runtime", "0.1"], "--yes-destroy-data"),
    "write without consent": (["--rw", "write", "--runtime", "0.1"], "--yes-destroy-data"),
    "randrw without consent": (["--rw", "randrw", "--runtime", "0.1"], "--yes-destroy-data"),
    "grow with consent": (["--yes-destroy-data", "--size", "8M"], "never grows"),
    "grow a read": (["--rw", "randread", "--size", "5M"], "never grows"),
    "one byte more": (["--rw", "read", "--size", str(RAW_SIZE + 1)], "never grows"),
    "bs larger than the file": (["--rw", "read", "--bs", "8M", "--iodepth", "1"],
                                "less than one --bs block"),
    "bs off the O_DIRECT alignment": (["--yes-destroy-data", "--bs", "1000"],
                                      "O_DIRECT alignment"),
}


@pytest.mark.parametrize("case", REFUSED_ON_RAW)
def test_refusals_leave_a_raw_image_alone(raw: Path, case: str) -> None:
    args, words = REFUSED_ON_RAW[case]
    before = Fingerprint(raw)
    assert_refused(bench(f"file={raw},cache=none", *args), words)
    assert before.unchanged()


DRIVE_REFUSALS = {
    "snapshot=on": ("snapshot=on", ["--rw", "randread"], "drop snapshot=on"),
    "read-only drive, write workload": ("read-only=on", ["--yes-destroy-data"],
                                        "read-only"),
    "cdrom, write workload": ("media=cdrom", ["--yes-destroy-data"], "read-only"),
    "format=qcow2": ("format=qcow2", ["--rw", "randread"], "raw images only"),
    "file.locking=off": ("file.locking=off", ["--yes-destroy-data"], "file.locking=off"),
}


@pytest.mark.parametrize("case", DRIVE_REFUSALS)
def test_drive_refusals(raw: Path, case: str) -> None:
    extra, args, words = DRIVE_REFUSALS[case]
    before = Fingerprint(raw)
    assert_refused(bench(f"file={raw},{extra}", "--runtime", "0.1", *args), words)
    assert before.unchanged()


@pytest.mark.parametrize("rw", ["randread", "read"])
@pytest.mark.parametrize("backend", ["threads", "posix", "native", "io_uring"])
def test_read_workloads_need_no_flag_and_never_write(raw: Path, backend: str,
                                                     rw: str) -> None:
    before = Fingerprint(raw)
    p = bench(f"file={raw},cache=none", "--rw", rw, "--backend", backend, "--runtime", "0.1",
              "--iodepth", "4", "--json")
    assert p.returncode == 0, p.stderr
    assert '"read_only": true' in p.stdout and f'"length": {RAW_SIZE}' in p.stdout
    assert before.unchanged()


@pytest.mark.skipif(shutil.which("fio") is None, reason="fio not installed")
def test_read_workload_next_to_fio_never_writes(raw: Path) -> None:
    before = Fingerprint(raw)
    p = bench(f"file={raw},cache=none", "--rw", "randread", "--runtime", "0.1",
              "--compare-fio", "--pairs", "1", "--json")
    assert p.returncode == 0, p.stderr
    assert '"--readonly"' in p.stdout
    assert before.unchanged()


def test_consent_writes_only_the_span_asked_for(tmp_path: Path) -> None:
    """--yes-destroy-data with --size 2M on an 8 MiB image: the bytes past 2 MiB and the
    size stay as they were; a write workload really wrote into the first 2 MiB."""
    path = tmp_path / "big.img"
    head, tail = os.urandom(2 << 20), os.urandom(6 << 20)
    path.write_bytes(head + tail)
    p = bench(f"file={path},cache=none", "--yes-destroy-data", "--size", "2M",
              "--runtime", "0.2", "--bs", "4k", "--iodepth", "4")
    assert p.returncode == 0, p.stderr
    data = path.read_bytes()
    assert len(data) == 8 << 20 and data[2 << 20:] == tail and data[:2 << 20] != head


def test_consent_never_grows(raw: Path) -> None:
    p = bench(f"file={raw},cache=none", "--yes-destroy-data", "--runtime", "0.1")
    assert p.returncode == 0, p.stderr
    assert raw.stat().st_size == RAW_SIZE  # the default --size (4G) applies to new files


def test_an_image_another_qdrive_holds(raw: Path) -> None:
    before = Fingerprint(raw)
    with qdrive.open(f"file={raw},format=raw"):
        line = assert_refused(bench(f"file={raw},cache=none", "--yes-destroy-data"),
                              "in use by another process")
        assert 'Failed to get "write" lock' in line
        assert_refused(bench(f"file={raw},cache=none", "--rw", "randread"),
                       'Failed to get shared "write" lock')
    assert before.unchanged()


@pytest.mark.live
@needs_qemu
def test_an_image_a_running_qemu_holds(raw: Path) -> None:
    before = Fingerprint(raw)
    with oracle.Running([f"file={raw},format=raw,if=virtio"], raw.parent):
        for args in (["--yes-destroy-data"], ["--yes-destroy-data", "--rw", "write"],
                     ["--rw", "randread"]):
            line = assert_refused(bench(f"file={raw},cache=none", "--runtime", "0.1", *args),
                                  "in use by another process", "stop the VM")
            assert "lock" in line
        assert before.unchanged()  # checked while QEMU still holds it, and after
    assert before.unchanged()


# -- other formats -------------------------------------------------------------------------
@pytest.mark.parametrize("drive", ["", ",format=raw", ",cache=none"])
@pytest.mark.parametrize("args", [["--yes-destroy-data"], ["--rw", "randread"]])
def test_a_qcow2_is_refused_before_anything_is_written(qcow2: Path, drive: str,
                                                       args: list[str]) -> None:
    before = Fingerprint(qcow2)
    assert_refused(bench(f"file={qcow2}{drive}", "--runtime", "0.1", *args),
                   "qcow2 image", "raw images only", "qemu-img convert")
    assert before.unchanged()


@needs_qemu_img
@pytest.mark.parametrize("fmt", ["vmdk", "vpc", "qed", "vhdx"])
def test_other_formats_are_refused(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"disk.{fmt}"
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(path), "16M"], check=True)
    before = Fingerprint(path)
    assert_refused(bench(f"file={path}", "--yes-destroy-data", "--runtime", "0.1"),
                   f"{fmt} image")
    assert before.unchanged()


# -- things that are not images --------------------------------------------------------------
def test_paths_that_are_not_images(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    os.symlink(tmp_path / "nowhere.img", tmp_path / "dangling")
    os.mkfifo(tmp_path / "fifo")
    cases = {
        f"file={tmp_path / 'dir'}": "neither a regular file nor a block device",
        "file=/dev/null": "neither a regular file nor a block device",
        f"file={tmp_path / 'fifo'}": "neither a regular file nor a block device",
        f"file={tmp_path / 'dangling'}": "symbolic link to nothing",
        f"file={tmp_path / 'no' / 'such' / 'dir.img'}": "cannot create",
        "file=nbd:localhost:10809": "the nbd protocol",
        # (json:{} itself is refused earlier, with QEMU's "Must specify either driver or file")
        'file=json:{"driver":"file",,"filename":"x.img"}': "the json protocol",
    }
    for drive, words in cases.items():
        assert_refused(bench(drive, "--runtime", "0.1", cwd=tmp_path), words)
    assert sorted(os.listdir(tmp_path)) == ["dangling", "dir", "fifo"]  # nothing created


PARSE_ERRORS = {
    "cache=bogus": "invalid cache option",
    "file=foo:bar.img": "Unknown protocol 'foo'",
    "format=raw": 'A block device must be specified for "file"',
    "file=x.img,aio=native,cache=writeback": "aio=native was specified, but it requires",
}


@pytest.mark.parametrize("drive", PARSE_ERRORS)
def test_a_bad_drive_string_is_a_usage_error(tmp_path: Path, drive: str) -> None:
    """QEMU's message with its caret (three lines, as `qdrive check` prints it)."""
    p = bench(drive, cwd=tmp_path)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith(f"qdrive: -drive {drive}: {PARSE_ERRORS[drive]}"), p.stderr
    assert "^" in p.stderr and "Traceback" not in p.stderr
    assert os.listdir(tmp_path) == []


USAGE = {
    "iodepth 0": (["--iodepth", "0"], "--iodepth must be between 1 and 1024"),
    "iodepth past the limit": (["--iodepth", "1025"], "--iodepth must be between 1 and 1024"),
    "iodepth negative": (["--iodepth", "-1"], "--iodepth must be between"),
    "bs 0": (["--bs", "0"], "--bs must be at least 1 byte"),
    "bs not a size": (["--bs", "1Q"], "--bs 1Q:"),
    "bs past 2^64": (["--bs", "99999999999999999999999"], "out of range"),
    "buffers past 1 GiB": (["--bs", "16M", "--iodepth", "65"], "more than 1073741824"),
    "size 0": (["--size", "0"], "--size must be at least 1 byte"),
    "size negative": (["--size=-4k"], "--size -4k:"),
    "size below bs": (["--size", "4k"], "less than one --bs block"),
    "runtime 0": (["--runtime", "0"], "--runtime must be a positive"),
    "runtime nan": (["--runtime", "nan"], "--runtime must be a positive"),
    "runtime inf": (["--runtime", "inf"], "--runtime must be a positive"),
    "pairs 0": (["--compare-fio", "--pairs", "0"], "--pairs must be at least 1"),
    "workers 0": (["--backend", "threads", "--workers", "0"], "--workers must be at least 1"),
    "workers on posix": (["--backend", "posix", "--workers", "4"], "threads backend"),
    "fd pool on threads": (["--fd-pool", "4"], "posix backend"),
    "fd pool negative": (["--backend", "posix", "--fd-pool", "-1"], "--fd-pool must be"),
    "matrix with a backend": (["--matrix", "--backend", "native"], "--matrix runs every"),
    "matrix and compare": (["--matrix", "--compare-fio"], "drop --compare-fio"),
    "native buffered": (["--backend", "native"], "aio=native needs cache.direct=on"),
}


@pytest.mark.parametrize("case", USAGE)
def test_usage_errors_create_nothing(tmp_path: Path, case: str) -> None:
    args, words = USAGE[case]
    target = tmp_path / "new.img"
    assert_refused(bench(f"file={target}", "--runtime", "0.1", *args), words)
    assert os.listdir(tmp_path) == []


def test_compare_fio_without_fio(tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {**os.environ, "PATH": str(bare)}
    assert_refused(bench(f"file={tmp_path / 'new.img'}", "--compare-fio", env=env),
                   "--compare-fio needs fio")
    assert os.listdir(tmp_path) == ["bin"]


# -- block devices and full filesystems ---------------------------------------------------------
_loop_skip = loop_unavailable


@pytest.fixture
def loop_raw(raw: Path) -> Iterator[Path]:
    """The random raw image as a loop block device (4096-byte sectors)."""
    why = _loop_skip()
    if why:
        pytest.skip(why)
    dev = subprocess.run(["losetup", "--find", "--show", "--sector-size", "4096", str(raw)],
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        yield Path(dev)
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


def test_a_block_device(loop_raw: Path) -> None:
    before = Fingerprint(loop_raw)
    assert_refused(bench(f"file={loop_raw},cache=none", "--runtime", "0.1"),
                   "--yes-destroy-data")
    assert_refused(bench(f"file={loop_raw},cache=none", "--yes-destroy-data", "--bs", "512"),
                   "4096-byte O_DIRECT alignment", "--bs 4096")
    assert_refused(bench(f"file={loop_raw},cache=none", "--rw", "read", "--size", "5M"),
                   "never grows")
    p = bench(f"file={loop_raw},cache=none", "--rw", "randread", "--runtime", "0.1",
              "--json")
    assert p.returncode == 0, p.stderr
    assert '"block_device": true' in p.stdout
    assert before.unchanged()
    p = bench(f"file={loop_raw},cache=none", "--yes-destroy-data", "--runtime", "0.1",
              "--bs", "4k")
    assert p.returncode == 0, p.stderr
    assert os.path.exists(loop_raw)  # a device bench did not create is never removed


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB ext4 filesystem on a loop device, mounted."""
    with small_filesystem(tmp_path) as mnt:
        yield mnt


def test_no_space_during_preparation(small_fs: Path) -> None:
    free = os.statvfs(small_fs).f_bfree
    line = assert_refused(bench(f"file={small_fs / 'b.img'}", "--size", "64M"),
                          "No space left on device", "smaller --size")
    assert "67108864-byte target" in line
    assert os.listdir(small_fs) == ["lost+found"]  # nothing left behind
    assert os.statvfs(small_fs).f_bfree == free


def test_a_mounted_block_device_is_refused_even_with_consent(small_fs: Path) -> None:
    source = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(small_fs)],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert source.startswith("/dev/loop")
    assert_refused(bench(f"file={source},cache=none", "--yes-destroy-data"),
                   "in use by the kernel", "unmount")
    assert os.listdir(small_fs) == ["lost+found"]


@pytest.mark.live
@needs_qemu
@pytest.mark.parametrize("phase", ["qdrive", "fio"])
def test_the_lock_is_held_for_the_whole_run(tmp_path: Path, phase: str) -> None:
    """While bench runs (its own loop, or fio next to it), a QEMU started on the target
    is refused with QEMU's own lock message."""
    from tests.bench.test_bench_signals import Bench

    if phase == "fio" and shutil.which("fio") is None:
        pytest.skip("fio not installed")
    target = tmp_path / "new.img"
    extra = ["--compare-fio", "--pairs", "1"] if phase == "fio" else []
    run = Bench(f"file={target},cache=none", "--size", "16M", "--runtime", "8", *extra)
    run.wait_for(r"pair 1/1: fio" if phase == "fio" else r"running 8 s")
    got = oracle.run([f"file={target},format=raw,if=virtio"], tmp_path)
    code, out, err = run.finish()
    assert code == 0, err
    assert got["accepted"] is False
    assert str(got["stderr"]).endswith(f'Failed to get "write" lock\nIs another process '
                                       f"using the image [{target}]?")
    assert not target.exists()


# -- the prefill of a new target -------------------------------------------------------------
def _unwritten_extents(path: Path) -> int:
    out = subprocess.run(["filefrag", "-v", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return sum("unwritten" in line for line in out.splitlines())


@pytest.mark.skipif(shutil.which("filefrag") is None, reason="filefrag (e2fsprogs) missing")
@pytest.mark.parametrize(("size", "cache"), [("4M", "cache=none"), ("5246976", "cache=none"),
                                             ("3000001", "cache=writeback"),
                                             ("1052672", "cache=directsync")])
def test_a_new_target_is_written_once_whole(tmp_path: Path, size: str, cache: str) -> None:
    """Every extent of a created target has been written (none left 'unwritten', which
    is slower to write), up to its exact size (1 MiB chunks plus an aligned remainder)."""
    target = tmp_path / "new.img"
    p = bench(f"file={target},{cache}", "--size", size, "--runtime", "0.05", "--keep",
              "--rw", "randread", "--bs", "4k")
    assert p.returncode == 0, p.stderr
    assert target.stat().st_size == int(size) if size.isdigit() else 4 << 20
    assert _unwritten_extents(target) == 0


def test_a_new_target_off_the_alignment_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "new.img"
    line = assert_refused(bench(f"file={target},cache=none", "--size", "4194404"),
                          "O_DIRECT alignment")
    assert line.endswith("give --size 4194304")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("backend", ["threads", "io_uring"])
def test_the_deepest_queue_runs(tmp_path: Path, backend: str) -> None:
    """--iodepth at its limit (1024) runs; native and posix rings are smaller today (the
    backends' limits, reported as a failed run, not checked here)."""
    p = bench(f"file={tmp_path / 'd.img'},cache=none", "--iodepth", "1024", "--bs", "4k",
              "--size", "8M", "--runtime", "0.1", "--backend", backend)
    assert p.returncode == 0, p.stderr


def test_the_buffer_limit_is_inclusive() -> None:
    import argparse

    from qdrive.bench.cli import MAX_BUFFER_BYTES, BenchUsageError, _check_numbers

    args = argparse.Namespace(iodepth=1024, runtime=1.0, pairs=1, workers=None, fd_pool=None,
                              repeat=1, compare_fio=False, flush_depth=1)
    _check_numbers(args, MAX_BUFFER_BYTES // 1024)  # exactly 1 GiB of buffers
    with pytest.raises(BenchUsageError, match="more than 1073741824"):
        _check_numbers(args, MAX_BUFFER_BYTES // 1024 + 1)
