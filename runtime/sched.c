/*
 * runtime/sched.c - the submitter's cluster view and the placement policy.
 *
 * Two arrays per view. What wire-up fixes (node, total resources) is read-only
 * on the pick path; what changes while tasks run (the two load figures and the
 * dead flag) is atomic and takes one cache line per rank, so that submitters
 * counting tasks to one rank do not slow the reads of its neighbours.
 *
 * Picking never walks the whole cluster when it need not: a demand within the
 * smallest rank's totals fits everywhere (no per-rank test), and candidates are
 * drawn at random with rejection (dead or too small: draw again). Only when a
 * few draws miss - few candidates in a large scope - does a pick scan its
 * scope, sampling from it exactly (reservoir sampling), so the choice stays
 * uniform either way. Explaining INFEASIBLE scans too; it is the error path.
 *
 * A rank not set yet has no resources and sits on node 0.
 */
#include "runtime/sched.h"

#include "base/log.h"

#include <inttypes.h>
#include <math.h> /* INFINITY */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCHED_CACHE_LINE 64
/** Random draws of a candidate before falling back to a scan of the scope. */
#define SCHED_SAMPLE_TRIES 8
#define SCHED_REASON_MAX 256

/* Resource kinds, in the order an INFEASIBLE message looks at them; custom i is CUSTOM + i. */
enum { SCHED_KIND_CPU, SCHED_KIND_GPU, SCHED_KIND_MEMORY, SCHED_KIND_CUSTOM };

typedef struct sched_rank_info {
    int         node;
    bool        known;    /* set by rt_cluster_set_rank */
    double      inv_cpus; /* 1 / max(cpus, 1): load is counted per CPU */
    rt_resvec_t total;
} sched_rank_info_t;

typedef struct sched_rank_state {
    _Alignas(SCHED_CACHE_LINE) atomic_int outstanding; /* pushed by us, not seen done */
    atomic_uint reported;                              /* queued + running, as it said */
    atomic_bool dead;
} sched_rank_state_t;

struct rt_cluster {
    int                 num_ranks;
    int                 self;
    int                 num_nodes; /* highest node holding a rank, plus one */
    int                 num_known;
    size_t              num_custom;
    char                custom_names[RT_SCHED_MAX_CUSTOM][RMPI_RESOURCE_NAME_MAX];
    rt_resvec_t         min_total; /* over known ranks: a demand within it fits everywhere */
    rt_resvec_t         max_total; /* over all ranks: a demand beyond it fits nowhere */
    sched_rank_info_t  *info;
    sched_rank_state_t *state;
    int                *by_node;     /* ranks sorted by (node, rank) */
    int                *node_start;  /* node n holds by_node[node_start[n] .. node_start[n + 1]) */
    atomic_int          spread_last; /* the rank SPREAD sent to last */
};

/* Ranks a pick chooses among: all of them, or one node's. */
typedef struct sched_scope {
    const int *ranks; /* NULL: every rank, 0 .. count - 1 */
    int        count;
    int        node; /* the node, for messages; -1 for the whole cluster */
} sched_scope_t;

typedef struct sched_ctx {
    rt_cluster_t      *cluster;
    const rt_resvec_t *demand;
    bool               fits_all; /* the demand fits every rank: skip the per-rank test */
} sched_ctx_t;

static const rt_resvec_t sched_no_demand;

/* --- random numbers ------------------------------------------------------ */

static _Thread_local uint64_t sched_rng_state;
static atomic_uint_fast64_t   sched_rng_seeds;

static uint64_t sched_splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Threads seeded in the same nanosecond still differ: each takes its own counter value. */
static uint64_t sched_rng_seed(void)
{
    struct timespec now;
    uint64_t        count = atomic_fetch_add_explicit(&sched_rng_seeds, 1, memory_order_relaxed);

    clock_gettime(CLOCK_MONOTONIC, &now);
    return sched_splitmix64(count ^ ((uint64_t)now.tv_sec << 32) ^ (uint64_t)now.tv_nsec) | 1;
}

