/*
 * Unit tests of base/hash.h: the intrusive hash table and the hash functions.
 */
#include "base/hash.h"

#include "base/list.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define GROWTH_COUNT 100000

typedef struct elem {
    uint64_t         key;
    int              visits;
    base_hash_node_t node;
} elem_t;

static elem_t *elem_of(const base_hash_node_t *node)
{
    return base_container_of(node, elem_t, node);
}

static uint64_t u64_key_hash(const void *key)
{
    return base_hash_u64(*(const uint64_t *)key);
}

/* Every key lands in the same bucket: the table must still be correct. */
static uint64_t constant_hash(const void *key)
{
    return 42;
}

static bool u64_key_equal(const void *key, const base_hash_node_t *node)
{
    return elem_of(node)->key == *(const uint64_t *)key;
}

static const base_hash_ops_t u64_ops       = {.hash = u64_key_hash, .equal = u64_key_equal};
static const base_hash_ops_t colliding_ops = {.hash = constant_hash, .equal = u64_key_equal};

static elem_t *elems_new(size_t count)
{
    elem_t *elems = calloc(count, sizeof(*elems));

    assert_non_null(elems);
    for (size_t i = 0; i < count; ++i) {
        /* Spread the keys so they are not a dense range. */
        elems[i].key = i * 0x10001ull + 7;
    }
    return elems;
}

static void insert_all(base_hash_t *table, elem_t *elems, size_t count)
{
    for (size_t i = 0; i < count; ++i) {
        assert_int_equal(base_hash_insert(table, &elems[i].node, &elems[i].key), RMPI_OK);
    }
    assert_int_equal(base_hash_count(table), count);
}

static void test_init_rejects_bad_args(void **state)
{
    base_hash_ops_t no_equal = {.hash = u64_key_hash};
    base_hash_t     table;

    assert_int_equal(base_hash_init(NULL, &u64_ops, 0), RMPI_ERR_INVALID_ARG);
    assert_int_equal(base_hash_init(&table, NULL, 0), RMPI_ERR_INVALID_ARG);
    assert_int_equal(base_hash_init(&table, &no_equal, 0), RMPI_ERR_INVALID_ARG);

    assert_int_equal(base_hash_init(&table, &u64_ops, 1000), RMPI_OK);
    assert_int_equal(base_hash_count(&table), 0);
    assert_true(table.num_buckets >= 1000);
    assert_int_equal(table.num_buckets & (table.num_buckets - 1), 0);
    base_hash_cleanup(&table);
}

static void test_insert_find_remove(void **state)
{
    base_hash_t table;
    elem_t     *elems  = elems_new(16);
    uint64_t    absent = 3;

    assert_int_equal(base_hash_init(&table, &u64_ops, 0), RMPI_OK);
    assert_null(base_hash_find(&table, &elems[0].key));
    insert_all(&table, elems, 16);

    for (int i = 0; i < 16; ++i) {
        assert_ptr_equal(base_hash_find(&table, &elems[i].key), &elems[i].node);
    }
    assert_null(base_hash_find(&table, &absent));

    base_hash_remove(&table, &elems[5].node);
    assert_int_equal(base_hash_count(&table), 15);
    assert_null(base_hash_find(&table, &elems[5].key));
    assert_ptr_equal(base_hash_find(&table, &elems[6].key), &elems[6].node);

    assert_ptr_equal(base_hash_remove_key(&table, &elems[9].key), &elems[9].node);
    assert_null(base_hash_remove_key(&table, &elems[9].key));
    assert_null(base_hash_remove_key(&table, &absent));
    assert_int_equal(base_hash_count(&table), 14);

    /* A removed element can go back in. */
    assert_int_equal(base_hash_insert(&table, &elems[5].node, &elems[5].key), RMPI_OK);
    assert_ptr_equal(base_hash_find(&table, &elems[5].key), &elems[5].node);
    assert_int_equal(base_hash_count(&table), 15);

    base_hash_cleanup(&table);
    free(elems);
}

static void test_duplicate_key_is_rejected(void **state)
{
    base_hash_t table;
    elem_t      first = {.key = 77}, second = {.key = 77};

    assert_int_equal(base_hash_init(&table, &u64_ops, 4), RMPI_OK);
    assert_int_equal(base_hash_insert(&table, &first.node, &first.key), RMPI_OK);
    assert_int_equal(base_hash_insert(&table, &second.node, &second.key), RMPI_ERR_EXISTS);
    assert_int_equal(base_hash_count(&table), 1);
    assert_ptr_equal(base_hash_find(&table, &second.key), &first.node);

    /* After removing the first, the key is free again. */
    base_hash_remove(&table, &first.node);
    assert_int_equal(base_hash_insert(&table, &second.node, &second.key), RMPI_OK);
    assert_ptr_equal(base_hash_find(&table, &first.key), &second.node);
    base_hash_cleanup(&table);
}

