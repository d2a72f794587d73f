/*
 * transport/xport.c - the transport's public entry points: configuration,
 * context life cycle and the thread-safe submission of operations.
 */
#include "transport/xport_int.h"

#include "base/conf.h"
#include "base/log.h"
#include "base/waker.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const base_config_field_t xport_config_fields[] = {
    {"XPORT_BOOTSTRAP", "auto",
     "How ranks find each other: pmix, mpi (MPI must be initialized), or auto (PMIx when the "
     "launcher serves it, else MPI).",
     BASE_CONFIG_STRING, offsetof(xport_config_t, bootstrap)},
    {"XPORT_NODE_SPLIT", "0",
     "Split each host into logical nodes of this many ranks (tests of multi-node paths on one "
     "machine); 0 keeps one node per host.",
     BASE_CONFIG_UINT, offsetof(xport_config_t, node_split)},
    {"XPORT_EAGER_MAX", "8k",
     "Active-message payloads up to this size are copied at submission and batched; larger ones "
     "are sent from the caller's buffer (UCX rendezvous).",
     BASE_CONFIG_SIZE, offsetof(xport_config_t, eager_max)},
    {"XPORT_BATCH_MAX", "8k",
     "Largest frame of batched small messages sent as one UCX active message.", BASE_CONFIG_SIZE,
     offsetof(xport_config_t, batch_max)},
    {"XPORT_PULL", "auto",
     "How bulk pulls move data: rma (UCX get), am (the owner sends a rendezvous active "
     "message), or auto (rma unless the peer is reached over tcp only).",
     BASE_CONFIG_STRING, offsetof(xport_config_t, pull)},
    {"XPORT_SHUTDOWN_TIMEOUT", "30s",
     "How long shutdown waits for the other ranks before closing anyway.", BASE_CONFIG_TIME,
     offsetof(xport_config_t, shutdown_timeout)},
    {"XPORT_KEEPALIVE", "1s",
     "Interval of UCX keepalive checks that detect dead peers (unless UCX_KEEPALIVE_INTERVAL "
     "is set).",
     BASE_CONFIG_TIME, offsetof(xport_config_t, keepalive)},
    {"XPORT_POLL_SPIN", "20us",
     "After its last piece of work the progress thread keeps polling this long before it "
     "blocks in poll(): a message that arrives meanwhile skips a wake-up (microseconds). "
     "0 blocks at once; the spin is bounded, an idle rank always sleeps.",
     BASE_CONFIG_TIME, offsetof(xport_config_t, poll_spin)},
    {"XPORT_ERR_MODE", "auto",
     "How a dead rank is noticed: auto (UCX peer error handling for other hosts, a pidfd "
     "watch of the process for this host, where UCX's shared-memory transports have none) or "
     "peer (UCX peer error handling for this host too, where the transports allow it).",
     BASE_CONFIG_STRING, offsetof(xport_config_t, err_mode)},
    {NULL, NULL, NULL, 0, 0},
};

static base_config_table_t xport_config_table = {
    .name   = "transport",
    .fields = xport_config_fields,
    .size   = sizeof(xport_config_t),
};
BASE_CONFIG_REGISTER(xport_config_table)

static rmpi_status_t xport_check_config(const xport_config_t *cfg)
{
    static const char *const bootstraps[] = {"auto", "pmix", "mpi", NULL};
    static const char *const pulls[]      = {"auto", "rma", "am", NULL};
    bool                     ok_boot = false, ok_pull = false;

    for (int i = 0; bootstraps[i] != NULL; ++i) {
        ok_boot |= strcmp(cfg->bootstrap, bootstraps[i]) == 0;
        ok_pull |= pulls[i] != NULL && strcmp(cfg->pull, pulls[i]) == 0;
    }
    if (strcmp(cfg->err_mode, "auto") != 0 && strcmp(cfg->err_mode, "peer") != 0) {
        base_error("invalid XPORT_ERR_MODE '%s' (auto or peer)", cfg->err_mode);
        return RMPI_ERR_CONFIG;
    }
    if (!ok_boot || !ok_pull) {
        base_error("invalid XPORT_BOOTSTRAP '%s' or XPORT_PULL '%s'", cfg->bootstrap, cfg->pull);
        return RMPI_ERR_CONFIG;
    }
    if (cfg->batch_max < 256 || cfg->batch_max > (64u << 20)) {
        base_error("XPORT_BATCH_MAX %zu out of range [256, 64M]", cfg->batch_max);
        return RMPI_ERR_CONFIG;
    }
    return RMPI_OK;
}

