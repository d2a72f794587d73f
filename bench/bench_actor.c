/*
 * bench/bench_actor.c - actor calls through the public API, named and shaped
 * as Ray's `ray microbenchmark` (python/ray/_private/ray_perf.py). Part of
 * the "runtime" benchmark (bench_runtime.c runs these after its own figures,
 * in the same rmpi_init). Methods are no-ops returning 2 bytes, as Ray's
 * small_value. Rank 0 reports:
 *
 *  1_1_actor_calls_sync          call an actor on rank 1 and get it, again and again
 *  1_1_actor_calls_async         1000 calls to it, then get them all (calls/s)
 *  1_1_actor_calls_concurrent    the same to an actor with max_concurrency 16
 *  1_1_async_actor_calls_async   the same to an async actor (RMPI_ACTOR_OPT_ASYNC:
 *                                calls run as fibres on one thread, docs/actors.md)
 *  1_n_actor_calls_async         1000 calls to each of one actor per rank, then get
 *  n_n_actor_calls_async         one client task per rank, each calling its own actor
 *                                (on the next rank) 1000 times async; total calls/s
 *  n_n_actor_calls_with_arg_async
 *                                the same, each call taking a ref of an rmpi_put value
 *  actor_call_roundtrip_latency  a sync call's round trip (us) vs the transport's AM
 *                                round trip measured in the same run (target <= 10x)
 */
#include "bench/bench_rt.h"

#include "base/clock.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RA_BATCH 1000
#define RA_QUICK_BATCH 100
#define RA_BATCHES 10
#define RA_QUICK_BATCHES 2
#define RA_SYNC_CALLS 5000
#define RA_QUICK_SYNC_CALLS 100
#define RA_MAX_ACTORS 256

static const char ra_small_value[] = "ok";

/* --- the actor and the client task (registered on every rank before rmpi_init) --------- */

static rmpi_status_t ra_ctor(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs)
{
    (void)args, (void)nargs;
    return rmpi_actor_set_state(ctx, NULL);
}

static void __attribute__((constructor)) ra_register(void)
{
    (void)rmpi_register_actor_class("RbActor", ra_ctor, NULL);
}

RMPI_ACTOR_METHOD(RbActor, small_value)
{
    (void)args, (void)nargs;
    return rmpi_return(ctx, 0, ra_small_value, sizeof(ra_small_value) - 1);
}

/* Call @a actor @a n times (with @a arg as a ref argument if given), then get all. */
static rmpi_status_t ra_calls(rmpi_actor_t actor, size_t n, const rmpi_ref_t *arg)
{
    rmpi_ref_t     *refs   = calloc(n, sizeof(*refs));
    rmpi_object_t  *objs   = calloc(n, sizeof(*objs));
    rmpi_task_arg_t targ   = arg != NULL ? rmpi_arg_ref(*arg) : rmpi_arg_value(NULL, 0);
    rmpi_status_t   status = refs != NULL && objs != NULL ? RMPI_OK : RMPI_ERR_NO_MEMORY;
    size_t          made   = 0;

    while (status == RMPI_OK && made < n) {
        status = rmpi_actor_call(actor, "small_value", &targ, arg != NULL, NULL, &refs[made]);
        made += status == RMPI_OK;
    }
    if (status == RMPI_OK) {
        status = rmpi_get(refs, made, RB_TIMEOUT, objs);
        for (size_t i = 0; status != RMPI_ERR_TIMEOUT && i < made; i++) {
            status = status == RMPI_OK ? objs[i].status : status;
            rmpi_object_release(&objs[i]);
        }
    }
    for (size_t i = 0; i < made; i++) {
        rmpi_ref_free(refs[i]);
    }
    free(refs), free(objs);
    return status;
}

/* args: the actor handle, a size_t count, an optional flag "with a ref argument". */
RMPI_REMOTE(ra_client)
{
    rmpi_actor_t  actor;
    size_t        count;
    rmpi_ref_t    arg;
    rmpi_status_t status;
    uint64_t      zero = 0;

    if (nargs < 2 || args[0].size != sizeof(actor) || args[1].size != sizeof(count)) {
        rmpi_task_error(ctx, "ra_client expects a handle and a count");
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&actor, args[0].data, sizeof(actor));
    memcpy(&count, args[1].data, sizeof(count));
    if (nargs < 3) {
        status = ra_calls(actor, count, NULL);
    } else if ((status = rmpi_put(&zero, sizeof(zero), NULL, &arg)) == RMPI_OK) {
        status = ra_calls(actor, count, &arg);
        rmpi_ref_free(arg);
    }
    return status == RMPI_OK ? rmpi_return(ctx, 0, ra_small_value, 2) : status;
}

/* --- the actors of a run ------------------------------------------------------------------ */

