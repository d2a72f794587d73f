/*
 * tests/integration/rt_pg.c - placement groups and gang communicators (include/raympi.h
 * "placement groups", include/raympi/mpi.h) on several ranks, through the public API.
 *
 *     ray-mpi -n N rt_pg SCENARIO...
 *
 * Every rank calls rmpi_init; rank 0 (the driver) runs the named scenarios, shuts down
 * and exits 0 only if every check passed. Started by integration/rt_pg.sh at 2 and 4
 * ranks, on one and on several logical nodes, under UCX_TLS=sm,self and tcp,self.
 *
 * The job's shape comes from the environment the script sets: RAYMPI_RT_NUM_CPUS (CPUs
 * per rank), RAYMPI_RT_RESOURCES (custom resources of each rank) and
 * RAYMPI_XPORT_NODE_SPLIT (ranks per logical node; 0: one node); the node of each rank
 * is read back with rmpi_node() in tasks, not assumed.
 *
 * Nothing waits by sleeping: a group that must be pending is checked with a zero
 * timeout, and whatever must happen later is waited for with rmpi_pg_wait/rmpi_get.
 */
#include <mpi.h>
#include <raympi.h>
#include <raympi/mpi.h>

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IT_PROGRAM "rt_pg"
#include "it_check.h"

#define GET_TIMEOUT_S 60.0
/* An answer that must come at once (infeasible groups, errors) takes less than this. */
#define FAST_S 2.0

/* ------------------------------------------------------------------------- */
/* Checks                                                                    */
/* ------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct {
    bool   rank_died; /* the kill scenario ran: the job ends without MPI_Finalize */
    int    size;
    double cpus; /* per rank */
    int    num_nodes;
    int    node_of[256];
} job;

/* ------------------------------------------------------------------------- */
/* Remote functions                                                          */
/* ------------------------------------------------------------------------- */

/* Results travel as up to 4 int64 values. */
static rmpi_status_t return_i64s(rmpi_task_ctx_h ctx, const int64_t *v, size_t n)
{
    return rmpi_return(ctx, 0, v, n * sizeof(*v));
}

static bool arg_pg(const rmpi_arg_t *arg, rmpi_pg_t *pg)
{
    if (arg->size != sizeof(*pg)) {
        return false;
    }
    memcpy(pg, arg->data, sizeof(*pg));
    return true;
}

/* {rank, node} of the rank it ran on. */
RMPI_REMOTE(pg_where)
{
    int64_t v[2] = {rmpi_rank(), rmpi_node()};

    (void)args, (void)nargs;
    return return_i64s(ctx, v, 2);
}

/* args: pg, double timeout. {status of rmpi_pg_wait, rank of bundle 0 or status}. */
RMPI_REMOTE(pg_remote_wait)
{
    rmpi_pg_t pg;
    double    timeout;
    int       rank = -1;

    if (nargs != 2 || !arg_pg(&args[0], &pg) || args[1].size != sizeof(timeout)) {
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&timeout, args[1].data, sizeof(timeout));
    rmpi_status_t st   = rmpi_pg_wait(pg, timeout);
    rmpi_status_t st2  = rmpi_pg_bundle_rank(pg, 0, &rank);
    int64_t       v[2] = {st, st2 == RMPI_OK ? rank : st2};
    return return_i64s(ctx, v, 2);
}

/* args: pg, int64 bundle. Submits pg_where into that bundle, gets it: {status, rank}. */
RMPI_REMOTE(pg_remote_submit)
{
    rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_PLACEMENT};
    int64_t             bundle, v[2] = {0, -1};
    rmpi_ref_t          ref;
    rmpi_object_t       obj;

    if (nargs != 2 || !arg_pg(&args[0], &opts.pg) || args[1].size != sizeof(bundle)) {
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&bundle, args[1].data, sizeof(bundle));
    opts.bundle_index = (int)bundle;
    v[0]              = rmpi_submit("pg_where", NULL, 0, &opts, &ref);
    if (v[0] == RMPI_OK) {
        v[0] = rmpi_get(&ref, 1, GET_TIMEOUT_S, &obj);
        if (v[0] != RMPI_ERR_TIMEOUT) {
            if (v[0] == RMPI_OK && obj.size == 2 * sizeof(int64_t)) {
                memcpy(&v[1], obj.data, sizeof(int64_t));
            }
            rmpi_object_release(&obj);
        }
        rmpi_ref_free(ref);
    }
    return return_i64s(ctx, v, 2);
}

/*
 * args: name (may be empty)[, int64 detached]. Creates [{CPU: 1}] here: {status, id as
 * 2 int64}.
 */
RMPI_REMOTE(pg_remote_create)
{
    rmpi_resource_t   cpu    = {"CPU", 1};
    rmpi_bundle_t     bundle = {&cpu, 1};
    rmpi_pg_options_t opts   = {.field_mask = RMPI_PG_OPT_NAME | RMPI_PG_OPT_DETACHED};
    char              name[RMPI_PG_NAME_MAX + 1];
    rmpi_pg_t         pg;
    int64_t           v[3] = {0, 0, 0}, detached = 0;

    if (nargs < 1 || nargs > 2 || args[0].size > RMPI_PG_NAME_MAX ||
        (nargs == 2 && args[1].size != sizeof(detached))) {
        return RMPI_ERR_INVALID_ARG;
    }
    if (nargs == 2) {
        memcpy(&detached, args[1].data, sizeof(detached));
    }
    opts.detached = (int)detached;
    memcpy(name, args[0].data, args[0].size);
    name[args[0].size] = '\0';
    opts.name          = args[0].size > 0 ? name : NULL;
    v[0]               = rmpi_pg_create(&bundle, 1, &opts, &pg);
    if (v[0] == RMPI_OK) {
        memcpy(&v[1], pg.id, sizeof(pg.id));
    }
    return return_i64s(ctx, v, 3);
}

