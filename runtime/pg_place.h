/*
 * runtime/pg_place.h - where the bundles of a placement group go: a pure
 * function of the ranks' resources, their logical nodes and the group's
 * strategy. No runtime state: the head (pg_head.c) calls it under rt.lock,
 * the unit tests call it on simulated clusters.
 *
 * A bundle is placed on ONE rank; ranks form logical nodes. The policy is
 * greedy, bundles in index order (atomic: all of them or none):
 *
 *   PACK           all bundles on one node if some node can hold them (the
 *                  first such node), else spill: each bundle prefers a node
 *                  the group already uses;
 *   STRICT_PACK    all bundles on one node (the first that can hold them), or
 *                  no placement;
 *   SPREAD         each bundle prefers the node holding the fewest bundles of
 *                  the group so far;
 *   STRICT_SPREAD  each bundle on a node holding no other bundle of the group,
 *                  or no placement.
 *
 * On the chosen node (and between equally good nodes) a bundle goes to a rank
 * that holds no bundle of this group yet, then to the rank with the most CPUs
 * left, then to the lowest rank: bundles of one node spread over its ranks,
 * which is what a gang of MPI tasks wants.
 *
 * Thread safety: reentrant (the caller owns the scratch space).
 */
#ifndef RUNTIME_PG_PLACE_H_
#define RUNTIME_PG_PLACE_H_

#include "runtime/sched.h"

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>

/** The ranks a group can be placed on. */
typedef struct rt_pg_ranks {
    int                num_ranks;
    const int         *node;  /**< logical node of each rank, 0 .. num_ranks - 1 */
    const rt_resvec_t *avail; /**< what each rank can give (free now, or its totals) */
    const bool        *dead;  /**< dead ranks take nothing; NULL: none is */
    size_t             num_custom;
    const char *const *custom_names; /**< num_custom names, for messages; may be NULL */
} rt_pg_ranks_t;

/** Bytes of scratch space rt_pg_place needs for @a num_ranks ranks. */
size_t rt_pg_place_scratch_size(int num_ranks);

/**
 * Place @a num_bundles bundles on @a ranks by @a strategy. On RMPI_OK,
 * ranks_p[i] is the rank of bundle i, and subtracting each bundle from its
 * rank's avail leaves no amount negative. RMPI_ERR_NO_RESOURCE when they do
 * not fit these amounts (@a why, if non-NULL, says which bundle and why: the
 * caller runs the policy on the ranks' totals to tell "never" from "not
 * now"); RMPI_ERR_INVALID_ARG for an unknown strategy, no bundles or a node
 * out of range. @a scratch has rt_pg_place_scratch_size() bytes, 8-byte
 * aligned. On failure ranks_p holds nothing useful (it is scratch too).
 */
rmpi_status_t rt_pg_place(const rt_pg_ranks_t *ranks, rmpi_pg_strategy_t strategy,
                          const rt_resvec_t *bundles, size_t num_bundles, void *scratch,
                          int *ranks_p, char *why, size_t why_len);

/** "{CPU: 1, GPU: 0.5, memory: 1024, widget: 2}" (only the non-zero amounts) into @a buf. */
void rt_pg_format_bundle(const rt_resvec_t *bundle, size_t num_custom,
                         const char *const *custom_names, char *buf, size_t len);

/** Whether @a demand fits in @a have (every amount at most what @a have offers). */
bool rt_pg_fits(const rt_resvec_t *demand, const rt_resvec_t *have, size_t num_custom);

#endif /* RUNTIME_PG_PLACE_H_ */
