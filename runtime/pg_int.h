/*
 * runtime/pg_int.h - what the placement-group files share (pg.c: the API and
 * the cache of other ranks; pg_head.c: the head service on rank 0;
 * pg_comm.c: gang communicators). Not for the rest of the runtime (pg.h).
 *
 * A group as one rank sees it is an rt_pg_view: its state, its bundles and
 * their ranks, and the tasks of this rank parked until it is placed. The head
 * keeps the authoritative views inside its group records; other ranks keep
 * copies in cache entries.
 *
 * Locking: everything here is called with rt.lock held.
 */
#ifndef RUNTIME_PG_INT_H_
#define RUNTIME_PG_INT_H_

#include "base/list.h"
#include "runtime/msg_pg.h"
#include "runtime/sched.h"

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of a group ID: creator rank (i32), RT_PG_ID_MAGIC (u32), sequence (u64). */
#define RT_PG_ID_MAGIC 0x50470000u
/** Longest reason kept with a failed group. */
#define RT_PG_WHY_MAX 256

typedef struct rt_pg_view {
    rmpi_pg_t     id;
    rt_pg_state_t state;
    rmpi_status_t status; /**< FAILED: why (RMPI_ERR_PEER_DIED, RMPI_ERR_INFEASIBLE) */
    uint8_t       strategy;
    uint32_t      num_bundles; /**< 0 while a cache entry knows nothing yet (RT_PG_NONE) */
    rt_resvec_t  *bundles;
    int          *ranks;       /**< -1 until placed */
    uint32_t      next_bundle; /**< round robin for bundle index -1 */
    base_list_t   parked;      /**< rt_task_t.pg_link */
    char          why[RT_PG_WHY_MAX];
} rt_pg_view_t;

/* --- pg.c ---------------------------------------------------------------------- */

/** The group's state changed (placed, failed, gone): place or fail its parked tasks. */
void rt_pg_view_changed(rt_pg_view_t *view);
/** The status a wait on @a view ends with (RMPI_ERR_NOT_READY while pending). */
rmpi_status_t rt_pg_view_status(const rt_pg_view_t *view);
/** The creator rank named in a group ID. */
int      rt_pg_id_creator(const rmpi_pg_t *id);
uint64_t rt_pg_id_hash(const rmpi_pg_t *id);

/**
 * The distinct ranks of @a pg's bundles in the order of their first bundle
 * (asks the head when this rank does not know the group placed). At most
 * @a max; *num_p is how many. Takes rt.lock (caller must not hold it).
 */
rmpi_status_t rt_pg_gang(const rmpi_pg_t *pg, int *ranks, size_t max, size_t *num_p);

/* --- pg_head.c (rank 0) ------------------------------------------------------------ */

/** A group to create, as the API or a PG_CREATE gives it. */
typedef struct rt_pg_spec {
    rmpi_pg_t          id;
    int                creator;
    rmpi_pg_strategy_t strategy;
    bool               detached;
    const char        *name; /**< name_len bytes; 0: unnamed */
    size_t             name_len;
    const rt_resvec_t *bundles;
    uint32_t           num_bundles;
} rt_pg_spec_t;

rmpi_status_t rt_pg_head_start(void);
void          rt_pg_head_stop(void);
/**
 * Create @a spec's group: placed now (READY), or PENDING. RMPI_ERR_EXISTS for
 * a name or ID taken, RMPI_ERR_INFEASIBLE when it can never fit (why says
 * which bundle and resource). *view_p is the group's view on RMPI_OK.
 */
rmpi_status_t rt_pg_head_create(const rt_pg_spec_t *spec, rt_pg_view_t **view_p, char *why,
                                size_t why_len);
rt_pg_view_t *rt_pg_head_find(const rmpi_pg_t *id);
rt_pg_view_t *rt_pg_head_find_name(const char *name, size_t name_len);
/** Remove a group: RMPI_ERR_NOT_FOUND if there is none. */
rmpi_status_t rt_pg_head_remove(const rmpi_pg_t *id);
void          rt_pg_head_on_peer_failure(int rank);

#endif /* RUNTIME_PG_INT_H_ */
