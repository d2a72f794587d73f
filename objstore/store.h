/*
 * objstore/store.h - the node-local object store of one rank.
 *
 * Each rank owns one store: a shared-memory arena (/dev/shm/raympi-<job id>-<rank>)
 * that holds immutable objects named by 16-byte IDs. Objects are created (a writable
 * buffer), written, then sealed; after seal they are read-only and can be read by any
 * rank on the node straight from shared memory (store_peer_attach/store_peer_get).
 * Under memory pressure the store evicts unreferenced secondary copies (LRU), spills
 * unreferenced primary copies to files, blocks creators for up to put_timeout, and only
 * then fails with RMPI_ERR_STORE_FULL. See docs/objstore.md for the design.
 *
 * Ownership: the store owns the arena, its objects and their spill files. Pointers
 * returned by store_create_object() stay valid until store_seal() (or store_delete of
 * the unsealed object); a view from store_get() stays valid until the matching
 * store_release(). A peer view from store_peer_get() points into the peer's arena and
 * is valid for as long as the peer keeps the object (the runtime's reference counting
 * guarantees that, e.g. the owner pins it while a borrower reads).
 *
 * Thread safety: MULTI. Every function may be called from any thread at once, except
 * store_destroy(), which must be the last call. One mutex guards the object table and
 * the allocator; copying, checksums and file I/O run outside it.
 */
#ifndef OBJSTORE_STORE_H_
#define OBJSTORE_STORE_H_

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** An object ID: opaque bytes to the store (the runtime encodes owner and sequence). */
typedef struct store_oid {
    uint8_t bytes[16];
} store_oid_t;

