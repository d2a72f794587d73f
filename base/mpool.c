/*
 * base/mpool.c - fixed-size element pool.
 *
 * Each chunk is one aligned allocation: a header (padded to the alignment)
 * that links it into the pool's chunk list, then elems_per_chunk elements of
 * `stride` bytes. A free element holds the free-list link in its first word,
 * which is why the stride is at least a pointer.
 */
#include "base/mpool.h"

#include "base/log.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BASE_MPOOL_DEFAULT_ALIGNMENT 16
#define BASE_MPOOL_DEFAULT_CHUNK_SIZE (64 * 1024)
#define BASE_MPOOL_MIN_ELEMS_PER_CHUNK 8

typedef struct base_mpool_chunk {
    struct base_mpool_chunk *next;
} base_mpool_chunk_t;

typedef struct base_mpool_free {
    struct base_mpool_free *next;
} base_mpool_free_t;

struct base_mpool {
    base_mpool_free_t  *free_list;
    size_t              stride; /* elem_size rounded up to the alignment */
    size_t              alignment;
    size_t              header_size; /* chunk header, rounded up to the alignment */
    size_t              elems_per_chunk;
    size_t              max_elems;
    size_t              capacity;
    size_t              in_use;
    base_mpool_chunk_t *chunks;
    char               *name;
};

static bool base_mpool_is_pow2(size_t value)
{
    return (value != 0) && ((value & (value - 1)) == 0);
}

static size_t base_mpool_align_up(size_t value, size_t alignment)
{
    return (value + alignment - 1) & ~(alignment - 1);
}

/* Fill @a mpool's geometry from @a params; logs and fails on bad values. */
static rmpi_status_t base_mpool_set_geometry(base_mpool_t *mpool, const base_mpool_params_t *params)
{
    uint64_t mask      = params->field_mask;
    size_t   alignment = BASE_MPOOL_DEFAULT_ALIGNMENT;
    size_t   max_chunk_elems;

    if (!(mask & BASE_MPOOL_PARAM_ELEM_SIZE) || (params->elem_size == 0)) {
        base_error("mpool: elem_size is required and must be positive");
        return RMPI_ERR_INVALID_ARG;
    }
    if (mask & BASE_MPOOL_PARAM_ALIGNMENT) {
        alignment = params->alignment;
        if (!base_mpool_is_pow2(alignment)) {
            base_error("mpool: alignment %zu is not a power of two", alignment);
            return RMPI_ERR_INVALID_ARG;
        }
    }
    /* posix_memalign wants a multiple of a pointer, and free elements hold one. */
    if (alignment < sizeof(void *)) {
        alignment = sizeof(void *);
    }
    if (params->elem_size > SIZE_MAX / 2 - alignment) {
        base_error("mpool: elem_size %zu is too large", params->elem_size);
        return RMPI_ERR_INVALID_ARG;
    }

    mpool->alignment   = alignment;
    mpool->stride      = base_mpool_align_up(params->elem_size, alignment);
    mpool->header_size = base_mpool_align_up(sizeof(base_mpool_chunk_t), alignment);
    max_chunk_elems    = (SIZE_MAX - mpool->header_size) / mpool->stride;

    if (mask & BASE_MPOOL_PARAM_ELEMS_PER_CHUNK) {
        mpool->elems_per_chunk = params->elems_per_chunk;
        if ((mpool->elems_per_chunk == 0) || (mpool->elems_per_chunk > max_chunk_elems)) {
            base_error("mpool: elems_per_chunk %zu is out of range", params->elems_per_chunk);
            return RMPI_ERR_INVALID_ARG;
        }
    } else {
        mpool->elems_per_chunk = BASE_MPOOL_DEFAULT_CHUNK_SIZE / mpool->stride;
        if (mpool->elems_per_chunk < BASE_MPOOL_MIN_ELEMS_PER_CHUNK) {
            mpool->elems_per_chunk = BASE_MPOOL_MIN_ELEMS_PER_CHUNK;
        }
    }

    mpool->max_elems = SIZE_MAX;
    if (mask & BASE_MPOOL_PARAM_MAX_ELEMS) {
        if (params->max_elems == 0) {
            base_error("mpool: max_elems must be positive");
            return RMPI_ERR_INVALID_ARG;
        }
        mpool->max_elems = params->max_elems;
    }
    return RMPI_OK;
}

