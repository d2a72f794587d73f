/*
 * Unit tests of runtime/pg_place.c: the placement policy of placement groups on
 * simulated clusters (ranks with resources on logical nodes): each strategy's node
 * rules, the choice of ranks inside a node, atomicity (no placement on failure),
 * dead ranks, custom resources, and the reasons given for groups that do not fit.
 */
#include "runtime/pg_place.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_RANKS 64

typedef struct sim {
    int           num_ranks;
    int           node[MAX_RANKS];
    rt_resvec_t   avail[MAX_RANKS];
    bool          dead[MAX_RANKS];
    rt_pg_ranks_t in;
    void         *scratch;
    char          why[256];
} sim_t;

static const char *const custom_names[] = {"widget", "fpga"};

/* @a nodes nodes of @a per_node ranks, each with @a cpus CPUs and 1 widget. */
static void sim_init(sim_t *s, int nodes, int per_node, double cpus)
{
    memset(s, 0, sizeof(*s));
    s->num_ranks = nodes * per_node;
    assert_true(s->num_ranks <= MAX_RANKS);
    for (int r = 0; r < s->num_ranks; r++) {
        s->node[r]            = r / per_node;
        s->avail[r].cpus      = cpus;
        s->avail[r].memory    = 1 << 20;
        s->avail[r].custom[0] = 1;
    }
    s->in = (rt_pg_ranks_t){
        .num_ranks    = s->num_ranks,
        .node         = s->node,
        .avail        = s->avail,
        .dead         = s->dead,
        .num_custom   = 2,
        .custom_names = custom_names,
    };
    s->scratch = malloc(rt_pg_place_scratch_size(s->num_ranks));
    assert_non_null(s->scratch);
}

static void sim_fini(sim_t *s)
{
    free(s->scratch);
}

static rt_resvec_t cpus(double n)
{
    rt_resvec_t v;

    memset(&v, 0, sizeof(v));
    v.cpus = n;
    return v;
}

static rmpi_status_t place(sim_t *s, rmpi_pg_strategy_t strategy, const rt_resvec_t *bundles,
                           size_t n, int *ranks)
{
    s->why[0] = '\0';
    return rt_pg_place(&s->in, strategy, bundles, n, s->scratch, ranks, s->why, sizeof(s->why));
}

/* Every placement respects the amounts: what each rank gives adds up within its avail. */
static void assert_within(const sim_t *s, const rt_resvec_t *bundles, size_t n, const int *ranks)
{
    rt_resvec_t used[MAX_RANKS];

    memset(used, 0, sizeof(used));
    for (size_t b = 0; b < n; b++) {
        assert_true(ranks[b] >= 0 && ranks[b] < s->num_ranks);
        assert_false(s->dead[ranks[b]]);
        used[ranks[b]].cpus += bundles[b].cpus;
        used[ranks[b]].gpus += bundles[b].gpus;
        used[ranks[b]].memory += bundles[b].memory;
        used[ranks[b]].custom[0] += bundles[b].custom[0];
        used[ranks[b]].custom[1] += bundles[b].custom[1];
    }
    for (int r = 0; r < s->num_ranks; r++) {
        assert_true(rt_pg_fits(&used[r], &s->avail[r], 2));
    }
}

static int distinct_nodes(const sim_t *s, const int *ranks, size_t n)
{
    bool seen[MAX_RANKS] = {false};
    int  count           = 0;

    for (size_t b = 0; b < n; b++) {
        count += !seen[s->node[ranks[b]]];
        seen[s->node[ranks[b]]] = true;
    }
    return count;
}

static int distinct_ranks(const int *ranks, size_t n)
{
    bool seen[MAX_RANKS] = {false};
    int  count           = 0;

    for (size_t b = 0; b < n; b++) {
        count += !seen[ranks[b]];
        seen[ranks[b]] = true;
    }
    return count;
}

/* --- strategies ------------------------------------------------------------------ */

/* PACK: one node when one can hold the group, its ranks first (distinct ranks). */
static void test_pack_one_node(void **state)
{
    sim_t       s;
    rt_resvec_t b[3] = {cpus(1), cpus(1), cpus(1)};
    int         ranks[3];

    (void)state;
    sim_init(&s, 3, 4, 2);
    assert_int_equal(place(&s, RMPI_PG_PACK, b, 3, ranks), RMPI_OK);
    assert_within(&s, b, 3, ranks);
    assert_int_equal(distinct_nodes(&s, ranks, 3), 1);
    assert_int_equal(distinct_ranks(ranks, 3), 3);
    assert_int_equal(s.node[ranks[0]], 0); /* the first node that can hold it */
    sim_fini(&s);
}

