/*
 * transport/ucx_am.c - active messages over UCX.
 *
 * Two UCX AM ids carry everything: XPORT_UCX_AM_BATCH, a frame of small
 * records (wire.h) gathered per destination during one progress pass, and
 * XPORT_UCX_AM_LARGE, one message whose payload UCX moves eagerly or by
 * rendezvous (then the handler picks the destination buffer and the data
 * arrives through ucp_am_recv_data_nbx).
 *
 * Note (hpc-setup.md gotcha 1): a request from ucp_am_recv_data_nbx is freed
 * only in its completion callback; ucp_request_free on an in-flight request
 * would suppress the callback.
 */
#include "transport/xport_int.h"

#include "base/log.h"

#include <stdlib.h>
#include <string.h>

enum {
    XPORT_UCX_AM_BATCH = 0,
    XPORT_UCX_AM_LARGE = 1,
};

typedef struct xport_recv {
    xport_ctx_h         ctx;
    xport_complete_cb_t cb;
    void               *arg;
    void               *scratch; /**< freed on completion (dropped or batched data) */
    size_t              len;
    bool                decode; /**< scratch holds a batch frame to decode */
} xport_recv_t;

static xport_wire_limits_t xport_limits(xport_ctx_h ctx)
{
    return (xport_wire_limits_t){.num_ranks = (uint32_t)ctx->size, .num_ids = ctx->num_ids};
}

static rmpi_status_t xport_req_status(xport_ctx_h ctx, int rank, ucs_status_t status)
{
    if (status != UCS_OK && xport_is_dead(ctx, rank)) {
        return RMPI_ERR_PEER_DIED;
    }
    return xport_ucx_status(status);
}

/* --- sending --------------------------------------------------------------- */

#define XPORT_FREE_BATCHES_MAX 16

static void xport_batch_put(xport_ctx_h ctx, xport_batch_t *batch)
{
    if (ctx->num_free_batches >= XPORT_FREE_BATCHES_MAX) {
        free(batch);
        return;
    }
    batch->next_free  = ctx->free_batches;
    ctx->free_batches = batch;
    ++ctx->num_free_batches;
}

void xport_ucx_batches_release(xport_ctx_h ctx)
{
    while (ctx->free_batches != NULL) {
        xport_batch_t *batch = ctx->free_batches;

        ctx->free_batches = batch->next_free;
        free(batch);
    }
    ctx->num_free_batches = 0;
}

static void xport_batch_complete(xport_batch_t *batch, rmpi_status_t status)
{
    base_list_t *it, *tmp;

    base_list_for_each_safe (it, tmp, &batch->ops) {
        base_list_del(it);
        xport_op_complete(batch->ctx, base_container_of(it, xport_op_t, elem), status);
    }
    base_list_del(&batch->inflight);
    xport_batch_put(batch->ctx, batch);
}

static void xport_batch_sent(void *request, ucs_status_t status, void *arg)
{
    xport_batch_t *batch = arg;

    batch->ctx->outstanding -= !batch->detached;
    xport_batch_complete(batch, xport_req_status(batch->ctx, batch->rank, status));
    ucp_request_free(request);
}

static void xport_batch_send(xport_ctx_h ctx, xport_batch_t *batch)
{
    ucp_request_param_t param = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
        .cb.send      = xport_batch_sent,
        .user_data    = batch,
    };
    ucp_ep_h ep = xport_ucx_ep(ctx, batch->rank);
    void    *req;

    if (ep == NULL) {
        xport_batch_complete(batch, RMPI_ERR_PEER_DIED);
        return;
    }
    xport_stat_inc(&ctx->stats.batches_sent);
    req = ucp_am_send_nbx(ep, XPORT_UCX_AM_BATCH, NULL, 0, batch->frame, batch->len, &param);
    if (req == NULL) {
        xport_batch_complete(batch, RMPI_OK);
    } else if (UCS_PTR_IS_ERR(req)) {
        xport_batch_complete(batch, xport_req_status(ctx, batch->rank, UCS_PTR_STATUS(req)));
    } else {
        ++ctx->outstanding;
        base_list_add_tail(&ctx->peers[batch->rank].inflight_batches, &batch->inflight);
    }
}

static void xport_peer_flush(xport_ctx_h ctx, xport_peer_t *peer)
{
    xport_batch_t *batch = peer->batch;

    peer->batch = NULL;
    base_list_del(&peer->dirty);
    if (batch != NULL) {
        xport_batch_send(ctx, batch);
    }
}

