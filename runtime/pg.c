/*
 * runtime/pg.c - placement groups on every rank: the public calls, resolving
 * bundles for tasks (submit.c) and actors, the cache of groups on ranks other
 * than 0, and the request/reply plumbing to the head (pg_head.c).
 *
 * On rank 0 every call goes straight to the head's tables, under rt.lock, and
 * waiters sleep on pg.cond, which the head broadcasts when a group changes.
 * Elsewhere a call that needs the head sends a PG_CREATE or PG_REQUEST with a
 * cookie and sleeps on its own condition variable until the PG_REPLY with that
 * cookie arrives, its timeout passes, the head dies (failure hook) or the
 * runtime shuts down; a task thread gives its CPU back meanwhile. Replies
 * that show a group (pending or placed) are cached with its bundles and
 * ranks; the head tells every rank it showed a group to when that group fails
 * or goes, which is when a cache entry changes or is dropped.
 *
 * Tasks into a group not placed yet are parked on the group's view (one more
 * dependency in deps_left): on rank 0 the head's view, elsewhere a cache entry
 * that keeps one WAIT outstanding for all of them.
 */
#include "runtime/pg.h"
#include "runtime/pg_int.h"
#include "runtime/pg_place.h"
#include "runtime/rt_int.h"

#include "base/log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Seconds a request to the head may take before it fails (waits excepted). */
#define PG_REQ_TIMEOUT 60.0
/** Bundles converted on the stack by rmpi_pg_create (more: on the heap). */
#define PG_STACK_BUNDLES 8
#define PG_WHY_LEN 512

typedef struct pg_entry pg_entry_t;

/* A request in flight: a thread waits for it, or an entry's parked tasks do. */
typedef struct pg_req {
    base_hash_node_t node;
    uint64_t         cookie;
    pg_entry_t      *entry; /* NULL: a thread sleeps on cond */
    pthread_cond_t   cond;
    bool             done;
    rmpi_status_t    status;
    rmpi_pg_t        id;
    char             why[RT_PG_WHY_MAX];
} pg_req_t;

/* A group this rank (not 0) learnt of. */
struct pg_entry {
    base_hash_node_t node;
    rt_pg_view_t     view; /* bundles and ranks in one block (malloc) */
    pg_req_t         wait; /* cookie 0: no WAIT outstanding */
};

static struct {
    bool                 started, stopping;
    base_hash_t          cache; /* pg_entry_t by group ID */
    base_hash_t          reqs;  /* pg_req_t by cookie */
    pthread_cond_t       cond;  /* rank 0: a group changed */
    atomic_uint_fast64_t next_seq;
} pg;

/* --- IDs and tables ------------------------------------------------------------------- */

int rt_pg_id_creator(const rmpi_pg_t *id)
{
    int32_t rank;

    memcpy(&rank, id->id, sizeof(rank));
    return rank;
}

uint64_t rt_pg_id_hash(const rmpi_pg_t *id)
{
    return base_hash_bytes(id->id, sizeof(id->id));
}

static rmpi_pg_t pg_new_id(void)
{
    rmpi_pg_t id;
    int32_t   rank  = rt.rank;
    uint32_t  magic = RT_PG_ID_MAGIC;
    uint64_t  seq   = atomic_fetch_add(&pg.next_seq, 1) + 1;

    memcpy(id.id, &rank, 4);
    memcpy(id.id + 4, &magic, 4);
    memcpy(id.id + 8, &seq, 8);
    return id;
}

/* Made by pg_new_id on a rank of this job (anything else names no group). */
static bool pg_id_valid(const rmpi_pg_t *id)
{
    uint32_t magic;
    int      creator = rt_pg_id_creator(id);

    memcpy(&magic, id->id + 4, 4);
    return magic == RT_PG_ID_MAGIC && creator >= 0 && creator < rt.size;
}

static uint64_t pg_hash_id(const void *key)
{
    return rt_pg_id_hash(key);
}

static bool pg_entry_equal(const void *key, const base_hash_node_t *node)
{
    return memcmp(key, base_container_of(node, pg_entry_t, node)->view.id.id, 16) == 0;
}

static uint64_t pg_hash_cookie(const void *key)
{
    return base_hash_u64(*(const uint64_t *)key);
}

static bool pg_req_equal(const void *key, const base_hash_node_t *node)
{
    return *(const uint64_t *)key == base_container_of(node, pg_req_t, node)->cookie;
}

static const base_hash_ops_t pg_cache_ops = {pg_hash_id, pg_entry_equal};
static const base_hash_ops_t pg_reqs_ops  = {pg_hash_cookie, pg_req_equal};

/* --- views -------------------------------------------------------------------------------- */

rmpi_status_t rt_pg_view_status(const rt_pg_view_t *view)
{
    switch (view->state) {
    case RT_PG_READY:
        return RMPI_OK;
    case RT_PG_NONE:
    case RT_PG_PENDING:
        return RMPI_ERR_NOT_READY;
    case RT_PG_FAILED:
        return view->status;
    default:
        return RMPI_ERR_NOT_FOUND;
    }
}

static void pg_format(const rt_resvec_t *vec, char *buf, size_t len)
{
    const char *names[RT_MAX_CUSTOM];
    size_t      n = rt_cluster_num_custom(rt.cluster);

    for (size_t i = 0; i < n; ++i) {
        names[i] = rt_cluster_custom_name(rt.cluster, i);
    }
    rt_pg_format_bundle(vec, n, names, buf, len);
}

