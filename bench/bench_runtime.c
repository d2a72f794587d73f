/*
 * bench/bench_runtime.c - the core runtime through its public API (raympi.h),
 * named and shaped as Ray's `ray microbenchmark` (python/ray/_private/ray_perf.py)
 * so the figures line up with reference/performance-anchors.md.
 *
 * It is one benchmark, "runtime", run in_runtime: bench.c starts the runtime once
 * for it and the other in_runtime benchmarks (bench_gpu_rt.c), after every other
 * benchmark, because rmpi_init() runs once per process and does not return on
 * ranks other than 0: they serve tasks until rank 0 calls rmpi_shutdown(), then exit.
 *
 * Tasks are no-ops returning 2 bytes, as Ray's small_value returns b"ok"; the
 * default scheduler places them unless said otherwise. Rank 0 reports:
 *
 *  single_client_tasks_sync       submit one task and get it, again and again (tasks/s)
 *  single_client_tasks_async      submit 1000 tasks, then get them all (tasks/s)
 *  single_client_tasks_and_get_batch
 *                                 the same, counted in batches of 1000 per second
 *  multi_client_tasks_async       4 driver threads, each submits 10k tasks then gets
 *                                 them (Ray: 4 actors doing so), all together (tasks/s)
 *  single_client_wait_1k_refs     submit 1000 tasks, then rmpi_wait for one of the
 *                                 refs still waited for, 1000 times (runs/s)
 *  single_client_get_object_containing_10k_refs
 *                                 rmpi_get of an object that a task on rank 1 filled
 *                                 with the refs of its 10k rmpi_put objects; rank 0
 *                                 retains and frees every ref in it, as Ray's
 *                                 deserializer registers and drops each borrowed
 *                                 ref (gets/s)
 *  rmpi_put_calls, rmpi_get_calls rmpi_put + rmpi_ref_free of an 8-byte value, and
 *                                 rmpi_get + rmpi_object_release of one (per second);
 *                                 Ray's single_client_put/get_calls, names which the
 *                                 object store's own figures carry (bench_store.c)
 *  task_roundtrip_latency         submit + get of a task pinned to rank 1 (hard rank
 *                                 affinity), microseconds  vs  the transport's active-
 *                                 message round trip (xport_am_latency * 2: handler
 *                                 ping-pong, 8 B), measured in this run before the
 *                                 runtime starts, with an xport context of its own
 *  placement_group_create/removal(_remote)
 *                                 bench_pg.c, run here because it needs the runtime
 *
 * Each figure is the median over ctx->repetitions runs after a warm-up run;
 * ctx->quick shrinks the counts (not the shapes) for the tests.
 */
#include "bench/bench.h"
#include "bench/bench_rt.h"

#include "base/clock.h"
#include "base/log.h"
#include "transport/xport.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Counts per run of a figure: Ray's shapes, and (QUICK_) small ones for the tests. */
#define RB_BATCH 1000 /* tasks per batch, as ray_perf.py */
#define RB_QUICK_BATCH 100
#define RB_BATCHES 20 /* batches per run */
#define RB_QUICK_BATCHES 2
#define RB_SYNC_TASKS 5000 /* single_client_tasks_sync, task_roundtrip_latency */
#define RB_QUICK_SYNC_TASKS 100
#define RB_CLIENTS 4          /* multi_client_tasks_async: submitting threads, as ray_perf.py */
#define RB_CLIENT_TASKS 10000 /* ... and tasks each */
#define RB_QUICK_CLIENT_TASKS 200
#define RB_WAIT_RUNS 2 /* single_client_wait_1k_refs (of RB_BATCH refs each) */
#define RB_CONTAINED_REFS 10000
#define RB_QUICK_CONTAINED_REFS 1000
#define RB_CONTAINER_GETS 5
#define RB_QUICK_CONTAINER_GETS 2
#define RB_SMALL_CALLS 200000 /* rmpi_put_calls, rmpi_get_calls */
#define RB_QUICK_SMALL_CALLS 2000
#define RB_PING_ROUNDS 20000 /* xport round trips per run of the limit */
#define RB_QUICK_PING_ROUNDS 2000

#define RB_AM_PING 1

static const char rb_small_value[] = "ok";

