/* What qdrive's four C engines share: the calls Python makes (one block per engine),
 * the benchmark's records and the one benchmark loop every engine plugs into.
 *
 * The blocks between "@cdef NAME" and "@end" are also what qdrive/backends/_build.py
 * hands to cffi, so each declaration is written once. Keep them plain C that cffi's
 * parser reads: no macros, no includes, no library types (the engines' structs are
 * opaque here).
 *
 * Every call that can fail returns -errno (never sets errno for Python to read).
 * Submission calls return how many requests the engine took, counted from the first;
 * the caller keeps the rest queued and offers them again when completions free slots
 * (block/linux-aio.c and block/io_uring.c keep such a pending queue too).
 */
#ifndef QD_ENGINES_H
#define QD_ENGINES_H

#include <limits.h>
#include <stddef.h>
#include <sys/uio.h>

/* The kernel takes at most this many iovecs in one readv/writev (UIO_MAXIOV); an
 * engine hands it the first QD_IOV_MAX and the request completes short, so the rest is
 * continued (qdrive/block/backends/_engine.py), never dropped. */
#ifdef IOV_MAX
#define QD_IOV_MAX IOV_MAX
#else
#define QD_IOV_MAX 1024
#endif

/* @cdef common */
typedef struct {
    long long ios;        /* requests completed */
    long long errors;     /* of which failed or short */
    int first_error;      /* errno of the first failure */
    double submit_ns;     /* time spent handing requests to the engine */
    double seconds;       /* wall time of the whole run */
} qd_bench_stats;

typedef struct {
    int write;            /* 1 = writes, 0 = reads */
    int random;           /* 1 = random offsets (no map, repeats allowed), 0 = sequential */
    long long bs;         /* bytes per request */
    int depth;            /* requests kept in flight; slot i uses buffers + i * bs */
    long long nblocks;    /* offsets are multiples of bs below nblocks * bs */
    double seconds;       /* stop starting requests after this long */
    unsigned long long seed;
    char *buffers;
    int flush_each;       /* write-through: a write completes after a flush started later */
    int flush_depth;      /* write-through flushes in flight at once (QEMU: 1) */
    int submit_batch;     /* completed slots handed back to the kernel per call */
    float *lat_us;        /* ring of the latest latencies, max_lat entries */
    long long max_lat;
} qd_bench_args;
/* @end */

/* @cdef native */
typedef struct qd_laio qd_laio;
qd_laio *qd_laio_new(int depth, int efd, int *err);
int qd_laio_submit(qd_laio *q, int fd, int n, const int *ops, const long long *offsets,
                   struct iovec **iovs, const int *iovcnts, const unsigned long long *tags);
int qd_laio_reap(qd_laio *q, int min, int max, unsigned long long *tags, long long *results,
                 int timeout_ms);
void qd_laio_free(qd_laio *q);
int qd_laio_bench(qd_laio *q, int fd, const qd_bench_args *a, qd_bench_stats *st);
/* @end */

/* @cdef io_uring */
typedef struct qd_uring qd_uring;
qd_uring *qd_uring_new(unsigned depth, int efd, int *err);
int qd_uring_submit(qd_uring *q, int fd, int n, const int *ops, const long long *offsets,
                    struct iovec **iovs, const int *iovcnts, const unsigned long long *tags);
int qd_uring_reap(qd_uring *q, int min, int max, unsigned long long *tags, long long *results,
                  int timeout_ms);
void qd_uring_free(qd_uring *q);
int qd_uring_bench(qd_uring *q, int fd, const qd_bench_args *a, qd_bench_stats *st);
/* @end */

/* @cdef posix */
typedef struct qd_paio qd_paio;
qd_paio *qd_paio_new(int capacity, int efd, int *err);
int qd_paio_submit(qd_paio *q, int fd, int op, long long offset, void *buf, size_t len,
                   unsigned long long tag);
int qd_paio_reap(qd_paio *q, int min, int max, unsigned long long *tags, long long *results,
                 int timeout_ms);
void qd_paio_free(qd_paio *q);
int qd_paio_bench(qd_paio *q, const int *fds, int nfds, const qd_bench_args *a,
                  qd_bench_stats *st);
/* @end */

/* @cdef threads */
typedef struct qd_tpool qd_tpool;
qd_tpool *qd_tpool_new(int fd, int workers, int capacity, int efd, int no_flush,
                       int early_writeback, int *err);
int qd_tpool_submit(qd_tpool *p, int fd, int n, const int *ops, const long long *offsets,
                    struct iovec **iovs, const int *iovcnts, const unsigned long long *tags);
int qd_tpool_reap(qd_tpool *p, int min, int max, unsigned long long *tags, long long *results,
                  int timeout_ms);
void qd_tpool_free(qd_tpool *p);
int qd_tpool_counters(qd_tpool *p, long long *out, int n);
int qd_tpool_bench(qd_tpool *p, int fd, const qd_bench_args *a, qd_bench_stats *st);
/* @end */

/* ---- for the engines only ------------------------------------------------------------ */

/* The op numbers Python passes in `ops` (qdrive/block/backends/_engine.py _OP_CODES). */
enum { QD_OP_READ = 0, QD_OP_WRITE = 1, QD_OP_FLUSH = 2 };

/* One benchmark engine: the loop in qd_bench.c calls these, never the library. */
typedef struct qd_bench_engine {
    void *self;
    int capacity;   /* most requests the engine can keep in flight (slots and the flush) */
    /* Queue slot `slot` (bs bytes at buf) at `off`; 0 or -errno. */
    int (*queue)(void *self, int slot, int write, char *buf, long long bs, long long off);
    /* Queue an fdatasync of the target as request `slot` (completes through wait() with
       result 0 or -errno, like any other request); 0 or -errno. */
    int (*flush)(void *self, int slot);
    /* Hand every queued slot to the kernel; 0 or -errno. */
    int (*kick)(void *self);
    /* Wait for one completion or more; up to `max` (slot, result) pairs, count or -errno. */
    int (*wait)(void *self, int max, int *slots, long long *results);
} qd_bench_engine;

int qd_bench_run(const qd_bench_engine *e, const qd_bench_args *a, qd_bench_stats *st);
double qd_now_ns(void);

/* The bytes in iov[0..cnt). */
size_t qd_iov_total(const struct iovec *iov, int cnt);

#endif
