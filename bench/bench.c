/*
 * bench/bench.c - the benchmark registry and the `ray-mpi bench` driver.
 *
 * The driver is an MPI program: every rank runs every selected benchmark and
 * rank 0 prints the figures, as a table or as JSON lines. When a selected
 * benchmark needs more ranks than a lone process has, and no launcher started
 * us, the driver re-executes the command through `ray-mpi run -n N`, the one
 * place that knows how to start local ranks.
 *
 * Benchmarks marked in_runtime ("runtime", the GPU task and device-object
 * figures) share one start of the runtime, because rmpi_init() runs once per
 * process and does not return on ranks other than 0: they serve tasks until
 * rank 0 shuts the runtime down, then exit. So they run after every other
 * selected benchmark, together, and no collective call follows them.
 */
#include "bench/bench.h"

#include "base/log.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BENCH_DEFAULT_REPETITIONS 5
#define BENCH_QUICK_REPETITIONS 3
#define BENCH_MAX_REPETITIONS 100000

typedef struct bench_opts {
    bool   json;
    bool   list;
    bool   quick;
    int    repetitions; /**< 0: not given */
    char **names;       /**< the benchmarks named on the command line */
    int    num_names;
} bench_opts_t;

/* Sorted by name, so --list and "all benchmarks" come out in a stable order. */
static bench_def_t *bench_registry;

/* Rank 0 prints the table header before the first figure of a run. */
static bool bench_header_printed;

void bench_register(bench_def_t *def)
{
    bench_def_t **pos = &bench_registry;

    while (*pos != NULL && strcmp((*pos)->name, def->name) < 0) {
        pos = &(*pos)->next;
    }
    if (*pos != NULL && strcmp((*pos)->name, def->name) == 0) {
        base_warn("benchmark '%s' registered twice; keeping the first", def->name);
        return;
    }
    def->next = *pos;
    *pos      = def;
}

bench_def_t *bench_list(void)
{
    return bench_registry;
}

static int bench_compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

double bench_median(double *values, size_t n)
{
    if (n == 0) {
        return NAN;
    }
    qsort(values, n, sizeof(*values), bench_compare_doubles);
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/* ---- reporting --------------------------------------------------------- */

static void bench_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(out, "\\%c", *p);
        } else if (*p < 0x20) {
            fprintf(out, "\\u%04x", *p);
        } else {
            fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* JSON has no NaN or infinity. */
static void bench_json_number(FILE *out, double value)
{
    if (isfinite(value)) {
        fprintf(out, "%.9g", value);
    } else {
        fputs("null", out);
    }
}

static void bench_json_key(FILE *out, const char *key)
{
    fprintf(out, ",\"%s\":", key);
}

static void bench_report_json(const char *name, double value, const char *unit, double limit,
                              const char *limit_source)
{
    fputs("{\"name\":", stdout);
    bench_json_string(stdout, name);
    bench_json_key(stdout, "value");
    bench_json_number(stdout, value);
    bench_json_key(stdout, "unit");
    bench_json_string(stdout, unit);
    if (limit >= 0) {
        bench_json_key(stdout, "limit");
        bench_json_number(stdout, limit);
        bench_json_key(stdout, "limit_source");
        bench_json_string(stdout, limit_source ? limit_source : "");
        bench_json_key(stdout, "ratio");
        bench_json_number(stdout, value / limit);
    }
    fputs("}\n", stdout);
}

static void bench_report_row(const char *name, double value, const char *unit, double limit,
                             const char *limit_source)
{
    if (!bench_header_printed) {
        printf("%-32s %14s %-10s %14s %8s  %s\n", "name", "value", "unit", "limit", "ratio",
               "limit source");
        bench_header_printed = true;
    }
    if (limit < 0) {
        printf("%-32s %14.6g %-10s %14s %8s\n", name, value, unit, "-", "-");
        return;
    }
    printf("%-32s %14.6g %-10s %14.6g %8.3f  %s\n", name, value, unit, limit, value / limit,
           limit_source ? limit_source : "");
}

void bench_report(const bench_ctx_t *ctx, const char *name, double value, const char *unit,
                  double limit, const char *limit_source)
{
    if (ctx->rank != 0) {
        return;
    }
    if (ctx->json) {
        bench_report_json(name, value, unit, limit, limit_source);
    } else {
        bench_report_row(name, value, unit, limit, limit_source);
    }
    fflush(stdout);
}

/* ---- command line ------------------------------------------------------ */

static int bench_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bench_usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("ray-mpi bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("; see ray-mpi --help\n", stderr);
    return 2;
}

static void bench_print_help(FILE *out)
{
    fprintf(out,
            "usage: ray-mpi bench [NAMES...] [--json] [--list] [--quick] [-r REPS]\n"
            "\n"
            "Run the named benchmarks (all when none is named) on every rank of an MPI\n"
            "job; rank 0 prints each figure with the physical limit measured in the\n"
            "same run and their ratio. Benchmarks that need several ranks start them\n"
            "through `ray-mpi run` when no launcher did.\n"
            "\n"
            "options:\n"
            "  -j, --json       one JSON object per figure and line\n"
            "  -l, --list       list the benchmarks and exit\n"
            "  -q, --quick      small sizes and counts (for tests)\n"
            "  -r, --reps REPS  runs per figure, the median is reported (default %d,\n"
            "                   %d with --quick)\n"
            "  -h, --help       print this help\n",
            BENCH_DEFAULT_REPETITIONS, BENCH_QUICK_REPETITIONS);
}

static void bench_print_list(FILE *out)
{
    for (const bench_def_t *def = bench_list(); def != NULL; def = def->next) {
        fprintf(out, "%-32s %s", def->name, def->help);
        if (def->min_ranks > 1) {
            fprintf(out, " [%d ranks]", def->min_ranks);
        }
        fputc('\n', out);
    }
}

static int bench_parse_reps(const char *arg, int *reps_p)
{
    char *end;

    errno  = 0;
    long n = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || n < 1 || n > BENCH_MAX_REPETITIONS) {
        return bench_usage_error("-r expects a count from 1 to %d, got '%s'", BENCH_MAX_REPETITIONS,
                                 arg);
    }
    *reps_p = (int)n;
    return 0;
}

