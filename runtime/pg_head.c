/*
 * runtime/pg_head.c - the placement-group service of the head (rank 0).
 *
 * State, all under rt.lock: the groups (by ID, and by name for named ones),
 * the FIFO of pending groups, and the ledger: per rank its totals (from
 * wire-up), what placed bundles leave free, how many bundles it holds, and
 * whether it died. Placement is rt_pg_place() (pg_place.c) on the free
 * amounts; a group that does not fit them is tried on the totals, to tell a
 * group that must wait (PENDING, tried again whenever reservations are given
 * back) from one that never fits (RMPI_ERR_INFEASIBLE at once).
 *
 * A group is one allocation (record, bundles and ranks), placing it scans the
 * ranks once per bundle with scratch space kept here, and the tables are
 * intrusive hashes: creating and removing a group on rank 0 costs one malloc
 * and one free.
 *
 * Other ranks reach the service with PG_CREATE and PG_REQUEST; every rank the
 * head shows a group to becomes a subscriber of it and is told (a PG_REPLY
 * with cookie 0) when it fails or goes, so that no cache outlives its group.
 * WAIT requests on a pending group are kept and answered when it is placed,
 * fails or goes. Rank 0 itself needs no message: its API calls come here.
 */
#include "runtime/pg.h"
#include "runtime/pg_int.h"
#include "runtime/pg_place.h"
#include "runtime/rt_int.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pg_waiter {
    int      rank;
    uint64_t cookie;
} pg_waiter_t;

typedef struct pg_group {
    base_hash_node_t id_node;
    base_hash_node_t name_node;
    base_list_t      pending_link;
    rt_pg_view_t     view;
    int              creator;
    bool             detached;
    size_t           name_len; /* 0: unnamed */
    char             name[RMPI_PG_NAME_MAX + 1];
    pg_waiter_t     *waiters; /* WAITs of other ranks on a pending group */
    size_t           num_waiters, cap_waiters;
    int             *subs; /* other ranks that know the group */
    size_t           num_subs, cap_subs;
    /* then num_bundles rt_resvec_t and num_bundles int */
} pg_group_t;

typedef struct pg_name_key {
    const char *name;
    size_t      len;
} pg_name_key_t;

static struct {
    bool         started;
    base_hash_t  groups; /* pg_group_t.id_node */
    base_hash_t  names;  /* pg_group_t.name_node */
    base_list_t  pending;
    int          num_ranks;
    int         *node;
    rt_resvec_t *total, *free;
    int         *held; /* bundles on each rank; at 0 its free amounts are reset to its totals */
    bool        *dead;
    size_t       num_custom;
    const char  *custom_names[RT_MAX_CUSTOM];
    void        *scratch;
} head;

/* --- tables ---------------------------------------------------------------------- */

static uint64_t head_hash_id(const void *key)
{
    return rt_pg_id_hash(key);
}

static bool head_id_equal(const void *key, const base_hash_node_t *node)
{
    const pg_group_t *g = base_container_of(node, pg_group_t, id_node);

    return memcmp(key, g->view.id.id, sizeof(g->view.id.id)) == 0;
}

static uint64_t head_hash_name(const void *key)
{
    const pg_name_key_t *k = key;

    return base_hash_bytes(k->name, k->len);
}

static bool head_name_equal(const void *key, const base_hash_node_t *node)
{
    const pg_name_key_t *k = key;
    const pg_group_t    *g = base_container_of(node, pg_group_t, name_node);

    return g->name_len == k->len && memcmp(g->name, k->name, k->len) == 0;
}

static const base_hash_ops_t head_id_ops   = {head_hash_id, head_id_equal};
static const base_hash_ops_t head_name_ops = {head_hash_name, head_name_equal};

static pg_group_t *head_find(const rmpi_pg_t *id)
{
    base_hash_node_t *node = head.started ? base_hash_find(&head.groups, id) : NULL;

    return node != NULL ? base_container_of(node, pg_group_t, id_node) : NULL;
}

rt_pg_view_t *rt_pg_head_find(const rmpi_pg_t *id)
{
    pg_group_t *g = head_find(id);

    return g != NULL ? &g->view : NULL;
}

rt_pg_view_t *rt_pg_head_find_name(const char *name, size_t name_len)
{
    pg_name_key_t     key  = {name, name_len};
    base_hash_node_t *node = head.started ? base_hash_find(&head.names, &key) : NULL;

    return node != NULL ? &base_container_of(node, pg_group_t, name_node)->view : NULL;
}

