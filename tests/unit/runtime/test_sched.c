/*
 * Unit tests of runtime/sched.c on simulated cluster views: feasibility and
 * its messages, every strategy, hard and soft affinity, dead ranks, locality
 * and its spill-over, the balance of power-of-two choices, and picks from
 * several threads at once (also worth a run built with -fsanitize=thread).
 */
#include "runtime/sched.h"

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define GIB (1ull << 30)
#define MAX_RANKS 16

static const char *const custom_names[] = {"fpga", "ssd"};
enum { FPGA, SSD };

/* A view of @a num_ranks ranks of @a cpus CPUs and 1 GiB each, @a per_node consecutive ranks a
 * node. */
static rt_cluster_t *cluster_new(int num_ranks, int self, int per_node, double cpus)
{
    rt_cluster_t *cluster = NULL;

    assert_int_equal(rt_cluster_create(num_ranks, self, 2, custom_names, &cluster), RMPI_OK);
    for (int rank = 0; rank < num_ranks; ++rank) {
        rt_rank_res_t res = {.node = rank / per_node, .total = {.cpus = cpus, .memory = GIB}};

        rt_cluster_set_rank(cluster, rank, &res);
    }
    return cluster;
}

static void set_rank_res(rt_cluster_t *cluster, int rank, int node, const rt_resvec_t *total)
{
    rt_rank_res_t res = {.node = node, .total = *total};

    rt_cluster_set_rank(cluster, rank, &res);
}

static rmpi_status_t pick(rt_cluster_t *cluster, const rt_sched_req_t *req, int *rank_p, char *why)
{
    return rt_sched_pick(cluster, req, rank_p, why, why == NULL ? 0 : 256);
}

/*
 * Pick @a n times and count where each task went (all picks must succeed).
 * With @a pushed, each task counts as pushed until the end, as a submitter
 * counts it, so that idle ties (which go to the lower rank) do not decide all.
 */
static void pick_some(rt_cluster_t *cluster, const rt_sched_req_t *req, int n, bool pushed,
                      int *counts)
{
    memset(counts, 0, MAX_RANKS * sizeof(*counts));
    for (int i = 0; i < n; ++i) {
        int rank = -1;

        assert_int_equal(pick(cluster, req, &rank, NULL), RMPI_OK);
        assert_in_range(rank, 0, rt_cluster_size(cluster) - 1);
        counts[rank]++;
        if (pushed) {
            rt_cluster_load_add(cluster, rank, 1);
        }
    }
    for (int rank = 0; pushed && rank < rt_cluster_size(cluster); ++rank) {
        rt_cluster_load_add(cluster, rank, -counts[rank]);
    }
}

static void pick_counts(rt_cluster_t *cluster, const rt_sched_req_t *req, int n, int *counts)
{
    pick_some(cluster, req, n, false, counts);
}

static void pick_pushed(rt_cluster_t *cluster, const rt_sched_req_t *req, int n, int *counts)
{
    pick_some(cluster, req, n, true, counts);
}

static void expect_infeasible(rt_cluster_t *cluster, const rt_sched_req_t *req, const char *want)
{
    char why[256] = "";
    int  rank     = -7;

    assert_int_equal(pick(cluster, req, &rank, why), RMPI_ERR_INFEASIBLE);
    assert_string_equal(why, want);
    assert_int_equal(rank, -7); /* outputs are set only on success */
}

static void expect_invalid(rt_cluster_t *cluster, const rt_sched_req_t *req)
{
    char why[256] = "";
    int  rank     = -7;

    assert_int_equal(pick(cluster, req, &rank, why), RMPI_ERR_INVALID_ARG);
    assert_true(strlen(why) > 0);
    assert_int_equal(rank, -7);
}

/* --- the view ------------------------------------------------------------ */

