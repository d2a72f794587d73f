/*
 * transport/bootstrap.c - who is in the job and where: gather every rank's
 * {host, UCX worker address} blob through PMIx or MPI, then derive logical
 * nodes and node-local ranks from the host names (the same on both paths).
 */
#include "transport/xport_int.h"

#include "base/log.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What each rank contributes to the exchange. */
typedef struct xport_boot_blob {
    uint64_t host;     /**< hash of the host name */
    uint32_t addr_len; /**< bytes of UCX address that follow */
    int32_t  pid;      /**< to watch same-host peers (see ucx_ep.c) */
    char     addr[];
} xport_boot_blob_t;

static uint64_t xport_host_hash(void)
{
    char host[256] = "";

    gethostname(host, sizeof(host) - 1);
    return base_hash_str(host);
}

static const xport_boot_blob_t *xport_blob_of(xport_ctx_h ctx, int rank)
{
    return (const xport_boot_blob_t *)(ctx->addrs + (size_t)rank * ctx->addr_stride);
}

/* Dense host index per rank (order of first appearance) and index within the host. */
static void xport_index_hosts(xport_ctx_h ctx, int *host_idx, int *in_host, int *host_count,
                              int *num_hosts_p)
{
    int num_hosts = 0;

    for (int r = 0; r < ctx->size; ++r) {
        int first = 0;

        while (ctx->host_of[first] != ctx->host_of[r]) {
            ++first;
        }
        host_idx[r] = (first == r) ? num_hosts++ : host_idx[first];
        in_host[r]  = host_count[host_idx[r]]++;
    }
    *num_hosts_p = num_hosts;
}

/* Logical nodes: each host, or each XPORT_NODE_SPLIT ranks of a host. */
static rmpi_status_t xport_compute_nodes(xport_ctx_h ctx)
{
    int     *host_idx = calloc((size_t)ctx->size, sizeof(int));
    int     *in_host  = calloc((size_t)ctx->size, sizeof(int));
    int     *count    = calloc((size_t)ctx->size, sizeof(int));
    int     *base     = calloc((size_t)ctx->size + 1, sizeof(int));
    int      num_hosts, split;
    unsigned k = ctx->cfg.node_split;

    ctx->node_of = calloc((size_t)ctx->size, sizeof(int));
    if (!host_idx || !in_host || !count || !base || !ctx->node_of) {
        free(host_idx), free(in_host), free(count), free(base);
        return RMPI_ERR_NO_MEMORY;
    }
    xport_index_hosts(ctx, host_idx, in_host, count, &num_hosts);
    for (int h = 0; h < num_hosts; ++h) {
        split       = k ? (count[h] + (int)k - 1) / (int)k : 1;
        base[h + 1] = base[h] + split;
    }
    for (int r = 0; r < ctx->size; ++r) {
        ctx->node_of[r] = base[host_idx[r]] + (k ? in_host[r] / (int)k : 0);
    }
    ctx->num_nodes  = base[num_hosts];
    ctx->local_rank = k ? in_host[ctx->rank] % (int)k : in_host[ctx->rank];
    free(host_idx), free(in_host), free(count), free(base);
    return RMPI_OK;
}

static rmpi_status_t xport_gather(xport_ctx_h ctx, const xport_boot_blob_t *blob, size_t len)
{
    const char *how = ctx->cfg.bootstrap;
    bool        pmix =
        strcmp(how, "pmix") == 0 || (strcmp(how, "auto") == 0 && xport_bootstrap_pmix_available());

    if (pmix) {
        return xport_bootstrap_pmix(ctx, blob, len, &ctx->addrs, &ctx->addr_stride);
    }
    if (!xport_bootstrap_mpi_available()) {
        base_error("no bootstrap: PMIx is not served by the launcher and MPI is not "
                   "initialized (XPORT_BOOTSTRAP=%s)",
                   how);
        return RMPI_ERR_NOT_READY;
    }
    return xport_bootstrap_mpi(ctx, blob, len, &ctx->addrs, &ctx->addr_stride);
}

/* Check what the other ranks sent before anything trusts it. */
static rmpi_status_t xport_check_blobs(xport_ctx_h ctx)
{
    if (ctx->addr_stride < sizeof(xport_boot_blob_t) + 1) {
        base_error("bootstrap: address blobs of %zu bytes are too short", ctx->addr_stride);
        return RMPI_ERR_MESSAGE;
    }
    ctx->host_of = calloc((size_t)ctx->size, sizeof(uint64_t));
    ctx->pid_of  = calloc((size_t)ctx->size, sizeof(int32_t));
    if (ctx->host_of == NULL || ctx->pid_of == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    for (int r = 0; r < ctx->size; ++r) {
        const xport_boot_blob_t *b = xport_blob_of(ctx, r);

        if (b->addr_len == 0 || b->addr_len > ctx->addr_stride - sizeof(*b)) {
            base_error("bootstrap: rank %d sent a bad address length %u", r, b->addr_len);
            return RMPI_ERR_MESSAGE;
        }
        ctx->host_of[r] = b->host;
        ctx->pid_of[r]  = b->pid;
    }
    return RMPI_OK;
}

rmpi_status_t xport_bootstrap(xport_ctx_h ctx, const void *addr, size_t addr_len)
{
    /* A multiple of 8, so every rank's blob in the gathered array is aligned. */
    size_t             len  = (sizeof(xport_boot_blob_t) + addr_len + 7) & ~(size_t)7;
    xport_boot_blob_t *blob = calloc(1, len);
    rmpi_status_t      status;

    if (blob == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    blob->host     = xport_host_hash();
    blob->addr_len = (uint32_t)addr_len;
    blob->pid      = (int32_t)getpid();
    memcpy(blob->addr, addr, addr_len);
    status = xport_gather(ctx, blob, len);
    free(blob);
    if (status == RMPI_OK) {
        status = xport_check_blobs(ctx);
    }
    if (status == RMPI_OK) {
        status = xport_compute_nodes(ctx);
    }
    return status;
}

const void *xport_peer_address(xport_ctx_h ctx, int rank)
{
    return xport_blob_of(ctx, rank)->addr;
}