/* The bundle for @a index (-1: round robin among those that cover @a demand), or -1. */
static int pg_view_bundle(const rt_pg_view_t *view, int index, const rt_resvec_t *demand, char *why,
                          size_t why_len)
{
    size_t n = rt_cluster_num_custom(rt.cluster);
    char   want[160], have[160];

    if (index >= 0) {
        if (demand != NULL && !rt_pg_fits(demand, &view->bundles[index], n)) {
            pg_format(demand, want, sizeof(want));
            pg_format(&view->bundles[index], have, sizeof(have));
            snprintf(why, why_len, "the demand %s does not fit bundle %d %s of the placement group",
                     want, index, have);
            return -1;
        }
        return index;
    }
    for (uint32_t k = 0; k < view->num_bundles; ++k) {
        uint32_t b = (view->next_bundle + k) % view->num_bundles;

        if (demand == NULL || rt_pg_fits(demand, &view->bundles[b], n)) {
            return (int)b;
        }
    }
    pg_format(demand, want, sizeof(want));
    snprintf(why, why_len, "the demand %s fits no bundle of the placement group", want);
    return -1;
}

static rmpi_status_t pg_view_resolve(rt_pg_view_t *view, int index, const rt_resvec_t *demand,
                                     int *rank_p, char *why, size_t why_len)
{
    int bundle;

    if (view->state == RT_PG_FAILED || view->state == RT_PG_GONE) {
        snprintf(why, why_len, "%s", view->why[0] ? view->why : "the placement group is gone");
        return rt_pg_view_status(view);
    }
    if (view->state == RT_PG_NONE) {
        snprintf(why, why_len, "rank %d does not know the placement group yet", rt.rank);
        return RMPI_ERR_NOT_READY;
    }
    if (index < -1 || index >= (int)view->num_bundles) {
        snprintf(why, why_len, "bundle index %d is out of range: the placement group has %u", index,
                 view->num_bundles);
        return RMPI_ERR_INVALID_ARG;
    }
    bundle = pg_view_bundle(view, index, demand, why, why_len);
    if (bundle < 0) {
        return RMPI_ERR_INFEASIBLE;
    }
    if (view->state == RT_PG_PENDING) {
        snprintf(why, why_len, "the placement group is not placed yet");
        return RMPI_ERR_NOT_READY;
    }
    if (index < 0) {
        view->next_bundle = (uint32_t)bundle + 1;
    }
    *rank_p = view->ranks[bundle];
    return RMPI_OK;
}

static pg_entry_t *pg_cache_find(const rmpi_pg_t *id)
{
    base_hash_node_t *node = pg.started ? base_hash_find(&pg.cache, id) : NULL;

    return node != NULL ? base_container_of(node, pg_entry_t, node) : NULL;
}

/* The group as this rank knows it (caller holds rt.lock). */
static rt_pg_view_t *pg_find_view(const rmpi_pg_t *id)
{
    pg_entry_t *entry;

    if (rt.rank == 0) {
        return rt_pg_head_find(id);
    }
    entry = pg_cache_find(id);
    return entry != NULL ? &entry->view : NULL;
}

rmpi_status_t rt_pg_resolve(const rmpi_pg_t *pg_id, int bundle_index, const rt_resvec_t *demand,
                            int *rank_p, char *why, size_t why_len)
{
    char          reason[PG_WHY_LEN] = "";
    rmpi_status_t status;
    rt_pg_view_t *view;
    int           rank = -1;

    if (pg_id == NULL || rank_p == NULL) {
        snprintf(reason, sizeof(reason), "no group or no rank to write");
        status = RMPI_ERR_INVALID_ARG;
    } else if (!rt_is_up()) {
        snprintf(reason, sizeof(reason), "the runtime is not up");
        status = RMPI_ERR_NOT_READY;
    } else if (!pg_id_valid(pg_id)) {
        snprintf(reason, sizeof(reason), "not a placement group of this job");
        status = RMPI_ERR_NOT_FOUND;
    } else {
        pthread_mutex_lock(&rt.lock);
        view = pg_find_view(pg_id);
        if (view != NULL) {
            status = pg_view_resolve(view, bundle_index, demand, &rank, reason, sizeof(reason));
        } else {
            status = rt.rank == 0 ? RMPI_ERR_NOT_FOUND : RMPI_ERR_NOT_READY;
            snprintf(reason, sizeof(reason), "%s",
                     rt.rank == 0 ? "no such placement group"
                                  : "this rank does not know the placement group yet");
        }
        pthread_mutex_unlock(&rt.lock);
    }
    if (status == RMPI_OK) {
        *rank_p = rank;
    } else if (why != NULL && why_len > 0) {
        snprintf(why, why_len, "%s", reason);
    }
    return status;
}

/* --- parked tasks --------------------------------------------------------------------------- */

static void pg_task_error(rt_task_t *task, rmpi_status_t status, const char *why)
{
    if (task->dep_error != RMPI_OK) {
        return;
    }
    task->dep_error = status;
    free(task->dep_message);
    task->dep_message = malloc(RT_ERROR_MSG_MAX + 1);
    if (task->dep_message != NULL) {
        snprintf(task->dep_message, RT_ERROR_MSG_MAX + 1,
                 "task '%s' did not run: its placement group: %s", task->name, why);
    }
}