static void test_growth_keeps_every_element(void **state)
{
    base_hash_t table;
    elem_t     *elems = elems_new(GROWTH_COUNT);
    size_t      initial_buckets;

    assert_int_equal(base_hash_init(&table, &u64_ops, 0), RMPI_OK);
    initial_buckets = table.num_buckets;
    insert_all(&table, elems, GROWTH_COUNT);

    /* Load stays at most 1 and the bucket count stays a power of two. */
    assert_true(table.num_buckets > initial_buckets);
    assert_true(table.num_buckets >= GROWTH_COUNT);
    assert_true(table.num_buckets < 4 * GROWTH_COUNT);
    assert_int_equal(table.num_buckets & (table.num_buckets - 1), 0);

    for (size_t i = 0; i < GROWTH_COUNT; ++i) {
        base_hash_node_t *node = base_hash_find(&table, &elems[i].key);

        assert_ptr_equal(node, &elems[i].node);
    }
    for (size_t i = 0; i < 1000; ++i) {
        uint64_t absent = i * 0x10001ull + 8; /* between two inserted keys */

        assert_null(base_hash_find(&table, &absent));
    }

    /* Remove every other element and check both halves. */
    for (size_t i = 0; i < GROWTH_COUNT; i += 2) {
        assert_ptr_equal(base_hash_remove_key(&table, &elems[i].key), &elems[i].node);
    }
    assert_int_equal(base_hash_count(&table), GROWTH_COUNT / 2);
    for (size_t i = 0; i < GROWTH_COUNT; ++i) {
        base_hash_node_t *node = base_hash_find(&table, &elems[i].key);

        if (i % 2 == 0) {
            assert_null(node);
        } else {
            assert_ptr_equal(node, &elems[i].node);
        }
    }

    base_hash_cleanup(&table);
    free(elems);
}

static bool visit_and_remove_odd(base_hash_node_t *node, void *arg)
{
    base_hash_t *table = arg;
    elem_t      *elem  = elem_of(node);

    ++elem->visits;
    if (elem->key % 2 == 1) {
        base_hash_remove(table, node);
    }
    return true;
}

static void test_foreach_visits_once_and_may_remove(void **state)
{
    enum { COUNT = 5000 };
    base_hash_t table;
    elem_t     *elems = elems_new(COUNT);

    for (size_t i = 0; i < COUNT; ++i) {
        elems[i].key = i; /* half odd, half even */
    }
    assert_int_equal(base_hash_init(&table, &u64_ops, 0), RMPI_OK);
    insert_all(&table, elems, COUNT);

    assert_true(base_hash_foreach(&table, visit_and_remove_odd, &table));
    assert_int_equal(base_hash_count(&table), COUNT / 2);
    for (size_t i = 0; i < COUNT; ++i) {
        assert_int_equal(elems[i].visits, 1);
        if (i % 2 == 1) {
            assert_null(base_hash_find(&table, &elems[i].key));
        } else {
            assert_ptr_equal(base_hash_find(&table, &elems[i].key), &elems[i].node);
        }
    }
    base_hash_cleanup(&table);
    free(elems);
}

static bool stop_after_three(base_hash_node_t *node, void *arg)
{
    int *calls = arg;

    return ++*calls < 3;
}

static void test_foreach_stops_early(void **state)
{
    base_hash_t table;
    elem_t     *elems = elems_new(100);
    int         calls = 0;

    assert_int_equal(base_hash_init(&table, &u64_ops, 0), RMPI_OK);
    insert_all(&table, elems, 100);
    assert_false(base_hash_foreach(&table, stop_after_three, &calls));
    assert_int_equal(calls, 3);

    /* An empty table visits nothing and reports completion. */
    base_hash_cleanup(&table);
    assert_int_equal(base_hash_init(&table, &u64_ops, 0), RMPI_OK);
    calls = 0;
    assert_true(base_hash_foreach(&table, stop_after_three, &calls));
    assert_int_equal(calls, 0);
    base_hash_cleanup(&table);
    free(elems);
}

