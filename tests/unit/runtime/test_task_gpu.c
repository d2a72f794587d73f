/*
 * tests/unit/runtime/test_task_gpu.c - GPU tasks in a one-rank job on the CUDA
 * driver double (two devices) or, with RAYMPI_GPU_TEST_REAL=1, the real
 * driver: a task that asks for a GPU runs with its device's context current
 * and gets a stream; four 0.25-GPU tasks share one device at the same time;
 * more GPUs than the rank has is infeasible; a CPU task has no GPU.
 */
#include "unit_mpi.h"

#include "gpu/gpu.h"

#include <pthread.h>
#include <raympi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static pthread_barrier_t share_barrier;

/* Returns {device, current context's device, stream != NULL, stream status}. */
RMPI_REMOTE(gpu_probe)
{
    int   out[4] = {rmpi_task_gpu(ctx), -1, 0, 0};
    void *stream = NULL;

    (void)args, (void)nargs;
    if (gpu_ctx_current(&out[1]) != RMPI_OK) {
        out[1] = -1;
    }
    out[3] = rmpi_task_stream(ctx, &stream);
    out[2] = stream != NULL;
    return rmpi_return(ctx, 0, out, sizeof(out));
}

/* Four of these at 0.25 GPU finish only if they run at the same time. */
RMPI_REMOTE(gpu_share)
{
    int   dev    = rmpi_task_gpu(ctx);
    void *stream = NULL;

    (void)args, (void)nargs;
    if (rmpi_task_stream(ctx, &stream) != RMPI_OK) {
        return RMPI_ERR_DEVICE;
    }
    pthread_barrier_wait(&share_barrier);
    return rmpi_return(ctx, 0, &dev, sizeof(dev));
}

static void get_ints(rmpi_ref_t ref, int *out, size_t n)
{
    rmpi_object_t obj;

    assert_int_equal(rmpi_get(&ref, 1, 30, &obj), RMPI_OK);
    assert_int_equal(obj.size, n * sizeof(int));
    memcpy(out, obj.data, n * sizeof(int));
    rmpi_object_release(&obj);
    assert_int_equal(rmpi_ref_free(ref), RMPI_OK);
}

static void test_whole_gpu(void **state)
{
    rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_NUM_GPUS, .num_gpus = 1};
    rmpi_ref_t          ref;
    int                 out[4];

    (void)state;
    assert_int_equal(rmpi_submit("gpu_probe", NULL, 0, &opts, &ref), RMPI_OK);
    get_ints(ref, out, 4);
    assert_true(out[0] >= 0 && out[0] < gpu_device_count());
    assert_int_equal(out[1], out[0]); /* its context is current */
    assert_int_equal(out[3], RMPI_OK);
    assert_int_equal(out[2], 1);
}

static void test_cpu_task_has_no_gpu(void **state)
{
    rmpi_ref_t ref;
    int        out[4];

    (void)state;
    assert_int_equal(rmpi_submit("gpu_probe", NULL, 0, NULL, &ref), RMPI_OK);
    get_ints(ref, out, 4);
    assert_int_equal(out[0], -1);
    assert_int_equal(out[3], RMPI_ERR_NO_DEVICE);
    assert_int_equal(out[2], 0);
}

static void test_fractional_packing(void **state)
{
    rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_NUM_GPUS, .num_gpus = 0.25};
    rmpi_ref_t          refs[4];
    int                 dev[4];

    (void)state;
    pthread_barrier_init(&share_barrier, NULL, 4);
    for (int i = 0; i < 4; ++i) {
        assert_int_equal(rmpi_submit("gpu_share", NULL, 0, &opts, &refs[i]), RMPI_OK);
    }
    for (int i = 0; i < 4; ++i) {
        get_ints(refs[i], &dev[i], 1);
    }
    for (int i = 1; i < 4; ++i) {
        assert_int_equal(dev[i], dev[0]); /* packed on one device */
    }
    pthread_barrier_destroy(&share_barrier);
}

static void test_too_many_gpus(void **state)
{
    rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_NUM_GPUS};
    rmpi_ref_t          ref;

    (void)state;
    opts.num_gpus = gpu_device_count() + 1;
    assert_int_equal(rmpi_submit("gpu_probe", NULL, 0, &opts, &ref), RMPI_ERR_INFEASIBLE);
}

static int setup(void **state)
{
    static const char *const config[] = {"RT_NUM_CPUS=4"};
    rmpi_init_params_t       params   = {
                .field_mask = RMPI_INIT_PARAM_CONFIG, .config = config, .num_config = 1};

    (void)state;
    if (getenv("RAYMPI_GPU_TEST_REAL") == NULL) {
        setenv("RAYMPI_GPU_LIBCUDA", GPU_TEST_DOUBLE_PATH, 1);
        setenv("RMPI_CUDA_DOUBLE_DEVICES", "2", 1);
    }
    setenv("RAYMPI_STORE_ARENA_SIZE", "64M", 1);
    return rmpi_init(NULL, NULL, &params) == RMPI_OK && gpu_device_count() > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmpi_shutdown() == RMPI_OK ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_gpu),
        cmocka_unit_test(test_cpu_task_has_no_gpu),
        cmocka_unit_test(test_fractional_packing),
        cmocka_unit_test(test_too_many_gpus),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
