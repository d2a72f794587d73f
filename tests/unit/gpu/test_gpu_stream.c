/*
 * Unit tests of gpu/stream.c: the per-device stream pool and events, and
 * that gpu/ keeps the driver's context rules (the double fails loudly if not).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gpu_test.h"

#ifdef RMPI_HAVE_CUDA
#include "gpu/gpu_int.h"

static void test_pool_get_put(void **state)
{
    gpu_stream_h a, b, c, again;

    gpu_test_clear_env();
    setenv("RAYMPI_GPU_STREAMS_PER_DEVICE", "2", 1);
    assert_int_equal(gpu_init(), RMPI_OK);
    assert_int_equal(gpu_stream_get(0, &a), RMPI_OK);
    assert_int_equal(gpu_stream_get(0, &b), RMPI_OK);
    assert_ptr_not_equal(a, b);
    c = NULL;
    assert_int_equal(gpu_stream_get(0, &c), RMPI_ERR_BUSY);
    assert_null(c);
    gpu_stream_put(b);
    assert_int_equal(gpu_stream_get(0, &again), RMPI_OK);
    assert_ptr_equal(again, b);
    gpu_stream_put(a);
    gpu_stream_put(again);
}

/* Streams are created on first use and destroyed by gpu_finalize. */
static void test_streams_created_lazily(void **state)
{
    gpu_stream_h a, b;

    gpu_test_need_double();
    gpu_test_start("1", NULL, NULL);
    assert_int_equal(gpu_test_live("stream"), 0);
    assert_int_equal(gpu_stream_get(0, &a), RMPI_OK);
    assert_int_equal(gpu_test_live("stream"), 1);
    gpu_stream_put(a);
    assert_int_equal(gpu_stream_get(0, &b), RMPI_OK); /* reused, not created again */
    assert_int_equal(gpu_test_live("stream"), 1);
    gpu_stream_put(b);
    assert_int_equal(gpu_init(), RMPI_OK); /* a second reference */
    gpu_finalize();
    assert_int_equal(gpu_test_live("stream"), 1);
}

/* Each device has its own pool, and gpu/ switches contexts so streams stay valid. */
static void test_streams_per_device(void **state)
{
    gpu_test_capture_t cap;
    gpu_stream_h       s0, s1;
    gpu_ctx_saved_t    saved;
    bool               done = false;
    char              *out;

    gpu_test_start("2", NULL, NULL);
    if (gpu_device_count() < 2) {
        skip();
    }
    assert_int_equal(gpu_stream_get(0, &s0), RMPI_OK);
    assert_int_equal(gpu_stream_get(1, &s1), RMPI_OK);
    assert_int_equal(gpu_stream_device(s0), 0);
    assert_int_equal(gpu_stream_device(s1), 1);

    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_ctx_push(1, &saved), RMPI_OK);
    assert_int_equal(gpu_stream_sync(s0), RMPI_OK); /* gpu/ enters device 0's context */
    assert_int_equal(gpu_stream_query(s1, &done), RMPI_OK);
    assert_true(done);
    assert_int_equal(gpu_ctx_pop(&saved), RMPI_OK);
    out = gpu_test_capture_end(&cap);
    assert_null(strstr(out, "RULE")); /* no rule of the driver was broken */
    free(out);
    gpu_stream_put(s0);
    gpu_stream_put(s1);
}

/* The rule gpu/ keeps is real: the raw stream in another context is refused. */
static void test_foreign_context_is_refused(void **state)
{
    gpu_test_capture_t cap;
    gpu_stream_h       s0;
    gpu_ctx_saved_t    saved;
    CUresult           res;
    char              *out;

    gpu_test_need_double();
    gpu_test_start("2", NULL, NULL);
    assert_int_equal(gpu_stream_get(0, &s0), RMPI_OK);
    assert_int_equal(gpu_ctx_push(1, &saved), RMPI_OK);
    gpu_test_capture_begin(&cap);
    res = gpu_cu->cuStreamSynchronize(s0->cu);
    out = gpu_test_capture_end(&cap);
    assert_int_equal(res, CUDA_ERROR_INVALID_HANDLE);
    gpu_test_assert_contains(out, "RULE cuStreamSynchronize");
    free(out);
    assert_int_equal(gpu_ctx_pop(&saved), RMPI_OK);
    gpu_stream_put(s0);
}

