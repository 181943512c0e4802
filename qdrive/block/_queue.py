"""A raw device's request queue: everything between submit() and a completion.

What a request goes through, in order (the QEMU function each step mirrors in brackets):

1. checks, before anything of the batch starts: read-only (EROFS), the range inside the
   device (block-backend.c blk_check_byte_request(): EIO), a zero-length request
   completes at once (block/io.c bdrv_co_preadv_part() returns 0 for bytes == 0);
2. a bounce buffer when O_DIRECT cannot take the caller's buffers (block/io.c
   bdrv_pad_request(), read-modify-write for writes);
3. its place in the order (qdrive.block._overlaps: overlapping writes in submission order, one
   flush at a time; block/io.c serialising requests, bdrv_co_flush() active_flush_req);
4. the backend; a flush after a failed flush fails without reaching it (file-posix.c
   handle_aiocb_flush() page_cache_inconsistent, except under O_DIRECT); under
   write-through a write completes only after a flush that started after it finished
   (block/io.c bdrv_driver_pwritev() emulates FUA with bdrv_co_flush(); like QEMU's flush
   generations in bdrv_co_flush(), one flush covers every write that finished before it
   started, and it is a request like any other, never a wait in a worker);
5. the error policy (block-backend.c blk_get_error_action()): report, ignore (the caller
   is told it worked, with the full length), stop (the request is held and the queue
   refuses new requests until resume(), as QEMU's VM stops until ``cont``).

The queue owns the image descriptor and the backend and knows nothing of the RawDevice
above it, so a device dropped without close() is closed by a finalizer that holds only the
queue (nothing outlives the device).
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import time
import warnings
from collections import deque
from collections.abc import Iterable, Sequence

import attrs

from ._overlaps import Serialiser, Slot
from ._alignment import aligned_buffer
from .backends import Backend, Completion, Op, Request
from .backends._io import read_full
from ..errors import QDriveError
from ..model import ErrorAction
from .plan import OpenPlan

__all__ = ["DeviceQueue", "IOStopped", "DeviceStoppedError", "check_range"]

_ORDERED = (Op.WRITE, Op.WRITE_ZEROES, Op.DISCARD, Op.FLUSH)


class IOStopped(QDriveError, OSError):
    """werror/rerror=stop (or werror=enospc on ENOSPC): ``request`` failed and I/O is stopped.

    The device holds the request, in its place: requests queued behind it stay queued, and
    new ones are refused (:class:`DeviceStoppedError`) until :meth:`RawDevice.resume`
    retries the held requests in the order they were submitted, as QEMU's ``cont`` does.
    This completion is a notice, not the end of the request: its final completion is in
    what resume() returns. ``cause`` is the OSError the backend reported.
    """

    def __init__(self, request: Request, cause: OSError) -> None:
        super().__init__(cause.errno, f"I/O stopped: {cause.strerror}")
        self.request = request
        self.cause = cause


class DeviceStoppedError(QDriveError, OSError):
    """The device is stopped after an I/O error (see :class:`IOStopped`) and takes no new
    request until resume(); errno is the stopping error's."""


def check_range(offset: int, length: int, device_length: int) -> None:
    """block/block-backend.c blk_check_byte_request(): a request lies inside the device.

    Negative offsets or lengths, and ranges past the end, fail with EIO as in QEMU (also
    huge values such as 2**63, which never reach a system call)."""
    if not isinstance(offset, int) or not isinstance(length, int):
        raise TypeError(f"offset and length must be integers, not {type(offset).__name__} "
                        f"and {type(length).__name__}")
    if offset < 0 or length < 0 or offset > device_length or device_length - offset < length:
        raise OSError(errno.EIO, f"{os.strerror(errno.EIO)}: {length} bytes at offset {offset} "
                      f"are outside the device ({device_length} bytes)")


@attrs.define(eq=False, kw_only=True)
class _Tracked(Slot):
    """A request on its way: what the caller gave, what the backend got, and how to finish."""

    user: Request
    issued: Request
    length: int  # what the completion reports
    rmw: bool = False  # a bounced write: the partial blocks at its edges are read first
    bounce: slice | None = None  # where the caller's bytes sit in the bounce buffer
    targets: list[memoryview] = attrs.field(factory=list)  # a bounced read's destinations


