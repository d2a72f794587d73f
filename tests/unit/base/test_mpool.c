/*
 * Unit tests of base/mpool.h: the fixed-size element pool.
 */
#include "base/mpool.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static base_mpool_t *pool_new(size_t elem_size, size_t alignment, size_t per_chunk,
                              size_t max_elems)
{
    base_mpool_params_t params = {
        .field_mask = BASE_MPOOL_PARAM_ELEM_SIZE | BASE_MPOOL_PARAM_NAME,
        .elem_size  = elem_size,
        .name       = "test",
    };
    base_mpool_t *mpool = NULL;

    if (alignment != 0) {
        params.field_mask |= BASE_MPOOL_PARAM_ALIGNMENT;
        params.alignment = alignment;
    }
    if (per_chunk != 0) {
        params.field_mask |= BASE_MPOOL_PARAM_ELEMS_PER_CHUNK;
        params.elems_per_chunk = per_chunk;
    }
    if (max_elems != 0) {
        params.field_mask |= BASE_MPOOL_PARAM_MAX_ELEMS;
        params.max_elems = max_elems;
    }
    assert_int_equal(base_mpool_create(&params, &mpool), RMPI_OK);
    assert_non_null(mpool);
    return mpool;
}

static void expect_invalid(const base_mpool_params_t *params)
{
    base_mpool_t *sentinel = (base_mpool_t *)(uintptr_t)0x1;
    base_mpool_t *mpool    = sentinel;

    assert_int_equal(base_mpool_create(params, &mpool), RMPI_ERR_INVALID_ARG);
    assert_ptr_equal(mpool, sentinel); /* output untouched on failure */
}

static void test_create_validates_params(void **state)
{
    base_mpool_params_t params = {.field_mask = 0, .elem_size = 64};
    base_mpool_t       *mpool;

    expect_invalid(&params); /* elem_size given but its bit is missing */

    params.field_mask = BASE_MPOOL_PARAM_ELEM_SIZE;
    params.elem_size  = 0;
    expect_invalid(&params);

    params.elem_size  = 64;
    params.field_mask = BASE_MPOOL_PARAM_ELEM_SIZE | BASE_MPOOL_PARAM_ALIGNMENT;
    params.alignment  = 24;
    expect_invalid(&params);
    params.alignment = 0;
    expect_invalid(&params);

    params.field_mask      = BASE_MPOOL_PARAM_ELEM_SIZE | BASE_MPOOL_PARAM_ELEMS_PER_CHUNK;
    params.elems_per_chunk = 0;
    expect_invalid(&params);

    params.field_mask = BASE_MPOOL_PARAM_ELEM_SIZE | BASE_MPOOL_PARAM_MAX_ELEMS;
    params.max_elems  = 0;
    expect_invalid(&params);

    params.field_mask = BASE_MPOOL_PARAM_ELEM_SIZE;
    params.elem_size  = SIZE_MAX - 8;
    expect_invalid(&params);

    params.elem_size = 64;
    assert_int_equal(base_mpool_create(NULL, &mpool), RMPI_ERR_INVALID_ARG);
    assert_int_equal(base_mpool_create(&params, NULL), RMPI_ERR_INVALID_ARG);

    base_mpool_destroy(NULL); /* harmless */
}

static int compare_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;

    return (x > y) - (x < y);
}

static void test_alignment_and_no_overlap(void **state)
{
    static const size_t alignments[] = {1, 8, 16, 64, 256, 4096};
    enum { COUNT = 100, ELEM_SIZE = 24 };
    void *elems[COUNT];

    for (size_t a = 0; a < sizeof(alignments) / sizeof(alignments[0]); ++a) {
        base_mpool_t *mpool = pool_new(ELEM_SIZE, alignments[a], 16, 0);

        for (int i = 0; i < COUNT; ++i) {
            elems[i] = base_mpool_get(mpool);
            assert_non_null(elems[i]);
            assert_int_equal((uintptr_t)elems[i] % alignments[a], 0);
            memset(elems[i], 0xa5, ELEM_SIZE); /* the whole element is ours */
        }
        qsort(elems, COUNT, sizeof(elems[0]), compare_ptr);
        for (int i = 1; i < COUNT; ++i) {
            assert_true((uintptr_t)elems[i] - (uintptr_t)elems[i - 1] >= ELEM_SIZE);
        }
        for (int i = 0; i < COUNT; ++i) {
            base_mpool_put(mpool, elems[i]);
        }
        base_mpool_destroy(mpool);
    }
}