/* args: name. {status of rmpi_pg_get, id as 2 int64}. */
RMPI_REMOTE(pg_remote_get)
{
    char      name[RMPI_PG_NAME_MAX + 1];
    rmpi_pg_t pg;
    int64_t   v[3] = {0, 0, 0};

    if (nargs != 1 || args[0].size > RMPI_PG_NAME_MAX) {
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(name, args[0].data, args[0].size);
    name[args[0].size] = '\0';
    v[0]               = rmpi_pg_get(name, &pg);
    if (v[0] == RMPI_OK) {
        memcpy(&v[1], pg.id, sizeof(pg.id));
    }
    return return_i64s(ctx, v, 3);
}

/* args: pg. {status of rmpi_pg_remove}. */
RMPI_REMOTE(pg_remote_remove)
{
    rmpi_pg_t pg;
    int64_t   v;

    if (nargs != 1 || !arg_pg(&args[0], &pg)) {
        return RMPI_ERR_INVALID_ARG;
    }
    v = rmpi_pg_remove(pg);
    return return_i64s(ctx, &v, 1);
}

/* args: pg. {status of rmpi_pg_comm} (the communicator, if any, is freed). */
RMPI_REMOTE(pg_remote_comm)
{
    rmpi_pg_t pg;
    MPI_Comm  comm;
    int64_t   v;

    if (nargs != 1 || !arg_pg(&args[0], &pg)) {
        return RMPI_ERR_INVALID_ARG;
    }
    v = rmpi_pg_comm(pg, &comm);
    if (v == RMPI_OK) {
        MPI_Comm_free(&comm);
    }
    return return_i64s(ctx, &v, 1);
}

/*
 * One member of a gang. args: pg, int64 value. MPI_Allreduce(value) over the group's
 * communicator: {sum, rank in the communicator, its size, MPI_COMM_WORLD rank}.
 */
RMPI_REMOTE(pg_allreduce)
{
    rmpi_pg_t pg;
    MPI_Comm  comm;
    int64_t   value, v[4] = {0, -1, 0, -1};
    int       crank, csize, wrank;

    if (nargs != 2 || !arg_pg(&args[0], &pg) || args[1].size != sizeof(value)) {
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&value, args[1].data, sizeof(value));
    rmpi_status_t st = rmpi_pg_comm(pg, &comm);
    if (st != RMPI_OK) {
        rmpi_task_error(ctx, "rmpi_pg_comm on rank %d: %s", rmpi_rank(), rmpi_status_str(st));
        return st;
    }
    MPI_Comm_rank(comm, &crank);
    MPI_Comm_size(comm, &csize);
    MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
    if (MPI_Allreduce(&value, &v[0], 1, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS) {
        rmpi_task_error(ctx, "MPI_Allreduce failed");
        MPI_Comm_free(&comm);
        return RMPI_ERR_TASK_FAILED;
    }
    MPI_Comm_free(&comm);
    v[1] = crank, v[2] = csize, v[3] = wrank;
    return return_i64s(ctx, v, 4);
}

/* Ends a survivor of the kill scenario without MPI_Finalize (see end_after_death). */
RMPI_REMOTE(pg_exit)
{
    (void)ctx, (void)args, (void)nargs;
    fflush(stdout);
    _exit(0);
}

/* Dies at once, as a crashed rank would (the kill scenario). */
RMPI_REMOTE(pg_die)
{
    (void)ctx, (void)args, (void)nargs;
    raise(SIGKILL);
    return RMPI_ERR_TASK_FAILED;
}

/* ------------------------------------------------------------------------- */
/* Driver helpers                                                            */
/* ------------------------------------------------------------------------- */

/* Get n int64 values (at most 4) of a task's return, requiring success; frees the ref. */
static int get_i64s(rmpi_ref_t ref, int64_t *v, size_t n)
{
    rmpi_object_t obj;

    CHECK_OK(rmpi_get(&ref, 1, GET_TIMEOUT_S, &obj));
    CHECKF(obj.size == n * sizeof(int64_t), "a return of %zu bytes, expected %zu", obj.size,
           n * sizeof(int64_t));
    memcpy(v, obj.data, n * sizeof(int64_t));
    rmpi_object_release(&obj);
    CHECK_OK(rmpi_ref_free(ref));
    return 0;
}

static int run_i64s(const char *fn, const rmpi_task_arg_t *args, size_t nargs,
                    const rmpi_task_options_t *opts, int64_t *v, size_t n)
{
    rmpi_ref_t ref;

    CHECK_OK(rmpi_submit(fn, args, nargs, opts, &ref));
    return get_i64s(ref, v, n);
}

static rmpi_task_options_t opts_in_bundle(rmpi_pg_t pg, int bundle)
{
    rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_PLACEMENT};

    opts.pg           = pg;
    opts.bundle_index = bundle;
    return opts;
}

static rmpi_task_options_t opts_on_rank(int rank)
{
    rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_STRATEGY};

    opts.strategy      = RMPI_SCHED_RANK_AFFINITY;
    opts.affinity_rank = rank;
    return opts;
}

/* Where a task pinned to bundle @a bundle of @a pg ran: {rank, node}. */
static int where_in_bundle(rmpi_pg_t pg, int bundle, int64_t where[2])
{
    rmpi_task_options_t opts = opts_in_bundle(pg, bundle);

    return run_i64s("pg_where", NULL, 0, &opts, where, 2);
}

