/*
 * runtime/exec.c - the executor of one rank: a FIFO of runnable items and a
 * pool of threads that run them within the rank's CPU and GPU slots.
 *
 * One mutex guards the pool; items are coarse (a task each), so one lock is
 * cheap next to them. Every decision to start an item is taken under it by
 * the thread that changed the state (a submit, a finished item, a
 * block_begin): the item leaves the queue with its resources granted and is
 * handed to one idle worker, or to a new thread when none is idle. Each idle
 * worker sleeps on its own waker (base/waker.h), so a wake-up always reaches
 * the thread that was given the work, idle threads never spin, and a wake-up
 * from a message handler waits until the handler has dropped this lock.
 *
 * Creating a thread and calling the idle callback are slow or user code, so
 * both are "deferred work" that exec_flush_locked() does with the lock
 * dropped before a thread lets go of the pool for good (exec_unlock).
 *
 * Resources are counted in fixed point (EXEC_UNIT per CPU or device), so
 * fractions such as 4 x 0.25 add up exactly.
 *
 * Lifetime: rt_exec_stop joins every thread that is not in user code. One
 * still there after the grace is detached and holds a reference on the pool,
 * so rt_exec_destroy leaves the memory to the last of those threads: a late
 * task may still call rt_exec_submit (RMPI_ERR_SHUTDOWN), block_begin/end or
 * stats on a destroyed pool without touching freed memory.
 */
#include "runtime/exec.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/waker.h"

#include <errno.h>
#include <hwloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXEC_UNIT 10000  /* fixed-point units per CPU or per device */
#define EXEC_SCAN_MAX 64 /* queued items looked at to find one that fits */
#define EXEC_MAX_CPUS 1048576.0
#define EXEC_DEFAULT_MAX_THREADS 256
#define EXEC_PARAM_KNOWN \
    (RT_EXEC_PARAM_CPUS | RT_EXEC_PARAM_GPUS | RT_EXEC_PARAM_MAX_THREADS | RT_EXEC_PARAM_BIND)

/* What an item asks for, in units. */
typedef struct exec_demand {
    int64_t cpu;
    int64_t gpu_share; /* > 0: this many units of one device */
    int     gpu_whole; /* > 0: this many whole devices */
} exec_demand_t;

/* What a running item holds. */
typedef struct exec_grant {
    int64_t cpu;       /* given back while the item is blocked */
    int64_t gpu_share; /* units of device gpu_dev; 0 for whole devices */
    int     gpu_dev;   /* -1: none */
    int     gpu_count; /* whole devices gpu_dev.. (1 for a share) */
} exec_grant_t;

typedef struct exec_worker {
    base_list_t     link; /* on exec->idle or exec->spawn */
    base_list_t     all;  /* on exec->workers while joinable */
    rt_exec_t      *exec;
    pthread_t       thread;
    base_waker_t   *waker; /* the worker sleeps on it; outlives the worker (waker.h) */
    rt_exec_item_t *item; /* given or running; NULL while idle */
    exec_grant_t    grant;
    unsigned        index;    /* creation order: picks the PU */
    unsigned        depth;    /* block_begin nesting; its own thread only */
    bool            idle;     /* on exec->idle */
    bool            detached; /* left running past rt_exec_stop's grace */
} exec_worker_t;

struct rt_exec {
    pthread_mutex_t  lock;
    pthread_cond_t   cpu_freed; /* block_end waiting for its CPUs */
    pthread_cond_t   drained;   /* rt_exec_stop: no item running, no thread starting */
    base_list_t      queue;
    base_list_t      idle;    /* idle workers, most recently idle first (warm caches) */
    base_list_t      spawn;   /* workers whose thread is still to be created */
    base_list_t      workers; /* workers with a joinable thread */
    rt_exec_run_cb_t run_cb;  /* immutable after create, like the totals */
    void            *run_arg;
    int64_t          cpu_total;
    int64_t          cpu_free;
    int64_t          cpu_wanted; /* owed to threads waiting in block_end */
    int              num_gpus;
    int64_t          gpu_free[RT_EXEC_MAX_GPUS];
    uint32_t         queued, running, blocked, threads, spawning, max_threads;
    unsigned         next_index;
    uint64_t         executed;
    unsigned         refs; /* the owner, plus each detached worker */
    bool             stopping;
    void (*idle_cb)(void *arg, bool idle);
    void            *idle_arg;
    bool             idle_reported; /* the last state given to idle_cb */
    bool             notifying;     /* a thread is in idle_cb: it delivers later changes */
    hwloc_topology_t topo;          /* NULL: threads are left unbound */
    unsigned        *pus;           /* OS indices of the PUs of the process binding */
    unsigned         num_pus;
};

/* The worker running on this thread, if any. */
static _Thread_local exec_worker_t *exec_self;

static void *exec_worker_main(void *arg);
static void  exec_free(rt_exec_t *exec);

/* --- resources ------------------------------------------------------------------------ */

/* @a amount >= 0 and bounded, checked by the caller (no libm needed). */
static int64_t exec_units(double amount)
{
    return (int64_t)(amount * EXEC_UNIT + 0.5);
}

static exec_demand_t exec_demand(const rt_exec_item_t *item)
{
    exec_demand_t demand = {.cpu = exec_units(item->cpus)};

    if (item->gpus >= 1.0) {
        demand.gpu_whole = (int)item->gpus;
    } else if (item->gpus > 0.0) {
        demand.gpu_share = exec_units(item->gpus);
        if (demand.gpu_share == 0) {
            demand.gpu_share = 1; /* asked for a device: give it one, however small */
        }
    }
    return demand;
}

