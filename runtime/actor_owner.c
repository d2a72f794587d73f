/*
 * runtime/actor_owner.c - the owner's side of an actor: its state machine,
 * restarts, kills, and the answers to callers asking where it lives.
 *
 * The owner keeps the creation task (and so its arguments) while the actor
 * may restart: a restart pushes the same spec again with the incarnation
 * raised, placed afresh (the dead rank is excluded by the scheduler).
 */
#include "runtime/actor.h"

#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rt_actor_t *rt_actor_find(const store_oid_t *id)
{
    base_hash_node_t *node = base_hash_find(&rt.actors, id);

    return node != NULL ? base_container_of(node, rt_actor_t, hnode) : NULL;
}

static bool rt_actor_can_restart(const rt_actor_t *actor)
{
    return actor->max_restarts < 0 || actor->restarts < actor->max_restarts;
}

/* --- answering callers ------------------------------------------------------------------ */

static void rt_actor_answer(const rt_actor_t *actor, int rank, uint64_t cookie)
{
    rt_actor_msg_t where = {
        .id               = actor->id,
        .cookie           = cookie,
        .cls              = actor->cls,
        .max_task_retries = actor->max_task_retries,
        .incarnation      = actor->incarnation,
        .rank             = actor->state == RT_ACTOR_ALIVE ? actor->rank : -1,
        .status           = actor->state == RT_ACTOR_ALIVE ? RMPI_OK : actor->error,
        .text             = actor->message,
        .text_len         = actor->message != NULL ? strlen(actor->message) : 0,
    };

    if (rank == rt.rank) {
        base_hash_node_t *node = base_hash_find(&rt.actor_refs, &actor->id);

        if (node != NULL) {
            rt_actor_ref_located(base_container_of(node, rt_actor_ref_t, hnode), &where);
        }
        return;
    }
    (void)rt_actor_send(rank, RT_MSG_ACTOR_LOCATION, &where);
}

/* Answer the waiters the actor's state now satisfies. */
static void rt_actor_answer_waiters(rt_actor_t *actor)
{
    base_list_t *it, *next;

    for (it = actor->waiters.next; it != &actor->waiters; it = next) {
        rt_actor_waiter_t *waiter = base_container_of(it, rt_actor_waiter_t, link);

        next = it->next;
        if (actor->state == RT_ACTOR_DEAD ||
            (actor->state == RT_ACTOR_ALIVE && actor->incarnation >= waiter->min_incarnation)) {
            base_list_del(&waiter->link);
            rt_actor_answer(actor, waiter->rank, waiter->cookie);
            free(waiter);
        }
    }
}

void rt_actor_watch(rt_actor_t *actor, int rank, uint64_t cookie, uint32_t min_incarnation)
{
    rt_actor_waiter_t *waiter;

    if (actor->state == RT_ACTOR_DEAD ||
        (actor->state == RT_ACTOR_ALIVE && actor->incarnation >= min_incarnation)) {
        rt_actor_answer(actor, rank, cookie);
        return;
    }
    waiter = malloc(sizeof(*waiter));
    if (waiter == NULL) {
        base_error("actor: no memory to remember a caller of rank %d", rank);
        return;
    }
    *waiter =
        (rt_actor_waiter_t){.rank = rank, .cookie = cookie, .min_incarnation = min_incarnation};
    base_list_add_tail(&actor->waiters, &waiter->link);
}

/* --- the creation task ------------------------------------------------------------------ */

/* The creation ref (return 0) is held by the actor; it carries readiness or the error. */
static void rt_actor_creation_settle(rt_actor_t *actor, const rt_value_t *value)
{
    store_oid_t oid = rt_oid_return(&actor->id, 0);
    rt_obj_t   *obj = rt_obj_find(&oid);

    if (obj != NULL && obj->state == RT_OBJ_PENDING) {
        rt_obj_set_value(obj, value);
    }
}

