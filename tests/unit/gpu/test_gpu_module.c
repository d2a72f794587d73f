/*
 * Unit tests of gpu/module.c: modules from images in memory, kernel lookup,
 * the built-in kernels embedded at build time and gpu_launch().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gpu_test.h"

#ifndef GPU_TEST_HAVE_NVCC
#define GPU_TEST_HAVE_NVCC 0
#endif

#ifdef RMPI_HAVE_CUDA
/* A valid PTX module with one kernel, "empty", that the real driver can JIT too. */
static const char empty_ptx[] = "//\n// empty kernel\n//\n.version 7.0\n.target sm_75\n"
                                ".address_size 64\n\n.visible .entry empty()\n{\n\tret;\n}\n";

static const gpu_dim3_t one = {1, 1, 1};

static void test_corrupt_image(void **state)
{
    static const char  garbage[] = "this is no module, only noise (and no PTX header)";
    gpu_test_capture_t cap;
    gpu_module_h       module = NULL;
    char              *out;

    gpu_test_start(NULL, NULL, NULL);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_module_load(0, garbage, &module), RMPI_ERR_DEVICE);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "cuModuleLoadData failed: CUDA_ERROR_");
    if (!gpu_test_real()) {
        gpu_test_assert_contains(out, "CUDA_ERROR_INVALID_IMAGE");
    }
    free(out);
    assert_null(module);
    assert_int_equal(gpu_module_load(0, NULL, &module), RMPI_ERR_INVALID_ARG);
}

static void test_ptx_module_lookup(void **state)
{
    gpu_module_h   module;
    gpu_function_h fn, again, missing = NULL;

    gpu_test_start(NULL, NULL, NULL);
    assert_int_equal(gpu_module_load(0, empty_ptx, &module), RMPI_OK);
    assert_int_equal(gpu_module_function(module, "empty", &fn), RMPI_OK);
    assert_int_equal(gpu_module_function(module, "empty", &again), RMPI_OK);
    assert_ptr_equal(fn, again); /* looked up once */
    assert_int_equal(gpu_module_function(module, "no_such_kernel", &missing), RMPI_ERR_NOT_FOUND);
    assert_null(missing);
    gpu_module_unload(module);
}

/* Modules are unloaded by gpu_module_unload, and the ones left by gpu_finalize. */
static void test_module_lifetime(void **state)
{
    gpu_test_capture_t cap;
    gpu_module_h       kept, dropped;
    char              *out;

    gpu_test_need_double();
    gpu_test_start("1", NULL, NULL);
    assert_int_equal(gpu_module_load(0, empty_ptx, &kept), RMPI_OK);
    assert_int_equal(gpu_module_load(0, empty_ptx, &dropped), RMPI_OK);
    assert_int_equal(gpu_test_live("module"), 2);
    gpu_module_unload(dropped);
    assert_int_equal(gpu_test_live("module"), 1);
    gpu_test_capture_begin(&cap);
    gpu_finalize();
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "1 GPU module(s) not unloaded at finalize");
    assert_null(strstr(out, "never freed"));
    free(out);
    (void)kept;
}

static void test_builtin_matches_build(void **state)
{
    gpu_function_h fn;

    gpu_test_start(NULL, NULL, NULL);
    assert_int_equal(gpu_builtin_available(), GPU_TEST_HAVE_NVCC);
    if (!GPU_TEST_HAVE_NVCC) {
        assert_int_equal(gpu_builtin_function(0, "saxpy", &fn), RMPI_ERR_UNSUPPORTED);
        return;
    }
    assert_int_equal(gpu_builtin_function(0, "no_such_kernel", &fn), RMPI_ERR_NOT_FOUND);
}

/* y = a x + y on the device, through the kernel embedded in the library. */
static void run_saxpy(int n, unsigned grid, unsigned block, float *y_out)
{
    gpu_function_h fn;
    gpu_stream_h   stream;
    gpu_devptr_t   x, y;
    float         *host;
    float          a      = 2.0f;
    void          *args[] = {&n, &a, &x, &y};
    size_t         size   = (size_t)n * sizeof(float);

    assert_int_equal(gpu_builtin_function(0, "saxpy", &fn), RMPI_OK);
    assert_int_equal(gpu_stream_get(0, &stream), RMPI_OK);
    assert_int_equal(gpu_host_alloc(size, (void **)&host), RMPI_OK);
    assert_int_equal(gpu_mem_alloc(0, size, &x), RMPI_OK);
    assert_int_equal(gpu_mem_alloc(0, size, &y), RMPI_OK);
    for (int i = 0; i < n; ++i) {
        host[i] = (float)i;
    }
    assert_int_equal(gpu_memcpy_h2d_async(x, host, size, stream), RMPI_OK);
    for (int i = 0; i < n; ++i) {
        host[i] = (float)(2 * i);
    }
    assert_int_equal(gpu_memcpy_h2d_async(y, host, size, stream), RMPI_OK);
    assert_int_equal(
        gpu_launch(fn, (gpu_dim3_t){grid, 1, 1}, (gpu_dim3_t){block, 1, 1}, 0, stream, args),
        RMPI_OK);
    assert_int_equal(gpu_memcpy_d2h_async(host, y, size, stream), RMPI_OK);
    assert_int_equal(gpu_stream_sync(stream), RMPI_OK);
    memcpy(y_out, host, size);
    gpu_mem_free(0, x);
    gpu_mem_free(0, y);
    gpu_host_free(host);
    gpu_stream_put(stream);
}