static void test_create(void **state)
{
    const char *const dup[]       = {"a", "a"};
    const char *const long_name[] = {"a-name-longer-than-the-31-bytes-allowed"};
    rt_cluster_t     *cluster     = NULL;

    (void)state;
    assert_int_equal(rt_cluster_create(0, 0, 0, NULL, &cluster), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rt_cluster_create(4, 4, 0, NULL, &cluster), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rt_cluster_create(4, 0, 2, dup, &cluster), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rt_cluster_create(4, 0, 1, long_name, &cluster), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rt_cluster_create(4, 0, RT_SCHED_MAX_CUSTOM + 1, custom_names, &cluster),
                     RMPI_ERR_INVALID_ARG);
    assert_null(cluster);

    cluster = cluster_new(6, 1, 2, 2);
    assert_int_equal(rt_cluster_size(cluster), 6);
    assert_int_equal(rt_cluster_num_custom(cluster), 2);
    assert_int_equal(rt_cluster_custom_index(cluster, "ssd"), SSD);
    assert_int_equal(rt_cluster_custom_index(cluster, "tpu"), -1);
    assert_string_equal(rt_cluster_custom_name(cluster, FPGA), "fpga");
    assert_null(rt_cluster_custom_name(cluster, 2));
    assert_int_equal(rt_cluster_node_of(cluster, 5), 2);
    assert_int_equal(rt_cluster_node_of(cluster, 6), -1);
    assert_false(rt_cluster_is_dead(cluster, 3));
    rt_cluster_mark_dead(cluster, 3);
    assert_true(rt_cluster_is_dead(cluster, 3));
    assert_true(rt_cluster_is_dead(cluster, 6)); /* out of range: nothing can go there */
    rt_cluster_destroy(cluster);
}

static void test_totals(void **state)
{
    rt_cluster_t    *cluster = cluster_new(4, 0, 2, 4);
    rt_resvec_t      big     = {.cpus = 8, .gpus = 2, .memory = 4 * GIB, .custom = {[SSD] = 3}};
    rmpi_resources_t res;

    (void)state;
    set_rank_res(cluster, 2, 1, &big);
    rt_cluster_totals(cluster, &res);
    assert_true(res.cpus == 4 + 4 + 8 + 4);
    assert_true(res.gpus == 2);
    assert_int_equal(res.memory, 3 * GIB + 4 * GIB);
    assert_int_equal(res.num_custom, 2);
    assert_string_equal(res.custom[FPGA].name, "fpga");
    assert_string_equal(res.custom[SSD].name, "ssd");
    assert_true(res.custom[FPGA].amount == 0);
    assert_true(res.custom[SSD].amount == 3);

    rt_cluster_mark_dead(cluster, 2); /* only live ranks count */
    rt_cluster_totals(cluster, &res);
    assert_true(res.cpus == 12);
    assert_true(res.gpus == 0);
    assert_int_equal(res.memory, 3 * GIB);
    assert_true(res.custom[SSD].amount == 0);
    rt_cluster_destroy(cluster);
}

/* --- feasibility ------------------------------------------------------------ */

/* Ranks 0 and 1: 4 CPU; 2: 2 CPU and 1 GPU; 3: 2 CPU and 1 ssd; all 1 GiB. */
static rt_cluster_t *cluster_mixed(void)
{
    rt_cluster_t *cluster = cluster_new(4, 0, 2, 4);
    rt_resvec_t   gpu     = {.cpus = 2, .gpus = 1, .memory = GIB};
    rt_resvec_t   ssd     = {.cpus = 2, .memory = GIB, .custom = {[SSD] = 1}};

    set_rank_res(cluster, 2, 1, &gpu);
    set_rank_res(cluster, 3, 1, &ssd);
    return cluster;
}

static void test_infeasible_messages(void **state)
{
    rt_cluster_t  *cluster = cluster_mixed();
    rt_resvec_t    demand  = {0};
    rt_sched_req_t req     = {.demand = &demand};
    int            rank    = -1;

    (void)state;
    demand.gpus = 3;
    expect_infeasible(cluster, &req, "no rank has 3 GPU (largest: 1 on rank 2)");
    demand = (rt_resvec_t){.custom = {[FPGA] = 2}};
    expect_infeasible(cluster, &req, "no rank has 2 of custom resource 'fpga' (largest: 0)");
    demand = (rt_resvec_t){.cpus = 5, .gpus = 3}; /* the first resource short is named */
    expect_infeasible(cluster, &req, "no rank has 5 CPU (largest: 4 on rank 0)");
    demand = (rt_resvec_t){.cpus = 1.5, .memory = 2 * GIB};
    expect_infeasible(cluster, &req,
                      "no rank has 2147483648 bytes of memory (largest: 1073741824 on rank 0)");
    /* Each fits some rank, but no rank has both. */
    demand = (rt_resvec_t){.gpus = 1, .custom = {[SSD] = 0.5}};
    expect_infeasible(cluster, &req,
                      "no single rank has all of 1 GPU, 0.5 of custom resource 'ssd'");
    /* Every strategy checks feasibility first; a NULL why is allowed. */
    req.strategy      = RMPI_SCHED_RANK_AFFINITY;
    req.affinity_rank = 2;
    assert_int_equal(rt_sched_pick(cluster, &req, &rank, NULL, 0), RMPI_ERR_INFEASIBLE);
    req.strategy = RMPI_SCHED_SPREAD;
    expect_infeasible(cluster, &req,
                      "no single rank has all of 1 GPU, 0.5 of custom resource 'ssd'");

    /* The largest offer is among live ranks. */
    rt_cluster_mark_dead(cluster, 2);
    demand       = (rt_resvec_t){.gpus = 2};
    req.strategy = RMPI_SCHED_DEFAULT;
    expect_infeasible(cluster, &req, "no rank has 2 GPU (largest: 0)");
    rt_cluster_destroy(cluster);
}

