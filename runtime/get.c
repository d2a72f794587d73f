/*
 * runtime/get.c - futures: rmpi_get, rmpi_wait, rmpi_object_release, and the
 * owner's answers to LOCATE.
 *
 * A get waits for each object where its state lives: an owned object by a
 * listener on its table entry, a borrowed one by a LOCATE to its owner, who
 * answers when the object is ready (never polled). While the caller holds
 * the view it holds a handle on the ref, so the object cannot be freed under
 * it. Values are mapped, not copied, when they are in this node's shared
 * memory; inline values of borrowed objects are copied out of the reply.
 */
#include "runtime/fiber.h"
#include "runtime/rt_int.h"
#include "runtime/timeline.h"

#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One object a get or wait is waiting for. */
typedef struct rt_slot {
    rt_listener_t   listener; /**< owned and pending */
    rt_locate_req_t locate;   /**< borrowed */
    struct rt_wait *wait;
    store_oid_t     oid;
    bool            owned;
    bool            waiting;
    bool            ready;
    bool            held;  /**< we took a handle (get) */
    rt_value_t      value; /**< when ready; inline data: obj's or `copy` */
    void           *copy;  /**< malloc'd inline bytes or error text of a borrowed object */
} rt_slot_t;

typedef struct rt_wait {
    struct rt_fiber *fiber;  /**< waiting in a fibre of an async actor: woken, not signalled */
    base_waker_t    *waker;  /**< the waiting thread's (woken once the waker unlocks) */
    size_t           ready;
    size_t           target;
} rt_wait_t;

/* The view behind an rmpi_object_t. */
typedef struct rt_view {
    store_oid_t       oid;
    bool              owned;
    bool              mapped;
    rt_map_kind_t     kind;
    void             *copy;
    char             *error;
    rmpi_array_desc_t array;
} rt_view_t;

static void rt_slot_ready(rt_slot_t *slot)
{
    slot->waiting = false;
    slot->ready   = true;
    if (++slot->wait->ready == slot->wait->target) {
        if (slot->wait->fiber != NULL) {
            rt_fiber_wake_locked(slot->wait->fiber);
        } else {
            base_waker_wake_later(slot->wait->waker);
        }
    }
}

static void rt_slot_on_ready(rt_listener_t *listener, rt_obj_t *obj)
{
    rt_slot_t *slot = base_container_of(listener, rt_slot_t, listener);

    rt_obj_value(obj, &slot->value);
    rt_slot_ready(slot);
}

static void rt_slot_on_located(rt_locate_req_t *req, const rt_value_t *value)
{
    rt_slot_t *slot = base_container_of(req, rt_slot_t, locate);

    slot->value = *value;
    if (value->kind == RT_VALUE_INLINE || value->kind == RT_VALUE_ERROR) {
        slot->copy = malloc(value->size + 1);
        if (slot->copy == NULL) {
            slot->value = (rt_value_t){
                .kind = RT_VALUE_ERROR, .status = RMPI_ERR_NO_MEMORY, .data = "", .size = 0};
        } else {
            memcpy(slot->copy, value->data, value->size);
            ((char *)slot->copy)[value->size] = '\0';
            slot->value.data                  = slot->copy;
        }
    }
    rt_slot_ready(slot);
}

static void rt_slot_error(rt_slot_t *slot, rmpi_status_t status, const char *msg)
{
    slot->value =
        (rt_value_t){.kind = RT_VALUE_ERROR, .status = status, .data = msg, .size = strlen(msg)};
    rt_slot_ready(slot);
}

/* Start waiting for one object (caller holds the lock). */
static rmpi_status_t rt_slot_start(rt_slot_t *slot, bool hold)
{
    int owner = rt_oid_owner(&slot->oid);

    slot->owned = owner == rt.rank;
    base_list_init(&slot->listener.link);
    if (slot->owned) {
        rt_obj_t *obj = rt_obj_find(&slot->oid);

        if (obj == NULL || (obj->handles == 0 && obj->borrows == 0 && obj->uses == 0)) {
            return RMPI_ERR_INVALID_ARG;
        }
        if (hold) {
            ++obj->handles;
            slot->held = true;
        }
        if (obj->state == RT_OBJ_READY) {
            rt_obj_value(obj, &slot->value);
            rt_slot_ready(slot);
            return RMPI_OK;
        }
        slot->waiting = true;
        rt_obj_listen(obj, &slot->listener, rt_slot_on_ready);
        return RMPI_OK;
    }
    if (owner < 0 || owner >= rt.size) {
        return RMPI_ERR_INVALID_ARG;
    }
    if (hold) {
        (void)rt_borrow_add(&slot->oid, +1);
        slot->held = true;
    }
    slot->locate.oid     = slot->oid;
    slot->locate.cb      = rt_slot_on_located;
    slot->waiting        = true;
    rmpi_status_t status = rt_locate_start(&slot->locate);
    if (status != RMPI_OK) {
        rt_slot_error(slot, status, "the object's owner is dead");
    }
    return RMPI_OK;
}

