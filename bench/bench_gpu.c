/*
 * bench/bench_gpu.c - GPU benchmarks, each beside its limit measured in the
 * same run by calling the driver directly:
 *
 *  gpu_memcpy_h2d_bandwidth   gpu_mem_alloc (cached) + gpu_memcpy_h2d_async +
 *                             gpu_stream_sync + gpu_mem_free from pinned memory
 *                             vs  cuMemcpyHtoD from the same pinned memory
 *  gpu_memcpy_d2h_bandwidth   the same, device to host
 *  gpu_launch_roundtrip       gpu_launch of an empty kernel + gpu_stream_sync
 *                             vs  cuLaunchKernel + cuStreamSynchronize
 *
 * Single process (min_ranks 1, every rank runs on its device 0; rank 0
 * reports). Without a driver or device they print "skipped: no GPU" and
 * succeed.
 */
#include "bench/bench_gpu.h"
#include "bench/bench.h"

#include "base/clock.h"
#include "base/log.h"
#include "gpu/gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BG_COPY_BYTES (64u << 20)
#define BG_COPY_ITERS 10
#define BG_LAUNCH_ITERS 20000

/* The driver entry points of the baselines, declared with opaque handles (no cuda.h here). */
typedef int (*bg_memcpy_htod_t)(unsigned long long dst, const void *src, size_t size);
typedef int (*bg_memcpy_dtoh_t)(void *dst, unsigned long long src, size_t size);
typedef int (*bg_cu_launch_t)(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                              unsigned by, unsigned bz, unsigned shmem, void *stream, void **args,
                              void **extra);
typedef int (*bg_cu_sync_t)(void *stream);

/* An empty kernel as PTX, for builds without nvcc (the driver JIT-compiles it). */
static const char bg_empty_ptx[] = ".version 7.0\n.target sm_75\n.address_size 64\n"
                                   ".visible .entry empty()\n{\n\tret;\n}\n";

static int bg_reps(const bench_ctx_t *ctx)
{
    return (ctx->repetitions > 0) ? ctx->repetitions : 1;
}

void bg_skip(const bench_ctx_t *ctx, const char *name, const char *reason, const char *detail)
{
    if (ctx->rank != 0) {
        return;
    }
    if (ctx->json) {
        printf("{\"name\":\"%s\",\"skipped\":\"%s\"}\n", name, reason);
    } else {
        printf("%-32s skipped: %s (%s)\n", name, reason, detail);
    }
    fflush(stdout);
}

bool bg_start(const bench_ctx_t *ctx, const char *name)
{
    if (gpu_init() == RMPI_OK) {
        return true;
    }
    bg_skip(ctx, name, "no GPU", gpu_absent_reason());
    return false;
}

/* --- copy bandwidth ------------------------------------------------------------------- */

typedef struct bg_copy {
    bool         h2d;
    size_t       size;
    int          iters;
    void        *pinned;
    gpu_devptr_t raw_dev; /* for the baseline */
    gpu_stream_h stream;
} bg_copy_t;

/* Bytes per second through the caching allocator and a pooled stream. */
static rmpi_status_t bg_copy_ours(bg_copy_t *run, double *bw_p)
{
    rmpi_status_t status = RMPI_OK;
    double        start  = base_time_sec();

    for (int i = 0; (i < run->iters) && (status == RMPI_OK); ++i) {
        gpu_devptr_t dev;

        status = gpu_mem_alloc(0, run->size, &dev);
        if (status != RMPI_OK) {
            break;
        }
        status = run->h2d ? gpu_memcpy_h2d_async(dev, run->pinned, run->size, run->stream)
                          : gpu_memcpy_d2h_async(run->pinned, dev, run->size, run->stream);
        if (status == RMPI_OK) {
            status = gpu_stream_sync(run->stream);
        }
        gpu_mem_free(0, dev);
    }
    *bw_p = (double)run->size * run->iters / (base_time_sec() - start);
    return status;
}

/* Bytes per second of the driver's synchronous copy of the same pinned buffer. */
static rmpi_status_t bg_copy_raw(bg_copy_t *run, double *bw_p)
{
    bg_memcpy_htod_t htod = (bg_memcpy_htod_t)gpu_driver_symbol("cuMemcpyHtoD_v2");
    bg_memcpy_dtoh_t dtoh = (bg_memcpy_dtoh_t)gpu_driver_symbol("cuMemcpyDtoH_v2");
    gpu_ctx_saved_t  saved;
    rmpi_status_t    status;
    double           start;
    int              res = 0;

    if ((htod == NULL) || (dtoh == NULL)) {
        base_error("bench: the driver lacks cuMemcpyHtoD_v2/cuMemcpyDtoH_v2");
        return RMPI_ERR_UNSUPPORTED;
    }
    status = gpu_ctx_push(0, &saved);
    if (status != RMPI_OK) {
        return status;
    }
    start = base_time_sec();
    for (int i = 0; (i < run->iters) && (res == 0); ++i) {
        res = run->h2d ? htod(run->raw_dev, run->pinned, run->size)
                       : dtoh(run->pinned, run->raw_dev, run->size);
    }
    *bw_p = (double)run->size * run->iters / (base_time_sec() - start);
    gpu_ctx_pop(&saved);
    if (res != 0) {
        base_error("bench: raw copy failed with CUresult %d", res);
        return RMPI_ERR_DEVICE;
    }
    return RMPI_OK;
}

