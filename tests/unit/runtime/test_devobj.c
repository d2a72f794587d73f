/*
 * tests/unit/runtime/test_devobj.c - device objects (rmpi_return_device) in a
 * one-rank job on the CUDA driver double (two devices of 64 MiB) or, with
 * RAYMPI_GPU_TEST_REAL=1, the real driver:
 *  - a consumer on the producer's device reads it in place (same address);
 *  - a consumer on the other device, a CPU task and rmpi_get read copies;
 *  - the host copy is made once however often it is read;
 *  - a full device spills the least recently used objects to host memory and
 *    copies them back when a task needs them, data intact;
 *  - an object larger than the device is a clear error; a CPU task cannot
 *    return one; freeing the refs frees the device memory;
 *  - the rank's object store is page-locked for GPU copies (RT_GPU_PIN_STORE);
 *  - a failed kernel launch fails its task with RMPI_ERR_DEVICE; the next works.
 */
#include "unit_mpi.h"

#include "gpu/gpu.h"
#include "runtime/devobj.h"

#include <dlfcn.h>
#include <raympi.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MIB ((size_t)1 << 20)

/* What a producer says about the object it made (its return 1). */
typedef struct made {
    int      dev;
    uint64_t ptr;
} made_t;

/* What a consumer saw (its return 0). */
typedef struct seen {
    int      task_dev;
    int      arg_dev;
    uint64_t ptr;
    uint64_t sum; /* of the bytes, read from wherever they lie */
    uint64_t size;
} seen_t;

static sem_t blocker_started, blocker_release;

static uint64_t byte_sum(const uint8_t *p, size_t n)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < n; ++i) {
        sum += p[i];
    }
    return sum;
}

/* make(size, seed): a device object of `size` bytes, byte i = seed + i. */
RMPI_REMOTE(devobj_make)
{
    size_t   size = *(const size_t *)args[0].data;
    uint8_t  seed = *(const uint8_t *)args[1].data;
    uint8_t *host = malloc(size > 0 ? size : 1);
    made_t   made = {.dev = rmpi_task_gpu(ctx)};

    rmpi_status_t status;

    (void)nargs;
    if (host == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < size; ++i) {
        host[i] = (uint8_t)(seed + i);
    }
    status = rmpi_return_device(ctx, 0, size, NULL, &made.ptr);
    if (status == RMPI_OK) {
        status = gpu_memcpy_h2d(made.dev, made.ptr, host, size);
    }
    free(host);
    if (status == RMPI_OK && rmpi_task_num_returns(ctx) > 1) {
        status = rmpi_return(ctx, 1, &made, sizeof(made));
    }
    return status;
}

/* use(obj): where the argument lies and the sum of its bytes. */
RMPI_REMOTE(devobj_use)
{
    seen_t   seen = {.task_dev = rmpi_task_gpu(ctx), .arg_dev = args[0].device};
    uint8_t *host;

    (void)nargs;
    seen.size = args[0].size;
    if (args[0].device < 0) {
        seen.sum = byte_sum(args[0].data, args[0].size);
        return rmpi_return(ctx, 0, &seen, sizeof(seen));
    }
    seen.ptr = rmpi_arg_devptr(&args[0]);
    host     = malloc(args[0].size > 0 ? args[0].size : 1);
    if (host == NULL ||
        gpu_memcpy_d2h(args[0].device, host, rmpi_arg_devptr(&args[0]), args[0].size) != RMPI_OK) {
        free(host);
        return RMPI_ERR_DEVICE;
    }
    seen.sum = byte_sum(host, args[0].size);
    free(host);
    return rmpi_return(ctx, 0, &seen, sizeof(seen));
}

/* Holds a whole GPU until the test lets it go. */
RMPI_REMOTE(devobj_blocker)
{
    int dev = rmpi_task_gpu(ctx);

    (void)args, (void)nargs;
    sem_post(&blocker_started);
    sem_wait(&blocker_release);
    return rmpi_return(ctx, 0, &dev, sizeof(dev));
}

static uint64_t expected_sum(size_t size, uint8_t seed)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < size; ++i) {
        sum += (uint8_t)(seed + i);
    }
    return sum;
}

static const rmpi_task_options_t half_gpu = {.field_mask = RMPI_TASK_OPT_NUM_GPUS, .num_gpus = 0.5};
static const rmpi_task_options_t whole_gpu = {.field_mask = RMPI_TASK_OPT_NUM_GPUS, .num_gpus = 1};