static int bench_option_error(int c, char **argv)
{
    char short_opt[3] = {'-', (char)optopt, '\0'};

    if (c == ':') {
        return bench_usage_error("option '%s' needs a value", argv[optind - 1]);
    }
    return bench_usage_error("unknown option '%s'", optopt != 0 ? short_opt : argv[optind - 1]);
}

/* Returns -1 when the options parsed, else the exit status. */
static int bench_parse_args(int argc, char **argv, bench_opts_t *opts)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},  {"list", no_argument, NULL, 'l'},
        {"quick", no_argument, NULL, 'q'}, {"reps", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},  {NULL, 0, NULL, 0},
    };
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":jlqr:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            opts->json = true;
            break;
        case 'l':
            opts->list = true;
            break;
        case 'q':
            opts->quick = true;
            break;
        case 'r':
            if (bench_parse_reps(optarg, &opts->repetitions) != 0) {
                return 2;
            }
            break;
        case 'h':
            bench_print_help(stdout);
            return 0;
        default:
            return bench_option_error(c, argv);
        }
    }
    /* getopt_long has moved the names behind the options */
    opts->names     = &argv[optind];
    opts->num_names = argc - optind;
    return -1;
}

static bench_def_t *bench_find(const char *name)
{
    for (bench_def_t *def = bench_list(); def != NULL; def = def->next) {
        if (strcmp(def->name, name) == 0) {
            return def;
        }
    }
    return NULL;
}

static int bench_unknown_name(const char *name)
{
    fprintf(stderr, "ray-mpi bench: unknown benchmark '%s'; valid names:", name);
    for (const bench_def_t *def = bench_list(); def != NULL; def = def->next) {
        fprintf(stderr, " %s", def->name);
    }
    fputs(bench_list() ? "\n" : " (none registered)\n", stderr);
    return 2;
}

static size_t bench_count(void)
{
    size_t n = 0;

    for (const bench_def_t *def = bench_list(); def != NULL; def = def->next) {
        n++;
    }
    return n;
}

/*
 * The benchmarks to run, in command-line order, or all of them. On success
 * *selected_p is a NULL-terminated array the caller frees; else the exit status.
 */
static int bench_select(const bench_opts_t *opts, bench_def_t ***selected_p)
{
    size_t        num      = opts->num_names ? (size_t)opts->num_names : bench_count();
    bench_def_t **selected = calloc(num + 1, sizeof(*selected));

    if (selected == NULL) {
        fputs("ray-mpi bench: out of memory\n", stderr);
        return 1;
    }
    bench_def_t *def = bench_list();
    for (size_t i = 0; i < num; i++, def = def ? def->next : NULL) {
        selected[i] = opts->num_names ? bench_find(opts->names[i]) : def;
        if (selected[i] == NULL) {
            free(selected);
            return bench_unknown_name(opts->names[i]);
        }
    }
    *selected_p = selected;
    return -1;
}

