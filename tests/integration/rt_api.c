/*
 * tests/integration/rt_api.c - the core runtime's public API (include/raympi.h, "Core
 * runtime") on several ranks, written against that API only.
 *
 *     ray-mpi -n N rt_api [--config KEY=value]... SCENARIO...
 *
 * Every rank calls rmpi_init; it returns only on rank 0 (the driver), which runs the
 * named scenarios in order, calls rmpi_shutdown and exits 0 only if every check
 * passed. Each failure is printed with its line and the statuses involved. Started by
 * integration/rt_api_*.sh at 2, 4 and 8 ranks, on one or several logical nodes
 * (RAYMPI_XPORT_NODE_SPLIT) and under UCX_TLS=sm,self and tcp,self.
 *
 * Expectations come from the environment the scripts set, not from constants:
 * RAYMPI_RT_NUM_CPUS (slots per rank), RAYMPI_RT_NUM_GPUS, RAYMPI_RT_RESOURCES
 * ("name:amount,..." of each rank), RAYMPI_XPORT_NODE_SPLIT (ranks per logical node;
 * the ranks of a local job sit on one host in rank order, so rank r is on node r / k),
 * the job size from MPI_Comm_size, and the --config overrides (passed to rmpi_init) of
 * RT_NUM_CPUS, RT_NUM_GPUS and RT_RESOURCES. RT_API_MANY_TASKS overrides the task count of
 * the `many` scenario (default 100,000).
 *
 * Tasks that must stay busy (to fill slots, or to be waited on in vain) run rt_block,
 * which returns as soon as rmpi_task_canceled() turns true: every test ends them with
 * rmpi_cancel, so no check depends on a sleep.
 */
#include <mpi.h>
#include <raympi.h>

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IT_PROGRAM "rt_api"
#include "it_check.h"

/* A get that takes longer than this is a hang, reported as a failure. */
#define GET_TIMEOUT_S 60.0
/* Bounds polls of asynchronous effects (frees reaching holders, stats settling). */
#define SETTLE_TIMEOUT_S 10.0
/* Upper bound of an rt_block task's life: far beyond what any test waits for it. */
#define BLOCK_MAX_S 25.0
/* Larger than RT_INLINE_MAX (8 KiB by default): such values live in a store. */
#define BIG_SIZE (256u * 1024)
#define MAX_TOKENS 1024

/* ------------------------------------------------------------------------- */
/* Checks                                                                    */
/* ------------------------------------------------------------------------- */

/* A status that is an error but not a timeout: the call failed, and failed at once. */
#define CHECK_CLEAR_ERROR(_expr)                                                    \
    do {                                                                            \
        rmpi_status_t st_ = (_expr);                                                \
        CHECKF(st_ != RMPI_OK && st_ != RMPI_ERR_TIMEOUT && st_ != RMPI_INPROGRESS, \
               "%s: %s (%d), expected an error other than a timeout", #_expr,       \
               rmpi_status_str(st_), (int)st_);                                     \
    } while (0)

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------- */
/* The job's shape, as the scripts set it up                                 */
/* ------------------------------------------------------------------------- */

typedef struct custom_res {
    char   name[RMPI_RESOURCE_NAME_MAX];
    double amount;
} custom_res_t;

static struct {
    int          size;
    int          node_split; /* 0: one node per host */
    double       cpus_per_rank;
    double       gpus_per_rank;
    size_t       num_custom;
    custom_res_t custom[RMPI_MAX_CUSTOM_RESOURCES];
} job;

static double env_double(const char *name, double fallback)
{
    const char *value = getenv(name);

    return value != NULL && *value != '\0' ? strtod(value, NULL) : fallback;
}

/* "name:amount,name:amount" as RAYMPI_RT_RESOURCES takes it. */
static void parse_custom_resources(const char *spec)
{
    job.num_custom = 0;
    while (spec != NULL && *spec != '\0' && job.num_custom < RMPI_MAX_CUSTOM_RESOURCES) {
        size_t        len   = strcspn(spec, ",");
        const char   *colon = memchr(spec, ':', len);
        custom_res_t *res   = &job.custom[job.num_custom];
        if (colon != NULL && (size_t)(colon - spec) < sizeof(res->name)) {
            memcpy(res->name, spec, (size_t)(colon - spec));
            res->name[colon - spec] = '\0';
            res->amount             = strtod(colon + 1, NULL);
            job.num_custom++;
        }
        spec += len + (spec[len] == ',');
    }
}

/* The job's shape from the environment, then from the "KEY=value" overrides given to init. */
static void read_job_shape(const char *const *config, size_t num_config)
{
    MPI_Comm_size(MPI_COMM_WORLD, &job.size);
    job.node_split    = (int)env_double("RAYMPI_XPORT_NODE_SPLIT", 0);
    job.cpus_per_rank = env_double("RAYMPI_RT_NUM_CPUS", -1);
    job.gpus_per_rank = env_double("RAYMPI_RT_NUM_GPUS", 0);
    parse_custom_resources(getenv("RAYMPI_RT_RESOURCES"));
    for (size_t i = 0; i < num_config; i++) {
        const char *value = strchr(config[i], '=') + 1;
        if (strncmp(config[i], "RT_NUM_CPUS=", 12) == 0) {
            job.cpus_per_rank = strtod(value, NULL);
        } else if (strncmp(config[i], "RT_NUM_GPUS=", 12) == 0) {
            job.gpus_per_rank = strtod(value, NULL);
        } else if (strncmp(config[i], "RT_RESOURCES=", 13) == 0) {
            parse_custom_resources(value);
        }
    }
}

static int expected_node(int rank)
{
    return job.node_split > 0 ? rank / job.node_split : 0;
}

static int expected_num_nodes(void)
{
    return job.node_split > 0 ? (job.size + job.node_split - 1) / job.node_split : 1;
}

/* ------------------------------------------------------------------------- */
/* Remote functions                                                          */
/* ------------------------------------------------------------------------- */

static rmpi_status_t return_i64(rmpi_task_ctx_h ctx, size_t index, int64_t value)
{
    return rmpi_return(ctx, index, &value, sizeof(value));
}

static rmpi_status_t arg_i64(rmpi_task_ctx_h ctx, const rmpi_arg_t *arg, int64_t *value_p)
{
    if (arg->size != sizeof(int64_t)) {
        rmpi_task_error(ctx, "expected an 8-byte integer, got %zu bytes", arg->size);
        return RMPI_ERR_TASK_FAILED;
    }
    memcpy(value_p, arg->data, sizeof(*value_p));
    return RMPI_OK;
}

/* One return: the bytes of every argument, concatenated. */
RMPI_REMOTE(rt_concat)
{
    size_t total = 0;
    void  *buf;

    for (size_t i = 0; i < nargs; i++) {
        total += args[i].size;
    }
    rmpi_status_t st = rmpi_return_alloc(ctx, 0, total, NULL, &buf);
    if (st != RMPI_OK) {
        return st;
    }
    for (size_t i = 0, off = 0; i < nargs; off += args[i].size, i++) {
        memcpy((char *)buf + off, args[i].data, args[i].size);
    }
    return RMPI_OK;
}

/* Return i (of as many as asked for) is seed * 1000 + i. */
RMPI_REMOTE(rt_fan_out)
{
    int64_t seed;

    rmpi_status_t st = nargs == 1 ? arg_i64(ctx, &args[0], &seed) : RMPI_ERR_INVALID_ARG;
    for (size_t i = 0; st == RMPI_OK && i < rmpi_task_num_returns(ctx); i++) {
        st = return_i64(ctx, i, seed * 1000 + (int64_t)i);
    }
    return st;
}

/* The sum of 8-byte integer arguments. */
RMPI_REMOTE(rt_sum)
{
    int64_t sum = 0, value;

    for (size_t i = 0; i < nargs; i++) {
        rmpi_status_t st = arg_i64(ctx, &args[i], &value);
        if (st != RMPI_OK) {
            return st;
        }
        sum += value;
    }
    return return_i64(ctx, 0, sum);
}

RMPI_REMOTE(rt_add1)
{
    int64_t value;

    rmpi_status_t st = nargs == 1 ? arg_i64(ctx, &args[0], &value) : RMPI_ERR_INVALID_ARG;
    return st == RMPI_OK ? return_i64(ctx, 0, value + 1) : st;
}

static double matrix_element(uint64_t row, uint64_t col, uint64_t cols)
{
    return (double)(row * cols + col) + 0.5;
}

/* (rows, cols) -> a FLOAT64 rows x cols matrix described as an array. */
RMPI_REMOTE(rt_matrix)
{
    int64_t rows, cols;
    void   *buf;

    if (nargs != 2 || arg_i64(ctx, &args[0], &rows) != RMPI_OK ||
        arg_i64(ctx, &args[1], &cols) != RMPI_OK) {
        return RMPI_ERR_TASK_FAILED;
    }
    rmpi_array_desc_t desc = {.dtype = RMPI_DTYPE_FLOAT64, .ndim = 2};
    desc.shape[0]          = (uint64_t)rows;
    desc.shape[1]          = (uint64_t)cols;
    rmpi_status_t st =
        rmpi_return_alloc(ctx, 0, (size_t)(rows * cols) * sizeof(double), &desc, &buf);
    if (st != RMPI_OK) {
        return st;
    }
    double *elems = buf;
    for (uint64_t r = 0; r < (uint64_t)rows; r++) {
        for (uint64_t c = 0; c < (uint64_t)cols; c++) {
            elems[r * (uint64_t)cols + c] = matrix_element(r, c, (uint64_t)cols);
        }
    }
    return RMPI_OK;
}

/* NULL if @a data of @a size bytes described by @a desc is what rt_matrix makes, else why not. */
static const char *matrix_mismatch(const void *data, size_t size, const rmpi_array_desc_t *desc)
{
    if (desc == NULL) {
        return "no array descriptor";
    }
    if (desc->dtype != RMPI_DTYPE_FLOAT64 || desc->ndim != 2) {
        return "wrong dtype or ndim";
    }
    uint64_t rows = desc->shape[0], cols = desc->shape[1];
    if (size != rows * cols * sizeof(double)) {
        return "size does not match the shape";
    }
    const double *elems = data;
    for (uint64_t i = 0; i < rows * cols; i++) {
        if (elems[i] != matrix_element(i / cols, i % cols, cols)) {
            return "wrong element";
        }
    }
    return NULL;
}

/* A matrix argument (as rt_matrix makes) -> its element count, or a failure saying why. */
RMPI_REMOTE(rt_check_matrix)
{
    if (nargs != 1) {
        return RMPI_ERR_TASK_FAILED;
    }
    const char *why = matrix_mismatch(args[0].data, args[0].size, args[0].array);
    if (why != NULL) {
        rmpi_task_error(ctx, "rt_check_matrix: %s", why);
        return RMPI_ERR_TASK_FAILED;
    }
    return return_i64(ctx, 0, (int64_t)(args[0].array->shape[0] * args[0].array->shape[1]));
}

/* Where and in what job it runs: {rank, node, size, num_nodes}. */
RMPI_REMOTE(rt_where)
{
    int32_t where[4] = {rmpi_rank(), rmpi_node(), rmpi_size(), rmpi_num_nodes()};

    (void)args;
    (void)nargs;
    return rmpi_return(ctx, 0, where, sizeof(where));
}

/* The counters of the rank it runs on. */
RMPI_REMOTE(rt_stats)
{
    rmpi_runtime_stats_t stats;

    (void)args;
    (void)nargs;
    rmpi_status_t st = rmpi_runtime_stats(&stats);
    return st == RMPI_OK ? rmpi_return(ctx, 0, &stats, sizeof(stats)) : st;
}

/* The resident set size of the rank it runs on, in bytes (/proc/self/statm). */
RMPI_REMOTE(rt_rss)
{
    long    pages = 0, resident = 0;
    FILE   *statm = fopen("/proc/self/statm", "r");
    int64_t bytes;

    (void)args;
    (void)nargs;
    if (statm == NULL || fscanf(statm, "%ld %ld", &pages, &resident) != 2) {
        if (statm != NULL) {
            fclose(statm);
        }
        return RMPI_ERR_IO;
    }
    fclose(statm);
    bytes = (int64_t)resident * sysconf(_SC_PAGESIZE);
    return rmpi_return(ctx, 0, &bytes, sizeof(bytes));
}

/* Stay busy until canceled (returns 1) or BLOCK_MAX_S passed (returns 0). */
RMPI_REMOTE(rt_block)
{
    double start = now_s();

    (void)args;
    (void)nargs;
    while (!rmpi_task_canceled(ctx)) {
        if (now_s() - start > BLOCK_MAX_S) {
            return return_i64(ctx, 0, 0);
        }
        pause_ms(2);
    }
    return return_i64(ctx, 0, 1);
}

