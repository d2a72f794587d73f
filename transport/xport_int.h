/*
 * transport/xport_int.h - what the transport's files share; not for other layers.
 *
 * The generic part (xport.c, progress.c, shutdown.c, bootstrap*.c) queues
 * operations and runs the progress thread; a backend (the UCX one in
 * ucx_*.c) implements struct xport_ops, the model being PaRSEC's comm
 * engine. Every ops function except the memory ones runs on the progress
 * thread, which alone touches the UCX worker, peers, batches and pulls.
 */
#ifndef TRANSPORT_XPORT_INT_H_
#define TRANSPORT_XPORT_INT_H_

#include "base/hash.h"
#include "base/list.h"
#include "base/mpsc.h"
#include "transport/wire.h"
#include "transport/xport.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <ucp/api/ucp.h>

typedef struct xport_config {
    char    *bootstrap;        /**< auto | pmix | mpi */
    unsigned node_split;       /**< ranks per logical node, 0 = one node per host */
    size_t   eager_max;        /**< payloads up to this are copied at submission */
    size_t   batch_max;        /**< bytes of one batched frame */
    char    *pull;             /**< auto | rma | am */
    double   shutdown_timeout; /**< seconds xport_fini waits for other ranks */
    double   keepalive;        /**< seconds between UCX keepalive rounds */
    double   poll_spin;        /**< seconds to keep polling after the last work */
    char    *err_mode;         /**< auto | peer: how failures of same-host peers are seen */
} xport_config_t;

typedef enum xport_op_type {
    XPORT_OP_AM,
    XPORT_OP_GET,
    XPORT_OP_PUT,
    XPORT_OP_PULL,
    XPORT_OP_REGISTER,
} xport_op_type_t;

/** One queued operation; allocated by the submitter, freed on the progress thread. */
typedef struct xport_op {
    base_mpsc_node_t    qnode;
    base_list_t         elem;  /**< in a batch, or in a peer's in-flight list */
    base_hash_node_t    hnode; /**< pulls by id */
    struct xport_ctx   *ctx;
    xport_op_type_t     type;
    int                 peer;
    xport_am_id_t       am_id;
    xport_complete_cb_t cb;
    void               *cb_arg;
    const void         *hdr; /**< points into inline_buf */
    size_t              hdr_len;
    const void         *data; /**< inline_buf or the caller's memory */
    size_t              len;
    void               *local; /**< get/pull destination */
    uint64_t            remote_addr;
    void               *wire_hdr; /**< header of a LARGE message, until completion */
    const void         *rkey;     /**< points into inline_buf */
    size_t              rkey_len;
    uint64_t            pull_id;
    ucp_rkey_h          rkey_h;
    struct xport_rkey  *rkey_entry; /**< the cached key rkey_h came from (ucx_rma.c), or NULL */
    bool                detached;   /**< failed early; its UCX request no longer counted */
    bool                recycled;   /**< of the recycled size (xport.c), else plain malloc */
    struct xport_op    *next_free;  /**< in a cache of recycled descriptors */
    xport_am_handler_t  handler;
    void               *handler_arg;
    char                inline_buf[];
} xport_op_t;

typedef struct xport_peer {
    struct xport_ctx   *ctx;
    int                 rank;
    ucp_ep_h            ep;
    void               *close_req; /**< a forced close in flight after a failure */
    bool                peer_mode; /**< UCX reports this endpoint's failures itself */
    base_list_t         inflight;  /**< ops with a UCX request pending */
    base_list_t         inflight_batches;
    struct xport_batch *batch; /**< frame being filled, NULL when none */
    base_list_t         dirty; /**< in ctx->dirty_peers while it has a batch */
    struct xport_rkey  *rkeys; /**< its unpacked remote keys, most recently used first */
} xport_peer_t;

/** A frame of small messages to one rank and the operations it carries. */
typedef struct xport_batch {
    struct xport_ctx   *ctx;
    int                 rank;
    size_t              len;
    base_list_t         ops;
    base_list_t         inflight;  /**< in the peer's list while UCX sends it */
    struct xport_batch *next_free; /**< in ctx->free_batches */
    bool                detached;  /**< failed early (see xport_op_t) */
    char                frame[];
} xport_batch_t;

