/*
 * transport/ucx_rma.c - registered memory, packed remote keys, get/put, and
 * pulls: an RMA get where the transport does RMA natively, else a
 * rendezvous active message: PULL_REQ {id, addr, len} to the owner, which
 * checks the range against its registrations and answers PULL_REPLY {id,
 * status} with the bytes as the payload, received straight into the
 * puller's buffer.
 */
#include "transport/xport_int.h"

#include "base/log.h"

#include <stdlib.h>
#include <string.h>

typedef struct xport_pull_req {
    uint64_t id;
    uint64_t addr;
    uint64_t len;
} xport_pull_req_t;

typedef struct xport_pull_reply {
    uint64_t id;
    int32_t  status;
    uint32_t zero;
} xport_pull_reply_t;

/* --- memory ------------------------------------------------------------------ */

rmpi_status_t xport_ucx_mem_register(xport_ctx_h ctx, void *addr, size_t len, xport_mem_h mem)
{
    ucp_mem_map_params_t params = {
        .field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH,
        .address    = addr,
        .length     = len,
    };
    ucs_status_t status = ucp_mem_map(ctx->ucp, &params, &mem->memh);

    if (status != UCS_OK) {
        base_error("ucp_mem_map of %zu bytes failed: %s", len, ucs_status_string(status));
        return xport_ucx_status(status);
    }
    return RMPI_OK;
}

void xport_ucx_mem_deregister(xport_ctx_h ctx, xport_mem_h mem)
{
    ucs_status_t status = ucp_mem_unmap(ctx->ucp, mem->memh);

    if (status != UCS_OK) {
        base_warn("ucp_mem_unmap failed: %s", ucs_status_string(status));
    }
}