/* (message[, int32 status]): fail with that message and status (default TASK_FAILED). */
RMPI_REMOTE(rt_fail)
{
    int32_t status = RMPI_ERR_TASK_FAILED;

    if (nargs >= 2 && args[1].size == sizeof(status)) {
        memcpy(&status, args[1].data, sizeof(status));
    }
    rmpi_task_error(ctx, "%.*s", nargs >= 1 ? (int)args[0].size : 0,
                    nargs >= 1 ? (const char *)args[0].data : "");
    return (rmpi_status_t)status;
}

/* depth -> depth, by submitting itself with depth - 1 and getting the child. */
RMPI_REMOTE(rt_nest)
{
    int64_t       depth, child_value;
    rmpi_ref_t    child;
    rmpi_object_t obj;

    rmpi_status_t st = nargs == 1 ? arg_i64(ctx, &args[0], &depth) : RMPI_ERR_INVALID_ARG;
    if (st != RMPI_OK || depth == 0) {
        return st == RMPI_OK ? return_i64(ctx, 0, 0) : st;
    }
    int64_t         child_depth = depth - 1;
    rmpi_task_arg_t arg         = rmpi_arg_value(&child_depth, sizeof(child_depth));
    st                          = rmpi_submit("rt_nest", &arg, 1, NULL, &child);
    if (st != RMPI_OK) {
        rmpi_task_error(ctx, "depth %lld: submit: %s", (long long)depth, rmpi_status_str(st));
        return st;
    }
    st = rmpi_get(&child, 1, GET_TIMEOUT_S, &obj);
    if (st == RMPI_OK) {
        st = obj.size == sizeof(child_value) ? RMPI_OK : RMPI_ERR_TASK_FAILED;
        memcpy(&child_value, obj.data, st == RMPI_OK ? sizeof(child_value) : 0);
        rmpi_object_release(&obj);
    } else if (st != RMPI_ERR_TIMEOUT) {
        rmpi_object_release(&obj);
    }
    rmpi_ref_free(child);
    if (st != RMPI_OK) {
        rmpi_task_error(ctx, "depth %lld: get of the child: %s", (long long)depth,
                        rmpi_status_str(st));
        return st;
    }
    return return_i64(ctx, 0, child_value + 1);
}

/* Attempts per token on this rank (tests pin every attempt of a token to one rank). */
static pthread_mutex_t attempts_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t         attempts[MAX_TOKENS];

/* (token, k): fail the first k attempts, then return the attempt number. */
RMPI_REMOTE(rt_fail_until)
{
    int64_t token, k;

    if (nargs != 2 || arg_i64(ctx, &args[0], &token) != RMPI_OK ||
        arg_i64(ctx, &args[1], &k) != RMPI_OK || token < 0 || token >= MAX_TOKENS) {
        return RMPI_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&attempts_lock);
    int64_t attempt = ++attempts[token];
    pthread_mutex_unlock(&attempts_lock);
    if (attempt <= k) {
        rmpi_task_error(ctx, "planned failure of attempt %lld", (long long)attempt);
        return RMPI_ERR_TASK_FAILED;
    }
    return return_i64(ctx, 0, attempt);
}

/* token -> how many attempts of rt_fail_until ran on this rank. */
RMPI_REMOTE(rt_attempts)
{
    int64_t token;

    if (nargs != 1 || arg_i64(ctx, &args[0], &token) != RMPI_OK || token < 0 ||
        token >= MAX_TOKENS) {
        return RMPI_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&attempts_lock);
    int64_t count = attempts[token];
    pthread_mutex_unlock(&attempts_lock);
    return return_i64(ctx, 0, count);
}

/* (bytes of a ref): borrow it, get it, return its bytes. */
RMPI_REMOTE(rt_borrow)
{
    rmpi_ref_t    ref;
    rmpi_object_t obj;

    if (nargs != 1 || args[0].size != sizeof(ref)) {
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&ref, args[0].data, sizeof(ref));
    rmpi_status_t st = rmpi_ref_retain(ref);
    if (st != RMPI_OK) {
        rmpi_task_error(ctx, "retain of a borrowed ref: %s", rmpi_status_str(st));
        return st;
    }
    st = rmpi_get(&ref, 1, GET_TIMEOUT_S, &obj);
    if (st == RMPI_OK) {
        st = rmpi_return(ctx, 0, obj.data, obj.size);
    } else {
        rmpi_task_error(ctx, "get of a borrowed ref: %s", rmpi_status_str(st));
    }
    if (st != RMPI_ERR_TIMEOUT) {
        rmpi_object_release(&obj);
    }
    rmpi_status_t free_st = rmpi_ref_free(ref);
    return st != RMPI_OK ? st : free_st;
}

static uint8_t pattern_byte(size_t i, uint8_t seed)
{
    return (uint8_t)(i * 131u + seed + (i >> 12));
}

/* (int64 size, int64 seed) -> size bytes of pattern_byte. */
RMPI_REMOTE(rt_bytes)
{
    int64_t size, seed;
    void   *buf;

    if (nargs != 2 || arg_i64(ctx, &args[0], &size) != RMPI_OK ||
        arg_i64(ctx, &args[1], &seed) != RMPI_OK) {
        return RMPI_ERR_INVALID_ARG;
    }
    rmpi_status_t st = rmpi_return_alloc(ctx, 0, (size_t)size, NULL, &buf);
    for (size_t i = 0; st == RMPI_OK && i < (size_t)size; i++) {
        ((uint8_t *)buf)[i] = pattern_byte(i, (uint8_t)seed);
    }
    return st;
}

/* (object, int64 size, int64 seed) -> 1 when the object is size bytes of pattern_byte. */
RMPI_REMOTE(rt_check_bytes)
{
    int64_t size, seed;

    if (nargs != 3 || arg_i64(ctx, &args[1], &size) != RMPI_OK ||
        arg_i64(ctx, &args[2], &seed) != RMPI_OK) {
        return RMPI_ERR_INVALID_ARG;
    }
    if (args[0].size != (size_t)size) {
        rmpi_task_error(ctx, "the object has %zu bytes, not %lld", args[0].size, (long long)size);
        return RMPI_ERR_TASK_FAILED;
    }
    for (size_t i = 0; i < (size_t)size; i++) {
        if (((const uint8_t *)args[0].data)[i] != pattern_byte(i, (uint8_t)seed)) {
            rmpi_task_error(ctx, "byte %zu of the object differs", i);
            return RMPI_ERR_TASK_FAILED;
        }
    }
    return return_i64(ctx, 0, 1);
}

/* SIGKILL this rank (nodepull_kill: a node's puller dies while a reader waits for it). */
RMPI_REMOTE(rt_die)
{
    (void)ctx, (void)args, (void)nargs;
    raise(SIGKILL);
    return RMPI_OK;
}

/* Registered by no one: for registration checks. */
static rmpi_status_t rt_unused(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs)
{
    (void)ctx;
    (void)args;
    (void)nargs;
    return RMPI_OK;
}

/* Misuse of the return calls inside a task: 1 if each was refused, else a failure. */
RMPI_REMOTE(rt_bad_returns)
{
    int64_t one = 1;
    void   *buf = NULL;
    size_t  n   = rmpi_task_num_returns(ctx);

    (void)args;
    (void)nargs;
    if (rmpi_return(ctx, n, &one, sizeof(one)) == RMPI_OK) {
        rmpi_task_error(ctx, "rmpi_return of index %zu (of %zu) succeeded", n, n);
        return RMPI_ERR_TASK_FAILED;
    }
    if (rmpi_return_alloc(ctx, n + 5, 8, NULL, &buf) == RMPI_OK) {
        rmpi_task_error(ctx, "rmpi_return_alloc of index %zu succeeded", n + 5);
        return RMPI_ERR_TASK_FAILED;
    }
    rmpi_array_desc_t bad = {.dtype = RMPI_DTYPE_LAST, .ndim = 1, .shape = {1}};
    if (rmpi_return_alloc(ctx, 0, 8, &bad, &buf) == RMPI_OK) {
        rmpi_task_error(ctx, "rmpi_return_alloc with dtype RMPI_DTYPE_LAST succeeded");
        return RMPI_ERR_TASK_FAILED;
    }
    if (rmpi_return(ctx, 0, NULL, 8) == RMPI_OK) {
        rmpi_task_error(ctx, "rmpi_return of NULL data succeeded");
        return RMPI_ERR_TASK_FAILED;
    }
    for (size_t i = 0; i < n; i++) {
        rmpi_status_t st = return_i64(ctx, i, one);
        if (st != RMPI_OK) {
            return st;
        }
    }
    return RMPI_OK;
}

/* ------------------------------------------------------------------------- */
/* Driver helpers                                                            */
/* ------------------------------------------------------------------------- */

static rmpi_task_options_t opts_on_rank(int rank)
{
    rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_STRATEGY};

    opts.strategy      = RMPI_SCHED_RANK_AFFINITY;
    opts.affinity_rank = rank;
    return opts;
}

static int submit_i64(const char *fn, int64_t value, const rmpi_task_options_t *opts,
                      rmpi_ref_t *ref_p)
{
    rmpi_task_arg_t arg = rmpi_arg_value(&value, sizeof(value));

    CHECK_OK(rmpi_submit(fn, &arg, 1, opts, ref_p));
    return 0;
}

static int submit_block(const rmpi_task_options_t *opts, rmpi_ref_t *ref_p)
{
    CHECK_OK(rmpi_submit("rt_block", NULL, 0, opts, ref_p));
    return 0;
}

static int put_i64(int64_t value, rmpi_ref_t *ref_p)
{
    CHECK_OK(rmpi_put(&value, sizeof(value), NULL, ref_p));
    return 0;
}

/* Get one 8-byte integer, requiring success. */
static int get_i64(rmpi_ref_t ref, int64_t *value_p)
{
    rmpi_object_t obj;

    CHECK_OK(rmpi_get(&ref, 1, GET_TIMEOUT_S, &obj));
    CHECKF(obj.status == RMPI_OK && obj.size == sizeof(int64_t), "object status %s, size %zu",
           rmpi_status_str(obj.status), obj.size);
    memcpy(value_p, obj.data, sizeof(*value_p));
    rmpi_object_release(&obj);
    return 0;
}

static int expect_i64(rmpi_ref_t ref, int64_t expected)
{
    int64_t value;

    TRY(get_i64(ref, &value));
    CHECKF(value == expected, "value %lld, expected %lld", (long long)value, (long long)expected);
    return 0;
}

/* Get a failed object: its status (checked to be an error) and a copy of its message. */
static int get_failure(rmpi_ref_t ref, rmpi_status_t *status_p, char *msg, size_t msg_len)
{
    rmpi_object_t obj;

    rmpi_status_t st = rmpi_get(&ref, 1, GET_TIMEOUT_S, &obj);
    CHECKF(st != RMPI_OK && st != RMPI_ERR_TIMEOUT, "get: %s, expected a failed object",
           rmpi_status_str(st));
    CHECKF(obj.status == st, "object status %s, get returned %s", rmpi_status_str(obj.status),
           rmpi_status_str(st));
    CHECK(obj.error != NULL);
    snprintf(msg, msg_len, "%s", obj.error);
    rmpi_object_release(&obj);
    *status_p = st;
    return 0;
}

/* A get that must fail at once (not time out); releases what it wrote, if anything. */
static int expect_get_error(rmpi_ref_t ref)
{
    rmpi_object_t obj, unwritten;

    memset(&obj, 0, sizeof(obj));
    memset(&unwritten, 0, sizeof(unwritten));
    double        t0 = now_s();
    rmpi_status_t st = rmpi_get(&ref, 1, SETTLE_TIMEOUT_S, &obj);
    CHECKF(st != RMPI_OK && st != RMPI_ERR_TIMEOUT, "get: %s, expected an error at once",
           rmpi_status_str(st));
    CHECKF(now_s() - t0 < 2.0, "the failing get took %.2f s", now_s() - t0);
    if (memcmp(&obj, &unwritten, sizeof(obj)) != 0) {
        rmpi_object_release(&obj);
    }
    return 0;
}

static int free_refs(const rmpi_ref_t *refs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        CHECK_OK(rmpi_ref_free(refs[i]));
    }
    return 0;
}

static int where_is(rmpi_ref_t ref, int32_t where[4])
{
    rmpi_object_t obj;

    CHECK_OK(rmpi_get(&ref, 1, GET_TIMEOUT_S, &obj));
    CHECKF(obj.size == 4 * sizeof(int32_t), "rt_where returned %zu bytes", obj.size);
    memcpy(where, obj.data, 4 * sizeof(int32_t));
    rmpi_object_release(&obj);
    return 0;
}

static int run_where(const rmpi_task_options_t *opts, int32_t where[4])
{
    rmpi_ref_t ref;

    CHECK_OK(rmpi_submit("rt_where", NULL, 0, opts, &ref));
    TRY(where_is(ref, where));
    CHECK_OK(rmpi_ref_free(ref));
    return 0;
}

