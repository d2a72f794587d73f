/*
 * Unit tests of objstore/alloc.h: size classes, best fit, coalescing, and a long
 * random run checked against a shadow model of every byte of the region.
 */
#include "objstore/alloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define REGION_OFFSET 4096ull
#define KIB 1024ull
#define MIB (1024ull * 1024)

static store_alloc_t *alloc_new(uint64_t length)
{
    store_alloc_t *alloc = NULL;

    assert_int_equal(store_alloc_create(REGION_OFFSET, length, &alloc), RMPI_OK);
    assert_non_null(alloc);
    return alloc;
}

static void test_create_checks_alignment(void **state)
{
    store_alloc_t *sentinel = (store_alloc_t *)(uintptr_t)0x1;
    store_alloc_t *alloc    = sentinel;

    assert_int_equal(store_alloc_create(100, MIB, &alloc), RMPI_ERR_INVALID_ARG);
    assert_int_equal(store_alloc_create(REGION_OFFSET, MIB + 1, &alloc), RMPI_ERR_INVALID_ARG);
    assert_int_equal(store_alloc_create(REGION_OFFSET, 0, &alloc), RMPI_ERR_INVALID_ARG);
    assert_ptr_equal(alloc, sentinel); /* untouched on failure */
}

/* Every block is aligned, at least as big as asked, inside the region, and disjoint. */
static void test_alignment_bounds_and_disjoint(void **state)
{
    static const uint64_t sizes[] = {0,
                                     1,
                                     63,
                                     64,
                                     65,
                                     127,
                                     1000,
                                     4096 + 64,
                                     32 * KIB,
                                     32 * KIB + 64,
                                     32 * KIB + 65,
                                     100 * KIB,
                                     MIB,
                                     3 * MIB + 5};
    const size_t          n       = sizeof(sizes) / sizeof(sizes[0]);
    store_alloc_t        *alloc   = alloc_new(16 * MIB);
    store_block_t         blocks[sizeof(sizes) / sizeof(sizes[0])];
    store_alloc_stats_t   stats;
    uint64_t              used = 0;

    for (size_t i = 0; i < n; ++i) {
        assert_int_equal(store_alloc_get(alloc, sizes[i], &blocks[i]), RMPI_OK);
        assert_int_equal(blocks[i].offset % 64, 0);
        assert_int_equal(blocks[i].size % 64, 0);
        assert_true(blocks[i].size >= sizes[i]);
        assert_true(blocks[i].offset >= REGION_OFFSET);
        assert_true(blocks[i].offset + blocks[i].size <= REGION_OFFSET + 16 * MIB);
        /* Small requests come from slabs, large ones do not. */
        assert_int_equal(blocks[i].slab != NULL, sizes[i] <= STORE_ALLOC_SMALL_MAX);
        used += blocks[i].size;
        for (size_t j = 0; j < i; ++j) {
            assert_true(blocks[j].offset + blocks[j].size <= blocks[i].offset ||
                        blocks[i].offset + blocks[i].size <= blocks[j].offset);
        }
    }
    store_alloc_stats(alloc, &stats);
    assert_int_equal(stats.bytes_used, used);
    assert_int_equal(stats.blocks, n);
    for (size_t i = 0; i < n; ++i) {
        store_alloc_put(alloc, &blocks[i]);
    }
    store_alloc_stats(alloc, &stats);
    assert_int_equal(stats.bytes_used, 0);
    assert_int_equal(stats.blocks, 0);
    store_alloc_destroy(alloc);
}

