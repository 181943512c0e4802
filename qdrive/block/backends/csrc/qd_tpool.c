/* The thread pool in C (util/thread-pool.c: 64 workers doing plain preadv/pwritev).
 *
 * At most `capacity` requests are in the pool at once, counting queued, running and
 * completed-but-unreaped ones: submit takes what fits and the caller queues the rest.
 * Workers run each request to its full length (block/file-posix.c handle_aiocb_rw:
 * continue short transfers, zero-fill at end of file, ENOSPC when a write makes no
 * progress).
 *
 * Hand-offs are what a pool costs over fio's psync jobs (perf on this machine kind: ~3
 * futex calls and ~2.7 context switches per request, most of them mutex waits of
 * workers preempted in a shared critical section), so each is made only when someone
 * waits for it:
 * - a worker takes the lock once per request, to take it from the queue; it hands the
 *   completion back on a lock-free stack (many pushers, one taker that takes it whole);
 * - the reaper is woken only once as many completions are ready as it asked for;
 * - the eventfd is written when the completions go from none to some (whoever reaps
 *   takes them all, and writes it again if it leaves any behind);
 * - a batch wakes as many idle workers as it has requests, not all of them.
 * One caller at a time submits and reaps (the Python core's lock, or the benchmark's
 * own thread): the job table, its free list, `inflight` and `ready` are the caller's. */
#define _GNU_SOURCE
#include "qd_engines.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int op;
    long long offset;
    struct iovec *iov;
    int iovcnt;
    unsigned long long tag;
    long long result;
    int next;                           /* the completion stack's link */
} job;

struct qd_tpool {
    int fd, efd, no_flush, nworkers, cap;
    pthread_t *threads;
    job *jobs;                          /* cap entries, indexed everywhere below */
    /* the caller's */
    int inflight;                       /* submitted and not reaped */
    int *free_jobs, nfree;
    int *ready, ready_head, ready_len;  /* taken from the stack, not yet returned */
    /* the workers' queue, under `lock` */
    pthread_mutex_t lock;
    pthread_cond_t work;
    int *todo, todo_head, todo_len, idle, stop;
    /* completions */
    _Atomic int fin_top;                /* a job index, or -1 */
    _Atomic int fin_count;              /* pushed and not taken (may lag the stack a bit) */
    _Atomic int reap_want;              /* what the waiting reaper needs; INT_MAX: none */
    pthread_mutex_t done_lock;
    pthread_cond_t done;
    int sync_ready;
};

/* Zero every byte of v[0..cnt): the part of a read past end of file. */
static void zero_iov(struct iovec *v, int cnt) {
    for (int i = 0; i < cnt; i++) memset(v[i].iov_base, 0, v[i].iov_len);
}

/* One read or write to completion: its full length or -errno. Works on a copy of the
 * iovecs (the caller's stay untouched) and passes the kernel at most QD_IOV_MAX a call. */
static long long rw_full(int fd, int write, const struct iovec *iov, int cnt, long long off) {
    struct iovec small[64];
    struct iovec *copy = cnt <= 64 ? small : malloc((size_t)cnt * sizeof *copy);
    if (!copy) return -ENOMEM;
    memcpy(copy, iov, (size_t)cnt * sizeof *copy);
    long long total = (long long)qd_iov_total(iov, cnt), done = 0, result = total;
    struct iovec *v = copy;
    while (done < total) {
        while (cnt && v->iov_len == 0) { v++; cnt--; }
        int now = cnt > QD_IOV_MAX ? QD_IOV_MAX : cnt;
        ssize_t r = write ? pwritev(fd, v, now, off + done) : preadv(fd, v, now, off + done);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            result = -errno;
            break;
        }
        if (r == 0) {
            if (write) result = -ENOSPC;
            else zero_iov(v, cnt);
            break;
        }
        done += r;
        while (cnt && (size_t)r >= v->iov_len) { r -= (ssize_t)v->iov_len; v++; cnt--; }
        if (cnt) { v->iov_base = (char *)v->iov_base + r; v->iov_len -= (size_t)r; }
    }
    if (copy != small) free(copy);
    return result;
}

