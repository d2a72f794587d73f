/*
 * Unit tests of the CUDA driver double (tests/gpu/cudadouble.c) itself: the
 * rules it keeps must fail loudly, or the gpu/ tests that run on it prove
 * little. The double is loaded through gpu/driver.c's table, as gpu/ does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gpu_test.h"

#ifdef RMPI_HAVE_CUDA
#include "gpu/driver.h"

/* A PTX image naming "saxpy" (the double looks names up in the image). */
static const char saxpy_ptx[] = ".version 8.0\n.target sm_75\n.address_size 64\n"
                                ".visible .entry saxpy(.param .u32 n)\n{\n ret;\n}\n";

static void load_double(const char *devices, const char *mem, const char *fail)
{
    char reason[256];

    gpu_test_clear_env();
    if (devices != NULL) {
        setenv("RMPI_CUDA_DOUBLE_DEVICES", devices, 1);
    }
    if (mem != NULL) {
        setenv("RMPI_CUDA_DOUBLE_MEM", mem, 1);
    }
    if (fail != NULL) {
        setenv("RMPI_CUDA_DOUBLE_FAIL", fail, 1);
    }
    assert_int_equal(gpu_driver_load(GPU_TEST_DOUBLE_PATH, reason, sizeof(reason)), RMPI_OK);
}

/* cuInit, then device @a dev's primary context made current. */
static CUcontext start_in_ctx(int dev)
{
    CUcontext ctx;

    assert_int_equal(gpu_cu->cuInit(0), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuDevicePrimaryCtxRetain(&ctx, dev), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuCtxSetCurrent(ctx), CUDA_SUCCESS);
    return ctx;
}

static int unload_double(void **state)
{
    gpu_driver_unload();
    return 0;
}

static void test_init_comes_first(void **state)
{
    gpu_test_capture_t cap;
    int                count = -1, version = 0;
    char              *out;

    load_double("2", NULL, NULL);
    assert_int_equal(gpu_cu->cuDriverGetVersion(&version), CUDA_SUCCESS); /* allowed */
    assert_int_equal(version, CUDA_VERSION);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_cu->cuDeviceGetCount(&count), CUDA_ERROR_NOT_INITIALIZED);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "cudadouble: RULE cuDeviceGetCount: called before cuInit");
    free(out);
    assert_int_equal(count, -1);
    assert_int_equal(gpu_cu->cuInit(0), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuDeviceGetCount(&count), CUDA_SUCCESS);
    assert_int_equal(count, 2);
}

static void test_calls_need_a_context(void **state)
{
    gpu_test_capture_t cap;
    CUdeviceptr        ptr = 0;
    CUcontext          ctx;
    char              *out;

    load_double("1", NULL, NULL);
    assert_int_equal(gpu_cu->cuInit(0), CUDA_SUCCESS);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_cu->cuMemAlloc(&ptr, 64), CUDA_ERROR_INVALID_CONTEXT);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "RULE cuMemAlloc: no current context");
    free(out);

    /* a context that was never retained cannot be made current */
    assert_int_equal(gpu_cu->cuDevicePrimaryCtxRetain(&ctx, 0), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuDevicePrimaryCtxRelease(0), CUDA_SUCCESS);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_cu->cuCtxSetCurrent(ctx), CUDA_ERROR_INVALID_CONTEXT);
    assert_int_equal(gpu_cu->cuDevicePrimaryCtxRelease(0), CUDA_ERROR_INVALID_CONTEXT);
    free(gpu_test_capture_end(&cap));

    ctx = start_in_ctx(0);
    assert_int_equal(gpu_cu->cuMemAlloc(&ptr, 64), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuMemFree(ptr), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuDevicePrimaryCtxRelease(0), CUDA_SUCCESS);
}

