/*
 * runtime/devobj.h - device objects: task returns that stay in GPU memory on
 * the rank that made them (rmpi_return_device), and their host copies.
 *
 * A device object is known by its object ID, like a store object; its
 * location (rt_location_t) names the holder rank and device. The holder
 * keeps a table of them:
 *  - a task on the holder and on the object's device reads it in place
 *    (acquire/release pin it; a pinned object is never spilled or freed);
 *  - anyone else reads a host copy: the holder copies the object into its
 *    own store once (stage), pinned until the owner frees the object, and
 *    readers map or pull that copy as any stored object. A reader on another
 *    rank asks with DEVOBJ_STAGE; a stager thread on the holder does the copy
 *    so the progress thread never waits on the GPU;
 *  - when a device is full (RAYMPI_GPU_MEMORY_FRACTION), unpinned objects are
 *    spilled to host memory, least recently used first, and copied back on
 *    the next acquire.
 * The owner's FREE deletes the object (rt_devobj_delete), deferred while it is
 * pinned.
 *
 * Locking: one mutex of this module, taken after rt.lock and never with it
 * held the other way round; GPU copies of spills happen under it (rare), the
 * copies of stage and restore outside it.
 *
 * Thread safety: every function may be called from any thread once
 * rt_devobj_init returned; the AM handlers run on the progress thread and
 * never block.
 */
#ifndef RUNTIME_DEVOBJ_H_
#define RUNTIME_DEVOBJ_H_

#include "gpu/gpu.h"
#include "objstore/store.h"
#include "runtime/msg.h"

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rt_devobj_stats {
    uint64_t objects;         /**< held now */
    uint64_t bytes_on_device; /**< resident bytes */
    uint64_t bytes_spilled;   /**< bytes now in host memory instead */
    uint64_t spills;          /**< objects moved to host memory */
    uint64_t restores;        /**< objects copied back to their device */
    uint64_t stages;          /**< host copies made for readers */
} rt_devobj_stats_t;

rmpi_status_t rt_devobj_init(void);
/**
 * Page-lock this rank's store for GPU copies (RT_GPU_PIN_STORE, ranks with
 * GPUs only); a failure is logged once and copies run from pageable memory.
 * rt_devobj_fini undoes it.
 */
void rt_devobj_pin_store(void);
/** Stop the stager and fail readers waiting for other ranks (before the transport stops). */
void rt_devobj_stop(void);
/** rt_devobj_stop, then free every object (before the store and gpu_finalize). */
void rt_devobj_fini(void);

/** Device memory for a temporary copy, spilling device objects when full; gpu_mem_free it. */
rmpi_status_t rt_devobj_alloc(int dev, size_t size, gpu_devptr_t *ptr_p);

/**
 * Allocate @a size bytes on device @a dev for object @a oid (unsealed: the
 * producer writes it, then seals or deletes it). Spills when the device is
 * full. RMPI_ERR_EXISTS for an ID held already.
 */
rmpi_status_t rt_devobj_create(const store_oid_t *oid, int dev, size_t size, gpu_devptr_t *ptr_p);
/** The producer is done writing (its stream synchronized). */
rmpi_status_t rt_devobj_seal(const store_oid_t *oid);
/**
 * Forget @a oid (FREE from the owner, or a discarded return), with its host
 * copy; false when this rank holds no such device object.
 */
bool rt_devobj_delete(const store_oid_t *oid);

/**
 * Pin sealed object @a oid on its device @a dev (copied back if it was
 * spilled) and give its address. RMPI_ERR_NOT_FOUND when this rank does not
 * hold it on that device.
 */
rmpi_status_t rt_devobj_acquire(const store_oid_t *oid, int dev, gpu_devptr_t *ptr_p);
void          rt_devobj_release(const store_oid_t *oid);

/**
 * Make sure this rank's store holds a host copy of @a oid (held here) and
 * give its location. Blocks for the copy; RMPI_ERR_NOT_FOUND if not held.
 */
rmpi_status_t rt_devobj_stage(const store_oid_t *oid, rt_location_t *loc_p);
/**
 * The host location of device object @a oid held by @a loc->rank: staged
 * here, or by the holder at our request (waits up to @a timeout seconds;
 * RMPI_ERR_PEER_DEAD if the holder dies meanwhile).
 */
rmpi_status_t rt_devobj_host_location(const store_oid_t *oid, const rt_location_t *loc,
                                      double timeout, rt_location_t *host_p);

void rt_devobj_stats(rt_devobj_stats_t *stats_p);

/* AM handlers and the failure hook (rt.lock may be held by the caller of the hook). */
void rt_on_devobj_stage(int src, const void *data, size_t len);
void rt_on_devobj_staged(int src, const void *data, size_t len);
void rt_devobj_rank_died(int rank);

#endif /* RUNTIME_DEVOBJ_H_ */
