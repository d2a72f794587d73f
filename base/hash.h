/*
 * base/hash.h - an intrusive chained hash table that grows by itself.
 *
 * Elements embed a base_hash_node_t; the table never allocates per element,
 * only its bucket array (which doubles when the load passes 1). Key handling
 * comes from an ops table (Redis' dictType), so one implementation serves
 * object IDs, names and integers. Thread safety: none; callers serialize.
 */
#ifndef BASE_HASH_H_
#define BASE_HASH_H_

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct base_hash_node {
    struct base_hash_node *next;
    uint64_t               hash; /**< cached hash of the element's key */
} base_hash_node_t;

typedef struct base_hash_ops {
    /** Hash of a key. */
    uint64_t (*hash)(const void *key);
    /** Whether @a node's element has key @a key. */
    bool (*equal)(const void *key, const base_hash_node_t *node);
} base_hash_ops_t;

typedef struct base_hash {
    const base_hash_ops_t *ops;
    base_hash_node_t     **buckets;
    size_t                 num_buckets; /**< a power of two */
    size_t                 count;
} base_hash_t;

/** Initialize with room for about @a expected elements before growing. */
rmpi_status_t base_hash_init(base_hash_t *table, const base_hash_ops_t *ops, size_t expected);
/** Free the bucket array; elements are the caller's and are not touched. */
void base_hash_cleanup(base_hash_t *table);

/**
 * Insert @a node under @a key. Returns RMPI_ERR_EXISTS (and leaves the table
 * unchanged) if an element with an equal key is present. If the bucket array
 * cannot grow, the node is still inserted and RMPI_OK returned: the table
 * stays correct, only slower, and says so once in the log.
 */
rmpi_status_t base_hash_insert(base_hash_t *table, base_hash_node_t *node, const void *key);
/** The element with @a key, or NULL. */
base_hash_node_t *base_hash_find(const base_hash_t *table, const void *key);
/** Unlink @a node, which must be in the table. */
void base_hash_remove(base_hash_t *table, base_hash_node_t *node);
/** Find and unlink the element with @a key; NULL if absent. */
base_hash_node_t *base_hash_remove_key(base_hash_t *table, const void *key);

static inline size_t base_hash_count(const base_hash_t *table)
{
    return table->count;
}

/**
 * Call @a fn on each element; @a fn may remove the element it is given (and
 * no other). Stops early and returns false when @a fn returns false.
 */
bool base_hash_foreach(base_hash_t *table, bool (*fn)(base_hash_node_t *node, void *arg),
                       void *arg);

/* Hash functions for common key types. */
uint64_t base_hash_u64(uint64_t value);                 /**< a 64-bit mix (splitmix64 finalizer) */
uint64_t base_hash_bytes(const void *data, size_t len); /**< 64-bit hash of bytes */
uint64_t base_hash_str(const char *str);                /**< base_hash_bytes of a C string */

#endif /* BASE_HASH_H_ */