/* Place @a task in @a view's bundle now, or fail it with the group's error. */
static void pg_task_settle(rt_task_t *task, rt_pg_view_t *view)
{
    char          why[PG_WHY_LEN];
    int           rank;
    rmpi_status_t status =
        pg_view_resolve(view, task->pg_bundle, &task->demand, &rank, why, sizeof(why));

    if (status == RMPI_OK) {
        task->affinity_rank = rank;
    } else {
        pg_task_error(task, status, why);
    }
}

void rt_pg_view_changed(rt_pg_view_t *view)
{
    if (rt.rank == 0) {
        pthread_cond_broadcast(&pg.cond);
    }
    if (view->state == RT_PG_NONE || view->state == RT_PG_PENDING) {
        return;
    }
    while (!base_list_is_empty(&view->parked)) {
        rt_task_t *task = base_list_first(&view->parked, rt_task_t, pg_link);

        base_list_del(&task->pg_link);
        pg_task_settle(task, view);
        if (--task->deps_left == 0) {
            rt_task_ready(task); /* the caller pushes it after releasing rt.lock */
        }
    }
}

rmpi_status_t rt_pg_task_options(const rmpi_task_options_t *opts, uint64_t mask, rt_task_t *task)
{
    if ((mask & RMPI_TASK_OPT_STRATEGY) && opts->strategy != RMPI_SCHED_DEFAULT) {
        base_error("rmpi_submit: a placement group excludes a scheduling strategy");
        return RMPI_ERR_INVALID_ARG;
    }
    if (opts->bundle_index < -1 || opts->bundle_index >= RMPI_PG_MAX_BUNDLES) {
        base_error("rmpi_submit: bundle_index %d is neither -1 nor a bundle", opts->bundle_index);
        return RMPI_ERR_INVALID_ARG;
    }
    task->in_pg         = true;
    task->pg            = opts->pg;
    task->pg_bundle     = opts->bundle_index;
    task->strategy      = RMPI_SCHED_RANK_AFFINITY; /* hard: never elsewhere, never stolen */
    task->soft          = false;
    task->affinity_rank = -1; /* until the bundle's rank is known */
    return RMPI_OK;
}

rmpi_status_t rt_pg_task_place(rt_task_t *task, char *why, size_t why_len)
{
    int           rank;
    rmpi_status_t status =
        rt_pg_resolve(&task->pg, task->pg_bundle, &task->demand, &rank, why, why_len);

    if (status == RMPI_OK) {
        task->affinity_rank = rank;
    }
    return status == RMPI_ERR_NOT_READY ? RMPI_INPROGRESS : status;
}

static pg_entry_t *pg_cache_add(const rmpi_pg_t *id)
{
    pg_entry_t *entry = calloc(1, sizeof(*entry));

    if (entry == NULL) {
        return NULL;
    }
    entry->view.id    = *id;
    entry->view.state = RT_PG_NONE;
    base_list_init(&entry->view.parked);
    entry->wait.entry = entry;
    (void)base_hash_insert(&pg.cache, &entry->node, &entry->view.id);
    return entry;
}

/* Forget @a entry (its parked tasks are settled already). */
static void pg_cache_drop(pg_entry_t *entry)
{
    if (entry->wait.cookie != 0) {
        base_hash_remove(&pg.reqs, &entry->wait.node);
    }
    base_hash_remove(&pg.cache, &entry->node);
    free(entry->view.bundles);
    free(entry);
}

static rmpi_status_t pg_send_request(uint64_t cookie, rt_pg_op_t op, const rmpi_pg_t *id,
                                     const char *name)
{
    rt_pg_request_t msg = {.cookie = cookie, .op = (uint8_t)op};
    uint8_t         buf[128];

    if (id != NULL) {
        msg.id = *id;
    }
    msg.name     = name;
    msg.name_len = name != NULL ? strlen(name) : 0;
    return rt_send(0, RT_MSG_PG_REQUEST, buf, rt_pg_request_encode(&msg, buf), false);
}

/* One WAIT for all the tasks parked on @a entry (caller holds rt.lock). */
static rmpi_status_t pg_entry_wait(pg_entry_t *entry)
{
    rmpi_status_t status;

    if (entry->wait.cookie != 0) {
        return RMPI_OK;
    }
    entry->wait.cookie = ++rt.next_cookie;
    (void)base_hash_insert(&pg.reqs, &entry->wait.node, &entry->wait.cookie);
    status = pg_send_request(entry->wait.cookie, RT_PG_OP_WAIT, &entry->view.id, NULL);
    if (status != RMPI_OK) {
        base_hash_remove(&pg.reqs, &entry->wait.node);
        entry->wait.cookie = 0;
    }
    return status;
}

/* Where a parked task waits: the head's view, or a cache entry (NULL if none can be had). */
static rt_pg_view_t *pg_park_view(const rmpi_pg_t *id, rmpi_status_t *status_p)
{
    pg_entry_t *entry;

    if (rt.rank == 0) {
        *status_p = RMPI_ERR_NOT_FOUND;
        return rt_pg_head_find(id);
    }
    entry = pg_cache_find(id);
    if (entry == NULL) {
        entry = pg.started ? pg_cache_add(id) : NULL;
    }
    *status_p = RMPI_ERR_NO_MEMORY;
    return entry != NULL ? &entry->view : NULL;
}