static void test_saxpy_end_to_end(void **state)
{
    enum { N = 1000 };
    float y[N];

    if (!GPU_TEST_HAVE_NVCC) {
        skip(); /* no nvcc at build time: no embedded image */
    }
    gpu_test_start(NULL, NULL, NULL);
    run_saxpy(N, (N + 255) / 256, 256, y);
    for (int i = 0; i < N; ++i) {
        if (y[i] != (float)(4 * i)) { /* 2 * i + 2 i, exact in float */
            fail_msg("y[%d] = %g, expected %d", i, (double)y[i], 4 * i);
        }
    }
}

/* The launch configuration is honoured: threads that do not exist compute nothing. */
static void test_saxpy_partial_grid(void **state)
{
    enum { N = 512 };
    float y[N];

    if (!GPU_TEST_HAVE_NVCC) {
        skip();
    }
    gpu_test_start(NULL, NULL, NULL);
    run_saxpy(N, 2, 128, y); /* 256 threads for 512 elements */
    for (int i = 0; i < N; ++i) {
        float expect = (i < 256) ? (float)(4 * i) : (float)(2 * i);

        if (y[i] != expect) {
            fail_msg("y[%d] = %g, expected %g", i, (double)y[i], (double)expect);
        }
    }
}

static void test_empty_kernel_and_bad_launches(void **state)
{
    gpu_test_capture_t cap;
    gpu_module_h       module;
    gpu_function_h     fn;
    gpu_stream_h       stream;
    char              *out;

    gpu_test_start(NULL, NULL, NULL);
    assert_int_equal(gpu_module_load(0, empty_ptx, &module), RMPI_OK);
    assert_int_equal(gpu_module_function(module, "empty", &fn), RMPI_OK);
    assert_int_equal(gpu_stream_get(0, &stream), RMPI_OK);
    assert_int_equal(gpu_launch(fn, one, one, 0, stream, NULL), RMPI_OK);
    assert_int_equal(gpu_stream_sync(stream), RMPI_OK);

    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_launch(fn, one, (gpu_dim3_t){4096, 1, 1}, 0, stream, NULL),
                     RMPI_ERR_DEVICE);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "cuLaunchKernel(empty, grid 1x1x1, block 4096x1x1) failed: "
                                  "CUDA_ERROR_INVALID_VALUE");
    free(out);
    assert_int_equal(gpu_stream_sync(stream), RMPI_OK); /* the stream still works */
    gpu_stream_put(stream);
    gpu_module_unload(module);
}

/* A kernel of one device cannot run on a stream of another. */
static void test_launch_on_other_device(void **state)
{
    gpu_module_h   module;
    gpu_function_h fn;
    gpu_stream_h   stream;

    gpu_test_start("2", NULL, NULL);
    if (gpu_device_count() < 2) {
        skip();
    }
    assert_int_equal(gpu_module_load(0, empty_ptx, &module), RMPI_OK);
    assert_int_equal(gpu_module_function(module, "empty", &fn), RMPI_OK);
    assert_int_equal(gpu_stream_get(1, &stream), RMPI_OK);
    assert_int_equal(gpu_launch(fn, one, one, 0, stream, NULL), RMPI_ERR_INVALID_ARG);
    gpu_stream_put(stream);
    gpu_module_unload(module);
}

static void test_launch_failure_injected(void **state)
{
    gpu_test_capture_t cap;
    gpu_module_h       module;
    gpu_function_h     fn;
    gpu_stream_h       stream;
    char              *out;

    gpu_test_need_double();
    gpu_test_start("1", NULL, "cuLaunchKernel:2:CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES");
    assert_int_equal(gpu_module_load(0, empty_ptx, &module), RMPI_OK);
    assert_int_equal(gpu_module_function(module, "empty", &fn), RMPI_OK);
    assert_int_equal(gpu_stream_get(0, &stream), RMPI_OK);
    assert_int_equal(gpu_launch(fn, one, one, 0, stream, NULL), RMPI_OK);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_launch(fn, one, one, 0, stream, NULL), RMPI_ERR_DEVICE);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES");
    free(out);
    assert_int_equal(gpu_launch(fn, one, one, 0, stream, NULL), RMPI_OK); /* the rank survives */
    gpu_stream_put(stream);
    gpu_module_unload(module);
}

/* Built-in modules are loaded once per device, on first use. */
static void test_builtin_loaded_once(void **state)
{
    gpu_function_h a, b, e;

    gpu_test_need_double();
    if (!GPU_TEST_HAVE_NVCC) {
        skip();
    }
    gpu_test_start("1", NULL, NULL);
    assert_int_equal(gpu_test_live("module"), 0);
    assert_int_equal(gpu_builtin_function(0, "saxpy", &a), RMPI_OK);
    assert_int_equal(gpu_builtin_function(0, "saxpy", &b), RMPI_OK);
    assert_ptr_equal(a, b);
    assert_int_equal(gpu_test_live("module"), 1);
    assert_int_equal(gpu_builtin_function(0, "empty", &e), RMPI_OK); /* in the next image */
    assert_int_equal(gpu_test_live("module"), 2);
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
        TEST(test_corrupt_image),
        TEST(test_ptx_module_lookup),
        TEST(test_module_lifetime),
        TEST(test_builtin_matches_build),
        TEST(test_saxpy_end_to_end),
        TEST(test_saxpy_partial_grid),
        TEST(test_empty_kernel_and_bad_launches),
        TEST(test_launch_on_other_device),
        TEST(test_launch_failure_injected),
        TEST(test_builtin_loaded_once),
    };
#undef TEST

    return cmocka_run_group_tests_name("gpu_module", tests, NULL, NULL);
#endif
}
