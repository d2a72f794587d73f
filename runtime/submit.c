/*
 * runtime/submit.c - the owner's side of a task: rmpi_submit, dependency
 * resolution, placement and push, and the TASK_DONE that completes it.
 *
 * As in Ray, the submitter resolves a task's ref arguments before it pushes
 * the task: owned objects by listening on them, borrowed ones with a LOCATE
 * to their owner (answered when ready). The pushed spec then carries every
 * argument as inline bytes or a location, so an executor never waits for an
 * argument to be computed — only, at worst, for bytes to be pulled.
 */
#include "runtime/actor.h"
#include "runtime/pg.h"
#include "runtime/rt_int.h"
#include "runtime/timeline.h"

#include "base/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RT_MAX_ARGS (1u << 20)

/* --- options ---------------------------------------------------------------------- */

static bool rt_amount_ok(double amount)
{
    return isfinite(amount) && amount >= 0;
}

static rmpi_status_t rt_options_custom(const rmpi_task_options_t *opts, rt_task_t *task)
{
    for (size_t i = 0; i < opts->num_resources; ++i) {
        const rmpi_resource_t *res = &opts->resources[i];
        int                    index;

        if (res->name == NULL || !rt_amount_ok(res->amount)) {
            base_error("rmpi_submit: custom resource %zu needs a name and an amount >= 0", i);
            return RMPI_ERR_INVALID_ARG;
        }
        index = rt_cluster_custom_index(rt.cluster, res->name);
        if (index < 0 && res->amount > 0) {
            base_error("rmpi_submit: infeasible: no rank has custom resource '%s'", res->name);
            return RMPI_ERR_INFEASIBLE;
        }
        if (index >= 0) {
            task->demand.custom[index] += res->amount;
        }
    }
    return RMPI_OK;
}

static rmpi_status_t rt_options_demand(const rmpi_task_options_t *opts, uint64_t mask,
                                       rt_task_t *task)
{
    if (mask & RMPI_TASK_OPT_NUM_CPUS) {
        task->demand.cpus = opts->num_cpus;
    }
    if (mask & RMPI_TASK_OPT_NUM_GPUS) {
        task->demand.gpus = opts->num_gpus;
    }
    if (!rt_amount_ok(task->demand.cpus) || !rt_amount_ok(task->demand.gpus)) {
        base_error("rmpi_submit: num_cpus and num_gpus must be finite and >= 0");
        return RMPI_ERR_INVALID_ARG;
    }
    if (mask & RMPI_TASK_OPT_MEMORY) {
        task->demand.memory = opts->memory;
    }
    if (!(mask & RMPI_TASK_OPT_RESOURCES)) {
        return RMPI_OK;
    }
    if (opts->num_resources > 0 && opts->resources == NULL) {
        base_error("rmpi_submit: num_resources without resources");
        return RMPI_ERR_INVALID_ARG;
    }
    return rt_options_custom(opts, task);
}

static rmpi_status_t rt_options_strategy(const rmpi_task_options_t *opts, rt_task_t *task)
{
    if ((unsigned)opts->strategy > RMPI_SCHED_RANK_AFFINITY) {
        base_error("rmpi_submit: unknown scheduling strategy %d", (int)opts->strategy);
        return RMPI_ERR_INVALID_ARG;
    }
    task->strategy      = opts->strategy;
    task->affinity_node = opts->affinity_node;
    task->affinity_rank = opts->affinity_rank;
    task->soft          = opts->soft != 0;
    return RMPI_OK;
}

static rmpi_status_t rt_options_returns(const rmpi_task_options_t *opts, uint64_t mask,
                                        rt_task_t *task)
{
    if (mask & RMPI_TASK_OPT_NUM_RETURNS) {
        if (opts->num_returns < 1 || opts->num_returns > RMPI_MAX_RETURNS) {
            base_error("rmpi_submit: num_returns must be 1 to %d", RMPI_MAX_RETURNS);
            return RMPI_ERR_INVALID_ARG;
        }
        task->spec.num_returns = (uint16_t)opts->num_returns;
    }
    if (mask & RMPI_TASK_OPT_MAX_RETRIES) {
        if (opts->max_retries < -1) {
            base_error("rmpi_submit: max_retries must be -1 (forever) or more");
            return RMPI_ERR_INVALID_ARG;
        }
        task->spec.max_retries = opts->max_retries;
    }
    if ((mask & RMPI_TASK_OPT_RETRY_EXCEPTIONS) && opts->retry_exceptions) {
        task->spec.flags |= RT_SPEC_RETRY_EXCEPTIONS;
    }
    return RMPI_OK;
}

