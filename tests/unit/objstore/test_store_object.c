/*
 * Unit tests of objstore/store.h: the object life cycle (create, seal, get, release,
 * delete, pin), its errors, statistics, configuration, and many threads at once.
 */
#include "objstore/store.h"

#include "base/clock.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_test_util.h"

#define MIB (1024ull * 1024)

/* Data round-trips; payloads are 64-byte (large ones page) aligned; the offset locates them. */
static void test_put_get_roundtrip_alignment_offset(void **state)
{
    static const size_t sizes[] = {0, 1, 63, 64, 100, 4096, 32768, 40000, 1000000, 1 << 20};
    test_store_t        ts;
    void               *base;
    size_t              len;

    test_store_open(&ts, 8 * MIB, false, 0);
    store_arena_region(ts.store, &base, &len);
    assert_int_equal(len, 8 * MIB);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); ++i) {
        store_oid_t  oid = test_oid(i);
        store_view_t view;

        assert_int_equal(test_put(ts.store, i, sizes[i], 0), RMPI_OK);
        assert_int_equal(store_get(ts.store, &oid, &view), RMPI_OK);
        assert_int_equal(view.size, sizes[i]);
        assert_int_equal((uintptr_t)view.ptr % 64, 0);
        if (sizes[i] >= (1 << 20) - 64) { /* large payloads start on a page */
            assert_int_equal((uintptr_t)view.ptr % 4096, 0);
        }
        assert_ptr_equal(view.ptr, (char *)base + view.offset + 64); /* header before it */
        assert_true(view.offset + 64 + view.size <= len);
        assert_true(test_check(view.ptr, view.size, i));
        assert_int_equal(store_release(ts.store, &oid), RMPI_OK);
    }
    test_store_close(&ts);
}

/* Unsealed objects are not readable, absent ones not found, IDs are unique. */
static void test_seal_semantics(void **state)
{
    store_view_t sentinel = {.ptr = (void *)0x1, .size = 7, .offset = 9};
    store_view_t view     = sentinel;
    store_oid_t  oid = test_oid(1), absent = test_oid(2);
    test_store_t ts;
    void        *ptr, *ptr2;

    test_store_open(&ts, 4 * MIB, false, 0);
    assert_int_equal(store_get(ts.store, &absent, &view), RMPI_ERR_NOT_FOUND);
    assert_int_equal(store_create_object(ts.store, &oid, 1000, 0, &ptr), RMPI_OK);
    assert_int_equal(store_get(ts.store, &oid, &view), RMPI_ERR_NOT_READY);
    assert_memory_equal(&view, &sentinel, sizeof(view)); /* untouched on failure */
    assert_false(store_contains(ts.store, &oid));
    assert_int_equal(store_create_object(ts.store, &oid, 10, 0, &ptr2), RMPI_ERR_EXISTS);
    test_fill(ptr, 1000, 1);
    assert_int_equal(store_seal(ts.store, &oid), RMPI_OK);
    assert_true(store_contains(ts.store, &oid));

    /* After seal there is no way to a writable buffer again. */
    assert_int_equal(store_seal(ts.store, &oid), RMPI_ERR_INVALID_ARG);
    assert_int_equal(store_create_object(ts.store, &oid, 1000, 0, &ptr2), RMPI_ERR_EXISTS);
    assert_int_equal(store_put(ts.store, &oid, "x", 1, 0), RMPI_ERR_EXISTS);
    assert_int_equal(store_seal(ts.store, &absent), RMPI_ERR_NOT_FOUND);
    test_get_check(ts.store, 1, 1000);
    test_store_close(&ts);
}

