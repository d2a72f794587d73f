/*
 * objstore/remote.c - remote pulls: the arena's registration and key, pulls of objects
 * from other ranks' arenas into secondary copies here, and dedup of concurrent pulls.
 *
 * A pull runs two transfers at once: the payload, straight into the new object, and
 * the source's 64-byte header, into the pull's own memory. The header is checked only
 * after both arrived. Pulling header and payload as one range would need the local
 * header slot as its target, so for a while our arena would hold a header saying
 * "sealed" in front of a half-written payload, which a local peer holding a stale
 * offset could believe; a header get *before* the payload would add a round trip to
 * every pull. Run side by side, the header adds no latency.
 */
#include "objstore/remote.h"

#include "objstore/store_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/waker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STORE_RKEY_MAGIC 0x59454b5252534d52ull /* "RMSRRKEY" */

/* The published blob: this header, then the transport's packed key. */
typedef struct store_rkey_hdr {
    uint64_t magic;
    uint64_t base;      /* the arena's address in its owner's process */
    uint64_t len;       /* bytes of the arena */
    uint64_t xport_len; /* bytes of the packed transport key that follow */
} store_rkey_hdr_t;

struct store_remote {
    xport_ctx_h     xport;
    xport_mem_h     mem;
    void           *rkey; /* store_rkey_hdr_t + packed key */
    size_t          rkey_len;
    pthread_mutex_t lock;
    pthread_cond_t  idle_cond; /* the last pull finished its callbacks */
    base_list_t     inflight;  /* store_pull_op_t still taking waiters; guarded by lock */
    unsigned        active;    /* pulls not finished with their callbacks; guarded by lock */
};

typedef struct store_pull_waiter {
    base_list_t     link;
    store_pull_cb_t cb;
    void           *arg;
} store_pull_waiter_t;

/* One transfer of one object; further requests for the same ID wait on it. */
typedef struct store_pull_op {
    base_list_t    link; /* in remote->inflight */
    base_list_t    waiters;
    store_h        store;
    store_oid_t    oid;
    int            src;
    size_t         size;
    bool           created; /* we created the local object and must finish it */
    atomic_int     pending; /* transfers in flight, plus one while starting */
    _Atomic int    status;  /* first failure of a transfer */
    store_objhdr_t src_hdr; /* the source's header, pulled beside the payload */
} store_pull_op_t;

/* --- attach, detach, key -------------------------------------------------------------- */

static rmpi_status_t store_remote_pack(struct store_remote *remote, void *base, size_t len)
{
    store_rkey_hdr_t hdr = {.magic = STORE_RKEY_MAGIC, .base = (uintptr_t)base, .len = len};
    void            *packed;
    size_t           packed_len;
    rmpi_status_t    status;

    status = xport_rkey_pack(remote->xport, remote->mem, &packed, &packed_len);
    if (status != RMPI_OK) {
        return status;
    }
    hdr.xport_len    = packed_len;
    remote->rkey_len = sizeof(hdr) + packed_len;
    remote->rkey     = malloc(remote->rkey_len);
    if (remote->rkey == NULL) {
        free(packed);
        base_error("store: out of memory for the arena's remote key");
        return RMPI_ERR_NO_MEMORY;
    }
    memcpy(remote->rkey, &hdr, sizeof(hdr));
    memcpy((char *)remote->rkey + sizeof(hdr), packed, packed_len);
    free(packed);
    return RMPI_OK;
}

rmpi_status_t store_remote_attach(store_h store, xport_ctx_h xport)
{
    struct store_remote *remote;
    void                *base;
    size_t               len;
    rmpi_status_t        status;

    if ((store == NULL) || (xport == NULL)) {
        base_error("store: store_remote_attach with a null argument");
        return RMPI_ERR_INVALID_ARG;
    }
    if (store->remote != NULL) {
        base_error("store: arena already attached to the transport");
        return RMPI_ERR_EXISTS;
    }
    remote = calloc(1, sizeof(*remote));
    if (remote == NULL) {
        base_error("store: out of memory");
        return RMPI_ERR_NO_MEMORY;
    }
    remote->xport = xport;
    base_list_init(&remote->inflight);
    store_arena_region(store, &base, &len);
    status = xport_mem_register(xport, base, len, &remote->mem);
    if (status != RMPI_OK) {
        free(remote);
        return status;
    }
    status = store_remote_pack(remote, base, len);
    if (status != RMPI_OK) {
        xport_mem_deregister(xport, remote->mem);
        free(remote);
        return status;
    }
    pthread_mutex_init(&remote->lock, NULL);
    pthread_cond_init(&remote->idle_cond, NULL);
    store->remote = remote;
    return RMPI_OK;
}

