/*
 * runtime/actor_host.c - the rank an actor lives on.
 *
 * The constructor runs as a task; when it returns RMPI_OK the actor enters
 * rt.actor_hosts and takes calls. Each call carries (caller rank, seq): a
 * call that arrives early waits until the ones before it from that caller
 * arrived, so calls start in submission order per caller, and with
 * max_concurrency 1 run one at a time in that order. Runnable calls go to the
 * executor pool with no CPU demand (the actor holds its CPUs for its life).
 * Its GPUs too: the constructor's grant (device, or share of one) is kept
 * when it returns, every call runs with that device (rt_actor_host_use_gpu),
 * and the destructor gives it back.
 *
 * Stopping (a kill from the owner, or rmpi_actor_exit): the actor leaves the
 * table at once (a restarted incarnation may arrive here meanwhile), its
 * queued calls fail with RMPI_ERR_ACTOR_DIED, and the destructor runs on a
 * pool thread once no call of it is running.
 */
#include "runtime/actor.h"
#include "runtime/fiber.h"

#include "base/log.h"
#include "gpu/gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rt_actor_host {
    base_hash_node_t  hnode; /**< rt.actor_hosts while it takes calls */
    base_list_t       all;   /**< rt_hosts: every record not destroyed yet */
    store_oid_t       id;
    uint32_t          incarnation;
    uint32_t          cls;
    void             *state;
    rmpi_actor_dtor_t dtor;
    uint32_t          max_concurrency, running;
    uint64_t          calls, saved; /**< successful calls; checkpoints sent (the version) */
    bool              in_table, stopping, exited, destroying;
    rt_loop_t        *loop;           /**< an async actor's fibres; NULL for threaded ones */
    bool              destroy_queued; /**< the last call ended in a fibre: the loop destroys */
    double            held_cpus;
    rt_exec_gpus_t    held_gpus; /**< the constructor's device; dev -1: none */
    uint64_t         *next_seq; /**< per caller rank */
    base_list_t       early;    /**< calls that arrived before an earlier one of their caller */
    base_list_t       runnable; /**< in order, waiting for a free concurrency slot */
};

static base_list_t rt_hosts = {&rt_hosts, &rt_hosts};

static void rt_host_fiber_call(void *item);

bool rt_actor_host_equal(const void *key, const base_hash_node_t *node)
{
    return store_oid_equal(key, &base_container_of(node, rt_actor_host_t, hnode)->id);
}

static rt_actor_host_t *rt_host_find(const store_oid_t *id)
{
    base_hash_node_t *node = base_hash_find(&rt.actor_hosts, id);

    return node != NULL ? base_container_of(node, rt_actor_host_t, hnode) : NULL;
}

static void rt_host_free(rt_actor_host_t *host)
{
    rt_loop_free(host->loop);
    free(host->next_seq);
    free(host);
}

/* --- construction --------------------------------------------------------------------------- */

rmpi_status_t rt_actor_host_begin(rt_run_t *run)
{
    const rt_fn_t   *cls  = rt_registry_get(run->spec.fn_index);
    rt_actor_host_t *host = calloc(1, sizeof(*host));

    if (host == NULL || (host->next_seq = calloc((size_t)rt.size, sizeof(uint64_t))) == NULL) {
        free(host);
        snprintf(run->error, sizeof(run->error), "no memory for an actor");
        return RMPI_ERR_NO_MEMORY;
    }
    host->id              = run->spec.actor.id;
    host->incarnation     = run->spec.actor.incarnation;
    host->cls             = run->spec.fn_index;
    host->dtor            = cls->dtor;
    host->max_concurrency = run->spec.actor.max_concurrency;
    if ((run->spec.flags & RT_SPEC_ACTOR_ASYNC) &&
        (host->loop = rt_loop_new(host->max_concurrency, rt_host_fiber_call)) == NULL) {
        rt_host_free(host);
        snprintf(run->error, sizeof(run->error), "no memory for an async actor's loop");
        return RMPI_ERR_NO_MEMORY;
    }
    base_list_init(&host->early);
    base_list_init(&host->runnable);
    base_list_init(&host->all);
    run->actor = host;
    return RMPI_OK;
}