/* A freed small block is handed out again, and one slab serves a whole class. */
static void test_small_class_reuse(void **state)
{
    store_alloc_t      *alloc = alloc_new(4 * MIB);
    store_block_t       blocks[16], again;
    store_alloc_stats_t stats;

    for (int i = 0; i < 16; ++i) {
        assert_int_equal(store_alloc_get(alloc, 64 + 100, &blocks[i]), RMPI_OK);
        assert_ptr_equal(blocks[i].slab, blocks[0].slab);
    }
    store_alloc_stats(alloc, &stats);
    assert_int_equal(stats.slab_bytes, STORE_ALLOC_SLAB_SIZE);

    store_alloc_put(alloc, &blocks[7]);
    assert_int_equal(store_alloc_get(alloc, 64 + 90, &again), RMPI_OK); /* same class */
    assert_int_equal(again.offset, blocks[7].offset);
    blocks[7] = again;

    /* Another class needs a slab of its own. */
    assert_int_equal(store_alloc_get(alloc, 64 + 4000, &again), RMPI_OK);
    assert_ptr_not_equal(again.slab, blocks[0].slab);
    store_alloc_stats(alloc, &stats);
    assert_int_equal(stats.slab_bytes, 2 * STORE_ALLOC_SLAB_SIZE);
    store_alloc_put(alloc, &again);
    for (int i = 0; i < 16; ++i) {
        store_alloc_put(alloc, &blocks[i]);
    }
    store_alloc_destroy(alloc);
}

/* Free every other block: the holes are too small; free the rest: they merge back. */
static void test_fragmentation_then_coalescing(void **state)
{
    const uint64_t      piece = 64 * KIB, count = 16;
    store_alloc_t      *alloc = alloc_new(piece * count);
    store_block_t       blocks[16], big;
    store_alloc_stats_t stats;

    for (uint64_t i = 0; i < count; ++i) {
        assert_int_equal(store_alloc_get(alloc, piece, &blocks[i]), RMPI_OK);
    }
    assert_int_equal(store_alloc_get(alloc, piece, &big), RMPI_ERR_STORE_FULL);

    for (uint64_t i = 0; i < count; i += 2) {
        store_alloc_put(alloc, &blocks[i]);
    }
    store_alloc_stats(alloc, &stats);
    assert_int_equal(stats.free_ranges, count / 2);
    assert_int_equal(stats.largest_free, piece);
    assert_int_equal(store_alloc_get(alloc, 2 * piece, &big), RMPI_ERR_STORE_FULL);

    /* Freeing in a scattered order must still merge every neighbour. */
    for (uint64_t i = count - 1; i < count; i -= 4) {
        store_alloc_put(alloc, &blocks[i]);
    }
    for (uint64_t i = 1; i < count; i += 4) {
        store_alloc_put(alloc, &blocks[i]);
    }
    store_alloc_stats(alloc, &stats);
    assert_int_equal(stats.free_ranges, 1);
    assert_int_equal(stats.largest_free, piece * count);
    assert_int_equal(store_alloc_get(alloc, piece * count, &big), RMPI_OK);
    assert_int_equal(big.offset, REGION_OFFSET);
    store_alloc_put(alloc, &big);
    store_alloc_destroy(alloc);
}

/* Best fit: of several holes, the smallest that fits is used. */
static void test_best_fit_picks_smallest_hole(void **state)
{
    store_alloc_t *alloc = alloc_new(4 * MIB);
    store_block_t  a, sep1, b, sep2, c, rest, got;

    /* Holes of 300K, 100K and 200K, separated by allocated blocks. */
    assert_int_equal(store_alloc_get(alloc, 300 * KIB, &a), RMPI_OK);
    assert_int_equal(store_alloc_get(alloc, 64 * KIB, &sep1), RMPI_OK);
    assert_int_equal(store_alloc_get(alloc, 100 * KIB, &b), RMPI_OK);
    assert_int_equal(store_alloc_get(alloc, 64 * KIB, &sep2), RMPI_OK);
    assert_int_equal(store_alloc_get(alloc, 200 * KIB, &c), RMPI_OK);
    assert_int_equal(store_alloc_get(alloc, 4 * MIB - 728 * KIB, &rest), RMPI_OK);
    store_alloc_put(alloc, &a);
    store_alloc_put(alloc, &b);
    store_alloc_put(alloc, &c);

    assert_int_equal(store_alloc_get(alloc, 150 * KIB, &got), RMPI_OK);
    assert_int_equal(got.offset, c.offset);
    store_alloc_put(alloc, &got);
    assert_int_equal(store_alloc_get(alloc, 90 * KIB, &got), RMPI_OK);
    assert_int_equal(got.offset, b.offset);
    store_alloc_put(alloc, &got);

    store_alloc_put(alloc, &sep1);
    store_alloc_put(alloc, &sep2);
    store_alloc_put(alloc, &rest);
    store_alloc_destroy(alloc);
}