/* A group of @a n bundles of @a cpus CPUs each. */
static rmpi_status_t create_cpus(size_t n, double cpus, rmpi_pg_strategy_t strategy,
                                 const char *name, rmpi_pg_t *pg_p)
{
    rmpi_resource_t   cpu = {"CPU", cpus};
    rmpi_bundle_t     bundles[64];
    rmpi_pg_options_t opts = {.field_mask = RMPI_PG_OPT_STRATEGY | RMPI_PG_OPT_NAME};

    for (size_t i = 0; i < n && i < 64; i++) {
        bundles[i] = (rmpi_bundle_t){&cpu, 1};
    }
    opts.strategy = strategy;
    opts.name     = name;
    return rmpi_pg_create(bundles, n, &opts, pg_p);
}

/* Learn each rank's logical node from a task pinned to it. */
static int read_nodes(void)
{
    bool seen[256] = {false};

    job.num_nodes = 0;
    for (int r = 0; r < job.size; r++) {
        rmpi_task_options_t opts = opts_on_rank(r);
        int64_t             where[2];

        TRY(run_i64s("pg_where", NULL, 0, &opts, where, 2));
        CHECKF(where[0] == r, "a task pinned to rank %d ran on rank %lld", r, (long long)where[0]);
        CHECK(where[1] >= 0 && where[1] < 256);
        job.node_of[r] = (int)where[1];
        job.num_nodes += !seen[where[1]];
        seen[where[1]] = true;
    }
    CHECKF(job.num_nodes == rmpi_num_nodes(), "%d nodes seen, rmpi_num_nodes says %d",
           job.num_nodes, rmpi_num_nodes());
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Scenarios                                                                 */
/* ------------------------------------------------------------------------- */

static const char *strategy_name(rmpi_pg_strategy_t s)
{
    static const char *names[] = {"PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"};
    return names[s];
}

/* Tasks pinned to each bundle run on the bundle's rank; the ranks obey the strategy. */
static int check_strategy(rmpi_pg_strategy_t strategy)
{
    rmpi_pg_t pg;
    int       rank[2];
    int64_t   where[2];

    if (strategy == RMPI_PG_STRICT_SPREAD && job.num_nodes < 2) {
        double t0 = now_s();
        CHECK_STATUS(create_cpus(2, 1, strategy, NULL, &pg), RMPI_ERR_INFEASIBLE);
        CHECKF(now_s() - t0 < FAST_S, "an infeasible group took %.2f s", now_s() - t0);
        return 0;
    }
    CHECK_OK(create_cpus(2, 1, strategy, NULL, &pg));
    CHECK_OK(rmpi_pg_wait(pg, GET_TIMEOUT_S));
    for (int b = 0; b < 2; b++) {
        CHECK_OK(rmpi_pg_bundle_rank(pg, (size_t)b, &rank[b]));
        CHECK(rank[b] >= 0 && rank[b] < job.size);
        TRY(where_in_bundle(pg, b, where));
        CHECKF(where[0] == rank[b], "%s: a task in bundle %d ran on rank %lld, the bundle is on %d",
               strategy_name(strategy), b, (long long)where[0], rank[b]);
    }
    int same_node = job.node_of[rank[0]] == job.node_of[rank[1]];
    /* every node has a rank with 2 CPUs here, so a node holds both bundles */
    if (strategy == RMPI_PG_PACK || strategy == RMPI_PG_STRICT_PACK) {
        CHECKF(same_node, "%s put the bundles on ranks %d and %d of different nodes",
               strategy_name(strategy), rank[0], rank[1]);
    } else if (job.num_nodes >= 2) {
        CHECKF(!same_node, "%s put both bundles on node %d", strategy_name(strategy),
               job.node_of[rank[0]]);
    } else {
        CHECKF(job.size < 2 || rank[0] != rank[1], "SPREAD put both bundles on rank %d", rank[0]);
    }
    /* any bundle: round robin over both */
    for (int i = 0; i < 4; i++) {
        TRY(where_in_bundle(pg, -1, where));
        CHECKF(where[0] == rank[i % 2], "task %d with bundle -1 ran on rank %lld, expected %d", i,
               (long long)where[0], rank[i % 2]);
    }
    CHECK_OK(rmpi_pg_remove(pg));
    CHECK_STATUS(rmpi_pg_wait(pg, 0), RMPI_ERR_NOT_FOUND);
    CHECK_STATUS(rmpi_pg_remove(pg), RMPI_ERR_NOT_FOUND);
    return 0;
}

static int scenario_strategies(void)
{
    for (int s = RMPI_PG_PACK; s <= RMPI_PG_STRICT_SPREAD; s++) {
        TRY(check_strategy((rmpi_pg_strategy_t)s));
    }
    return 0;
}

static int expect_infeasible(const rmpi_bundle_t *bundles, size_t n, rmpi_pg_strategy_t strategy,
                             const char *what)
{
    rmpi_pg_options_t opts = {.field_mask = RMPI_PG_OPT_STRATEGY, .strategy = strategy};
    rmpi_pg_t         pg;
    double            t0 = now_s();

    rmpi_status_t st = rmpi_pg_create(bundles, n, &opts, &pg);
    CHECKF(st == RMPI_ERR_INFEASIBLE, "%s: %s, expected infeasible", what, rmpi_status_str(st));
    CHECKF(now_s() - t0 < FAST_S, "%s: failing took %.2f s", what, now_s() - t0);
    return 0;
}

/* Groups that can never fit fail at once (the log names bundle and resource). */
static int scenario_infeasible(void)
{
    rmpi_resource_t huge   = {"CPU", job.cpus * 1000};
    rmpi_resource_t gpu    = {"GPU", 1};
    rmpi_resource_t bogus  = {"no_such_resource", 1};
    rmpi_resource_t widget = {"widget", 3}; /* each rank has widget:2 */
    rmpi_resource_t one    = {"CPU", 1};
    rmpi_bundle_t   b_huge = {&huge, 1}, b_gpu = {&gpu, 1}, b_bogus = {&bogus, 1};
    rmpi_bundle_t   b_widget = {&widget, 1};
    rmpi_bundle_t   many[130];
    size_t          n;
    int             largest = 0;

    TRY(expect_infeasible(&b_huge, 1, RMPI_PG_PACK, "a bundle of 1000x a rank's CPUs"));
    TRY(expect_infeasible(&b_gpu, 1, RMPI_PG_SPREAD, "a GPU bundle on a job without GPUs"));
    TRY(expect_infeasible(&b_bogus, 1, RMPI_PG_PACK, "an unknown resource"));
    TRY(expect_infeasible(&b_widget, 1, RMPI_PG_PACK, "3 widgets of ranks with 2"));
    n = (size_t)(job.size * job.cpus) + 1; /* the most bundles any check below needs */
    CHECK(n <= 130);
    for (size_t i = 0; i < n; i++) {
        many[i] = (rmpi_bundle_t){&one, 1};
    }
    /* STRICT_PACK beyond the largest node's CPUs */
    for (int k = 0; k < job.num_nodes; k++) {
        int count = 0;
        for (int r = 0; r < job.size; r++) {
            count += job.node_of[r] == k;
        }
        largest = count > largest ? count : largest;
    }
    n = (size_t)(largest * job.cpus) + 1;
    TRY(expect_infeasible(many, n, RMPI_PG_STRICT_PACK, "STRICT_PACK beyond every node"));
    TRY(expect_infeasible(many, (size_t)job.num_nodes + 1, RMPI_PG_STRICT_SPREAD,
                          "STRICT_SPREAD with more bundles than nodes"));
    /* beyond the whole job: infeasible under every strategy */
    n = (size_t)(job.size * job.cpus) + 1;
    TRY(expect_infeasible(many, n, RMPI_PG_SPREAD, "more CPUs than the job has"));
    return 0;
}

/*
 * A group that fits only when another goes stays pending: waits time out, its table is
 * not ready, a task into it waits (on the driver and on a worker rank, where the worker
 * also waits for it), and everything proceeds when the other group is removed.
 */
static int scenario_pending(void)
{
    rmpi_pg_t           full, later, doomed;
    int                 rank, later_rank;
    MPI_Comm            comm;
    rmpi_ref_t          parked, doomed_task, remote_wait, remote_submit;
    rmpi_task_options_t in_later = {.field_mask = RMPI_TASK_OPT_PLACEMENT};
    rmpi_task_options_t on_last  = opts_on_rank(job.size - 1);
    double              forever  = -1;
    int64_t             zero     = 0, v[2];

    /* every CPU of the job, one rank per bundle */
    CHECK_OK(create_cpus((size_t)job.size, job.cpus, RMPI_PG_SPREAD, NULL, &full));
    CHECK_OK(rmpi_pg_wait(full, 0));
    CHECK_OK(create_cpus(1, 1, RMPI_PG_PACK, NULL, &later));
    CHECK_STATUS(rmpi_pg_wait(later, 0), RMPI_ERR_TIMEOUT);
    CHECK_STATUS(rmpi_pg_bundle_rank(later, 0, &rank), RMPI_ERR_NOT_READY);
    CHECK_STATUS(rmpi_pg_comm(later, &comm), RMPI_ERR_NOT_READY);
    in_later.pg           = later;
    in_later.bundle_index = 0;
    CHECK_OK(rmpi_submit("pg_where", NULL, 0, &in_later, &parked));
    /* a worker waits for it, and submits into it itself */
    rmpi_task_arg_t wait_args[2] = {rmpi_arg_value(&later, sizeof(later)),
                                    rmpi_arg_value(&forever, sizeof(forever))};
    CHECK_OK(rmpi_submit("pg_remote_wait", wait_args, 2, &on_last, &remote_wait));
    rmpi_task_arg_t submit_args[2] = {rmpi_arg_value(&later, sizeof(later)),
                                      rmpi_arg_value(&zero, sizeof(zero))};
    CHECK_OK(rmpi_submit("pg_remote_submit", submit_args, 2, &on_last, &remote_submit));
    /* a pending group removed: the task waiting for it fails, not hangs */
    CHECK_OK(create_cpus(1, 1, RMPI_PG_PACK, NULL, &doomed));
    in_later.pg = doomed;
    CHECK_OK(rmpi_submit("pg_where", NULL, 0, &in_later, &doomed_task));
    CHECK_OK(rmpi_pg_remove(doomed));
    rmpi_object_t obj;
    CHECK_STATUS(rmpi_get(&doomed_task, 1, GET_TIMEOUT_S, &obj), RMPI_ERR_NOT_FOUND);
    CHECKF(strstr(obj.error, "placement group") != NULL, "error: %s", obj.error);
    rmpi_object_release(&obj);
    CHECK_OK(rmpi_ref_free(doomed_task));
    /* still pending after that removal: it held nothing */
    CHECK_STATUS(rmpi_pg_wait(later, 0), RMPI_ERR_TIMEOUT);

    CHECK_OK(rmpi_pg_remove(full));
    CHECK_OK(rmpi_pg_wait(later, GET_TIMEOUT_S));
    CHECK_OK(rmpi_pg_bundle_rank(later, 0, &later_rank));
    TRY(get_i64s(parked, v, 2));
    CHECKF(v[0] == later_rank, "the parked task ran on rank %lld, its bundle is on rank %d",
           (long long)v[0], later_rank);
    TRY(get_i64s(remote_wait, v, 2));
    CHECKF(v[0] == RMPI_OK && v[1] == later_rank,
           "the worker's wait: %s, bundle rank %lld (expected %d)",
           rmpi_status_str((rmpi_status_t)v[0]), (long long)v[1], later_rank);
    TRY(get_i64s(remote_submit, v, 2));
    CHECKF(v[0] == RMPI_OK && v[1] == later_rank,
           "the worker's task in the group: %s, on rank %lld (expected %d)",
           rmpi_status_str((rmpi_status_t)v[0]), (long long)v[1], later_rank);
    CHECK_OK(rmpi_pg_remove(later));
    /* the worker learns that it is gone */
    TRY(run_i64s("pg_remote_wait", wait_args, 2, &on_last, v, 2));
    CHECKF(v[0] == RMPI_ERR_NOT_FOUND, "the worker's wait on a removed group: %s",
           rmpi_status_str((rmpi_status_t)v[0]));
    return 0;
}

static int same_id(const int64_t *v, rmpi_pg_t pg)
{
    return memcmp(v, pg.id, sizeof(pg.id)) == 0;
}

/* Named groups, found from the driver and from a worker; a name is taken once. */
static int scenario_named(void)
{
    rmpi_pg_t           pg, found, again;
    rmpi_task_options_t on_last = opts_on_rank(job.size - 1);
    const char          name[]  = "trainers";
    rmpi_task_arg_t     arg     = rmpi_arg_value(name, strlen(name));
    int64_t             v[3];

    CHECK_OK(create_cpus(1, 1, RMPI_PG_PACK, name, &pg));
    CHECK_OK(rmpi_pg_get(name, &found));
    CHECK(memcmp(&found, &pg, sizeof(pg)) == 0);
    CHECK_STATUS(create_cpus(1, 1, RMPI_PG_PACK, name, &again), RMPI_ERR_EXISTS);
    CHECK_STATUS(rmpi_pg_get("nobody", &found), RMPI_ERR_NOT_FOUND);
    TRY(run_i64s("pg_remote_get", &arg, 1, &on_last, v, 3));
    CHECKF(v[0] == RMPI_OK && same_id(&v[1], pg), "the worker's rmpi_pg_get: %s",
           rmpi_status_str((rmpi_status_t)v[0]));
    /* taken from a worker too */
    TRY(run_i64s("pg_remote_create", &arg, 1, &on_last, v, 3));
    CHECKF(v[0] == RMPI_ERR_EXISTS, "the worker's create with a taken name: %s",
           rmpi_status_str((rmpi_status_t)v[0]));
    CHECK_OK(rmpi_pg_remove(pg));
    CHECK_STATUS(rmpi_pg_get(name, &found), RMPI_ERR_NOT_FOUND);
    /* the name is free again: a worker takes it, the driver finds and removes it */
    TRY(run_i64s("pg_remote_create", &arg, 1, &on_last, v, 3));
    CHECKF(v[0] == RMPI_OK, "the worker's create: %s", rmpi_status_str((rmpi_status_t)v[0]));
    CHECK_OK(rmpi_pg_get(name, &found));
    CHECK(same_id(&v[1], found));
    CHECK_OK(rmpi_pg_wait(found, GET_TIMEOUT_S));
    rmpi_task_arg_t pg_arg = rmpi_arg_value(&found, sizeof(found));
    TRY(run_i64s("pg_remote_remove", &pg_arg, 1, &on_last, v, 1));
    CHECKF(v[0] == RMPI_OK, "the worker's remove: %s", rmpi_status_str((rmpi_status_t)v[0]));
    CHECK_STATUS(rmpi_pg_wait(found, 0), RMPI_ERR_NOT_FOUND);
    TRY(run_i64s("pg_remote_remove", &pg_arg, 1, &on_last, v, 1));
    CHECK(v[0] == RMPI_ERR_NOT_FOUND);
    return 0;
}

static int expect_bad_bundle(const rmpi_resource_t *res, size_t n, rmpi_status_t expected,
                             const char *what)
{
    rmpi_bundle_t bundle = {res, n};
    rmpi_pg_t     pg;

    rmpi_status_t st = rmpi_pg_create(&bundle, 1, NULL, &pg);
    CHECKF(st == expected, "%s: %s, expected %s", what, rmpi_status_str(st),
           rmpi_status_str(expected));
    return 0;
}

/* Bad bundles, options and calls are refused at once. */
static int scenario_badinput(void)
{
    rmpi_resource_t   zero = {"CPU", 0}, neg = {"CPU", -1}, nan_cpu = {"CPU", NAN};
    rmpi_resource_t   inf = {"GPU", INFINITY}, noname = {NULL, 1}, ok = {"CPU", 1};
    rmpi_resource_t   mixed[2] = {{"CPU", 1}, {"widget", 0}};
    rmpi_bundle_t     good = {&ok, 1}, empty = {NULL, 0};
    rmpi_pg_options_t opts = {.field_mask = RMPI_PG_OPT_LAST};
    char              long_name[RMPI_PG_NAME_MAX + 2];
    rmpi_pg_t         pg, bogus;
    int               rank;
    MPI_Comm          comm;

    TRY(expect_bad_bundle(&zero, 1, RMPI_ERR_INVALID_ARG, "CPU: 0"));
    TRY(expect_bad_bundle(&neg, 1, RMPI_ERR_INVALID_ARG, "CPU: -1"));
    TRY(expect_bad_bundle(&nan_cpu, 1, RMPI_ERR_INVALID_ARG, "CPU: NaN"));
    TRY(expect_bad_bundle(&inf, 1, RMPI_ERR_INVALID_ARG, "GPU: inf"));
    TRY(expect_bad_bundle(&noname, 1, RMPI_ERR_INVALID_ARG, "no name"));
    TRY(expect_bad_bundle(mixed, 2, RMPI_ERR_INVALID_ARG, "one amount of 0"));
    TRY(expect_bad_bundle(&ok, 0, RMPI_ERR_INVALID_ARG, "an empty bundle"));
    CHECK_STATUS(rmpi_pg_create(&empty, 1, NULL, &pg), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_pg_create(&good, 0, NULL, &pg), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_pg_create(NULL, 1, NULL, &pg), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_pg_create(&good, 1, NULL, NULL), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_pg_create(&good, RMPI_PG_MAX_BUNDLES + 1, NULL, &pg), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_pg_create(&good, 1, &opts, &pg), RMPI_ERR_INVALID_ARG);
    opts.field_mask = RMPI_PG_OPT_STRATEGY;
    opts.strategy   = (rmpi_pg_strategy_t)7;
    CHECK_STATUS(rmpi_pg_create(&good, 1, &opts, &pg), RMPI_ERR_INVALID_ARG);
    opts.field_mask = RMPI_PG_OPT_NAME;
    opts.name       = "";
    CHECK_STATUS(rmpi_pg_create(&good, 1, &opts, &pg), RMPI_ERR_INVALID_ARG);
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    opts.name                        = long_name;
    CHECK_STATUS(rmpi_pg_create(&good, 1, &opts, &pg), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_pg_get(long_name, &pg), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_pg_get(NULL, &pg), RMPI_ERR_INVALID_ARG);

    /* IDs that name no group */
    memset(&bogus, 0xab, sizeof(bogus));
    CHECK_STATUS(rmpi_pg_wait(bogus, 0), RMPI_ERR_NOT_FOUND);
    CHECK_STATUS(rmpi_pg_remove(bogus), RMPI_ERR_NOT_FOUND);
    CHECK_STATUS(rmpi_pg_bundle_rank(bogus, 0, &rank), RMPI_ERR_NOT_FOUND);
    CHECK_STATUS(rmpi_pg_comm(bogus, &comm), RMPI_ERR_NOT_FOUND);

    /* tasks: a demand beyond the bundle, an index out of range, placement + strategy */
    rmpi_task_options_t in = opts_in_bundle(bogus, 0);
    rmpi_ref_t          ref;
    CHECK_STATUS(rmpi_submit("pg_where", NULL, 0, &in, &ref), RMPI_ERR_NOT_FOUND);
    CHECK_OK(rmpi_pg_create(&good, 1, NULL, &pg));
    CHECK_OK(rmpi_pg_wait(pg, GET_TIMEOUT_S));
    CHECK_STATUS(rmpi_pg_bundle_rank(pg, 1, &rank), RMPI_ERR_INVALID_ARG);
    in = opts_in_bundle(pg, 0);
    in.field_mask |= RMPI_TASK_OPT_NUM_CPUS;
    in.num_cpus = 2;
    CHECK_STATUS(rmpi_submit("pg_where", NULL, 0, &in, &ref), RMPI_ERR_INFEASIBLE);
    in.bundle_index = -1;
    CHECK_STATUS(rmpi_submit("pg_where", NULL, 0, &in, &ref), RMPI_ERR_INFEASIBLE);
    in = opts_in_bundle(pg, 1);
    CHECK_STATUS(rmpi_submit("pg_where", NULL, 0, &in, &ref), RMPI_ERR_INVALID_ARG);
    in = opts_in_bundle(pg, -2);
    CHECK_STATUS(rmpi_submit("pg_where", NULL, 0, &in, &ref), RMPI_ERR_INVALID_ARG);
    in = opts_in_bundle(pg, 0);
    in.field_mask |= RMPI_TASK_OPT_STRATEGY;
    in.strategy = RMPI_SCHED_SPREAD;
    CHECK_STATUS(rmpi_submit("pg_where", NULL, 0, &in, &ref), RMPI_ERR_INVALID_ARG);
    CHECK_OK(rmpi_pg_remove(pg));
    return 0;
}

/* rmpi_pg_comm on a rank that holds no bundle. */
static int check_comm_outsider(void)
{
    rmpi_pg_t           pg;
    int                 rank;
    int64_t             v;
    int                 outsider = -1;
    rmpi_task_options_t opts;

    CHECK_OK(create_cpus(1, 1, RMPI_PG_PACK, NULL, &pg));
    CHECK_OK(rmpi_pg_wait(pg, GET_TIMEOUT_S));
    CHECK_OK(rmpi_pg_bundle_rank(pg, 0, &rank));
    outsider            = rank == job.size - 1 ? 0 : job.size - 1;
    opts                = opts_on_rank(outsider);
    rmpi_task_arg_t arg = rmpi_arg_value(&pg, sizeof(pg));
    TRY(run_i64s("pg_remote_comm", &arg, 1, &opts, &v, 1));
    CHECKF(v == RMPI_ERR_INVALID_ARG, "rmpi_pg_comm on rank %d, outside the group: %s", outsider,
           rmpi_status_str((rmpi_status_t)v));
    CHECK_OK(rmpi_pg_remove(pg));
    return 0;
}

/*
 * A gang: one bundle per rank, one task per bundle; each joins the group's communicator
 * and allreduces its bundle index + 1. Every member gets the sum, and communicator rank
 * i is the rank of bundle i.
 */
static int scenario_gang(void)
{
    size_t     n = (size_t)job.size;
    rmpi_pg_t  pg;
    rmpi_ref_t refs[256];
    int64_t    values[256], v[4], expected = 0;
    int        ranks[256];

    CHECK(n <= 256);
    TRY(check_comm_outsider());
    CHECK_OK(create_cpus(n, 1, RMPI_PG_SPREAD, NULL, &pg));
    CHECK_OK(rmpi_pg_wait(pg, GET_TIMEOUT_S));
    for (size_t i = 0; i < n; i++) {
        CHECK_OK(rmpi_pg_bundle_rank(pg, i, &ranks[i]));
        for (size_t k = 0; k < i; k++) {
            CHECKF(ranks[k] != ranks[i], "SPREAD put bundles %zu and %zu on rank %d", k, i,
                   ranks[i]);
        }
        values[i] = (int64_t)i + 1;
        expected += values[i];
    }
    for (size_t i = 0; i < n; i++) {
        rmpi_task_options_t opts    = opts_in_bundle(pg, (int)i);
        rmpi_task_arg_t     args[2] = {rmpi_arg_value(&pg, sizeof(pg)),
                                       rmpi_arg_value(&values[i], sizeof(values[i]))};
        CHECK_OK(rmpi_submit("pg_allreduce", args, 2, &opts, &refs[i]));
    }
    for (size_t i = 0; i < n; i++) {
        TRY(get_i64s(refs[i], v, 4));
        CHECKF(v[0] == expected, "member %zu: sum %lld, expected %lld", i, (long long)v[0],
               (long long)expected);
        CHECKF(v[1] == (int64_t)i && v[2] == (int64_t)n && v[3] == ranks[i],
               "member %zu: rank %lld of %lld on world rank %lld; expected %zu of %zu on %d", i,
               (long long)v[1], (long long)v[2], (long long)v[3], i, n, ranks[i]);
    }
    CHECK_OK(rmpi_pg_remove(pg));
    return 0;
}

/* Create + remove from the driver, as the benchmark does, with nothing left behind. */
static int scenario_churn(void)
{
    rmpi_resource_t      cpu    = {"CPU", 0.001};
    rmpi_bundle_t        bundle = {&cpu, 1};
    rmpi_pg_t            pgs[100];
    rmpi_runtime_stats_t stats;

    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 100; i++) {
            CHECK_OK(rmpi_pg_create(&bundle, 1, NULL, &pgs[i]));
        }
        for (int i = 0; i < 100; i++) {
            CHECK_OK(rmpi_pg_wait(pgs[i], GET_TIMEOUT_S));
        }
        for (int i = 0; i < 100; i++) {
            CHECK_OK(rmpi_pg_remove(pgs[i]));
        }
    }
    /* the ledger is whole again: a group of every CPU of the job fits at once */
    CHECK_OK(create_cpus((size_t)job.size, job.cpus, RMPI_PG_SPREAD, NULL, &pgs[0]));
    CHECK_OK(rmpi_pg_wait(pgs[0], 0));
    CHECK_OK(rmpi_pg_remove(pgs[0]));
    CHECK_OK(rmpi_runtime_stats(&stats));
    CHECKF(stats.pending_tasks == 0, "%llu tasks pending", (unsigned long long)stats.pending_tasks);
    return 0;
}

