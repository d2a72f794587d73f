/*
 * runtime/actor_call.c - the caller's side of actor calls.
 *
 * A call is a task (rt_task_t with actor_ref set): its ref arguments are
 * resolved as any task's, but it leaves in submission order. Each ref keeps
 * its calls in that order; a call is pushed once every call before it was
 * pushed and its own arguments are ready, with the next sequence number of
 * (this rank, the actor's incarnation). The host puts calls back in sequence
 * order, so two threads sending concurrently cannot reorder them.
 *
 * Where the actor lives is asked of its owner (ACTOR_LOCATE), answered when
 * it is alive in an incarnation at least the one asked for, or dead. After
 * its rank dies, or a call fails with RMPI_ERR_ACTOR_DIED, the ref asks for
 * the next incarnation; calls in flight are pushed again there while their
 * actor's max_task_retries allow, else fail with RMPI_ERR_ACTOR_DIED.
 */
#include "runtime/actor.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A call encoded under the lock, sent after it (rt_actor_send_queued). */
typedef struct rt_call_send {
    base_list_t link;
    int         dst;
    void       *buf;
    size_t      len;
} rt_call_send_t;

rt_actor_ref_t *rt_actor_ref_get(const store_oid_t *id, uint32_t cls)
{
    base_hash_node_t *node = base_hash_find(&rt.actor_refs, id);
    rt_actor_ref_t   *ref;

    if (node != NULL) {
        return base_container_of(node, rt_actor_ref_t, hnode);
    }
    ref = calloc(1, sizeof(*ref));
    if (ref == NULL) {
        return NULL;
    }
    ref->id   = *id;
    ref->cls  = cls;
    ref->rank = -1;
    base_list_init(&ref->calls);
    if (base_hash_insert(&rt.actor_refs, &ref->hnode, &ref->id) != RMPI_OK) {
        free(ref);
        return NULL;
    }
    return ref;
}

static bool rt_call_may_retry(const rt_actor_ref_t *ref, const rt_task_t *task)
{
    return ref->state != RT_REF_DEAD &&
           (ref->max_task_retries < 0 || task->call_retries < (uint32_t)ref->max_task_retries);
}

/* Fail every call not pushed yet (the ref is dead). */
static void rt_ref_fail_unsent(rt_actor_ref_t *ref)
{
    base_list_t *it, *next;

    for (it = ref->calls.next; it != &ref->calls; it = next) {
        rt_task_t *task = base_container_of(it, rt_task_t, actor_link);

        next = it->next;
        if (task->state != RT_TASK_PUSHED && task->call_ready) {
            rt_task_fail(task, ref->error, ref->message); /* unlinks it */
        }
    }
}

static void rt_ref_dead(rt_actor_ref_t *ref, rmpi_status_t status, const char *why)
{
    ref->state = RT_REF_DEAD;
    ref->error = status != RMPI_OK ? status : RMPI_ERR_ACTOR_DIED;
    snprintf(ref->message, sizeof(ref->message), "%s", why);
    pthread_cond_broadcast(&rt.actor_cond);
    rt_ref_fail_unsent(ref);
}

/* Ask the owner where the actor is (incarnation >= ref->incarnation). */
static void rt_ref_locate(rt_actor_ref_t *ref)
{
    int            owner = rt_oid_owner(&ref->id);
    rt_actor_msg_t ask   = {.id = ref->id, .incarnation = ref->incarnation};

    if (owner < 0 || owner >= rt.size || rt_cluster_is_dead(rt.cluster, owner)) {
        rt_ref_dead(ref, RMPI_ERR_ACTOR_DIED, "the actor's owner rank is dead or not in this job");
        return;
    }
    ref->state  = RT_REF_LOCATING;
    ref->cookie = ask.cookie = ++rt.next_cookie;
    if (owner == rt.rank) {
        rt_actor_t *actor = rt_actor_find(&ref->id);

        if (actor == NULL) {
            rt_ref_dead(ref, RMPI_ERR_ACTOR_DIED, "no such actor on its owner rank");
            return;
        }
        rt_actor_watch(actor, rt.rank, ask.cookie, ask.incarnation);
        return;
    }
    if (rt_actor_send(owner, RT_MSG_ACTOR_LOCATE, &ask) != RMPI_OK) {
        rt_ref_dead(ref, RMPI_ERR_ACTOR_DIED, "the actor's owner rank could not be reached");
    }
}

