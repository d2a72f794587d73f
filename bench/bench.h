/*
 * bench/bench.h - the benchmark registry behind `ray-mpi bench`.
 *
 * A benchmark is a function registered by name (BENCH_REGISTER) that runs on
 * every rank of an MPI job of at least min_ranks ranks and reports figures
 * with bench_report() from rank 0. Metric names follow Ray's
 * `ray microbenchmark` where one exists. A figure that has a physical limit
 * (ucx_perftest, memcpy, ...) reports that limit, measured in the same run,
 * and the ratio is printed beside it.
 *
 * Figures are medians over ctx->repetitions runs (bench_median()).
 * Thread safety: the registry is filled by constructors before main; a
 * benchmark runs on the main thread of each rank.
 */
#ifndef BENCH_BENCH_H_
#define BENCH_BENCH_H_

#include <mpi.h>
#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct bench_ctx {
    MPI_Comm comm;        /**< all ranks of the benchmark run */
    int      rank;
    int      size;
    int      repetitions; /**< runs per figure; report the median */
    bool     json;        /**< print JSON lines instead of a table */
    bool     quick;       /**< smaller sizes and counts (used by the tests) */
} bench_ctx_t;

typedef struct bench_def {
    const char        *name;      /**< unique; selects the benchmark on the command line */
    const char        *help;      /**< one line */
    int                min_ranks; /**< 1 for single-process benchmarks */
    rmpi_status_t    (*run)(bench_ctx_t *ctx);
    /**
     * Runs inside the runtime: bench.c starts it once (rmpi_init) for all the
     * selected benchmarks that set this, after the others, and calls @a run on
     * rank 0 only (rmpi_init does not return on the other ranks: they serve
     * tasks). @a before_runtime, when set, runs first on every rank (it may
     * be collective).
     */
    bool in_runtime;
    rmpi_status_t (*before_runtime)(bench_ctx_t *ctx);
    struct bench_def  *next;      /**< registry link */
} bench_def_t;

void bench_register(bench_def_t *def);
bench_def_t *bench_list(void);

#define BENCH_REGISTER(_def)                                               \
    static void __attribute__((constructor)) bench_register_##_def(void) \
    {                                                                      \
        bench_register(&(_def));                                           \
    }

/**
 * Report one figure (rank 0 prints, other ranks ignore the call). @a limit
 * is the physical limit for the same quantity measured in this run, or a
 * negative value when there is none; @a limit_source names how it was
 * measured (e.g. "ucx_perftest ucp_am_lat sm", "memcpy").
 */
void bench_report(const bench_ctx_t *ctx, const char *name, double value, const char *unit,
                  double limit, const char *limit_source);

/** Median of @a n values (sorts @a values in place). */
double bench_median(double *values, size_t n);

/**
 * Placement-group figures (bench_pg.c), run by the runtime benchmark on the
 * driver while the runtime is up.
 */
rmpi_status_t bench_pg_figures(const bench_ctx_t *ctx);

/** Run `ray-mpi bench`: argv[0] is "bench", the rest are its arguments. Returns an exit code. */
int bench_main(int argc, char **argv);

#endif /* BENCH_BENCH_H_ */
