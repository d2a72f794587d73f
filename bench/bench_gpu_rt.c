/*
 * bench/bench_gpu_rt.c - GPU tasks and device objects through the public API
 * (issue 8), each beside a limit measured in the same run:
 *
 *  gpu_task_roundtrip          submit + rmpi_get of a num_gpus=1 task that launches
 *                              the built-in "empty" kernel (1 block of 1 thread) with
 *                              rmpi_gpu_launch, microseconds  vs  cuLaunchKernel +
 *                              cuStreamSynchronize of that kernel on one stream
 *  gpu_object_d2h_bandwidth    rmpi_get of a 64 MiB device object a GPU task returned:
 *                              the first get makes the host copy in the store (a
 *                              fresh object each run), GB/s  vs  cuMemcpyDtoH of
 *                              64 MiB into pinned memory
 *  gpu_object_h2d_bandwidth    a GPU task copies its 64 MiB host argument (rmpi_put by
 *                              the driver, read in place from the store) into a device
 *                              object with rmpi_gpu_copy_to_device + rmpi_gpu_sync;
 *                              64 MiB over the task's whole round trip (submit until
 *                              the object is ready), so one task's overhead (see
 *                              gpu_task_roundtrip) is in the figure, GB/s  vs
 *                              cuMemcpyHtoD of 64 MiB from pinned memory
 *  gpu_object_same_device_get  round trip of a 0.5-GPU consumer task given a 64 MiB
 *                              device object that a 0.5-GPU producer made on the same
 *                              device, microseconds  vs  the same consumer given a
 *                              1 KiB device object: a ratio near 1 shows the argument
 *                              is passed in place, whatever its size
 *
 * They run in_runtime (bench.c starts the runtime once) on rank 0, and pin every
 * task to rank 0, so the driver is the holder and no transfer between ranks is in
 * a figure. The baselines use device 0 (bench_gpu.c); on a rank with several GPUs
 * the tasks may use another one of the same kind. --quick uses 4 MiB objects and
 * fewer round trips. Without a GPU (or without built-in kernels, where one is
 * needed) they print a "skipped" line and succeed.
 * Thread safety: rank 0's main thread; the state below is the running figure's.
 */
#include "bench/bench.h"
#include "bench/bench_gpu.h"
#include "bench/bench_rt.h"

#include "base/clock.h"
#include "base/log.h"
#include "gpu/gpu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BGR_OBJECT_BYTES (64u << 20)
#define BGR_QUICK_OBJECT_BYTES (4u << 20)
#define BGR_SMALL_BYTES 1024u /* gpu_object_same_device_get's limit */
#define BGR_PATTERN_BYTES 4096u
#define BGR_ROUNDTRIPS 2000 /* gpu_task_roundtrip, per run */
#define BGR_QUICK_ROUNDTRIPS 50
#define BGR_CONSUMERS 500 /* gpu_object_same_device_get, per run */
#define BGR_QUICK_CONSUMERS 20
#define BGR_COPIES 4 /* gpu_object_h2d_bandwidth, tasks per run */
#define BGR_QUICK_COPIES 1

static const char bgr_ok[] = "ok";

/* --- remote functions (every rank registers them before rmpi_init) -------------- */

RMPI_REMOTE(bgr_empty)
{
    static const rmpi_gpu_dim3_t one = {1, 1, 1};
    rmpi_gpu_kernel_h            kernel;
    rmpi_status_t                status = rmpi_gpu_builtin_kernel(ctx, "empty", &kernel);

    (void)args, (void)nargs;
    if (status == RMPI_OK) {
        status = rmpi_gpu_launch(ctx, kernel, one, one, 0, NULL);
    }
    /* the runtime synchronizes the stream before the return is sealed */
    return status == RMPI_OK ? rmpi_return(ctx, 0, bgr_ok, sizeof(bgr_ok) - 1) : status;
}

/*
 * Fill @a size bytes at @a dev on the device: a 4 KiB pattern from the host,
 * then doubled in place with device-to-device copies (cheap, and every byte
 * is defined, which a bare allocation's are not).
 */
static rmpi_status_t bgr_fill(rmpi_task_ctx_h ctx, uint64_t dev, size_t size)
{
    static uint8_t pattern[BGR_PATTERN_BYTES];
    size_t         done   = size < sizeof(pattern) ? size : sizeof(pattern);
    rmpi_status_t  status = rmpi_gpu_copy_to_device(ctx, dev, pattern, done);

    while (status == RMPI_OK && done < size) {
        size_t n = size - done < done ? size - done : done;

        status = rmpi_gpu_copy_on_device(ctx, dev + done, dev, n);
        done += n;
    }
    return status;
}

