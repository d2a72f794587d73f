/*
 * bench/bench_xport.c - transport benchmarks between ranks 0 and 1, each
 * beside its physical limit measured in the same run with ucx_perftest
 * (server and client on 127.0.0.1 with the same UCX_TLS) started by rank 0.
 * Without ucx_perftest the figures are reported without a limit.
 *
 *  xport_am_latency          8 B one-way latency (half the round trip); the
 *                            ping-pong runs in the handlers, i.e. progress
 *                            thread to progress thread  vs  ucp_am_lat
 *  xport_am_rate             8 B messages per second submitted by rank 0's
 *                            main thread (batched)  vs  ucp_am_bw message rate
 *  xport_pull_bandwidth_1MiB, _64MiB
 *                            xport_pull() of registered memory of rank 1
 *                            vs  the best of ucp_get_bw and tag_bw
 *
 * Like ours, ucx_perftest's latencies are one-way (round trip / 2) and its
 * "overall" column is total time / iterations. Between runs the ranks wait
 * without spinning (bx_barrier), so the timed threads have the cores that
 * ucx_perftest's two processes have.
 */
#include "bench/bench.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/waker.h"
#include "transport/xport.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BX_AM_PING 1
#define BX_AM_RATE 2
#define BX_AM_DONE 3
#define BX_LAT_ITERS 20000
#define BX_RATE_MSGS 200000

typedef struct bx_state {
    xport_ctx_h     xp;
    int             peer;
    atomic_long     count;
    long            target;
    bool            finished;
    pthread_mutex_t lock;
    pthread_cond_t  cond;
} bx_state_t;

static bx_state_t bx;

static void bx_finish(void)
{
    pthread_mutex_lock(&bx.lock);
    bx.finished = true;
    pthread_cond_signal(&bx.cond);
    pthread_mutex_unlock(&bx.lock);
}

static bool bx_wait(double timeout)
{
    struct timespec deadline;
    bool            ok = true;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)timeout;
    pthread_mutex_lock(&bx.lock);
    while (!bx.finished && ok) {
        ok = pthread_cond_timedwait(&bx.cond, &bx.lock, &deadline) == 0;
    }
    ok          = bx.finished;
    bx.finished = false;
    pthread_mutex_unlock(&bx.lock);
    return ok;
}

/* Ping-pong on the progress threads: each ping received is answered at once. */
static void bx_ping_handler(void *arg, int src, const void *hdr, size_t hdr_len,
                            xport_am_payload_t *payload)
{
    static const uint64_t word = 0x1234;

    (void)arg, (void)hdr, (void)hdr_len, (void)payload;
    if (atomic_fetch_add(&bx.count, 1) + 1 >= bx.target) {
        bx_finish();
        if (xport_rank(bx.xp) == 0) {
            return; /* rank 0 stops the exchange */
        }
    }
    xport_am_send(bx.xp, src, BX_AM_PING, NULL, 0, &word, sizeof(word), NULL, NULL);
}

static void bx_rate_handler(void *arg, int src, const void *hdr, size_t hdr_len,
                            xport_am_payload_t *payload)
{
    (void)arg, (void)hdr, (void)hdr_len, (void)payload;
    if (atomic_fetch_add(&bx.count, 1) + 1 == bx.target) {
        xport_am_send(bx.xp, src, BX_AM_DONE, NULL, 0, NULL, 0, NULL, NULL);
        bx_finish();
    }
}

static void bx_done_handler(void *arg, int src, const void *hdr, size_t hdr_len,
                            xport_am_payload_t *payload)
{
    (void)arg, (void)src, (void)hdr, (void)hdr_len, (void)payload;
    bx_finish();
}

static rmpi_status_t bx_open(bench_ctx_t *ctx)
{
    static const xport_am_handler_def_t handlers[] = {
        {BX_AM_PING, bx_ping_handler, NULL},
        {BX_AM_RATE, bx_rate_handler, NULL},
        {BX_AM_DONE, bx_done_handler, NULL},
    };
    xport_params_t params = {
        .field_mask   = XPORT_PARAM_HANDLERS,
        .handlers     = handlers,
        .num_handlers = sizeof(handlers) / sizeof(handlers[0]),
    };

    pthread_mutex_init(&bx.lock, NULL);
    pthread_cond_init(&bx.cond, NULL);
    bx.peer = ctx->rank == 0 ? 1 : 0;
    return xport_init(&params, &bx.xp);
}

static rmpi_status_t bx_close(void)
{
    rmpi_status_t status = xport_fini(bx.xp);

    pthread_mutex_destroy(&bx.lock);
    pthread_cond_destroy(&bx.cond);
    return status;
}

static void bx_reset(long target)
{
    atomic_store(&bx.count, 0);
    bx.target   = target;
    bx.finished = false;
}