static void test_feasible_ranks_only(void **state)
{
    rt_cluster_t  *cluster = cluster_mixed();
    rt_resvec_t    demand  = {.cpus = 1, .gpus = 1};
    rt_sched_req_t req     = {.demand = &demand};
    int            counts[MAX_RANKS];

    (void)state;
    pick_counts(cluster, &req, 200, counts);
    assert_int_equal(counts[2], 200);
    req.strategy = RMPI_SCHED_SPREAD;
    pick_counts(cluster, &req, 200, counts);
    assert_int_equal(counts[2], 200);

    /* 3 CPU: ranks 0 and 1 only; both get work. */
    demand       = (rt_resvec_t){.cpus = 3, .memory = GIB};
    req.strategy = RMPI_SCHED_DEFAULT;
    pick_pushed(cluster, &req, 400, counts);
    assert_int_equal(counts[0] + counts[1], 400);
    assert_true(counts[0] > 0 && counts[1] > 0);

    /* A NULL demand asks for nothing: every rank qualifies. */
    req.demand   = NULL;
    req.strategy = RMPI_SCHED_SPREAD;
    pick_counts(cluster, &req, 400, counts);
    for (int rank = 0; rank < 4; ++rank) {
        assert_int_equal(counts[rank], 100);
    }
    rt_cluster_destroy(cluster);
}

static void test_invalid_requests(void **state)
{
    rt_cluster_t  *cluster = cluster_new(4, 0, 2, 4);
    rt_resvec_t    demand  = {.cpus = -1};
    rt_sched_req_t req     = {.demand = &demand};
    int            rank    = -7;

    (void)state;
    expect_invalid(cluster, &req);
    demand = (rt_resvec_t){.gpus = NAN};
    expect_invalid(cluster, &req);
    demand = (rt_resvec_t){.cpus = NAN};
    expect_invalid(cluster, &req);
    demand = (rt_resvec_t){.custom = {[SSD] = -0.5}};
    expect_invalid(cluster, &req);
    demand = (rt_resvec_t){.custom = {[5] = 1}}; /* the job names only 2 */
    expect_invalid(cluster, &req);

    demand            = (rt_resvec_t){.cpus = 1};
    req.strategy      = RMPI_SCHED_NODE_AFFINITY;
    req.affinity_node = 2; /* nodes 0 and 1 */
    expect_invalid(cluster, &req);
    req.affinity_node = -1;
    req.soft          = true; /* soft does not excuse a bad argument */
    expect_invalid(cluster, &req);
    req.strategy      = RMPI_SCHED_RANK_AFFINITY;
    req.affinity_rank = 4;
    expect_invalid(cluster, &req);
    req.strategy = (rmpi_sched_strategy_t)9;
    expect_invalid(cluster, &req);

    req.strategy = RMPI_SCHED_DEFAULT;
    assert_int_equal(rt_sched_pick(cluster, NULL, &rank, NULL, 0), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rt_sched_pick(cluster, &req, NULL, NULL, 0), RMPI_ERR_INVALID_ARG);
    rt_cluster_destroy(cluster);
}

/* --- constraints ------------------------------------------------------------ */

static void test_rank_affinity(void **state)
{
    rt_cluster_t  *cluster = cluster_mixed();
    rt_resvec_t    demand  = {.cpus = 1};
    rt_sched_req_t req     = {
            .demand = &demand, .strategy = RMPI_SCHED_RANK_AFFINITY, .affinity_rank = 3};
    int counts[MAX_RANKS];

    (void)state;
    pick_counts(cluster, &req, 100, counts);
    assert_int_equal(counts[3], 100);

    /* Rank 1 has no GPU: hard fails, soft goes to the one rank with a GPU. */
    demand.gpus       = 1;
    req.affinity_rank = 1;
    expect_infeasible(cluster, &req, "rank 1 does not have 1 GPU (it has 0)");
    req.soft = true;
    pick_counts(cluster, &req, 100, counts);
    assert_int_equal(counts[2], 100);

    /* A dead rank: hard fails, soft goes anywhere else. */
    demand.gpus = 0;
    rt_cluster_mark_dead(cluster, 1);
    req.soft = false;
    expect_infeasible(cluster, &req, "rank 1 is dead");
    req.soft = true;
    pick_pushed(cluster, &req, 300, counts);
    assert_int_equal(counts[1], 0);
    assert_int_equal(counts[0] + counts[2] + counts[3], 300);
    assert_true(counts[0] > 0 && counts[2] > 0 && counts[3] > 0);
    rt_cluster_destroy(cluster);
}