static long long run_job(qd_tpool *p, const job *j) {
    if (j->op == QD_OP_FLUSH) return p->no_flush ? 0 : (fdatasync(p->fd) ? -errno : 0);
    return rw_full(p->fd, j->op == QD_OP_WRITE, j->iov, j->iovcnt, j->offset);
}

static void notify_eventfd(qd_tpool *p) {
    if (p->efd < 0) return;
    uint64_t one = 1;
    ssize_t w;
    do w = write(p->efd, &one, sizeof one); while (w < 0 && errno == EINTR);
}

/* A worker hands job i back: push it, count it, wake whoever waits for it. The push
 * (release) publishes the result; the job is not touched after it. */
static void complete(qd_tpool *p, int i) {
    int top = atomic_load_explicit(&p->fin_top, memory_order_relaxed);
    do p->jobs[i].next = top;
    while (!atomic_compare_exchange_weak_explicit(&p->fin_top, &top, i, memory_order_acq_rel,
                                                  memory_order_relaxed));
    /* seq_cst pairs with the reaper's store of reap_want and load of fin_count: one of
       the two sees the other, so a reaper never sleeps through its last completion. */
    int n = atomic_fetch_add(&p->fin_count, 1) + 1;
    if (n == 1) notify_eventfd(p);
    if (n >= atomic_load(&p->reap_want)) {
        /* Past the lock, the reaper is waiting (or has seen the count and left): the
           signal cannot fall between its check and its wait. */
        pthread_mutex_lock(&p->done_lock);
        pthread_mutex_unlock(&p->done_lock);
        pthread_cond_signal(&p->done);
    }
}

static void *worker(void *arg) {
    qd_tpool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->todo_len && !p->stop) {
            p->idle++;
            pthread_cond_wait(&p->work, &p->lock);
            p->idle--;
        }
        if (!p->todo_len) break;  /* stopping, and nothing left to do */
        int i = p->todo[p->todo_head];
        p->todo_head = (p->todo_head + 1) % p->cap;
        p->todo_len--;
        pthread_mutex_unlock(&p->lock);
        p->jobs[i].result = run_job(p, &p->jobs[i]);
        complete(p, i);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void qd_tpool_free(qd_tpool *p) {
    if (!p) return;
    if (p->sync_ready) {
        /* Workers finish every queued request before they stop: none is dropped, and no
           buffer goes back while a worker may still fill it. */
        pthread_mutex_lock(&p->lock);
        p->stop = 1;
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->lock);
        for (int i = 0; i < p->nworkers; i++) pthread_join(p->threads[i], NULL);
        pthread_cond_destroy(&p->work);
        pthread_cond_destroy(&p->done);
        pthread_mutex_destroy(&p->lock);
        pthread_mutex_destroy(&p->done_lock);
    }
    free(p->jobs);
    free(p->free_jobs);
    free(p->ready);
    free(p->todo);
    free(p->threads);
    free(p);
}