/* Stop waiting and drop what the slot holds (caller holds the lock). */
static void rt_slot_stop(rt_slot_t *slot, bool drop_hold)
{
    if (slot->waiting) {
        if (slot->owned) {
            rt_obj_unlisten(&slot->listener);
        } else {
            rt_locate_cancel(&slot->locate);
        }
        slot->waiting = false;
    }
    if (drop_hold && slot->held) {
        slot->held = false;
        if (slot->owned) {
            rt_obj_t *obj = rt_obj_find(&slot->oid);

            if (obj != NULL && obj->handles > 0) {
                --obj->handles;
                rt_obj_maybe_free(obj);
            }
        } else {
            (void)rt_borrow_add(&slot->oid, -1);
        }
    }
}

/*
 * Wait (rt.lock held) until wait->ready reaches wait->target or the deadline.
 * A task thread gives its CPU back meanwhile; the executor's lock is never
 * taken under rt.lock, so the lock is dropped around block_begin/end.
 */
/* In a fibre: switch to the actor's other calls until ready or the deadline. */
static bool rt_wait_in_fiber(rt_wait_t *wait, double deadline)
{
    wait->fiber = rt_fiber_self();
    while (wait->ready < wait->target) {
        if (!rt_fiber_wait_locked(deadline) && deadline >= 0 && rt_now() >= deadline) {
            break;
        }
    }
    wait->fiber = NULL;
    return wait->ready >= wait->target;
}

static bool rt_wait_until(rt_wait_t *wait, double deadline)
{
    bool on_pool   = rt.exec != NULL && rt_exec_on_pool_thread(rt.exec);
    bool timed_out = false;

    if (wait->ready >= wait->target) {
        return true;
    }
    if (rt_fiber_self() != NULL) {
        return rt_wait_in_fiber(wait, deadline);
    }
    if (on_pool) {
        pthread_mutex_unlock(&rt.lock);
        rt_exec_block_begin(rt.exec);
        pthread_mutex_lock(&rt.lock);
    }
    while (wait->ready < wait->target && !timed_out) {
        timed_out = rt_waker_wait_locked(wait->waker, deadline) == ETIMEDOUT;
    }
    if (on_pool) {
        pthread_mutex_unlock(&rt.lock);
        rt_exec_block_end(rt.exec);
        pthread_mutex_lock(&rt.lock);
    }
    return wait->ready >= wait->target;
}

static rt_slot_t *rt_slots_new(const rmpi_ref_t *refs, size_t n, rt_wait_t *wait)
{
    rt_slot_t *slots = calloc(n, sizeof(*slots));

    for (size_t i = 0; slots != NULL && i < n; ++i) {
        slots[i].oid  = rt_oid_from_ref(refs[i]);
        slots[i].wait = wait;
    }
    wait->waker = base_waker_self();
    if (wait->waker == NULL) {
        free(slots);
        return NULL;
    }
    return slots;
}

static void rt_slots_free(rt_slot_t *slots, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        free(slots[i].copy);
    }
    free(slots);
}

static double rt_deadline(double timeout)
{
    return timeout < 0 ? -1 : rt_now() + timeout;
}

/* --- rmpi_get ----------------------------------------------------------------------------- */