/* Defaults, then each field the mask names; unknown bits are an error. */
static rmpi_status_t rt_options_apply(const rmpi_task_options_t *opts, rt_task_t *task)
{
    uint64_t      mask   = opts != NULL ? opts->field_mask : 0;
    rmpi_status_t status = RMPI_OK;

    task->demand.cpus      = 1;
    task->spec.num_returns = 1;
    task->spec.max_retries = 3;
    if (mask & ~(uint64_t)(RMPI_TASK_OPT_LAST - 1)) {
        base_error("rmpi_submit: unknown bits in options->field_mask");
        return RMPI_ERR_INVALID_ARG;
    }
    if ((mask & RMPI_TASK_OPT_NAME) && opts->name != NULL) {
        snprintf(task->name, sizeof(task->name), "%s", opts->name);
    }
    if (mask & RMPI_TASK_OPT_STRATEGY) {
        status = rt_options_strategy(opts, task);
    }
    if (status == RMPI_OK) {
        status = rt_options_returns(opts, mask, task);
    }
    if (status == RMPI_OK) {
        status = rt_options_demand(opts, mask, task);
    }
    if (status == RMPI_OK && (mask & RMPI_TASK_OPT_PLACEMENT)) {
        status = rt_pg_task_options(opts, mask, task);
    }
    return status;
}

static void rt_spec_resources(rt_task_t *task)
{
    rt_task_spec_t *spec = &task->spec;
    size_t          n    = rt_cluster_num_custom(rt.cluster);

    spec->num_cpus   = task->demand.cpus;
    spec->num_gpus   = task->demand.gpus;
    spec->memory     = task->demand.memory;
    spec->num_custom = 0;
    for (size_t i = 0; i < n; ++i) {
        if (task->demand.custom[i] > 0) {
            spec->custom_index[spec->num_custom]    = (uint8_t)i;
            spec->custom_amount[spec->num_custom++] = task->demand.custom[i];
        }
    }
    spec->name     = task->name;
    spec->name_len = strlen(task->name);
    /* A thief would not honour these: the task stays where the submitter put it. */
    if (spec->num_custom > 0 || spec->memory > 0 ||
        ((task->strategy == RMPI_SCHED_NODE_AFFINITY ||
          task->strategy == RMPI_SCHED_RANK_AFFINITY) &&
         !task->soft)) {
        spec->flags |= RT_SPEC_NO_STEAL;
    }
}

/* --- arguments ----------------------------------------------------------------------- */

static rmpi_status_t rt_put_internal(const void *data, size_t size, const rmpi_array_desc_t *array,
                                     store_oid_t *oid_p, uint32_t handles);

static rmpi_status_t rt_args_values(rt_task_t *task, const rmpi_task_arg_t *args, size_t nargs)
{
    for (size_t i = 0; i < nargs; ++i) {
        rt_spec_arg_t *arg = &task->spec.args[i];

        if (args[i].kind == RMPI_ARG_REF) {
            arg->is_ref = true;
            arg->oid    = rt_oid_from_ref(args[i].ref);
            continue;
        }
        if (args[i].kind != RMPI_ARG_VALUE || (args[i].size > 0 && args[i].data == NULL)) {
            base_error("rmpi_submit: argument %zu is neither a value nor a ref", i);
            return RMPI_ERR_INVALID_ARG;
        }
        if (args[i].size > rt.conf.inline_max) {
            /* Too big for a message: store it and pass a ref, as Ray does. */
            rmpi_status_t status =
                rt_put_internal(args[i].data, args[i].size, args[i].array, &arg->oid, 1);

            if (status != RMPI_OK) {
                return status;
            }
            arg->is_ref            = true;
            task->deps[i].internal = true;
            continue;
        }
        arg->value.kind = RT_VALUE_INLINE;
        arg->value.size = args[i].size;
        arg->value.data = rt_task_buf(task, args[i].data, args[i].size);
        if (arg->value.data == NULL) {
            return RMPI_ERR_NO_MEMORY;
        }
        if (args[i].array != NULL) {
            arg->value.has_array = true;
            arg->value.array     = *args[i].array;
        }
    }
    return RMPI_OK;
}

