/*
 * Unit tests of gpu/memory.c: the caching allocator (reuse, size classes,
 * accounting, the memory limit, trim-and-retry on out-of-memory), pinned host
 * memory and copies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>

#include "gpu_test.h"

#ifdef RMPI_HAVE_CUDA
#include "gpu/driver.h"

static gpu_mem_stats_t stats_of(int dev)
{
    gpu_mem_stats_t stats;

    assert_int_equal(gpu_mem_stats(dev, &stats), RMPI_OK);
    return stats;
}

/* A freed block is handed out again for a request of its size class. */
static void test_reuse_within_a_class(void **state)
{
    gpu_devptr_t    a, b, c;
    gpu_mem_stats_t st;

    gpu_test_start(NULL, NULL, NULL);
    assert_int_equal(gpu_mem_alloc(0, 1000, &a), RMPI_OK);
    st = stats_of(0);
    assert_int_equal(st.in_use, 1024);
    assert_int_equal(st.cached, 0);
    assert_int_equal(gpu_mem_free(0, a), RMPI_OK);
    st = stats_of(0);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.cached, 1024);

    assert_int_equal(gpu_mem_alloc(0, 900, &b), RMPI_OK); /* same class: 1024 */
    assert_true(b == a);
    st = stats_of(0);
    assert_int_equal(st.cache_hits, 1);
    assert_int_equal(st.cached, 0);

    assert_int_equal(gpu_mem_free(0, b), RMPI_OK);
    assert_int_equal(gpu_mem_alloc(0, 5000, &c), RMPI_OK); /* another class: new block */
    assert_true(c != a);
    st = stats_of(0);
    assert_int_equal(st.cache_hits, 1);
    assert_int_equal(st.allocs, 3);
    assert_int_equal(st.in_use, 8192);
    assert_int_equal(st.cached, 1024);
    assert_int_equal(gpu_mem_free(0, c), RMPI_OK);
}

/* Powers of two up to 1 MiB, then steps of a quarter of the power of two below. */
static void test_size_classes(void **state)
{
    static const struct {
        size_t request, block;
    } cases[] = {
        {1, 256},           {256, 256},
        {257, 512},         {4097, 8192},
        {1 << 20, 1 << 20}, {(1 << 20) + 1, (5 << 20) / 4},
        {3 << 20, 3 << 20}, {(3 << 20) + 1, (7 << 20) / 2},
    };

    gpu_test_start("1", "64M", NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        gpu_devptr_t ptr;

        assert_int_equal(gpu_mem_alloc(0, cases[i].request, &ptr), RMPI_OK);
        if (stats_of(0).in_use != cases[i].block) {
            fail_msg("request %zu: block %zu, expected %zu", cases[i].request, stats_of(0).in_use,
                     cases[i].block);
        }
        assert_int_equal(gpu_mem_free(0, ptr), RMPI_OK);
        assert_int_equal(gpu_mem_trim(0), RMPI_OK);
    }
}

static void test_peak_and_bad_frees(void **state)
{
    gpu_test_capture_t cap;
    gpu_devptr_t       a, b;
    char              *out;

    gpu_test_start(NULL, NULL, NULL);
    assert_int_equal(gpu_mem_alloc(0, 4096, &a), RMPI_OK);
    assert_int_equal(gpu_mem_alloc(0, 4096, &b), RMPI_OK);
    assert_int_equal(gpu_mem_free(0, a), RMPI_OK);
    assert_int_equal(stats_of(0).peak, 8192);
    assert_int_equal(stats_of(0).in_use, 4096);

    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_mem_free(0, a), RMPI_ERR_INVALID_ARG);      /* twice */
    assert_int_equal(gpu_mem_free(0, b + 16), RMPI_ERR_INVALID_ARG); /* not a block */
    assert_int_equal(gpu_mem_alloc(0, 0, &a), RMPI_ERR_INVALID_ARG);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "(freed twice)");
    free(out);
    assert_int_equal(stats_of(0).in_use, 4096);
    assert_int_equal(gpu_mem_free(0, b), RMPI_OK);
}

/* Device memory that another library of the process took, outside the pool. */
static CUdeviceptr take_raw(size_t size)
{
    gpu_ctx_saved_t saved;
    CUdeviceptr     ptr;

    assert_int_equal(gpu_ctx_push(0, &saved), RMPI_OK);
    assert_int_equal(gpu_cu->cuMemAlloc(&ptr, size), CUDA_SUCCESS);
    assert_int_equal(gpu_ctx_pop(&saved), RMPI_OK);
    return ptr;
}