static rmpi_status_t rt_view_object(rt_slot_t *slot, rmpi_object_t *obj)
{
    rt_view_t    *view = calloc(1, sizeof(*view));
    store_view_t  sview;
    rmpi_status_t status = RMPI_OK;

    memset(obj, 0, sizeof(*obj));
    obj->error = "";
    if (view == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    view->oid   = slot->oid;
    view->owned = slot->owned;
    view->copy  = slot->copy;
    slot->copy  = NULL;
    obj->priv_  = view;
    if (slot->value.has_array) {
        view->array = slot->value.array;
        obj->array  = &view->array;
    }
    switch (slot->value.kind) {
    case RT_VALUE_INLINE:
        obj->data = slot->value.data;
        obj->size = slot->value.size;
        break;
    case RT_VALUE_STORED:
        status = rt_map_stored(&slot->oid, &slot->value.loc, &sview, &view->kind);
        if (status == RMPI_OK) {
            view->mapped = true;
            obj->data    = sview.ptr;
            obj->size    = sview.size;
        } else {
            obj->status = RMPI_ERR_OBJECT_LOST;
            obj->error  = "the object's copy could not be read";
        }
        break;
    default:
        view->error = strndup(slot->value.data != NULL ? slot->value.data : "", slot->value.size);
        obj->status = slot->value.status;
        obj->error  = view->error != NULL ? view->error : "";
        break;
    }
    return obj->status;
}

rmpi_status_t rmpi_get(const rmpi_ref_t *refs, size_t n, double timeout, rmpi_object_t *objs)
{
    rt_wait_t     wait = {.target = n};
    rt_slot_t    *slots;
    rmpi_status_t status = RMPI_OK, first = RMPI_OK;
    uint64_t      start;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (refs == NULL || objs == NULL || n == 0) {
        base_error("rmpi_get: needs at least one ref and room for the objects");
        return RMPI_ERR_INVALID_ARG;
    }
    slots = rt_slots_new(refs, n, &wait);
    if (slots == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    start = rt_timeline_enabled() ? rt_timeline_now_us() : 0;
    pthread_mutex_lock(&rt.lock);
    for (size_t i = 0; i < n && status == RMPI_OK; ++i) {
        status = rt_slot_start(&slots[i], true);
        if (status != RMPI_OK) {
            char id[33];

            store_oid_format(&slots[i].oid, id);
            base_error("rmpi_get: ref %zu (%s) was freed or is not of this job", i, id);
        }
    }
    if (status == RMPI_OK && !rt_wait_until(&wait, rt_deadline(timeout))) {
        status = RMPI_ERR_TIMEOUT;
    }
    if (status != RMPI_OK) {
        for (size_t i = 0; i < n; ++i) {
            rt_slot_stop(&slots[i], true);
        }
    }
    pthread_mutex_unlock(&rt.lock);
    if (status != RMPI_OK) {
        rt_slots_free(slots, n);
        return status;
    }
    for (size_t i = 0; i < n; ++i) {
        status = rt_view_object(&slots[i], &objs[i]);
        if (status != RMPI_OK && first == RMPI_OK) {
            first = status;
        }
    }
    if (start != 0) {
        rt_timeline_span("get", "get", start, rt_timeline_now_us() - start, NULL);
    }
    rt_slots_free(slots, n);
    return first;
}

void rmpi_object_release(rmpi_object_t *obj)
{
    rt_view_t *view;

    if (obj == NULL || obj->priv_ == NULL) {
        return;
    }
    view = obj->priv_;
    if (view->mapped && view->kind != RT_MAP_PEER) {
        (void)store_release(rt.store, &view->oid);
    }
    pthread_mutex_lock(&rt.lock);
    if (view->owned) {
        rt_obj_t *entry = rt_obj_find(&view->oid);

        if (entry != NULL && entry->handles > 0) {
            --entry->handles;
            rt_obj_maybe_free(entry);
        }
    } else {
        rt_borrow_t *borrow = rt_borrow_find(&view->oid);

        if (borrow != NULL && view->mapped && view->kind == RT_MAP_PULLED) {
            borrow->has_copy = true;
        }
        (void)rt_borrow_add(&view->oid, -1);
    }
    pthread_mutex_unlock(&rt.lock);
    free(view->copy);
    free(view->error);
    free(view);
    memset(obj, 0, sizeof(*obj));
}

/* --- rmpi_wait -------------------------------------------------------------------------------- */

static void rt_wait_fetch(rt_slot_t *slot)
{
    store_view_t  view;
    rt_map_kind_t kind;

    if (slot->value.kind != RT_VALUE_STORED ||
        rt_map_stored(&slot->oid, &slot->value.loc, &view, &kind) != RMPI_OK) {
        return;
    }
    if (kind != RT_MAP_PEER) {
        (void)store_release(rt.store, &slot->oid);
    }
    if (kind == RT_MAP_PULLED && !slot->owned) {
        pthread_mutex_lock(&rt.lock);
        rt_borrow_t *borrow = rt_borrow_find(&slot->oid);
        if (borrow != NULL) {
            borrow->has_copy = true;
        }
        pthread_mutex_unlock(&rt.lock);
    }
}

rmpi_status_t rmpi_wait(const rmpi_ref_t *refs, size_t n, size_t num_returns, double timeout,
                        uint64_t flags, uint8_t *ready, size_t *num_ready_p)
{
    rt_wait_t     wait = {.target = num_returns};
    rt_slot_t    *slots;
    rmpi_status_t status = RMPI_OK;
    size_t        count  = 0;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (refs == NULL || ready == NULL || num_ready_p == NULL || n == 0 || num_returns == 0 ||
        num_returns > n || (flags & ~(uint64_t)RMPI_WAIT_FETCH_LOCAL)) {
        base_error("rmpi_wait: needs 1 <= num_returns <= n refs, a ready array and known flags");
        return RMPI_ERR_INVALID_ARG;
    }
    slots = rt_slots_new(refs, n, &wait);
    if (slots == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    pthread_mutex_lock(&rt.lock);
    for (size_t i = 0; i < n && status == RMPI_OK; ++i) {
        status = rt_slot_start(&slots[i], false);
    }
    if (status == RMPI_OK) {
        (void)rt_wait_until(&wait, rt_deadline(timeout));
    }
    for (size_t i = 0; i < n; ++i) {
        rt_slot_stop(&slots[i], false);
    }
    pthread_mutex_unlock(&rt.lock);
    if (status != RMPI_OK) {
        base_error("rmpi_wait: a ref was freed or is not of this job");
        rt_slots_free(slots, n);
        return status;
    }
    for (size_t i = 0; i < n; ++i) {
        if (slots[i].ready && (flags & RMPI_WAIT_FETCH_LOCAL)) {
            rt_wait_fetch(&slots[i]);
        }
        ready[i] = slots[i].ready;
        count += slots[i].ready;
    }
    rt_slots_free(slots, n);
    *num_ready_p = count;
    return RMPI_OK;
}

/* --- LOCATE at the owner
 * --------------------------------------------------------------------------- */

typedef struct rt_remote_waiter {
    rt_listener_t listener;
    int           asker;
    uint64_t      cookie;
} rt_remote_waiter_t;

static void rt_locate_reply(int asker, uint64_t cookie, const store_oid_t *oid,
                            const rt_value_t *value)
{
    rt_locate_reply_t reply = {.oid = *oid, .cookie = cookie, .value = *value};
    size_t            len   = rt_locate_reply_size(&reply);
    void             *buf   = malloc(len);

    if (buf != NULL) {
        rt_locate_reply_encode(&reply, buf);
        (void)rt_send(asker, RT_MSG_LOCATE_REPLY, buf, len, true);
    }
}

static void rt_remote_on_ready(rt_listener_t *listener, rt_obj_t *obj)
{
    rt_remote_waiter_t *waiter = base_container_of(listener, rt_remote_waiter_t, listener);
    rt_value_t          value;

    rt_obj_value(obj, &value);
    rt_locate_reply(waiter->asker, waiter->cookie, &obj->oid, &value);
    free(waiter);
}

void rt_on_locate(int src, const void *data, size_t len)
{
    rt_locate_t msg;
    rt_obj_t   *obj;

    if (rt_locate_decode(data, len, &msg) != RMPI_OK) {
        rt_count_bad(src, RT_MSG_LOCATE, RMPI_ERR_MESSAGE);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    obj = rt_obj_find(&msg.oid);
    if (obj == NULL) {
        static const char why[] = "the object was freed or never existed";
        rt_value_t        value = {.kind   = RT_VALUE_ERROR,
                                   .status = RMPI_ERR_NOT_FOUND,
                                   .data   = why,
                                   .size   = sizeof(why) - 1};

        rt_locate_reply(src, msg.cookie, &msg.oid, &value);
    } else if (obj->state == RT_OBJ_READY) {
        rt_value_t value;

        rt_obj_value(obj, &value);
        rt_locate_reply(src, msg.cookie, &msg.oid, &value);
    } else {
        rt_remote_waiter_t *waiter = malloc(sizeof(*waiter));

        if (waiter != NULL) {
            waiter->asker  = src;
            waiter->cookie = msg.cookie;
            rt_obj_listen(obj, &waiter->listener, rt_remote_on_ready);
        }
    }
    pthread_mutex_unlock(&rt.lock);
}

void rt_on_locate_reply(int src, const void *data, size_t len)
{
    rt_locate_reply_t msg;
    base_hash_node_t *node;

    if (rt_locate_reply_decode(data, len, &msg) != RMPI_OK) {
        rt_count_bad(src, RT_MSG_LOCATE_REPLY, RMPI_ERR_MESSAGE);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    node = base_hash_find(&rt.locates, &msg.cookie);
    if (node != NULL) {
        rt_locate_req_t *req = base_container_of(node, rt_locate_req_t, hnode);

        if (store_oid_equal(&req->oid, &msg.oid) && req->owner == src) {
            base_hash_remove(&rt.locates, node);
            req->cb(req, &msg.value);
        } else {
            rt_count_bad(src, RT_MSG_LOCATE_REPLY, RMPI_ERR_MESSAGE);
        }
    }
    pthread_mutex_unlock(&rt.lock);
    rt_push_ready();
}