/* Submit make(size, seed) with 2 returns; wait for the second. */
static void make_object(size_t size, uint8_t seed, rmpi_ref_t *obj_p, made_t *made_p)
{
    rmpi_task_options_t opts    = half_gpu;
    rmpi_task_arg_t     args[2] = {rmpi_arg_value(&size, sizeof(size)),
                                   rmpi_arg_value(&seed, sizeof(seed))};
    rmpi_ref_t          refs[2];
    rmpi_object_t       out;

    opts.field_mask |= RMPI_TASK_OPT_NUM_RETURNS;
    opts.num_returns = 2;
    assert_int_equal(rmpi_submit("devobj_make", args, 2, &opts, refs), RMPI_OK);
    assert_int_equal(rmpi_get(&refs[1], 1, 30, &out), RMPI_OK);
    assert_int_equal(out.size, sizeof(*made_p));
    memcpy(made_p, out.data, sizeof(*made_p));
    rmpi_object_release(&out);
    assert_int_equal(rmpi_ref_free(refs[1]), RMPI_OK);
    *obj_p = refs[0];
}

static void use_object(rmpi_ref_t obj, const rmpi_task_options_t *opts, seen_t *seen_p)
{
    rmpi_task_arg_t arg = rmpi_arg_ref(obj);
    rmpi_ref_t      ref;
    rmpi_object_t   out;

    assert_int_equal(rmpi_submit("devobj_use", &arg, 1, opts, &ref), RMPI_OK);
    assert_int_equal(rmpi_get(&ref, 1, 30, &out), RMPI_OK);
    assert_int_equal(out.size, sizeof(*seen_p));
    memcpy(seen_p, out.data, sizeof(*seen_p));
    rmpi_object_release(&out);
    assert_int_equal(rmpi_ref_free(ref), RMPI_OK);
}

static void test_same_device_in_place(void **state)
{
    rmpi_ref_t obj;
    made_t     made;
    seen_t     seen;

    (void)state;
    make_object(MIB, 7, &obj, &made);
    use_object(obj, &half_gpu, &seen); /* best fit: the half of the producer's device */
    assert_int_equal(seen.task_dev, made.dev);
    assert_int_equal(seen.arg_dev, made.dev);
    assert_true(seen.ptr == made.ptr); /* its memory, not a copy */
    assert_int_equal(seen.size, MIB);
    assert_true(seen.sum == expected_sum(MIB, 7));
    assert_int_equal(rmpi_ref_free(obj), RMPI_OK);
}

/*
 * One round: hold a whole GPU with the blocker, then read the object on a
 * whole GPU. Returns whether the reader ran on another device than the
 * producer's; either way what it saw must match where it ran.
 */
static bool read_while_blocked(rmpi_ref_t obj, const made_t *made)
{
    rmpi_ref_t    blocker;
    rmpi_object_t out;
    seen_t        seen;
    int           blocked_dev;

    assert_int_equal(rmpi_submit("devobj_blocker", NULL, 0, &whole_gpu, &blocker), RMPI_OK);
    sem_wait(&blocker_started);
    use_object(obj, &whole_gpu, &seen);
    sem_post(&blocker_release);
    assert_int_equal(rmpi_get(&blocker, 1, 30, &out), RMPI_OK);
    blocked_dev = *(const int *)out.data;
    rmpi_object_release(&out);
    assert_int_equal(rmpi_ref_free(blocker), RMPI_OK);
    assert_int_not_equal(seen.task_dev, blocked_dev);
    assert_int_equal(seen.arg_dev, seen.task_dev); /* on the reader's device */
    assert_true(seen.sum == expected_sum(MIB, 11));
    if (seen.task_dev == made->dev) {
        assert_true(seen.ptr == made->ptr); /* in place */
        return false;
    }
    assert_true(seen.ptr != made->ptr); /* a copy */
    return true;
}

static void test_other_device_gets_a_copy(void **state)
{
    rmpi_ref_t obj;
    made_t     made;
    bool       copied = false;

    (void)state;
    make_object(MIB, 11, &obj, &made);
    /*
     * The blocker takes the first whole GPU free: the producer's, unless the
     * producer's share is still being returned (its result arrives first);
     * then the reader gets the producer's device and reads in place. Repeat
     * until the copy path ran.
     */
    for (int round = 0; round < 20 && !copied; ++round) {
        copied = read_while_blocked(obj, &made);
    }
    assert_true(copied);
    assert_int_equal(rmpi_ref_free(obj), RMPI_OK);
}

