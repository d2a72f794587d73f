/*
 * runtime/objtable.c - the owner's tables: objects, tasks, borrowed refs and
 * LOCATE requests in flight. Everything here runs under rt.lock.
 *
 * An owned object is freed when nothing holds it: no handle on this rank, no
 * borrower, no pending task taking it as an argument, and it is ready (a
 * pending object waits for its task so the result has somewhere to go; the
 * done handler frees it then). Freeing deletes its primary copy wherever it
 * lies (a FREE message to that rank).
 */
#include "runtime/rt_int.h"

#include "base/log.h"

#include <stdlib.h>
#include <string.h>

/* --- objects ---------------------------------------------------------------- */

rt_obj_t *rt_obj_find(const store_oid_t *oid)
{
    base_hash_node_t *node = base_hash_find(&rt.objs, oid);

    return node != NULL ? base_container_of(node, rt_obj_t, hnode) : NULL;
}

rt_obj_t *rt_obj_create(const store_oid_t *oid)
{
    rt_obj_t *obj = calloc(1, sizeof(*obj));

    if (obj == NULL) {
        return NULL;
    }
    obj->oid = *oid;
    base_list_init(&obj->listeners);
    if (base_hash_insert(&rt.objs, &obj->hnode, oid) != RMPI_OK) {
        free(obj);
        return NULL;
    }
    return obj;
}

static void rt_lineage_drop(rt_task_t *task)
{
    if (task != NULL && --task->lineage_refs == 0 && task->state == RT_TASK_FINISHED) {
        rt_task_remove(task);
        rt_task_free(task);
    }
}

bool rt_obj_maybe_free(rt_obj_t *obj)
{
    if (obj->handles > 0 || obj->borrows > 0 || obj->uses > 0 || obj->state != RT_OBJ_READY) {
        return false;
    }
    base_hash_remove(&rt.objs, &obj->hnode);
    if (obj->kind == RT_VALUE_STORED) {
        rt_free_copy(&obj->oid, &obj->loc);
    }
    rt_free_node_copies(obj);
    rt_lineage_drop(obj->task);
    free(obj->data);
    free(obj);
    return true;
}

static void rt_obj_fire(rt_obj_t *obj)
{
    base_list_t *it, *tmp;

    base_list_for_each_safe (it, tmp, &obj->listeners) {
        rt_listener_t *listener = base_container_of(it, rt_listener_t, link);

        base_list_del(&listener->link);
        base_list_init(&listener->link);
        listener->cb(listener, obj);
    }
}

void rt_obj_set_value(rt_obj_t *obj, const rt_value_t *value)
{
    if (value->kind == RT_VALUE_ERROR) {
        char   msg[RT_ERROR_MSG_MAX + 1];
        size_t len = value->size < RT_ERROR_MSG_MAX ? value->size : RT_ERROR_MSG_MAX;

        memcpy(msg, value->data, len);
        msg[len] = '\0';
        rt_obj_set_error(obj, value->status, msg);
        return;
    }
    obj->kind      = value->kind;
    obj->has_array = value->has_array;
    obj->array     = value->array;
    if (value->kind == RT_VALUE_INLINE) {
        obj->data = malloc(value->size > 0 ? value->size : 1);
        if (obj->data == NULL) {
            rt_obj_set_error(obj, RMPI_ERR_NO_MEMORY, "out of memory for a returned value");
            return;
        }
        if (value->size > 0) {
            memcpy(obj->data, value->data, value->size);
        }
        obj->size = value->size;
    } else {
        obj->loc  = value->loc;
        obj->size = value->loc.size;
    }
    obj->state = RT_OBJ_READY;
    rt_obj_fire(obj);
}

void rt_obj_set_error(rt_obj_t *obj, rmpi_status_t status, const char *msg)
{
    free(obj->data);
    obj->kind  = RT_VALUE_ERROR;
    obj->error = status;
    obj->data  = strdup(msg != NULL ? msg : "");
    obj->size  = obj->data != NULL ? strlen(obj->data) : 0;
    obj->state = RT_OBJ_READY;
    rt_obj_fire(obj);
}

void rt_obj_listen(rt_obj_t *obj, rt_listener_t *listener, rt_listener_cb_t cb)
{
    listener->cb = cb;
    base_list_add_tail(&obj->listeners, &listener->link);
}

void rt_obj_unlisten(rt_listener_t *listener)
{
    base_list_del(&listener->link);
    base_list_init(&listener->link);
}

