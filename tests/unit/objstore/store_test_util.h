/*
 * tests/unit/objstore/store_test_util.h - helpers shared by the object-store unit
 * tests. Include after <cmocka.h>.
 *
 * Every store a test makes gets a job ID of its own ("utest-<pid>-<n>") and a fresh
 * spill folder under a private temporary directory, so tests never see each other's
 * arenas or files, and parallel `make check` runs do not collide.
 */
#ifndef TESTS_UNIT_OBJSTORE_UTIL_H_
#define TESTS_UNIT_OBJSTORE_UTIL_H_

#include "objstore/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct test_store {
    store_h store;
    char    job_id[64];
    char    tmp_dir[64];    /* the test's private folder (spill files go below it) */
    char    spill_dir[128]; /* this store's own spill folder */
} test_store_t;

static inline void test_store_open_ex(test_store_t *ts, size_t arena_size, bool spill,
                                      double put_timeout, int rank, const char *job_id)
{
    static unsigned counter;
    store_params_t  params = {
         .field_mask = STORE_PARAM_ARENA_SIZE | STORE_PARAM_SPILL_DIR | STORE_PARAM_JOB_ID |
                       STORE_PARAM_PUT_TIMEOUT | STORE_PARAM_SPILL | STORE_PARAM_RANK,
         .arena_size  = arena_size,
         .spill       = spill,
         .put_timeout = put_timeout,
         .rank        = rank,
    };

    if (job_id != NULL) {
        snprintf(ts->job_id, sizeof(ts->job_id), "%s", job_id);
    } else {
        snprintf(ts->job_id, sizeof(ts->job_id), "utest-%d-%u", (int)getpid(), ++counter);
    }
    strcpy(ts->tmp_dir, "/tmp/store-test-XXXXXX");
    assert_non_null(mkdtemp(ts->tmp_dir));
    params.spill_dir = ts->tmp_dir;
    params.job_id    = ts->job_id;
    snprintf(ts->spill_dir, sizeof(ts->spill_dir), "%s/raympi-%s-%d", ts->tmp_dir, ts->job_id,
             rank);
    assert_int_equal(store_create(&params, &ts->store), RMPI_OK);
}

static inline void test_store_open(test_store_t *ts, size_t arena_size, bool spill,
                                   double put_timeout)
{
    test_store_open_ex(ts, arena_size, spill, put_timeout, 0, NULL);
}

static inline void test_store_close(test_store_t *ts)
{
    store_destroy(ts->store);
    ts->store = NULL;
    rmdir(ts->tmp_dir); /* the store removed its own spill folder inside */
}

static inline store_oid_t test_oid(uint64_t n)
{
    store_oid_t oid;

    memset(&oid, 0, sizeof(oid));
    memcpy(oid.bytes, &n, sizeof(n));
    oid.bytes[15] = 0xa5; /* not all zero */
    return oid;
}

/* Byte i of object n's test data: differs between objects and along each object. */
static inline uint8_t test_byte(uint64_t n, size_t i)
{
    return (uint8_t)((i * 131u) ^ (n * 7919u) ^ (i >> 8));
}

static inline void test_fill(void *buf, size_t size, uint64_t n)
{
    uint8_t *p = buf;

    for (size_t i = 0; i < size; ++i) {
        p[i] = test_byte(n, i);
    }
}

static inline bool test_check(const void *buf, size_t size, uint64_t n)
{
    const uint8_t *p = buf;

    for (size_t i = 0; i < size; ++i) {
        if (p[i] != test_byte(n, i)) {
            return false;
        }
    }
    return true;
}

/* Put object @a n of @a size bytes filled with its pattern. */
static inline rmpi_status_t test_put(store_h store, uint64_t n, size_t size, uint64_t flags)
{
    store_oid_t   oid = test_oid(n);
    rmpi_status_t status;
    void         *ptr;

    status = store_create_object(store, &oid, size, flags, &ptr);
    if (status == RMPI_OK) {
        test_fill(ptr, size, n);
        status = store_seal(store, &oid);
    }
    return status;
}

/* Get object @a n, check its size and contents, release it. */
static inline void test_get_check(store_h store, uint64_t n, size_t size)
{
    store_oid_t  oid = test_oid(n);
    store_view_t view;

    assert_int_equal(store_get(store, &oid, &view), RMPI_OK);
    assert_int_equal(view.size, size);
    assert_true(test_check(view.ptr, size, n));
    assert_int_equal(store_release(store, &oid), RMPI_OK);
}

static inline bool test_path_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

#endif /* TESTS_UNIT_OBJSTORE_UTIL_H_ */