rmpi_status_t base_mpool_create(const base_mpool_params_t *params, base_mpool_t **mpool_p)
{
    const char   *name = "mpool";
    base_mpool_t *mpool;
    rmpi_status_t status;

    if ((params == NULL) || (mpool_p == NULL)) {
        base_error("mpool: null params or output pointer");
        return RMPI_ERR_INVALID_ARG;
    }

    mpool = calloc(1, sizeof(*mpool));
    if (mpool == NULL) {
        base_error("mpool: cannot allocate the pool");
        return RMPI_ERR_NO_MEMORY;
    }

    status = base_mpool_set_geometry(mpool, params);
    if (status != RMPI_OK) {
        free(mpool);
        return status;
    }

    if ((params->field_mask & BASE_MPOOL_PARAM_NAME) && (params->name != NULL)) {
        name = params->name;
    }
    mpool->name = strdup(name);
    if (mpool->name == NULL) {
        base_error("mpool: cannot allocate the name '%s'", name);
        free(mpool);
        return RMPI_ERR_NO_MEMORY;
    }

    *mpool_p = mpool;
    return RMPI_OK;
}

void base_mpool_destroy(base_mpool_t *mpool)
{
    base_mpool_chunk_t *chunk;

    if (mpool == NULL) {
        return;
    }
    if (mpool->in_use > 0) {
        base_warn("mpool '%s': %zu of %zu elements still in use at destroy", mpool->name,
                  mpool->in_use, mpool->capacity);
    }

    while ((chunk = mpool->chunks) != NULL) {
        mpool->chunks = chunk->next;
        free(chunk);
    }
    free(mpool->name);
    free(mpool);
}

/* Allocate one more chunk and put its elements on the free list. */
static bool base_mpool_grow(base_mpool_t *mpool)
{
    size_t              count = mpool->elems_per_chunk;
    base_mpool_chunk_t *chunk;
    char               *elems;
    void               *mem;

    if (mpool->max_elems - mpool->capacity < count) {
        count = mpool->max_elems - mpool->capacity;
    }
    if (posix_memalign(&mem, mpool->alignment, mpool->header_size + count * mpool->stride) != 0) {
        base_log_once(BASE_LOG_WARN, "mpool '%s': out of memory at %zu elements", mpool->name,
                      mpool->capacity);
        return false;
    }

    chunk         = mem;
    chunk->next   = mpool->chunks;
    mpool->chunks = chunk;

    /* Push in reverse so elements are handed out in address order. */
    elems = (char *)mem + mpool->header_size;
    for (size_t i = count; i > 0; --i) {
        base_mpool_free_t *elem = (base_mpool_free_t *)(elems + (i - 1) * mpool->stride);

        elem->next       = mpool->free_list;
        mpool->free_list = elem;
    }
    mpool->capacity += count;
    return true;
}

void *base_mpool_get(base_mpool_t *mpool)
{
    base_mpool_free_t *elem = mpool->free_list;

    if (elem == NULL) {
        if ((mpool->capacity >= mpool->max_elems) || !base_mpool_grow(mpool)) {
            return NULL;
        }
        elem = mpool->free_list;
    }
    mpool->free_list = elem->next;
    ++mpool->in_use;
    return elem;
}

void base_mpool_put(base_mpool_t *mpool, void *elem)
{
    base_mpool_free_t *free_elem = elem;

    if ((elem == NULL) || (mpool->in_use == 0)) {
        base_log_once(BASE_LOG_ERROR, "mpool '%s': put of %p, which is not in use", mpool->name,
                      elem);
        return;
    }
    free_elem->next  = mpool->free_list;
    mpool->free_list = free_elem;
    --mpool->in_use;
}

size_t base_mpool_in_use(const base_mpool_t *mpool)
{
    return mpool->in_use;
}

size_t base_mpool_capacity(const base_mpool_t *mpool)
{
    return mpool->capacity;
}