qd_tpool *qd_tpool_new(int fd, int workers, int capacity, int efd, int no_flush,
                       int *err) {
    qd_tpool *p = calloc(1, sizeof *p);
    if (!p) { *err = ENOMEM; return NULL; }
    p->fd = fd;
    p->efd = efd;
    p->no_flush = no_flush;
    p->cap = capacity;
    p->jobs = calloc((size_t)capacity, sizeof *p->jobs);
    p->free_jobs = calloc((size_t)capacity, sizeof *p->free_jobs);
    p->ready = calloc((size_t)capacity, sizeof *p->ready);
    p->todo = calloc((size_t)capacity, sizeof *p->todo);
    p->threads = calloc((size_t)workers, sizeof *p->threads);
    if (!p->jobs || !p->free_jobs || !p->ready || !p->todo || !p->threads) {
        *err = ENOMEM;
        qd_tpool_free(p);
        return NULL;
    }
    for (int i = 0; i < capacity; i++) p->free_jobs[i] = capacity - 1 - i;
    p->nfree = capacity;
    atomic_init(&p->fin_top, -1);
    atomic_init(&p->fin_count, 0);
    atomic_init(&p->reap_want, INT_MAX);
    /* Adaptive: a worker spins briefly for the queue's short critical section before it
       sleeps in the kernel (completions come in bursts: one interrupt ends many writes). */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&p->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    pthread_mutex_init(&p->done_lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->sync_ready = 1;
    for (int i = 0; i < workers; i++) {
        int r = pthread_create(&p->threads[i], NULL, worker, p);
        if (r) { *err = r; qd_tpool_free(p); return NULL; }
        p->nworkers++;
    }
    return p;
}

/* Takes as many of the `n` requests as the pool has room for; returns that number. The
 * pool knows its descriptor: `fd` is for the shape the other engines share. */
int qd_tpool_submit(qd_tpool *p, int fd, int n, const int *ops, const long long *offsets,
                    struct iovec **iovs, const int *iovcnts, const unsigned long long *tags) {
    (void)fd;
    if (n > p->nfree) n = p->nfree;
    if (n <= 0) return 0;
    int first = p->nfree - n;  /* the jobs free_jobs[first..nfree) are filled first */
    for (int k = 0; k < n; k++) {
        job *j = &p->jobs[p->free_jobs[first + k]];
        j->op = ops[k];
        j->offset = offsets[k];
        j->iov = iovs[k];
        j->iovcnt = iovcnts[k];
        j->tag = tags[k];
        j->result = 0;
    }
    p->nfree = first;
    p->inflight += n;
    pthread_mutex_lock(&p->lock);  /* publishes the jobs to the worker that takes each */
    for (int k = 0; k < n; k++)
        p->todo[(p->todo_head + p->todo_len++) % p->cap] = p->free_jobs[first + k];
    /* A worker that finishes looks at the queue before it sleeps, so a request needs a
       wake-up only when it would otherwise wait for a busy worker. The signals go after
       the unlock: a worker woken under it would only wake to wait for the lock. */
    int wake = n < p->idle ? n : p->idle;
    pthread_mutex_unlock(&p->lock);
    for (int k = 0; k < wake; k++) pthread_cond_signal(&p->work);
    return n;
}

/* Move the stack's completions to `ready`, oldest first. */
static void take_completions(qd_tpool *p) {
    int i = atomic_exchange_explicit(&p->fin_top, -1, memory_order_acq_rel);
    int n = 0;
    for (int k = i; k >= 0; k = p->jobs[k].next) n++;
    int at = p->ready_head + p->ready_len + n;  /* the stack is newest first */
    for (int k = i; k >= 0; k = p->jobs[k].next) p->ready[--at % p->cap] = k;
    p->ready_len += n;
    atomic_fetch_sub(&p->fin_count, n);
}

static int wait_completions(qd_tpool *p, int need, int timeout_ms) {
    struct timespec until;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
    }
    int r = 0;
    pthread_mutex_lock(&p->done_lock);
    atomic_store(&p->reap_want, need);
    while (atomic_load(&p->fin_count) < need && r != ETIMEDOUT)
        r = timeout_ms < 0 ? pthread_cond_wait(&p->done, &p->done_lock)
                           : pthread_cond_timedwait(&p->done, &p->done_lock, &until);
    atomic_store(&p->reap_want, INT_MAX);
    pthread_mutex_unlock(&p->done_lock);
    return r;
}

int qd_tpool_reap(qd_tpool *p, int min, int max, unsigned long long *tags, long long *results,
                  int timeout_ms) {
    if (min > p->inflight) min = p->inflight;
    take_completions(p);
    if (p->ready_len < min) {
        wait_completions(p, min - p->ready_len, timeout_ms);
        take_completions(p);
    }
    int got = 0;
    while (got < max && p->ready_len) {
        int i = p->ready[p->ready_head];
        p->ready_head = (p->ready_head + 1) % p->cap;
        p->ready_len--;
        tags[got] = p->jobs[i].tag;
        results[got] = p->jobs[i].result;
        p->free_jobs[p->nfree++] = i;
        got++;
    }
    p->inflight -= got;
    /* Left some behind, or some came in after the stack was taken: say so again. */
    if (p->ready_len || atomic_load(&p->fin_count) > 0) notify_eventfd(p);
    return got;
}

