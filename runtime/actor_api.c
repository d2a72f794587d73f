/*
 * runtime/actor_api.c - the public actor calls: create, call, get by name,
 * wait until ready, kill; and the actor tables' life cycle.
 */
#include "runtime/actor.h"

#include "base/hash.h"
#include "base/log.h"
#include "base/rundir.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t rt_actor_job_tag;

void rt_actor_job_init(void)
{
    char job[256] = "";

    (void)base_job_id(job, sizeof(job));
    rt_actor_job_tag = (uint32_t)base_hash_str(job) | 1u;
}

/* A handle this job made, whose owner is one of its ranks. */
static bool rt_actor_handle_ok(const rmpi_actor_t *actor, const char *caller)
{
    store_oid_t id    = rt_actor_oid(actor);
    int         owner = rt_oid_owner(&id);

    if (actor->job != rt_actor_job_tag || owner < 0 || owner >= rt.size) {
        base_error("%s: not a handle of an actor of this job", caller);
        return false;
    }
    return true;
}

/* --- tables --------------------------------------------------------------------------------- */

static uint64_t rt_actor_hash(const void *key)
{
    return store_oid_hash(key);
}

static bool rt_actor_equal(const void *key, const base_hash_node_t *node)
{
    return store_oid_equal(key, &base_container_of(node, rt_actor_t, hnode)->id);
}

static bool rt_ref_equal(const void *key, const base_hash_node_t *node)
{
    return store_oid_equal(key, &base_container_of(node, rt_actor_ref_t, hnode)->id);
}

static const base_hash_ops_t rt_actors_ops = {rt_actor_hash, rt_actor_equal};
static const base_hash_ops_t rt_refs_ops   = {rt_actor_hash, rt_ref_equal};
static const base_hash_ops_t rt_hosts_ops  = {rt_actor_hash, rt_actor_host_equal};

rmpi_status_t rt_actor_tables_init(void)
{
    base_list_init(&rt.actor_sends);
    base_list_init(&rt.name_waits);
    rt_cond_init(&rt.actor_cond);
    if (base_hash_init(&rt.actors, &rt_actors_ops, 64) != RMPI_OK ||
        base_hash_init(&rt.actor_refs, &rt_refs_ops, 64) != RMPI_OK ||
        base_hash_init(&rt.actor_hosts, &rt_hosts_ops, 64) != RMPI_OK ||
        base_hash_init(&rt.actor_names, rt_actor_names_ops(), 64) != RMPI_OK) {
        return RMPI_ERR_NO_MEMORY;
    }
    return RMPI_OK;
}

static bool rt_free_actor(base_hash_node_t *node, void *arg)
{
    rt_actor_t *actor = base_container_of(node, rt_actor_t, hnode);

    (void)arg;
    while (!base_list_is_empty(&actor->waiters)) {
        base_list_t *link = actor->waiters.next;

        base_list_del(link);
        free(base_container_of(link, rt_actor_waiter_t, link));
    }
    free(actor->message);
    free(actor->ckpt);
    free(actor);
    return true;
}

static bool rt_free_ref(base_hash_node_t *node, void *arg)
{
    (void)arg;
    free(base_container_of(node, rt_actor_ref_t, hnode));
    return true;
}

/* The job is over: tasks were freed by the runtime's tables, the hosts at shutdown. */
void rt_actor_tables_cleanup(void)
{
    if (rt.actors.buckets != NULL) {
        base_hash_foreach(&rt.actors, rt_free_actor, NULL);
        base_hash_foreach(&rt.actor_refs, rt_free_ref, NULL);
        rt_actor_names_drain();
    }
    rt_actor_sends_drain();
    base_hash_cleanup(&rt.actors);
    base_hash_cleanup(&rt.actor_refs);
    base_hash_cleanup(&rt.actor_hosts);
    base_hash_cleanup(&rt.actor_names);
    pthread_cond_destroy(&rt.actor_cond);
}

/* --- waiting -------------------------------------------------------------------------------- */