unsigned xport_ucx_flush_batches(xport_ctx_h ctx)
{
    unsigned count = 0;

    while (!base_list_is_empty(&ctx->dirty_peers)) {
        xport_peer_flush(ctx, base_list_first(&ctx->dirty_peers, xport_peer_t, dirty));
        ++count;
    }
    return count;
}

void xport_ucx_batch_fail(xport_ctx_h ctx, int rank, rmpi_status_t status)
{
    xport_peer_t  *peer  = &ctx->peers[rank];
    xport_batch_t *batch = peer->batch;

    peer->batch = NULL;
    base_list_del(&peer->dirty);
    if (batch != NULL) {
        xport_batch_complete(batch, status);
    }
}

static xport_batch_t *xport_batch_new(xport_ctx_h ctx, int rank)
{
    xport_batch_t *batch = ctx->free_batches;

    if (batch != NULL) {
        ctx->free_batches = batch->next_free;
        --ctx->num_free_batches;
    } else {
        batch = malloc(sizeof(*batch) + ctx->cfg.batch_max);
    }
    if (batch != NULL) {
        batch->ctx  = ctx;
        batch->rank = rank;
        batch->len  = xport_wire_frame_init(batch->frame, XPORT_WIRE_BATCH, (uint32_t)ctx->rank);
        base_list_init(&batch->ops);
        base_list_init(&batch->inflight);
        batch->detached = false;
    }
    return batch;
}

static bool xport_batchable(xport_ctx_h ctx, size_t record_size, size_t len)
{
    return len <= ctx->cfg.eager_max && record_size + XPORT_WIRE_FRAME_HDR <= ctx->cfg.batch_max;
}

/* The open batch to @a rank with room for @a size more bytes (a full one is sent), or NULL. */
static xport_batch_t *xport_batch_room(xport_ctx_h ctx, int rank, size_t size)
{
    xport_peer_t *peer = &ctx->peers[rank];

    if (peer->batch != NULL && peer->batch->len + size > ctx->cfg.batch_max) {
        xport_peer_flush(ctx, peer);
    }
    if (peer->batch == NULL) {
        peer->batch = xport_batch_new(ctx, rank);
        if (peer->batch == NULL) {
            return NULL;
        }
        base_list_add_tail(&ctx->dirty_peers, &peer->dirty);
    }
    return peer->batch;
}

/* Add @a op to its destination's batch; false if it cannot go in a batch. */
static bool xport_batch_add(xport_ctx_h ctx, xport_op_t *op)
{
    size_t         size = xport_wire_record_size(op->hdr_len, op->len);
    xport_batch_t *batch;

    if (!xport_batchable(ctx, size, op->len)) {
        return false;
    }
    batch = xport_batch_room(ctx, op->peer, size);
    if (batch == NULL) {
        xport_op_complete(ctx, op, RMPI_ERR_NO_MEMORY);
        return true;
    }
    batch->len = xport_wire_frame_append(batch->frame, batch->len, op->am_id, op->hdr, op->hdr_len,
                                         op->data, op->len);
    base_list_add_tail(&batch->ops, &op->elem);
    return true;
}

bool xport_ucx_am_send_direct(xport_ctx_h ctx, int dst, xport_am_id_t id, const void *hdr,
                              size_t hdr_len, const void *data, size_t len)
{
    size_t         size = xport_wire_record_size(hdr_len, len);
    xport_batch_t *batch;

    if (!xport_batchable(ctx, size, len) || xport_is_dead(ctx, dst)) {
        return false;
    }
    batch = xport_batch_room(ctx, dst, size);
    if (batch == NULL) {
        return false;
    }
    if (id < XPORT_WIRE_ID_INTERNAL) {
        xport_stat_inc(&ctx->stats.am_sent);
    }
    batch->len = xport_wire_frame_append(batch->frame, batch->len, id, hdr, hdr_len, data, len);
    return true;
}

static void xport_large_sent(void *request, ucs_status_t status, void *arg)
{
    xport_op_t *op = arg;

    op->ctx->outstanding -= !op->detached;
    xport_op_complete(op->ctx, op, xport_req_status(op->ctx, op->peer, status));
    ucp_request_free(request);
}

