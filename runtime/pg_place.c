/*
 * runtime/pg_place.c - the placement policy of placement groups (see pg_place.h).
 *
 * One call works on a copy of the amounts it may take (scratch space the caller
 * owns, so that the head places thousands of groups a second without
 * allocating), with counts of the group's bundles per rank and per node, and
 * the ranks listed by node (a counting sort), so that trying one node costs
 * that node's ranks and not the whole job.
 */
#include "runtime/pg_place.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct place {
    const rt_pg_ranks_t *in;
    rt_resvec_t         *work;       /* what each rank can still give */
    int                 *rank_used;  /* bundles of this group per rank */
    int                 *node_used;  /* ... per node */
    int                 *node_start; /* node n's ranks: node_ranks[node_start[n] .. [n + 1]) */
    int                 *node_ranks;
    int                 *out;
    int                  num_nodes;
    int                  live_nodes; /* nodes with a live rank */
} place_t;

/* --- resources ------------------------------------------------------------------ */

bool rt_pg_fits(const rt_resvec_t *demand, const rt_resvec_t *have, size_t num_custom)
{
    if (demand->cpus > have->cpus || demand->gpus > have->gpus || demand->memory > have->memory) {
        return false;
    }
    for (size_t i = 0; i < num_custom; ++i) {
        if (demand->custom[i] > have->custom[i]) {
            return false;
        }
    }
    return true;
}

static void vec_sub(rt_resvec_t *vec, const rt_resvec_t *demand, size_t num_custom)
{
    vec->cpus -= demand->cpus;
    vec->gpus -= demand->gpus;
    vec->memory -= demand->memory;
    for (size_t i = 0; i < num_custom; ++i) {
        vec->custom[i] -= demand->custom[i];
    }
}

static size_t append(char *buf, size_t len, size_t used, const char *fmt, const char *name,
                     double amount)
{
    int n;

    if (used >= len) {
        return used;
    }
    n = snprintf(buf + used, len - used, fmt, used > 1 ? ", " : "", name, amount);
    return n < 0 ? len : used + (size_t)n;
}

void rt_pg_format_bundle(const rt_resvec_t *bundle, size_t num_custom,
                         const char *const *custom_names, char *buf, size_t len)
{
    char   custom[40];
    size_t used = 0;

    if (len == 0) {
        return;
    }
    used = (size_t)snprintf(buf, len, "{");
    if (bundle->cpus > 0) {
        used = append(buf, len, used, "%s%s: %g", "CPU", bundle->cpus);
    }
    if (bundle->gpus > 0) {
        used = append(buf, len, used, "%s%s: %g", "GPU", bundle->gpus);
    }
    if (bundle->memory > 0) {
        used = append(buf, len, used, "%s%s: %.0f", "memory", (double)bundle->memory);
    }
    for (size_t i = 0; i < num_custom; ++i) {
        if (bundle->custom[i] > 0) {
            if (custom_names != NULL) {
                snprintf(custom, sizeof(custom), "%s", custom_names[i]);
            } else {
                snprintf(custom, sizeof(custom), "custom resource %zu", i);
            }
            used = append(buf, len, used, "%s%s: %g", custom, bundle->custom[i]);
        }
    }
    if (used + 1 < len) {
        buf[used]     = '}';
        buf[used + 1] = '\0';
    }
}

/* --- set-up ------------------------------------------------------------------------ */

size_t rt_pg_place_scratch_size(int num_ranks)
{
    size_t n = num_ranks > 0 ? (size_t)num_ranks : 0;

    /* work, then rank_used, node_used, node_ranks (n each) and node_start (n + 1) */
    return n * sizeof(rt_resvec_t) + (4 * n + 1) * sizeof(int);
}

static bool place_dead(const place_t *p, int rank)
{
    return p->in->dead != NULL && p->in->dead[rank];
}