static int bench_required_ranks(bench_def_t **selected)
{
    int ranks = 1;

    for (; *selected != NULL; selected++) {
        if ((*selected)->min_ranks > ranks) {
            ranks = (*selected)->min_ranks;
        }
    }
    return ranks;
}

/* ---- launching --------------------------------------------------------- */

/* The same test `ray-mpi run` makes: did a launcher start this process as a rank? */
static bool bench_launched_as_rank(void)
{
    return getenv("SLURM_PROCID") != NULL || getenv("OMPI_COMM_WORLD_RANK") != NULL ||
           getenv("PMIX_RANK") != NULL;
}

/* Append the options as given, so the ranks select the same benchmarks. */
static void bench_append_args(const bench_opts_t *opts, char *reps, size_t reps_len, char **argv,
                              size_t n)
{
    if (opts->json) {
        argv[n++] = "--json";
    }
    if (opts->quick) {
        argv[n++] = "--quick";
    }
    if (opts->repetitions != 0) {
        snprintf(reps, reps_len, "%d", opts->repetitions);
        argv[n++] = "-r";
        argv[n++] = reps;
    }
    argv[n++] = "--";
    for (int i = 0; i < opts->num_names; i++) {
        argv[n++] = opts->names[i];
    }
    argv[n] = NULL;
}

/*
 * exec `ray-mpi run -n NRANKS -- ray-mpi bench OPTIONS NAMES`. The command is
 * this very executable (the benchmarks are linked into it), found through
 * /proc/self/exe because argv[0] may be a relative name or a libtool wrapper.
 * Returns only on failure.
 */
static int bench_relaunch(const bench_opts_t *opts, int nranks)
{
    char    self[PATH_MAX];
    char    nranks_str[16];
    char    reps[16];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (len < 0 || (size_t)len >= sizeof(self) - 1) {
        fprintf(stderr, "ray-mpi bench: cannot find this executable: %s\n", strerror(errno));
        return 1;
    }
    self[len] = '\0';
    snprintf(nranks_str, sizeof(nranks_str), "%d", nranks);

    char **argv = calloc((size_t)opts->num_names + 16, sizeof(*argv));
    if (argv == NULL) {
        fputs("ray-mpi bench: out of memory\n", stderr);
        return 1;
    }
    char  *prefix[] = {"ray-mpi", "run", "-n", nranks_str, "--", self, "bench"};
    size_t n        = sizeof(prefix) / sizeof(prefix[0]);
    memcpy(argv, prefix, sizeof(prefix));
    bench_append_args(opts, reps, sizeof(reps), argv, n);

    fflush(NULL);
    execv(self, argv);
    fprintf(stderr, "ray-mpi bench: cannot execute '%s': %s\n", self, strerror(errno));
    free(argv);
    return 1;
}

/* ---- running ----------------------------------------------------------- */

static bool bench_enough_ranks(const bench_ctx_t *ctx, const bench_def_t *def)
{
    if (def->min_ranks > ctx->size && ctx->rank == 0) {
        fprintf(stderr, "ray-mpi bench: %s needs %d ranks, this job has %d\n", def->name,
                def->min_ranks, ctx->size);
    }
    return def->min_ranks <= ctx->size;
}

/* Run one benchmark on every rank; returns true when every rank succeeded. */
static bool bench_run_one(bench_ctx_t *ctx, const bench_def_t *def)
{
    if (!bench_enough_ranks(ctx, def)) {
        return false;
    }
    MPI_Barrier(ctx->comm);
    int status = def->run(ctx);
    int worst;

    /* errors are negative: the minimum is an error if any rank had one */
    MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MIN, ctx->comm);
    if (worst < 0 && ctx->rank == 0) {
        fprintf(stderr, "ray-mpi bench: %s failed: %s\n", def->name,
                rmpi_status_str((rmpi_status_t)worst));
    }
    return worst >= 0;
}

