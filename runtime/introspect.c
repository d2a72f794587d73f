/*
 * runtime/introspect.c - who and where am I, what does the job have, and the
 * runtime's counters.
 */
#include "runtime/actor.h"
#include "runtime/devobj.h"
#include "runtime/rt_int.h"

#include "base/log.h"

#include <stdlib.h>
#include <string.h>

int rmpi_is_initialized(void)
{
    return rt_is_up();
}

int rmpi_rank(void)
{
    return rt_is_up() ? rt.rank : -1;
}

int rmpi_size(void)
{
    return rt_is_up() ? rt.size : -1;
}

int rmpi_node(void)
{
    return rt_is_up() ? rt.node : -1;
}

int rmpi_num_nodes(void)
{
    return rt_is_up() ? rt.num_nodes : -1;
}

rmpi_status_t rmpi_cluster_resources(rmpi_resources_t *res_p)
{
    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (res_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    rt_cluster_totals(rt.cluster, res_p);
    return RMPI_OK;
}

/*
 * A probe of one rank's free CPUs, run as a task that needs no CPU (so it runs
 * even on a full rank) pinned to that rank. Registered by the library itself,
 * so every rank has it at the same place in the function table.
 */
#define RT_PROBE_FN "__rmpi_free_cpus"

static rmpi_status_t rt_probe_free_cpus(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs)
{
    rt_exec_stats_t stats;

    (void)args, (void)nargs;
    rt_exec_stats(rt.exec, &stats);
    return rmpi_return(ctx, 0, &stats.free_cpus, sizeof(stats.free_cpus));
}

static void __attribute__((constructor)) rt_probe_register(void)
{
    (void)rmpi_register_function(RT_PROBE_FN, rt_probe_free_cpus);
}

static rmpi_status_t rt_probe_submit(const char *fn, int rank, rmpi_ref_t *ref_p)
{
    rmpi_task_options_t opts = {
        .field_mask  = RMPI_TASK_OPT_NUM_CPUS | RMPI_TASK_OPT_STRATEGY | RMPI_TASK_OPT_MAX_RETRIES,
        .num_cpus    = 0,
        .max_retries = 0,
        .strategy    = RMPI_SCHED_RANK_AFFINITY,
        .affinity_rank = rank,
    };

    return rmpi_submit(fn, NULL, 0, &opts, ref_p);
}

/* Rank @a r's answer of exactly @a size bytes into @a out, waiting until @a deadline (< 0: none).
 */
static bool rt_probe_collect(rmpi_ref_t *ref, double deadline, size_t size, void *out)
{
    rmpi_object_t obj;
    double        left = deadline < 0 ? -1 : deadline - rt_now();
    bool          ok;

    if (rmpi_get(ref, 1, deadline < 0 ? -1 : (left > 0 ? left : 0), &obj) != RMPI_OK) {
        return false;
    }
    ok = obj.size == size;
    if (ok) {
        memcpy(out, obj.data, size);
    }
    rmpi_object_release(&obj);
    return ok;
}

rmpi_status_t rt_probe_all(const char *fn, double timeout, size_t size, void *outs, bool *answered)
{
    rmpi_ref_t *refs;
    bool       *asked;
    double      deadline = timeout < 0 ? -1 : rt_now() + timeout;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    refs  = calloc((size_t)rt.size, sizeof(*refs));
    asked = calloc((size_t)rt.size, sizeof(*asked));
    if (refs == NULL || asked == NULL) {
        free(refs);
        free(asked);
        return RMPI_ERR_NO_MEMORY;
    }
    for (int r = 0; r < rt.size; ++r) { /* all asked first: they answer in parallel */
        asked[r] =
            !rt_cluster_is_dead(rt.cluster, r) && rt_probe_submit(fn, r, &refs[r]) == RMPI_OK;
    }
    for (int r = 0; r < rt.size; ++r) {
        answered[r] =
            asked[r] && rt_probe_collect(&refs[r], deadline, size, (char *)outs + r * size);
        if (asked[r]) {
            (void)rmpi_ref_free(refs[r]);
        }
    }
    free(refs);
    free(asked);
    return RMPI_OK;
}

/*
 * The job's totals with CPUs as free now: every live rank is asked (one
 * zero-CPU task each, in parallel). GPUs, memory and custom resources are
 * reported as totals.
 */
rmpi_status_t rmpi_available_resources(rmpi_resources_t *res_p)
{
    double       *free_cpus;
    bool         *answered;
    double        sum = 0;
    rmpi_status_t status;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (res_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    free_cpus = calloc((size_t)rt.size, sizeof(*free_cpus));
    answered  = calloc((size_t)rt.size, sizeof(*answered));
    status    = free_cpus != NULL && answered != NULL
                    ? rt_probe_all(RT_PROBE_FN, -1, sizeof(double), free_cpus, answered)
                    : RMPI_ERR_NO_MEMORY;
    for (int r = 0; status == RMPI_OK && r < rt.size; ++r) {
        sum += answered[r] ? free_cpus[r] : 0;
    }
    free(free_cpus);
    free(answered);
    if (status != RMPI_OK) {
        return status;
    }
    rt_cluster_totals(rt.cluster, res_p);
    res_p->cpus = sum;
    return RMPI_OK;
}

rmpi_status_t rmpi_runtime_stats(rmpi_runtime_stats_t *stats_p)
{
    rt_exec_stats_t   exec;
    store_stats_t     store;
    rt_devobj_stats_t dev;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (stats_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    memset(stats_p, 0, sizeof(*stats_p));
    rt_exec_stats(rt.exec, &exec);
    store_stats(rt.store, &store);
    pthread_mutex_lock(&rt.lock);
    stats_p->owned_objects    = base_hash_count(&rt.objs);
    stats_p->borrowed_objects = base_hash_count(&rt.borrows);
    stats_p->pending_tasks    = rt.pending_tasks;
    pthread_mutex_unlock(&rt.lock);
    stats_p->queued_tasks    = exec.queued;
    stats_p->running_tasks   = exec.running;
    stats_p->tasks_submitted = atomic_load(&rt.stats.submitted);
    stats_p->tasks_executed  = atomic_load(&rt.stats.executed);
    stats_p->tasks_stolen    = atomic_load(&rt.stats.stolen);
    stats_p->store_objects   = store.objects;
    stats_p->store_bytes     = store.bytes_used;
    rt_devobj_stats(&dev);
    stats_p->device_objects = dev.objects;
    stats_p->device_bytes   = dev.bytes_on_device;
    stats_p->device_spilled = dev.bytes_spilled;
    stats_p->store_pulls    = store.pulls;
    pthread_mutex_lock(&rt.lock);
    rt_actor_stats(&stats_p->actors_owned, &stats_p->actors_hosted, &stats_p->actor_refs);
    pthread_mutex_unlock(&rt.lock);
    return RMPI_OK;
}
