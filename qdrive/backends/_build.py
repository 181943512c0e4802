"""cffi (API mode) definitions of the native backends, built by the package build.

Each backend is its own extension module, so a machine without liburing still builds
libaio's and glibc's. setup.py builds a module only when its header is present; the
backend module then reports BackendUnavailable with the package to install.
The C parts are small on purpose: they batch submissions and reaps so that Python
crosses into C once per batch, not once per request (block/linux-aio.c and
block/io_uring.c batch the same way).
"""

from __future__ import annotations

from cffi import FFI

# C helpers every benchmark loop uses: the stats record, a monotonic clock in ns and a
# xorshift64 generator for random offsets (fio's --norandommap: no map, repeats allowed).
_BENCH_C = r"""
#include <time.h>
typedef struct { long long ios; long long errors; int first_error;
                 double submit_ns; double seconds; } qd_bench_stats;

static double qd_now(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static unsigned long long qd_next(unsigned long long *x) {  /* xorshift64 */
    *x ^= *x << 13; *x ^= *x >> 7; *x ^= *x << 17; return *x;
}

static long long qd_offset(unsigned long long *x, int random, long long *seq, long long bs,
                           long long nblocks) {
    if (random) return (long long)(qd_next(x) % (unsigned long long)nblocks) * bs;
    long long off = *seq; *seq = (*seq + 1) % nblocks; return off * bs;
}
"""

_COMMON_CDEF = """
    struct iovec { void *iov_base; size_t iov_len; };
    typedef struct { long long ios; long long errors; int first_error;
                     double submit_ns; double seconds; } qd_bench_stats;
"""

