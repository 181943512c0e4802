/* Linux native AIO through libaio: one context of `depth` iocbs per device, completion
 * through an eventfd attached to every iocb (block/linux-aio.c, laio_do_submit). */
#define _GNU_SOURCE
#include "qd_engines.h"

#include <errno.h>
#include <libaio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct qd_laio {
    io_context_t ctx;
    int efd, depth;
    struct iocb *cbs;          /* one per slot */
    struct iocb **ptrs;        /* io_submit's argument */
    struct io_event *events;
    int *free_slots, nfree;
    int bench_queued;          /* the benchmark's slots waiting for a kick */
};

void qd_laio_free(qd_laio *q) {
    if (!q) return;
    if (q->ctx) {
        /* Wait for what the kernel still has: it may write into the callers' buffers. */
        while (q->nfree < q->depth) {
            int r = io_getevents(q->ctx, 1, q->depth, q->events, NULL);
            if (r == -EINTR) continue;
            if (r < 0) break;
            for (int i = 0; i < r; i++) q->free_slots[q->nfree++] = (int)(q->events[i].obj - q->cbs);
        }
        io_destroy(q->ctx);  /* also waits for anything left, by the kernel's contract */
    }
    free(q->cbs);
    free(q->ptrs);
    free(q->events);
    free(q->free_slots);
    free(q);
}

qd_laio *qd_laio_new(int depth, int efd, int *err) {
    qd_laio *q = calloc(1, sizeof *q);
    if (!q) { *err = ENOMEM; return NULL; }
    q->depth = depth;
    q->efd = efd;
    q->cbs = calloc((size_t)depth, sizeof *q->cbs);
    q->ptrs = calloc((size_t)depth, sizeof *q->ptrs);
    q->events = calloc((size_t)depth, sizeof *q->events);
    q->free_slots = calloc((size_t)depth, sizeof(int));
    int r = (q->cbs && q->ptrs && q->events && q->free_slots) ? io_setup(depth, &q->ctx) : -ENOMEM;
    if (r < 0) { *err = -r; q->ctx = 0; qd_laio_free(q); return NULL; }
    for (int i = 0; i < depth; i++) q->free_slots[i] = depth - 1 - i;
    q->nfree = depth;
    return q;
}

/* io_submit until all `n` prepared iocbs in q->ptrs went in; the number taken, or
 * -errno if none was. EAGAIN (the kernel lacks resources now) ends the call early: the
 * caller keeps the rest queued. */
static int submit_prepared(qd_laio *q, int n) {
    int done = 0;
    while (done < n) {
        int r = io_submit(q->ctx, n - done, q->ptrs + done);
        if (r == -EINTR) continue;
        if (r <= 0) return done ? done : (r ? r : -EAGAIN);
        done += r;
    }
    return done;
}

int qd_laio_submit(qd_laio *q, int fd, int n, const int *ops, const long long *offsets,
                   struct iovec **iovs, const int *iovcnts, const unsigned long long *tags) {
    if (n > q->nfree) n = q->nfree;
    if (n <= 0) return 0;
    for (int i = 0; i < n; i++) {
        struct iocb *cb = &q->cbs[q->free_slots[q->nfree - 1 - i]];
        int cnt = iovcnts[i] > QD_IOV_MAX ? QD_IOV_MAX : iovcnts[i];
        if (ops[i] == QD_OP_FLUSH) io_prep_fdsync(cb, fd);  /* EINVAL if unsupported */
        else if (ops[i] == QD_OP_WRITE) io_prep_pwritev(cb, fd, iovs[i], cnt, offsets[i]);
        else io_prep_preadv(cb, fd, iovs[i], cnt, offsets[i]);
        if (q->efd >= 0) io_set_eventfd(cb, q->efd);
        cb->data = (void *)(uintptr_t)tags[i];
        q->ptrs[i] = cb;
    }
    int done = submit_prepared(q, n);
    if (done > 0) q->nfree -= done;  /* the first `done` slots from the top went in */
    return done;
}

int qd_laio_reap(qd_laio *q, int min, int max, unsigned long long *tags, long long *results,
                 int timeout_ms) {
    struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
    if (max > q->depth) max = q->depth;
    if (min > max) min = max;
    int r;
    do r = io_getevents(q->ctx, min, max, q->events, timeout_ms < 0 ? NULL : &ts);
    while (r == -EINTR);
    if (r < 0) return r;
    for (int i = 0; i < r; i++) {
        struct io_event *ev = &q->events[i];
        tags[i] = (unsigned long long)(uintptr_t)ev->data;
        results[i] = (long long)(long)ev->res;
        q->free_slots[q->nfree++] = (int)(ev->obj - q->cbs);
    }
    return r;
}

/* ---- the benchmark: slot i is iocb i, the context otherwise idle ---------------------- */

typedef struct { qd_laio *q; int fd; } laio_bench;

static int laio_queue(void *self, int slot, int write, char *buf, long long bs, long long off) {
    laio_bench *b = self;
    struct iocb *cb = &b->q->cbs[slot];
    if (write) io_prep_pwrite(cb, b->fd, buf, (size_t)bs, off);
    else io_prep_pread(cb, b->fd, buf, (size_t)bs, off);
    cb->data = (void *)(uintptr_t)slot;
    b->q->ptrs[b->q->bench_queued++] = cb;
    return 0;
}

/* The write-through flush as one more iocb (IOCB_CMD_FDSYNC: the kernel runs
 * vfs_fsync_range(datasync) in a worker, so the ring keeps going meanwhile); its slot is
 * below the context's depth (qd_bench_run keeps depth + 1 <= capacity). */
static int laio_flush(void *self, int slot) {
    laio_bench *b = self;
    struct iocb *cb = &b->q->cbs[slot];
    io_prep_fdsync(cb, b->fd);
    cb->data = (void *)(uintptr_t)slot;
    b->q->ptrs[b->q->bench_queued++] = cb;
    return 0;
}

static int laio_kick(void *self) {
    laio_bench *b = self;
    int n = b->q->bench_queued, r = 0;
    while (r >= 0 && n > 0) {  /* EAGAIN here: the ring is ours alone, so retry */
        r = submit_prepared(b->q, n);
        if (r == -EAGAIN) { r = 0; continue; }
        if (r > 0) {
            memmove(b->q->ptrs, b->q->ptrs + r, (size_t)(n - r) * sizeof *b->q->ptrs);
            n -= r;
        }
    }
    b->q->bench_queued = 0;
    return r < 0 ? r : 0;
}

static int laio_wait(void *self, int max, int *slots, long long *results) {
    laio_bench *b = self;
    int r;
    do r = io_getevents(b->q->ctx, 1, max, b->q->events, NULL);
    while (r == -EINTR);
    for (int i = 0; i < r; i++) {
        slots[i] = (int)(uintptr_t)b->q->events[i].data;
        results[i] = (long long)(long)b->q->events[i].res;
    }
    return r;
}

int qd_laio_bench(qd_laio *q, int fd, const qd_bench_args *a, qd_bench_stats *st) {
    if (q->nfree != q->depth) return -EBUSY;
    laio_bench b = { q, fd };
    qd_bench_engine e = { &b, q->depth, laio_queue, laio_flush, laio_kick, laio_wait };
    q->bench_queued = 0;
    return qd_bench_run(&e, a, st);
}