/* One UCX active message for @a op; its payload goes eagerly or by rendezvous. */
static void xport_large_send(xport_ctx_h ctx, xport_op_t *op)
{
    ucp_request_param_t param = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
        .cb.send      = xport_large_sent,
        .user_data    = op,
    };
    size_t   hdr_size = xport_wire_large_size(op->hdr_len);
    ucp_ep_h ep       = xport_ucx_ep(ctx, op->peer);
    void    *req;

    op->wire_hdr = malloc(hdr_size);
    if (ep == NULL || op->wire_hdr == NULL) {
        xport_op_complete(ctx, op, ep ? RMPI_ERR_NO_MEMORY : RMPI_ERR_PEER_DIED);
        return;
    }
    xport_wire_encode_large(op->wire_hdr, (uint32_t)ctx->rank, op->am_id, op->hdr, op->hdr_len,
                            op->len);
    xport_stat_inc(&ctx->stats.rndv_sent);
    req =
        ucp_am_send_nbx(ep, XPORT_UCX_AM_LARGE, op->wire_hdr, hdr_size, op->data, op->len, &param);
    if (req == NULL) {
        xport_op_complete(ctx, op, RMPI_OK);
    } else if (UCS_PTR_IS_ERR(req)) {
        xport_op_complete(ctx, op, xport_req_status(ctx, op->peer, UCS_PTR_STATUS(req)));
    } else {
        ++ctx->outstanding;
        xport_inflight_add(ctx, op->peer, &op->elem);
    }
}

void xport_ucx_am_send(xport_ctx_h ctx, xport_op_t *op)
{
    if (xport_is_dead(ctx, op->peer)) {
        xport_op_complete(ctx, op, RMPI_ERR_PEER_DIED);
        return;
    }
    if (op->am_id < XPORT_WIRE_ID_INTERNAL) {
        xport_stat_inc(&ctx->stats.am_sent);
    }
    if (!xport_batch_add(ctx, op)) {
        xport_large_send(ctx, op);
    }
}

/* --- receiving ------------------------------------------------------------- */

static void xport_visit_record(void *arg, uint32_t src, const xport_wire_record_t *rec)
{
    xport_am_payload_t payload = {.data = rec->data, .len = rec->data_len};

    if (payload.data == NULL) {
        payload.data = ""; /* an empty payload is still "in memory" */
    }
    xport_deliver(arg, (int)src, rec, &payload);
}

static void xport_decode_batch(xport_ctx_h ctx, const void *frame, size_t len)
{
    xport_wire_limits_t limits = xport_limits(ctx);
    xport_bad_reason_t  reason;

    if (xport_wire_decode_batch(frame, len, &limits, xport_visit_record, ctx, &reason) != RMPI_OK) {
        xport_count_bad(ctx, reason, -1);
    }
}

static void xport_recv_done(void *request, ucs_status_t status, size_t length, void *arg)
{
    xport_recv_t *recv = arg;

    --recv->ctx->outstanding;
    if (recv->decode && status == UCS_OK) {
        xport_decode_batch(recv->ctx, recv->scratch, length);
    }
    if (recv->cb != NULL) {
        recv->cb(recv->arg, xport_ucx_status(status));
    }
    free(recv->scratch);
    free(recv);
    if (request != NULL) {
        ucp_request_free(request);
    }
}

/* Start receiving a rendezvous payload; @a recv is consumed. */
static rmpi_status_t xport_recv_start(xport_ctx_h ctx, void *desc, void *buf, size_t len,
                                      xport_recv_t *recv)
{
    ucp_request_param_t param = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
        .cb.recv_am   = xport_recv_done,
        .user_data    = recv,
    };
    void *req = ucp_am_recv_data_nbx(ctx->worker, desc, buf, len, &param);

    ++ctx->outstanding;
    if (UCS_PTR_IS_ERR(req)) {
        rmpi_status_t status = xport_ucx_status(UCS_PTR_STATUS(req));

        recv->cb = NULL;
        xport_recv_done(NULL, UCS_PTR_STATUS(req), 0, recv);
        return status;
    }
    if (req == NULL) {
        xport_recv_done(NULL, UCS_OK, len, recv);
    }
    return RMPI_OK;
}

static xport_recv_t *xport_recv_new(xport_ctx_h ctx, xport_complete_cb_t cb, void *arg)
{
    xport_recv_t *recv = calloc(1, sizeof(*recv));

    if (recv != NULL) {
        recv->ctx = ctx;
        recv->cb  = cb;
        recv->arg = arg;
    }
    return recv;
}

