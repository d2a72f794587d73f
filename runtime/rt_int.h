/*
 * runtime/rt_int.h - what the runtime's files share; not for other layers.
 *
 * One runtime per process (the global `rt`). Its state:
 *  - the owner side: objects this rank owns (rt_obj_t: state, value or
 *    location, counts) and tasks it submitted (rt_task_t: the spec, where it
 *    runs, lineage), both in hash tables under rt.lock;
 *  - the borrower side: handles this rank holds on other ranks' objects, and
 *    outstanding LOCATE requests (cookies);
 *  - the executor side: tasks pushed to this rank (rt_run_t), queued in or
 *    running on the rt_exec pool.
 *
 * Locking: one mutex, rt.lock, guards every table above. It is never held
 * across a blocking call or a call into user code; messages are built under
 * it but sent after it is released wherever that is practical (the transport
 * may make a submitter yield briefly under back-pressure). Waiters use their
 * own condition variables with rt.lock.
 *
 * Threads: AM handlers run on the transport's progress thread and never
 * block; user threads and executor threads call the API.
 */
#ifndef RUNTIME_RT_INT_H_
#define RUNTIME_RT_INT_H_

#include "base/hash.h"
#include "base/list.h"
#include "base/waker.h"
#include "objstore/store.h"
#include "runtime/exec.h"
#include "runtime/msg.h"
#include "runtime/oid.h"
#include "runtime/sched.h"
#include "transport/xport.h"

#include <pthread.h>
#include <raympi.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* AM handler IDs: RT_AM_BASE + rt_msg_type_t. */
#define RT_AM_BASE 32
#define RT_AM_TABLE_SIZE (RT_AM_BASE + RT_MSG_TYPE_LAST)

#define RT_FN_NAME_MAX 63

/* --- configuration (rt_conf.c) ------------------------------------------------ */

typedef struct rt_conf {
    double num_cpus;   /**< <= 0: PUs of the rank's binding */
    int    num_gpus;   /**< < 0: devices visible to the rank */
    char  *resources;  /**< "name:amount,..." */
    size_t inline_max; /**< values up to this travel in messages */
    int    max_threads;
    double shutdown_grace; /**< seconds running tasks get at shutdown */
    char  *timeline;       /**< Chrome trace path; "" = off */
    bool   steal;          /**< idle ranks steal queued tasks of their node */
    bool   gpu_pin_store;  /**< page-lock the store for GPU copies (devobj.c) */
} rt_conf_t;

rmpi_status_t rt_conf_load(const char *const *config, size_t num_config, rt_conf_t *conf);
void          rt_conf_release(rt_conf_t *conf);
/** Parse "name:amount,..." into @a names (malloc'd copies) / @a amounts. */
rmpi_status_t rt_conf_parse_resources(const char *text, char **names, double *amounts, size_t max,
                                      size_t *count_p);

/* --- function table (registry.c) ------------------------------------------------ */

typedef enum rt_fn_kind {
    RT_FN_TASK = 0,     /**< a remote function */
    RT_FN_ACTOR_CLASS,  /**< an actor class: fn is its constructor */
    RT_FN_ACTOR_METHOD, /**< "Class.method" */
} rt_fn_kind_t;

typedef struct rt_fn {
    char                    name[RT_FN_NAME_MAX + 1];
    rmpi_task_fn_t          fn;
    rt_fn_kind_t            kind;
    rmpi_actor_dtor_t       dtor; /**< RT_FN_ACTOR_CLASS */
    rmpi_actor_save_fn_t    save; /**< RT_FN_ACTOR_CLASS, optional checkpoint hooks */
    rmpi_actor_restore_fn_t restore;
    unsigned                save_every; /**< calls between checkpoints */
} rt_fn_t;

/** Freeze the table (at init); later registrations fail with RMPI_ERR_NOT_READY. */
void     rt_registry_freeze(void);
void     rt_registry_thaw(void);
size_t   rt_registry_count(void);
uint64_t rt_registry_digest(void);
/** Index of @a name, or -1. */
int            rt_registry_find(const char *name);
const rt_fn_t *rt_registry_get(uint32_t index);
/** Index of method @a method of the class at index @a cls, or -1. */
int rt_registry_find_method(uint32_t cls, const char *method);

/* --- owner-side objects and tasks (objtable.c) ------------------------------------ */

typedef enum rt_obj_state {
    RT_OBJ_PENDING = 0, /**< its task has not finished */
    RT_OBJ_READY   = 1, /**< value, location or error known */
} rt_obj_state_t;