bool rt_actor_wait_locked(pthread_cond_t *cond, bool (*ready)(const void *arg), const void *arg,
                          double deadline)
{
    bool on_pool   = rt.exec != NULL && rt_exec_on_pool_thread(rt.exec);
    bool timed_out = false;

    if (ready(arg)) {
        return true;
    }
    if (on_pool) { /* the executor's lock is never taken under rt.lock */
        pthread_mutex_unlock(&rt.lock);
        rt_exec_block_begin(rt.exec);
        pthread_mutex_lock(&rt.lock);
    }
    while (!ready(arg) && !timed_out) {
        timed_out = rt_cond_wait(cond, deadline) == ETIMEDOUT;
    }
    if (on_pool) {
        pthread_mutex_unlock(&rt.lock);
        rt_exec_block_end(rt.exec);
        pthread_mutex_lock(&rt.lock);
    }
    return ready(arg);
}

/* --- options ---------------------------------------------------------------------------------- */

/*
 * What the actor holds for its life: checked here, with the actor's name for
 * the fields, before the creation task's own checks (which speak of tasks).
 * More GPUs than any rank has is left to the scheduler: rt_submit fails with
 * RMPI_ERR_INFEASIBLE and a line naming the resource.
 */
static rmpi_status_t rt_actor_resources(const rmpi_actor_options_t *opts, uint64_t mask,
                                        rmpi_task_options_t *topts)
{
    if (mask & RMPI_ACTOR_OPT_NUM_CPUS) {
        topts->num_cpus = opts->num_cpus;
    }
    if (!isfinite(topts->num_cpus) || topts->num_cpus < 0) {
        base_error("rmpi_actor_create: num_cpus must be finite and >= 0");
        return RMPI_ERR_INVALID_ARG;
    }
    if (!(mask & RMPI_ACTOR_OPT_NUM_GPUS)) {
        return RMPI_OK;
    }
    if (!isfinite(opts->num_gpus) || opts->num_gpus < 0) {
        base_error("rmpi_actor_create: num_gpus must be finite and >= 0 (got %g)", opts->num_gpus);
        return RMPI_ERR_INVALID_ARG;
    }
    if (opts->num_gpus > 1 && opts->num_gpus != floor(opts->num_gpus)) {
        base_error("rmpi_actor_create: num_gpus %g: a share must be below 1, more must be whole",
                   opts->num_gpus);
        return RMPI_ERR_INVALID_ARG;
    }
    topts->field_mask |= RMPI_TASK_OPT_NUM_GPUS;
    topts->num_gpus = opts->num_gpus;
    return RMPI_OK;
}

