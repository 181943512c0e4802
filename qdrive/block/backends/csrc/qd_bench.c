/* The benchmark's hot loop, once for every engine: keep `depth` slots in flight and
 * give each completed slot a new offset at once (fio's default, submit_batch=1), or
 * `submit_batch` of them per kernel call. The engine supplies queue/kick/wait. */
#define _GNU_SOURCE
#include "qd_engines.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double qd_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

size_t qd_iov_total(const struct iovec *iov, int cnt) {
    size_t total = 0;
    for (int i = 0; i < cnt; i++) total += iov[i].iov_len;
    return total;
}

/* xorshift64: cheap offsets with no map, as fio's --norandommap. */
static unsigned long long next_random(unsigned long long *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Write-through as QEMU 7.2 does it (block/io.c bdrv_driver_pwritev() emulates FUA with
 * bdrv_co_flush(), and a flush covers every write that finished before it started): a
 * write that completes waits for a flush started after it, and that flush is one more
 * request in flight, reaped like the others, never an fdatasync in this thread. QEMU
 * keeps one flush in flight (bdrv_co_flush() waits for active_flush_req), so writes
 * finishing meanwhile wait for the next one; `flush_depth` lets more than one run at
 * once (fio's jobs each flush on their own). */
enum { SLOT_BUSY = -2, SLOT_WAITING = -1 };  /* else the flush (0..flush_depth) covering it */

typedef struct {
    int *state;               /* per slot: SLOT_BUSY, SLOT_WAITING or a flush's index */
    int nwaiting;             /* slots SLOT_WAITING */
    char *running;            /* per flush index: in flight */
    int nrunning, depth;      /* flushes in flight, and at most */
} write_through;

typedef struct {
    const qd_bench_engine *e;
    const qd_bench_args *a;
    qd_bench_stats *st;
    unsigned long long x;
    long long seq;
    double *start;
    int unkicked;             /* queued, not yet handed to the kernel */
    int in_engine;            /* handed to the engine, not yet reaped (flush included) */
    int queued_in_round;      /* slots queued since the last kick (submit_batch) */
    int max_wait;             /* completions one wait() may return: depth + flushes */
    write_through wt;
} run_state;

static long long next_offset(run_state *s) {
    const qd_bench_args *a = s->a;
    if (a->random) return (long long)(next_random(&s->x) % (unsigned long long)a->nblocks) * a->bs;
    long long block = s->seq;
    s->seq = (s->seq + 1) % a->nblocks;
    return block * a->bs;
}

/* Time spent in queue() counts as submission too: posix starts each request there. */
static int queue_slot(run_state *s, int slot, double now) {
    const qd_bench_args *a = s->a;
    s->start[slot] = now;
    double t0 = qd_now_ns();
    int r = s->e->queue(s->e->self, slot, a->write, a->buffers + (long long)slot * a->bs,
                        a->bs, next_offset(s));
    s->st->submit_ns += qd_now_ns() - t0;
    if (r == 0) s->unkicked++;
    return r;
}

static int kick(run_state *s) {
    if (!s->unkicked) return 0;
    double t0 = qd_now_ns();
    int r = s->e->kick(s->e->self);
    s->st->submit_ns += qd_now_ns() - t0;
    if (r == 0) s->in_engine += s->unkicked;
    s->unkicked = 0;
    s->queued_in_round = 0;
    return r;
}

/* Account one finished request: a short or failed write, or its failed flush, is an
 * error; a slot finished before the deadline goes out again at once. */
static int finish(run_state *s, int slot, long long res, double now, double deadline) {
    const qd_bench_args *a = s->a;
    qd_bench_stats *st = s->st;
    if (res != a->bs && !st->errors++) st->first_error = res < 0 ? (int)-res : ENOSPC;
    if (a->max_lat > 0) a->lat_us[st->ios % a->max_lat] = (float)((now - s->start[slot]) / 1e3);
    st->ios++;
    if (now >= deadline) return 0;
    int r = queue_slot(s, slot, now);
    int batch = a->submit_batch < 1 ? 1 : a->submit_batch;
    if (r == 0 && ++s->queued_in_round >= batch) r = kick(s);
    return r;
}

/* Flush k completed with `res` (0 or -errno): every write it covers is done. */
static int flush_done(run_state *s, int k, long long res, double now, double deadline) {
    write_through *wt = &s->wt;
    int r = 0;
    wt->running[k] = 0;
    wt->nrunning--;
    for (int i = 0; i < s->a->depth; i++) {
        if (wt->state[i] != k) continue;
        wt->state[i] = SLOT_BUSY;
        int r2 = finish(s, i, res < 0 ? res : s->a->bs, now, deadline);
        if (!r) r = r2;
    }
    return r;
}

/* Start a flush for the writes waiting, if fewer than flush_depth are in flight (else it
 * starts when one completes). Flush k is request depth + k. */
static int start_flush(run_state *s) {
    write_through *wt = &s->wt;
    if (!wt->nwaiting || wt->nrunning >= wt->depth) return 0;
    int k = 0;
    while (wt->running[k]) k++;
    double t0 = qd_now_ns();
    int r = s->e->flush(s->e->self, s->a->depth + k);
    s->st->submit_ns += qd_now_ns() - t0;
    if (r) return r;
    for (int i = 0; i < s->a->depth; i++) if (wt->state[i] == SLOT_WAITING) wt->state[i] = k;
    wt->nwaiting = 0;
    wt->running[k] = 1;
    wt->nrunning++;
    s->unkicked++;
    return kick(s);
}

/* One reaped request: a flush, a write that must wait for one, or a finished slot. */
static int reaped(run_state *s, int slot, long long res, double now, double deadline) {
    const qd_bench_args *a = s->a;
    if (slot >= a->depth) return flush_done(s, slot - a->depth, res, now, deadline);
    if (s->wt.depth && res == a->bs) {
        s->wt.state[slot] = SLOT_WAITING;
        s->wt.nwaiting++;
        return 0;
    }
    return finish(s, slot, res, now, deadline);
}

static int run_rounds(run_state *s, int *slots, long long *results, double t0) {
    const qd_bench_engine *e = s->e;
    const qd_bench_args *a = s->a;
    double deadline = t0 + a->seconds * 1e9;
    int r = 0;
    for (int i = 0; i < a->depth && r == 0; i++) r = queue_slot(s, i, t0);
    if (r == 0) r = kick(s);
    while (r == 0 && s->in_engine > 0) {
        int n = e->wait(e->self, s->max_wait, slots, results);
        if (n < 0) { r = n; break; }
        s->in_engine -= n;
        double now = qd_now_ns();
        for (int k = 0; k < n; k++) {
            int r2 = reaped(s, slots[k], results[k], now, deadline);
            if (!r) r = r2;
        }
        if (r == 0) r = start_flush(s);
        if (r == 0) r = kick(s);
    }
    return r;
}

int qd_bench_run(const qd_bench_engine *e, const qd_bench_args *a, qd_bench_stats *st) {
    int flushes = a->flush_each && a->write ? (a->flush_depth > 0 ? a->flush_depth : 1) : 0;
    if (a->depth < 1 || a->depth + flushes > e->capacity || a->bs < 1 || a->nblocks < 1)
        return -EINVAL;
    memset(st, 0, sizeof *st);
    size_t d = (size_t)a->depth;
    run_state s = { e, a, st, a->seed | 1, 0, calloc(d, sizeof(double)), 0, 0, 0,
                    a->depth + flushes,
                    { calloc(d, sizeof(int)), 0, calloc((size_t)flushes + 1, 1), 0, flushes } };
    int *slots = calloc(d + (size_t)flushes, sizeof(int));
    long long *results = calloc(d + (size_t)flushes, sizeof(long long));
    int r = -ENOMEM;
    if (s.start && slots && results && s.wt.state && s.wt.running) {
        for (int i = 0; i < a->depth; i++) s.wt.state[i] = SLOT_BUSY;
        double t0 = qd_now_ns();
        r = run_rounds(&s, slots, results, t0);
        /* On an engine error, let what is in flight finish before the buffers go back. */
        while (r < 0 && s.in_engine > 0) {
            int n = e->wait(e->self, s.max_wait, slots, results);
            if (n <= 0) break;
            s.in_engine -= n;
        }
        st->seconds = (qd_now_ns() - t0) / 1e9;
    }
    free(s.start);
    free(s.wt.state);
    free(s.wt.running);
    free(slots);
    free(results);
    return r;
}