/* A ref argument is usable: owned and alive, or owned by a live rank of this job. */
static rmpi_status_t rt_arg_check(const rt_spec_arg_t *arg, size_t index)
{
    int  owner = rt_oid_owner(&arg->oid);
    char id[33];

    if (owner == rt.rank) {
        rt_obj_t *obj = rt_obj_find(&arg->oid);

        if (obj != NULL && (obj->handles > 0 || obj->uses > 0 || obj->borrows > 0)) {
            return RMPI_OK;
        }
        store_oid_format(&arg->oid, id);
        base_error("rmpi_submit: argument %zu is a ref that was freed or never existed (%s)", index,
                   id);
        return RMPI_ERR_INVALID_ARG;
    }
    if (owner < 0 || owner >= rt.size) {
        store_oid_format(&arg->oid, id);
        base_error("rmpi_submit: argument %zu is not a ref of this job (%s)", index, id);
        return RMPI_ERR_INVALID_ARG;
    }
    return RMPI_OK;
}

static void rt_dep_record_error(rt_task_t *task, uint32_t index, const rt_value_t *value)
{
    char   msg[RT_ERROR_MSG_MAX + 1];
    size_t len = value->size < RT_ERROR_MSG_MAX ? value->size : RT_ERROR_MSG_MAX;

    if (task->dep_error != RMPI_OK) {
        return;
    }
    task->dep_error = value->status;
    free(task->dep_message);
    task->dep_message = malloc(RT_ERROR_MSG_MAX + 1);
    if (task->dep_message != NULL) {
        memcpy(msg, value->data, len);
        msg[len] = '\0';
        snprintf(task->dep_message, RT_ERROR_MSG_MAX + 1,
                 "task '%s' did not run: argument %u failed: caused by: %.900s", task->name, index,
                 msg);
    }
}

static void rt_dep_resolved(rt_dep_t *dep, const rt_value_t *value)
{
    rt_task_t     *task = dep->task;
    rt_spec_arg_t *arg  = &task->spec.args[dep->arg];

    dep->waiting = false;
    if (value->kind == RT_VALUE_ERROR) {
        rt_dep_record_error(task, dep->arg, value);
    } else {
        arg->value = *value;
    }
    if (--task->deps_left == 0) {
        rt_task_ready(task);
    }
}

/* An owned argument became ready: point at its value (alive while uses > 0). */
static void rt_dep_on_ready(rt_listener_t *listener, rt_obj_t *obj)
{
    rt_dep_t  *dep = base_container_of(listener, rt_dep_t, listener);
    rt_value_t value;

    rt_obj_value(obj, &value);
    rt_dep_resolved(dep, &value);
}

/* A borrowed argument's owner answered: copy inline bytes, they live in the message. */
static void rt_dep_on_located(rt_locate_req_t *req, const rt_value_t *value)
{
    rt_dep_t  *dep  = base_container_of(req, rt_dep_t, locate);
    rt_value_t copy = *value;

    if (value->kind == RT_VALUE_INLINE) {
        copy.data = rt_task_buf(dep->task, value->data, value->size);
        if (copy.data == NULL) {
            copy.kind   = RT_VALUE_ERROR;
            copy.status = RMPI_ERR_NO_MEMORY;
            copy.data   = "out of memory for an argument";
            copy.size   = strlen(copy.data);
        }
    }
    rt_dep_resolved(dep, &copy);
}

static void rt_dep_start(rt_task_t *task, uint32_t index)
{
    rt_dep_t      *dep = &task->deps[index];
    rt_spec_arg_t *arg = &task->spec.args[index];
    rt_obj_t      *obj;

    dep->task = task;
    dep->arg  = index;
    base_list_init(&dep->listener.link);
    if (rt_oid_owner(&arg->oid) == rt.rank) {
        obj = rt_obj_find(&arg->oid);
        ++obj->uses;
        if (obj->state == RT_OBJ_READY) {
            rt_value_t value;

            rt_obj_value(obj, &value);
            if (value.kind == RT_VALUE_ERROR) {
                rt_dep_record_error(task, index, &value);
            } else {
                arg->value = value;
            }
            return;
        }
        ++task->deps_left;
        dep->waiting = true;
        rt_obj_listen(obj, &dep->listener, rt_dep_on_ready);
        return;
    }
    (void)rt_borrow_add(&arg->oid, +1);
    ++task->deps_left;
    dep->waiting         = true;
    dep->locate.oid      = arg->oid;
    dep->locate.cb       = rt_dep_on_located;
    rmpi_status_t status = rt_locate_start(&dep->locate);
    if (status != RMPI_OK) {
        rt_value_t value = {.kind = RT_VALUE_ERROR, .status = status};

        value.data = "the owner of the object is dead or unreachable";
        value.size = strlen(value.data);
        rt_dep_resolved(dep, &value);
    }
}

