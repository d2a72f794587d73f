/*
 * objstore/pressure.c - making room: evict, spill, wait, and only then fail; and
 * reading spilled objects back.
 *
 * The order matters (docs/objstore.md): a secondary copy is a cache of an object that
 * lives elsewhere, so dropping it costs at most a later re-pull; a primary copy is the
 * only one, so it is written to disk first; a creator that still finds no room waits
 * for releases and deletes; it fails only after put_timeout.
 */
#include "objstore/store_int.h"

#include "base/log.h"

#include <errno.h>
#include <math.h>
#include <time.h>

/* Drop the least recently used evictable secondary copy; false when there is none. */
static bool store_evict_one_locked(store_h store)
{
    store_obj_t *victim;

    if (base_list_is_empty(&store->lru_secondary)) {
        return false;
    }
    victim = base_list_first(&store->lru_secondary, store_obj_t, lru);
    base_trace("store: evicting a secondary copy of %llu bytes", (unsigned long long)victim->size);
    store_obj_free_locked(store, victim);
    store->stats.evictions++;
    return true;
}

/* The spill write of @a obj finished with @a status: free its memory if still unused. */
static void store_spill_done_locked(store_h store, store_obj_t *obj, rmpi_status_t status)
{
    obj->spilling = false;
    store->spills_in_flight--;
    if (status != RMPI_OK) {
        /* A disk that failed once (full, gone) would fail every victim in turn. */
        base_error("store: spilling disabled after a failed write; a full store now waits "
                   "or fails");
        store->spill = false;
    } else {
        obj->spilled = true;
        store->stats.spills++;
        store->stats.spilled_objects++;
        store->stats.spilled_bytes += obj->size;
    }
    if (obj->deleting && (obj->refs == 0) && (obj->pins == 0) && !store_obj_busy(obj)) {
        store_obj_free_locked(store, obj);
    } else if (obj->spilled && (obj->refs == 0) && (obj->pins == 0)) {
        store_obj_drop_block_locked(store, obj); /* spilled away: lives on disk now */
    } else {
        store_obj_update_lru_locked(store, obj); /* someone took it meanwhile */
    }
    store_wake_locked(store);
}

/*
 * Spill the least recently used evictable primary copy and free its memory; false when
 * there is none. Drops the lock while writing: the victim is marked spilling, so it is
 * neither freed nor picked again meanwhile, and readers may still get it.
 */
static bool store_spill_one_locked(store_h store)
{
    char          path[STORE_SPILL_PATH_MAX];
    store_obj_t  *victim;
    rmpi_status_t status;

    if (!store->spill || base_list_is_empty(&store->lru_primary)) {
        return false;
    }
    victim = base_list_first(&store->lru_primary, store_obj_t, lru);
    base_list_del(&victim->lru);
    if (victim->spilled) { /* its file is still valid from an earlier spill */
        store_obj_drop_block_locked(store, victim);
        return true;
    }
    status = store_spill_path(store->spill_dir, &victim->oid, path, sizeof(path));
    if (status != RMPI_OK) {
        store->spill = false;
        store_obj_update_lru_locked(store, victim);
        return false;
    }
    victim->spilling = true;
    store->spills_in_flight++;
    pthread_mutex_unlock(&store->lock);

    status = store_spill_write(path, &victim->oid, store_obj_payload(store, victim), victim->size);

    pthread_mutex_lock(&store->lock);
    store_spill_done_locked(store, victim, status);
    return true;
}

/* Now + @a timeout (finite, >= 0) on the condition variable's clock. */
static void store_deadline(double timeout, struct timespec *deadline)
{
    double whole = (double)(time_t)timeout;

    clock_gettime(CLOCK_MONOTONIC, deadline);
    deadline->tv_sec += (time_t)whole;
    deadline->tv_nsec += (long)((timeout - whole) * 1e9);
    if (deadline->tv_nsec >= 1000000000L) {
        deadline->tv_sec++;
        deadline->tv_nsec -= 1000000000L;
    }
}