void rt_actor_host_created(rt_run_t *run, rmpi_status_t status)
{
    rt_actor_host_t *host = run->actor;
    rt_actor_host_t *old;

    run->actor = NULL;
    if (host == NULL) {
        return;
    }
    if (status != RMPI_OK) {
        if (host->state != NULL && host->dtor != NULL) {
            host->dtor(host->state); /* what a failed constructor set is not leaked */
        }
        rt_host_free(host);
        return;
    }
    host->held_cpus = rt_exec_keep_cpus(rt.exec);
    rt_exec_keep_gpus(rt.exec, &host->held_gpus);
    pthread_mutex_lock(&rt.lock);
    old = rt_host_find(&host->id);
    if (old != NULL) { /* an older incarnation that was not told to stop */
        base_hash_remove(&rt.actor_hosts, &old->hnode);
        old->in_table = false;
    }
    if (base_hash_insert(&rt.actor_hosts, &host->hnode, &host->id) == RMPI_OK) {
        host->in_table = true;
    }
    base_list_add_tail(&rt_hosts, &host->all);
    pthread_mutex_unlock(&rt.lock);
}

/* --- calls ------------------------------------------------------------------------------------ */

static void rt_host_destroy(rt_actor_host_t *host);

/* A call in a fibre of the async actor's loop (no lock held). */
static void rt_host_fiber_call(void *item)
{
    rt_run_t *run = item;

    rt_exec_run(NULL, &run->item);
}

static void *rt_host_loop_item(base_list_t *link)
{
    return base_container_of(link, rt_run_t, actor_link);
}

/* The calls of an async actor go to its loop; a loop not running gets a pool thread. */
static void rt_host_dispatch_async_locked(rt_actor_host_t *host, base_list_t *out)
{
    while (!host->stopping && !base_list_is_empty(&host->runnable)) {
        base_list_t *link = host->runnable.next;

        base_list_del(link);
        ++host->running;
        if (rt_loop_add_locked(host->loop, link)) {
            rt_run_t *starter = calloc(1, sizeof(*starter));

            if (starter == NULL) { /* the next call's dispatch tries again */
                base_log_once(BASE_LOG_ERROR, "no memory to start an async actor's loop");
                continue;
            }
            starter->loop  = true;
            starter->actor = host;
            base_list_add_tail(out, &starter->actor_link);
        }
    }
}

void rt_actor_host_loop_run(rt_run_t *starter)
{
    rt_actor_host_t *host = starter->actor;
    gpu_ctx_saved_t  saved;
    bool             pushed, destroy;

    free(starter);
    /*
     * Each call pushes the context and pops what it saved; fibres interleave
     * on this thread, so a call that ends while a later one is suspended
     * would pop the context away from it. With the actor's context current
     * for the whole loop, every pop restores it.
     */
    pushed = host->held_gpus.dev >= 0 && gpu_ctx_push(host->held_gpus.dev, &saved) == RMPI_OK;
    rt_loop_run(host->loop, rt_host_loop_item);
    if (pushed) {
        (void)gpu_ctx_pop(&saved);
    }
    pthread_mutex_lock(&rt.lock);
    destroy = host->destroy_queued && rt_loop_idle_locked(host->loop);
    pthread_mutex_unlock(&rt.lock);
    if (destroy) {
        rt_host_destroy(host); /* after its last fibre: the loop is not in use any more */
    }
}

/* Move runnable calls into free concurrency slots; they go to the pool after unlocking. */
static void rt_host_dispatch_locked(rt_actor_host_t *host, base_list_t *out)
{
    if (host->loop != NULL) {
        rt_host_dispatch_async_locked(host, out);
        return;
    }
    while (!host->stopping && host->running < host->max_concurrency &&
           !base_list_is_empty(&host->runnable)) {
        rt_run_t *run = base_container_of(host->runnable.next, rt_run_t, actor_link);

        base_list_del(&run->actor_link);
        ++host->running;
        base_list_add_tail(out, &run->actor_link);
    }
}

static void rt_host_submit(base_list_t *runs)
{
    while (!base_list_is_empty(runs)) {
        rt_run_t *run = base_container_of(runs->next, rt_run_t, actor_link);

        base_list_del(&run->actor_link);
        base_list_init(&run->actor_link);
        if (rt_exec_submit(rt.exec, &run->item) == RMPI_OK) {
            continue;
        }
        if (run->loop) {
            free(run); /* shutting down: rt_actor_hosts_shutdown destroys the actor */
        } else {
            rt_run_reject_free(run, RMPI_ERR_SHUTDOWN, "the rank is shutting down");
        }
    }
}