/* Empty slabs kept against churn are given back when a large request needs the room. */
static void test_empty_slabs_returned_under_pressure(void **state)
{
    const uint64_t      length = 2 * STORE_ALLOC_SLAB_SIZE;
    store_alloc_t      *alloc  = alloc_new(length);
    store_block_t       small1, small2, whole;
    store_alloc_stats_t stats;

    assert_int_equal(store_alloc_get(alloc, 128, &small1), RMPI_OK);
    assert_int_equal(store_alloc_get(alloc, 64 + 8192, &small2), RMPI_OK);
    store_alloc_put(alloc, &small1);
    store_alloc_put(alloc, &small2);
    store_alloc_stats(alloc, &stats);
    assert_int_equal(stats.slab_bytes, 2 * STORE_ALLOC_SLAB_SIZE); /* cached, empty */

    assert_int_equal(store_alloc_get(alloc, length, &whole), RMPI_OK);
    store_alloc_stats(alloc, &stats);
    assert_int_equal(stats.slab_bytes, 0);
    store_alloc_put(alloc, &whole);
    store_alloc_destroy(alloc);
}

/* Placed requests: (offset + skew) % align == 0; the skipped bytes stay usable. */
static void test_placed_blocks(void **state)
{
    const store_alloc_place_t page = {.align = 4096, .skew = 64}, bad = {.align = 3000};
    store_alloc_t            *alloc = alloc_new(4 * MIB);
    store_block_t             first, placed[3], fill, sentinel = {.offset = 7}, out = sentinel;
    store_alloc_stats_t       stats;

    assert_int_equal(store_alloc_get(alloc, 100 * KIB, &first), RMPI_OK); /* offset 4096 */
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(
            store_alloc_get_placed(alloc, 64 + 300 * KIB + 64 * (uint64_t)i, &page, &placed[i]),
            RMPI_OK);
        assert_int_equal((placed[i].offset + 64) % 4096, 0);
        assert_null(placed[i].slab);
    }
    /* Even a small placed request is placed (not from a slab). */
    assert_int_equal(store_alloc_get_placed(alloc, 128, &page, &fill), RMPI_OK);
    assert_int_equal((fill.offset + 64) % 4096, 0);
    store_alloc_put(alloc, &fill);
    assert_int_equal(store_alloc_get_placed(alloc, 128, &bad, &out), RMPI_ERR_INVALID_ARG);
    assert_memory_equal(&out, &sentinel, sizeof(out));

    store_alloc_put(alloc, &first);
    for (int i = 0; i < 3; ++i) {
        store_alloc_put(alloc, &placed[i]);
    }
    store_alloc_stats(alloc, &stats);
    assert_int_equal(stats.bytes_used, 0);
    assert_int_equal(stats.free_ranges, 1); /* the gaps merged back */
    assert_int_equal(stats.largest_free, 4 * MIB);
    store_alloc_destroy(alloc);
}

/* --- random run against a shadow model -------------------------------------------------- */

#define SHADOW_LEN (8 * MIB)
#define SHADOW_UNITS (SHADOW_LEN / 64)
#define SHADOW_SLOTS 512

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint64_t random_size(uint64_t *rng)
{
    switch (rng_next(rng) % 4) {
    case 0:
        return rng_next(rng) % 512; /* tiny */
    case 1:
        return rng_next(rng) % (32 * KIB + 64); /* any small class */
    case 2:
        return 32 * KIB + rng_next(rng) % (200 * KIB);
    default:
        return rng_next(rng) % (1 * MIB); /* large */
    }
}

