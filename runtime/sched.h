/*
 * runtime/sched.h - where a task runs: the submitter's view of the cluster and
 * the placement policy (docs/runtime.md, "Scheduling"). No central scheduler:
 * every submitting rank keeps its own rt_cluster and decides.
 *
 * A cluster view holds, per rank, its logical node, its total resources (from
 * wire-up, fixed afterwards), whether it is dead, and two load figures: the
 * tasks this rank has pushed there and not seen finish (exact, kept by the
 * caller with rt_cluster_load_add) and the queue length that rank last
 * reported (rt_cluster_load_report, piggy-backed on TASK_DONE).
 *
 * Policy (rt_sched_pick), in order:
 *   1. feasibility: ranks whose TOTAL resources cover the demand; none at all
 *      -> RMPI_ERR_INFEASIBLE with a message naming the first resource that no
 *      rank has enough of and the largest amount any rank offers;
 *   2. constraints: NODE_AFFINITY / RANK_AFFINITY restrict to that node/rank
 *      (soft: fall back to all feasible ranks when that one is infeasible or
 *      dead; hard: INFEASIBLE);
 *   3. SPREAD: round robin over the feasible live ranks;
 *   4. DEFAULT: locality — when the caller gives argument bytes per node and
 *      one node holds at least RT_SCHED_LOCALITY_MIN bytes, candidates are that
 *      node's feasible ranks unless all of them are loaded beyond
 *      RT_SCHED_SPILLOVER tasks per CPU; then load — power of two choices
 *      among the candidates (two distinct random ranks, take the less loaded
 *      per CPU; ties to the submitter's own rank, then to the first drawn).
 *
 * Thread safety: create/set_rank/destroy from one thread before or after use;
 * everything else MULTI (atomics; no locks on the pick path).
 */
#ifndef RUNTIME_SCHED_H_
#define RUNTIME_SCHED_H_

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_SCHED_MAX_CUSTOM RMPI_MAX_CUSTOM_RESOURCES
/** Argument bytes on one node that make it the preferred node. */
#define RT_SCHED_LOCALITY_MIN (1u << 20)
/** Load per CPU (outstanding + reported queue) beyond which locality yields. */
#define RT_SCHED_SPILLOVER 2.0

typedef struct rt_cluster rt_cluster_t;

/** Resources of a rank or demanded by a task. Custom amounts index the job's name table. */
typedef struct rt_resvec {
    double   cpus;
    double   gpus;
    uint64_t memory;
    double   custom[RT_SCHED_MAX_CUSTOM];
} rt_resvec_t;

typedef struct rt_rank_res {
    int         node;
    rt_resvec_t total;
} rt_rank_res_t;

/**
 * @a num_custom names (copied) index rt_resvec_t.custom. @a self is the rank
 * that will call rt_sched_pick on this view.
 */
rmpi_status_t rt_cluster_create(int num_ranks, int self, size_t num_custom,
                                const char *const *custom_names, rt_cluster_t **cluster_p);
void          rt_cluster_destroy(rt_cluster_t *cluster);
void          rt_cluster_set_rank(rt_cluster_t *cluster, int rank, const rt_rank_res_t *res);
int           rt_cluster_size(const rt_cluster_t *cluster);
int           rt_cluster_node_of(const rt_cluster_t *cluster, int rank);
/** Total resources of @a rank (from wire-up; zeros for a rank out of range). */
void rt_cluster_rank_total(const rt_cluster_t *cluster, int rank, rt_resvec_t *total_p);
/** Custom resource index of @a name, or -1. */
int         rt_cluster_custom_index(const rt_cluster_t *cluster, const char *name);
const char *rt_cluster_custom_name(const rt_cluster_t *cluster, size_t index);
size_t      rt_cluster_num_custom(const rt_cluster_t *cluster);

void rt_cluster_mark_dead(rt_cluster_t *cluster, int rank);
bool rt_cluster_is_dead(const rt_cluster_t *cluster, int rank);
/** Tasks this rank pushed to @a rank: +1 on push, -1 on done. */
void rt_cluster_load_add(rt_cluster_t *cluster, int rank, int delta);
/** What @a rank said of itself (queued + running tasks). */
void rt_cluster_load_report(rt_cluster_t *cluster, int rank, uint32_t queued, uint32_t running);
/** Total resources of all live ranks (custom by name). */
void rt_cluster_totals(const rt_cluster_t *cluster, rmpi_resources_t *res_p);

/** Argument bytes already on a logical node (locality hint). */
typedef struct rt_node_bytes {
    int      node;
    uint64_t bytes;
} rt_node_bytes_t;

typedef struct rt_sched_req {
    const rt_resvec_t     *demand;
    rmpi_sched_strategy_t  strategy;
    int                    affinity_node; /**< NODE_AFFINITY */
    int                    affinity_rank; /**< RANK_AFFINITY */
    bool                   soft;
    const rt_node_bytes_t *locality; /**< may be NULL */
    size_t                 num_locality;
    /**
     * With @a has_device_rank: the rank holding most of the task's
     * device-object argument bytes (at least RT_SCHED_LOCALITY_MIN). A task
     * that asks for GPUs goes there while it has room: it then reads them in
     * place, with no copy.
     */
    bool has_device_rank;
    int  device_rank;
} rt_sched_req_t;

/**
 * Choose a rank for @a req. RMPI_ERR_INFEASIBLE (and a one-line reason in
 * @a why, if non-NULL) when no live rank can ever run it;
 * RMPI_ERR_INVALID_ARG for negative demands or an affinity out of range.
 */
rmpi_status_t rt_sched_pick(rt_cluster_t *cluster, const rt_sched_req_t *req, int *rank_p,
                            char *why, size_t why_len);

#endif /* RUNTIME_SCHED_H_ */
