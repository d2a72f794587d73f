/*
 * tests/unit/objstore/test_store_remote.c - remote pulls (objstore/remote.h) in a
 * one-rank MPI-singleton job: two stores of the same process, both attached to one
 * transport context, and pulls "from rank 0" (ourselves) out of the source store's
 * arena into the destination store, through xport_pull like any remote pull.
 *
 * Checks contents and placement of pulled copies, stats.pulls, pulls of IDs already
 * here, argument and key validation, locations that do not check out, an unsealed
 * local object of the same ID, a full destination, dedup of concurrent pulls, and that
 * store_remote_detach waits for callbacks.
 */
#include "objstore/objhdr.h" /* STORE_OBJHDR_SIZE: where an unsealed object starts */
#include "objstore/remote.h"
#include "transport/xport.h"

#include <mpi.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "tests/unit/unit_mpi.h"

#include "store_test_util.h"

#define SRC_ARENA (64u << 20)
#define BIG_OBJECT (16u << 20)
#define WAIT_S 10.0

static xport_ctx_h  g_xport;
static test_store_t g_src, g_dst;
static void        *g_rkey; /* the source store's key blob */
static size_t       g_rkey_len;

/* --- fixtures ------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    return (xport_init(NULL, &g_xport) == RMPI_OK) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return (xport_fini(g_xport) == RMPI_OK) ? 0 : -1;
}

static int open_stores(void **state)
{
    (void)state;
    test_store_open(&g_src, SRC_ARENA, false, 0);
    test_store_open(&g_dst, SRC_ARENA, false, 0);
    assert_int_equal(store_remote_attach(g_src.store, g_xport), RMPI_OK);
    assert_int_equal(store_remote_attach(g_dst.store, g_xport), RMPI_OK);
    assert_int_equal(store_remote_rkey(g_src.store, &g_rkey, &g_rkey_len), RMPI_OK);
    return 0;
}

static int close_stores(void **state)
{
    (void)state;
    free(g_rkey);
    store_remote_detach(g_dst.store);
    store_remote_detach(g_src.store);
    test_store_close(&g_dst);
    test_store_close(&g_src);
    return 0;
}

/* --- helpers -------------------------------------------------------------------------- */

/* Put object @a n of @a size test bytes into the source; its offset there. */
static uint64_t put_source(uint64_t n, size_t size)
{
    store_oid_t  oid = test_oid(n);
    store_view_t view;
    uint8_t     *buf = malloc(size + 1);

    assert_non_null(buf);
    for (size_t i = 0; i < size; ++i) {
        buf[i] = test_byte(n, i);
    }
    assert_int_equal(store_put(g_src.store, &oid, buf, size, 0), RMPI_OK);
    free(buf);
    assert_int_equal(store_get(g_src.store, &oid, &view), RMPI_OK);
    assert_int_equal(store_release(g_src.store, &oid), RMPI_OK);
    return view.offset;
}

static rmpi_status_t pull(uint64_t n, uint64_t offset, size_t size)
{
    store_oid_t oid = test_oid(n);

    return store_pull_wait(g_dst.store, 0, g_rkey, g_rkey_len, &oid, offset, size, WAIT_S);
}

static store_stats_t dst_stats(void)
{
    store_stats_t stats;

    store_stats(g_dst.store, &stats);
    return stats;
}

/* Object @a n is sealed in the destination, in its arena, with the source's bytes. */
static void assert_copy(uint64_t n, size_t size)
{
    store_oid_t    oid = test_oid(n);
    store_view_t   view;
    const uint8_t *p;
    void          *base;
    size_t         len;

    assert_int_equal(store_get(g_dst.store, &oid, &view), RMPI_OK);
    store_arena_region(g_dst.store, &base, &len);
    p = view.ptr;
    assert_true((p >= (uint8_t *)base) && (p + view.size <= (uint8_t *)base + len));
    assert_int_equal(view.size, size);
    for (size_t i = 0; i < size; ++i) {
        if (p[i] != test_byte(n, i)) {
            fail_msg("byte %zu of object %llu differs", i, (unsigned long long)n);
        }
    }
    assert_int_equal(store_release(g_dst.store, &oid), RMPI_OK);
}

typedef struct pull_result {
    pthread_mutex_t lock;
    pthread_cond_t  cond;
    int             calls;
    rmpi_status_t   status; /* RMPI_OK, or the last failure */
} pull_result_t;

#define PULL_RESULT_INIT                                                \
    {                                                                   \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, RMPI_OK \
    }

static void pull_done(void *arg, rmpi_status_t status)
{
    pull_result_t *res = arg;

    pthread_mutex_lock(&res->lock);
    res->calls++;
    if (status != RMPI_OK) {
        res->status = status; /* any failure sticks */
    }
    pthread_cond_broadcast(&res->cond);
    pthread_mutex_unlock(&res->lock);
}

