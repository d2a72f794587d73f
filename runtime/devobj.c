/*
 * runtime/devobj.c - device objects held on this rank (devobj.h): the table,
 * spilling to host memory under device pressure, host copies in the store,
 * and the stager thread that makes them for readers on other ranks.
 */
#include "runtime/devobj.h"

#include "runtime/answers.h"
#include "runtime/msg_devobj.h"
#include "runtime/rt_int.h"

#include "base/clock.h"
#include "base/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Static_assert(RT_LOC_MAX_DEVICES == RT_EXEC_MAX_GPUS, "a location can name every device");

typedef struct rt_devobj {
    base_hash_node_t hnode;
    store_oid_t      oid;
    base_list_t      lru; /* on devobjs.lru[dev] while sealed, resident and unpinned */
    int              dev;
    size_t           size;
    gpu_devptr_t     ptr;  /* 0 while spilled */
    void            *host; /* the bytes while spilled (malloc), else NULL */
    unsigned         pins; /* readers on the device, and copies in progress */
    bool             sealed;
    bool             doomed;  /* deleted while pinned: freed by the last unpin */
    bool             staging; /* a host copy is being made (ptr/host must stay) */
    bool             staged;  /* the store holds a pinned host copy under oid */
} rt_devobj_t;

/* A DEVOBJ_STAGE from another rank, for the stager thread. */
typedef struct rt_stage_req {
    base_list_t link;
    int         src;
    store_oid_t oid;
    uint64_t    cookie;
} rt_stage_req_t;

static struct {
    pthread_mutex_t   lock;
    pthread_cond_t    cond; /* broadcast: a copy finished, an answer came, work for the stager */
    bool              up;
    bool              stopping;
    base_hash_t       table;
    base_list_t       lru[RT_EXEC_MAX_GPUS];
    base_list_t       requests; /* rt_stage_req_t, for the stager */
    rt_answers_t      answers;  /* our DEVOBJ_STAGEs to holders */
    pthread_t         stager;
    bool              stager_started;
    void             *pinned_store; /* the store's mapping while page-locked */
    rt_devobj_stats_t stats;
} devobjs = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool rt_devobj_equal(const void *key, const base_hash_node_t *node)
{
    return memcmp(key, &base_container_of(node, rt_devobj_t, hnode)->oid, sizeof(store_oid_t)) == 0;
}

static uint64_t rt_devobj_hash(const void *key)
{
    return store_oid_hash(key);
}

static const base_hash_ops_t rt_devobj_ops = {rt_devobj_hash, rt_devobj_equal};

rmpi_status_t rt_devobj_init(void)
{
    pthread_condattr_t attr;
    rmpi_status_t      status;

    pthread_mutex_lock(&devobjs.lock);
    status = base_hash_init(&devobjs.table, &rt_devobj_ops, 64);
    if (status == RMPI_OK) {
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&devobjs.cond, &attr);
        pthread_condattr_destroy(&attr);
        for (int dev = 0; dev < RT_EXEC_MAX_GPUS; ++dev) {
            base_list_init(&devobjs.lru[dev]);
        }
        base_list_init(&devobjs.requests);
        rt_answers_init(&devobjs.answers);
        memset(&devobjs.stats, 0, sizeof(devobjs.stats));
        devobjs.stopping = false;
        devobjs.up       = true;
    }
    pthread_mutex_unlock(&devobjs.lock);
    return status;
}

/* --- the table -------------------------------------------------------------------------- */

static rt_devobj_t *rt_devobj_find_locked(const store_oid_t *oid)
{
    base_hash_node_t *node = devobjs.up ? base_hash_find(&devobjs.table, oid) : NULL;

    return node != NULL ? base_container_of(node, rt_devobj_t, hnode) : NULL;
}

/* A sealed object readers may use (not deleted), or NULL. */
static rt_devobj_t *rt_devobj_find_sealed_locked(const store_oid_t *oid)
{
    rt_devobj_t *obj = rt_devobj_find_locked(oid);

    return obj != NULL && obj->sealed && !obj->doomed ? obj : NULL;
}

static void rt_devobj_free_locked(rt_devobj_t *obj)
{
    base_hash_remove(&devobjs.table, &obj->hnode);
    base_list_del(&obj->lru);
    if (obj->ptr != 0) {
        (void)gpu_mem_free(obj->dev, obj->ptr);
        devobjs.stats.bytes_on_device -= obj->size;
    } else {
        devobjs.stats.bytes_spilled -= obj->size;
    }
    if (obj->staged && rt.store != NULL) {
        (void)store_unpin(rt.store, &obj->oid);
        (void)store_delete(rt.store, &obj->oid);
    }
    --devobjs.stats.objects;
    free(obj->host);
    free(obj);
}