/* args[0]: a size_t. Returns a device object of that many bytes. */
RMPI_REMOTE(bgr_make_device)
{
    size_t   size;
    uint64_t dev;

    if (nargs != 1 || args[0].size != sizeof(size)) {
        rmpi_task_error(ctx, "bgr_make_device expects one size_t");
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&size, args[0].data, sizeof(size));
    rmpi_status_t status = rmpi_return_device(ctx, 0, size, NULL, &dev);
    return status == RMPI_OK ? bgr_fill(ctx, dev, size) : status;
}

/* args[0]: host bytes. Returns them as a device object, copied before it returns. */
RMPI_REMOTE(bgr_to_device)
{
    uint64_t      dev;
    rmpi_status_t status;

    if (nargs != 1 || args[0].device != -1) {
        rmpi_task_error(ctx, "bgr_to_device expects one host argument");
        return RMPI_ERR_INVALID_ARG;
    }
    status = rmpi_return_device(ctx, 0, args[0].size, NULL, &dev);
    if (status == RMPI_OK) {
        status = rmpi_gpu_copy_to_device(ctx, dev, args[0].data, args[0].size);
    }
    return status == RMPI_OK ? rmpi_gpu_sync(ctx) : status;
}

/* args[0]: a device object, which must have come on this task's own device. */
RMPI_REMOTE(bgr_consume)
{
    if (nargs != 1 || args[0].device != rmpi_task_gpu(ctx)) {
        rmpi_task_error(ctx, "bgr_consume: argument on device %d, the task's is %d",
                        nargs == 1 ? args[0].device : -2, rmpi_task_gpu(ctx));
        return RMPI_ERR_MISMATCH;
    }
    return rmpi_return(ctx, 0, bgr_ok, sizeof(bgr_ok) - 1);
}

/* --- helpers ----------------------------------------------------------------------- */

/* The running figure's sizes, counts and input (rb_once_fn_t takes no argument). */
static struct {
    size_t     size;
    rmpi_ref_t input;
} bgr;

static size_t bgr_object_bytes(const bench_ctx_t *ctx)
{
    return (size_t)rb_count(ctx, BGR_OBJECT_BYTES, BGR_QUICK_OBJECT_BYTES);
}

/* A task with @a gpus of a GPU on rank 0, the driver: it holds what the task returns. */
static rmpi_task_options_t bgr_opts(double gpus)
{
    return (rmpi_task_options_t){.field_mask    = RMPI_TASK_OPT_NUM_GPUS | RMPI_TASK_OPT_STRATEGY,
                                 .num_gpus      = gpus,
                                 .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                 .affinity_rank = 0};
}

/*
 * gpu_init() for the limits, and a GPU in the runtime for the tasks; false
 * after a "skipped" line when either is missing. Pair a true with gpu_finalize().
 */
static bool bgr_start(const bench_ctx_t *ctx, const char *name, bool needs_kernels)
{
    rmpi_resources_t res;

    if (!bg_start(ctx, name)) {
        return false;
    }
    if (rmpi_cluster_resources(&res) != RMPI_OK || res.gpus <= 0) {
        bg_skip(ctx, name, "no GPU", "the runtime has no GPU resource");
    } else if (needs_kernels && !gpu_builtin_available()) {
        bg_skip(ctx, name, "no built-in kernels", "built without nvcc");
    } else {
        return true;
    }
    gpu_finalize();
    return false;
}

/* Submit @a fn (one argument, or none when @a arg is NULL) as a GPU task. */
static rmpi_status_t bgr_submit(const char *fn, const rmpi_task_arg_t *arg, double gpus,
                                rmpi_ref_t *ref_p)
{
    rmpi_task_options_t opts = bgr_opts(gpus);

    return rmpi_submit(fn, arg, arg != NULL ? 1 : 0, &opts, ref_p);
}

/* Get @a ref, release it and free the ref. */
static rmpi_status_t bgr_get_and_free(rmpi_ref_t ref)
{
    rmpi_object_t obj;
    rmpi_status_t status = rmpi_get(&ref, 1, RB_TIMEOUT, &obj);

    if (status != RMPI_ERR_TIMEOUT) {
        rmpi_object_release(&obj);
    }
    rmpi_ref_free(ref);
    return status;
}

/* Wait until @a ref is ready without fetching it (a device object stays on the device). */
static rmpi_status_t bgr_wait_ready(rmpi_ref_t ref)
{
    uint8_t       ready     = 0;
    size_t        num_ready = 0;
    rmpi_status_t status    = rmpi_wait(&ref, 1, 1, RB_TIMEOUT, 0, &ready, &num_ready);

    return status == RMPI_OK && num_ready != 1 ? RMPI_ERR_TIMEOUT : status;
}

