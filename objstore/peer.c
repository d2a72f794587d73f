/*
 * objstore/peer.c - reading the arenas of other ranks on the node, zero-copy.
 *
 * A peer's arena is mapped read-only once and kept until store_destroy, so views into
 * it never dangle because of us. Whether the object is still there is the runtime's
 * business (the owner pins what it has told others about); what we check is that the
 * bytes at the offset we were given really are that sealed object, so a stale or
 * bogus location is an error, never a crash or a wrong answer.
 */
#include "objstore/store_int.h"

#include "base/log.h"

#include <stdlib.h>

/* The mapping of @a rank, or NULL. */
static store_arena_t *store_peer_find(store_h store, int rank)
{
    store_arena_t *arena = NULL;

    pthread_mutex_lock(&store->lock);
    if ((size_t)rank < store->num_peers) {
        arena = store->peers[rank];
    }
    pthread_mutex_unlock(&store->lock);
    return arena;
}

static rmpi_status_t store_peer_grow_locked(store_h store, int rank)
{
    size_t          num = (size_t)rank + 1;
    store_arena_t **peers;

    if (num <= store->num_peers) {
        return RMPI_OK;
    }
    peers = realloc(store->peers, num * sizeof(*peers));
    if (peers == NULL) {
        base_error("store: out of memory for peer %d", rank);
        return RMPI_ERR_NO_MEMORY;
    }
    for (size_t i = store->num_peers; i < num; ++i) {
        peers[i] = NULL;
    }
    store->peers     = peers;
    store->num_peers = num;
    return RMPI_OK;
}

rmpi_status_t store_peer_attach(store_h store, int rank)
{
    store_arena_t *arena;
    rmpi_status_t  status;

    if (rank < 0) {
        base_error("store: attach to rank %d", rank);
        return RMPI_ERR_INVALID_ARG;
    }
    if (store_peer_find(store, rank) != NULL) {
        return RMPI_OK;
    }
    arena = malloc(sizeof(*arena));
    if (arena == NULL) {
        base_error("store: out of memory for peer %d", rank);
        return RMPI_ERR_NO_MEMORY;
    }
    /* shm_open and mmap with the lock dropped: they can take a while. */
    status = store_arena_open_peer(store->job_id, rank, arena);
    if (status != RMPI_OK) {
        free(arena);
        return status;
    }
    pthread_mutex_lock(&store->lock);
    status = store_peer_grow_locked(store, rank);
    if ((status == RMPI_OK) && (store->peers[rank] == NULL)) {
        store->peers[rank] = arena;
        arena              = NULL;
    }
    pthread_mutex_unlock(&store->lock);
    if (arena != NULL) { /* another thread won the race, or no memory */
        store_arena_close(arena);
        free(arena);
    }
    return status;
}

rmpi_status_t store_peer_get(store_h store, int rank, const store_oid_t *oid, uint64_t offset,
                             size_t size, store_view_t *view_p)
{
    const store_arena_t *arena;
    rmpi_status_t        status;
    const char          *hdr;

    if ((oid == NULL) || (view_p == NULL)) {
        base_error("store: store_peer_get with a null argument");
        return RMPI_ERR_INVALID_ARG;
    }
    status = store_peer_attach(store, rank);
    if (status != RMPI_OK) {
        return status;
    }
    arena = store_peer_find(store, rank);
    /* Bounds first, in an order that cannot overflow. */
    if ((offset < STORE_ARENA_HDR_SIZE) || (offset % STORE_ALLOC_ALIGN != 0) ||
        (offset > arena->size - STORE_OBJHDR_SIZE) ||
        (size > arena->size - STORE_OBJHDR_SIZE - offset)) {
        base_debug("store: rank %d has no object at %llu+%zu", rank, (unsigned long long)offset,
                   size);
        return RMPI_ERR_NOT_FOUND;
    }
    hdr = (const char *)arena->base + offset;
    if (!store_objhdr_valid((const store_objhdr_t *)hdr, oid, size)) {
        base_debug("store: rank %d: no such sealed object at offset %llu", rank,
                   (unsigned long long)offset);
        return RMPI_ERR_NOT_FOUND;
    }
    view_p->ptr    = hdr + STORE_OBJHDR_SIZE;
    view_p->size   = size;
    view_p->offset = offset;
    return RMPI_OK;
}

rmpi_status_t store_peer_region(store_h store, int rank, const void **base_p, size_t *len_p)
{
    const store_arena_t *arena = (rank >= 0) ? store_peer_find(store, rank) : NULL;

    if (arena == NULL) {
        return RMPI_ERR_NOT_FOUND;
    }
    *base_p = arena->base;
    *len_p  = arena->size;
    return RMPI_OK;
}

void store_peers_close(store_h store)
{
    for (size_t i = 0; i < store->num_peers; ++i) {
        if (store->peers[i] != NULL) {
            store_arena_close(store->peers[i]);
            free(store->peers[i]);
        }
    }
    free(store->peers);
    store->peers     = NULL;
    store->num_peers = 0;
}