typedef struct xport_handler {
    xport_am_handler_t cb;
    void              *arg;
} xport_handler_t;

struct xport_mem {
    ucp_mem_h   memh;
    char       *addr;
    size_t      len;
    base_list_t elem; /**< in ctx->mems */
};

struct xport_ops;

struct xport_ctx {
    const struct xport_ops *ops;
    xport_config_t          cfg;

    /* Job layout from the bootstrap; read-only after init. */
    int       rank;
    int       size;
    int       local_rank;
    int       num_nodes;
    int      *node_of; /**< logical node per rank */
    uint64_t *host_of; /**< hash of the host name per rank */
    int32_t  *pid_of;  /**< process id per rank (meaningful on the same host) */
    char     *addrs;   /**< worker addresses, addr_stride apart */
    size_t    addr_stride;
    bool      pull_rma_local;  /**< RMA pulls from ranks of this host */
    bool      pull_rma_remote; /**< RMA pulls from other hosts */

    /* UCX backend state (ucx_*.c). */
    ucp_context_h ucp;
    ucp_worker_h  worker;
    int           ucx_efd;

    /*
     * Same-host peers whose endpoints have no UCX failure detection (UCX
     * 1.13's shared-memory transports lack it) are watched through pidfds,
     * polled with the event fds (progress thread).
     */
    struct pollfd *watch;
    int           *watch_rank;
    int            num_watch;
    uint64_t       watch_last_ns;

    /* Submission and wake-up. */
    base_mpsc_t queue;
    char        pad_queue_[64]; /* submitters read `sleeping`; the consumer writes the queue tail */
    atomic_int  sleeping;       /**< the progress thread is (about to be) in poll */
    char        pad_sleeping_[64];

    /*
     * Descriptors pushed (submitters) and popped (the consumer, stored once
     * per drain): their difference bounds the queue (xport.c, back-pressure).
     */
    atomic_uint_fast64_t pushed;
    char                 pad_pushed_[64];
    atomic_uint_fast64_t popped;

    int         wake_fd; /**< eventfd */
    atomic_bool stop;
    pthread_t   thread;
    bool        thread_started;
    unsigned    outstanding; /**< UCX requests in flight (progress thread) */
    unsigned    passes;      /**< progress passes so far (progress thread) */

    /*
     * Recycled descriptors (xport.c): the thread owning the worker gathers
     * completed ones in done_ops and hands a handful over through free_ops,
     * which a submitter takes whole.
     */
    _Atomic(xport_op_t *) free_ops;
    xport_op_t           *done_ops;
    unsigned              num_done_ops;

    /* Progress-thread state. */
    xport_peer_t       *peers;
    base_list_t         dirty_peers;
    struct xport_batch *free_batches; /**< a few frames kept for reuse */
    unsigned            num_free_batches;
    xport_handler_t    *handlers;
    uint32_t            num_ids;
    base_hash_t         pulls; /**< pending AM pulls by id */
    uint64_t            next_pull_id;
    bool               *fin_seen; /**< FIN_REQ received per rank (coordinator) */
    bool                fin_started;
    bool                fin_acked;

    atomic_uchar      *dead; /**< per rank, read by submitters */
    xport_failure_cb_t failure_cb;
    void              *failure_arg;

    /* Registered memory, for validating AM pulls; any thread. */
    pthread_mutex_t mems_lock;
    base_list_t     mems;

    struct {
        atomic_uint_fast64_t am_sent, am_received, batches_sent, rndv_sent;
        atomic_uint_fast64_t bad[XPORT_BAD_LAST], peers_died, wakeups;
    } stats;
};

