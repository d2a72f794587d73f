/*
 * transport/xport.h - rank-to-rank messaging and RMA for ray-mpi.
 *
 * One xport context per process. xport_init() bootstraps (PMIx when the
 * launcher serves it, else MPI_Allgather), exchanges UCX worker addresses and
 * starts one progress thread that owns the UCX worker. Endpoints are created
 * lazily on the first operation towards a rank.
 *
 * Threading:
 *  - Every function here may be called from any thread, except xport_init()
 *    and xport_fini(), which the process calls once each from one thread.
 *  - Operations are queued (lock-free) to the progress thread, which wakes up
 *    from an eventfd; a call returns as soon as the operation is queued.
 *  - Every callback (active-message handlers, completion callbacks, the
 *    failure callback) runs on the progress thread. A callback must not
 *    block; it may start new operations (they are queued behind the current
 *    pass) and may call xport_am_recv_data() on the payload it was given.
 *
 * Ownership: headers and eager payloads passed to xport_am_send() are copied
 * when the call returns, except a payload larger than XPORT_EAGER_MAX, which
 * the caller keeps valid until its completion callback. Buffers passed to
 * get/put/pull stay the caller's and must stay valid until completion.
 *
 * Failures: an operation towards a rank that died completes with
 * RMPI_ERR_PEER_DIED (never hangs); operations started after the death is
 * known fail at once with the same code. See docs/transport.md.
 */
#ifndef TRANSPORT_XPORT_H_
#define TRANSPORT_XPORT_H_

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct xport_ctx *xport_ctx_h;
typedef struct xport_mem *xport_mem_h;

/** Active-message handler ID: [0, am_table_size). */
typedef uint16_t xport_am_id_t;

/** Default and largest number of user handler IDs. */
#define XPORT_AM_TABLE_SIZE_DEFAULT 256
#define XPORT_AM_TABLE_SIZE_MAX 0xff00

/**
 * The payload of a received active message. When @a data is non-NULL the
 * bytes are in memory and valid until the handler returns. When it is NULL
 * the payload is still at the sender (rendezvous): the handler receives it
 * into memory of its choice with xport_am_recv_data() before returning, or
 * it is dropped.
 */
typedef struct xport_am_payload {
    const void *data; /**< NULL for a rendezvous payload */
    size_t      len;
    void       *desc_; /**< private */
} xport_am_payload_t;

/**
 * An active-message handler. @a hdr (not aligned, possibly NULL when
 * @a hdr_len is 0) is valid until return. Runs on the progress thread.
 */
typedef void (*xport_am_handler_t)(void *arg, int src, const void *hdr, size_t hdr_len,
                                   xport_am_payload_t *payload);

/** Completion of an operation: RMPI_OK, RMPI_ERR_PEER_DIED, ... Runs on the progress thread. */
typedef void (*xport_complete_cb_t)(void *arg, rmpi_status_t status);

/** A rank died (detected once per rank). Runs on the progress thread. */
typedef void (*xport_failure_cb_t)(void *arg, int rank, rmpi_status_t reason);

typedef struct xport_am_handler_def {
    xport_am_id_t      id;
    xport_am_handler_t cb;
    void              *arg;
} xport_am_handler_def_t;

enum {
    XPORT_PARAM_AM_TABLE_SIZE = RMPI_BIT(0),
    XPORT_PARAM_HANDLERS      = RMPI_BIT(1),
    XPORT_PARAM_FAILURE_CB    = RMPI_BIT(2),
    XPORT_PARAM_CONFIG        = RMPI_BIT(3),
};

typedef struct xport_params {
    uint64_t field_mask;
    uint16_t am_table_size; /**< default XPORT_AM_TABLE_SIZE_DEFAULT */
    /** Handlers installed before the bootstrap barrier, so no early message is lost. */
    const xport_am_handler_def_t *handlers;
    size_t                        num_handlers;
    xport_failure_cb_t            failure_cb;
    void                         *failure_arg;
    /** "KEY=value" overrides of the transport config table (after the environment). */
    const char *const *config;
    size_t             num_config;
} xport_params_t;

/** Counters (monotonic since init). */
typedef enum xport_bad_reason {
    XPORT_BAD_TRUNCATED,  /**< shorter than a header says */
    XPORT_BAD_MAGIC,      /**< magic or version mismatch */
    XPORT_BAD_LENGTH,     /**< lengths that overflow or disagree */
    XPORT_BAD_HANDLER,    /**< handler ID out of range */
    XPORT_BAD_RANK,       /**< source rank outside the job */
    XPORT_BAD_EMPTY,      /**< a frame with no records */
    XPORT_BAD_TRAILING,   /**< bytes after the last record */
    XPORT_BAD_NO_HANDLER, /**< valid ID but nothing registered */
    XPORT_BAD_REQUEST,    /**< a pull request outside registered memory, unknown reply */
    XPORT_BAD_LAST
} xport_bad_reason_t;

