/*
 * bench/bench_gpu.h - what bench_gpu.c shares with the GPU figures of the
 * runtime (bench_gpu_rt.c): the "skipped" line and the raw driver baselines,
 * so both report limits measured the same way. The baselines run on device 0
 * between gpu_init() and gpu_finalize().
 * Thread safety: the caller's thread (rank 0's main thread in the benchmarks).
 */
#ifndef BENCH_BENCH_GPU_H_
#define BENCH_BENCH_GPU_H_

#include "bench/bench.h"

#include <stdbool.h>
#include <stddef.h>

/**
 * Print that @a name was skipped: a JSON line {"name", "skipped": @a reason},
 * or a table row with @a detail too (rank 0 only).
 */
void bg_skip(const bench_ctx_t *ctx, const char *name, const char *reason, const char *detail);

/** gpu_init(); false, after bg_skip(..., "no GPU", ...), when there is no GPU. */
bool bg_start(const bench_ctx_t *ctx, const char *name);

/**
 * Median of ctx->repetitions runs of cuLaunchKernel + cuStreamSynchronize of
 * the empty kernel on one stream, in microseconds per round trip.
 */
rmpi_status_t bg_launch_limit(const bench_ctx_t *ctx, double *us_p);

/**
 * Median of ctx->repetitions runs of cuMemcpyHtoD (@a h2d) or cuMemcpyDtoH of
 * @a size bytes between pinned host memory and device 0, in bytes per second.
 */
rmpi_status_t bg_copy_limit(const bench_ctx_t *ctx, bool h2d, size_t size, double *bw_p);

#endif /* BENCH_BENCH_GPU_H_ */