static rmpi_status_t exec_check_demand(const rt_exec_t *exec, const rt_exec_item_t *item)
{
    if (!(item->cpus >= 0.0) || !(item->gpus >= 0.0)) {
        base_error("executor item asks for %g CPUs and %g GPUs", item->cpus, item->gpus);
        return RMPI_ERR_INVALID_ARG;
    }
    if ((item->gpus > 1.0) && (item->gpus <= RT_EXEC_MAX_GPUS) &&
        (item->gpus != (double)(int)item->gpus)) {
        base_error("executor item asks for %g GPUs: more than one must be whole", item->gpus);
        return RMPI_ERR_INVALID_ARG;
    }
    if ((item->cpus > EXEC_MAX_CPUS) || (item->gpus > exec->num_gpus) ||
        (exec_demand(item).cpu > exec->cpu_total) ||
        ((item->gpus > 0.0) && (exec->num_gpus == 0))) {
        /* The scheduler names the resource to the user; this is a bug or a race. */
        base_debug("executor item (%g CPUs, %g GPUs) exceeds the pool (%g CPUs, %d GPUs)",
                   item->cpus, item->gpus, (double)exec->cpu_total / EXEC_UNIT, exec->num_gpus);
        return RMPI_ERR_INFEASIBLE;
    }
    return RMPI_OK;
}

/* CPUs a new item may take: those owed to block_end waiters go to them first. */
static int64_t exec_cpu_avail(const rt_exec_t *exec)
{
    return (exec->cpu_free > exec->cpu_wanted) ? exec->cpu_free - exec->cpu_wanted : 0;
}

/* The device a share fits on, best fit (keeps whole devices whole), or -1. */
static int exec_find_share(const rt_exec_t *exec, int64_t units)
{
    int best = -1;

    for (int dev = 0; dev < exec->num_gpus; ++dev) {
        if ((exec->gpu_free[dev] >= units) &&
            ((best < 0) || (exec->gpu_free[dev] < exec->gpu_free[best]))) {
            best = dev;
        }
    }
    return best;
}

/*
 * The first of @a count adjacent free devices, or -1. Adjacent, because the
 * item learns its devices as (gpu_dev, gpu_count).
 */
static int exec_find_whole(const rt_exec_t *exec, int count)
{
    int run = 0;

    for (int dev = 0; dev < exec->num_gpus; ++dev) {
        run = (exec->gpu_free[dev] == EXEC_UNIT) ? run + 1 : 0;
        if (run == count) {
            return dev - count + 1;
        }
    }
    return -1;
}

static bool exec_try_grant(rt_exec_t *exec, rt_exec_item_t *item, exec_grant_t *grant)
{
    exec_demand_t demand = exec_demand(item);
    int           dev    = -1;

    if (demand.cpu > exec_cpu_avail(exec)) {
        return false;
    }
    if (demand.gpu_share > 0) {
        dev = exec_find_share(exec, demand.gpu_share);
    } else if (demand.gpu_whole > 0) {
        dev = exec_find_whole(exec, demand.gpu_whole);
    }
    if ((dev < 0) && ((demand.gpu_share > 0) || (demand.gpu_whole > 0))) {
        return false;
    }

    grant->cpu       = demand.cpu;
    grant->gpu_share = demand.gpu_share;
    grant->gpu_dev   = dev;
    grant->gpu_count = (demand.gpu_share > 0) ? 1 : demand.gpu_whole;
    exec->cpu_free -= demand.cpu;
    if (demand.gpu_share > 0) {
        exec->gpu_free[dev] -= demand.gpu_share;
    }
    for (int i = 0; i < demand.gpu_whole; ++i) {
        exec->gpu_free[dev + i] = 0;
    }
    item->gpu_dev   = dev;
    item->gpu_count = grant->gpu_count;
    return true;
}

static void exec_give_cpu_locked(rt_exec_t *exec, int64_t units)
{
    exec->cpu_free += units;
    if ((units > 0) && (exec->cpu_wanted > 0)) {
        pthread_cond_broadcast(&exec->cpu_freed);
    }
}

static void exec_ungrant_locked(rt_exec_t *exec, const exec_grant_t *grant, bool cpu_held)
{
    if (cpu_held) {
        exec_give_cpu_locked(exec, grant->cpu);
    }
    if (grant->gpu_share > 0) {
        exec->gpu_free[grant->gpu_dev] += grant->gpu_share;
        return;
    }
    for (int i = 0; i < grant->gpu_count; ++i) {
        exec->gpu_free[grant->gpu_dev + i] = EXEC_UNIT;
    }
}

/* --- the queue ----------------------------------------------------------------------- */

/*
 * The first queued item that fits, granted and counted as running, or NULL.
 * An item that does not fit does not hold back smaller ones behind it, within
 * EXEC_SCAN_MAX. (No aging: an item blocked in a wait keeps its GPUs, and its
 * child must be able to pass a big item queued before it.)
 */