/** The backend interface. */
typedef struct xport_ops {
    const char *name;
    /** Create the context and worker; fill *addr_p and *len_p (release with addr_release). */
    rmpi_status_t (*init)(xport_ctx_h ctx, void **addr_p, size_t *len_p);
    void (*addr_release)(xport_ctx_h ctx, void *addr);
    /** Start receiving (after the bootstrap set rank, size and addresses). */
    rmpi_status_t (*start)(xport_ctx_h ctx);
    void (*fini)(xport_ctx_h ctx);
    unsigned (*progress)(xport_ctx_h ctx);
    /** RMPI_OK: armed, safe to sleep on event_fd; RMPI_ERR_BUSY: progress again. */
    rmpi_status_t (*arm)(xport_ctx_h ctx);
    int (*event_fd)(xport_ctx_h ctx);
    void (*am_send)(xport_ctx_h ctx, xport_op_t *op);
    /**
     * Batch a message that needs no completion, without a descriptor (progress
     * thread); false: not done, send it through am_send.
     */
    bool (*am_send_direct)(xport_ctx_h ctx, int dst, xport_am_id_t id, const void *hdr,
                           size_t hdr_len, const void *data, size_t len);
    /** Hand every non-empty batch to the network; returns how many. */
    unsigned (*flush_batches)(xport_ctx_h ctx);
    rmpi_status_t (*am_recv_data)(xport_ctx_h ctx, xport_am_payload_t *payload, void *buf,
                                  size_t len, xport_complete_cb_t cb, void *arg);
    rmpi_status_t (*mem_register)(xport_ctx_h ctx, void *addr, size_t len, xport_mem_h mem);
    void (*mem_deregister)(xport_ctx_h ctx, xport_mem_h mem);
    rmpi_status_t (*rkey_pack)(xport_ctx_h ctx, xport_mem_h mem, void **rkey_p, size_t *len_p);
    void (*get)(xport_ctx_h ctx, xport_op_t *op);
    void (*put)(xport_ctx_h ctx, xport_op_t *op);
    void (*pull)(xport_ctx_h ctx, xport_op_t *op);
    /** Flush and close every endpoint (progressing until done or timeout). */
    void (*close_all)(xport_ctx_h ctx);
    /** Start connecting to @a rank (so its death can be noticed). */
    void (*connect)(xport_ctx_h ctx, int rank);
} xport_ops_t;

extern const xport_ops_t xport_ucx_ops;

/* xport.c */
void          xport_op_complete(xport_ctx_h ctx, xport_op_t *op, rmpi_status_t status);
void          xport_op_release(xport_ctx_h ctx, xport_op_t *op); /* free or recycle (owner) */
void          xport_count_bad(xport_ctx_h ctx, xport_bad_reason_t reason, int src);
void          xport_deliver(xport_ctx_h ctx, int src, const xport_wire_record_t *rec,
                            xport_am_payload_t *payload);
rmpi_status_t xport_submit_internal(xport_ctx_h ctx, int dst, xport_am_id_t id, const void *hdr,
                                    size_t hdr_len, const void *data, size_t len);

/* progress.c */
rmpi_status_t xport_progress_start(xport_ctx_h ctx);
void          xport_progress_stop(xport_ctx_h ctx);
void          xport_progress_wake(xport_ctx_h ctx);
/** Whether the caller is @a ctx's progress thread. */
bool xport_on_progress_thread(xport_ctx_h ctx);
/** One pass: progress, drain the queue, flush batches (progress thread only). */
void xport_progress_once(xport_ctx_h ctx);
/** Progress until *@a done or @a timeout seconds pass (progress thread only). */
bool xport_progress_until(xport_ctx_h ctx, const bool *done, double timeout);

/* bootstrap*.c: fill rank, size and the gathered blobs (ctx->addrs etc.). */
rmpi_status_t xport_bootstrap(xport_ctx_h ctx, const void *addr, size_t addr_len);
rmpi_status_t xport_bootstrap_pmix(xport_ctx_h ctx, const void *blob, size_t len, char **all_p,
                                   size_t *stride_p);
rmpi_status_t xport_bootstrap_mpi(xport_ctx_h ctx, const void *blob, size_t len, char **all_p,
                                  size_t *stride_p);