static rmpi_status_t xport_install_handlers(xport_ctx_h ctx, const xport_params_t *params)
{
    if (!(params->field_mask & XPORT_PARAM_HANDLERS)) {
        return RMPI_OK;
    }
    for (size_t i = 0; i < params->num_handlers; ++i) {
        const xport_am_handler_def_t *def = &params->handlers[i];

        if (def->id >= ctx->num_ids) {
            base_error("handler id %u out of range (table size %u)", def->id, ctx->num_ids);
            return RMPI_ERR_INVALID_ARG;
        }
        ctx->handlers[def->id] = (xport_handler_t){def->cb, def->arg};
    }
    return RMPI_OK;
}

/* *ctx_p is set as soon as the context exists, also on failure, so xport_init can free it. */
static rmpi_status_t xport_ctx_alloc(const xport_params_t *params, xport_ctx_h *ctx_p)
{
    static const xport_params_t no_params = {0};
    xport_ctx_h                 ctx;

    if (params == NULL) {
        params = &no_params;
    }
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    ctx->ops     = &xport_ucx_ops;
    ctx->wake_fd = -1;
    ctx->ucx_efd = -1;
    ctx->num_ids = XPORT_AM_TABLE_SIZE_DEFAULT;
    if ((params->field_mask & XPORT_PARAM_AM_TABLE_SIZE) && params->am_table_size > 0) {
        ctx->num_ids = params->am_table_size;
    }
    if (params->field_mask & XPORT_PARAM_FAILURE_CB) {
        ctx->failure_cb  = params->failure_cb;
        ctx->failure_arg = params->failure_arg;
    }
    base_mpsc_init(&ctx->queue);
    base_list_init(&ctx->dirty_peers);
    base_list_init(&ctx->mems);
    pthread_mutex_init(&ctx->mems_lock, NULL);
    *ctx_p        = ctx;
    ctx->handlers = calloc(ctx->num_ids, sizeof(*ctx->handlers));
    if (ctx->handlers == NULL || ctx->num_ids > XPORT_AM_TABLE_SIZE_MAX) {
        return ctx->handlers ? RMPI_ERR_INVALID_ARG : RMPI_ERR_NO_MEMORY;
    }
    return xport_install_handlers(ctx, params);
}

static void xport_ops_release_all(xport_ctx_h ctx);

static void xport_ctx_free(xport_ctx_h ctx)
{
    xport_ops_release_all(ctx);
    base_config_release(&xport_config_table, &ctx->cfg);
    pthread_mutex_destroy(&ctx->mems_lock);
    if (ctx->wake_fd >= 0) {
        close(ctx->wake_fd);
    }
    free(ctx->handlers);
    free(ctx->fin_seen);
    free(ctx->peers);
    free((void *)ctx->dead);
    free(ctx->node_of);
    free(ctx->host_of);
    free(ctx->pid_of);
    free(ctx->watch);
    free(ctx->watch_rank);
    free(ctx->addrs);
    free(ctx);
}

static rmpi_status_t xport_parse_config(xport_ctx_h ctx, const xport_params_t *params)
{
    const char *const *cfg_params = NULL;
    size_t             num        = 0;
    rmpi_status_t      status;

    if (params != NULL && (params->field_mask & XPORT_PARAM_CONFIG)) {
        cfg_params = params->config;
        num        = params->num_config;
    }
    status = base_config_parse(&xport_config_table, &ctx->cfg, NULL, cfg_params, num);
    if (status != RMPI_OK) {
        return status;
    }
    return xport_check_config(&ctx->cfg);
}