static void test_collisions_with_a_bad_hash(void **state)
{
    enum { COUNT = 2000 };
    base_hash_t table;
    elem_t     *elems = elems_new(COUNT);
    elem_t      dup;

    assert_int_equal(base_hash_init(&table, &colliding_ops, 0), RMPI_OK);
    insert_all(&table, elems, COUNT); /* also grows several times, all in one chain */

    dup.key = elems[COUNT / 2].key;
    assert_int_equal(base_hash_insert(&table, &dup.node, &dup.key), RMPI_ERR_EXISTS);

    /* Remove from the chain's head, middle and tail regions. */
    base_hash_remove(&table, &elems[0].node);
    base_hash_remove(&table, &elems[COUNT / 2].node);
    base_hash_remove(&table, &elems[COUNT - 1].node);
    assert_int_equal(base_hash_count(&table), COUNT - 3);

    for (size_t i = 0; i < COUNT; ++i) {
        base_hash_node_t *node = base_hash_find(&table, &elems[i].key);

        if ((i == 0) || (i == COUNT / 2) || (i == COUNT - 1)) {
            assert_null(node);
        } else {
            assert_ptr_equal(node, &elems[i].node);
        }
    }
    base_hash_cleanup(&table);
    free(elems);
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static void test_hash_u64_mixes(void **state)
{
    enum { COUNT = 1 << 16 };
    uint64_t *out          = malloc(COUNT * sizeof(*out));
    unsigned  buckets[256] = {0};

    assert_non_null(out);
    for (uint64_t i = 0; i < COUNT; ++i) {
        out[i] = base_hash_u64(i);
        ++buckets[out[i] & 255];
    }
    /* Sequential keys spread evenly over the low bits (expected 256 each). */
    for (int b = 0; b < 256; ++b) {
        assert_in_range(buckets[b], 128, 384);
    }
    qsort(out, COUNT, sizeof(*out), compare_u64);
    for (size_t i = 1; i < COUNT; ++i) {
        assert_true(out[i] != out[i - 1]);
    }
    assert_true(base_hash_u64(1) != 1);
    free(out);
}

static void test_hash_bytes_properties(void **state)
{
    static const char text[] = "xobject-id-0123456789abcdef-tail";
    char              copy[sizeof(text)];
    unsigned long     flipped_bits = 0;
    int               samples      = 0;

    /* Deterministic, alignment-independent, and the str helper agrees. */
    memcpy(copy, text + 1, sizeof(text) - 1);
    assert_true(base_hash_bytes(text + 1, sizeof(text) - 2) ==
                base_hash_bytes(copy, sizeof(text) - 2));
    assert_true(base_hash_str("hello") == base_hash_bytes("hello", 5));

    /* The length matters, also when the extra bytes are zero. */
    assert_true(base_hash_bytes("a", 1) != base_hash_bytes("a\0", 2));
    assert_true(base_hash_bytes("", 0) != base_hash_bytes("\0", 1));
    assert_true(base_hash_bytes("\0\0\0\0\0\0\0\0", 8) != base_hash_bytes("\0\0\0\0\0\0\0\0\0", 9));

    /* Avalanche: one flipped input bit flips about half the output bits. */
    for (size_t byte = 0; byte < sizeof(text) - 1; ++byte) {
        for (int bit = 0; bit < 8; ++bit) {
            uint64_t before = base_hash_bytes(text, sizeof(text) - 1);

            memcpy(copy, text, sizeof(text));
            copy[byte] ^= (char)(1 << bit);
            flipped_bits += (unsigned long)__builtin_popcountll(
                before ^ base_hash_bytes(copy, sizeof(text) - 1));
            ++samples;
        }
    }
    assert_in_range(flipped_bits / (unsigned long)samples, 28, 36);
}

static void test_hash_str_spreads_similar_names(void **state)
{
    enum { COUNT = 1 << 16 };
    unsigned buckets[256] = {0};
    char     name[32];

    for (int i = 0; i < COUNT; ++i) {
        snprintf(name, sizeof(name), "actor-%d", i);
        ++buckets[base_hash_str(name) & 255];
    }
    for (int b = 0; b < 256; ++b) {
        assert_in_range(buckets[b], 128, 384);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rejects_bad_args),
        cmocka_unit_test(test_insert_find_remove),
        cmocka_unit_test(test_duplicate_key_is_rejected),
        cmocka_unit_test(test_growth_keeps_every_element),
        cmocka_unit_test(test_foreach_visits_once_and_may_remove),
        cmocka_unit_test(test_foreach_stops_early),
        cmocka_unit_test(test_collisions_with_a_bad_hash),
        cmocka_unit_test(test_hash_u64_mixes),
        cmocka_unit_test(test_hash_bytes_properties),
        cmocka_unit_test(test_hash_str_spreads_similar_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
