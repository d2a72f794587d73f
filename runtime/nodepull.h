/*
 * runtime/nodepull.h - node-level pulls: a stored object held on another
 * (logical) node crosses to this node once, however many ranks of the node
 * read it.
 *
 * For each object one rank of the reader's node is its *puller*: the live
 * rank of the node at index hash(object ID) mod (live ranks of the node), in
 * rank order. Every rank computes the same choice from the job table and the
 * transport's view of dead ranks, without a message; copies of different
 * objects spread over the node's arenas instead of filling one. A reader that
 * is the puller pulls into its own store (store_pull, which already merges
 * concurrent pulls of one ID on a rank); any other reader sends NODE_PULL and
 * waits for NODE_PULLED, then reads the puller's copy zero-copy
 * (store_peer_get). The puller keeps its copy - the *node copy* - pinned,
 * tells the object's owner (NODE_COPY), and deletes it when the owner's FREE
 * arrives, when the object dies; later readers on the node ask the puller
 * again and are answered at once, with no transfer.
 *
 * Failures: a puller that dies before answering fails its waiters' waits with
 * RMPI_ERR_PEER_DIED; they choose again among the live ranks (perhaps
 * themselves) and retry. A holder that dies fails the pull at the puller,
 * which answers RMPI_ERR_PEER_DIED, as a pull of the reader's own would. A
 * puller whose store is full answers RMPI_ERR_STORE_FULL and the reader falls
 * back to a pull into its own store (a private copy, deleted after use).
 *
 * Locking: one mutex of this module, taken after rt.lock (never rt.lock while
 * it is held) and before the store's.
 *
 * Thread safety: rt_nodepull_map blocks and is for executor and user threads,
 * never the progress thread. The AM handlers run on the progress thread and
 * never block: a NODE_PULL is queued for this module's worker thread, which
 * starts the pull (store_pull may wait for room). Other functions: any thread.
 */
#ifndef RUNTIME_NODEPULL_H_
#define RUNTIME_NODEPULL_H_

#include "objstore/store.h"
#include "runtime/rt_int.h"

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>

rmpi_status_t rt_nodepull_init(void);
/** Fail every wait with RMPI_ERR_SHUTDOWN, stop the worker; before store_remote_detach. */
void rt_nodepull_stop(void);
/** Forget the node copies (the store goes with the runtime). */
void rt_nodepull_fini(void);

/**
 * Map object @a oid that lies at host location @a loc on another node, through
 * its node copy: *kind_p is RT_MAP_LOCAL when the copy is in this rank's store
 * (store_release it), RT_MAP_PEER when it is in another rank's of the node,
 * RT_MAP_PULLED for the private fallback copy (store_release, then delete it).
 * Waits up to @a timeout seconds for the transfer.
 */
rmpi_status_t rt_nodepull_map(const store_oid_t *oid, const rt_location_t *loc, double timeout,
                              store_view_t *view_p, rt_map_kind_t *kind_p);

/** Whether this rank keeps a node copy of @a oid. */
bool rt_nodepull_kept(const store_oid_t *oid);
/** The owner freed @a oid: forget our node copy (the caller unpins and deletes it). */
void rt_nodepull_forget(const store_oid_t *oid);
/** Waits on @a rank as puller end with RMPI_ERR_PEER_DIED (they fail over). */
void rt_nodepull_rank_died(int rank);

void rt_on_node_pull(int src, const void *data, size_t len);
void rt_on_node_pulled(int src, const void *data, size_t len);
/** The owner's side of NODE_COPY (refs.c). */
void rt_on_node_copy(int src, const void *data, size_t len);

#endif /* RUNTIME_NODEPULL_H_ */
