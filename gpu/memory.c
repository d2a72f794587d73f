/*
 * gpu/memory.c - the caching allocator of device and pinned host memory, and
 * copies.
 *
 * cuMemAlloc and cuMemHostAlloc synchronize the device and take milliseconds,
 * so freed blocks are kept on a free list per size class and handed out again
 * (as PyTorch's caching allocator does). Size classes are powers of two up to
 * 1 MiB and four per doubling above (at most 25% slack). When the driver runs
 * out of memory, the pool returns its cached blocks and retries once.
 *
 * A block must not be freed while queued work still uses it: synchronize the
 * stream (or an event recorded after the work) first.
 *
 * Thread safety: MULTI. Each pool has one lock, held across the driver's
 * allocation calls too (they synchronize the device anyway); the fast path, a
 * free-list hit, takes no driver call.
 */
#include "gpu/gpu_int.h"

#include "base/log.h"

#include <stdlib.h>

#define GPU_MEM_MIN_SHIFT 8   /* smallest class: 256 B */
#define GPU_MEM_POW2_SHIFT 20 /* powers of two up to 1 MiB */
#define GPU_MEM_MAX_SIZE (1ull << 48)

typedef struct gpu_mem_block {
    base_hash_node_t node; /* in pool->blocks, by addr */
    base_list_t      link; /* in a free list while cached */
    uint64_t         addr;
    size_t           size; /* of its class */
    int              cls;
    bool             cached;
} gpu_mem_block_t;

static uint64_t gpu_mem_hash(const void *key)
{
    return base_hash_u64(*(const uint64_t *)key);
}

static bool gpu_mem_equal(const void *key, const base_hash_node_t *node)
{
    return base_container_of(node, gpu_mem_block_t, node)->addr == *(const uint64_t *)key;
}

static const base_hash_ops_t gpu_mem_hash_ops = {.hash = gpu_mem_hash, .equal = gpu_mem_equal};

/* The size class of @a size and its block size; -1 when too large. */
static int gpu_mem_class(size_t size, size_t *class_size_p)
{
    unsigned shift;
    size_t   base, step, rounded;

    if (size > GPU_MEM_MAX_SIZE) {
        return -1;
    }
    if (size <= (1u << GPU_MEM_MIN_SHIFT)) {
        *class_size_p = 1u << GPU_MEM_MIN_SHIFT;
        return 0;
    }
    shift = 64 - (unsigned)__builtin_clzll((unsigned long long)size - 1); /* 2^shift >= size */
    if (shift <= GPU_MEM_POW2_SHIFT) {
        *class_size_p = (size_t)1 << shift;
        return (int)(shift - GPU_MEM_MIN_SHIFT);
    }
    base          = (size_t)1 << (shift - 1); /* size is in (base, 2 base] */
    step          = base >> 2;
    rounded       = (size + step - 1) & ~(step - 1);
    *class_size_p = rounded;
    return (GPU_MEM_POW2_SHIFT - GPU_MEM_MIN_SHIFT + 1) +
           (int)(shift - GPU_MEM_POW2_SHIFT - 1) * 4 + (int)((rounded - base) / step) - 1;
}