/*
 * MPI_Barrier busy-polls (Open MPI's ob1): a rank that reaches it early, like
 * rank 1 while rank 0 times its pulls, would take a core from the two
 * progress threads being measured (ucx_perftest, the limit, runs two
 * processes and nothing else). Wait by polling a non-blocking barrier.
 */
static void bx_barrier(bench_ctx_t *ctx)
{
    struct timespec nap = {.tv_nsec = 50000};
    MPI_Request     req;
    int             done = 0;

    MPI_Ibarrier(ctx->comm, &req);
    while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) {
        nanosleep(&nap, NULL);
    }
}

static int bx_reps(const bench_ctx_t *ctx)
{
    return ctx->repetitions > 0 ? ctx->repetitions : 1;
}

/* --- ucx_perftest limits -------------------------------------------------------- */

typedef enum bx_column { BX_LAT = 3, BX_BW = 5, BX_RATE = 7 } bx_column_t;

/*
 * Run ucx_perftest @a test of @a size bytes between a server and a client
 * on 127.0.0.1 and return the "overall" @a column of its Final line, or -1.
 */
static double bx_perftest(const char *test, size_t size, int iters, bx_column_t column)
{
    static int port_seq;
    int        port = 20000 + (int)(getpid() % 20000) + port_seq++;
    char       cmd[512], line[512];
    double     values[8], result = -1;
    FILE      *out;

    if (system("command -v ucx_perftest >/dev/null 2>&1") != 0) {
        return -1;
    }
    /*
     * A clean environment (but UCX_*): ucx_perftest would take the MPI
     * launcher's variables as a request to run in MPI mode. The client
     * retries while the server is still starting.
     */
    snprintf(cmd, sizeof(cmd),
             "exec env -i PATH=\"$PATH\" $(env | grep '^UCX_') taskset -c 0-%d sh -c '"
             "timeout 60 ucx_perftest -p %d >/dev/null 2>&1 & srv=$!; "
             "for i in 1 2 3 4 5 6 7 8 9 10; do "
             "timeout 60 ucx_perftest 127.0.0.1 -p %d -t %s -s %zu -n %d -w %d 2>/dev/null "
             "| grep ^Final: && break; sleep 0.2; done; kill $srv 2>/dev/null; wait'",
             (int)sysconf(_SC_NPROCESSORS_ONLN) - 1, port, port, test, size, iters, iters / 10 + 1);
    base_debug("bench: %s", cmd);
    out = popen(cmd, "r");
    if (out == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), out) != NULL) {
        base_debug("bench: ucx_perftest said: %s", line);
        if (sscanf(line, "Final: %lf %lf %lf %lf %lf %lf %lf %lf", &values[0], &values[1],
                   &values[2], &values[3], &values[4], &values[5], &values[6], &values[7]) == 8) {
            result = values[column];
        }
    }
    pclose(out);
    return result;
}

static const char *bx_tls(void)
{
    const char *tls = getenv("UCX_TLS");

    return tls ? tls : "default";
}

/*
 * A limit measured by rank 0 and shared with all ranks. The others wait
 * without spinning: an MPI busy-wait would take a core from the measurement.
 */
static double bx_limit(bench_ctx_t *ctx, const char *test, size_t size, int iters,
                       bx_column_t column)
{
    struct timespec nap   = {.tv_nsec = 1000000};
    double          limit = -1;
    MPI_Request     req;
    int             done = 0;

    if (ctx->rank == 0) {
        limit = bx_perftest(test, size, iters, column);
    }
    MPI_Ibcast(&limit, 1, MPI_DOUBLE, 0, ctx->comm, &req);
    while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) {
        nanosleep(&nap, NULL);
    }
    return limit;
}

/* --- xport_am_latency ------------------------------------------------------------ */

static double bx_latency_once(bench_ctx_t *ctx, long iters)
{
    uint64_t word = 0x1234;
    double   t0;

    bx_reset(iters);
    bx_barrier(ctx);
    t0 = base_time_sec();
    if (ctx->rank == 0) {
        xport_am_send(bx.xp, 1, BX_AM_PING, NULL, 0, &word, sizeof(word), NULL, NULL);
    }
    if (ctx->rank <= 1 && !bx_wait(60)) {
        base_error("bench: xport_am_latency timed out");
    }
    return (base_time_sec() - t0) / (double)iters / 2 * 1e6;
}