void rt_obj_value(const rt_obj_t *obj, rt_value_t *value)
{
    memset(value, 0, sizeof(*value));
    value->kind      = obj->kind;
    value->has_array = obj->has_array;
    value->array     = obj->array;
    value->data      = obj->data;
    value->size      = obj->size;
    value->loc       = obj->loc;
    value->status    = obj->error;
}

/* --- tasks ------------------------------------------------------------------- */

rt_task_t *rt_task_find(const store_oid_t *id)
{
    base_hash_node_t *node = base_hash_find(&rt.tasks, id);

    return node != NULL ? base_container_of(node, rt_task_t, hnode) : NULL;
}

void rt_task_insert(rt_task_t *task)
{
    (void)base_hash_insert(&rt.tasks, &task->hnode, &task->id);
}

void rt_task_remove(rt_task_t *task)
{
    base_hash_remove(&rt.tasks, &task->hnode);
}

void rt_task_free(rt_task_t *task)
{
    base_list_t *it, *tmp;

    base_list_for_each_safe (it, tmp, &task->bufs) {
        free(base_container_of(it, rt_buf_t, link));
    }
    free(task->spec.args);
    free(task->deps);
    free(task->dep_message);
    free(task->lineage);
    free(task);
}

void *rt_task_buf(rt_task_t *task, const void *data, size_t size)
{
    rt_buf_t *buf = malloc(sizeof(*buf) + size);

    if (buf == NULL) {
        return NULL;
    }
    buf->size = size;
    memcpy(buf->data, data, size);
    base_list_add_tail(&task->bufs, &buf->link);
    return buf->data;
}

/* --- borrowed refs ------------------------------------------------------------- */

rt_borrow_t *rt_borrow_find(const store_oid_t *oid)
{
    base_hash_node_t *node = base_hash_find(&rt.borrows, oid);

    return node != NULL ? base_container_of(node, rt_borrow_t, hnode) : NULL;
}

static void rt_borrow_report(const store_oid_t *oid, int delta)
{
    rt_ref_delta_t entry = {*oid, delta};
    uint8_t        buf[RT_MSG_HDR_LEN + 64];
    size_t         len = rt_ref_update_encode(&entry, 1, buf);

    (void)rt_send(rt_oid_owner(oid), RT_MSG_REF_UPDATE, buf, len, false);
}

rmpi_status_t rt_borrow_add(const store_oid_t *oid, int delta)
{
    rt_borrow_t *borrow = rt_borrow_find(oid);

    if (borrow == NULL) {
        if (delta < 0) {
            return RMPI_ERR_INVALID_ARG;
        }
        borrow = calloc(1, sizeof(*borrow));
        if (borrow == NULL) {
            return RMPI_ERR_NO_MEMORY;
        }
        borrow->oid = *oid;
        (void)base_hash_insert(&rt.borrows, &borrow->hnode, oid);
    }
    if (delta > 0 && borrow->handles++ == 0) {
        rt_borrow_report(oid, +1);
    } else if (delta < 0 && --borrow->handles == 0) {
        rt_borrow_report(oid, -1);
        if (borrow->has_copy) {
            (void)store_delete(rt.store, oid);
        }
        base_hash_remove(&rt.borrows, &borrow->hnode);
        free(borrow);
    }
    return RMPI_OK;
}

/* --- LOCATE requests ------------------------------------------------------------- */

rmpi_status_t rt_locate_start(rt_locate_req_t *req)
{
    rt_locate_t   msg;
    uint8_t       buf[RT_LOCATE_LEN];
    rmpi_status_t status;

    req->owner  = rt_oid_owner(&req->oid);
    req->cookie = ++rt.next_cookie;
    msg.oid     = req->oid;
    msg.cookie  = req->cookie;
    if (req->owner < 0 || req->owner >= rt.size) {
        return RMPI_ERR_NOT_FOUND;
    }
    if (xport_peer_dead(rt.xp, req->owner)) {
        return RMPI_ERR_OWNER_DIED;
    }
    (void)base_hash_insert(&rt.locates, &req->hnode, &req->cookie);
    status = rt_send(req->owner, RT_MSG_LOCATE, buf, rt_locate_encode(&msg, buf), false);
    if (status != RMPI_OK) {
        base_hash_remove(&rt.locates, &req->hnode);
        return status == RMPI_ERR_PEER_DIED ? RMPI_ERR_OWNER_DIED : status;
    }
    return RMPI_OK;
}

void rt_locate_cancel(rt_locate_req_t *req)
{
    if (base_hash_find(&rt.locates, &req->cookie) == &req->hnode) {
        base_hash_remove(&rt.locates, &req->hnode);
    }
}
