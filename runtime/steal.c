/*
 * runtime/steal.c - work stealing between executors.
 *
 * When a rank's pool goes idle (free CPUs, empty queue) it asks one other
 * rank — one of its own node first, chosen at random, then any — for queued
 * tasks (STEAL). The victim hands over up to the thief's free CPUs' worth of
 * stealable tasks from its queue's tail (STEAL_REPLY, the specs as they
 * arrived). The thief queues them and tells each owner where its task now
 * runs (MOVED), so cancel and failure handling follow the task. One request
 * is in flight per rank; an empty answer waits for the next idle transition,
 * so an idle job sends nothing.
 */
#include "runtime/rt_int.h"

#include "base/log.h"

#include <stdlib.h>
#include <string.h>

#define RT_STEAL_MAX 16

static atomic_bool rt_steal_in_flight;
/*
 * Victims asked in this idle period. An empty answer registers us as hungry
 * at that victim (see rt_steal_offer), so asking a few covers a few busy
 * ranks without flooding a large job.
 */
static atomic_int rt_steal_tries;
#define RT_STEAL_TRIES 4
static _Thread_local uint64_t rt_steal_rng;

static uint64_t rt_steal_random(void)
{
    if (rt_steal_rng == 0) {
        rt_steal_rng =
            (uint64_t)rt.rank * 0x9e3779b97f4a7c15ull + (uint64_t)(uintptr_t)&rt_steal_rng;
    }
    rt_steal_rng ^= rt_steal_rng << 13;
    rt_steal_rng ^= rt_steal_rng >> 7;
    rt_steal_rng ^= rt_steal_rng << 17;
    return rt_steal_rng;
}

/*
 * The victim of try @a attempt (0, 1, ...) of this idle period: the live ranks
 * other than us, those of our node first, walked from a random start, so the
 * tries of one period ask distinct ranks. Every rank asked and found empty
 * remembers us (see rt_steal_offer), so asking distinct ones matters: a repeat
 * would leave a rank that gets work later unaware that we are idle.
 */
static atomic_uint rt_steal_start;

static int rt_steal_victim(int attempt)
{
    int same = 0, any = 0, pick;

    for (int r = 0; r < rt.size; ++r) {
        if (r != rt.rank && !rt_cluster_is_dead(rt.cluster, r)) {
            ++any;
            same += rt.peers[r].node == rt.node;
        }
    }
    if (any == 0) {
        return -1;
    }
    if (attempt < same) {
        pick = (int)((rt_steal_start + (unsigned)attempt) % (unsigned)same);
    } else if (any > same) {
        pick = same + (int)((rt_steal_start + (unsigned)attempt) % (unsigned)(any - same));
    } else {
        pick = (int)((rt_steal_start + (unsigned)attempt) % (unsigned)same);
    }
    for (int pass = 0; pass < 2; ++pass) { /* our node's ranks, then the others */
        for (int r = 0; r < rt.size; ++r) {
            if (r == rt.rank || rt_cluster_is_dead(rt.cluster, r) ||
                (rt.peers[r].node == rt.node) != (pass == 0)) {
                continue;
            }
            if (pick-- == 0) {
                return r;
            }
        }
    }
    return -1;
}

/* Ask one more victim; false when there is none or the message cannot go. */
static bool rt_steal_ask(int attempt)
{
    rt_exec_stats_t stats;
    rt_steal_t      msg;
    uint8_t         buf[RT_STEAL_LEN];
    int             victim = rt_steal_victim(attempt);

    rt_exec_stats(rt.exec, &stats);
    msg.free_cpus = stats.free_cpus;
    msg.max_tasks = stats.free_cpus >= 1 ? (uint32_t)stats.free_cpus : 1;
    return victim >= 0 && stats.queued == 0 && stats.free_cpus > 0 &&
           rt_send(victim, RT_MSG_STEAL, buf, rt_steal_encode(&msg, buf), false) == RMPI_OK;
}

void rt_steal_on_idle(void *arg, bool idle)
{
    bool expected = false;

    (void)arg;
    if (!idle || !rt_is_up() ||
        !atomic_compare_exchange_strong(&rt_steal_in_flight, &expected, true)) {
        return;
    }
    atomic_store(&rt_steal_tries, 1);
    rt_steal_start = (unsigned)rt_steal_random();
    if (!rt_steal_ask(0)) {
        atomic_store(&rt_steal_in_flight, false);
    }
}

