/*
 * Unit tests of the store under memory pressure: eviction order (LRU secondaries
 * first, then primaries spilled), pinning, back-pressure (blocked creators woken by a
 * release or a delete, and timing out), oversubscription, and a full store.
 */
#include "objstore/store.h"

#include "base/clock.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_test_util.h"

#define KIB 1024ull
#define MIB (1024ull * 1024)

/* An arena of exactly 10 objects of OBJ bytes (large: not from slabs). */
#define OBJ (100 * KIB)
#define ARENA_10 (4096 + MIB)

static void get_release(store_h store, uint64_t n)
{
    test_get_check(store, n, OBJ);
}

/* Secondaries go first, least recently used first; primaries are spilled only after. */
static void test_eviction_order(void **state)
{
    store_stats_t stats;
    test_store_t  ts;

    test_store_open(&ts, ARENA_10, true, 0);
    /* 1..3 secondary, 4..10 primary: the arena is full. */
    for (uint64_t n = 1; n <= 10; ++n) {
        assert_int_equal(test_put(ts.store, n, OBJ, (n <= 3) ? STORE_OBJECT_SECONDARY : 0),
                         RMPI_OK);
    }
    /* Use order (least recent first): 4 5 6 7 8 9 10 2 3 1 */
    for (uint64_t n = 4; n <= 10; ++n) {
        get_release(ts.store, n);
    }
    get_release(ts.store, 2);
    get_release(ts.store, 3);
    get_release(ts.store, 1);

    /* Each new object needs one slot: secondaries 2, 3, 1 go, in that order. */
    static const uint64_t evicted[] = {2, 3, 1};
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(test_put(ts.store, 100 + (uint64_t)i, OBJ, 0), RMPI_OK);
        store_stats(ts.store, &stats);
        assert_int_equal(stats.evictions, (uint64_t)i + 1);
        assert_int_equal(stats.spills, 0); /* no primary touched while secondaries remain */
        for (int j = 0; j < 3; ++j) {
            store_oid_t oid = test_oid(evicted[j]);

            assert_int_equal(store_contains(ts.store, &oid), j > i);
        }
    }
    /* Now primaries, least recently used first: 4, then 5. */
    assert_int_equal(test_put(ts.store, 200, OBJ, 0), RMPI_OK);
    assert_int_equal(test_put(ts.store, 201, OBJ, 0), RMPI_OK);
    store_stats(ts.store, &stats);
    assert_int_equal(stats.evictions, 3);
    assert_int_equal(stats.spills, 2);
    assert_int_equal(stats.spilled_objects, 2);
    assert_int_equal(stats.spilled_bytes, 2 * OBJ);
    /* Spilled primaries are still there, and come back intact. */
    for (uint64_t n = 4; n <= 10; ++n) {
        store_oid_t oid = test_oid(n);

        assert_true(store_contains(ts.store, &oid));
    }
    char        path[256], hex[33];
    store_oid_t four = test_oid(4), six = test_oid(6);
    store_oid_format(&four, hex);
    snprintf(path, sizeof(path), "%s/%s.spill", ts.spill_dir, hex);
    assert_true(test_path_exists(path));
    store_oid_format(&six, hex);
    snprintf(path, sizeof(path), "%s/%s.spill", ts.spill_dir, hex);
    assert_false(test_path_exists(path)); /* 6 was used more recently than 4 and 5 */
    get_release(ts.store, 4);
    store_stats(ts.store, &stats);
    assert_int_equal(stats.restores, 1);
    test_store_close(&ts);
}

/* Pinned or referenced objects are never evicted or spilled: the store is full instead. */
static void test_pinned_and_referenced_stay(void **state)
{
    store_view_t  views[10];
    store_stats_t stats;
    test_store_t  ts;

    test_store_open(&ts, ARENA_10, true, 0);
    for (uint64_t n = 1; n <= 10; ++n) {
        store_oid_t oid = test_oid(n);

        assert_int_equal(test_put(ts.store, n, OBJ, (n % 2) ? STORE_OBJECT_SECONDARY : 0), RMPI_OK);
        if (n <= 5) {
            assert_int_equal(store_pin(ts.store, &oid), RMPI_OK);
        } else {
            assert_int_equal(store_get(ts.store, &oid, &views[n - 1]), RMPI_OK);
        }
    }
    assert_int_equal(test_put(ts.store, 11, OBJ, 0), RMPI_ERR_STORE_FULL);
    store_stats(ts.store, &stats);
    assert_int_equal(stats.evictions + stats.spills, 0);
    for (uint64_t n = 6; n <= 10; ++n) {
        assert_true(test_check(views[n - 1].ptr, OBJ, n));
    }

    /* Unpinning 1 (a secondary) makes it the one to go. */
    store_oid_t one = test_oid(1);
    assert_int_equal(store_unpin(ts.store, &one), RMPI_OK);
    assert_int_equal(test_put(ts.store, 11, OBJ, 0), RMPI_OK);
    assert_false(store_contains(ts.store, &one));
    for (uint64_t n = 2; n <= 5; ++n) {
        get_release(ts.store, n);
    }
    test_store_close(&ts);
}

