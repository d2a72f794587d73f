/*
 * runtime/actor.h - actors inside the runtime; not for other layers.
 *
 * An actor has three sides, on up to three ranks (docs/runtime.md, "Actors"):
 *
 *  - the OWNER (the rank that called rmpi_actor_create; the actor's ID names
 *    it) keeps the truth: rt_actor_t, its state machine
 *    PENDING -> ALIVE(rank, incarnation) -> [RESTARTING -> ALIVE]... -> DEAD,
 *    the creation task (kept, with its arguments, while the actor may
 *    restart) and the callers waiting to learn where it lives (actor_owner.c);
 *  - each CALLER keeps rt_actor_ref_t: where it believes the actor is, and
 *    its calls in submission order; calls leave in that order with a
 *    sequence number per (caller, incarnation) (actor_call.c);
 *  - the HOST runs it: rt_actor_host_t holds the state the constructor set,
 *    puts arriving calls back in sequence order per caller, and runs up to
 *    max_concurrency of them at once on the executor pool (actor_host.c).
 *
 * Named actors are registered with the head on rank 0 (actor_names.c).
 *
 * Locking: everything here is under rt.lock, like the rest of the runtime;
 * the executor's lock is never taken under it, so work for the pool is
 * collected under the lock and submitted after it is released.
 */
#ifndef RUNTIME_ACTOR_H_
#define RUNTIME_ACTOR_H_

#include "runtime/rt_int.h"

#include <string.h>

static inline store_oid_t rt_actor_oid(const rmpi_actor_t *actor)
{
    store_oid_t id;

    memcpy(id.bytes, actor->id, sizeof(id.bytes));
    return id;
}

/** The tag rmpi_actor_t.job carries: a hash of the job ID, never 0 (set at init). */
extern uint32_t rt_actor_job_tag;
void            rt_actor_job_init(void);

/* --- owner -------------------------------------------------------------------------- */

typedef enum rt_actor_state {
    RT_ACTOR_PENDING = 0, /**< its constructor has not finished */
    RT_ACTOR_ALIVE,
    RT_ACTOR_RESTARTING, /**< its rank died or it was killed; constructor runs again */
    RT_ACTOR_DEAD,
} rt_actor_state_t;

/** A caller waiting to learn where the actor lives (answered once). */
typedef struct rt_actor_waiter {
    base_list_t link;
    int         rank;   /**< the caller; rt.rank for a caller-side ref on this rank */
    uint64_t    cookie; /**< echoed in the LOCATION */
    uint32_t    min_incarnation;
} rt_actor_waiter_t;

typedef struct rt_actor {
    base_hash_node_t hnode; /**< rt.actors */
    store_oid_t      id;
    uint32_t         cls;
    rt_actor_state_t state;
    int              rank; /**< ALIVE: the host */
    uint32_t         incarnation;
    int              max_restarts, restarts;
    int              max_task_retries;
    bool             detached;
    bool             kill_pending; /**< killed before its constructor finished */
    uint64_t         kill_flags;
    rt_task_t       *ctor; /**< the creation task while the actor may (re)start */
    rmpi_status_t    error;
    char            *message;      /**< DEAD: why (malloc'd) */
    base_list_t      waiters;      /**< rt_actor_waiter_t */
    base_list_t      creator_link; /**< on the creating task's run (owned actors) */
    bool             has_creator;
    char             name[RMPI_ACTOR_NAME_MAX + 1];
    char             namespace_[RMPI_ACTOR_NAME_MAX + 1];
    void            *ckpt; /**< the latest checkpoint its host sent (malloc'd) */
    size_t           ckpt_len;
    uint64_t         ckpt_version;
    uint32_t         ckpt_incarnation;
} rt_actor_t;

rt_actor_t *rt_actor_find(const store_oid_t *id);
/** A creation task finished (TASK_DONE for a task with actor_owner). Lock held. */
void rt_actor_on_created(rt_actor_t *actor, rt_task_t *task, const rt_task_done_t *done);
/** The rank hosting (or constructing) the actor of @a task died. Lock held. */
void rt_actor_on_host_died(rt_actor_t *actor, int rank);
/** Ask where @a id lives; the answer goes to rt_actor_ref_located (local) or a LOCATION. */
void rt_actor_watch(rt_actor_t *actor, int rank, uint64_t cookie, uint32_t min_incarnation);
/** Kill an owned actor (lock held): the owner-side half of rmpi_actor_kill. */
void rt_actor_kill_locked(rt_actor_t *actor, uint64_t flags, const char *why);
/** Actors created by the task @a run, owned: kill them (the task is over). */
void rt_actor_creator_done(base_list_t *owned);

/*
 * The status a host refuses a call with when the call never started there
 * (the actor is not, or no longer, on that rank): the caller re-routes it.
 */
#define RT_CALL_NOT_HERE RMPI_ERR_NOT_FOUND

/* --- caller ------------------------------------------------------------------------- */

typedef enum rt_ref_state {
    RT_REF_UNKNOWN = 0, /**< not asked yet, or its host died: ask the owner */
    RT_REF_LOCATING,    /**< asked (cookie) */
    RT_REF_ALIVE,
    RT_REF_DEAD,
} rt_ref_state_t;

typedef struct rt_actor_ref {
    base_hash_node_t hnode; /**< rt.actor_refs */
    store_oid_t      id;
    uint32_t         cls;
    rt_ref_state_t   state;
    int              rank;
    uint32_t         incarnation; /**< ALIVE: the one calls go to; else the least wanted */
    int              max_task_retries;
    uint64_t         next_seq; /**< of the next call pushed to this incarnation */
    uint64_t         cookie;
    base_list_t      calls; /**< rt_task_t (actor_link), in submission order */
    rmpi_status_t    error;
    char             message[RT_ERROR_MSG_MAX + 1];
} rt_actor_ref_t;