static void rt_devobj_pin_locked(rt_devobj_t *obj)
{
    ++obj->pins;
    base_list_del(&obj->lru);
    base_list_init(&obj->lru);
}

static void rt_devobj_unpin_locked(rt_devobj_t *obj)
{
    if (--obj->pins > 0) {
        return;
    }
    if (obj->doomed) {
        rt_devobj_free_locked(obj);
    } else if (obj->sealed && obj->ptr != 0) {
        base_list_add_tail(&devobjs.lru[obj->dev], &obj->lru);
    }
}

/* --- device memory and spilling ---------------------------------------------------------- */

/* Move the least recently used unpinned object of @a dev to host memory. */
static bool rt_devobj_spill_one_locked(int dev)
{
    rt_devobj_t *victim;
    void        *host;

    if (base_list_is_empty(&devobjs.lru[dev])) {
        return false;
    }
    victim = base_container_of(devobjs.lru[dev].next, rt_devobj_t, lru);
    host   = malloc(victim->size > 0 ? victim->size : 1);
    if (host == NULL || gpu_memcpy_d2h(dev, host, victim->ptr, victim->size) != RMPI_OK) {
        base_log_once(BASE_LOG_WARN,
                      "runtime: a device object could not be spilled to host memory");
        free(host);
        return false;
    }
    (void)gpu_mem_free(dev, victim->ptr);
    victim->ptr  = 0;
    victim->host = host;
    base_list_del(&victim->lru);
    base_list_init(&victim->lru);
    devobjs.stats.bytes_on_device -= victim->size;
    devobjs.stats.bytes_spilled += victim->size;
    ++devobjs.stats.spills;
    base_debug("runtime: spilled a device object of %zu bytes from GPU %d", victim->size, dev);
    return true;
}

/*
 * Whether @a size more bytes stay within the device's limit. Spilling before
 * the allocator refuses keeps its "would pass the limit" error for real
 * failures; its size classes round a request up by at most 25%.
 */
static bool rt_devobj_fits(int dev, size_t size)
{
    gpu_mem_stats_t stats;

    return gpu_mem_stats(dev, &stats) != RMPI_OK ||
           stats.in_use + size + size / 4 <= stats.limit; /* cached blocks are trimmed first */
}

static rmpi_status_t rt_devobj_alloc_locked(int dev, size_t size, gpu_devptr_t *ptr_p)
{
    rmpi_status_t status;

    if (dev < 0 || dev >= RT_EXEC_MAX_GPUS) {
        return RMPI_ERR_INVALID_ARG;
    }
    while (!rt_devobj_fits(dev, size) && rt_devobj_spill_one_locked(dev)) {
    }
    /* The driver may still say out of memory (others use the device too): spill and retry. */
    while ((status = gpu_mem_alloc(dev, size > 0 ? size : 1, ptr_p)) == RMPI_ERR_NO_MEMORY &&
           rt_devobj_spill_one_locked(dev)) {
    }
    return status;
}

rmpi_status_t rt_devobj_alloc(int dev, size_t size, gpu_devptr_t *ptr_p)
{
    rmpi_status_t status;

    pthread_mutex_lock(&devobjs.lock);
    status = rt_devobj_alloc_locked(dev, size, ptr_p);
    pthread_mutex_unlock(&devobjs.lock);
    return status;
}