static void test_events(void **state)
{
    gpu_event_h  start, end;
    gpu_stream_h stream;
    bool         done = false;
    float        ms   = -1.0f;

    gpu_test_start(NULL, NULL, NULL);
    assert_int_equal(gpu_stream_get(0, &stream), RMPI_OK);
    assert_int_equal(gpu_event_create(0, &start), RMPI_OK);
    assert_int_equal(gpu_event_create(0, &end), RMPI_OK);
    assert_int_equal(gpu_event_record(start, stream), RMPI_OK);
    assert_int_equal(gpu_event_record(end, stream), RMPI_OK);
    assert_int_equal(gpu_event_sync(end), RMPI_OK);
    assert_int_equal(gpu_event_query(end, &done), RMPI_OK);
    assert_true(done);
    assert_int_equal(gpu_event_elapsed(start, end, &ms), RMPI_OK);
    assert_true(ms >= 0.0f && ms < 1000.0f);
    gpu_event_destroy(start);
    gpu_event_destroy(end);
    gpu_stream_put(stream);
}

static void test_event_misuse(void **state)
{
    gpu_test_capture_t cap;
    gpu_event_h        e0, e1, fresh;
    gpu_stream_h       s0, s1;
    float              ms = -1.0f;
    char              *out;

    gpu_test_start("2", NULL, NULL);
    if (gpu_device_count() < 2) {
        skip();
    }
    assert_int_equal(gpu_stream_get(0, &s0), RMPI_OK);
    assert_int_equal(gpu_stream_get(1, &s1), RMPI_OK);
    assert_int_equal(gpu_event_create(0, &e0), RMPI_OK);
    assert_int_equal(gpu_event_create(1, &e1), RMPI_OK);
    assert_int_equal(gpu_event_create(0, &fresh), RMPI_OK);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_event_record(e0, s1), RMPI_ERR_INVALID_ARG);
    assert_int_equal(gpu_event_record(e0, s0), RMPI_OK);
    assert_int_equal(gpu_event_elapsed(e0, e1, &ms), RMPI_ERR_INVALID_ARG);
    /* never recorded: the driver refuses, and the message names its error */
    assert_int_equal(gpu_event_elapsed(e0, fresh, &ms), RMPI_ERR_DEVICE);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "cuEventElapsedTime failed: CUDA_ERROR_");
    free(out);
    assert_true(ms == -1.0f);
    gpu_event_destroy(e0);
    gpu_event_destroy(e1);
    gpu_event_destroy(fresh);
    gpu_stream_put(s0);
    gpu_stream_put(s1);
}

/* A failed cuStreamCreate leaves the slot in the pool for the next try. */
static void test_stream_create_failure(void **state)
{
    gpu_test_capture_t cap;
    gpu_stream_h       stream = NULL;
    char              *out;

    gpu_test_need_double();
    gpu_test_clear_env();
    setenv("RAYMPI_GPU_STREAMS_PER_DEVICE", "1", 1);
    setenv("RMPI_CUDA_DOUBLE_FAIL", "cuStreamCreate:1:CUDA_ERROR_OUT_OF_MEMORY", 1);
    assert_int_equal(gpu_init(), RMPI_OK);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_stream_get(0, &stream), RMPI_ERR_NO_MEMORY);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "cuStreamCreate failed: CUDA_ERROR_OUT_OF_MEMORY");
    free(out);
    assert_null(stream);
    assert_int_equal(gpu_stream_get(0, &stream), RMPI_OK);
    gpu_stream_put(stream);
}

static void test_injected_sync_failure(void **state)
{
    gpu_test_capture_t cap;
    gpu_stream_h       stream;
    bool               done = true;
    char              *out;

    gpu_test_need_double();
    gpu_test_start(
        "1", NULL,
        "cuStreamSynchronize:1:CUDA_ERROR_LAUNCH_FAILED,cuStreamQuery:1:CUDA_ERROR_NOT_READY");
    assert_int_equal(gpu_stream_get(0, &stream), RMPI_OK);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_stream_sync(stream), RMPI_ERR_DEVICE);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "cuStreamSynchronize failed: CUDA_ERROR_LAUNCH_FAILED");
    free(out);
    assert_int_equal(gpu_stream_query(stream, &done), RMPI_OK); /* NOT_READY: still running */
    assert_false(done);
    assert_int_equal(gpu_stream_query(stream, &done), RMPI_OK);
    assert_true(done);
    gpu_stream_put(stream);
}
#endif /* RMPI_HAVE_CUDA */

int main(void)
{
    int skip = gpu_test_skip_reason();

    if (skip != 0) {
        return skip;
    }
#ifdef RMPI_HAVE_CUDA
#define TEST(_fn) cmocka_unit_test_teardown(_fn, gpu_test_teardown)
    const struct CMUnitTest tests[] = {
        TEST(test_pool_get_put),
        TEST(test_streams_created_lazily),
        TEST(test_streams_per_device),
        TEST(test_foreign_context_is_refused),
        TEST(test_events),
        TEST(test_event_misuse),
        TEST(test_stream_create_failure),
        TEST(test_injected_sync_failure),
    };
#undef TEST

    return cmocka_run_group_tests_name("gpu_stream", tests, NULL, NULL);
#endif
}
