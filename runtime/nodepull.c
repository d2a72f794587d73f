/*
 * runtime/nodepull.c - node-level pulls (nodepull.h): choosing the node's
 * puller of an object, the reader's wait for it, and the puller's side (its
 * worker thread, its pinned node copies).
 */
#include "runtime/nodepull.h"

#include "runtime/answers.h"

#include "runtime/msg_nodepull.h"

#include "base/clock.h"
#include "base/log.h"
#include "objstore/remote.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A pull this rank serves as its node's puller (for a reader here or a peer's NODE_PULL). */
typedef struct rt_np_req {
    base_list_t   link; /* np.requests, until the worker starts it */
    int           src;  /* the reader's rank; rt.rank for a reader of this rank */
    uint64_t      cookie;
    store_oid_t   oid;
    rt_location_t from;
} rt_np_req_t;

/* A node copy this rank keeps pinned until the owner's FREE. */
typedef struct rt_np_kept {
    base_hash_node_t hnode;
    store_oid_t      oid;
} rt_np_kept_t;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t  cond; /* work for the worker */
    bool            up;
    bool            stopping;
    base_hash_t     kept;     /* rt_np_kept_t by oid */
    base_list_t     requests; /* rt_np_req_t from peers, for the worker */
    rt_answers_t    answers;  /* readers' waits for their pullers */
    pthread_t       worker;
    bool            worker_started;
} np = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool rt_np_equal(const void *key, const base_hash_node_t *node)
{
    return memcmp(key, &base_container_of(node, rt_np_kept_t, hnode)->oid, sizeof(store_oid_t)) ==
           0;
}

static uint64_t rt_np_hash(const void *key)
{
    return store_oid_hash(key);
}

static const base_hash_ops_t rt_np_ops = {rt_np_hash, rt_np_equal};

rmpi_status_t rt_nodepull_init(void)
{
    pthread_condattr_t attr;
    rmpi_status_t      status;

    pthread_mutex_lock(&np.lock);
    status = base_hash_init(&np.kept, &rt_np_ops, 64);
    if (status == RMPI_OK) {
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&np.cond, &attr);
        pthread_condattr_destroy(&attr);
        base_list_init(&np.requests);
        rt_answers_init(&np.answers);
        np.stopping = false;
        np.up       = true;
    }
    pthread_mutex_unlock(&np.lock);
    return status;
}

/* --- node copies ----------------------------------------------------------------------- */

bool rt_nodepull_kept(const store_oid_t *oid)
{
    bool kept;

    pthread_mutex_lock(&np.lock);
    kept = np.up && base_hash_find(&np.kept, oid) != NULL;
    pthread_mutex_unlock(&np.lock);
    return kept;
}

void rt_nodepull_forget(const store_oid_t *oid)
{
    base_hash_node_t *node = NULL;

    pthread_mutex_lock(&np.lock);
    if (np.up) {
        node = base_hash_remove_key(&np.kept, oid);
    }
    pthread_mutex_unlock(&np.lock);
    free(node != NULL ? base_container_of(node, rt_np_kept_t, hnode) : NULL);
}

/* Tell the owner we keep a copy, so that its FREE reaches it (nodepull.h). */
static void rt_np_report(const store_oid_t *oid)
{
    uint8_t buf[RT_NODE_COPY_LEN];
    int     owner = rt_oid_owner(oid);

    if (owner == rt.rank) {
        rt_on_node_copy(rt.rank, buf, rt_node_copy_encode(oid, buf));
    } else if (owner >= 0 && owner < rt.size) {
        /* A dead owner frees nothing: the copy then stays until shutdown. */
        (void)rt_send(owner, RT_MSG_NODE_COPY, buf, rt_node_copy_encode(oid, buf), false);
    }
}

/*
 * The pulled copy of @a oid is sealed here: pin it the first time (peers read
 * it in place, so it must never be evicted) and describe it.
 */