/* --- back-pressure ---------------------------------------------------------------------- */

typedef struct blocked_put {
    store_h       store;
    uint64_t      n;
    rmpi_status_t status;
} blocked_put_t;

static void *put_thread(void *p)
{
    blocked_put_t *arg = p;

    arg->status = test_put(arg->store, arg->n, OBJ, 0);
    return NULL;
}

/* Wait until @a count threads are blocked in the store waiting for room. */
static void wait_for_blocked(store_h store, size_t count)
{
    store_stats_t stats;

    for (;;) {
        store_stats(store, &stats);
        if (stats.waiting >= count) {
            return;
        }
        sched_yield(); /* the state we wait for, not a time: the thread gets there */
    }
}

/* Fill the arena with 10 objects held by get references; spilling off. */
static void fill_referenced(test_store_t *ts, uint64_t flags)
{
    store_view_t view;

    for (uint64_t n = 1; n <= 10; ++n) {
        store_oid_t oid = test_oid(n);

        assert_int_equal(test_put(ts->store, n, OBJ, flags), RMPI_OK);
        assert_int_equal(store_get(ts->store, &oid, &view), RMPI_OK);
    }
}

/* A creator blocked on a full store is woken by a release that makes a copy evictable. */
static void test_blocked_put_woken_by_release(void **state)
{
    test_store_t  ts;
    pthread_t     thread;
    blocked_put_t arg;
    store_oid_t   seven = test_oid(7);
    store_stats_t stats;

    test_store_open(&ts, ARENA_10, false, 60.0);
    fill_referenced(&ts, STORE_OBJECT_SECONDARY);
    arg = (blocked_put_t){.store = ts.store, .n = 11, .status = RMPI_ERR_LAST};
    assert_int_equal(pthread_create(&thread, NULL, put_thread, &arg), 0);
    wait_for_blocked(ts.store, 1);

    assert_int_equal(store_release(ts.store, &seven), RMPI_OK);
    pthread_join(thread, NULL);
    assert_int_equal(arg.status, RMPI_OK);
    assert_false(store_contains(ts.store, &seven)); /* evicted to make the room */
    store_stats(ts.store, &stats);
    assert_int_equal(stats.waiting, 0);
    assert_int_equal(stats.evictions, 1);
    test_get_check(ts.store, 11, OBJ);
    test_store_close(&ts);
}

/* A primary cannot be evicted (spilling off): a delete at its last release makes room. */
static void test_blocked_put_woken_by_delete(void **state)
{
    test_store_t  ts;
    pthread_t     threads[2];
    blocked_put_t args[2];
    store_oid_t   three = test_oid(3), four = test_oid(4);

    test_store_open(&ts, ARENA_10, false, 60.0);
    fill_referenced(&ts, 0);
    for (int i = 0; i < 2; ++i) {
        args[i] = (blocked_put_t){.store = ts.store, .n = 11 + (uint64_t)i};
        assert_int_equal(pthread_create(&threads[i], NULL, put_thread, &args[i]), 0);
    }
    wait_for_blocked(ts.store, 2);

    assert_int_equal(store_release(ts.store, &three), RMPI_OK); /* no room yet: primary */
    assert_int_equal(store_delete(ts.store, &three), RMPI_OK);  /* freed now */
    assert_int_equal(store_delete(ts.store, &four), RMPI_OK);   /* still referenced */
    assert_int_equal(store_release(ts.store, &four), RMPI_OK);  /* freed now */
    for (int i = 0; i < 2; ++i) {
        pthread_join(threads[i], NULL);
        assert_int_equal(args[i].status, RMPI_OK);
    }
    test_get_check(ts.store, 11, OBJ);
    test_get_check(ts.store, 12, OBJ);
    test_store_close(&ts);
}

