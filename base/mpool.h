/*
 * base/mpool.h - a pool of fixed-size elements carved from large chunks.
 *
 * For request and message descriptors on hot paths: get and put are O(1)
 * and touch no allocator after warm-up. The pool grows a chunk at a time up
 * to max_elems; then base_mpool_get returns NULL (never aborts).
 * Thread safety: none (SINGLE); a pool belongs to one thread or its user locks.
 */
#ifndef BASE_MPOOL_H_
#define BASE_MPOOL_H_

#include <raympi.h>
#include <stddef.h>

enum {
    BASE_MPOOL_PARAM_ELEM_SIZE       = RMPI_BIT(0),
    BASE_MPOOL_PARAM_ALIGNMENT       = RMPI_BIT(1),
    BASE_MPOOL_PARAM_ELEMS_PER_CHUNK = RMPI_BIT(2),
    BASE_MPOOL_PARAM_MAX_ELEMS       = RMPI_BIT(3),
    BASE_MPOOL_PARAM_NAME            = RMPI_BIT(4),
};

typedef struct base_mpool_params {
    uint64_t    field_mask;
    size_t      elem_size;       /**< required */
    size_t      alignment;       /**< power of two; default 16 */
    size_t      elems_per_chunk; /**< default: enough for 64 KiB chunks, at least 8 */
    size_t      max_elems;       /**< default: unlimited (SIZE_MAX) */
    const char *name;            /**< for logs and statistics; default "mpool" */
} base_mpool_params_t;

typedef struct base_mpool base_mpool_t;

rmpi_status_t base_mpool_create(const base_mpool_params_t *params, base_mpool_t **mpool_p);
/** Free every chunk. Elements still out are reported in one warning. */
void base_mpool_destroy(base_mpool_t *mpool);

/** An element (uninitialized), or NULL when max_elems are out or memory ran out. */
void *base_mpool_get(base_mpool_t *mpool);
/** Return @a elem, which came from this pool's get. */
void base_mpool_put(base_mpool_t *mpool, void *elem);

size_t base_mpool_in_use(const base_mpool_t *mpool);   /**< elements out now */
size_t base_mpool_capacity(const base_mpool_t *mpool); /**< elements allocated so far */

#endif /* BASE_MPOOL_H_ */