/* End blockers: cancel each (forced or not) and require each to finish promptly. */
static int end_blockers(const rmpi_ref_t *refs, size_t n, uint64_t cancel_flags)
{
    for (size_t i = 0; i < n; i++) {
        CHECK_OK(rmpi_cancel(refs[i], cancel_flags));
    }
    for (size_t i = 0; i < n; i++) {
        rmpi_object_t obj;
        rmpi_status_t st = rmpi_get(&refs[i], 1, GET_TIMEOUT_S, &obj);
        CHECKF(st == RMPI_OK || st == RMPI_ERR_CANCELED, "blocker %zu: get: %s", i,
               rmpi_status_str(st));
        if (st == RMPI_OK) {
            int64_t saw_cancel = 0;
            CHECK(obj.size == sizeof(saw_cancel));
            memcpy(&saw_cancel, obj.data, sizeof(saw_cancel));
            CHECKF(saw_cancel == 1, "blocker %zu ran out its time: it never saw the cancel", i);
        }
        CHECKF(!(cancel_flags & RMPI_CANCEL_FORCE) || st == RMPI_ERR_CANCELED,
               "blocker %zu canceled with FORCE: get %s", i, rmpi_status_str(st));
        rmpi_object_release(&obj);
    }
    return free_refs(refs, n);
}

/* ------------------------------------------------------------------------- */
/* Stats of every rank (leak checks)                                         */
/* ------------------------------------------------------------------------- */

/*
 * Rank 0's own counters come from rmpi_runtime_stats after the other ranks' are in
 * (so no stats task of its own is pending); each other rank's from an rt_stats task
 * pinned to it (its own pending/owned counts do not include the driver's task), which
 * asks for no CPU so that it runs even while blockers take every slot.
 */
static int collect_stats(rmpi_runtime_stats_t *all)
{
    rmpi_ref_t refs[job.size];

    for (int r = 1; r < job.size; r++) {
        rmpi_task_options_t opts = opts_on_rank(r);
        opts.field_mask |= RMPI_TASK_OPT_NUM_CPUS;
        opts.num_cpus = 0; /* runs even while every slot is taken */
        CHECK_OK(rmpi_submit("rt_stats", NULL, 0, &opts, &refs[r]));
    }
    for (int r = 1; r < job.size; r++) {
        rmpi_object_t obj;
        CHECK_OK(rmpi_get(&refs[r], 1, GET_TIMEOUT_S, &obj));
        CHECK(obj.size == sizeof(all[r]));
        memcpy(&all[r], obj.data, sizeof(all[r]));
        rmpi_object_release(&obj);
        CHECK_OK(rmpi_ref_free(refs[r]));
    }
    CHECK_OK(rmpi_runtime_stats(&all[0]));
    return 0;
}

/* The counters that must return to their values once every ref is freed. */
static bool stats_settled_equal(const rmpi_runtime_stats_t *a, const rmpi_runtime_stats_t *b)
{
    return a->owned_objects == b->owned_objects && a->borrowed_objects == b->borrowed_objects &&
           a->pending_tasks == b->pending_tasks && a->store_objects == b->store_objects;
}

static void print_stats_diff(int rank, const rmpi_runtime_stats_t *base,
                             const rmpi_runtime_stats_t *now)
{
    printf("  rank %d: owned %llu -> %llu, borrowed %llu -> %llu, pending %llu -> %llu, "
           "store objects %llu -> %llu (bytes %llu -> %llu)\n",
           rank, (unsigned long long)base->owned_objects, (unsigned long long)now->owned_objects,
           (unsigned long long)base->borrowed_objects, (unsigned long long)now->borrowed_objects,
           (unsigned long long)base->pending_tasks, (unsigned long long)now->pending_tasks,
           (unsigned long long)base->store_objects, (unsigned long long)now->store_objects,
           (unsigned long long)base->store_bytes, (unsigned long long)now->store_bytes);
}

/*
 * Collect every rank's stats until they equal @a base (frees reach other ranks
 * asynchronously), for at most SETTLE_TIMEOUT_S. With @a base NULL, until two rounds
 * in a row agree (a baseline). The final round is left in @a now; *rounds_p counts them.
 */
static int stats_settle(const rmpi_runtime_stats_t *base, rmpi_runtime_stats_t *now, int *rounds_p)
{
    rmpi_runtime_stats_t prev[job.size];
    double               deadline = now_s() + SETTLE_TIMEOUT_S;
    int                  rounds   = 0;
    bool                 equal;

    do {
        if (rounds > 0) {
            pause_ms(20);
        }
        memcpy(prev, now, sizeof(prev));
        TRY(collect_stats(now));
        rounds++;
        equal = true;
        for (int r = 0; r < job.size; r++) {
            const rmpi_runtime_stats_t *ref = base != NULL ? &base[r] : &prev[r];
            equal = equal && (base != NULL || rounds > 1) && stats_settled_equal(ref, &now[r]);
        }
    } while (!equal && now_s() < deadline);
    *rounds_p = rounds;
    if (!equal) {
        printf("rt_api %s: counters did not settle in %.0f s:\n", it_scenario, SETTLE_TIMEOUT_S);
        for (int r = 0; r < job.size; r++) {
            print_stats_diff(r, base != NULL ? &base[r] : &prev[r], &now[r]);
        }
    }
    CHECKF(equal, "runtime counters differ from the baseline (see above)");
    return 0;
}

static rmpi_runtime_stats_t *leak_baseline;

/* ------------------------------------------------------------------------- */
/* Scenarios                                                                 */
/* ------------------------------------------------------------------------- */

/* baseline: record every rank's counters for a later `noleak`. */
static int scenario_baseline(void)
{
    int rounds;

    free(leak_baseline);
    leak_baseline = calloc((size_t)job.size, sizeof(*leak_baseline));
    CHECK(leak_baseline != NULL);
    TRY(stats_settle(NULL, leak_baseline, &rounds));
    return 0;
}

/* noleak: every rank's counters are back to the baseline's. */
static int scenario_noleak(void)
{
    rmpi_runtime_stats_t now[job.size];
    int                  rounds;

    CHECKF(leak_baseline != NULL, "noleak needs a baseline scenario before it");
    TRY(stats_settle(leak_baseline, now, &rounds));
    return 0;
}

/* put and get of small and large values, with and without an array descriptor. */
static int check_put_get(void)
{
    static uint8_t big[BIG_SIZE];
    const char     small[] = "a small value";
    rmpi_ref_t     refs[3];
    rmpi_object_t  objs[3];

    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = pattern_byte(i, 7);
    }
    double            vec[6] = {1, 2, 3, 4, 5, 6};
    rmpi_array_desc_t desc   = {.dtype = RMPI_DTYPE_FLOAT64, .ndim = 1, .shape = {6}};
    CHECK_OK(rmpi_put(small, sizeof(small), NULL, &refs[0]));
    CHECK_OK(rmpi_put(big, sizeof(big), NULL, &refs[1]));
    CHECK_OK(rmpi_put(vec, sizeof(vec), &desc, &refs[2]));
    for (int i = 0; i < 3; i++) {
        CHECKF(rmpi_ref_owner(refs[i]) == 0, "owner of a put %d", rmpi_ref_owner(refs[i]));
    }
    CHECK_OK(rmpi_get(refs, 3, GET_TIMEOUT_S, objs));
    for (int i = 0; i < 3; i++) {
        CHECK(objs[i].status == RMPI_OK && objs[i].error != NULL && objs[i].error[0] == '\0');
    }
    CHECK(objs[0].size == sizeof(small) && memcmp(objs[0].data, small, sizeof(small)) == 0);
    CHECK(objs[0].array == NULL);
    CHECK(objs[1].size == sizeof(big) && memcmp(objs[1].data, big, sizeof(big)) == 0);
    CHECK(objs[2].size == sizeof(vec) && memcmp(objs[2].data, vec, sizeof(vec)) == 0);
    CHECK(objs[2].array != NULL && objs[2].array->dtype == RMPI_DTYPE_FLOAT64 &&
          objs[2].array->ndim == 1 && objs[2].array->shape[0] == 6);
    for (int i = 0; i < 3; i++) {
        rmpi_object_release(&objs[i]);
    }
    /* The same ref may be got twice in one call. */
    rmpi_ref_t twice[2] = {refs[0], refs[0]};
    CHECK_OK(rmpi_get(twice, 2, GET_TIMEOUT_S, objs));
    CHECK(objs[0].size == sizeof(small) && objs[1].size == sizeof(small));
    rmpi_object_release(&objs[0]);
    rmpi_object_release(&objs[1]);
    return free_refs(refs, 3);
}

/* Value and ref arguments mixed, the refs being puts (small, large) and a task's return. */
static int check_mixed_args(void)
{
    static uint8_t big[BIG_SIZE];
    rmpi_ref_t     put_small, put_big, inner, outer;
    rmpi_object_t  obj;

    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = pattern_byte(i, 3);
    }
    CHECK_OK(rmpi_put("cd", 2, NULL, &put_small));
    CHECK_OK(rmpi_put(big, sizeof(big), NULL, &put_big));
    rmpi_task_arg_t inner_args[2] = {rmpi_arg_value("g", 1), rmpi_arg_value("h", 1)};
    CHECK_OK(rmpi_submit("rt_concat", inner_args, 2, NULL, &inner));
    rmpi_task_arg_t args[6] = {
        rmpi_arg_value("ab", 2), rmpi_arg_ref(put_small), rmpi_arg_value("ef", 2),
        rmpi_arg_ref(inner),     rmpi_arg_ref(put_big),   rmpi_arg_value("!", 1),
    };
    /* On the last rank, so that every ref argument travels. */
    rmpi_task_options_t opts = opts_on_rank(job.size - 1);
    CHECK_OK(rmpi_submit("rt_concat", args, 6, &opts, &outer));
    /* The caller's argument memory is its own again once submit returned. */
    memset(big, 0, sizeof(big));
    CHECK_OK(rmpi_get(&outer, 1, GET_TIMEOUT_S, &obj));
    CHECKF(obj.size == 8 + BIG_SIZE + 1, "concatenation of %zu bytes", obj.size);
    CHECK(memcmp(obj.data, "abcdefgh", 8) == 0);
    const uint8_t *tail = (const uint8_t *)obj.data + 8;
    for (size_t i = 0; i < BIG_SIZE; i++) {
        CHECKF(tail[i] == pattern_byte(i, 3), "byte %zu of the large ref argument", i);
    }
    CHECK(tail[BIG_SIZE] == '!');
    rmpi_object_release(&obj);
    rmpi_ref_t all[4] = {put_small, put_big, inner, outer};
    return free_refs(all, 4);
}

/* num_returns: exactly that many refs written, each with its own value. */
static int check_multiple_returns(unsigned num_returns)
{
    rmpi_ref_t          refs[RMPI_MAX_RETURNS + 1];
    rmpi_object_t       objs[RMPI_MAX_RETURNS];
    rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_NUM_RETURNS};
    int64_t             seed = 40 + num_returns;

    memset(refs, 0xab, sizeof(refs));
    opts.num_returns    = num_returns;
    rmpi_task_arg_t arg = rmpi_arg_value(&seed, sizeof(seed));
    CHECK_OK(rmpi_submit("rt_fan_out", &arg, 1, &opts, refs));
    rmpi_ref_t untouched;
    memset(&untouched, 0xab, sizeof(untouched));
    CHECK(memcmp(&refs[num_returns], &untouched, sizeof(untouched)) == 0);
    for (unsigned i = 1; i < num_returns; i++) {
        CHECKF(memcmp(&refs[i], &refs[i - 1], sizeof(refs[i])) != 0, "returns %u and %u equal",
               i - 1, i);
    }
    CHECK_OK(rmpi_get(refs, num_returns, GET_TIMEOUT_S, objs));
    for (unsigned i = 0; i < num_returns; i++) {
        int64_t value = -1;
        CHECK(objs[i].size == sizeof(value));
        memcpy(&value, objs[i].data, sizeof(value));
        CHECKF(value == seed * 1000 + i, "return %u: %lld", i, (long long)value);
        rmpi_object_release(&objs[i]);
    }
    return free_refs(refs, num_returns);
}

/* rmpi_return_alloc with an array descriptor reaches the driver and a consumer task. */
static int check_arrays(int64_t rows, int64_t cols)
{
    rmpi_ref_t    matrix, checked, checked_value;
    rmpi_object_t obj;

    rmpi_task_arg_t     args[2] = {rmpi_arg_value(&rows, 8), rmpi_arg_value(&cols, 8)};
    rmpi_task_options_t on_last = opts_on_rank(job.size - 1);
    CHECK_OK(rmpi_submit("rt_matrix", args, 2, &on_last, &matrix));
    CHECK_OK(rmpi_get(&matrix, 1, GET_TIMEOUT_S, &obj));
    const char *why = matrix_mismatch(obj.data, obj.size, obj.array);
    CHECKF(why == NULL, "%lld x %lld matrix at the driver: %s", (long long)rows, (long long)cols,
           why);
    CHECK(obj.array->shape[0] == (uint64_t)rows && obj.array->shape[1] == (uint64_t)cols);

    /* A consumer on another rank sees the descriptor of a ref argument ... */
    rmpi_task_arg_t     ref_arg  = rmpi_arg_ref(matrix);
    rmpi_task_options_t on_first = opts_on_rank(job.size > 2 ? 1 : 0);
    CHECK_OK(rmpi_submit("rt_check_matrix", &ref_arg, 1, &on_first, &checked));
    /* ... and of a value argument described as an array. */
    rmpi_task_arg_t value_arg = rmpi_arg_value(obj.data, obj.size);
    value_arg.array           = obj.array;
    CHECK_OK(rmpi_submit("rt_check_matrix", &value_arg, 1, &on_last, &checked_value));
    rmpi_object_release(&obj);
    TRY(expect_i64(checked, rows * cols));
    TRY(expect_i64(checked_value, rows * cols));
    rmpi_ref_t all[3] = {matrix, checked, checked_value};
    return free_refs(all, 3);
}