static void wait_calls(pull_result_t *res, int calls)
{
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)WAIT_S;
    pthread_mutex_lock(&res->lock);
    while ((res->calls < calls) &&
           (pthread_cond_timedwait(&res->cond, &res->lock, &deadline) == 0)) {
    }
    pthread_mutex_unlock(&res->lock);
    assert_int_equal(res->calls, calls);
}

/* --- tests ---------------------------------------------------------------------------- */

static void test_pull_copies(void **state)
{
    static const size_t sizes[] = {0, 100, 4096, BIG_OBJECT};
    store_stats_t       before  = dst_stats();

    (void)state;
    for (uint64_t n = 0; n < 4; ++n) {
        uint64_t offset = put_source(n, sizes[n]);

        assert_int_equal(pull(n, offset, sizes[n]), RMPI_OK);
        assert_copy(n, sizes[n]);
    }
    assert_int_equal(dst_stats().pulls, before.pulls + 4);
    assert_int_equal(dst_stats().sealed, before.sealed + 4);

    /* Already here: RMPI_OK without a transfer, even from a location that is wrong. */
    assert_int_equal(pull(3, 0, BIG_OBJECT), RMPI_OK);
    assert_int_equal(dst_stats().pulls, before.pulls + 4);
}

static void test_pull_bad_arguments(void **state)
{
    pull_result_t res = PULL_RESULT_INIT;
    store_oid_t   oid = test_oid(10);
    test_store_t  lone;
    uint8_t      *bad = malloc(g_rkey_len);

    (void)state;
    assert_non_null(bad);
    memcpy(bad, g_rkey, g_rkey_len);
    bad[0] ^= 1; /* the magic */
    assert_int_equal(store_pull(g_dst.store, 0, bad, g_rkey_len, &oid, 0, 8, 0, pull_done, &res),
                     RMPI_ERR_INVALID_ARG);
    assert_int_equal(
        store_pull(g_dst.store, 0, g_rkey, g_rkey_len - 1, &oid, 0, 8, 0, pull_done, &res),
        RMPI_ERR_INVALID_ARG);
    assert_int_equal(store_pull(g_dst.store, 0, g_rkey, 8, &oid, 0, 8, 0, pull_done, &res),
                     RMPI_ERR_INVALID_ARG);
    assert_int_equal(store_pull(g_dst.store, 0, NULL, 0, &oid, 0, 8, 0, pull_done, &res),
                     RMPI_ERR_INVALID_ARG);
    assert_int_equal(store_pull(g_dst.store, 0, g_rkey, g_rkey_len, &oid, 0, 8, 1, pull_done, &res),
                     RMPI_ERR_INVALID_ARG);
    assert_int_equal(
        store_pull(g_dst.store, -1, g_rkey, g_rkey_len, &oid, 0, 8, 0, pull_done, &res),
        RMPI_ERR_INVALID_ARG);
    assert_int_equal(store_pull_wait(g_dst.store, 0, g_rkey, g_rkey_len, &oid, 0, 8, -1),
                     RMPI_ERR_INVALID_ARG);
    test_store_open(&lone, 1 << 20, false, 0);
    assert_int_equal(store_pull(lone.store, 0, g_rkey, g_rkey_len, &oid, 0, 8, 0, pull_done, &res),
                     RMPI_ERR_NOT_READY);
    test_store_close(&lone);
    assert_int_equal(res.calls, 0); /* refused calls never call back */
    free(bad);
}

static void test_pull_not_found(void **state)
{
    store_stats_t before;
    store_oid_t   oid = test_oid(20), unsealed = test_oid(21);
    uint64_t      offset = put_source(20, 8192);
    void         *ptr, *base;
    size_t        len;

    (void)state;
    assert_int_equal(store_create_object(g_src.store, &unsealed, 64, 0, &ptr), RMPI_OK);
    before = dst_stats();
    assert_int_equal(pull(20, offset + 4096, 8192), RMPI_ERR_NOT_FOUND); /* inside it */
    assert_int_equal(pull(20, offset, 8191), RMPI_ERR_NOT_FOUND);        /* wrong size */
    assert_int_equal(pull(20, offset + 1, 8192), RMPI_ERR_NOT_FOUND);    /* misaligned */
    assert_int_equal(pull(20, SRC_ARENA, 0), RMPI_ERR_NOT_FOUND);        /* past the end */
    assert_int_equal(pull(20, SRC_ARENA - 64, 64), RMPI_ERR_NOT_FOUND);  /* runs past it */
    assert_int_equal(pull(20, UINT64_MAX - 63, 8192), RMPI_ERR_NOT_FOUND);
    store_arena_region(g_src.store, &base, &len);
    assert_int_equal(pull(21, (uint64_t)((char *)ptr - (char *)base) - STORE_OBJHDR_SIZE, 64),
                     RMPI_ERR_NOT_FOUND); /* not sealed yet */
    assert_int_equal(store_delete(g_src.store, &unsealed), RMPI_OK);

    /* The source deleted it: its old location no longer checks out. */
    assert_int_equal(store_delete(g_src.store, &oid), RMPI_OK);
    assert_int_equal(pull(20, offset, 8192), RMPI_ERR_NOT_FOUND);

    assert_false(store_contains(g_dst.store, &oid));
    assert_int_equal(dst_stats().objects, before.objects);
    assert_int_equal(dst_stats().bytes_used, before.bytes_used);
    assert_int_equal(dst_stats().pulls, before.pulls);
}

