/*
 * objstore/store.c - the object table and the store's API: create, seal, get, release,
 * delete, pin, statistics.
 *
 * One mutex guards the table and the allocator. Critical sections are table updates
 * only: payload copies (store_put), checksums and spill I/O happen with the lock
 * dropped, on objects marked busy so nobody frees them meanwhile.
 */
#include "objstore/store_int.h"

#include "base/log.h"
#include "base/rundir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- object IDs ----------------------------------------------------------------------- */

uint64_t store_oid_hash(const store_oid_t *oid)
{
    uint64_t lo, hi;

    memcpy(&lo, oid->bytes, sizeof(lo));
    memcpy(&hi, oid->bytes + sizeof(lo), sizeof(hi));
    return base_hash_u64(lo ^ base_hash_u64(hi));
}

void store_oid_format(const store_oid_t *oid, char *buf)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < sizeof(oid->bytes); ++i) {
        buf[2 * i]     = digits[oid->bytes[i] >> 4];
        buf[2 * i + 1] = digits[oid->bytes[i] & 0xf];
    }
    buf[2 * sizeof(oid->bytes)] = '\0';
}

static uint64_t store_obj_key_hash(const void *key)
{
    return store_oid_hash(key);
}

static bool store_obj_key_equal(const void *key, const base_hash_node_t *node)
{
    return store_oid_equal(key, &base_container_of(node, store_obj_t, hnode)->oid);
}

static const base_hash_ops_t store_obj_hash_ops = {
    .hash  = store_obj_key_hash,
    .equal = store_obj_key_equal,
};

/* --- the object table ----------------------------------------------------------------- */

store_obj_t *store_find_locked(store_h store, const store_oid_t *oid)
{
    base_hash_node_t *node = base_hash_find(&store->objects, oid);

    return (node != NULL) ? base_container_of(node, store_obj_t, hnode) : NULL;
}

void store_wake_locked(store_h store)
{
    if (store->waiters > 0) {
        pthread_cond_broadcast(&store->room_cond);
    }
}

void store_obj_drop_block_locked(store_h store, store_obj_t *obj)
{
    if (!obj->has_block) {
        return;
    }
    store_objhdr_clear(store_obj_header(store, obj)); /* stale offsets must not validate */
    store_alloc_put(store->alloc, &obj->block);
    obj->has_block = false;
    base_list_del(&obj->lru);
    store_wake_locked(store);
}

static void store_obj_unlink_spill_locked(store_h store, store_obj_t *obj)
{
    char path[STORE_SPILL_PATH_MAX];

    if (!obj->spilled) {
        return;
    }
    obj->spilled = false;
    store->stats.spilled_objects--;
    store->stats.spilled_bytes -= obj->size;
    if ((store_spill_path(store->spill_dir, &obj->oid, path, sizeof(path)) == RMPI_OK) &&
        (unlink(path) != 0) && (errno != ENOENT)) {
        base_warn("store: cannot remove spill file %s: %m", path);
    }
}

void store_obj_free_locked(store_h store, store_obj_t *obj)
{
    store_obj_drop_block_locked(store, obj);
    store_obj_unlink_spill_locked(store, obj);
    base_list_del(&obj->lru);
    base_hash_remove(&store->objects, &obj->hnode);
    if (obj->sealed) {
        store->sealed_count--;
    }
    base_mpool_put(store->obj_pool, obj);
}

static bool store_obj_evictable(const store_obj_t *obj)
{
    return obj->sealed && obj->has_block && (obj->refs == 0) && (obj->pins == 0) &&
           !store_obj_busy(obj) && !obj->deleting;
}

void store_obj_update_lru_locked(store_h store, store_obj_t *obj)
{
    base_list_del(&obj->lru);
    if (!store_obj_evictable(obj)) {
        return;
    }
    base_list_add_tail((obj->flags & STORE_OBJECT_SECONDARY) ? &store->lru_secondary
                                                             : &store->lru_primary,
                       &obj->lru);
    store_wake_locked(store);
}

/* --- create and destroy --------------------------------------------------------------- */