/* Mark (or clear) the units of @a block in @a owner; fail on any overlap. */
static void shadow_mark(uint16_t *owner, const store_block_t *block, uint16_t id)
{
    uint64_t first = (block->offset - REGION_OFFSET) / 64;

    assert_true(block->offset >= REGION_OFFSET);
    assert_true(block->offset + block->size <= REGION_OFFSET + SHADOW_LEN);
    for (uint64_t u = first; u < first + block->size / 64; ++u) {
        if (id != 0) {
            assert_int_equal(owner[u], 0); /* nobody else holds these bytes */
        } else {
            assert_int_not_equal(owner[u], 0);
        }
        owner[u] = id;
    }
}

static void test_random_against_shadow(void **state)
{
    const store_alloc_place_t page = {.align = 4096, .skew = 64}, plain = {.align = 64};
    store_alloc_t            *alloc = alloc_new(SHADOW_LEN);
    uint16_t                 *owner = calloc(SHADOW_UNITS, sizeof(*owner));
    store_block_t             slots[SHADOW_SLOTS];
    bool                      live[SHADOW_SLOTS] = {false};
    uint64_t                  rng = 0x9e3779b97f4a7c15ull, used = 0;
    size_t                    fulls = 0, nlive = 0;
    store_alloc_stats_t       stats;
    store_block_t             whole;

    assert_non_null(owner);
    for (int op = 0; op < 40000; ++op) {
        size_t   i    = rng_next(&rng) % SHADOW_SLOTS;
        uint64_t size = random_size(&rng);

        if (live[i]) {
            shadow_mark(owner, &slots[i], 0);
            used -= slots[i].size;
            store_alloc_put(alloc, &slots[i]);
            live[i] = false;
            nlive--;
        } else if (store_alloc_get_placed(alloc, size, (op % 5 == 0) ? &page : &plain, &slots[i]) ==
                   RMPI_OK) {
            assert_int_equal(slots[i].offset % 64, 0);
            assert_true((op % 5 != 0) || ((slots[i].offset + 64) % 4096 == 0));
            assert_true(slots[i].size >= size);
            shadow_mark(owner, &slots[i], (uint16_t)(i + 1));
            used += slots[i].size;
            live[i] = true;
            nlive++;
        } else {
            fulls++;
        }
        if (op % 1000 == 0) {
            store_alloc_stats(alloc, &stats);
            assert_int_equal(stats.bytes_used, used);
            assert_int_equal(stats.blocks, nlive);
        }
    }
    assert_true(fulls > 0); /* the run did reach a full region */

    for (size_t i = 0; i < SHADOW_SLOTS; ++i) {
        if (live[i]) {
            shadow_mark(owner, &slots[i], 0);
            store_alloc_put(alloc, &slots[i]);
        }
    }
    /* Everything merges back: the whole region fits again. */
    assert_int_equal(store_alloc_get(alloc, SHADOW_LEN, &whole), RMPI_OK);
    store_alloc_put(alloc, &whole);
    store_alloc_stats(alloc, &stats);
    assert_int_equal(stats.free_ranges, 1);
    assert_int_equal(stats.largest_free, SHADOW_LEN);
    free(owner);
    store_alloc_destroy(alloc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_checks_alignment),
        cmocka_unit_test(test_alignment_bounds_and_disjoint),
        cmocka_unit_test(test_small_class_reuse),
        cmocka_unit_test(test_fragmentation_then_coalescing),
        cmocka_unit_test(test_best_fit_picks_smallest_hole),
        cmocka_unit_test(test_empty_slabs_returned_under_pressure),
        cmocka_unit_test(test_placed_blocks),
        cmocka_unit_test(test_random_against_shadow),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