/* ref_owner and ref_format. */
static int check_ref_naming(void)
{
    rmpi_ref_t a, b;
    char       hex_a[33], hex_b[33];

    TRY(put_i64(1, &a));
    TRY(submit_i64("rt_add1", 1, NULL, &b));
    CHECK(rmpi_ref_owner(a) == 0 && rmpi_ref_owner(b) == 0);
    memset(hex_a, 'x', sizeof(hex_a));
    rmpi_ref_format(a, hex_a);
    rmpi_ref_format(b, hex_b);
    CHECKF(strlen(hex_a) == 32 && strspn(hex_a, "0123456789abcdefABCDEF") == 32,
           "formatted ref '%s'", hex_a);
    CHECK(strcmp(hex_a, hex_b) != 0);
    TRY(expect_i64(b, 2));
    rmpi_ref_t all[2] = {a, b};
    return free_refs(all, 2);
}

/* Misused return calls are refused inside the task, which still completes. */
static int check_bad_returns(void)
{
    rmpi_ref_t          refs[2];
    rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_NUM_RETURNS, .num_returns = 2};

    CHECK_OK(rmpi_submit("rt_bad_returns", NULL, 0, &opts, refs));
    TRY(expect_i64(refs[0], 1));
    TRY(expect_i64(refs[1], 1));
    return free_refs(refs, 2);
}

/* calls: the correctness of each call on ordinary input. */
static int scenario_calls(void)
{
    TRY(check_put_get());
    TRY(check_mixed_args());
    TRY(check_multiple_returns(1));
    TRY(check_multiple_returns(5));
    TRY(check_multiple_returns(RMPI_MAX_RETURNS));
    TRY(check_arrays(3, 4));     /* inline */
    TRY(check_arrays(256, 512)); /* 1 MiB: in a store */
    TRY(check_ref_naming());
    TRY(check_bad_returns());
    return 0;
}

static const custom_res_t *find_custom(const rmpi_resources_t *res, const char *name,
                                       double *amount_p)
{
    for (size_t i = 0; i < res->num_custom; i++) {
        if (strcmp(res->custom[i].name, name) == 0) {
            *amount_p = res->custom[i].amount;
            return (const custom_res_t *)&res->custom[i];
        }
    }
    return NULL;
}

/* A task demanding @a amount of custom resource @a name: submit status, and it runs. */
static rmpi_status_t run_with_custom(const char *name, double amount)
{
    rmpi_resource_t     demand = {name, amount};
    rmpi_task_options_t opts   = {.field_mask = RMPI_TASK_OPT_RESOURCES};
    rmpi_ref_t          ref;
    int32_t             where[4];

    opts.resources     = &demand;
    opts.num_resources = 1;
    rmpi_status_t st   = rmpi_submit("rt_where", NULL, 0, &opts, &ref);
    if (st == RMPI_OK) {
        if (where_is(ref, where) != 0) {
            st = RMPI_ERR_TASK_FAILED;
        }
        rmpi_ref_free(ref);
    }
    return st;
}

/* introspect: rank, size, node, node count, cluster and available resources. */
static int scenario_introspect(void)
{
    rmpi_resources_t total, avail;
    int              mpi_rank;
    double           amount;

    MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);
    CHECK(rmpi_is_initialized() == 1);
    CHECK(rmpi_rank() == 0 && mpi_rank == 0);
    CHECKF(rmpi_size() == job.size, "rmpi_size %d, MPI size %d", rmpi_size(), job.size);
    CHECK(rmpi_node() == 0);
    CHECKF(rmpi_num_nodes() == expected_num_nodes(), "%d nodes, expected %d", rmpi_num_nodes(),
           expected_num_nodes());

    CHECK_OK(rmpi_cluster_resources(&total));
    CHECKF(job.cpus_per_rank > 0, "the script must set RAYMPI_RT_NUM_CPUS");
    CHECKF(fabs(total.cpus - job.size * job.cpus_per_rank) < 1e-9, "cluster CPUs %g, expected %g",
           total.cpus, job.size * job.cpus_per_rank);
    CHECKF(fabs(total.gpus - job.size * job.gpus_per_rank) < 1e-9, "cluster GPUs %g, expected %g",
           total.gpus, job.size * job.gpus_per_rank);
    CHECK(total.memory > 0);
    CHECKF(total.num_custom == job.num_custom, "%zu custom resources, expected %zu",
           total.num_custom, job.num_custom);
    for (size_t i = 0; i < job.num_custom; i++) {
        CHECKF(find_custom(&total, job.custom[i].name, &amount) != NULL,
               "custom resource '%s' missing", job.custom[i].name);
        CHECKF(fabs(amount - job.size * job.custom[i].amount) < 1e-9, "'%s': %g, expected %g",
               job.custom[i].name, amount, job.size * job.custom[i].amount);
    }

    CHECK_OK(rmpi_available_resources(&avail));
    CHECK(avail.cpus >= 0 && avail.cpus <= total.cpus + 1e-9);
    CHECK(avail.gpus >= 0 && avail.gpus <= total.gpus + 1e-9);
    CHECK(avail.num_custom <= total.num_custom);

    /* Every rank knows the job's shape. */
    for (int r = 0; r < job.size; r++) {
        rmpi_task_options_t opts = opts_on_rank(r);
        int32_t             where[4];
        TRY(run_where(&opts, where));
        CHECKF(where[0] == r && where[1] == expected_node(r) && where[2] == job.size &&
                   where[3] == expected_num_nodes(),
               "rank %d says rank %d, node %d, size %d, %d nodes", r, where[0], where[1], where[2],
               where[3]);
    }

    /* A task may take all of one rank's custom resource, not more. */
    for (size_t i = 0; i < job.num_custom; i++) {
        CHECK_STATUS(run_with_custom(job.custom[i].name, job.custom[i].amount), RMPI_OK);
        CHECK_STATUS(run_with_custom(job.custom[i].name, job.custom[i].amount * 1.5 + 1),
                     RMPI_ERR_INFEASIBLE);
    }
    CHECK_STATUS(run_with_custom("no_rank_has_this", 1), RMPI_ERR_INFEASIBLE);
    return 0;
}

/* placement: rank and node affinity, SPREAD, and affinities out of range. */
static int scenario_placement(void)
{
    int32_t where[4];

    for (int r = 0; r < job.size; r++) {
        rmpi_task_options_t opts = opts_on_rank(r);
        for (int soft = 0; soft <= 1; soft++) {
            opts.soft = soft;
            TRY(run_where(&opts, where));
            CHECKF(where[0] == r, "affinity to rank %d (soft %d) ran on rank %d", r, soft,
                   where[0]);
        }
    }
    for (int n = 0; n < expected_num_nodes(); n++) {
        rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_STRATEGY};
        opts.strategy            = RMPI_SCHED_NODE_AFFINITY;
        opts.affinity_node       = n;
        for (int i = 0; i < 4; i++) {
            TRY(run_where(&opts, where));
            CHECKF(where[1] == n && expected_node(where[0]) == n,
                   "affinity to node %d ran on rank %d of node %d", n, where[0], where[1]);
        }
    }

    /* SPREAD: a batch of 3 tasks per rank reaches every rank. */
    size_t              n_spread = 3 * (size_t)job.size;
    rmpi_ref_t          refs[n_spread];
    int                 seen[job.size];
    rmpi_task_options_t spread = {.field_mask = RMPI_TASK_OPT_STRATEGY};
    spread.strategy            = RMPI_SCHED_SPREAD;
    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < n_spread; i++) {
        CHECK_OK(rmpi_submit("rt_where", NULL, 0, &spread, &refs[i]));
    }
    for (size_t i = 0; i < n_spread; i++) {
        TRY(where_is(refs[i], where));
        CHECK(where[0] >= 0 && where[0] < job.size);
        seen[where[0]]++;
    }
    TRY(free_refs(refs, n_spread));
    for (int r = 0; r < job.size; r++) {
        CHECKF(seen[r] > 0, "SPREAD of %zu tasks over %d ranks never reached rank %d", n_spread,
               job.size, r);
    }

    /* Affinity to a rank or node that does not exist. */
    rmpi_ref_t          ref;
    rmpi_task_options_t bad = opts_on_rank(job.size);
    CHECK_STATUS(rmpi_submit("rt_where", NULL, 0, &bad, &ref), RMPI_ERR_INVALID_ARG);
    bad.affinity_rank = -1;
    CHECK_STATUS(rmpi_submit("rt_where", NULL, 0, &bad, &ref), RMPI_ERR_INVALID_ARG);
    bad.strategy      = RMPI_SCHED_NODE_AFFINITY;
    bad.affinity_node = expected_num_nodes();
    CHECK_STATUS(rmpi_submit("rt_where", NULL, 0, &bad, &ref), RMPI_ERR_INVALID_ARG);
    bad.strategy = (rmpi_sched_strategy_t)99;
    CHECK_STATUS(rmpi_submit("rt_where", NULL, 0, &bad, &ref), RMPI_ERR_INVALID_ARG);
    return 0;
}

/* get_timeout: a get of many that includes a long task times out and writes nothing. */
static int scenario_get_timeout(void)
{
    rmpi_ref_t    refs[3];
    rmpi_object_t objs[3], pattern[3];

    TRY(put_i64(11, &refs[0]));
    TRY(submit_i64("rt_add1", 21, NULL, &refs[1]));
    TRY(submit_block(NULL, &refs[2]));
    TRY(expect_i64(refs[1], 22));

    memset(objs, 0x5a, sizeof(objs));
    memset(pattern, 0x5a, sizeof(pattern));
    double        t0      = now_s();
    rmpi_status_t st      = rmpi_get(refs, 3, 0.1, objs);
    double        elapsed = now_s() - t0;
    CHECK_STATUS(st, RMPI_ERR_TIMEOUT);
    CHECKF(elapsed >= 0.09 && elapsed < 5, "timeout of 0.1 s took %.3f s", elapsed);
    CHECK(memcmp(objs, pattern, sizeof(objs)) == 0);
    /* A zero timeout polls. */
    CHECK_STATUS(rmpi_get(refs, 3, 0, objs), RMPI_ERR_TIMEOUT);
    CHECK(memcmp(objs, pattern, sizeof(objs)) == 0);
    CHECK_OK(rmpi_get(refs, 2, 0, objs));
    rmpi_object_release(&objs[0]);
    rmpi_object_release(&objs[1]);

    TRY(end_blockers(&refs[2], 1, 0));
    return free_refs(refs, 2);
}

/* wait: num_returns, timeout, failed refs count as ready, FETCH_LOCAL. */
static int check_wait_counts(void)
{
    rmpi_ref_t refs[5];
    uint8_t    ready[5];
    size_t     num_ready;

    TRY(submit_i64("rt_add1", 1, NULL, &refs[0]));
    TRY(submit_block(NULL, &refs[1]));
    TRY(put_i64(5, &refs[2]));
    rmpi_task_arg_t fail_arg = rmpi_arg_value("wait on a failure", 17);
    CHECK_OK(rmpi_submit("rt_fail", &fail_arg, 1, NULL, &refs[3]));
    TRY(submit_i64("rt_add1", 2, NULL, &refs[4]));

    num_ready = 99;
    CHECK_OK(rmpi_wait(refs, 5, 4, -1, 0, ready, &num_ready));
    CHECKF(num_ready == 4, "%zu ready", num_ready);
    CHECK(ready[0] == 1 && ready[1] == 0 && ready[2] == 1 && ready[3] == 1 && ready[4] == 1);

    /* Asking for all five: the timeout ends the wait, which is not an error. */
    double t0 = now_s();
    CHECK_OK(rmpi_wait(refs, 5, 5, 0.1, 0, ready, &num_ready));
    double elapsed = now_s() - t0;
    CHECKF(num_ready == 4 && ready[1] == 0, "%zu ready, blocker ready %d", num_ready, ready[1]);
    CHECKF(elapsed >= 0.09 && elapsed < 5, "timeout of 0.1 s took %.3f s", elapsed);
    CHECK_OK(rmpi_wait(&refs[1], 1, 1, 0, 0, ready, &num_ready));
    CHECK(num_ready == 0 && ready[0] == 0);
    /* num_returns 1 returns as soon as one is ready. */
    CHECK_OK(rmpi_wait(refs, 5, 1, -1, 0, ready, &num_ready));
    CHECK(num_ready >= 1 && ready[1] == 0);
    /* More than n cannot be waited for. */
    CHECK_STATUS(rmpi_wait(refs, 5, 6, 0, 0, ready, &num_ready), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_wait(NULL, 5, 1, 0, 0, ready, &num_ready), RMPI_ERR_INVALID_ARG);

    TRY(end_blockers(&refs[1], 1, RMPI_CANCEL_FORCE));
    rmpi_ref_t rest[4] = {refs[0], refs[2], refs[3], refs[4]};
    return free_refs(rest, 4);
}

