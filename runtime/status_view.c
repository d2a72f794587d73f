/*
 * runtime/status_view.c - one rank's view for `ray-mpi status`, and the
 * report rank 0 builds from every rank's view.
 *
 * Rank 0 asks each live rank with a zero-CPU task pinned to it (as
 * rmpi_available_resources does), so a full rank still answers and no new
 * message type is needed. The view travels as a fixed-size struct: all ranks
 * of a job run the same binary on the same architecture.
 */
#include "runtime/status.h"

#include "runtime/rt_int.h"

#include "base/log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RT_STATUS_PROBE_FN "__rmpi_status_view"
/* Functions of the runtime itself (probes) are not what a rank "runs". */
#define RT_STATUS_INTERNAL_PREFIX "__rmpi_"

/* Collects the names of running tasks under rt.lock. */
typedef struct rt_status_names {
    rt_status_rank_t *view;
} rt_status_names_t;

static void rt_status_add_name(rt_status_rank_t *view, const char *name)
{
    for (uint32_t i = 0; i < view->num_names; ++i) {
        if (strcmp(view->names[i].name, name) == 0) {
            view->names[i].count++;
            return;
        }
    }
    if (view->num_names < RT_STATUS_MAX_NAMES) {
        snprintf(view->names[view->num_names].name, sizeof(view->names[0].name), "%s", name);
        view->names[view->num_names++].count = 1;
    }
}

static bool rt_status_collect_run(base_hash_node_t *node, void *arg)
{
    const rt_run_t   *run  = base_container_of(node, rt_run_t, hnode);
    rt_status_rank_t *view = arg;
    const rt_fn_t    *fn   = rt_registry_get(run->spec.fn_index);

    if (run->running && !run->destroy && !run->loop && fn != NULL &&
        strncmp(fn->name, RT_STATUS_INTERNAL_PREFIX, strlen(RT_STATUS_INTERNAL_PREFIX)) != 0) {
        rt_status_add_name(view, fn->name);
    }
    return true;
}

void rt_status_my_view(rt_status_rank_t *view)
{
    rmpi_runtime_stats_t stats;
    rt_exec_stats_t      exec;
    store_stats_t        store;

    memset(view, 0, sizeof(*view));
    view->rank = rt.rank;
    view->node = rt.node;
    view->pid  = (int64_t)getpid();
    if (gethostname(view->host, sizeof(view->host) - 1) != 0) {
        snprintf(view->host, sizeof(view->host), "?");
    }
    (void)rmpi_runtime_stats(&stats);
    rt_exec_stats(rt.exec, &exec);
    view->cpus          = rt.my_res.cpus;
    view->gpus          = rt.my_res.gpus;
    view->cpus_free     = exec.free_cpus;
    view->gpus_free     = exec.free_gpus;
    view->queued        = stats.queued_tasks;
    view->running       = stats.running_tasks;
    view->executed      = stats.tasks_executed;
    view->submitted     = stats.tasks_submitted;
    view->store_objects = stats.store_objects;
    view->store_bytes   = stats.store_bytes;
    view->store_total   = rt.my_res.memory;
    store_stats(rt.store, &store);
    view->store_spilled   = store.spilled_bytes;
    view->store_evictions = store.evictions;
    view->store_pulls     = store.pulls;
    view->device_objects  = stats.device_objects;
    view->device_bytes    = stats.device_bytes;
    view->device_spilled  = stats.device_spilled;
    view->actors_hosted   = stats.actors_hosted;
    pthread_mutex_lock(&rt.lock);
    base_hash_foreach(&rt.runs, rt_status_collect_run, view);
    pthread_mutex_unlock(&rt.lock);
}

/* The probe: this rank's view, less the probe itself in the running count. */
static rmpi_status_t rt_status_probe(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs)
{
    rt_status_rank_t view;

    (void)args, (void)nargs;
    rt_status_my_view(&view);
    if (view.running > 0) {
        view.running--;
    }
    return rmpi_return(ctx, 0, &view, sizeof(view));
}

static void __attribute__((constructor)) rt_status_probe_register(void)
{
    (void)rmpi_register_function(RT_STATUS_PROBE_FN, rt_status_probe);
}

rmpi_status_t rt_status_gather(double timeout, rt_status_rank_t *views, bool *answered)
{
    return rt_probe_all(RT_STATUS_PROBE_FN, timeout, sizeof(*views), views, answered);
}