static rmpi_status_t bx_latency(bench_ctx_t *ctx)
{
    long    iters = ctx->quick ? BX_LAT_ITERS / 10 : BX_LAT_ITERS;
    int     reps  = bx_reps(ctx);
    double *t     = calloc((size_t)reps, sizeof(double));
    double  limit;
    char    source[128];

    if (t == NULL || bx_open(ctx) != RMPI_OK) {
        free(t);
        return RMPI_ERR_NO_RESOURCE;
    }
    bx_latency_once(ctx, iters / 10); /* warm-up: endpoints, caches */
    for (int r = 0; r < reps; ++r) {
        t[r] = bx_latency_once(ctx, iters);
    }
    bx_barrier(ctx);
    bx_close();
    limit = bx_limit(ctx, "ucp_am_lat", 8, ctx->quick ? 10000 : 100000, BX_LAT);
    snprintf(source, sizeof(source), "ucx_perftest ucp_am_lat 8 B UCX_TLS=%s", bx_tls());
    bench_report(ctx, "xport_am_latency", bench_median(t, (size_t)reps), "us", limit, source);
    free(t);
    return RMPI_OK;
}

static bench_def_t bench_xport_latency = {
    .name      = "xport_am_latency",
    .help      = "8 B active-message one-way latency between ranks 0 and 1 (handler ping-pong)",
    .min_ranks = 2,
    .run       = bx_latency,
};
BENCH_REGISTER(bench_xport_latency)

/* --- xport_am_rate --------------------------------------------------------------- */

static double bx_rate_once(bench_ctx_t *ctx, long msgs)
{
    uint64_t word = 0x5678;
    double   t0;

    bx_reset(msgs);
    bx_barrier(ctx);
    t0 = base_time_sec();
    if (ctx->rank == 0) {
        for (long i = 0; i < msgs; ++i) {
            xport_am_send(bx.xp, 1, BX_AM_RATE, NULL, 0, &word, sizeof(word), NULL, NULL);
        }
    }
    if (ctx->rank <= 1 && !bx_wait(60)) {
        base_error("bench: xport_am_rate timed out");
    }
    return (double)msgs / (base_time_sec() - t0);
}

static rmpi_status_t bx_rate(bench_ctx_t *ctx)
{
    long    msgs = ctx->quick ? BX_RATE_MSGS / 10 : BX_RATE_MSGS;
    int     reps = bx_reps(ctx);
    double *r    = calloc((size_t)reps, sizeof(double));
    double  limit;
    char    source[128];

    if (r == NULL || bx_open(ctx) != RMPI_OK) {
        free(r);
        return RMPI_ERR_NO_RESOURCE;
    }
    bx_rate_once(ctx, msgs / 10);
    for (int i = 0; i < reps; ++i) {
        r[i] = bx_rate_once(ctx, msgs);
    }
    bx_barrier(ctx);
    bx_close();
    limit = bx_limit(ctx, "ucp_am_bw", 8, ctx->quick ? 10000 : 100000, BX_RATE);
    snprintf(source, sizeof(source), "ucx_perftest ucp_am_bw 8 B msg/s UCX_TLS=%s", bx_tls());
    bench_report(ctx, "xport_am_rate", bench_median(r, (size_t)reps), "msg/s", limit, source);
    free(r);
    return RMPI_OK;
}

static bench_def_t bench_xport_rate = {
    .name      = "xport_am_rate",
    .help      = "8 B active messages per second from rank 0's main thread to rank 1 (batched)",
    .min_ranks = 2,
    .run       = bx_rate,
};
BENCH_REGISTER(bench_xport_rate)

/* --- xport_pull_bandwidth --------------------------------------------------------- */

#define BX_PULL_WINDOW 4 /* pulls in flight, as ucx_perftest's bandwidth tests keep several */

/* The puller sleeps on its waker, as a rank's threads waiting for a pull do (objstore/remote.c). */
static void bx_pull_done(void *arg, rmpi_status_t status)
{
    if (status != RMPI_OK) {
        base_log_once(BASE_LOG_ERROR, "bench: pull failed: %s", rmpi_status_str(status));
    }
    atomic_fetch_add(&bx.count, 1);
    base_waker_wake(arg);
}

/* Sleep until fewer than @a most pulls of @a started are in flight. */
static void bx_pull_wait(base_waker_t *waker, int started, int most)
{
    for (;;) {
        uint32_t seq = base_waker_seq(waker);

        if (started - (int)atomic_load(&bx.count) <= most) {
            return;
        }
        (void)base_waker_wait(waker, seq, -1);
    }
}

/* MiB/s of @a iters pulls of @a size bytes by rank 0 from rank 1, a window at a time. */
static double bx_pull_once(bench_ctx_t *ctx, const void *rkey, size_t rkey_len, uint64_t addr,
                           void *dst, size_t size, int iters)
{
    base_waker_t *waker = base_waker_self();
    double        t0;

    bx_reset(iters);
    bx_barrier(ctx);
    t0 = base_time_sec();
    for (int i = 0; ctx->rank == 0 && waker != NULL && i < iters; ++i) {
        /* Keep at most BX_PULL_WINDOW in flight (the destination is shared: only speed counts). */
        bx_pull_wait(waker, i, BX_PULL_WINDOW - 1);
        if (xport_pull(bx.xp, 1, rkey, rkey_len, addr, dst, size, bx_pull_done, waker) != RMPI_OK) {
            base_error("bench: xport_pull failed");
            return 0;
        }
    }
    if (ctx->rank == 0 && waker != NULL) {
        bx_pull_wait(waker, iters, 0);
    }
    return (double)size * iters / (base_time_sec() - t0) / (1 << 20);
}