/* Calls of @a caller that follow in sequence leave the early list. */
static void rt_host_promote(rt_actor_host_t *host, int caller)
{
    bool moved = true;

    while (moved) {
        base_list_t *it;

        moved = false;
        base_list_for_each (it, &host->early) {
            rt_run_t *run = base_container_of(it, rt_run_t, actor_link);

            if (rt_oid_owner(&run->spec.task_id) == caller &&
                run->spec.actor.seq == host->next_seq[caller]) {
                base_list_del(&run->actor_link);
                base_list_add_tail(&host->runnable, &run->actor_link);
                ++host->next_seq[caller];
                moved = true;
                break;
            }
        }
    }
}

/* Queue @a run in sequence; false if it cannot be (a replayed sequence number). */
static bool rt_host_queue(rt_actor_host_t *host, rt_run_t *run)
{
    int      caller = rt_oid_owner(&run->spec.task_id);
    uint64_t seq    = run->spec.actor.seq;

    if (seq < host->next_seq[caller]) {
        return false;
    }
    run->actor = host;
    if (seq > host->next_seq[caller]) {
        base_list_add_tail(&host->early, &run->actor_link);
        return true;
    }
    ++host->next_seq[caller];
    base_list_add_tail(&host->runnable, &run->actor_link);
    rt_host_promote(host, caller);
    return true;
}

void rt_actor_host_deliver(rt_run_t *run)
{
    rt_actor_host_t *host;
    base_list_t      out;
    char             why[160];
    bool             queued = false;

    base_list_init(&out);
    run->item.cpus      = 0;
    run->item.gpus      = 0;
    run->item.gpu_dev   = -1; /* a call uses its actor's device (rt_actor_host_use_gpu) */
    run->item.gpu_count = 0;
    run->item.stealable = false;
    pthread_mutex_lock(&rt.lock);
    host = rt_host_find(&run->spec.actor.id);
    if (host != NULL && !host->stopping && host->incarnation == run->spec.actor.incarnation) {
        queued = rt_host_queue(host, run);
        rt_host_dispatch_locked(host, &out);
    }
    pthread_mutex_unlock(&rt.lock);
    if (!queued) {
        snprintf(why, sizeof(why), "the actor (incarnation %u) is not alive on rank %d",
                 run->spec.actor.incarnation, rt.rank);
        rt_run_reject_free(run, RT_CALL_NOT_HERE, why);
        return;
    }
    rt_host_submit(&out);
}

/* Fail the queued calls of a stopping actor (lock held: they are moved to @a out). */
static void rt_host_take_queued(rt_actor_host_t *host, base_list_t *out)
{
    base_list_t *lists[2] = {&host->early, &host->runnable};

    if (host->loop != NULL) { /* handed to the loop but not started: counted as running */
        host->running -= rt_loop_take_items_locked(host->loop, out);
    }

    for (int i = 0; i < 2; ++i) {
        while (!base_list_is_empty(lists[i])) {
            base_list_t *link = lists[i]->next;

            base_list_del(link);
            base_list_add_tail(out, link);
        }
    }
}

/*
 * Calls that never started are refused with RT_CALL_NOT_HERE: the caller
 * asks the owner where the actor is now and sends them again (or fails them
 * with the owner's reason when it is dead). Nothing ran, so this is no retry.
 */
static void rt_host_reject_all(base_list_t *runs, rmpi_status_t status, const char *why)
{
    while (!base_list_is_empty(runs)) {
        rt_run_t *run = base_container_of(runs->next, rt_run_t, actor_link);

        base_list_del(&run->actor_link);
        base_list_init(&run->actor_link);
        rt_run_reject_free(run, status, why);
    }
}

/* Stop taking calls (lock held). */
static void rt_host_stop_locked(rt_actor_host_t *host, base_list_t *rejected)
{
    host->stopping = true;
    if (host->in_table) {
        base_hash_remove(&rt.actor_hosts, &host->hnode);
        host->in_table = false;
    }
    rt_host_take_queued(host, rejected);
}