typedef struct rt_obj      rt_obj_t;
typedef struct rt_listener rt_listener_t;

/** Called under rt.lock when an object becomes ready (or fails). */
typedef void (*rt_listener_cb_t)(rt_listener_t *listener, rt_obj_t *obj);

struct rt_listener {
    base_list_t      link;
    rt_listener_cb_t cb;
};

typedef struct rt_task rt_task_t;

struct rt_obj {
    base_hash_node_t  hnode;
    store_oid_t       oid;
    rt_obj_state_t    state;
    rt_value_kind_t   kind; /**< when READY */
    bool              has_array;
    rmpi_array_desc_t array;
    void             *data;  /**< INLINE: the bytes (malloc); ERROR: the message (NUL-terminated) */
    size_t            size;  /**< INLINE: byte count; STORED: loc.size */
    rt_location_t     loc;   /**< STORED */
    rmpi_status_t     error; /**< ERROR */
    uint32_t          handles; /**< rmpi_ref_t handles on this rank, views included */
    uint32_t          borrows; /**< handles other ranks reported (REF_UPDATE) */
    uint32_t          uses;    /**< pending tasks taking it as an argument */
    int32_t          *copies;  /**< ranks keeping node copies (nodepull.h), malloc'd */
    uint32_t          num_copies;
    rt_task_t        *task;    /**< producing task while known (lineage) */
    base_list_t       listeners;
};

typedef enum rt_task_state {
    RT_TASK_WAITING = 0, /**< for its ref arguments */
    RT_TASK_PUSHED,      /**< sent to exec_rank */
    RT_TASK_FINISHED,    /**< kept as lineage for its stored returns */
    RT_TASK_HOSTING,     /**< a creation task whose actor is alive on exec_rank */
} rt_task_state_t;

/** A dependency of a waiting task. */
typedef struct rt_locate_req rt_locate_req_t;
typedef void (*rt_locate_cb_t)(rt_locate_req_t *req, const rt_value_t *value);

/* A LOCATE request in flight (the answer arrives as a LOCATE_REPLY with the cookie). */
struct rt_locate_req {
    base_hash_node_t hnode;
    uint64_t         cookie;
    int              owner;
    store_oid_t      oid;
    rt_locate_cb_t   cb; /**< under rt.lock, once; the request is then removed */
};

typedef struct rt_dep {
    rt_listener_t   listener; /**< on an owned object */
    rt_locate_req_t locate;   /**< for a borrowed one */
    rt_task_t      *task;
    uint32_t        arg;
    bool            waiting;
    bool            internal; /**< a large value the submitter put in the store */
} rt_dep_t;

struct rt_task {
    base_hash_node_t      hnode;
    store_oid_t           id;
    rt_task_state_t       state;
    rt_task_spec_t        spec; /**< args malloc'd; inline data in bufs */
    base_list_t           bufs; /**< rt_buf_t: copies the spec's inline data points into */
    rt_dep_t             *deps; /**< one per arg (used for ref args) */
    uint32_t              deps_left;
    int                   exec_rank;
    int                   prepicked; /**< rank chosen at submit (no dependencies), or -1 */
    bool                  canceled;
    uint32_t              lineage_refs; /**< stored returns still alive that name this task */
    rmpi_status_t         dep_error;    /**< a ref argument failed: the task fails with it */
    char                 *dep_message;
    rt_resvec_t           demand;
    rmpi_sched_strategy_t strategy;
    int                   affinity_node, affinity_rank;
    bool                  soft;
    uint64_t              submit_us;
    base_list_t           ready_link; /**< rt.ready: dependencies resolved, to push */
    void                 *lineage;    /**< encoded spec, kept for stored returns */
    size_t                lineage_len;
    struct rt_actor      *actor_owner;  /**< a creation task: the actor it makes (owner side) */
    struct rt_actor_ref  *actor_ref;    /**< a call: the actor called (caller side) */
    base_list_t           actor_link;   /**< a call: on actor_ref->calls */
    bool                  call_ready;   /**< a call whose arguments are resolved */
    uint32_t              call_retries; /**< a call: times it was retried after ACTOR_DIED */
    char                  name[RT_NAME_MAX + 1];
    /* RMPI_TASK_OPT_PLACEMENT (pg.c): placed on its bundle's rank (affinity_rank) */
    bool        in_pg;
    rmpi_pg_t   pg;
    int         pg_bundle; /**< -1: any */
    base_list_t pg_link;   /**< parked on the group's view until it is placed */
};