void rt_task_release_args(rt_task_t *task)
{
    for (uint32_t i = 0; i < task->spec.num_args; ++i) {
        rt_spec_arg_t *arg = &task->spec.args[i];
        rt_dep_t      *dep = &task->deps[i];

        if (!arg->is_ref) {
            continue;
        }
        if (dep->waiting) {
            rt_obj_unlisten(&dep->listener);
            rt_locate_cancel(&dep->locate);
            dep->waiting = false;
        }
        if (rt_oid_owner(&arg->oid) == rt.rank) {
            rt_obj_t *obj = rt_obj_find(&arg->oid);

            if (obj != NULL && obj->uses > 0) {
                --obj->uses;
                rt_obj_maybe_free(obj);
            }
        } else {
            (void)rt_borrow_add(&arg->oid, -1);
        }
        arg->is_ref = false; /* released once */
        arg->value  = (rt_value_t){.kind = RT_VALUE_INLINE};
    }
}

/* --- the task record --------------------------------------------------------------------- */

static rt_task_t *rt_task_new(size_t nargs)
{
    rt_task_t *task = calloc(1, sizeof(*task));

    if (task == NULL) {
        return NULL;
    }
    base_list_init(&task->bufs);
    base_list_init(&task->ready_link);
    base_list_init(&task->pg_link);
    task->spec.num_args = (uint32_t)nargs;
    task->exec_rank     = -1;
    task->prepicked     = -1;
    if (nargs > 0) {
        task->spec.args = calloc(nargs, sizeof(*task->spec.args));
        task->deps      = calloc(nargs, sizeof(*task->deps));
        if (task->spec.args == NULL || task->deps == NULL) {
            rt_task_free(task);
            return NULL;
        }
    }
    return task;
}

/* Create the return objects, pending, one handle each (caller holds the lock). */
static rmpi_status_t rt_task_returns(rt_task_t *task, rmpi_ref_t *returns)
{
    for (unsigned i = 0; i < task->spec.num_returns; ++i) {
        store_oid_t oid = rt_oid_return(&task->id, i);
        rt_obj_t   *obj = rt_obj_create(&oid);

        if (obj == NULL) {
            while (i-- > 0) {
                oid = rt_oid_return(&task->id, i);
                obj = rt_obj_find(&oid);
                base_hash_remove(&rt.objs, &obj->hnode);
                free(obj);
            }
            return RMPI_ERR_NO_MEMORY;
        }
        obj->handles = 1;
        returns[i]   = rt_ref_from_oid(&oid);
    }
    return RMPI_OK;
}

void rt_task_ready(rt_task_t *task)
{
    base_list_add_tail(&rt.ready, &task->ready_link);
}

static void rt_task_finish(rt_task_t *task)
{
    task->state = RT_TASK_FINISHED;
    if (task->actor_ref != NULL) {
        rt_actor_call_remove(task);
    }
    rt_task_release_args(task);
    rt_pg_task_unpark(task);
    --rt.pending_tasks;
    /*
     * Freeing a return nobody holds drops its lineage reference, which would
     * free the task under this loop: hold one of our own until it is done.
     */
    ++task->lineage_refs;
    for (unsigned i = 0; i < task->spec.num_returns; ++i) {
        store_oid_t oid = rt_oid_return(&task->id, i);
        rt_obj_t   *obj = rt_obj_find(&oid);

        if (obj != NULL) {
            rt_obj_maybe_free(obj);
        }
    }
    if (--task->lineage_refs == 0) {
        rt_task_remove(task);
        rt_task_free(task);
    }
}

void rt_task_fail(rt_task_t *task, rmpi_status_t status, const char *msg)
{
    for (unsigned i = 0; i < task->spec.num_returns; ++i) {
        store_oid_t oid = rt_oid_return(&task->id, i);
        rt_obj_t   *obj = rt_obj_find(&oid);

        if (obj != NULL) {
            rt_obj_set_error(obj, status, msg);
        }
    }
    rt_task_finish(task);
}

/* --- placement and push ---------------------------------------------------------------------- */

static size_t rt_task_locality(const rt_task_t *task, rt_node_bytes_t *nodes, size_t max)
{
    size_t count = 0;

    for (uint32_t i = 0; i < task->spec.num_args; ++i) {
        const rt_value_t *value = &task->spec.args[i].value;
        size_t            k;

        if (value->kind != RT_VALUE_STORED || value->loc.rank < 0 || value->loc.rank >= rt.size) {
            continue;
        }
        int node = rt.peers[value->loc.rank].node;

        for (k = 0; k < count && nodes[k].node != node; ++k) {
        }
        if (k == count) {
            if (count == max) {
                continue;
            }
            nodes[count++] = (rt_node_bytes_t){node, 0};
        }
        nodes[k].bytes += value->loc.size;
    }
    return count;
}