static void test_node_affinity(void **state)
{
    rt_cluster_t  *cluster = NULL;
    rt_resvec_t    plain   = {.cpus = 2, .memory = GIB};
    rt_resvec_t    gpu     = {.cpus = 2, .gpus = 1, .memory = GIB};
    rt_resvec_t    demand  = {.cpus = 1};
    rt_sched_req_t req     = {
            .demand = &demand, .strategy = RMPI_SCHED_NODE_AFFINITY, .affinity_node = 1};
    int counts[MAX_RANKS];

    (void)state;
    /* Six ranks on two nodes, interleaved and set out of order; the GPU is on rank 4, node 0. */
    assert_int_equal(rt_cluster_create(6, 0, 2, custom_names, &cluster), RMPI_OK);
    for (int i = 0; i < 6; ++i) {
        int rank = (i * 5) % 6;

        set_rank_res(cluster, rank, rank % 2, rank == 4 ? &gpu : &plain);
    }
    set_rank_res(cluster, 3, 0, &plain); /* set again: moves to node 0 */
    set_rank_res(cluster, 3, 1, &plain); /* and back */
    assert_int_equal(rt_cluster_node_of(cluster, 3), 1);

    pick_pushed(cluster, &req, 600, counts);
    assert_int_equal(counts[1] + counts[3] + counts[5], 600);
    assert_true(counts[1] > 0 && counts[3] > 0 && counts[5] > 0);

    demand.gpus = 1;
    expect_infeasible(cluster, &req, "no rank on node 1 has 1 GPU (largest: 0)");
    req.soft = true;
    pick_counts(cluster, &req, 100, counts);
    assert_int_equal(counts[4], 100);

    /* Node 1 all dead: hard fails, soft spills to node 0. */
    demand.gpus = 0;
    rt_cluster_mark_dead(cluster, 1);
    rt_cluster_mark_dead(cluster, 3);
    rt_cluster_mark_dead(cluster, 5);
    req.soft = false;
    expect_infeasible(cluster, &req, "all ranks on node 1 that could run it are dead");
    req.soft = true;
    pick_pushed(cluster, &req, 300, counts);
    assert_int_equal(counts[0] + counts[2] + counts[4], 300);
    assert_true(counts[0] > 0 && counts[2] > 0 && counts[4] > 0);
    rt_cluster_destroy(cluster);
}

static void test_dead_ranks(void **state)
{
    rt_cluster_t  *cluster = cluster_mixed();
    rt_resvec_t    demand  = {.cpus = 1};
    rt_sched_req_t req     = {.demand = &demand};
    int            counts[MAX_RANKS];

    (void)state;
    rt_cluster_mark_dead(cluster, 0); /* the submitter itself, which ties prefer */
    rt_cluster_mark_dead(cluster, 3);
    pick_pushed(cluster, &req, 500, counts);
    assert_int_equal(counts[0] + counts[3], 0);
    assert_true(counts[1] > 0 && counts[2] > 0);
    req.strategy = RMPI_SCHED_SPREAD;
    pick_counts(cluster, &req, 500, counts);
    assert_int_equal(counts[0] + counts[3], 0);

    /* Only dead ranks have what it takes. */
    demand = (rt_resvec_t){.custom = {[SSD] = 1}};
    expect_infeasible(cluster, &req, "all ranks that could run it are dead");
    req.strategy = RMPI_SCHED_DEFAULT;
    expect_infeasible(cluster, &req, "all ranks that could run it are dead");

    rt_cluster_mark_dead(cluster, 1);
    rt_cluster_mark_dead(cluster, 2);
    req.demand = NULL;
    expect_infeasible(cluster, &req, "all ranks that could run it are dead");
    rt_cluster_destroy(cluster);
}

/* --- SPREAD -------------------------------------------------------------------- */