/* Lay out the scratch space, copy the amounts, list the ranks by node. */
static bool place_setup(place_t *p, const rt_pg_ranks_t *in, void *scratch, int *out)
{
    int n = in->num_ranks;

    p->in         = in;
    p->out        = out;
    p->work       = scratch;
    p->rank_used  = (int *)(p->work + n);
    p->node_used  = p->rank_used + n;
    p->node_ranks = p->node_used + n;
    p->node_start = p->node_ranks + n;
    p->num_nodes  = 0;
    p->live_nodes = 0;
    memcpy(p->work, in->avail, (size_t)n * sizeof(*p->work));
    memset(p->rank_used, 0, (size_t)n * sizeof(int));
    memset(p->node_used, 0, (size_t)n * sizeof(int));
    memset(p->node_start, 0, (size_t)(n + 1) * sizeof(int));
    for (int r = 0; r < n; ++r) {
        if (in->node[r] < 0 || in->node[r] >= n) {
            return false;
        }
        p->num_nodes = in->node[r] + 1 > p->num_nodes ? in->node[r] + 1 : p->num_nodes;
        p->node_start[in->node[r] + 1]++;
    }
    for (int k = 0; k < p->num_nodes; ++k) {
        p->node_start[k + 1] += p->node_start[k];
    }
    /* node_used doubles as the insertion cursor here; it is zeroed again below */
    for (int r = 0; r < n; ++r) {
        int node = in->node[r];

        p->node_ranks[p->node_start[node] + p->node_used[node]++] = r;
    }
    memset(p->node_used, 0, (size_t)n * sizeof(int));
    for (int k = 0; k < p->num_nodes; ++k) {
        for (int i = p->node_start[k]; i < p->node_start[k + 1]; ++i) {
            if (!place_dead(p, p->node_ranks[i])) {
                p->live_nodes++;
                break;
            }
        }
    }
    return true;
}

/* --- choosing ranks ------------------------------------------------------------------ */

/* Within a node: a rank without a bundle of the group, then more CPUs left, then lower. */
static bool rank_better(const place_t *p, int a, int b)
{
    if ((p->rank_used[a] == 0) != (p->rank_used[b] == 0)) {
        return p->rank_used[a] == 0;
    }
    if (p->work[a].cpus != p->work[b].cpus) {
        return p->work[a].cpus > p->work[b].cpus;
    }
    return a < b;
}

/* The best rank of @a node that can hold @a demand, or -1. */
static int node_best_rank(const place_t *p, int node, const rt_resvec_t *demand)
{
    int best = -1;

    for (int i = p->node_start[node]; i < p->node_start[node + 1]; ++i) {
        int r = p->node_ranks[i];

        if (!place_dead(p, r) && rt_pg_fits(demand, &p->work[r], p->in->num_custom) &&
            (best < 0 || rank_better(p, r, best))) {
            best = r;
        }
    }
    return best;
}

/* Between nodes, by the strategy's rule; then as between ranks (their best ranks). */
static bool node_better(const place_t *p, rmpi_pg_strategy_t strategy, int na, int ra, int nb,
                        int rb)
{
    if (strategy == RMPI_PG_PACK && (p->node_used[na] > 0) != (p->node_used[nb] > 0)) {
        return p->node_used[na] > 0;
    }
    if (strategy == RMPI_PG_SPREAD && p->node_used[na] != p->node_used[nb]) {
        return p->node_used[na] < p->node_used[nb];
    }
    return rank_better(p, ra, rb);
}

static void place_take(place_t *p, size_t bundle, const rt_resvec_t *demand, int rank)
{
    vec_sub(&p->work[rank], demand, p->in->num_custom);
    p->rank_used[rank]++;
    p->node_used[p->in->node[rank]]++;
    p->out[bundle] = rank;
}