/*
 * The rank holding most of the task's device-object bytes (at least the
 * locality minimum), or -1; like rt_task_locality, it tracks up to 8 ranks.
 */
typedef struct rt_rank_bytes {
    int      rank;
    uint64_t bytes;
} rt_rank_bytes_t;

static int rt_task_device_rank(const rt_task_t *task)
{
    rt_rank_bytes_t ranks[8];
    size_t          count = 0;
    int             best  = -1;

    for (uint32_t i = 0; i < task->spec.num_args; ++i) {
        const rt_value_t *value = &task->spec.args[i].value;
        size_t            k;

        if (value->kind != RT_VALUE_STORED || value->loc.device == RT_LOC_HOST) {
            continue;
        }
        for (k = 0; k < count && ranks[k].rank != value->loc.rank; ++k) {
        }
        if (k == count) {
            if (count == 8) {
                continue;
            }
            ranks[count++] = (rt_rank_bytes_t){value->loc.rank, 0};
        }
        ranks[k].bytes += value->loc.size;
    }
    for (size_t k = 0; k < count; ++k) {
        if (ranks[k].bytes >= RT_SCHED_LOCALITY_MIN &&
            (best < 0 || ranks[k].bytes > ranks[(size_t)best].bytes)) {
            best = (int)k;
        }
    }
    return best < 0 ? -1 : ranks[best].rank;
}

static rmpi_status_t rt_task_pick(rt_task_t *task, int *rank_p, char *why, size_t why_len)
{
    rt_node_bytes_t nodes[8];
    int             device_rank = rt_task_device_rank(task);
    rt_sched_req_t  req         = {
                 .has_device_rank = device_rank >= 0,
                 .device_rank     = device_rank,
                 .demand          = &task->demand,
                 .strategy        = task->strategy,
                 .affinity_node   = task->affinity_node,
                 .affinity_rank   = task->affinity_rank,
                 .soft            = task->soft,
                 .locality        = nodes,
                 .num_locality    = rt_task_locality(task, nodes, 8),
    };

    return rt_sched_pick(rt.cluster, &req, rank_p, why, why_len);
}

static void rt_task_push_failed(rt_task_t *task, rmpi_status_t status, const char *why)
{
    pthread_mutex_lock(&rt.lock);
    rt_task_fail(task, status, why);
    pthread_mutex_unlock(&rt.lock);
}

void rt_task_push(rt_task_t *task)
{
    char          why[256] = "";
    int           rank     = task->prepicked;
    rmpi_status_t status   = RMPI_OK;
    size_t        len;
    void         *buf;

    task->prepicked = -1;
    if (rank < 0 || rt_cluster_is_dead(rt.cluster, rank)) {
        status = rt_task_pick(task, &rank, why, sizeof(why));
    }

    if (status != RMPI_OK) {
        base_error("task '%s': %s", task->name, why);
        rt_task_push_failed(task, status, why);
        return;
    }
    len = rt_spec_size(&task->spec);
    buf = malloc(len);
    if (buf == NULL) {
        rt_task_push_failed(task, RMPI_ERR_NO_MEMORY, "out of memory for a task message");
        return;
    }
    rt_spec_encode(&task->spec, buf);
    pthread_mutex_lock(&rt.lock);
    task->state     = RT_TASK_PUSHED;
    task->exec_rank = rank;
    pthread_mutex_unlock(&rt.lock);
    rt_cluster_load_add(rt.cluster, rank, +1);
    status = rt_send(rank, RT_MSG_TASK_PUSH, buf, len, true);
    if (status != RMPI_OK) {
        /* The rank died under us: the failure handler retries or fails the task. */
        base_debug("task '%s': push to rank %d failed: %s", task->name, rank,
                   rmpi_status_str(status));
    }
}

void rt_push_ready(void)
{
    for (;;) {
        rt_task_t *task = NULL;

        pthread_mutex_lock(&rt.lock);
        if (!base_list_is_empty(&rt.ready)) {
            task = base_list_first(&rt.ready, rt_task_t, ready_link);
            base_list_del(&task->ready_link);
            base_list_init(&task->ready_link);
            if (task->dep_error != RMPI_OK || task->canceled) {
                rt_task_fail(task, task->canceled ? RMPI_ERR_CANCELED : task->dep_error,
                             task->canceled ? "canceled" : task->dep_message);
                task = (rt_task_t *)-1;
            } else if (task->actor_ref != NULL) {
                rt_actor_call_ready(task); /* leaves in submission order */
                task = (rt_task_t *)-1;
            }
        }
        pthread_mutex_unlock(&rt.lock);
        if (task == NULL) {
            rt_actor_send_queued();
            return;
        }
        if (task != (rt_task_t *)-1) {
            rt_task_push(task);
        }
    }
}