/*
 * The last rank dies (SIGKILL; run under `mpirun --enable-recovery`, see rt_pg.sh) while
 * it holds a bundle of a placed group, created a group of its own, and a pending group
 * needs it: the placed group fails with RMPI_ERR_PEER_DIED (on the driver and on a
 * worker that asks), the pending one can never fit now (RMPI_ERR_INFEASIBLE, and the
 * task waiting for it fails), the dead rank's own group is gone but its detached one
 * stays, and the survivors' reservations came back. Must be the last scenario.
 */
static int scenario_kill(void)
{
    int                 last = job.size - 1, rank;
    rmpi_pg_t           placed, pending, orphan, kept, after;
    rmpi_task_options_t on_last = opts_on_rank(last), on_first = opts_on_rank(1);
    rmpi_task_options_t in_pending;
    rmpi_ref_t          parked, died;
    int64_t             v[3];
    double              zero = 0;

    CHECK(job.size >= 3);
    job.rank_died = true;
    CHECK_OK(create_cpus((size_t)job.size, 1, RMPI_PG_SPREAD, NULL, &placed));
    CHECK_OK(rmpi_pg_wait(placed, 0));
    CHECK_OK(rmpi_pg_bundle_rank(placed, (size_t)last, &rank));
    CHECKF(rank == last, "bundle %d of a group of one bundle per rank is on rank %d", last, rank);
    CHECK_OK(create_cpus((size_t)job.size, job.cpus, RMPI_PG_SPREAD, NULL, &pending));
    CHECK_STATUS(rmpi_pg_wait(pending, 0), RMPI_ERR_TIMEOUT);
    in_pending = opts_in_bundle(pending, 0);
    CHECK_OK(rmpi_submit("pg_where", NULL, 0, &in_pending, &parked));
    rmpi_task_arg_t no_name = rmpi_arg_value("", 0);
    TRY(run_i64s("pg_remote_create", &no_name, 1, &on_last, v, 3));
    CHECKF(v[0] == RMPI_OK, "the last rank's create: %s", rmpi_status_str((rmpi_status_t)v[0]));
    memcpy(orphan.id, &v[1], sizeof(orphan.id));
    int64_t         one              = 1;
    rmpi_task_arg_t detached_args[2] = {rmpi_arg_value("", 0), rmpi_arg_value(&one, sizeof(one))};
    TRY(run_i64s("pg_remote_create", detached_args, 2, &on_last, v, 3));
    CHECKF(v[0] == RMPI_OK, "the last rank's create: %s", rmpi_status_str((rmpi_status_t)v[0]));
    memcpy(kept.id, &v[1], sizeof(kept.id));
    CHECK_OK(rmpi_pg_wait(kept, GET_TIMEOUT_S));
    CHECK_OK(rmpi_pg_bundle_rank(kept, 0, &rank));

    on_last.field_mask |= RMPI_TASK_OPT_MAX_RETRIES;
    on_last.max_retries = 0;
    CHECK_OK(rmpi_submit("pg_die", NULL, 0, &on_last, &died));
    rmpi_object_t obj;
    CHECK_STATUS(rmpi_get(&died, 1, GET_TIMEOUT_S, &obj), RMPI_ERR_PEER_DIED);
    rmpi_object_release(&obj);
    CHECK_OK(rmpi_ref_free(died));
    /* the failure handler ran before that task failed (one critical section) */
    CHECK_STATUS(rmpi_pg_wait(placed, 0), RMPI_ERR_PEER_DIED);
    CHECK_STATUS(rmpi_pg_bundle_rank(placed, 0, &rank), RMPI_ERR_PEER_DIED);
    CHECK_STATUS(rmpi_pg_wait(pending, 0), RMPI_ERR_INFEASIBLE);
    CHECK_STATUS(rmpi_get(&parked, 1, GET_TIMEOUT_S, &obj), RMPI_ERR_INFEASIBLE);
    rmpi_object_release(&obj);
    CHECK_OK(rmpi_ref_free(parked));
    CHECK_STATUS(rmpi_pg_wait(orphan, 0), RMPI_ERR_NOT_FOUND);
    /* detached: it outlives its creator (unless its bundle was on the dead rank) */
    CHECK_STATUS(rmpi_pg_wait(kept, 0), rank == last ? RMPI_ERR_PEER_DIED : RMPI_OK);
    CHECK_OK(rmpi_pg_remove(kept));
    rmpi_task_arg_t wait_args[2] = {rmpi_arg_value(&placed, sizeof(placed)),
                                    rmpi_arg_value(&zero, sizeof(zero))};
    TRY(run_i64s("pg_remote_wait", wait_args, 2, &on_first, v, 2));
    CHECKF(v[0] == RMPI_ERR_PEER_DIED, "a worker's wait on the failed group: %s",
           rmpi_status_str((rmpi_status_t)v[0]));
    /* the failed group gave its bundles back: every survivor's CPUs are free */
    CHECK_OK(create_cpus((size_t)last, job.cpus, RMPI_PG_SPREAD, NULL, &after));
    CHECK_OK(rmpi_pg_wait(after, 0));
    CHECK_OK(rmpi_pg_remove(after));
    CHECK_OK(rmpi_pg_remove(placed));
    CHECK_OK(rmpi_pg_remove(pending));
    CHECK_STATUS(rmpi_pg_wait(placed, 0), RMPI_ERR_NOT_FOUND);
    return 0;
}