static rmpi_status_t rt_actor_options(const rmpi_actor_options_t *opts, rt_actor_t *actor,
                                      rmpi_task_options_t *topts, unsigned *max_concurrency_p,
                                      uint16_t *spec_flags_p)
{
    uint64_t mask = opts != NULL ? opts->field_mask : 0;

    *topts = (rmpi_task_options_t){
        .field_mask =
            RMPI_TASK_OPT_NUM_CPUS | RMPI_TASK_OPT_MAX_RETRIES | RMPI_TASK_OPT_NUM_RETURNS,
        .num_returns = 1,
    };
    *max_concurrency_p = 1;
    if ((mask & RMPI_ACTOR_OPT_ASYNC) && opts->async) {
        *spec_flags_p |= RT_SPEC_ACTOR_ASYNC;
        *max_concurrency_p = 1000; /* as Ray's async actors */
    }
    if (mask & ~(uint64_t)(RMPI_ACTOR_OPT_LAST - 1)) {
        base_error("rmpi_actor_create: unknown bits in options->field_mask");
        return RMPI_ERR_INVALID_ARG;
    }
    if (rt_actor_resources(opts, mask, topts) != RMPI_OK) {
        return RMPI_ERR_INVALID_ARG;
    }
    if (mask & RMPI_ACTOR_OPT_RESOURCES) {
        topts->field_mask |= RMPI_TASK_OPT_RESOURCES;
        topts->resources     = opts->resources;
        topts->num_resources = opts->num_resources;
    }
    if (mask & RMPI_ACTOR_OPT_STRATEGY) {
        topts->field_mask |= RMPI_TASK_OPT_STRATEGY;
        topts->strategy      = opts->strategy;
        topts->affinity_node = opts->affinity_node;
        topts->affinity_rank = opts->affinity_rank;
        topts->soft          = opts->soft;
    }
    if (mask & RMPI_ACTOR_OPT_PLACEMENT) { /* waits for its group like a task (pg.c) */
        topts->field_mask |= RMPI_TASK_OPT_PLACEMENT;
        topts->pg           = opts->pg;
        topts->bundle_index = opts->bundle_index;
    }
    if (mask & RMPI_ACTOR_OPT_MAX_CONCURRENCY) {
        if (opts->max_concurrency < 1 || opts->max_concurrency > RMPI_ACTOR_MAX_CONCURRENCY) {
            base_error("rmpi_actor_create: max_concurrency must be 1 to %d",
                       RMPI_ACTOR_MAX_CONCURRENCY);
            return RMPI_ERR_INVALID_ARG;
        }
        *max_concurrency_p = opts->max_concurrency;
    }
    actor->max_restarts     = (mask & RMPI_ACTOR_OPT_MAX_RESTARTS) ? opts->max_restarts : 0;
    actor->max_task_retries = (mask & RMPI_ACTOR_OPT_MAX_TASK_RETRIES) ? opts->max_task_retries : 0;
    actor->detached = (mask & RMPI_ACTOR_OPT_LIFETIME) && opts->lifetime == RMPI_ACTOR_DETACHED;
    if (actor->max_restarts < -1 || actor->max_task_retries < -1 ||
        ((mask & RMPI_ACTOR_OPT_LIFETIME) && (unsigned)opts->lifetime > RMPI_ACTOR_DETACHED)) {
        base_error("rmpi_actor_create: max_restarts and max_task_retries are -1 (forever) or "
                   "more; lifetime is OWNED or DETACHED");
        return RMPI_ERR_INVALID_ARG;
    }
    if (mask & RMPI_ACTOR_OPT_NAME) {
        if (opts->name == NULL || opts->name[0] == '\0' ||
            strlen(opts->name) > RMPI_ACTOR_NAME_MAX ||
            (opts->namespace_ != NULL && strlen(opts->namespace_) > RMPI_ACTOR_NAME_MAX)) {
            base_error("rmpi_actor_create: a name (and namespace) of at most %d bytes is needed",
                       RMPI_ACTOR_NAME_MAX);
            return RMPI_ERR_INVALID_ARG;
        }
        snprintf(actor->name, sizeof(actor->name), "%s", opts->name);
        snprintf(actor->namespace_, sizeof(actor->namespace_), "%s",
                 opts->namespace_ != NULL ? opts->namespace_ : "");
    }
    return RMPI_OK;
}

/* --- create ----------------------------------------------------------------------------------- */

static void rt_actor_handle(const store_oid_t *id, uint32_t cls, rmpi_actor_t *actor_p)
{
    memset(actor_p, 0, sizeof(*actor_p));
    memcpy(actor_p->id, id->bytes, sizeof(actor_p->id));
    actor_p->cls = cls;
    actor_p->job = rt_actor_job_tag;
}

static rt_actor_t *rt_actor_new(const store_oid_t *id, uint32_t cls)
{
    rt_actor_t *actor = calloc(1, sizeof(*actor));

    if (actor != NULL) {
        actor->id    = *id;
        actor->cls   = cls;
        actor->rank  = -1;
        actor->error = RMPI_OK;
        base_list_init(&actor->waiters);
        base_list_init(&actor->creator_link);
    }
    return actor;
}