void rt_pg_task_park(rt_task_t *task)
{
    rmpi_status_t status;
    rt_pg_view_t *view = pg_park_view(&task->pg, &status);
    pg_entry_t   *entry;

    if (view == NULL) {
        pg_task_error(task, status, "no such placement group (or no memory to wait for it)");
        return;
    }
    if (view->state != RT_PG_NONE && view->state != RT_PG_PENDING) {
        pg_task_settle(task, view); /* it changed since rmpi_submit looked */
        return;
    }
    if (rt.rank != 0) {
        entry  = base_container_of(view, pg_entry_t, view);
        status = pg_entry_wait(entry);
        if (status != RMPI_OK) {
            pg_task_error(task, status, "the head (rank 0) cannot be reached");
            if (base_list_is_empty(&view->parked) && view->state == RT_PG_NONE) {
                pg_cache_drop(entry);
            }
            return;
        }
    }
    ++task->deps_left;
    base_list_add_tail(&view->parked, &task->pg_link);
}

void rt_pg_task_unpark(rt_task_t *task)
{
    if (!base_list_is_empty(&task->pg_link)) {
        base_list_del(&task->pg_link);
    }
}

/* --- requests to the head --------------------------------------------------------------------- */

static void pg_req_begin(pg_req_t *req)
{
    memset(req, 0, sizeof(*req));
    rt_cond_init(&req->cond);
    req->cookie = ++rt.next_cookie;
    (void)base_hash_insert(&pg.reqs, &req->node, &req->cookie);
}

typedef bool (*pg_until_t)(const void *arg);

/* Sleep on @a cond (rt.lock held) until @a until, the deadline or shutdown; a task gives its CPU
 * back. */
static void pg_block(pthread_cond_t *cond, double deadline, pg_until_t until, const void *arg)
{
    bool on_pool = rt.exec != NULL && rt_exec_on_pool_thread(rt.exec);

    if (until(arg) || pg.stopping) {
        return;
    }
    if (on_pool) {
        pthread_mutex_unlock(&rt.lock);
        rt_exec_block_begin(rt.exec);
        pthread_mutex_lock(&rt.lock);
    }
    while (!until(arg) && !pg.stopping && rt_cond_wait(cond, deadline) != ETIMEDOUT) {
    }
    if (on_pool) {
        pthread_mutex_unlock(&rt.lock);
        rt_exec_block_end(rt.exec);
        pthread_mutex_lock(&rt.lock);
    }
}

static bool pg_req_done(const void *arg)
{
    return ((const pg_req_t *)arg)->done;
}

/* Wait for @a req's reply (rt.lock held); afterwards the request is out of the table. */
static rmpi_status_t pg_req_end(pg_req_t *req, rmpi_status_t sent, double deadline)
{
    if (sent == RMPI_OK) {
        pg_block(&req->cond, deadline, pg_req_done, req);
    }
    if (!req->done) {
        base_hash_remove(&pg.reqs, &req->node);
        req->status = sent != RMPI_OK ? sent : pg.stopping ? RMPI_ERR_SHUTDOWN : RMPI_ERR_TIMEOUT;
        snprintf(req->why, sizeof(req->why), "%s",
                 sent != RMPI_OK ? "the head (rank 0) cannot be reached"
                                 : "no answer from the head (rank 0) in time");
    }
    pthread_cond_destroy(&req->cond);
    return req->status;
}

/* A PG_REQUEST round trip (caller holds rt.lock, which is dropped while sending). */
static rmpi_status_t pg_call(pg_req_t *req, rt_pg_op_t op, const rmpi_pg_t *id, const char *name,
                             double deadline)
{
    rmpi_status_t sent;

    pg_req_begin(req);
    pthread_mutex_unlock(&rt.lock);
    sent = pg_send_request(req->cookie, op, id, name);
    pthread_mutex_lock(&rt.lock);
    return pg_req_end(req, sent, deadline);
}

/* Rank != 0: learn from the head what @a id is now, unless the cache knows it settled. */
static rmpi_status_t pg_fetch(const rmpi_pg_t *id)
{
    pg_entry_t *entry = pg_cache_find(id);
    pg_req_t    req;

    if (entry != NULL && entry->view.state != RT_PG_NONE && entry->view.state != RT_PG_PENDING) {
        return rt_pg_view_status(&entry->view);
    }
    return pg_call(&req, RT_PG_OP_INFO, id, NULL, rt_now() + PG_REQ_TIMEOUT);
}

/* --- replies from the head ----------------------------------------------------------------------
 */

/* Take the group's bundles and ranks from a reply into @a entry. */
static rmpi_status_t pg_entry_fill(pg_entry_t *entry, const rt_pg_reply_t *msg)
{
    rt_pg_view_t *view = &entry->view;

    if (view->num_bundles != msg->num_bundles) {
        void *block = malloc(msg->num_bundles * (sizeof(rt_resvec_t) + sizeof(int)));

        if (block == NULL) {
            return RMPI_ERR_NO_MEMORY;
        }
        free(view->bundles);
        view->bundles     = block;
        view->ranks       = (int *)(view->bundles + msg->num_bundles);
        view->num_bundles = msg->num_bundles;
    }
    memcpy(view->bundles, msg->bundles, msg->num_bundles * sizeof(rt_resvec_t));
    for (uint32_t b = 0; b < msg->num_bundles; ++b) {
        view->ranks[b] = msg->ranks[b];
    }
    view->strategy = msg->strategy;
    view->state    = (rt_pg_state_t)msg->state;
    view->status   = RMPI_OK;
    return RMPI_OK;
}