rmpi_status_t xport_ucx_rkey_pack(xport_ctx_h ctx, xport_mem_h mem, void **rkey_p, size_t *len_p)
{
    void        *packed, *copy;
    size_t       len;
    ucs_status_t status = ucp_rkey_pack(ctx->ucp, mem->memh, &packed, &len);

    if (status != UCS_OK) {
        base_error("ucp_rkey_pack failed: %s", ucs_status_string(status));
        return xport_ucx_status(status);
    }
    copy = malloc(len);
    if (copy != NULL) {
        memcpy(copy, packed, len);
    }
    ucp_rkey_buffer_release(packed);
    if (copy == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    *rkey_p = copy;
    *len_p  = len;
    return RMPI_OK;
}

/* Whether [addr, addr + len) lies inside one registration of this rank. */
static bool xport_mem_covers(xport_ctx_h ctx, uint64_t addr, uint64_t len)
{
    base_list_t *it;
    bool         found = false;

    pthread_mutex_lock(&ctx->mems_lock);
    base_list_for_each (it, &ctx->mems) {
        xport_mem_h mem  = base_container_of(it, struct xport_mem, elem);
        uint64_t    base = (uintptr_t)mem->addr;

        if (addr >= base && len <= mem->len && addr - base <= mem->len - len) {
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&ctx->mems_lock);
    return found;
}

/* --- remote keys --------------------------------------------------------------- */

/*
 * Unpacking a key can be expensive (on shared memory it attaches the peer's
 * segment), and a rank pulls from the same few registrations (a peer's store
 * arena) again and again, so unpacked keys are cached per peer by their
 * packed bytes. A key in use by an operation is never destroyed; the cache
 * keeps at most XPORT_RKEYS_PER_PEER idle ones. Progress thread only.
 */
#define XPORT_RKEYS_PER_PEER 8

typedef struct xport_rkey {
    struct xport_rkey *next;
    ucp_rkey_h         handle;
    unsigned           users; /* operations in flight with it */
    size_t             len;
    uint8_t            packed[];
} xport_rkey_t;

static void xport_rkeys_trim(xport_peer_t *peer)
{
    xport_rkey_t **link = &peer->rkeys;
    unsigned       kept = 0;

    while (*link != NULL) {
        xport_rkey_t *entry = *link;

        if (entry->users == 0 && ++kept > XPORT_RKEYS_PER_PEER) {
            *link = entry->next;
            ucp_rkey_destroy(entry->handle);
            free(entry);
        } else {
            link = &entry->next;
        }
    }
}

/* The cached key for @a op's packed bytes on @a ep, unpacked now if new; NULL on failure. */
static xport_rkey_t *xport_rkey_get(xport_ctx_h ctx, ucp_ep_h ep, const xport_op_t *op)
{
    xport_peer_t  *peer = &ctx->peers[op->peer];
    xport_rkey_t **link = &peer->rkeys, *entry;
    ucs_status_t   status;

    for (; (entry = *link) != NULL; link = &entry->next) {
        if (entry->len == op->rkey_len && memcmp(entry->packed, op->rkey, op->rkey_len) == 0) {
            *link       = entry->next; /* to the front */
            entry->next = peer->rkeys;
            peer->rkeys = entry;
            return entry;
        }
    }
    entry = malloc(sizeof(*entry) + op->rkey_len);
    if (entry == NULL) {
        return NULL;
    }
    status = ucp_ep_rkey_unpack(ep, op->rkey, &entry->handle);
    if (status != UCS_OK) {
        base_log_once(BASE_LOG_WARN, "ucp_ep_rkey_unpack failed: %s", ucs_status_string(status));
        free(entry);
        return NULL;
    }
    entry->users = 0;
    entry->len   = op->rkey_len;
    memcpy(entry->packed, op->rkey, op->rkey_len);
    entry->next = peer->rkeys;
    peer->rkeys = entry;
    xport_rkeys_trim(peer);
    return entry;
}

void xport_ucx_rkey_release(xport_op_t *op)
{
    if (op->rkey_entry != NULL) {
        --op->rkey_entry->users;
        op->rkey_entry = NULL;
    } else if (op->rkey_h != NULL) {
        ucp_rkey_destroy(op->rkey_h);
    }
    op->rkey_h = NULL;
}

void xport_ucx_rkeys_purge(xport_ctx_h ctx, int rank)
{
    for (int r = rank < 0 ? 0 : rank; r < (rank < 0 ? ctx->size : rank + 1); ++r) {
        xport_peer_t *peer = &ctx->peers[r];

        while (peer->rkeys != NULL) {
            xport_rkey_t *entry = peer->rkeys;

            peer->rkeys = entry->next;
            ucp_rkey_destroy(entry->handle); /* its users have completed (or failed) */
            free(entry);
        }
    }
}

/* --- get and put ------------------------------------------------------------- */

static void xport_rma_done(void *request, ucs_status_t status, void *arg)
{
    xport_op_t *op = arg;

    op->ctx->outstanding -= !op->detached;
    if (status != UCS_OK && xport_is_dead(op->ctx, op->peer)) {
        xport_op_complete(op->ctx, op, RMPI_ERR_PEER_DIED);
    } else {
        xport_op_complete(op->ctx, op, xport_ucx_status(status));
    }
    if (request != NULL) {
        ucp_request_free(request);
    }
}

static ucp_ep_h xport_rma_prepare(xport_ctx_h ctx, xport_op_t *op)
{
    ucp_ep_h ep = xport_ucx_ep(ctx, op->peer);

    if (ep == NULL) {
        xport_op_complete(ctx, op, RMPI_ERR_PEER_DIED);
        return NULL;
    }
    op->rkey_entry = xport_rkey_get(ctx, ep, op);
    if (op->rkey_entry == NULL) {
        xport_op_complete(ctx, op, RMPI_ERR_INVALID_ARG);
        return NULL;
    }
    ++op->rkey_entry->users;
    op->rkey_h = op->rkey_entry->handle;
    return ep;
}

/* Account for @a req, the last request of @a op. */
static void xport_rma_track(xport_ctx_h ctx, xport_op_t *op, void *req)
{
    ++ctx->outstanding;
    if (req == NULL) {
        xport_rma_done(NULL, UCS_OK, op);
    } else if (UCS_PTR_IS_ERR(req)) {
        xport_rma_done(NULL, UCS_PTR_STATUS(req), op);
    } else {
        xport_inflight_add(ctx, op->peer, &op->elem);
    }
}

static ucp_request_param_t xport_rma_param(xport_op_t *op)
{
    return (ucp_request_param_t){
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
        .cb.send      = xport_rma_done,
        .user_data    = op,
    };
}

void xport_ucx_get(xport_ctx_h ctx, xport_op_t *op)
{
    ucp_request_param_t param = xport_rma_param(op);
    ucp_ep_h            ep    = xport_rma_prepare(ctx, op);

    if (ep != NULL) {
        xport_rma_track(ctx, op,
                        ucp_get_nbx(ep, op->local, op->len, op->remote_addr, op->rkey_h, &param));
    }
}

void xport_ucx_put(xport_ctx_h ctx, xport_op_t *op)
{
    ucp_request_param_t none  = {.op_attr_mask = 0};
    ucp_request_param_t param = xport_rma_param(op);
    ucp_ep_h            ep    = xport_rma_prepare(ctx, op);
    void               *req;

    if (ep == NULL) {
        return;
    }
    req = ucp_put_nbx(ep, op->local, op->len, op->remote_addr, op->rkey_h, &none);
    if (UCS_PTR_IS_ERR(req)) {
        xport_rma_track(ctx, op, req);
        return;
    }
    if (req != NULL) {
        ucp_request_free(req); /* no callback wanted: the flush below reports */
    }
    /* Remote completion: the flush completes after the put has landed. */
    xport_rma_track(ctx, op, ucp_ep_flush_nbx(ep, &param));
}

/* --- pulls ------------------------------------------------------------------- */

static uint64_t xport_pull_hash(const void *key)
{
    return base_hash_u64(*(const uint64_t *)key);
}

static bool xport_pull_equal(const void *key, const base_hash_node_t *node)
{
    return base_container_of(node, xport_op_t, hnode)->pull_id == *(const uint64_t *)key;
}

static const base_hash_ops_t xport_pull_ops = {.hash = xport_pull_hash, .equal = xport_pull_equal};

rmpi_status_t xport_ucx_rma_start(xport_ctx_h ctx)
{
    return base_hash_init(&ctx->pulls, &xport_pull_ops, 64);
}

static bool xport_pull_by_rma(xport_ctx_h ctx, const xport_op_t *op)
{
    bool same_host = ctx->host_of[op->peer] == ctx->host_of[ctx->rank];

    return op->rkey_len > 0 && (same_host ? ctx->pull_rma_local : ctx->pull_rma_remote);
}

void xport_ucx_pull(xport_ctx_h ctx, xport_op_t *op)
{
    xport_pull_req_t req = {.addr = op->remote_addr, .len = op->len};
    rmpi_status_t    status;

    if (xport_pull_by_rma(ctx, op)) {
        xport_ucx_get(ctx, op);
        return;
    }
    op->pull_id = req.id = ++ctx->next_pull_id;
    status =
        xport_submit_internal(ctx, op->peer, XPORT_WIRE_ID_PULL_REQ, &req, sizeof(req), NULL, 0);
    if (status != RMPI_OK) {
        xport_op_complete(ctx, op, status);
        return;
    }
    base_hash_insert(&ctx->pulls, &op->hnode, &op->pull_id);
}

void xport_pull_request_handler(xport_ctx_h ctx, int src, const void *hdr, size_t hdr_len)
{
    xport_pull_req_t   req;
    xport_pull_reply_t reply = {0};
    const void        *data  = NULL;
    size_t             len   = 0;

    if (hdr_len != sizeof(req)) {
        xport_count_bad(ctx, XPORT_BAD_REQUEST, src);
        return;
    }
    memcpy(&req, hdr, sizeof(req));
    reply.id = req.id;
    if (xport_mem_covers(ctx, req.addr, req.len)) {
        data = (const void *)(uintptr_t)req.addr;
        len  = req.len;
    } else {
        xport_count_bad(ctx, XPORT_BAD_REQUEST, src);
        reply.status = RMPI_ERR_INVALID_ARG;
    }
    xport_submit_internal(ctx, src, XPORT_WIRE_ID_PULL_REPLY, &reply, sizeof(reply), data, len);
}

static void xport_pull_received(void *arg, rmpi_status_t status)
{
    xport_op_t *op = arg;

    xport_op_complete(op->ctx, op, status);
}

void xport_pull_reply_handler(xport_ctx_h ctx, int src, const void *hdr, size_t hdr_len,
                              xport_am_payload_t *payload)
{
    xport_pull_reply_t reply;
    base_hash_node_t  *node;
    xport_op_t        *op;
    rmpi_status_t      status;

    if (hdr_len != sizeof(reply)) {
        xport_count_bad(ctx, XPORT_BAD_REQUEST, src);
        return;
    }
    memcpy(&reply, hdr, sizeof(reply));
    node = base_hash_find(&ctx->pulls, &reply.id);
    op   = node ? base_container_of(node, xport_op_t, hnode) : NULL;
    if (op == NULL || op->peer != src) {
        xport_count_bad(ctx, XPORT_BAD_REQUEST, src);
        return;
    }
    base_hash_remove(&ctx->pulls, node);
    if (reply.status != RMPI_OK || payload->len != op->len) {
        xport_op_complete(ctx, op, reply.status != RMPI_OK ? reply.status : RMPI_ERR_MESSAGE);
        return;
    }
    status = xport_am_recv_data(ctx, payload, op->local, op->len, xport_pull_received, op);
    if (status != RMPI_OK) {
        xport_op_complete(ctx, op, status);
    }
}

typedef struct xport_pull_fail {
    xport_ctx_h   ctx;
    int           rank; /**< -1: all */
    rmpi_status_t status;
} xport_pull_fail_t;

static bool xport_pull_fail_one(base_hash_node_t *node, void *arg)
{
    xport_pull_fail_t *fail = arg;
    xport_op_t        *op   = base_container_of(node, xport_op_t, hnode);

    if (fail->rank < 0 || op->peer == fail->rank) {
        base_hash_remove(&fail->ctx->pulls, node);
        xport_op_complete(fail->ctx, op, fail->status);
    }
    return true;
}

void xport_ucx_pull_fail_peer(xport_ctx_h ctx, int rank, rmpi_status_t status)
{
    xport_pull_fail_t fail = {.ctx = ctx, .rank = rank, .status = status};

    base_hash_foreach(&ctx->pulls, xport_pull_fail_one, &fail);
}

void xport_ucx_rma_stop(xport_ctx_h ctx)
{
    if (ctx->pulls.buckets != NULL) {
        xport_ucx_pull_fail_peer(ctx, -1, RMPI_ERR_SHUTDOWN);
        base_hash_cleanup(&ctx->pulls);
    }
}