rmpi_status_t rt_devobj_create(const store_oid_t *oid, int dev, size_t size, gpu_devptr_t *ptr_p)
{
    rt_devobj_t  *obj = calloc(1, sizeof(*obj));
    rmpi_status_t status;

    if (obj == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    obj->oid  = *oid;
    obj->dev  = dev;
    obj->size = size;
    base_list_init(&obj->lru);
    pthread_mutex_lock(&devobjs.lock);
    if (!devobjs.up) {
        status = RMPI_ERR_NOT_READY;
    } else if (rt_devobj_find_locked(oid) != NULL) {
        status = RMPI_ERR_EXISTS;
    } else {
        status = rt_devobj_alloc_locked(dev, size, &obj->ptr);
    }
    if (status == RMPI_OK) {
        (void)base_hash_insert(&devobjs.table, &obj->hnode, &obj->oid);
        ++devobjs.stats.objects;
        devobjs.stats.bytes_on_device += size;
        *ptr_p = obj->ptr;
    }
    pthread_mutex_unlock(&devobjs.lock);
    if (status != RMPI_OK) {
        free(obj);
    }
    return status;
}

rmpi_status_t rt_devobj_seal(const store_oid_t *oid)
{
    rt_devobj_t  *obj;
    rmpi_status_t status = RMPI_ERR_NOT_FOUND;

    pthread_mutex_lock(&devobjs.lock);
    obj = rt_devobj_find_locked(oid);
    if (obj != NULL && !obj->sealed && !obj->doomed) {
        obj->sealed = true;
        ++obj->pins; /* the unpin puts it on the LRU list */
        rt_devobj_unpin_locked(obj);
        status = RMPI_OK;
    }
    pthread_mutex_unlock(&devobjs.lock);
    return status;
}

bool rt_devobj_delete(const store_oid_t *oid)
{
    rt_devobj_t *obj;

    pthread_mutex_lock(&devobjs.lock);
    obj = rt_devobj_find_locked(oid);
    if (obj != NULL && obj->pins > 0) {
        obj->doomed = true;
    } else if (obj != NULL) {
        rt_devobj_free_locked(obj);
    }
    pthread_mutex_unlock(&devobjs.lock);
    return obj != NULL;
}

/* --- readers on the device ----------------------------------------------------------------- */

static void rt_devobj_wait_locked(void)
{
    pthread_cond_wait(&devobjs.cond, &devobjs.lock);
}

/* Copy a spilled object back to its device (pinned by the caller). */
static rmpi_status_t rt_devobj_restore_locked(rt_devobj_t *obj)
{
    gpu_devptr_t  ptr;
    rmpi_status_t status = rt_devobj_alloc_locked(obj->dev, obj->size, &ptr);

    if (status == RMPI_OK) {
        status = gpu_memcpy_h2d(obj->dev, ptr, obj->host, obj->size);
        if (status != RMPI_OK) {
            (void)gpu_mem_free(obj->dev, ptr);
        }
    }
    if (status != RMPI_OK) {
        return status;
    }
    free(obj->host);
    obj->host = NULL;
    obj->ptr  = ptr;
    devobjs.stats.bytes_spilled -= obj->size;
    devobjs.stats.bytes_on_device += obj->size;
    ++devobjs.stats.restores;
    return RMPI_OK;
}

rmpi_status_t rt_devobj_acquire(const store_oid_t *oid, int dev, gpu_devptr_t *ptr_p)
{
    rt_devobj_t  *obj;
    rmpi_status_t status = RMPI_ERR_NOT_FOUND;

    pthread_mutex_lock(&devobjs.lock);
    while ((obj = rt_devobj_find_sealed_locked(oid)) != NULL && obj->staging) {
        rt_devobj_wait_locked(); /* the copy reads the spilled bytes a restore would free */
    }
    if (obj != NULL && obj->dev == dev) {
        rt_devobj_pin_locked(obj);
        status = obj->ptr != 0 ? RMPI_OK : rt_devobj_restore_locked(obj);
        if (status == RMPI_OK) {
            *ptr_p = obj->ptr;
        } else {
            rt_devobj_unpin_locked(obj);
        }
    }
    pthread_mutex_unlock(&devobjs.lock);
    return status;
}

void rt_devobj_release(const store_oid_t *oid)
{
    rt_devobj_t *obj;

    pthread_mutex_lock(&devobjs.lock);
    obj = rt_devobj_find_locked(oid);
    if (obj != NULL && obj->pins > 0) {
        rt_devobj_unpin_locked(obj);
    }
    pthread_mutex_unlock(&devobjs.lock);
}

/* --- host copies ------------------------------------------------------------------------------ */

static rmpi_status_t rt_devobj_store_location(const store_oid_t *oid, rt_location_t *loc_p)
{
    store_view_t  view;
    rmpi_status_t status = store_get(rt.store, oid, &view);

    if (status == RMPI_OK) {
        *loc_p = (rt_location_t){rt.rank, RT_LOC_HOST, view.offset, view.size};
        (void)store_release(rt.store, oid);
    }
    return status;
}

/* Copy @a obj (pinned, so neither spilled nor restored meanwhile) into the store. */
static rmpi_status_t rt_devobj_copy_to_store(const rt_devobj_t *obj)
{
    void         *buf;
    rmpi_status_t status = store_create_object(rt.store, &obj->oid, obj->size, 0, &buf);

    if (status != RMPI_OK) {
        return status;
    }
    if (obj->ptr != 0) {
        status = gpu_memcpy_d2h(obj->dev, buf, obj->ptr, obj->size);
    } else if (obj->size > 0) {
        memcpy(buf, obj->host, obj->size);
    }
    if (status == RMPI_OK) {
        status = store_seal(rt.store, &obj->oid);
    }
    if (status == RMPI_OK) {
        status = store_pin(rt.store, &obj->oid);
    }
    if (status != RMPI_OK) {
        (void)store_delete(rt.store, &obj->oid);
    }
    return status;
}

rmpi_status_t rt_devobj_stage(const store_oid_t *oid, rt_location_t *loc_p)
{
    rt_devobj_t  *obj;
    rmpi_status_t status;

    pthread_mutex_lock(&devobjs.lock);
    while ((obj = rt_devobj_find_sealed_locked(oid)) != NULL && obj->staging) {
        rt_devobj_wait_locked(); /* another reader is making the copy: share it */
    }
    if (obj == NULL || obj->staged) {
        status = obj == NULL ? RMPI_ERR_NOT_FOUND : rt_devobj_store_location(oid, loc_p);
        pthread_mutex_unlock(&devobjs.lock);
        return status;
    }
    obj->staging = true;
    rt_devobj_pin_locked(obj);
    pthread_mutex_unlock(&devobjs.lock);

    status = rt_devobj_copy_to_store(obj);

    pthread_mutex_lock(&devobjs.lock);
    obj->staging = false;
    obj->staged  = status == RMPI_OK;
    if (status == RMPI_OK) {
        ++devobjs.stats.stages;
        status = obj->doomed ? RMPI_ERR_NOT_FOUND : rt_devobj_store_location(oid, loc_p);
    }
    pthread_cond_broadcast(&devobjs.cond);
    rt_devobj_unpin_locked(obj); /* may free it, and its copy, when it was deleted meanwhile */
    pthread_mutex_unlock(&devobjs.lock);
    return status;
}

/* --- asking another rank ------------------------------------------------------------------ */

rmpi_status_t rt_devobj_host_location(const store_oid_t *oid, const rt_location_t *loc,
                                      double timeout, rt_location_t *host_p)
{
    rt_devobj_stage_t msg = {.oid = *oid};
    uint8_t           buf[RT_DEVOBJ_STAGE_LEN];
    rt_answer_wait_t  wait;
    rmpi_status_t     status;

    if (loc->rank == rt.rank) {
        return rt_devobj_stage(oid, host_p);
    }
    status = rt_answers_add(&devobjs.answers, &wait, loc->rank);
    if (status != RMPI_OK) {
        return status;
    }
    /* Listed first: a death reported from now on ends the wait; one before is seen here. */
    msg.cookie = wait.cookie;
    status     = xport_peer_dead(rt.xp, loc->rank) ? RMPI_ERR_PEER_DIED
                                                   : rt_send(loc->rank, RT_MSG_DEVOBJ_STAGE, buf,
                                                             rt_devobj_stage_encode(&msg, buf), false);
    status     = rt_answers_end(&devobjs.answers, &wait, status,
                            timeout < 0 ? -1 : base_time_sec() + timeout);
    if (status == RMPI_OK) {
        *host_p = wait.loc;
    }
    return status;
}

void rt_on_devobj_staged(int src, const void *data, size_t len)
{
    rt_devobj_staged_t msg;

    if (rt_devobj_staged_decode(data, len, &msg) != RMPI_OK || msg.loc.rank != src) {
        rt_count_bad(src, RT_MSG_DEVOBJ_STAGED, RMPI_ERR_MESSAGE);
        return;
    }
    rt_answers_deliver(&devobjs.answers, src, &msg);
}

void rt_devobj_rank_died(int rank)
{
    rt_answers_fail(&devobjs.answers, rank, RMPI_ERR_PEER_DIED);
}

/* --- the stager: answers other ranks off the progress thread -------------------------------------
 */

static void rt_devobj_answer(const rt_stage_req_t *req)
{
    rt_devobj_staged_t msg = {.cookie = req->cookie};
    uint8_t            buf[RT_DEVOBJ_STAGED_LEN];

    msg.status = rt_devobj_stage(&req->oid, &msg.loc);
    base_debug("runtime: host copy of a device object for rank %d: %s", req->src,
               rmpi_status_str(msg.status));
    if (msg.status != RMPI_OK) {
        msg.loc = (rt_location_t){rt.rank, RT_LOC_HOST, 0, 0};
    }
    (void)rt_send(req->src, RT_MSG_DEVOBJ_STAGED, buf, rt_devobj_staged_encode(&msg, buf), false);
}

static void *rt_devobj_stager_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&devobjs.lock);
    while (!devobjs.stopping) {
        rt_stage_req_t *req;

        if (base_list_is_empty(&devobjs.requests)) {
            rt_devobj_wait_locked();
            continue;
        }
        req = base_container_of(devobjs.requests.next, rt_stage_req_t, link);
        base_list_del(&req->link);
        pthread_mutex_unlock(&devobjs.lock);
        rt_devobj_answer(req);
        free(req);
        pthread_mutex_lock(&devobjs.lock);
    }
    pthread_mutex_unlock(&devobjs.lock);
    return NULL;
}