static void rt_call_queue_send(rt_actor_ref_t *ref, rt_task_t *task)
{
    rt_call_send_t *send = malloc(sizeof(*send));

    task->spec.actor.incarnation = ref->incarnation;
    task->spec.actor.seq         = ref->next_seq;
    if (send != NULL) {
        send->len = rt_spec_size(&task->spec);
        send->buf = malloc(send->len);
    }
    if (send == NULL || send->buf == NULL) {
        free(send);
        rt_task_fail(task, RMPI_ERR_NO_MEMORY, "out of memory for an actor call message");
        return; /* the sequence number is not used: the host sees no gap */
    }
    ++ref->next_seq;
    rt_spec_encode(&task->spec, send->buf);
    send->dst       = ref->rank;
    task->state     = RT_TASK_PUSHED;
    task->exec_rank = ref->rank;
    base_list_add_tail(&rt.actor_sends, &send->link);
}

/* Push, in order, every call that may go now. */
static void rt_ref_drain(rt_actor_ref_t *ref)
{
    base_list_t *it, *next;

    if (ref->state == RT_REF_DEAD) {
        rt_ref_fail_unsent(ref);
        return;
    }
    if (ref->state != RT_REF_ALIVE) {
        if (ref->state == RT_REF_UNKNOWN && !base_list_is_empty(&ref->calls)) {
            rt_ref_locate(ref);
        }
        return;
    }
    for (it = ref->calls.next; it != &ref->calls; it = next) {
        rt_task_t *task = base_container_of(it, rt_task_t, actor_link);

        next = it->next;
        if (task->state == RT_TASK_PUSHED) {
            continue;
        }
        if (!task->call_ready) {
            break; /* later calls wait for this one */
        }
        rt_call_queue_send(ref, task);
    }
}

void rt_actor_ref_located(rt_actor_ref_t *ref, const rt_actor_msg_t *where)
{
    char why[RT_ERROR_MSG_MAX + 1];

    if (ref->state != RT_REF_LOCATING || where->cookie != ref->cookie) {
        return; /* an answer to an earlier question */
    }
    ref->max_task_retries = where->max_task_retries;
    if (where->status != RMPI_OK || where->rank < 0 || where->rank >= rt.size) {
        snprintf(why, sizeof(why), "%.*s", (int)where->text_len,
                 where->text != NULL ? where->text : "");
        rt_ref_dead(ref, (rmpi_status_t)where->status, why[0] != '\0' ? why : "the actor died");
        return;
    }
    ref->state       = RT_REF_ALIVE;
    ref->rank        = where->rank;
    ref->incarnation = where->incarnation;
    ref->next_seq    = 0;
    pthread_cond_broadcast(&rt.actor_cond);
    rt_ref_drain(ref);
}