static void test_spread_round_robin(void **state)
{
    rt_cluster_t  *cluster           = cluster_new(5, 0, 5, 1);
    rt_resvec_t    demand            = {.cpus = 1};
    rt_sched_req_t req               = {.demand = &demand, .strategy = RMPI_SCHED_SPREAD};
    int            counts[MAX_RANKS] = {0};
    int            prev              = -1;

    (void)state;
    rt_cluster_load_report(cluster, 1, 50, 50); /* load does not matter to SPREAD */
    for (int i = 0; i < 1000; ++i) {
        int rank = -1;

        assert_int_equal(pick(cluster, &req, &rank, NULL), RMPI_OK);
        if (prev >= 0) {
            assert_int_equal(rank, (prev + 1) % 5);
        }
        counts[rank]++;
        prev = rank;
    }
    for (int rank = 0; rank < 5; ++rank) {
        assert_int_equal(counts[rank], 200);
    }

    /* Skip the dead and the infeasible, still strictly in turn. */
    rt_resvec_t ssd = {.cpus = 1, .memory = GIB, .custom = {[SSD] = 1}};
    for (int rank = 0; rank < 5; ++rank) {
        if (rank != 2) {
            set_rank_res(cluster, rank, 0, &ssd);
        }
    }
    rt_cluster_mark_dead(cluster, 4);
    demand.custom[SSD] = 1;
    prev               = -1;
    memset(counts, 0, sizeof(counts));
    for (int i = 0; i < 999; ++i) {
        static const int next_of[] = {[0] = 1, [1] = 3, [3] = 0};
        int              rank      = -1;

        assert_int_equal(pick(cluster, &req, &rank, NULL), RMPI_OK);
        assert_true(rank == 0 || rank == 1 || rank == 3);
        if (prev >= 0) {
            assert_int_equal(rank, next_of[prev]);
        }
        counts[rank]++;
        prev = rank;
    }
    assert_int_equal(counts[0], 333);
    assert_int_equal(counts[1], 333);
    assert_int_equal(counts[3], 333);
    rt_cluster_destroy(cluster);
}

/* --- DEFAULT: locality --------------------------------------------------------- */

static void test_locality(void **state)
{
    rt_cluster_t   *cluster  = cluster_new(4, 0, 2, 1); /* nodes {0, 1}, {2, 3} */
    rt_node_bytes_t where[2] = {{.node = 0, .bytes = 100}, {.node = 1, .bytes = 2 << 20}};
    rt_sched_req_t  req      = {.locality = where, .num_locality = 2};
    int             counts[MAX_RANKS];

    (void)state;
    pick_counts(cluster, &req, 1000, counts);
    assert_int_equal(counts[2] + counts[3], 1000);

    /* Too little to matter: load decides, and the submitter's own rank wins idle ties. */
    where[1].bytes = RT_SCHED_LOCALITY_MIN - 1;
    pick_counts(cluster, &req, 1000, counts);
    assert_true(counts[0] > 0);

    /* Equal bytes on two nodes: the submitter's own. */
    where[0].bytes = where[1].bytes = RT_SCHED_LOCALITY_MIN;
    pick_counts(cluster, &req, 200, counts);
    assert_int_equal(counts[0] + counts[1], 200);

    /* Loaded up to the spill-over limit, not beyond: stays, on the less loaded rank. */
    where[0].bytes = 0;
    rt_cluster_load_report(cluster, 2, 1, 1);
    rt_cluster_load_add(cluster, 3, 1);
    pick_counts(cluster, &req, 200, counts);
    assert_int_equal(counts[3], 200);

    /* Dead ranks are no candidates even with the data. */
    rt_cluster_mark_dead(cluster, 3);
    pick_counts(cluster, &req, 200, counts);
    assert_int_equal(counts[2], 200);

    /* Its live rank beyond the limit: every feasible rank is a candidate, load decides. */
    rt_cluster_load_report(cluster, 2, 2, 1);
    pick_counts(cluster, &req, 200, counts);
    assert_int_equal(counts[0] + counts[1], 200);
    rt_cluster_destroy(cluster);
}

/* A GPU task goes to the rank holding its device objects while that rank has room. */
static void test_device_rank(void **state)
{
    rt_cluster_t   *cluster = cluster_new(4, 0, 2, 1); /* nodes {0, 1}, {2, 3} */
    rt_resvec_t     gpu = {.cpus = 1, .gpus = 1, .memory = GIB}, demand = {.gpus = 0.5};
    rt_node_bytes_t where = {.node = 0, .bytes = 4 << 20}; /* host bytes pull elsewhere */
    rt_sched_req_t  req   = {.demand          = &demand,
                             .locality        = &where,
                             .num_locality    = 1,
                             .has_device_rank = true,
                             .device_rank     = 3};
    int             counts[MAX_RANKS];

    (void)state;
    for (int rank = 0; rank < 4; ++rank) {
        set_rank_res(cluster, rank, rank / 2, &gpu);
    }
    pick_counts(cluster, &req, 100, counts);
    assert_int_equal(counts[3], 100);

    /* A CPU task ignores it: node locality and load decide. */
    demand.gpus = 0;
    pick_counts(cluster, &req, 100, counts);
    assert_int_equal(counts[0] + counts[1], 100);

    /* The holder beyond the spill-over load: the rest of the job takes it. */
    demand.gpus = 0.5;
    rt_cluster_load_report(cluster, 3, 2, 1);
    pick_counts(cluster, &req, 100, counts);
    assert_int_equal(counts[3], 0);

    /* A dead holder is no candidate. */
    rt_cluster_load_report(cluster, 3, 0, 1);
    rt_cluster_mark_dead(cluster, 3);
    pick_counts(cluster, &req, 100, counts);
    assert_int_equal(counts[3], 0);
    rt_cluster_destroy(cluster);
}