/* References are counted; a release without a reference is an error. */
static void test_refcounts(void **state)
{
    store_oid_t  oid = test_oid(5);
    store_view_t v1, v2;
    test_store_t ts;

    test_store_open(&ts, 4 * MIB, false, 0);
    assert_int_equal(test_put(ts.store, 5, 5000, 0), RMPI_OK);
    assert_int_equal(store_release(ts.store, &oid), RMPI_ERR_INVALID_ARG);
    assert_int_equal(store_get(ts.store, &oid, &v1), RMPI_OK);
    assert_int_equal(store_get(ts.store, &oid, &v2), RMPI_OK);
    assert_ptr_equal(v1.ptr, v2.ptr);
    assert_int_equal(store_release(ts.store, &oid), RMPI_OK);
    assert_int_equal(store_release(ts.store, &oid), RMPI_OK);
    assert_int_equal(store_release(ts.store, &oid), RMPI_ERR_INVALID_ARG);
    test_store_close(&ts);
}

/* Delete frees at once when unused, at the last release when referenced, never when pinned. */
static void test_delete_semantics(void **state)
{
    store_oid_t   a = test_oid(1), b = test_oid(2);
    store_stats_t before, stats;
    store_view_t  view;
    test_store_t  ts;

    test_store_open(&ts, 4 * MIB, false, 0);
    store_stats(ts.store, &before);
    assert_int_equal(test_put(ts.store, 1, 100000, 0), RMPI_OK);
    assert_int_equal(store_delete(ts.store, &a), RMPI_OK);
    store_stats(ts.store, &stats);
    assert_int_equal(stats.bytes_used, before.bytes_used);
    assert_int_equal(stats.objects, 0);
    assert_int_equal(store_delete(ts.store, &a), RMPI_ERR_NOT_FOUND);

    /* Referenced: gone for everyone now, memory freed at the last release. */
    assert_int_equal(test_put(ts.store, 2, 100000, 0), RMPI_OK);
    assert_int_equal(store_get(ts.store, &b, &view), RMPI_OK);
    assert_int_equal(store_delete(ts.store, &b), RMPI_OK);
    assert_false(store_contains(ts.store, &b));
    assert_int_equal(store_get(ts.store, &b, &view), RMPI_ERR_NOT_FOUND);
    assert_true(test_check(view.ptr, view.size, 2)); /* the holder can still read */
    store_stats(ts.store, &stats);
    assert_true(stats.bytes_used >= before.bytes_used + 100000);
    assert_int_equal(store_release(ts.store, &b), RMPI_OK);
    store_stats(ts.store, &stats);
    assert_int_equal(stats.bytes_used, before.bytes_used);
    assert_int_equal(stats.objects, 0);

    /* Pinned: refused until unpinned. */
    assert_int_equal(test_put(ts.store, 1, 1000, 0), RMPI_OK);
    assert_int_equal(store_pin(ts.store, &a), RMPI_OK);
    assert_int_equal(store_delete(ts.store, &a), RMPI_ERR_BUSY);
    assert_true(store_contains(ts.store, &a));
    assert_int_equal(store_unpin(ts.store, &a), RMPI_OK);
    assert_int_equal(store_unpin(ts.store, &a), RMPI_ERR_INVALID_ARG);
    assert_int_equal(store_delete(ts.store, &a), RMPI_OK);
    assert_int_equal(store_pin(ts.store, &a), RMPI_ERR_NOT_FOUND);
    test_store_close(&ts);
}

/* Deleting an unsealed object aborts its creation and frees its room. */
static void test_delete_unsealed_aborts(void **state)
{
    store_oid_t   oid = test_oid(3);
    store_stats_t stats;
    test_store_t  ts;
    void         *ptr;

    test_store_open(&ts, 4 * MIB, false, 0);
    assert_int_equal(store_create_object(ts.store, &oid, 3 * MIB, 0, &ptr), RMPI_OK);
    assert_int_equal(store_delete(ts.store, &oid), RMPI_OK);
    store_stats(ts.store, &stats);
    assert_int_equal(stats.bytes_used, 0);
    assert_int_equal(stats.objects, 0);
    assert_int_equal(store_seal(ts.store, &oid), RMPI_ERR_NOT_FOUND);
    /* The room is back: the same size fits again, under the same ID. */
    assert_int_equal(test_put(ts.store, 3, 3 * MIB, 0), RMPI_OK);
    test_get_check(ts.store, 3, 3 * MIB);
    test_store_close(&ts);
}