typedef it_scenario_t scenario_t;

static const scenario_t scenarios[] = {
    {"strategies", scenario_strategies}, {"infeasible", scenario_infeasible},
    {"pending", scenario_pending},       {"named", scenario_named},
    {"badinput", scenario_badinput},     {"gang", scenario_gang},
    {"churn", scenario_churn},           {"kill", scenario_kill},
};

static const scenario_t *find_scenario(const char *name)
{
    return it_find_scenario(scenarios, sizeof(scenarios) / sizeof(scenarios[0]), name);
}

/*
 * After a rank died, Open MPI 4.1's MPI_Finalize may wait for it forever, and the
 * runtime's shutdown finalizes MPI on every rank: the survivors end as the transport's
 * kill test ends them, with _exit, each in a task (its failure with
 * RMPI_ERR_PEER_DIED says it is gone), then the driver.
 */
static void end_after_death(int failures)
{
    printf("rt_pg: %d failure(s)\n", failures);
    fflush(stdout);
    for (int r = 1; r < job.size - 1; r++) {
        rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_STRATEGY |
                                                  RMPI_TASK_OPT_MAX_RETRIES |
                                                  RMPI_TASK_OPT_NUM_CPUS};
        rmpi_object_t       obj;
        rmpi_ref_t          ref;

        opts.strategy      = RMPI_SCHED_RANK_AFFINITY;
        opts.affinity_rank = r;
        opts.max_retries   = 0;
        opts.num_cpus      = 0;
        if (rmpi_submit("pg_exit", NULL, 0, &opts, &ref) == RMPI_OK &&
            rmpi_get(&ref, 1, GET_TIMEOUT_S, &obj) != RMPI_ERR_TIMEOUT) {
            rmpi_object_release(&obj);
        }
    }
    _exit(failures == 0 ? 0 : 1);
}

