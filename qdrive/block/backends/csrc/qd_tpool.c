/* The thread pool in C (util/thread-pool.c: 64 workers doing plain preadv/pwritev).
 *
 * At most `capacity` requests are in the pool at once, counting queued, running and
 * completed-but-unreaped ones: submit takes what fits and the caller queues the rest.
 * Workers run each request to its full length (block/file-posix.c handle_aiocb_rw:
 * continue short transfers, zero-fill at end of file, ENOSPC when a write makes no
 * progress).
 *
 * What a pool costs over fio's psync jobs is its hand-offs: on this machine kind a futex
 * wake-up and the context switch it causes cost more kernel time than the 16k O_DIRECT
 * write itself. Measured with perf's syscall and sched tracepoints, the pool with a
 * mutex and condition variables made 2.1 futex calls and 1.1 wake-ups per request (fio
 * psync: 0 and 0), most of them workers parked on the queue's condition variable and
 * contending for its mutex. So nothing here takes a lock:
 * - the queue is a ring with one producer (the caller) and many consumers (workers take
 *   a request with one compare-and-swap);
 * - idle workers sleep on one futex word (an event count): a batch of n requests wakes
 *   up to n of them with one FUTEX_WAKE, and only when someone sleeps; a worker that
 *   finds the queue empty yields the CPU once before it sleeps, while that pays
 *   (yield_for_job);
 * - completions go back on a lock-free stack (many pushers, one taker that takes it
 *   whole); the reaper sleeps on its own futex word and is woken once, by the worker
 *   whose completion reaches the count it asked for (or, in the benchmark, by a flush);
 * - the eventfd is written when the completions go from none to some (whoever reaps
 *   takes them all, and writes it again if it leaves any behind); the benchmark loop,
 *   which reaps through the futex, turns it off.
 * Write-through on the page cache (cache=writethrough: no O_DIRECT, a flush after each
 * write) starts each write's writeback as soon as the write is in the cache
 * (sync_file_range SYNC_FILE_RANGE_WRITE, `early_writeback`): the flush that completes
 * the write then finds its pages on their way to the disk instead of writing back
 * everything dirtied since the last flush while the next writes wait. That is what
 * fio's psync jobs get from their fdatasync=1 calls overlapping each other; QEMU's pool
 * does not do it (thread-pool.c runs plain pwritev), and what a write-through write
 * promises is unchanged: it completes after a flush that started after it.
 * The pool counts its sleeps and wake-up calls (qd_tpool_counters) so tests can bound
 * them per request. One caller at a time submits and reaps (the Python core's lock, or
 * the benchmark's own thread): the job table, its free list, `inflight`, `ready` and the
 * queue's tail are the caller's. */
#define _GNU_SOURCE
#include "qd_engines.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
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

/* The counters qd_tpool_counters returns, in this order (threads.py COUNTERS). */
enum { C_WORKER_SLEEPS, C_WORKER_WAKE_CALLS, C_REAPER_SLEEPS, C_REAPER_WAKE_CALLS,
       C_EVENTFD_WRITES, C_JOBS, C_SUBMITS, C_REAPS, C_EARLY_WRITEBACKS, C_COUNT };

struct qd_tpool {
    int fd, efd, no_flush, early_writeback, nworkers, cap;
    pthread_t *threads;
    job *jobs;                          /* cap entries, indexed everywhere below */
    /* the caller's */
    int inflight;                       /* submitted and not reaped */
    int *free_jobs, nfree;
    int *ready, ready_head, ready_len;  /* taken from the stack, not yet returned */
    long long jobs_submitted;
    /* the queue: positions only grow; slot pos % cap holds a job index */
    _Atomic int *slots;
    _Atomic unsigned long long q_head;  /* workers take from here (CAS) */
    _Atomic unsigned long long q_tail;  /* the caller appends here */
    _Atomic uint32_t work_seq;          /* idle workers' futex word: bumped to wake them */
    _Atomic int sleepers;               /* workers asleep or about to be */
    _Atomic int stop;
    /* completions */
    _Atomic int fin_top;                /* a job index, or -1 */
    _Atomic int fin_count;              /* pushed and not taken (may lag the stack a bit) */
    _Atomic int reap_want;              /* what the waiting reaper needs; INT_MAX: none */
    _Atomic int reap_armed;             /* 1 while no worker has woken the waiting reaper */
    _Atomic int reap_on_flush;          /* the waiting reaper wants any finished flush */
    _Atomic int flushes_done;
    _Atomic uint32_t reap_seq;          /* the reaper's futex word */
    _Atomic int efd_quiet;              /* the benchmark reaps by futex: no eventfd */
    _Atomic long long counters[C_COUNT];
    int started;
};

