/*
 * Unit tests of gpu/driver.c and gpu_init(): loading the driver, absence,
 * initialization failures and the mapping of CUresult to rmpi_status_t.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gpu_test.h"

#ifdef RMPI_HAVE_CUDA
#include "gpu/driver.h"

/* A path where no library is: gpu/ reports absence, not an error. */
static void test_no_driver_is_absence(void **state)
{
    gpu_test_capture_t cap;
    gpu_stream_h       stream;
    char              *out;

    gpu_test_clear_env();
    setenv("RAYMPI_GPU_LIBCUDA", "/nonexistent/libcuda.so.1", 1);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_init(), RMPI_ERR_NO_DEVICE);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(gpu_absent_reason(), "/nonexistent/libcuda.so.1");
    assert_null(strstr(out, "ERROR")); /* absence is info, not an error */
    free(out);
    assert_int_equal(gpu_device_count(), 0);
    assert_int_equal(gpu_driver_version(), 0);
    assert_int_equal(gpu_stream_get(0, &stream), RMPI_ERR_NOT_READY);
    assert_null(gpu_cu);
}

/* A library that is not a CUDA driver (no cuInit) is absence too. */
static void test_library_without_symbols(void **state)
{
    gpu_test_clear_env();
    setenv("RAYMPI_GPU_LIBCUDA", "libm.so.6", 1);
    assert_int_equal(gpu_init(), RMPI_ERR_NO_DEVICE);
    gpu_test_assert_contains(gpu_absent_reason(), "lacks cuInit");
    assert_null(gpu_cu);
}

/* A driver that sees no device (cuInit: CUDA_ERROR_NO_DEVICE). */
static void test_zero_devices(void **state)
{
    gpu_test_need_double();
    gpu_test_clear_env();
    setenv("RMPI_CUDA_DOUBLE_DEVICES", "0", 1);
    assert_int_equal(gpu_init(), RMPI_ERR_NO_DEVICE);
    gpu_test_assert_contains(gpu_absent_reason(), "CUDA_ERROR_NO_DEVICE");
    assert_int_equal(gpu_device_count(), 0);
}

/* A failing cuInit is an error with the driver's error name and the call. */
static void test_init_failure_names_the_error(void **state)
{
    gpu_test_capture_t cap;
    char              *out;

    gpu_test_need_double();
    gpu_test_clear_env();
    setenv("RMPI_CUDA_DOUBLE_FAIL", "cuInit:1:CUDA_ERROR_INVALID_DEVICE", 1);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_init(), RMPI_ERR_DEVICE);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "cuInit failed: CUDA_ERROR_INVALID_DEVICE");
    free(out);
    assert_int_equal(gpu_device_count(), 0);

    /* and nothing is left half set up: the next start works */
    gpu_test_start("1", NULL, NULL);
}

/* A failure while enumerating devices tears everything down. */
static void test_enumeration_failure(void **state)
{
    gpu_test_capture_t cap;
    char              *out;

    gpu_test_need_double();
    gpu_test_clear_env();
    setenv("RMPI_CUDA_DOUBLE_DEVICES", "2", 1);
    setenv("RMPI_CUDA_DOUBLE_FAIL", "cuDeviceGetName:2:CUDA_ERROR_UNKNOWN", 1);
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_init(), RMPI_ERR_DEVICE);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "cuDeviceGetName failed: CUDA_ERROR_UNKNOWN");
    free(out);
    assert_int_equal(gpu_device_count(), 0);
    assert_null(gpu_cu);
}

static void test_status_mapping(void **state)
{
    static const struct {
        CUresult      res;
        rmpi_status_t status;
    } cases[] = {
        {CUDA_SUCCESS, RMPI_OK},
        {CUDA_ERROR_NO_DEVICE, RMPI_ERR_NO_DEVICE},
        {CUDA_ERROR_STUB_LIBRARY, RMPI_ERR_NO_DEVICE},
        {CUDA_ERROR_SYSTEM_DRIVER_MISMATCH, RMPI_ERR_NO_DEVICE},
        {CUDA_ERROR_OUT_OF_MEMORY, RMPI_ERR_NO_MEMORY},
        {CUDA_ERROR_INVALID_VALUE, RMPI_ERR_DEVICE},
        {CUDA_ERROR_LAUNCH_FAILED, RMPI_ERR_DEVICE},
        {CUDA_ERROR_ILLEGAL_ADDRESS, RMPI_ERR_DEVICE},
        {CUDA_ERROR_INVALID_IMAGE, RMPI_ERR_DEVICE},
        {CUDA_ERROR_UNKNOWN, RMPI_ERR_DEVICE},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        assert_int_equal(gpu_status_of_cu(cases[i].res), cases[i].status);
    }
}

/* Logged errors carry the driver's name of the code, the call and its description. */
static void test_error_messages(void **state)
{
    gpu_test_capture_t cap;
    char              *out;

    gpu_test_start("1", NULL, NULL);
    assert_string_equal(gpu_cu_error_name(CUDA_ERROR_OUT_OF_MEMORY), "CUDA_ERROR_OUT_OF_MEMORY");
    assert_string_equal(gpu_cu_error_name(CUDA_ERROR_LAUNCH_TIMEOUT), "CUDA_ERROR_LAUNCH_TIMEOUT");
    assert_string_equal(gpu_cu_error_name((CUresult)12345), "CUresult 12345");

    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_status_from_cu(CUDA_ERROR_ILLEGAL_ADDRESS, "cuTestCall(7)"),
                     RMPI_ERR_DEVICE);
    assert_int_equal(gpu_status_from_cu(CUDA_SUCCESS, "cuQuiet"), RMPI_OK);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "cuTestCall(7) failed: CUDA_ERROR_ILLEGAL_ADDRESS (");
    assert_null(strstr(out, "cuQuiet"));
    free(out);
}

/* gpu_init is reference counted; the last gpu_finalize unloads the driver. */
static void test_init_refcount(void **state)
{
    gpu_test_start(NULL, NULL, NULL);
    assert_int_equal(gpu_init(), RMPI_OK);
    assert_true(gpu_driver_version() >= 11000);
    gpu_finalize();
    assert_non_null(gpu_cu);
    assert_true(gpu_device_count() >= 1);
    gpu_finalize();
    assert_null(gpu_cu);
    assert_int_equal(gpu_device_count(), 0);
}

static void test_bad_config(void **state)
{
    gpu_test_clear_env();
    setenv("RAYMPI_GPU_MEMORY_FRACTION", "1.5", 1);
    assert_int_equal(gpu_init(), RMPI_ERR_CONFIG);
    setenv("RAYMPI_GPU_MEMORY_FRACTION", "0.5", 1);
    setenv("RAYMPI_GPU_STREAMS_PER_DEVICE", "0", 1);
    assert_int_equal(gpu_init(), RMPI_ERR_CONFIG);
    setenv("RAYMPI_GPU_STREAMS_PER_DEVICE", "many", 1);
    assert_int_equal(gpu_init(), RMPI_ERR_CONFIG);
    assert_null(gpu_cu);
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
        TEST(test_no_driver_is_absence), TEST(test_library_without_symbols),
        TEST(test_zero_devices),         TEST(test_init_failure_names_the_error),
        TEST(test_enumeration_failure),  TEST(test_status_mapping),
        TEST(test_error_messages),       TEST(test_init_refcount),
        TEST(test_bad_config),
    };
#undef TEST

    return cmocka_run_group_tests_name("gpu_driver", tests, NULL, NULL);
#endif
}