/** The caller-side ref of @a id, created (UNKNOWN) on first use; NULL without memory. */
rt_actor_ref_t *rt_actor_ref_get(const store_oid_t *id, uint32_t cls);
/** The owner's answer (local or a LOCATION). Lock held. */
void rt_actor_ref_located(rt_actor_ref_t *ref, const rt_actor_msg_t *where);
/** Append a new call (lock held; its args are being resolved). */
void rt_actor_call_add(rt_task_t *task);
/** A call's arguments are resolved: send what may go now (lock held). */
void rt_actor_call_ready(rt_task_t *task);
/** A call finished or failed: take it off its ref (lock held). */
void rt_actor_call_remove(rt_task_t *task);
/** TASK_DONE of a call that failed because the actor died: retry it? (lock held) */
bool rt_actor_call_retry(rt_task_t *task, const rt_task_done_t *done);
/** The owner restarted or lost the actor: a ref on this rank asks again (lock held). */
void rt_actor_ref_relocate(const store_oid_t *id, uint32_t min_incarnation);
/** A rank died: calls pushed there are retried or fail, refs located there relocate. */
void rt_actor_refs_rank_died(int rank);
/** Send the calls rt_actor_call_ready queued (no lock held). */
void rt_actor_send_queued(void);
/** Free calls never sent (teardown). */
void rt_actor_sends_drain(void);
/** Ask where the actor is if no one asked yet (lock held). */
void rt_actor_ref_want(rt_actor_ref_t *ref);

/* --- host --------------------------------------------------------------------------- */

typedef struct rt_actor_host rt_actor_host_t;

/** A constructor starts on this rank (pool thread, before the user function). */
rmpi_status_t rt_actor_host_begin(rt_run_t *run);
/** The constructor returned @a status: on success the actor takes calls. */
void rt_actor_host_created(rt_run_t *run, rmpi_status_t status);
/** After a restarted actor's constructor: restore its state from @a ckpt. */
rmpi_status_t rt_actor_host_restore(rt_run_t *run, const rmpi_arg_t *ckpt);
/** After a successful call (before its TASK_DONE): save a checkpoint if one is due. */
void rt_actor_host_checkpoint(rt_run_t *run);
/**
 * Before a call runs (pool thread or fibre): its item takes the actor's
 * device, so rt_task_gpu_enter makes it current and rmpi_task_gpu gives it.
 */
void rt_actor_host_use_gpu(rt_run_t *run);
/** A CALL spec arrived: queue it in sequence (takes @a run). */
void rt_actor_host_deliver(rt_run_t *run);
/** A call ran (its TASK_DONE is sent): start the next ones. */
void rt_actor_host_call_done(rt_run_t *run);
/** KILL from the owner. */
void rt_actor_host_kill(const store_oid_t *id, uint32_t incarnation);
/** The synthetic run that runs an async actor's loop on a pool thread (frees @a run). */
void rt_actor_host_loop_run(rt_run_t *run);
/** The synthetic run that destroys an actor on a pool thread. */
void rt_actor_host_destroy_run(rt_run_t *run);
/** At shutdown, after the pool stopped: run every destructor. */
void rt_actor_hosts_shutdown(void);
bool rt_actor_host_equal(const void *key, const base_hash_node_t *node);

/* --- names (head on rank 0) --------------------------------------------------------- */

/**
 * Register @a name for @a id (get-or-create): RMPI_OK, or RMPI_ERR_EXISTS
 * with the holder in *holder_p / *cls_p. Blocks for the head's reply.
 */
rmpi_status_t rt_actor_name_register(const char *ns, const char *name, const store_oid_t *id,
                                     uint32_t cls, store_oid_t *holder_p, uint32_t *cls_p);
rmpi_status_t rt_actor_name_lookup(const char *ns, const char *name, store_oid_t *id_p,
                                   uint32_t *cls_p);
/** Release @a name if @a id holds it (lock held; does not wait). */
void rt_actor_name_remove(const char *ns, const char *name, const store_oid_t *id);
/** A rank died: name requests to the head fail if the head is gone. */
void                   rt_actor_names_rank_died(int rank);
const base_hash_ops_t *rt_actor_names_ops(void);
void                   rt_actor_names_drain(void);

/**
 * Wait on @a cond (rt.lock held) until @a ready(@a arg) or @a deadline
 * (rt_now() seconds; < 0 = forever). A task thread gives its CPU back
 * meanwhile. Returns whether ready.
 */
bool rt_actor_wait_locked(pthread_cond_t *cond, bool (*ready)(const void *arg), const void *arg,
                          double deadline);

/* --- messages --------------------------------------------------------------------------- */

void rt_on_actor_locate(int src, const void *data, size_t len);
void rt_on_actor_location(int src, const void *data, size_t len);
void rt_on_actor_kill(int src, const void *data, size_t len);
void rt_on_actor_exited(int src, const void *data, size_t len);
void rt_on_actor_name(int src, const void *data, size_t len);
void rt_on_actor_name_reply(int src, const void *data, size_t len);
void rt_on_actor_checkpoint(int src, const void *data, size_t len);

/** Send an actor control message (copied); errors are logged by the transport layer. */
rmpi_status_t rt_actor_send(int dst, rt_msg_type_t type, const rt_actor_msg_t *msg);

/** Counts for rmpi_runtime_stats (lock held). */
void rt_actor_stats(uint64_t *owned_p, uint64_t *hosted_p, uint64_t *refs_p);

/* --- tables (init.c) ------------------------------------------------------------------ */

rmpi_status_t rt_actor_tables_init(void);
void          rt_actor_tables_cleanup(void);

#endif /* RUNTIME_ACTOR_H_ */