/* A device object of @a size bytes made by a task with @a gpus, ready. */
static rmpi_status_t bgr_new_device(size_t size, double gpus, rmpi_ref_t *ref_p)
{
    rmpi_task_arg_t arg    = rmpi_arg_value(&size, sizeof(size));
    rmpi_status_t   status = bgr_submit("bgr_make_device", &arg, gpus, ref_p);

    if (status == RMPI_OK && (status = bgr_wait_ready(*ref_p)) != RMPI_OK) {
        rmpi_ref_free(*ref_p);
    }
    return status;
}

/* --- gpu_task_roundtrip ------------------------------------------------------------ */

static rmpi_status_t bgr_roundtrip_once(const bench_ctx_t *ctx, double *us_p)
{
    long          n      = rb_count(ctx, BGR_ROUNDTRIPS, BGR_QUICK_ROUNDTRIPS);
    double        t0     = base_time_sec();
    rmpi_status_t status = RMPI_OK;

    for (long i = 0; status == RMPI_OK && i < n; i++) {
        rmpi_ref_t ref;

        status = bgr_submit("bgr_empty", NULL, 1, &ref);
        if (status == RMPI_OK) {
            status = bgr_get_and_free(ref);
        }
    }
    *us_p = (base_time_sec() - t0) / (double)n * 1e6;
    return status;
}

static rmpi_status_t bgr_task_roundtrip(bench_ctx_t *ctx)
{
    double        limit;
    rmpi_status_t status;

    if (!bgr_start(ctx, "gpu_task_roundtrip", true)) {
        return RMPI_OK;
    }
    status = bg_launch_limit(ctx, &limit);
    if (status == RMPI_OK) {
        status = rb_figure(ctx, "gpu_task_roundtrip", "us", bgr_roundtrip_once, limit,
                           "cuLaunchKernel+cuStreamSynchronize");
    }
    gpu_finalize();
    return status;
}

/* --- gpu_object_d2h_bandwidth -------------------------------------------------------- */

/* One rmpi_get of a fresh device object (made and freed outside the timing). */
static rmpi_status_t bgr_d2h_once(const bench_ctx_t *ctx, double *gbps_p)
{
    rmpi_ref_t    ref;
    rmpi_status_t status = bgr_new_device(bgr.size, 1, &ref);
    double        t0;

    (void)ctx;
    if (status != RMPI_OK) {
        return status;
    }
    t0      = base_time_sec();
    status  = bgr_get_and_free(ref); /* freeing a ref costs no copy, timed or not */
    *gbps_p = (double)bgr.size / (base_time_sec() - t0) / 1e9;
    return status;
}

static rmpi_status_t bgr_d2h(bench_ctx_t *ctx)
{
    double        limit;
    rmpi_status_t status;

    if (!bgr_start(ctx, "gpu_object_d2h_bandwidth", false)) {
        return RMPI_OK;
    }
    bgr.size = bgr_object_bytes(ctx);
    status   = bg_copy_limit(ctx, false, bgr.size, &limit);
    if (status == RMPI_OK) {
        status = rb_figure(ctx, "gpu_object_d2h_bandwidth", "GB/s", bgr_d2h_once, limit / 1e9,
                           "cuMemcpyDtoH pinned");
    }
    gpu_finalize();
    return status;
}

/* --- gpu_object_h2d_bandwidth -------------------------------------------------------- */

/* Tasks that copy bgr.input to the device, one after the other, until each is ready. */
static rmpi_status_t bgr_h2d_once(const bench_ctx_t *ctx, double *gbps_p)
{
    long            n      = rb_count(ctx, BGR_COPIES, BGR_QUICK_COPIES);
    rmpi_task_arg_t arg    = rmpi_arg_ref(bgr.input);
    double          t0     = base_time_sec();
    rmpi_status_t   status = RMPI_OK;

    for (long i = 0; status == RMPI_OK && i < n; i++) {
        rmpi_ref_t ref;

        status = bgr_submit("bgr_to_device", &arg, 1, &ref);
        if (status == RMPI_OK) {
            status = bgr_wait_ready(ref);
            rmpi_ref_free(ref);
        }
    }
    *gbps_p = (double)bgr.size * (double)n / (base_time_sec() - t0) / 1e9;
    return status;
}