static void give_raw(CUdeviceptr ptr)
{
    gpu_ctx_saved_t saved;

    assert_int_equal(gpu_ctx_push(0, &saved), RMPI_OK);
    assert_int_equal(gpu_cu->cuMemFree(ptr), CUDA_SUCCESS);
    assert_int_equal(gpu_ctx_pop(&saved), RMPI_OK);
}

/* cuMemAlloc out of memory: the cache is returned to the driver and the allocation retried. */
static void test_oom_trims_and_retries(void **state)
{
    gpu_devptr_t    small, big;
    gpu_mem_stats_t st;
    CUdeviceptr     other;

    gpu_test_need_double();
    gpu_test_clear_env();
    setenv("RMPI_CUDA_DOUBLE_MEM", "2M", 1);
    setenv("RAYMPI_GPU_MEMORY_FRACTION", "1.0", 1);
    assert_int_equal(gpu_init(), RMPI_OK);
    other = take_raw(768 * 1024);

    assert_int_equal(gpu_mem_alloc(0, 512 * 1024, &small), RMPI_OK);
    assert_int_equal(gpu_mem_free(0, small), RMPI_OK); /* cached: still held in the driver */
    assert_int_equal(gpu_test_live("alloc"), 2);
    /* within our limit (512K cached + 1M), but the driver has only 768K left */
    assert_int_equal(gpu_mem_alloc(0, 1 << 20, &big), RMPI_OK);
    st = stats_of(0);
    assert_int_equal(st.trims, 1);
    assert_int_equal(st.cached, 0);
    assert_int_equal(st.in_use, 1 << 20);
    assert_int_equal(gpu_test_live("alloc"), 2);
    assert_int_equal(gpu_mem_free(0, big), RMPI_OK);
    give_raw(other);
}

/* When even an empty cache does not help, the error names the driver's code. */
static void test_oom_is_reported(void **state)
{
    gpu_test_capture_t cap;
    gpu_devptr_t       a, b = 0;
    CUdeviceptr        other;
    char              *out;

    gpu_test_need_double();
    gpu_test_clear_env();
    setenv("RMPI_CUDA_DOUBLE_MEM", "2M", 1);
    setenv("RAYMPI_GPU_MEMORY_FRACTION", "1.0", 1);
    assert_int_equal(gpu_init(), RMPI_OK);
    other = take_raw(1280 * 1024);
    assert_int_equal(gpu_mem_alloc(0, 256 * 1024, &a), RMPI_OK);
    assert_int_equal(gpu_mem_free(0, a), RMPI_OK); /* cached, trimmed in vain below */
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_mem_alloc(0, 1 << 20, &b), RMPI_ERR_NO_MEMORY);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY");
    free(out);
    assert_true(b == 0);
    assert_int_equal(stats_of(0).trims, 1);
    assert_int_equal(stats_of(0).in_use, 0);
    give_raw(other);
}

/* GPU_MEMORY_FRACTION bounds what the pool holds, in use and cached. */
static void test_memory_fraction_limit(void **state)
{
    gpu_test_capture_t cap;
    gpu_devptr_t       a, b, c;
    char              *out;

    gpu_test_need_double();
    gpu_test_clear_env();
    setenv("RMPI_CUDA_DOUBLE_MEM", "4M", 1);
    setenv("RAYMPI_GPU_MEMORY_FRACTION", "0.5", 1);
    assert_int_equal(gpu_init(), RMPI_OK);
    assert_int_equal(stats_of(0).limit, 2u << 20);
    assert_int_equal(gpu_mem_alloc(0, 1 << 20, &a), RMPI_OK);
    assert_int_equal(gpu_mem_alloc(0, 512 * 1024, &b), RMPI_OK);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_mem_alloc(0, 1 << 20, &c), RMPI_ERR_NO_MEMORY);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "GPU_MEMORY_FRACTION");
    free(out);
    /* the driver had room: the limit is ours */
    assert_int_equal(gpu_test_live("alloc"), 2);
    /* a cached block counts against the limit until trimmed to make room */
    assert_int_equal(gpu_mem_free(0, b), RMPI_OK);
    assert_int_equal(gpu_mem_alloc(0, 1 << 20, &c), RMPI_OK);
    assert_int_equal(stats_of(0).trims, 1);
    assert_int_equal(gpu_mem_free(0, a), RMPI_OK);
    assert_int_equal(gpu_mem_free(0, c), RMPI_OK);
}