/* PACK: a node that cannot hold everything is skipped for one that can. */
static void test_pack_skips_small_node(void **state)
{
    sim_t       s;
    rt_resvec_t b[3] = {cpus(2), cpus(2), cpus(2)};
    int         ranks[3];

    (void)state;
    sim_init(&s, 2, 2, 2);
    s.node[2] = s.node[3] = 1;
    /* node 0: ranks 0, 1 (4 CPUs); node 1: ranks 2, 3, and rank 1 moves there */
    s.node[1] = 1;
    assert_int_equal(place(&s, RMPI_PG_PACK, b, 3, ranks), RMPI_OK);
    assert_within(&s, b, 3, ranks);
    assert_int_equal(distinct_nodes(&s, ranks, 3), 1);
    assert_int_equal(s.node[ranks[0]], 1);
    sim_fini(&s);
}

/* PACK spills over to as few further nodes as it can when no node holds all of it. */
static void test_pack_spills(void **state)
{
    sim_t       s;
    rt_resvec_t b[5] = {cpus(2), cpus(2), cpus(2), cpus(2), cpus(2)};
    int         ranks[5];

    (void)state;
    sim_init(&s, 3, 2, 2); /* 3 nodes of 4 CPUs */
    assert_int_equal(place(&s, RMPI_PG_PACK, b, 5, ranks), RMPI_OK);
    assert_within(&s, b, 5, ranks);
    assert_int_equal(distinct_nodes(&s, ranks, 5), 3);
    assert_int_equal(place(&s, RMPI_PG_PACK, b, 4, ranks), RMPI_OK);
    assert_int_equal(distinct_nodes(&s, ranks, 4), 2);
    sim_fini(&s);
}

static void test_strict_pack(void **state)
{
    sim_t       s;
    rt_resvec_t b[5] = {cpus(1), cpus(1), cpus(1), cpus(1), cpus(1)};
    int         ranks[5];

    (void)state;
    sim_init(&s, 2, 2, 2); /* 2 nodes of 4 CPUs */
    assert_int_equal(place(&s, RMPI_PG_STRICT_PACK, b, 4, ranks), RMPI_OK);
    assert_within(&s, b, 4, ranks);
    assert_int_equal(distinct_nodes(&s, ranks, 4), 1);
    assert_int_equal(place(&s, RMPI_PG_STRICT_PACK, b, 5, ranks), RMPI_ERR_NO_RESOURCE);
    assert_non_null(strstr(s.why, "STRICT_PACK"));
    /* PACK places the same group over two nodes */
    assert_int_equal(place(&s, RMPI_PG_PACK, b, 5, ranks), RMPI_OK);
    assert_int_equal(distinct_nodes(&s, ranks, 5), 2);
    sim_fini(&s);
}

/* SPREAD: distinct nodes first, then distinct ranks, then doubles up. */
static void test_spread(void **state)
{
    sim_t       s;
    rt_resvec_t b[6] = {cpus(1), cpus(1), cpus(1), cpus(1), cpus(1), cpus(1)};
    int         ranks[6];

    (void)state;
    sim_init(&s, 2, 2, 2);
    assert_int_equal(place(&s, RMPI_PG_SPREAD, b, 2, ranks), RMPI_OK);
    assert_int_equal(distinct_nodes(&s, ranks, 2), 2);
    assert_int_equal(place(&s, RMPI_PG_SPREAD, b, 4, ranks), RMPI_OK);
    assert_int_equal(distinct_ranks(ranks, 4), 4);
    assert_int_equal(place(&s, RMPI_PG_SPREAD, b, 6, ranks), RMPI_OK);
    assert_within(&s, b, 6, ranks);
    assert_int_equal(distinct_ranks(ranks, 6), 4);
    sim_fini(&s);
}