/* Pick once for @a req and count the task as pushed there. */
static int pick_push(rt_cluster_t *cluster, const rt_sched_req_t *req)
{
    int rank = -1;

    assert_int_equal(pick(cluster, req, &rank, NULL), RMPI_OK);
    rt_cluster_load_add(cluster, rank, 1);
    return rank;
}

/* Tasks whose data is on node 1 fill its one rank up to the limit, then go by load. */
static void test_spill_over(void **state)
{
    rt_cluster_t   *cluster = cluster_new(2, 0, 1, 1); /* rank r on node r, 1 CPU each */
    rt_node_bytes_t where   = {.node = 1, .bytes = RT_SCHED_LOCALITY_MIN};
    rt_sched_req_t  req     = {.locality = &where, .num_locality = 1};
    /* Rank 1 takes tasks until it is beyond 2 per CPU; then the less loaded, ties to us. */
    static const int want[] = {1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0};

    (void)state;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); ++i) {
        assert_int_equal(pick_push(cluster, &req), want[i]);
    }
    rt_cluster_destroy(cluster);

    /* Per CPU: with 4 CPUs rank 1 takes 9 tasks (8 is 2 per CPU, not beyond). */
    cluster = cluster_new(2, 0, 1, 1);
    set_rank_res(cluster, 1, 1, &(rt_resvec_t){.cpus = 4, .memory = GIB});
    for (int i = 0; i < 9; ++i) {
        assert_int_equal(pick_push(cluster, &req), 1);
    }
    assert_int_equal(pick_push(cluster, &req), 0);
    rt_cluster_destroy(cluster);
}

/* --- DEFAULT: power of two choices ------------------------------------------- */

static void test_ties(void **state)
{
    rt_cluster_t  *cluster = cluster_new(2, 1, 2, 1);
    rt_resvec_t    demand  = {.cpus = 1};
    rt_sched_req_t req     = {.demand = &demand};
    int            counts[MAX_RANKS];

    (void)state;
    pick_counts(cluster, &req, 100, counts); /* both idle: the submitter */
    assert_int_equal(counts[1], 100);
    rt_cluster_load_add(cluster, 1, 1);
    pick_counts(cluster, &req, 100, counts);
    assert_int_equal(counts[0], 100);
    rt_cluster_destroy(cluster);

    /* The submitter cannot run it: ties go to the first drawn, so both get work. */
    cluster     = cluster_new(3, 0, 3, 4);
    demand.cpus = 2;
    set_rank_res(cluster, 0, 0, &(rt_resvec_t){.cpus = 1, .memory = GIB});
    pick_counts(cluster, &req, 300, counts);
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1] + counts[2], 300);
    assert_true(counts[1] > 50 && counts[2] > 50);

    /* Load is per CPU: rank 1 has 4 CPUs, rank 2 two. */
    rt_cluster_load_add(cluster, 1, 4);
    rt_cluster_load_report(cluster, 2, 1, 1);
    set_rank_res(cluster, 2, 0, &(rt_resvec_t){.cpus = 2, .memory = GIB});
    rt_cluster_load_add(cluster, 1, 1); /* 5/4 against 2/2 */
    pick_counts(cluster, &req, 100, counts);
    assert_int_equal(counts[2], 100);
    rt_cluster_load_add(cluster, 1, -2); /* 3/4 against 2/2 */
    pick_counts(cluster, &req, 100, counts);
    assert_int_equal(counts[1], 100);
    rt_cluster_destroy(cluster);
}

/*
 * A submitter keeping 64 tasks in flight over 8 equal ranks: each pick pushes
 * one, then the oldest finishes, and its rank reports its queue as it would
 * on TASK_DONE (late, as reports are). Returns the mean spread of in-flight
 * tasks between the most and the least busy rank, @a busy_rank left out.
 */