/* rmpi_put of bgr.size bytes into bgr.input. */
static rmpi_status_t bgr_put_input(void)
{
    void         *data   = malloc(bgr.size);
    rmpi_status_t status = RMPI_ERR_NO_MEMORY;

    if (data != NULL) {
        memset(data, 0x5a, bgr.size);
        status = rmpi_put(data, bgr.size, NULL, &bgr.input);
        free(data);
    }
    return status;
}

static rmpi_status_t bgr_h2d(bench_ctx_t *ctx)
{
    double        limit;
    rmpi_status_t status;

    if (!bgr_start(ctx, "gpu_object_h2d_bandwidth", false)) {
        return RMPI_OK;
    }
    bgr.size = bgr_object_bytes(ctx);
    status   = bg_copy_limit(ctx, true, bgr.size, &limit);
    if (status == RMPI_OK && (status = bgr_put_input()) == RMPI_OK) {
        status = rb_figure(ctx, "gpu_object_h2d_bandwidth", "GB/s", bgr_h2d_once, limit / 1e9,
                           "cuMemcpyHtoD pinned");
        rmpi_ref_free(bgr.input);
    }
    gpu_finalize();
    return status;
}

/* --- gpu_object_same_device_get ------------------------------------------------------ */

/* Round trips of a 0.5-GPU consumer of bgr.input, a device object. */
static rmpi_status_t bgr_consume_once(const bench_ctx_t *ctx, double *us_p)
{
    long            n      = rb_count(ctx, BGR_CONSUMERS, BGR_QUICK_CONSUMERS);
    rmpi_task_arg_t arg    = rmpi_arg_ref(bgr.input);
    double          t0     = base_time_sec();
    rmpi_status_t   status = RMPI_OK;

    for (long i = 0; status == RMPI_OK && i < n; i++) {
        rmpi_ref_t ref;

        status = bgr_submit("bgr_consume", &arg, 0.5, &ref);
        if (status == RMPI_OK) {
            status = bgr_get_and_free(ref);
        }
    }
    *us_p = (base_time_sec() - t0) / (double)n * 1e6;
    return status;
}

/* Median consumer round trip, in microseconds, given a device object of @a size bytes. */
static rmpi_status_t bgr_consumer_us(const bench_ctx_t *ctx, size_t size, double *us_p)
{
    rmpi_status_t status = bgr_new_device(size, 0.5, &bgr.input);

    if (status == RMPI_OK) {
        status = rb_measure(ctx, bgr_consume_once, us_p);
        rmpi_ref_free(bgr.input);
    }
    return status;
}

static rmpi_status_t bgr_same_device(bench_ctx_t *ctx)
{
    static const char name[] = "gpu_object_same_device_get";
    double            small_us, large_us;
    rmpi_status_t     status;

    if (!bgr_start(ctx, name, false)) {
        return RMPI_OK;
    }
    status = bgr_consumer_us(ctx, BGR_SMALL_BYTES, &small_us);
    if (status == RMPI_OK) {
        status = bgr_consumer_us(ctx, bgr_object_bytes(ctx), &large_us);
    }
    if (status == RMPI_OK) {
        bench_report(ctx, name, large_us, "us", small_us, "same consumer, 1 KiB device object");
    } else {
        base_error("bench: %s failed: %s", name, rmpi_status_str(status));
    }
    gpu_finalize();
    return status;
}

/* --- registration -------------------------------------------------------------------- */

static bench_def_t bench_gpu_task_roundtrip = {
    .name       = "gpu_task_roundtrip",
    .help       = "submit + get of a 1-GPU task launching an empty kernel, per round trip",
    .min_ranks  = 1,
    .run        = bgr_task_roundtrip,
    .in_runtime = true,
};
BENCH_REGISTER(bench_gpu_task_roundtrip)

static bench_def_t bench_gpu_object_d2h = {
    .name       = "gpu_object_d2h_bandwidth",
    .help       = "rmpi_get of a 64 MiB device object (its first host copy)",
    .min_ranks  = 1,
    .run        = bgr_d2h,
    .in_runtime = true,
};
BENCH_REGISTER(bench_gpu_object_d2h)

static bench_def_t bench_gpu_object_h2d = {
    .name       = "gpu_object_h2d_bandwidth",
    .help       = "a GPU task copying its 64 MiB host argument into a device object",
    .min_ranks  = 1,
    .run        = bgr_h2d,
    .in_runtime = true,
};
BENCH_REGISTER(bench_gpu_object_h2d)

static bench_def_t bench_gpu_object_same_device = {
    .name       = "gpu_object_same_device_get",
    .help       = "a GPU task given a 64 MiB device object on its own device, per round trip",
    .min_ranks  = 1,
    .run        = bgr_same_device,
    .in_runtime = true,
};
BENCH_REGISTER(bench_gpu_object_same_device)