static rmpi_status_t rt_np_keep(const store_oid_t *oid, rt_location_t *loc_p)
{
    store_view_t  view;
    rt_np_kept_t *kept   = NULL;
    rmpi_status_t status = store_get(rt.store, oid, &view);

    if (status != RMPI_OK) {
        return status;
    }
    *loc_p = (rt_location_t){rt.rank, RT_LOC_HOST, view.offset, view.size};
    pthread_mutex_lock(&np.lock);
    if (np.up && base_hash_find(&np.kept, oid) == NULL) {
        kept   = malloc(sizeof(*kept));
        status = kept != NULL ? store_pin(rt.store, oid) : RMPI_ERR_NO_MEMORY;
        if (status == RMPI_OK) {
            kept->oid = *oid;
            (void)base_hash_insert(&np.kept, &kept->hnode, &kept->oid);
        } else {
            free(kept);
            kept = NULL;
        }
    }
    pthread_mutex_unlock(&np.lock);
    (void)store_release(rt.store, oid);
    if (kept != NULL) {
        rt_np_report(oid);
    }
    return status;
}

/* --- the puller's side ------------------------------------------------------------------ */

/* Answer @a req with @a status (on any thread: a pull callback, the worker, a reader). */
static void rt_np_finish(rt_np_req_t *req, rmpi_status_t status)
{
    rt_node_pulled_t msg = {.cookie = req->cookie, .status = status};
    uint8_t          buf[RT_NODE_PULLED_LEN];

    msg.loc = (rt_location_t){rt.rank, RT_LOC_HOST, 0, 0};
    if (status == RMPI_OK || status == RMPI_ERR_EXISTS) {
        msg.status = rt_np_keep(&req->oid, &msg.loc);
    }
    if (req->src == rt.rank) {
        rt_answers_deliver(&np.answers, rt.rank, &msg);
    } else {
        (void)rt_send(req->src, RT_MSG_NODE_PULLED, buf, rt_node_pulled_encode(&msg, buf), false);
    }
    free(req);
}

static void rt_np_pulled(void *arg, rmpi_status_t status)
{
    rt_np_req_t *req = arg;

    if (status != RMPI_OK) {
        base_debug("runtime: node pull from rank %d for rank %d: %s", req->from.rank, req->src,
                   rmpi_status_str(status));
    }
    rt_np_finish(req, status);
}

/* A holder location on another node, with a remote key to pull from. */
static bool rt_np_from_valid(const rt_location_t *from)
{
    return from->rank >= 0 && from->rank < rt.size && from->device == RT_LOC_HOST &&
           rt.peers[from->rank].node != rt.node && rt.peers[from->rank].rkey != NULL;
}

/* Start the pull of @a req (store_pull dedups it against one in flight). May block for room. */
static void rt_np_start(rt_np_req_t *req)
{
    const rt_peer_t *peer;
    rmpi_status_t    status;

    if (!rt_np_from_valid(&req->from)) {
        rt_np_finish(req, RMPI_ERR_INVALID_ARG);
        return;
    }
    peer   = &rt.peers[req->from.rank];
    status = store_pull(rt.store, req->from.rank, peer->rkey, peer->rkey_len, &req->oid,
                        req->from.offset, (size_t)req->from.size, 0, rt_np_pulled, req);
    if (status != RMPI_OK) {
        rt_np_finish(req, status);
    }
}

static void *rt_np_worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&np.lock);
    while (!np.stopping) {
        rt_np_req_t *req;

        if (base_list_is_empty(&np.requests)) {
            pthread_cond_wait(&np.cond, &np.lock);
            continue;
        }
        req = base_container_of(np.requests.next, rt_np_req_t, link);
        base_list_del(&req->link);
        pthread_mutex_unlock(&np.lock);
        rt_np_start(req);
        pthread_mutex_lock(&np.lock);
    }
    pthread_mutex_unlock(&np.lock);
    return NULL;
}

/* Queue @a req for the worker (started on first use); false when shutting down. */
static bool rt_np_queue(rt_np_req_t *req)
{
    bool queued = false;

    pthread_mutex_lock(&np.lock);
    if (!np.worker_started && np.up && !np.stopping) {
        np.worker_started = pthread_create(&np.worker, NULL, rt_np_worker_main, NULL) == 0;
    }
    if (np.worker_started && !np.stopping) {
        base_list_add_tail(&np.requests, &req->link);
        pthread_cond_broadcast(&np.cond);
        queued = true;
    }
    pthread_mutex_unlock(&np.lock);
    return queued;
}