static void test_default_alignment_and_chunk_size(void **state)
{
    base_mpool_t *small = pool_new(100, 0, 0, 0);
    base_mpool_t *large = pool_new(100 * 1024, 0, 0, 0);
    void         *elem  = base_mpool_get(small);
    void         *big   = base_mpool_get(large);

    assert_non_null(elem);
    assert_int_equal((uintptr_t)elem % 16, 0);
    /* One chunk of about 64 KiB, never fewer than 8 elements. */
    assert_true(base_mpool_capacity(small) * 100 <= 64 * 1024);
    assert_true(base_mpool_capacity(small) >= 64 * 1024 / (100 + 16));

    assert_non_null(big);
    assert_int_equal(base_mpool_capacity(large), 8);

    base_mpool_put(small, elem);
    base_mpool_put(large, big);
    base_mpool_destroy(small);
    base_mpool_destroy(large);
}

static void test_put_then_get_reuses_without_growing(void **state)
{
    base_mpool_t *mpool = pool_new(48, 0, 8, 0);
    void         *first = base_mpool_get(mpool);
    size_t        capacity;

    assert_non_null(first);
    capacity = base_mpool_capacity(mpool);
    base_mpool_put(mpool, first);
    assert_ptr_equal(base_mpool_get(mpool), first);

    /* Many cycles with a few elements out never allocate another chunk. */
    for (int round = 0; round < 10000; ++round) {
        void *a = base_mpool_get(mpool);
        void *b = base_mpool_get(mpool);

        assert_non_null(a);
        assert_non_null(b);
        assert_ptr_not_equal(a, b);
        base_mpool_put(mpool, a);
        base_mpool_put(mpool, b);
    }
    assert_int_equal(base_mpool_capacity(mpool), capacity);
    base_mpool_put(mpool, first);
    assert_int_equal(base_mpool_in_use(mpool), 0);
    base_mpool_destroy(mpool);
}

static void test_max_elems_returns_null(void **state)
{
    enum { MAX = 10 };
    base_mpool_t *mpool = pool_new(32, 0, 4, MAX);
    void         *elems[MAX];
    void         *again;

    for (int i = 0; i < MAX; ++i) {
        elems[i] = base_mpool_get(mpool);
        assert_non_null(elems[i]);
    }
    assert_null(base_mpool_get(mpool));
    assert_null(base_mpool_get(mpool));
    /* The last chunk is cut to fit the limit. */
    assert_int_equal(base_mpool_capacity(mpool), MAX);
    assert_int_equal(base_mpool_in_use(mpool), MAX);

    base_mpool_put(mpool, elems[3]);
    again = base_mpool_get(mpool);
    assert_ptr_equal(again, elems[3]);
    assert_null(base_mpool_get(mpool));

    for (int i = 0; i < MAX; ++i) {
        base_mpool_put(mpool, elems[i]);
    }
    assert_int_equal(base_mpool_in_use(mpool), 0);
    base_mpool_destroy(mpool);
}