void rt_on_devobj_stage(int src, const void *data, size_t len)
{
    rt_devobj_stage_t msg;
    rt_stage_req_t   *req;

    if (rt_devobj_stage_decode(data, len, &msg) != RMPI_OK) {
        rt_count_bad(src, RT_MSG_DEVOBJ_STAGE, RMPI_ERR_MESSAGE);
        return;
    }
    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        base_error("runtime: no memory to copy a device object for rank %d", src);
        return; /* the reader's wait ends by its timeout */
    }
    req->src    = src;
    req->oid    = msg.oid;
    req->cookie = msg.cookie;
    pthread_mutex_lock(&devobjs.lock);
    if (!devobjs.stager_started && devobjs.up && !devobjs.stopping) {
        devobjs.stager_started =
            pthread_create(&devobjs.stager, NULL, rt_devobj_stager_main, NULL) == 0;
    }
    if (devobjs.stager_started && !devobjs.stopping) {
        base_list_add_tail(&devobjs.requests, &req->link);
        req = NULL;
        pthread_cond_broadcast(&devobjs.cond);
    }
    pthread_mutex_unlock(&devobjs.lock);
    if (req != NULL) { /* shutting down, or no thread: the reader's wait ends with its rank's */
        base_log_once(BASE_LOG_WARN, "runtime: a device object copy was asked for and not made");
        free(req);
    }
}

