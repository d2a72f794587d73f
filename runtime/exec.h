/*
 * runtime/exec.h - the executor of one rank: a queue of runnable tasks and a
 * pool of threads that run them within the rank's resources.
 *
 * The pool has slots: CPUs (fractional amounts allowed, 0 allowed) and GPUs
 * per device (fractions of one device, or whole devices). A queued item runs
 * when its demand fits what is free; the queue is FIFO, but an item that does
 * not fit does not block smaller ones behind it (a bounded scan).
 *
 * Blocking: a task that waits (rmpi_get inside a task) calls
 * rt_exec_block_begin(), which gives its CPUs back so another queued task can
 * run (the pool starts or wakes another thread, up to max_threads), and
 * rt_exec_block_end(), which takes them back (waiting for them if needed).
 * This is what keeps nested tasks from deadlocking.
 *
 * Idle threads sleep on a condition variable (no spinning). Threads are bound
 * with hwloc to the PUs of the rank's binding, round robin, when the binding
 * has at least as many PUs as CPU slots (else they are left unbound: ranks
 * are oversubscribed and binding would only pile threads on one core).
 *
 * Ownership: items are the caller's (embedded in its task records); the pool
 * links them while queued and hands each back exactly once, to run_cb (on a
 * pool thread) or to the drop callback of rt_exec_stop / the caller of
 * rt_exec_remove / rt_exec_steal.
 *
 * Thread safety: MULTI, except create and destroy.
 */
#ifndef RUNTIME_EXEC_H_
#define RUNTIME_EXEC_H_

#include "base/list.h"

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_EXEC_MAX_GPUS 16

typedef struct rt_exec rt_exec_t;

/** A unit of work; embed it in the caller's task record. */
typedef struct rt_exec_item {
    base_list_t link;       /**< private */
    double      cpus;       /**< demand */
    double      gpus;       /**< demand: (0,1) a share of one device, >= 1 whole devices */
    int         gpu_dev;    /**< set before run_cb: first device given, -1 if none */
    int         gpu_count;  /**< devices given (1 for a share) */
    bool        stealable;  /**< may be handed to rt_exec_steal */
    uint64_t    enqueue_ns; /**< private */
} rt_exec_item_t;

typedef void (*rt_exec_run_cb_t)(void *arg, rt_exec_item_t *item);

enum {
    RT_EXEC_PARAM_CPUS        = RMPI_BIT(0),
    RT_EXEC_PARAM_GPUS        = RMPI_BIT(1),
    RT_EXEC_PARAM_MAX_THREADS = RMPI_BIT(2),
    RT_EXEC_PARAM_BIND        = RMPI_BIT(3),
};

typedef struct rt_exec_params {
    uint64_t         field_mask;
    double           cpus;        /**< CPU slots; default 1 */
    int              gpus;        /**< devices; default 0 */
    int              max_threads; /**< incl. threads blocked in waits; default 256 */
    bool             bind;        /**< bind threads with hwloc (see above); default true */
    rt_exec_run_cb_t run_cb;      /**< required: runs an item on a pool thread */
    void            *run_arg;
} rt_exec_params_t;

rmpi_status_t rt_exec_create(const rt_exec_params_t *params, rt_exec_t **exec_p);

/**
 * Queue @a item. RMPI_ERR_INFEASIBLE if its demand exceeds the pool's total
 * (it could never run); RMPI_ERR_SHUTDOWN after rt_exec_stop.
 */
rmpi_status_t rt_exec_submit(rt_exec_t *exec, rt_exec_item_t *item);

/** Remove @a item if still queued (true), e.g. for cancel. */
bool rt_exec_remove(rt_exec_t *exec, rt_exec_item_t *item);

/** Take up to @a max stealable queued items from the queue's tail (for a thief). */
size_t rt_exec_steal(rt_exec_t *exec, rt_exec_item_t **items, size_t max);

/** On a pool thread, inside run_cb: give the item's CPUs back while waiting. Nests. */
void rt_exec_block_begin(rt_exec_t *exec);
void rt_exec_block_end(rt_exec_t *exec);
/**
 * On a pool thread, inside run_cb: keep the item's CPUs taken after run_cb
 * returns (an actor holds its CPUs for its life). Returns the amount kept,
 * which rt_exec_give_cpus hands back later (from any thread).
 */
double rt_exec_keep_cpus(rt_exec_t *exec);
void   rt_exec_give_cpus(rt_exec_t *exec, double cpus);

/** GPUs an item kept past run_cb (rt_exec_keep_gpus). */
typedef struct rt_exec_gpus {
    int     dev;   /**< first device; -1: none */
    int     count; /**< devices dev.. (1 for a share) */
    int64_t share; /**< fixed-point units of @a dev for a share; 0 for whole devices */
} rt_exec_gpus_t;

/**
 * On a pool thread, inside run_cb: keep the item's GPUs (its device, or its
 * share of it) taken after run_cb returns, as rt_exec_keep_cpus does for
 * CPUs (an actor holds its GPUs for its life). *@a gpus_p.dev is -1 when the
 * item had none; rt_exec_give_gpus hands them back later (from any thread).
 */
void rt_exec_keep_gpus(rt_exec_t *exec, rt_exec_gpus_t *gpus_p);
void rt_exec_give_gpus(rt_exec_t *exec, const rt_exec_gpus_t *gpus);
/** Whether the calling thread is a pool thread of @a exec running an item. */
bool rt_exec_on_pool_thread(rt_exec_t *exec);

typedef struct rt_exec_stats {
    uint32_t queued;
    uint32_t running; /**< items in run_cb (blocked ones included) */
    uint32_t blocked;
    uint32_t threads;
    double   free_cpus;
    double   free_gpus; /**< devices not given to items (shares summed) */
    uint64_t executed; /**< run_cb returns, ever */
} rt_exec_stats_t;

void rt_exec_stats(rt_exec_t *exec, rt_exec_stats_t *stats_p);

/**
 * Called with true when the pool becomes idle with free CPUs and an empty
 * queue (a thief should look for work), false when it gets work again. Runs
 * on a pool thread or the submitting thread, outside the pool's lock.
 */
void rt_exec_set_idle_cb(rt_exec_t *exec, void (*cb)(void *arg, bool idle), void *arg);

/**
 * Stop: queued items go to @a drop (may be NULL) on the calling thread,
 * running items get @a grace seconds to finish; then threads are joined
 * (threads still running user code past the grace are detached, and the call
 * returns RMPI_ERR_TIMEOUT). Submit fails afterwards.
 */
rmpi_status_t rt_exec_stop(rt_exec_t *exec, double                              grace,
                           void (*drop)(void *arg, rt_exec_item_t *item), void *drop_arg);
void          rt_exec_destroy(rt_exec_t *exec);

#endif /* RUNTIME_EXEC_H_ */
