/*
 * transport/ucx_ep.c - endpoints: created on first use (a 10,000-rank job
 * must not open 10^8 of them), with peer error handling so that a dead rank
 * fails its operations instead of hanging them; and the clean close.
 */
#include "transport/xport_int.h"

#include "base/clock.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#define XPORT_CLOSE_TIMEOUT 5.0 /* seconds to wait for endpoint closes */

static void xport_ucx_ep_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    xport_peer_t *peer = arg;

    (void)ep;
    base_debug("endpoint to rank %d failed: %s", peer->rank, ucs_status_string(status));
    xport_peer_failed(peer->ctx, peer->rank, RMPI_ERR_PEER_DIED);
}

/* Watch a same-host peer's process: its pidfd turns readable when it exits. */
static void xport_watch_pid(xport_ctx_h ctx, int rank)
{
    int            fd = pidfd_open(ctx->pid_of[rank], 0);
    struct pollfd *watch;
    int           *ranks;

    if (fd < 0) {
        base_warn("cannot watch rank %d (pid %d): pidfd_open: %m", rank, ctx->pid_of[rank]);
        return;
    }
    watch           = realloc(ctx->watch, (size_t)(ctx->num_watch + 3) * sizeof(*watch));
    ctx->watch      = watch ? watch : ctx->watch;
    ranks           = realloc(ctx->watch_rank, (size_t)(ctx->num_watch + 1) * sizeof(*ranks));
    ctx->watch_rank = ranks ? ranks : ctx->watch_rank;
    if (watch == NULL || ranks == NULL) {
        close(fd);
        return;
    }
    ctx->watch[2 + ctx->num_watch]  = (struct pollfd){.fd = fd, .events = POLLIN};
    ctx->watch_rank[ctx->num_watch] = rank;
    ++ctx->num_watch;
}

static void xport_unwatch(xport_ctx_h ctx, int index)
{
    close(ctx->watch[2 + index].fd);
    --ctx->num_watch;
    ctx->watch[2 + index]  = ctx->watch[2 + ctx->num_watch];
    ctx->watch_rank[index] = ctx->watch_rank[ctx->num_watch];
}

void xport_watch_check(xport_ctx_h ctx)
{
    for (int i = 0; i < ctx->num_watch;) {
        if (ctx->watch[2 + i].revents != 0) {
            int rank = ctx->watch_rank[i];

            xport_unwatch(ctx, i);
            base_debug("rank %d (pid %d) exited", rank, ctx->pid_of[rank]);
            xport_peer_failed(ctx, rank, RMPI_ERR_PEER_DIED);
        } else {
            ++i;
        }
    }
}

static ucs_status_t xport_ucx_ep_create(xport_ctx_h ctx, xport_peer_t *peer, bool peer_mode)
{
    ucp_ep_params_t params = {
        .field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE,
        .address    = (const ucp_address_t *)xport_peer_address(ctx, peer->rank),
        .err_mode   = peer_mode ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE,
    };

    if (peer_mode) {
        params.field_mask |= UCP_EP_PARAM_FIELD_ERR_HANDLER;
        params.err_handler = (ucp_err_handler_t){.cb = xport_ucx_ep_error, .arg = peer};
    }
    peer->peer_mode = peer_mode;
    return ucp_ep_create(ctx->worker, &params, &peer->ep);
}

/*
 * UCX 1.13 has no peer failure detection on self and shared memory and
 * refuses PEER mode there (or picks tcp lanes to honour it, which is slower).
 * So ranks on this host are connected without it and their processes are
 * watched instead; other hosts get PEER mode. XPORT_ERR_MODE=peer asks for
 * PEER mode on this host too (tests of that path with UCX_TLS=tcp).
 */
static bool xport_want_peer_mode(xport_ctx_h ctx, int rank)
{
    if (rank == ctx->rank) {
        return false;
    }
    return ctx->host_of[rank] != ctx->host_of[ctx->rank] || strcmp(ctx->cfg.err_mode, "peer") == 0;
}

ucp_ep_h xport_ucx_ep(xport_ctx_h ctx, int rank)
{
    xport_peer_t *peer = &ctx->peers[rank];
    ucs_status_t  status;

    if (peer->ep != NULL || xport_is_dead(ctx, rank)) {
        return peer->ep;
    }
    if (xport_want_peer_mode(ctx, rank)) {
        status = xport_ucx_ep_create(ctx, peer, true);
        if (status == UCS_OK || rank == ctx->rank ||
            ctx->host_of[rank] != ctx->host_of[ctx->rank]) {
            goto out;
        }
        base_log_once(BASE_LOG_WARN,
                      "UCX refused peer error handling to rank %d (%s); watching "
                      "same-host processes instead",
                      rank, ucs_status_string(status));
    }
    status = xport_ucx_ep_create(ctx, peer, false);
    if (status == UCS_OK && rank != ctx->rank) {
        xport_watch_pid(ctx, rank);
    }
out:
    if (status != UCS_OK) {
        base_warn("cannot connect to rank %d: %s", rank, ucs_status_string(status));
        peer->ep = NULL;
        xport_peer_failed(ctx, rank, RMPI_ERR_PEER_DIED);
    }
    return peer->ep;
}

void xport_inflight_add(xport_ctx_h ctx, int rank, base_list_t *elem)
{
    base_list_add_tail(&ctx->peers[rank].inflight, elem);
}

/* Tell the owner of @a op now; UCX may still complete its request later. */
static void xport_notify_failed(xport_op_t *op)
{
    xport_complete_cb_t cb = op->cb;

    op->cb = NULL;
    if (cb != NULL) {
        cb(op->cb_arg, RMPI_ERR_PEER_DIED);
    }
}