/* FETCH_LOCAL on a large value made on another node: it is pulled into this node. */
static int check_wait_fetch_local(void)
{
    rmpi_runtime_stats_t before, after;
    rmpi_ref_t           ref;
    rmpi_object_t        obj;
    uint8_t              ready;
    size_t               num_ready;
    int                  far_rank  = job.size - 1;
    int64_t              args_v[2] = {(int64_t)BIG_SIZE * 4, 9};

    rmpi_task_arg_t     args[2] = {rmpi_arg_value(&args_v[0], 8), rmpi_arg_value(&args_v[1], 8)};
    rmpi_task_options_t opts    = opts_on_rank(far_rank);
    CHECK_OK(rmpi_submit("rt_bytes", args, 2, &opts, &ref));
    CHECK_OK(rmpi_wait(&ref, 1, 1, GET_TIMEOUT_S, 0, &ready, &num_ready));
    CHECK(num_ready == 1 && ready == 1);
    CHECK_OK(rmpi_runtime_stats(&before));
    CHECK_OK(rmpi_wait(&ref, 1, 1, GET_TIMEOUT_S, RMPI_WAIT_FETCH_LOCAL, &ready, &num_ready));
    CHECK(num_ready == 1 && ready == 1);
    CHECK_OK(rmpi_runtime_stats(&after));
    if (expected_node(far_rank) != 0) {
        CHECKF(after.store_objects >= before.store_objects + 1,
               "FETCH_LOCAL of an object on node %d left rank 0's store at %llu objects",
               expected_node(far_rank), (unsigned long long)after.store_objects);
    }
    CHECK_OK(rmpi_get(&ref, 1, GET_TIMEOUT_S, &obj));
    CHECK(obj.size == (size_t)args_v[0]);
    for (size_t i = 0; i < obj.size; i++) {
        CHECKF(((const uint8_t *)obj.data)[i] == pattern_byte(i, 9), "byte %zu", i);
    }
    rmpi_object_release(&obj);
    return free_refs(&ref, 1);
}

static int scenario_wait(void)
{
    TRY(check_wait_counts());
    TRY(check_wait_fetch_local());
    return 0;
}

/* Poll rmpi_available_resources until its CPUs are @a cpus (it follows load reports). */
static int await_available_cpus(double cpus)
{
    rmpi_resources_t avail;
    double           deadline = now_s() + SETTLE_TIMEOUT_S;

    CHECK_OK(rmpi_available_resources(&avail));
    while (fabs(avail.cpus - cpus) > 1e-9 && now_s() < deadline) {
        pause_ms(20);
        CHECK_OK(rmpi_available_resources(&avail));
    }
    CHECKF(fabs(avail.cpus - cpus) < 1e-9, "available CPUs %g after %.0f s, expected %g",
           avail.cpus, SETTLE_TIMEOUT_S, cpus);
    return 0;
}

/* A blocker on each of the @a slots CPU slots of every rank. */
static int fill_every_slot(rmpi_ref_t *blockers, size_t slots)
{
    for (int r = 0; r < job.size; r++) {
        rmpi_task_options_t opts = opts_on_rank(r);
        for (size_t s = 0; s < slots; s++) {
            TRY(submit_block(&opts, &blockers[(size_t)r * slots + s]));
        }
    }
    return 0;
}

/* available: with every slot taken the available CPUs drop to 0, then come back. */
static int scenario_available(void)
{
    CHECKF(job.cpus_per_rank >= 1, "the script must set RAYMPI_RT_NUM_CPUS");
    size_t     slots = (size_t)job.cpus_per_rank, n_blk = slots * (size_t)job.size;
    rmpi_ref_t blockers[n_blk];

    TRY(await_available_cpus(job.cpus_per_rank * job.size));
    TRY(fill_every_slot(blockers, slots));
    int failed = await_available_cpus(0); /* the blockers must end in any case */
    TRY(end_blockers(blockers, n_blk, RMPI_CANCEL_FORCE));
    TRY(await_available_cpus(job.cpus_per_rank * job.size));
    return failed;
}

/* Wait until every rank runs @a slots blockers (its stats task running besides). */
static int await_all_running(size_t slots)
{
    rmpi_runtime_stats_t stats[job.size];
    double               deadline = now_s() + SETTLE_TIMEOUT_S;
    bool                 all;

    for (;;) {
        TRY(collect_stats(stats));
        all = stats[0].running_tasks >= slots;
        for (int r = 1; r < job.size; r++) {
            all = all && stats[r].running_tasks >= slots + 1;
        }
        if (all || now_s() > deadline) {
            break;
        }
        pause_ms(5);
    }
    CHECKF(all, "the blockers did not all start within %.0f s", SETTLE_TIMEOUT_S);
    return 0;
}

/* Submit @a n rt_add1 tasks, alternately placed by the scheduler and pinned round robin. */
static int submit_small_tasks(rmpi_ref_t *refs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rmpi_task_options_t opts = opts_on_rank((int)(i / 2) % job.size);
        TRY(submit_i64("rt_add1", (int64_t)i, i % 2 == 0 ? NULL : &opts, &refs[i]));
    }
    return 0;
}

/* A canceled task's get fails with CANCELED, promptly (its cancel was not lost). */
static int expect_canceled(rmpi_ref_t ref, bool may_have_run)
{
    rmpi_object_t obj;

    rmpi_status_t st = rmpi_get(&ref, 1, SETTLE_TIMEOUT_S, &obj);
    CHECKF(st != RMPI_ERR_TIMEOUT, "a task canceled while queued did not end: its cancel was lost");
    rmpi_object_release(&obj);
    CHECKF(st == RMPI_ERR_CANCELED || (may_have_run && st == RMPI_OK), "canceled task: %s",
           rmpi_status_str(st));
    return 0;
}

/*
 * The checks of `cancel` while blockers take every slot. @a early were submitted and
 * canceled together with the blockers (so may have run, or be in flight to a rank
 * whose blockers had not arrived and which stole them); @a queued after every blocker
 * was seen running (so are queued).
 */
static int check_cancel_queued(const rmpi_ref_t *early, const rmpi_ref_t *queued, size_t n,
                               rmpi_ref_t dependent)
{
    uint8_t       ready[n];
    size_t        num_ready;
    rmpi_ref_t    put_ref;
    rmpi_object_t obj;

    CHECK_OK(rmpi_wait(queued, n, 1, 0, 0, ready, &num_ready));
    CHECKF(num_ready == 0, "%zu tasks ran although every slot was taken", num_ready);
    for (size_t i = 0; i < n; i++) {
        CHECK_OK(rmpi_cancel(queued[i], 0));
    }
    CHECK_OK(rmpi_cancel(dependent, 0));
    for (size_t i = 0; i < n; i++) {
        TRY(expect_canceled(queued[i], false));
        TRY(expect_canceled(early[i], true));
    }
    CHECK_STATUS(rmpi_get(&dependent, 1, SETTLE_TIMEOUT_S, &obj), RMPI_ERR_CANCELED);
    rmpi_object_release(&obj);

    /* Only the owner of a task's ref may cancel; a put has no task. */
    TRY(put_i64(3, &put_ref));
    CHECK_STATUS(rmpi_cancel(put_ref, 0), RMPI_ERR_INVALID_ARG);
    return free_refs(&put_ref, 1);
}

/* cancel: queued tasks (every slot taken by blockers), tasks waiting for arguments,
 * and running tasks, asked to stop and forced. */
static int scenario_cancel(void)
{
    CHECKF(job.cpus_per_rank >= 1, "the script must set RAYMPI_RT_NUM_CPUS");
    size_t     slots = (size_t)job.cpus_per_rank;
    size_t     n_blk = slots * (size_t)job.size, n = 2 * (size_t)job.size;
    rmpi_ref_t blockers[n_blk], early[n], queued[n], dependent, after;

    TRY(fill_every_slot(blockers, slots));
    TRY(submit_small_tasks(early, n));
    for (size_t i = 0; i < n; i++) { /* at once: while idle ranks may be stealing them */
        CHECK_OK(rmpi_cancel(early[i], 0));
    }
    rmpi_task_arg_t dep_arg = rmpi_arg_ref(blockers[n_blk - 1]);
    CHECK_OK(rmpi_submit("rt_add1", &dep_arg, 1, NULL, &dependent));
    int failed = await_all_running(slots);
    failed     = failed ? failed : submit_small_tasks(queued, n);
    failed     = failed ? failed : check_cancel_queued(early, queued, n, dependent);

    /* Running blockers, in any case: half asked to stop, half forced. */
    TRY(end_blockers(blockers, n_blk / 2, 0));
    TRY(end_blockers(&blockers[n_blk / 2], n_blk - n_blk / 2, RMPI_CANCEL_FORCE));
    if (failed) {
        return -1;
    }
    /* The slots are free again. */
    TRY(submit_i64("rt_add1", 41, NULL, &after));
    TRY(expect_i64(after, 42));
    TRY(free_refs(early, n));
    TRY(free_refs(queued, n));
    rmpi_ref_t rest[2] = {dependent, after};
    return free_refs(rest, 2);
}

/* refs: retain/free counting, borrowing on another rank, freed refs. */
static int scenario_refs(void)
{
    static uint8_t       big[BIG_SIZE];
    rmpi_runtime_stats_t s0, s1;
    rmpi_ref_t           x, y, borrowed;
    rmpi_object_t        obj;

    CHECK_OK(rmpi_runtime_stats(&s0));
    TRY(put_i64(77, &x));
    CHECK_OK(rmpi_runtime_stats(&s1));
    CHECKF(s1.owned_objects == s0.owned_objects + 1, "owned %llu -> %llu after a put",
           (unsigned long long)s0.owned_objects, (unsigned long long)s1.owned_objects);
    CHECK_OK(rmpi_ref_retain(x));
    CHECK_OK(rmpi_ref_free(x));
    TRY(expect_i64(x, 77)); /* one handle left */
    CHECK_OK(rmpi_ref_free(x));

    /* Freed: every use is an error, none a hang. */
    CHECK_CLEAR_ERROR(rmpi_ref_free(x));
    CHECK_CLEAR_ERROR(rmpi_ref_retain(x));
    TRY(expect_get_error(x));
    rmpi_task_arg_t arg = rmpi_arg_ref(x);
    rmpi_ref_t      unused;
    CHECK_STATUS(rmpi_submit("rt_add1", &arg, 1, NULL, &unused), RMPI_ERR_INVALID_ARG);

    /* A ref sent inside a value is borrowed by the task that retains it. */
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = pattern_byte(i, 5);
    }
    CHECK_OK(rmpi_put(big, sizeof(big), NULL, &y));
    rmpi_task_arg_t     as_bytes = rmpi_arg_value(&y, sizeof(y));
    rmpi_task_options_t opts     = opts_on_rank(job.size - 1);
    CHECK_OK(rmpi_submit("rt_borrow", &as_bytes, 1, &opts, &borrowed));
    CHECK_OK(rmpi_get(&borrowed, 1, GET_TIMEOUT_S, &obj));
    CHECK(obj.size == sizeof(big) && memcmp(obj.data, big, sizeof(big)) == 0);
    rmpi_object_release(&obj);
    rmpi_ref_t both[2] = {y, borrowed};
    TRY(free_refs(both, 2));

    /* The ref of a task freed before it ran: the task still runs, nothing is kept. */
    rmpi_ref_t early;
    TRY(submit_i64("rt_add1", 1, NULL, &early));
    CHECK_OK(rmpi_ref_free(early));

    /* A view outlives the last handle of its ref. */
    CHECK_OK(rmpi_put(big, sizeof(big), NULL, &y));
    CHECK_OK(rmpi_get(&y, 1, GET_TIMEOUT_S, &obj));
    CHECK_OK(rmpi_ref_free(y));
    CHECK(obj.size == sizeof(big) && memcmp(obj.data, big, sizeof(big)) == 0);
    rmpi_object_release(&obj);
    return 0;
}