static void pg_entry_settle(pg_entry_t *entry, rt_pg_state_t state, rmpi_status_t status,
                            const rt_pg_reply_t *msg)
{
    entry->view.state  = state;
    entry->view.status = status;
    snprintf(entry->view.why, sizeof(entry->view.why), "%.*s", (int)msg->error_len,
             msg->error != NULL ? msg->error : "");
}

/*
 * What a reply says about a group, applied to @a entry (the request's own, or
 * found by ID; NULL: cache a group shown pending or placed). A failure the
 * head keeps (FAILED) stays cached until the group is removed; anything that
 * names no group ends the entry.
 */
static void pg_apply(pg_entry_t *entry, const rt_pg_reply_t *msg)
{
    bool shown = msg->state == RT_PG_PENDING || msg->state == RT_PG_READY;

    if (msg->state == RT_PG_NONE && msg->status == RMPI_OK) {
        return; /* an answer (REMOVE) that shows no group */
    }
    if (entry == NULL && shown) {
        entry = pg_cache_add(&msg->id);
    }
    if (entry == NULL) {
        return;
    }
    if (shown) {
        if (pg_entry_fill(entry, msg) != RMPI_OK) {
            return;
        }
    } else if (msg->state == RT_PG_FAILED) {
        pg_entry_settle(entry, RT_PG_FAILED, msg->status, msg);
    } else if (msg->status == RMPI_ERR_NOT_FOUND || msg->state == RT_PG_GONE) {
        pg_entry_settle(entry, RT_PG_GONE, RMPI_ERR_NOT_FOUND, msg);
    } else {
        pg_entry_settle(entry, RT_PG_FAILED, msg->status, msg); /* the request failed */
    }
    rt_pg_view_changed(&entry->view);
    if (!shown && msg->state != RT_PG_FAILED && base_list_is_empty(&entry->view.parked)) {
        pg_cache_drop(entry);
    }
}

void rt_on_pg_reply(int src, const void *data, size_t len)
{
    rt_pg_reply_t     msg;
    base_hash_node_t *node = NULL;
    pg_req_t         *req  = NULL;

    if (src != 0 || rt.rank == 0 || rt_pg_reply_decode(data, len, &msg) != RMPI_OK) {
        rt_count_bad(src, RT_MSG_PG_REPLY, RMPI_ERR_MESSAGE);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    if (pg.started && msg.cookie != 0) {
        node = base_hash_remove_key(&pg.reqs, &msg.cookie); /* none: it timed out */
    }
    if (node != NULL) {
        req = base_container_of(node, pg_req_t, node);
    }
    if (req != NULL && req->entry != NULL) {
        req->entry->wait.cookie = 0;
        pg_apply(req->entry, &msg);
    } else if (pg.started && (msg.state != RT_PG_NONE || msg.status == RMPI_ERR_NOT_FOUND)) {
        pg_apply(pg_cache_find(&msg.id), &msg); /* what it says of the group, not of the call */
    }
    if (req != NULL && req->entry == NULL) {
        req->done   = true;
        req->status = msg.status;
        req->id     = msg.id;
        snprintf(req->why, sizeof(req->why), "%.*s", (int)msg.error_len,
                 msg.error != NULL ? msg.error : "");
        pthread_cond_signal(&req->cond);
    }
    pthread_mutex_unlock(&rt.lock);
    rt_pg_reply_clear(&msg);
    rt_push_ready();
}

/* --- the public calls
 * ------------------------------------------------------------------------------ */

static rmpi_status_t pg_options(const rmpi_pg_options_t *opts, rt_pg_spec_t *spec)
{
    uint64_t mask = opts != NULL ? opts->field_mask : 0;

    memset(spec, 0, sizeof(*spec));
    spec->strategy = RMPI_PG_PACK;
    if (mask & ~(uint64_t)(RMPI_PG_OPT_LAST - 1)) {
        base_error("rmpi_pg_create: unknown bits in options->field_mask");
        return RMPI_ERR_INVALID_ARG;
    }
    if (mask & RMPI_PG_OPT_STRATEGY) {
        if ((unsigned)opts->strategy > RMPI_PG_STRICT_SPREAD) {
            base_error("rmpi_pg_create: unknown strategy %d", (int)opts->strategy);
            return RMPI_ERR_INVALID_ARG;
        }
        spec->strategy = opts->strategy;
    }
    if ((mask & RMPI_PG_OPT_NAME) && opts->name != NULL) {
        spec->name     = opts->name;
        spec->name_len = strnlen(opts->name, RMPI_PG_NAME_MAX + 1);
        if (spec->name_len == 0 || spec->name_len > RMPI_PG_NAME_MAX) {
            base_error("rmpi_pg_create: a group's name has 1 to %d bytes", RMPI_PG_NAME_MAX);
            return RMPI_ERR_INVALID_ARG;
        }
    }
    spec->detached = (mask & RMPI_PG_OPT_DETACHED) && opts->detached != 0;
    return RMPI_OK;
}

static void pg_job_resources(char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "CPU, GPU, memory");

    for (size_t i = 0; i < rt_cluster_num_custom(rt.cluster) && used < len; ++i) {
        used +=
            (size_t)snprintf(buf + used, len - used, ", %s", rt_cluster_custom_name(rt.cluster, i));
    }
}