static void test_host_readers_copy_once(void **state)
{
    rt_devobj_stats_t before, after;
    rmpi_ref_t        obj;
    rmpi_object_t     out;
    made_t            made;
    seen_t            seen;

    (void)state;
    make_object(3 * MIB + 5, 3, &obj, &made);
    rt_devobj_stats(&before);
    use_object(obj, NULL, &seen); /* a CPU task: host bytes */
    assert_int_equal(seen.task_dev, -1);
    assert_int_equal(seen.arg_dev, -1);
    assert_int_equal(seen.size, 3 * MIB + 5);
    assert_true(seen.sum == expected_sum(3 * MIB + 5, 3));
    for (int i = 0; i < 2; ++i) {
        assert_int_equal(rmpi_get(&obj, 1, 30, &out), RMPI_OK);
        assert_int_equal(out.size, 3 * MIB + 5);
        assert_true(byte_sum(out.data, out.size) == expected_sum(3 * MIB + 5, 3));
        rmpi_object_release(&out);
    }
    rt_devobj_stats(&after);
    assert_int_equal(after.stages - before.stages, 1);
    assert_int_equal(rmpi_ref_free(obj), RMPI_OK);
}

/* 6 x 12 MiB on one 64 MiB device (90% usable): the oldest go to host memory and come back. */
static void test_spill_and_restore(void **state)
{
    enum { N = 6 };
    rt_devobj_stats_t before, mid, after;
    rmpi_ref_t        objs[N];
    made_t            made[N];
    seen_t            seen;

    (void)state;
    if (getenv("RAYMPI_GPU_TEST_REAL") != NULL) {
        skip(); /* sized for the double's 64 MiB devices */
    }
    rt_devobj_stats(&before);
    for (int i = 0; i < N; ++i) {
        make_object(12 * MIB, (uint8_t)(40 + i), &objs[i], &made[i]);
        assert_int_equal(made[i].dev, made[0].dev);
    }
    rt_devobj_stats(&mid);
    assert_true(mid.spills - before.spills >= 2);
    assert_true(mid.bytes_spilled >= 24 * MIB);
    {
        rmpi_runtime_stats_t pub;

        assert_int_equal(rmpi_runtime_stats(&pub), RMPI_OK);
        assert_int_equal(pub.device_objects, N);
        assert_int_equal(pub.device_bytes + pub.device_spilled, N * 12 * MIB);
    }
    for (int i = 0; i < N; ++i) { /* the oldest were spilled: each read brings one back */
        use_object(objs[i], &half_gpu, &seen);
        assert_int_equal(seen.arg_dev, made[i].dev);
        assert_true(seen.sum == expected_sum(12 * MIB, (uint8_t)(40 + i)));
    }
    rt_devobj_stats(&after);
    assert_true(after.restores - mid.restores >= 2);
    for (int i = 0; i < N; ++i) {
        assert_int_equal(rmpi_ref_free(objs[i]), RMPI_OK);
    }
    rt_devobj_stats(&after);
    assert_int_equal(after.objects, 0);
    assert_int_equal(after.bytes_on_device, 0);
    assert_int_equal(after.bytes_spilled, 0);
    {
        rmpi_runtime_stats_t pub; /* the same figures through the public API */

        assert_int_equal(rmpi_runtime_stats(&pub), RMPI_OK);
        assert_int_equal(pub.device_objects, 0);
        assert_int_equal(pub.device_bytes + pub.device_spilled, 0);
    }
}

static void expect_make_fails(size_t size, const rmpi_task_options_t *opts, rmpi_status_t want)
{
    uint8_t         seed    = 0;
    rmpi_task_arg_t args[2] = {rmpi_arg_value(&size, sizeof(size)),
                               rmpi_arg_value(&seed, sizeof(seed))};
    rmpi_ref_t      ref;
    rmpi_object_t   out;

    assert_int_equal(rmpi_submit("devobj_make", args, 2, opts, &ref), RMPI_OK);
    assert_int_equal(rmpi_get(&ref, 1, 30, &out), want);
    assert_int_equal(out.status, want);
    rmpi_object_release(&out);
    assert_int_equal(rmpi_ref_free(ref), RMPI_OK);
}