# ---- Linux native AIO (libaio) -----------------------------------------------------------
ffi_native = FFI()
ffi_native.cdef(_COMMON_CDEF + """
    typedef struct qd_laio qd_laio;
    qd_laio *qd_laio_new(int depth, int efd, int *err);
    int qd_laio_submit(qd_laio *q, int fd, int n, const int *ops, const long long *offsets,
                       struct iovec **iovs, const int *iovcnts,
                       const unsigned long long *tags);
    int qd_laio_reap(qd_laio *q, int min, int max, unsigned long long *tags,
                     long long *results, int timeout_ms);
    void qd_laio_free(qd_laio *q);
    int qd_laio_bench(qd_laio *q, int fd, int write, int random, long long bs, int depth,
                      long long nblocks, double seconds, unsigned long long seed,
                      char *buffers, int flush_each, int submit_batch, float *lat_us,
                      long long max_lat, qd_bench_stats *st);
""")
ffi_native.set_source("qdrive.backends._native_cffi", r"""
#include <libaio.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

typedef struct qd_laio {
    io_context_t ctx; int efd; int depth;
    struct iocb *cbs; struct iocb **ptrs; struct io_event *events; int *free_slots; int nfree;
} qd_laio;

qd_laio *qd_laio_new(int depth, int efd, int *err) {
    qd_laio *q = calloc(1, sizeof *q);
    if (!q) { *err = ENOMEM; return NULL; }
    q->depth = depth; q->efd = efd;
    q->cbs = calloc(depth, sizeof *q->cbs); q->ptrs = calloc(depth, sizeof *q->ptrs);
    q->events = calloc(depth, sizeof *q->events); q->free_slots = calloc(depth, sizeof(int));
    int r = (q->cbs && q->ptrs && q->events && q->free_slots) ? io_setup(depth, &q->ctx) : -ENOMEM;
    if (r < 0) { *err = -r; qd_laio_free(q); return NULL; }
    for (int i = 0; i < depth; i++) q->free_slots[i] = depth - 1 - i;
    q->nfree = depth;
    return q;
}

int qd_laio_submit(qd_laio *q, int fd, int n, const int *ops, const long long *offsets,
                   struct iovec **iovs, const int *iovcnts, const unsigned long long *tags) {
    if (n > q->nfree) return -EAGAIN;
    for (int i = 0; i < n; i++) {
        int slot = q->free_slots[--q->nfree];
        struct iocb *cb = &q->cbs[slot];
        if (ops[i]) io_prep_pwritev(cb, fd, iovs[i], iovcnts[i], offsets[i]);
        else io_prep_preadv(cb, fd, iovs[i], iovcnts[i], offsets[i]);
        if (q->efd >= 0) io_set_eventfd(cb, q->efd);
        cb->data = (void *)(uintptr_t)tags[i];
        q->ptrs[i] = cb;
    }
    int done = 0;
    while (done < n) {  /* io_submit may take fewer than asked: go on with the rest */
        int r = io_submit(q->ctx, n - done, q->ptrs + done);
        if (r == -EINTR || r == -EAGAIN) continue;
        if (r < 0) {   /* give the unsubmitted slots back */
            for (int i = done; i < n; i++) q->free_slots[q->nfree++] = q->ptrs[i] - q->cbs;
            return done ? done : r;
        }
        done += r;
    }
    return done;
}

int qd_laio_reap(qd_laio *q, int min, int max, unsigned long long *tags, long long *results,
                 int timeout_ms) {
    struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
    if (max > q->depth) max = q->depth;
    int r;
    do r = io_getevents(q->ctx, min, max, q->events, timeout_ms < 0 ? NULL : &ts);
    while (r == -EINTR);
    if (r < 0) return r;
    for (int i = 0; i < r; i++) {
        struct io_event *ev = &q->events[i];
        tags[i] = (unsigned long long)(uintptr_t)ev->data;
        results[i] = (long long)(long)ev->res;
        q->free_slots[q->nfree++] = ev->obj - q->cbs;
    }
    return r;
}

void qd_laio_free(qd_laio *q) {
    if (!q) return;
    if (q->ctx) io_destroy(q->ctx);
    free(q->cbs); free(q->ptrs); free(q->events); free(q->free_slots); free(q);
}

""" + _BENCH_C + r"""

/* The benchmark's hot loop in C: keep `depth` requests in flight on the engine's context,
   resubmitting completed slots at new offsets, `submit_batch` per io_submit (1 = as soon
   as each completes, fio's default; the rest of a reaped batch goes out at its end). */
int qd_laio_bench(qd_laio *q, int fd, int write, int random, long long bs, int depth,
                  long long nblocks, double seconds, unsigned long long seed, char *buffers,
                  int flush_each, int submit_batch, float *lat_us, long long max_lat,
                  qd_bench_stats *st) {
    if (depth > q->depth) return -EINVAL;
    unsigned long long x = seed | 1; long long seq = 0;
    double *start = calloc(depth, sizeof *start);
    if (!start) return -ENOMEM;
    memset(st, 0, sizeof *st);
    double t0 = qd_now(), deadline = t0 + seconds * 1e9;
    for (int i = 0; i < depth; i++) {
        struct iocb *cb = &q->cbs[i];
        long long off = qd_offset(&x, random, &seq, bs, nblocks);
        if (write) io_prep_pwrite(cb, fd, buffers + i * bs, bs, off);
        else io_prep_pread(cb, fd, buffers + i * bs, bs, off);
        cb->data = (void *)(uintptr_t)i; q->ptrs[i] = cb; start[i] = t0;
    }
    int r = io_submit(q->ctx, depth, q->ptrs);
    if (r != depth) { free(start); return r < 0 ? r : -EAGAIN; }
    int inflight = depth;
    while (inflight > 0) {
        int n = io_getevents(q->ctx, 1, depth, q->events, NULL);
        if (n == -EINTR) continue;
        if (n < 0) { free(start); return n; }
        double now = qd_now();
        int k = 0;
        for (int e = 0; e < n; e++) {
            int i = (int)(uintptr_t)q->events[e].data;
            long res = (long)q->events[e].res;
            if (res != bs) { if (!st->errors++) st->first_error = res < 0 ? (int)-res : ENOSPC; }
            else if (flush_each && write) { fdatasync(fd); now = qd_now(); }
            if (max_lat) lat_us[st->ios % max_lat] = (float)((now - start[i]) / 1e3);
            st->ios++;
            inflight--;
            if (now < deadline) {
                struct iocb *cb = q->events[e].obj;
                long long off = qd_offset(&x, random, &seq, bs, nblocks);
                if (write) io_prep_pwrite(cb, fd, buffers + i * bs, bs, off);
                else io_prep_pread(cb, fd, buffers + i * bs, bs, off);
                cb->data = (void *)(uintptr_t)i; start[i] = now; q->ptrs[k++] = cb;
                if (k >= submit_batch) {  /* hand the kernel work as early as fio does */
                    double s0 = qd_now();
                    int done = 0;
                    while (done < k) {
                        r = io_submit(q->ctx, k - done, q->ptrs + done);
                        if (r == -EINTR || r == -EAGAIN) continue;
                        if (r < 0) { free(start); return r; }
                        done += r;
                    }
                    st->submit_ns += qd_now() - s0;
                    inflight += k; k = 0;
                }
            }
        }
        if (k) {
            double s0 = qd_now();
            int done = 0;
            while (done < k) {
                r = io_submit(q->ctx, k - done, q->ptrs + done);
                if (r == -EINTR || r == -EAGAIN) continue;
                if (r < 0) { free(start); return r; }
                done += r;
            }
            st->submit_ns += qd_now() - s0;
            inflight += k;
        }
    }
    st->seconds = (qd_now() - t0) / 1e9;
    free(start);
    return 0;
}
""", libraries=["aio"])

