/*
 * runtime/execute.c - the executor's side of a task: a TASK_PUSH is queued on
 * the rank's pool; a pool thread maps the arguments (zero-copy on the node),
 * runs the function, seals its returns and sends TASK_DONE to the owner.
 *
 * Returns up to RT_INLINE_MAX travel in the TASK_DONE; larger ones are
 * created in this rank's store (rmpi_return_alloc writes them in place),
 * pinned — peers read them in place — and freed when the owner says FREE.
 */
#include "runtime/actor.h"
#include "runtime/devobj.h"
#include "runtime/nodepull.h"
#include "runtime/rt_int.h"
#include "runtime/timeline.h"

#include "base/log.h"
#include "gpu/gpu.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RT_PULL_TIMEOUT 600.0
#define RT_ARGS_ON_STACK 16

/* --- receiving ---------------------------------------------------------------------- */

rt_run_t *rt_run_find(const store_oid_t *task_id)
{
    base_hash_node_t *node = base_hash_find(&rt.runs, task_id);

    return node != NULL ? base_container_of(node, rt_run_t, hnode) : NULL;
}

static void rt_run_free(rt_run_t *run)
{
    free(run->aligned);
    rt_spec_clear(&run->spec);
    free(run->msg);
    free(run);
}

static void rt_run_send_done(rt_run_t *run, rt_value_t *values);

/* Fail a task that will not run here (canceled in the queue, shutdown, infeasible). */
static void rt_run_reject(rt_run_t *run, rmpi_status_t status, const char *why)
{
    rt_value_t values[RMPI_MAX_RETURNS];

    for (uint16_t i = 0; i < run->spec.num_returns; ++i) {
        values[i] = (rt_value_t){
            .kind = RT_VALUE_ERROR, .status = status, .data = why, .size = strlen(why)};
    }
    rt_run_send_done(run, values);
}

void rt_run_reject_free(rt_run_t *run, rmpi_status_t status, const char *why)
{
    pthread_mutex_lock(&rt.lock);
    base_hash_remove(&rt.runs, &run->hnode);
    pthread_mutex_unlock(&rt.lock);
    rt_run_reject(run, status, why);
    rt_run_free(run);
}

static bool rt_spec_fn_fits(const rt_task_spec_t *spec)
{
    const rt_fn_t *fn = rt_registry_get(spec->fn_index);
    rt_fn_kind_t   kind =
        (spec->flags & RT_SPEC_ACTOR_CREATE)
              ? RT_FN_ACTOR_CLASS
              : ((spec->flags & RT_SPEC_ACTOR_CALL) ? RT_FN_ACTOR_METHOD : RT_FN_TASK);

    return fn != NULL && fn->kind == kind;
}

rmpi_status_t rt_run_enqueue(void *msg, size_t len, bool stolen)
{
    rt_run_t     *run = calloc(1, sizeof(*run));
    rmpi_status_t status;

    if (run == NULL) {
        free(msg);
        return RMPI_ERR_NO_MEMORY;
    }
    base_list_init(&run->actor_link);
    base_list_init(&run->owned_actors);
    run->msg     = msg;
    run->msg_len = len;
    status       = rt_spec_decode(msg, len, &run->spec);
    if (status != RMPI_OK || !rt_spec_fn_fits(&run->spec) || rt_oid_owner(&run->spec.task_id) < 0 ||
        rt_oid_owner(&run->spec.task_id) >= rt.size) {
        if (status == RMPI_OK) {
            rt_spec_clear(&run->spec);
        }
        free(msg);
        free(run);
        return RMPI_ERR_MESSAGE;
    }
    run->item.cpus = run->spec.num_cpus;
    run->item.gpus = run->spec.num_gpus;
    run->item.stealable =
        !stolen && run->spec.num_gpus == 0 && !(run->spec.flags & RT_SPEC_NO_STEAL);
    pthread_mutex_lock(&rt.lock);
    (void)base_hash_insert(&rt.runs, &run->hnode, &run->spec.task_id);
    pthread_mutex_unlock(&rt.lock);
    if (run->spec.flags & RT_SPEC_ACTOR_CALL) {
        rt_actor_host_deliver(run);
        return RMPI_OK;
    }
    status = rt_exec_submit(rt.exec, &run->item);
    if (status == RMPI_OK && rt.conf.steal) {
        rt_steal_offer();
    }
    if (status != RMPI_OK) {
        pthread_mutex_lock(&rt.lock);
        base_hash_remove(&rt.runs, &run->hnode);
        pthread_mutex_unlock(&rt.lock);
        rt_run_reject(run, status,
                      status == RMPI_ERR_INFEASIBLE
                          ? "the task does not fit the rank it was sent to"
                          : "the rank is shutting down");
        rt_run_free(run);
    }
    return RMPI_OK;
}