#define SIM_WINDOW 64
#define SIM_PICKS 100000
static double simulate(rt_cluster_t *cluster, int busy_rank, int *counts)
{
    rt_sched_req_t req                 = {0};
    int            ring[SIM_WINDOW]    = {0};
    int            inflight[MAX_RANKS] = {0};
    double         spread_sum          = 0;

    memset(counts, 0, MAX_RANKS * sizeof(*counts));
    for (int i = 0; i < SIM_PICKS; ++i) {
        int rank = -1, lo = INT32_MAX, hi = 0;

        if (i >= SIM_WINDOW) {
            int done = ring[i % SIM_WINDOW];

            inflight[done]--;
            rt_cluster_load_add(cluster, done, -1);
            rt_cluster_load_report(cluster, done, (uint32_t)inflight[done], 0);
        }
        assert_int_equal(pick(cluster, &req, &rank, NULL), RMPI_OK);
        rt_cluster_load_add(cluster, rank, 1);
        inflight[rank]++;
        ring[i % SIM_WINDOW] = rank;
        counts[rank]++;
        for (int r = 0; r < rt_cluster_size(cluster); ++r) {
            if (r != busy_rank) {
                lo = inflight[r] < lo ? inflight[r] : lo;
                hi = inflight[r] > hi ? inflight[r] : hi;
            }
        }
        spread_sum += hi - lo;
    }
    return spread_sum / SIM_PICKS;
}

/*
 * Random placement spreads the 64 tasks by 8 on average (measured), two
 * choices by 4.5 with late reports, 3.4 with none. The tie rule (the
 * submitter, then the lower rank) tilts the counts by up to 5% towards the
 * low ranks, so the band on counts is wider than random placement would need.
 */
static void test_balance(void **state)
{
    rt_cluster_t *cluster = cluster_new(8, 0, 4, 1);
    int           counts[MAX_RANKS];

    (void)state;
    assert_true(simulate(cluster, -1, counts) < 6.0);
    for (int rank = 0; rank < 8; ++rank) {
        assert_in_range(counts[rank], SIM_PICKS / 8 * 93 / 100, SIM_PICKS / 8 * 107 / 100);
    }
    rt_cluster_destroy(cluster);
}

static void test_loaded_rank_avoided(void **state)
{
    rt_cluster_t *cluster = cluster_new(8, 0, 4, 1);
    int           counts[MAX_RANKS];

    (void)state;
    /* Rank 3 is busy with other submitters' work: it loses every comparison. */
    rt_cluster_load_report(cluster, 3, 1000, 1);
    assert_true(simulate(cluster, 3, counts) < 6.0);
    assert_int_equal(counts[3], 0);
    for (int rank = 0; rank < 8; ++rank) {
        if (rank != 3) {
            assert_in_range(counts[rank], SIM_PICKS / 7 * 93 / 100, SIM_PICKS / 7 * 107 / 100);
        }
    }
    rt_cluster_destroy(cluster);
}

/* --- threads ------------------------------------------------------------------ */

#define THREADS 4
#define THREAD_PICKS 50000

typedef struct worker {
    rt_cluster_t      *cluster;
    pthread_barrier_t *barrier;
    int                id;
    int                counts[MAX_RANKS];
    int                after_death; /* picks of rank 7 once it was known dead */
    int                failures;    /* cmocka's asserts are for the main thread only */
} worker_t;

/* Push and finish tasks as a submitter does, a few in flight, with DEFAULT and SPREAD picks. */
static void worker_picks(worker_t *worker, int picks, int *after_death)
{
    rt_sched_req_t req      = {0};
    int            ring[16] = {0};

    for (int i = 0; i < picks; ++i) {
        int rank = -1;

        req.strategy = i % 8 == 0 ? RMPI_SCHED_SPREAD : RMPI_SCHED_DEFAULT;
        if (i >= 16) {
            rt_cluster_load_add(worker->cluster, ring[i % 16], -1);
        }
        if (pick(worker->cluster, &req, &rank, NULL) != RMPI_OK) {
            worker->failures++;
            rank = 0;
        }
        rt_cluster_load_add(worker->cluster, rank, 1);
        ring[i % 16] = rank;
        worker->counts[rank]++;
        if (after_death != NULL && rank == 7) {
            (*after_death)++;
        }
        if (worker->id == 0 && i % 64 == 0) {
            rt_cluster_load_report(worker->cluster, i % 8, (uint32_t)(i % 5), 1);
        }
        if (worker->id == 1 && i == picks / 2 && after_death == NULL) {
            rt_cluster_mark_dead(worker->cluster, 6); /* while the others pick */
        }
    }
    for (int i = picks - 16; i < picks; ++i) {
        rt_cluster_load_add(worker->cluster, ring[i % 16], -1);
    }
}