/* --- statistics and shutdown -------------------------------------------------------------------
 */

void rt_devobj_stats(rt_devobj_stats_t *stats_p)
{
    pthread_mutex_lock(&devobjs.lock);
    *stats_p = devobjs.stats;
    pthread_mutex_unlock(&devobjs.lock);
}

void rt_devobj_stop(void)
{
    bool started;

    pthread_mutex_lock(&devobjs.lock);
    devobjs.stopping       = true;
    started                = devobjs.stager_started;
    devobjs.stager_started = false;
    pthread_cond_broadcast(&devobjs.cond); /* the stager sleeps on it */
    pthread_mutex_unlock(&devobjs.lock);
    rt_answers_close(&devobjs.answers);
    if (started) {
        pthread_join(devobjs.stager, NULL);
    }
    while (!base_list_is_empty(&devobjs.requests)) {
        rt_stage_req_t *req = base_container_of(devobjs.requests.next, rt_stage_req_t, link);

        base_list_del(&req->link);
        free(req);
    }
}

static bool rt_devobj_free_each(base_hash_node_t *node, void *arg)
{
    rt_devobj_t *obj = base_container_of(node, rt_devobj_t, hnode);

    (void)arg;
    obj->staged = false; /* the store goes with the runtime */
    rt_devobj_free_locked(obj);
    return true;
}

void rt_devobj_pin_store(void)
{
    void  *base;
    size_t len;

    if (!rt.conf.gpu_pin_store || rt.store == NULL || gpu_device_count() <= 0) {
        return;
    }
    store_arena_region(rt.store, &base, &len);
    if (gpu_host_register(base, len, false) == RMPI_OK) {
        devobjs.pinned_store = base;
        base_debug("runtime: %zu bytes of object store page-locked for GPU copies", len);
    } else {
        base_log_once(BASE_LOG_WARN, "runtime: the object store could not be page-locked; "
                                     "GPU copies run from pageable memory (RT_GPU_PIN_STORE)");
    }
}

void rt_devobj_fini(void)
{
    if (devobjs.pinned_store != NULL) {
        (void)gpu_host_unregister(devobjs.pinned_store);
        devobjs.pinned_store = NULL;
    }
    if (!devobjs.up) {
        return;
    }
    rt_devobj_stop();
    pthread_mutex_lock(&devobjs.lock);
    base_hash_foreach(&devobjs.table, rt_devobj_free_each, NULL);
    base_hash_cleanup(&devobjs.table);
    devobjs.up = false;
    pthread_mutex_unlock(&devobjs.lock);
    pthread_cond_destroy(&devobjs.cond);
    rt_answers_destroy(&devobjs.answers);
}