/* Trim returns cached blocks to the driver; with GPU_MEMORY_CACHE=no nothing is kept. */
static void test_trim_and_no_cache(void **state)
{
    gpu_devptr_t a;

    gpu_test_need_double();
    gpu_test_start("1", NULL, NULL);
    assert_int_equal(gpu_mem_alloc(0, 100, &a), RMPI_OK);
    assert_int_equal(gpu_mem_free(0, a), RMPI_OK);
    assert_int_equal(gpu_test_live("alloc"), 1);
    assert_int_equal(gpu_mem_trim(0), RMPI_OK);
    assert_int_equal(gpu_test_live("alloc"), 0);
    assert_int_equal(stats_of(0).cached, 0);
    gpu_finalize();

    gpu_test_clear_env();
    setenv("RAYMPI_GPU_MEMORY_CACHE", "no", 1);
    assert_int_equal(gpu_init(), RMPI_OK);
    assert_int_equal(gpu_mem_alloc(0, 100, &a), RMPI_OK);
    assert_int_equal(gpu_mem_free(0, a), RMPI_OK);
    assert_int_equal(gpu_test_live("alloc"), 0);
    assert_int_equal(stats_of(0).cached, 0);
}

static void test_pinned_host_memory(void **state)
{
    void           *a, *b;
    gpu_mem_stats_t st;

    gpu_test_start(NULL, NULL, NULL);
    assert_int_equal(gpu_host_alloc(3000, &a), RMPI_OK);
    memset(a, 0x5a, 3000); /* usable host memory */
    assert_int_equal(gpu_host_free(a), RMPI_OK);
    assert_int_equal(gpu_host_alloc(4000, &b), RMPI_OK);
    assert_ptr_equal(a, b);
    st = stats_of(-1);
    assert_int_equal(st.in_use, 4096);
    assert_int_equal(st.cache_hits, 1);
    assert_int_equal(gpu_host_free(b), RMPI_OK);
    assert_int_equal(gpu_host_free(b), RMPI_ERR_INVALID_ARG);
}

/* Data survives H2D, memset, D2D and D2H in order on one stream. */
static void test_copies_round_trip(void **state)
{
    enum { N = 4096 };
    gpu_stream_h stream;
    gpu_devptr_t d1, d2;
    uint8_t     *host, back[N];

    gpu_test_start(NULL, NULL, NULL);
    assert_int_equal(gpu_host_alloc(N, (void **)&host), RMPI_OK);
    for (int i = 0; i < N; ++i) {
        host[i] = (uint8_t)(i * 7);
    }
    assert_int_equal(gpu_stream_get(0, &stream), RMPI_OK);
    assert_int_equal(gpu_mem_alloc(0, N, &d1), RMPI_OK);
    assert_int_equal(gpu_mem_alloc(0, N, &d2), RMPI_OK);
    assert_int_equal(gpu_memcpy_h2d_async(d1, host, N, stream), RMPI_OK);
    assert_int_equal(gpu_memset_async(d1, 0xee, 16, stream), RMPI_OK);
    assert_int_equal(gpu_memcpy_d2d_async(d2, d1, N, stream), RMPI_OK);
    assert_int_equal(gpu_memcpy_d2h_async(back, d2, N, stream), RMPI_OK);
    assert_int_equal(gpu_stream_sync(stream), RMPI_OK);
    for (int i = 0; i < N; ++i) {
        assert_int_equal(back[i], (i < 16) ? 0xee : (uint8_t)(i * 7));
    }
    memset(back, 0, sizeof(back));
    assert_int_equal(gpu_memcpy_h2d(0, d1, host, N), RMPI_OK);
    assert_int_equal(gpu_memcpy_d2d(0, d2, d1, N), RMPI_OK);
    assert_int_equal(gpu_memcpy_d2h(0, back, d2, N), RMPI_OK);
    assert_memory_equal(back, host, N);
    gpu_mem_free(0, d1);
    gpu_mem_free(0, d2);
    gpu_host_free(host);
    gpu_stream_put(stream);
}