/* xorshift64*: a few cycles, good enough to pick ranks, and per thread so never contended. */
static uint64_t sched_rng_next(void)
{
    uint64_t x = sched_rng_state;

    if (x == 0) {
        x = sched_rng_seed();
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    sched_rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, n) for n < 2^31, by multiplication rather than a division. */
static int sched_rng_below(int n)
{
    return (int)(((sched_rng_next() >> 32) * (uint64_t)n) >> 32);
}

/* --- resources ----------------------------------------------------------- */

static size_t sched_num_kinds(const rt_cluster_t *cluster)
{
    return SCHED_KIND_CUSTOM + cluster->num_custom;
}

/* Whether @a a has more of resource @a kind than @a b (memory compared exactly). */
static bool sched_kind_exceeds(const rt_resvec_t *a, const rt_resvec_t *b, size_t kind)
{
    switch (kind) {
    case SCHED_KIND_CPU:
        return a->cpus > b->cpus;
    case SCHED_KIND_GPU:
        return a->gpus > b->gpus;
    case SCHED_KIND_MEMORY:
        return a->memory > b->memory;
    default:
        return a->custom[kind - SCHED_KIND_CUSTOM] > b->custom[kind - SCHED_KIND_CUSTOM];
    }
}

static bool sched_fits(const rt_cluster_t *cluster, const rt_resvec_t *demand,
                       const rt_resvec_t *total)
{
    for (size_t kind = 0; kind < sched_num_kinds(cluster); ++kind) {
        if (sched_kind_exceeds(demand, total, kind)) {
            return false;
        }
    }
    return true;
}

/* "3", or with @a named "3 GPU", "1024 bytes of memory", "2 of custom resource 'fpga'". */
static void sched_format_amount(const rt_cluster_t *cluster, const rt_resvec_t *vec, size_t kind,
                                bool named, char *buf, size_t len)
{
    int used;

    if (kind == SCHED_KIND_MEMORY) {
        used = snprintf(buf, len, "%" PRIu64, vec->memory);
    } else if (kind == SCHED_KIND_CPU || kind == SCHED_KIND_GPU) {
        used = snprintf(buf, len, "%g", kind == SCHED_KIND_CPU ? vec->cpus : vec->gpus);
    } else {
        used = snprintf(buf, len, "%g", vec->custom[kind - SCHED_KIND_CUSTOM]);
    }
    if (!named || used < 0 || (size_t)used >= len) {
        return;
    }
    buf += used;
    len -= (size_t)used;
    switch (kind) {
    case SCHED_KIND_CPU:
        snprintf(buf, len, " CPU");
        break;
    case SCHED_KIND_GPU:
        snprintf(buf, len, " GPU");
        break;
    case SCHED_KIND_MEMORY:
        snprintf(buf, len, " bytes of memory");
        break;
    default:
        snprintf(buf, len, " of custom resource '%s'",
                 cluster->custom_names[kind - SCHED_KIND_CUSTOM]);
        break;
    }
}

/* Not fmin/fmax: the runtime does not link libm for two comparisons. */
static double sched_min(double a, double b)
{
    return b < a ? b : a;
}

static double sched_max(double a, double b)
{
    return b > a ? b : a;
}

static void sched_widen_bounds(rt_cluster_t *cluster, const rt_resvec_t *total)
{
    rt_resvec_t *min = &cluster->min_total, *max = &cluster->max_total;

    min->cpus   = sched_min(min->cpus, total->cpus);
    min->gpus   = sched_min(min->gpus, total->gpus);
    min->memory = total->memory < min->memory ? total->memory : min->memory;
    max->cpus   = sched_max(max->cpus, total->cpus);
    max->gpus   = sched_max(max->gpus, total->gpus);
    max->memory = total->memory > max->memory ? total->memory : max->memory;
    for (size_t i = 0; i < cluster->num_custom; ++i) {
        min->custom[i] = sched_min(min->custom[i], total->custom[i]);
        max->custom[i] = sched_max(max->custom[i], total->custom[i]);
    }
}

/* Unset ranks have nothing, so the maximum starts at zero; the minimum counts known ranks. */
static void sched_reset_bounds(rt_cluster_t *cluster)
{
    memset(&cluster->max_total, 0, sizeof(cluster->max_total));
    cluster->min_total.cpus   = INFINITY;
    cluster->min_total.gpus   = INFINITY;
    cluster->min_total.memory = UINT64_MAX;
    for (size_t i = 0; i < RT_SCHED_MAX_CUSTOM; ++i) {
        cluster->min_total.custom[i] = INFINITY;
    }
}

static bool sched_valid_amount(double amount)
{
    return amount >= 0; /* false for NaN too */
}

/* --- the node index ---------------------------------------------------------- */

/* Where @a rank is, or would go, in @a node's slice of by_node. */
static int sched_index_find(const rt_cluster_t *cluster, int node, int rank)
{
    int lo = cluster->node_start[node], hi = cluster->node_start[node + 1];

    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;

        if (cluster->by_node[mid] < rank) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Move @a rank from node @a from to node @a to: take it out, then put it in. */
static void sched_index_move(rt_cluster_t *cluster, int rank, int from, int to)
{
    int *ranks = cluster->by_node;
    int  last  = cluster->num_ranks - 1;
    int  pos   = sched_index_find(cluster, from, rank);

    memmove(&ranks[pos], &ranks[pos + 1], (size_t)(last - pos) * sizeof(*ranks));
    for (int node = from + 1; node <= cluster->num_ranks; ++node) {
        cluster->node_start[node]--;
    }
    pos = sched_index_find(cluster, to, rank);
    memmove(&ranks[pos + 1], &ranks[pos], (size_t)(last - pos) * sizeof(*ranks));
    ranks[pos] = rank;
    for (int node = to + 1; node <= cluster->num_ranks; ++node) {
        cluster->node_start[node]++;
    }

    if (to >= cluster->num_nodes) {
        cluster->num_nodes = to + 1;
    }
    while (cluster->num_nodes > 1 &&
           cluster->node_start[cluster->num_nodes - 1] == cluster->node_start[cluster->num_nodes]) {
        cluster->num_nodes--;
    }
}

/* --- the view ------------------------------------------------------------ */

static rmpi_status_t sched_check_custom_names(size_t num_custom, const char *const *names)
{
    if (num_custom > RT_SCHED_MAX_CUSTOM || (num_custom > 0 && names == NULL)) {
        base_error("cluster view: %zu custom resources (at most %d)", num_custom,
                   RT_SCHED_MAX_CUSTOM);
        return RMPI_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < num_custom; ++i) {
        if (names[i] == NULL || names[i][0] == '\0' || strlen(names[i]) >= RMPI_RESOURCE_NAME_MAX) {
            base_error("cluster view: custom resource %zu has no name or one of %d+ bytes", i,
                       RMPI_RESOURCE_NAME_MAX);
            return RMPI_ERR_INVALID_ARG;
        }
        for (size_t j = 0; j < i; ++j) {
            if (strcmp(names[i], names[j]) == 0) {
                base_error("cluster view: custom resource '%s' named twice", names[i]);
                return RMPI_ERR_INVALID_ARG;
            }
        }
    }
    return RMPI_OK;
}

rmpi_status_t rt_cluster_create(int num_ranks, int self, size_t num_custom,
                                const char *const *custom_names, rt_cluster_t **cluster_p)
{
    rt_cluster_t *cluster;
    size_t        state_size;

    if (cluster_p == NULL || num_ranks < 1 || self < 0 || self >= num_ranks) {
        base_error("cluster view: bad arguments (%d ranks, self %d)", num_ranks, self);
        return RMPI_ERR_INVALID_ARG;
    }
    if (sched_check_custom_names(num_custom, custom_names) != RMPI_OK) {
        return RMPI_ERR_INVALID_ARG;
    }

    cluster    = calloc(1, sizeof(*cluster));
    state_size = (size_t)num_ranks * sizeof(sched_rank_state_t); /* a multiple of the alignment */
    if (cluster == NULL ||
        (cluster->info = calloc((size_t)num_ranks, sizeof(*cluster->info))) == NULL ||
        (cluster->state = aligned_alloc(SCHED_CACHE_LINE, state_size)) == NULL ||
        (cluster->by_node = malloc((size_t)num_ranks * sizeof(int))) == NULL ||
        (cluster->node_start = malloc(((size_t)num_ranks + 1) * sizeof(int))) == NULL) {
        base_error("cluster view of %d ranks: out of memory", num_ranks);
        rt_cluster_destroy(cluster);
        return RMPI_ERR_NO_MEMORY;
    }

    cluster->num_ranks  = num_ranks;
    cluster->self       = self;
    cluster->num_nodes  = 1;
    cluster->num_custom = num_custom;
    for (size_t i = 0; i < num_custom; ++i) {
        strcpy(cluster->custom_names[i], custom_names[i]); /* length checked above */
    }
    sched_reset_bounds(cluster);
    cluster->node_start[0] = 0;
    for (int rank = 0; rank < num_ranks; ++rank) {
        cluster->info[rank].inv_cpus  = 1.0;
        cluster->by_node[rank]        = rank;
        cluster->node_start[rank + 1] = num_ranks; /* everyone on node 0 until set */
        atomic_init(&cluster->state[rank].outstanding, 0);
        atomic_init(&cluster->state[rank].reported, 0);
        atomic_init(&cluster->state[rank].dead, false);
    }
    /* SPREAD starts after the submitter, so submitters started together do not all pick rank 0
     * first. */
    atomic_init(&cluster->spread_last, self);

    *cluster_p = cluster;
    return RMPI_OK;
}

void rt_cluster_destroy(rt_cluster_t *cluster)
{
    if (cluster == NULL) {
        return;
    }
    free(cluster->node_start);
    free(cluster->by_node);
    free(cluster->state);
    free(cluster->info);
    free(cluster);
}

static bool sched_valid_total(const rt_cluster_t *cluster, const rt_resvec_t *total)
{
    if (!sched_valid_amount(total->cpus) || !sched_valid_amount(total->gpus)) {
        return false;
    }
    for (size_t i = 0; i < cluster->num_custom; ++i) {
        if (!sched_valid_amount(total->custom[i])) {
            return false;
        }
    }
    return true;
}

void rt_cluster_set_rank(rt_cluster_t *cluster, int rank, const rt_rank_res_t *res)
{
    sched_rank_info_t *info;
    bool               was_known;

    if (cluster == NULL || res == NULL || rank < 0 || rank >= cluster->num_ranks) {
        base_error("cluster view: cannot set rank %d", rank);
        return;
    }
    if (res->node < 0 || res->node >= cluster->num_ranks ||
        !sched_valid_total(cluster, &res->total)) {
        base_error("cluster view: rank %d has node %d or negative resources; ignored", rank,
                   res->node);
        return;
    }

    info      = &cluster->info[rank];
    was_known = info->known;
    if (info->node != res->node) {
        sched_index_move(cluster, rank, info->node, res->node);
    }
    info->node     = res->node;
    info->known    = true;
    info->total    = res->total;
    info->inv_cpus = 1.0 / sched_max(res->total.cpus, 1.0);

    if (!was_known) {
        cluster->num_known++;
        sched_widen_bounds(cluster, &info->total);
        return;
    }
    /* Set again (rare): its old totals may have been a bound. */
    sched_reset_bounds(cluster);
    for (int other = 0; other < cluster->num_ranks; ++other) {
        if (cluster->info[other].known) {
            sched_widen_bounds(cluster, &cluster->info[other].total);
        }
    }
}

int rt_cluster_size(const rt_cluster_t *cluster)
{
    return cluster->num_ranks;
}

static bool sched_valid_rank(const rt_cluster_t *cluster, int rank)
{
    return rank >= 0 && rank < cluster->num_ranks;
}

int rt_cluster_node_of(const rt_cluster_t *cluster, int rank)
{
    return sched_valid_rank(cluster, rank) ? cluster->info[rank].node : -1;
}

void rt_cluster_rank_total(const rt_cluster_t *cluster, int rank, rt_resvec_t *total_p)
{
    if (sched_valid_rank(cluster, rank)) {
        *total_p = cluster->info[rank].total;
    } else {
        memset(total_p, 0, sizeof(*total_p));
    }
}

int rt_cluster_custom_index(const rt_cluster_t *cluster, const char *name)
{
    for (size_t i = 0; name != NULL && i < cluster->num_custom; ++i) {
        if (strcmp(cluster->custom_names[i], name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const char *rt_cluster_custom_name(const rt_cluster_t *cluster, size_t index)
{
    return index < cluster->num_custom ? cluster->custom_names[index] : NULL;
}

size_t rt_cluster_num_custom(const rt_cluster_t *cluster)
{
    return cluster->num_custom;
}

/*
 * The dead flag and the load figures publish nothing else, so relaxed order
 * is enough: a pick that misses a death by a moment is a pick made a moment
 * earlier, which the caller handles as any task lost to a death.
 */
void rt_cluster_mark_dead(rt_cluster_t *cluster, int rank)
{
    if (!sched_valid_rank(cluster, rank)) {
        base_error("cluster view: cannot mark rank %d dead", rank);
        return;
    }
    atomic_store_explicit(&cluster->state[rank].dead, true, memory_order_relaxed);
}

/* A rank out of range counts as dead: nothing can be sent there. */
bool rt_cluster_is_dead(const rt_cluster_t *cluster, int rank)
{
    return !sched_valid_rank(cluster, rank) ||
           atomic_load_explicit(&cluster->state[rank].dead, memory_order_relaxed);
}

void rt_cluster_load_add(rt_cluster_t *cluster, int rank, int delta)
{
    if (!sched_valid_rank(cluster, rank)) {
        base_log_once(BASE_LOG_ERROR, "cluster view: load of rank %d out of range", rank);
        return;
    }
    atomic_fetch_add_explicit(&cluster->state[rank].outstanding, delta, memory_order_relaxed);
}

void rt_cluster_load_report(rt_cluster_t *cluster, int rank, uint32_t queued, uint32_t running)
{
    uint64_t sum = (uint64_t)queued + running;

    if (!sched_valid_rank(cluster, rank)) {
        base_log_once(BASE_LOG_ERROR, "cluster view: load report of rank %d out of range", rank);
        return;
    }
    atomic_store_explicit(&cluster->state[rank].reported,
                          sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum, memory_order_relaxed);
}

void rt_cluster_totals(const rt_cluster_t *cluster, rmpi_resources_t *res_p)
{
    if (res_p == NULL) {
        return;
    }
    memset(res_p, 0, sizeof(*res_p));
    res_p->num_custom = cluster->num_custom;
    for (size_t i = 0; i < cluster->num_custom; ++i) {
        memcpy(res_p->custom[i].name, cluster->custom_names[i], RMPI_RESOURCE_NAME_MAX);
    }
    for (int rank = 0; rank < cluster->num_ranks; ++rank) {
        const rt_resvec_t *total = &cluster->info[rank].total;

        if (rt_cluster_is_dead(cluster, rank)) {
            continue;
        }
        res_p->cpus += total->cpus;
        res_p->gpus += total->gpus;
        res_p->memory += total->memory;
        for (size_t i = 0; i < cluster->num_custom; ++i) {
            res_p->custom[i].amount += total->custom[i];
        }
    }
}

/* --- candidates ------------------------------------------------------------- */

static sched_scope_t sched_scope_all(const rt_cluster_t *cluster)
{
    return (sched_scope_t){.ranks = NULL, .count = cluster->num_ranks, .node = -1};
}

static sched_scope_t sched_scope_node(const rt_cluster_t *cluster, int node)
{
    int start = cluster->node_start[node];

    return (sched_scope_t){.ranks = &cluster->by_node[start],
                           .count = cluster->node_start[node + 1] - start,
                           .node  = node};
}

static int sched_scope_rank(const sched_scope_t *scope, int index)
{
    return scope->ranks != NULL ? scope->ranks[index] : index;
}

static bool sched_rank_fits(const sched_ctx_t *ctx, int rank)
{
    return ctx->fits_all || sched_fits(ctx->cluster, ctx->demand, &ctx->cluster->info[rank].total);
}

static bool sched_is_candidate(const sched_ctx_t *ctx, int rank)
{
    return !rt_cluster_is_dead(ctx->cluster, rank) && sched_rank_fits(ctx, rank);
}

static double sched_rank_load(const rt_cluster_t *cluster, int rank)
{
    int outstanding = atomic_load_explicit(&cluster->state[rank].outstanding, memory_order_relaxed);
    unsigned reported = atomic_load_explicit(&cluster->state[rank].reported, memory_order_relaxed);

    return ((outstanding > 0 ? outstanding : 0) + (double)reported) * cluster->info[rank].inv_cpus;
}

static bool sched_scope_any_fits(const sched_ctx_t *ctx, const sched_scope_t *scope)
{
    if (scope->ranks == NULL && !sched_fits(ctx->cluster, ctx->demand, &ctx->cluster->max_total)) {
        return false; /* short cut: more than the largest rank has of something */
    }
    for (int i = 0; i < scope->count; ++i) {
        if (sched_rank_fits(ctx, sched_scope_rank(scope, i))) {
            return true;
        }
    }
    return false;
}

/* A uniformly random candidate of @a scope other than @a except, or -1 after a few misses. */
static int sched_draw_candidate(const sched_ctx_t *ctx, const sched_scope_t *scope, int except)
{
    for (int tries = 0; tries < SCHED_SAMPLE_TRIES; ++tries) {
        int rank = sched_scope_rank(scope, sched_rng_below(scope->count));

        if (rank != except && sched_is_candidate(ctx, rank)) {
            return rank;
        }
    }
    return -1;
}

/* Reservoir-sample up to @a want candidates of @a scope other than @a except; how many there are.
 */
static int sched_scan_candidates(const sched_ctx_t *ctx, const sched_scope_t *scope, int except,
                                 int *out, int want)
{
    int seen = 0;

    for (int i = 0; i < scope->count; ++i) {
        int rank = sched_scope_rank(scope, i);
        int slot;

        if (rank == except || !sched_is_candidate(ctx, rank)) {
            continue;
        }
        slot = seen < want ? seen : sched_rng_below(seen + 1);
        if (slot < want) {
            out[slot] = rank;
        }
        seen++;
    }
    return seen < want ? seen : want;
}

/* The less loaded per CPU; on a tie the submitter itself (its tasks need no message), else the
 * first drawn: @a a is a random candidate, so ties spread evenly (the lower rank would get ~5%
 * more than its share on 8 ranks). */
static int sched_less_loaded(const rt_cluster_t *cluster, int a, int b)
{
    double load_a = sched_rank_load(cluster, a), load_b = sched_rank_load(cluster, b);

    if (load_a != load_b) {
        return load_a < load_b ? a : b;
    }
    if (a == cluster->self || b == cluster->self) {
        return cluster->self;
    }
    return a;
}

/* Power of two choices among the candidates of @a scope; false when there are none. */
static bool sched_pick_least_loaded(const sched_ctx_t *ctx, const sched_scope_t *scope, int *rank_p)
{
    int pair[2];
    int found;

    if (scope->count == 0) {
        return false;
    }
    pair[0] = sched_draw_candidate(ctx, scope, -1);
    if (pair[0] < 0) {
        found = sched_scan_candidates(ctx, scope, -1, pair, 2);
    } else {
        pair[1] = sched_draw_candidate(ctx, scope, pair[0]);
        found   = pair[1] >= 0 ? 2 : 1 + sched_scan_candidates(ctx, scope, pair[0], &pair[1], 1);
    }
    if (found == 0) {
        return false;
    }
    *rank_p = found == 1 ? pair[0] : sched_less_loaded(ctx->cluster, pair[0], pair[1]);
    return true;
}

/* --- explaining INFEASIBLE ------------------------------------------------------ */

/* The rank of @a scope with the most of @a kind (the lowest such), live ones only if asked; -1 if
 * none. */
static int sched_scope_largest(const sched_ctx_t *ctx, const sched_scope_t *scope, size_t kind,
                               bool live_only)
{
    const sched_rank_info_t *info = ctx->cluster->info;
    int                      best = -1;

    for (int i = 0; i < scope->count; ++i) {
        int rank = sched_scope_rank(scope, i);

        if (live_only && rt_cluster_is_dead(ctx->cluster, rank)) {
            continue;
        }
        if (best < 0 || sched_kind_exceeds(&info[rank].total, &info[best].total, kind) ||
            (rank < best && !sched_kind_exceeds(&info[best].total, &info[rank].total, kind))) {
            best = rank;
        }
    }
    return best;
}

/* "no rank on node 1 has 3 GPU (largest: 1 on rank 2)": true when @a kind is short everywhere. */
static bool sched_explain_kind(const sched_ctx_t *ctx, const sched_scope_t *scope, size_t kind,
                               const char *where, char *reason, size_t len)
{
    const sched_rank_info_t *info = ctx->cluster->info;
    int                      best = sched_scope_largest(ctx, scope, kind, false);
    char                     want[96], offer[32];

    if (best >= 0 && !sched_kind_exceeds(ctx->demand, &info[best].total, kind)) {
        return false;
    }
    sched_format_amount(ctx->cluster, ctx->demand, kind, true, want, sizeof(want));
    best = sched_scope_largest(ctx, scope, kind, true);
    if (best < 0 || !sched_kind_exceeds(&info[best].total, &sched_no_demand, kind)) {
        snprintf(reason, len, "no rank%s has %s (largest: 0)", where, want);
        return true;
    }
    sched_format_amount(ctx->cluster, &info[best].total, kind, false, offer, sizeof(offer));
    snprintf(reason, len, "no rank%s has %s (largest: %s on rank %d)", where, want, offer, best);
    return true;
}

/* Each resource fits some rank, but not all of them one rank: list what was asked. */
static void sched_explain_combination(const sched_ctx_t *ctx, const char *where, char *reason,
                                      size_t len)
{
    const char *sep  = " ";
    int         used = snprintf(reason, len, "no single rank%s has all of", where);

    for (size_t kind = 0; kind < sched_num_kinds(ctx->cluster); ++kind) {
        char want[96];

        if (used < 0 || (size_t)used >= len) {
            return;
        }
        if (!sched_kind_exceeds(ctx->demand, &sched_no_demand, kind)) {
            continue;
        }
        sched_format_amount(ctx->cluster, ctx->demand, kind, true, want, sizeof(want));
        used += snprintf(reason + used, len - (size_t)used, "%s%s", sep, want);
        sep = ", ";
    }
}

/* Why no candidate of @a scope can take the task. */
static void sched_explain_scope(const sched_ctx_t *ctx, const sched_scope_t *scope, char *reason,
                                size_t len)
{
    char where[32] = "";

    if (scope->node >= 0) {
        snprintf(where, sizeof(where), " on node %d", scope->node);
    }
    if (scope->count == 0) {
        snprintf(reason, len, "node %d has no ranks", scope->node);
        return;
    }
    if (sched_scope_any_fits(ctx, scope)) {
        snprintf(reason, len, "all ranks%s that could run it are dead", where);
        return;
    }
    for (size_t kind = 0; kind < sched_num_kinds(ctx->cluster); ++kind) {
        if (sched_explain_kind(ctx, scope, kind, where, reason, len)) {
            return;
        }
    }
    sched_explain_combination(ctx, where, reason, len);
}

/* --- the policy --------------------------------------------------------------- */

static rmpi_status_t sched_check_demand(const rt_cluster_t *cluster, const rt_resvec_t *demand,
                                        char *reason, size_t len)
{
    if (!sched_valid_amount(demand->cpus) || !sched_valid_amount(demand->gpus)) {
        snprintf(reason, len, "bad demand of %g CPU, %g GPU", demand->cpus, demand->gpus);
        return RMPI_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < RT_SCHED_MAX_CUSTOM; ++i) {
        if (i < cluster->num_custom && !sched_valid_amount(demand->custom[i])) {
            snprintf(reason, len, "bad demand of %g of custom resource '%s'", demand->custom[i],
                     cluster->custom_names[i]);
            return RMPI_ERR_INVALID_ARG;
        }
        if (i >= cluster->num_custom && demand->custom[i] != 0) {
            snprintf(reason, len, "demand of custom resource %zu; the job has %zu", i,
                     cluster->num_custom);
            return RMPI_ERR_INVALID_ARG;
        }
    }
    return RMPI_OK;
}

static rmpi_status_t sched_check_req(const rt_cluster_t *cluster, const rt_sched_req_t *req,
                                     const rt_resvec_t *demand, char *reason, size_t len)
{
    if (sched_check_demand(cluster, demand, reason, len) != RMPI_OK) {
        return RMPI_ERR_INVALID_ARG;
    }
    switch (req->strategy) {
    case RMPI_SCHED_DEFAULT:
    case RMPI_SCHED_SPREAD:
        return RMPI_OK;
    case RMPI_SCHED_NODE_AFFINITY:
        if (req->affinity_node >= 0 && req->affinity_node < cluster->num_nodes) {
            return RMPI_OK;
        }
        snprintf(reason, len, "affinity to node %d; the job has %d nodes", req->affinity_node,
                 cluster->num_nodes);
        return RMPI_ERR_INVALID_ARG;
    case RMPI_SCHED_RANK_AFFINITY:
        if (sched_valid_rank(cluster, req->affinity_rank)) {
            return RMPI_OK;
        }
        snprintf(reason, len, "affinity to rank %d; the job has %d ranks", req->affinity_rank,
                 cluster->num_ranks);
        return RMPI_ERR_INVALID_ARG;
    default:
        snprintf(reason, len, "unknown scheduling strategy %d", (int)req->strategy);
        return RMPI_ERR_INVALID_ARG;
    }
}

/* The node holding the most argument bytes, at least RT_SCHED_LOCALITY_MIN; ties to ours, then
 * lower. */
static int sched_preferred_node(const rt_cluster_t *cluster, const rt_sched_req_t *req)
{
    int      self_node  = cluster->info[cluster->self].node;
    int      best       = -1;
    uint64_t best_bytes = 0;

    for (size_t i = 0; req->locality != NULL && i < req->num_locality; ++i) {
        int      node  = req->locality[i].node;
        uint64_t bytes = req->locality[i].bytes;

        if (node < 0 || node >= cluster->num_nodes || bytes < RT_SCHED_LOCALITY_MIN) {
            continue;
        }
        if (best < 0 || bytes > best_bytes ||
            (bytes == best_bytes && best != self_node && (node == self_node || node < best))) {
            best       = node;
            best_bytes = bytes;
        }
    }
    return best;
}

static bool sched_scope_has_room(const sched_ctx_t *ctx, const sched_scope_t *scope)
{
    for (int i = 0; i < scope->count; ++i) {
        int rank = sched_scope_rank(scope, i);

        if (sched_is_candidate(ctx, rank) &&
            sched_rank_load(ctx->cluster, rank) <= RT_SCHED_SPILLOVER) {
            return true;
        }
    }
    return false;
}

/* A GPU task goes to the rank holding its device objects while that rank has room. */
static bool sched_pick_device_rank(const sched_ctx_t *ctx, const rt_sched_req_t *req, int *rank_p)
{
    int rank = req->device_rank;

    if (!req->has_device_rank || rank < 0 || rank >= ctx->cluster->num_ranks ||
        !(ctx->demand->gpus > 0) || !sched_is_candidate(ctx, rank) ||
        sched_rank_load(ctx->cluster, rank) > RT_SCHED_SPILLOVER) {
        return false;
    }
    *rank_p = rank;
    return true;
}

static rmpi_status_t sched_pick_default(const sched_ctx_t *ctx, const rt_sched_req_t *req,
                                        int *rank_p, char *reason, size_t len)
{
    int           node = sched_preferred_node(ctx->cluster, req);
    sched_scope_t scope;

    if (sched_pick_device_rank(ctx, req, rank_p)) {
        return RMPI_OK;
    }
    if (node >= 0) {
        scope = sched_scope_node(ctx->cluster, node);
        if (sched_scope_has_room(ctx, &scope) && sched_pick_least_loaded(ctx, &scope, rank_p)) {
            return RMPI_OK;
        }
    }
    scope = sched_scope_all(ctx->cluster);
    if (sched_pick_least_loaded(ctx, &scope, rank_p)) {
        return RMPI_OK;
    }
    sched_explain_scope(ctx, &scope, reason, len);
    return RMPI_ERR_INFEASIBLE;
}

/* The next candidate after @a last, cyclically; @a last itself when it is the only one; or -1. */
static int sched_next_candidate(const sched_ctx_t *ctx, int last)
{
    int num_ranks = ctx->cluster->num_ranks;

    for (int step = 1; step <= num_ranks; ++step) {
        int rank = (last + step) % num_ranks;

        if (sched_is_candidate(ctx, rank)) {
            return rank;
        }
    }
    return -1;
}

/*
 * Round robin: a pick owns the turn it moves the cursor to, so concurrent
 * submitters still visit the candidates strictly in turn.
 */
static rmpi_status_t sched_pick_spread(const sched_ctx_t *ctx, int *rank_p, char *reason,
                                       size_t len)
{
    rt_cluster_t *cluster = ctx->cluster;
    int           last    = atomic_load_explicit(&cluster->spread_last, memory_order_relaxed);
    sched_scope_t all;

    for (;;) {
        int next = sched_next_candidate(ctx, last);

        if (next < 0) {
            break;
        }
        if (atomic_compare_exchange_weak_explicit(&cluster->spread_last, &last, next,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            *rank_p = next;
            return RMPI_OK;
        }
    }
    all = sched_scope_all(ctx->cluster);
    sched_explain_scope(ctx, &all, reason, len);
    return RMPI_ERR_INFEASIBLE;
}

static rmpi_status_t sched_pick_on_node(const sched_ctx_t *ctx, int node, int *rank_p, char *reason,
                                        size_t len)
{
    sched_scope_t scope = sched_scope_node(ctx->cluster, node);

    if (sched_pick_least_loaded(ctx, &scope, rank_p)) {
        return RMPI_OK;
    }
    sched_explain_scope(ctx, &scope, reason, len);
    return RMPI_ERR_INFEASIBLE;
}

static rmpi_status_t sched_pick_on_rank(const sched_ctx_t *ctx, int rank, int *rank_p, char *reason,
                                        size_t len)
{
    const rt_resvec_t *total = &ctx->cluster->info[rank].total;
    char               want[96], offer[32];

    if (rt_cluster_is_dead(ctx->cluster, rank)) {
        snprintf(reason, len, "rank %d is dead", rank);
        return RMPI_ERR_INFEASIBLE;
    }
    if (sched_rank_fits(ctx, rank)) {
        *rank_p = rank;
        return RMPI_OK;
    }
    for (size_t kind = 0; kind < sched_num_kinds(ctx->cluster); ++kind) {
        if (sched_kind_exceeds(ctx->demand, total, kind)) {
            sched_format_amount(ctx->cluster, ctx->demand, kind, true, want, sizeof(want));
            sched_format_amount(ctx->cluster, total, kind, false, offer, sizeof(offer));
            snprintf(reason, len, "rank %d does not have %s (it has %s)", rank, want, offer);
            break;
        }
    }
    return RMPI_ERR_INFEASIBLE;
}

static rmpi_status_t sched_pick(const sched_ctx_t *ctx, const rt_sched_req_t *req, int *rank_p,
                                char *reason, size_t len)
{
    sched_scope_t all = sched_scope_all(ctx->cluster);
    rmpi_status_t status;

    if (!ctx->fits_all && !sched_scope_any_fits(ctx, &all)) {
        sched_explain_scope(ctx, &all, reason, len);
        return RMPI_ERR_INFEASIBLE;
    }
    switch (req->strategy) {
    case RMPI_SCHED_SPREAD:
        return sched_pick_spread(ctx, rank_p, reason, len);
    case RMPI_SCHED_NODE_AFFINITY:
        status = sched_pick_on_node(ctx, req->affinity_node, rank_p, reason, len);
        break;
    case RMPI_SCHED_RANK_AFFINITY:
        status = sched_pick_on_rank(ctx, req->affinity_rank, rank_p, reason, len);
        break;
    default:
        return sched_pick_default(ctx, req, rank_p, reason, len);
    }
    if (status == RMPI_ERR_INFEASIBLE && req->soft) {
        return sched_pick_default(ctx, req, rank_p, reason, len);
    }
    return status;
}

rmpi_status_t rt_sched_pick(rt_cluster_t *cluster, const rt_sched_req_t *req, int *rank_p,
                            char *why, size_t why_len)
{
    char          reason[SCHED_REASON_MAX] = "";
    sched_ctx_t   ctx;
    rmpi_status_t status;
    int           rank = -1;

    if (cluster == NULL || req == NULL || rank_p == NULL) {
        snprintf(reason, sizeof(reason), "no cluster, request or result pointer");
        status = RMPI_ERR_INVALID_ARG;
        goto out;
    }
    ctx.cluster = cluster;
    ctx.demand  = req->demand != NULL ? req->demand : &sched_no_demand;
    status      = sched_check_req(cluster, req, ctx.demand, reason, sizeof(reason));
    if (status != RMPI_OK) {
        goto out;
    }
    ctx.fits_all = cluster->num_known == cluster->num_ranks &&
                   sched_fits(cluster, ctx.demand, &cluster->min_total);
    status = sched_pick(&ctx, req, &rank, reason, sizeof(reason));

out:
    if (status == RMPI_OK) {
        *rank_p = rank;
        return RMPI_OK;
    }
    /* Infeasible tasks are the caller's to report, naming the task; bad arguments are ours. */
    if (status == RMPI_ERR_INVALID_ARG) {
        base_error("task placement: %s", reason);
    } else {
        base_debug("task placement: %s", reason);
    }
    if (why != NULL && why_len > 0) {
        snprintf(why, why_len, "%s", reason);
    }
    return status;
}