static void rt_actor_drop_creation(rt_actor_t *actor)
{
    store_oid_t oid  = rt_oid_return(&actor->id, 0);
    rt_obj_t   *obj  = rt_obj_find(&oid);
    rt_task_t  *ctor = actor->ctor;

    actor->ctor = NULL;
    if (ctor != NULL) {
        ctor->actor_owner = NULL;
        if (ctor->state == RT_TASK_HOSTING) {
            ++rt.pending_tasks; /* rt_task_fail counts it finished once more */
        }
        rt_task_fail(ctor, actor->error, actor->message);
    }
    if (obj != NULL && obj->handles > 0) {
        --obj->handles;
        rt_obj_maybe_free(obj);
    }
}

static void rt_actor_die(rt_actor_t *actor, rmpi_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void rt_actor_die(rt_actor_t *actor, rmpi_status_t status, const char *fmt, ...)
{
    char    why[RT_ERROR_MSG_MAX + 1];
    va_list ap;

    if (actor->state == RT_ACTOR_DEAD) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    base_info("actor %s: %s", actor->ctor != NULL ? actor->ctor->name : "?", why);
    actor->state   = RT_ACTOR_DEAD;
    actor->error   = status;
    actor->message = strdup(why);
    if (actor->has_creator) {
        base_list_del(&actor->creator_link);
        actor->has_creator = false;
    }
    rt_actor_drop_creation(actor);
    rt_actor_ref_relocate(&actor->id, actor->incarnation + 1); /* a caller on this rank */
    if (actor->name[0] != '\0') {
        rt_actor_name_remove(actor->namespace_, actor->name, &actor->id);
    }
    rt_actor_answer_waiters(actor);
}

/*
 * Give the creation task the latest checkpoint as an extra, last argument
 * (added once, refreshed on later restarts). Its dependencies were resolved
 * long ago, so growing the arrays moves nothing that is linked anywhere.
 */
static void rt_actor_attach_checkpoint(rt_actor_t *actor, rt_task_t *ctor)
{
    rt_task_spec_t *spec = &ctor->spec;

    if (actor->ckpt == NULL) {
        return;
    }
    if (!(spec->flags & RT_SPEC_ACTOR_RESTORE)) {
        rt_spec_arg_t *args = realloc(spec->args, (spec->num_args + 1) * sizeof(*args));
        rt_dep_t      *deps =
            args != NULL ? realloc(ctor->deps, (spec->num_args + 1) * sizeof(*deps)) : NULL;

        if (args != NULL) {
            spec->args = args;
        }
        if (deps == NULL) {
            base_warn("actor: no memory to pass its checkpoint; restarting without it");
            return;
        }
        ctor->deps = deps;
        memset(&deps[spec->num_args], 0, sizeof(*deps));
        memset(&args[spec->num_args], 0, sizeof(*args));
        ++spec->num_args;
        spec->flags |= RT_SPEC_ACTOR_RESTORE;
    }
    spec->args[spec->num_args - 1].value =
        (rt_value_t){.kind = RT_VALUE_INLINE, .data = actor->ckpt, .size = actor->ckpt_len};
}

/* Push the creation task again as the next incarnation (lock held). */
static void rt_actor_restart(rt_actor_t *actor, const char *why)
{
    rt_task_t *ctor = actor->ctor;

    ++actor->restarts;
    ++actor->incarnation;
    actor->state = RT_ACTOR_RESTARTING;
    if (ctor->state == RT_TASK_HOSTING) {
        ++rt.pending_tasks;
    }
    ctor->state                  = RT_TASK_WAITING;
    ctor->spec.actor.incarnation = actor->incarnation;
    ++ctor->spec.attempt;
    rt_actor_attach_checkpoint(actor, ctor);
    base_info("actor '%s': %s; restarting (incarnation %u, restart %d of %d)", ctor->name, why,
              actor->incarnation, actor->restarts, actor->max_restarts);
    rt_task_ready(ctor);
    rt_actor_ref_relocate(&actor->id, actor->incarnation); /* a caller on this rank */
}

void rt_actor_on_created(rt_actor_t *actor, rt_task_t *task, const rt_task_done_t *done)
{
    const rt_value_t *ret = done->num_returns > 0 ? &done->returns[0] : NULL;

    if (ret == NULL || ret->kind == RT_VALUE_ERROR) {
        int len = ret != NULL ? (int)(ret->size < 900 ? ret->size : 900) : 0;

        rt_actor_die(actor, RMPI_ERR_ACTOR_DIED, "the constructor failed: %.*s", len,
                     ret != NULL ? (const char *)ret->data : "no result");
        return;
    }
    actor->state    = RT_ACTOR_ALIVE;
    actor->rank     = done->executor;
    task->state     = RT_TASK_HOSTING;
    task->exec_rank = done->executor;
    --rt.pending_tasks;
    rt_actor_creation_settle(actor, &(rt_value_t){.kind = RT_VALUE_INLINE});
    if (ret->kind == RT_VALUE_STORED) {
        store_oid_t oid = rt_oid_return(&actor->id, 0);

        rt_free_copy(&oid, &ret->loc); /* a constructor's return is not kept */
    }
    if (actor->kill_pending) { /* before anyone is told it is alive */
        actor->kill_pending = false;
        rt_actor_kill_locked(actor, actor->kill_flags, "killed while it was being constructed");
    }
    if (actor->state == RT_ACTOR_ALIVE) {
        rt_actor_answer_waiters(actor);
    }
}

void rt_actor_on_host_died(rt_actor_t *actor, int rank)
{
    char why[64];

    if (actor->state == RT_ACTOR_DEAD || actor->ctor == NULL) {
        return;
    }
    snprintf(why, sizeof(why), "its rank %d died", rank);
    if (rt_actor_can_restart(actor) && !actor->kill_pending) {
        rt_actor_restart(actor, why);
        return;
    }
    rt_actor_die(actor, RMPI_ERR_ACTOR_DIED, "%s%s", why,
                 actor->kill_pending ? " (it was being killed)" : " and it has no restarts left");
}

/* --- kill --------------------------------------------------------------------------------- */

#define RT_KILL_HOST RMPI_BIT(31) /* owner -> host: stop this incarnation */

void rt_actor_kill_locked(rt_actor_t *actor, uint64_t flags, const char *why)
{
    rt_actor_msg_t stop = {.id = actor->id, .flags = (uint32_t)RT_KILL_HOST};

    if (actor->state == RT_ACTOR_DEAD) {
        return;
    }
    if (actor->state != RT_ACTOR_ALIVE) { /* its constructor is running: after it */
        actor->kill_pending = true;
        actor->kill_flags |= flags;
        return;
    }
    stop.incarnation = actor->incarnation;
    (void)rt_actor_send(actor->rank, RT_MSG_ACTOR_KILL, &stop);
    if (!(flags & RMPI_ACTOR_KILL_NO_RESTART) && rt_actor_can_restart(actor)) {
        rt_actor_restart(actor, why);
        return;
    }
    rt_actor_die(actor, RMPI_ERR_ACTOR_DIED, "%s", why);
}

void rt_actor_creator_done(base_list_t *owned)
{
    while (!base_list_is_empty(owned)) {
        rt_actor_t *actor = base_container_of(owned->next, rt_actor_t, creator_link);

        base_list_del(&actor->creator_link);
        actor->has_creator = false;
        rt_actor_kill_locked(actor, RMPI_ACTOR_KILL_NO_RESTART,
                             "its creator task finished (use RMPI_ACTOR_DETACHED to outlive it)");
    }
}

/* --- messages to the owner ------------------------------------------------------------------ */

void rt_on_actor_locate(int src, const void *data, size_t len)
{
    rt_actor_msg_t msg;
    rt_actor_t    *actor;

    if (rt_actor_msg_decode(RT_MSG_ACTOR_LOCATE, data, len, &msg) != RMPI_OK) {
        rt_count_bad(src, RT_MSG_ACTOR_LOCATE, RMPI_ERR_MESSAGE);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    actor = rt_actor_find(&msg.id);
    if (actor != NULL) {
        rt_actor_watch(actor, src, msg.cookie, msg.incarnation);
    } else {
        rt_actor_msg_t none = {.id       = msg.id,
                               .cookie   = msg.cookie,
                               .rank     = -1,
                               .status   = RMPI_ERR_ACTOR_DIED,
                               .text     = "no such actor on its owner rank",
                               .text_len = strlen("no such actor on its owner rank")};

        (void)rt_actor_send(src, RT_MSG_ACTOR_LOCATION, &none);
    }
    pthread_mutex_unlock(&rt.lock);
    rt_push_ready();
}

void rt_on_actor_kill(int src, const void *data, size_t len)
{
    rt_actor_msg_t msg;
    rt_actor_t    *actor;

    if (rt_actor_msg_decode(RT_MSG_ACTOR_KILL, data, len, &msg) != RMPI_OK) {
        rt_count_bad(src, RT_MSG_ACTOR_KILL, RMPI_ERR_MESSAGE);
        return;
    }
    if (msg.flags & RT_KILL_HOST) {
        rt_actor_host_kill(&msg.id, msg.incarnation);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    actor = rt_actor_find(&msg.id);
    if (actor != NULL) {
        rt_actor_kill_locked(actor, msg.flags, "killed by rmpi_actor_kill");
    }
    pthread_mutex_unlock(&rt.lock);
    rt_push_ready();
}

void rt_on_actor_exited(int src, const void *data, size_t len)
{
    rt_actor_msg_t msg;
    rt_actor_t    *actor;

    if (rt_actor_msg_decode(RT_MSG_ACTOR_EXITED, data, len, &msg) != RMPI_OK) {
        rt_count_bad(src, RT_MSG_ACTOR_EXITED, RMPI_ERR_MESSAGE);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    actor = rt_actor_find(&msg.id);
    if (actor != NULL && actor->state == RT_ACTOR_ALIVE && actor->incarnation == msg.incarnation) {
        rt_actor_die(actor, RMPI_ERR_ACTOR_DIED, "the actor exited (rmpi_actor_exit)");
    }
    pthread_mutex_unlock(&rt.lock);
    rt_push_ready();
}

rmpi_status_t rt_actor_send(int dst, rt_msg_type_t type, const rt_actor_msg_t *msg)
{
    size_t len = rt_actor_msg_size(msg);
    void  *buf = malloc(len);

    if (buf == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    rt_actor_msg_encode(type, msg, buf);
    return rt_send(dst, type, buf, len, true);
}

void rt_on_actor_checkpoint(int src, const void *data, size_t len)
{
    rt_actor_ckpt_t msg;
    rt_actor_t     *actor;
    void           *copy;

    if (rt_actor_ckpt_decode(data, len, &msg) != RMPI_OK) {
        rt_count_bad(src, RT_MSG_ACTOR_CHECKPOINT, RMPI_ERR_MESSAGE);
        return;
    }
    copy = malloc(msg.len > 0 ? msg.len : 1);
    if (copy == NULL) {
        base_warn("actor: no memory to keep a checkpoint of %zu bytes", msg.len);
        return;
    }
    memcpy(copy, msg.data, msg.len);
    pthread_mutex_lock(&rt.lock);
    actor = rt_actor_find(&msg.id);
    /* Only the living incarnation's newer saves count (a restart is being pushed with the last). */
    if (actor != NULL && actor->state == RT_ACTOR_ALIVE && actor->rank == src &&
        msg.incarnation == actor->incarnation &&
        (msg.incarnation != actor->ckpt_incarnation || msg.version > actor->ckpt_version)) {
        free(actor->ckpt);
        actor->ckpt             = copy;
        actor->ckpt_len         = msg.len;
        actor->ckpt_version     = msg.version;
        actor->ckpt_incarnation = msg.incarnation;
        copy                    = NULL;
    }
    pthread_mutex_unlock(&rt.lock);
    free(copy);
}