static rt_exec_item_t *exec_pick_locked(rt_exec_t *exec, exec_grant_t *grant)
{
    unsigned     scanned = 0;
    base_list_t *it;

    base_list_for_each (it, &exec->queue) {
        rt_exec_item_t *item = base_container_of(it, rt_exec_item_t, link);

        if (exec_try_grant(exec, item, grant)) {
            base_list_del(it);
            exec->queued--;
            exec->running++;
            return item;
        }
        if (++scanned == EXEC_SCAN_MAX) {
            break;
        }
    }
    return NULL;
}

/* Undo a pick whose thread could not be had: the item goes back to the head. */
static void exec_requeue_locked(rt_exec_t *exec, rt_exec_item_t *item, const exec_grant_t *grant)
{
    exec_ungrant_locked(exec, grant, true);
    exec->running--;
    item->gpu_dev   = -1;
    item->gpu_count = 0;
    base_list_add_head(&exec->queue, &item->link);
    exec->queued++;
}

/* Reset an item the pool hands back without running it. */
static void exec_unlink_item(rt_exec_item_t *item)
{
    base_list_del(&item->link);
    item->gpu_dev   = -1;
    item->gpu_count = 0;
}

/* --- workers ------------------------------------------------------------------------- */

static exec_worker_t *exec_worker_new(rt_exec_t *exec)
{
    exec_worker_t *worker = calloc(1, sizeof(*worker));

    if (worker == NULL) {
        return NULL;
    }
    worker->waker = base_waker_new();
    if (worker->waker == NULL) {
        free(worker);
        return NULL;
    }
    base_list_init(&worker->link);
    base_list_init(&worker->all);
    worker->exec  = exec;
    worker->index = exec->next_index++;
    return worker;
}

static void exec_worker_free(exec_worker_t *worker)
{
    base_waker_release(worker->waker);
    free(worker);
}

/* Hand @a item to an idle worker, or to a thread to be created. False if neither can be had. */
static bool exec_hand_over_locked(rt_exec_t *exec, rt_exec_item_t *item, const exec_grant_t *grant)
{
    exec_worker_t *worker;

    if (!base_list_is_empty(&exec->idle)) {
        worker       = base_container_of(base_list_pop_head(&exec->idle), exec_worker_t, link);
        worker->idle = false;
    } else {
        worker = exec_worker_new(exec);
        if (worker == NULL) {
            base_log_once(BASE_LOG_WARN, "no memory for an executor thread; tasks wait");
            return false;
        }
        base_list_add_tail(&exec->spawn, &worker->link);
        exec->threads++;
    }
    worker->grant = *grant;
    worker->item  = item;
    /* In a message handler the wake-up waits until every lock is dropped (waker.h). */
    base_waker_wake_later(worker->waker);
    return true;
}

static bool exec_thread_available(const rt_exec_t *exec)
{
    return !base_list_is_empty(&exec->idle) || (exec->threads < exec->max_threads);
}

/* Start every queued item that fits, as long as there are threads for them. */
static void exec_dispatch_locked(rt_exec_t *exec)
{
    while (!exec->stopping && !base_list_is_empty(&exec->queue) && exec_thread_available(exec)) {
        exec_grant_t    grant;
        rt_exec_item_t *item = exec_pick_locked(exec, &grant);

        if (item == NULL) {
            return;
        }
        if (!exec_hand_over_locked(exec, item, &grant)) {
            exec_requeue_locked(exec, item, &grant);
            return;
        }
    }
}

/* Create the thread of the first worker on the spawn list, with the lock dropped. */
static void exec_spawn_locked(rt_exec_t *exec)
{
    exec_worker_t *worker =
        base_container_of(base_list_pop_head(&exec->spawn), exec_worker_t, link);
    int rc;

    exec->spawning++;
    pthread_mutex_unlock(&exec->lock);
    rc = pthread_create(&worker->thread, NULL, exec_worker_main, worker);
    pthread_mutex_lock(&exec->lock);
    exec->spawning--;
    if (rc == 0) {
        base_list_add_tail(&exec->workers, &worker->all);
        /* A thread started without an item counts as idle at once, before it gets going. */
        if ((worker->item == NULL) && !worker->idle && !exec->stopping) {
            worker->idle = true;
            base_list_add_head(&exec->idle, &worker->link);
        }
    } else {
        /* Keep what we have rather than retry on every dispatch. */
        exec->threads--;
        exec->max_threads = (exec->threads > 0) ? exec->threads : 1;
        base_warn("cannot start an executor thread: %s; the pool keeps %u thread(s)", strerror(rc),
                  exec->threads);
        if (worker->item != NULL) {
            exec_requeue_locked(exec, worker->item, &worker->grant);
        }
        exec_worker_free(worker);
    }
    if (exec->stopping && (exec->spawning == 0)) {
        pthread_cond_broadcast(&exec->drained);
    }
}

/* --- deferred work: thread creation and the idle callback --------------------------------- */

static bool exec_is_idle(const rt_exec_t *exec)
{
    return (exec->queued == 0) && (exec_cpu_avail(exec) > 0);
}

static bool exec_idle_changed(const rt_exec_t *exec)
{
    return (exec->idle_cb != NULL) && !exec->notifying && !exec->stopping &&
           (exec_is_idle(exec) != exec->idle_reported);
}

/*
 * Tell idle_cb the current state, with the lock dropped. One thread at a
 * time: others leave later changes to it (its caller loops until nothing
 * changed), so the callback sees the states in order.
 */
