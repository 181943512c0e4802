/* glibc POSIX AIO (aio_read/aio_write) with a completion list of our own.
 *
 * glibc calls notify() in a helper thread when a request is done (SIGEV_THREAD). The
 * notifier is where a request completes: under the engine's lock it takes the result,
 * writes the eventfd and moves the slot to the done list. A request is reaped only
 * after its notifier ran, and qd_paio_free() waits until every notifier has run, so no
 * notifier outlives the engine or writes the eventfd after the caller closed it (a late
 * write through a reused descriptor number would land in whatever file got it). */
#define _GNU_SOURCE
#include "qd_engines.h"

#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct paio_slot {
    struct aiocb cb;
    struct qd_paio *q;
    unsigned long long tag;
    long long result;
} paio_slot;

struct qd_paio {
    paio_slot *slots;
    int cap, efd;
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    int *free_slots, nfree;   /* slots not in use */
    int *done, ndone;         /* slots completed, not reaped, in completion order */
    int outstanding;          /* submitted, notifier not yet finished */
    int sync_ready;
};

static void notify(union sigval sv) {
    paio_slot *s = sv.sival_ptr;
    qd_paio *q = s->q;
    int e = aio_error(&s->cb);
    ssize_t r = aio_return(&s->cb);
    pthread_mutex_lock(&q->lock);
    s->result = e ? -(long long)e : (long long)r;
    if (q->efd >= 0) {
        uint64_t one = 1;
        ssize_t w;
        do w = write(q->efd, &one, sizeof one); while (w < 0 && errno == EINTR);
        /* EAGAIN: the counter is at its maximum, the reader is woken anyway. */
    }
    q->done[q->ndone++] = (int)(s - q->slots);
    q->outstanding--;
    pthread_cond_broadcast(&q->done_cond);
    pthread_mutex_unlock(&q->lock);  /* the last touch of the engine's memory */
}

void qd_paio_free(qd_paio *q) {
    if (!q) return;
    if (q->sync_ready) {
        pthread_mutex_lock(&q->lock);
        while (q->outstanding > 0) pthread_cond_wait(&q->done_cond, &q->lock);
        pthread_mutex_unlock(&q->lock);
        pthread_cond_destroy(&q->done_cond);
        pthread_mutex_destroy(&q->lock);
    }
    free(q->slots);
    free(q->free_slots);
    free(q->done);
    free(q);
}

qd_paio *qd_paio_new(int capacity, int efd, int *err) {
    qd_paio *q = calloc(1, sizeof *q);
    if (!q) { *err = ENOMEM; return NULL; }
    q->cap = capacity;
    q->efd = efd;
    q->slots = calloc((size_t)capacity, sizeof *q->slots);
    q->free_slots = calloc((size_t)capacity, sizeof(int));
    q->done = calloc((size_t)capacity, sizeof(int));
    if (!q->slots || !q->free_slots || !q->done) { *err = ENOMEM; qd_paio_free(q); return NULL; }
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->done_cond, NULL);
    q->sync_ready = 1;
    for (int i = 0; i < capacity; i++) q->free_slots[i] = capacity - 1 - i;
    q->nfree = capacity;
    return q;
}

/* 0, -EAGAIN when no slot is free (the caller queues), or aio_read/aio_write/aio_fsync's
 * -errno. A flush (QD_OP_FLUSH) is aio_fsync(O_DSYNC): glibc's helper thread runs
 * fdatasync, so a flush is one more request beside the reads and writes (as QEMU's
 * thread-pool.c runs handle_aiocb_flush); `buf` and `len` are unused then. */
int qd_paio_submit(qd_paio *q, int fd, int op, long long offset, void *buf, size_t len,
                   unsigned long long tag) {
    pthread_mutex_lock(&q->lock);
    if (!q->nfree) { pthread_mutex_unlock(&q->lock); return -EAGAIN; }
    int slot = q->free_slots[--q->nfree];
    q->outstanding++;
    pthread_mutex_unlock(&q->lock);
    paio_slot *s = &q->slots[slot];
    memset(&s->cb, 0, sizeof s->cb);
    s->q = q;
    s->tag = tag;
    s->cb.aio_fildes = fd;
    s->cb.aio_offset = offset;
    s->cb.aio_buf = buf;
    s->cb.aio_nbytes = len;
    s->cb.aio_sigevent.sigev_notify = SIGEV_THREAD;
    s->cb.aio_sigevent.sigev_notify_function = notify;
    s->cb.aio_sigevent.sigev_value.sival_ptr = s;
    int r;
    do r = op == QD_OP_FLUSH ? aio_fsync(O_DSYNC, &s->cb)
           : op == QD_OP_WRITE ? aio_write(&s->cb) : aio_read(&s->cb);
    while (r < 0 && errno == EINTR);
    if (r == 0) return 0;
    r = -errno;  /* not queued: no notifier will come for this slot */
    pthread_mutex_lock(&q->lock);
    q->free_slots[q->nfree++] = slot;
    q->outstanding--;
    pthread_cond_broadcast(&q->done_cond);
    pthread_mutex_unlock(&q->lock);
    return r;
}

static void deadline_after(struct timespec *until, int timeout_ms) {
    clock_gettime(CLOCK_REALTIME, until);
    until->tv_sec += timeout_ms / 1000;
    until->tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until->tv_nsec >= 1000000000L) { until->tv_sec++; until->tv_nsec -= 1000000000L; }
}

