/*
 * bench/bench_pg.c - placement groups through the public API, as Ray's
 * `ray microbenchmark` measures them (python/ray/_private/ray_perf.py):
 *
 *  placement_group_create/removal         100 groups of one bundle ({CPU: 0.001}, so
 *                                         all fit at once) are created, each waited
 *                                         for, then all removed; pairs per second.
 *                                         From the driver: rank 0 hosts the head, so
 *                                         this is the head's own cost, no messages
 *  placement_group_create/removal_remote  the same from a task on the last rank:
 *                                         every create, wait and remove is a round
 *                                         trip to the head on rank 0
 *
 * Runs inside the "runtime" benchmark (bench_runtime.c), in the runtime bench.c starts:
 * bench_pg_figures() is called on the driver between the other figures. Each
 * figure is the median over ctx->repetitions runs after a warm-up run; ctx->quick
 * shrinks the number of runs of 100 pairs, not their shape.
 */
#include "bench/bench.h"

#include "base/clock.h"
#include "base/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PB_GROUPS 100 /* per run, as ray_perf.py's NUM_PGS */
#define PB_ROUNDS 50  /* runs of PB_GROUPS pairs per measurement */
#define PB_QUICK_ROUNDS 2
#define PB_TIMEOUT 60.0

/* @a rounds runs of create, wait and remove of PB_GROUPS groups: pairs per second. */
static rmpi_status_t pb_create_remove(long rounds, double *pairs_per_sec_p)
{
    static const rmpi_resource_t cpu    = {"CPU", 0.001};
    static const rmpi_bundle_t   bundle = {&cpu, 1};
    rmpi_pg_t                    pgs[PB_GROUPS];
    rmpi_status_t                status = RMPI_OK;
    double                       t0     = base_time_sec();

    for (long r = 0; r < rounds && status == RMPI_OK; r++) {
        int made = 0;

        while (made < PB_GROUPS && status == RMPI_OK) {
            status = rmpi_pg_create(&bundle, 1, NULL, &pgs[made]);
            made += status == RMPI_OK;
        }
        for (int i = 0; i < made && status == RMPI_OK; i++) {
            status = rmpi_pg_wait(pgs[i], PB_TIMEOUT);
        }
        for (int i = 0; i < made; i++) {
            rmpi_status_t removed = rmpi_pg_remove(pgs[i]);
            status                = status != RMPI_OK ? status : removed;
        }
    }
    *pairs_per_sec_p = (double)(rounds * PB_GROUPS) / (base_time_sec() - t0);
    return status;
}

/* args[0]: long rounds. Returns {status, pairs per second} from the rank it ran on. */
RMPI_REMOTE(pb_remote_create_remove)
{
    long   rounds;
    double result[2] = {0, 0};

    if (nargs != 1 || args[0].size != sizeof(rounds)) {
        rmpi_task_error(ctx, "pb_remote_create_remove expects one long");
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&rounds, args[0].data, sizeof(rounds));
    result[0] = pb_create_remove(rounds, &result[1]);
    return rmpi_return(ctx, 0, result, sizeof(result));
}

static rmpi_status_t pb_remote(long rounds, double *pairs_per_sec_p)
{
    rmpi_task_arg_t     arg  = rmpi_arg_value(&rounds, sizeof(rounds));
    rmpi_task_options_t opts = {.field_mask    = RMPI_TASK_OPT_STRATEGY,
                                .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                .affinity_rank = rmpi_size() - 1};
    rmpi_object_t       obj;
    rmpi_ref_t          ref;
    double              result[2];
    rmpi_status_t       status = rmpi_submit("pb_remote_create_remove", &arg, 1, &opts, &ref);

    if (status != RMPI_OK) {
        return status;
    }
    status = rmpi_get(&ref, 1, PB_TIMEOUT * (double)rounds, &obj);
    if (status == RMPI_OK && obj.size == sizeof(result)) {
        memcpy(result, obj.data, sizeof(result));
        status           = (rmpi_status_t)result[0];
        *pairs_per_sec_p = result[1];
    } else if (status == RMPI_OK) {
        status = RMPI_ERR_MESSAGE;
    }
    if (status != RMPI_ERR_TIMEOUT) {
        rmpi_object_release(&obj);
    }
    rmpi_ref_free(ref);
    return status;
}

typedef rmpi_status_t (*pb_once_fn_t)(long rounds, double *value_p);

static rmpi_status_t pb_figure(const bench_ctx_t *ctx, const char *name, pb_once_fn_t once)
{
    long          rounds = ctx->quick ? PB_QUICK_ROUNDS : PB_ROUNDS;
    int           reps   = ctx->repetitions > 0 ? ctx->repetitions : 1;
    double       *values = calloc((size_t)reps, sizeof(*values));
    double        warm_up;
    rmpi_status_t status = values != NULL ? once(rounds, &warm_up) : RMPI_ERR_NO_MEMORY;

    for (int r = 0; status == RMPI_OK && r < reps; r++) {
        status = once(rounds, &values[r]);
    }
    if (status == RMPI_OK) {
        bench_report(ctx, name, bench_median(values, (size_t)reps), "pairs/s", -1, NULL);
    } else {
        base_error("bench: %s failed: %s", name, rmpi_status_str(status));
    }
    free(values);
    return status;
}

rmpi_status_t bench_pg_figures(const bench_ctx_t *ctx)
{
    rmpi_status_t status = pb_figure(ctx, "placement_group_create/removal", pb_create_remove);

    if (status == RMPI_OK && ctx->size > 1) {
        status = pb_figure(ctx, "placement_group_create/removal_remote", pb_remote);
    }
    return status;
}
