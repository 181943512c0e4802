/* io_uring through liburing: one ring per device with its eventfd registered, batched
 * submission (block/io_uring.c). The caller keeps at most `depth` requests in flight,
 * so the completion ring (twice the submission ring) can never overflow. */
#define _GNU_SOURCE
#include "qd_engines.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct qd_uring {
    struct io_uring ring;
    int ready;
    unsigned depth;
    int inflight;   /* requests whose completion has not been reaped */
};

/* Push queued SQEs to the kernel. SQEs it does not take stay in the ring and go with
 * the next call (reap calls this before it waits), so none is ever lost. */
static int flush_sq(qd_uring *q) {
    while (io_uring_sq_ready(&q->ring) > 0) {
        int r = io_uring_submit(&q->ring);
        if (r == -EINTR) continue;
        if (r == -EAGAIN || r == -EBUSY || r == 0) return 0;  /* try again at the next call */
        if (r < 0) return r;
    }
    return 0;
}

void qd_uring_free(qd_uring *q) {
    if (!q) return;
    if (q->ready) {
        /* Wait for every request in the kernel: it may still write the callers' buffers. */
        while (q->inflight > 0) {
            struct io_uring_cqe *cqe;
            if (flush_sq(q) < 0) break;
            int r = io_uring_wait_cqe(&q->ring, &cqe);
            if (r == -EINTR) continue;
            if (r < 0) break;
            io_uring_cqe_seen(&q->ring, cqe);
            q->inflight--;
        }
        io_uring_queue_exit(&q->ring);
    }
    free(q);
}

qd_uring *qd_uring_new(unsigned depth, int efd, int *err) {
    qd_uring *q = calloc(1, sizeof *q);
    if (!q) { *err = ENOMEM; return NULL; }
    int r = io_uring_queue_init(depth, &q->ring, 0);
    if (r < 0) { *err = -r; free(q); return NULL; }
    q->ready = 1;
    q->depth = depth;
    if (efd >= 0 && (r = io_uring_register_eventfd(&q->ring, efd)) < 0) {
        *err = -r;
        qd_uring_free(q);
        return NULL;
    }
    return q;
}

int qd_uring_submit(qd_uring *q, int fd, int n, const int *ops, const long long *offsets,
                    struct iovec **iovs, const int *iovcnts, const unsigned long long *tags) {
    int taken = 0;
    for (; taken < n; taken++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
        if (!sqe) break;  /* the ring is full: the caller keeps the rest queued */
        unsigned cnt = (unsigned)(iovcnts[taken] > QD_IOV_MAX ? QD_IOV_MAX : iovcnts[taken]);
        /* A flush is one more SQE (block/io_uring.c luring_do_submit: QEMU_AIO_FLUSH is
           IORING_OP_FSYNC with IORING_FSYNC_DATASYNC); the kernel runs it in a worker. */
        if (ops[taken] == QD_OP_FLUSH) io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
        else if (ops[taken] == QD_OP_WRITE)
            io_uring_prep_writev(sqe, fd, iovs[taken], cnt, (__u64)offsets[taken]);
        else io_uring_prep_readv(sqe, fd, iovs[taken], cnt, (__u64)offsets[taken]);
        io_uring_sqe_set_data64(sqe, tags[taken]);
    }
    q->inflight += taken;
    int r = flush_sq(q);
    return r < 0 && taken == 0 ? r : taken;
}

int qd_uring_reap(qd_uring *q, int min, int max, unsigned long long *tags, long long *results,
                  int timeout_ms) {
    int r = flush_sq(q);
    if (r < 0) return r;
    struct io_uring_cqe *cqe;
    int got = 0;
    while (got < max) {
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
        if (r < 0) {
            if (got) break;
            return r;
        }
        tags[got] = io_uring_cqe_get_data64(cqe);
        results[got] = cqe->res;
        io_uring_cqe_seen(&q->ring, cqe);
        got++;
    }
    q->inflight -= got;
    return got;
}

/* ---- the benchmark: the ring otherwise idle, slot numbers as user data ---------------- */

typedef struct { qd_uring *q; int fd; } uring_bench;

static int uring_queue(void *self, int slot, int write, char *buf, long long bs, long long off) {
    uring_bench *b = self;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&b->q->ring);
    if (!sqe) {  /* cannot happen with depth <= ring size, but never write through NULL */
        int r = io_uring_submit(&b->q->ring);
        if (r < 0) return r;
        sqe = io_uring_get_sqe(&b->q->ring);
        if (!sqe) return -EAGAIN;
    }
    if (write) io_uring_prep_write(sqe, b->fd, buf, (unsigned)bs, (__u64)off);
    else io_uring_prep_read(sqe, b->fd, buf, (unsigned)bs, (__u64)off);
    io_uring_sqe_set_data64(sqe, (unsigned long long)slot);
    return 0;
}

/* The write-through flush as one more SQE (block/io_uring.c luring_do_submit: QEMU_AIO_FLUSH
 * is IORING_OP_FSYNC with IORING_FSYNC_DATASYNC). */
static int uring_flush(void *self, int slot) {
    uring_bench *b = self;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&b->q->ring);
    if (!sqe) {
        int r = io_uring_submit(&b->q->ring);
        if (r < 0) return r;
        sqe = io_uring_get_sqe(&b->q->ring);
        if (!sqe) return -EAGAIN;
    }
    io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, (unsigned long long)slot);
    return 0;
}

static int uring_kick(void *self) {
    uring_bench *b = self;
    while (io_uring_sq_ready(&b->q->ring) > 0) {
        int r = io_uring_submit(&b->q->ring);
        if (r == -EINTR || r == -EAGAIN || r == -EBUSY) continue;
        if (r < 0) return r;
    }
    return 0;
}

static int uring_wait(void *self, int max, int *slots, long long *results) {
    uring_bench *b = self;
    struct io_uring_cqe *cqe;
    int r;
    do r = io_uring_wait_cqe(&b->q->ring, &cqe);
    while (r == -EINTR);
    if (r < 0) return r;
    int got = 0;
    /* At most `max` per round: a fast buffered write can complete again before the round
       ends, and the loop reads the clock once per round. */
    while (got < max && io_uring_peek_cqe(&b->q->ring, &cqe) == 0) {
        slots[got] = (int)io_uring_cqe_get_data64(cqe);
        results[got] = cqe->res;
        io_uring_cqe_seen(&b->q->ring, cqe);
        got++;
    }
    return got;
}

int qd_uring_bench(qd_uring *q, int fd, const qd_bench_args *a, qd_bench_stats *st) {
    if (q->inflight) return -EBUSY;
    uring_bench b = { q, fd };
    qd_bench_engine e = { &b, (int)q->depth, uring_queue, uring_flush, uring_kick, uring_wait };
    return qd_bench_run(&e, a, st);
}