/* --- rmpi_submit ---------------------------------------------------------------------------------
 */

static rmpi_status_t rt_submit_check(const char *fn, const rmpi_task_arg_t *args, size_t nargs,
                                     const rmpi_ref_t *returns, int *fn_index_p)
{
    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (fn == NULL) {
        base_error("rmpi_submit: no function name");
        return RMPI_ERR_INVALID_ARG;
    }
    if ((nargs > 0 && args == NULL) || returns == NULL || nargs > RT_MAX_ARGS) {
        base_error("rmpi_submit(%s): args and returns must be given (at most %u args)", fn,
                   RT_MAX_ARGS);
        return RMPI_ERR_INVALID_ARG;
    }
    *fn_index_p = rt_registry_find(fn);
    if (*fn_index_p < 0 || rt_registry_get((uint32_t)*fn_index_p)->kind != RT_FN_TASK) {
        base_error("rmpi_submit: no remote function is registered as '%s'%s", fn,
                   *fn_index_p >= 0 ? " (it is an actor class or method)" : "");
        return RMPI_ERR_NOT_FOUND;
    }
    return RMPI_OK;
}

/* Everything that needs the lock: check refs, take them, create the returns. */
static rmpi_status_t rt_submit_locked(rt_task_t *task, rmpi_ref_t *returns)
{
    rmpi_status_t status = RMPI_OK;

    for (uint32_t i = 0; i < task->spec.num_args && status == RMPI_OK; ++i) {
        if (task->spec.args[i].is_ref) {
            status = rt_arg_check(&task->spec.args[i], i);
        }
    }
    if (status == RMPI_OK) {
        status = rt_task_returns(task, returns);
    }
    if (status != RMPI_OK) {
        return status;
    }
    rt_task_insert(task);
    ++rt.pending_tasks;
    if (task->actor_owner != NULL) {
        task->actor_owner->ctor = task;
    }
    if (task->actor_ref != NULL) {
        rt_actor_call_add(task);
    }
    for (uint32_t i = 0; i < task->spec.num_args; ++i) {
        if (task->spec.args[i].is_ref) {
            rt_dep_start(task, i);
        }
    }
    if (task->in_pg && task->affinity_rank < 0) {
        rt_pg_task_park(task); /* its group was not placed at submit */
    }
    if (task->deps_left == 0) {
        rt_task_ready(task);
    }
    return RMPI_OK;
}

/*
 * Fail fast: no rank could ever run it. A task without ref arguments keeps
 * the rank chosen here; one with refs is placed again when they are ready,
 * knowing where their bytes lie.
 */
static rmpi_status_t rt_submit_feasible(rt_task_t *task, const rmpi_task_arg_t *args, size_t nargs)
{
    char          why[512] = "";
    int           rank;
    rmpi_status_t status;
    bool          refs = false;

    if (task->in_pg) {
        status = rt_pg_task_place(task, why, sizeof(why));
        if (status == RMPI_INPROGRESS) {
            task->prepicked = -1; /* placed when its group is (rt_pg_task_park) */
            return RMPI_OK;
        }
        if (status != RMPI_OK) {
            base_error("rmpi_submit(%s): %s", task->name, why);
            return status;
        }
    }
    status = rt_task_pick(task, &rank, why, sizeof(why));
    if (status != RMPI_OK) {
        base_error("rmpi_submit(%s): %s", task->name, why);
        return status;
    }
    for (size_t i = 0; i < nargs && !refs; ++i) {
        refs = args[i].kind == RMPI_ARG_REF || args[i].size > rt.conf.inline_max;
    }
    task->prepicked = refs ? -1 : rank;
    return RMPI_OK;
}

/* The task holds its internal puts through uses now (or failed): drop their handles. */
static void rt_submit_drop_internal(rt_task_t *task)
{
    for (uint32_t i = 0; i < task->spec.num_args; ++i) {
        rt_obj_t *obj;

        if (!task->deps[i].internal) {
            continue;
        }
        task->deps[i].internal = false;
        obj                    = rt_obj_find(&task->spec.args[i].oid);
        if (obj != NULL && obj->handles > 0) {
            --obj->handles;
            rt_obj_maybe_free(obj);
        }
    }
}

static void rt_submit_abort(rt_task_t *task)
{
    pthread_mutex_lock(&rt.lock);
    rt_submit_drop_internal(task);
    pthread_mutex_unlock(&rt.lock);
    rt_task_free(task);
}