/*
 * Ranks that asked while we had nothing to give: when work queues up here
 * later, the first of them gets some unasked (rt_steal_offer), so a rank that
 * went idle early still helps. Event-driven: no timers, no polling.
 */
#define RT_HUNGRY_MAX 64

static pthread_mutex_t rt_hungry_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int      rt_num_hungry;
static rt_steal_t      rt_hungry[RT_HUNGRY_MAX];
static int             rt_hungry_rank[RT_HUNGRY_MAX];

static void rt_hungry_add(int rank, const rt_steal_t *msg)
{
    pthread_mutex_lock(&rt_hungry_lock);
    int n = atomic_load(&rt_num_hungry), i;

    for (i = 0; i < n && rt_hungry_rank[i] != rank; ++i) {
    }
    if (i < RT_HUNGRY_MAX) {
        rt_hungry_rank[i] = rank;
        rt_hungry[i]      = *msg;
        if (i == n) {
            atomic_store(&rt_num_hungry, n + 1);
        }
    }
    pthread_mutex_unlock(&rt_hungry_lock);
}

static bool rt_hungry_pop(int *rank_p, rt_steal_t *msg)
{
    bool found = false;

    pthread_mutex_lock(&rt_hungry_lock);
    int n = atomic_load(&rt_num_hungry);

    if (n > 0) {
        *rank_p = rt_hungry_rank[0];
        *msg    = rt_hungry[0];
        memmove(rt_hungry_rank, rt_hungry_rank + 1, (size_t)(n - 1) * sizeof(rt_hungry_rank[0]));
        memmove(rt_hungry, rt_hungry + 1, (size_t)(n - 1) * sizeof(rt_hungry[0]));
        atomic_store(&rt_num_hungry, n - 1);
        found = true;
    }
    pthread_mutex_unlock(&rt_hungry_lock);
    return found;
}

/* Keep the tasks the thief has no room for (they go back in our queue). */
static size_t rt_steal_fitting(rt_exec_item_t **items, size_t count, double free_cpus)
{
    size_t kept = 0;

    for (size_t i = 0; i < count; ++i) {
        if (items[i]->cpus <= free_cpus) {
            free_cpus -= items[i]->cpus;
            items[kept++] = items[i];
        } else {
            (void)rt_exec_submit(rt.exec, items[i]);
        }
    }
    return kept;
}

/* Take up to what @a msg asks for, leaving us at least half our queue; 0 if none. */
static size_t rt_steal_take(const rt_steal_t *msg, rt_exec_item_t **items)
{
    rt_exec_stats_t stats;
    size_t          max = msg->max_tasks < RT_STEAL_MAX ? msg->max_tasks : RT_STEAL_MAX;

    rt_exec_stats(rt.exec, &stats);
    if (!rt_is_up() || stats.queued <= 1) {
        return 0;
    }
    if (max > stats.queued / 2 + 1) {
        max = stats.queued / 2 + 1;
    }
    return rt_steal_fitting(items, rt_exec_steal(rt.exec, items, max), msg->free_cpus);
}

/* Send @a count taken items to @a thief (an empty reply when 0). */
static void rt_steal_give(int thief, rt_exec_item_t **items, size_t count)
{
    const void *specs[RT_STEAL_MAX];
    size_t      lens[RT_STEAL_MAX], size;
    void       *buf;

    pthread_mutex_lock(&rt.lock);
    for (size_t i = 0; i < count; ++i) {
        rt_run_t *run = base_container_of(items[i], rt_run_t, item);

        base_hash_remove(&rt.runs, &run->hnode);
        specs[i] = run->msg;
        lens[i]  = run->msg_len;
    }
    pthread_mutex_unlock(&rt.lock);
    size = rt_steal_reply_size(lens, count);
    buf  = malloc(size);
    if (buf != NULL) {
        rt_steal_reply_encode(specs, lens, count, buf);
        (void)rt_send(thief, RT_MSG_STEAL_REPLY, buf, size, true);
    }
    for (size_t i = 0; i < count; ++i) {
        rt_run_t *run = base_container_of(items[i], rt_run_t, item);

        if (buf == NULL) {
            pthread_mutex_lock(&rt.lock);
            (void)base_hash_insert(&rt.runs, &run->hnode, &run->spec.task_id);
            pthread_mutex_unlock(&rt.lock);
            (void)rt_exec_submit(rt.exec, items[i]); /* keep them after all */
            continue;
        }
        rt_spec_clear(&run->spec);
        free(run->msg);
        free(run);
    }
}

