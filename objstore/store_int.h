/*
 * objstore/store_int.h - the store's private state, shared by store.c (the object
 * table and API), pressure.c (eviction, spilling, restore, waiting for room), peer.c
 * (mapping other ranks' arenas) and config.c (the "store" config table).
 *
 * Locking: everything below `lock` is guarded by it, except what is marked otherwise.
 * Functions named *_locked expect it held; some drop and retake it (said so).
 */
#ifndef OBJSTORE_STORE_INT_H_
#define OBJSTORE_STORE_INT_H_

#include "objstore/alloc.h"
#include "objstore/arena.h"
#include "objstore/objhdr.h"
#include "objstore/spill.h"
#include "objstore/store.h"

#include "base/conf.h"
#include "base/hash.h"
#include "base/list.h"
#include "base/mpool.h"

#include <pthread.h>
#include <stdbool.h>

#define STORE_JOB_ID_MAX 200

/** Options of the "store" config table (strings owned: base_config_release). */
typedef struct store_options {
    size_t arena_size;  /**< STORE_ARENA_SIZE */
    char  *spill_dir;   /**< STORE_SPILL_DIR: "" = <run dir>/spill */
    double put_timeout; /**< STORE_PUT_TIMEOUT, seconds */
    bool   spill;       /**< STORE_SPILL */
} store_options_t;

extern base_config_table_t store_options_table;

/* One object known to the store. */
typedef struct store_obj {
    base_hash_node_t hnode; /* in store->objects, keyed by oid */
    base_list_t      lru;   /* in an LRU list while evictable, else self-linked */
    store_oid_t      oid;
    uint64_t         size;  /* payload bytes */
    store_block_t    block; /* arena range while resident */
    uint32_t         refs;  /* store_get references */
    uint32_t         pins;
    uint32_t         flags;     /* STORE_OBJECT_* */
    bool             has_block; /* block is valid (resident, or being written/restored) */
    bool             sealed;
    bool             spilled;    /* a valid spill file exists */
    bool             spilling;   /* a thread is writing its spill file, lock dropped */
    bool             restoring;  /* a thread is reading it back, lock dropped */
    bool             allocating; /* its creator waits for room, lock dropped */
    bool             pulling;    /* a remote pull writes its payload (remote.c) */
    bool             deleting;   /* deleted while busy: free when the last user is done */
} store_obj_t;

struct store {
    pthread_mutex_t lock;
    pthread_cond_t  room_cond;    /* room freed, or a spill/restore finished (CLOCK_MONOTONIC) */
    unsigned        waiters;      /* threads in room_cond waits: skip broadcasts when 0 */
    unsigned        room_waiters; /* of which wait for room (store_stats.waiting) */

    store_arena_t  arena; /* immutable after create */
    store_alloc_t *alloc;
    base_hash_t    objects;
    base_mpool_t  *obj_pool;
    base_list_t    lru_secondary; /* sealed, resident, unreferenced, unpinned; LRU first */
    base_list_t    lru_primary;
    unsigned       spills_in_flight;

    char   job_id[STORE_JOB_ID_MAX]; /* immutable after create */
    int    rank;
    char   spill_dir[STORE_SPILL_PATH_MAX];
    bool   spill_dir_default; /* under <run dir>/spill, which the last rank out removes */
    bool   spill;       /* cleared when a spill write fails */
    double put_timeout; /* immutable after create */

    store_stats_t stats; /* counters; gauges are computed in store_stats */
    size_t        sealed_count;

    store_arena_t **peers; /* by rank, NULL where not attached */
    size_t          num_peers;

    struct store_remote *remote; /* remote.c; set by store_remote_attach, not locked */
};

/*
 * Internal flag of store_create_object (never stored in obj->flags): the object is
 * the target of a remote pull and stays busy (undeletable memory) until
 * store_pull_finish, because the transport writes into it with the lock dropped.
 */
#define STORE_OBJECT_PULL_TARGET RMPI_BIT(62)

/** A thread works on @a obj with the lock dropped: it must not be freed under it. */
static inline bool store_obj_busy(const store_obj_t *obj)
{
    return obj->spilling || obj->restoring || obj->allocating || obj->pulling;
}

/*
 * Payloads of objects of 1 MiB and more start on a page boundary. glibc's memcpy of a
 * large buffer (its non-temporal path) is about 3x slower when the destination lies
 * 16..255 bytes past the source modulo 4 KiB, which is exactly where a payload 64 bytes
 * into a page lands when copied from a malloc'ed (page + 16) or page-aligned buffer
 * (measured here: 4.2 against 14.5 GB/s for 800 MB). Pages also suit RDMA and
 * O_DIRECT. The cost is at most 4 KiB per such object (under 0.4%).
 */
#define STORE_PAGE_SIZE 4096
#define STORE_PAGE_ALIGN_MIN (1ull << 20)

static inline const store_alloc_place_t *store_place_for(uint64_t bytes)
{
    static const store_alloc_place_t page = {.align = STORE_PAGE_SIZE, .skew = STORE_OBJHDR_SIZE};
    static const store_alloc_place_t none = {.align = STORE_ALLOC_ALIGN, .skew = 0};

    return (bytes >= STORE_PAGE_ALIGN_MIN) ? &page : &none;
}

/** Arena bytes an object of @a size payload bytes takes: header plus rounded payload. */
static inline uint64_t store_obj_bytes(uint64_t size)
{
    return STORE_OBJHDR_SIZE + ((size + STORE_ALLOC_ALIGN - 1) & ~(STORE_ALLOC_ALIGN - 1));
}

/* store.c */
store_obj_t *store_find_locked(store_h store, const store_oid_t *oid);

/** Free the object: its block, spill file and entry. */
void store_obj_free_locked(store_h store, store_obj_t *obj);

/** Give back the object's arena block (and wipe its header); the entry stays. */
void store_obj_drop_block_locked(store_h store, store_obj_t *obj);

/** Put the object on its LRU list if it is evictable now; wake waiters if so. */
void store_obj_update_lru_locked(store_h store, store_obj_t *obj);

/** Wake every thread waiting for room or for a restore (if any waits). */
void store_wake_locked(store_h store);

static inline void *store_obj_payload(store_h store, const store_obj_t *obj)
{
    return (char *)store->arena.base + obj->block.offset + STORE_OBJHDR_SIZE;
}

static inline store_objhdr_t *store_obj_header(store_h store, const store_obj_t *obj)
{
    return (store_objhdr_t *)((char *)store->arena.base + obj->block.offset);
}

/**
 * End the pull into @a oid (created with STORE_OBJECT_PULL_TARGET). With @a status
 * RMPI_OK the object is sealed and counted in stats.pulls; otherwise it is freed (or
 * at its last unpin). Returns RMPI_ERR_CANCELED when it was deleted meanwhile (then
 * freed now), else @a status.
 */
rmpi_status_t store_pull_finish(store_h store, const store_oid_t *oid, rmpi_status_t status);

/* pressure.c */
/**
 * A block of @a bytes: evict, spill (drops the lock while writing), wait up to
 * put_timeout. RMPI_ERR_STORE_FULL (logged) when nothing helps.
 */
rmpi_status_t store_make_room_locked(store_h store, uint64_t bytes, store_block_t *block_p);
/** Read spilled @a obj back (drops the lock while reading). */
rmpi_status_t store_restore_locked(store_h store, store_obj_t *obj);

/* peer.c */
void store_peers_close(store_h store);

#endif /* OBJSTORE_STORE_INT_H_ */