static pg_group_t *head_group_of(rt_pg_view_t *view)
{
    return base_container_of(view, pg_group_t, view);
}

/* --- start and stop ------------------------------------------------------------------- */

static rmpi_status_t head_ledger_init(void)
{
    int n = rt.size;

    head.num_ranks = n;
    head.node      = calloc((size_t)n, sizeof(*head.node));
    head.total     = calloc((size_t)n, sizeof(*head.total));
    head.free      = calloc((size_t)n, sizeof(*head.free));
    head.held      = calloc((size_t)n, sizeof(*head.held));
    head.dead      = calloc((size_t)n, sizeof(*head.dead));
    head.scratch   = malloc(rt_pg_place_scratch_size(n));
    if (head.node == NULL || head.total == NULL || head.free == NULL || head.held == NULL ||
        head.dead == NULL || head.scratch == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    for (int r = 0; r < n; ++r) {
        head.node[r] = rt_cluster_node_of(rt.cluster, r);
        rt_cluster_rank_total(rt.cluster, r, &head.total[r]);
        head.free[r] = head.total[r];
        head.dead[r] = rt_cluster_is_dead(rt.cluster, r);
    }
    head.num_custom = rt_cluster_num_custom(rt.cluster);
    for (size_t i = 0; i < head.num_custom; ++i) {
        head.custom_names[i] = rt_cluster_custom_name(rt.cluster, i);
    }
    return RMPI_OK;
}

static void head_ledger_free(void)
{
    free(head.node);
    free(head.total);
    free(head.free);
    free(head.held);
    free(head.dead);
    free(head.scratch);
    head.node    = NULL;
    head.total   = NULL;
    head.free    = NULL;
    head.held    = NULL;
    head.dead    = NULL;
    head.scratch = NULL;
}

rmpi_status_t rt_pg_head_start(void)
{
    rmpi_status_t status;

    base_list_init(&head.pending);
    status = head_ledger_init();
    if (status == RMPI_OK && (base_hash_init(&head.groups, &head_id_ops, 64) != RMPI_OK ||
                              base_hash_init(&head.names, &head_name_ops, 16) != RMPI_OK)) {
        status = RMPI_ERR_NO_MEMORY;
    }
    if (status != RMPI_OK) {
        base_hash_cleanup(&head.groups);
        base_hash_cleanup(&head.names);
        head_ledger_free();
        return status;
    }
    head.started = true;
    return RMPI_OK;
}

static void head_free(pg_group_t *g)
{
    free(g->waiters);
    free(g->subs);
    free(g);
}

static bool head_free_group(base_hash_node_t *node, void *arg)
{
    pg_group_t *g = base_container_of(node, pg_group_t, id_node);

    (void)arg;
    base_list_init(&g->view.parked); /* those tasks are being freed with the tables */
    head_free(g);
    return true;
}

void rt_pg_head_stop(void)
{
    if (!head.started) {
        return;
    }
    head.started = false;
    base_hash_foreach(&head.groups, head_free_group, NULL);
    base_hash_cleanup(&head.groups);
    base_hash_cleanup(&head.names);
    head_ledger_free();
}

/* --- the ledger ---------------------------------------------------------------------------- */

/* Place @a g on @a avail (the free amounts or the totals); ranks stay -1 unless placed. */
static rmpi_status_t head_place(pg_group_t *g, const rt_resvec_t *avail, char *why, size_t why_len)
{
    rt_pg_ranks_t in = {
        .num_ranks    = head.num_ranks,
        .node         = head.node,
        .avail        = avail,
        .dead         = head.dead,
        .num_custom   = head.num_custom,
        .custom_names = head.custom_names,
    };
    rmpi_status_t status =
        rt_pg_place(&in, (rmpi_pg_strategy_t)g->view.strategy, g->view.bundles, g->view.num_bundles,
                    head.scratch, g->view.ranks, why, why_len);

    if (status != RMPI_OK) {
        for (uint32_t b = 0; b < g->view.num_bundles; ++b) {
            g->view.ranks[b] = -1;
        }
    }
    return status;
}

static void head_reserve(pg_group_t *g)
{
    for (uint32_t b = 0; b < g->view.num_bundles; ++b) {
        int                r = g->view.ranks[b];
        const rt_resvec_t *d = &g->view.bundles[b];

        head.free[r].cpus -= d->cpus;
        head.free[r].gpus -= d->gpus;
        head.free[r].memory -= d->memory;
        for (size_t i = 0; i < head.num_custom; ++i) {
            head.free[r].custom[i] -= d->custom[i];
        }
        head.held[r]++;
    }
}

/* Give a placed group's bundles back; a rank left holding none is exact again (no drift). */
static void head_unreserve(pg_group_t *g)
{
    for (uint32_t b = 0; b < g->view.num_bundles; ++b) {
        int                r = g->view.ranks[b];
        const rt_resvec_t *d = &g->view.bundles[b];

        if (--head.held[r] == 0) {
            head.free[r] = head.total[r];
            continue;
        }
        head.free[r].cpus += d->cpus;
        head.free[r].gpus += d->gpus;
        head.free[r].memory += d->memory;
        for (size_t i = 0; i < head.num_custom; ++i) {
            head.free[r].custom[i] += d->custom[i];
        }
    }
}

/* --- telling other ranks -------------------------------------------------------------------- */

/* Answer @a cookie (0: a push) with @a view, or with only @a id when there is no view. */
static void head_send_reply(int rank, uint64_t cookie, rmpi_status_t status,
                            const rt_pg_view_t *view, const rmpi_pg_t *id, const char *why)
{
    rt_pg_reply_t msg = {.cookie = cookie, .status = status};
    size_t        len;
    void         *buf;

    if (id != NULL) {
        msg.id = *id;
    }
    if (view != NULL) {
        msg.id       = view->id;
        msg.state    = (uint8_t)view->state;
        msg.strategy = view->strategy;
        if (view->state == RT_PG_PENDING || view->state == RT_PG_READY) {
            msg.num_bundles = view->num_bundles;
            msg.bundles     = view->bundles;
            msg.ranks       = view->ranks;
        }
    }
    msg.error     = why;
    msg.error_len = why != NULL ? strlen(why) : 0;
    len           = rt_pg_reply_size(&msg);
    buf           = malloc(len);
    if (buf == NULL) {
        base_log_once(BASE_LOG_WARN, "placement groups: no memory for a reply to rank %d", rank);
        return;
    }
    rt_pg_reply_encode(&msg, buf);
    (void)rt_send(rank, RT_MSG_PG_REPLY, buf, len, true); /* a dead rank needs no answer */
}

static bool head_grow(void **array, size_t *cap, size_t need, size_t elem)
{
    size_t cap2 = *cap == 0 ? 4 : *cap * 2;
    void  *grown;

    if (need <= *cap) {
        return true;
    }
    grown = realloc(*array, cap2 * elem);
    if (grown == NULL) {
        return false;
    }
    *array = grown;
    *cap   = cap2;
    return true;
}

static void head_subscribe(pg_group_t *g, int rank)
{
    for (size_t i = 0; i < g->num_subs; ++i) {
        if (g->subs[i] == rank) {
            return;
        }
    }
    if (rank != 0 && head_grow((void **)&g->subs, &g->cap_subs, g->num_subs + 1, sizeof(int))) {
        g->subs[g->num_subs++] = rank;
    }
}

/* Answer the WAITs: the group was placed, failed or went. */
static void head_answer_waiters(pg_group_t *g)
{
    for (size_t i = 0; i < g->num_waiters; ++i) {
        head_send_reply(g->waiters[i].rank, g->waiters[i].cookie, rt_pg_view_status(&g->view),
                        &g->view, NULL, g->view.why);
    }
    g->num_waiters = 0;
}

/* The group failed or went: answer everyone waiting, tell every rank that knows it. */
static void head_tell_all(pg_group_t *g)
{
    head_answer_waiters(g);
    for (size_t i = 0; i < g->num_subs; ++i) {
        head_send_reply(g->subs[i], 0, rt_pg_view_status(&g->view), &g->view, NULL, g->view.why);
    }
    rt_pg_view_changed(&g->view);
}

/* --- pending groups ------------------------------------------------------------------------ */

/* Room was given back: place what waits and fits now, oldest first. */
static void head_retry_pending(void)
{
    base_list_t *it, *tmp;

    base_list_for_each_safe (it, tmp, &head.pending) {
        pg_group_t *g = base_container_of(it, pg_group_t, pending_link);

        if (head_place(g, head.free, NULL, 0) != RMPI_OK) {
            continue;
        }
        base_list_del(&g->pending_link);
        head_reserve(g);
        g->view.state = RT_PG_READY;
        head_answer_waiters(g);
        rt_pg_view_changed(&g->view);
    }
}

/* --- create and remove ---------------------------------------------------------------------- */

static pg_group_t *head_alloc(const rt_pg_spec_t *spec)
{
    size_t      n = spec->num_bundles;
    pg_group_t *g = malloc(sizeof(*g) + n * (sizeof(rt_resvec_t) + sizeof(int)));

    if (g == NULL) {
        return NULL;
    }
    memset(g, 0, sizeof(*g));
    base_list_init(&g->pending_link);
    base_list_init(&g->view.parked);
    g->view.id          = spec->id;
    g->view.strategy    = (uint8_t)spec->strategy;
    g->view.num_bundles = (uint32_t)n;
    g->view.bundles     = (rt_resvec_t *)(g + 1);
    g->view.ranks       = (int *)(g->view.bundles + n);
    g->view.status      = RMPI_OK;
    memcpy(g->view.bundles, spec->bundles, n * sizeof(rt_resvec_t));
    g->creator  = spec->creator;
    g->detached = spec->detached;
    g->name_len = spec->name_len;
    if (spec->name_len > 0) {
        memcpy(g->name, spec->name, spec->name_len);
    }
    return g;
}

static rmpi_status_t head_check_new(const rt_pg_spec_t *spec, char *why, size_t why_len)
{
    if (!head.started) {
        snprintf(why, why_len, "the placement-group service is not running");
        return RMPI_ERR_NOT_READY;
    }
    if (spec->num_bundles == 0 || spec->num_bundles > RMPI_PG_MAX_BUNDLES ||
        spec->name_len > RMPI_PG_NAME_MAX) {
        snprintf(why, why_len, "%u bundles or a %zu-byte name", spec->num_bundles, spec->name_len);
        return RMPI_ERR_INVALID_ARG;
    }
    if (spec->name_len > 0 && rt_pg_head_find_name(spec->name, spec->name_len) != NULL) {
        snprintf(why, why_len, "a placement group named '%.*s' exists", (int)spec->name_len,
                 spec->name);
        return RMPI_ERR_EXISTS;
    }
    if (head_find(&spec->id) != NULL) {
        snprintf(why, why_len, "a placement group with this ID exists");
        return RMPI_ERR_EXISTS;
    }
    return RMPI_OK;
}

/* Not placed now: PENDING if it fits the live ranks' totals, else INFEASIBLE. */
static rmpi_status_t head_pend(pg_group_t *g, char *why, size_t why_len)
{
    char reason[256];

    if (head_place(g, head.total, reason, sizeof(reason)) != RMPI_OK) {
        snprintf(why, why_len, "the placement group can never fit this job's %d rank(s): %s",
                 head.num_ranks, reason);
        return RMPI_ERR_INFEASIBLE;
    }
    for (uint32_t b = 0; b < g->view.num_bundles; ++b) {
        g->view.ranks[b] = -1; /* the totals only said it could fit */
    }
    g->view.state = RT_PG_PENDING;
    base_list_add_tail(&head.pending, &g->pending_link);
    return RMPI_OK;
}

rmpi_status_t rt_pg_head_create(const rt_pg_spec_t *spec, rt_pg_view_t **view_p, char *why,
                                size_t why_len)
{
    rmpi_status_t status = head_check_new(spec, why, why_len);
    pg_group_t   *g;
    pg_name_key_t key = {spec->name, spec->name_len};

    if (status != RMPI_OK) {
        return status;
    }
    g = head_alloc(spec);
    if (g == NULL) {
        snprintf(why, why_len, "out of memory for a placement group");
        return RMPI_ERR_NO_MEMORY;
    }
    if (head_place(g, head.free, NULL, 0) == RMPI_OK) {
        head_reserve(g);
        g->view.state = RT_PG_READY;
    } else if ((status = head_pend(g, why, why_len)) != RMPI_OK) {
        head_free(g);
        return status;
    }
    (void)base_hash_insert(&head.groups, &g->id_node, &g->view.id);
    if (g->name_len > 0) {
        key.name = g->name;
        (void)base_hash_insert(&head.names, &g->name_node, &key);
    }
    *view_p = &g->view;
    return RMPI_OK;
}

/* Unlink @a g from the ledger and the queue (its state says where it is). */
static void head_release(pg_group_t *g)
{
    if (g->view.state == RT_PG_READY) {
        head_unreserve(g);
    } else if (g->view.state == RT_PG_PENDING) {
        base_list_del(&g->pending_link);
    }
}

/* Remove @a g for good: waits end with RMPI_ERR_NOT_FOUND, parked tasks fail. */
static void head_drop(pg_group_t *g, const char *why)
{
    head_release(g);
    g->view.state  = RT_PG_GONE;
    g->view.status = RMPI_ERR_NOT_FOUND;
    snprintf(g->view.why, sizeof(g->view.why), "%s", why);
    head_tell_all(g);
    base_hash_remove(&head.groups, &g->id_node);
    if (g->name_len > 0) {
        base_hash_remove(&head.names, &g->name_node);
    }
    head_free(g);
}

rmpi_status_t rt_pg_head_remove(const rmpi_pg_t *id)
{
    pg_group_t *g      = head_find(id);
    bool        placed = g != NULL && g->view.state == RT_PG_READY;

    if (g == NULL) {
        return RMPI_ERR_NOT_FOUND;
    }
    head_drop(g, "the placement group was removed");
    if (placed && !base_list_is_empty(&head.pending)) {
        head_retry_pending();
    }
    return RMPI_OK;
}

/* --- dead ranks ------------------------------------------------------------------------------ */

static void head_fail(pg_group_t *g, rmpi_status_t status, const char *why)
{
    head_release(g);
    g->view.state  = RT_PG_FAILED;
    g->view.status = status;
    snprintf(g->view.why, sizeof(g->view.why), "%s", why);
    base_warn("placement groups: %s", why);
    head_tell_all(g);
}

static int head_bundle_on(const pg_group_t *g, int rank)
{
    for (uint32_t b = 0; b < g->view.num_bundles; ++b) {
        if (g->view.ranks[b] == rank) {
            return (int)b;
        }
    }
    return -1;
}

/* What @a rank's death does to @a g (called for every group; may drop it). */
static bool head_scan_dead(base_hash_node_t *node, void *arg)
{
    pg_group_t *g    = base_container_of(node, pg_group_t, id_node);
    int         rank = *(const int *)arg, bundle;
    char        why[RT_PG_WHY_MAX], reason[160];

    if (g->creator == rank && !g->detached && g->view.state != RT_PG_GONE) {
        snprintf(why, sizeof(why), "the placement group's creator, rank %d, died", rank);
        head_drop(g, why); /* foreach allows removing the element it is given */
        return true;
    }
    if (g->view.state == RT_PG_READY && (bundle = head_bundle_on(g, rank)) >= 0) {
        snprintf(why, sizeof(why), "rank %d, which held bundle %d of a placement group, died", rank,
                 bundle);
        head_fail(g, RMPI_ERR_PEER_DIED, why);
    } else if (g->view.state == RT_PG_PENDING &&
               head_place(g, head.total, reason, sizeof(reason)) != RMPI_OK) {
        snprintf(why, sizeof(why), "a pending placement group can no longer fit: rank %d died: %s",
                 rank, reason);
        head_fail(g, RMPI_ERR_INFEASIBLE, why);
    } else if (g->view.state == RT_PG_PENDING) {
        for (uint32_t b = 0; b < g->view.num_bundles; ++b) {
            g->view.ranks[b] = -1;
        }
    }
    return true;
}

void rt_pg_head_on_peer_failure(int rank)
{
    if (!head.started || rank < 0 || rank >= head.num_ranks || head.dead[rank]) {
        return;
    }
    head.dead[rank] = true;
    base_hash_foreach(&head.groups, head_scan_dead, &rank);
    head_retry_pending();
}

/* --- messages from other ranks --------------------------------------------------------------- */

static bool head_bundles_valid(const rt_pg_create_t *msg)
{
    for (uint32_t b = 0; b < msg->num_bundles; ++b) {
        for (size_t i = head.num_custom; i < RT_MAX_CUSTOM; ++i) {
            if (msg->bundles[b].custom[i] != 0) {
                return false; /* a custom resource the job does not have */
            }
        }
    }
    return true;
}

void rt_on_pg_create(int src, const void *data, size_t len)
{
    rt_pg_create_t msg;
    rt_pg_view_t  *view     = NULL;
    char           why[512] = "";
    rmpi_status_t  status;

    if (rt.rank != 0 || rt_pg_create_decode(data, len, &msg) != RMPI_OK) {
        rt_count_bad(src, RT_MSG_PG_CREATE, RMPI_ERR_MESSAGE);
        return;
    }
    rt_pg_spec_t spec = {
        .id          = msg.id,
        .creator     = src,
        .strategy    = (rmpi_pg_strategy_t)msg.strategy,
        .detached    = (msg.flags & RT_PG_CREATE_DETACHED) != 0,
        .name        = msg.name,
        .name_len    = msg.name_len,
        .bundles     = msg.bundles,
        .num_bundles = msg.num_bundles,
    };
    pthread_mutex_lock(&rt.lock);
    if (rt_pg_id_creator(&msg.id) != src || !head_bundles_valid(&msg)) {
        rt_count_bad(src, RT_MSG_PG_CREATE, RMPI_ERR_MESSAGE);
        snprintf(why, sizeof(why), "rank 0 rejected the request as malformed");
        status = RMPI_ERR_MESSAGE;
    } else {
        status = rt_pg_head_create(&spec, &view, why, sizeof(why));
    }
    if (status == RMPI_OK) {
        head_subscribe(head_group_of(view), src);
    }
    head_send_reply(src, msg.cookie, status, view, &msg.id, status == RMPI_OK ? NULL : why);
    pthread_mutex_unlock(&rt.lock);
    rt_pg_create_clear(&msg);
}

static void head_on_wait(int src, const rt_pg_request_t *msg)
{
    pg_group_t *g = head_find(&msg->id);

    if (g == NULL) {
        head_send_reply(src, msg->cookie, RMPI_ERR_NOT_FOUND, NULL, &msg->id,
                        "no such placement group");
        return;
    }
    head_subscribe(g, src);
    if (g->view.state != RT_PG_PENDING) {
        head_send_reply(src, msg->cookie, rt_pg_view_status(&g->view), &g->view, NULL, g->view.why);
    } else if (head_grow((void **)&g->waiters, &g->cap_waiters, g->num_waiters + 1,
                         sizeof(*g->waiters))) {
        g->waiters[g->num_waiters++] = (pg_waiter_t){src, msg->cookie};
    } else {
        head_send_reply(src, msg->cookie, RMPI_ERR_NO_MEMORY, NULL, &msg->id,
                        "rank 0 is out of memory");
    }
}

/* INFO and GET: what the head knows, now. */
static void head_on_lookup(int src, const rt_pg_request_t *msg)
{
    rt_pg_view_t *view = msg->op == RT_PG_OP_GET ? rt_pg_head_find_name(msg->name, msg->name_len)
                                                 : rt_pg_head_find(&msg->id);
    rmpi_status_t status;

    if (view == NULL) {
        head_send_reply(src, msg->cookie, RMPI_ERR_NOT_FOUND, NULL, &msg->id,
                        "no such placement group");
        return;
    }
    head_subscribe(head_group_of(view), src);
    status = msg->op == RT_PG_OP_GET ? RMPI_OK : rt_pg_view_status(view);
    head_send_reply(src, msg->cookie, status, view, NULL, view->why);
}

void rt_on_pg_request(int src, const void *data, size_t len)
{
    rt_pg_request_t msg;

    if (rt.rank != 0 || rt_pg_request_decode(data, len, &msg) != RMPI_OK) {
        rt_count_bad(src, RT_MSG_PG_REQUEST, RMPI_ERR_MESSAGE);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    if (!head.started) {
        head_send_reply(src, msg.cookie, RMPI_ERR_NOT_READY, NULL, &msg.id,
                        "the placement-group service is not running");
    } else if (msg.op == RT_PG_OP_WAIT) {
        head_on_wait(src, &msg);
    } else if (msg.op == RT_PG_OP_REMOVE) {
        rmpi_status_t status = rt_pg_head_remove(&msg.id);

        head_send_reply(src, msg.cookie, status, NULL, &msg.id,
                        status == RMPI_OK ? NULL : "no such placement group");
    } else {
        head_on_lookup(src, &msg);
    }
    pthread_mutex_unlock(&rt.lock);
    rt_push_ready(); /* tasks of rank 0 parked on a group that went */
}
