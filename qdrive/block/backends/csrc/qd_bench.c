/* The benchmark's hot loop, once for every engine: keep `depth` slots in flight and
 * give each completed slot a new offset at once (fio's default, submit_batch=1), or
 * `submit_batch` of them per kernel call. The engine supplies queue/kick/wait. */
#define _GNU_SOURCE
#include "qd_engines.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

typedef struct {
    const qd_bench_engine *e;
    const qd_bench_args *a;
    qd_bench_stats *st;
    unsigned long long x;
    long long seq;
    double *start;
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
    return r;
}

static int kick(run_state *s) {
    double t0 = qd_now_ns();
    int r = s->e->kick(s->e->self);
    s->st->submit_ns += qd_now_ns() - t0;
    return r;
}

/* Account one completion (a failed write-through flush counts as an error). */
static void account(run_state *s, int slot, long long res, double *now) {
    const qd_bench_args *a = s->a;
    qd_bench_stats *st = s->st;
    if (res != a->bs) {
        if (!st->errors++) st->first_error = res < 0 ? (int)-res : ENOSPC;
    } else if (a->flush_each && a->write && s->e->flush_fd >= 0) {
        if (fdatasync(s->e->flush_fd) && !st->errors++) st->first_error = errno;
        *now = qd_now_ns();
    }
    if (a->max_lat > 0) a->lat_us[st->ios % a->max_lat] = (float)((*now - s->start[slot]) / 1e3);
    st->ios++;
}

int qd_bench_run(const qd_bench_engine *e, const qd_bench_args *a, qd_bench_stats *st) {
    if (a->depth < 1 || a->depth > e->capacity || a->bs < 1 || a->nblocks < 1) return -EINVAL;
    memset(st, 0, sizeof *st);
    run_state s = { e, a, st, a->seed | 1, 0, calloc((size_t)a->depth, sizeof(double)) };
    int *slots = calloc((size_t)a->depth, sizeof(int));
    long long *results = calloc((size_t)a->depth, sizeof(long long));
    int r = 0;
    if (!s.start || !slots || !results) { r = -ENOMEM; goto out; }
    double t0 = qd_now_ns(), deadline = t0 + a->seconds * 1e9;
    for (int i = 0; i < a->depth && r == 0; i++) r = queue_slot(&s, i, t0);
    if (r == 0) r = kick(&s);
    int inflight = r == 0 ? a->depth : 0;
    int batch = a->submit_batch < 1 ? 1 : a->submit_batch;
    while (r == 0 && inflight > 0) {
        int n = e->wait(e->self, a->depth, slots, results);
        if (n < 0) { r = n; break; }
        double now = qd_now_ns();
        int queued = 0;
        for (int k = 0; k < n && r == 0; k++) {
            account(&s, slots[k], results[k], &now);
            inflight--;
            if (now >= deadline) continue;
            r = queue_slot(&s, slots[k], now);
            if (r == 0 && ++queued >= batch) {
                r = kick(&s);
                inflight += queued;
                queued = 0;
            }
        }
        if (r == 0 && queued) {
            r = kick(&s);
            inflight += queued;
        }
    }
    /* On an engine error, let what is in flight finish before the buffers go back. */
    while (r < 0 && inflight > 0) {
        int n = e->wait(e->self, a->depth, slots, results);
        if (n <= 0) break;
        inflight -= n;
    }
    st->seconds = (qd_now_ns() - t0) / 1e9;
out:
    free(s.start);
    free(slots);
    free(results);
    return r;
}