/* Receive into a buffer of our own: a batch frame that UCX sent by rendezvous, or a drop. */
static void xport_recv_scratch(xport_ctx_h ctx, void *desc, size_t len, bool decode)
{
    xport_recv_t *recv = xport_recv_new(ctx, NULL, NULL);

    if (recv != NULL) {
        recv->scratch = malloc(len ? len : 1);
        recv->decode  = decode;
    }
    if (recv == NULL || recv->scratch == NULL) {
        free(recv);
        base_log_once(BASE_LOG_ERROR, "out of memory receiving a %zu-byte message", len);
        return;
    }
    xport_recv_start(ctx, desc, recv->scratch, len, recv);
}

static ucs_status_t xport_ucx_batch_cb(void *arg, const void *header, size_t header_length,
                                       void *data, size_t length, const ucp_am_recv_param_t *param)
{
    xport_ctx_h ctx = arg;

    (void)header;
    if (header_length != 0) {
        xport_count_bad(ctx, XPORT_BAD_LENGTH, -1);
    } else if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
        xport_recv_scratch(ctx, data, length, true);
    } else {
        xport_decode_batch(ctx, data, length);
    }
    return UCS_OK;
}

static ucs_status_t xport_ucx_large_cb(void *arg, const void *header, size_t header_length,
                                       void *data, size_t length, const ucp_am_recv_param_t *param)
{
    xport_ctx_h         ctx    = arg;
    xport_wire_limits_t limits = xport_limits(ctx);
    bool                rndv   = param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV;
    xport_am_payload_t  payload;
    xport_wire_record_t rec;
    xport_bad_reason_t  reason;
    uint32_t            src;

    if (xport_wire_decode_large(header, header_length, length, &limits, &src, &rec, &reason) !=
        RMPI_OK) {
        xport_count_bad(ctx, reason, -1);
        if (rndv) {
            xport_recv_scratch(ctx, data, length, false); /* complete the sender, drop */
        }
        return UCS_OK;
    }
    payload = (xport_am_payload_t){
        .data  = rndv ? NULL : (data ? data : ""),
        .len   = length,
        .desc_ = rndv ? data : NULL,
    };
    xport_deliver(ctx, (int)src, &rec, &payload);
    if (payload.desc_ != NULL) { /* the handler did not take it */
        base_log_once(BASE_LOG_WARN, "a handler left a rendezvous payload unreceived; dropped");
        xport_recv_scratch(ctx, payload.desc_, length, false);
    }
    return UCS_OK;
}

rmpi_status_t xport_ucx_am_recv_data(xport_ctx_h ctx, xport_am_payload_t *payload, void *buf,
                                     size_t len, xport_complete_cb_t cb, void *arg)
{
    xport_recv_t *recv;
    void         *desc = payload->desc_;

    (void)len;
    if (payload->data != NULL) {
        if (payload->len > 0) {
            memcpy(buf, payload->data, payload->len);
        }
        if (cb != NULL) {
            cb(arg, RMPI_OK);
        }
        return RMPI_OK;
    }
    if (desc == NULL) {
        return RMPI_ERR_INVALID_ARG; /* already received */
    }
    recv = xport_recv_new(ctx, cb, arg);
    if (recv == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    payload->desc_ = NULL;
    return xport_recv_start(ctx, desc, buf, payload->len, recv);
}

rmpi_status_t xport_ucx_am_start(xport_ctx_h ctx)
{
    ucp_am_handler_param_t param = {
        .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
                      UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG,
        .flags = UCP_AM_FLAG_WHOLE_MSG,
        .arg   = ctx,
    };
    ucs_status_t status;

    param.id = XPORT_UCX_AM_BATCH;
    param.cb = xport_ucx_batch_cb;
    status   = ucp_worker_set_am_recv_handler(ctx->worker, &param);
    if (status == UCS_OK) {
        param.id = XPORT_UCX_AM_LARGE;
        param.cb = xport_ucx_large_cb;
        status   = ucp_worker_set_am_recv_handler(ctx->worker, &param);
    }
    if (status != UCS_OK) {
        base_error("ucp_worker_set_am_recv_handler failed: %s", ucs_status_string(status));
        return xport_ucx_status(status);
    }
    return RMPI_OK;
}
