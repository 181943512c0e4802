"""`qdrive bench`: the seed's workload through qdrive's driver, next to fio.

One thread keeps ``iodepth`` requests in flight through the driver's queue API, at
random offsets without a map (fio's --norandommap), and reports MB/s, IOPS, average
submission latency (us), average completion latency (ms), completion percentiles and
the CPU seconds used. ``run_fio`` runs fio with the same parameters on the same target
so the two can be compared in one run; ``bench_matrix`` reproduces the seed's table.
Where the target comes from and who may write it is ``bench_target``'s business; this
module measures a target that is already prepared and locked.

The cache mode is part of the workload: :class:`CacheSemantics` reads it from the plan
the qdrive side opens, and the fio side gets the same semantics (``fio_options``).
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import shutil
import subprocess
import time
from array import array
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .signals import interrupts
from ..block.plan import OpenPlan
from .._values import parse_size

__all__ = ["Spec", "Result", "CacheSemantics", "run_qdrive", "run_fio", "fio_command",
           "bench_drive", "FIO_ENGINES", "FioError"]

FIO_ENGINES = {"native": "libaio", "io_uring": "io_uring", "posix": "posixaio",
               "threads": "psync"}


class FioError(RuntimeError):
    """fio could not run the workload (its own message)."""


@attrs.frozen
class Spec:
    """One benchmark run: the workload and where it goes (``size``: the bytes it spans)."""

    path: str
    rw: str = "randwrite"
    bs: int = 16 << 10
    iodepth: int = 74
    runtime: float = 15.0
    size: int = 4 << 30
    seed: int = 1
    # Write-through flushes in flight at once in the C loop: 1 is QEMU's bdrv_co_flush
    # (and the device queue's); fio's jobs each flush on their own.
    flush_depth: int = 1

    @classmethod
    def parse(cls, path: str, *, bs: str = "16k", size: str = "4G", **kw: Any) -> Spec:
        return cls(path, bs=parse_size("bs", bs)[0], size=parse_size("size", size)[0], **kw)


@attrs.frozen
class CacheSemantics:
    """What a cache mode does to a write workload, read from the plan the driver opens.

    QEMU 7.2 emulates write-through with a flush after every write (block/io.c: FUA
    writes become bdrv_co_flush(), which file-posix answers with fdatasync in
    raw_co_flush_to_disk), and cache.no-flush makes that flush a no-op; the 2008
    dialect's sync=on is O_SYNC on the descriptor.
    """

    direct: bool  # O_DIRECT
    o_sync: bool  # O_SYNC (the 2008 dialect's sync=on)
    flush_each_write: bool  # fdatasync after every write, before it completes
    no_flush: bool  # flushes succeed without reaching the disk

    @classmethod
    def of(cls, plan: OpenPlan) -> CacheSemantics:
        flags = plan.open_flags
        return cls(direct=bool(flags & os.O_DIRECT), o_sync=flags & os.O_SYNC == os.O_SYNC,
                   flush_each_write=plan.writethrough and not plan.no_flush,
                   no_flush=plan.no_flush)

    def fio_options(self) -> list[str]:
        """fio's options for the same semantics (fio 3.33 names, see ``fio --cmdhelp``):
        direct= for O_DIRECT, sync=sync for O_SYNC (sync=none without), fdatasync=1 for
        an fdatasync after every write. fio issues no flushes of its own otherwise, so
        no-flush needs no option."""
        return [f"--direct={int(self.direct)}", f"--sync={'sync' if self.o_sync else 'none'}",
                f"--fdatasync={int(self.flush_each_write)}"]

    def label(self) -> str:
        return (f"direct={int(self.direct)},sync={int(self.o_sync)},"
                f"fdatasync={int(self.flush_each_write)}")


@attrs.frozen
class Result:
    """What a run measured."""

    tool: str  # qdrive or fio
    label: str
    ios: int
    bytes: int
    seconds: float
    # Average time to submit one request; None where it does not apply: fio's synchronous
    # psync engine has no submission apart from the I/O itself (fio reports no slat).
    submit_us: float | None
    complete_ms: float  # average submission-to-completion time
    p50_ms: float
    p99_ms: float
    p999_ms: float
    cpu_seconds: float
    cache: str = ""  # CacheSemantics.label() of what ran

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


def bench_drive(path: str, cache: str = "cache=none", dialect: str = "qemu-7.2") -> Any:
    """The Drive of a benchmark row: ``path`` as a raw image with ``cache`` options."""
    from ..frontend._check import parse_drive

    return parse_drive(f"file={path.replace(',', ',,')},format=raw,{cache}", dialect=dialect)


def run_qdrive(spec: Spec, plan: OpenPlan, backend: str | None = None, *, label: str = "",
               progress: Callable[[str], None] | None = None,
               **backend_options: Any) -> Result:
    """The workload through the driver, opened with ``plan``, and its queue API."""
    from ..block.driver import open as open_device

    # A signal is taken only between requests (bench_signals): the loops have checkpoints.
    with interrupts.deferred(), open_device(plan, backend=backend, **backend_options) as dev:
        cache = CacheSemantics.of(plan)
        result = _loop(dev, spec, label or f"{dev.backend} {cache.label()}", progress)
        return attrs.evolve(result, cache=cache.label())


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
    # The C loop keeps every request inside the engine (under write-through its flush
    # too); a deeper queue than the engine holds goes through the device queue, whose
    # pending requests wait their turn.
    flush = spec.flush_depth * (spec.rw.endswith("write")
                                and CacheSemantics.of(dev.plan).flush_each_write)
    fits = spec.iodepth + flush <= getattr(dev._backend, "capacity", spec.iodepth + flush)
    if run_bench is not None and fits and spec.rw in ("read", "randread", "write", "randwrite"):
        return _c_loop(dev, run_bench, spec, label, progress)
    return _python_loop(dev, spec, label, progress)


def _c_loop(dev: Any, run_bench: Callable[..., dict[str, Any]], spec: Spec, label: str,
            progress: Callable[[str], None] | None) -> Result:
    """Every backend with a C engine: the loop runs in C (batched submit and reap)."""
    if progress:
        progress(f"{label}: running {spec.runtime:g} s in the C engine")
    buffers = dev.buffer(spec.bs * spec.iodepth)
    buffers[:] = random.Random(spec.seed).randbytes(len(buffers))
    cpu0 = _cpu()
    out = run_bench(write=spec.rw.endswith("write"), random=spec.rw.startswith("rand"),
                    bs=spec.bs, depth=spec.iodepth,
                    nblocks=max(min(spec.size, dev.length) // spec.bs, 1),
                    seconds=spec.runtime, seed=spec.seed, buffers=buffers,
                    flush_each=CacheSemantics.of(dev.plan).flush_each_write,
                    flush_depth=spec.flush_depth)
    cpu = _cpu() - cpu0
    if out["errors"]:
        raise OSError(out["first_error"], f"{out['errors']} requests failed: "
                      f"{os.strerror(out['first_error'])}")
    lat = [x / 1e6 for x in out["latencies_us"]]
    return _result("qdrive", label, out["ios"], spec.bs, out["seconds"],
                   out["submit_ns"] / 1e9, out["ios"], lat, cpu)


def _python_loop(dev: Any, spec: Spec, label: str,
                 progress: Callable[[str], None] | None) -> Result:
    """randrw, or a backend without a C loop: the queue API from Python."""
    from ..block.backends import Op, Request

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
        interrupts.checkpoint()
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


def fio_command(spec: Spec, cache: CacheSemantics, backend: str, workers: int = 1, *,
                readonly: bool = False) -> list[str]:
    """fio with the same workload (the seed's command line, with this run's numbers and
    cache semantics). fio never creates, lays out or grows the target: bench prepared it
    and ``--size`` is at most its length; ``readonly`` adds fio's own write guard."""
    engine = FIO_ENGINES[backend]
    cmd = ["fio", *(["--readonly"] if readonly else []), "--name=qdrive",
           f"--filename={_fio_escape(spec.path)}", f"--rw={spec.rw}", f"--bs={spec.bs}",
           f"--ioengine={engine}", *cache.fio_options(), "--norandommap",
           # fio reads a bare runtime as whole seconds (0.3 is not 300 ms): give it ms.
           f"--runtime={max(1, math.ceil(spec.runtime * 1000))}ms", "--time_based",
           "--group_reporting", "--thread", f"--size={spec.size}", f"--randseed={spec.seed}",
           "--allow_file_create=0", "--fallocate=none", "--output-format=json"]
    if engine == "psync":  # synchronous engine: depth comes from jobs, as the threads pool
        cmd += [f"--numjobs={workers}", "--iodepth=1"]
    else:
        cmd += ["--numjobs=1", f"--iodepth={spec.iodepth}"]
    return cmd