/* True if @a haystack contains @a needle. */
static bool contains(const char *haystack, const char *needle)
{
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

static int next_token = 1;

/* Run rt_fail_until(token, k) on the last rank with the given retry options. */
static int run_fail_until(int64_t k, int max_retries, int retry_exceptions, bool set_opts,
                          rmpi_ref_t *ref_p, int64_t *token_p)
{
    rmpi_task_options_t opts  = opts_on_rank(job.size - 1);
    int64_t             token = next_token++;

    CHECK(token < MAX_TOKENS);
    if (set_opts) {
        opts.field_mask |= RMPI_TASK_OPT_MAX_RETRIES | RMPI_TASK_OPT_RETRY_EXCEPTIONS;
        opts.max_retries      = max_retries;
        opts.retry_exceptions = retry_exceptions;
    }
    rmpi_task_arg_t args[2] = {rmpi_arg_value(&token, 8), rmpi_arg_value(&k, 8)};
    CHECK_OK(rmpi_submit("rt_fail_until", args, 2, &opts, ref_p));
    *token_p = token;
    return 0;
}

static int attempts_of(int64_t token, int64_t *count_p)
{
    rmpi_task_options_t opts = opts_on_rank(job.size - 1);
    rmpi_ref_t          ref;

    TRY(submit_i64("rt_attempts", token, &opts, &ref));
    TRY(get_i64(ref, count_p));
    return free_refs(&ref, 1);
}

static int check_retries(void)
{
    rmpi_ref_t    ref;
    int64_t       token, count;
    rmpi_status_t st;
    char          msg[2048];

    /* Two planned failures, three retries allowed: the third attempt succeeds. */
    TRY(run_fail_until(2, 3, 1, true, &ref, &token));
    TRY(expect_i64(ref, 3));
    TRY(free_refs(&ref, 1));

    /* Always failing, two retries: three attempts, then the application's failure. */
    TRY(run_fail_until(1000, 2, 1, true, &ref, &token));
    TRY(get_failure(ref, &st, msg, sizeof(msg)));
    CHECKF(st == RMPI_ERR_TASK_FAILED || st == RMPI_ERR_TASK_RETRIES, "after its retries: %s",
           rmpi_status_str(st));
    CHECKF(contains(msg, "planned failure of attempt 3"), "message '%s'", msg);
    printf("rt_api errors: the message after 2 retries: '%s' (%s)\n", msg, rmpi_status_str(st));
    TRY(free_refs(&ref, 1));
    TRY(attempts_of(token, &count));
    CHECKF(count == 3, "%lld attempts with max_retries 2", (long long)count);

    /* Application errors are not retried without retry_exceptions, nor by default. */
    TRY(run_fail_until(1000, 3, 0, true, &ref, &token));
    TRY(get_failure(ref, &st, msg, sizeof(msg)));
    CHECK(st == RMPI_ERR_TASK_FAILED && contains(msg, "planned failure of attempt 1"));
    TRY(free_refs(&ref, 1));
    TRY(attempts_of(token, &count));
    CHECKF(count == 1, "%lld attempts without retry_exceptions", (long long)count);

    TRY(run_fail_until(1000, 0, 0, false, &ref, &token));
    TRY(get_failure(ref, &st, msg, sizeof(msg)));
    TRY(free_refs(&ref, 1));
    TRY(attempts_of(token, &count));
    CHECKF(count == 1, "%lld attempts with default options", (long long)count);

    /* max_retries 0 with retry_exceptions: one attempt. */
    TRY(run_fail_until(1000, 0, 1, true, &ref, &token));
    TRY(get_failure(ref, &st, msg, sizeof(msg)));
    TRY(free_refs(&ref, 1));
    TRY(attempts_of(token, &count));
    CHECKF(count == 1, "%lld attempts with max_retries 0", (long long)count);
    return 0;
}

/* errors: a failure's status and message reach get, dependents, and retries. */
static int scenario_errors(void)
{
    rmpi_ref_t          failed[2], dep1, dep2, ok_ref, failed_io;
    rmpi_object_t       objs[2];
    rmpi_status_t       st;
    char                msg[4096];
    rmpi_task_options_t two   = {.field_mask = RMPI_TASK_OPT_NUM_RETURNS, .num_returns = 2};
    const char         *cause = "boom: the cause 1234";

    rmpi_task_arg_t fail_arg = rmpi_arg_value(cause, strlen(cause));
    CHECK_OK(rmpi_submit("rt_fail", &fail_arg, 1, &two, failed));
    CHECK_STATUS(rmpi_get(failed, 2, GET_TIMEOUT_S, objs), RMPI_ERR_TASK_FAILED);
    for (int i = 0; i < 2; i++) {
        CHECKF(objs[i].status == RMPI_ERR_TASK_FAILED && contains(objs[i].error, cause),
               "return %d: %s '%s'", i, rmpi_status_str(objs[i].status), objs[i].error);
        rmpi_object_release(&objs[i]);
    }

    /* Another status: still an application error, with its message. */
    int32_t         io      = RMPI_ERR_IO;
    rmpi_task_arg_t args[2] = {rmpi_arg_value("io went wrong", 13), rmpi_arg_value(&io, 4)};
    CHECK_OK(rmpi_submit("rt_fail", args, 2, NULL, &failed_io));
    TRY(get_failure(failed_io, &st, msg, sizeof(msg)));
    CHECKF((st == RMPI_ERR_TASK_FAILED || st == RMPI_ERR_IO) && contains(msg, "io went wrong"),
           "%s '%s'", rmpi_status_str(st), msg);

    /* Dependents fail without running, their messages chaining the cause. */
    rmpi_task_arg_t dep_arg = rmpi_arg_ref(failed[1]);
    CHECK_OK(rmpi_submit("rt_add1", &dep_arg, 1, NULL, &dep1));
    dep_arg                     = rmpi_arg_ref(dep1);
    rmpi_task_options_t on_last = opts_on_rank(job.size - 1);
    CHECK_OK(rmpi_submit("rt_add1", &dep_arg, 1, &on_last, &dep2));
    TRY(get_failure(dep2, &st, msg, sizeof(msg)));
    CHECKF(RMPI_IS_TASK_ERROR(st) && contains(msg, cause), "dependent: %s '%s'",
           rmpi_status_str(st), msg);
    TRY(get_failure(dep1, &st, msg, sizeof(msg)));
    CHECKF(RMPI_IS_TASK_ERROR(st) && contains(msg, cause) && contains(msg, "caused by"),
           "dependent: %s '%s'", rmpi_status_str(st), msg);
    printf("rt_api errors: a dependent's message: '%s'\n", msg);

    /* A get of good and failed objects writes both; the result is the failure's. */
    TRY(put_i64(8, &ok_ref));
    rmpi_ref_t mixed[2] = {ok_ref, failed[0]};
    CHECK_STATUS(rmpi_get(mixed, 2, GET_TIMEOUT_S, objs), RMPI_ERR_TASK_FAILED);
    CHECK(objs[0].status == RMPI_OK && objs[0].size == 8);
    CHECK(objs[1].status == RMPI_ERR_TASK_FAILED);
    rmpi_object_release(&objs[0]);
    rmpi_object_release(&objs[1]);

    /* A long message is cut, not refused. */
    char long_msg[3000];
    memset(long_msg, 'L', sizeof(long_msg));
    rmpi_ref_t      long_ref;
    rmpi_task_arg_t long_arg = rmpi_arg_value(long_msg, sizeof(long_msg));
    CHECK_OK(rmpi_submit("rt_fail", &long_arg, 1, NULL, &long_ref));
    TRY(get_failure(long_ref, &st, msg, sizeof(msg)));
    CHECKF(strlen(msg) >= 512 && strlen(msg) < 2048, "message of %zu bytes", strlen(msg));

    TRY(check_retries());
    rmpi_ref_t all[7] = {failed[0], failed[1], failed_io, dep1, dep2, ok_ref, long_ref};
    return free_refs(all, 7);
}

/* A ref whose owner rank is @a owner (no such rank in this job), from a real one. */
static int forge_ref(int owner, rmpi_ref_t *ref_p)
{
    rmpi_ref_t real, forged;
    uint32_t   owner32 = (uint32_t)owner;

    TRY(put_i64(1, &real));
    forged = real;
    memcpy(forged.id, &owner32, sizeof(owner32));
    if (rmpi_ref_owner(forged) != owner) { /* the owner is not little-endian bytes 0-3 */
        for (int i = 0; i < 4; i++) {
            forged.id[i] = (uint8_t)(owner32 >> (8 * (3 - i)));
        }
    }
    CHECKF(rmpi_ref_owner(forged) == owner, "could not forge a ref owned by rank %d", owner);
    CHECK_OK(rmpi_ref_free(real));
    *ref_p = forged;
    return 0;
}

static int check_infeasible(const rmpi_task_options_t *opts, const char *what)
{
    rmpi_ref_t ref, untouched;

    memset(&ref, 0xcd, sizeof(ref));
    untouched        = ref;
    double        t0 = now_s();
    rmpi_status_t st = rmpi_submit("rt_add1", NULL, 0, opts, &ref);
    if (st == RMPI_OK) {
        rmpi_ref_free(ref);
    }
    CHECKF(st == RMPI_ERR_INFEASIBLE, "%s: %s", what, rmpi_status_str(st));
    CHECKF(now_s() - t0 < 1.0, "%s: INFEASIBLE took %.2f s", what, now_s() - t0);
    CHECK(memcmp(&ref, &untouched, sizeof(ref)) == 0);
    return 0;
}

/* Options that submit must refuse with INVALID_ARG, writing no ref. */
static int expect_bad_options(const rmpi_task_options_t *opts, const char *what)
{
    rmpi_ref_t      refs[RMPI_MAX_RETURNS + 2], untouched[RMPI_MAX_RETURNS + 2];
    int64_t         one = 1;
    rmpi_task_arg_t arg = rmpi_arg_value(&one, 8);

    memset(refs, 0xee, sizeof(refs));
    memcpy(untouched, refs, sizeof(refs));
    rmpi_status_t st = rmpi_submit("rt_add1", &arg, 1, opts, refs);
    if (st == RMPI_OK) { /* do not leak into later checks */
        bool   many = (opts->field_mask & RMPI_TASK_OPT_NUM_RETURNS) && opts->num_returns > 0;
        size_t n    = many ? opts->num_returns : 1;
        for (size_t i = 0; i < n && i < RMPI_MAX_RETURNS; i++) {
            rmpi_ref_free(refs[i]);
        }
    }
    CHECKF(st == RMPI_ERR_INVALID_ARG, "options with %s: %s, expected %s", what,
           rmpi_status_str(st), rmpi_status_str(RMPI_ERR_INVALID_ARG));
    CHECKF(memcmp(refs, untouched, sizeof(refs)) == 0, "options with %s: refs written", what);
    return 0;
}

static int check_bad_options(void)
{
    rmpi_task_options_t opts;
    int                 failed = 0;

#define BAD_OPTS(_what, ...)                        \
    do {                                            \
        opts = (rmpi_task_options_t){__VA_ARGS__};  \
        failed |= expect_bad_options(&opts, _what); \
    } while (0)
    BAD_OPTS("field_mask RMPI_TASK_OPT_LAST", .field_mask = RMPI_TASK_OPT_LAST);
    BAD_OPTS("field_mask bit 63", .field_mask = RMPI_BIT(63));
    BAD_OPTS("num_cpus -1", .field_mask = RMPI_TASK_OPT_NUM_CPUS, .num_cpus = -1);
    BAD_OPTS("num_cpus NaN", .field_mask = RMPI_TASK_OPT_NUM_CPUS, .num_cpus = NAN);
    BAD_OPTS("num_gpus -0.5", .field_mask = RMPI_TASK_OPT_NUM_GPUS, .num_gpus = -0.5);
    BAD_OPTS("num_returns 0", .field_mask = RMPI_TASK_OPT_NUM_RETURNS, .num_returns = 0);
    BAD_OPTS("num_returns 65", .field_mask = RMPI_TASK_OPT_NUM_RETURNS,
             .num_returns = RMPI_MAX_RETURNS + 1);
    BAD_OPTS("resources NULL", .field_mask = RMPI_TASK_OPT_RESOURCES, .resources = NULL,
             .num_resources = 1);
    rmpi_resource_t negative = {job.num_custom > 0 ? job.custom[0].name : "widget", -1};
    BAD_OPTS("a negative custom resource", .field_mask = RMPI_TASK_OPT_RESOURCES,
             .resources = &negative, .num_resources = 1);
    rmpi_resource_t unnamed = {NULL, 1};
    BAD_OPTS("a resource without a name", .field_mask = RMPI_TASK_OPT_RESOURCES,
             .resources = &unnamed, .num_resources = 1);
    BAD_OPTS("max_retries -2", .field_mask = RMPI_TASK_OPT_MAX_RETRIES, .max_retries = -2);
#undef BAD_OPTS

    /* Demands no rank can meet fail at once, naming nothing in the output. */
    opts = (rmpi_task_options_t){.field_mask = RMPI_TASK_OPT_NUM_CPUS, .num_cpus = 1000};
    failed |= (check_infeasible(&opts, "1000 CPUs"));
    opts = (rmpi_task_options_t){.field_mask = RMPI_TASK_OPT_NUM_GPUS,
                                 .num_gpus   = job.gpus_per_rank + 5};
    failed |= (check_infeasible(&opts, "5 GPUs more than a rank has"));
    opts = (rmpi_task_options_t){.field_mask = RMPI_TASK_OPT_MEMORY, .memory = UINT64_MAX / 2};
    failed |= (check_infeasible(&opts, "an exabyte of memory"));
    rmpi_resource_t unknown = {"unobtainium", 1};
    opts                    = (rmpi_task_options_t){
                           .field_mask = RMPI_TASK_OPT_RESOURCES, .resources = &unknown, .num_resources = 1};
    failed |= (check_infeasible(&opts, "a custom resource no rank has"));
    opts = opts_on_rank(job.size - 1);
    opts.field_mask |= RMPI_TASK_OPT_NUM_CPUS;
    opts.num_cpus = job.cpus_per_rank + 1;
    failed |= (check_infeasible(&opts, "hard affinity to a rank with too few CPUs"));
    return failed;
}

static int check_bad_refs(void)
{
    rmpi_ref_t forged, zero, ref;
    uint8_t    ready;
    size_t     num_ready;

    TRY(forge_ref(job.size + 5, &forged));
    memset(&zero, 0, sizeof(zero));
    rmpi_ref_t bad[2] = {forged, zero};
    for (int i = 0; i < 2; i++) {
        TRY(expect_get_error(bad[i]));
        CHECK_CLEAR_ERROR(rmpi_wait(&bad[i], 1, 1, SETTLE_TIMEOUT_S, 0, &ready, &num_ready));
        rmpi_task_arg_t arg = rmpi_arg_ref(bad[i]);
        CHECK_STATUS(rmpi_submit("rt_add1", &arg, 1, NULL, &ref), RMPI_ERR_INVALID_ARG);
        CHECK_CLEAR_ERROR(rmpi_ref_free(bad[i]));
        CHECK_CLEAR_ERROR(rmpi_ref_retain(bad[i]));
        CHECK_STATUS(rmpi_cancel(bad[i], 0), RMPI_ERR_INVALID_ARG);
    }
    return 0;
}

static int check_bad_pointers(void)
{
    rmpi_ref_t        ref;
    rmpi_object_t     obj;
    int64_t           one           = 1;
    rmpi_task_arg_t   arg           = rmpi_arg_value(&one, 8);
    rmpi_array_desc_t too_many_dims = {.dtype = RMPI_DTYPE_UINT8, .ndim = RMPI_ARRAY_MAX_DIMS + 1};
    rmpi_array_desc_t bad_dtype     = {.dtype = RMPI_DTYPE_LAST, .ndim = 1, .shape = {8}};

    CHECK_STATUS(rmpi_submit(NULL, &arg, 1, NULL, &ref), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_submit("no_such_function", &arg, 1, NULL, &ref), RMPI_ERR_NOT_FOUND);
    rmpi_status_t st = rmpi_submit("", &arg, 1, NULL, &ref);
    CHECKF(st == RMPI_ERR_NOT_FOUND || st == RMPI_ERR_INVALID_ARG, "empty name: %s",
           rmpi_status_str(st));
    CHECK_STATUS(rmpi_submit("rt_add1", NULL, 1, NULL, &ref), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_submit("rt_add1", &arg, 1, NULL, NULL), RMPI_ERR_INVALID_ARG);
    rmpi_task_arg_t null_value = rmpi_arg_value(NULL, 8);
    CHECK_STATUS(rmpi_submit("rt_add1", &null_value, 1, NULL, &ref), RMPI_ERR_INVALID_ARG);
    rmpi_task_arg_t bad_kind = arg;
    bad_kind.kind            = (rmpi_arg_kind_t)7;
    CHECK_STATUS(rmpi_submit("rt_add1", &bad_kind, 1, NULL, &ref), RMPI_ERR_INVALID_ARG);

    CHECK_STATUS(rmpi_put(NULL, 8, NULL, &ref), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_put(&one, 8, NULL, NULL), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_put(&one, 8, &too_many_dims, &ref), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_put(&one, 8, &bad_dtype, &ref), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_get(NULL, 1, 0, &obj), RMPI_ERR_INVALID_ARG);
    TRY(put_i64(1, &ref));
    CHECK_STATUS(rmpi_get(&ref, 1, 0, NULL), RMPI_ERR_INVALID_ARG);
    CHECK_OK(rmpi_ref_free(ref));
    CHECK_STATUS(rmpi_runtime_stats(NULL), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_cluster_resources(NULL), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_available_resources(NULL), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_register_function("rt_late", rt_unused), RMPI_ERR_NOT_READY);
    return 0;
}

/* badinput: every bad argument is refused with a clear status; the runtime goes on. */
static int scenario_badinput(void)
{
    rmpi_ref_t ref;

    TRY(check_bad_pointers());
    TRY(check_bad_options());
    TRY(check_bad_refs());
    TRY(submit_i64("rt_add1", 99, NULL, &ref));
    TRY(expect_i64(ref, 100));
    return free_refs(&ref, 1);
}

/* Submit @a n tiny tasks in windows, every 4th with a ref argument, and check them. */
static int run_tiny_tasks(size_t n)
{
    const size_t   window = 4096;
    rmpi_ref_t    *refs   = calloc(window, sizeof(*refs));
    rmpi_object_t *objs   = calloc(window, sizeof(*objs));
    int64_t       *expect = calloc(window, sizeof(*expect));
    rmpi_ref_t     one;

    CHECK(refs != NULL && objs != NULL && expect != NULL);
    TRY(put_i64(1, &one));
    for (size_t base = 0; base < n; base += window) {
        size_t count = n - base < window ? n - base : window;
        size_t kept  = 0;
        for (size_t i = 0; i < count; i++) {
            int64_t         v       = (int64_t)(base + i);
            rmpi_task_arg_t args[2] = {rmpi_arg_value(&v, 8), rmpi_arg_ref(one)};
            rmpi_ref_t      ref;
            if (i % 4 == 0) {
                CHECK_OK(rmpi_submit("rt_sum", args, 2, NULL, &ref));
            } else {
                CHECK_OK(rmpi_submit("rt_add1", args, 1, NULL, &ref));
            }
            if (i % 64 == 63) { /* dropped unread, possibly before it ran */
                CHECK_OK(rmpi_ref_free(ref));
                continue;
            }
            expect[kept] = v + 1;
            refs[kept++] = ref;
        }
        CHECK_OK(rmpi_get(refs, kept, GET_TIMEOUT_S, objs));
        for (size_t i = 0; i < kept; i++) {
            int64_t value = -1;
            CHECK(objs[i].size == 8);
            memcpy(&value, objs[i].data, 8);
            CHECKF(value == expect[i], "task value %lld, expected %lld", (long long)value,
                   (long long)expect[i]);
            rmpi_object_release(&objs[i]);
        }
        TRY(free_refs(refs, kept));
    }
    CHECK_OK(rmpi_ref_free(one));
    free(refs);
    free(objs);
    free(expect);
    return 0;
}

/* many: 100,000 tiny tasks; afterwards every rank's counters are back where they were. */
static int scenario_many(void)
{
    size_t               n = (size_t)env_double("RT_API_MANY_TASKS", 100000);
    rmpi_runtime_stats_t base[job.size], now[job.size];
    int                  rounds;

    TRY(stats_settle(NULL, base, &rounds));
    double t0 = now_s();
    TRY(run_tiny_tasks(n));
    double elapsed = now_s() - t0;
    TRY(stats_settle(base, now, &rounds));

    uint64_t executed = 0;
    for (int r = 0; r < job.size; r++) {
        executed += now[r].tasks_executed - base[r].tasks_executed;
    }
    uint64_t stats_tasks = (uint64_t)(job.size - 1) * (uint64_t)rounds;
    CHECKF(executed >= n && executed <= n + stats_tasks, "%llu tasks executed, expected %zu",
           (unsigned long long)executed, n);
    CHECKF(now[0].tasks_submitted - base[0].tasks_submitted == n + stats_tasks,
           "%llu tasks submitted, expected %llu",
           (unsigned long long)(now[0].tasks_submitted - base[0].tasks_submitted),
           (unsigned long long)(n + stats_tasks));
    printf("rt_api many: %zu tasks in %.2f s (%.0f tasks/s) on %d ranks; executed per rank:", n,
           elapsed, (double)n / elapsed, job.size);
    for (int r = 0; r < job.size; r++) {
        printf(" %llu", (unsigned long long)(now[r].tasks_executed - base[r].tasks_executed));
    }
    printf("\n");
    return 0;
}

/* The resident set size of every rank (rank 0's own, the others' from a pinned task). */
static int all_rss(int64_t *rss)
{
    for (int r = 0; r < job.size; r++) {
        rmpi_task_options_t opts = opts_on_rank(r);
        rmpi_ref_t          ref;
        rmpi_object_t       obj;

        CHECK_OK(rmpi_submit("rt_rss", NULL, 0, &opts, &ref));
        CHECK_OK(rmpi_get(&ref, 1, GET_TIMEOUT_S, &obj));
        CHECK(obj.size == sizeof(rss[r]));
        memcpy(&rss[r], obj.data, sizeof(rss[r]));
        rmpi_object_release(&obj);
        TRY(free_refs(&ref, 1));
    }
    return 0;
}

/*
 * million: 1,000,000 tiny tasks in 10 rounds with memory that stays flat: after
 * the second round (pools, tables and caches at their working size) no rank's
 * resident set may grow by more than RT_API_FLAT_MIB (default 16) MiB.
 */
static int scenario_million(void)
{
    const int rounds   = 10;
    size_t    per      = (size_t)env_double("RT_API_MILLION_TASKS", 1000000) / (size_t)rounds;
    int64_t   flat_max = (int64_t)env_double("RT_API_FLAT_MIB", 16) << 20;
    int64_t   warm[job.size], now[job.size], worst = 0;
    double    t0 = now_s();

    for (int round = 0; round < rounds; round++) {
        TRY(run_tiny_tasks(per));
        TRY(all_rss(round < 2 ? warm : now));
        for (int r = 0; round >= 2 && r < job.size; r++) {
            worst = now[r] - warm[r] > worst ? now[r] - warm[r] : worst;
            CHECKF(now[r] - warm[r] <= flat_max,
                   "rank %d grew by %lld KiB from round 2 to round %d (limit %lld KiB)", r,
                   (long long)((now[r] - warm[r]) >> 10), round + 1, (long long)(flat_max >> 10));
        }
    }
    printf("rt_api million: %zu tasks in %.1f s on %d ranks; largest growth after warm-up "
           "%lld KiB\n",
           per * (size_t)rounds, now_s() - t0, job.size, (long long)(worst >> 10));
    return 0;
}

/* nest: a task that submits itself to depth 64 and gets each child. */
static int scenario_nest(void)
{
    rmpi_ref_t ref;

    TRY(submit_i64("rt_nest", 64, NULL, &ref));
    TRY(expect_i64(ref, 64));
    return free_refs(&ref, 1);
}

/* fanin: one task with 10,000 ref arguments, half puts and half task returns. */
static int scenario_fanin(void)
{
    const size_t     n    = 10000;
    rmpi_ref_t      *refs = calloc(n, sizeof(*refs));
    rmpi_task_arg_t *args = calloc(n, sizeof(*args));
    rmpi_ref_t       sum;

    CHECK(refs != NULL && args != NULL);
    for (size_t i = 0; i < n; i++) {
        if (i % 2 == 0) {
            TRY(put_i64((int64_t)i, &refs[i]));
        } else {
            TRY(submit_i64("rt_add1", (int64_t)i - 1, NULL, &refs[i]));
        }
        args[i] = rmpi_arg_ref(refs[i]);
    }
    rmpi_task_options_t opts = opts_on_rank(job.size - 1);
    CHECK_OK(rmpi_submit("rt_sum", args, n, &opts, &sum));
    TRY(expect_i64(sum, (int64_t)(n * (n - 1) / 2)));
    TRY(free_refs(refs, n));
    TRY(free_refs(&sum, 1));
    free(refs);
    free(args);
    return 0;
}

/* One driver thread of `threads`: puts, submits, gets and frees on its own. */
static void *driver_thread(void *arg)
{
    int64_t             id   = (int64_t)(intptr_t)arg;
    rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_STRATEGY};
    rmpi_ref_t          put_ref, refs[2];
    int                 failed = 0;

    opts.strategy = id % 2 == 0 ? RMPI_SCHED_SPREAD : RMPI_SCHED_DEFAULT;
    for (int64_t i = 0; i < 500 && !failed; i++) {
        int64_t v = id * 1000000 + i;
        failed |= put_i64(v, &put_ref);
        rmpi_task_arg_t args[2] = {rmpi_arg_value(&v, 8), rmpi_arg_ref(put_ref)};
        failed |= rmpi_submit("rt_sum", args, 2, &opts, &refs[0]) != RMPI_OK;
        failed |= failed ? 0 : submit_i64("rt_add1", v, NULL, &refs[1]);
        failed |= failed ? 0 : expect_i64(refs[0], 2 * v);
        failed |= failed ? 0 : expect_i64(refs[1], v + 1);
        failed |= failed ? 0 : free_refs(refs, 2);
        failed |= rmpi_ref_free(put_ref) != RMPI_OK;
    }
    if (!failed && id == 0) { /* one thread nests while the others submit */
        failed |= submit_i64("rt_nest", 16, NULL, &refs[0]);
        failed |= failed ? 0 : expect_i64(refs[0], 16);
        failed |= failed ? 0 : free_refs(refs, 1);
    }
    return (void *)(intptr_t)failed;
}

