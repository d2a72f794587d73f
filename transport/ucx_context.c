/*
 * transport/ucx_context.c - the UCX context and worker: creation, the
 * worker address, progress, and the event fd that lets the progress thread
 * sleep (ucp_worker_arm). Also the choice of the pull path.
 */
#include "transport/xport_int.h"

#include "base/log.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rmpi_status_t xport_ucx_status(ucs_status_t status)
{
    switch (status) {
    case UCS_OK:
        return RMPI_OK;
    case UCS_INPROGRESS:
        return RMPI_INPROGRESS;
    case UCS_ERR_NO_MEMORY:
        return RMPI_ERR_NO_MEMORY;
    case UCS_ERR_CANCELED:
        return RMPI_ERR_CANCELED;
    case UCS_ERR_NO_RESOURCE:
        return RMPI_ERR_NO_RESOURCE;
    case UCS_ERR_CONNECTION_RESET:
    case UCS_ERR_ENDPOINT_TIMEOUT:
    case UCS_ERR_UNREACHABLE:
    case UCS_ERR_REJECTED:
    case UCS_ERR_NOT_CONNECTED:
        return RMPI_ERR_PEER_DIED;
    default:
        return RMPI_ERR_TRANSPORT;
    }
}

static rmpi_status_t xport_ucx_fail(const char *what, ucs_status_t status)
{
    base_error("%s failed: %s", what, ucs_status_string(status));
    return xport_ucx_status(status);
}

/* Detect dead peers within seconds, not UCX's default of 20 s, unless the user chose. */
static void xport_ucx_tune(xport_ctx_h ctx, ucp_config_t *config)
{
    char value[32];

    if (getenv("UCX_KEEPALIVE_INTERVAL") == NULL) {
        snprintf(value, sizeof(value), "%.3fs", ctx->cfg.keepalive);
        ucp_config_modify(config, "KEEPALIVE_INTERVAL", value);
    }
}

static rmpi_status_t xport_ucx_init(xport_ctx_h ctx, void **addr_p, size_t *len_p)
{
    ucp_params_t params = {
        .field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED,
        .features   = UCP_FEATURE_AM | UCP_FEATURE_RMA | UCP_FEATURE_WAKEUP,
        /* ucp_mem_map and ucp_rkey_pack are called from any thread. */
        .mt_workers_shared = 1,
    };
    ucp_worker_params_t wparams = {
        .field_mask  = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
        .thread_mode = UCS_THREAD_MODE_SINGLE, /* only the progress thread touches it */
    };
    ucp_config_t *config;
    ucs_status_t  status;

    status = ucp_config_read("RAYMPI", NULL, &config);
    if (status != UCS_OK) {
        return xport_ucx_fail("ucp_config_read", status);
    }
    xport_ucx_tune(ctx, config);
    status = ucp_init(&params, config, &ctx->ucp);
    ucp_config_release(config);
    if (status != UCS_OK) {
        ctx->ucp = NULL;
        return xport_ucx_fail("ucp_init", status);
    }
    status = ucp_worker_create(ctx->ucp, &wparams, &ctx->worker);
    if (status != UCS_OK) {
        ctx->worker = NULL;
        return xport_ucx_fail("ucp_worker_create", status);
    }
    status = ucp_worker_get_efd(ctx->worker, &ctx->ucx_efd);
    if (status == UCS_OK) {
        status = ucp_worker_get_address(ctx->worker, (ucp_address_t **)addr_p, len_p);
    }
    return status == UCS_OK ? RMPI_OK : xport_ucx_fail("ucp_worker_get_efd/address", status);
}

static void xport_ucx_addr_release(xport_ctx_h ctx, void *addr)
{
    ucp_worker_release_address(ctx->worker, addr);
}

static bool xport_tls_has(const char *tls, const char *const *names)
{
    char  copy[256];
    char *save = NULL;

    snprintf(copy, sizeof(copy), "%s", tls);
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        for (int i = 0; names[i] != NULL; ++i) {
            if (strncmp(tok, names[i], strlen(names[i])) == 0) {
                return true;
            }
        }
    }
    return false;
}