/* Take the name first: get-or-create must not start a constructor for nothing. */
static rmpi_status_t rt_actor_claim_name(const rt_actor_t *actor, bool get_if_exists,
                                         rmpi_actor_t *actor_p, bool *existing_p)
{
    store_oid_t   holder;
    uint32_t      cls;
    rmpi_status_t status = rt_actor_name_register(actor->namespace_, actor->name, &actor->id,
                                                  actor->cls, &holder, &cls);

    *existing_p = false;
    if (status == RMPI_ERR_EXISTS && get_if_exists) {
        rt_actor_handle(&holder, cls, actor_p);
        *existing_p = true;
        return RMPI_OK;
    }
    if (status == RMPI_ERR_EXISTS) {
        base_error("rmpi_actor_create: an actor named '%s' exists in namespace '%s'", actor->name,
                   actor->namespace_);
    }
    return status;
}

static void rt_actor_insert(rt_actor_t *actor)
{
    rt_run_t *creator = rt_run_current();

    pthread_mutex_lock(&rt.lock);
    (void)base_hash_insert(&rt.actors, &actor->hnode, &actor->id);
    if (creator != NULL && !actor->detached) {
        base_list_add_tail(&creator->owned_actors, &actor->creator_link);
        actor->has_creator = true;
    }
    pthread_mutex_unlock(&rt.lock);
}

static void rt_actor_forget(rt_actor_t *actor)
{
    pthread_mutex_lock(&rt.lock);
    base_hash_remove(&rt.actors, &actor->hnode);
    if (actor->has_creator) {
        base_list_del(&actor->creator_link);
    }
    if (actor->name[0] != '\0') {
        rt_actor_name_remove(actor->namespace_, actor->name, &actor->id);
    }
    pthread_mutex_unlock(&rt.lock);
    free(actor);
}

static rmpi_status_t rt_actor_create_check(const char *cls, const rmpi_task_arg_t *args,
                                           size_t nargs, const rmpi_actor_t *actor_p, int *index_p)
{
    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (cls == NULL || actor_p == NULL || (nargs > 0 && args == NULL)) {
        base_error("rmpi_actor_create: a class name, the arguments and a handle to set are needed");
        return RMPI_ERR_INVALID_ARG;
    }
    *index_p = rt_registry_find(cls);
    if (*index_p < 0 || rt_registry_get((uint32_t)*index_p)->kind != RT_FN_ACTOR_CLASS) {
        base_error("rmpi_actor_create: no actor class is registered as '%s'", cls);
        return RMPI_ERR_NOT_FOUND;
    }
    return RMPI_OK;
}