/* SPREAD on one node: distinct ranks (what a gang of MPI tasks needs). */
static void test_spread_one_node(void **state)
{
    sim_t       s;
    rt_resvec_t b[4] = {cpus(1), cpus(1), cpus(1), cpus(1)};
    int         ranks[4];

    (void)state;
    sim_init(&s, 1, 4, 2);
    assert_int_equal(place(&s, RMPI_PG_SPREAD, b, 4, ranks), RMPI_OK);
    assert_int_equal(distinct_ranks(ranks, 4), 4);
    sim_fini(&s);
}

static void test_strict_spread(void **state)
{
    sim_t       s;
    rt_resvec_t b[4] = {cpus(1), cpus(1), cpus(1), cpus(1)};
    int         ranks[4];

    (void)state;
    sim_init(&s, 3, 2, 2);
    assert_int_equal(place(&s, RMPI_PG_STRICT_SPREAD, b, 3, ranks), RMPI_OK);
    assert_within(&s, b, 3, ranks);
    assert_int_equal(distinct_nodes(&s, ranks, 3), 3);
    assert_int_equal(place(&s, RMPI_PG_STRICT_SPREAD, b, 4, ranks), RMPI_ERR_NO_RESOURCE);
    assert_non_null(strstr(s.why, "4 distinct nodes"));
    /* a node without room for its bundle does not count */
    s.avail[4].cpus = s.avail[5].cpus = 0.5;
    assert_int_equal(place(&s, RMPI_PG_STRICT_SPREAD, b, 3, ranks), RMPI_ERR_NO_RESOURCE);
    assert_non_null(strstr(s.why, "node of its own"));
    sim_fini(&s);
}

/* --- amounts ------------------------------------------------------------------------- */

/* A bundle goes to one rank: 3 CPUs fit no rank of 2, even on a node with 4. */
static void test_bundle_on_one_rank(void **state)
{
    sim_t       s;
    rt_resvec_t b[1] = {cpus(3)};
    int         ranks[1];

    (void)state;
    sim_init(&s, 1, 2, 2);
    assert_int_equal(place(&s, RMPI_PG_PACK, b, 1, ranks), RMPI_ERR_NO_RESOURCE);
    assert_non_null(strstr(s.why, "bundle 0"));
    assert_non_null(strstr(s.why, "3 CPU"));
    assert_non_null(strstr(s.why, "no rank has more than 2"));
    sim_fini(&s);
}

static void test_custom_and_memory(void **state)
{
    sim_t       s;
    rt_resvec_t b[2];
    int         ranks[2];

    (void)state;
    sim_init(&s, 2, 2, 2);
    memset(b, 0, sizeof(b));
    b[0].custom[0] = 1;
    b[1].custom[0] = 1;
    b[1].memory    = 1 << 19;
    assert_int_equal(place(&s, RMPI_PG_STRICT_PACK, b, 2, ranks), RMPI_OK);
    assert_within(&s, b, 2, ranks);
    assert_int_not_equal(ranks[0], ranks[1]); /* one widget each */
    b[1].custom[1] = 1;                       /* no rank has an fpga */
    assert_int_equal(place(&s, RMPI_PG_PACK, b, 2, ranks), RMPI_ERR_NO_RESOURCE);
    assert_non_null(strstr(s.why, "fpga"));
    b[1].custom[1] = 0;
    b[1].memory    = 2 << 20;
    assert_int_equal(place(&s, RMPI_PG_PACK, b, 2, ranks), RMPI_ERR_NO_RESOURCE);
    assert_non_null(strstr(s.why, "memory"));
    sim_fini(&s);
}

/* Within a node, the rank with the most room left wins; then the lowest. */
static void test_rank_choice(void **state)
{
    sim_t       s;
    rt_resvec_t b[1] = {cpus(1)};
    int         ranks[1];

    (void)state;
    sim_init(&s, 1, 3, 2);
    assert_int_equal(place(&s, RMPI_PG_PACK, b, 1, ranks), RMPI_OK);
    assert_int_equal(ranks[0], 0);
    s.avail[0].cpus = 1;
    s.avail[2].cpus = 4;
    assert_int_equal(place(&s, RMPI_PG_PACK, b, 1, ranks), RMPI_OK);
    assert_int_equal(ranks[0], 2);
    sim_fini(&s);
}