static rmpi_actor_t ra_one, ra_sixteen, ra_async;
static rmpi_actor_t ra_each[RA_MAX_ACTORS];
static int          ra_num_each;

/* @a max_concurrency 0: an async actor (fibres on one thread, Ray's default of 1000 calls). */
static rmpi_status_t ra_create(int rank, unsigned max_concurrency, rmpi_actor_t *actor_p)
{
    rmpi_actor_options_t opts = {
        .field_mask = RMPI_ACTOR_OPT_STRATEGY |
                      (max_concurrency > 0 ? RMPI_ACTOR_OPT_MAX_CONCURRENCY : RMPI_ACTOR_OPT_ASYNC),
        .async           = max_concurrency == 0,
        .strategy        = RMPI_SCHED_RANK_AFFINITY,
        .affinity_rank   = rank,
        .max_concurrency = max_concurrency,
    };
    rmpi_status_t status = rmpi_actor_create("RbActor", NULL, 0, &opts, actor_p);

    return status == RMPI_OK ? rmpi_actor_wait_ready(*actor_p, RB_TIMEOUT) : status;
}

static rmpi_status_t ra_setup(void)
{
    int           ranks  = rmpi_size();
    rmpi_status_t status = ra_create(1, 1, &ra_one);

    if (status == RMPI_OK) {
        status = ra_create(1, 16, &ra_sixteen);
    }
    if (status == RMPI_OK) {
        status = ra_create(1, 0, &ra_async);
    }
    ra_num_each = ranks < RA_MAX_ACTORS ? ranks : RA_MAX_ACTORS;
    for (int r = 0; status == RMPI_OK && r < ra_num_each; r++) {
        status = ra_create(r, 1, &ra_each[r]);
    }
    return status;
}

static void ra_teardown(void)
{
    rmpi_actor_kill(ra_one, RMPI_ACTOR_KILL_NO_RESTART);
    rmpi_actor_kill(ra_sixteen, RMPI_ACTOR_KILL_NO_RESTART);
    rmpi_actor_kill(ra_async, RMPI_ACTOR_KILL_NO_RESTART);
    for (int r = 0; r < ra_num_each; r++) {
        rmpi_actor_kill(ra_each[r], RMPI_ACTOR_KILL_NO_RESTART);
    }
}

/* --- figures ------------------------------------------------------------------------------- */

static size_t ra_batch(const bench_ctx_t *ctx)
{
    return (size_t)rb_count(ctx, RA_BATCH, RA_QUICK_BATCH);
}

static rmpi_status_t ra_sync(const bench_ctx_t *ctx, double *calls, double *seconds)
{
    long          n      = rb_count(ctx, RA_SYNC_CALLS, RA_QUICK_SYNC_CALLS);
    double        t0     = base_time_sec();
    rmpi_status_t status = RMPI_OK;

    for (long i = 0; status == RMPI_OK && i < n; i++) {
        status = ra_calls(ra_one, 1, NULL);
    }
    *calls   = (double)n;
    *seconds = base_time_sec() - t0;
    return status;
}

static rmpi_status_t ra_calls_sync(const bench_ctx_t *ctx, double *per_sec_p)
{
    double        calls, seconds;
    rmpi_status_t status = ra_sync(ctx, &calls, &seconds);

    *per_sec_p = calls / seconds;
    return status;
}

static rmpi_status_t ra_latency(const bench_ctx_t *ctx, double *usec_p)
{
    double        calls, seconds;
    rmpi_status_t status = ra_sync(ctx, &calls, &seconds);

    *usec_p = seconds / calls * 1e6;
    return status;
}

/* Batches of async calls to one actor. */
static rmpi_status_t ra_batches(const bench_ctx_t *ctx, rmpi_actor_t actor, double *per_sec_p)
{
    int           batches = (int)rb_count(ctx, RA_BATCHES, RA_QUICK_BATCHES);
    double        t0      = base_time_sec();
    rmpi_status_t status  = RMPI_OK;

    for (int b = 0; status == RMPI_OK && b < batches; b++) {
        status = ra_calls(actor, ra_batch(ctx), NULL);
    }
    *per_sec_p = (double)batches * (double)ra_batch(ctx) / (base_time_sec() - t0);
    return status;
}

static rmpi_status_t ra_calls_async(const bench_ctx_t *ctx, double *per_sec_p)
{
    return ra_batches(ctx, ra_one, per_sec_p);
}

static rmpi_status_t ra_calls_concurrent(const bench_ctx_t *ctx, double *per_sec_p)
{
    return ra_batches(ctx, ra_sixteen, per_sec_p);
}

static rmpi_status_t ra_async_actor(const bench_ctx_t *ctx, double *per_sec_p)
{
    return ra_batches(ctx, ra_async, per_sec_p);
}