/* --- remote functions (every rank registers them before rmpi_init) -------------- */

RMPI_REMOTE(rb_noop)
{
    (void)args, (void)nargs;
    return rmpi_return(ctx, 0, rb_small_value, sizeof(rb_small_value) - 1);
}

/* args[0]: a size_t count. Puts that many 8-byte values; returns their refs. */
RMPI_REMOTE(rb_make_refs)
{
    size_t      count;
    rmpi_ref_t *refs;

    if (nargs != 1 || args[0].size != sizeof(count)) {
        rmpi_task_error(ctx, "rb_make_refs expects one size_t");
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&count, args[0].data, sizeof(count));
    rmpi_status_t status = rmpi_return_alloc(ctx, 0, count * sizeof(*refs), NULL, (void **)&refs);
    size_t        put    = 0;
    while (status == RMPI_OK && put < count) {
        uint64_t one = 1;
        status       = rmpi_put(&one, sizeof(one), NULL, &refs[put]);
        put += status == RMPI_OK;
    }
    for (size_t i = 0; status != RMPI_OK && i < put; i++) {
        rmpi_ref_free(refs[i]); /* the task fails: nobody will free these */
    }
    return status;
}

/* args[0]: the refs rb_make_refs returned on this rank; drops the handles it kept. */
RMPI_REMOTE(rb_free_refs)
{
    const rmpi_ref_t *refs  = nargs == 1 ? args[0].data : NULL;
    size_t            count = nargs == 1 ? args[0].size / sizeof(*refs) : 0;

    for (size_t i = 0; i < count; i++) {
        rmpi_ref_free(refs[i]);
    }
    return rmpi_return(ctx, 0, rb_small_value, sizeof(rb_small_value) - 1);
}

/* --- helpers ------------------------------------------------------------------- */

static int rb_reps(const bench_ctx_t *ctx)
{
    return ctx->repetitions > 0 ? ctx->repetitions : 1;
}

long rb_count(const bench_ctx_t *ctx, long full, long quick)
{
    return ctx->quick ? quick : full;
}

static size_t rb_batch(const bench_ctx_t *ctx)
{
    return (size_t)rb_count(ctx, RB_BATCH, RB_QUICK_BATCH);
}

/* Submit a no-op task with @a opts (NULL: defaults). */
static rmpi_status_t rb_submit_noop(const rmpi_task_options_t *opts, rmpi_ref_t *ref_p)
{
    return rmpi_submit("rb_noop", NULL, 0, opts, ref_p);
}

