/*
 * transport/shutdown.c - the collective end of the transport, over active
 * messages so that no MPI collective is needed (and a dead rank cannot hang
 * it): every rank sends FIN_REQ to the coordinator, the lowest rank not known
 * dead; once the coordinator has FIN_REQ from every live rank it answers
 * FIN_ACK to all. After the ACK nobody sends any more, so endpoints can be
 * flushed and closed without a peer seeing a reset mid-message.
 *
 * Runs on the thread calling xport_fini(), after the progress thread stopped.
 */
#include "transport/xport_int.h"

#include "base/clock.h"
#include "base/log.h"

/* Slice of progress between checks of the coordinator's liveness (seconds). */
#define XPORT_FIN_SLICE 0.05

static int xport_coordinator(xport_ctx_h ctx)
{
    for (int r = 0; r < ctx->size; ++r) {
        if (!xport_is_dead(ctx, r)) {
            return r;
        }
    }
    return ctx->rank;
}

static bool xport_all_live_finished(xport_ctx_h ctx)
{
    for (int r = 0; r < ctx->size; ++r) {
        if (!ctx->fin_seen[r] && !xport_is_dead(ctx, r)) {
            return false;
        }
    }
    return true;
}

static void xport_send_acks(xport_ctx_h ctx)
{
    for (int r = 0; r < ctx->size; ++r) {
        if (r != ctx->rank && !xport_is_dead(ctx, r)) {
            xport_submit_internal(ctx, r, XPORT_WIRE_ID_FIN_ACK, NULL, 0, NULL, 0);
        }
    }
    ctx->fin_acked = true;
}

void xport_fin_handler(xport_ctx_h ctx, int src, xport_am_id_t id)
{
    if (id == XPORT_WIRE_ID_FIN_REQ) {
        ctx->fin_seen[src] = true;
    } else {
        ctx->fin_acked = true;
    }
}

rmpi_status_t xport_shutdown_exchange(xport_ctx_h ctx)
{
    double deadline    = base_time_sec() + ctx->cfg.shutdown_timeout;
    int    coordinator = -1;
    bool   died        = false;

    ctx->fin_started         = true;
    ctx->fin_seen[ctx->rank] = true;
    while (!ctx->fin_acked) {
        if (coordinator != xport_coordinator(ctx)) {
            died |= coordinator >= 0;
            coordinator = xport_coordinator(ctx);
            if (coordinator == ctx->rank) {
                /* Reach every rank so a dead one is noticed and not waited for. */
                for (int r = 0; r < ctx->size; ++r) {
                    ctx->ops->connect(ctx, r);
                }
            } else {
                xport_submit_internal(ctx, coordinator, XPORT_WIRE_ID_FIN_REQ, NULL, 0, NULL, 0);
            }
        }
        if (coordinator == ctx->rank && xport_all_live_finished(ctx)) {
            xport_send_acks(ctx);
            xport_progress_once(ctx); /* hand the ACKs to UCX before closing */
            break;
        }
        if (base_time_sec() > deadline) {
            base_warn("shutdown: no answer from the other ranks after %.1f s; closing anyway",
                      ctx->cfg.shutdown_timeout);
            return RMPI_ERR_TIMEOUT;
        }
        xport_progress_until(ctx, &ctx->fin_acked, XPORT_FIN_SLICE);
    }
    return died ? RMPI_ERR_PEER_DIED : RMPI_OK;
}