void rt_on_task_push(int src, const void *data, size_t len)
{
    void *copy = malloc(len);

    if (copy == NULL) {
        base_error("runtime: no memory for a task from rank %d", src);
        return;
    }
    memcpy(copy, data, len);
    if (rt_run_enqueue(copy, len, false) == RMPI_ERR_MESSAGE) {
        rt_count_bad(src, RT_MSG_TASK_PUSH, RMPI_ERR_MESSAGE);
    }
}

/* --- arguments ------------------------------------------------------------------------- */

rmpi_status_t rt_map_stored(const store_oid_t *oid, const rt_location_t *loc, store_view_t *view_p,
                            rt_map_kind_t *kind_p)
{
    rt_peer_t    *peer;
    rmpi_status_t status;

    if (loc->rank < 0 || loc->rank >= rt.size) {
        return RMPI_ERR_MESSAGE;
    }
    if (loc->device != RT_LOC_HOST) { /* a device object: read its host copy */
        rt_location_t host;

        status = rt_devobj_host_location(oid, loc, RT_PULL_TIMEOUT, &host);
        return status == RMPI_OK ? rt_map_stored(oid, &host, view_p, kind_p) : status;
    }
    if (store_get(rt.store, oid, view_p) == RMPI_OK) { /* ours, or our node's copy */
        *kind_p = loc->rank == rt.rank || rt_nodepull_kept(oid) ? RT_MAP_LOCAL : RT_MAP_PULLED;
        return RMPI_OK;
    }
    peer = &rt.peers[loc->rank];
    if (peer->node == rt.node) {
        *kind_p = RT_MAP_PEER;
        return store_peer_get(rt.store, loc->rank, oid, loc->offset, loc->size, view_p);
    }
    /* Another node's: it crosses to this node once, for every reader here. */
    return rt_nodepull_map(oid, loc, RT_PULL_TIMEOUT, view_p, kind_p);
}

typedef struct rt_arg_map {
    rt_map_kind_t kind;
    bool          mapped;
    bool          pinned;   /* a device object of this rank read in place */
    int           copy_dev; /* >= 0: `copy` is a device copy on that GPU */
    gpu_devptr_t  copy;
} rt_arg_map_t;

static void rt_unmap_host(const store_oid_t *oid, rt_arg_map_t *map)
{
    if (!map->mapped || map->kind == RT_MAP_PEER) {
        map->mapped = false;
        return;
    }
    (void)store_release(rt.store, oid);
    if (map->kind == RT_MAP_PULLED) {
        (void)store_delete(rt.store, oid);
    }
    map->mapped = false;
}

/*
 * A device object for a task on GPU @a dev: in place when this rank holds it
 * on that device, else through its host copy into device memory of the task's.
 */