def _fio_escape(path: str) -> str:
    return path.replace("\\", "\\\\").replace(":", "\\:")  # ':' separates fio's file names


def run_fio(spec: Spec, cache: CacheSemantics, backend: str, *, workers: int = 1,
            label: str = "", readonly: bool = False) -> Result:
    """Run fio and read its JSON report."""
    if shutil.which("fio") is None:
        raise FileNotFoundError("fio is not installed (apt-get install fio)")
    cmd = fio_command(spec, cache, backend, workers, readonly=readonly)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        lines = [x for x in done.stderr.splitlines() + done.stdout.splitlines() if x.strip()]
        raise FioError(f"fio failed (exit {done.returncode}): "
                       f"{lines[0] if lines else 'no message'}")
    out = done.stdout
    job = json.loads(out[out.index("{"):])["jobs"][0]
    side = job["read"] if spec.rw in ("read", "randread") else job["write"]
    # With group_reporting each direction sums its jobs' I/Os and keeps the longest
    # runtime (ms); job_runtime is the jobs' runtimes added up, which the CPU shares
    # (percent of each job's runtime, averaged) multiply back into CPU seconds.
    ios = job["read"]["total_ios"] + job["write"]["total_ios"]
    seconds = max(job["read"]["runtime"], job["write"]["runtime"]) / 1e3
    clat = side["clat_ns"]
    pcts = clat.get("percentile", {})
    cpu = (job["usr_cpu"] + job["sys_cpu"]) / 100 * job["job_runtime"] / 1e3
    return Result("fio", label or f"fio {FIO_ENGINES[backend]}", ios, ios * spec.bs, seconds,
                  _slat_us(side, FIO_ENGINES[backend]),
                  clat["mean"] / 1e6,
                  pcts.get("50.000000", 0) / 1e6, pcts.get("99.000000", 0) / 1e6,
                  pcts.get("99.900000", 0) / 1e6, cpu, cache.label())


def _slat_us(side: dict[str, Any], engine: str) -> float | None:
    """fio's average submission latency in us; None for psync (fio measures slat only
    for asynchronous engines: a synchronous one's submission is the whole I/O)."""
    if engine == "psync" or not side.get("slat_ns"):
        return None
    return float(side["slat_ns"]["mean"]) / 1e3


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
