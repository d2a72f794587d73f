/*
 * objstore/alloc.h - the arena allocator: hands out byte ranges (offsets) of a region.
 *
 * Only offsets are managed; the allocator never touches the arena's memory, so its
 * metadata lives in the owner's private heap and a peer mapping the arena read-only
 * sees only objects. Every range starts and ends on a STORE_ALLOC_ALIGN boundary.
 *
 * - Small requests (up to STORE_ALLOC_SMALL_MAX bytes) come from size classes: slabs of
 *   STORE_ALLOC_SLAB_SIZE bytes carved from the large space, each cut into equal
 *   blocks, O(1) get and put. A slab that empties goes back to the large space (one
 *   empty slab per class is kept to avoid churn, and given back when a large request
 *   would otherwise fail).
 * - Large requests: best fit over a free list sorted by offset; a freed range merges
 *   with free neighbours. O(n) in the number of free ranges per call. A request can
 *   ask for a placement (large objects' payloads are page-aligned, see store.c).
 *
 * Thread safety: none (SINGLE); the store calls it under its lock.
 */
#ifndef OBJSTORE_ALLOC_H_
#define OBJSTORE_ALLOC_H_

#include <raympi.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_ALLOC_ALIGN 64ull
#define STORE_ALLOC_SMALL_MAX (32 * 1024 + 64) /* a 32 KiB payload and its header */
#define STORE_ALLOC_SLAB_SIZE (256 * 1024)

typedef struct store_alloc      store_alloc_t;
typedef struct store_alloc_slab store_alloc_slab_t;

/** A range handed out: give the same struct back to store_alloc_put. */
typedef struct store_block {
    uint64_t            offset; /**< from the start of the region's address space */
    uint64_t            size;   /**< bytes reserved, >= the request, a multiple of 64 */
    store_alloc_slab_t *slab;   /**< the slab of a small block, NULL for a large one */
} store_block_t;

typedef struct store_alloc_stats {
    uint64_t capacity;     /**< bytes managed */
    uint64_t bytes_used;   /**< bytes in blocks handed out */
    uint64_t slab_bytes;   /**< bytes of the large space held by slabs */
    uint64_t largest_free; /**< largest free range of the large space */
    size_t   free_ranges;  /**< ranges in the large free list */
    size_t   blocks;       /**< blocks handed out */
} store_alloc_stats_t;

/**
 * Manage [@a offset, @a offset + @a length). Both must be multiples of
 * STORE_ALLOC_ALIGN (RMPI_ERR_INVALID_ARG otherwise).
 */
rmpi_status_t store_alloc_create(uint64_t offset, uint64_t length, store_alloc_t **alloc_p);
void          store_alloc_destroy(store_alloc_t *alloc);

/**
 * Reserve @a size bytes (0 counts as 1). RMPI_ERR_STORE_FULL, without a log line, when
 * no free range is large enough (the store decides what to do about it);
 * RMPI_ERR_NO_MEMORY when private metadata cannot be allocated.
 */
rmpi_status_t store_alloc_get(store_alloc_t *alloc, uint64_t size, store_block_t *block_p);

/** Give back @a block, which came from store_alloc_get of this allocator. */
void store_alloc_put(store_alloc_t *alloc, const store_block_t *block);

/** Where a block must start: (offset + skew) % align == 0. */
typedef struct store_alloc_place {
    uint64_t align; /**< a power of two >= STORE_ALLOC_ALIGN */
    uint64_t skew;  /**< a multiple of STORE_ALLOC_ALIGN, below align */
} store_alloc_place_t;

/**
 * Like store_alloc_get, with the block placed by @a place (e.g. page-aligned payloads
 * behind a 64-byte header: align 4096, skew 64). A placed request never comes from a
 * slab; the bytes skipped in front of it stay free. RMPI_ERR_INVALID_ARG for a bad
 * @a place.
 */
rmpi_status_t store_alloc_get_placed(store_alloc_t *alloc, uint64_t size,
                                     const store_alloc_place_t *place, store_block_t *block_p);

void store_alloc_stats(const store_alloc_t *alloc, store_alloc_stats_t *stats_p);

#endif /* OBJSTORE_ALLOC_H_ */