int main(int argc, char **argv)
{
    int           failures = 0;
    rmpi_pg_t     pg;
    rmpi_bundle_t none = {NULL, 0};

    if (argc < 2) {
        fprintf(stderr, "usage: %s SCENARIO...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (find_scenario(argv[i]) == NULL) {
            fprintf(stderr, "rt_pg: unknown scenario '%s'\n", argv[i]);
            return 2;
        }
    }
    if (rmpi_pg_create(&none, 1, NULL, &pg) != RMPI_ERR_NOT_READY) {
        printf("rt_pg: rmpi_pg_create before rmpi_init did not say RMPI_ERR_NOT_READY\n");
        return 1;
    }
    rmpi_status_t st = rmpi_init(&argc, &argv, NULL);
    if (st != RMPI_OK) {
        fprintf(stderr, "rt_pg: rmpi_init: %s\n", rmpi_status_str(st));
        return 1;
    }
    /* Only the driver (rank 0) gets here. */
    job.size    = rmpi_size();
    job.cpus    = getenv("RAYMPI_RT_NUM_CPUS") ? strtod(getenv("RAYMPI_RT_NUM_CPUS"), NULL) : 1;
    it_scenario = "nodes";
    failures += read_nodes() != 0;
    for (int i = 1; i < argc && failures == 0; i++) {
        const scenario_t *sc = find_scenario(argv[i]);
        it_scenario          = sc->name;
        double t0            = now_s();
        int    rc            = sc->run();
        printf("rt_pg %s: %s (%.2f s, %d ranks, %d nodes)\n", sc->name, rc == 0 ? "ok" : "FAILED",
               now_s() - t0, job.size, job.num_nodes);
        fflush(stdout);
        failures += rc != 0;
    }
    if (job.rank_died) {
        end_after_death(failures);
    }
    it_scenario = "shutdown";
    st          = rmpi_shutdown();
    if (st != RMPI_OK) {
        printf("rt_pg: rmpi_shutdown: %s\n", rmpi_status_str(st));
        failures++;
    }
    printf("rt_pg: %d failure(s)\n", failures);
    return failures == 0 ? 0 : 1;
}
