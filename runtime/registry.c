/*
 * runtime/registry.c - the table of remote functions, by name.
 *
 * Filled before rmpi_init (usually by RMPI_REMOTE constructors), frozen at
 * init: every rank must hold the same names in the same order, which the
 * wire-up checks with a digest. Tasks then name functions by index.
 * Thread safety: registration is serialized by a mutex; lookups after the
 * freeze read an immutable table without locks.
 */
#include "runtime/rt_int.h"

#include "base/hash.h"
#include "base/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t rt_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static rt_fn_t        *rt_fns;
static size_t          rt_num_fns, rt_fns_capacity;
static bool            rt_frozen;

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

rmpi_status_t rmpi_register_function(const char *name, rmpi_task_fn_t fn)
{
    rmpi_status_t status = RMPI_OK;

    if (name == NULL || fn == NULL || name[0] == '\0' || strlen(name) > RT_FN_NAME_MAX) {
        base_error("rmpi_register_function: a name of 1 to %d bytes and a function are needed",
                   RT_FN_NAME_MAX);
        return RMPI_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&rt_registry_lock);
    if (rt_frozen) {
        status = RMPI_ERR_NOT_READY;
        base_error("rmpi_register_function(%s): functions must be registered before rmpi_init",
                   name);
    } else if (rt_registry_find_locked(name) >= 0) {
        status = RMPI_ERR_EXISTS;
        base_error("rmpi_register_function: '%s' is already registered", name);
    } else if (rt_num_fns < rt_fns_capacity || (status = rt_registry_grow()) == RMPI_OK) {
        strcpy(rt_fns[rt_num_fns].name, name);
        rt_fns[rt_num_fns].fn = fn;
        ++rt_num_fns;
    }
    pthread_mutex_unlock(&rt_registry_lock);
    return status;
}

void rt_registry_freeze(void)
{
    pthread_mutex_lock(&rt_registry_lock);
    rt_frozen = true;
    pthread_mutex_unlock(&rt_registry_lock);
}

void rt_registry_thaw(void)
{
    pthread_mutex_lock(&rt_registry_lock);
    rt_frozen = false;
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
        digest = base_hash_u64(digest ^ base_hash_str(rt_fns[i].name));
    }
    return digest;
}

int rt_registry_find(const char *name)
{
    int index;

    pthread_mutex_lock(&rt_registry_lock);
    index = rt_registry_find_locked(name);
    pthread_mutex_unlock(&rt_registry_lock);
    return index;
}

const rt_fn_t *rt_registry_get(uint32_t index)
{
    return index < rt_num_fns ? &rt_fns[index] : NULL;
}