/*
 * Fail every operation with a UCX request pending on @a peer. Their requests
 * may never complete (an endpoint without PEER mode), so they no longer count
 * as in flight; if UCX completes them later, only their memory is released.
 */
static void xport_fail_inflight(xport_ctx_h ctx, xport_peer_t *peer)
{
    base_list_t *it, *tmp, *op_it;

    base_list_for_each_safe (it, tmp, &peer->inflight) {
        xport_op_t *op = base_container_of(it, xport_op_t, elem);

        base_list_del(it);
        op->detached = true;
        --ctx->outstanding;
        xport_notify_failed(op);
    }
    base_list_for_each_safe (it, tmp, &peer->inflight_batches) {
        xport_batch_t *batch = base_container_of(it, xport_batch_t, inflight);

        base_list_del(it);
        batch->detached = true;
        --ctx->outstanding;
        base_list_for_each (op_it, &batch->ops) {
            xport_notify_failed(base_container_of(op_it, xport_op_t, elem));
        }
    }
}

static void xport_ucx_probe_done(void *request, ucs_status_t status, void *arg)
{
    xport_peer_t *peer = arg;

    --peer->ctx->outstanding;
    if (status != UCS_OK) {
        xport_peer_failed(peer->ctx, peer->rank, RMPI_ERR_PEER_DIED);
    }
    ucp_request_free(request);
}

void xport_ucx_connect(xport_ctx_h ctx, int rank)
{
    ucp_request_param_t param = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
        .cb.send      = xport_ucx_probe_done,
        .user_data    = &ctx->peers[rank],
    };
    ucp_ep_h ep = xport_ucx_ep(ctx, rank);
    void    *req;

    if (ep == NULL || rank == ctx->rank) {
        return;
    }
    /* A flush makes the connection real; it fails if the peer is gone. */
    req = ucp_ep_flush_nbx(ep, &param);
    if (UCS_PTR_IS_PTR(req)) {
        ++ctx->outstanding;
    } else if (UCS_PTR_IS_ERR(req)) {
        xport_peer_failed(ctx, rank, RMPI_ERR_PEER_DIED);
    }
}

static void *xport_ucx_close(ucp_ep_h ep, bool force)
{
    ucp_request_param_t param = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
        .flags        = force ? UCP_EP_CLOSE_FLAG_FORCE : 0,
    };

    return ucp_ep_close_nbx(ep, &param);
}

void xport_peer_failed(xport_ctx_h ctx, int rank, rmpi_status_t reason)
{
    xport_peer_t *peer = &ctx->peers[rank];

    if (xport_is_dead(ctx, rank)) {
        return;
    }
    atomic_store_explicit(&ctx->dead[rank], 1, memory_order_release);
    atomic_fetch_add_explicit(&ctx->stats.peers_died, 1, memory_order_relaxed);
    xport_fail_inflight(ctx, peer);
    xport_ucx_rkeys_purge(ctx, rank); /* its ops failed above: no key is in use */
    if (peer->ep != NULL && peer->peer_mode) {
        /* FORCE is valid because the endpoint has UCP_ERR_HANDLING_MODE_PEER. */
        peer->close_req = xport_ucx_close(peer->ep, true);
        if (!UCS_PTR_IS_PTR(peer->close_req)) {
            peer->close_req = NULL;
        }
    }
    /* Without PEER mode it cannot be closed; ucp_worker_destroy releases it. */
    peer->ep = NULL;
    xport_ucx_batch_fail(ctx, rank, RMPI_ERR_PEER_DIED);
    xport_ucx_pull_fail_peer(ctx, rank, RMPI_ERR_PEER_DIED);
    if (ctx->fin_acked) {
        return; /* peers closing after shutdown are no failure */
    }
    base_warn("rank %d died: %s", rank, rmpi_status_str(reason));
    if (ctx->failure_cb != NULL) {
        ctx->failure_cb(ctx->failure_arg, rank, reason);
    }
}

/* Progress until every request in @a reqs completed or the timeout passed. */
static void xport_ucx_wait_all(xport_ctx_h ctx, void **reqs, int count)
{
    double deadline = base_time_sec() + XPORT_CLOSE_TIMEOUT;
    int    pending  = count;

    while (pending > 0 && base_time_sec() < deadline) {
        ucp_worker_progress(ctx->worker);
        pending = 0;
        for (int i = 0; i < count; ++i) {
            if (reqs[i] != NULL && ucp_request_check_status(reqs[i]) != UCS_INPROGRESS) {
                ucp_request_free(reqs[i]);
                reqs[i] = NULL;
            }
            pending += reqs[i] != NULL;
        }
    }
    if (pending > 0) {
        base_warn("%d endpoint closes did not finish in %.0f s", pending, XPORT_CLOSE_TIMEOUT);
    }
}

void xport_ucx_close_all(xport_ctx_h ctx)
{
    void **reqs = calloc((size_t)ctx->size, sizeof(void *));

    if (reqs == NULL) {
        return;
    }
    xport_ucx_flush_batches(ctx);
    xport_ucx_rkeys_purge(ctx, -1); /* keys go before their endpoints */
    for (int r = 0; r < ctx->size; ++r) {
        xport_peer_t *peer = &ctx->peers[r];

        if (peer->ep != NULL) {
            reqs[r]  = xport_ucx_close(peer->ep, false);
            peer->ep = NULL;
        } else {
            reqs[r]         = peer->close_req;
            peer->close_req = NULL;
        }
        if (!UCS_PTR_IS_PTR(reqs[r])) {
            reqs[r] = NULL;
        }
    }
    xport_ucx_wait_all(ctx, reqs, ctx->size);
    free(reqs);
    while (ctx->num_watch > 0) {
        xport_unwatch(ctx, 0);
    }
}