# ---- io_uring (liburing) -------------------------------------------------------------------
ffi_io_uring = FFI()
ffi_io_uring.cdef(_COMMON_CDEF + """
    typedef struct qd_uring qd_uring;
    qd_uring *qd_uring_new(unsigned depth, int efd, int *err);
    int qd_uring_submit(qd_uring *q, int fd, int n, const int *ops, const long long *offsets,
                        struct iovec **iovs, const int *iovcnts,
                        const unsigned long long *tags);
    int qd_uring_reap(qd_uring *q, int min, int max, unsigned long long *tags,
                      long long *results, int timeout_ms);
    void qd_uring_free(qd_uring *q);
    int qd_uring_bench(qd_uring *q, int fd, int write, int random, long long bs, int depth,
                       long long nblocks, double seconds, unsigned long long seed,
                       char *buffers, int flush_each, int submit_batch, float *lat_us,
                       long long max_lat, qd_bench_stats *st);
""")
ffi_io_uring.set_source("qdrive.backends._io_uring_cffi", r"""
#include <liburing.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct qd_uring { struct io_uring ring; int ready; } qd_uring;

qd_uring *qd_uring_new(unsigned depth, int efd, int *err) {
    qd_uring *q = calloc(1, sizeof *q);
    if (!q) { *err = ENOMEM; return NULL; }
    int r = io_uring_queue_init(depth, &q->ring, 0);
    if (r < 0) { *err = -r; free(q); return NULL; }
    q->ready = 1;
    if (efd >= 0 && (r = io_uring_register_eventfd(&q->ring, efd)) < 0) {
        *err = -r; qd_uring_free(q); return NULL;
    }
    return q;
}

int qd_uring_submit(qd_uring *q, int fd, int n, const int *ops, const long long *offsets,
                    struct iovec **iovs, const int *iovcnts, const unsigned long long *tags) {
    for (int i = 0; i < n; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
        if (!sqe) {  /* the ring is full: push what is queued, then continue */
            int r = io_uring_submit(&q->ring);
            if (r < 0) return i ? i : r;
            sqe = io_uring_get_sqe(&q->ring);
            if (!sqe) return i ? i : -EAGAIN;
        }
        if (ops[i] == 2) io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
        else if (ops[i]) io_uring_prep_writev(sqe, fd, iovs[i], iovcnts[i], offsets[i]);
        else io_uring_prep_readv(sqe, fd, iovs[i], iovcnts[i], offsets[i]);
        io_uring_sqe_set_data64(sqe, tags[i]);
    }
    int r;
    do r = io_uring_submit(&q->ring); while (r == -EINTR);
    return r < 0 ? r : n;
}

int qd_uring_reap(qd_uring *q, int min, int max, unsigned long long *tags, long long *results,
                  int timeout_ms) {
    struct io_uring_cqe *cqe;
    int got = 0;
    while (got < max) {
        int r;
        if (got < min) {
            if (timeout_ms < 0) r = io_uring_wait_cqe(&q->ring, &cqe);
            else {
                struct __kernel_timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000LL };
                r = io_uring_wait_cqe_timeout(&q->ring, &cqe, &ts);
            }
            if (r == -EINTR) continue;
            if (r == -ETIME) break;
        } else {
            r = io_uring_peek_cqe(&q->ring, &cqe);
            if (r == -EAGAIN) break;
        }
        if (r < 0) return got ? got : r;
        tags[got] = io_uring_cqe_get_data64(cqe);
        results[got] = cqe->res;
        io_uring_cqe_seen(&q->ring, cqe);
        got++;
    }
    return got;
}

void qd_uring_free(qd_uring *q) {
    if (!q) return;
    if (q->ready) io_uring_queue_exit(&q->ring);
    free(q);
}

""" + _BENCH_C + r"""

static void qd_uring_prep(struct io_uring_sqe *sqe, int fd, int write, char *buf, long long bs,
                          long long off, int i) {
    if (write) io_uring_prep_write(sqe, fd, buf, bs, off);
    else io_uring_prep_read(sqe, fd, buf, bs, off);
    io_uring_sqe_set_data64(sqe, (unsigned long long)i);
}

/* The benchmark's hot loop in C on the engine's ring: reap a batch of completions,
   queue their slots again at new offsets, one io_uring_submit per batch. */
int qd_uring_bench(qd_uring *q, int fd, int write, int random, long long bs, int depth,
                   long long nblocks, double seconds, unsigned long long seed, char *buffers,
                   int flush_each, int submit_batch, float *lat_us, long long max_lat,
                   qd_bench_stats *st) {
    unsigned long long x = seed | 1; long long seq = 0;
    double *start = calloc(depth, sizeof *start);
    if (!start) return -ENOMEM;
    memset(st, 0, sizeof *st);
    double t0 = qd_now(), deadline = t0 + seconds * 1e9;
    for (int i = 0; i < depth; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
        if (!sqe) { io_uring_submit(&q->ring); sqe = io_uring_get_sqe(&q->ring); }
        if (!sqe) { free(start); return -EAGAIN; }
        qd_uring_prep(sqe, fd, write, buffers + i * bs, bs,
                      qd_offset(&x, random, &seq, bs, nblocks), i);
        start[i] = t0;
    }
    int r = io_uring_submit(&q->ring);
    if (r < 0) { free(start); return r; }
    int inflight = depth;
    while (inflight > 0) {
        struct io_uring_cqe *cqe;
        r = io_uring_wait_cqe(&q->ring, &cqe);
        if (r == -EINTR) continue;
        if (r < 0) { free(start); return r; }
        double now = qd_now();
        int k = 0, seen = 0;
        /* At most `depth` completions per round: a fast buffered write can complete again
           before the loop ends, and the clock is read once per round. */
        while (seen++ < depth && io_uring_peek_cqe(&q->ring, &cqe) == 0) {
            int i = (int)io_uring_cqe_get_data64(cqe);
            int res = cqe->res;
            io_uring_cqe_seen(&q->ring, cqe);
            if (res != bs) { if (!st->errors++) st->first_error = res < 0 ? -res : ENOSPC; }
            else if (flush_each && write) { fdatasync(fd); now = qd_now(); }
            if (max_lat) lat_us[st->ios % max_lat] = (float)((now - start[i]) / 1e3);
            st->ios++;
            inflight--;
            if (now < deadline) {
                struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
                if (!sqe) { io_uring_submit(&q->ring); sqe = io_uring_get_sqe(&q->ring); }
                qd_uring_prep(sqe, fd, write, buffers + i * bs, bs,
                              qd_offset(&x, random, &seq, bs, nblocks), i);
                start[i] = now; k++;
                if (k >= submit_batch) {
                    double s0 = qd_now();
                    do r = io_uring_submit(&q->ring); while (r == -EINTR);
                    if (r < 0) { free(start); return r; }
                    st->submit_ns += qd_now() - s0;
                    inflight += k; k = 0;
                }
            }
        }
        if (k) {
            double s0 = qd_now();
            do r = io_uring_submit(&q->ring); while (r == -EINTR);
            if (r < 0) { free(start); return r; }
            st->submit_ns += qd_now() - s0;
            inflight += k;
        }
    }
    st->seconds = (qd_now() - t0) / 1e9;
    free(start);
    return 0;
}
""", libraries=["uring"])