static inline bool store_oid_equal(const store_oid_t *a, const store_oid_t *b)
{
    return memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/** A 64-bit hash of the ID (well mixed, for hash tables). */
uint64_t store_oid_hash(const store_oid_t *oid);

/** Format @a oid as 32 lowercase hex digits into @a buf (at least 33 bytes). */
void store_oid_format(const store_oid_t *oid, char *buf);

typedef struct store *store_h;

/** Fields of store_params_t (bits never renumbered). */
enum {
    STORE_PARAM_ARENA_SIZE  = RMPI_BIT(0),
    STORE_PARAM_SPILL_DIR   = RMPI_BIT(1),
    STORE_PARAM_RANK        = RMPI_BIT(2),
    STORE_PARAM_JOB_ID      = RMPI_BIT(3),
    STORE_PARAM_PUT_TIMEOUT = RMPI_BIT(4),
    STORE_PARAM_SPILL       = RMPI_BIT(5),
};

/**
 * Parameters of store_create(). A field is read only when its bit is set; unset
 * fields come from the "store" config table (STORE_ARENA_SIZE, STORE_SPILL_DIR,
 * STORE_PUT_TIMEOUT, STORE_SPILL) and base (JOB_ID). Strings are copied.
 */
typedef struct store_params {
    uint64_t    field_mask;
    size_t      arena_size;  /**< bytes of shared memory, header page included */
    const char *spill_dir;   /**< folder for spill files; "" = <run dir>/spill */
    int         rank;        /**< names the arena; default 0 */
    const char *job_id;      /**< names the arena; default base_job_id() */
    double      put_timeout; /**< seconds store_create_object waits for room; 0 = never */
    bool        spill;       /**< spill primary copies under pressure */
} store_params_t;

/** Flags of store_create_object(). */
enum {
    STORE_OBJECT_SECONDARY = RMPI_BIT(0), /**< a cached copy of another rank's object */
};

/** A sealed object, as store_get() and store_peer_get() return it. */
typedef struct store_view {
    const void *ptr;    /**< the payload: read-only, 64-byte aligned */
    size_t      size;   /**< payload bytes */
    uint64_t    offset; /**< of the object in its arena (tell peers this) */
} store_view_t;

typedef struct store_stats {
    size_t   capacity;        /**< bytes the allocator manages */
    size_t   bytes_used;      /**< bytes allocated to objects (headers, rounding, slabs) */
    size_t   objects;         /**< objects known, resident or spilled */
    size_t   sealed;          /**< of which sealed */
    size_t   spilled_objects; /**< objects with a spill file now */
    size_t   spilled_bytes;   /**< payload bytes in spill files now */
    uint64_t evictions;       /**< secondary copies dropped, ever */
    uint64_t spills;          /**< spill files written, ever */
    uint64_t restores;        /**< objects read back from spill files, ever */
    uint64_t pulls;           /**< objects pulled from remote ranks (objstore/remote.h) */
    size_t   waiting;         /**< threads blocked for room now (back-pressure) */
} store_stats_t;

/**
 * Create the store: clean stale arenas of dead processes of this user, then create
 * and map the arena. RMPI_ERR_EXISTS when a live process holds the same name (same
 * job ID and rank), RMPI_ERR_IO when shared memory cannot be had, RMPI_ERR_CONFIG for
 * bad configuration.
 */
rmpi_status_t store_create(const store_params_t *params, store_h *store_p);

/** Unmap and unlink the arena, remove every spill file, detach from peers. */
void store_destroy(store_h store);

/**
 * The arena's shared-memory name ("/raympi-<job id>-<rank>"), valid until
 * store_destroy. For a signal handler that unlinks it on a fatal signal
 * (the store itself installs no handler).
 */
const char *store_shm_name(store_h store);
/** The folder of this rank's spill files ("" when spilling is off). */
const char *store_spill_folder(store_h store);

/**
 * Create object @a oid of @a size bytes (0 allowed) and return a writable, 64-byte
 * aligned buffer. The object is invisible to store_get until store_seal. May block up
 * to put_timeout for room; RMPI_ERR_STORE_FULL when there is none (immediately when
 * @a size can never fit), RMPI_ERR_EXISTS when the ID is taken, RMPI_ERR_BUSY
 * when it belongs to a deleted object that is still referenced or being spilled.
 */
rmpi_status_t store_create_object(store_h store, const store_oid_t *oid, size_t size,
                                  uint64_t flags, void **ptr_p);

/** Make @a oid immutable and visible. RMPI_ERR_INVALID_ARG if already sealed. */
rmpi_status_t store_seal(store_h store, const store_oid_t *oid);

/** create + copy + seal. */
rmpi_status_t store_put(store_h store, const store_oid_t *oid, const void *data, size_t size,
                        uint64_t flags);

/**
 * Take a reference to sealed object @a oid and describe it. A spilled object is read
 * back first, which needs room like a create (and may wait as long, then fail with
 * RMPI_ERR_STORE_FULL); RMPI_ERR_CORRUPT if its file is damaged (RMPI_ERR_OBJECT_LOST
 * if it is gone): the object is then forgotten, and only it. RMPI_ERR_NOT_FOUND when
 * absent or being deleted, RMPI_ERR_NOT_READY when not sealed yet.
 */
rmpi_status_t store_get(store_h store, const store_oid_t *oid, store_view_t *view_p);

/** Drop a reference taken by store_get. RMPI_ERR_INVALID_ARG when none is held. */
rmpi_status_t store_release(store_h store, const store_oid_t *oid);

/**
 * Delete @a oid. An unreferenced object is freed now (an unsealed one too: its writer
 * must not touch the buffer again); a referenced one disappears for store_get and
 * store_contains now and is freed at its last store_release. RMPI_ERR_BUSY when pinned
 * (unpin first), RMPI_ERR_NOT_FOUND when absent.
 */
rmpi_status_t store_delete(store_h store, const store_oid_t *oid);

/** Pin (counted): a pinned object is never evicted, spilled away or deleted. */
rmpi_status_t store_pin(store_h store, const store_oid_t *oid);
rmpi_status_t store_unpin(store_h store, const store_oid_t *oid);

/** Whether @a oid is present and sealed (resident or spilled). */
bool store_contains(store_h store, const store_oid_t *oid);

void store_stats(store_h store, store_stats_t *stats_p);

/**
 * The arena's mapping, for the transport to register (xport_mem_register) so that
 * remote ranks can RMA into and out of it. Valid until store_destroy.
 */
void store_arena_region(store_h store, void **base_p, size_t *len_p);

/**
 * Map rank @a rank's arena (same job, same node) read-only; cached, so a second call
 * is free. RMPI_ERR_NOT_FOUND when that rank has no arena here.
 */
rmpi_status_t store_peer_attach(store_h store, int rank);

/**
 * Describe object @a oid that rank @a rank said lives at @a offset with @a size bytes,
 * after checking the object header there (magic, ID, size, sealed, header checksum).
 * Attaches first if needed. Zero copies: the view points into the peer's mapping.
 * RMPI_ERR_NOT_FOUND for anything that does not check out (never a crash).
 */
rmpi_status_t store_peer_get(store_h store, int rank, const store_oid_t *oid, uint64_t offset,
                             size_t size, store_view_t *view_p);

/**
 * The read-only mapping of rank @a rank's arena (after store_peer_attach), valid until
 * store_destroy. RMPI_ERR_NOT_FOUND when not attached.
 */
rmpi_status_t store_peer_region(store_h store, int rank, const void **base_p, size_t *len_p);

#endif /* OBJSTORE_STORE_H_ */