typedef struct rt_buf {
    base_list_t link;
    size_t      size;
    uint8_t     data[];
} rt_buf_t;

/* Tables (caller holds rt.lock). */
rt_obj_t *rt_obj_find(const store_oid_t *oid);
rt_obj_t *rt_obj_create(const store_oid_t *oid);
/** Free @a obj if nothing holds it and it is ready; returns true if freed. */
bool rt_obj_maybe_free(rt_obj_t *obj);
/** Set a ready value (copies inline bytes / message) and fire listeners. */
void rt_obj_set_value(rt_obj_t *obj, const rt_value_t *value);
void rt_obj_set_error(rt_obj_t *obj, rmpi_status_t status, const char *msg);
void rt_obj_listen(rt_obj_t *obj, rt_listener_t *listener, rt_listener_cb_t cb);
void rt_obj_unlisten(rt_listener_t *listener);
/** Value of a ready object as a message part (points into the object). */
void rt_obj_value(const rt_obj_t *obj, rt_value_t *value);

rt_task_t *rt_task_find(const store_oid_t *id);
void       rt_task_insert(rt_task_t *task);
void       rt_task_remove(rt_task_t *task);
void       rt_task_free(rt_task_t *task);
void      *rt_task_buf(rt_task_t *task, const void *data, size_t size);

/* Borrowed refs (objects of other owners this rank holds handles on). */
typedef struct rt_borrow {
    base_hash_node_t hnode;
    store_oid_t      oid;
    uint32_t         handles;
    bool             has_copy; /**< a secondary copy was pulled into our store */
} rt_borrow_t;

/** +1/-1 handle on a borrowed ref; sends REF_UPDATE on 0<->1 (caller holds the lock). */
rmpi_status_t rt_borrow_add(const store_oid_t *oid, int delta);
rt_borrow_t  *rt_borrow_find(const store_oid_t *oid);

/** Send a LOCATE for @a req (fills cookie; caller holds the lock, req stays caller's). */
rmpi_status_t rt_locate_start(rt_locate_req_t *req);
void          rt_locate_cancel(rt_locate_req_t *req);

/* --- executor side (execute.c) ---------------------------------------------------- */

typedef struct rt_return {
    bool              set;
    bool              in_store;  /**< buffer is a store object (created, not sealed) */
    bool              on_device; /**< a device object on the task's GPU (devobj.h) */
    void             *buf;       /**< malloc'd (inline) or store buffer */
    size_t            size;
    bool              has_array;
    rmpi_array_desc_t array;
} rt_return_t;

struct rmpi_task_ctx {
    rt_exec_item_t      item;
    base_hash_node_t    hnode; /**< rt.runs, keyed by spec.task_id */
    void               *msg;   /**< the TASK_PUSH bytes (spec points into them) */
    size_t              msg_len;
    rt_task_spec_t      spec;
    atomic_bool         canceled;
    bool                running;
    struct rt_task_gpu *gpu;     /**< context and stream of a GPU task (task_gpu.c) */
    void               *aligned; /**< 8-byte aligned copies of inline args the message misaligns */
    rt_return_t         returns[RMPI_MAX_RETURNS];
    struct rt_actor_host *actor;        /**< the actor a constructor or call runs for */
    base_list_t           actor_link;   /**< on the host's waiting or runnable list */
    bool                  actor_exit;   /**< the call asked the actor to stop */
    bool                  destroy;      /**< a synthetic run that destroys `actor` */
    bool                  loop;         /**< a synthetic run that runs `actor`'s fibres */
    base_list_t           owned_actors; /**< rt_actor_t this task created, owned lifetime */
    char                  error[RT_ERROR_MSG_MAX + 1];
};
typedef struct rmpi_task_ctx rt_run_t;

void rt_exec_run(void *arg, rt_exec_item_t *item);
/** The task running on this thread, or NULL (the driver, the progress thread). */
rt_run_t *rt_run_current(void);
/** Set the task rt_run_current() reports (fibre switches); returns the previous one. */
rt_run_t *rt_run_current_set(rt_run_t *run);
/** Fail a run that will not execute, and free it (@a why is its error message). */
void rt_run_reject_free(rt_run_t *run, rmpi_status_t status, const char *why);
/** Make the task's GPU context current (a no-op for CPU tasks). */
rmpi_status_t rt_task_gpu_enter(rt_run_t *run);
/** Synchronize and give back its stream, restore the context; the first error. */
rmpi_status_t rt_task_gpu_leave(rt_run_t *run);
/**
 * Ask every live rank about itself: runtime function @a fn (no arguments,
 * no CPU, no retry) runs on each, in parallel; answers of exactly @a size
 * bytes land in @a outs at rank * size, and answered[rank] says which came
 * within @a timeout seconds (< 0: no limit). introspect.c.
 */