void rt_on_node_pull(int src, const void *data, size_t len)
{
    rt_node_pull_t msg;
    rt_np_req_t   *req;

    if (rt_node_pull_decode(data, len, &msg) != RMPI_OK || src < 0 || src >= rt.size ||
        rt.peers[src].node != rt.node) {
        rt_count_bad(src, RT_MSG_NODE_PULL, RMPI_ERR_MESSAGE); /* only our node's ranks ask */
        return;
    }
    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        base_error("runtime: no memory to pull an object for rank %d", src);
        return; /* the reader's wait ends by its timeout */
    }
    *req = (rt_np_req_t){.src = src, .cookie = msg.cookie, .oid = msg.oid, .from = msg.from};
    if (!rt_np_queue(req)) { /* shutting down: the reader's wait ends with its rank's */
        base_log_once(BASE_LOG_WARN, "runtime: a node pull was asked for during shutdown");
        free(req);
    }
}

/* --- the reader's side ------------------------------------------------------------------ */

void rt_on_node_pulled(int src, const void *data, size_t len)
{
    rt_node_pulled_t msg;

    if (rt_node_pulled_decode(data, len, &msg) != RMPI_OK || msg.loc.rank != src) {
        rt_count_bad(src, RT_MSG_NODE_PULLED, RMPI_ERR_MESSAGE);
        return;
    }
    rt_answers_deliver(&np.answers, src, &msg);
}

void rt_nodepull_rank_died(int rank)
{
    rt_answers_fail(&np.answers, rank, RMPI_ERR_PEER_DIED);
}

/* The puller of @a oid on this node: a hash of the ID over the node's live ranks. */
static int rt_np_choose(const store_oid_t *oid)
{
    int      count = 0;
    uint64_t pick;

    for (int r = 0; r < rt.size; ++r) {
        count += rt.peers[r].node == rt.node && (r == rt.rank || !xport_peer_dead(rt.xp, r));
    }
    pick = store_oid_hash(oid) % (uint64_t)(count > 0 ? count : 1);
    for (int r = 0; r < rt.size; ++r) {
        if (rt.peers[r].node == rt.node && (r == rt.rank || !xport_peer_dead(rt.xp, r)) &&
            pick-- == 0) {
            return r;
        }
    }
    return rt.rank;
}

/* Ask the wait's puller (perhaps this rank) for the node copy; the wait is listed already. */
static rmpi_status_t rt_np_send(rt_answer_wait_t *wait, const store_oid_t *oid,
                                const rt_location_t *loc)
{
    rt_node_pull_t msg = {.oid = *oid, .cookie = wait->cookie, .from = *loc};
    uint8_t        buf[RT_NODE_PULL_LEN];
    rt_np_req_t   *req;

    if (wait->rank != rt.rank) {
        return rt_send(wait->rank, RT_MSG_NODE_PULL, buf, rt_node_pull_encode(&msg, buf), false);
    }
    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    *req = (rt_np_req_t){.src = rt.rank, .cookie = wait->cookie, .oid = *oid, .from = *loc};
    rt_np_start(req); /* this thread may block: no worker needed */
    return RMPI_OK;
}

static rmpi_status_t rt_np_ask(rt_answer_wait_t *wait, int puller, const store_oid_t *oid,
                               const rt_location_t *loc, double deadline)
{
    rmpi_status_t status = rt_answers_add(&np.answers, wait, puller);

    if (status != RMPI_OK) {
        return status;
    }
    /*
     * Listed first: a death reported from now on fails the wait; one
     * reported before is seen here (the transport marks a rank dead before
     * it runs the failure callbacks).
     */
    if (puller != rt.rank && xport_peer_dead(rt.xp, puller)) {
        wait->rank_died = true;
        status          = RMPI_ERR_PEER_DIED;
    } else {
        status = rt_np_send(wait, oid, loc);
    }
    return rt_answers_end(&np.answers, wait, status, deadline);
}