static void test_in_use_and_capacity_counts(void **state)
{
    enum { PER_CHUNK = 8, COUNT = 20 };
    base_mpool_t *mpool = pool_new(16, 0, PER_CHUNK, 0);
    void         *elems[COUNT];

    assert_int_equal(base_mpool_in_use(mpool), 0);
    assert_int_equal(base_mpool_capacity(mpool), 0); /* nothing allocated before the first get */

    for (int i = 0; i < COUNT; ++i) {
        elems[i] = base_mpool_get(mpool);
        assert_non_null(elems[i]);
        assert_int_equal(base_mpool_in_use(mpool), i + 1);
        /* Grows one chunk at a time, only when needed. */
        assert_int_equal(base_mpool_capacity(mpool), (i / PER_CHUNK + 1) * PER_CHUNK);
    }
    for (int i = COUNT - 1; i >= 0; --i) {
        base_mpool_put(mpool, elems[i]);
        assert_int_equal(base_mpool_in_use(mpool), i);
    }
    assert_int_equal(base_mpool_capacity(mpool), 24);
    base_mpool_destroy(mpool);
}

static void test_elements_keep_their_contents(void **state)
{
    enum { COUNT = 64, ELEM_SIZE = 40 };
    base_mpool_t  *mpool = pool_new(ELEM_SIZE, 0, 8, 0);
    unsigned char *elems[COUNT];

    for (int i = 0; i < COUNT; ++i) {
        elems[i] = base_mpool_get(mpool);
        assert_non_null(elems[i]);
        memset(elems[i], i, ELEM_SIZE);
    }
    /* Returning and taking back the even ones must not touch the odd ones. */
    for (int i = 0; i < COUNT; i += 2) {
        base_mpool_put(mpool, elems[i]);
    }
    for (int i = 0; i < COUNT; i += 2) {
        elems[i] = base_mpool_get(mpool);
        memset(elems[i], 0xff, ELEM_SIZE);
    }
    for (int i = 1; i < COUNT; i += 2) {
        for (int b = 0; b < ELEM_SIZE; ++b) {
            assert_int_equal(elems[i][b], i);
        }
    }
    for (int i = 0; i < COUNT; ++i) {
        base_mpool_put(mpool, elems[i]);
    }
    base_mpool_destroy(mpool);
}

/* Run destroy with stderr sent to a file and return what it wrote. */
static char *destroy_capturing_stderr(base_mpool_t *mpool)
{
    static char text[4096];
    FILE       *capture = tmpfile();
    int         saved;
    size_t      len;

    assert_non_null(capture);
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(capture), STDERR_FILENO) >= 0);

    base_mpool_destroy(mpool);

    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    rewind(capture);
    len       = fread(text, 1, sizeof(text) - 1, capture);
    text[len] = '\0';
    fclose(capture);
    return text;
}

static void test_destroy_warns_once_about_leaks(void **state)
{
    base_mpool_params_t params = {
        .field_mask = BASE_MPOOL_PARAM_ELEM_SIZE | BASE_MPOOL_PARAM_NAME,
        .elem_size  = 32,
        .name       = "leaky-pool",
    };
    base_mpool_t *mpool;
    char         *text;
    const char   *first;

    assert_int_equal(base_mpool_create(&params, &mpool), RMPI_OK);
    for (int i = 0; i < 3; ++i) {
        assert_non_null(base_mpool_get(mpool));
    }

    text  = destroy_capturing_stderr(mpool);
    first = strstr(text, "leaky-pool");
    assert_non_null(first);
    assert_non_null(strstr(first, "3"));
    assert_null(strstr(first + 1, "leaky-pool")); /* one warning, not one per element */

    /* A clean pool says nothing. */
    mpool = pool_new(32, 0, 0, 0);
    base_mpool_put(mpool, base_mpool_get(mpool));
    text = destroy_capturing_stderr(mpool);
    assert_string_equal(text, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_validates_params),
        cmocka_unit_test(test_alignment_and_no_overlap),
        cmocka_unit_test(test_default_alignment_and_chunk_size),
        cmocka_unit_test(test_put_then_get_reuses_without_growing),
        cmocka_unit_test(test_max_elems_returns_null),
        cmocka_unit_test(test_in_use_and_capacity_counts),
        cmocka_unit_test(test_elements_keep_their_contents),
        cmocka_unit_test(test_destroy_warns_once_about_leaks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