rmpi_status_t rt_probe_all(const char *fn, double timeout, size_t size, void *outs, bool *answered);

struct gpu_stream;
/** The task's stream (taken on first use); RMPI_ERR_NO_DEVICE, logged as @a caller, without a GPU. */
rmpi_status_t rt_task_gpu_stream(rt_run_t *run, const char *caller, struct gpu_stream **stream_p);
void          rt_exec_drop(void *arg, rt_exec_item_t *item);
void          rt_exec_drop_canceled(rt_run_t *run);
/** Queue a received spec (takes @a msg, malloc'd). */
rmpi_status_t rt_run_enqueue(void *msg, size_t len, bool stolen);
rt_run_t     *rt_run_find(const store_oid_t *task_id);

/* --- the runtime ------------------------------------------------------------------- */

typedef struct rt_peer {
    int    node;
    void  *rkey;
    size_t rkey_len;
    bool   store_attached;
} rt_peer_t;

typedef enum rt_phase {
    RT_DOWN = 0,
    RT_WIRING,
    RT_UP,
    RT_STOPPING,
} rt_phase_t;

typedef struct rt_stats {
    atomic_uint_fast64_t submitted, executed, stolen;
    atomic_uint_fast64_t bad_messages;
} rt_stats_t;

typedef struct rt {
    _Atomic rt_phase_t phase;
    bool               mpi_ours; /**< rmpi_init initialized MPI */
    atomic_bool        peers_died; /**< a rank died: MPI_Finalize could wait for it forever */
    rt_conf_t          conf;
    xport_ctx_h        xp;
    store_h            store;
    rt_cluster_t      *cluster;
    rt_exec_t         *exec;
    int                rank, size, node, num_nodes;
    rt_peer_t         *peers;
    rt_resvec_t        my_res;

    pthread_mutex_t      lock;
    pthread_cond_t       cond;    /**< wire-up, shutdown, timeline gather */
    base_hash_t          objs;    /**< rt_obj_t by oid */
    base_hash_t          tasks;   /**< rt_task_t by id */
    base_hash_t          borrows; /**< rt_borrow_t by oid */
    base_hash_t          locates; /**< rt_locate_req_t by cookie */
    base_hash_t          runs;    /**< rt_run_t by task id */
    uint64_t             next_cookie;
    atomic_uint_fast64_t next_seq;
    uint64_t             pending_tasks;
    base_list_t          ready; /**< rt_task_t whose dependencies resolved */

    /* actors (actor_*.c) */
    base_hash_t    actors;      /**< rt_actor_t this rank owns, by id */
    base_hash_t    actor_refs;  /**< rt_actor_ref_t this rank called, by id */
    base_hash_t    actor_hosts; /**< rt_actor_host_t alive here, by id */
    base_hash_t    actor_names; /**< rank 0: the named-actor directory */
    base_list_t    actor_sends; /**< calls to push, in order (rt_actor_send_queued) */
    base_list_t    name_waits;  /**< name requests waiting for the head */
    pthread_cond_t actor_cond;  /**< an actor ref changed state */

    /* wire-up (rank 0 collects HELLOs) */
    rt_hello_t *hellos;
    void      **hello_bufs;
    int         hellos_left;
    void       *welcome_buf;
    size_t      welcome_len;
    bool        welcomed;

    /* shutdown */
    bool    shutdown_requested;
    char  **timeline_parts;
    size_t *timeline_lens;
    int     timeline_left;

    rt_stats_t stats;
} rt_t;

extern rt_t rt;

static inline bool rt_is_up(void)
{
    return atomic_load_explicit(&rt.phase, memory_order_acquire) == RT_UP;
}

/* Messages (init.c). */
/**
 * Send message @a buf of @a len bytes to @a dst. With @a owned, @a buf is
 * malloc'd and the transport frees it when done (even on error).
 */
rmpi_status_t rt_send(int dst, rt_msg_type_t type, void *buf, size_t len, bool owned);
void          rt_count_bad(int src, rt_msg_type_t type, rmpi_status_t status);