/* A copy outside the allocation is refused by the driver, with its error name. */
static void test_copy_out_of_bounds(void **state)
{
    gpu_test_capture_t cap;
    gpu_stream_h       stream;
    gpu_devptr_t       dev;
    char               host[512] = {0}, *out;

    gpu_test_need_double();
    gpu_test_start("1", NULL, NULL);
    assert_int_equal(gpu_stream_get(0, &stream), RMPI_OK);
    assert_int_equal(gpu_mem_alloc(0, 256, &dev), RMPI_OK);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_memcpy_h2d_async(dev, host, 512, stream), RMPI_ERR_DEVICE);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "cuMemcpyHtoDAsync failed: CUDA_ERROR_INVALID_VALUE");
    free(out);
    gpu_mem_free(0, dev);
    gpu_stream_put(stream);
}

#define THREAD_ROUNDS 200

/* One thread's share: its own stream, blocks of a few classes, data checked. */
static void *thread_work(void *arg)
{
    gpu_stream_h stream;
    uintptr_t    bad = 0;
    uint8_t      in[3000], out[3000];

    if (gpu_stream_get(0, &stream) != RMPI_OK) {
        return (void *)1;
    }
    for (int round = 0; (round < THREAD_ROUNDS) && (bad == 0); ++round) {
        size_t       size = 100 + (size_t)(round % 3) * 1000;
        gpu_devptr_t dev;

        memset(in, (int)(round + (intptr_t)arg), size);
        bad = (gpu_mem_alloc(0, size, &dev) != RMPI_OK);
        if (bad == 0) {
            bad = (gpu_memcpy_h2d_async(dev, in, size, stream) != RMPI_OK) ||
                  (gpu_memcpy_d2h_async(out, dev, size, stream) != RMPI_OK) ||
                  (gpu_stream_sync(stream) != RMPI_OK) || (memcmp(in, out, size) != 0);
            bad |= (gpu_mem_free(0, dev) != RMPI_OK);
        }
    }
    gpu_stream_put(stream);
    return (void *)bad;
}

/* Threads share the pools; each gets its context made current by gpu/ itself. */
static void test_threads_share_the_pools(void **state)
{
    enum { THREADS = 4 };
    pthread_t       threads[THREADS];
    gpu_mem_stats_t st;

    gpu_test_start(NULL, NULL, NULL);
    for (intptr_t i = 0; i < THREADS; ++i) {
        assert_int_equal(pthread_create(&threads[i], NULL, thread_work, (void *)i), 0);
    }
    for (int i = 0; i < THREADS; ++i) {
        void *bad = (void *)1;

        assert_int_equal(pthread_join(threads[i], &bad), 0);
        assert_null(bad);
    }
    st = stats_of(0);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.allocs, THREADS * THREAD_ROUNDS);
    assert_true(st.cache_hits >= THREADS * THREAD_ROUNDS - 3 * THREADS); /* reuse did happen */
}

/* Blocks still out at finalize go back to the driver (and are reported). */
static void test_finalize_frees_everything(void **state)
{
    gpu_test_capture_t cap;
    gpu_devptr_t       a;
    void              *h;
    char              *out;

    gpu_test_need_double();
    gpu_test_start("1", NULL, NULL);
    assert_int_equal(gpu_mem_alloc(0, 100, &a), RMPI_OK);
    assert_int_equal(gpu_host_alloc(100, &h), RMPI_OK);
    assert_int_equal(gpu_init(), RMPI_OK); /* hold the double loaded to count */
    gpu_test_capture_begin(&cap);
    gpu_finalize();
    gpu_finalize(); /* the last reference: tears down, but the double stays counted below */
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "GPU 0: 1 block(s) of 256 bytes not freed at finalize");
    gpu_test_assert_contains(out, "GPU -1: 1 block(s) of 256 bytes not freed at finalize");
    assert_null(strstr(out, "never freed")); /* the double's unload report */
    free(out);
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
        TEST(test_reuse_within_a_class),    TEST(test_size_classes),
        TEST(test_peak_and_bad_frees),      TEST(test_oom_trims_and_retries),
        TEST(test_oom_is_reported),         TEST(test_memory_fraction_limit),
        TEST(test_trim_and_no_cache),       TEST(test_pinned_host_memory),
        TEST(test_copies_round_trip),       TEST(test_copy_out_of_bounds),
        TEST(test_threads_share_the_pools), TEST(test_finalize_frees_everything),
    };
#undef TEST

    return cmocka_run_group_tests_name("gpu_memory", tests, NULL, NULL);
#endif
}