/* Statistics follow objects in and out. */
static void test_stats_follow_objects(void **state)
{
    store_oid_t   oid = test_oid(0);
    store_stats_t stats;
    test_store_t  ts;
    void         *ptr;

    test_store_open(&ts, 4 * MIB, false, 0);
    store_stats(ts.store, &stats);
    assert_int_equal(stats.capacity, 4 * MIB - 4096);
    assert_int_equal(stats.objects, 0);
    for (uint64_t i = 1; i <= 10; ++i) {
        assert_int_equal(test_put(ts.store, i, 1000 * i, (i % 2) ? STORE_OBJECT_SECONDARY : 0),
                         RMPI_OK);
    }
    assert_int_equal(store_create_object(ts.store, &oid, 10, 0, &ptr), RMPI_OK);
    store_stats(ts.store, &stats);
    assert_int_equal(stats.objects, 11);
    assert_int_equal(stats.sealed, 10);
    assert_true(stats.bytes_used >= 55000 + 11 * 64);
    assert_int_equal(stats.evictions + stats.spills + stats.restores + stats.pulls, 0);
    assert_int_equal(store_seal(ts.store, &oid), RMPI_OK);
    for (uint64_t i = 0; i <= 10; ++i) {
        store_oid_t id = test_oid(i);

        assert_int_equal(store_delete(ts.store, &id), RMPI_OK);
    }
    store_stats(ts.store, &stats);
    assert_int_equal(stats.objects, 0);
    assert_int_equal(stats.sealed, 0);
    assert_int_equal(stats.bytes_used, 0);
    test_store_close(&ts);
}

/* Too large for the arena: fails at once (no waiting), whatever the timeout. */
static void test_too_large_fails_immediately(void **state)
{
    store_oid_t  oid      = test_oid(1);
    void        *sentinel = (void *)0x1, *ptr = sentinel;
    test_store_t ts;
    uint64_t     start;

    test_store_open(&ts, 2 * MIB, true, 30.0);
    start = base_time_ns();
    assert_int_equal(store_create_object(ts.store, &oid, 2 * MIB, 0, &ptr), RMPI_ERR_STORE_FULL);
    assert_int_equal(store_create_object(ts.store, &oid, SIZE_MAX - 10, 0, &ptr),
                     RMPI_ERR_STORE_FULL);
    assert_true(base_time_ns() - start < 5000000000ull); /* nowhere near the 30 s */
    /* The largest object: the capacity, less its header and the page its payload skips. */
    const size_t largest = 2 * MIB - 4096 - (4096 - 64) - 64;
    assert_int_equal(store_create_object(ts.store, &oid, largest + 1, 0, &ptr),
                     RMPI_ERR_STORE_FULL);
    assert_true(base_time_ns() - start < 5000000000ull); /* nowhere near the 30 s */
    assert_ptr_equal(ptr, sentinel);
    assert_false(store_contains(ts.store, &oid));
    assert_int_equal(test_put(ts.store, 1, largest, 0), RMPI_OK);
    test_get_check(ts.store, 1, largest);
    test_store_close(&ts);
}

/* Config: the environment sets defaults, params override them, bad values fail. */
static void test_config_and_params(void **state)
{
    store_params_t params = {.field_mask = STORE_PARAM_JOB_ID | STORE_PARAM_SPILL,
                             .job_id     = "utest-config",
                             .spill      = false};
    store_stats_t  stats;
    store_h        store = NULL;
    test_store_t   ts;

    setenv("RAYMPI_STORE_ARENA_SIZE", "3M", 1);
    assert_int_equal(store_create(&params, &store), RMPI_OK);
    store_stats(store, &stats);
    assert_int_equal(stats.capacity, 3 * MIB - 4096);
    store_destroy(store);

    test_store_open(&ts, 5 * MIB, false, 0); /* params beat the environment */
    store_stats(ts.store, &stats);
    assert_int_equal(stats.capacity, 5 * MIB - 4096);
    test_store_close(&ts);

    setenv("RAYMPI_STORE_ARENA_SIZE", "lots", 1);
    assert_int_equal(store_create(&params, &store), RMPI_ERR_CONFIG);
    unsetenv("RAYMPI_STORE_ARENA_SIZE");
    params.field_mask |= STORE_PARAM_ARENA_SIZE;
    params.arena_size = 100;
    assert_int_equal(store_create(&params, &store), RMPI_ERR_INVALID_ARG);
    assert_int_equal(store_create(NULL, NULL), RMPI_ERR_INVALID_ARG);
}

