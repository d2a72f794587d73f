/*
 * objstore/remote.h - pulling objects from the stores of ranks on other (logical) nodes.
 *
 * store_remote_attach() registers the rank's arena with the transport. Its remote key
 * (store_remote_rkey: an opaque blob holding the arena's address, length and packed
 * transport key) is what the runtime publishes; together with (rank, oid, offset,
 * size) of an object it is that object's location. store_pull() copies the object
 * from such a location into a *secondary* copy in the local arena, straight from the
 * wire (xport_pull: RMA get where the fabric has it, else a rendezvous active
 * message), checks the source's object header, and seals the copy.
 *
 * Pull dedup: while a pull of an ID is in flight, further store_pull calls for that ID
 * start no transfer; their callbacks are queued on it and run with its status.
 *
 * Ownership: rkey blobs passed in are only read during the call. The pulled copy
 * belongs to the local store like any object (store_get, store_delete, eviction).
 *
 * Thread safety: store_pull and store_pull_wait are MULTI (any thread, concurrently)
 * but may block like store_create_object while the store waits for room, so never call
 * them from a transport callback. Attach and detach are called once each, by one
 * thread, while no pull runs: attach after xport_init and store_create, detach before
 * xport_fini and store_destroy.
 */
#ifndef OBJSTORE_REMOTE_H_
#define OBJSTORE_REMOTE_H_

#include "objstore/store.h"
#include "transport/xport.h"

#include <raympi.h>
#include <stddef.h>
#include <stdint.h>

/** Completion of a pull: RMPI_OK when the copy is sealed in the local store. */
typedef void (*store_pull_cb_t)(void *arg, rmpi_status_t status);

/**
 * Register @a store's arena with @a xport for remote pulls and pack its remote key.
 * RMPI_ERR_EXISTS when already attached; transport errors as xport_mem_register.
 */
rmpi_status_t store_remote_attach(store_h store, xport_ctx_h xport);

/**
 * Wait until every pull has completed and its callbacks have returned, then deregister
 * the arena. No-op if unattached.
 */
void store_remote_detach(store_h store);

/**
 * A malloc'd copy of this rank's remote key blob for publication (free() it); peers
 * pass it to store_pull. RMPI_ERR_NOT_READY when not attached.
 */
rmpi_status_t store_remote_rkey(store_h store, void **rkey_p, size_t *len_p);

/**
 * Pull object @a oid of @a size bytes that rank @a src holds at @a offset of its arena
 * (@a rkey: @a src's blob from store_remote_rkey) into a secondary copy in this store.
 * @a flags: none defined yet, pass 0.
 *
 * Returns RMPI_ERR_INVALID_ARG (bad arguments, malformed rkey blob) or
 * RMPI_ERR_NOT_READY (not attached) without calling @a cb; otherwise RMPI_OK, and
 * @a cb runs exactly once with the outcome - on the transport's progress thread, or on
 * the calling thread before store_pull returns when the pull ends before a transfer
 * starts. Outcomes:
 *  - RMPI_OK: the copy is sealed here (also at once, without a transfer, when @a oid
 *    is already sealed in this store);
 *  - RMPI_ERR_NOT_FOUND: the location does not check out (outside the arena, or the
 *    header there is not sealed object @a oid of @a size bytes);
 *  - RMPI_ERR_PEER_DIED: @a src died before the bytes were here;
 *  - RMPI_ERR_CANCELED: the copy was deleted locally during the pull;
 *  - whatever store_create_object returns (RMPI_ERR_STORE_FULL, RMPI_ERR_EXISTS for an
 *    unsealed local object of that ID, ...) and other transport errors.
 * On failure the partial copy is deleted and one line is logged; no other object is
 * touched. Until the copy is sealed, store_get of @a oid answers RMPI_ERR_NOT_READY.
 */
rmpi_status_t store_pull(store_h store, int src, const void *rkey, size_t rkey_len,
                         const store_oid_t *oid, uint64_t offset, size_t size, uint64_t flags,
                         store_pull_cb_t cb, void *arg);

/**
 * store_pull and wait up to @a timeout seconds for its outcome. RMPI_ERR_TIMEOUT leaves
 * the pull running (it completes, or fails, on its own).
 */
rmpi_status_t store_pull_wait(store_h store, int src, const void *rkey, size_t rkey_len,
                              const store_oid_t *oid, uint64_t offset, size_t size, double timeout);

#endif /* OBJSTORE_REMOTE_H_ */