static rmpi_status_t bg_copy_setup(const bench_ctx_t *ctx, size_t size, bg_copy_t *run)
{
    rmpi_status_t status;

    run->size  = size;
    run->iters = ctx->quick ? 3 : BG_COPY_ITERS;
    status     = gpu_host_alloc(run->size, &run->pinned);
    if (status == RMPI_OK) {
        memset(run->pinned, 0x42, run->size);
        status = gpu_mem_alloc(0, run->size, &run->raw_dev);
    }
    if (status == RMPI_OK) {
        status = gpu_stream_get(0, &run->stream);
    }
    return status;
}

static void bg_copy_teardown(bg_copy_t *run)
{
    if (run->stream != NULL) {
        gpu_stream_put(run->stream);
    }
    if (run->raw_dev != 0) {
        gpu_mem_free(0, run->raw_dev);
    }
    if (run->pinned != NULL) {
        gpu_host_free(run->pinned);
    }
}

rmpi_status_t bg_copy_limit(const bench_ctx_t *ctx, bool h2d, size_t size, double *bw_p)
{
    bg_copy_t     run    = {.h2d = h2d};
    int           reps   = bg_reps(ctx);
    double       *raw    = calloc((size_t)reps, sizeof(double));
    rmpi_status_t status = (raw != NULL) ? bg_copy_setup(ctx, size, &run) : RMPI_ERR_NO_MEMORY;

    for (int rep = 0; (rep < reps) && (status == RMPI_OK); ++rep) {
        status = bg_copy_raw(&run, &raw[rep]);
    }
    if (status == RMPI_OK) {
        *bw_p = bench_median(raw, (size_t)reps);
    }
    bg_copy_teardown(&run);
    free(raw);
    return status;
}

static rmpi_status_t bg_copy_bandwidth(bench_ctx_t *ctx, bool h2d, const char *name)
{
    bg_copy_t     run  = {.h2d = h2d};
    int           reps = bg_reps(ctx);
    double       *ours = calloc((size_t)reps, sizeof(double));
    double       *raw  = calloc((size_t)reps, sizeof(double));
    rmpi_status_t status;

    if ((ours == NULL) || (raw == NULL)) {
        free(ours);
        free(raw);
        return RMPI_ERR_NO_MEMORY;
    }
    if (!bg_start(ctx, name)) {
        free(ours);
        free(raw);
        return RMPI_OK;
    }
    status = bg_copy_setup(ctx, ctx->quick ? (BG_COPY_BYTES / 16) : BG_COPY_BYTES, &run);
    for (int rep = 0; (rep < reps) && (status == RMPI_OK); ++rep) {
        status = bg_copy_ours(&run, &ours[rep]);
        if (status == RMPI_OK) {
            status = bg_copy_raw(&run, &raw[rep]);
        }
    }
    if (status == RMPI_OK) {
        bench_report(ctx, name, bench_median(ours, (size_t)reps) / 1e9, "GB/s",
                     bench_median(raw, (size_t)reps) / 1e9,
                     h2d ? "cuMemcpyHtoD pinned" : "cuMemcpyDtoH pinned");
    }
    bg_copy_teardown(&run);
    gpu_finalize();
    free(ours);
    free(raw);
    return status;
}

static rmpi_status_t bg_h2d(bench_ctx_t *ctx)
{
    return bg_copy_bandwidth(ctx, true, "gpu_memcpy_h2d_bandwidth");
}

static rmpi_status_t bg_d2h(bench_ctx_t *ctx)
{
    return bg_copy_bandwidth(ctx, false, "gpu_memcpy_d2h_bandwidth");
}

static bench_def_t bench_gpu_h2d = {
    .name      = "gpu_memcpy_h2d_bandwidth",
    .help      = "host-to-device copy through the caching allocator and a pooled stream",
    .min_ranks = 1,
    .run       = bg_h2d,
};
BENCH_REGISTER(bench_gpu_h2d)

static bench_def_t bench_gpu_d2h = {
    .name      = "gpu_memcpy_d2h_bandwidth",
    .help      = "device-to-host copy through the caching allocator and a pooled stream",
    .min_ranks = 1,
    .run       = bg_d2h,
};
BENCH_REGISTER(bench_gpu_d2h)

/* --- launch round trip -------------------------------------------------------------- */

typedef struct bg_launch {
    gpu_function_h fn;
    gpu_module_h   module; /* when the PTX fallback was loaded */
    gpu_stream_h   stream;
    int            iters;
} bg_launch_t;