/* --- many threads ------------------------------------------------------------------------ */

#define MT_THREADS 4
#define MT_OPS 3000
#define MT_LAG 12

typedef struct mt_arg {
    store_h            store;
    int                id;
    pthread_barrier_t *start;
    int                failures;
} mt_arg_t;

/*
 * Each thread puts its own objects and reads back, then deletes, the one it put
 * MT_LAG steps earlier; all threads share the allocator, table, LRU lists and spilling.
 * Only a secondary copy may have vanished (evicted); everything else must be intact.
 */
static void *mt_worker(void *p)
{
    mt_arg_t *arg = p;
    uint64_t  rng = 0x12345ull + (uint64_t)arg->id;

    pthread_barrier_wait(arg->start);
    for (uint64_t op = 0; op < MT_OPS; ++op) {
        uint64_t      n    = (uint64_t)arg->id * 1000000 + op;
        size_t        size = (size_t)((rng = rng * 6364136223846793005ull + 1) >> 45) % 70000;
        store_oid_t   old  = test_oid(n - MT_LAG);
        store_view_t  view;
        rmpi_status_t status;
        bool          secondary;

        arg->failures +=
            test_put(arg->store, n, size, (op % 3) ? 0 : STORE_OBJECT_SECONDARY) != RMPI_OK;
        if (op < MT_LAG) {
            continue;
        }
        secondary = ((op - MT_LAG) % 3 == 0);
        status    = store_get(arg->store, &old, &view);
        if (status == RMPI_OK) {
            arg->failures += !test_check(view.ptr, view.size, n - MT_LAG);
            arg->failures += store_release(arg->store, &old) != RMPI_OK;
            /* Released, a secondary copy may be evicted before we delete it. */
            status = store_delete(arg->store, &old);
        }
        arg->failures += !((status == RMPI_OK) || (secondary && status == RMPI_ERR_NOT_FOUND));
    }
    return NULL;
}

static void test_threads_share_one_store(void **state)
{
    pthread_t         threads[MT_THREADS];
    mt_arg_t          args[MT_THREADS];
    pthread_barrier_t start;
    store_stats_t     stats;
    test_store_t      ts;

    /* Small enough that spilling and restoring run concurrently with everything else. */
    test_store_open(&ts, 4 * MIB, true, 10.0);
    pthread_barrier_init(&start, NULL, MT_THREADS);
    for (int i = 0; i < MT_THREADS; ++i) {
        args[i] = (mt_arg_t){.store = ts.store, .id = i, .start = &start};
        assert_int_equal(pthread_create(&threads[i], NULL, mt_worker, &args[i]), 0);
    }
    for (int i = 0; i < MT_THREADS; ++i) {
        pthread_join(threads[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    pthread_barrier_destroy(&start);
    store_stats(ts.store, &stats);
    assert_true(stats.spills > 0); /* the run really was under pressure */
    assert_true(stats.evictions > 0);
    test_store_close(&ts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_roundtrip_alignment_offset),
        cmocka_unit_test(test_seal_semantics),
        cmocka_unit_test(test_refcounts),
        cmocka_unit_test(test_delete_semantics),
        cmocka_unit_test(test_delete_unsealed_aborts),
        cmocka_unit_test(test_stats_follow_objects),
        cmocka_unit_test(test_too_large_fails_immediately),
        cmocka_unit_test(test_config_and_params),
        cmocka_unit_test(test_threads_share_one_store),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
