/*
 * runtime/pg.h - placement groups as the rest of the runtime sees them
 * (docs/runtime.md, "Placement groups"): resolving a bundle to its rank for
 * tasks and actors, and the hooks init.c, submit.c and failure.c call.
 *
 * The groups live in the head service on rank 0 (pg_head.c); other ranks ask
 * it with PG_* messages (msg_pg.h) and cache the groups they learnt of, with
 * their bundle -> rank tables, until the head says a group failed or is gone.
 *
 * Locking: the groups, the cache and the outstanding requests are guarded by
 * rt.lock. Functions marked "caller holds rt.lock" must be called with it;
 * the others take it themselves and must be called without it.
 */
#ifndef RUNTIME_PG_H_
#define RUNTIME_PG_H_

#include "runtime/sched.h"

#include <raympi.h>
#include <stddef.h>
#include <stdint.h>

/**
 * The rank of bundle @a bundle_index (-1: the next bundle, round robin, whose
 * resources cover @a demand) of group @a pg, for a task or actor that
 * demands @a demand (NULL: no check). Never blocks and sends nothing.
 *
 *   RMPI_OK               *rank_p is the bundle's rank
 *   RMPI_ERR_NOT_READY    the group is pending, or this rank has not learnt
 *                         of it yet: rmpi_pg_wait() waits for it and teaches
 *                         this rank its table; then call again
 *   RMPI_ERR_NOT_FOUND    it was removed (on rank 0: or never existed)
 *   RMPI_ERR_PEER_DIED    a rank holding a bundle died (RMPI_ERR_INFEASIBLE
 *                         when a pending group can no longer fit)
 *   RMPI_ERR_INVALID_ARG  @a bundle_index out of range
 *   RMPI_ERR_INFEASIBLE   @a demand exceeds the bundle (every bundle, for -1)
 *
 * Errors come with a one-line reason in @a why (if non-NULL), not logged.
 * Thread safety: MULTI; takes rt.lock.
 */
rmpi_status_t rt_pg_resolve(const rmpi_pg_t *pg, int bundle_index, const rt_resvec_t *demand,
                            int *rank_p, char *why, size_t why_len);

/* --- life cycle (init.c) ------------------------------------------------------- */

/** After wire-up: the cache everywhere, the head's ledger on rank 0. */
rmpi_status_t rt_pg_start(void);
/** Shutdown began: waits end with RMPI_ERR_SHUTDOWN (takes rt.lock). */
void rt_pg_quiesce(void);
/** After the transport stopped: free everything (no handler runs any more). */
void rt_pg_stop(void);

/** @a rank died (caller holds rt.lock; failure.c). */
void rt_pg_on_peer_failure(int rank);

/* Handlers (init.c's table). */
void rt_on_pg_create(int src, const void *data, size_t len);
void rt_on_pg_request(int src, const void *data, size_t len);
void rt_on_pg_reply(int src, const void *data, size_t len);

/* --- tasks (submit.c) -------------------------------------------------------------- */

struct rt_task;

/** RMPI_TASK_OPT_PLACEMENT: check it and pin the task to its group (rt_options_apply). */
rmpi_status_t rt_pg_task_options(const rmpi_task_options_t *opts, uint64_t mask,
                                 struct rt_task *task);
/**
 * Before the feasibility check: RMPI_OK with task->affinity_rank set to its
 * bundle's rank; RMPI_INPROGRESS when its group is not placed yet (park it);
 * or an error with a reason in @a why.
 */
rmpi_status_t rt_pg_task_place(struct rt_task *task, char *why, size_t why_len);
/**
 * A task whose group was not placed at submit: it waits for it as for one
 * more dependency (deps_left), and is placed, or fails with the group's
 * error, when the group is placed, fails or is removed. Caller holds rt.lock.
 */
void rt_pg_task_park(struct rt_task *task);
/** The task finished (or failed) while parked: forget it. Caller holds rt.lock. */
void rt_pg_task_unpark(struct rt_task *task);

#endif /* RUNTIME_PG_H_ */