static void count(qd_tpool *p, int which) {
    atomic_fetch_add_explicit(&p->counters[which], 1, memory_order_relaxed);
}

/* futex(2) on a word private to this process; glibc has no wrapper. */
static void futex_wait(_Atomic uint32_t *word, uint32_t seen, const struct timespec *rel) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, seen, rel, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word, int n) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

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
    long long r = rw_full(p->fd, j->op == QD_OP_WRITE, j->iov, j->iovcnt, j->offset);
    if (r > 0 && j->op == QD_OP_WRITE && p->early_writeback) {
        /* only starts the writeback: an error in it is the coming flush's to report */
        (void)sync_file_range(p->fd, j->offset, r, SYNC_FILE_RANGE_WRITE);
        count(p, C_EARLY_WRITEBACKS);
    }
    return r;
}

static void notify_eventfd(qd_tpool *p) {
    if (p->efd < 0 || atomic_load_explicit(&p->efd_quiet, memory_order_relaxed)) return;
    uint64_t one = 1;
    ssize_t w;
    do w = write(p->efd, &one, sizeof one); while (w < 0 && errno == EINTR);
    count(p, C_EVENTFD_WRITES);
}

/* Wake the waiting reaper, once per wait: whoever clears reap_armed does it. */
static void wake_reaper(qd_tpool *p) {
    if (!atomic_exchange(&p->reap_armed, 0)) return;
    atomic_fetch_add(&p->reap_seq, 1);
    futex_wake(&p->reap_seq, 1);
    count(p, C_REAPER_WAKE_CALLS);
}

/* A worker hands job i back: push it, count it, wake whoever waits for it. The push
 * (release) publishes the result; the job is not touched after it. */
static void complete(qd_tpool *p, int i, int flush) {
    int top = atomic_load_explicit(&p->fin_top, memory_order_relaxed);
    do p->jobs[i].next = top;
    while (!atomic_compare_exchange_weak_explicit(&p->fin_top, &top, i, memory_order_acq_rel,
                                                  memory_order_relaxed));
    if (flush) atomic_fetch_add(&p->flushes_done, 1);
    /* seq_cst pairs with the reaper's store of reap_want and load of fin_count: one of
       the two sees the other, so a reaper never sleeps through its last completion. */
    int n = atomic_fetch_add(&p->fin_count, 1) + 1;
    if (n == 1) notify_eventfd(p);
    if (n >= atomic_load(&p->reap_want) || (flush && atomic_load(&p->reap_on_flush)))
        wake_reaper(p);
}

/* The next queued job, or -1. A slot is rewritten only after its position was taken
 * (the caller never holds more than cap jobs), so a successful CAS read a live entry. */