int qd_paio_reap(qd_paio *q, int min, int max, unsigned long long *tags, long long *results,
                 int timeout_ms) {
    struct timespec until;
    if (timeout_ms >= 0) deadline_after(&until, timeout_ms);
    pthread_mutex_lock(&q->lock);
    if (min > q->ndone + q->outstanding) min = q->ndone + q->outstanding;
    while (q->ndone < min) {
        int r = timeout_ms < 0 ? pthread_cond_wait(&q->done_cond, &q->lock)
                               : pthread_cond_timedwait(&q->done_cond, &q->lock, &until);
        if (r == ETIMEDOUT) break;
    }
    int got = q->ndone < max ? q->ndone : max;
    for (int i = 0; i < got; i++) {
        paio_slot *s = &q->slots[q->done[i]];
        tags[i] = s->tag;
        results[i] = s->result;
        q->free_slots[q->nfree++] = q->done[i];
    }
    memmove(q->done, q->done + got, (size_t)(q->ndone - got) * sizeof *q->done);
    q->ndone -= got;
    pthread_mutex_unlock(&q->lock);
    return got;
}

/* ---- the benchmark: the seed's workload, aio_suspend and SIGEV_NONE ------------------ */

#define PAIO_MAX_FDS 64

typedef struct {
    qd_paio *q;
    const int *fds;
    int nfds;
    int busy[PAIO_MAX_FDS];
    int *fd_of;              /* the pool index each slot went to */
    char *used;
    const struct aiocb **wait;
} paio_bench;

static int paio_queue(void *self, int slot, int write, char *buf, long long bs, long long off) {
    paio_bench *b = self;
    int f = 0;  /* the seed's rule: the least busy descriptor of the pool, the first on ties */
    for (int k = 1; k < b->nfds; k++) if (b->busy[k] < b->busy[f]) f = k;
    struct aiocb *cb = &b->q->slots[slot].cb;
    memset(cb, 0, sizeof *cb);
    cb->aio_fildes = b->fds[f];
    cb->aio_buf = buf;
    cb->aio_nbytes = (size_t)bs;
    cb->aio_offset = off;
    cb->aio_sigevent.sigev_notify = SIGEV_NONE;
    int r;
    do r = write ? aio_write(cb) : aio_read(cb); while (r < 0 && (errno == EINTR || errno == EAGAIN));
    if (r < 0) return -errno;
    b->busy[f]++;
    b->fd_of[slot] = f;
    b->used[slot] = 1;
    return 0;
}

/* The write-through flush as one more request (aio_fsync(O_DSYNC): glibc's helper
 * thread runs fdatasync), on the first descriptor: they all share one open file. */
static int paio_flush(void *self, int slot) {
    paio_bench *b = self;
    struct aiocb *cb = &b->q->slots[slot].cb;
    memset(cb, 0, sizeof *cb);
    cb->aio_fildes = b->fds[0];
    cb->aio_sigevent.sigev_notify = SIGEV_NONE;
    int r;
    do r = aio_fsync(O_DSYNC, cb); while (r < 0 && (errno == EINTR || errno == EAGAIN));
    if (r < 0) return -errno;
    b->fd_of[slot] = -1;
    b->used[slot] = 1;
    return 0;
}

static int paio_kick(void *self) {  /* aio_read/aio_write already started each request */
    (void)self;
    return 0;
}

static int paio_wait(void *self, int max, int *slots, long long *results) {
    paio_bench *b = self;
    for (;;) {
        int n = 0, got = 0;
        for (int i = 0; i < b->q->cap; i++) if (b->used[i]) b->wait[n++] = &b->q->slots[i].cb;
        if (!n) return 0;
        if (aio_suspend(b->wait, n, NULL) < 0 && errno != EINTR) return -errno;
        for (int i = 0; i < b->q->cap && got < max; i++) {
            struct aiocb *cb = &b->q->slots[i].cb;
            if (!b->used[i] || aio_error(cb) == EINPROGRESS) continue;
            int e = aio_error(cb);
            ssize_t r = aio_return(cb);
            slots[got] = i;
            results[got++] = e ? -(long long)e : (long long)r;
            b->used[i] = 0;
            if (b->fd_of[i] >= 0) b->busy[b->fd_of[i]]--;
        }
        if (got) return got;
    }
}

int qd_paio_bench(qd_paio *q, const int *fds, int nfds, const qd_bench_args *a,
                  qd_bench_stats *st) {
    if (nfds < 1 || nfds > PAIO_MAX_FDS) return -EINVAL;
    pthread_mutex_lock(&q->lock);
    int idle = q->nfree == q->cap && q->outstanding == 0 && q->ndone == 0;
    pthread_mutex_unlock(&q->lock);
    if (!idle) return -EBUSY;
    paio_bench b = { q, fds, nfds, {0}, calloc((size_t)q->cap, sizeof(int)),
                     calloc((size_t)q->cap, 1), calloc((size_t)q->cap, sizeof(struct aiocb *)) };
    int r = -ENOMEM;
    if (b.fd_of && b.used && b.wait) {
        qd_bench_engine e = { &b, q->cap, paio_queue, paio_flush, paio_kick, paio_wait };
        r = qd_bench_run(&e, a, st);
    }
    free(b.fd_of);
    free(b.used);
    free(b.wait);
    return r;
}