/* The destructor frees what the constructor made, device memory too: in its context. */
static void rt_host_run_dtor(rt_actor_host_t *host)
{
    gpu_ctx_saved_t saved;
    bool            pushed;

    if (host->dtor == NULL || host->state == NULL) {
        return;
    }
    pushed = host->held_gpus.dev >= 0 && gpu_ctx_push(host->held_gpus.dev, &saved) == RMPI_OK;
    host->dtor(host->state);
    if (pushed) {
        (void)gpu_ctx_pop(&saved);
    }
}

/* Run the destructor and free the record (no lock held; no call running). */
static void rt_host_destroy(rt_actor_host_t *host)
{
    rt_actor_msg_t exited = {.id = host->id, .incarnation = host->incarnation};

    rt_host_run_dtor(host);
    rt_exec_give_cpus(rt.exec, host->held_cpus);
    rt_exec_give_gpus(rt.exec, &host->held_gpus); /* a new GPU actor or task may start */
    if (host->exited) {
        (void)rt_actor_send(rt_oid_owner(&host->id), RT_MSG_ACTOR_EXITED, &exited);
    }
    pthread_mutex_lock(&rt.lock);
    base_list_del(&host->all);
    pthread_mutex_unlock(&rt.lock);
    rt_host_free(host);
}

void rt_actor_host_call_done(rt_run_t *run)
{
    rt_actor_host_t *host = run->actor;
    base_list_t      out, rejected;
    bool             destroy;

    base_list_init(&out);
    base_list_init(&rejected);
    pthread_mutex_lock(&rt.lock);
    --host->running;
    if (run->actor_exit && !host->stopping) {
        host->exited = true;
        rt_host_stop_locked(host, &rejected);
    }
    rt_host_dispatch_locked(host, &out);
    destroy = host->stopping && host->running == 0 && !host->destroying;
    host->destroying |= destroy;
    if (destroy && host->loop != NULL) { /* in a fibre: its loop destroys the actor after */
        host->destroy_queued = true;
        destroy              = false;
    }
    pthread_mutex_unlock(&rt.lock);
    rt_host_reject_all(&rejected, RT_CALL_NOT_HERE, "the actor exited before this call ran");
    rt_host_submit(&out);
    if (destroy) {
        rt_host_destroy(host); /* on this pool thread: the destructor is user code */
    }
}

void rt_actor_host_kill(const store_oid_t *id, uint32_t incarnation)
{
    rt_actor_host_t *host;
    rt_run_t        *destroyer = NULL;
    base_list_t      rejected;

    base_list_init(&rejected);
    pthread_mutex_lock(&rt.lock);
    host = rt_host_find(id);
    if (host != NULL && host->incarnation == incarnation && !host->stopping) {
        rt_host_stop_locked(host, &rejected);
        if (host->running == 0 && !host->destroying) {
            host->destroying = true;
            if (host->loop != NULL && !rt_loop_idle_locked(host->loop)) {
                host->destroy_queued = true; /* its loop is finishing: it destroys */
            } else {
                destroyer = calloc(1, sizeof(*destroyer));
            }
        }
    }
    pthread_mutex_unlock(&rt.lock);
    rt_host_reject_all(&rejected, RT_CALL_NOT_HERE, "the actor was killed before this call ran");
    if (destroyer != NULL) { /* the destructor is user code: not on the progress thread */
        destroyer->destroy = true;
        destroyer->actor   = host;
        if (rt_exec_submit(rt.exec, &destroyer->item) != RMPI_OK) {
            free(destroyer); /* shutting down: rt_actor_hosts_shutdown destroys it */
        }
    }
}

void rt_actor_host_destroy_run(rt_run_t *run)
{
    rt_host_destroy(run->actor);
    free(run);
}

void rt_actor_hosts_shutdown(void)
{
    base_list_t rejected;

    base_list_init(&rejected);
    for (;;) {
        rt_actor_host_t *host = NULL;

        pthread_mutex_lock(&rt.lock);
        if (!base_list_is_empty(&rt_hosts)) {
            host = base_container_of(rt_hosts.next, rt_actor_host_t, all);
            rt_host_stop_locked(host, &rejected);
            host->exited = false; /* the job ends: no one to tell */
        }
        pthread_mutex_unlock(&rt.lock);
        if (host == NULL) {
            return;
        }
        rt_host_reject_all(&rejected, RMPI_ERR_SHUTDOWN,
                           "the runtime shut down before this call ran");
        rt_host_destroy(host);
    }
}