/* ---- the benchmark: slots as tags, the write-through flush one more job ------------- */

typedef struct {
    qd_tpool *p;
    struct iovec *iov;        /* one per slot */
    int *ops, *cnts, queued;
    long long *offs;
    struct iovec **iovs;
    unsigned long long *tags;
} tpool_bench;

static void tpool_add(tpool_bench *b, int op, long long off, struct iovec *iov, int cnt,
                      int slot) {
    int k = b->queued++;
    b->ops[k] = op;
    b->offs[k] = off;
    b->iovs[k] = iov;
    b->cnts[k] = cnt;
    b->tags[k] = (unsigned long long)slot;
}

static int tpool_queue(void *self, int slot, int write, char *buf, long long bs, long long off) {
    tpool_bench *b = self;
    b->iov[slot].iov_base = buf;
    b->iov[slot].iov_len = (size_t)bs;
    tpool_add(b, write ? QD_OP_WRITE : QD_OP_READ, off, &b->iov[slot], 1, slot);
    return 0;
}

/* thread-pool.c runs a flush as a job like any other (handle_aiocb_flush). */
static int tpool_flush(void *self, int slot) {
    tpool_add(self, QD_OP_FLUSH, 0, NULL, 0, slot);
    return 0;
}

static int tpool_kick(void *self) {
    tpool_bench *b = self;
    int done = 0;
    while (done < b->queued)  /* depth (+ the flush) <= capacity: all fit once reaped */
        done += qd_tpool_submit(b->p, -1, b->queued - done, b->ops + done, b->offs + done,
                                b->iovs + done, b->cnts + done, b->tags + done);
    b->queued = 0;
    return 0;
}

/* Reap in batches when there are more requests than workers. With `extra` requests
 * beyond the workers, waking at extra / 2 completions still leaves extra / 2 queued, so
 * a worker that finishes finds its next request without sleeping, and the reaper wakes
 * once per extra / 2 completions instead of once each (QEMU's pool, too, hands back its
 * completions in batches: one bottom half per event-loop wake, util/thread-pool.c). */
static int tpool_wait(void *self, int max, int *slots, long long *results) {
    tpool_bench *b = self;
    unsigned long long tags[256];
    int min = (b->p->inflight - b->p->nworkers) / 2;  /* inflight: only this thread writes it */
    if (min < 1) min = 1;
    if (max > 256) max = 256;
    if (min > max) min = max;
    int n = qd_tpool_reap(b->p, min, max, tags, results, -1);
    for (int i = 0; i < n; i++) slots[i] = (int)tags[i];
    return n;
}

int qd_tpool_bench(qd_tpool *p, int fd, const qd_bench_args *a, qd_bench_stats *st) {
    (void)fd;
    if (p->inflight) return -EBUSY;
    size_t d = (size_t)(a->depth > 0 ? a->depth : 1)  /* the slots and the flushes */
               + (size_t)(a->flush_depth > 1 ? a->flush_depth : 1);
    tpool_bench b = { p, calloc(d, sizeof(struct iovec)), calloc(d, sizeof(int)),
                      calloc(d, sizeof(int)), 0, calloc(d, sizeof(long long)),
                      calloc(d, sizeof(struct iovec *)), calloc(d, sizeof(unsigned long long)) };
    int r = -ENOMEM;
    if (b.iov && b.ops && b.cnts && b.offs && b.iovs && b.tags) {
        qd_bench_engine e = { &b, p->cap, tpool_queue, tpool_flush, tpool_kick, tpool_wait };
        r = qd_bench_run(&e, a, st);
    }
    free(b.iov);
    free(b.ops);
    free(b.cnts);
    free(b.offs);
    free(b.iovs);
    free(b.tags);
    return r;
}