static int take_job(qd_tpool *p) {
    unsigned long long h = atomic_load_explicit(&p->q_head, memory_order_relaxed);
    for (;;) {
        if (h == atomic_load_explicit(&p->q_tail, memory_order_acquire)) return -1;
        int i = atomic_load_explicit(&p->slots[h % (unsigned)p->cap], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&p->q_head, &h, h + 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return i;
    }
}

/* How a worker decides whether to yield before it sleeps (see wait_job). */
typedef struct {
    int paid;                           /* the last yield found a job */
    unsigned idle;                      /* times the queue was found empty */
} yield_state;

/* Give the CPU away once before sleeping, while that pays. On the benchmark the queue
 * ran dry mostly while the reaper, already woken, waited for a CPU to refill it (2 cores,
 * 64 workers): one yield cut the futex sleeps from 0.5 to 0.03 a request and the CPU per
 * GB by 5-10% (6 of 7 alternating pairs). With write-through and many flushes in flight
 * the queue is empty because the writes wait for flushes, the yield finds nothing, and
 * yielding every time cost 1.5 involuntary switches a request and 20-50% more CPU per GB
 * (3 pairs). So a worker yields again only after a yield that found a job, and otherwise
 * tries once in 16 times to notice when it would pay again. Spinning longer only takes
 * the CPU from the reaper. */
static int yield_for_job(qd_tpool *p, yield_state *y) {
    if (!y->paid && (++y->idle & 15) != 0) return -1;
    sched_yield();
    int i = take_job(p);
    y->paid = i >= 0;
    return i;
}

/* Sleep until the caller queues more (or stops the pool); -1 when stopping with the queue
 * empty. Announcing the sleep (seq_cst) before the last look at the queue pairs with the
 * caller's store of the tail before it reads `sleepers`: either this worker sees the new
 * job, or the caller sees a sleeper and bumps work_seq, and the futex then does not sleep
 * on the old value. */
static int wait_job(qd_tpool *p, yield_state *y) {
    for (;;) {
        atomic_fetch_add(&p->sleepers, 1);
        uint32_t seen = atomic_load(&p->work_seq);
        int i = take_job(p);
        if (i < 0) i = yield_for_job(p, y);
        int stopping = i < 0 && atomic_load(&p->stop);
        if (i < 0 && !stopping) {
            count(p, C_WORKER_SLEEPS);
            futex_wait(&p->work_seq, seen, NULL);
        }
        atomic_fetch_sub(&p->sleepers, 1);
        if (i >= 0) return i;
        if (stopping) return -1;  /* the queue was empty after the stop: all ran */
        i = take_job(p);
        if (i >= 0) return i;
    }
}

static void *worker(void *arg) {
    qd_tpool *p = arg;
    yield_state y = { 1, 0 };
    for (;;) {
        int i = take_job(p);
        if (i < 0) i = wait_job(p, &y);
        if (i < 0) break;  /* stopping, and nothing left to do */
        job *j = &p->jobs[i];
        j->result = run_job(p, j);
        complete(p, i, j->op == QD_OP_FLUSH);
    }
    return NULL;
}

void qd_tpool_free(qd_tpool *p) {
    if (!p) return;
    if (p->started) {
        /* Workers finish every queued request before they stop: none is dropped, and no
           buffer goes back while a worker may still fill it. */
        atomic_store(&p->stop, 1);
        atomic_fetch_add(&p->work_seq, 1);
        futex_wake(&p->work_seq, INT_MAX);
        for (int i = 0; i < p->nworkers; i++) pthread_join(p->threads[i], NULL);
    }
    free(p->jobs);
    free(p->free_jobs);
    free(p->ready);
    free(p->slots);
    free(p->threads);
    free(p);
}

qd_tpool *qd_tpool_new(int fd, int workers, int capacity, int efd, int no_flush,
                       int early_writeback, int *err) {
    qd_tpool *p = calloc(1, sizeof *p);
    if (!p) { *err = ENOMEM; return NULL; }
    p->fd = fd;
    p->efd = efd;
    p->no_flush = no_flush;
    p->early_writeback = early_writeback;
    p->cap = capacity;
    p->jobs = calloc((size_t)capacity, sizeof *p->jobs);
    p->free_jobs = calloc((size_t)capacity, sizeof *p->free_jobs);
    p->ready = calloc((size_t)capacity, sizeof *p->ready);
    p->slots = calloc((size_t)capacity, sizeof *p->slots);
    p->threads = calloc((size_t)workers, sizeof *p->threads);
    if (!p->jobs || !p->free_jobs || !p->ready || !p->slots || !p->threads) {
        *err = ENOMEM;
        qd_tpool_free(p);
        return NULL;
    }
    for (int i = 0; i < capacity; i++) p->free_jobs[i] = capacity - 1 - i;
    p->nfree = capacity;
    atomic_init(&p->fin_top, -1);
    atomic_init(&p->reap_want, INT_MAX);
    p->started = 1;
    for (int i = 0; i < workers; i++) {
        int r = pthread_create(&p->threads[i], NULL, worker, p);
        if (r) { *err = r; qd_tpool_free(p); return NULL; }
        p->nworkers++;
    }
    return p;
}

/* Takes as many of the `n` requests as the pool has room for; returns that number. The
 * pool knows its descriptor: `fd` is for the shape the other engines share. */
/* Wake up to n sleeping workers with one call, if any sleeps. Reading `sleepers` after
 * the tail's store (both seq_cst) pairs with wait_job. */
static void wake_workers(qd_tpool *p, int n) {
    if (n <= 0 || atomic_load(&p->sleepers) <= 0) return;
    atomic_fetch_add(&p->work_seq, 1);
    futex_wake(&p->work_seq, n);
    count(p, C_WORKER_WAKE_CALLS);
}

/* Queue up to n requests (what fits); wake sleepers for them only if `wake`, else the
 * caller must call wake_workers for them before it waits. */
static int enqueue(qd_tpool *p, int n, const int *ops, const long long *offsets,
                   struct iovec **iovs, const int *iovcnts, const unsigned long long *tags,
                   int wake) {
    if (n > p->nfree) n = p->nfree;
    if (n <= 0) return 0;
    int first = p->nfree - n;  /* the jobs free_jobs[first..nfree) are filled first */
    unsigned long long tail = atomic_load_explicit(&p->q_tail, memory_order_relaxed);
    for (int k = 0; k < n; k++) {
        int i = p->free_jobs[first + k];
        job *j = &p->jobs[i];
        j->op = ops[k];
        j->offset = offsets[k];
        j->iov = iovs[k];
        j->iovcnt = iovcnts[k];
        j->tag = tags[k];
        j->result = 0;
        atomic_store_explicit(&p->slots[(tail + (unsigned)k) % (unsigned)p->cap], i,
                              memory_order_relaxed);
    }
    p->nfree = first;
    p->inflight += n;
    p->jobs_submitted += n;
    count(p, C_SUBMITS);
    /* The tail's store publishes the jobs (seq_cst: see wait_job). A worker that finishes
       looks at the queue before it sleeps, so only sleepers need waking. */
    atomic_store(&p->q_tail, tail + (unsigned)n);
    if (wake) wake_workers(p, n);
    return n;
}

int qd_tpool_submit(qd_tpool *p, int fd, int n, const int *ops, const long long *offsets,
                    struct iovec **iovs, const int *iovcnts, const unsigned long long *tags) {
    (void)fd;
    return enqueue(p, n, ops, offsets, iovs, iovcnts, tags, 1);
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

static long long mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Sleep until `need` completions are on the stack (or, with on_flush, a flush finished
 * after the call began), or timeout_ms (< 0: none) passed. Arm, read the futex word,
 * publish what is wanted, then look: a worker that completes after the look sees the
 * want and bumps the word, so the futex never sleeps on a stale value. */
static void wait_completions(qd_tpool *p, int need, int timeout_ms, int on_flush) {
    long long deadline = timeout_ms < 0 ? 0 : mono_ns() + timeout_ms * 1000000LL;
    int flushes = atomic_load(&p->flushes_done);
    atomic_store(&p->reap_on_flush, on_flush);
    for (;;) {
        atomic_store(&p->reap_armed, 1);
        uint32_t seen = atomic_load(&p->reap_seq);
        atomic_store(&p->reap_want, need);
        if (atomic_load(&p->fin_count) >= need) break;
        if (on_flush && atomic_load(&p->flushes_done) != flushes) break;
        struct timespec rel, *relp = NULL;
        if (timeout_ms >= 0) {
            long long left = deadline - mono_ns();
            if (left <= 0) break;
            rel.tv_sec = (time_t)(left / 1000000000LL);
            rel.tv_nsec = (long)(left % 1000000000LL);
            relp = &rel;
        }
        count(p, C_REAPER_SLEEPS);
        futex_wait(&p->reap_seq, seen, relp);
    }
    atomic_store(&p->reap_want, INT_MAX);
    atomic_store(&p->reap_on_flush, 0);
    atomic_store(&p->reap_armed, 0);
}

/* Hand back up to `max` completions after waiting for `min` (see wait_completions). */
static int reap(qd_tpool *p, int min, int max, unsigned long long *tags, long long *results,
                int timeout_ms, int on_flush) {
    if (min > p->inflight) min = p->inflight;
    count(p, C_REAPS);
    take_completions(p);
    if (p->ready_len < min) {
        wait_completions(p, min - p->ready_len, timeout_ms, on_flush);
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

int qd_tpool_reap(qd_tpool *p, int min, int max, unsigned long long *tags, long long *results,
                  int timeout_ms) {
    return reap(p, min, max, tags, results, timeout_ms, 0);
}

int qd_tpool_counters(qd_tpool *p, long long *out, int n) {
    if (n > C_COUNT) n = C_COUNT;
    for (int k = 0; k < n; k++) out[k] = atomic_load(&p->counters[k]);
    if (n > C_JOBS) out[C_JOBS] = p->jobs_submitted;
    return n;
}

/* ---- the benchmark: slots as tags, the write-through flush one more job ------------- */

typedef struct {
    qd_tpool *p;
    struct iovec *iov;        /* one per slot */
    int *ops, *cnts, queued;
    long long *offs;
    struct iovec **iovs;
    unsigned long long *tags;
    int unwoken;              /* queued since the sleepers were last woken */
    int depth;                /* slots; a tag past them is a flush */
    int flush_limit;          /* write-through flushes in flight at most (0: none) */
    int flushes;              /* in flight now */
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
    tpool_bench *b = self;
    tpool_add(b, QD_OP_FLUSH, 0, NULL, 0, slot);
    b->flushes++;
    return 0;
}

static int tpool_kick(void *self) {
    tpool_bench *b = self;
    int done = 0;
    while (done < b->queued)  /* depth (+ the flush) <= capacity: all fit once reaped */
        done += enqueue(b->p, b->queued - done, b->ops + done, b->offs + done,
                        b->iovs + done, b->cnts + done, b->tags + done, 0);
    b->unwoken += done;
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
    /* Each completed slot went into the queue at once (a worker that finishes takes it
       without sleeping); the sleepers for a whole round are woken here, with one call,
       before this thread sleeps (a wake-up per request made the workers preempt this
       thread in the middle of its round, and the queue then ran dry). */
    wake_workers(b->p, b->unwoken);
    b->unwoken = 0;
    int min = (b->p->inflight - b->p->nworkers) / 2;  /* inflight: only this thread writes it */
    /* With every flush allowed in flight, a write that completes only waits for the next
       one (qd_bench.c start_flush): waking for it is wasted (0.6 wake-ups a request in
       directsync with QEMU's one flush). Then wait for the flush, or for everything. */
    if (b->flush_limit && b->flushes >= b->flush_limit) min = b->p->inflight;
    if (min < 1) min = 1;
    if (max > 256) max = 256;
    if (min > max) min = max;
    /* A finished flush ends the wait early: the writes it covers go out again at once. */
    int n = reap(b->p, min, max, tags, results, -1, 1);
    for (int i = 0; i < n; i++) {
        slots[i] = (int)tags[i];
        if (slots[i] >= b->depth) b->flushes--;
    }
    return n;
}

int qd_tpool_bench(qd_tpool *p, int fd, const qd_bench_args *a, qd_bench_stats *st) {
    (void)fd;
    if (p->inflight) return -EBUSY;
    size_t d = (size_t)(a->depth > 0 ? a->depth : 1)  /* the slots and the flushes */
               + (size_t)(a->flush_depth > 1 ? a->flush_depth : 1);
    tpool_bench b = {
        .p = p, .iov = calloc(d, sizeof(struct iovec)), .ops = calloc(d, sizeof(int)),
        .cnts = calloc(d, sizeof(int)), .offs = calloc(d, sizeof(long long)),
        .iovs = calloc(d, sizeof(struct iovec *)), .tags = calloc(d, sizeof(unsigned long long)),
        .depth = a->depth,
        .flush_limit = a->flush_each && a->write ? (a->flush_depth > 0 ? a->flush_depth : 1) : 0,
    };
    int r = -ENOMEM;
    if (b.iov && b.ops && b.cnts && b.offs && b.iovs && b.tags) {
        qd_bench_engine e = { &b, p->cap, tpool_queue, tpool_flush, tpool_kick, tpool_wait };
        /* This thread reaps through the futex: nobody reads the eventfd meanwhile, and
           nothing is left to signal when the loop returns (it drains every request). */
        atomic_store(&p->efd_quiet, 1);
        r = qd_bench_run(&e, a, st);
        wake_workers(p, b.unwoken);  /* none are left unless the loop failed; then run them */
        atomic_store(&p->efd_quiet, 0);
    }
    free(b.iov);
    free(b.ops);
    free(b.cnts);
    free(b.offs);
    free(b.iovs);
    free(b.tags);
    return r;
}