static void rt_submit_extra(rt_task_t *task, const rt_submit_extra_t *extra)
{
    task->id = extra != NULL && extra->has_id
                   ? extra->id
                   : rt_oid_make(rt.rank, 0, atomic_fetch_add(&rt.next_seq, 1) + 1, 0);
    if (extra == NULL) {
        return;
    }
    task->spec.flags |= extra->spec_flags;
    task->spec.actor  = extra->actor;
    task->actor_owner = extra->actor_owner;
    task->actor_ref   = extra->actor_ref;
}

rmpi_status_t rt_submit(uint32_t fn_index, const char *name, const rmpi_task_arg_t *args,
                        size_t nargs, const rmpi_task_options_t *opts,
                        const rt_submit_extra_t *extra, rmpi_ref_t *returns)
{
    rmpi_status_t status;
    rt_task_t    *task = rt_task_new(nargs);
    char          trace[RT_NAME_MAX + 1];
    bool          traced;

    if (task == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    snprintf(task->name, sizeof(task->name), "%s", name);
    status = rt_options_apply(opts, task);
    if (status == RMPI_OK && (extra == NULL || extra->actor_ref == NULL)) {
        status = rt_submit_feasible(task, args, nargs); /* a call goes where its actor is */
    }
    if (status == RMPI_OK) {
        status = rt_args_values(task, args, nargs);
    }
    if (status != RMPI_OK) {
        rt_submit_abort(task);
        return status;
    }
    rt_submit_extra(task, extra);
    task->spec.task_id  = task->id;
    task->spec.fn_index = fn_index;
    task->submit_us     = rt_timeline_enabled() ? rt_timeline_now_us() : 0;
    rt_spec_resources(task);
    /* Once submitted, another thread may push, finish and free the task: keep what we trace. */
    traced = task->submit_us != 0;
    if (traced) {
        snprintf(trace, sizeof(trace), "%s", task->name);
    }
    pthread_mutex_lock(&rt.lock);
    status = rt_submit_locked(task, returns);
    if (status == RMPI_OK) {
        rt_submit_drop_internal(task);
    }
    pthread_mutex_unlock(&rt.lock);
    if (status != RMPI_OK) {
        rt_submit_abort(task);
        return status;
    }
    atomic_fetch_add_explicit(&rt.stats.submitted, 1, memory_order_relaxed);
    if (traced) {
        rt_timeline_instant(trace, "submit", NULL);
    }
    rt_push_ready();
    return RMPI_OK;
}

rmpi_status_t rmpi_submit(const char *fn, const rmpi_task_arg_t *args, size_t nargs,
                          const rmpi_task_options_t *opts, rmpi_ref_t *returns)
{
    int           fn_index;
    rmpi_status_t status = rt_submit_check(fn, args, nargs, returns, &fn_index);

    if (status != RMPI_OK) {
        return status;
    }
    return rt_submit((uint32_t)fn_index, fn, args, nargs, opts, NULL, returns);
}

/* --- TASK_DONE
 * ------------------------------------------------------------------------------------- */

/* Results nobody waits for (a canceled or superseded attempt): free their copies. */
static void rt_done_discard(const rt_task_done_t *done)
{
    for (uint16_t i = 0; i < done->num_returns; ++i) {
        if (done->returns[i].kind == RT_VALUE_STORED) {
            store_oid_t oid = rt_oid_return(&done->task_id, i);

            rt_free_copy(&oid, &done->returns[i].loc);
        }
    }
}

static bool rt_done_should_retry(const rt_task_t *task, const rt_task_done_t *done)
{
    if (!(task->spec.flags & RT_SPEC_RETRY_EXCEPTIONS) || done->num_returns == 0 ||
        done->returns[0].kind != RT_VALUE_ERROR || done->returns[0].status == RMPI_ERR_CANCELED ||
        task->canceled) {
        return false;
    }
    return task->spec.max_retries < 0 || task->spec.attempt < (uint32_t)task->spec.max_retries;
}

static void rt_done_keep_lineage(rt_task_t *task)
{
    size_t len = rt_spec_size(&task->spec);

    task->lineage = malloc(len);
    if (task->lineage != NULL) {
        task->lineage_len = rt_spec_encode(&task->spec, task->lineage);
    }
}

static void rt_done_apply(rt_task_t *task, const rt_task_done_t *done)
{
    bool stored = false;

    for (uint16_t i = 0; i < done->num_returns && i < task->spec.num_returns; ++i) {
        store_oid_t oid = rt_oid_return(&task->id, i);
        rt_obj_t   *obj = rt_obj_find(&oid);

        if (obj == NULL) {
            continue;
        }
        if (done->returns[i].kind == RT_VALUE_STORED) {
            obj->task = task;
            ++task->lineage_refs;
            stored = true;
        }
        rt_obj_set_value(obj, &done->returns[i]);
    }
    if (stored && task->lineage == NULL) {
        rt_done_keep_lineage(task);
    }
    rt_task_finish(task);
}

void rt_on_task_done(int src, const void *data, size_t len)
{
    rt_task_done_t done;
    rt_task_t     *task;

    if (rt_done_decode(data, len, &done) != RMPI_OK) {
        rt_count_bad(src, RT_MSG_TASK_DONE, RMPI_ERR_MESSAGE);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    task = rt_task_find(&done.task_id);
    if (task == NULL || task->state != RT_TASK_PUSHED || task->spec.attempt != done.attempt ||
        done.num_returns != task->spec.num_returns) {
        rt_done_discard(&done);
    } else if (task->actor_ref != NULL) {
        rt_cluster_load_report(rt.cluster, done.executor, done.queued, done.running);
        if (!rt_actor_call_retry(task, &done)) {
            rt_done_apply(task, &done);
        }
    } else {
        rt_cluster_load_add(rt.cluster, task->exec_rank, -1);
        rt_cluster_load_report(rt.cluster, done.executor, done.queued, done.running);
        if (task->actor_owner != NULL) {
            rt_actor_on_created(task->actor_owner, task, &done);
        } else if (rt_done_should_retry(task, &done)) {
            ++task->spec.attempt;
            rt_task_ready(task);
        } else {
            rt_done_apply(task, &done);
        }
    }
    pthread_mutex_unlock(&rt.lock);
    rt_done_clear(&done);
    rt_push_ready();
}

/* --- rmpi_put
 * ------------------------------------------------------------------------------------------ */

static rmpi_status_t rt_put_stored(const store_oid_t *oid, const void *data, size_t size,
                                   rt_location_t *loc)
{
    store_view_t  view;
    rmpi_status_t status = store_put(rt.store, oid, data, size, 0);

    if (status == RMPI_OK) {
        status = store_get(rt.store, oid, &view);
    }
    if (status != RMPI_OK) {
        (void)store_delete(rt.store, oid);
        return status;
    }
    /* Peers read the primary copy in place: it must not be spilled under them. */
    (void)store_pin(rt.store, oid);
    (void)store_release(rt.store, oid);
    *loc = (rt_location_t){rt.rank, RT_LOC_HOST, view.offset, size};
    return RMPI_OK;
}

static rmpi_status_t rt_put_internal(const void *data, size_t size, const rmpi_array_desc_t *array,
                                     store_oid_t *oid_p, uint32_t handles)
{
    store_oid_t oid =
        rt_oid_make(rt.rank, 0, atomic_fetch_add(&rt.next_seq, 1) + 1, RT_OID_PUT_INDEX);
    rt_value_t    value  = {.kind = RT_VALUE_INLINE, .data = data, .size = size};
    rmpi_status_t status = RMPI_OK;
    rt_obj_t     *obj;

    if (array != NULL) {
        value.has_array = true;
        value.array     = *array;
    }
    if (size > rt.conf.inline_max) {
        value.kind = RT_VALUE_STORED;
        status     = rt_put_stored(&oid, data, size, &value.loc);
        if (status != RMPI_OK) {
            return status;
        }
    }
    pthread_mutex_lock(&rt.lock);
    obj = rt_obj_create(&oid);
    if (obj == NULL) {
        status = RMPI_ERR_NO_MEMORY;
        if (value.kind == RT_VALUE_STORED) {
            rt_free_copy(&oid, &value.loc);
        }
    } else {
        obj->handles = handles;
        rt_obj_set_value(obj, &value);
    }
    pthread_mutex_unlock(&rt.lock);
    if (status == RMPI_OK) {
        *oid_p = oid;
    }
    return status;
}

rmpi_status_t rmpi_put(const void *data, size_t size, const rmpi_array_desc_t *array,
                       rmpi_ref_t *ref_p)
{
    store_oid_t   oid;
    rmpi_status_t status;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (ref_p == NULL || (size > 0 && data == NULL) ||
        (array != NULL && (array->ndim > RMPI_ARRAY_MAX_DIMS || array->dtype >= RMPI_DTYPE_LAST))) {
        base_error("rmpi_put: needs data (unless size is 0), a ref to write and a valid array "
                   "descriptor");
        return RMPI_ERR_INVALID_ARG;
    }
    status = rt_put_internal(data, size, array, &oid, 1);
    if (status == RMPI_OK) {
        *ref_p = rt_ref_from_oid(&oid);
    }
    return status;
}
