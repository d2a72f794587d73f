/*
 * bench/bench_rt.h - what the runtime benchmark's files share (bench_runtime.c
 * runs rmpi_init once and calls the figure groups of the others in turn).
 * Thread safety: as bench.h (rank 0 reports from one thread).
 */
#ifndef BENCH_BENCH_RT_H_
#define BENCH_BENCH_RT_H_

#include "bench/bench.h"

#include <raympi.h>

#define RB_TIMEOUT 120.0 /* seconds any wait may take before the figure fails */

/** A figure's run: RMPI_OK and a rate or a latency in *value_p. */
typedef rmpi_status_t (*rb_once_fn_t)(const bench_ctx_t *ctx, double *value_p);

/** @a full, or @a quick under `--quick` (the tests). */
long rb_count(const bench_ctx_t *ctx, long full, long quick);
/** Median of ctx->repetitions runs of @a once, after one warm-up run, in *median_p. */
rmpi_status_t rb_measure(const bench_ctx_t *ctx, rb_once_fn_t once, double *median_p);
/** Median of ctx->repetitions runs of @a once after a warm-up, reported as @a name. */
rmpi_status_t rb_figure(const bench_ctx_t *ctx, const char *name, const char *unit,
                        rb_once_fn_t once, double limit, const char *limit_source);

/** The actor figures (bench_actor.c); @a am_roundtrip_us is the transport's round trip. */
rmpi_status_t rb_actor_figures(const bench_ctx_t *ctx, double am_roundtrip_us);

#endif /* BENCH_BENCH_RT_H_ */