typedef struct bx_window {
    uint64_t addr;
    uint32_t rkey_len;
    char     rkey[1020];
} bx_window_t;

static rmpi_status_t bx_pull_window(bench_ctx_t *ctx, char *src, size_t size, xport_mem_h *mem_p,
                                    bx_window_t *win)
{
    void  *rkey = NULL;
    size_t len  = 0;

    memset(win, 0, sizeof(*win));
    if (ctx->rank == 1) {
        if (xport_mem_register(bx.xp, src, size, mem_p) != RMPI_OK ||
            xport_rkey_pack(bx.xp, *mem_p, &rkey, &len) != RMPI_OK || len > sizeof(win->rkey)) {
            return RMPI_ERR_NO_RESOURCE; /* (a real failure would hang rank 0: fine in a bench) */
        }
        win->addr     = (uintptr_t)src;
        win->rkey_len = (uint32_t)len;
        memcpy(win->rkey, rkey, len);
        free(rkey);
    }
    MPI_Bcast(win, sizeof(*win), MPI_BYTE, 1, ctx->comm);
    return RMPI_OK;
}

static rmpi_status_t bx_pull_bw(bench_ctx_t *ctx, const char *name, size_t size, int iters)
{
    int         reps = bx_reps(ctx);
    double     *bw   = calloc((size_t)reps, sizeof(double));
    char       *buf  = malloc(size);
    xport_mem_h mem  = NULL;
    bx_window_t win;
    double      get_bw, tag_bw;
    char        source[160];

    if (bw == NULL || buf == NULL || bx_open(ctx) != RMPI_OK) {
        free(bw), free(buf);
        return RMPI_ERR_NO_RESOURCE;
    }
    memset(buf, ctx->rank, size);
    if (bx_pull_window(ctx, buf, size, &mem, &win) == RMPI_OK) {
        bx_pull_once(ctx, win.rkey, win.rkey_len, win.addr, buf, size, 2);
        for (int r = 0; r < reps; ++r) {
            bw[r] = bx_pull_once(ctx, win.rkey, win.rkey_len, win.addr, buf, size, iters);
        }
    }
    bx_barrier(ctx);
    if (mem != NULL) {
        xport_mem_deregister(bx.xp, mem);
    }
    bx_close();
    /* UCX get over tcp takes minutes at 64 MiB (hpc-setup.md); tag_bw wins there anyway. */
    get_bw = strncmp(bx_tls(), "tcp", 3) == 0 && size > (1u << 20)
                 ? -1
                 : bx_limit(ctx, "ucp_get_bw", size, iters, BX_BW);
    tag_bw = bx_limit(ctx, "tag_bw", size, iters, BX_BW);
    snprintf(source, sizeof(source), "ucx_perftest %s %zu B UCX_TLS=%s",
             get_bw >= tag_bw ? "ucp_get_bw" : "tag_bw", size, bx_tls());
    bench_report(ctx, name, bench_median(bw, (size_t)reps), "MiB/s",
                 get_bw > tag_bw ? get_bw : tag_bw, source);
    free(bw), free(buf);
    return RMPI_OK;
}

static rmpi_status_t bx_pull_1m(bench_ctx_t *ctx)
{
    return bx_pull_bw(ctx, "xport_pull_bandwidth_1MiB", 1u << 20, ctx->quick ? 100 : 1000);
}

static rmpi_status_t bx_pull_64m(bench_ctx_t *ctx)
{
    return bx_pull_bw(ctx, "xport_pull_bandwidth_64MiB", 64u << 20, ctx->quick ? 5 : 20);
}

static bench_def_t bench_xport_pull_1m = {
    .name      = "xport_pull_bandwidth_1MiB",
    .help      = "xport_pull of 1 MiB of registered memory, rank 0 from rank 1",
    .min_ranks = 2,
    .run       = bx_pull_1m,
};
BENCH_REGISTER(bench_xport_pull_1m)

static bench_def_t bench_xport_pull_64m = {
    .name      = "xport_pull_bandwidth_64MiB",
    .help      = "xport_pull of 64 MiB of registered memory, rank 0 from rank 1",
    .min_ranks = 2,
    .run       = bx_pull_64m,
};
BENCH_REGISTER(bench_xport_pull_64m)