/* Say so when @a status is an error; returns 1 then, else 0. */
static int bench_failed(const bench_ctx_t *ctx, const char *name, const char *what,
                        rmpi_status_t status)
{
    if (status < 0) {
        fprintf(stderr, "ray-mpi bench: %s %s on rank %d: %s\n", name, what, ctx->rank,
                rmpi_status_str(status));
    }
    return status < 0;
}

/* In the runtime's run; those without enough ranks were counted failed already. */
static bool bench_runs_in_runtime(const bench_ctx_t *ctx, const bench_def_t *def)
{
    return def->in_runtime && def->min_ranks <= ctx->size;
}

/* The in_runtime benchmarks' hooks before rmpi_init, on every rank; returns the failures. */
static int bench_before_runtime(bench_ctx_t *ctx, bench_def_t **selected)
{
    int failures = 0;

    for (bench_def_t **def = selected; *def != NULL; def++) {
        if (bench_runs_in_runtime(ctx, *def) && (*def)->before_runtime != NULL) {
            failures += bench_failed(ctx, (*def)->name, "failed before the runtime started",
                                     (*def)->before_runtime(ctx));
        }
    }
    return failures;
}

/*
 * Start the runtime once and run the in_runtime benchmarks on rank 0. Ranks
 * other than 0 come back only when starting the runtime failed, and no
 * collective can follow: each rank reports its own failure. Returns the failures.
 */
static int bench_run_runtime(bench_ctx_t *ctx, bench_def_t **selected)
{
    int failures = bench_before_runtime(ctx, selected);

    MPI_Barrier(ctx->comm);
    rmpi_status_t status = rmpi_init(NULL, NULL, NULL);
    if (status != RMPI_OK || ctx->rank != 0) {
        fprintf(stderr, "ray-mpi bench: rmpi_init %s on rank %d: %s\n",
                status != RMPI_OK ? "failed" : "returned", ctx->rank, rmpi_status_str(status));
        return failures + 1;
    }
    for (bench_def_t **def = selected; *def != NULL; def++) {
        if (bench_runs_in_runtime(ctx, *def)) {
            failures += bench_failed(ctx, (*def)->name, "failed", (*def)->run(ctx));
        }
    }
    status = rmpi_shutdown();
    return failures + bench_failed(ctx, "rmpi_shutdown", "failed", status);
}

static void bench_init_ctx(const bench_opts_t *opts, bench_ctx_t *ctx)
{
    MPI_Comm_dup(MPI_COMM_WORLD, &ctx->comm);
    MPI_Comm_rank(ctx->comm, &ctx->rank);
    MPI_Comm_size(ctx->comm, &ctx->size);
    ctx->json        = opts->json;
    ctx->quick       = opts->quick;
    ctx->repetitions = opts->repetitions;
    if (ctx->repetitions == 0) {
        ctx->repetitions = opts->quick ? BENCH_QUICK_REPETITIONS : BENCH_DEFAULT_REPETITIONS;
    }
}

static int bench_run_selected(const bench_opts_t *opts, bench_def_t **selected)
{
    int         initialized, provided;
    int         failures = 0;
    bench_ctx_t ctx;

    MPI_Initialized(&initialized);
    if (!initialized) {
        MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
    }
    bench_init_ctx(opts, &ctx);
    base_log_set_rank(ctx.rank);
    bench_header_printed = false;
    bool runtime         = false;
    for (bench_def_t **def = selected; *def != NULL; def++) {
        if (!(*def)->in_runtime) {
            failures += !bench_run_one(&ctx, *def);
        } else if (bench_enough_ranks(&ctx, *def)) {
            runtime = true;
        } else {
            failures++;
        }
    }
    if (runtime) {
        failures += bench_run_runtime(&ctx, selected);
    }
    MPI_Comm_free(&ctx.comm);
    if (!initialized) {
        MPI_Finalize();
    }
    return failures ? 1 : 0;
}

int bench_main(int argc, char **argv)
{
    bench_opts_t  opts     = {0};
    bench_def_t **selected = NULL;
    int           rc       = bench_parse_args(argc, argv, &opts);

    if (rc >= 0) {
        return rc;
    }
    if (opts.list) {
        bench_print_list(stdout);
        return 0;
    }
    if ((rc = bench_select(&opts, &selected)) >= 0) {
        return rc;
    }
    int nranks = bench_required_ranks(selected);
    if (nranks > 1 && !bench_launched_as_rank()) {
        rc = bench_relaunch(&opts, nranks);
    } else {
        rc = bench_run_selected(&opts, selected);
    }
    free(selected);
    return rc;
}
