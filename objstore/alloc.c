/*
 * objstore/alloc.c - size classes over slabs, and a best-fit, coalescing free list.
 *
 * Why this shape: most objects are small (task results, metadata) and churn quickly,
 * so they get O(1) slab blocks that never fragment the large space; large objects are
 * few, so an offset-sorted list that is simple to check beats a cleverer structure
 * until profiles say otherwise (see docs/objstore.md).
 */
#include "objstore/alloc.h"

#include "base/list.h"
#include "base/log.h"
#include "base/mpool.h"

#include <stdbool.h>
#include <stdlib.h>

/* Payload size classes (bytes); a block adds the 64-byte object header. */
static const uint32_t store_alloc_payload_classes[] = {
    64,   128,  192,  256,  384,  512,   768,   1024,  1536,
    2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768,
};

#define STORE_ALLOC_NUM_CLASSES \
    (sizeof(store_alloc_payload_classes) / sizeof(store_alloc_payload_classes[0]))

struct store_alloc_slab {
    base_list_t link;       /* in its class's list of partly free slabs */
    base_list_t all_link;   /* in the allocator's list of every slab */
    uint64_t    offset;     /* of the slab's first block */
    uint32_t    cls;        /* index into the class table */
    uint32_t    nfree;      /* entries used in free_idx */
    uint32_t    free_idx[]; /* stack of free block indices */
};

typedef struct store_alloc_class {
    uint64_t            block_size;
    uint32_t            nblocks; /* per slab */
    base_list_t         partial; /* slabs with free blocks, not all free */
    store_alloc_slab_t *empty;   /* one wholly free slab kept against churn */
} store_alloc_class_t;

typedef struct store_alloc_range {
    base_list_t link; /* in the offset-sorted free list */
    uint64_t    offset;
    uint64_t    size;
} store_alloc_range_t;

struct store_alloc {
    uint64_t            offset;
    uint64_t            length;
    base_list_t         free_list; /* large free ranges, sorted by offset */
    base_list_t         slabs;     /* every slab, for destroy */
    size_t              free_ranges;
    base_mpool_t       *range_pool;
    uint64_t            bytes_used;
    uint64_t            slab_bytes;
    size_t              blocks;
    store_alloc_class_t classes[STORE_ALLOC_NUM_CLASSES];
};

static const store_alloc_place_t store_alloc_no_place = {.align = STORE_ALLOC_ALIGN, .skew = 0};

static inline uint64_t store_alloc_round_up(uint64_t size)
{
    return (size + STORE_ALLOC_ALIGN - 1) & ~(STORE_ALLOC_ALIGN - 1);
}

static void store_alloc_init_classes(store_alloc_t *alloc)
{
    for (size_t i = 0; i < STORE_ALLOC_NUM_CLASSES; ++i) {
        store_alloc_class_t *cls = &alloc->classes[i];

        cls->block_size = STORE_ALLOC_ALIGN + store_alloc_payload_classes[i];
        cls->nblocks    = (uint32_t)(STORE_ALLOC_SLAB_SIZE / cls->block_size);
        cls->empty      = NULL;
        base_list_init(&cls->partial);
    }
}

rmpi_status_t store_alloc_create(uint64_t offset, uint64_t length, store_alloc_t **alloc_p)
{
    base_mpool_params_t pool_params = {
        .field_mask = BASE_MPOOL_PARAM_ELEM_SIZE | BASE_MPOOL_PARAM_NAME,
        .elem_size  = sizeof(store_alloc_range_t),
        .name       = "store free ranges",
    };
    store_alloc_range_t *whole;
    store_alloc_t       *alloc;
    rmpi_status_t        status;

    if ((offset % STORE_ALLOC_ALIGN) || (length % STORE_ALLOC_ALIGN) || (length == 0)) {
        base_error("store allocator: region %llu+%llu is not %llu-byte aligned",
                   (unsigned long long)offset, (unsigned long long)length,
                   (unsigned long long)STORE_ALLOC_ALIGN);
        return RMPI_ERR_INVALID_ARG;
    }
    alloc = calloc(1, sizeof(*alloc));
    if (alloc == NULL) {
        base_error("store allocator: out of memory");
        return RMPI_ERR_NO_MEMORY;
    }
    status = base_mpool_create(&pool_params, &alloc->range_pool);
    if (status != RMPI_OK) {
        goto err_free;
    }
    whole = base_mpool_get(alloc->range_pool);
    if (whole == NULL) {
        base_error("store allocator: out of memory");
        status = RMPI_ERR_NO_MEMORY;
        goto err_pool;
    }
    alloc->offset = offset;
    alloc->length = length;
    whole->offset = offset;
    whole->size   = length;
    base_list_init(&alloc->free_list);
    base_list_init(&alloc->slabs);
    base_list_add_tail(&alloc->free_list, &whole->link);
    alloc->free_ranges = 1;
    store_alloc_init_classes(alloc);
    *alloc_p = alloc;
    return RMPI_OK;

err_pool:
    base_mpool_destroy(alloc->range_pool);
err_free:
    free(alloc);
    return status;
}