void store_remote_detach(store_h store)
{
    struct store_remote *remote = (store != NULL) ? store->remote : NULL;

    if (remote == NULL) {
        return;
    }
    /* Transfers write into the arena: it stays registered until the last one is done,
     * and callbacks still running use `remote`. Every pull completes (the transport
     * fails operations towards dead ranks). */
    pthread_mutex_lock(&remote->lock);
    while (remote->active > 0) {
        pthread_cond_wait(&remote->idle_cond, &remote->lock);
    }
    pthread_mutex_unlock(&remote->lock);
    xport_mem_deregister(remote->xport, remote->mem);
    pthread_cond_destroy(&remote->idle_cond);
    pthread_mutex_destroy(&remote->lock);
    free(remote->rkey);
    free(remote);
    store->remote = NULL;
}

rmpi_status_t store_remote_rkey(store_h store, void **rkey_p, size_t *len_p)
{
    void *copy;

    if ((store == NULL) || (rkey_p == NULL) || (len_p == NULL)) {
        base_error("store: store_remote_rkey with a null argument");
        return RMPI_ERR_INVALID_ARG;
    }
    if (store->remote == NULL) {
        base_error("store: no remote key before store_remote_attach");
        return RMPI_ERR_NOT_READY;
    }
    copy = malloc(store->remote->rkey_len);
    if (copy == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    memcpy(copy, store->remote->rkey, store->remote->rkey_len);
    *rkey_p = copy;
    *len_p  = store->remote->rkey_len;
    return RMPI_OK;
}

/* --- completing a pull ---------------------------------------------------------------- */

static void store_pull_log_failure(const store_pull_op_t *op, rmpi_status_t status)
{
    char oid[33];

    store_oid_format(&op->oid, oid);
    base_warn("store: pull of object %s (%zu bytes) from rank %d failed: %s", oid, op->size,
              op->src, rmpi_status_str(status));
}

/* Seal or delete the copy, then run every queued callback with the outcome. */
static void store_pull_complete(store_pull_op_t *op, rmpi_status_t status)
{
    struct store_remote *remote = op->store->remote;
    store_pull_waiter_t *waiter;
    base_list_t          waiters, *elem;

    if ((status != RMPI_OK) && op->created && xport_peer_dead(remote->xport, op->src)) {
        /* A transfer from a dying source may fail in its own way (a shared-memory read
         * of a process that is gone); what the caller needs to know is the death. */
        status = RMPI_ERR_PEER_DIED;
    } else if ((status == RMPI_OK) && op->created &&
               !store_objhdr_valid(&op->src_hdr, &op->oid, op->size)) {
        status = RMPI_ERR_NOT_FOUND; /* freed, replaced, or never there */
    }
    if (op->created) {
        status = store_pull_finish(op->store, &op->oid, status);
    }
    if (status != RMPI_OK) {
        store_pull_log_failure(op, status);
    }

    base_list_init(&waiters);
    pthread_mutex_lock(&remote->lock);
    base_list_del(&op->link); /* from here on a request for the ID starts a new pull */
    base_list_splice_tail(&waiters, &op->waiters);
    pthread_mutex_unlock(&remote->lock);

    while ((elem = base_list_pop_head(&waiters)) != NULL) {
        waiter = base_container_of(elem, store_pull_waiter_t, link);
        waiter->cb(waiter->arg, status);
        free(waiter);
    }
    free(op);

    pthread_mutex_lock(&remote->lock);
    if (--remote->active == 0) {
        pthread_cond_broadcast(&remote->idle_cond);
    }
    pthread_mutex_unlock(&remote->lock);
}

/* A transfer (or the start itself) is done; the last one completes the pull. */
static void store_pull_transfer_done(void *arg, rmpi_status_t status)
{
    store_pull_op_t *op       = arg;
    int              expected = RMPI_OK;

    if (status != RMPI_OK) {
        atomic_compare_exchange_strong(&op->status, &expected, (int)status);
    }
    if (atomic_fetch_sub(&op->pending, 1) == 1) {
        store_pull_complete(op, (rmpi_status_t)atomic_load(&op->status));
    }
}

/* --- starting a pull ------------------------------------------------------------------ */

/* Read the header of a published key blob; INVALID_ARG when it is not one. */
static rmpi_status_t store_rkey_parse(const void *rkey, size_t rkey_len, store_rkey_hdr_t *hdr_p)
{
    store_rkey_hdr_t hdr;

    if (rkey_len < sizeof(hdr)) {
        base_error("store: remote key of %zu bytes is too short", rkey_len);
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&hdr, rkey, sizeof(hdr));
    if ((hdr.magic != STORE_RKEY_MAGIC) || (hdr.xport_len != rkey_len - sizeof(hdr))) {
        base_error("store: malformed remote key (%zu bytes)", rkey_len);
        return RMPI_ERR_INVALID_ARG;
    }
    *hdr_p = hdr;
    return RMPI_OK;
}

/* Whether [offset, offset + header + size) is an aligned range of the arena. */
static bool store_rkey_covers(const store_rkey_hdr_t *hdr, uint64_t offset, size_t size)
{
    /* Ordered so that nothing overflows. */
    return (offset % STORE_ALLOC_ALIGN == 0) && (offset <= hdr->len) &&
           (hdr->len - offset >= STORE_OBJHDR_SIZE) &&
           (size <= hdr->len - offset - STORE_OBJHDR_SIZE);
}

/* Start both transfers of @a op; failures are reported through store_pull_transfer_done. */
static void store_pull_start_transfers(store_pull_op_t *op, const store_rkey_hdr_t *hdr,
                                       const void *xport_rkey, uint64_t offset, void *payload)
{
    xport_ctx_h   xport = op->store->remote->xport;
    uint64_t      addr  = hdr->base + offset;
    rmpi_status_t status;

    atomic_fetch_add(&op->pending, 1);
    status = xport_pull(xport, op->src, xport_rkey, hdr->xport_len, addr, &op->src_hdr,
                        sizeof(op->src_hdr), store_pull_transfer_done, op);
    if (status != RMPI_OK) {
        store_pull_transfer_done(op, status);
    }
    if (op->size == 0) {
        return;
    }
    atomic_fetch_add(&op->pending, 1);
    status = xport_pull(xport, op->src, xport_rkey, hdr->xport_len, addr + STORE_OBJHDR_SIZE,
                        payload, op->size, store_pull_transfer_done, op);
    if (status != RMPI_OK) {
        store_pull_transfer_done(op, status);
    }
}

/* Create the local copy and start the transfers; @a op holds one `pending` for us. */
static void store_pull_start(store_pull_op_t *op, const store_rkey_hdr_t *hdr, const void *rkey,
                             uint64_t offset)
{
    rmpi_status_t status = RMPI_OK;
    void         *payload;

    if (!store_rkey_covers(hdr, offset, op->size)) {
        status = RMPI_ERR_NOT_FOUND;
    } else if (store_contains(op->store, &op->oid)) {
        store_pull_transfer_done(op, RMPI_OK); /* already here: nothing to move */
        return;
    }
    if (status == RMPI_OK) {
        status = store_create_object(op->store, &op->oid, op->size,
                                     STORE_OBJECT_SECONDARY | STORE_OBJECT_PULL_TARGET, &payload);
    }
    if (status == RMPI_OK) {
        op->created = true;
        store_pull_start_transfers(op, hdr, (const char *)rkey + sizeof(*hdr), offset, payload);
    }
    store_pull_transfer_done(op, status);
}

static store_pull_op_t *store_pull_find_locked(struct store_remote *remote, const store_oid_t *oid)
{
    base_list_t *elem;

    base_list_for_each (elem, &remote->inflight) {
        store_pull_op_t *op = base_container_of(elem, store_pull_op_t, link);

        if (store_oid_equal(&op->oid, oid)) {
            return op;
        }
    }
    return NULL;
}

rmpi_status_t store_pull(store_h store, int src, const void *rkey, size_t rkey_len,
                         const store_oid_t *oid, uint64_t offset, size_t size, uint64_t flags,
                         store_pull_cb_t cb, void *arg)
{
    struct store_remote *remote;
    store_pull_waiter_t *waiter;
    store_pull_op_t     *op, *inflight;
    store_rkey_hdr_t     hdr;

    if ((store == NULL) || (rkey == NULL) || (oid == NULL) || (cb == NULL) || (src < 0) ||
        (flags != 0)) {
        base_error("store: store_pull with a null argument, a negative rank or unknown flags");
        return RMPI_ERR_INVALID_ARG;
    }
    remote = store->remote;
    if (remote == NULL) {
        base_error("store: store_pull before store_remote_attach");
        return RMPI_ERR_NOT_READY;
    }
    if (store_rkey_parse(rkey, rkey_len, &hdr) != RMPI_OK) {
        return RMPI_ERR_INVALID_ARG;
    }
    waiter = malloc(sizeof(*waiter));
    op     = calloc(1, sizeof(*op));
    if ((waiter == NULL) || (op == NULL)) {
        free(waiter), free(op);
        base_error("store: out of memory for a pull");
        return RMPI_ERR_NO_MEMORY;
    }
    waiter->cb  = cb;
    waiter->arg = arg;

    pthread_mutex_lock(&remote->lock);
    inflight = store_pull_find_locked(remote, oid);
    if (inflight != NULL) {
        /* Dedup: ride on the transfer in flight, whatever location it came from. */
        base_list_add_tail(&inflight->waiters, &waiter->link);
        pthread_mutex_unlock(&remote->lock);
        free(op);
        return RMPI_OK;
    }
    *op = (store_pull_op_t){.store = store, .oid = *oid, .src = src, .size = size};
    atomic_init(&op->pending, 1);
    atomic_init(&op->status, RMPI_OK);
    base_list_init(&op->waiters);
    base_list_add_tail(&op->waiters, &waiter->link);
    base_list_add_tail(&remote->inflight, &op->link);
    remote->active++;
    pthread_mutex_unlock(&remote->lock);

    store_pull_start(op, &hdr, rkey, offset);
    return RMPI_OK;
}

/* --- blocking pulls ------------------------------------------------------------------- */

/*
 * Shared by the waiting thread and the callback; the last of the two frees it.
 * The waiter sleeps on its own waker (base/waker.h), so the progress thread
 * that completes the pull yields its core to it on a rank bound to one core.
 */
typedef struct store_pull_sync {
    base_waker_t *waker;
    atomic_int    refs;
    atomic_bool   done;
    rmpi_status_t status;
} store_pull_sync_t;

static void store_pull_sync_put(store_pull_sync_t *sync)
{
    if (atomic_fetch_sub(&sync->refs, 1) == 1) {
        free(sync);
    }
}

static void store_pull_sync_done(void *arg, rmpi_status_t status)
{
    store_pull_sync_t *sync = arg;
    base_waker_t *waker = sync->waker; /* outlives the waiter's thread: a late wake is harmless */

    sync->status = status;
    atomic_store_explicit(&sync->done, true, memory_order_release);
    store_pull_sync_put(sync); /* the waiter may free it from here on */
    base_waker_wake(waker);
}

static store_pull_sync_t *store_pull_sync_new(void)
{
    store_pull_sync_t *sync  = calloc(1, sizeof(*sync));
    base_waker_t      *waker = base_waker_self();

    if (sync == NULL || waker == NULL) {
        free(sync);
        return NULL;
    }
    sync->waker = waker;
    atomic_init(&sync->refs, 2);
    atomic_init(&sync->done, false);
    return sync;
}

static rmpi_status_t store_pull_sync_wait(store_pull_sync_t *sync, double timeout)
{
    double deadline = base_time_sec() + timeout;

    while (!atomic_load_explicit(&sync->done, memory_order_acquire)) {
        uint32_t seq = base_waker_seq(sync->waker);

        if (atomic_load_explicit(&sync->done, memory_order_acquire)) {
            break;
        }
        if (base_waker_wait(sync->waker, seq, deadline) == ETIMEDOUT &&
            !atomic_load_explicit(&sync->done, memory_order_acquire)) {
            return RMPI_ERR_TIMEOUT;
        }
    }
    return sync->status;
}

rmpi_status_t store_pull_wait(store_h store, int src, const void *rkey, size_t rkey_len,
                              const store_oid_t *oid, uint64_t offset, size_t size, double timeout)
{
    store_pull_sync_t *sync;
    rmpi_status_t      status;

    if (!(timeout >= 0) || (timeout > 1e9)) {
        base_error("store: store_pull_wait with timeout %g s", timeout);
        return RMPI_ERR_INVALID_ARG;
    }
    sync = store_pull_sync_new();
    if (sync == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    status =
        store_pull(store, src, rkey, rkey_len, oid, offset, size, 0, store_pull_sync_done, sync);
    if (status != RMPI_OK) {
        store_pull_sync_put(sync); /* the callback will never run */
        store_pull_sync_put(sync);
        return status;
    }
    status = store_pull_sync_wait(sync, timeout);
    if (status == RMPI_ERR_TIMEOUT) {
        base_warn("store: pull from rank %d still running after %g s", src, timeout);
    }
    store_pull_sync_put(sync);
    return status;
}