static rmpi_status_t store_resolve_job_id(const store_params_t *params, char *buf, size_t len)
{
    if ((params != NULL) && (params->field_mask & STORE_PARAM_JOB_ID) && (params->job_id != NULL)) {
        if (strlen(params->job_id) >= len) {
            base_error("store: job id '%s' is too long", params->job_id);
            return RMPI_ERR_INVALID_ARG;
        }
        strcpy(buf, params->job_id);
        return RMPI_OK;
    }
    return base_job_id(buf, len);
}

/* Settings: config table first, then the fields set in @a params. */
static rmpi_status_t store_resolve_options(const store_params_t *params, store_options_t *opts)
{
    rmpi_status_t status = base_config_parse(&store_options_table, opts, NULL, NULL, 0);
    char         *dir;

    if ((status != RMPI_OK) || (params == NULL)) {
        return status;
    }
    if (params->field_mask & STORE_PARAM_ARENA_SIZE) {
        opts->arena_size = params->arena_size;
    }
    if (params->field_mask & STORE_PARAM_PUT_TIMEOUT) {
        opts->put_timeout = params->put_timeout;
    }
    if (params->field_mask & STORE_PARAM_SPILL) {
        opts->spill = params->spill;
    }
    if ((params->field_mask & STORE_PARAM_SPILL_DIR) && (params->spill_dir != NULL)) {
        dir = strdup(params->spill_dir);
        if (dir == NULL) {
            base_config_release(&store_options_table, opts);
            return RMPI_ERR_NO_MEMORY;
        }
        free(opts->spill_dir);
        opts->spill_dir = dir;
    }
    return RMPI_OK;
}

/* The rank's own spill folder, <dir>/raympi-<job id>-<rank>, created empty. */
/* <run dir>/spill goes with the last rank of the node (rmdir fails while others use it). */
static void store_remove_spill_parent(store_h store)
{
    char *slash;

    if (!store->spill_dir_default || (slash = strrchr(store->spill_dir, '/')) == NULL) {
        return;
    }
    *slash = '\0';
    (void)rmdir(store->spill_dir);
    *slash = '/';
}

static rmpi_status_t store_setup_spill_dir(store_h store, const char *dir)
{
    char          base[STORE_SPILL_PATH_MAX - 64];
    rmpi_status_t status;
    int           n;

    if ((dir == NULL) || (dir[0] == '\0')) {
        status = base_run_dir(base, sizeof(base) - sizeof("/spill"));
        if (status != RMPI_OK) {
            return status;
        }
        strcat(base, "/spill");
        store->spill_dir_default = true;
    } else if (strlen(dir) < sizeof(base)) {
        strcpy(base, dir);
    } else {
        base_error("store: STORE_SPILL_DIR '%s' is too long", dir);
        return RMPI_ERR_CONFIG;
    }
    n = snprintf(store->spill_dir, sizeof(store->spill_dir), "%s/" STORE_ARENA_PREFIX "%s-%d", base,
                 store->job_id, store->rank);
    if ((n < 0) || ((size_t)n >= sizeof(store->spill_dir) - 64)) {
        base_error("store: spill folder under '%s' is too long", base);
        return RMPI_ERR_CONFIG;
    }
    status = base_mkdir_p(store->spill_dir, 0700);
    if (status == RMPI_OK) {
        /* We own the arena name, so leftovers here are from a dead run of ours. */
        store_spill_clear_dir(store->spill_dir, false);
    }
    return status;
}

static rmpi_status_t store_init_sync(store_h store)
{
    pthread_condattr_t attr;
    int                rc;

    if (pthread_mutex_init(&store->lock, NULL) != 0) {
        return RMPI_ERR_NO_RESOURCE;
    }
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&store->room_cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_destroy(&store->lock);
        return RMPI_ERR_NO_RESOURCE;
    }
    return RMPI_OK;
}

static rmpi_status_t store_init_tables(store_h store)
{
    base_mpool_params_t pool_params = {
        .field_mask = BASE_MPOOL_PARAM_ELEM_SIZE | BASE_MPOOL_PARAM_NAME,
        .elem_size  = sizeof(store_obj_t),
        .name       = "store objects",
    };
    uint64_t      first = STORE_ARENA_HDR_SIZE;
    uint64_t      len   = (store->arena.size - first) & ~(STORE_ALLOC_ALIGN - 1);
    rmpi_status_t status;

    status = store_alloc_create(first, len, &store->alloc);
    if (status != RMPI_OK) {
        return status;
    }
    status = base_mpool_create(&pool_params, &store->obj_pool);
    if (status != RMPI_OK) {
        goto err_alloc;
    }
    status = base_hash_init(&store->objects, &store_obj_hash_ops, 1024);
    if (status != RMPI_OK) {
        goto err_pool;
    }
    base_list_init(&store->lru_secondary);
    base_list_init(&store->lru_primary);
    return RMPI_OK;

err_pool:
    base_mpool_destroy(store->obj_pool);
err_alloc:
    store_alloc_destroy(store->alloc);
    return status;
}

