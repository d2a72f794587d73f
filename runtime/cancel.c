/*
 * runtime/cancel.c - rmpi_cancel and the executor's CANCEL handler.
 *
 * A task waiting for its arguments is failed on the spot. A pushed task is
 * asked to stop at its executor: removed if still queued (its returns fail
 * with RMPI_ERR_CANCELED), flagged if running (rmpi_task_canceled() turns
 * true; the task decides when to stop — user code is never interrupted in
 * the middle). RMPI_CANCEL_FORCE also fails the returns at once and drops
 * whatever the task produces later.
 */
#include "runtime/rt_int.h"

#include "base/log.h"

#include <stdlib.h>

void rt_cancel_send(rt_task_t *task, uint64_t flags)
{
    rt_cancel_t msg = {.task_id = task->id, .flags = (uint32_t)flags};
    uint8_t     buf[RT_CANCEL_LEN];

    (void)rt_send(task->exec_rank, RT_MSG_CANCEL, buf, rt_cancel_encode(&msg, buf), false);
}

rmpi_status_t rmpi_cancel(rmpi_ref_t ref, uint64_t flags)
{
    store_oid_t   oid = rt_oid_from_ref(ref);
    store_oid_t   id  = rt_oid_task(&oid);
    rt_task_t    *task;
    rmpi_status_t status = RMPI_OK;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if ((flags & ~(uint64_t)RMPI_CANCEL_FORCE) || rt_oid_owner(&oid) != rt.rank ||
        rt_oid_index(&oid) == RT_OID_PUT_INDEX) {
        base_error("rmpi_cancel: only tasks this rank submitted can be canceled (known flags)");
        return RMPI_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&rt.lock);
    task = rt_task_find(&id);
    if (task == NULL || task->state == RT_TASK_FINISHED) {
        status = rt_obj_find(&oid) != NULL ? RMPI_OK : RMPI_ERR_INVALID_ARG; /* done: no-op */
    } else if (task->state == RT_TASK_WAITING) {
        task->canceled = true;
        if (base_list_is_empty(&task->ready_link)) {
            rt_task_fail(task, RMPI_ERR_CANCELED, "canceled before it ran");
        }
    } else {
        task->canceled = true;
        rt_cancel_send(task, flags);
        if (flags & RMPI_CANCEL_FORCE) {
            rt_cluster_load_add(rt.cluster, task->exec_rank, -1);
            rt_task_fail(task, RMPI_ERR_CANCELED, "canceled (forced) while it ran");
        }
    }
    pthread_mutex_unlock(&rt.lock);
    rt_push_ready();
    return status;
}

void rt_on_cancel(int src, const void *data, size_t len)
{
    rt_cancel_t msg;
    rt_run_t   *run;
    bool        removed = false;

    if (rt_cancel_decode(data, len, &msg) != RMPI_OK || rt_oid_owner(&msg.task_id) != src) {
        rt_count_bad(src, RT_MSG_CANCEL, RMPI_ERR_MESSAGE);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    run = rt_run_find(&msg.task_id);
    if (run != NULL) {
        atomic_store(&run->canceled, true);
        if (!run->running && rt_exec_remove(rt.exec, &run->item)) {
            base_hash_remove(&rt.runs, &run->hnode);
            removed = true;
        }
    }
    pthread_mutex_unlock(&rt.lock);
    if (removed) {
        rt_exec_drop_canceled(run);
    }
}