static void exec_notify_locked(rt_exec_t *exec)
{
    void (*cb)(void *arg, bool idle) = exec->idle_cb;
    void *arg                        = exec->idle_arg;
    bool  idle                       = exec_is_idle(exec);

    exec->idle_reported = idle;
    exec->notifying     = true;
    pthread_mutex_unlock(&exec->lock);
    cb(arg, idle);
    pthread_mutex_lock(&exec->lock);
    exec->notifying = false;
}

static bool exec_has_deferred(const rt_exec_t *exec)
{
    return !base_list_is_empty(&exec->spawn) || exec_idle_changed(exec);
}

/* Do the deferred work; the lock is held on return, but may have been dropped. */
static void exec_flush_locked(rt_exec_t *exec)
{
    for (;;) {
        if (!base_list_is_empty(&exec->spawn)) {
            exec_spawn_locked(exec);
        } else if (exec_idle_changed(exec)) {
            exec_notify_locked(exec);
        } else {
            return;
        }
    }
}

static void exec_unlock(rt_exec_t *exec)
{
    exec_flush_locked(exec);
    pthread_mutex_unlock(&exec->lock);
}

/* --- binding ------------------------------------------------------------------------- */

static void exec_binding_free(rt_exec_t *exec)
{
    if (exec->topo != NULL) {
        hwloc_topology_destroy(exec->topo);
        exec->topo = NULL;
    }
    free(exec->pus);
    exec->pus = NULL;
}

/* The PUs of the process binding that the topology knows; 0 if none can be had. */
static unsigned exec_binding_pus(rt_exec_t *exec, hwloc_bitmap_t set)
{
    unsigned count = 0, id;
    int      weight;

    if (hwloc_get_cpubind(exec->topo, set, HWLOC_CPUBIND_PROCESS) != 0) {
        base_debug("cannot read the process binding: %m; executor threads left unbound");
        return 0;
    }
    hwloc_bitmap_and(set, set, hwloc_topology_get_topology_cpuset(exec->topo));
    weight = hwloc_bitmap_weight(set);
    if (weight <= 0) {
        return 0;
    }
    exec->pus = calloc((size_t)weight, sizeof(*exec->pus));
    if (exec->pus == NULL) {
        return 0;
    }
    hwloc_bitmap_foreach_begin(id, set)
    {
        exec->pus[count++] = id;
    }
    hwloc_bitmap_foreach_end();
    return count;
}

/*
 * Prepare to bind thread i to PU i mod n of the process binding, when the
 * binding has at least @a slots PUs. Fewer PUs than slots means the rank is
 * oversubscribed: binding would only pile threads up, so they stay unbound.
 */
static void exec_binding_init(rt_exec_t *exec, unsigned slots)
{
    hwloc_bitmap_t set;

    if (hwloc_topology_init(&exec->topo) != 0) {
        exec->topo = NULL;
        return;
    }
    /*
     * PUs are all we need, and a smaller topology loads faster. The x86 CPUID
     * backend only adds detail that is filtered out anyway (and it complains
     * under valgrind).
     */
    hwloc_topology_set_all_types_filter(exec->topo, HWLOC_TYPE_FILTER_KEEP_NONE);
    hwloc_topology_set_components(exec->topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, "x86");
    set = hwloc_bitmap_alloc();
    if ((set == NULL) || (hwloc_topology_load(exec->topo) != 0)) {
        base_debug("cannot load the hwloc topology; executor threads left unbound");
        hwloc_bitmap_free(set);
        exec_binding_free(exec);
        return;
    }
    exec->num_pus = exec_binding_pus(exec, set);
    hwloc_bitmap_free(set);
    if ((exec->num_pus == 0) || (exec->num_pus < slots)) {
        base_debug("%u PU(s) bound for %u CPU slot(s): executor threads left unbound",
                   exec->num_pus, slots);
        exec_binding_free(exec);
        exec->num_pus = 0;
    }
}

static void exec_bind_self(const rt_exec_t *exec, unsigned index)
{
    hwloc_bitmap_t set;
    unsigned       pu;

    if (exec->topo == NULL) {
        return;
    }
    set = hwloc_bitmap_alloc();
    if (set == NULL) {
        return;
    }
    pu = exec->pus[index % exec->num_pus];
    hwloc_bitmap_only(set, pu);
    if (hwloc_set_cpubind(exec->topo, set, HWLOC_CPUBIND_THREAD) != 0) {
        base_log_once(BASE_LOG_DEBUG, "cannot bind an executor thread to PU %u: %m", pu);
    }
    hwloc_bitmap_free(set);
}

/* --- the worker thread --------------------------------------------------------------- */

static void exec_finish_locked(rt_exec_t *exec, exec_worker_t *self)
{
    bool cpu_held = true;

    if (self->depth > 0) {
        base_log_once(BASE_LOG_WARN, "a task returned inside rt_exec_block_begin");
        self->depth = 0;
        exec->blocked--;
        cpu_held = false; /* given back by block_begin */
    }
    exec_ungrant_locked(exec, &self->grant, cpu_held);
    self->item = NULL;
    exec->running--;
    exec->executed++;
    if (exec->stopping && (exec->running == 0)) {
        pthread_cond_broadcast(&exec->drained);
    }
}

static void exec_run_locked(rt_exec_t *exec, exec_worker_t *self)
{
    rt_exec_item_t *item = self->item;

    exec_unlock(exec);
    exec->run_cb(exec->run_arg, item); /* the item is the caller's again: do not touch it */
    pthread_mutex_lock(&exec->lock);
    exec_finish_locked(exec, self);
    if (!exec->stopping) {
        /* This thread is warm: it takes the next item itself. */
        self->item = exec_pick_locked(exec, &self->grant);
        exec_dispatch_locked(exec);
    }
}