/* Get @a n refs (objs has room for n), release the objects and free the refs. */
static rmpi_status_t rb_get_and_free(const rmpi_ref_t *refs, size_t n, rmpi_object_t *objs)
{
    rmpi_status_t status = rmpi_get(refs, n, RB_TIMEOUT, objs);

    if (status != RMPI_ERR_TIMEOUT) {
        for (size_t i = 0; i < n; i++) {
            rmpi_object_release(&objs[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        rmpi_ref_free(refs[i]);
    }
    return status;
}

/* Submit @a n no-op tasks, then get them all. refs and objs have room for n. */
static rmpi_status_t rb_batch_once(size_t n, rmpi_ref_t *refs, rmpi_object_t *objs)
{
    for (size_t i = 0; i < n; i++) {
        rmpi_status_t status = rb_submit_noop(NULL, &refs[i]);
        if (status != RMPI_OK) {
            rb_get_and_free(refs, i, objs);
            return status;
        }
    }
    return rb_get_and_free(refs, n, objs);
}

/* Submit one task with @a opts and get it, @a n times. */
static rmpi_status_t rb_sync_tasks(const rmpi_task_options_t *opts, long n)
{
    for (long i = 0; i < n; i++) {
        rmpi_object_t obj;
        rmpi_ref_t    ref;
        rmpi_status_t status = rb_submit_noop(opts, &ref);

        if (status == RMPI_OK) {
            status = rb_get_and_free(&ref, 1, &obj);
        }
        if (status != RMPI_OK) {
            return status;
        }
    }
    return RMPI_OK;
}

/* --- tasks --------------------------------------------------------------------- */

static rmpi_status_t rb_tasks_sync(const bench_ctx_t *ctx, double *tasks_per_sec_p)
{
    long          n  = rb_count(ctx, RB_SYNC_TASKS, RB_QUICK_SYNC_TASKS);
    double        t0 = base_time_sec();
    rmpi_status_t status;

    status           = rb_sync_tasks(NULL, n);
    *tasks_per_sec_p = (double)n / (base_time_sec() - t0);
    return status;
}

/* @a batches batches of rb_batch() tasks; *elapsed_p: their time in seconds. */
static rmpi_status_t rb_batches(const bench_ctx_t *ctx, int batches, double *elapsed_p)
{
    size_t         n      = rb_batch(ctx);
    rmpi_ref_t    *refs   = calloc(n, sizeof(*refs));
    rmpi_object_t *objs   = calloc(n, sizeof(*objs));
    rmpi_status_t  status = refs && objs ? RMPI_OK : RMPI_ERR_NO_MEMORY;
    double         t0     = base_time_sec();

    for (int b = 0; status == RMPI_OK && b < batches; b++) {
        status = rb_batch_once(n, refs, objs);
    }
    *elapsed_p = base_time_sec() - t0;
    free(refs), free(objs);
    return status;
}

static rmpi_status_t rb_tasks_async(const bench_ctx_t *ctx, double *tasks_per_sec_p)
{
    int           batches = (int)rb_count(ctx, RB_BATCHES, RB_QUICK_BATCHES);
    double        elapsed;
    rmpi_status_t status = rb_batches(ctx, batches, &elapsed);

    *tasks_per_sec_p = (double)batches * (double)rb_batch(ctx) / elapsed;
    return status;
}

static rmpi_status_t rb_tasks_and_get_batch(const bench_ctx_t *ctx, double *batches_per_sec_p)
{
    int           batches = (int)rb_count(ctx, RB_BATCHES, RB_QUICK_BATCHES);
    double        elapsed;
    rmpi_status_t status = rb_batches(ctx, batches, &elapsed);

    *batches_per_sec_p = (double)batches / elapsed;
    return status;
}

/* --- multi_client_tasks_async -------------------------------------------------- */

typedef struct rb_client {
    pthread_t     thread;
    size_t        tasks;
    rmpi_status_t status;
} rb_client_t;

static void *rb_client_main(void *arg)
{
    rb_client_t   *client = arg;
    rmpi_ref_t    *refs   = calloc(client->tasks, sizeof(*refs));
    rmpi_object_t *objs   = calloc(client->tasks, sizeof(*objs));

    client->status = refs && objs ? rb_batch_once(client->tasks, refs, objs) : RMPI_ERR_NO_MEMORY;
    free(refs), free(objs);
    return NULL;
}

static rmpi_status_t rb_multi_client(const bench_ctx_t *ctx, double *tasks_per_sec_p)
{
    rb_client_t   clients[RB_CLIENTS];
    int           started = 0;
    rmpi_status_t status  = RMPI_OK;
    double        t0      = base_time_sec();

    for (; started < RB_CLIENTS; started++) {
        clients[started].tasks  = (size_t)rb_count(ctx, RB_CLIENT_TASKS, RB_QUICK_CLIENT_TASKS);
        clients[started].status = RMPI_OK;
        if (pthread_create(&clients[started].thread, NULL, rb_client_main, &clients[started])) {
            status = RMPI_ERR_NO_RESOURCE;
            break;
        }
    }
    for (int i = 0; i < started; i++) {
        pthread_join(clients[i].thread, NULL);
        if (status == RMPI_OK) {
            status = clients[i].status;
        }
    }
    *tasks_per_sec_p = (double)RB_CLIENTS * (double)clients[0].tasks / (base_time_sec() - t0);
    return status;
}

/* --- single_client_wait_1k_refs ------------------------------------------------ */

/*
 * As ray_perf.py: wait for one ready ref among those not seen ready yet, drop it
 * from the list, repeat until none is left. Only the first wait fetches. Frees
 * every ref of @a refs, also on failure.
 */
static rmpi_status_t rb_wait_each(rmpi_ref_t *refs, size_t n, uint8_t *ready)
{
    uint64_t      flags  = RMPI_WAIT_FETCH_LOCAL;
    rmpi_status_t status = RMPI_OK;

    while (status == RMPI_OK && n > 0) {
        size_t num_ready = 0;
        size_t i         = 0;

        status = rmpi_wait(refs, n, 1, RB_TIMEOUT, flags, ready, &num_ready);
        if (status == RMPI_OK && num_ready == 0) {
            status = RMPI_ERR_TIMEOUT;
        }
        while (status == RMPI_OK && !ready[i]) {
            i++;
        }
        if (status == RMPI_OK) {
            rmpi_ref_free(refs[i]);
            refs[i] = refs[--n]; /* order does not matter to rmpi_wait */
            flags   = 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        rmpi_ref_free(refs[i]);
    }
    return status;
}

static rmpi_status_t rb_wait_1k_refs(const bench_ctx_t *ctx, double *runs_per_sec_p)
{
    size_t        n      = rb_batch(ctx);
    int           runs   = (int)rb_count(ctx, RB_WAIT_RUNS, 1);
    rmpi_ref_t   *refs   = calloc(n, sizeof(*refs));
    uint8_t      *ready  = calloc(n, sizeof(*ready));
    rmpi_status_t status = refs && ready ? RMPI_OK : RMPI_ERR_NO_MEMORY;
    double        t0     = base_time_sec();

    for (int r = 0; status == RMPI_OK && r < runs; r++) {
        size_t submitted = 0;

        while (status == RMPI_OK && submitted < n) {
            status = rb_submit_noop(NULL, &refs[submitted]);
            submitted += status == RMPI_OK;
        }
        if (status == RMPI_OK) {
            status = rb_wait_each(refs, n, ready);
        } else {
            for (size_t i = 0; i < submitted; i++) {
                rmpi_ref_free(refs[i]);
            }
        }
    }
    *runs_per_sec_p = (double)runs / (base_time_sec() - t0);
    free(refs), free(ready);
    return status;
}

/* --- single_client_get_object_containing_10k_refs ------------------------------ */

/*
 * The container, made once by a task, as ray_perf.py makes it outside the timing.
 * The task runs on rank 1, so rank 0 borrows the refs in it, as Ray's driver
 * borrows those a worker process made.
 */
static rmpi_ref_t rb_container;

static rmpi_status_t rb_make_container(const bench_ctx_t *ctx)
{
    size_t              count = (size_t)rb_count(ctx, RB_CONTAINED_REFS, RB_QUICK_CONTAINED_REFS);
    rmpi_task_arg_t     arg   = rmpi_arg_value(&count, sizeof(count));
    rmpi_task_options_t opts  = {.field_mask    = RMPI_TASK_OPT_STRATEGY,
                                 .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                 .affinity_rank = 1};
    rmpi_object_t       obj;
    rmpi_status_t       status = rmpi_submit("rb_make_refs", &arg, 1, &opts, &rb_container);

    if (status != RMPI_OK) {
        return status;
    }
    /* wait here, so the first timed get does not also time the task */
    status = rmpi_get(&rb_container, 1, RB_TIMEOUT, &obj);
    if (status != RMPI_ERR_TIMEOUT) {
        rmpi_object_release(&obj);
    }
    return status;
}

/*
 * Drop the container: the contained objects are owned by the rank that ran
 * rb_make_refs, which kept their handles; a task there drops them.
 */
static rmpi_status_t rb_free_container(void)
{
    rmpi_object_t       obj;
    rmpi_ref_t          first, done;
    rmpi_task_arg_t     arg    = rmpi_arg_ref(rb_container);
    rmpi_task_options_t opts   = {.field_mask = RMPI_TASK_OPT_STRATEGY,
                                  .strategy   = RMPI_SCHED_RANK_AFFINITY};
    rmpi_status_t       status = rmpi_get(&rb_container, 1, RB_TIMEOUT, &obj);

    if (status != RMPI_ERR_TIMEOUT) {
        if (status == RMPI_OK && obj.size >= sizeof(first)) {
            memcpy(&first, obj.data, sizeof(first));
            opts.affinity_rank = rmpi_ref_owner(first);
        }
        rmpi_object_release(&obj);
    }
    if (status == RMPI_OK) {
        status = rmpi_submit("rb_free_refs", &arg, 1, &opts, &done);
    }
    if (status == RMPI_OK) {
        status = rb_get_and_free(&done, 1, &obj);
    }
    rmpi_ref_free(rb_container);
    return status;
}

static rmpi_status_t rb_get_container(const bench_ctx_t *ctx, double *gets_per_sec_p)
{
    int    gets = (int)rb_count(ctx, RB_CONTAINER_GETS, RB_QUICK_CONTAINER_GETS);
    double t0   = base_time_sec();

    for (int g = 0; g < gets; g++) {
        rmpi_object_t obj;
        rmpi_status_t status = rmpi_get(&rb_container, 1, RB_TIMEOUT, &obj);

        if (status == RMPI_ERR_TIMEOUT) {
            return status;
        }
        const rmpi_ref_t *refs  = obj.data;
        size_t            count = status == RMPI_OK ? obj.size / sizeof(*refs) : 0;
        for (size_t i = 0; status == RMPI_OK && i < count; i++) {
            status = rmpi_ref_retain(refs[i]);
        }
        for (size_t i = 0; status == RMPI_OK && i < count; i++) {
            status = rmpi_ref_free(refs[i]);
        }
        rmpi_object_release(&obj);
        if (status != RMPI_OK) {
            return status;
        }
    }
    *gets_per_sec_p = gets / (base_time_sec() - t0);
    return RMPI_OK;
}

/* --- put and get calls ---------------------------------------------------------- */

static rmpi_status_t rb_put_calls(const bench_ctx_t *ctx, double *puts_per_sec_p)
{
    long     n     = rb_count(ctx, RB_SMALL_CALLS, RB_QUICK_SMALL_CALLS);
    uint64_t value = 0;
    double   t0    = base_time_sec();

    for (long i = 0; i < n; i++) {
        rmpi_ref_t    ref;
        rmpi_status_t status = rmpi_put(&value, sizeof(value), NULL, &ref);

        if (status != RMPI_OK) {
            return status;
        }
        rmpi_ref_free(ref);
    }
    *puts_per_sec_p = (double)n / (base_time_sec() - t0);
    return RMPI_OK;
}

/* The object rb_get_calls gets, put once as ray_perf.py does. */
static rmpi_ref_t rb_small_object;

static rmpi_status_t rb_get_calls(const bench_ctx_t *ctx, double *gets_per_sec_p)
{
    long   n  = rb_count(ctx, RB_SMALL_CALLS, RB_QUICK_SMALL_CALLS);
    double t0 = base_time_sec();

    for (long i = 0; i < n; i++) {
        rmpi_object_t obj;
        rmpi_status_t status = rmpi_get(&rb_small_object, 1, RB_TIMEOUT, &obj);

        if (status != RMPI_ERR_TIMEOUT) {
            rmpi_object_release(&obj);
        }
        if (status != RMPI_OK) {
            return status;
        }
    }
    *gets_per_sec_p = (double)n / (base_time_sec() - t0);
    return RMPI_OK;
}

/* --- task_roundtrip_latency and its limit ---------------------------------------- */

static rmpi_status_t rb_roundtrip(const bench_ctx_t *ctx, double *usec_p)
{
    long                n    = rb_count(ctx, RB_SYNC_TASKS, RB_QUICK_SYNC_TASKS);
    rmpi_task_options_t opts = {.field_mask    = RMPI_TASK_OPT_STRATEGY,
                                .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                .affinity_rank = 1,
                                .soft          = 0};
    double              t0   = base_time_sec();
    rmpi_status_t       status;

    status  = rb_sync_tasks(&opts, n);
    *usec_p = (base_time_sec() - t0) / (double)n * 1e6;
    return status;
}

/* The transport's round trip: an 8 B ping that rank 1's handler answers at once. */
typedef struct rb_ping {
    xport_ctx_h     xp;
    atomic_long     rounds; /* round trips left in the current run (rank 0) */
    bool            done;
    pthread_mutex_t lock;
    pthread_cond_t  cond;
} rb_ping_t;

static rb_ping_t rb_ping = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void rb_ping_handler(void *arg, int src, const void *hdr, size_t hdr_len,
                            xport_am_payload_t *payload)
{
    static const uint64_t word = 0x1234;

    (void)arg, (void)hdr, (void)hdr_len, (void)payload;
    /* rank 1 answers every ping; rank 0 pings again until the run is done */
    if (xport_rank(rb_ping.xp) == 0 && atomic_fetch_sub(&rb_ping.rounds, 1) <= 1) {
        pthread_mutex_lock(&rb_ping.lock);
        rb_ping.done = true;
        pthread_cond_signal(&rb_ping.cond);
        pthread_mutex_unlock(&rb_ping.lock);
        return;
    }
    xport_am_send(rb_ping.xp, src, RB_AM_PING, NULL, 0, &word, sizeof(word), NULL, NULL);
}

static const xport_am_handler_def_t rb_ping_handlers[] = {{RB_AM_PING, rb_ping_handler, NULL}};

static const xport_params_t rb_ping_params = {
    .field_mask   = XPORT_PARAM_HANDLERS,
    .handlers     = rb_ping_handlers,
    .num_handlers = sizeof(rb_ping_handlers) / sizeof(rb_ping_handlers[0]),
};

static rmpi_status_t rb_ping_once(const bench_ctx_t *ctx, double *usec_p)
{
    static const uint64_t word   = 0x1234;
    long                  rounds = rb_count(ctx, RB_PING_ROUNDS, RB_QUICK_PING_ROUNDS);
    struct timespec       deadline;
    bool                  done;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)RB_TIMEOUT;
    atomic_store(&rb_ping.rounds, rounds);
    rb_ping.done = false;

    double t0 = base_time_sec();
    xport_am_send(rb_ping.xp, 1, RB_AM_PING, NULL, 0, &word, sizeof(word), NULL, NULL);
    pthread_mutex_lock(&rb_ping.lock);
    while (!rb_ping.done && pthread_cond_timedwait(&rb_ping.cond, &rb_ping.lock, &deadline) == 0) {
    }
    done = rb_ping.done;
    pthread_mutex_unlock(&rb_ping.lock);
    *usec_p = (base_time_sec() - t0) / (double)rounds * 1e6;
    return done ? RMPI_OK : RMPI_ERR_TIMEOUT;
}

/*
 * Wait for every rank without spinning: Open MPI's MPI_Barrier polls, and
 * would take a core from the progress threads of the ranks being measured.
 */
static void rb_barrier(const bench_ctx_t *ctx)
{
    struct timespec nap = {.tv_nsec = 50000};
    MPI_Request     req;
    int             done = 0;

    MPI_Ibarrier(ctx->comm, &req);
    while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) {
        nanosleep(&nap, NULL);
    }
}

rmpi_status_t rb_measure(const bench_ctx_t *ctx, rb_once_fn_t once, double *median_p)
{
    int           reps   = rb_reps(ctx);
    double       *values = calloc((size_t)reps, sizeof(*values));
    double        warm_up;
    rmpi_status_t status = values != NULL ? once(ctx, &warm_up) : RMPI_ERR_NO_MEMORY;

    for (int r = 0; status == RMPI_OK && r < reps; r++) {
        status = once(ctx, &values[r]);
    }
    if (status == RMPI_OK) {
        *median_p = bench_median(values, (size_t)reps);
    }
    free(values);
    return status;
}

/*
 * The limit of task_roundtrip_latency, in microseconds, on rank 0 (-1 when it
 * could not be measured). Collective: every rank opens and closes an xport
 * context of its own, before rmpi_init makes the runtime's.
 */
static double rb_xport_roundtrip(bench_ctx_t *ctx)
{
    double        usec   = -1;
    rmpi_status_t status = xport_init(&rb_ping_params, &rb_ping.xp);

    if (status != RMPI_OK) {
        base_error("bench: xport_init failed: %s", rmpi_status_str(status));
        return -1;
    }
    rb_barrier(ctx);
    if (ctx->rank == 0 && (status = rb_measure(ctx, rb_ping_once, &usec)) != RMPI_OK) {
        base_error("bench: xport round trip failed: %s", rmpi_status_str(status));
        usec = -1;
    }
    rb_barrier(ctx);
    xport_fini(rb_ping.xp);
    return usec;
}

/* --- the benchmark ------------------------------------------------------------- */

rmpi_status_t rb_figure(const bench_ctx_t *ctx, const char *name, const char *unit,
                        rb_once_fn_t once, double limit, const char *limit_source)
{
    double        value;
    rmpi_status_t status = rb_measure(ctx, once, &value);

    if (status == RMPI_OK) {
        bench_report(ctx, name, value, unit, limit, limit_source);
    } else {
        base_error("bench: %s failed: %s", name, rmpi_status_str(status));
    }
    return status;
}

typedef struct rb_figure_def {
    const char  *name;
    const char  *unit;
    rb_once_fn_t once;
} rb_figure_def_t;

static rmpi_status_t rb_task_figures(const bench_ctx_t *ctx)
{
    static const rb_figure_def_t figures[] = {
        {"single_client_tasks_sync", "tasks/s", rb_tasks_sync},
        {"single_client_tasks_async", "tasks/s", rb_tasks_async},
        {"single_client_tasks_and_get_batch", "batches/s", rb_tasks_and_get_batch},
        {"multi_client_tasks_async", "tasks/s", rb_multi_client},
        {"single_client_wait_1k_refs", "runs/s", rb_wait_1k_refs},
    };
    rmpi_status_t status = RMPI_OK;

    for (size_t i = 0; status == RMPI_OK && i < sizeof(figures) / sizeof(figures[0]); i++) {
        status = rb_figure(ctx, figures[i].name, figures[i].unit, figures[i].once, -1, NULL);
    }
    return status;
}

static rmpi_status_t rb_object_figures(const bench_ctx_t *ctx)
{
    uint64_t      zero   = 0;
    rmpi_status_t status = rb_make_container(ctx);

    if (status == RMPI_OK) {
        status = rb_figure(ctx, "single_client_get_object_containing_10k_refs", "gets/s",
                           rb_get_container, -1, NULL);
        rmpi_status_t freed = rb_free_container();
        status              = status != RMPI_OK ? status : freed;
    }
    if (status == RMPI_OK) {
        status = rb_figure(ctx, "rmpi_put_calls", "puts/s", rb_put_calls, -1, NULL);
    }
    if (status == RMPI_OK &&
        (status = rmpi_put(&zero, sizeof(zero), NULL, &rb_small_object)) == RMPI_OK) {
        status = rb_figure(ctx, "rmpi_get_calls", "gets/s", rb_get_calls, -1, NULL);
        rmpi_ref_free(rb_small_object);
    }
    return status;
}

static rmpi_status_t rb_latency_figure(const bench_ctx_t *ctx, double limit)
{
    const char *tls = getenv("UCX_TLS");
    char        source[128];

    snprintf(source, sizeof(source), "xport_am_latency*2, 8 B handler ping-pong, UCX_TLS=%s",
             tls ? tls : "default");
    return rb_figure(ctx, "task_roundtrip_latency", "us", rb_roundtrip, limit, source);
}

/* The limit of task_roundtrip_latency, measured by rb_before_runtime. */
static double rb_am_roundtrip_us = -1;

/* Collective, on every rank before rmpi_init: the transport's round trip. */
static rmpi_status_t rb_before_runtime(bench_ctx_t *ctx)
{
    rb_am_roundtrip_us = rb_xport_roundtrip(ctx); /* -1 (no limit printed) when it failed */
    return RMPI_OK;
}

/* On rank 0, with the runtime up (bench.c started it). */
static rmpi_status_t rb_run(bench_ctx_t *ctx)
{
    rmpi_status_t status = rb_task_figures(ctx);

    if (status == RMPI_OK) {
        status = rb_object_figures(ctx);
    }
    if (status == RMPI_OK) {
        status = rb_latency_figure(ctx, rb_am_roundtrip_us);
    }
    if (status == RMPI_OK) {
        status = rb_actor_figures(ctx, rb_am_roundtrip_us);
    }
    if (status == RMPI_OK) {
        status = bench_pg_figures(ctx);
    }
    return status;
}

static bench_def_t bench_runtime = {
    .name           = "runtime",
    .help           = "tasks, waits, puts and gets through the public API (Ray's microbenchmark "
                      "names); runs last",
    .min_ranks      = 2,
    .run            = rb_run,
    .in_runtime     = true,
    .before_runtime = rb_before_runtime,
};
BENCH_REGISTER(bench_runtime)