static void test_bad_requests(void **state)
{
    rt_devobj_stats_t stats;
    gpu_device_info_t info;

    (void)state;
    assert_int_equal(gpu_device_info(0, &info), RMPI_OK);
    expect_make_fails(info.total_mem + MIB, &half_gpu, RMPI_ERR_NO_MEMORY); /* nothing to spill */
    expect_make_fails(MIB, NULL, RMPI_ERR_NO_DEVICE); /* a CPU task has no device */
    rt_devobj_stats(&stats);
    assert_int_equal(stats.objects, 0);
}

/* Launches the built-in empty kernel on its stream; returns the launch's status. */
RMPI_REMOTE(devobj_launch)
{
    rmpi_gpu_kernel_h kernel;
    rmpi_status_t     status;

    (void)args, (void)nargs;
    status = rmpi_gpu_builtin_kernel(ctx, "empty", &kernel);
    if (status == RMPI_OK) {
        status = rmpi_gpu_launch(ctx, kernel, (rmpi_gpu_dim3_t){1, 1, 1},
                                 (rmpi_gpu_dim3_t){1, 1, 1}, 0, NULL);
    }
    if (status != RMPI_OK) {
        rmpi_task_error(ctx, "launch: %s", rmpi_status_str(status));
    }
    return status;
}

/*
 * The double fails the first cuLaunchKernel (setup): that task fails with
 * RMPI_ERR_DEVICE and its message; the rank and its GPU go on, the next
 * launch works.
 */
static void test_launch_failure(void **state)
{
    rmpi_ref_t    ref;
    rmpi_object_t out;

    (void)state;
    if (getenv("RAYMPI_GPU_TEST_REAL") != NULL || !gpu_builtin_available()) {
        skip(); /* needs the double's injected failure and the built-in kernels (nvcc) */
    }
    assert_int_equal(rmpi_submit("devobj_launch", NULL, 0, &half_gpu, &ref), RMPI_OK);
    assert_int_equal(rmpi_get(&ref, 1, 30, &out), RMPI_ERR_DEVICE);
    assert_non_null(strstr(out.error, "launch"));
    rmpi_object_release(&out);
    assert_int_equal(rmpi_ref_free(ref), RMPI_OK);
    assert_int_equal(rmpi_submit("devobj_launch", NULL, 0, &half_gpu, &ref), RMPI_OK);
    assert_int_equal(rmpi_get(&ref, 1, 30, &out), RMPI_OK);
    rmpi_object_release(&out);
    assert_int_equal(rmpi_ref_free(ref), RMPI_OK);
}

/* The double's count of page-locked host ranges (cuMemHostRegister). */
static int registered_ranges(void)
{
    void *handle = dlopen(GPU_TEST_DOUBLE_PATH, RTLD_NOW | RTLD_NOLOAD);
    int (*live)(const char *);
    int count;

    assert_non_null(handle); /* gpu/ has it loaded */
    *(void **)&live = dlsym(handle, "cudadouble_live");
    assert_non_null(live);
    count = live("registered");
    dlclose(handle);
    return count;
}

static void test_store_is_pinned(void **state)
{
    (void)state;
    if (getenv("RAYMPI_GPU_TEST_REAL") != NULL) {
        skip(); /* the real driver does not count */
    }
    assert_int_equal(registered_ranges(), 1);
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
        setenv("RMPI_CUDA_DOUBLE_MEM", "64M", 1);
        setenv("RMPI_CUDA_DOUBLE_FAIL", "cuLaunchKernel:1:CUDA_ERROR_LAUNCH_FAILED", 1);
    }
    setenv("RAYMPI_STORE_ARENA_SIZE", "64M", 1);
    sem_init(&blocker_started, 0, 0);
    sem_init(&blocker_release, 0, 0);
    return rmpi_init(NULL, NULL, &params) == RMPI_OK && gpu_device_count() >= 2 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    sem_destroy(&blocker_started);
    sem_destroy(&blocker_release);
    return rmpi_shutdown() == RMPI_OK ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_device_in_place),
        cmocka_unit_test(test_other_device_gets_a_copy),
        cmocka_unit_test(test_host_readers_copy_once),
        cmocka_unit_test(test_spill_and_restore),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_store_is_pinned),
        cmocka_unit_test(test_launch_failure),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