rmpi_status_t gpu_mem_pool_init(gpu_mem_pool_t *pool, int dev, size_t limit, bool cache)
{
    rmpi_status_t status = base_hash_init(&pool->blocks, &gpu_mem_hash_ops, 64);

    if (status != RMPI_OK) {
        return status;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pool->dev   = dev;
    pool->cache = cache;
    for (int i = 0; i < GPU_MEM_NUM_CLASSES; ++i) {
        base_list_init(&pool->free_lists[i]);
    }
    pool->stats       = (gpu_mem_stats_t){0};
    pool->stats.limit = limit;
    return RMPI_OK;
}

/* The context a pool's driver calls run in: its device's, or device 0's for pinned memory. */
static rmpi_status_t gpu_mem_pool_enter(const gpu_mem_pool_t *pool)
{
    return gpu_ctx_enter(&gpu_g.devices[(pool->dev >= 0) ? pool->dev : 0]);
}

static CUresult gpu_mem_raw_alloc(const gpu_mem_pool_t *pool, size_t size, uint64_t *addr_p)
{
    CUdeviceptr dptr;
    void       *hptr;
    CUresult    res;

    if (pool->dev >= 0) {
        res     = gpu_cu->cuMemAlloc(&dptr, size);
        *addr_p = (uint64_t)dptr;
    } else {
        res     = gpu_cu->cuMemHostAlloc(&hptr, size, CU_MEMHOSTALLOC_PORTABLE);
        *addr_p = (uint64_t)(uintptr_t)hptr;
    }
    return res;
}

static void gpu_mem_raw_free(const gpu_mem_pool_t *pool, gpu_mem_block_t *block)
{
    if (pool->dev >= 0) {
        gpu_status_from_cu(gpu_cu->cuMemFree((CUdeviceptr)block->addr), "cuMemFree");
    } else {
        gpu_status_from_cu(gpu_cu->cuMemFreeHost((void *)(uintptr_t)block->addr), "cuMemFreeHost");
    }
}

/* Return every cached block to the driver (pool locked, its context current). */
static size_t gpu_mem_pool_trim_locked(gpu_mem_pool_t *pool)
{
    size_t freed = 0;

    for (int cls = 0; cls < GPU_MEM_NUM_CLASSES; ++cls) {
        base_list_t *elem;

        while ((elem = base_list_pop_head(&pool->free_lists[cls])) != NULL) {
            gpu_mem_block_t *block = base_container_of(elem, gpu_mem_block_t, link);

            base_hash_remove(&pool->blocks, &block->node);
            gpu_mem_raw_free(pool, block);
            pool->stats.cached -= block->size;
            freed += block->size;
            free(block);
        }
    }
    if (freed > 0) {
        ++pool->stats.trims;
        base_debug("GPU %d: returned %zu cached bytes to the driver", pool->dev, freed);
    }
    return freed;
}

static bool gpu_mem_fits(const gpu_mem_pool_t *pool, size_t size)
{
    return pool->stats.in_use + pool->stats.cached + size <= pool->stats.limit;
}

/* A new block from the driver, trimming the cache first when needed (pool locked). */
static rmpi_status_t gpu_mem_pool_grow(gpu_mem_pool_t *pool, int cls, size_t size,
                                       gpu_mem_block_t **block_p)
{
    gpu_mem_block_t *block;
    uint64_t         addr = 0;
    CUresult         res;

    if (!gpu_mem_fits(pool, size)) {
        gpu_mem_pool_trim_locked(pool);
    }
    if (!gpu_mem_fits(pool, size)) {
        base_error("GPU %d: %zu more bytes would pass the limit of %zu (GPU_MEMORY_FRACTION); "
                   "%zu in use",
                   pool->dev, size, pool->stats.limit, pool->stats.in_use);
        return RMPI_ERR_NO_MEMORY;
    }
    block = calloc(1, sizeof(*block));
    if (block == NULL) {
        base_error("cannot allocate a block record");
        return RMPI_ERR_NO_MEMORY;
    }
    res = gpu_mem_raw_alloc(pool, size, &addr);
    if ((res == CUDA_ERROR_OUT_OF_MEMORY) && (gpu_mem_pool_trim_locked(pool) > 0)) {
        res = gpu_mem_raw_alloc(pool, size, &addr); /* once, after emptying the cache */
    }
    if (res != CUDA_SUCCESS) {
        free(block);
        return gpu_status_from_cu(res, (pool->dev >= 0) ? "cuMemAlloc" : "cuMemHostAlloc");
    }
    block->addr = addr;
    block->size = size;
    block->cls  = cls;
    base_list_init(&block->link);
    base_hash_insert(&pool->blocks, &block->node, &block->addr);
    *block_p = block;
    return RMPI_OK;
}

static rmpi_status_t gpu_mem_pool_alloc(gpu_mem_pool_t *pool, size_t size, uint64_t *addr_p)
{
    gpu_mem_block_t *block = NULL;
    size_t           class_size;
    base_list_t     *elem;
    rmpi_status_t    status;
    int              cls = gpu_mem_class(size, &class_size);

    if ((size == 0) || (cls < 0)) {
        base_error("GPU %d: cannot allocate %zu bytes", pool->dev, size);
        return (size == 0) ? RMPI_ERR_INVALID_ARG : RMPI_ERR_NO_MEMORY;
    }
    status = gpu_mem_pool_enter(pool);
    if (status != RMPI_OK) {
        return status;
    }
    pthread_mutex_lock(&pool->lock);
    elem = base_list_pop_head(&pool->free_lists[cls]);
    if (elem != NULL) {
        block         = base_container_of(elem, gpu_mem_block_t, link);
        block->cached = false;
        pool->stats.cached -= block->size;
        ++pool->stats.cache_hits;
    } else {
        status = gpu_mem_pool_grow(pool, cls, class_size, &block);
    }
    if (status == RMPI_OK) {
        ++pool->stats.allocs;
        pool->stats.in_use += block->size;
        if (pool->stats.in_use > pool->stats.peak) {
            pool->stats.peak = pool->stats.in_use;
        }
        *addr_p = block->addr;
    }
    pthread_mutex_unlock(&pool->lock);
    return status;
}

static rmpi_status_t gpu_mem_pool_free(gpu_mem_pool_t *pool, uint64_t addr)
{
    base_hash_node_t *node;
    gpu_mem_block_t  *block;
    rmpi_status_t     status = gpu_mem_pool_enter(pool);

    if (status != RMPI_OK) {
        return status;
    }
    pthread_mutex_lock(&pool->lock);
    node  = base_hash_find(&pool->blocks, &addr);
    block = (node != NULL) ? base_container_of(node, gpu_mem_block_t, node) : NULL;
    if ((block == NULL) || block->cached) {
        pthread_mutex_unlock(&pool->lock);
        base_error("GPU %d: free of 0x%llx, which is not an allocated block%s", pool->dev,
                   (unsigned long long)addr, block ? " (freed twice)" : "");
        return RMPI_ERR_INVALID_ARG;
    }
    pool->stats.in_use -= block->size;
    if (pool->cache) {
        block->cached = true;
        pool->stats.cached += block->size;
        base_list_add_head(&pool->free_lists[block->cls], &block->link); /* LIFO: warm first */
    } else {
        base_hash_remove(&pool->blocks, &block->node);
        gpu_mem_raw_free(pool, block);
        free(block);
    }
    pthread_mutex_unlock(&pool->lock);
    return RMPI_OK;
}

static bool gpu_mem_report_leak(base_hash_node_t *node, void *arg)
{
    gpu_mem_block_t *block = base_container_of(node, gpu_mem_block_t, node);
    gpu_mem_pool_t  *pool  = arg;

    base_hash_remove(&pool->blocks, node);
    gpu_mem_raw_free(pool, block);
    free(block);
    return true;
}

void gpu_mem_pool_cleanup(gpu_mem_pool_t *pool)
{
    if (pool->blocks.buckets == NULL) {
        return; /* never initialized */
    }
    if ((gpu_cu != NULL) && (gpu_mem_pool_enter(pool) == RMPI_OK)) {
        gpu_mem_pool_trim_locked(pool);
        if (base_hash_count(&pool->blocks) > 0) {
            base_warn("GPU %d: %zu block(s) of %zu bytes not freed at finalize", pool->dev,
                      base_hash_count(&pool->blocks), pool->stats.in_use);
            base_hash_foreach(&pool->blocks, gpu_mem_report_leak, pool);
        }
    }
    base_hash_cleanup(&pool->blocks);
    pthread_mutex_destroy(&pool->lock);
    pool->blocks.buckets = NULL;
}

/* --- the API ---------------------------------------------------------------------- */

static gpu_mem_pool_t *gpu_mem_pool_of(int dev)
{
    gpu_device_t *device;

    if (dev == -1) {
        return (gpu_device_get(0) != NULL) ? &gpu_g.host : NULL;
    }
    device = gpu_device_get(dev);
    return (device != NULL) ? &device->mem : NULL;
}

rmpi_status_t gpu_mem_alloc(int dev, size_t size, gpu_devptr_t *ptr_p)
{
    gpu_mem_pool_t *pool = (dev >= 0) ? gpu_mem_pool_of(dev) : NULL;

    if (pool == NULL) {
        return (gpu_g.refcount == 0) ? RMPI_ERR_NOT_READY : RMPI_ERR_INVALID_ARG;
    }
    return gpu_mem_pool_alloc(pool, size, ptr_p);
}

rmpi_status_t gpu_mem_free(int dev, gpu_devptr_t ptr)
{
    gpu_mem_pool_t *pool = (dev >= 0) ? gpu_mem_pool_of(dev) : NULL;

    if (pool == NULL) {
        return (gpu_g.refcount == 0) ? RMPI_ERR_NOT_READY : RMPI_ERR_INVALID_ARG;
    }
    return gpu_mem_pool_free(pool, ptr);
}

rmpi_status_t gpu_host_alloc(size_t size, void **ptr_p)
{
    gpu_mem_pool_t *pool = gpu_mem_pool_of(-1);
    uint64_t        addr;
    rmpi_status_t   status;

    if (pool == NULL) {
        return RMPI_ERR_NOT_READY;
    }
    status = gpu_mem_pool_alloc(pool, size, &addr);
    if (status == RMPI_OK) {
        *ptr_p = (void *)(uintptr_t)addr;
    }
    return status;
}

rmpi_status_t gpu_host_free(void *ptr)
{
    gpu_mem_pool_t *pool = gpu_mem_pool_of(-1);

    if (pool == NULL) {
        return RMPI_ERR_NOT_READY;
    }
    return gpu_mem_pool_free(pool, (uint64_t)(uintptr_t)ptr);
}

rmpi_status_t gpu_host_register(void *ptr, size_t size, bool read_only)
{
    gpu_mem_pool_t *pool = gpu_mem_pool_of(-1);
    unsigned flags = CU_MEMHOSTREGISTER_PORTABLE | (read_only ? CU_MEMHOSTREGISTER_READ_ONLY : 0);
    rmpi_status_t status;

    if (pool == NULL) {
        return RMPI_ERR_NOT_READY;
    }
    if (ptr == NULL || size == 0) {
        return RMPI_ERR_INVALID_ARG;
    }
    status = gpu_mem_pool_enter(pool);
    if (status != RMPI_OK) {
        return status;
    }
    return gpu_status_from_cu(gpu_cu->cuMemHostRegister(ptr, size, flags), "cuMemHostRegister");
}

rmpi_status_t gpu_host_unregister(void *ptr)
{
    gpu_mem_pool_t *pool = gpu_mem_pool_of(-1);
    rmpi_status_t   status;

    if (pool == NULL) {
        return RMPI_ERR_NOT_READY;
    }
    status = gpu_mem_pool_enter(pool);
    if (status != RMPI_OK) {
        return status;
    }
    return gpu_status_from_cu(gpu_cu->cuMemHostUnregister(ptr), "cuMemHostUnregister");
}

rmpi_status_t gpu_mem_stats(int dev, gpu_mem_stats_t *stats_p)
{
    gpu_mem_pool_t *pool = gpu_mem_pool_of(dev);

    if (pool == NULL) {
        return (gpu_g.refcount == 0) ? RMPI_ERR_NOT_READY : RMPI_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&pool->lock);
    *stats_p = pool->stats;
    pthread_mutex_unlock(&pool->lock);
    return RMPI_OK;
}

rmpi_status_t gpu_mem_trim(int dev)
{
    gpu_mem_pool_t *pool = gpu_mem_pool_of(dev);
    rmpi_status_t   status;

    if (pool == NULL) {
        return (gpu_g.refcount == 0) ? RMPI_ERR_NOT_READY : RMPI_ERR_INVALID_ARG;
    }
    status = gpu_mem_pool_enter(pool);
    if (status == RMPI_OK) {
        pthread_mutex_lock(&pool->lock);
        gpu_mem_pool_trim_locked(pool);
        pthread_mutex_unlock(&pool->lock);
    }
    return status;
}

/* --- copies ----------------------------------------------------------------------- */

rmpi_status_t gpu_memcpy_h2d_async(gpu_devptr_t dst, const void *src, size_t size,
                                   gpu_stream_h stream)
{
    rmpi_status_t status = gpu_ctx_enter(&gpu_g.devices[stream->dev]);

    if (status != RMPI_OK) {
        return status;
    }
    return gpu_status_from_cu(gpu_cu->cuMemcpyHtoDAsync((CUdeviceptr)dst, src, size, stream->cu),
                              "cuMemcpyHtoDAsync");
}

rmpi_status_t gpu_memcpy_d2h_async(void *dst, gpu_devptr_t src, size_t size, gpu_stream_h stream)
{
    rmpi_status_t status = gpu_ctx_enter(&gpu_g.devices[stream->dev]);

    if (status != RMPI_OK) {
        return status;
    }
    return gpu_status_from_cu(gpu_cu->cuMemcpyDtoHAsync(dst, (CUdeviceptr)src, size, stream->cu),
                              "cuMemcpyDtoHAsync");
}

rmpi_status_t gpu_memcpy_d2d_async(gpu_devptr_t dst, gpu_devptr_t src, size_t size,
                                   gpu_stream_h stream)
{
    rmpi_status_t status = gpu_ctx_enter(&gpu_g.devices[stream->dev]);

    if (status != RMPI_OK) {
        return status;
    }
    return gpu_status_from_cu(
        gpu_cu->cuMemcpyDtoDAsync((CUdeviceptr)dst, (CUdeviceptr)src, size, stream->cu),
        "cuMemcpyDtoDAsync");
}

rmpi_status_t gpu_memset_async(gpu_devptr_t dst, uint8_t value, size_t size, gpu_stream_h stream)
{
    rmpi_status_t status = gpu_ctx_enter(&gpu_g.devices[stream->dev]);

    if (status != RMPI_OK) {
        return status;
    }
    return gpu_status_from_cu(gpu_cu->cuMemsetD8Async((CUdeviceptr)dst, value, size, stream->cu),
                              "cuMemsetD8Async");
}

rmpi_status_t gpu_memcpy_h2d(int dev, gpu_devptr_t dst, const void *src, size_t size)
{
    gpu_device_t *device = gpu_device_get(dev);
    rmpi_status_t status;

    if (device == NULL) {
        return (gpu_g.refcount == 0) ? RMPI_ERR_NOT_READY : RMPI_ERR_INVALID_ARG;
    }
    status = gpu_ctx_enter(device);
    if (status != RMPI_OK) {
        return status;
    }
    return gpu_status_from_cu(gpu_cu->cuMemcpyHtoD((CUdeviceptr)dst, src, size), "cuMemcpyHtoD");
}

rmpi_status_t gpu_memcpy_d2h(int dev, void *dst, gpu_devptr_t src, size_t size)
{
    gpu_device_t *device = gpu_device_get(dev);
    rmpi_status_t status;

    if (device == NULL) {
        return (gpu_g.refcount == 0) ? RMPI_ERR_NOT_READY : RMPI_ERR_INVALID_ARG;
    }
    status = gpu_ctx_enter(device);
    if (status != RMPI_OK) {
        return status;
    }
    return gpu_status_from_cu(gpu_cu->cuMemcpyDtoH(dst, (CUdeviceptr)src, size), "cuMemcpyDtoH");
}

rmpi_status_t gpu_memcpy_d2d(int dev, gpu_devptr_t dst, gpu_devptr_t src, size_t size)
{
    gpu_device_t *device = gpu_device_get(dev);
    rmpi_status_t status;

    if (device == NULL) {
        return (gpu_g.refcount == 0) ? RMPI_ERR_NOT_READY : RMPI_ERR_INVALID_ARG;
    }
    status = gpu_ctx_enter(device);
    if (status != RMPI_OK) {
        return status;
    }
    return gpu_status_from_cu(gpu_cu->cuMemcpyDtoD((CUdeviceptr)dst, (CUdeviceptr)src, size),
                              "cuMemcpyDtoD");
}