/* Per-rank state once the size is known. */
static rmpi_status_t xport_alloc_peers(xport_ctx_h ctx)
{
    ctx->peers    = calloc((size_t)ctx->size, sizeof(*ctx->peers));
    ctx->dead     = calloc((size_t)ctx->size, sizeof(*ctx->dead));
    ctx->fin_seen = calloc((size_t)ctx->size, sizeof(*ctx->fin_seen));
    if (ctx->peers == NULL || ctx->dead == NULL || ctx->fin_seen == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    for (int i = 0; i < ctx->size; ++i) {
        ctx->peers[i].ctx  = ctx;
        ctx->peers[i].rank = i;
        base_list_init(&ctx->peers[i].inflight);
        base_list_init(&ctx->peers[i].inflight_batches);
        base_list_init(&ctx->peers[i].dirty);
    }
    return RMPI_OK;
}

rmpi_status_t xport_init(const xport_params_t *params, xport_ctx_h *ctx_p)
{
    xport_ctx_h   ctx  = NULL;
    void         *addr = NULL;
    size_t        addr_len;
    rmpi_status_t status;

    if (ctx_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    status = xport_ctx_alloc(params, &ctx);
    if (status == RMPI_OK) {
        status = xport_parse_config(ctx, params);
    }
    if (status == RMPI_OK) {
        status = ctx->ops->init(ctx, &addr, &addr_len);
    }
    if (status == RMPI_OK) {
        status = xport_bootstrap(ctx, addr, addr_len);
        ctx->ops->addr_release(ctx, addr);
    }
    if (status == RMPI_OK) {
        status = xport_alloc_peers(ctx);
    }
    if (status == RMPI_OK) {
        status = ctx->ops->start(ctx);
    }
    if (status == RMPI_OK) {
        status = xport_progress_start(ctx);
    }
    if (status != RMPI_OK) {
        if (ctx != NULL) {
            ctx->ops->fini(ctx);
            xport_ctx_free(ctx);
        }
        return status;
    }
    base_debug("transport up: rank %d of %d, node %d of %d, local rank %d", ctx->rank, ctx->size,
               ctx->node_of[ctx->rank], ctx->num_nodes, ctx->local_rank);
    *ctx_p = ctx;
    return RMPI_OK;
}

rmpi_status_t xport_fini(xport_ctx_h ctx)
{
    rmpi_status_t status;

    if (ctx == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    /* Stop the progress thread: from here this thread owns the worker. */
    xport_progress_stop(ctx);
    status = xport_shutdown_exchange(ctx);
    ctx->ops->close_all(ctx);
    ctx->ops->fini(ctx);
    xport_ctx_free(ctx);
    return status;
}

int xport_rank(xport_ctx_h ctx)
{
    return ctx->rank;
}

int xport_size(xport_ctx_h ctx)
{
    return ctx->size;
}

int xport_local_rank(xport_ctx_h ctx)
{
    return ctx->local_rank;
}

int xport_node_of(xport_ctx_h ctx, int rank)
{
    return (rank >= 0 && rank < ctx->size) ? ctx->node_of[rank] : -1;
}

int xport_num_nodes(xport_ctx_h ctx)
{
    return ctx->num_nodes;
}

bool xport_peer_dead(xport_ctx_h ctx, int rank)
{
    return rank >= 0 && rank < ctx->size && xport_is_dead(ctx, rank);
}

size_t xport_eager_max(xport_ctx_h ctx)
{
    return ctx->cfg.eager_max;
}

void xport_stats(xport_ctx_h ctx, xport_stats_t *stats)
{
    memset(stats, 0, sizeof(*stats));
    stats->am_sent      = atomic_load(&ctx->stats.am_sent);
    stats->am_received  = atomic_load(&ctx->stats.am_received);
    stats->batches_sent = atomic_load(&ctx->stats.batches_sent);
    stats->rndv_sent    = atomic_load(&ctx->stats.rndv_sent);
    stats->peers_died   = atomic_load(&ctx->stats.peers_died);
    stats->wakeups      = atomic_load(&ctx->stats.wakeups);
    for (int i = 0; i < XPORT_BAD_LAST; ++i) {
        stats->bad[i] = atomic_load(&ctx->stats.bad[i]);
    }
}

void xport_count_bad(xport_ctx_h ctx, xport_bad_reason_t reason, int src)
{
    atomic_fetch_add_explicit(&ctx->stats.bad[reason], 1, memory_order_relaxed);
    base_log_once(BASE_LOG_WARN,
                  "dropped a malformed message from rank %d: %s (counted in "
                  "stats; logged once)",
                  src, xport_bad_reason_name(reason));
}

void xport_op_complete(xport_ctx_h ctx, xport_op_t *op, rmpi_status_t status)
{
    base_list_del(&op->elem);
    xport_ucx_rkey_release(op);
    free(op->wire_hdr);
    if (op->cb != NULL) {
        op->cb(op->cb_arg, status);
    }
    xport_op_release(ctx, op);
}

/*
 * Descriptor recycling. Submitters allocate descriptors and the thread owning
 * the worker frees them; with malloc that pattern costs a free into another
 * thread's arena per message and, as the heap top is trimmed and regrown,
 * page faults (perf showed both leading the submit path of xport_am_rate).
 * Descriptors with up to XPORT_OP_RECYCLED_INLINE inline bytes are kept
 * instead: the owner gathers completed ones and, every XPORT_OP_HANDFUL, hands
 * what it has over through ctx->free_ops if the previous handover was taken
 * (past XPORT_OP_KEPT_MAX it frees them); a submitter takes a whole handover
 * into a cache of its thread. Taking all at once is ABA-free, and the memory
 * held stays bounded (XPORT_OP_KEPT_MAX per context and per thread).
 */
#define XPORT_OP_RECYCLED_INLINE 192
#define XPORT_OP_HANDFUL 64
/*
 * Gathered while the last handover is not taken yet. At least XPORT_QUEUE_MAX
 * (below), so the descriptors of a queue at its bound all come back: with 512
 * most of a busy submitter's descriptors were malloc'd and freed again.
 */
#define XPORT_OP_KEPT_MAX 4096

static __thread xport_op_t *xport_thread_ops; /* this thread's cached descriptors */
static __thread bool        xport_thread_ops_owned;
static pthread_key_t        xport_thread_ops_key;
static pthread_once_t       xport_thread_ops_once = PTHREAD_ONCE_INIT;

static void xport_ops_free_chain(xport_op_t *op)
{
    while (op != NULL) {
        xport_op_t *next = op->next_free;

        free(op);
        op = next;
    }
}

/* Thread exit: free what the thread's cache holds. */
static void xport_thread_ops_exit(void *head)
{
    xport_ops_free_chain(*(xport_op_t **)head);
    *(xport_op_t **)head = NULL;
}

static void xport_thread_ops_key_create(void)
{
    if (pthread_key_create(&xport_thread_ops_key, xport_thread_ops_exit) != 0) {
        base_log_once(BASE_LOG_WARN, "pthread_key_create failed: cached descriptors leak at "
                                     "thread exit");
    }
}

/* A descriptor of the recycled size: from this thread's cache, a handful, or malloc. */
static xport_op_t *xport_op_take(xport_ctx_h ctx)
{
    xport_op_t *op = xport_thread_ops;

    if (op == NULL && atomic_load_explicit(&ctx->free_ops, memory_order_relaxed) != NULL) {
        op = atomic_exchange_explicit(&ctx->free_ops, NULL, memory_order_acquire);
        if (op != NULL && !xport_thread_ops_owned) {
            pthread_once(&xport_thread_ops_once, xport_thread_ops_key_create);
            pthread_setspecific(xport_thread_ops_key, &xport_thread_ops);
            xport_thread_ops_owned = true;
        }
    }
    if (op == NULL) {
        return malloc(sizeof(*op) + XPORT_OP_RECYCLED_INLINE);
    }
    xport_thread_ops = op->next_free;
    return op;
}

void xport_op_release(xport_ctx_h ctx, xport_op_t *op)
{
    if (!op->recycled) {
        free(op);
        return;
    }
    op->next_free = ctx->done_ops;
    ctx->done_ops = op;
    if (++ctx->num_done_ops % XPORT_OP_HANDFUL != 0) {
        return;
    }
    /* Only this thread stores to free_ops; submitters only take it (set it NULL). */
    if (atomic_load_explicit(&ctx->free_ops, memory_order_relaxed) == NULL) {
        atomic_store_explicit(&ctx->free_ops, ctx->done_ops, memory_order_release);
    } else if (ctx->num_done_ops < XPORT_OP_KEPT_MAX) {
        return; /* not taken yet: keep gathering (a batch completes hundreds at once) */
    } else {
        xport_ops_free_chain(ctx->done_ops);
    }
    ctx->done_ops     = NULL;
    ctx->num_done_ops = 0;
}

static void xport_ops_release_all(xport_ctx_h ctx)
{
    xport_ops_free_chain(ctx->done_ops);
    xport_ops_free_chain(atomic_exchange(&ctx->free_ops, NULL));
    ctx->done_ops     = NULL;
    ctx->num_done_ops = 0;
}

/* Allocate an op with room for @a inline_len bytes kept with it. */
static xport_op_t *xport_op_alloc(xport_ctx_h ctx, xport_op_type_t type, int peer,
                                  size_t inline_len)
{
    bool        recycled = inline_len <= XPORT_OP_RECYCLED_INLINE;
    xport_op_t *op       = recycled ? xport_op_take(ctx) : malloc(sizeof(*op) + inline_len);

    if (op != NULL) {
        memset(op, 0, sizeof(*op));
        op->recycled = recycled;
        op->ctx      = ctx;
        op->type     = type;
        op->peer     = peer;
        base_list_init(&op->elem);
    }
    return op;
}

/*
 * Back-pressure. On a busy host the submitter can run for a whole time slice
 * while its progress thread waits for a core, queueing tens of thousands of
 * descriptors: they outgrow the cache and the recycled ones (so most are
 * malloc'd). Past XPORT_QUEUE_MAX queued descriptors a submitter yields its
 * core until the progress thread has drained below XPORT_QUEUE_RESUME (the
 * queue is not empty, so the progress thread is awake). The progress thread
 * itself never waits (it is the one draining), nor does anyone once
 * xport_fini began (the thread calling it drains the queue, and may be
 * running a handler that submits). On xport_am_rate (2 cores, sm) this took
 * the rate from ~7.4 to ~12.9 M msg/s, together with XPORT_OP_KEPT_MAX.
 */
#define XPORT_QUEUE_MAX 4096
#define XPORT_QUEUE_RESUME 1024
/*
 * The wait is bounded: a handler blocked on a lock this submitter holds
 * (handlers should not block, but may take a short lock) costs a delay, not a
 * deadlock.
 */
#define XPORT_THROTTLE_YIELDS 4096

/* Descriptors in the queue; with several submitters it may read low (even negative). */
static int64_t xport_queued(xport_ctx_h ctx)
{
    return (int64_t)(atomic_load_explicit(&ctx->pushed, memory_order_relaxed) -
                     atomic_load_explicit(&ctx->popped, memory_order_relaxed));
}

static void xport_submit_throttle(xport_ctx_h ctx)
{
    if (xport_queued(ctx) <= XPORT_QUEUE_MAX || xport_on_progress_thread(ctx)) {
        return;
    }
    for (unsigned i = 0; i < XPORT_THROTTLE_YIELDS && xport_queued(ctx) > XPORT_QUEUE_RESUME &&
                         !atomic_load_explicit(&ctx->stop, memory_order_relaxed);
         ++i) {
        sched_yield();
    }
}

static void xport_submit(xport_ctx_h ctx, xport_op_t *op)
{
    /*
     * An active message sent from a callback skips the queue: the progress
     * thread is the consumer anyway (replies from handlers are the common case).
     */
    if (op->type == XPORT_OP_AM && xport_on_progress_thread(ctx)) {
        ctx->ops->am_send(ctx, op);
        return;
    }
    xport_submit_throttle(ctx);
    atomic_fetch_add_explicit(&ctx->pushed, 1, memory_order_relaxed);
    base_mpsc_push(&ctx->queue, &op->qnode);
    xport_progress_wake(ctx);
}

static rmpi_status_t xport_check_peer(xport_ctx_h ctx, int rank)
{
    if (ctx == NULL || rank < 0 || rank >= ctx->size) {
        return RMPI_ERR_INVALID_ARG;
    }
    if (atomic_load_explicit(&ctx->stop, memory_order_relaxed)) {
        return RMPI_ERR_SHUTDOWN;
    }
    return xport_is_dead(ctx, rank) ? RMPI_ERR_PEER_DIED : RMPI_OK;
}

static rmpi_status_t xport_am_submit(xport_ctx_h ctx, int dst, xport_am_id_t id, const void *hdr,
                                     size_t hdr_len, const void *data, size_t len,
                                     xport_complete_cb_t cb, void *arg)
{
    bool        copy = len <= ctx->cfg.eager_max;
    xport_op_t *op;

    if (hdr_len > XPORT_WIRE_HDR_LEN_MAX || (hdr_len > 0 && hdr == NULL) ||
        (len > 0 && data == NULL)) {
        return RMPI_ERR_INVALID_ARG;
    }
    /*
     * From a callback and with no completion to report (a handler's reply, a
     * pull request): straight into the batch, no descriptor.
     */
    if (cb == NULL && xport_on_progress_thread(ctx) &&
        ctx->ops->am_send_direct(ctx, dst, id, hdr, hdr_len, data, len)) {
        return RMPI_OK;
    }
    op = xport_op_alloc(ctx, XPORT_OP_AM, dst, hdr_len + (copy ? len : 0));
    if (op == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    op->am_id   = id;
    op->cb      = cb;
    op->cb_arg  = arg;
    op->hdr     = op->inline_buf;
    op->hdr_len = hdr_len;
    op->len     = len;
    if (hdr_len > 0) {
        memcpy(op->inline_buf, hdr, hdr_len);
    }
    if (copy) {
        if (len > 0) {
            memcpy(op->inline_buf + hdr_len, data, len);
        }
        op->data = op->inline_buf + hdr_len;
    } else {
        op->data = data;
    }
    xport_submit(ctx, op);
    return RMPI_OK;
}

rmpi_status_t xport_am_send(xport_ctx_h ctx, int dst, xport_am_id_t id, const void *hdr,
                            size_t hdr_len, const void *data, size_t len, xport_complete_cb_t cb,
                            void *arg)
{
    rmpi_status_t status = xport_check_peer(ctx, dst);

    if (status != RMPI_OK) {
        return status;
    }
    if (id >= ctx->num_ids) {
        base_error("am_send: handler id %u out of range (table size %u)", id, ctx->num_ids);
        return RMPI_ERR_INVALID_ARG;
    }
    return xport_am_submit(ctx, dst, id, hdr, hdr_len, data, len, cb, arg);
}

rmpi_status_t xport_submit_internal(xport_ctx_h ctx, int dst, xport_am_id_t id, const void *hdr,
                                    size_t hdr_len, const void *data, size_t len)
{
    if (xport_is_dead(ctx, dst)) {
        return RMPI_ERR_PEER_DIED;
    }
    return xport_am_submit(ctx, dst, id, hdr, hdr_len, data, len, NULL, NULL);
}

rmpi_status_t xport_am_register(xport_ctx_h ctx, xport_am_id_t id, xport_am_handler_t cb, void *arg)
{
    xport_op_t *op;

    if (ctx == NULL || id >= ctx->num_ids) {
        return RMPI_ERR_INVALID_ARG;
    }
    op = xport_op_alloc(ctx, XPORT_OP_REGISTER, ctx->rank, 0);
    if (op == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    op->am_id       = id;
    op->handler     = cb;
    op->handler_arg = arg;
    xport_submit(ctx, op);
    return RMPI_OK;
}

void xport_deliver(xport_ctx_h ctx, int src, const xport_wire_record_t *rec,
                   xport_am_payload_t *payload)
{
    const xport_handler_t *h;

    switch (rec->am_id) {
    case XPORT_WIRE_ID_PULL_REQ:
        xport_pull_request_handler(ctx, src, rec->hdr, rec->hdr_len);
        return;
    case XPORT_WIRE_ID_PULL_REPLY:
        xport_pull_reply_handler(ctx, src, rec->hdr, rec->hdr_len, payload);
        return;
    case XPORT_WIRE_ID_FIN_REQ:
    case XPORT_WIRE_ID_FIN_ACK:
        xport_fin_handler(ctx, src, rec->am_id);
        return;
    default:
        break;
    }
    h = &ctx->handlers[rec->am_id]; /* the decoder checked the range */
    if (h->cb == NULL) {
        xport_count_bad(ctx, XPORT_BAD_NO_HANDLER, src);
        return;
    }
    xport_stat_inc(&ctx->stats.am_received);
    /* Threads the handler wakes run once it has returned, with its locks released (waker.h). */
    base_waker_defer_begin();
    h->cb(h->arg, src, rec->hdr, rec->hdr_len, payload);
    base_waker_defer_end();
}

rmpi_status_t xport_am_recv_data(xport_ctx_h ctx, xport_am_payload_t *payload, void *buf,
                                 size_t len, xport_complete_cb_t cb, void *arg)
{
    if (ctx == NULL || payload == NULL || (buf == NULL && payload->len > 0) || len < payload->len) {
        return RMPI_ERR_INVALID_ARG;
    }
    return ctx->ops->am_recv_data(ctx, payload, buf, len, cb, arg);
}

static xport_op_t *xport_rma_op(xport_ctx_h ctx, xport_op_type_t type, int rank, const void *rkey,
                                size_t rkey_len, uint64_t remote_addr, void *local, size_t len,
                                xport_complete_cb_t cb, void *arg)
{
    xport_op_t *op = xport_op_alloc(ctx, type, rank, rkey_len);

    if (op == NULL) {
        return NULL;
    }
    if (rkey_len > 0) {
        memcpy(op->inline_buf, rkey, rkey_len);
    }
    op->rkey        = op->inline_buf;
    op->rkey_len    = rkey_len;
    op->remote_addr = remote_addr;
    op->local       = local;
    op->len         = len;
    op->cb          = cb;
    op->cb_arg      = arg;
    return op;
}

static rmpi_status_t xport_rma_submit(xport_ctx_h ctx, xport_op_type_t type, int rank,
                                      const void *rkey, size_t rkey_len, uint64_t remote_addr,
                                      void *local, size_t len, xport_complete_cb_t cb, void *arg)
{
    rmpi_status_t status = xport_check_peer(ctx, rank);
    xport_op_t   *op;

    if (status != RMPI_OK) {
        return status;
    }
    if ((rkey == NULL && type != XPORT_OP_PULL) || (local == NULL && len > 0)) {
        return RMPI_ERR_INVALID_ARG;
    }
    op = xport_rma_op(ctx, type, rank, rkey, rkey ? rkey_len : 0, remote_addr, local, len, cb, arg);
    if (op == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    xport_submit(ctx, op);
    return RMPI_OK;
}

rmpi_status_t xport_get(xport_ctx_h ctx, int rank, const void *rkey, size_t rkey_len,
                        uint64_t remote_addr, void *local, size_t len, xport_complete_cb_t cb,
                        void *arg)
{
    return xport_rma_submit(ctx, XPORT_OP_GET, rank, rkey, rkey_len, remote_addr, local, len, cb,
                            arg);
}

rmpi_status_t xport_put(xport_ctx_h ctx, int rank, const void *rkey, size_t rkey_len,
                        uint64_t remote_addr, const void *local, size_t len, xport_complete_cb_t cb,
                        void *arg)
{
    return xport_rma_submit(ctx, XPORT_OP_PUT, rank, rkey, rkey_len, remote_addr, (void *)local,
                            len, cb, arg);
}

rmpi_status_t xport_pull(xport_ctx_h ctx, int rank, const void *rkey, size_t rkey_len,
                         uint64_t remote_addr, void *local, size_t len, xport_complete_cb_t cb,
                         void *arg)
{
    return xport_rma_submit(ctx, XPORT_OP_PULL, rank, rkey, rkey_len, remote_addr, local, len, cb,
                            arg);
}

rmpi_status_t xport_mem_register(xport_ctx_h ctx, void *addr, size_t len, xport_mem_h *mem_p)
{
    xport_mem_h   mem;
    rmpi_status_t status;

    if (ctx == NULL || addr == NULL || len == 0 || mem_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    mem = calloc(1, sizeof(*mem));
    if (mem == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    mem->addr = addr;
    mem->len  = len;
    status    = ctx->ops->mem_register(ctx, addr, len, mem);
    if (status != RMPI_OK) {
        free(mem);
        return status;
    }
    pthread_mutex_lock(&ctx->mems_lock);
    base_list_add_tail(&ctx->mems, &mem->elem);
    pthread_mutex_unlock(&ctx->mems_lock);
    *mem_p = mem;
    return RMPI_OK;
}

rmpi_status_t xport_mem_deregister(xport_ctx_h ctx, xport_mem_h mem)
{
    if (ctx == NULL || mem == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&ctx->mems_lock);
    base_list_del(&mem->elem);
    pthread_mutex_unlock(&ctx->mems_lock);
    ctx->ops->mem_deregister(ctx, mem);
    free(mem);
    return RMPI_OK;
}

rmpi_status_t xport_rkey_pack(xport_ctx_h ctx, xport_mem_h mem, void **rkey_p, size_t *len_p)
{
    if (ctx == NULL || mem == NULL || rkey_p == NULL || len_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    return ctx->ops->rkey_pack(ctx, mem, rkey_p, len_p);
}