/* --- large ranges ------------------------------------------------------------------- */

static store_alloc_range_t *store_alloc_range_of(base_list_t *link)
{
    return base_container_of(link, store_alloc_range_t, link);
}

/* Where a block of @a size with the placement @a place would start in @a range, if it fits. */
static bool store_alloc_fit(const store_alloc_range_t *range, uint64_t size,
                            const store_alloc_place_t *place, uint64_t *start_p)
{
    uint64_t start = range->offset;

    if (place->align > STORE_ALLOC_ALIGN) {
        start = ((range->offset + place->skew + place->align - 1) & ~(place->align - 1)) -
                place->skew; /* >= range->offset */
    }
    if ((start - range->offset > range->size) || (range->size - (start - range->offset) < size)) {
        return false;
    }
    *start_p = start;
    return true;
}

/* Best fit: the smallest free range the block fits in. */
static store_alloc_range_t *store_alloc_best_fit(store_alloc_t *alloc, uint64_t size,
                                                 const store_alloc_place_t *place,
                                                 uint64_t                  *start_p)
{
    store_alloc_range_t *best = NULL;
    base_list_t         *it;
    uint64_t             start;

    base_list_for_each (it, &alloc->free_list) {
        store_alloc_range_t *range = store_alloc_range_of(it);

        if (((best == NULL) || (range->size < best->size)) &&
            store_alloc_fit(range, size, place, &start)) {
            best     = range;
            *start_p = start;
            if (range->size == size) {
                break;
            }
        }
    }
    return best;
}

static void store_alloc_drop_range(store_alloc_t *alloc, store_alloc_range_t *range)
{
    base_list_del(&range->link);
    base_mpool_put(alloc->range_pool, range);
    alloc->free_ranges--;
}

/* Insert [offset, offset+size) into the sorted free list, merging with neighbours. */
static rmpi_status_t store_alloc_large_put(store_alloc_t *alloc, uint64_t offset, uint64_t size)
{
    store_alloc_range_t *prev = NULL, *next = NULL, *range;
    base_list_t         *it;

    base_list_for_each (it, &alloc->free_list) {
        if (store_alloc_range_of(it)->offset > offset) {
            next = store_alloc_range_of(it);
            break;
        }
        prev = store_alloc_range_of(it);
    }

    if ((prev != NULL) && (prev->offset + prev->size == offset)) {
        prev->size += size;
        if ((next != NULL) && (prev->offset + prev->size == next->offset)) {
            prev->size += next->size;
            store_alloc_drop_range(alloc, next);
        }
        return RMPI_OK;
    }
    if ((next != NULL) && (offset + size == next->offset)) {
        next->offset = offset;
        next->size += size;
        return RMPI_OK;
    }

    range = base_mpool_get(alloc->range_pool);
    if (range == NULL) {
        /* The bytes are lost to the allocator until destroy; nothing else breaks. */
        base_log_once(BASE_LOG_ERROR, "store allocator: out of memory, %llu bytes leak",
                      (unsigned long long)size);
        return RMPI_ERR_NO_MEMORY;
    }
    range->offset = offset;
    range->size   = size;
    /* Adding at the "tail" of an element inserts before it. */
    base_list_add_tail((next != NULL) ? &next->link : &alloc->free_list, &range->link);
    alloc->free_ranges++;
    return RMPI_OK;
}

static void store_alloc_slab_free(store_alloc_t *alloc, store_alloc_slab_t *slab)
{
    alloc->slab_bytes -= STORE_ALLOC_SLAB_SIZE;
    base_list_del(&slab->all_link);
    store_alloc_large_put(alloc, slab->offset, STORE_ALLOC_SLAB_SIZE);
    free(slab);
}