static rmpi_status_t store_check_options(const store_options_t *opts)
{
    if (opts->arena_size < 2 * STORE_ARENA_HDR_SIZE) {
        base_error("store: STORE_ARENA_SIZE %zu is below the minimum %d", opts->arena_size,
                   2 * STORE_ARENA_HDR_SIZE);
        return RMPI_ERR_INVALID_ARG;
    }
    if (!(opts->put_timeout >= 0)) {
        base_error("store: STORE_PUT_TIMEOUT %g must not be negative", opts->put_timeout);
        return RMPI_ERR_INVALID_ARG;
    }
    return RMPI_OK;
}

/* Name and settings of the new store; @a opts is to be released by the caller on success. */
static rmpi_status_t store_configure(store_h store, const store_params_t *params,
                                     store_options_t *opts)
{
    rmpi_status_t status;

    store->rank = ((params != NULL) && (params->field_mask & STORE_PARAM_RANK)) ? params->rank : 0;
    status      = store_resolve_job_id(params, store->job_id, sizeof(store->job_id));
    if (status != RMPI_OK) {
        return status;
    }
    status = store_resolve_options(params, opts);
    if (status != RMPI_OK) {
        return status;
    }
    status = store_check_options(opts);
    if (status != RMPI_OK) {
        base_config_release(&store_options_table, opts);
        return status;
    }
    store->put_timeout = opts->put_timeout;
    store->spill       = opts->spill;
    return RMPI_OK;
}

rmpi_status_t store_create(const store_params_t *params, store_h *store_p)
{
    store_options_t opts;
    store_h         store;
    rmpi_status_t   status;
    size_t          removed;

    if (store_p == NULL) {
        base_error("store: store_create without an output pointer");
        return RMPI_ERR_INVALID_ARG;
    }
    store = calloc(1, sizeof(*store));
    if (store == NULL) {
        base_error("store: out of memory");
        return RMPI_ERR_NO_MEMORY;
    }
    status = store_configure(store, params, &opts);
    if (status != RMPI_OK) {
        goto err_free;
    }
    removed = store_arena_clean_stale();
    if (removed > 0) {
        base_info("store: removed %zu stale arena(s) of dead processes", removed);
    }
    status = store_arena_create(store->job_id, store->rank, opts.arena_size, &store->arena);
    if (status != RMPI_OK) {
        goto err_opts;
    }
    if (store->spill) {
        status = store_setup_spill_dir(store, opts.spill_dir);
        if (status != RMPI_OK) {
            goto err_arena;
        }
    }
    status = store_init_tables(store);
    if (status != RMPI_OK) {
        goto err_spill;
    }
    status = store_init_sync(store);
    if (status != RMPI_OK) {
        base_error("store: cannot initialize its lock");
        goto err_tables;
    }
    base_config_release(&store_options_table, &opts);
    *store_p = store;
    return RMPI_OK;

err_tables:
    base_hash_cleanup(&store->objects);
    base_mpool_destroy(store->obj_pool);
    store_alloc_destroy(store->alloc);
err_spill:
    if (store->spill) {
        store_spill_clear_dir(store->spill_dir, true);
    }
err_arena:
    store_arena_close(&store->arena);
err_opts:
    base_config_release(&store_options_table, &opts);
err_free:
    free(store);
    return status;
}

static bool store_free_each(base_hash_node_t *node, void *arg)
{
    store_h      store = arg;
    store_obj_t *obj   = base_container_of(node, store_obj_t, hnode);

    if (obj->refs > 0) {
        base_debug("store: destroying object with %u reference(s)", obj->refs);
    }
    store_obj_free_locked(store, obj);
    return true;
}

const char *store_spill_folder(store_h store)
{
    return store->spill_dir;
}