/* Wait for room to be freed; false when @a deadline passed (NULL: no deadline). */
static bool store_wait_room_locked(store_h store, const struct timespec *deadline)
{
    int rc = 0;

    store->waiters++;
    store->room_waiters++;
    if (deadline == NULL) {
        pthread_cond_wait(&store->room_cond, &store->lock);
    } else {
        rc = pthread_cond_timedwait(&store->room_cond, &store->lock, deadline);
    }
    store->waiters--;
    store->room_waiters--;
    return rc != ETIMEDOUT;
}

static void store_log_full_locked(store_h store, uint64_t bytes)
{
    store_alloc_stats_t stats;

    store_alloc_stats(store->alloc, &stats);
    base_error("store: no room for an object of %llu bytes after eviction%s and %g s of "
               "waiting: %llu of %llu bytes in use, largest free range %llu bytes",
               (unsigned long long)bytes, store->spill ? ", spilling" : "", store->put_timeout,
               (unsigned long long)stats.bytes_used, (unsigned long long)stats.capacity,
               (unsigned long long)stats.largest_free);
}

rmpi_status_t store_make_room_locked(store_h store, uint64_t bytes, store_block_t *block_p)
{
    struct timespec deadline;
    bool            has_deadline = isfinite(store->put_timeout);
    bool            waited       = false;
    rmpi_status_t   status;

    if (has_deadline) {
        store_deadline(store->put_timeout, &deadline);
    }
    for (;;) {
        status = store_alloc_get_placed(store->alloc, bytes, store_place_for(bytes), block_p);
        if (status != RMPI_ERR_STORE_FULL) {
            return status;
        }
        if (store_evict_one_locked(store) || store_spill_one_locked(store)) {
            continue;
        }
        if (store->spills_in_flight > 0) {
            store_wait_room_locked(store, NULL); /* another thread's spill frees room soon */
            continue;
        }
        if ((store->put_timeout <= 0) || waited) {
            break;
        }
        /* Releases, deletes and unpins wake us; give up once the deadline passes. */
        waited = !store_wait_room_locked(store, has_deadline ? &deadline : NULL);
    }
    store_log_full_locked(store, bytes);
    return RMPI_ERR_STORE_FULL;
}

/* --- restore ------------------------------------------------------------------------- */

/* The spill file of @a obj is bad: the object is lost, and only it. */
static void store_restore_failed_locked(store_h store, store_obj_t *obj)
{
    char hex[33];

    store_oid_format(&obj->oid, hex);
    base_error("store: object %s is lost (its spill file is damaged)", hex);
    store_obj_free_locked(store, obj);
}

rmpi_status_t store_restore_locked(store_h store, store_obj_t *obj)
{
    char          path[STORE_SPILL_PATH_MAX];
    store_block_t block;
    store_oid_t   oid = obj->oid;
    rmpi_status_t status;

    status = store_spill_path(store->spill_dir, &obj->oid, path, sizeof(path));
    if (status != RMPI_OK) {
        return status;
    }
    obj->restoring = true;
    status         = store_make_room_locked(store, store_obj_bytes(obj->size), &block);
    if (status != RMPI_OK) {
        obj->restoring = false;
        store_wake_locked(store);
        return status;
    }
    obj->block     = block;
    obj->has_block = true;
    store_objhdr_init(store_obj_header(store, obj), &oid, obj->size, obj->flags);
    pthread_mutex_unlock(&store->lock);

    status = store_spill_read(path, &oid, store_obj_payload(store, obj), obj->size);

    pthread_mutex_lock(&store->lock);
    obj->restoring = false;
    store_wake_locked(store); /* getters waiting for this restore */
    if (status != RMPI_OK) {
        store_restore_failed_locked(store, obj);
        return (status == RMPI_ERR_CORRUPT) ? RMPI_ERR_CORRUPT : RMPI_ERR_OBJECT_LOST;
    }
    store_objhdr_seal(store_obj_header(store, obj));
    store->stats.restores++;
    if (obj->deleting) {
        store_obj_free_locked(store, obj);
        return RMPI_ERR_NOT_FOUND;
    }
    return RMPI_OK;
}