/* One bundle anywhere the strategy allows; false if no node can take it. */
static bool place_one(place_t *p, rmpi_pg_strategy_t strategy, size_t bundle,
                      const rt_resvec_t *demand)
{
    int best_node = -1, best_rank = -1;

    for (int node = 0; node < p->num_nodes; ++node) {
        int rank;

        if (strategy == RMPI_PG_STRICT_SPREAD && p->node_used[node] > 0) {
            continue;
        }
        rank = node_best_rank(p, node, demand);
        if (rank >= 0 &&
            (best_node < 0 || node_better(p, strategy, node, rank, best_node, best_rank))) {
            best_node = node;
            best_rank = rank;
        }
    }
    if (best_rank < 0) {
        return false;
    }
    place_take(p, bundle, demand, best_rank);
    return true;
}

/* Every bundle on @a node, or none (the node's amounts are restored). */
static bool place_on_node(place_t *p, int node, const rt_resvec_t *bundles, size_t num_bundles)
{
    for (size_t b = 0; b < num_bundles; ++b) {
        int rank = node_best_rank(p, node, &bundles[b]);

        if (rank < 0) {
            for (int i = p->node_start[node]; i < p->node_start[node + 1]; ++i) {
                int r = p->node_ranks[i];

                p->work[r]      = p->in->avail[r];
                p->rank_used[r] = 0;
            }
            p->node_used[node] = 0;
            return false;
        }
        place_take(p, b, &bundles[b], rank);
    }
    return true;
}

static bool place_one_node(place_t *p, const rt_resvec_t *bundles, size_t num_bundles)
{
    for (int node = 0; node < p->num_nodes; ++node) {
        if (place_on_node(p, node, bundles, num_bundles)) {
            return true;
        }
    }
    return false;
}

/* --- explaining ------------------------------------------------------------------------ */

/* Why no live rank can hold @a demand alone: the first resource beyond every rank. */
static void explain_bundle(const place_t *p, size_t bundle, const rt_resvec_t *demand, char *why,
                           size_t why_len)
{
    const rt_pg_ranks_t *in = p->in;
    rt_resvec_t          most;
    char                 text[160];
    const char          *kind = NULL;
    double               want = 0, have = 0;

    memset(&most, 0, sizeof(most));
    for (int r = 0; r < in->num_ranks; ++r) {
        if (place_dead(p, r)) {
            continue;
        }
        most.cpus   = in->avail[r].cpus > most.cpus ? in->avail[r].cpus : most.cpus;
        most.gpus   = in->avail[r].gpus > most.gpus ? in->avail[r].gpus : most.gpus;
        most.memory = in->avail[r].memory > most.memory ? in->avail[r].memory : most.memory;
        for (size_t i = 0; i < in->num_custom; ++i) {
            if (in->avail[r].custom[i] > most.custom[i]) {
                most.custom[i] = in->avail[r].custom[i];
            }
        }
    }
    if (demand->cpus > most.cpus) {
        kind = "CPU", want = demand->cpus, have = most.cpus;
    } else if (demand->gpus > most.gpus) {
        kind = "GPU", want = demand->gpus, have = most.gpus;
    } else if (demand->memory > most.memory) {
        kind = "memory", want = (double)demand->memory, have = (double)most.memory;
    }
    for (size_t i = 0; kind == NULL && i < in->num_custom; ++i) {
        if (demand->custom[i] > most.custom[i]) {
            kind = in->custom_names != NULL ? in->custom_names[i] : "a custom resource";
            want = demand->custom[i], have = most.custom[i];
        }
    }
    rt_pg_format_bundle(demand, in->num_custom, in->custom_names, text, sizeof(text));
    if (kind != NULL) {
        snprintf(why, why_len,
                 "bundle %zu %s fits no rank: it needs %g %s, no rank has more than %g", bundle,
                 text, want, kind, have);
    } else {
        snprintf(why, why_len, "bundle %zu %s fits no rank: no rank has all of it at once", bundle,
                 text);
    }
}