/* threads: several driver threads use the API at once (every call is MULTI). */
static int scenario_threads(void)
{
    enum { NUM_THREADS = 4 };
    pthread_t threads[NUM_THREADS];
    int       failed = 0;

    for (intptr_t t = 0; t < NUM_THREADS; t++) {
        CHECK(pthread_create(&threads[t], NULL, driver_thread, (void *)t) == 0);
    }
    for (int t = 0; t < NUM_THREADS; t++) {
        void *result;
        pthread_join(threads[t], &result);
        failed |= result != NULL;
    }
    CHECKF(!failed, "a driver thread failed (see above)");
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Node-level pulls                                                          */
/* ------------------------------------------------------------------------- */

#define FANOUT_SIZE (16 << 20)
#define FANOUT_MAX_READERS 64

/* @a per_rank readers on each rank of @a node check @a obj at once (every slot busy). */
static int read_on_node(rmpi_ref_t obj, int node, int per_rank, int64_t size, int64_t seed)
{
    rmpi_ref_t refs[FANOUT_MAX_READERS];
    size_t     n = 0;

    for (int r = 0; r < job.size; r++) {
        for (int k = 0; k < per_rank && expected_node(r) == node && n < FANOUT_MAX_READERS; k++) {
            rmpi_task_options_t opts    = opts_on_rank(r);
            rmpi_task_arg_t     args[3] = {rmpi_arg_ref(obj), rmpi_arg_value(&size, sizeof(size)),
                                           rmpi_arg_value(&seed, sizeof(seed))};
            CHECK_OK(rmpi_submit("rt_check_bytes", args, 3, &opts, &refs[n++]));
        }
    }
    for (size_t i = 0; i < n; i++) {
        TRY(expect_i64(refs[i], 1));
    }
    return free_refs(refs, n);
}

static uint64_t node_pulls(const rmpi_runtime_stats_t *before, const rmpi_runtime_stats_t *after,
                           int node)
{
    uint64_t sum = 0;

    for (int r = 0; r < job.size; r++) {
        sum += expected_node(r) == node ? after[r].store_pulls - before[r].store_pulls : 0;
    }
    return sum;
}

/*
 * nodepull: every slot of the last node reads one large object of rank 0's at once,
 * then more readers there later: exactly one transfer crosses to that node, none to
 * rank 0's, and every reader sees the bytes intact (noleak then proves the node copy
 * went with the object).
 */
static int scenario_nodepull(void)
{
    rmpi_runtime_stats_t before[job.size], after[job.size];
    rmpi_task_options_t  opts = opts_on_rank(0);
    int64_t              size = FANOUT_SIZE, seed = 29;
    int last = expected_num_nodes() - 1, slots = (int)env_double("RAYMPI_RT_NUM_CPUS", 1);
    rmpi_task_arg_t args[2] = {rmpi_arg_value(&size, sizeof(size)),
                               rmpi_arg_value(&seed, sizeof(seed))};
    rmpi_ref_t      obj;
    uint8_t         ready;
    size_t          num_ready;

    if (last == 0) {
        printf("rt_api nodepull: one node, nothing to pull\n");
        return 0;
    }
    CHECK_OK(rmpi_submit("rt_bytes", args, 2, &opts, &obj));
    CHECK_OK(rmpi_wait(&obj, 1, 1, GET_TIMEOUT_S, 0, &ready, &num_ready));
    CHECK(num_ready == 1);
    TRY(collect_stats(before));
    TRY(read_on_node(obj, last, slots > 1 ? slots : 1, size, seed));
    TRY(read_on_node(obj, last, 1, size, seed));
    TRY(collect_stats(after));
    CHECKF(node_pulls(before, after, last) == 1, "%llu transfers crossed to node %d, not 1",
           (unsigned long long)node_pulls(before, after, last), last);
    CHECKF(node_pulls(before, after, 0) == 0, "%llu transfers to the holder's node",
           (unsigned long long)node_pulls(before, after, 0));
    CHECK_OK(rmpi_ref_free(obj));
    return 0;
}

#define KILL_FILL_SIZE (36 << 20) /* with a 48 MiB arena: no room for a 16 MiB copy */
#define KILL_TRIES 12

/* One reader of a new 16 MiB object on rank 2: 1 if it finished within 2 s, 0 if it waits. */
static int read_or_wait(int64_t seed, rmpi_ref_t *obj_p, rmpi_ref_t *reader_p, int *done_p)
{
    rmpi_task_options_t on0 = opts_on_rank(0), on2 = opts_on_rank(2);
    int64_t             size    = FANOUT_SIZE;
    rmpi_task_arg_t     make[2] = {rmpi_arg_value(&size, sizeof(size)),
                                   rmpi_arg_value(&seed, sizeof(seed))};
    uint8_t             ready   = 0;
    size_t              num_ready;

    CHECK_OK(rmpi_submit("rt_bytes", make, 2, &on0, obj_p));
    CHECK_OK(rmpi_wait(obj_p, 1, 1, GET_TIMEOUT_S, 0, &ready, &num_ready));
    rmpi_task_arg_t check[3] = {rmpi_arg_ref(*obj_p), make[0], make[1]};
    CHECK_OK(rmpi_submit("rt_check_bytes", check, 3, &on2, reader_p));
    CHECK_OK(rmpi_wait(reader_p, 1, 1, 2.0, 0, &ready, &num_ready));
    *done_p = num_ready == 1;
    return 0;
}

/*
 * nodepull_kill (4 ranks, 2 nodes, 48 MiB arenas, long put timeout; integration/
 * rt_api_nodepull_kill.sh): rank 3's store is filled, so a pull whose puller is rank
 * 3 waits there for room. Readers on rank 2 read new objects until one waits (its
 * puller is rank 3: a reader pulling for itself finishes at once); then rank 3 dies
 * mid-pull, and the reader must fail over (pull itself) and see the bytes intact.
 */
static int scenario_nodepull_kill(void)
{
    rmpi_task_options_t on3  = opts_on_rank(3);
    int64_t             size = KILL_FILL_SIZE, seed = 1;
    rmpi_task_arg_t     fill[2] = {rmpi_arg_value(&size, sizeof(size)),
                                   rmpi_arg_value(&seed, sizeof(seed))};
    rmpi_ref_t          filler, obj, reader, death;
    uint8_t             ready;
    size_t              num_ready;
    int                 done = 1;

    CHECKF(job.size == 4 && job.node_split == 2, "needs 4 ranks in 2 logical nodes");
    CHECK_OK(rmpi_submit("rt_bytes", fill, 2, &on3, &filler));
    CHECK_OK(rmpi_wait(&filler, 1, 1, GET_TIMEOUT_S, 0, &ready, &num_ready));
    for (int k = 0; k < KILL_TRIES && done; k++) {
        TRY(read_or_wait(100 + k, &obj, &reader, &done));
        if (done) {
            TRY(expect_i64(reader, 1));
            TRY(free_refs((rmpi_ref_t[]){reader, obj}, 2));
        }
    }
    CHECKF(!done, "no object of %d had rank 3 as its puller", KILL_TRIES);
    on3.field_mask |= RMPI_TASK_OPT_NUM_CPUS | RMPI_TASK_OPT_MAX_RETRIES;
    on3.num_cpus    = 0;
    on3.max_retries = 0;
    CHECK_OK(rmpi_submit("rt_die", NULL, 0, &on3, &death));
    TRY(expect_i64(reader, 1)); /* failed over to rank 2, within GET_TIMEOUT_S */
    return free_refs((rmpi_ref_t[]){reader, obj, death, filler}, 4);
}

/* ------------------------------------------------------------------------- */
/* Main                                                                      */
/* ------------------------------------------------------------------------- */

typedef it_scenario_t scenario_t;

static const scenario_t scenarios[] = {
    {"baseline", scenario_baseline},
    {"noleak", scenario_noleak},
    {"calls", scenario_calls},
    {"introspect", scenario_introspect},
    {"placement", scenario_placement},
    {"get_timeout", scenario_get_timeout},
    {"wait", scenario_wait},
    {"cancel", scenario_cancel},
    {"available", scenario_available},
    {"refs", scenario_refs},
    {"errors", scenario_errors},
    {"badinput", scenario_badinput},
    {"many", scenario_many},
    {"nest", scenario_nest},
    {"fanin", scenario_fanin},
    {"threads", scenario_threads},
    {"million", scenario_million},
    {"nodepull", scenario_nodepull},
    {"nodepull_kill", scenario_nodepull_kill},
};

#define NUM_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static const scenario_t *find_scenario(const char *name)
{
    return it_find_scenario(scenarios, sizeof(scenarios) / sizeof(scenarios[0]), name);
}

/* Before rmpi_init (on every rank alike, so the function tables still agree). */
static int check_before_init(void)
{
    rmpi_ref_t ref;
    char       long_name[80];

    CHECK(rmpi_is_initialized() == 0);
    CHECK(rmpi_rank() == -1 && rmpi_size() == -1 && rmpi_node() == -1 && rmpi_num_nodes() == -1);
    CHECK_STATUS(rmpi_put("x", 1, NULL, &ref), RMPI_ERR_NOT_READY);
    CHECK_STATUS(rmpi_submit("rt_add1", NULL, 0, NULL, &ref), RMPI_ERR_NOT_READY);
    CHECK_STATUS(rmpi_register_function("rt_add1", rt_unused), RMPI_ERR_EXISTS);
    CHECK_STATUS(rmpi_register_function(NULL, rt_unused), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_register_function("rt_null_fn", NULL), RMPI_ERR_INVALID_ARG);
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[64] = '\0';
    CHECK_STATUS(rmpi_register_function(long_name, rt_unused), RMPI_ERR_INVALID_ARG);
    return 0;
}

static int check_after_shutdown(void)
{
    rmpi_ref_t ref;

    CHECK(rmpi_is_initialized() == 0);
    CHECK_STATUS(rmpi_put("x", 1, NULL, &ref), RMPI_ERR_NOT_READY);
    CHECK_STATUS(rmpi_submit("rt_add1", NULL, 0, NULL, &ref), RMPI_ERR_NOT_READY);
    return 0;
}

static void print_usage(const char *prog)
{
    fprintf(stderr, "usage: %s [--config KEY=value]... SCENARIO...; scenarios:", prog);
    for (size_t i = 0; i < NUM_SCENARIOS; i++) {
        fprintf(stderr, " %s", scenarios[i].name);
    }
    fprintf(stderr, "\n");
}

int main(int argc, char **argv)
{
    int         failures = 0, first = 1;
    const char *config[16];
    size_t      num_config = 0;

    while (first + 1 < argc && strcmp(argv[first], "--config") == 0 && num_config < 16) {
        if (strchr(argv[first + 1], '=') == NULL) {
            print_usage(argv[0]);
            return 2;
        }
        config[num_config++] = argv[first + 1];
        first += 2;
    }
    if (first >= argc) {
        print_usage(argv[0]);
        return 2;
    }
    for (int i = first; i < argc; i++) {
        if (find_scenario(argv[i]) == NULL) {
            fprintf(stderr, "rt_api: unknown scenario '%s'\n", argv[i]);
            return 2;
        }
    }
    failures += check_before_init() != 0;

    rmpi_init_params_t params = {.field_mask = RMPI_INIT_PARAM_CONFIG | RMPI_BIT(40)};
    params.config             = config;
    params.num_config         = num_config;
    rmpi_status_t st          = rmpi_init(&argc, &argv, &params);
    if (st != RMPI_ERR_INVALID_ARG) {
        printf("rt_api: rmpi_init with an unknown params bit: %s\n", rmpi_status_str(st));
        return 1;
    }
    params.field_mask = RMPI_INIT_PARAM_CONFIG;
    st                = rmpi_init(&argc, &argv, &params);
    if (st != RMPI_OK) {
        fprintf(stderr, "rt_api: rmpi_init: %s\n", rmpi_status_str(st));
        return 1;
    }
    /* Only the driver (rank 0) gets here. */
    read_job_shape(config, num_config);
    for (int i = first; i < argc; i++) {
        const scenario_t *sc = find_scenario(argv[i]);
        it_scenario          = sc->name;
        double t0            = now_s();
        int    rc            = sc->run();
        printf("rt_api %s: %s (%.2f s, %d ranks)\n", sc->name, rc == 0 ? "ok" : "FAILED",
               now_s() - t0, job.size);
        fflush(stdout);
        failures += rc != 0;
    }
    it_scenario = "shutdown";
    st          = rmpi_shutdown();
    if (st != RMPI_OK) {
        printf("rt_api: rmpi_shutdown: %s\n", rmpi_status_str(st));
        failures++;
    }
    failures += check_after_shutdown() != 0;
    printf("rt_api: %d failure(s)\n", failures);
    free(leak_baseline);
    return failures == 0 ? 0 : 1;
}