/* Called once stopping; unlocks, and frees what a detached worker is last to hold. */
static void exec_worker_exit_locked(rt_exec_t *exec, exec_worker_t *self)
{
    bool detached = self->detached, last = false;

    if (self->idle) {
        base_list_del(&self->link);
        self->idle = false;
    }
    exec->threads--;
    if (detached) {
        last = (--exec->refs == 0);
    }
    pthread_mutex_unlock(&exec->lock);
    exec_self = NULL;
    if (detached) {
        exec_worker_free(self);
    }
    if (last) {
        exec_free(exec);
    }
}

/* Sleep until given an item or told to stop (the lock dropped meanwhile). */
static void exec_sleep_locked(rt_exec_t *exec, exec_worker_t *self)
{
    uint32_t seq = base_waker_seq(self->waker);

    pthread_mutex_unlock(&exec->lock);
    (void)base_waker_wait(self->waker, seq, -1);
    pthread_mutex_lock(&exec->lock);
}

static void *exec_worker_main(void *arg)
{
    exec_worker_t *self = arg;
    rt_exec_t     *exec = self->exec;

    exec_self = self;
    exec_bind_self(exec, self->index);
    pthread_mutex_lock(&exec->lock);
    for (;;) {
        if (self->item != NULL) {
            exec_run_locked(exec, self);
        } else if (exec->stopping) {
            break;
        } else {
            /* Idle first, so that a submit during the flush finds this thread. */
            if (!self->idle) {
                self->idle = true;
                base_list_add_head(&exec->idle, &self->link);
            }
            if (exec_has_deferred(exec)) {
                exec_flush_locked(exec);
            } else {
                exec_sleep_locked(exec, self);
            }
        }
    }
    exec_worker_exit_locked(exec, self);
    return NULL;
}

/* --- create and destroy -------------------------------------------------------------- */

static rmpi_status_t exec_check_params(const rt_exec_params_t *params, rt_exec_t **exec_p)
{
    if ((params == NULL) || (exec_p == NULL) || (params->run_cb == NULL)) {
        base_error("rt_exec_create needs params, a run callback and an output pointer");
        return RMPI_ERR_INVALID_ARG;
    }
    if (params->field_mask & ~(uint64_t)EXEC_PARAM_KNOWN) {
        base_error("rt_exec_create: unknown field_mask bits 0x%llx",
                   (unsigned long long)(params->field_mask & ~(uint64_t)EXEC_PARAM_KNOWN));
        return RMPI_ERR_INVALID_ARG;
    }
    if ((params->field_mask & RT_EXEC_PARAM_CPUS) &&
        !((params->cpus >= 0.0) && (params->cpus <= EXEC_MAX_CPUS))) {
        base_error("rt_exec_create: bad CPU count %g", params->cpus);
        return RMPI_ERR_INVALID_ARG;
    }
    if ((params->field_mask & RT_EXEC_PARAM_GPUS) &&
        ((params->gpus < 0) || (params->gpus > RT_EXEC_MAX_GPUS))) {
        base_error("rt_exec_create: bad GPU count %d (at most %d)", params->gpus, RT_EXEC_MAX_GPUS);
        return RMPI_ERR_INVALID_ARG;
    }
    if ((params->field_mask & RT_EXEC_PARAM_MAX_THREADS) && (params->max_threads < 1)) {
        base_error("rt_exec_create: bad max_threads %d", params->max_threads);
        return RMPI_ERR_INVALID_ARG;
    }
    return RMPI_OK;
}

static rmpi_status_t exec_init_sync(rt_exec_t *exec)
{
    pthread_condattr_t attr;
    int                rc;

    if (pthread_mutex_init(&exec->lock, NULL) != 0) {
        return RMPI_ERR_NO_MEMORY;
    }
    if (pthread_cond_init(&exec->cpu_freed, NULL) != 0) {
        pthread_mutex_destroy(&exec->lock);
        return RMPI_ERR_NO_MEMORY;
    }
    /* rt_exec_stop's grace is measured on the monotonic clock. */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&exec->drained, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        pthread_cond_destroy(&exec->cpu_freed);
        pthread_mutex_destroy(&exec->lock);
        return RMPI_ERR_NO_MEMORY;
    }
    return RMPI_OK;
}

static void exec_init_fields(rt_exec_t *exec, const rt_exec_params_t *params)
{
    uint64_t mask = params->field_mask;
    double   cpus = (mask & RT_EXEC_PARAM_CPUS) ? params->cpus : 1.0;

    base_list_init(&exec->queue);
    base_list_init(&exec->idle);
    base_list_init(&exec->spawn);
    base_list_init(&exec->workers);
    exec->run_cb      = params->run_cb;
    exec->run_arg     = params->run_arg;
    exec->cpu_total   = exec_units(cpus);
    exec->cpu_free    = exec->cpu_total;
    exec->num_gpus    = (mask & RT_EXEC_PARAM_GPUS) ? params->gpus : 0;
    exec->max_threads = (mask & RT_EXEC_PARAM_MAX_THREADS) ? (uint32_t)params->max_threads
                                                           : EXEC_DEFAULT_MAX_THREADS;
    exec->refs        = 1;
    for (int dev = 0; dev < exec->num_gpus; ++dev) {
        exec->gpu_free[dev] = EXEC_UNIT;
    }
}