/* A bundle that fits no live rank at all, explained; false if there is none. */
static bool explain_any_bundle(const place_t *p, const rt_resvec_t *bundles, size_t num_bundles,
                               char *why, size_t why_len)
{
    for (size_t b = 0; b < num_bundles; ++b) {
        bool fits = false;

        for (int r = 0; r < p->in->num_ranks && !fits; ++r) {
            fits =
                !place_dead(p, r) && rt_pg_fits(&bundles[b], &p->in->avail[r], p->in->num_custom);
        }
        if (!fits) {
            explain_bundle(p, b, &bundles[b], why, why_len);
            return true;
        }
    }
    return false;
}

static void explain_spill(const place_t *p, rmpi_pg_strategy_t strategy, size_t bundle,
                          const rt_resvec_t *demand, char *why, size_t why_len)
{
    char text[160];

    rt_pg_format_bundle(demand, p->in->num_custom, p->in->custom_names, text, sizeof(text));
    if (strategy == RMPI_PG_STRICT_SPREAD) {
        snprintf(why, why_len,
                 "STRICT_SPREAD: no node is left for bundle %zu %s (every bundle needs a node "
                 "of its own)",
                 bundle, text);
    } else {
        snprintf(why, why_len, "no room for bundle %zu %s beside bundles 0 to %zu", bundle, text,
                 bundle > 0 ? bundle - 1 : 0);
    }
}

/* --- the policy ---------------------------------------------------------------------- */

static rmpi_status_t place_run(place_t *p, rmpi_pg_strategy_t strategy, const rt_resvec_t *bundles,
                               size_t num_bundles, char *why, size_t why_len)
{
    if (explain_any_bundle(p, bundles, num_bundles, why, why_len)) {
        return RMPI_ERR_NO_RESOURCE;
    }
    if (strategy == RMPI_PG_STRICT_SPREAD && num_bundles > (size_t)p->live_nodes) {
        snprintf(why, why_len, "STRICT_SPREAD: %zu bundles need %zu distinct nodes, there are %d",
                 num_bundles, num_bundles, p->live_nodes);
        return RMPI_ERR_NO_RESOURCE;
    }
    if (strategy == RMPI_PG_PACK || strategy == RMPI_PG_STRICT_PACK) {
        if (place_one_node(p, bundles, num_bundles)) {
            return RMPI_OK;
        }
        if (strategy == RMPI_PG_STRICT_PACK) {
            snprintf(why, why_len, "STRICT_PACK: no node can hold all %zu bundles together",
                     num_bundles);
            return RMPI_ERR_NO_RESOURCE;
        }
    }
    for (size_t b = 0; b < num_bundles; ++b) {
        if (!place_one(p, strategy, b, &bundles[b])) {
            explain_spill(p, strategy, b, &bundles[b], why, why_len);
            return RMPI_ERR_NO_RESOURCE;
        }
    }
    return RMPI_OK;
}

rmpi_status_t rt_pg_place(const rt_pg_ranks_t *ranks, rmpi_pg_strategy_t strategy,
                          const rt_resvec_t *bundles, size_t num_bundles, void *scratch,
                          int *ranks_p, char *why, size_t why_len)
{
    char          reason[256] = "";
    place_t       p;
    rmpi_status_t status;

    if (ranks == NULL || bundles == NULL || scratch == NULL || ranks_p == NULL ||
        num_bundles == 0 || ranks->num_ranks <= 0 || (unsigned)strategy > RMPI_PG_STRICT_SPREAD) {
        snprintf(reason, sizeof(reason), "no ranks, no bundles or an unknown strategy");
        status = RMPI_ERR_INVALID_ARG;
    } else if (!place_setup(&p, ranks, scratch, ranks_p)) {
        snprintf(reason, sizeof(reason), "a rank's node is out of range");
        status = RMPI_ERR_INVALID_ARG;
    } else {
        status = place_run(&p, strategy, bundles, num_bundles, reason, sizeof(reason));
    }
    if (status != RMPI_OK && why != NULL && why_len > 0) {
        snprintf(why, why_len, "%s", reason);
    }
    return status;
}