/* --- checkpoints ----------------------------------------------------------------------------- */

rmpi_status_t rt_actor_host_restore(rt_run_t *run, const rmpi_arg_t *ckpt)
{
    const rt_fn_t *cls = rt_registry_get(run->spec.fn_index);

    if (run->actor == NULL || cls->restore == NULL) {
        snprintf(run->error, sizeof(run->error), "a checkpoint came without restore hook");
        return RMPI_ERR_INVALID_ARG;
    }
    return cls->restore(run->actor->state, ckpt->data, ckpt->size);
}

void rt_actor_host_checkpoint(rt_run_t *run)
{
    rt_actor_host_t *host = run->actor;
    const rt_fn_t   *cls  = rt_registry_get(host->cls);
    rt_actor_ckpt_t  msg  = {.id = host->id, .incarnation = host->incarnation};
    void            *state, *buf;
    size_t           len;
    bool             due;

    if (cls->save == NULL) {
        return;
    }
    pthread_mutex_lock(&rt.lock);
    due   = ++host->calls % cls->save_every == 0;
    state = host->state;
    if (due) {
        msg.version = ++host->saved;
    }
    pthread_mutex_unlock(&rt.lock);
    if (!due || cls->save(state, &buf, &len) != RMPI_OK) {
        return;
    }
    msg.data = buf;
    msg.len  = len;
    if (len <= RT_ACTOR_CKPT_MAX) {
        size_t size = rt_actor_ckpt_size(&msg);
        void  *wire = malloc(size);

        if (wire != NULL) {
            rt_actor_ckpt_encode(&msg, wire);
            /* Before the call's TASK_DONE: a caller that saw the result finds it saved. */
            (void)rt_send(rt_oid_owner(&host->id), RT_MSG_ACTOR_CHECKPOINT, wire, size, true);
        }
    } else {
        base_warn("actor checkpoint of %zu bytes is over the %zu limit: not saved", len,
                  RT_ACTOR_CKPT_MAX);
    }
    free(buf);
}

/* --- what a running actor asks --------------------------------------------------------------- */

void rt_actor_host_use_gpu(rt_run_t *run)
{
    /* Set when the actor entered the table and never changed after: no lock needed. */
    run->item.gpu_dev   = run->actor->held_gpus.dev;
    run->item.gpu_count = run->actor->held_gpus.dev >= 0 ? run->actor->held_gpus.count : 0;
}

rmpi_status_t rmpi_actor_set_state(rmpi_task_ctx_h ctx, void *state)
{
    if (ctx == NULL || ctx->actor == NULL || !(ctx->spec.flags & RT_SPEC_ACTOR_CREATE)) {
        base_error("rmpi_actor_set_state: only an actor's constructor sets its state");
        return RMPI_ERR_INVALID_ARG;
    }
    ctx->actor->state = state;
    return RMPI_OK;
}

void *rmpi_actor_state(rmpi_task_ctx_h ctx)
{
    return ctx != NULL && ctx->actor != NULL ? ctx->actor->state : NULL;
}

rmpi_status_t rmpi_actor_self(rmpi_task_ctx_h ctx, rmpi_actor_t *actor_p)
{
    if (ctx == NULL || ctx->actor == NULL || actor_p == NULL) {
        base_error("rmpi_actor_self: not called from an actor's constructor or method");
        return RMPI_ERR_INVALID_ARG;
    }
    memset(actor_p, 0, sizeof(*actor_p));
    memcpy(actor_p->id, ctx->actor->id.bytes, sizeof(actor_p->id));
    actor_p->cls = ctx->actor->cls;
    actor_p->job = rt_actor_job_tag;
    return RMPI_OK;
}

rmpi_status_t rmpi_actor_exit(rmpi_task_ctx_h ctx)
{
    if (ctx == NULL || ctx->actor == NULL || !(ctx->spec.flags & RT_SPEC_ACTOR_CALL)) {
        base_error("rmpi_actor_exit: not called from an actor's method");
        return RMPI_ERR_INVALID_ARG;
    }
    ctx->actor_exit = true;
    return RMPI_OK;
}
