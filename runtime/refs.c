/*
 * runtime/refs.c - handles on refs (rmpi_ref_free / rmpi_ref_retain), the
 * borrowers' REF_UPDATE reports to owners, and FREE of primary copies.
 *
 * An owner counts its own handles exactly and its borrowers by the sum of
 * the deltas they report (a borrower reports only its 0->1 and 1->0
 * transitions, so a busy borrower costs its owner two messages per object).
 */
#include "runtime/devobj.h"
#include "runtime/msg_nodepull.h"
#include "runtime/nodepull.h"
#include "runtime/rt_int.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rmpi_status_t rt_ref_change(rmpi_ref_t ref, int delta, const char *what)
{
    store_oid_t   oid    = rt_oid_from_ref(ref);
    int           owner  = rt_oid_owner(&oid);
    rmpi_status_t status = RMPI_OK;
    char          id[33];

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (owner < 0 || owner >= rt.size) {
        store_oid_format(&oid, id);
        base_error("%s: %s is not a ref of this job", what, id);
        return RMPI_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&rt.lock);
    if (owner == rt.rank) {
        rt_obj_t *obj = rt_obj_find(&oid);

        if (obj == NULL || (delta < 0 && obj->handles == 0)) {
            status = RMPI_ERR_INVALID_ARG;
        } else if (delta > 0) {
            ++obj->handles;
        } else {
            --obj->handles;
            rt_obj_maybe_free(obj);
        }
    } else {
        status = rt_borrow_add(&oid, delta);
    }
    pthread_mutex_unlock(&rt.lock);
    if (status != RMPI_OK) {
        store_oid_format(&oid, id);
        base_error("%s: ref %s was already freed", what, id);
    }
    return status;
}

rmpi_status_t rmpi_ref_free(rmpi_ref_t ref)
{
    return rt_ref_change(ref, -1, "rmpi_ref_free");
}

rmpi_status_t rmpi_ref_retain(rmpi_ref_t ref)
{
    return rt_ref_change(ref, +1, "rmpi_ref_retain");
}

int rmpi_ref_owner(rmpi_ref_t ref)
{
    store_oid_t oid = rt_oid_from_ref(ref);

    return rt_oid_owner(&oid);
}

void rmpi_ref_format(rmpi_ref_t ref, char *buf)
{
    store_oid_t oid = rt_oid_from_ref(ref);

    if (buf != NULL) {
        store_oid_format(&oid, buf);
    }
}

void rt_on_ref_update(int src, const void *data, size_t len)
{
    rt_ref_delta_t *deltas;
    size_t          count;

    if (rt_ref_update_decode(data, len, &deltas, &count) != RMPI_OK) {
        rt_count_bad(src, RT_MSG_REF_UPDATE, RMPI_ERR_MESSAGE);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    for (size_t i = 0; i < count; ++i) {
        rt_obj_t *obj = rt_obj_find(&deltas[i].oid);

        if (obj == NULL) {
            continue; /* freed already: a late release, or a borrow of a freed ref */
        }
        if (deltas[i].delta < 0 && obj->borrows < (uint32_t)-deltas[i].delta) {
            obj->borrows = 0;
        } else {
            obj->borrows += (uint32_t)deltas[i].delta;
        }
        rt_obj_maybe_free(obj);
    }
    pthread_mutex_unlock(&rt.lock);
    free(deltas);
}

static void rt_delete_copy(const store_oid_t *oid)
{
    if (rt_devobj_delete(oid)) {
        return; /* a device object, and its host copy if it had one */
    }
    rt_nodepull_forget(oid); /* a node copy is pinned like a primary one */
    (void)store_unpin(rt.store, oid);
    (void)store_delete(rt.store, oid);
}

/* Delete the node copy of @a oid that @a rank keeps (caller holds the lock). */
static void rt_free_node_copy(const store_oid_t *oid, int rank)
{
    uint8_t buf[RT_MSG_HDR_LEN + 64];

    if (rank == rt.rank) {
        rt_delete_copy(oid);
    } else if (rank >= 0 && rank < rt.size && !xport_peer_dead(rt.xp, rank)) {
        (void)rt_send(rank, RT_MSG_FREE, buf, rt_free_encode(oid, 1, buf), false);
    }
}

void rt_free_node_copies(rt_obj_t *obj)
{
    for (uint32_t i = 0; i < obj->num_copies; ++i) {
        rt_free_node_copy(&obj->oid, obj->copies[i]);
    }
    free(obj->copies);
    obj->copies     = NULL;
    obj->num_copies = 0;
}

/* Note that @a rank keeps a node copy of @a obj; false when out of memory. */
static bool rt_obj_add_copy(rt_obj_t *obj, int rank)
{
    int32_t *copies;

    for (uint32_t i = 0; i < obj->num_copies; ++i) {
        if (obj->copies[i] == rank) {
            return true;
        }
    }
    copies = realloc(obj->copies, (obj->num_copies + 1) * sizeof(*copies));
    if (copies == NULL) {
        return false;
    }
    obj->copies                    = copies;
    obj->copies[obj->num_copies++] = rank;
    return true;
}

/*
 * A puller keeps a node copy of one of our objects (nodepull.h): remember it
 * for FREE, or free it now when the object is gone already.
 */
void rt_on_node_copy(int src, const void *data, size_t len)
{
    store_oid_t oid;
    rt_obj_t   *obj;

    if (rt_node_copy_decode(data, len, &oid) != RMPI_OK || rt_oid_owner(&oid) != rt.rank) {
        rt_count_bad(src, RT_MSG_NODE_COPY, RMPI_ERR_MESSAGE);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    obj = rt_obj_find(&oid);
    if (obj == NULL || obj->state != RT_OBJ_READY || obj->kind != RT_VALUE_STORED ||
        !rt_obj_add_copy(obj, src)) {
        rt_free_node_copy(&oid, src);
    }
    pthread_mutex_unlock(&rt.lock);
}

void rt_free_copy(const store_oid_t *oid, const rt_location_t *loc)
{
    uint8_t buf[RT_MSG_HDR_LEN + 64];
    size_t  len;

    if (loc->rank == rt.rank) {
        rt_delete_copy(oid);
        return;
    }
    (void)store_delete(rt.store, oid); /* our cached secondary copy, if any */
    if (loc->rank < 0 || loc->rank >= rt.size || xport_peer_dead(rt.xp, loc->rank)) {
        return;
    }
    len = rt_free_encode(oid, 1, buf);
    (void)rt_send(loc->rank, RT_MSG_FREE, buf, len, false);
}

void rt_on_free(int src, const void *data, size_t len)
{
    const store_oid_t *oids;
    size_t             count;

    if (rt_free_decode(data, len, &oids, &count) != RMPI_OK) {
        rt_count_bad(src, RT_MSG_FREE, RMPI_ERR_MESSAGE);
        return;
    }
    for (size_t i = 0; i < count; ++i) {
        store_oid_t oid;

        memcpy(&oid, &oids[i], sizeof(oid));
        if (rt_oid_owner(&oid) != src) {
            rt_count_bad(src, RT_MSG_FREE, RMPI_ERR_MESSAGE); /* only owners free */
            continue;
        }
        rt_delete_copy(&oid);
    }
}