bool          xport_bootstrap_pmix_available(void);
bool          xport_bootstrap_mpi_available(void);
/** The UCX worker address of @a rank. */
const void *xport_peer_address(xport_ctx_h ctx, int rank);

/* The UCX backend's ops (ucx_*.c). */
void          xport_ucx_am_send(xport_ctx_h ctx, xport_op_t *op);
bool          xport_ucx_am_send_direct(xport_ctx_h ctx, int dst, xport_am_id_t id, const void *hdr,
                                       size_t hdr_len, const void *data, size_t len);
unsigned      xport_ucx_flush_batches(xport_ctx_h ctx);
rmpi_status_t xport_ucx_am_recv_data(xport_ctx_h ctx, xport_am_payload_t *payload, void *buf,
                                     size_t len, xport_complete_cb_t cb, void *arg);
rmpi_status_t xport_ucx_mem_register(xport_ctx_h ctx, void *addr, size_t len, xport_mem_h mem);
void          xport_ucx_mem_deregister(xport_ctx_h ctx, xport_mem_h mem);
rmpi_status_t xport_ucx_rkey_pack(xport_ctx_h ctx, xport_mem_h mem, void **rkey_p, size_t *len_p);
void          xport_ucx_get(xport_ctx_h ctx, xport_op_t *op);
void          xport_ucx_put(xport_ctx_h ctx, xport_op_t *op);
void          xport_ucx_pull(xport_ctx_h ctx, xport_op_t *op);
void          xport_ucx_close_all(xport_ctx_h ctx);
void          xport_ucx_connect(xport_ctx_h ctx, int rank);

/* ucx_ep.c, used across the UCX files */
ucp_ep_h xport_ucx_ep(xport_ctx_h ctx, int rank);
/** Note that @a elem (an op's or batch's) waits for a UCX request to @a rank. */
void xport_inflight_add(xport_ctx_h ctx, int rank, base_list_t *elem);
/** Handle readable pidfds after poll (progress thread). */
void          xport_watch_check(xport_ctx_h ctx);
void          xport_peer_failed(xport_ctx_h ctx, int rank, rmpi_status_t reason);
rmpi_status_t xport_ucx_status(ucs_status_t status);

/* ucx_am.c */
void          xport_ucx_batch_fail(xport_ctx_h ctx, int rank, rmpi_status_t status);
rmpi_status_t xport_ucx_am_start(xport_ctx_h ctx);
void          xport_ucx_batches_release(xport_ctx_h ctx);

/* ucx_rma.c */
/** Fail pending pulls from @a rank (-1: all of them). */
void xport_ucx_pull_fail_peer(xport_ctx_h ctx, int rank, rmpi_status_t status);
/** An op is done with its remote key: give a cached one back, destroy another. */
void xport_ucx_rkey_release(xport_op_t *op);
/** Destroy the cached remote keys of @a rank (-1: every rank), before endpoints close. */
void          xport_ucx_rkeys_purge(xport_ctx_h ctx, int rank);
rmpi_status_t xport_ucx_rma_start(xport_ctx_h ctx);
void          xport_ucx_rma_stop(xport_ctx_h ctx);
void          xport_pull_request_handler(xport_ctx_h ctx, int src, const void *hdr, size_t hdr_len);
void          xport_pull_reply_handler(xport_ctx_h ctx, int src, const void *hdr, size_t hdr_len,
                                       xport_am_payload_t *payload);

/* shutdown.c */
rmpi_status_t xport_shutdown_exchange(xport_ctx_h ctx);
void          xport_fin_handler(xport_ctx_h ctx, int src, xport_am_id_t id);

/*
 * Count one on a statistic that only the thread owning the worker writes: a
 * plain add (no locked instruction on the message path); readers load it
 * atomically.
 */
static inline void xport_stat_inc(atomic_uint_fast64_t *stat)
{
    atomic_store_explicit(stat, atomic_load_explicit(stat, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static inline bool xport_is_dead(xport_ctx_h ctx, int rank)
{
    return atomic_load_explicit(&ctx->dead[rank], memory_order_acquire) != 0;
}

#endif /* TRANSPORT_XPORT_INT_H_ */