/* Placement takes what it placed: two bundles that each fit a rank may not fit together. */
static void test_atomic_fit(void **state)
{
    sim_t       s;
    rt_resvec_t b[3] = {cpus(1.5), cpus(1.5), cpus(1.5)};
    int         ranks[3];

    (void)state;
    sim_init(&s, 1, 2, 2);
    assert_int_equal(place(&s, RMPI_PG_PACK, b, 2, ranks), RMPI_OK);
    assert_int_not_equal(ranks[0], ranks[1]);
    assert_int_equal(place(&s, RMPI_PG_PACK, b, 3, ranks), RMPI_ERR_NO_RESOURCE);
    assert_non_null(strstr(s.why, "bundle 2"));
    /* the input amounts are untouched by either call */
    assert_true(s.avail[0].cpus == 2 && s.avail[1].cpus == 2);
    sim_fini(&s);
}

static void test_dead_ranks(void **state)
{
    sim_t       s;
    rt_resvec_t b[2] = {cpus(1), cpus(1)};
    int         ranks[2];

    (void)state;
    sim_init(&s, 2, 1, 2);
    s.dead[1] = true;
    assert_int_equal(place(&s, RMPI_PG_STRICT_SPREAD, b, 2, ranks), RMPI_ERR_NO_RESOURCE);
    assert_int_equal(place(&s, RMPI_PG_SPREAD, b, 2, ranks), RMPI_OK);
    assert_true(ranks[0] == 0 && ranks[1] == 0);
    s.dead[0] = true;
    assert_int_equal(place(&s, RMPI_PG_PACK, b, 1, ranks), RMPI_ERR_NO_RESOURCE);
    sim_fini(&s);
}

static void test_bad_input(void **state)
{
    sim_t       s;
    rt_resvec_t b[1] = {cpus(1)};
    int         ranks[1];

    (void)state;
    sim_init(&s, 1, 2, 2);
    assert_int_equal(place(&s, (rmpi_pg_strategy_t)9, b, 1, ranks), RMPI_ERR_INVALID_ARG);
    assert_int_equal(place(&s, RMPI_PG_PACK, b, 0, ranks), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rt_pg_place(&s.in, RMPI_PG_PACK, b, 1, NULL, ranks, NULL, 0),
                     RMPI_ERR_INVALID_ARG);
    s.node[1] = 7; /* beyond num_ranks */
    assert_int_equal(place(&s, RMPI_PG_PACK, b, 1, ranks), RMPI_ERR_INVALID_ARG);
    sim_fini(&s);
}

/* Many groups in a row on one scratch space, each placed the same way (no state kept). */
static void test_repeatable(void **state)
{
    sim_t       s;
    rt_resvec_t b[2] = {cpus(1), cpus(1)};
    int         first[2], ranks[2];

    (void)state;
    sim_init(&s, 4, 4, 2);
    assert_int_equal(place(&s, RMPI_PG_SPREAD, b, 2, first), RMPI_OK);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(place(&s, RMPI_PG_SPREAD, b, 2, ranks), RMPI_OK);
        assert_memory_equal(ranks, first, sizeof(first));
    }
    sim_fini(&s);
}

static void test_format_bundle(void **state)
{
    rt_resvec_t v;
    char        buf[128];

    (void)state;
    memset(&v, 0, sizeof(v));
    v.cpus      = 1;
    v.gpus      = 0.5;
    v.memory    = 1024;
    v.custom[1] = 2;
    rt_pg_format_bundle(&v, 2, custom_names, buf, sizeof(buf));
    assert_string_equal(buf, "{CPU: 1, GPU: 0.5, memory: 1024, fpga: 2}");
    rt_pg_format_bundle(&v, 2, NULL, buf, 12);
    assert_true(strlen(buf) < 12);
    memset(&v, 0, sizeof(v));
    rt_pg_format_bundle(&v, 2, custom_names, buf, sizeof(buf));
    assert_string_equal(buf, "{}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_one_node),
        cmocka_unit_test(test_pack_skips_small_node),
        cmocka_unit_test(test_pack_spills),
        cmocka_unit_test(test_strict_pack),
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_spread_one_node),
        cmocka_unit_test(test_strict_spread),
        cmocka_unit_test(test_bundle_on_one_rank),
        cmocka_unit_test(test_custom_and_memory),
        cmocka_unit_test(test_rank_choice),
        cmocka_unit_test(test_atomic_fit),
        cmocka_unit_test(test_dead_ranks),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_repeatable),
        cmocka_unit_test(test_format_bundle),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
