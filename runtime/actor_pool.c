/*
 * runtime/actor_pool.c - rmpi_actor_pool_*: Ray's ActorPool, on the public
 * actor API only. Each actor has one call in flight at most; submissions
 * beyond that wait in a FIFO and go to whichever actor's result is taken
 * first, so faster actors get more work. Calls get submission indices when
 * they are sent, in submission order (the FIFO keeps it), so "next in order"
 * is the busy actor with the smallest index.
 */
#include <raympi.h>

#include "base/log.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_METHOD_MAX 63

/* A submission waiting for an idle actor: its arguments are the pool's copies. */
typedef struct pool_call {
    struct pool_call *next;
    char              method[POOL_METHOD_MAX + 1];
    size_t            nargs;
    rmpi_task_arg_t  *args; /* values point into bytes; refs are retained */
    uint8_t          *bytes;
} pool_call_t;

typedef struct pool_slot {
    bool          busy;
    uint64_t      index;
    rmpi_ref_t    ref;
    rmpi_status_t failed; /* the call could not be made: its result is this error */
} pool_slot_t;

struct rmpi_actor_pool {
    rmpi_actor_t *actors;
    pool_slot_t  *slots;
    size_t        n, busy;
    pool_call_t  *head, *tail;
    uint64_t      next_index;
};

rmpi_status_t rmpi_actor_pool_create(const rmpi_actor_t *actors, size_t n,
                                     rmpi_actor_pool_h *pool_p)
{
    rmpi_actor_pool_h pool;

    if (actors == NULL || n == 0 || pool_p == NULL) {
        base_error("rmpi_actor_pool_create: at least one actor and a pool to set are needed");
        return RMPI_ERR_INVALID_ARG;
    }
    pool = calloc(1, sizeof(*pool));
    if (pool == NULL || (pool->actors = malloc(n * sizeof(*actors))) == NULL ||
        (pool->slots = calloc(n, sizeof(*pool->slots))) == NULL) {
        rmpi_actor_pool_destroy(pool);
        return RMPI_ERR_NO_MEMORY;
    }
    memcpy(pool->actors, actors, n * sizeof(*actors));
    pool->n = n;
    *pool_p = pool;
    return RMPI_OK;
}

/* --- pending calls --------------------------------------------------------------------- */

static void pool_call_free(pool_call_t *call)
{
    for (size_t i = 0; i < call->nargs; ++i) {
        if (call->args[i].kind == RMPI_ARG_REF) {
            rmpi_ref_free(call->args[i].ref);
        }
    }
    free(call->args);
    free(call->bytes);
    free(call);
}

static pool_call_t *pool_call_copy(const char *method, const rmpi_task_arg_t *args, size_t nargs)
{
    pool_call_t *call  = calloc(1, sizeof(*call));
    size_t       total = 0, at = 0;

    for (size_t i = 0; i < nargs; ++i) {
        total += args[i].kind == RMPI_ARG_VALUE ? args[i].size : 0;
    }
    if (call == NULL || (nargs > 0 && (call->args = calloc(nargs, sizeof(*args))) == NULL) ||
        (call->bytes = malloc(total > 0 ? total : 1)) == NULL) {
        if (call != NULL) {
            free(call->args);
        }
        free(call);
        return NULL;
    }
    snprintf(call->method, sizeof(call->method), "%s", method);
    for (size_t i = 0; i < nargs; ++i) {
        call->args[i] = args[i];
        if (args[i].kind == RMPI_ARG_REF) {
            (void)rmpi_ref_retain(args[i].ref);
        } else if (args[i].size > 0) {
            memcpy(call->bytes + at, args[i].data, args[i].size);
            call->args[i].data = call->bytes + at;
            at += args[i].size;
        }
        call->nargs = i + 1;
    }
    return call;
}

/* --- sending ------------------------------------------------------------------------------- */

static void pool_send(rmpi_actor_pool_h pool, size_t slot, const char *method,
                      const rmpi_task_arg_t *args, size_t nargs)
{
    pool_slot_t *s = &pool->slots[slot];

    s->failed = rmpi_actor_call(pool->actors[slot], method, args, nargs, NULL, &s->ref);
    s->busy   = true;
    s->index  = pool->next_index++;
    ++pool->busy;
}

static void pool_dispatch(rmpi_actor_pool_h pool, size_t slot)
{
    pool_call_t *call = pool->head;

    if (call == NULL) {
        return;
    }
    pool->head = call->next;
    if (pool->head == NULL) {
        pool->tail = NULL;
    }
    pool_send(pool, slot, call->method, call->args, call->nargs);
    pool_call_free(call);
}