const char *store_shm_name(store_h store)
{
    return store->arena.name;
}

void store_destroy(store_h store)
{
    if (store == NULL) {
        return;
    }
    if (store->remote != NULL) {
        /* Its registration would outlive the mapping; the transport must drop it first. */
        base_error("store: store_destroy before store_remote_detach");
    }
    pthread_mutex_lock(&store->lock);
    base_hash_foreach(&store->objects, store_free_each, store);
    pthread_mutex_unlock(&store->lock);

    if (store->spill_dir[0] != '\0') {
        store_spill_clear_dir(store->spill_dir, true);
        store_remove_spill_parent(store);
    }
    store_peers_close(store);
    base_hash_cleanup(&store->objects);
    base_mpool_destroy(store->obj_pool);
    store_alloc_destroy(store->alloc);
    store_arena_close(&store->arena);
    pthread_cond_destroy(&store->room_cond);
    pthread_mutex_destroy(&store->lock);
    free(store);
}

/* --- objects -------------------------------------------------------------------------- */

static rmpi_status_t store_check_fits(store_h store, size_t size, uint64_t *bytes_p)
{
    uint64_t capacity = store->arena.size - STORE_ARENA_HDR_SIZE;
    uint64_t bytes    = store_obj_bytes(size); /* wraps for huge sizes: size is checked too */
    uint64_t usable   = capacity;

    if (bytes >= STORE_PAGE_ALIGN_MIN) { /* a page-aligned payload skips a page at the start */
        usable -= STORE_PAGE_SIZE - STORE_OBJHDR_SIZE;
    }
    if ((size > capacity) || (bytes > usable)) {
        base_error("store: object of %zu bytes can never fit the arena of %llu bytes "
                   "(STORE_ARENA_SIZE)",
                   size, (unsigned long long)usable);
        return RMPI_ERR_STORE_FULL;
    }
    *bytes_p = bytes;
    return RMPI_OK;
}

static rmpi_status_t store_new_obj_locked(store_h store, const store_oid_t *oid, size_t size,
                                          uint64_t flags, store_obj_t **obj_p)
{
    store_obj_t *obj = store_find_locked(store, oid);

    if (obj != NULL) {
        /* A deleted object still in use keeps its ID until its last user is done. */
        return obj->deleting ? RMPI_ERR_BUSY : RMPI_ERR_EXISTS;
    }
    obj = base_mpool_get(store->obj_pool);
    if (obj == NULL) {
        base_error("store: out of memory for object entries");
        return RMPI_ERR_NO_MEMORY;
    }
    memset(obj, 0, sizeof(*obj));
    obj->oid   = *oid;
    obj->size  = size;
    obj->flags = (uint32_t)(flags & STORE_OBJECT_SECONDARY);
    base_list_init(&obj->lru);
    base_hash_insert(&store->objects, &obj->hnode, oid);
    *obj_p = obj;
    return RMPI_OK;
}

rmpi_status_t store_create_object(store_h store, const store_oid_t *oid, size_t size,
                                  uint64_t flags, void **ptr_p)
{
    store_block_t block;
    store_obj_t  *obj;
    uint64_t      bytes;
    rmpi_status_t status;

    if ((store == NULL) || (oid == NULL) || (ptr_p == NULL)) {
        base_error("store: store_create_object with a null argument");
        return RMPI_ERR_INVALID_ARG;
    }
    status = store_check_fits(store, size, &bytes);
    if (status != RMPI_OK) {
        return status;
    }

    pthread_mutex_lock(&store->lock);
    status = store_new_obj_locked(store, oid, size, flags, &obj);
    if (status != RMPI_OK) {
        goto out;
    }
    /* The entry exists from here on (unsealed: store_get says NOT_READY), so a second
     * creator of the same ID fails even while this one waits for room. */
    obj->allocating = true; /* busy: nobody frees it while the lock is dropped */
    status          = store_make_room_locked(store, bytes, &block);
    obj->allocating = false;
    if (status == RMPI_OK) {
        obj->block     = block;
        obj->has_block = true;
        status         = obj->deleting ? RMPI_ERR_CANCELED : RMPI_OK; /* deleted meanwhile */
    }
    if (status != RMPI_OK) {
        store_obj_free_locked(store, obj); /* gives the room back and wakes waiters */
        goto out;
    }
    store_objhdr_init(store_obj_header(store, obj), oid, size, obj->flags);
    obj->pulling = (flags & STORE_OBJECT_PULL_TARGET) != 0;
    *ptr_p       = store_obj_payload(store, obj);
out:
    pthread_mutex_unlock(&store->lock);
    return status;
}

