/*
 * runtime/failure.c - what the runtime does when the transport reports a
 * dead rank (once per rank, on the progress thread):
 *
 *  - tasks this rank pushed there are pushed again elsewhere while their
 *    max_retries allow, else their returns fail with RMPI_ERR_PEER_DIED;
 *  - owned objects whose primary copy was there fail with
 *    RMPI_ERR_OBJECT_LOST (rebuilding them from lineage is left for the
 *    fault-tolerance work; the spec is kept in rt_task_t.lineage);
 *  - actors hosted there restart or die (actor_owner.c), calls pushed there
 *    are retried or fail (actor_call.c), name requests to a dead head fail;
 *  - LOCATE requests to the dead rank complete with RMPI_ERR_OWNER_DIED, so
 *    no get or dependent task waits forever on a dead owner.
 */
#include "runtime/actor.h"
#include "runtime/devobj.h"
#include "runtime/nodepull.h"
#include "runtime/pg.h"
#include "runtime/rt_int.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rt_dead_scan {
    int    rank;
    void **items;
    size_t count, capacity;
} rt_dead_scan_t;

static bool rt_scan_add(rt_dead_scan_t *scan, void *item)
{
    if (scan->count == scan->capacity) {
        size_t capacity = scan->capacity == 0 ? 64 : scan->capacity * 2;
        void **items    = realloc(scan->items, capacity * sizeof(*items));

        if (items == NULL) {
            return false;
        }
        scan->items    = items;
        scan->capacity = capacity;
    }
    scan->items[scan->count++] = item;
    return true;
}

static bool rt_scan_task(base_hash_node_t *node, void *arg)
{
    rt_dead_scan_t *scan = arg;
    rt_task_t      *task = base_container_of(node, rt_task_t, hnode);

    /* Calls are the actor refs' business (rt_actor_refs_rank_died). */
    return (task->state != RT_TASK_PUSHED && task->state != RT_TASK_HOSTING) ||
           task->exec_rank != scan->rank || task->actor_ref != NULL || rt_scan_add(scan, task);
}

static bool rt_scan_obj(base_hash_node_t *node, void *arg)
{
    rt_dead_scan_t *scan = arg;
    rt_obj_t       *obj  = base_container_of(node, rt_obj_t, hnode);

    return obj->state != RT_OBJ_READY || obj->kind != RT_VALUE_STORED ||
           obj->loc.rank != scan->rank || rt_scan_add(scan, obj);
}

static bool rt_scan_locate(base_hash_node_t *node, void *arg)
{
    rt_dead_scan_t  *scan = arg;
    rt_locate_req_t *req  = base_container_of(node, rt_locate_req_t, hnode);

    return req->owner != scan->rank || rt_scan_add(scan, req);
}

static void rt_fail_tasks(int rank)
{
    rt_dead_scan_t scan = {.rank = rank};
    char           why[128];

    base_hash_foreach(&rt.tasks, rt_scan_task, &scan);
    for (size_t i = 0; i < scan.count; ++i) {
        rt_task_t *task = scan.items[i];

        if (task->actor_owner != NULL) {
            if (task->state == RT_TASK_PUSHED) {
                rt_cluster_load_add(rt.cluster, rank, -1);
            }
            rt_actor_on_host_died(task->actor_owner, rank);
            continue;
        }
        rt_cluster_load_add(rt.cluster, rank, -1);
        if (task->spec.max_retries < 0 || task->spec.attempt < (uint32_t)task->spec.max_retries) {
            ++task->spec.attempt;
            task->state = RT_TASK_WAITING;
            rt_task_ready(task);
            base_info("task '%s': rank %d died; retrying (attempt %u)", task->name, rank,
                      task->spec.attempt + 1);
            continue;
        }
        snprintf(why, sizeof(why), "rank %d died while running task '%s' (no retries left)", rank,
                 task->name);
        rt_task_fail(task, RMPI_ERR_PEER_DIED, why);
    }
    free(scan.items);
}

static void rt_fail_objects(int rank)
{
    rt_dead_scan_t scan = {.rank = rank};
    char           why[128];

    base_hash_foreach(&rt.objs, rt_scan_obj, &scan);
    snprintf(why, sizeof(why), "the object's only copy was on rank %d, which died", rank);
    for (size_t i = 0; i < scan.count; ++i) {
        rt_obj_t *obj = scan.items[i];

        obj->kind = RT_VALUE_INLINE; /* no copy left to free */
        rt_obj_set_error(obj, RMPI_ERR_OBJECT_LOST, why);
    }
    free(scan.items);
}

static void rt_fail_locates(int rank)
{
    rt_dead_scan_t scan = {.rank = rank};
    char           why[96];

    base_hash_foreach(&rt.locates, rt_scan_locate, &scan);
    snprintf(why, sizeof(why), "the object's owner, rank %d, died", rank);
    for (size_t i = 0; i < scan.count; ++i) {
        rt_locate_req_t *req   = scan.items[i];
        rt_value_t       value = {.kind   = RT_VALUE_ERROR,
                                  .status = RMPI_ERR_OWNER_DIED,
                                  .data   = why,
                                  .size   = strlen(why)};

        base_hash_remove(&rt.locates, &req->hnode);
        req->cb(req, &value);
    }
    free(scan.items);
}

void rt_on_peer_failure(void *arg, int rank, rmpi_status_t reason)
{
    (void)arg;
    base_warn("runtime: rank %d died (%s)", rank, rmpi_status_str(reason));
    atomic_store(&rt.peers_died, true);
    if (rt.cluster == NULL) {
        return; /* during wire-up: rmpi_init fails by its timeout or the transport */
    }
    rt_cluster_mark_dead(rt.cluster, rank);
    pthread_mutex_lock(&rt.lock);
    rt_actor_refs_rank_died(rank);
    rt_actor_names_rank_died(rank);
    rt_fail_tasks(rank);
    rt_fail_objects(rank);
    rt_fail_locates(rank);
    rt_pg_on_peer_failure(rank);
    rt_devobj_rank_died(rank);   /* readers waiting for its device objects' host copies */
    rt_nodepull_rank_died(rank); /* readers waiting for it as their node's puller fail over */
    pthread_mutex_unlock(&rt.lock);
    rt_push_ready();
}