static void test_pull_unsealed_local_object(void **state)
{
    store_oid_t oid    = test_oid(30);
    uint64_t    offset = put_source(30, 256);
    void       *ptr;

    (void)state;
    assert_int_equal(store_create_object(g_dst.store, &oid, 256, 0, &ptr), RMPI_OK);
    memset(ptr, 0x77, 256);
    assert_int_equal(pull(30, offset, 256), RMPI_ERR_EXISTS);
    /* The local object is untouched and still ours to seal. */
    assert_int_equal(((uint8_t *)ptr)[255], 0x77);
    assert_int_equal(store_seal(g_dst.store, &oid), RMPI_OK);
    assert_int_equal(store_delete(g_dst.store, &oid), RMPI_OK);
}

static void test_pull_no_room(void **state)
{
    test_store_t  small;
    store_oid_t   oid    = test_oid(40);
    uint64_t      offset = put_source(40, 2 << 20);
    store_stats_t stats;

    (void)state;
    test_store_open(&small, 1 << 20, false, 0);
    assert_int_equal(store_remote_attach(small.store, g_xport), RMPI_OK);
    assert_int_equal(store_remote_attach(small.store, g_xport), RMPI_ERR_EXISTS);
    assert_int_equal(
        store_pull_wait(small.store, 0, g_rkey, g_rkey_len, &oid, offset, 2 << 20, WAIT_S),
        RMPI_ERR_STORE_FULL);
    store_stats(small.store, &stats);
    assert_int_equal(stats.objects, 0);
    assert_int_equal(stats.bytes_used, 0);
    store_remote_detach(small.store);
    test_store_close(&small);
}

static void test_pull_dedup(void **state)
{
    pull_result_t res    = PULL_RESULT_INIT;
    store_oid_t   oid    = test_oid(50);
    uint64_t      offset = put_source(50, BIG_OBJECT);
    uint64_t      pulls  = dst_stats().pulls;

    (void)state;
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(store_pull(g_dst.store, 0, g_rkey, g_rkey_len, &oid, offset, BIG_OBJECT, 0,
                                    pull_done, &res),
                         RMPI_OK);
    }
    wait_calls(&res, 3);
    assert_int_equal(res.status, RMPI_OK);
    assert_int_equal(dst_stats().pulls, pulls + 1);
    assert_copy(50, BIG_OBJECT);
}

/* Detach returns only after the callback of a pull in flight has run. */
static void test_detach_waits(void **state)
{
    static pull_result_t res = PULL_RESULT_INIT; /* static: outlives a failed assert */
    test_store_t         other;
    store_oid_t          oid    = test_oid(60);
    uint64_t             offset = put_source(60, BIG_OBJECT);

    (void)state;
    test_store_open(&other, SRC_ARENA, false, 0);
    assert_int_equal(store_remote_attach(other.store, g_xport), RMPI_OK);
    assert_int_equal(store_pull(other.store, 0, g_rkey, g_rkey_len, &oid, offset, BIG_OBJECT, 0,
                                pull_done, &res),
                     RMPI_OK);
    store_remote_detach(other.store);
    assert_int_equal(res.calls, 1);
    assert_int_equal(res.status, RMPI_OK);
    assert_true(store_contains(other.store, &oid));
    test_store_close(&other);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pull_copies),    cmocka_unit_test(test_pull_bad_arguments),
        cmocka_unit_test(test_pull_not_found), cmocka_unit_test(test_pull_unsealed_local_object),
        cmocka_unit_test(test_pull_no_room),   cmocka_unit_test(test_pull_dedup),
        cmocka_unit_test(test_detach_waits),
    };
    int provided, failed;

    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    failed = setup(NULL);
    if (failed == 0) {
        failed = cmocka_run_group_tests(tests, open_stores, close_stores);
        failed |= teardown(NULL);
    }
    MPI_Finalize();
    return failed ? 1 : 0;
}