# ---- glibc POSIX AIO -------------------------------------------------------------------------
ffi_posix = FFI()
ffi_posix.cdef(_COMMON_CDEF + """
    typedef struct qd_paio qd_paio;
    qd_paio *qd_paio_new(int capacity, int efd, int *err);
    int qd_paio_submit(qd_paio *q, int fd, int op, long long offset, void *buf, size_t len,
                       unsigned long long tag);
    int qd_paio_reap(qd_paio *q, int min, int max, unsigned long long *tags,
                     long long *results, int timeout_ms);
    void qd_paio_free(qd_paio *q);
    int qd_paio_bench(qd_paio *q, const int *fds, int nfds, int write, int random, long long bs,
                      int depth, long long nblocks, double seconds, unsigned long long seed,
                      char *buffers, int flush_each, float *lat_us, long long max_lat,
                      qd_bench_stats *st);
""")
ffi_posix.set_source("qdrive.backends._posix_cffi", r"""
#include <aio.h>
#include <errno.h>
#include <signal.h>
#include <sys/uio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct qd_paio {
    struct aiocb *cbs; unsigned long long *tags; char *used; int cap; int efd; int inflight;
    const struct aiocb **wait;
} qd_paio;

/* glibc runs this in a helper thread when a request finishes: wake the event loop. */
static void qd_paio_notify(union sigval sv) {
    uint64_t one = 1;
    ssize_t r = write(sv.sival_int, &one, sizeof one);
    (void)r;
}

qd_paio *qd_paio_new(int capacity, int efd, int *err) {
    qd_paio *q = calloc(1, sizeof *q);
    if (!q) { *err = ENOMEM; return NULL; }
    q->cap = capacity; q->efd = efd;
    q->cbs = calloc(capacity, sizeof *q->cbs); q->tags = calloc(capacity, sizeof *q->tags);
    q->used = calloc(capacity, 1); q->wait = calloc(capacity, sizeof *q->wait);
    if (!q->cbs || !q->tags || !q->used || !q->wait) { *err = ENOMEM; qd_paio_free(q); return NULL; }
    return q;
}

int qd_paio_submit(qd_paio *q, int fd, int op, long long offset, void *buf, size_t len,
                   unsigned long long tag) {
    int slot = -1;
    for (int i = 0; i < q->cap; i++) if (!q->used[i]) { slot = i; break; }
    if (slot < 0) return -EAGAIN;
    struct aiocb *cb = &q->cbs[slot];
    memset(cb, 0, sizeof *cb);
    cb->aio_fildes = fd; cb->aio_offset = offset; cb->aio_buf = buf; cb->aio_nbytes = len;
    if (q->efd >= 0) {
        cb->aio_sigevent.sigev_notify = SIGEV_THREAD;
        cb->aio_sigevent.sigev_notify_function = qd_paio_notify;
        cb->aio_sigevent.sigev_value.sival_int = q->efd;
    } else {
        cb->aio_sigevent.sigev_notify = SIGEV_NONE;
    }
    int r;
    do r = op ? aio_write(cb) : aio_read(cb); while (r < 0 && (errno == EAGAIN || errno == EINTR));
    if (r < 0) return -errno;
    q->used[slot] = 1; q->tags[slot] = tag; q->inflight++;
    return slot;
}

static int qd_paio_collect(qd_paio *q, int max, unsigned long long *tags, long long *results) {
    int got = 0;
    for (int i = 0; i < q->cap && got < max; i++) {
        if (!q->used[i]) continue;
        int e = aio_error(&q->cbs[i]);
        if (e == EINPROGRESS) continue;
        ssize_t r = aio_return(&q->cbs[i]);
        tags[got] = q->tags[i];
        results[got] = e ? -(long long)e : (long long)r;
        q->used[i] = 0; q->inflight--; got++;
    }
    return got;
}

int qd_paio_reap(qd_paio *q, int min, int max, unsigned long long *tags, long long *results,
                 int timeout_ms) {
    int got = qd_paio_collect(q, max, tags, results);
    while (got < min && q->inflight > 0) {
        int n = 0;
        for (int i = 0; i < q->cap; i++) if (q->used[i]) q->wait[n++] = &q->cbs[i];
        struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
        int r = aio_suspend(q->wait, n, timeout_ms < 0 ? NULL : &ts);
        if (r < 0 && errno == EAGAIN) break;  /* timed out */
        got += qd_paio_collect(q, max - got, tags + got, results + got);
    }
    return got;
}

void qd_paio_free(qd_paio *q) {
    if (!q) return;
    free(q->cbs); free(q->tags); free(q->used); free(q->wait); free(q);
}

""" + _BENCH_C + r"""

/* The seed's posix-aio workload in C: `depth` aiocbs in flight, each on the least busy of
   `fds` (the image descriptor and its dup()s, the seed's fd pool), aio_suspend to wait. */
int qd_paio_bench(qd_paio *q, const int *fds, int nfds, int write, int random, long long bs,
                  int depth, long long nblocks, double seconds, unsigned long long seed,
                  char *buffers, int flush_each, float *lat_us, long long max_lat,
                  qd_bench_stats *st) {
    if (depth > q->cap || nfds < 1 || nfds > 64) return -EINVAL;
    unsigned long long x = seed | 1; long long seq = 0;
    int busy[64] = {0}; int *fd_of = calloc(depth, sizeof(int));
    double *start = calloc(depth, sizeof *start);
    if (!fd_of || !start) return -ENOMEM;
    memset(st, 0, sizeof *st);
    double t0 = qd_now(), deadline = t0 + seconds * 1e9;
    int inflight = 0;
    for (int i = 0; i < depth; i++) {
        int f = 0;
        for (int k = 1; k < nfds; k++) if (busy[k] < busy[f]) f = k;
        struct aiocb *cb = &q->cbs[i];
        memset(cb, 0, sizeof *cb);
        cb->aio_fildes = fds[f]; cb->aio_buf = buffers + i * bs; cb->aio_nbytes = bs;
        cb->aio_offset = random ? (long long)(qd_next(&x) % nblocks) * bs : (seq++ % nblocks) * bs;
        cb->aio_sigevent.sigev_notify = SIGEV_NONE;
        double s0 = qd_now();
        if ((write ? aio_write(cb) : aio_read(cb)) < 0) { free(fd_of); free(start); return -errno; }
        st->submit_ns += qd_now() - s0;
        busy[f]++; fd_of[i] = f; start[i] = s0; q->used[i] = 1; inflight++;
    }
    while (inflight > 0) {
        int n = 0;
        for (int i = 0; i < depth; i++) if (q->used[i]) q->wait[n++] = &q->cbs[i];
        if (aio_suspend(q->wait, n, NULL) < 0 && errno != EINTR) break;
        double now = qd_now();
        for (int i = 0; i < depth; i++) {
            if (!q->used[i] || aio_error(&q->cbs[i]) == EINPROGRESS) continue;
            ssize_t r = aio_return(&q->cbs[i]);
            if (r != bs) { if (!st->errors++) st->first_error = r < 0 ? errno : ENOSPC; }
            else if (flush_each && write) { fdatasync(fds[0]); now = qd_now(); }
            if (max_lat) lat_us[st->ios % max_lat] = (float)((now - start[i]) / 1e3);
            st->ios++; inflight--; busy[fd_of[i]]--; q->used[i] = 0;
            if (now >= deadline) continue;
            int f = 0;
            for (int k = 1; k < nfds; k++) if (busy[k] < busy[f]) f = k;
            struct aiocb *cb = &q->cbs[i];
            memset(cb, 0, sizeof *cb);
            cb->aio_fildes = fds[f]; cb->aio_buf = buffers + i * bs; cb->aio_nbytes = bs;
            cb->aio_offset = random ? (long long)(qd_next(&x) % nblocks) * bs
                                    : (seq++ % nblocks) * bs;
            cb->aio_sigevent.sigev_notify = SIGEV_NONE;
            double s0 = qd_now();
            if ((write ? aio_write(cb) : aio_read(cb)) < 0) continue;
            st->submit_ns += qd_now() - s0;
            busy[f]++; fd_of[i] = f; start[i] = s0; q->used[i] = 1; inflight++;
        }
    }
    st->seconds = (qd_now() - t0) / 1e9;
    free(fd_of); free(start);
    return 0;
}
""", libraries=["rt"])