/* 1:n: the driver calls every actor ra_batch() times, round robin, then gets all. */
static rmpi_status_t ra_one_to_n(const bench_ctx_t *ctx, double *per_sec_p)
{
    size_t         n      = ra_batch(ctx) * (size_t)ra_num_each;
    rmpi_ref_t    *refs   = calloc(n, sizeof(*refs));
    rmpi_object_t *objs   = calloc(n, sizeof(*objs));
    rmpi_status_t  status = refs != NULL && objs != NULL ? RMPI_OK : RMPI_ERR_NO_MEMORY;
    double         t0     = base_time_sec();
    size_t         made   = 0;

    while (status == RMPI_OK && made < n) {
        status = rmpi_actor_call(ra_each[made % (size_t)ra_num_each], "small_value", NULL, 0, NULL,
                                 &refs[made]);
        made += status == RMPI_OK;
    }
    if (status == RMPI_OK && (status = rmpi_get(refs, made, RB_TIMEOUT, objs)) == RMPI_OK) {
        for (size_t i = 0; i < made; i++) {
            rmpi_object_release(&objs[i]);
        }
    }
    *per_sec_p = (double)made / (base_time_sec() - t0);
    for (size_t i = 0; i < made; i++) {
        rmpi_ref_free(refs[i]);
    }
    free(refs), free(objs);
    return status;
}

/* n:n: a client task per rank calls the actor of the next rank. */
static rmpi_status_t ra_n_to_n_run(const bench_ctx_t *ctx, bool with_arg, double *per_sec_p)
{
    size_t        count = ra_batch(ctx);
    rmpi_ref_t    refs[RA_MAX_ACTORS];
    rmpi_object_t objs[RA_MAX_ACTORS];
    rmpi_status_t status = RMPI_OK;
    double        t0     = base_time_sec();
    uint8_t       flag   = 1;
    int           made   = 0;

    while (status == RMPI_OK && made < ra_num_each) {
        rmpi_task_arg_t args[3] = {
            rmpi_arg_value(&ra_each[(made + 1) % ra_num_each], sizeof(rmpi_actor_t)),
            rmpi_arg_value(&count, sizeof(count)), rmpi_arg_value(&flag, 1)};
        rmpi_task_options_t opts = {.field_mask    = RMPI_TASK_OPT_STRATEGY,
                                    .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                    .affinity_rank = made};

        status = rmpi_submit("ra_client", args, with_arg ? 3 : 2, &opts, &refs[made]);
        made += status == RMPI_OK;
    }
    if (status == RMPI_OK && (status = rmpi_get(refs, (size_t)made, RB_TIMEOUT, objs)) == RMPI_OK) {
        for (int i = 0; i < made; i++) {
            status = status == RMPI_OK ? objs[i].status : status;
            rmpi_object_release(&objs[i]);
        }
    }
    *per_sec_p = (double)count * made / (base_time_sec() - t0);
    for (int i = 0; i < made; i++) {
        rmpi_ref_free(refs[i]);
    }
    return status;
}

static rmpi_status_t ra_n_to_n(const bench_ctx_t *ctx, double *per_sec_p)
{
    return ra_n_to_n_run(ctx, false, per_sec_p);
}

static rmpi_status_t ra_n_to_n_arg(const bench_ctx_t *ctx, double *per_sec_p)
{
    return ra_n_to_n_run(ctx, true, per_sec_p);
}

rmpi_status_t rb_actor_figures(const bench_ctx_t *ctx, double am_roundtrip_us)
{
    static const struct {
        const char  *name;
        rb_once_fn_t once;
    } figures[] = {
        {"1_1_actor_calls_sync", ra_calls_sync},
        {"1_1_actor_calls_async", ra_calls_async},
        {"1_1_actor_calls_concurrent", ra_calls_concurrent},
        {"1_1_async_actor_calls_async", ra_async_actor},
        {"1_n_actor_calls_async", ra_one_to_n},
        {"n_n_actor_calls_async", ra_n_to_n},
        {"n_n_actor_calls_with_arg_async", ra_n_to_n_arg},
    };
    const char   *tls = getenv("UCX_TLS");
    char          source[128];
    rmpi_status_t status = ra_setup();

    for (size_t i = 0; status == RMPI_OK && i < sizeof(figures) / sizeof(figures[0]); i++) {
        status = rb_figure(ctx, figures[i].name, "calls/s", figures[i].once, -1, NULL);
    }
    snprintf(source, sizeof(source), "xport_am_latency*2, 8 B handler ping-pong, UCX_TLS=%s",
             tls ? tls : "default");
    if (status == RMPI_OK) {
        status = rb_figure(ctx, "actor_call_roundtrip_latency", "us", ra_latency, am_roundtrip_us,
                           source);
    }
    if (status != RMPI_OK) {
        base_error("bench: actor figures failed: %s", rmpi_status_str(status));
    }
    ra_teardown();
    return status;
}