static rmpi_status_t pg_add_resource(size_t bundle, const rmpi_resource_t *res, rt_resvec_t *vec)
{
    char names[256];
    int  index;

    if (res->name == NULL || !isfinite(res->amount) || res->amount <= 0) {
        base_error("rmpi_pg_create: bundle %zu: resource '%s' has amount %g: every amount must "
                   "be finite and > 0",
                   bundle, res->name != NULL ? res->name : "(no name)", res->amount);
        return RMPI_ERR_INVALID_ARG;
    }
    if (strcmp(res->name, "CPU") == 0) {
        vec->cpus += res->amount;
    } else if (strcmp(res->name, "GPU") == 0) {
        vec->gpus += res->amount;
    } else if (strcmp(res->name, "memory") == 0) {
        uint64_t bytes = res->amount < 1.8e19 ? (uint64_t)res->amount : UINT64_MAX;

        vec->memory += bytes + ((double)bytes < res->amount); /* whole bytes, rounded up */
    } else if ((index = rt_cluster_custom_index(rt.cluster, res->name)) >= 0) {
        vec->custom[index] += res->amount;
    } else {
        pg_job_resources(names, sizeof(names));
        base_error("rmpi_pg_create: infeasible: bundle %zu asks for '%s', which no rank has "
                   "(this job has %s)",
                   bundle, res->name, names);
        return RMPI_ERR_INFEASIBLE;
    }
    return RMPI_OK;
}

static rmpi_status_t pg_bundles(const rmpi_bundle_t *bundles, size_t n, rt_resvec_t *vecs)
{
    for (size_t b = 0; b < n; ++b) {
        memset(&vecs[b], 0, sizeof(vecs[b]));
        if (bundles[b].num_resources == 0 || bundles[b].resources == NULL) {
            base_error("rmpi_pg_create: bundle %zu is empty: it needs at least one resource", b);
            return RMPI_ERR_INVALID_ARG;
        }
        for (size_t i = 0; i < bundles[b].num_resources; ++i) {
            rmpi_status_t status = pg_add_resource(b, &bundles[b].resources[i], &vecs[b]);

            if (status != RMPI_OK) {
                return status;
            }
        }
    }
    return RMPI_OK;
}

static rmpi_status_t pg_create_remote(const rt_pg_spec_t *spec, char *why, size_t why_len)
{
    rt_pg_create_t msg = {
        .id          = spec->id,
        .strategy    = (uint8_t)spec->strategy,
        .flags       = spec->detached ? RT_PG_CREATE_DETACHED : 0,
        .name        = spec->name,
        .name_len    = spec->name_len,
        .num_bundles = spec->num_bundles,
        .bundles     = (rt_resvec_t *)spec->bundles,
    };
    size_t        len = rt_pg_create_size(&msg);
    void         *buf = malloc(len);
    pg_req_t      req;
    rmpi_status_t sent = buf != NULL ? RMPI_OK : RMPI_ERR_NO_MEMORY;

    pthread_mutex_lock(&rt.lock);
    pg_req_begin(&req);
    pthread_mutex_unlock(&rt.lock);
    if (buf != NULL) {
        msg.cookie = req.cookie;
        rt_pg_create_encode(&msg, buf);
        sent = rt_send(0, RT_MSG_PG_CREATE, buf, len, true);
    }
    pthread_mutex_lock(&rt.lock);
    rmpi_status_t status = pg_req_end(&req, sent, rt_now() + PG_REQ_TIMEOUT);
    pthread_mutex_unlock(&rt.lock);
    snprintf(why, why_len, "%s", req.why);
    return status;
}

static rmpi_status_t pg_create(rt_pg_spec_t *spec, char *why, size_t why_len)
{
    rt_pg_view_t *view;
    rmpi_status_t status;

    spec->id      = pg_new_id();
    spec->creator = rt.rank;
    if (rt.rank != 0) {
        return pg_create_remote(spec, why, why_len);
    }
    pthread_mutex_lock(&rt.lock);
    status = rt_pg_head_create(spec, &view, why, why_len);
    pthread_mutex_unlock(&rt.lock);
    return status;
}

