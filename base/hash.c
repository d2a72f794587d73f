/*
 * base/hash.c - intrusive chained hash table and the hash functions it uses.
 *
 * Buckets are a power of two so the index is a mask of the hash; every hash
 * handed to the table is expected to have good low bits (base_hash_u64 and
 * base_hash_bytes do). Growing rehashes with the hash cached in each node, so
 * the key is never needed again after insert.
 */
#include "base/hash.h"

#include "base/log.h"

#include <stdlib.h>
#include <string.h>

#define BASE_HASH_MIN_BUCKETS 8

static size_t base_hash_round_up_pow2(size_t n)
{
    size_t pow2 = BASE_HASH_MIN_BUCKETS;

    while (pow2 < n && pow2 <= SIZE_MAX / 2) {
        pow2 *= 2;
    }
    return pow2;
}

static inline size_t base_hash_index(size_t num_buckets, uint64_t hash)
{
    return (size_t)(hash & (num_buckets - 1));
}

rmpi_status_t base_hash_init(base_hash_t *table, const base_hash_ops_t *ops, size_t expected)
{
    size_t             num_buckets;
    base_hash_node_t **buckets;

    if ((table == NULL) || (ops == NULL) || (ops->hash == NULL) || (ops->equal == NULL)) {
        base_error("hash table init: null table or incomplete ops");
        return RMPI_ERR_INVALID_ARG;
    }

    num_buckets = base_hash_round_up_pow2(expected);
    buckets     = calloc(num_buckets, sizeof(*buckets));
    if (buckets == NULL) {
        base_error("hash table init: cannot allocate %zu buckets", num_buckets);
        return RMPI_ERR_NO_MEMORY;
    }
    table->ops         = ops;
    table->buckets     = buckets;
    table->num_buckets = num_buckets;
    table->count       = 0;
    return RMPI_OK;
}

void base_hash_cleanup(base_hash_t *table)
{
    free(table->buckets);
    table->buckets     = NULL;
    table->num_buckets = 0;
    table->count       = 0;
}

/* Move every node into a bucket array twice as large. */
static rmpi_status_t base_hash_grow(base_hash_t *table)
{
    size_t             new_num = table->num_buckets * 2;
    base_hash_node_t **new_buckets;

    if (new_num < table->num_buckets) {
        return RMPI_ERR_NO_MEMORY; /* size_t overflow: cannot grow further */
    }
    new_buckets = calloc(new_num, sizeof(*new_buckets));
    if (new_buckets == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }

    for (size_t i = 0; i < table->num_buckets; ++i) {
        base_hash_node_t *node = table->buckets[i];

        while (node != NULL) {
            base_hash_node_t *next  = node->next;
            size_t            index = base_hash_index(new_num, node->hash);

            node->next         = new_buckets[index];
            new_buckets[index] = node;
            node               = next;
        }
    }

    free(table->buckets);
    table->buckets     = new_buckets;
    table->num_buckets = new_num;
    return RMPI_OK;
}

static base_hash_node_t *base_hash_find_hashed(const base_hash_t *table, const void *key,
                                               uint64_t hash)
{
    base_hash_node_t *node = table->buckets[base_hash_index(table->num_buckets, hash)];

    for (; node != NULL; node = node->next) {
        if ((node->hash == hash) && table->ops->equal(key, node)) {
            return node;
        }
    }
    return NULL;
}

rmpi_status_t base_hash_insert(base_hash_t *table, base_hash_node_t *node, const void *key)
{
    uint64_t hash = table->ops->hash(key);
    size_t   index;

    if (base_hash_find_hashed(table, key, hash) != NULL) {
        return RMPI_ERR_EXISTS;
    }

    index                 = base_hash_index(table->num_buckets, hash);
    node->hash            = hash;
    node->next            = table->buckets[index];
    table->buckets[index] = node;
    ++table->count;

    if ((table->count > table->num_buckets) && (base_hash_grow(table) != RMPI_OK)) {
        /* Still correct, only slower: chains get longer until a later grow works. */
        base_log_once(BASE_LOG_WARN, "hash table cannot grow past %zu buckets (%zu elements)",
                      table->num_buckets, table->count);
    }
    return RMPI_OK;
}

base_hash_node_t *base_hash_find(const base_hash_t *table, const void *key)
{
    return base_hash_find_hashed(table, key, table->ops->hash(key));
}

/* The link that points at @a node in its bucket, or NULL if it is not there. */
static base_hash_node_t **base_hash_link_of(base_hash_t *table, const base_hash_node_t *node)
{
    base_hash_node_t **link = &table->buckets[base_hash_index(table->num_buckets, node->hash)];

    for (; *link != NULL; link = &(*link)->next) {
        if (*link == node) {
            return link;
        }
    }
    return NULL;
}

void base_hash_remove(base_hash_t *table, base_hash_node_t *node)
{
    base_hash_node_t **link = base_hash_link_of(table, node);

    if (link == NULL) {
        base_error("hash table remove: node %p is not in table %p", (void *)node, (void *)table);
        return;
    }
    *link      = node->next;
    node->next = NULL;
    --table->count;
}

base_hash_node_t *base_hash_remove_key(base_hash_t *table, const void *key)
{
    base_hash_node_t *node = base_hash_find(table, key);

    if (node != NULL) {
        base_hash_remove(table, node);
    }
    return node;
}

bool base_hash_foreach(base_hash_t *table, bool (*fn)(base_hash_node_t *node, void *arg), void *arg)
{
    for (size_t i = 0; i < table->num_buckets; ++i) {
        base_hash_node_t *node = table->buckets[i];

        while (node != NULL) {
            /* Read the successor first: fn may unlink node (and only node). */
            base_hash_node_t *next = node->next;

            if (!fn(node, arg)) {
                return false;
            }
            node = next;
        }
    }
    return true;
}

uint64_t base_hash_u64(uint64_t value)
{
    value ^= value >> 30;
    value *= 0xbf58476d1ce4e5b9ull;
    value ^= value >> 27;
    value *= 0x94d049bb133111ebull;
    value ^= value >> 31;
    return value;
}

static inline uint64_t base_hash_rotl(uint64_t value, int bits)
{
    return (value << bits) | (value >> (64 - bits));
}

/*
 * Each 8-byte word is mixed (a bijection), folded in with xor, an odd
 * multiply and a rotation (bijections too, so two inputs that differ in one
 * word never collide before the final mix), and the length seeds the state so
 * that zero padding of the last word cannot make "a" equal "a\0".
 */
uint64_t base_hash_bytes(const void *data, size_t len)
{
    const unsigned char *bytes = data;
    uint64_t             state = 0x9e3779b97f4a7c15ull ^ ((uint64_t)len * 0xc2b2ae3d27d4eb4full);
    uint64_t             word;

    for (; len >= sizeof(word); bytes += sizeof(word), len -= sizeof(word)) {
        memcpy(&word, bytes, sizeof(word)); /* any alignment */
        state = base_hash_rotl((state ^ base_hash_u64(word)) * 0x9fb21c651e98df25ull, 29);
    }
    if (len > 0) {
        word = 0;
        memcpy(&word, bytes, len);
        state = base_hash_rotl((state ^ base_hash_u64(word)) * 0x9fb21c651e98df25ull, 29);
    }
    return base_hash_u64(state);
}

uint64_t base_hash_str(const char *str)
{
    return base_hash_bytes(str, strlen(str));
}