static void test_streams_belong_to_their_context(void **state)
{
    gpu_test_capture_t cap;
    CUcontext          ctx0, ctx1;
    CUstream           stream;
    char              *out;

    load_double("2", NULL, NULL);
    ctx0 = start_in_ctx(0);
    assert_int_equal(gpu_cu->cuDevicePrimaryCtxRetain(&ctx1, 1), CUDA_SUCCESS);
    assert_ptr_not_equal(ctx0, ctx1);
    assert_int_equal(gpu_cu->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuStreamSynchronize(stream), CUDA_SUCCESS);

    assert_int_equal(gpu_cu->cuCtxSetCurrent(ctx1), CUDA_SUCCESS);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_cu->cuStreamSynchronize(stream), CUDA_ERROR_INVALID_HANDLE);
    assert_int_equal(gpu_cu->cuStreamDestroy(stream), CUDA_ERROR_INVALID_HANDLE);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "stream of the context of device 0 used in that of device 1");
    free(out);

    assert_int_equal(gpu_cu->cuCtxSetCurrent(ctx0), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuStreamQuery(stream), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuStreamDestroy(stream), CUDA_SUCCESS);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_cu->cuStreamQuery(stream), CUDA_ERROR_INVALID_HANDLE); /* destroyed */
    free(gpu_test_capture_end(&cap));
    gpu_cu->cuDevicePrimaryCtxRelease(0);
    gpu_cu->cuDevicePrimaryCtxRelease(1);
}

static void test_memory_is_tracked(void **state)
{
    gpu_test_capture_t cap;
    CUdeviceptr        ptr, big;
    size_t             free_bytes, total;
    char               host[128], back[128], *out;

    load_double("1", "64k", NULL);
    start_in_ctx(0);
    assert_int_equal(gpu_cu->cuMemAlloc(&ptr, 128), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuMemGetInfo(&free_bytes, &total), CUDA_SUCCESS);
    assert_int_equal(total, 64 * 1024);
    assert_int_equal(free_bytes, 64 * 1024 - 128);
    assert_int_equal(gpu_cu->cuMemAlloc(&big, 64 * 1024), CUDA_ERROR_OUT_OF_MEMORY);

    memset(host, 7, sizeof(host));
    assert_int_equal(gpu_cu->cuMemcpyHtoD(ptr, host, sizeof(host)), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuMemcpyDtoH(back, ptr, sizeof(back)), CUDA_SUCCESS);
    assert_memory_equal(host, back, sizeof(host));

    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_cu->cuMemcpyHtoD(ptr + 64, host, 65), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(gpu_cu->cuMemFree(ptr + 8), CUDA_ERROR_INVALID_VALUE);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "is not inside a cuMemAlloc allocation");
    gpu_test_assert_contains(out, "was not allocated by this driver");
    free(out);

    assert_int_equal(gpu_cu->cuMemFree(ptr), CUDA_SUCCESS);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_cu->cuMemFree(ptr), CUDA_ERROR_INVALID_VALUE); /* twice */
    free(gpu_test_capture_end(&cap));
    gpu_cu->cuDevicePrimaryCtxRelease(0);
}

static void test_module_images_and_kernels(void **state)
{
    static const char  garbage[] = "\x7f"
                                   "not a module";
    gpu_test_capture_t cap;
    CUmodule           module;
    CUfunction         fn;
    CUdeviceptr        x, y;
    float              xs[4] = {1, 2, 3, 4}, ys[4] = {10, 20, 30, 40};
    int                n      = 4;
    float              a      = 2.0f;
    void              *args[] = {&n, &a, &x, &y};
    char              *out;

    load_double("1", NULL, NULL);
    start_in_ctx(0);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_cu->cuModuleLoadData(&module, garbage), CUDA_ERROR_INVALID_IMAGE);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "RULE cuModuleLoadData: neither a fatbin");
    free(out);

    assert_int_equal(gpu_cu->cuModuleLoadData(&module, saxpy_ptx), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuModuleGetFunction(&fn, module, "empty"), CUDA_ERROR_NOT_FOUND);
    assert_int_equal(gpu_cu->cuModuleGetFunction(&fn, module, "saxpy"), CUDA_SUCCESS);

    assert_int_equal(gpu_cu->cuMemAlloc(&x, sizeof(xs)), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuMemAlloc(&y, sizeof(ys)), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuMemcpyHtoD(x, xs, sizeof(xs)), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuMemcpyHtoD(y, ys, sizeof(ys)), CUDA_SUCCESS);
    /* 1 block of 2 threads: only the first two elements are computed */
    assert_int_equal(gpu_cu->cuLaunchKernel(fn, 1, 1, 1, 2, 1, 1, 0, NULL, args, NULL),
                     CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuMemcpyDtoH(ys, y, sizeof(ys)), CUDA_SUCCESS);
    assert_true(ys[0] == 12.0f && ys[1] == 24.0f && ys[2] == 30.0f && ys[3] == 40.0f);

    n = 5; /* one element past the allocations */
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_cu->cuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL),
                     CUDA_ERROR_ILLEGAL_ADDRESS);
    assert_int_equal(gpu_cu->cuLaunchKernel(fn, 1, 1, 1, 2048, 1, 1, 0, NULL, args, NULL),
                     CUDA_ERROR_INVALID_VALUE);
    free(gpu_test_capture_end(&cap));

    assert_int_equal(gpu_cu->cuModuleUnload(module), CUDA_SUCCESS);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_cu->cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL),
                     CUDA_ERROR_INVALID_HANDLE); /* its module is gone */
    free(gpu_test_capture_end(&cap));
    gpu_cu->cuMemFree(x);
    gpu_cu->cuMemFree(y);
    gpu_cu->cuDevicePrimaryCtxRelease(0);
}