rmpi_status_t rmpi_pg_create(const rmpi_bundle_t *bundles, size_t num_bundles,
                             const rmpi_pg_options_t *opts, rmpi_pg_t *pg_p)
{
    rt_resvec_t   stack[PG_STACK_BUNDLES], *vecs = stack;
    rt_pg_spec_t  spec;
    char          why[PG_WHY_LEN] = "";
    rmpi_status_t status;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (bundles == NULL || pg_p == NULL || num_bundles == 0 || num_bundles > RMPI_PG_MAX_BUNDLES) {
        base_error("rmpi_pg_create: needs 1 to %d bundles and a group to write",
                   RMPI_PG_MAX_BUNDLES);
        return RMPI_ERR_INVALID_ARG;
    }
    if ((status = pg_options(opts, &spec)) != RMPI_OK) {
        return status;
    }
    if (num_bundles > PG_STACK_BUNDLES && (vecs = malloc(num_bundles * sizeof(*vecs))) == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    status = pg_bundles(bundles, num_bundles, vecs);
    if (status == RMPI_OK) {
        spec.bundles     = vecs;
        spec.num_bundles = (uint32_t)num_bundles;
        status           = pg_create(&spec, why, sizeof(why));
        if (status != RMPI_OK) {
            base_error("rmpi_pg_create: %s", why);
        }
    }
    if (vecs != stack) {
        free(vecs);
    }
    if (status == RMPI_OK) {
        *pg_p = spec.id;
    }
    return status;
}

static bool pg_settled(const void *arg)
{
    const rt_pg_view_t *view = rt_pg_head_find(arg);

    return view == NULL || view->state != RT_PG_PENDING;
}

/* Rank 0: sleep until the group is no longer pending (caller holds rt.lock). */
static rmpi_status_t pg_wait_local(const rmpi_pg_t *id, double deadline)
{
    const rt_pg_view_t *view;
    rmpi_status_t       status;

    pg_block(&pg.cond, deadline, pg_settled, id);
    view   = rt_pg_head_find(id);
    status = view != NULL ? rt_pg_view_status(view) : RMPI_ERR_NOT_FOUND;
    if (status == RMPI_ERR_NOT_READY) {
        status = pg.stopping ? RMPI_ERR_SHUTDOWN : RMPI_ERR_TIMEOUT;
    }
    return status;
}

static rmpi_status_t pg_wait_remote(const rmpi_pg_t *id, double timeout, double deadline)
{
    pg_entry_t   *entry = pg_cache_find(id);
    pg_req_t      req;
    rmpi_status_t status;

    if (entry != NULL && (entry->view.state == RT_PG_READY || entry->view.state == RT_PG_FAILED)) {
        return rt_pg_view_status(&entry->view);
    }
    if (timeout == 0) { /* just look: ask, and a pending group is a timeout */
        status = pg_call(&req, RT_PG_OP_INFO, id, NULL, rt_now() + PG_REQ_TIMEOUT);
    } else {
        status = pg_call(&req, RT_PG_OP_WAIT, id, NULL, deadline);
    }
    return status == RMPI_ERR_NOT_READY ? RMPI_ERR_TIMEOUT : status;
}

rmpi_status_t rmpi_pg_wait(rmpi_pg_t pg_id, double timeout)
{
    double        deadline = timeout < 0 ? -1 : rt_now() + timeout;
    rmpi_status_t status;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (!pg_id_valid(&pg_id)) {
        return RMPI_ERR_NOT_FOUND;
    }
    pthread_mutex_lock(&rt.lock);
    status =
        rt.rank == 0 ? pg_wait_local(&pg_id, deadline) : pg_wait_remote(&pg_id, timeout, deadline);
    pthread_mutex_unlock(&rt.lock);
    return status;
}

rmpi_status_t rmpi_pg_remove(rmpi_pg_t pg_id)
{
    rmpi_status_t status = RMPI_ERR_NOT_FOUND;
    pg_entry_t   *entry;
    pg_req_t      req;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    pthread_mutex_lock(&rt.lock);
    if (!pg_id_valid(&pg_id)) {
        status = RMPI_ERR_NOT_FOUND;
    } else if (rt.rank == 0) {
        status = rt_pg_head_remove(&pg_id);
    } else {
        status = pg_call(&req, RT_PG_OP_REMOVE, &pg_id, NULL, rt_now() + PG_REQ_TIMEOUT);
        entry  = status == RMPI_OK ? pg_cache_find(&pg_id) : NULL;
        if (entry != NULL) {
            rt_pg_reply_t gone = {.state = RT_PG_GONE, .status = RMPI_ERR_NOT_FOUND};

            gone.error     = "the placement group was removed";
            gone.error_len = strlen(gone.error);
            pg_apply(entry, &gone);
        }
    }
    pthread_mutex_unlock(&rt.lock);
    if (status != RMPI_OK) {
        base_error("rmpi_pg_remove: %s", status == RMPI_ERR_NOT_FOUND ? "no such placement group"
                                                                      : rmpi_status_str(status));
    }
    rt_push_ready(); /* tasks parked on it fail */
    return status;
}

rmpi_status_t rmpi_pg_get(const char *name, rmpi_pg_t *pg_p)
{
    size_t              len = name != NULL ? strnlen(name, RMPI_PG_NAME_MAX + 1) : 0;
    const rt_pg_view_t *view;
    rmpi_status_t       status;
    pg_req_t            req;
    rmpi_pg_t           id;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (pg_p == NULL || len == 0 || len > RMPI_PG_NAME_MAX) {
        base_error("rmpi_pg_get: needs a name of 1 to %d bytes and a group to write",
                   RMPI_PG_NAME_MAX);
        return RMPI_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&rt.lock);
    if (rt.rank == 0) {
        view   = rt_pg_head_find_name(name, len);
        status = view != NULL ? RMPI_OK : RMPI_ERR_NOT_FOUND;
        if (view != NULL) {
            id = view->id;
        }
    } else {
        status = pg_call(&req, RT_PG_OP_GET, NULL, name, rt_now() + PG_REQ_TIMEOUT);
        id     = req.id;
    }
    pthread_mutex_unlock(&rt.lock);
    if (status == RMPI_OK) {
        *pg_p = id;
    }
    return status;
}

/* The group, known as settled as the head knows it (caller holds rt.lock). */
static rt_pg_view_t *pg_lookup(const rmpi_pg_t *id, rmpi_status_t *status_p)
{
    rmpi_status_t fetched = rt.rank == 0 ? RMPI_OK : pg_fetch(id);
    rt_pg_view_t *view    = pg_find_view(id);

    if (view == NULL) {
        *status_p =
            fetched == RMPI_OK || fetched == RMPI_ERR_NOT_READY ? RMPI_ERR_NOT_FOUND : fetched;
        return NULL;
    }
    *status_p = rt_pg_view_status(view);
    return view;
}

rmpi_status_t rmpi_pg_bundle_rank(rmpi_pg_t pg_id, size_t index, int *rank_p)
{
    rmpi_status_t status = RMPI_ERR_NOT_FOUND;
    rt_pg_view_t *view   = NULL;
    int           rank   = -1;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (rank_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&rt.lock);
    if (pg_id_valid(&pg_id)) {
        view = pg_lookup(&pg_id, &status);
    }
    if (view != NULL && index >= view->num_bundles) {
        status = RMPI_ERR_INVALID_ARG;
    } else if (view != NULL && status == RMPI_OK) {
        rank = view->ranks[index];
    }
    pthread_mutex_unlock(&rt.lock);
    if (status == RMPI_OK) {
        *rank_p = rank;
    }
    return status;
}

rmpi_status_t rt_pg_gang(const rmpi_pg_t *id, int *ranks, size_t max, size_t *num_p)
{
    rmpi_status_t status = RMPI_ERR_NOT_FOUND;
    rt_pg_view_t *view   = NULL;
    size_t        n      = 0;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    pthread_mutex_lock(&rt.lock);
    if (pg_id_valid(id)) {
        view = pg_lookup(id, &status);
    }
    for (uint32_t b = 0; status == RMPI_OK && b < view->num_bundles; ++b) {
        size_t k = 0;

        while (k < n && ranks[k] != view->ranks[b]) {
            ++k;
        }
        if (k == n && n == max) {
            status = RMPI_ERR_TRUNCATED;
        } else if (k == n) {
            ranks[n++] = view->ranks[b];
        }
    }
    pthread_mutex_unlock(&rt.lock);
    if (status == RMPI_OK) {
        *num_p = n;
    }
    return status;
}

/* --- life cycle ---------------------------------------------------------------------------------
 */

rmpi_status_t rt_pg_start(void)
{
    rmpi_status_t status = RMPI_OK;

    pthread_mutex_lock(&rt.lock);
    if (base_hash_init(&pg.cache, &pg_cache_ops, 16) != RMPI_OK ||
        base_hash_init(&pg.reqs, &pg_reqs_ops, 16) != RMPI_OK) {
        status = RMPI_ERR_NO_MEMORY;
    }
    if (status == RMPI_OK && rt.rank == 0) {
        status = rt_pg_head_start();
    }
    if (status == RMPI_OK) {
        rt_cond_init(&pg.cond);
        pg.started  = true;
        pg.stopping = false;
    } else {
        base_hash_cleanup(&pg.cache);
        base_hash_cleanup(&pg.reqs);
    }
    pthread_mutex_unlock(&rt.lock);
    return status;
}

static bool pg_wake_req(base_hash_node_t *node, void *arg)
{
    pg_req_t *req = base_container_of(node, pg_req_t, node);

    (void)arg;
    if (req->entry == NULL) {
        pthread_cond_signal(&req->cond);
    }
    return true;
}

void rt_pg_quiesce(void)
{
    pthread_mutex_lock(&rt.lock);
    if (pg.started) {
        pg.stopping = true;
        pthread_cond_broadcast(&pg.cond);
        base_hash_foreach(&pg.reqs, pg_wake_req, NULL);
    }
    pthread_mutex_unlock(&rt.lock);
}

static bool pg_free_entry(base_hash_node_t *node, void *arg)
{
    pg_entry_t *entry = base_container_of(node, pg_entry_t, node);

    (void)arg;
    free(entry->view.bundles);
    free(entry);
    return true;
}

void rt_pg_stop(void)
{
    if (!pg.started) {
        return;
    }
    pg.started = false;
    rt_pg_head_stop();
    base_hash_foreach(&pg.cache, pg_free_entry, NULL); /* parked tasks go with rt's tables */
    base_hash_cleanup(&pg.cache);
    base_hash_cleanup(&pg.reqs); /* threads in requests were woken by rt_pg_quiesce */
    pthread_cond_destroy(&pg.cond);
    pg.stopping = false;
}

/* The head died: every request ends, tasks parked on entries fail. */
static bool pg_fail_req(base_hash_node_t *node, void *arg)
{
    pg_req_t     *req  = base_container_of(node, pg_req_t, node);
    rt_pg_reply_t dead = {.state = RT_PG_NONE, .status = RMPI_ERR_PEER_DIED};

    (void)arg;
    dead.error     = "the head (rank 0) died";
    dead.error_len = strlen(dead.error);
    base_hash_remove(&pg.reqs, node);
    if (req->entry != NULL) {
        req->entry->wait.cookie = 0;
        pg_apply(req->entry, &dead);
        return true;
    }
    req->done   = true;
    req->status = RMPI_ERR_PEER_DIED;
    snprintf(req->why, sizeof(req->why), "%s", dead.error);
    pthread_cond_signal(&req->cond);
    return true;
}

void rt_pg_on_peer_failure(int rank)
{
    if (!pg.started) {
        return;
    }
    if (rt.rank == 0) {
        rt_pg_head_on_peer_failure(rank);
    } else if (rank == 0) {
        base_hash_foreach(&pg.reqs, pg_fail_req, NULL);
    }
}