/* Handlers, one per protocol file; @a data is valid only during the call. */
void rt_on_task_push(int src, const void *data, size_t len);
void rt_on_task_done(int src, const void *data, size_t len);
void rt_on_locate(int src, const void *data, size_t len);
void rt_on_locate_reply(int src, const void *data, size_t len);
void rt_on_ref_update(int src, const void *data, size_t len);
void rt_on_free(int src, const void *data, size_t len);
void rt_on_cancel(int src, const void *data, size_t len);
/** Ask @a task's executor to stop it (under rt.lock; a moved task is asked again). */
void rt_cancel_send(rt_task_t *task, uint64_t flags);
void rt_on_steal(int src, const void *data, size_t len);
void rt_on_steal_reply(int src, const void *data, size_t len);
void rt_on_moved(int src, const void *data, size_t len);

/* Submitting (submit.c). */
/** What an actor creation or call adds to a plain task submission. */
typedef struct rt_submit_extra {
    bool                 has_id; /**< use id as the task's ID (an actor's, chosen earlier) */
    store_oid_t          id;
    uint16_t             spec_flags;
    rt_spec_actor_t      actor;
    struct rt_actor     *actor_owner;
    struct rt_actor_ref *actor_ref;
} rt_submit_extra_t;

/** rmpi_submit for function @a fn_index (checked by the caller); @a extra may be NULL. */
rmpi_status_t rt_submit(uint32_t fn_index, const char *name, const rmpi_task_arg_t *args,
                        size_t nargs, const rmpi_task_options_t *opts,
                        const rt_submit_extra_t *extra, rmpi_ref_t *returns);

/* Scheduling and pushing (submit.c). */
/** Pick a rank and send @a task (which holds no lock; the caller does not). */
void rt_task_push(rt_task_t *task);
/** Fail every return of @a task with @a status and @a msg (caller holds the lock). */
void rt_task_fail(rt_task_t *task, rmpi_status_t status, const char *msg);
/** Drop the argument references of a finished task (caller holds the lock). */
void rt_task_release_args(rt_task_t *task);
/** Queue @a task for rt_push_ready (caller holds the lock). */
void rt_task_ready(rt_task_t *task);
/** Push every task made ready under the lock; call after releasing rt.lock. */
void rt_push_ready(void);
void rt_steal_on_idle(void *arg, bool idle);
/** A task was queued here: give some to a rank that asked earlier, if any. */
void rt_steal_offer(void);

/* Objects of other ranks' stores. */
/** Delete a primary copy at @a loc (FREE message or local delete). Caller holds the lock. */
void rt_free_copy(const store_oid_t *oid, const rt_location_t *loc);
/** Delete the node copies (nodepull.h) of a dying object. Caller holds the lock. */
void rt_free_node_copies(rt_obj_t *obj);
typedef enum rt_map_kind {
    RT_MAP_PEER,   /**< a view into another rank's arena on this node: nothing to release */
    RT_MAP_LOCAL,  /**< in our store: store_release */
    RT_MAP_PULLED, /**< pulled into our store as a secondary copy: store_release */
} rt_map_kind_t;

/** Map a stored object for reading (zero-copy on the node, pulled from elsewhere). */
rmpi_status_t rt_map_stored(const store_oid_t *oid, const rt_location_t *loc, store_view_t *view_p,
                            rt_map_kind_t *kind_p);

/* Fatal signals unlink the arena (signals.c). */
void rt_signals_install(const char *shm_name, const char *spill_dir);
void rt_signals_remove(void);
/** Unlink the arena's name and the status socket now (async-signal-safe; the mapping stays). */
void rt_signals_unlink_arena(void);

/* Wall-time checkpoints (checkpoint.c). */
/** Read the restart count, run restore hooks if requeued, watch SIGUSR1. */
rmpi_status_t rt_checkpoint_start(void);
void          rt_checkpoint_stop(void);

/* Failures (failure.c). */
void rt_on_peer_failure(void *arg, int rank, rmpi_status_t reason);

/* Waiting (get.c): a task thread gives its CPU back while it waits. */
int rt_cond_wait(pthread_cond_t *cond, double deadline_s);
/**
 * Sleep on this thread's @a waker with rt.lock dropped until it is woken or
 * @a deadline_s passes (as rt_cond_wait). The waker side sets the state under
 * rt.lock, then calls base_waker_wake_later (which a message handler defers
 * until it has unlocked).
 */
int rt_waker_wait_locked(base_waker_t *waker, double deadline_s);
/** A condition variable on CLOCK_MONOTONIC, as rt_cond_wait needs. */
void rt_cond_init(pthread_cond_t *cond);

/** Seconds on CLOCK_MONOTONIC. */
double rt_now(void);

#endif /* RUNTIME_RT_INT_H_ */