static rmpi_status_t rt_map_device_arg(const rt_spec_arg_t *arg, int dev, rmpi_arg_t *out,
                                       rt_arg_map_t *map)
{
    const rt_location_t *loc = &arg->value.loc;
    store_view_t         view;
    gpu_devptr_t         ptr;
    rmpi_status_t        status;

    if (loc->rank == rt.rank && loc->device == dev &&
        rt_devobj_acquire(&arg->oid, dev, &ptr) == RMPI_OK) {
        map->pinned = true;
    } else {
        status = rt_map_stored(&arg->oid, loc, &view, &map->kind);
        if (status != RMPI_OK) {
            return status;
        }
        map->mapped = true;
        status      = rt_devobj_alloc(dev, view.size, &ptr);
        if (status == RMPI_OK) {
            map->copy_dev = dev;
            map->copy     = ptr;
            status        = gpu_memcpy_h2d(dev, ptr, view.ptr, view.size);
        }
        rt_unmap_host(&arg->oid, map);
        if (status != RMPI_OK) {
            return status;
        }
    }
    out->data   = (const void *)(uintptr_t)ptr;
    out->size   = loc->size;
    out->device = dev;
    return RMPI_OK;
}

static bool rt_misaligned(const rt_value_t *value)
{
    return value->kind == RT_VALUE_INLINE && value->size > 0 && ((uintptr_t)value->data & 7) != 0;
}

/*
 * Inline values lie in the message at any offset; a task may read them as
 * doubles, so those that are not 8-byte aligned are copied (once, in one block).
 */