rmpi_status_t rmpi_actor_pool_submit(rmpi_actor_pool_h pool, const char *method,
                                     const rmpi_task_arg_t *args, size_t nargs)
{
    pool_call_t *call;

    if (pool == NULL || method == NULL || strlen(method) > POOL_METHOD_MAX ||
        (nargs > 0 && args == NULL)) {
        base_error("rmpi_actor_pool_submit: a pool, a method and the arguments are needed");
        return RMPI_ERR_INVALID_ARG;
    }
    for (size_t slot = 0; slot < pool->n && pool->head == NULL; ++slot) {
        if (!pool->slots[slot].busy) {
            rmpi_status_t status;

            pool_send(pool, slot, method, args, nargs);
            status = pool->slots[slot].failed;
            if (status != RMPI_OK) { /* nothing was sent: the caller hears it now */
                pool->slots[slot].busy = false;
                --pool->busy;
                --pool->next_index;
            }
            return status;
        }
    }
    call = pool_call_copy(method, args, nargs);
    if (call == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    if (pool->tail != NULL) {
        pool->tail->next = call;
    } else {
        pool->head = call;
    }
    pool->tail = call;
    return RMPI_OK;
}

int rmpi_actor_pool_has_next(rmpi_actor_pool_h pool)
{
    return pool != NULL && pool->busy > 0;
}

/* --- results ---------------------------------------------------------------------------------- */

/* Take slot's result into @a obj; the actor is idle again and gets the next pending call. */
static rmpi_status_t pool_take(rmpi_actor_pool_h pool, size_t slot, double timeout,
                               rmpi_object_t *obj, size_t *index_p)
{
    pool_slot_t  *s = &pool->slots[slot];
    rmpi_status_t status;

    if (s->failed != RMPI_OK) {
        *obj   = (rmpi_object_t){.status = s->failed, .error = "the actor could not be called"};
        status = RMPI_OK;
    } else {
        status = rmpi_get(&s->ref, 1, timeout, obj);
        if (status == RMPI_ERR_TIMEOUT) {
            return status;
        }
        rmpi_ref_free(s->ref);
    }
    if (index_p != NULL) {
        *index_p = (size_t)s->index;
    }
    s->busy = false;
    --pool->busy;
    pool_dispatch(pool, slot);
    return status;
}

rmpi_status_t rmpi_actor_pool_get_next(rmpi_actor_pool_h pool, double timeout, rmpi_object_t *obj)
{
    size_t best = SIZE_MAX;

    if (pool == NULL || obj == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    for (size_t slot = 0; slot < pool->n; ++slot) {
        if (pool->slots[slot].busy &&
            (best == SIZE_MAX || pool->slots[slot].index < pool->slots[best].index)) {
            best = slot;
        }
    }
    return best == SIZE_MAX ? RMPI_ERR_NOT_FOUND : pool_take(pool, best, timeout, obj, NULL);
}

rmpi_status_t rmpi_actor_pool_get_next_unordered(rmpi_actor_pool_h pool, double timeout,
                                                 rmpi_object_t *obj, size_t *index_p)
{
    rmpi_ref_t   *refs;
    size_t       *which, count = 0, ready_count = 0;
    uint8_t      *ready;
    rmpi_status_t status;

    if (pool == NULL || obj == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    for (size_t slot = 0; slot < pool->n; ++slot) {
        if (pool->slots[slot].busy && pool->slots[slot].failed != RMPI_OK) {
            return pool_take(pool, slot, timeout, obj, index_p); /* ready at once */
        }
    }
    if (pool->busy == 0) {
        return RMPI_ERR_NOT_FOUND;
    }
    refs   = malloc(pool->busy * sizeof(*refs));
    which  = malloc(pool->busy * sizeof(*which));
    ready  = calloc(pool->busy, 1);
    status = refs != NULL && which != NULL && ready != NULL ? RMPI_OK : RMPI_ERR_NO_MEMORY;
    for (size_t slot = 0; status == RMPI_OK && slot < pool->n; ++slot) {
        if (pool->slots[slot].busy) {
            which[count]  = slot;
            refs[count++] = pool->slots[slot].ref;
        }
    }
    if (status == RMPI_OK) {
        status = rmpi_wait(refs, count, 1, timeout, 0, ready, &ready_count);
    }
    for (size_t i = 0; status == RMPI_OK && i < count; ++i) {
        if (ready[i]) {
            status = pool_take(pool, which[i], timeout, obj, index_p);
            break;
        }
    }
    free(refs), free(which), free(ready);
    return status == RMPI_OK && ready_count == 0 ? RMPI_ERR_TIMEOUT : status;
}

rmpi_status_t rmpi_actor_pool_map(rmpi_actor_pool_h pool, const char *method,
                                  const rmpi_task_arg_t *inputs, size_t n, int unordered,
                                  double timeout, rmpi_object_t *objs, size_t *indices)
{
    rmpi_status_t status = RMPI_OK;
    size_t        done   = 0;

    if (pool == NULL || (n > 0 && (inputs == NULL || objs == NULL)) || pool->busy > 0 ||
        pool->head != NULL) {
        base_error("rmpi_actor_pool_map: an idle pool, inputs and room for the results are needed");
        return RMPI_ERR_INVALID_ARG;
    }
    uint64_t first = pool->next_index;
    for (size_t i = 0; status == RMPI_OK && i < n; ++i) {
        status = rmpi_actor_pool_submit(pool, method, &inputs[i], 1);
    }
    while (status == RMPI_OK && done < n) {
        size_t index;

        if (unordered) {
            status = rmpi_actor_pool_get_next_unordered(pool, timeout, &objs[done], &index);
            if (status == RMPI_OK && indices != NULL) {
                indices[done] = index - (size_t)first;
            }
        } else {
            status = rmpi_actor_pool_get_next(pool, timeout, &objs[done]);
        }
        done += status == RMPI_OK;
    }
    for (size_t i = 0; status != RMPI_OK && i < done; ++i) {
        rmpi_object_release(&objs[i]); /* all or nothing */
    }
    return status;
}

void rmpi_actor_pool_destroy(rmpi_actor_pool_h pool)
{
    if (pool == NULL) {
        return;
    }
    while (pool->head != NULL) {
        pool_call_t *call = pool->head;

        pool->head = call->next;
        pool_call_free(call);
    }
    for (size_t slot = 0; pool->slots != NULL && slot < pool->n; ++slot) {
        if (pool->slots[slot].busy && pool->slots[slot].failed == RMPI_OK) {
            rmpi_ref_free(pool->slots[slot].ref);
        }
    }
    free(pool->slots);
    free(pool->actors);
    free(pool);
}