void rt_on_actor_location(int src, const void *data, size_t len)
{
    rt_actor_msg_t    msg;
    base_hash_node_t *node;

    if (rt_actor_msg_decode(RT_MSG_ACTOR_LOCATION, data, len, &msg) != RMPI_OK ||
        rt_oid_owner(&msg.id) != src) {
        rt_count_bad(src, RT_MSG_ACTOR_LOCATION, RMPI_ERR_MESSAGE);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    node = base_hash_find(&rt.actor_refs, &msg.id);
    if (node != NULL) {
        rt_actor_ref_located(base_container_of(node, rt_actor_ref_t, hnode), &msg);
    }
    pthread_mutex_unlock(&rt.lock);
    rt_push_ready();
}

/* --- the calls of a ref ----------------------------------------------------------------- */

void rt_actor_call_add(rt_task_t *task)
{
    base_list_add_tail(&task->actor_ref->calls, &task->actor_link);
}

void rt_actor_call_ready(rt_task_t *task)
{
    rt_actor_ref_t *ref = task->actor_ref;

    task->call_ready = true;
    task->state      = RT_TASK_WAITING;
    rt_ref_drain(ref);
}

void rt_actor_call_remove(rt_task_t *task)
{
    rt_actor_ref_t *ref = task->actor_ref;

    base_list_del(&task->actor_link);
    base_list_init(&task->actor_link);
    task->actor_ref = NULL;
    if (ref->state == RT_REF_ALIVE) {
        rt_ref_drain(ref); /* calls behind it may go now */
    }
}

/* Make a pushed call unsent again, for the next incarnation. */
static void rt_call_requeue(rt_task_t *task)
{
    ++task->spec.attempt;
    task->state     = RT_TASK_WAITING;
    task->exec_rank = -1;
    base_info("actor call '%s': retrying on the actor's next incarnation (attempt %u)", task->name,
              task->spec.attempt + 1);
}

/* The ref's actor instance is gone: look for the next incarnation. */
static void rt_ref_lost(rt_actor_ref_t *ref, uint32_t incarnation)
{
    if (ref->state == RT_REF_DEAD || ref->incarnation > incarnation) {
        return; /* already looking further, or dead */
    }
    ref->state       = RT_REF_UNKNOWN;
    ref->incarnation = incarnation + 1;
    ref->rank        = -1;
}

bool rt_actor_call_retry(rt_task_t *task, const rt_task_done_t *done)
{
    rt_actor_ref_t *ref    = task->actor_ref;
    rmpi_status_t   status = done->num_returns > 0 && done->returns[0].kind == RT_VALUE_ERROR
                                 ? done->returns[0].status
                                 : RMPI_OK;

    /* A call that never ran is sent where the actor is now; that is no retry. */
    if (status != RT_CALL_NOT_HERE) {
        if (status != RMPI_ERR_ACTOR_DIED || !rt_call_may_retry(ref, task)) {
            return false;
        }
        ++task->call_retries;
    }
    rt_ref_lost(ref, task->spec.actor.incarnation);
    rt_call_requeue(task);
    rt_ref_drain(ref);
    return true;
}

void rt_actor_ref_relocate(const store_oid_t *id, uint32_t min_incarnation)
{
    base_hash_node_t *node = base_hash_find(&rt.actor_refs, id);
    rt_actor_ref_t   *ref  = node != NULL ? base_container_of(node, rt_actor_ref_t, hnode) : NULL;

    if (ref == NULL || ref->state == RT_REF_DEAD || ref->state == RT_REF_LOCATING ||
        ref->incarnation >= min_incarnation) {
        return; /* dead, up to date, or its question is pending with the owner */
    }
    ref->state       = RT_REF_UNKNOWN;
    ref->incarnation = min_incarnation;
    ref->rank        = -1;
    rt_ref_drain(ref);
}

/* One ref after the death of @a rank. */
static void rt_ref_rank_died(rt_actor_ref_t *ref, int rank)
{
    base_list_t *it, *next;
    char         why[128];

    snprintf(why, sizeof(why), "the actor's rank %d died", rank);
    if (ref->state == RT_REF_ALIVE && ref->rank == rank) {
        rt_ref_lost(ref, ref->incarnation);
    }
    for (it = ref->calls.next; it != &ref->calls; it = next) {
        rt_task_t *task = base_container_of(it, rt_task_t, actor_link);

        next = it->next;
        if (task->state != RT_TASK_PUSHED || task->exec_rank != rank) {
            continue;
        }
        if (rt_call_may_retry(ref, task)) {
            ++task->call_retries;
            rt_call_requeue(task);
        } else {
            rt_task_fail(task, RMPI_ERR_ACTOR_DIED, why);
        }
    }
    if (rt_oid_owner(&ref->id) == rank && ref->state != RT_REF_DEAD) {
        rt_ref_dead(ref, RMPI_ERR_ACTOR_DIED, "the actor's owner rank died");
        return;
    }
    rt_ref_drain(ref);
}

static bool rt_ref_collect(base_hash_node_t *node, void *arg)
{
    rt_actor_ref_t ***cursor = arg;

    *(*cursor)++ = base_container_of(node, rt_actor_ref_t, hnode);
    return true;
}

void rt_actor_refs_rank_died(int rank)
{
    size_t           count = base_hash_count(&rt.actor_refs);
    rt_actor_ref_t **refs  = count > 0 ? malloc(count * sizeof(*refs)) : NULL;
    rt_actor_ref_t **end   = refs;

    if (refs == NULL) {
        return;
    }
    base_hash_foreach(&rt.actor_refs, rt_ref_collect, &end);
    for (rt_actor_ref_t **it = refs; it < end; ++it) {
        rt_ref_rank_died(*it, rank);
    }
    free(refs);
}

void rt_actor_send_queued(void)
{
    for (;;) {
        rt_call_send_t *send = NULL;

        pthread_mutex_lock(&rt.lock);
        if (!base_list_is_empty(&rt.actor_sends)) {
            send = base_container_of(rt.actor_sends.next, rt_call_send_t, link);
            base_list_del(&send->link);
        }
        pthread_mutex_unlock(&rt.lock);
        if (send == NULL) {
            return;
        }
        /* A failed send means the rank died: the failure handler retries or fails it. */
        (void)rt_send(send->dst, RT_MSG_TASK_PUSH, send->buf, send->len, true);
        free(send);
    }
}

void rt_actor_sends_drain(void)
{
    while (!base_list_is_empty(&rt.actor_sends)) {
        rt_call_send_t *send = base_container_of(rt.actor_sends.next, rt_call_send_t, link);

        base_list_del(&send->link);
        free(send->buf);
        free(send);
    }
}

void rt_actor_ref_want(rt_actor_ref_t *ref)
{
    if (ref->state == RT_REF_UNKNOWN) {
        rt_ref_locate(ref);
    }
}