static bool xport_have_rdma_device(void)
{
    DIR           *dir = opendir("/sys/class/infiniband");
    struct dirent *ent;
    bool           found = false;

    while (dir != NULL && (ent = readdir(dir)) != NULL) {
        found |= ent->d_name[0] != '.';
    }
    if (dir != NULL) {
        closedir(dir);
    }
    return found;
}

/*
 * UCX RMA over tcp is far slower than its rendezvous AM (hpc-setup.md: put of
 * 64 MiB at 34 MB/s vs 3.4 GB/s), so pull by RMA only where the transports
 * in use do RMA natively: shared memory on the host, RDMA between hosts.
 */
static void xport_choose_pull(xport_ctx_h ctx)
{
    static const char *const shm[]  = {"sm",   "shm",   "posix", "sysv", "cma",
                                       "knem", "xpmem", "all",   NULL};
    static const char *const rdma[] = {"rc", "dc", "ud", "ib", "mlx", "all", NULL};
    const char              *tls    = getenv("UCX_TLS");
    const char              *mode   = ctx->cfg.pull;

    if (strcmp(mode, "auto") != 0) {
        ctx->pull_rma_local = ctx->pull_rma_remote = strcmp(mode, "rma") == 0;
        return;
    }
    ctx->pull_rma_local = tls == NULL || tls[0] == '^' || xport_tls_has(tls, shm);
    ctx->pull_rma_remote =
        (tls == NULL || tls[0] == '^' || xport_tls_has(tls, rdma)) && xport_have_rdma_device();
}

static rmpi_status_t xport_ucx_start(xport_ctx_h ctx)
{
    rmpi_status_t status;

    xport_choose_pull(ctx);
    status = xport_ucx_rma_start(ctx);
    return status == RMPI_OK ? xport_ucx_am_start(ctx) : status;
}

static void xport_ucx_fini(xport_ctx_h ctx)
{
    xport_ucx_rma_stop(ctx);
    xport_ucx_batches_release(ctx);
    if (ctx->worker != NULL) {
        ucp_worker_destroy(ctx->worker);
        ctx->worker = NULL;
    }
    if (ctx->ucp != NULL) {
        ucp_cleanup(ctx->ucp);
        ctx->ucp = NULL;
    }
}

static unsigned xport_ucx_progress(xport_ctx_h ctx)
{
    return ucp_worker_progress(ctx->worker);
}

static rmpi_status_t xport_ucx_arm(xport_ctx_h ctx)
{
    ucs_status_t status = ucp_worker_arm(ctx->worker);

    if (status == UCS_OK) {
        return RMPI_OK;
    }
    if (status != UCS_ERR_BUSY) {
        base_log_once(BASE_LOG_WARN, "ucp_worker_arm failed: %s", ucs_status_string(status));
    }
    return RMPI_ERR_BUSY;
}

static int xport_ucx_event_fd(xport_ctx_h ctx)
{
    return ctx->ucx_efd;
}

const xport_ops_t xport_ucx_ops = {
    .name           = "ucx",
    .init           = xport_ucx_init,
    .addr_release   = xport_ucx_addr_release,
    .start          = xport_ucx_start,
    .fini           = xport_ucx_fini,
    .progress       = xport_ucx_progress,
    .arm            = xport_ucx_arm,
    .event_fd       = xport_ucx_event_fd,
    .am_send        = xport_ucx_am_send,
    .am_send_direct = xport_ucx_am_send_direct,
    .flush_batches  = xport_ucx_flush_batches,
    .am_recv_data   = xport_ucx_am_recv_data,
    .mem_register   = xport_ucx_mem_register,
    .mem_deregister = xport_ucx_mem_deregister,
    .rkey_pack      = xport_ucx_rkey_pack,
    .get            = xport_ucx_get,
    .put            = xport_ucx_put,
    .pull           = xport_ucx_pull,
    .close_all      = xport_ucx_close_all,
    .connect        = xport_ucx_connect,
};