static void store_obj_seal_locked(store_h store, store_obj_t *obj)
{
    store_objhdr_seal(store_obj_header(store, obj));
    obj->sealed = true;
    store->sealed_count++;
    store_obj_update_lru_locked(store, obj);
}

rmpi_status_t store_seal(store_h store, const store_oid_t *oid)
{
    rmpi_status_t status = RMPI_OK;
    store_obj_t  *obj;

    pthread_mutex_lock(&store->lock);
    obj = store_find_locked(store, oid);
    if ((obj == NULL) || obj->deleting || !obj->has_block) {
        status = RMPI_ERR_NOT_FOUND;
    } else if (obj->sealed || obj->pulling) {
        base_error("store: object sealed twice, or sealed while a pull writes it");
        status = RMPI_ERR_INVALID_ARG;
    } else {
        store_obj_seal_locked(store, obj);
    }
    pthread_mutex_unlock(&store->lock);
    return status;
}

rmpi_status_t store_put(store_h store, const store_oid_t *oid, const void *data, size_t size,
                        uint64_t flags)
{
    rmpi_status_t status;
    void         *ptr;

    if ((data == NULL) && (size > 0)) {
        base_error("store: store_put of %zu bytes from a null pointer", size);
        return RMPI_ERR_INVALID_ARG;
    }
    status = store_create_object(store, oid, size, flags, &ptr);
    if (status != RMPI_OK) {
        return status;
    }
    if (size > 0) {
        memcpy(ptr, data, size); /* unlocked: the object is ours until sealed */
    }
    return store_seal(store, oid);
}

/* Wait for another thread's restore of @a oid; the entry may be gone afterwards. */
static store_obj_t *store_wait_not_busy_locked(store_h store, const store_oid_t *oid)
{
    store_obj_t *obj = store_find_locked(store, oid);

    while ((obj != NULL) && obj->restoring) {
        store->waiters++;
        pthread_cond_wait(&store->room_cond, &store->lock);
        store->waiters--;
        obj = store_find_locked(store, oid);
    }
    return obj;
}

static rmpi_status_t store_get_locked(store_h store, const store_oid_t *oid, store_obj_t **obj_p)
{
    store_obj_t  *obj = store_wait_not_busy_locked(store, oid);
    rmpi_status_t status;

    if ((obj == NULL) || obj->deleting) {
        return RMPI_ERR_NOT_FOUND;
    }
    if (!obj->sealed) {
        return RMPI_ERR_NOT_READY;
    }
    if (!obj->has_block) {
        /* Restore may drop the lock; pulls from remote ranks will wait the same way:
         * a second get of an object being pulled sleeps in store_wait_not_busy_locked
         * instead of starting another transfer (pull dedup, see docs/objstore.md). */
        status = store_restore_locked(store, obj);
        if (status != RMPI_OK) {
            return status;
        }
    }
    obj->refs++;
    base_list_del(&obj->lru);
    *obj_p = obj;
    return RMPI_OK;
}

rmpi_status_t store_get(store_h store, const store_oid_t *oid, store_view_t *view_p)
{
    store_obj_t  *obj;
    rmpi_status_t status;

    if ((store == NULL) || (oid == NULL) || (view_p == NULL)) {
        base_error("store: store_get with a null argument");
        return RMPI_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&store->lock);
    status = store_get_locked(store, oid, &obj);
    if (status == RMPI_OK) {
        view_p->ptr    = store_obj_payload(store, obj);
        view_p->size   = obj->size;
        view_p->offset = obj->block.offset;
    }
    pthread_mutex_unlock(&store->lock);
    return status;
}

/* The last user of a deleted object is gone, or it became evictable: act on it. */
static void store_obj_settle_locked(store_h store, store_obj_t *obj)
{
    if (obj->deleting && (obj->refs == 0) && (obj->pins == 0) && !store_obj_busy(obj)) {
        store_obj_free_locked(store, obj);
    } else {
        store_obj_update_lru_locked(store, obj);
    }
}

