/*
 * runtime/registry.c - the table of remote functions, actor classes
 * ("Class", the constructor) and actor methods ("Class.method"), by name.
 *
 * Filled before rmpi_init (usually by RMPI_REMOTE constructors), frozen at
 * init: every rank must hold the same names in the same order, which the
 * wire-up checks with a digest. Tasks then name functions by index.
 * Thread safety: registration is serialized by a mutex; lookups after the
 * freeze read an immutable table without locks, through an index by name
 * hash built at the freeze (every rmpi_submit and rmpi_actor_call looks a
 * name up, so that path is a hash probe, not a scan under a lock).
 */
#include "runtime/rt_int.h"

#include "base/hash.h"
#include "base/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t rt_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static rt_fn_t        *rt_fns;
static size_t          rt_num_fns, rt_fns_capacity;
static bool            rt_frozen;

/* Open addressing over rt_fns indices + 1 (0: empty), built at the freeze. */
static uint32_t *rt_fn_index;
static size_t    rt_fn_index_mask;

static rmpi_status_t rt_registry_grow(void)
{
    size_t   capacity = rt_fns_capacity == 0 ? 64 : rt_fns_capacity * 2;
    rt_fn_t *fns      = realloc(rt_fns, capacity * sizeof(*fns));

    if (fns == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    rt_fns          = fns;
    rt_fns_capacity = capacity;
    return RMPI_OK;
}

static int rt_registry_find_locked(const char *name)
{
    for (size_t i = 0; i < rt_num_fns; ++i) {
        if (strcmp(rt_fns[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static rmpi_status_t rt_registry_add(const char *name, rmpi_task_fn_t fn, rt_fn_kind_t kind,
                                     rmpi_actor_dtor_t dtor, const char *caller)
{
    rmpi_status_t status = RMPI_OK;

    pthread_mutex_lock(&rt_registry_lock);
    if (rt_frozen) {
        status = RMPI_ERR_NOT_READY;
        base_error("%s(%s): must be called before rmpi_init", caller, name);
    } else if (rt_registry_find_locked(name) >= 0) {
        status = RMPI_ERR_EXISTS;
        base_error("%s: '%s' is already registered", caller, name);
    } else if (rt_num_fns < rt_fns_capacity || (status = rt_registry_grow()) == RMPI_OK) {
        rt_fn_t *entry = &rt_fns[rt_num_fns++];

        memset(entry, 0, sizeof(*entry));
        strcpy(entry->name, name);
        entry->fn   = fn;
        entry->kind = kind;
        entry->dtor = dtor;
    }
    pthread_mutex_unlock(&rt_registry_lock);
    return status;
}

static bool rt_name_ok(const char *name, size_t max)
{
    return name != NULL && name[0] != '\0' && strlen(name) <= max;
}

rmpi_status_t rmpi_register_function(const char *name, rmpi_task_fn_t fn)
{
    if (!rt_name_ok(name, RT_FN_NAME_MAX) || fn == NULL) {
        base_error("rmpi_register_function: a name of 1 to %d bytes and a function are needed",
                   RT_FN_NAME_MAX);
        return RMPI_ERR_INVALID_ARG;
    }
    return rt_registry_add(name, fn, RT_FN_TASK, NULL, "rmpi_register_function");
}

rmpi_status_t rmpi_register_actor_class(const char *cls, rmpi_task_fn_t ctor,
                                        rmpi_actor_dtor_t dtor)
{
    /* Room is left for ".method" in the names of its methods. */
    if (!rt_name_ok(cls, RT_FN_NAME_MAX / 2) || strchr(cls, '.') != NULL || ctor == NULL) {
        base_error("rmpi_register_actor_class: a class name of 1 to %d bytes without '.' and "
                   "a constructor are needed",
                   RT_FN_NAME_MAX / 2);
        return RMPI_ERR_INVALID_ARG;
    }
    return rt_registry_add(cls, ctor, RT_FN_ACTOR_CLASS, dtor, "rmpi_register_actor_class");
}

rmpi_status_t rmpi_register_actor_method(const char *cls, const char *method, rmpi_task_fn_t fn)
{
    char name[RT_FN_NAME_MAX + 2];

    if (!rt_name_ok(cls, RT_FN_NAME_MAX / 2) || !rt_name_ok(method, RT_FN_NAME_MAX) || fn == NULL ||
        (size_t)snprintf(name, sizeof(name), "%s.%s", cls, method) > RT_FN_NAME_MAX) {
        base_error("rmpi_register_actor_method: a class, a method (\"class.method\" at most %d "
                   "bytes) and a function are needed",
                   RT_FN_NAME_MAX);
        return RMPI_ERR_INVALID_ARG;
    }
    return rt_registry_add(name, fn, RT_FN_ACTOR_METHOD, NULL, "rmpi_register_actor_method");
}

rmpi_status_t rmpi_register_actor_checkpoint(const char *cls, rmpi_actor_save_fn_t save,
                                             rmpi_actor_restore_fn_t restore, unsigned every_calls)
{
    rmpi_status_t status = RMPI_OK;
    int           index;

    if (cls == NULL || save == NULL || restore == NULL || every_calls == 0) {
        base_error("rmpi_register_actor_checkpoint: a class, both hooks and an interval >= 1 "
                   "are needed");
        return RMPI_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&rt_registry_lock);
    index = rt_registry_find_locked(cls);
    if (rt_frozen) {
        status = RMPI_ERR_NOT_READY;
        base_error("rmpi_register_actor_checkpoint(%s): must be called before rmpi_init", cls);
    } else if (index < 0 || rt_fns[index].kind != RT_FN_ACTOR_CLASS) {
        status = RMPI_ERR_NOT_FOUND;
        base_error("rmpi_register_actor_checkpoint: register actor class '%s' first", cls);
    } else {
        rt_fns[index].save       = save;
        rt_fns[index].restore    = restore;
        rt_fns[index].save_every = every_calls;
    }
    pthread_mutex_unlock(&rt_registry_lock);
    return status;
}

int rt_registry_find_method(uint32_t cls, const char *method)
{
    const rt_fn_t *entry = rt_registry_get(cls);
    char           name[RT_FN_NAME_MAX + 2];
    int            index;

    if (entry == NULL || entry->kind != RT_FN_ACTOR_CLASS || method == NULL ||
        (size_t)snprintf(name, sizeof(name), "%s.%s", entry->name, method) > RT_FN_NAME_MAX) {
        return -1;
    }
    index = rt_registry_find(name);
    return index >= 0 && rt_fns[index].kind == RT_FN_ACTOR_METHOD ? index : -1;
}

/* The name index (at most half full); without memory lookups stay linear. */
static void rt_registry_index_locked(void)
{
    size_t slots = 16;

    while (slots < 2 * rt_num_fns) {
        slots *= 2;
    }
    rt_fn_index = calloc(slots, sizeof(*rt_fn_index));
    if (rt_fn_index == NULL) {
        return;
    }
    rt_fn_index_mask = slots - 1;
    for (size_t i = 0; i < rt_num_fns; ++i) {
        size_t slot = base_hash_str(rt_fns[i].name) & rt_fn_index_mask;

        while (rt_fn_index[slot] != 0) {
            slot = (slot + 1) & rt_fn_index_mask;
        }
        rt_fn_index[slot] = (uint32_t)i + 1;
    }
}

static int rt_registry_probe(const char *name)
{
    size_t slot = base_hash_str(name) & rt_fn_index_mask;

    for (; rt_fn_index[slot] != 0; slot = (slot + 1) & rt_fn_index_mask) {
        if (strcmp(rt_fns[rt_fn_index[slot] - 1].name, name) == 0) {
            return (int)rt_fn_index[slot] - 1;
        }
    }
    return -1;
}

void rt_registry_freeze(void)
{
    pthread_mutex_lock(&rt_registry_lock);
    rt_registry_index_locked();
    __atomic_store_n(&rt_frozen, true, __ATOMIC_RELEASE); /* the index before the flag */
    pthread_mutex_unlock(&rt_registry_lock);
}

void rt_registry_thaw(void)
{
    pthread_mutex_lock(&rt_registry_lock);
    __atomic_store_n(&rt_frozen, false, __ATOMIC_RELEASE);
    free(rt_fn_index);
    rt_fn_index = NULL;
    pthread_mutex_unlock(&rt_registry_lock);
}

size_t rt_registry_count(void)
{
    return rt_num_fns;
}

uint64_t rt_registry_digest(void)
{
    uint64_t digest = base_hash_u64(rt_num_fns);

    for (size_t i = 0; i < rt_num_fns; ++i) {
        digest = base_hash_u64(digest ^ base_hash_str(rt_fns[i].name) ^ rt_fns[i].kind);
    }
    return digest;
}

int rt_registry_find(const char *name)
{
    int index;

    if (__atomic_load_n(&rt_frozen, __ATOMIC_ACQUIRE) && rt_fn_index != NULL) {
        return rt_registry_probe(name); /* immutable until the thaw at shutdown */
    }
    pthread_mutex_lock(&rt_registry_lock);
    index = rt_registry_find_locked(name);
    pthread_mutex_unlock(&rt_registry_lock);
    return index;
}

const rt_fn_t *rt_registry_get(uint32_t index)
{
    return index < rt_num_fns ? &rt_fns[index] : NULL;
}