/* Victim: hand over queued tasks, or remember the asker for later. */
void rt_on_steal(int src, const void *data, size_t len)
{
    rt_steal_t      msg;
    rt_exec_item_t *items[RT_STEAL_MAX];
    size_t          count;

    if (rt_steal_decode(data, len, &msg) != RMPI_OK) {
        rt_count_bad(src, RT_MSG_STEAL, RMPI_ERR_MESSAGE);
        return;
    }
    count = rt_steal_take(&msg, items);
    if (count == 0) {
        rt_hungry_add(src, &msg);
    }
    rt_steal_give(src, items, count);
}

void rt_steal_offer(void)
{
    rt_exec_item_t *items[RT_STEAL_MAX];
    rt_steal_t      msg;
    size_t          count;
    int             thief;

    /* Before wire-up ends there is no cluster view to check the thief against. */
    if (!rt_is_up() || atomic_load_explicit(&rt_num_hungry, memory_order_relaxed) == 0 ||
        !rt_hungry_pop(&thief, &msg)) {
        return;
    }
    if (rt_cluster_is_dead(rt.cluster, thief)) {
        return;
    }
    count = rt_steal_take(&msg, items);
    if (count == 0) {
        rt_hungry_add(thief, &msg); /* still nothing to spare */
        return;
    }
    rt_steal_give(thief, items, count);
}

static void rt_steal_moved(const void *spec, size_t len)
{
    rt_task_spec_t decoded;
    rt_moved_t     msg;
    uint8_t        buf[RT_MOVED_LEN];

    if (rt_spec_decode(spec, len, &decoded) != RMPI_OK) {
        return;
    }
    msg = (rt_moved_t){decoded.task_id, decoded.attempt, rt.rank};
    rt_spec_clear(&decoded);
    (void)rt_send(rt_oid_owner(&msg.task_id), RT_MSG_MOVED, buf, rt_moved_encode(&msg, buf), false);
}

/* Thief: queue what we got; tell the owners first (so their records follow). */
void rt_on_steal_reply(int src, const void *data, size_t len)
{
    int             attempt;
    rt_steal_iter_t it;
    const void     *spec;
    size_t          spec_len;
    rmpi_status_t   status = rt_steal_reply_begin(data, len, &it);

    while (status == RMPI_OK && (status = rt_steal_reply_next(&it, &spec, &spec_len)) == RMPI_OK) {
        void *copy = malloc(spec_len);

        if (copy == NULL) {
            break;
        }
        memcpy(copy, spec, spec_len);
        rt_steal_moved(spec, spec_len);
        if (rt_run_enqueue(copy, spec_len, true) == RMPI_OK) {
            atomic_fetch_add_explicit(&rt.stats.stolen, 1, memory_order_relaxed);
        }
    }
    if (status == RMPI_ERR_MESSAGE) {
        rt_count_bad(src, RT_MSG_STEAL_REPLY, status);
    }
    if (it.left == 0 && rt_steal_reply_begin(data, len, &it) == RMPI_OK && it.left == 0 &&
        (attempt = atomic_fetch_add(&rt_steal_tries, 1)) < RT_STEAL_TRIES && rt_is_up() &&
        rt_steal_ask(attempt)) {
        return; /* empty: try another victim, still in flight */
    }
    atomic_store(&rt_steal_in_flight, false);
}

/* Owner: the task now runs on the thief. */
void rt_on_moved(int src, const void *data, size_t len)
{
    rt_moved_t msg;
    rt_task_t *task;

    if (rt_moved_decode(data, len, &msg) != RMPI_OK || msg.rank != src) {
        rt_count_bad(src, RT_MSG_MOVED, RMPI_ERR_MESSAGE);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    task = rt_task_find(&msg.task_id);
    if (task != NULL && task->state == RT_TASK_PUSHED && task->spec.attempt == msg.attempt &&
        task->exec_rank != src) {
        rt_cluster_load_add(rt.cluster, task->exec_rank, -1);
        rt_cluster_load_add(rt.cluster, src, +1);
        task->exec_rank = src;
        if (task->canceled) {
            /* The cancel went to the victim, which no longer had the task. */
            rt_cancel_send(task, 0);
        }
    }
    pthread_mutex_unlock(&rt.lock);
}