/* With nothing to free, a creator waits put_timeout and fails; 0 fails at once. */
static void test_put_timeout(void **state)
{
    test_store_t ts;
    store_oid_t  eleven;
    uint64_t     start, waited;

    test_store_open(&ts, ARENA_10, false, 0.3);
    fill_referenced(&ts, 0);
    start = base_time_ns();
    assert_int_equal(test_put(ts.store, 11, OBJ, 0), RMPI_ERR_STORE_FULL);
    waited = base_time_ns() - start;
    assert_true(waited >= 250000000ull); /* it did wait (for about 0.3 s) */
    eleven = test_oid(11);
    assert_false(store_contains(ts.store, &eleven));
    test_store_close(&ts);

    test_store_open(&ts, ARENA_10, false, 0);
    fill_referenced(&ts, 0);
    start = base_time_ns();
    assert_int_equal(test_put(ts.store, 11, OBJ, 0), RMPI_ERR_STORE_FULL);
    assert_true(base_time_ns() - start < waited); /* no waiting */
    test_get_check(ts.store, 5, OBJ);             /* the others are intact */
    test_store_close(&ts);
}

/* 3x the capacity in objects of mixed sizes: every one reads back intact. */
static void test_oversubscription_3x(void **state)
{
    const size_t  arena = 4 * MIB;
    size_t        sizes[512], total = 0;
    uint64_t      count = 0, rng = 42;
    store_stats_t stats;
    test_store_t  ts;

    test_store_open(&ts, arena, true, 0);
    while (total < 3 * arena) {
        rng          = rng * 6364136223846793005ull + 1442695040888963407ull;
        sizes[count] = (count % 4 == 0) ? (size_t)(rng >> 44) % 3000 /* small */
                                        : 50 * KIB + (size_t)(rng >> 40) % (300 * KIB);
        assert_int_equal(test_put(ts.store, count, sizes[count], 0), RMPI_OK);
        total += sizes[count];
        count++;
        assert_true(count < 512);
    }
    for (uint64_t n = 0; n < count; ++n) {
        test_get_check(ts.store, n, sizes[n]);
    }
    /* And again in reverse order: restores evict the others back out. */
    for (uint64_t n = count; n-- > 0;) {
        test_get_check(ts.store, n, sizes[n]);
    }
    store_stats(ts.store, &stats);
    assert_int_equal(stats.objects, count);
    assert_true(stats.spills > 0);
    assert_true(stats.restores > 0);
    assert_true(stats.bytes_used <= stats.capacity);
    test_store_close(&ts);
}

/* Spilling off and nothing evictable: RMPI_ERR_STORE_FULL, nothing else lost. */
static void test_full_store_without_spilling(void **state)
{
    store_stats_t stats;
    test_store_t  ts;

    test_store_open(&ts, ARENA_10, false, 0);
    for (uint64_t n = 1; n <= 10; ++n) {
        assert_int_equal(test_put(ts.store, n, OBJ, 0), RMPI_OK);
    }
    assert_int_equal(test_put(ts.store, 11, OBJ, 0), RMPI_ERR_STORE_FULL);
    store_oid_t eleven = test_oid(11);
    assert_false(store_contains(ts.store, &eleven));
    store_stats(ts.store, &stats);
    assert_int_equal(stats.objects, 10);
    assert_int_equal(stats.spills + stats.evictions, 0);
    for (uint64_t n = 1; n <= 10; ++n) {
        get_release(ts.store, n);
    }
    /* Once one is deleted, the next fits. */
    store_oid_t one = test_oid(1);
    assert_int_equal(store_delete(ts.store, &one), RMPI_OK);
    assert_int_equal(test_put(ts.store, 11, OBJ, 0), RMPI_OK);
    test_store_close(&ts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eviction_order),
        cmocka_unit_test(test_pinned_and_referenced_stay),
        cmocka_unit_test(test_blocked_put_woken_by_release),
        cmocka_unit_test(test_blocked_put_woken_by_delete),
        cmocka_unit_test(test_put_timeout),
        cmocka_unit_test(test_oversubscription_3x),
        cmocka_unit_test(test_full_store_without_spilling),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