/* Give every cached empty slab back to the large space; true if any was. */
static bool store_alloc_release_empty_slabs(store_alloc_t *alloc)
{
    bool released = false;

    for (size_t i = 0; i < STORE_ALLOC_NUM_CLASSES; ++i) {
        if (alloc->classes[i].empty != NULL) {
            store_alloc_slab_free(alloc, alloc->classes[i].empty);
            alloc->classes[i].empty = NULL;
            released                = true;
        }
    }
    return released;
}

/* Take [start, start+size) out of @a range: what is left on either side stays free. */
static rmpi_status_t store_alloc_carve(store_alloc_t *alloc, store_alloc_range_t *range,
                                       uint64_t start, uint64_t size)
{
    uint64_t             end  = range->offset + range->size;
    store_alloc_range_t *tail = NULL;

    if ((start > range->offset) && (start + size < end)) { /* a hole in the middle */
        tail = base_mpool_get(alloc->range_pool);
        if (tail == NULL) {
            base_error("store allocator: out of memory");
            return RMPI_ERR_NO_MEMORY;
        }
        tail->offset = start + size;
        tail->size   = end - tail->offset;
        base_list_add_head(&range->link, &tail->link); /* right after range */
        alloc->free_ranges++;
    }
    if (start > range->offset) {
        range->size = start - range->offset; /* the head stays */
    } else {
        range->offset += size;
        range->size -= size;
        if (range->size == 0) {
            store_alloc_drop_range(alloc, range);
        }
    }
    return RMPI_OK;
}

static rmpi_status_t store_alloc_large_get(store_alloc_t *alloc, uint64_t size,
                                           const store_alloc_place_t *place, uint64_t *offset_p)
{
    store_alloc_range_t *range;
    uint64_t             start = 0;
    rmpi_status_t        status;

    range = store_alloc_best_fit(alloc, size, place, &start);
    if ((range == NULL) && store_alloc_release_empty_slabs(alloc)) {
        range = store_alloc_best_fit(alloc, size, place, &start);
    }
    if (range == NULL) {
        return RMPI_ERR_STORE_FULL;
    }
    status = store_alloc_carve(alloc, range, start, size);
    if (status == RMPI_OK) {
        *offset_p = start;
    }
    return status;
}

/* --- small blocks ------------------------------------------------------------------- */

static int store_alloc_class_index(uint64_t size)
{
    for (size_t i = 0; i < STORE_ALLOC_NUM_CLASSES; ++i) {
        if (size <= STORE_ALLOC_ALIGN + store_alloc_payload_classes[i]) {
            return (int)i;
        }
    }
    return -1;
}

static rmpi_status_t store_alloc_slab_new(store_alloc_t *alloc, uint32_t cls_index,
                                          store_alloc_slab_t **slab_p)
{
    store_alloc_class_t *cls = &alloc->classes[cls_index];
    store_alloc_slab_t  *slab;
    uint64_t             offset;
    rmpi_status_t        status;

    slab = malloc(sizeof(*slab) + cls->nblocks * sizeof(slab->free_idx[0]));
    if (slab == NULL) {
        base_error("store allocator: out of memory for a slab descriptor");
        return RMPI_ERR_NO_MEMORY;
    }
    status = store_alloc_large_get(alloc, STORE_ALLOC_SLAB_SIZE, &store_alloc_no_place, &offset);
    if (status != RMPI_OK) {
        free(slab);
        return status;
    }
    slab->offset = offset;
    slab->cls    = cls_index;
    slab->nfree  = cls->nblocks;
    for (uint32_t i = 0; i < cls->nblocks; ++i) {
        slab->free_idx[i] = cls->nblocks - 1 - i; /* hand out low addresses first */
    }
    base_list_init(&slab->link);
    base_list_add_tail(&alloc->slabs, &slab->all_link);
    alloc->slab_bytes += STORE_ALLOC_SLAB_SIZE;
    *slab_p = slab;
    return RMPI_OK;
}