typedef struct xport_stats {
    uint64_t am_sent;      /**< user active messages handed to UCX */
    uint64_t am_received;  /**< user active messages delivered to handlers */
    uint64_t batches_sent; /**< UCX messages carrying batched frames */
    uint64_t rndv_sent;    /**< active messages sent outside batches */
    uint64_t bad[XPORT_BAD_LAST];
    uint64_t peers_died;
    uint64_t wakeups; /**< progress-thread returns from poll() */
} xport_stats_t;

/**
 * Bootstrap, exchange worker addresses (collective over all ranks) and start
 * the progress thread. If MPI is used for bootstrap it must already be
 * initialized (MPI_THREAD_MULTIPLE). @a params may be NULL.
 */
rmpi_status_t xport_init(const xport_params_t *params, xport_ctx_h *ctx_p);

/**
 * Collective clean shutdown over active messages (no MPI needed): wait until
 * every live rank has reached it, flush and close endpoints, stop the
 * progress thread, free everything. Ranks known dead are skipped; a rank that
 * dies during shutdown makes it return RMPI_ERR_PEER_DIED after cleaning up.
 * Pending operations complete with RMPI_ERR_SHUTDOWN.
 */
rmpi_status_t xport_fini(xport_ctx_h ctx);

int xport_rank(xport_ctx_h ctx);
int xport_size(xport_ctx_h ctx);
/** This rank's index among the ranks of its (logical) node. */
int xport_local_rank(xport_ctx_h ctx);
/** Logical node of @a rank (dense from 0); XPORT_NODE_SPLIT splits hosts. */
int xport_node_of(xport_ctx_h ctx, int rank);
int xport_num_nodes(xport_ctx_h ctx);
/** Whether @a rank is known dead. */
bool xport_peer_dead(xport_ctx_h ctx, int rank);
void xport_stats(xport_ctx_h ctx, xport_stats_t *stats);
/** Payloads up to this many bytes are copied by xport_am_send (XPORT_EAGER_MAX). */
size_t xport_eager_max(xport_ctx_h ctx);

/**
 * Install @a cb for @a id (replacing any previous one; NULL removes it). It
 * takes effect on the progress thread before any operation this thread
 * queues afterwards. Messages for an ID with no handler are counted and dropped.
 */
rmpi_status_t xport_am_register(xport_ctx_h ctx, xport_am_id_t id, xport_am_handler_t cb,
                                void *arg);

/**
 * Send an active message to @a dst (may be the caller's own rank). Small
 * messages are batched per destination per progress pass. @a cb (may be
 * NULL) runs when the send buffer is reusable or the send failed.
 * Returns RMPI_ERR_PEER_DIED at once when @a dst is known dead.
 */
rmpi_status_t xport_am_send(xport_ctx_h ctx, int dst, xport_am_id_t id, const void *hdr,
                            size_t hdr_len, const void *data, size_t len, xport_complete_cb_t cb,
                            void *arg);

/**
 * Inside a handler only: receive @a payload into @a buf (at least
 * payload->len bytes). @a cb runs when the data is in @a buf, possibly before
 * this returns (eager payloads are copied at once).
 */
rmpi_status_t xport_am_recv_data(xport_ctx_h ctx, xport_am_payload_t *payload, void *buf,
                                 size_t len, xport_complete_cb_t cb, void *arg);

/** Register [@a addr, @a addr + @a len) for RMA and pulls by other ranks. */
rmpi_status_t xport_mem_register(xport_ctx_h ctx, void *addr, size_t len, xport_mem_h *mem_p);
/** Deregister; no operation on the memory may be in flight. */
rmpi_status_t xport_mem_deregister(xport_ctx_h ctx, xport_mem_h mem);

/**
 * Pack the remote key of @a mem into a malloc'd buffer for other ranks (the
 * caller owns it; free() it). Remote ranks pass it to get/put/pull.
 */
rmpi_status_t xport_rkey_pack(xport_ctx_h ctx, xport_mem_h mem, void **rkey_p, size_t *len_p);

/** RMA read of @a len bytes at @a remote_addr on @a rank into @a local. */
rmpi_status_t xport_get(xport_ctx_h ctx, int rank, const void *rkey, size_t rkey_len,
                        uint64_t remote_addr, void *local, size_t len, xport_complete_cb_t cb,
                        void *arg);

/** RMA write; @a cb runs on remote completion (after a flush of the endpoint). */
rmpi_status_t xport_put(xport_ctx_h ctx, int rank, const void *rkey, size_t rkey_len,
                        uint64_t remote_addr, const void *local, size_t len, xport_complete_cb_t cb,
                        void *arg);

/**
 * Fetch registered remote memory by the fastest path for the peer: RMA get on
 * shared memory and RDMA, a rendezvous active message (the owner sends the
 * bytes, validated against its registrations) over TCP. XPORT_PULL selects.
 */
rmpi_status_t xport_pull(xport_ctx_h ctx, int rank, const void *rkey, size_t rkey_len,
                         uint64_t remote_addr, void *local, size_t len, xport_complete_cb_t cb,
                         void *arg);

#endif /* TRANSPORT_XPORT_H_ */