class DeviceQueue:
    """Requests of one open image, its descriptor and its backend (see the module doc)."""

    def __init__(self, fd: int, backend: Backend, plan: OpenPlan, *, length: int,
                 request_alignment: int, buffer_alignment: int) -> None:
        self.fd, self.backend, self.plan, self.length = fd, backend, plan, length
        self.request_alignment, self.buffer_alignment = request_alignment, buffer_alignment
        self._ready: list[Completion] = []  # completed, not yet reaped
        self._tracked: dict[int, _Tracked] = {}  # at the backend, by id(issued request)
        self._waiting: dict[int, _Tracked] = {}  # queued behind an overlap, by seq
        self._runnable: deque[_Tracked] = deque()  # may start now, in order
        self._order: Serialiser[_Tracked] = Serialiser()
        self._held: list[_Tracked] = []
        self._stop_cause: OSError | None = None
        self._poisoned = 0  # errno of the first failed flush (page_cache_inconsistent)
        # Write-through (cache.writeback=off), unless no-flush makes its flush a no-op:
        self._write_through = plan.writethrough and not plan.no_flush
        self._wt_flush: Request | None = None  # the write-through flush at the backend
        self._wt_covered: list[_Tracked] = []  # the writes it makes durable
        self._wt_next: list[_Tracked] = []  # writes done since it started: the next one's
        self._in_use: set[int] = set()  # id() of the caller's requests not finished yet
        self._seq = 0
        self._released = False

    # -- 1. checks ------------------------------------------------------------------------
    def submit(self, requests: Iterable[Request]) -> None:
        """Start ``requests``; each completes once, through :meth:`reap`."""
        batch = list(requests)
        if self._stop_cause is not None:
            raise self.stopped_error()
        checked = self._check_all(batch)  # nothing starts unless every request is valid
        for req, (buffers, n) in zip(batch, checked, strict=True):
            self._accept(req, buffers, n)
        self._pump()

    def _check_all(self, batch: list[Request]) -> list[tuple[list[memoryview], int]]:
        seen: set[int] = set()
        out = []
        for req in batch:
            if id(req) in self._in_use or id(req) in seen:
                raise ValueError("this Request is already submitted and not completed")
            seen.add(id(req))
            out.append(self._check(req))
        return out

    def _check(self, req: Request) -> tuple[list[memoryview], int]:
        if not isinstance(req.op, Op):
            raise TypeError(f"op must be an Op, not {req.op!r}")
        if req.op is Op.FLUSH:
            return [], 0
        if req.op is not Op.READ and self.plan.read_only:
            raise OSError(errno.EROFS, f"{os.strerror(errno.EROFS)}: the drive is read-only")
        buffers = [_bytes_view(b, writable=req.op is Op.READ) for b in req.buffers]
        n = sum(len(b) for b in buffers) if req.op in (Op.READ, Op.WRITE) else req.length
        check_range(req.offset, n, self.length)
        return buffers, n

    def _accept(self, req: Request, buffers: list[memoryview], n: int) -> None:
        if req.op in (Op.READ, Op.WRITE):
            req.length = n  # Request.length: the total of its buffers
        if n == 0 and req.op is not Op.FLUSH:
            self._post(Completion(req, 0))
            return
        self._in_use.add(id(req))
        self._seq += 1
        t = self._track(req, buffers, n, self._seq)
        if req.op in _ORDERED and not self._order.admit(t):
            self._waiting[t.seq] = t  # 3. behind an earlier overlapping write (or flush)
            return
        self._runnable.append(t)

    # -- 2. bounce buffers ----------------------------------------------------------------
    def _track(self, req: Request, buffers: list[memoryview], n: int, seq: int) -> _Tracked:
        if req.op in (Op.READ, Op.WRITE) and not self._fits(req.offset, buffers):
            return self._bounce(req, buffers, n, seq)
        issued = Request(req.op, req.offset, buffers, n, req.tag)
        end = req.offset + n if req.op is not Op.FLUSH else 0
        return _Tracked(seq=seq, start=req.offset if end else 0, end=end,
                        flush=req.op is Op.FLUSH, user=req, issued=issued, length=n)

    def _fits(self, offset: int, buffers: Sequence[memoryview]) -> bool:
        a, b = self.request_alignment, self.buffer_alignment
        if a == 1 and b == 1:
            return True
        if offset % a:
            return False
        return all(len(x) % a == 0 and _address(x) % b == 0 for x in buffers if len(x))

    def _bounce(self, req: Request, buffers: list[memoryview], n: int, seq: int) -> _Tracked:
        a = self.request_alignment
        start = req.offset // a * a
        end = -(-(req.offset + n) // a) * a
        buf = aligned_buffer(end - start, max(self.buffer_alignment, mmap.PAGESIZE))
        buf = buf[: end - start]
        inner = slice(req.offset - start, req.offset - start + n)
        if req.op is Op.WRITE:
            pos = inner.start
            for b in buffers:
                buf[pos:pos + len(b)] = b
                pos += len(b)
        issued = Request(req.op, start, [buf], end - start, req.tag)
        return _Tracked(seq=seq, start=start, end=end, user=req, issued=issued, length=n,
                        rmw=req.op is Op.WRITE, bounce=inner,
                        targets=buffers if req.op is Op.READ else [])

    def _fill_edges(self, t: _Tracked) -> None:
        # Read-modify-write (block/io.c bdrv_co_do_pwritev_part): the partial first and
        # last blocks are read before the caller's bytes go over them. Overlapping writes
        # are serialised (step 3), so nothing changes these blocks meanwhile.
        assert t.bounce is not None
        buf, a, s = t.issued.buffers[0], self.request_alignment, t.bounce
        saved = bytes(buf[s])
        if s.start:
            read_full(self.fd, [buf[:a]], t.start)
        if s.stop != len(buf):
            read_full(self.fd, [buf[len(buf) - a:]], t.end - a)
        buf[s] = saved

    # -- 4. to the backend ------------------------------------------------------------------
    def _pump(self) -> None:
        """Start every request that may start, then hand them to the backend in one batch."""
        batch: list[Request] = []
        if self._wt_next and self._wt_flush is None:
            self._start_write_through_flush(batch)  # first: failing it may free successors
        while self._runnable:
            t = self._runnable.popleft()
            self._waiting.pop(t.seq, None)
            self._start(t, batch)
        if batch:
            self.backend.submit(batch)

    def _start(self, t: _Tracked, batch: list[Request]) -> None:
        if t.user.op is Op.FLUSH:
            if self._poisoned:  # file-posix.c: once a flush failed, every later one fails
                self._post(self._finish(t, _poisoned_error(self._poisoned)))
                return
            if self.plan.read_only:  # block/io.c bdrv_co_flush(): nothing to write back
                self._post(self._finish(t, None))
                return
        if t.rmw:
            try:
                self._fill_edges(t)
            except OSError as exc:
                self._post(self._finish(t, exc))
                return
        self._tracked[id(t.issued)] = t
        batch.append(t.issued)

    def _start_write_through_flush(self, batch: list[Request]) -> None:
        covered, self._wt_next = self._wt_next, []
        if self._poisoned:  # this flush could only succeed by forgetting the failed one
            err = _poisoned_error(self._poisoned, "the write-through flush")
            for t in covered:
                self._post(self._finish(t, err))
            return
        self._wt_covered, self._wt_flush = covered, Request(Op.FLUSH)
        batch.append(self._wt_flush)

    def _write_through_done(self, error: OSError | None) -> None:
        covered, self._wt_covered, self._wt_flush = self._wt_covered, [], None
        if error is not None:
            self._flush_failed(error)
            error = OSError(error.errno, f"{error.strerror}: the flush after this write "
                            "(cache write-through) failed")
        for t in covered:
            self._ready.append(self._finish(t, error))

    def _needs_write_through(self, t: _Tracked) -> bool:
        return self._write_through and t.user.op in (Op.WRITE, Op.WRITE_ZEROES)

    def _post(self, c: Completion) -> None:
        """A completion made here, not by the backend: wake whoever waits on the eventfd."""
        self._ready.append(c)
        os.eventfd_write(self.backend.eventfd(), 1)

    # -- completions and 5. the error policy ---------------------------------------------------
    def reap(self, min_count: int = 1, timeout: float | None = None) -> list[Completion]:
        """At least ``min_count`` completions; fewer on ``timeout``, or when what is left is
        queued behind a request held by a stop (it starts after resume())."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            want, busy = min_count - len(self._ready), self.backend.in_flight()
            if want <= 0 or not busy:
                if busy:  # take what is already done, without waiting
                    self._gather(self.backend.reap(0, 0))
                break
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._gather(self.backend.reap(min(want, busy), left))
            if deadline is not None and time.monotonic() >= deadline:
                break
        out, self._ready = self._ready, []
        return out

    def hand_back(self, done: Sequence[Completion]) -> None:
        """Completions reaped for someone else (the asyncio waiter) that nobody awaits: the
        next reap() returns them."""
        self._ready.extend(done)

    def wait_for(self, req: Request) -> Completion:
        """Wait for the completion of ``req`` (others stay for reap())."""
        while True:
            for i, c in enumerate(self._ready):
                if c.request is req:
                    del self._ready[i]
                    return c
            if not self.backend.in_flight():
                if self._stop_cause is not None:  # queued behind a held request
                    raise self.stopped_error()
                raise RuntimeError("qdrive internal error: a request has no completion "
                                   "and nothing is in flight")
            self._gather(self.backend.reap(1))

    def _gather(self, done: list[Completion]) -> None:
        for c in done:
            # The backend's error is kept without its traceback: those frames hold the
            # backend's buffer keep-alives in a reference cycle with the error, and the
            # garbage collector breaking such a cycle can free a memoryview before the cffi
            # buffer over it (a segfault in cdatafrombuf_dealloc, cffi 2.1, CPython 3.11).
            err = None if c.error is None else c.error.with_traceback(None)
            if c.request is self._wt_flush:
                self._write_through_done(err)
                continue
            t = self._tracked.pop(id(c.request))
            if err is None and self._needs_write_through(t):
                self._wt_next.append(t)  # done when a flush started after now succeeds
                continue
            self._ready.append(self._finish(t, err))
        self._pump()

    def _finish(self, t: _Tracked, error: OSError | None) -> Completion:
        if error is None:
            if t.user.op is Op.READ and t.bounce is not None:
                data, pos = t.issued.buffers[0][t.bounce], 0
                for b in t.targets:
                    b[:] = data[pos:pos + len(b)]
                    pos += len(b)
            c = Completion(t.user, t.length)
        else:
            c = self._on_error(t, error)
            if isinstance(c.error, IOStopped):
                return c  # held: keeps its place in the order and stays in use
        self._in_use.discard(id(t.user))
        if t.user.op in _ORDERED:
            self._runnable.extend(self._order.finish(t))
        return c

    def _on_error(self, t: _Tracked, err: OSError) -> Completion:
        op = t.user.op
        if op is Op.FLUSH:
            self._flush_failed(err)
        action = self.plan.rerror if op is Op.READ else self.plan.werror
        if action is ErrorAction.IGNORE:  # the guest is told it worked
            return Completion(t.user, t.length)
        if action is ErrorAction.STOP or (action is ErrorAction.ENOSPC
                                          and err.errno == errno.ENOSPC):
            self._hold(t, err)
            return Completion(t.user, -1, IOStopped(t.user, err))
        return Completion(t.user, -1, err)

    def _flush_failed(self, err: OSError) -> None:
        if not self.plan.direct and not self._poisoned:
            # file-posix.c handle_aiocb_flush(): after a failed fdatasync the kernel may
            # have marked dirty pages clean; the next one would succeed with the data gone.
            self._poisoned = err.errno or errno.EIO

    # -- stop and resume ---------------------------------------------------------------------
    def _hold(self, t: _Tracked, err: OSError) -> None:
        self._held.append(t)
        self._held.sort(key=lambda h: h.seq)
        if self._stop_cause is None:
            self._stop_cause = err

    @property
    def stopped(self) -> bool:
        return self._stop_cause is not None

    @property
    def held(self) -> tuple[Request, ...]:
        return tuple(t.user for t in self._held)

    def stopped_error(self) -> DeviceStoppedError:
        cause = self._stop_cause or OSError(errno.EIO, os.strerror(errno.EIO))
        return DeviceStoppedError(cause.errno, f"I/O is stopped after {cause.strerror} "
                                  f"({len(self._held)} request(s) held): resolve the problem "
                                  "and call resume()")

    def resume(self) -> list[Completion]:
        """QEMU's ``cont``: retry the held requests, one at a time in submission order; the
        final completion of each retried one (the rest stay held if one stops again)."""
        held, self._held, self._stop_cause = self._held, [], None
        done = []
        for i, t in enumerate(held):
            batch: list[Request] = []
            self._start(t, batch)
            if batch:
                self.backend.submit(batch)
            done.append(self.wait_for(t.user))
            if self._stop_cause is not None:  # stopped again: the rest stay held
                self._held += held[i + 1:]
                self._held.sort(key=lambda h: h.seq)
                break
        return done

    # -- the end -----------------------------------------------------------------------------
    def in_flight(self) -> int:
        return (len(self._tracked) + len(self._waiting) + len(self._ready)
                + len(self._wt_covered) + len(self._wt_next))

    def close(self) -> list[OSError]:
        """block.c bdrv_close(): wait for the requests in flight, flush (unless no-flush or
        read-only), release the backend and the descriptor. Returns the problems: failed
        completions nobody reaped, requests that never started, a failed final flush."""
        problems: list[OSError] = []
        try:
            while self.backend.in_flight():
                self._gather(self.backend.reap(self.backend.in_flight()))
            problems += [_unreaped(c) for c in self._ready if c.error is not None]
            self._ready = []
            if self._waiting:
                problems.append(DeviceStoppedError(
                    self._stop_cause.errno if self._stop_cause else errno.EIO,
                    f"{len(self._waiting)} request(s) queued behind held ones were never "
                    "written: call resume() before close()"))
            problems += self._final_flush()
        finally:
            self.release()
        return problems

    def _final_flush(self) -> list[OSError]:
        if self.plan.read_only or self.plan.no_flush:
            return []
        if self._poisoned:
            return [_poisoned_error(self._poisoned, "close(): the final flush")]
        req = Request(Op.FLUSH)
        self.backend.submit([req])
        while True:
            for c in self.backend.reap(1):
                if c.request is req and c.error is not None:
                    return [OSError(c.error.errno, f"close(): the final flush failed: "
                                    f"{c.error.strerror}; data written since the last "
                                    "successful flush may not be on the disk")]
                if c.request is req:
                    return []

    def release(self) -> None:
        """Close the backend (it waits for its requests) and the descriptor; once."""
        if self._released:
            return
        self._released = True
        try:
            self.backend.close()
        finally:
            os.close(self.fd)

    def dropped(self) -> None:
        """The finalizer of a RawDevice nobody closed: close it, and say so."""
        warnings.warn(f"RawDevice {self.plan.path!r} was never closed; closing it now",
                      ResourceWarning, stacklevel=2)
        try:
            problems = self.close()
        except Exception as exc:  # a finalizer cannot raise; say it loudly instead
            problems = [OSError(errno.EIO, f"closing failed: {exc!r}")]
        for p in problems:
            warnings.warn(f"RawDevice {self.plan.path!r} dropped without close(): {p}",
                          RuntimeWarning, stacklevel=2)


def _poisoned_error(err: int, what: str = "this flush") -> OSError:
    return OSError(err, f"{os.strerror(err)}: {what} fails because an earlier flush failed: "
                   "data written before it may not be on the disk (QEMU's file-posix does "
                   "the same)")


def _unreaped(c: Completion) -> OSError:
    assert c.error is not None
    r = c.request
    return OSError(c.error.errno, f"close(): a {r.op.value} at offset {r.offset} failed and "
                   f"its completion was never reaped: {c.error.strerror}")


def _bytes_view(b: object, *, writable: bool) -> memoryview:
    view = b if isinstance(b, memoryview) else memoryview(b)  # type: ignore[arg-type]
    if view.ndim != 1 or view.format != "B":
        view = view.cast("B")
    if writable and view.readonly:
        raise TypeError("a read needs writable buffers (bytearray, mmap, memoryview of one)")
    return view


def _address(view: memoryview) -> int:
    if view.readonly:  # bytes: copy-free address is not available; treat as unaligned
        return 1
    return ctypes.addressof(ctypes.c_char.from_buffer(view))