static void test_error_names(void **state)
{
    const char *name = NULL;

    load_double("1", NULL, NULL);
    assert_int_equal(gpu_cu->cuGetErrorName(CUDA_ERROR_INVALID_CONTEXT, &name), CUDA_SUCCESS);
    assert_string_equal(name, "CUDA_ERROR_INVALID_CONTEXT");
    assert_int_equal(gpu_cu->cuGetErrorName(CUDA_ERROR_NOT_READY, &name), CUDA_SUCCESS);
    assert_string_equal(name, "CUDA_ERROR_NOT_READY");
    assert_int_equal(gpu_cu->cuGetErrorName((CUresult)9999, &name), CUDA_ERROR_INVALID_VALUE);
}

static void test_injected_failures(void **state)
{
    CUdeviceptr ptr[3];
    CUstream    stream;

    load_double("1", NULL, "cuMemAlloc:2:CUDA_ERROR_OUT_OF_MEMORY,cuStreamCreate:0:700");
    start_in_ctx(0);
    assert_int_equal(gpu_cu->cuMemAlloc(&ptr[0], 16), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuMemAlloc(&ptr[1], 16), CUDA_ERROR_OUT_OF_MEMORY);
    assert_int_equal(gpu_cu->cuMemAlloc(&ptr[2], 16), CUDA_SUCCESS);
    for (int i = 0; i < 3; ++i) { /* 0: every call */
        assert_int_equal(gpu_cu->cuStreamCreate(&stream, 0), CUDA_ERROR_ILLEGAL_ADDRESS);
    }
    gpu_cu->cuMemFree(ptr[0]);
    gpu_cu->cuMemFree(ptr[2]);
    gpu_cu->cuDevicePrimaryCtxRelease(0);
}

static void test_leaks_reported_at_unload(void **state)
{
    gpu_test_capture_t cap;
    CUdeviceptr        ptr;
    CUstream           stream;
    char              *out;

    load_double("1", NULL, NULL);
    start_in_ctx(0);
    assert_int_equal(gpu_cu->cuMemAlloc(&ptr, 16), CUDA_SUCCESS);
    assert_int_equal(gpu_cu->cuStreamCreate(&stream, 0), CUDA_SUCCESS);
    assert_int_equal(gpu_test_live("alloc"), 1);
    assert_int_equal(gpu_test_live("stream"), 1);
    gpu_test_capture_begin(&cap);
    gpu_driver_unload();
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "1 alloc object(s) never freed");
    gpu_test_assert_contains(out, "1 stream object(s) never freed");
    free(out);
}
#endif /* RMPI_HAVE_CUDA */

int main(void)
{
    int skip = gpu_test_skip_reason();

    if (skip != 0) {
        return skip;
    }
    if (gpu_test_real()) {
        printf("SKIP: these tests check the driver double, not the real driver\n");
        return 77;
    }
#ifdef RMPI_HAVE_CUDA
#define TEST(_fn) cmocka_unit_test_teardown(_fn, unload_double)
    const struct CMUnitTest tests[] = {
        TEST(test_init_comes_first),
        TEST(test_calls_need_a_context),
        TEST(test_streams_belong_to_their_context),
        TEST(test_memory_is_tracked),
        TEST(test_module_images_and_kernels),
        TEST(test_error_names),
        TEST(test_injected_failures),
        TEST(test_leaks_reported_at_unload),
    };
#undef TEST

    return cmocka_run_group_tests_name("cudadouble", tests, NULL, NULL);
#endif
}