static void *worker_main(void *arg)
{
    worker_t *worker = arg;

    worker_picks(worker, THREAD_PICKS, NULL);
    pthread_barrier_wait(worker->barrier); /* the main thread marks rank 7 dead */
    pthread_barrier_wait(worker->barrier);
    worker_picks(worker, THREAD_PICKS, &worker->after_death);
    return NULL;
}

static void test_concurrent_picks(void **state)
{
    rt_cluster_t     *cluster = cluster_new(8, 0, 4, 2);
    worker_t          workers[THREADS];
    pthread_t         threads[THREADS];
    pthread_barrier_t barrier;
    rt_sched_req_t    req = {0};
    int               counts[MAX_RANKS];
    long              total = 0;

    (void)state;
    assert_int_equal(pthread_barrier_init(&barrier, NULL, THREADS + 1), 0);
    for (int i = 0; i < THREADS; ++i) {
        workers[i] = (worker_t){.cluster = cluster, .barrier = &barrier, .id = i};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    pthread_barrier_wait(&barrier);
    rt_cluster_mark_dead(cluster, 7);
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < THREADS; ++i) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].failures, 0);
        assert_int_equal(workers[i].after_death, 0);
        for (int rank = 0; rank < 8; ++rank) {
            total += workers[i].counts[rank];
        }
    }
    assert_int_equal(total, 2L * THREADS * THREAD_PICKS);
    pthread_barrier_destroy(&barrier);

    /*
     * Every task finished: with no count lost between threads the idle live
     * ranks tie, a pair goes to the submitter or the first drawn, so ranks 0
     * to 5 all get work and the dead ranks 6 and 7 none.
     */
    for (int rank = 0; rank < 8; ++rank) {
        rt_cluster_load_report(cluster, rank, 0, 0);
    }
    pick_counts(cluster, &req, 3000, counts);
    for (int rank = 0; rank < 6; ++rank) {
        assert_true(counts[rank] > 0);
    }
    assert_int_equal(counts[6] + counts[7], 0);
    rt_cluster_destroy(cluster);
}

typedef struct spreader {
    rt_cluster_t *cluster;
    int           counts[MAX_RANKS];
} spreader_t;

static void *spreader_main(void *arg)
{
    spreader_t    *spreader = arg;
    rt_sched_req_t req      = {.strategy = RMPI_SCHED_SPREAD};

    for (int i = 0; i < THREAD_PICKS; ++i) {
        int rank = -1;

        if (pick(spreader->cluster, &req, &rank, NULL) != RMPI_OK) {
            return arg; /* the main thread reports it: cmocka's asserts are not for threads */
        }
        spreader->counts[rank]++;
    }
    return NULL;
}

/* Round robin holds across threads: every turn is taken exactly once. */
static void test_concurrent_spread(void **state)
{
    rt_cluster_t *cluster = cluster_new(8, 3, 8, 1);
    spreader_t    spreaders[THREADS];
    pthread_t     threads[THREADS];

    (void)state;
    for (int i = 0; i < THREADS; ++i) {
        spreaders[i] = (spreader_t){.cluster = cluster};
        assert_int_equal(pthread_create(&threads[i], NULL, spreader_main, &spreaders[i]), 0);
    }
    for (int i = 0; i < THREADS; ++i) {
        void *failed = NULL;

        assert_int_equal(pthread_join(threads[i], &failed), 0);
        assert_null(failed);
    }
    for (int rank = 0; rank < 8; ++rank) {
        int sum = 0;

        for (int i = 0; i < THREADS; ++i) {
            sum += spreaders[i].counts[rank];
        }
        assert_int_equal(sum, THREADS * THREAD_PICKS / 8);
    }
    rt_cluster_destroy(cluster);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_totals),
        cmocka_unit_test(test_infeasible_messages),
        cmocka_unit_test(test_feasible_ranks_only),
        cmocka_unit_test(test_invalid_requests),
        cmocka_unit_test(test_rank_affinity),
        cmocka_unit_test(test_node_affinity),
        cmocka_unit_test(test_dead_ranks),
        cmocka_unit_test(test_spread_round_robin),
        cmocka_unit_test(test_locality),
        cmocka_unit_test(test_device_rank),
        cmocka_unit_test(test_spill_over),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_balance),
        cmocka_unit_test(test_loaded_rank_avoided),
        cmocka_unit_test(test_concurrent_picks),
        cmocka_unit_test(test_concurrent_spread),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