static rmpi_status_t store_alloc_small_get(store_alloc_t *alloc, uint32_t cls_index,
                                           store_block_t *block_p)
{
    store_alloc_class_t *cls = &alloc->classes[cls_index];
    store_alloc_slab_t  *slab;
    rmpi_status_t        status;
    uint32_t             index;

    if (!base_list_is_empty(&cls->partial)) {
        slab = base_list_first(&cls->partial, store_alloc_slab_t, link);
    } else {
        if (cls->empty != NULL) {
            slab       = cls->empty;
            cls->empty = NULL;
        } else {
            status = store_alloc_slab_new(alloc, cls_index, &slab);
            if (status != RMPI_OK) {
                return status;
            }
        }
        base_list_add_head(&cls->partial, &slab->link);
    }

    index = slab->free_idx[--slab->nfree];
    if (slab->nfree == 0) {
        base_list_del(&slab->link); /* full: off the partial list */
    }
    block_p->offset = slab->offset + (uint64_t)index * cls->block_size;
    block_p->size   = cls->block_size;
    block_p->slab   = slab;
    return RMPI_OK;
}

static void store_alloc_small_put(store_alloc_t *alloc, const store_block_t *block)
{
    store_alloc_slab_t  *slab = block->slab;
    store_alloc_class_t *cls  = &alloc->classes[slab->cls];

    slab->free_idx[slab->nfree++] = (uint32_t)((block->offset - slab->offset) / cls->block_size);
    if (slab->nfree == 1) {
        base_list_add_head(&cls->partial, &slab->link); /* was full */
    }
    if (slab->nfree < cls->nblocks) {
        return;
    }
    base_list_del(&slab->link);
    if (cls->empty == NULL) {
        cls->empty = slab;
    } else {
        store_alloc_slab_free(alloc, slab);
    }
}

/* --- interface ---------------------------------------------------------------------- */

rmpi_status_t store_alloc_get_placed(store_alloc_t *alloc, uint64_t size,
                                     const store_alloc_place_t *place, store_block_t *block_p)
{
    uint64_t      rounded = store_alloc_round_up((size == 0) ? 1 : size);
    int           cls     = store_alloc_class_index(rounded);
    store_block_t block   = {.slab = NULL, .size = rounded};
    rmpi_status_t status;

    if ((rounded < size) || (rounded > alloc->length)) {
        return RMPI_ERR_STORE_FULL; /* wrapped around, or can never fit */
    }
    if ((place->align & (place->align - 1)) || (place->skew % STORE_ALLOC_ALIGN)) {
        return RMPI_ERR_INVALID_ARG;
    }
    if ((cls >= 0) && (place->align <= STORE_ALLOC_ALIGN)) {
        status = store_alloc_small_get(alloc, (uint32_t)cls, &block);
    } else {
        status = store_alloc_large_get(alloc, rounded, place, &block.offset);
    }
    if (status != RMPI_OK) {
        return status;
    }
    alloc->bytes_used += block.size;
    alloc->blocks++;
    *block_p = block;
    return RMPI_OK;
}

rmpi_status_t store_alloc_get(store_alloc_t *alloc, uint64_t size, store_block_t *block_p)
{
    return store_alloc_get_placed(alloc, size, &store_alloc_no_place, block_p);
}

void store_alloc_put(store_alloc_t *alloc, const store_block_t *block)
{
    alloc->bytes_used -= block->size;
    alloc->blocks--;
    if (block->slab != NULL) {
        store_alloc_small_put(alloc, block);
    } else {
        store_alloc_large_put(alloc, block->offset, block->size);
    }
}

void store_alloc_stats(const store_alloc_t *alloc, store_alloc_stats_t *stats_p)
{
    const base_list_t *it;
    uint64_t           largest = 0;

    base_list_for_each (it, &alloc->free_list) {
        const store_alloc_range_t *range = base_container_of(it, store_alloc_range_t, link);

        largest = (range->size > largest) ? range->size : largest;
    }
    stats_p->capacity     = alloc->length;
    stats_p->bytes_used   = alloc->bytes_used;
    stats_p->slab_bytes   = alloc->slab_bytes;
    stats_p->largest_free = largest;
    stats_p->free_ranges  = alloc->free_ranges;
    stats_p->blocks       = alloc->blocks;
}

void store_alloc_destroy(store_alloc_t *alloc)
{
    base_list_t *it, *tmp;

    if (alloc == NULL) {
        return;
    }
    base_list_for_each_safe (it, tmp, &alloc->slabs) {
        free(base_container_of(it, store_alloc_slab_t, all_link));
    }
    base_list_for_each_safe (it, tmp, &alloc->free_list) {
        store_alloc_drop_range(alloc, store_alloc_range_of(it));
    }
    base_mpool_destroy(alloc->range_pool);
    free(alloc);
}