/*
 * Start @a count idle threads now, one by one, so that all are on the idle
 * list when create returns (else the first submits would start extra ones).
 */
static void exec_prestart(rt_exec_t *exec, unsigned count)
{
    pthread_mutex_lock(&exec->lock);
    for (unsigned i = 0; (i < count) && (exec->threads < exec->max_threads); ++i) {
        exec_worker_t *worker = exec_worker_new(exec);

        if (worker == NULL) {
            break;
        }
        base_list_add_tail(&exec->spawn, &worker->link);
        exec->threads++;
        exec_spawn_locked(exec);
    }
    pthread_mutex_unlock(&exec->lock);
}

rmpi_status_t rt_exec_create(const rt_exec_params_t *params, rt_exec_t **exec_p)
{
    rmpi_status_t status = exec_check_params(params, exec_p);
    rt_exec_t    *exec;
    unsigned      slots;

    if (status != RMPI_OK) {
        return status;
    }
    exec = calloc(1, sizeof(*exec));
    if (exec == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    status = exec_init_sync(exec);
    if (status != RMPI_OK) {
        free(exec);
        return status;
    }
    exec_init_fields(exec, params);
    slots = (unsigned)((exec->cpu_total + EXEC_UNIT - 1) / EXEC_UNIT);
    if (!(params->field_mask & RT_EXEC_PARAM_BIND) || params->bind) {
        exec_binding_init(exec, slots);
    }
    exec_prestart(exec, (slots > 0) ? slots : 1);
    if (exec->threads == 0) {
        base_error("cannot start any executor thread");
        rt_exec_destroy(exec);
        return RMPI_ERR_NO_RESOURCE;
    }
    *exec_p = exec;
    return RMPI_OK;
}

static void exec_free(rt_exec_t *exec)
{
    exec_binding_free(exec);
    pthread_cond_destroy(&exec->drained);
    pthread_cond_destroy(&exec->cpu_freed);
    pthread_mutex_destroy(&exec->lock);
    free(exec);
}

void rt_exec_destroy(rt_exec_t *exec)
{
    bool stopped, last;

    if (exec == NULL) {
        return;
    }
    if (rt_exec_on_pool_thread(exec)) {
        base_error("rt_exec_destroy called from a task of the same executor; leaking it");
        return;
    }
    pthread_mutex_lock(&exec->lock);
    stopped = exec->stopping;
    pthread_mutex_unlock(&exec->lock);
    if (!stopped) {
        rt_exec_stop(exec, -1.0, NULL, NULL); /* queued items are simply forgotten */
    }
    pthread_mutex_lock(&exec->lock);
    last = (--exec->refs == 0);
    pthread_mutex_unlock(&exec->lock);
    if (last) {
        exec_free(exec);
    }
}

/* --- the API ------------------------------------------------------------------------- */

rmpi_status_t rt_exec_submit(rt_exec_t *exec, rt_exec_item_t *item)
{
    rmpi_status_t status;

    if ((exec == NULL) || (item == NULL)) {
        base_error("rt_exec_submit: null %s", (exec == NULL) ? "executor" : "item");
        return RMPI_ERR_INVALID_ARG;
    }
    status = exec_check_demand(exec, item);
    if (status != RMPI_OK) {
        return status;
    }
    item->gpu_dev    = -1;
    item->gpu_count  = 0;
    item->enqueue_ns = base_time_ns();

    pthread_mutex_lock(&exec->lock);
    if (exec->stopping) {
        pthread_mutex_unlock(&exec->lock);
        return RMPI_ERR_SHUTDOWN;
    }
    base_list_add_tail(&exec->queue, &item->link);
    exec->queued++;
    exec_dispatch_locked(exec);
    exec_unlock(exec); /* the item may have run and be gone after this */
    return RMPI_OK;
}

/* A scan, not a flag in the item: the caller may ask about an item it never queued here. */
static bool exec_is_queued_locked(const rt_exec_t *exec, const rt_exec_item_t *item)
{
    const base_list_t *it;

    base_list_for_each (it, &exec->queue) {
        if (it == &item->link) {
            return true;
        }
    }
    return false;
}

bool rt_exec_remove(rt_exec_t *exec, rt_exec_item_t *item)
{
    bool found;

    if ((exec == NULL) || (item == NULL)) {
        return false;
    }
    pthread_mutex_lock(&exec->lock);
    found = exec_is_queued_locked(exec, item);
    if (found) {
        exec_unlink_item(item);
        exec->queued--;
        exec_dispatch_locked(exec); /* the scan window moved */
    }
    exec_unlock(exec);
    return found;
}

size_t rt_exec_steal(rt_exec_t *exec, rt_exec_item_t **items, size_t max)
{
    base_list_t *it, *prev;
    size_t       count = 0;

    if ((exec == NULL) || (items == NULL)) {
        return 0;
    }
    pthread_mutex_lock(&exec->lock);
    for (it = exec->queue.prev; (it != &exec->queue) && (count < max); it = prev) {
        rt_exec_item_t *item = base_container_of(it, rt_exec_item_t, link);

        prev = it->prev;
        if (item->stealable) {
            exec_unlink_item(item);
            exec->queued--;
            items[count++] = item;
        }
    }
    if (count > 0) {
        exec_dispatch_locked(exec);
    }
    exec_unlock(exec);
    return count;
}

static exec_worker_t *exec_own_worker(const rt_exec_t *exec)
{
    exec_worker_t *self = exec_self;

    return ((self != NULL) && (self->exec == exec) && (self->item != NULL)) ? self : NULL;
}

bool rt_exec_on_pool_thread(rt_exec_t *exec)
{
    return (exec != NULL) && (exec_own_worker(exec) != NULL);
}

double rt_exec_keep_cpus(rt_exec_t *exec)
{
    exec_worker_t *self = exec_own_worker(exec);
    int64_t        units;

    if ((self == NULL) || (self->depth > 0)) {
        return 0.0; /* not a task of this pool, or inside a wait (its CPUs are given back) */
    }
    pthread_mutex_lock(&exec->lock);
    units           = self->grant.cpu;
    self->grant.cpu = 0;
    pthread_mutex_unlock(&exec->lock);
    return (double)units / EXEC_UNIT;
}

void rt_exec_give_cpus(rt_exec_t *exec, double cpus)
{
    if ((exec == NULL) || !(cpus > 0.0) || (cpus > EXEC_MAX_CPUS)) {
        return;
    }
    pthread_mutex_lock(&exec->lock);
    exec_give_cpu_locked(exec, exec_units(cpus));
    exec_dispatch_locked(exec);
    exec_unlock(exec);
}

void rt_exec_keep_gpus(rt_exec_t *exec, rt_exec_gpus_t *gpus_p)
{
    exec_worker_t *self = exec_own_worker(exec);

    *gpus_p = (rt_exec_gpus_t){.dev = -1};
    if ((self == NULL) || (self->grant.gpu_dev < 0)) {
        return;
    }
    /* Blocking never gives GPUs back, so unlike CPUs they are held at any depth. */
    pthread_mutex_lock(&exec->lock);
    gpus_p->dev           = self->grant.gpu_dev;
    gpus_p->count         = self->grant.gpu_count;
    gpus_p->share         = self->grant.gpu_share;
    self->grant.gpu_dev   = -1;
    self->grant.gpu_count = 0;
    self->grant.gpu_share = 0;
    pthread_mutex_unlock(&exec->lock);
}

void rt_exec_give_gpus(rt_exec_t *exec, const rt_exec_gpus_t *gpus)
{
    exec_grant_t grant;

    if ((exec == NULL) || (gpus == NULL) || (gpus->dev < 0) || (gpus->count < 1) ||
        (gpus->dev + gpus->count > exec->num_gpus) || (gpus->share < 0) ||
        (gpus->share > EXEC_UNIT)) {
        return;
    }
    grant =
        (exec_grant_t){.gpu_share = gpus->share, .gpu_dev = gpus->dev, .gpu_count = gpus->count};
    pthread_mutex_lock(&exec->lock);
    exec_ungrant_locked(exec, &grant, false);
    exec_dispatch_locked(exec); /* an item waiting for these devices may start */
    exec_unlock(exec);
}

void rt_exec_block_begin(rt_exec_t *exec)
{
    exec_worker_t *self = exec_own_worker(exec);

    if ((self == NULL) || (self->depth++ > 0)) {
        return; /* not a task of this pool (e.g. the driver), or nested */
    }
    pthread_mutex_lock(&exec->lock);
    exec_give_cpu_locked(exec, self->grant.cpu);
    exec->blocked++;
    exec_dispatch_locked(exec);
    if (!base_list_is_empty(&exec->queue) && base_list_is_empty(&exec->idle) &&
        (exec->threads >= exec->max_threads) && (exec->blocked == exec->threads)) {
        base_log_once(BASE_LOG_WARN,
                      "all %u executor threads wait in tasks and max_threads is reached: "
                      "queued tasks cannot start (raise RT_MAX_THREADS)",
                      exec->threads);
    }
    exec_unlock(exec);
}

void rt_exec_block_end(rt_exec_t *exec)
{
    exec_worker_t *self = exec_own_worker(exec);

    if (self == NULL) {
        return;
    }
    if (self->depth == 0) {
        base_log_once(BASE_LOG_WARN, "rt_exec_block_end without rt_exec_block_begin");
        return;
    }
    if (--self->depth > 0) {
        return;
    }
    pthread_mutex_lock(&exec->lock);
    exec->cpu_wanted += self->grant.cpu; /* new items stay out of the way */
    while (exec->cpu_free < self->grant.cpu) {
        pthread_cond_wait(&exec->cpu_freed, &exec->lock);
    }
    exec->cpu_wanted -= self->grant.cpu;
    exec->cpu_free -= self->grant.cpu;
    exec->blocked--;
    exec_unlock(exec);
}

void rt_exec_stats(rt_exec_t *exec, rt_exec_stats_t *stats_p)
{
    if ((exec == NULL) || (stats_p == NULL)) {
        return;
    }
    pthread_mutex_lock(&exec->lock);
    stats_p->queued    = exec->queued;
    stats_p->running   = exec->running;
    stats_p->blocked   = exec->blocked;
    stats_p->threads   = exec->threads;
    stats_p->free_cpus = (double)exec->cpu_free / EXEC_UNIT;
    stats_p->free_gpus = 0;
    for (int dev = 0; dev < exec->num_gpus; ++dev) {
        stats_p->free_gpus += (double)exec->gpu_free[dev] / EXEC_UNIT;
    }
    stats_p->executed = exec->executed;
    pthread_mutex_unlock(&exec->lock);
}

/*
 * The new callback first hears the current state if the pool is idle now (on
 * this thread), so a thief starts looking without waiting for a change. A
 * callback being replaced may still be running when this returns.
 */
void rt_exec_set_idle_cb(rt_exec_t *exec, void (*cb)(void *arg, bool idle), void *arg)
{
    if (exec == NULL) {
        return;
    }
    pthread_mutex_lock(&exec->lock);
    exec->idle_cb       = cb;
    exec->idle_arg      = arg;
    exec->idle_reported = false;
    exec_unlock(exec);
}

/* --- stop ---------------------------------------------------------------------------- */

/* Items handed to threads not yet created go back with the queue: they never started. */
static void exec_unspawn_locked(rt_exec_t *exec, base_list_t *dropped)
{
    base_list_t *link;

    while ((link = base_list_pop_head(&exec->spawn)) != NULL) {
        exec_worker_t *worker = base_container_of(link, exec_worker_t, link);

        if (worker->item != NULL) {
            exec_ungrant_locked(exec, &worker->grant, true);
            exec->running--;
            worker->item->gpu_dev   = -1;
            worker->item->gpu_count = 0;
            base_list_add_tail(dropped, &worker->item->link);
        }
        exec->threads--;
        exec_worker_free(worker);
    }
}

static void exec_wake_idle_locked(rt_exec_t *exec)
{
    base_list_t *it;

    base_list_for_each (it, &exec->idle) {
        base_waker_wake(base_container_of(it, exec_worker_t, link)->waker);
    }
}

static void exec_drop_all(base_list_t *dropped, void (*drop)(void *arg, rt_exec_item_t *item),
                          void        *drop_arg)
{
    base_list_t *link;

    while ((link = base_list_pop_head(dropped)) != NULL) {
        rt_exec_item_t *item = base_container_of(link, rt_exec_item_t, link);

        if (drop != NULL) {
            drop(drop_arg, item);
        }
    }
}

/* Wait for running items up to @a grace seconds (< 0: no limit); true if none is left. */
static bool exec_wait_drained_locked(rt_exec_t *exec, double grace)
{
    double          wait_ns  = (grace > 1e9) ? 1e18 : (grace > 0.0) ? grace * 1e9 : 0.0;
    uint64_t        deadline = base_time_ns() + (uint64_t)wait_ns;
    struct timespec ts       = {.tv_sec  = (time_t)(deadline / 1000000000ull),
                                .tv_nsec = (long)(deadline % 1000000000ull)};

    while (exec->running > 0) {
        if (grace < 0.0) {
            pthread_cond_wait(&exec->drained, &exec->lock);
        } else if (pthread_cond_timedwait(&exec->drained, &exec->lock, &ts) == ETIMEDOUT) {
            break;
        }
    }
    return exec->running == 0;
}

/* Detach the threads still in user code; collect the others for joining. */
static void exec_release_threads_locked(rt_exec_t *exec, base_list_t *joinable)
{
    base_list_t *it, *tmp;

    base_list_for_each_safe (it, tmp, &exec->workers) {
        exec_worker_t *worker = base_container_of(it, exec_worker_t, all);

        base_list_del(it);
        if (worker->item != NULL) {
            worker->detached = true;
            exec->refs++;
            pthread_detach(worker->thread);
        } else {
            base_list_add_tail(joinable, it);
        }
    }
}

static void exec_join_all(base_list_t *joinable)
{
    base_list_t *link;

    while ((link = base_list_pop_head(joinable)) != NULL) {
        exec_worker_t *worker = base_container_of(link, exec_worker_t, all);

        pthread_join(worker->thread, NULL);
        exec_worker_free(worker);
    }
}

rmpi_status_t rt_exec_stop(rt_exec_t *exec, double                              grace,
                           void (*drop)(void *arg, rt_exec_item_t *item), void *drop_arg)
{
    base_list_t dropped, joinable;
    uint32_t    left;

    if (exec == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    if (rt_exec_on_pool_thread(exec)) {
        base_error("rt_exec_stop called from a task of the same executor");
        return RMPI_ERR_INVALID_ARG;
    }
    base_list_init(&dropped);
    base_list_init(&joinable);

    pthread_mutex_lock(&exec->lock);
    if (exec->stopping) {
        pthread_mutex_unlock(&exec->lock);
        return RMPI_OK;
    }
    exec->stopping = true;
    while (exec->spawning > 0) { /* a thread being created: its item is running */
        pthread_cond_wait(&exec->drained, &exec->lock);
    }
    exec_unspawn_locked(exec, &dropped);
    base_list_splice_tail(&dropped, &exec->queue);
    exec->queued = 0;
    exec_wake_idle_locked(exec);
    pthread_mutex_unlock(&exec->lock);

    exec_drop_all(&dropped, drop, drop_arg);

    pthread_mutex_lock(&exec->lock);
    exec_wait_drained_locked(exec, grace);
    left = exec->running;
    exec_release_threads_locked(exec, &joinable);
    pthread_mutex_unlock(&exec->lock);

    exec_join_all(&joinable);
    if (left > 0) {
        base_warn("executor stopped with %u task(s) still running after %.3g s; their "
                  "threads are left to finish",
                  left, grace);
        return RMPI_ERR_TIMEOUT;
    }
    return RMPI_OK;
}