rmpi_status_t store_release(store_h store, const store_oid_t *oid)
{
    rmpi_status_t status = RMPI_OK;
    store_obj_t  *obj;

    pthread_mutex_lock(&store->lock);
    obj = store_find_locked(store, oid);
    if ((obj == NULL) || (obj->refs == 0)) {
        base_error("store: release of an object without references");
        status = RMPI_ERR_INVALID_ARG;
    } else {
        obj->refs--;
        store_obj_settle_locked(store, obj);
    }
    pthread_mutex_unlock(&store->lock);
    return status;
}

rmpi_status_t store_delete(store_h store, const store_oid_t *oid)
{
    rmpi_status_t status = RMPI_OK;
    store_obj_t  *obj;

    pthread_mutex_lock(&store->lock);
    obj = store_find_locked(store, oid);
    if ((obj == NULL) || obj->deleting) {
        status = RMPI_ERR_NOT_FOUND;
    } else if (obj->pins > 0) {
        status = RMPI_ERR_BUSY;
    } else {
        obj->deleting = true;
        store_obj_settle_locked(store, obj);
    }
    pthread_mutex_unlock(&store->lock);
    return status;
}

rmpi_status_t store_pull_finish(store_h store, const store_oid_t *oid, rmpi_status_t status)
{
    store_obj_t *obj;

    pthread_mutex_lock(&store->lock);
    obj = store_find_locked(store, oid);
    if ((obj == NULL) || !obj->pulling) {
        pthread_mutex_unlock(&store->lock);
        base_error("store: a pull finished into an object that is not being pulled");
        return RMPI_ERR_INVALID_ARG;
    }
    obj->pulling = false;
    if (obj->deleting) {
        status = RMPI_ERR_CANCELED;
    } else if (status == RMPI_OK) {
        store_obj_seal_locked(store, obj);
        store->stats.pulls++;
    } else {
        obj->deleting = true; /* freed now, or at its last unpin */
    }
    store_obj_settle_locked(store, obj);
    pthread_mutex_unlock(&store->lock);
    return status;
}

rmpi_status_t store_pin(store_h store, const store_oid_t *oid)
{
    rmpi_status_t status = RMPI_OK;
    store_obj_t  *obj;

    pthread_mutex_lock(&store->lock);
    obj = store_find_locked(store, oid);
    if ((obj == NULL) || obj->deleting) {
        status = RMPI_ERR_NOT_FOUND;
    } else {
        obj->pins++;
        base_list_del(&obj->lru);
    }
    pthread_mutex_unlock(&store->lock);
    return status;
}

rmpi_status_t store_unpin(store_h store, const store_oid_t *oid)
{
    rmpi_status_t status = RMPI_OK;
    store_obj_t  *obj;

    pthread_mutex_lock(&store->lock);
    obj = store_find_locked(store, oid);
    if ((obj == NULL) || (obj->pins == 0)) {
        base_error("store: unpin of an object that is not pinned");
        status = RMPI_ERR_INVALID_ARG;
    } else {
        obj->pins--;
        store_obj_settle_locked(store, obj);
    }
    pthread_mutex_unlock(&store->lock);
    return status;
}

bool store_contains(store_h store, const store_oid_t *oid)
{
    store_obj_t *obj;
    bool         found;

    pthread_mutex_lock(&store->lock);
    obj   = store_find_locked(store, oid);
    found = (obj != NULL) && obj->sealed && !obj->deleting;
    pthread_mutex_unlock(&store->lock);
    return found;
}

void store_stats(store_h store, store_stats_t *stats_p)
{
    store_alloc_stats_t alloc_stats;

    pthread_mutex_lock(&store->lock);
    store_alloc_stats(store->alloc, &alloc_stats);
    *stats_p            = store->stats;
    stats_p->capacity   = alloc_stats.capacity;
    stats_p->bytes_used = alloc_stats.bytes_used;
    stats_p->objects    = base_hash_count(&store->objects);
    stats_p->sealed     = store->sealed_count;
    stats_p->waiting    = store->room_waiters;
    pthread_mutex_unlock(&store->lock);
}

void store_arena_region(store_h store, void **base_p, size_t *len_p)
{
    *base_p = store->arena.base; /* immutable after create: no lock */
    *len_p  = store->arena.size;
}
