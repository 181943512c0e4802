"""`qdrive bench`: the seed's workload through qdrive's driver, next to fio.

One thread keeps ``iodepth`` requests in flight through the driver's queue API, at
random offsets without a map (fio's --norandommap), and reports MB/s, IOPS, average
submission latency (us), average completion latency (ms), completion percentiles and
the CPU seconds used. ``run_fio`` runs fio with the same parameters on the same target
so the two can be compared in one run; ``matrix`` reproduces the seed's table.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import stat
import subprocess
import time
from array import array
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .values import parse_size

__all__ = ["Spec", "Result", "run_qdrive", "run_fio", "prepare_target", "FIO_ENGINES",
           "TargetError"]

FIO_ENGINES = {"native": "libaio", "io_uring": "io_uring", "posix": "posixaio",
               "threads": "psync"}


class TargetError(ValueError):
    """The benchmark target cannot be used as asked (a block device without consent...)."""


@attrs.frozen
class Spec:
    """One benchmark run: the workload and where it goes."""

    path: str
    rw: str = "randwrite"
    bs: int = 16 << 10
    iodepth: int = 74
    runtime: float = 15.0
    size: int = 4 << 30
    direct: bool = True
    sync: bool = False  # O_SYNC (the seed's sync=on)
    seed: int = 1

    @classmethod
    def parse(cls, path: str, *, bs: str = "16k", size: str = "4G", **kw: Any) -> Spec:
        return cls(path, bs=parse_size("bs", bs)[0], size=parse_size("size", size)[0], **kw)


@attrs.frozen
class Result:
    """What a run measured."""

    tool: str  # qdrive or fio
    label: str
    ios: int
    bytes: int
    seconds: float
    submit_us: float  # average time to submit one request
    complete_ms: float  # average submission-to-completion time
    p50_ms: float
    p99_ms: float
    p999_ms: float
    cpu_seconds: float

    @property
    def iops(self) -> float:
        return self.ios / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0

    @property
    def cpu_per_gb(self) -> float:
        return self.cpu_seconds / (self.bytes / 1e9) if self.bytes else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "iops": round(self.iops, 1),
                "mb_per_s": round(self.mb_per_s, 2), "cpu_per_gb": round(self.cpu_per_gb, 3)}


def prepare_target(spec: Spec, *, destroy_ok: bool = False,
                   progress: Callable[[str], None] | None = None) -> bool:
    """Make sure the target exists; returns True if it was created here (to remove later).

    A file is created with fallocate and written once (a fresh extent is 0.5-0.7x slower
    to write until it has been written); a block device is never created or truncated,
    and writing to it needs ``destroy_ok``.
    """
    try:
        st = os.stat(spec.path)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISBLK(st.st_mode):
        if spec.rw in ("write", "randwrite", "randrw") and not destroy_ok:
            raise TargetError(f"{spec.path} is a block device: writing to it destroys its "
                              "data; pass --yes-destroy-data if that is what you want")
        return False
    if st is not None and st.st_size >= spec.size:
        return False
    fd = os.open(spec.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.posix_fallocate(fd, 0, spec.size)
        chunk = bytes(1 << 20)
        for off in range(0, spec.size, len(chunk)):
            os.pwrite(fd, chunk[: spec.size - off], off)
            if progress and off % (256 << 20) == 0:
                progress(f"preparing {spec.path}: {off >> 20} / {spec.size >> 20} MiB")
        os.fsync(fd)
    finally:
        os.close(fd)
    return st is None


def _drive_string(spec: Spec, cache: str) -> str:
    return f"file={spec.path.replace(',', ',,')},format=raw,{cache}"


def run_qdrive(spec: Spec, backend: str | None, *, cache: str | None = None, label: str = "",
               dialect: str = "qemu-7.2", progress: Callable[[str], None] | None = None,
               drive: Any = None, **backend_options: Any) -> Result:
    """The workload through qdrive.open(...) and its queue API (``drive`` overrides the
    drive string built from the spec's path and ``cache``)."""
    from .check import parse_drive
    from .driver import open as open_device

    if cache is None:
        cache = "cache=none" if spec.direct else "cache=writeback"
    if drive is None:
        drive = parse_drive(_drive_string(spec, cache), dialect=dialect)
    with open_device(drive, backend=backend, **backend_options) as dev:
        return _loop(dev, spec, label or f"{dev.backend} {cache}", progress)


def _offsets(spec: Spec, length: int) -> Callable[[], int]:
    rng = random.Random(spec.seed)
    blocks = max(length // spec.bs, 1)
    if spec.rw.startswith("rand"):
        return lambda: rng.randrange(blocks) * spec.bs
    state = {"next": 0}

    def sequential() -> int:
        off = state["next"]
        state["next"] = (off + spec.bs) % (blocks * spec.bs)
        return off

    return sequential


def _loop(dev: Any, spec: Spec, label: str,
          progress: Callable[[str], None] | None) -> Result:
    run_bench = getattr(dev._backend, "run_bench", None)
    if run_bench is not None and spec.rw in ("read", "randread", "write", "randwrite"):
        return _c_loop(dev, run_bench, spec, label, progress)
    return _python_loop(dev, spec, label, progress)


def _c_loop(dev: Any, run_bench: Callable[..., dict[str, Any]], spec: Spec, label: str,
            progress: Callable[[str], None] | None) -> Result:
    """native and io_uring: the engine runs the loop in C (batched submit and reap)."""
    if progress:
        progress(f"{label}: running {spec.runtime:g} s in the C engine")
    buffers = dev.buffer(spec.bs * spec.iodepth)
    buffers[:] = random.Random(spec.seed).randbytes(len(buffers))
    cpu0 = _cpu()
    out = run_bench(write=spec.rw.endswith("write"), random=spec.rw.startswith("rand"),
                    bs=spec.bs, depth=spec.iodepth,
                    nblocks=max(min(spec.size, dev.length) // spec.bs, 1),
                    seconds=spec.runtime, seed=spec.seed, buffers=buffers)
    cpu = _cpu() - cpu0
    if out["errors"]:
        raise OSError(out["first_error"], f"{out['errors']} requests failed: "
                      f"{os.strerror(out['first_error'])}")
    lat = [x / 1e6 for x in out["latencies_us"]]
    return _result("qdrive", label, out["ios"], spec.bs, out["seconds"],
                   out["submit_ns"] / 1e9, out["ios"], lat, cpu)


def _python_loop(dev: Any, spec: Spec, label: str,
                 progress: Callable[[str], None] | None) -> Result:
    """threads and posix: the queue API from Python."""
    from .backends import Op, Request

    next_offset = _offsets(spec, min(spec.size, dev.length))
    rng = random.Random(spec.seed + 1)
    ops = {"read": Op.READ, "randread": Op.READ, "write": Op.WRITE, "randwrite": Op.WRITE}
    slots = []
    for n in range(spec.iodepth):
        buf = dev.buffer(spec.bs)[: spec.bs]
        buf[:] = rng.randbytes(spec.bs)
        op = ops.get(spec.rw) or (Op.READ if n % 2 else Op.WRITE)  # randrw: half each
        slots.append(Request(op, 0, [buf], spec.bs, n))
    started = array("d", [0.0] * spec.iodepth)
    latencies = array("d")
    submit_time = 0.0
    cpu0, t0 = _cpu(), time.perf_counter()
    deadline = t0 + spec.runtime
    batch = slots
    ios = 0
    last_report = t0
    while True:
        now = time.perf_counter()
        for req in batch:
            req.offset = next_offset()
            started[req.tag] = now
        dev.submit(batch)
        after = time.perf_counter()
        submit_time += after - now
        if after >= deadline:
            break
        done = dev.reap(1)
        now = time.perf_counter()
        batch = []
        for c in done:
            if c.error is not None:
                raise c.error
            latencies.append(now - started[c.request.tag])
            batch.append(c.request)
        ios += len(done)
        if progress and now - last_report > 0.5:
            last_report = now
            rate = ios / (now - t0)
            progress(f"{label}: {rate:,.0f} IOPS, {rate * spec.bs / 1e6:,.1f} MB/s")
    elapsed = time.perf_counter() - t0
    while dev.in_flight():  # drain; these do not count
        dev.reap(dev.in_flight())
    cpu = _cpu() - cpu0
    return _result("qdrive", label, ios, spec.bs, elapsed, submit_time, ios + len(batch),
                   latencies, cpu)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _result(tool: str, label: str, ios: int, bs: int, seconds: float, submit_time: float,
            submitted: int, latencies: Sequence[float], cpu: float) -> Result:
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return lat[min(int(p * len(lat)), len(lat) - 1)] * 1e3 if lat else 0.0

    return Result(tool, label, ios, ios * bs, seconds,
                  submit_time / max(submitted, 1) * 1e6,
                  (sum(lat) / len(lat) * 1e3) if lat else 0.0,
                  pct(0.5), pct(0.99), pct(0.999), cpu)


def fio_command(spec: Spec, backend: str, workers: int = 1,
                extra: Sequence[str] = ()) -> list[str]:
    """fio with the same workload (the seed's command line, with this run's numbers)."""
    engine = FIO_ENGINES[backend]
    cmd = ["fio", "--name=qdrive", f"--filename={spec.path}", f"--rw={spec.rw}",
           f"--bs={spec.bs}", f"--ioengine={engine}", f"--direct={int(spec.direct)}",
           f"--sync={int(spec.sync)}", "--norandommap", f"--runtime={spec.runtime}",
           "--time_based", "--group_reporting", "--thread", f"--size={spec.size}",
           f"--randseed={spec.seed}", "--output-format=json"]
    if engine == "psync":  # synchronous engine: depth comes from jobs, as the threads pool
        cmd += [f"--numjobs={workers}", "--iodepth=1"]
    else:
        cmd += ["--numjobs=1", f"--iodepth={spec.iodepth}"]
    return cmd + list(extra)


def run_fio(spec: Spec, backend: str, *, workers: int = 1, label: str = "",
            extra: Sequence[str] = ()) -> Result:
    """Run fio and read its JSON report."""
    if shutil.which("fio") is None:
        raise FileNotFoundError("fio is not installed (apt-get install fio)")
    out = subprocess.run(fio_command(spec, backend, workers, extra), capture_output=True,
                         text=True, check=True).stdout
    job = json.loads(out[out.index("{"):])["jobs"][0]
    side = job["read"] if spec.rw in ("read", "randread") else job["write"]
    # With group_reporting, runtimes add up over the jobs: take fio's own rates instead.
    seconds = float(spec.runtime)
    ios = round((job["read"]["iops"] + job["write"]["iops"]) * seconds)
    clat = side["clat_ns"]
    pcts = clat.get("percentile", {})
    # fio averages CPU over the jobs of a group: psync's numjobs must be multiplied back.
    jobs = workers if FIO_ENGINES[backend] == "psync" else 1
    cpu = (job["usr_cpu"] + job["sys_cpu"]) / 100 * seconds * jobs
    return Result("fio", label or f"fio {FIO_ENGINES[backend]}", ios, ios * spec.bs, seconds,
                  side["slat_ns"]["mean"] / 1e3 if side.get("slat_ns") else 0.0,
                  clat["mean"] / 1e6,
                  pcts.get("50.000000", 0) / 1e6, pcts.get("99.000000", 0) / 1e6,
                  pcts.get("99.900000", 0) / 1e6, cpu)