static rmpi_status_t rt_run_align_args(rt_run_t *run)
{
    size_t   total = 0;
    uint8_t *dst;

    for (uint32_t i = 0; i < run->spec.num_args; ++i) {
        if (rt_misaligned(&run->spec.args[i].value)) {
            total += (run->spec.args[i].value.size + 7) & ~(size_t)7;
        }
    }
    if (total == 0) {
        return RMPI_OK;
    }
    dst = run->aligned = malloc(total);
    if (dst == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    for (uint32_t i = 0; i < run->spec.num_args; ++i) {
        rt_value_t *value = &run->spec.args[i].value;

        if (rt_misaligned(value)) {
            memcpy(dst, value->data, value->size);
            value->data = dst;
            dst += (value->size + 7) & ~(size_t)7;
        }
    }
    return RMPI_OK;
}

static rmpi_status_t rt_run_map_args(rt_run_t *run, rmpi_arg_t *args, rt_arg_map_t *maps)
{
    for (uint32_t i = 0; i < run->spec.num_args; ++i) {
        maps[i].copy_dev = -1; /* before anything can fail: unmap reads every entry */
    }
    if (rt_run_align_args(run) != RMPI_OK) {
        return RMPI_ERR_NO_MEMORY;
    }
    for (uint32_t i = 0; i < run->spec.num_args; ++i) {
        const rt_spec_arg_t *arg = &run->spec.args[i];
        store_view_t         view;
        rmpi_status_t        status;

        args[i].array  = arg->value.has_array ? &arg->value.array : NULL;
        args[i].device = RT_LOC_HOST;
        if (arg->value.kind == RT_VALUE_INLINE) {
            args[i].data = arg->value.data;
            args[i].size = arg->value.size;
            continue;
        }
        if (arg->value.kind != RT_VALUE_STORED) {
            snprintf(run->error, sizeof(run->error), "argument %u arrived without a value", i);
            return RMPI_ERR_MESSAGE;
        }
        if (arg->value.loc.device != RT_LOC_HOST && run->item.gpu_dev >= 0) {
            status = rt_map_device_arg(arg, run->item.gpu_dev, &args[i], &maps[i]);
        } else {
            status = rt_map_stored(&arg->oid, &arg->value.loc, &view, &maps[i].kind);
        }
        if (status == RMPI_OK && args[i].device != RT_LOC_HOST) {
            continue;
        }
        if (status != RMPI_OK) {
            snprintf(run->error, sizeof(run->error),
                     "argument %u could not be read from rank %d: %s", i, (int)arg->value.loc.rank,
                     rmpi_status_str(status));
            return RMPI_ERR_OBJECT_LOST;
        }
        maps[i].mapped = true;
        args[i].data   = view.ptr;
        args[i].size   = view.size;
    }
    return RMPI_OK;
}

static void rt_run_unmap_args(rt_run_t *run, rt_arg_map_t *maps)
{
    for (uint32_t i = 0; i < run->spec.num_args; ++i) {
        rt_unmap_host(&run->spec.args[i].oid, &maps[i]);
        if (maps[i].pinned) {
            rt_devobj_release(&run->spec.args[i].oid);
        }
        if (maps[i].copy_dev >= 0) { /* the task's stream was synchronized: no kernel reads it */
            (void)gpu_mem_free(maps[i].copy_dev, maps[i].copy);
        }
    }
}

/* --- returns ----------------------------------------------------------------------------- */

static rmpi_status_t rt_return_check(rt_run_t *run, size_t index)
{
    if (run == NULL || index >= run->spec.num_returns) {
        base_error("rmpi_return: index %zu is not below the task's %u returns", index,
                   run != NULL ? run->spec.num_returns : 0);
        return RMPI_ERR_INVALID_ARG;
    }
    return RMPI_OK;
}

static void rt_return_discard(rt_run_t *run, size_t index)
{
    rt_return_t *ret = &run->returns[index];

    if (ret->set && (ret->in_store || ret->on_device)) {
        store_oid_t oid = rt_oid_return(&run->spec.task_id, (unsigned)index);

        if (ret->on_device) {
            (void)rt_devobj_delete(&oid);
        } else {
            (void)store_delete(rt.store, &oid);
        }
    } else if (ret->set) {
        free(ret->buf);
    }
    memset(ret, 0, sizeof(*ret));
}

static bool rt_array_valid(const rmpi_array_desc_t *array)
{
    return array == NULL || (array->ndim <= RMPI_ARRAY_MAX_DIMS && array->dtype < RMPI_DTYPE_LAST);
}

rmpi_status_t rmpi_return_alloc(rmpi_task_ctx_h ctx, size_t index, size_t size,
                                const rmpi_array_desc_t *array, void **buf_p)
{
    rt_return_t  *ret;
    rmpi_status_t status = rt_return_check(ctx, index);

    if (status != RMPI_OK || buf_p == NULL || !rt_array_valid(array)) {
        return status != RMPI_OK ? status : RMPI_ERR_INVALID_ARG;
    }
    rt_return_discard(ctx, index);
    ret = &ctx->returns[index];
    if (size > rt.conf.inline_max) {
        store_oid_t oid = rt_oid_return(&ctx->spec.task_id, (unsigned)index);

        status        = store_create_object(rt.store, &oid, size, 0, &ret->buf);
        ret->in_store = status == RMPI_OK;
    } else {
        ret->buf = malloc(size > 0 ? size : 1);
        status   = ret->buf != NULL ? RMPI_OK : RMPI_ERR_NO_MEMORY;
    }
    if (status != RMPI_OK) {
        return status;
    }
    ret->set       = true;
    ret->size      = size;
    ret->has_array = array != NULL;
    if (array != NULL) {
        ret->array = *array;
    }
    *buf_p = ret->buf;
    return RMPI_OK;
}

rmpi_status_t rmpi_return_device(rmpi_task_ctx_h ctx, size_t index, size_t size,
                                 const rmpi_array_desc_t *array, uint64_t *devptr_p)
{
    rt_return_t  *ret;
    store_oid_t   oid;
    gpu_devptr_t  ptr;
    rmpi_status_t status = rt_return_check(ctx, index);

    if (status != RMPI_OK || devptr_p == NULL || !rt_array_valid(array)) {
        return status != RMPI_OK ? status : RMPI_ERR_INVALID_ARG;
    }
    if (ctx->item.gpu_dev < 0) {
        base_error("rmpi_return_device: the task did not ask for a GPU (num_gpus)");
        return RMPI_ERR_NO_DEVICE;
    }
    rt_return_discard(ctx, index);
    oid    = rt_oid_return(&ctx->spec.task_id, (unsigned)index);
    status = rt_devobj_create(&oid, ctx->item.gpu_dev, size, &ptr);
    if (status != RMPI_OK) {
        base_error("rmpi_return_device: %zu bytes do not fit GPU %d (RAYMPI_GPU_MEMORY_FRACTION "
                   "of its memory, after spilling device objects): %s",
                   size, ctx->item.gpu_dev, rmpi_status_str(status));
        return status;
    }
    ret            = &ctx->returns[index];
    ret->set       = true;
    ret->on_device = true;
    ret->size      = size;
    ret->has_array = array != NULL;
    if (array != NULL) {
        ret->array = *array;
    }
    *devptr_p = ptr;
    return RMPI_OK;
}

rmpi_status_t rmpi_return(rmpi_task_ctx_h ctx, size_t index, const void *data, size_t size)
{
    void         *buf;
    rmpi_status_t status;

    if (size > 0 && data == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    status = rmpi_return_alloc(ctx, index, size, NULL, &buf);
    if (status == RMPI_OK && size > 0) {
        memcpy(buf, data, size);
    }
    return status;
}

void rmpi_task_error(rmpi_task_ctx_h ctx, const char *fmt, ...)
{
    va_list ap;

    if (ctx == NULL || fmt == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
    va_end(ap);
}

size_t rmpi_task_num_returns(rmpi_task_ctx_h ctx)
{
    return ctx != NULL ? ctx->spec.num_returns : 0;
}

int rmpi_task_canceled(rmpi_task_ctx_h ctx)
{
    return ctx != NULL && atomic_load_explicit(&ctx->canceled, memory_order_relaxed);
}

/* Seal a store return and describe it; inline ones point at their buffer. */
static rmpi_status_t rt_return_value(rt_run_t *run, unsigned index, rt_value_t *value)
{
    rt_return_t  *ret = &run->returns[index];
    store_oid_t   oid = rt_oid_return(&run->spec.task_id, index);
    store_view_t  view;
    rmpi_status_t status;

    *value = (rt_value_t){.kind      = RT_VALUE_INLINE,
                          .has_array = ret->has_array,
                          .array     = ret->array,
                          .data      = ret->buf,
                          .size      = ret->size};
    if (ret->set && ret->on_device) {
        status = rt_devobj_seal(&oid);
        if (status == RMPI_OK) {
            value->kind = RT_VALUE_STORED;
            value->data = NULL;
            value->loc  = (rt_location_t){rt.rank, run->item.gpu_dev, 0, ret->size};
        }
        return status;
    }
    if (!ret->set || !ret->in_store) {
        return RMPI_OK;
    }
    status = store_seal(rt.store, &oid);
    if (status == RMPI_OK) {
        status = store_get(rt.store, &oid, &view);
    }
    if (status != RMPI_OK) {
        return status;
    }
    (void)store_pin(rt.store, &oid);
    (void)store_release(rt.store, &oid);
    value->kind = RT_VALUE_STORED;
    value->loc  = (rt_location_t){rt.rank, RT_LOC_HOST, view.offset, view.size};
    return RMPI_OK;
}

static void rt_run_error_values(rt_run_t *run, rmpi_status_t status, rt_value_t *values)
{
    const char *fn = rt_registry_get(run->spec.fn_index)->name;

    if (run->error[0] == '\0') {
        snprintf(run->error, sizeof(run->error), "task '%s' failed: %s", fn,
                 rmpi_status_str(status));
    }
    for (uint16_t i = 0; i < run->spec.num_returns; ++i) {
        rt_return_discard(run, i);
        values[i] = (rt_value_t){.kind   = RT_VALUE_ERROR,
                                 .status = status,
                                 .data   = run->error,
                                 .size   = strlen(run->error)};
    }
}

static void rt_run_send_done(rt_run_t *run, rt_value_t *values)
{
    rt_exec_stats_t stats;
    rt_task_done_t  done = {
         .task_id     = run->spec.task_id,
         .attempt     = run->spec.attempt,
         .executor    = rt.rank,
         .num_returns = run->spec.num_returns,
         .returns     = values,
    };
    size_t len;
    void  *buf;

    rt_exec_stats(rt.exec, &stats);
    done.queued  = stats.queued;
    done.running = stats.running;
    len          = rt_done_size(&done);
    buf          = malloc(len);
    if (buf == NULL) {
        base_error("runtime: no memory to report a finished task");
        return;
    }
    rt_done_encode(&done, buf);
    (void)rt_send(rt_oid_owner(&run->spec.task_id), RT_MSG_TASK_DONE, buf, len, true);
}

/* --- running ---------------------------------------------------------------------------------- */

static _Thread_local rt_run_t *rt_current;

rt_run_t *rt_run_current(void)
{
    return rt_current;
}

rt_run_t *rt_run_current_set(rt_run_t *run)
{
    rt_run_t *old = rt_current;

    rt_current = run;
    return old;
}

static rmpi_status_t rt_run_call(rt_run_t *run, rmpi_arg_t *args)
{
    const rt_fn_t *fn     = rt_registry_get(run->spec.fn_index);
    uint64_t       start  = rt_timeline_enabled() ? rt_timeline_now_us() : 0;
    bool           create = (run->spec.flags & RT_SPEC_ACTOR_CREATE) != 0;
    rt_run_t      *outer  = rt_current;
    rmpi_status_t  status = create ? rt_actor_host_begin(run) : RMPI_OK;

    bool   restore = create && (run->spec.flags & RT_SPEC_ACTOR_RESTORE) && run->spec.num_args > 0;
    size_t nargs   = run->spec.num_args - (restore ? 1 : 0);

    rt_current = run;
    if (status == RMPI_OK) {
        status = fn->fn(run, args, nargs);
    }
    if (status == RMPI_OK && restore) {
        status = rt_actor_host_restore(run, &args[nargs]); /* the owner's last checkpoint */
    }
    if (status == RMPI_OK && run->actor != NULL && !create) {
        rt_actor_host_checkpoint(run);
    }
    if (create) {
        rt_actor_host_created(run, status);
    }
    rt_current = outer;
    if (start != 0) {
        char name[RT_NAME_MAX + 1];

        snprintf(name, sizeof(name), "%.*s", (int)run->spec.name_len, run->spec.name);
        rt_timeline_span(name, "task", start, rt_timeline_now_us() - start,
                         status == RMPI_OK ? NULL : rmpi_status_str(status));
    }
    return status;
}

static void rt_run_finish(rt_run_t *run, rmpi_status_t status)
{
    rt_value_t values[RMPI_MAX_RETURNS];

    if (status == RMPI_OK && atomic_load(&run->canceled)) {
        status = RMPI_ERR_CANCELED;
        snprintf(run->error, sizeof(run->error), "canceled");
    }
    for (uint16_t i = 0; status == RMPI_OK && i < run->spec.num_returns; ++i) {
        status = rt_return_value(run, i, &values[i]);
        if (status != RMPI_OK) {
            snprintf(run->error, sizeof(run->error), "return %u could not be stored: %s", i,
                     rmpi_status_str(status));
        }
    }
    if (status != RMPI_OK) {
        rt_run_error_values(run, status, values);
    }
    rt_run_send_done(run, values);
    for (uint16_t i = 0; i < run->spec.num_returns; ++i) {
        if (run->returns[i].set && !run->returns[i].in_store && !run->returns[i].on_device) {
            free(run->returns[i].buf);
        }
    }
}

void rt_exec_run(void *arg, rt_exec_item_t *item)
{
    rt_run_t     *run = base_container_of(item, rt_run_t, item);
    rmpi_arg_t    args_stack[RT_ARGS_ON_STACK], *args = args_stack;
    rt_arg_map_t  maps_stack[RT_ARGS_ON_STACK], *maps = maps_stack;
    rmpi_status_t status = RMPI_OK;

    (void)arg;
    if (run->destroy) {
        rt_actor_host_destroy_run(run);
        return;
    }
    if (run->loop) { /* an async actor's fibres (actor_host.c) */
        rt_actor_host_loop_run(run);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    while (atomic_load(&rt.phase) == RT_WIRING) { /* arrived before our WELCOME */
        pthread_cond_wait(&rt.cond, &rt.lock);
    }
    run->running = true;
    pthread_mutex_unlock(&rt.lock);
    if (run->spec.num_args > RT_ARGS_ON_STACK) {
        args   = calloc(run->spec.num_args, sizeof(*args));
        maps   = calloc(run->spec.num_args, sizeof(*maps));
        status = args != NULL && maps != NULL ? RMPI_OK : RMPI_ERR_NO_MEMORY;
    } else {
        memset(maps, 0, sizeof(maps_stack));
    }
    if (status == RMPI_OK) {
        status = rt_run_map_args(run, args, maps);
    }
    if (run->actor != NULL) { /* a call: the pool granted no GPU, the actor holds one */
        rt_actor_host_use_gpu(run);
    }
    if (status == RMPI_OK && !atomic_load(&run->canceled) &&
        (status = rt_task_gpu_enter(run)) == RMPI_OK) {
        rmpi_status_t gpu_status;

        status     = rt_run_call(run, args);
        gpu_status = rt_task_gpu_leave(run); /* its kernels finish before the returns seal */
        if (status == RMPI_OK) {
            status = gpu_status;
        }
    }
    if (maps != NULL) {
        rt_run_unmap_args(run, maps);
    }
    if (!base_list_is_empty(&run->owned_actors)) {
        /* Owned actors die with their creator, before its caller hears it finished. */
        pthread_mutex_lock(&rt.lock);
        rt_actor_creator_done(&run->owned_actors);
        pthread_mutex_unlock(&rt.lock);
        rt_push_ready();
    }
    /*
     * Out of the table before TASK_DONE: once the owner hears it, it may send
     * the same task ID again (a retry, an actor's restart) to this rank.
     */
    pthread_mutex_lock(&rt.lock);
    base_hash_remove(&rt.runs, &run->hnode);
    pthread_mutex_unlock(&rt.lock);
    rt_run_finish(run, status);
    atomic_fetch_add_explicit(&rt.stats.executed, 1, memory_order_relaxed);
    if (args != args_stack) {
        free(args);
        free(maps);
    }
    if (run->actor != NULL) {
        rt_actor_host_call_done(run);
    }
    rt_run_free(run);
}

/* Queued when the rank stopped: tell the owner (it may be shutting down too). */
void rt_exec_drop(void *arg, rt_exec_item_t *item)
{
    rt_run_t *run = base_container_of(item, rt_run_t, item);

    (void)arg;
    if (run->destroy || run->loop) {
        rt_actor_host_destroy_run(run); /* a loop not started: its host is destroyed at shutdown */
        return;
    }
    pthread_mutex_lock(&rt.lock);
    base_hash_remove(&rt.runs, &run->hnode);
    pthread_mutex_unlock(&rt.lock);
    rt_run_reject(run, RMPI_ERR_SHUTDOWN, "the runtime shut down before the task ran");
    rt_run_free(run);
}

/* Removed from the queue by a CANCEL (already out of rt.runs). */
void rt_exec_drop_canceled(rt_run_t *run)
{
    rt_run_reject(run, RMPI_ERR_CANCELED, "canceled before it ran");
    if (run->actor != NULL) {
        rt_actor_host_call_done(run); /* its concurrency slot is free again */
    }
    rt_run_free(run);
}