rmpi_status_t rmpi_actor_create(const char *cls, const rmpi_task_arg_t *args, size_t nargs,
                                const rmpi_actor_options_t *opts, rmpi_actor_t *actor_p)
{
    rmpi_task_options_t topts;
    rt_submit_extra_t   extra = {.has_id     = true,
                                 .spec_flags = RT_SPEC_ACTOR_CREATE | RT_SPEC_NO_STEAL};
    rmpi_ref_t          creation;
    rt_actor_t         *actor;
    int                 index;
    bool                existing = false;
    rmpi_status_t       status   = rt_actor_create_check(cls, args, nargs, actor_p, &index);

    if (status != RMPI_OK) {
        return status;
    }
    extra.id = rt_oid_make(rt.rank, 0, atomic_fetch_add(&rt.next_seq, 1) + 1, 0);
    actor    = rt_actor_new(&extra.id, (uint32_t)index);
    if (actor == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    status = rt_actor_options(opts, actor, &topts, &extra.actor.max_concurrency, &extra.spec_flags);
    if (status == RMPI_OK && actor->name[0] != '\0') {
        status = rt_actor_claim_name(
            actor, opts->field_mask & RMPI_ACTOR_OPT_GET_IF_EXISTS && opts->get_if_exists, actor_p,
            &existing);
    }
    if (status != RMPI_OK || existing) {
        free(actor);
        return status;
    }
    rt_actor_insert(actor);
    extra.actor.id    = extra.id;
    extra.actor_owner = actor;
    status            = rt_submit((uint32_t)index, cls, args, nargs, &topts, &extra, &creation);
    if (status != RMPI_OK) {
        rt_actor_forget(actor);
        return status;
    }
    rt_actor_handle(&extra.id, (uint32_t)index, actor_p);
    return RMPI_OK;
}

/* --- call ----------------------------------------------------------------------------------- */

static rmpi_status_t rt_call_options(const rmpi_call_options_t *opts, const char *name,
                                     rmpi_task_options_t *topts)
{
    uint64_t mask = opts != NULL ? opts->field_mask : 0;

    *topts = (rmpi_task_options_t){
        .field_mask = RMPI_TASK_OPT_NUM_CPUS | RMPI_TASK_OPT_MAX_RETRIES | RMPI_TASK_OPT_NAME |
                      RMPI_TASK_OPT_NUM_RETURNS,
        .num_returns = 1,
        .name        = name,
    };
    if (mask & ~(uint64_t)(RMPI_CALL_OPT_LAST - 1)) {
        base_error("rmpi_actor_call: unknown bits in options->field_mask");
        return RMPI_ERR_INVALID_ARG;
    }
    if (mask & RMPI_CALL_OPT_NUM_RETURNS) {
        topts->num_returns = opts->num_returns;
    }
    if ((mask & RMPI_CALL_OPT_NAME) && opts->name != NULL) {
        topts->name = opts->name;
    }
    return RMPI_OK;
}

/* The caller-side ref, unless the actor is known dead (lock taken here). */
static rmpi_status_t rt_call_ref(const store_oid_t *id, uint32_t cls, const char *method,
                                 rt_actor_ref_t **ref_p)
{
    rmpi_status_t   status = RMPI_OK;
    rt_actor_ref_t *ref;

    pthread_mutex_lock(&rt.lock);
    ref = rt_actor_ref_get(id, cls);
    if (ref == NULL) {
        status = RMPI_ERR_NO_MEMORY;
    } else if (ref->state == RT_REF_DEAD) {
        status = RMPI_ERR_ACTOR_DIED;
        base_debug("rmpi_actor_call(%s): the actor is dead: %s", method, ref->message);
    }
    pthread_mutex_unlock(&rt.lock);
    *ref_p = ref;
    return status;
}

rmpi_status_t rmpi_actor_call(rmpi_actor_t actor, const char *method, const rmpi_task_arg_t *args,
                              size_t nargs, const rmpi_call_options_t *opts, rmpi_ref_t *returns)
{
    store_oid_t         id    = rt_actor_oid(&actor);
    rt_submit_extra_t   extra = {.spec_flags = RT_SPEC_ACTOR_CALL | RT_SPEC_NO_STEAL};
    rmpi_task_options_t topts;
    char                name[RT_FN_NAME_MAX + 1];
    int                 fn;
    rmpi_status_t       status;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (!rt_actor_handle_ok(&actor, "rmpi_actor_call")) {
        return RMPI_ERR_INVALID_ARG;
    }
    if (method == NULL || returns == NULL || (nargs > 0 && args == NULL)) {
        base_error("rmpi_actor_call: a method and returns are needed");
        return RMPI_ERR_INVALID_ARG;
    }
    fn = rt_registry_find_method(actor.cls, method);
    if (fn < 0) {
        base_error("rmpi_actor_call: the actor's class has no method '%s'", method);
        return RMPI_ERR_NOT_FOUND;
    }
    snprintf(name, sizeof(name), "%s", rt_registry_get((uint32_t)fn)->name);
    status = rt_call_options(opts, name, &topts);
    if (status == RMPI_OK) {
        status = rt_call_ref(&id, actor.cls, method, &extra.actor_ref);
    }
    if (status != RMPI_OK) {
        return status;
    }
    extra.actor.id = id;
    return rt_submit((uint32_t)fn, name, args, nargs, &topts, &extra, returns);
}

/* --- names, readiness, kill ------------------------------------------------------------------ */

rmpi_status_t rmpi_actor_get(const char *name, const char *namespace_, rmpi_actor_t *actor_p)
{
    store_oid_t   id;
    uint32_t      cls;
    rmpi_status_t status;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (name == NULL || actor_p == NULL) {
        base_error("rmpi_actor_get: a name and a handle to set are needed");
        return RMPI_ERR_INVALID_ARG;
    }
    status = rt_actor_name_lookup(namespace_, name, &id, &cls);
    if (status == RMPI_OK) {
        rt_actor_handle(&id, cls, actor_p);
    }
    return status;
}

static bool rt_ref_settled(const void *arg)
{
    const rt_actor_ref_t *ref = arg;

    return ref->state == RT_REF_ALIVE || ref->state == RT_REF_DEAD;
}

rmpi_status_t rmpi_actor_wait_ready(rmpi_actor_t actor, double timeout)
{
    store_oid_t     id = rt_actor_oid(&actor);
    rt_actor_ref_t *ref;
    rmpi_status_t   status;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (!rt_actor_handle_ok(&actor, "rmpi_actor_wait_ready") || isnan(timeout)) {
        return RMPI_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&rt.lock);
    ref = rt_actor_ref_get(&id, actor.cls);
    if (ref == NULL) {
        pthread_mutex_unlock(&rt.lock);
        return RMPI_ERR_NO_MEMORY;
    }
    rt_actor_ref_want(ref);
    if (!rt_actor_wait_locked(&rt.actor_cond, rt_ref_settled, ref,
                              timeout < 0 ? -1.0 : rt_now() + timeout)) {
        status = RMPI_ERR_TIMEOUT;
    } else if (ref->state == RT_REF_DEAD) {
        status = RMPI_ERR_ACTOR_DIED;
        base_info("rmpi_actor_wait_ready: %s", ref->message);
    } else {
        status = RMPI_OK;
    }
    pthread_mutex_unlock(&rt.lock);
    rt_push_ready();
    return status;
}

rmpi_status_t rmpi_actor_kill(rmpi_actor_t actor, uint64_t flags)
{
    store_oid_t    id    = rt_actor_oid(&actor);
    int            owner = rt_oid_owner(&id);
    rt_actor_msg_t kill  = {.id = id, .flags = (uint32_t)flags};
    rt_actor_t    *found;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (!rt_actor_handle_ok(&actor, "rmpi_actor_kill")) {
        return RMPI_ERR_INVALID_ARG;
    }
    if (flags & ~(uint64_t)RMPI_ACTOR_KILL_NO_RESTART) {
        base_error("rmpi_actor_kill: unknown flags");
        return RMPI_ERR_INVALID_ARG;
    }
    if (owner != rt.rank) {
        return rt_actor_send(owner, RT_MSG_ACTOR_KILL, &kill);
    }
    pthread_mutex_lock(&rt.lock);
    found = rt_actor_find(&id);
    if (found != NULL) {
        rt_actor_kill_locked(found, flags, "killed by rmpi_actor_kill");
    }
    pthread_mutex_unlock(&rt.lock);
    rt_push_ready();
    return found != NULL ? RMPI_OK : RMPI_ERR_NOT_FOUND;
}

void rmpi_actor_format(rmpi_actor_t actor, char *buf)
{
    store_oid_t id = rt_actor_oid(&actor);

    rmpi_ref_format(rt_ref_from_oid(&id), buf);
}

/* --- introspection -----------------------------------------------------------------------------
 */

static bool rt_count_alive(base_hash_node_t *node, void *arg)
{
    *(uint64_t *)arg += base_container_of(node, rt_actor_t, hnode)->state != RT_ACTOR_DEAD;
    return true;
}

void rt_actor_stats(uint64_t *owned_p, uint64_t *hosted_p, uint64_t *refs_p)
{
    *owned_p = 0;
    base_hash_foreach(&rt.actors, rt_count_alive, owned_p);
    *hosted_p = base_hash_count(&rt.actor_hosts);
    *refs_p   = base_hash_count(&rt.actor_refs);
}