# ---- the thread pool (pthreads) ----------------------------------------------------------------
ffi_threads = FFI()
ffi_threads.cdef(_COMMON_CDEF + """
    typedef struct qd_tpool qd_tpool;
    qd_tpool *qd_tpool_new(int fd, int workers, int capacity, int efd, int writethrough,
                           int no_flush, int *err);
    int qd_tpool_submit(qd_tpool *p, int n, const int *ops, const long long *offsets,
                        struct iovec **iovs, const int *iovcnts,
                        const unsigned long long *tags);
    int qd_tpool_reap(qd_tpool *p, int min, int max, unsigned long long *tags,
                      long long *results, int timeout_ms);
    void qd_tpool_free(qd_tpool *p);
    int qd_tpool_bench(qd_tpool *p, int write, int random, long long bs, int depth,
                       long long nblocks, double seconds, unsigned long long seed,
                       char *buffers, int flush_each, float *lat_us, long long max_lat,
                       qd_bench_stats *st);
    int qd_tpool_submit_fd(qd_tpool *p, int fd, int n, const int *ops,
                           const long long *offsets, struct iovec **iovs, const int *iovcnts,
                           const unsigned long long *tags);
    int qd_tpool_bench_fd(qd_tpool *p, int fd, int write, int random, long long bs, int depth,
                          long long nblocks, double seconds, unsigned long long seed,
                          char *buffers, int flush_each, int submit_batch, float *lat_us,
                          long long max_lat, qd_bench_stats *st);
""")
ffi_threads.set_source("qdrive.backends._threads_cffi", r"""
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

typedef struct { int op; long long offset; struct iovec *iov; int iovcnt;
                 unsigned long long tag; long long result; } qd_job;

typedef struct qd_tpool {
    int fd, efd, writethrough, no_flush, nworkers, cap, stop;
    pthread_t *threads;
    pthread_mutex_t lock; pthread_cond_t work, done;
    qd_job *todo; int todo_head, todo_len;   /* ring of requests */
    qd_job *fin; int fin_head, fin_len;      /* ring of completions */
} qd_tpool;

/* One request to completion: the full length or -errno (block/file-posix.c). */
static long long qd_rw(int fd, int write, struct iovec *iov, int cnt, long long off) {
    long long total = 0, done = 0;
    for (int i = 0; i < cnt; i++) total += iov[i].iov_len;
    struct iovec local[64];
    if (cnt > 64) cnt = 64;
    memcpy(local, iov, cnt * sizeof *iov);
    struct iovec *v = local;
    while (done < total) {
        ssize_t r = write ? pwritev(fd, v, cnt, off + done) : preadv(fd, v, cnt, off + done);
        if (r < 0) { if (errno == EINTR || errno == EAGAIN) continue; return -errno; }
        if (r == 0) {
            if (write) return -ENOSPC;
            for (int i = 0; i < cnt; i++) memset(v[i].iov_base, 0, v[i].iov_len);  /* EOF */
            return total;
        }
        done += r;
        while (cnt && (size_t)r >= v->iov_len) { r -= v->iov_len; v++; cnt--; }
        if (cnt) { v->iov_base = (char *)v->iov_base + r; v->iov_len -= r; }
    }
    return total;
}

static void *qd_worker(void *arg) {
    qd_tpool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {  /* the lock is held at the top of the loop: one lock round trip per job */
        while (!p->todo_len && !p->stop) pthread_cond_wait(&p->work, &p->lock);
        if (!p->todo_len) { pthread_mutex_unlock(&p->lock); return NULL; }
        qd_job job = p->todo[p->todo_head];
        p->todo_head = (p->todo_head + 1) % p->cap; p->todo_len--;
        pthread_mutex_unlock(&p->lock);
        if (job.op == 2) job.result = p->no_flush ? 0 : (fdatasync(p->fd) ? -errno : 0);
        else {
            job.result = qd_rw(p->fd, job.op, job.iov, job.iovcnt, job.offset);
            if (job.op == 1 && job.result >= 0 && p->writethrough && fdatasync(p->fd))
                job.result = -errno;
        }
        if (p->efd >= 0) { uint64_t one = 1; ssize_t w = write(p->efd, &one, 8); (void)w; }
        pthread_mutex_lock(&p->lock);
        p->fin[(p->fin_head + p->fin_len) % p->cap] = job; p->fin_len++;
        pthread_cond_signal(&p->done);
    }
}

qd_tpool *qd_tpool_new(int fd, int workers, int capacity, int efd, int writethrough,
                       int no_flush, int *err) {
    qd_tpool *p = calloc(1, sizeof *p);
    if (!p) { *err = ENOMEM; return NULL; }
    p->fd = fd; p->efd = efd; p->writethrough = writethrough; p->no_flush = no_flush;
    p->cap = capacity;
    p->todo = calloc(capacity, sizeof *p->todo); p->fin = calloc(capacity, sizeof *p->fin);
    p->threads = calloc(workers, sizeof *p->threads);
    if (!p->todo || !p->fin || !p->threads) { *err = ENOMEM; qd_tpool_free(p); return NULL; }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL); pthread_cond_init(&p->done, NULL);
    for (int i = 0; i < workers; i++) {
        int r = pthread_create(&p->threads[i], NULL, qd_worker, p);
        if (r) { *err = r; qd_tpool_free(p); return NULL; }
        p->nworkers++;
    }
    return p;
}

int qd_tpool_submit(qd_tpool *p, int n, const int *ops, const long long *offsets,
                    struct iovec **iovs, const int *iovcnts, const unsigned long long *tags) {
    pthread_mutex_lock(&p->lock);
    if (p->todo_len + n > p->cap) { pthread_mutex_unlock(&p->lock); return -EAGAIN; }
    for (int i = 0; i < n; i++) {
        qd_job *j = &p->todo[(p->todo_head + p->todo_len) % p->cap];
        j->op = ops[i]; j->offset = offsets[i]; j->iov = iovs[i]; j->iovcnt = iovcnts[i];
        j->tag = tags[i]; j->result = 0;
        p->todo_len++;
    }
    for (int i = 0; i < n; i++) pthread_cond_signal(&p->work);  /* one waiter per job */
    pthread_mutex_unlock(&p->lock);
    return n;
}

int qd_tpool_reap(qd_tpool *p, int min, int max, unsigned long long *tags, long long *results,
                  int timeout_ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000; until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
    pthread_mutex_lock(&p->lock);
    while (p->fin_len < min) {
        int r = timeout_ms < 0 ? pthread_cond_wait(&p->done, &p->lock)
                               : pthread_cond_timedwait(&p->done, &p->lock, &until);
        if (r == ETIMEDOUT) break;
    }
    int got = 0;
    while (got < max && p->fin_len) {
        qd_job *j = &p->fin[p->fin_head];
        tags[got] = j->tag; results[got] = j->result; got++;
        p->fin_head = (p->fin_head + 1) % p->cap; p->fin_len--;
    }
    pthread_mutex_unlock(&p->lock);
    return got;
}

void qd_tpool_free(qd_tpool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock); p->stop = 1;
    pthread_cond_broadcast(&p->work); pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nworkers; i++) pthread_join(p->threads[i], NULL);
    free(p->todo); free(p->fin); free(p->threads); free(p);
}
""" + _BENCH_C + r"""

/* The benchmark's loop in C over the pool: keep `depth` requests queued. */
int qd_tpool_bench(qd_tpool *p, int write, int random, long long bs, int depth,
                   long long nblocks, double seconds, unsigned long long seed, char *buffers,
                   int flush_each, float *lat_us, long long max_lat, qd_bench_stats *st) {
    (void)flush_each;  /* the pool's writethrough setting already flushes */
    unsigned long long x = seed | 1; long long seq = 0;
    struct iovec *iov = calloc(depth, sizeof *iov);
    double *start = calloc(depth, sizeof *start);
    int *ops = calloc(depth, sizeof *ops); long long *offs = calloc(depth, sizeof *offs);
    struct iovec **iovs = calloc(depth, sizeof *iovs); int *cnts = calloc(depth, sizeof *cnts);
    unsigned long long *tags = calloc(depth, sizeof *tags);
    long long *res = calloc(depth, sizeof *res);
    if (!iov || !start || !ops || !offs || !iovs || !cnts || !tags || !res) return -ENOMEM;
    memset(st, 0, sizeof *st);
    double t0 = qd_now(), deadline = t0 + seconds * 1e9;
    for (int i = 0; i < depth; i++) {
        iov[i].iov_base = buffers + i * bs; iov[i].iov_len = bs;
        ops[i] = write; iovs[i] = &iov[i]; cnts[i] = 1; tags[i] = i; start[i] = t0;
        offs[i] = random ? (long long)(qd_next(&x) % nblocks) * bs : (seq++ % nblocks) * bs;
    }
    qd_tpool_submit(p, depth, ops, offs, iovs, cnts, tags);
    int inflight = depth;
    while (inflight > 0) {
        int n = qd_tpool_reap(p, 1, depth, tags, res, -1);
        double now = qd_now();
        int k = 0;
        for (int e = 0; e < n; e++) {
            int i = (int)tags[e];
            if (res[e] != bs) { if (!st->errors++) st->first_error = res[e] < 0 ? (int)-res[e] : ENOSPC; }
            if (max_lat) lat_us[st->ios % max_lat] = (float)((now - start[i]) / 1e3);
            st->ios++; inflight--;
            if (now < deadline) {
                offs[k] = random ? (long long)(qd_next(&x) % nblocks) * bs : (seq++ % nblocks) * bs;
                iovs[k] = &iov[i]; tags[k] = i; start[i] = now; k++;
            }
        }
        if (k) {
            double s0 = qd_now();
            qd_tpool_submit(p, k, ops, offs, iovs, cnts, tags);
            st->submit_ns += qd_now() - s0;
            inflight += k;
        }
    }
    st->seconds = (qd_now() - t0) / 1e9;
    free(iov); free(start); free(ops); free(offs); free(iovs); free(cnts); free(tags); free(res);
    return 0;
}

/* The same calls in the shape the other engines have (the pool knows its descriptor). */
int qd_tpool_submit_fd(qd_tpool *p, int fd, int n, const int *ops, const long long *offsets,
                       struct iovec **iovs, const int *iovcnts, const unsigned long long *tags) {
    (void)fd;
    return qd_tpool_submit(p, n, ops, offsets, iovs, iovcnts, tags);
}

int qd_tpool_bench_fd(qd_tpool *p, int fd, int write, int random, long long bs, int depth,
                      long long nblocks, double seconds, unsigned long long seed, char *buffers,
                      int flush_each, int submit_batch, float *lat_us, long long max_lat,
                      qd_bench_stats *st) {
    (void)fd; (void)submit_batch;  /* the pool hands each reaped batch over at once */
    return qd_tpool_bench(p, write, random, bs, depth, nblocks, seconds, seed, buffers,
                          flush_each, lat_us, max_lat, st);
}
""", libraries=["pthread"])