static rmpi_status_t rt_np_pull_own(const store_oid_t *oid, const rt_location_t *loc,
                                    double timeout, store_view_t *view_p)
{
    const rt_peer_t *peer = &rt.peers[loc->rank];
    rmpi_status_t    status;

    if (peer->rkey == NULL) {
        return RMPI_ERR_NOT_FOUND;
    }
    status = store_pull_wait(rt.store, loc->rank, peer->rkey, peer->rkey_len, oid, loc->offset,
                             (size_t)loc->size, timeout);
    if (status == RMPI_OK || status == RMPI_ERR_EXISTS) {
        status = store_get(rt.store, oid, view_p);
    }
    return status;
}

rmpi_status_t rt_nodepull_map(const store_oid_t *oid, const rt_location_t *loc, double timeout,
                              store_view_t *view_p, rt_map_kind_t *kind_p)
{
    double           deadline = base_time_sec() + timeout;
    rt_answer_wait_t wait     = {.rank = rt.rank};
    rmpi_status_t    status   = RMPI_ERR_PEER_DIED;

    /* Each try that ends because its puller died rules one rank of the node out. */
    for (int tries = 0; tries < rt.size && status == RMPI_ERR_PEER_DIED; ++tries) {
        status = rt_np_ask(&wait, rt_np_choose(oid), oid, loc, deadline);
        if (status == RMPI_ERR_PEER_DIED && wait.rank != rt.rank &&
            xport_peer_dead(rt.xp, wait.rank)) {
            wait.rank_died = true; /* its send failed, or its answer never came */
        }
        if (!(status == RMPI_ERR_PEER_DIED && wait.rank_died)) {
            break; /* the holder's death is the reader's error, as for a pull of its own */
        }
    }
    if (status == RMPI_OK && wait.rank == rt.rank) {
        *kind_p = RT_MAP_LOCAL;
        return store_get(rt.store, oid, view_p);
    }
    if (status == RMPI_OK) {
        *kind_p = RT_MAP_PEER;
        return store_peer_get(rt.store, wait.rank, oid, wait.loc.offset, (size_t)wait.loc.size,
                              view_p);
    }
    if (status == RMPI_ERR_STORE_FULL && wait.rank != rt.rank) {
        *kind_p = RT_MAP_PULLED; /* no room at the puller: perhaps here */
        return rt_np_pull_own(oid, loc, fmax(deadline - base_time_sec(), 0), view_p);
    }
    return status;
}

/* --- shutdown ------------------------------------------------------------------------------ */

void rt_nodepull_stop(void)
{
    bool started;

    pthread_mutex_lock(&np.lock);
    if (!np.up) { /* never initialized, or finished already */
        pthread_mutex_unlock(&np.lock);
        return;
    }
    np.stopping       = true;
    started           = np.worker_started;
    np.worker_started = false;
    pthread_cond_broadcast(&np.cond); /* the worker */
    pthread_mutex_unlock(&np.lock);
    rt_answers_close(&np.answers);
    if (started) {
        pthread_join(np.worker, NULL);
    }
    while (!base_list_is_empty(&np.requests)) {
        rt_np_req_t *req = base_container_of(np.requests.next, rt_np_req_t, link);

        base_list_del(&req->link);
        free(req);
    }
}

static bool rt_np_free_each(base_hash_node_t *node, void *arg)
{
    (void)arg;
    base_hash_remove(&np.kept, node);
    free(base_container_of(node, rt_np_kept_t, hnode));
    return true;
}

void rt_nodepull_fini(void)
{
    if (!np.up) {
        return;
    }
    rt_nodepull_stop();
    pthread_mutex_lock(&np.lock);
    base_hash_foreach(&np.kept, rt_np_free_each, NULL);
    base_hash_cleanup(&np.kept);
    np.up = false;
    pthread_mutex_unlock(&np.lock);
    pthread_cond_destroy(&np.cond);
    rt_answers_destroy(&np.answers);
}