static rmpi_status_t bg_launch_ours(bg_launch_t *run, double *us_p)
{
    static const gpu_dim3_t one    = {1, 1, 1};
    rmpi_status_t           status = RMPI_OK;
    double                  start  = base_time_sec();

    for (int i = 0; (i < run->iters) && (status == RMPI_OK); ++i) {
        status = gpu_launch(run->fn, one, one, 0, run->stream, NULL);
        if (status == RMPI_OK) {
            status = gpu_stream_sync(run->stream);
        }
    }
    *us_p = (base_time_sec() - start) * 1e6 / run->iters;
    return status;
}

static rmpi_status_t bg_launch_raw(bg_launch_t *run, double *us_p)
{
    bg_cu_launch_t  launch = (bg_cu_launch_t)gpu_driver_symbol("cuLaunchKernel");
    bg_cu_sync_t    sync   = (bg_cu_sync_t)gpu_driver_symbol("cuStreamSynchronize");
    void           *fn     = gpu_function_native(run->fn);
    void           *stream = gpu_stream_native(run->stream);
    gpu_ctx_saved_t saved;
    rmpi_status_t   status;
    double          start;
    int             res = 0;

    if ((launch == NULL) || (sync == NULL)) {
        base_error("bench: the driver lacks cuLaunchKernel/cuStreamSynchronize");
        return RMPI_ERR_UNSUPPORTED;
    }
    status = gpu_ctx_push(0, &saved);
    if (status != RMPI_OK) {
        return status;
    }
    start = base_time_sec();
    for (int i = 0; (i < run->iters) && (res == 0); ++i) {
        res = launch(fn, 1, 1, 1, 1, 1, 1, 0, stream, NULL, NULL);
        if (res == 0) {
            res = sync(stream);
        }
    }
    *us_p = (base_time_sec() - start) * 1e6 / run->iters;
    gpu_ctx_pop(&saved);
    if (res != 0) {
        base_error("bench: raw launch failed with CUresult %d", res);
        return RMPI_ERR_DEVICE;
    }
    return RMPI_OK;
}

/* The empty kernel: built in when nvcc was there, else JIT-compiled from PTX. */
static rmpi_status_t bg_launch_setup(const bench_ctx_t *ctx, bg_launch_t *run)
{
    rmpi_status_t status;

    run->iters = ctx->quick ? BG_LAUNCH_ITERS / 20 : BG_LAUNCH_ITERS;
    if (gpu_builtin_available()) {
        status = gpu_builtin_function(0, "empty", &run->fn);
    } else {
        status = gpu_module_load(0, bg_empty_ptx, &run->module);
        if (status == RMPI_OK) {
            status = gpu_module_function(run->module, "empty", &run->fn);
        }
    }
    if (status == RMPI_OK) {
        status = gpu_stream_get(0, &run->stream);
    }
    return status;
}

static void bg_launch_teardown(bg_launch_t *run)
{
    if (run->stream != NULL) {
        gpu_stream_put(run->stream);
    }
    gpu_module_unload(run->module);
}

rmpi_status_t bg_launch_limit(const bench_ctx_t *ctx, double *us_p)
{
    bg_launch_t   run    = {0};
    int           reps   = bg_reps(ctx);
    double       *raw    = calloc((size_t)reps, sizeof(double));
    rmpi_status_t status = (raw != NULL) ? bg_launch_setup(ctx, &run) : RMPI_ERR_NO_MEMORY;

    for (int rep = 0; (rep < reps) && (status == RMPI_OK); ++rep) {
        status = bg_launch_raw(&run, &raw[rep]);
    }
    if (status == RMPI_OK) {
        *us_p = bench_median(raw, (size_t)reps);
    }
    bg_launch_teardown(&run);
    free(raw);
    return status;
}

static rmpi_status_t bg_launch_roundtrip(bench_ctx_t *ctx)
{
    bg_launch_t   run  = {0};
    int           reps = bg_reps(ctx);
    double       *ours = calloc((size_t)reps, sizeof(double));
    double       *raw  = calloc((size_t)reps, sizeof(double));
    rmpi_status_t status;

    if ((ours == NULL) || (raw == NULL)) {
        free(ours);
        free(raw);
        return RMPI_ERR_NO_MEMORY;
    }
    if (!bg_start(ctx, "gpu_launch_roundtrip")) {
        free(ours);
        free(raw);
        return RMPI_OK;
    }
    status = bg_launch_setup(ctx, &run);
    for (int rep = 0; (rep < reps) && (status == RMPI_OK); ++rep) {
        status = bg_launch_ours(&run, &ours[rep]);
        if (status == RMPI_OK) {
            status = bg_launch_raw(&run, &raw[rep]);
        }
    }
    if (status == RMPI_OK) {
        bench_report(ctx, "gpu_launch_roundtrip", bench_median(ours, (size_t)reps), "us",
                     bench_median(raw, (size_t)reps), "cuLaunchKernel+cuStreamSynchronize");
    }
    bg_launch_teardown(&run);
    gpu_finalize();
    free(ours);
    free(raw);
    return status;
}

static bench_def_t bench_gpu_launch = {
    .name      = "gpu_launch_roundtrip",
    .help      = "empty kernel through gpu_launch + gpu_stream_sync, per round trip",
    .min_ranks = 1,
    .run       = bg_launch_roundtrip,
};
BENCH_REGISTER(bench_gpu_launch)
