/*
 * gpu/gpu.h - the CUDA layer: devices, primary contexts, stream pools, events,
 * cached device and pinned host memory, and kernel modules.
 *
 * libcuda.so.1 is opened with dlopen by gpu_init(), so one binary runs with
 * and without GPUs; nothing here needs cuda.h. Without a driver, a device or
 * CUDA at build time, gpu_init() returns RMPI_ERR_NO_DEVICE (logged once at
 * info level: absence is not an error) and gpu_absent_reason() says why.
 *
 * Every CUDA error becomes an rmpi_status_t: RMPI_ERR_NO_DEVICE (no device or
 * driver), RMPI_ERR_NO_MEMORY (CUDA_ERROR_OUT_OF_MEMORY, after the allocator
 * has emptied its cache and retried) or RMPI_ERR_DEVICE, logged once where it
 * happens with the driver's error name (e.g. "CUDA_ERROR_INVALID_VALUE").
 *
 * Contexts: each device is used through its primary context. A gpu_ call that
 * works on device N makes N's primary context current on the calling thread
 * and leaves it so, as the CUDA runtime does; gpu_ctx_push()/gpu_ctx_pop()
 * restore the caller's context where that matters.
 *
 * Thread safety: gpu_init()/gpu_finalize() are SERIALIZED (one thread, e.g.
 * at runtime start and stop); every other function is MULTI (any thread) once
 * gpu_init() has returned RMPI_OK. A stream or event is used by one thread at
 * a time (its owner between get and put).
 */
#ifndef GPU_GPU_H_
#define GPU_GPU_H_

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** A device address (CUdeviceptr). */
typedef uint64_t gpu_devptr_t;

typedef struct gpu_stream   *gpu_stream_h;
typedef struct gpu_event    *gpu_event_h;
typedef struct gpu_module   *gpu_module_h;
typedef struct gpu_function *gpu_function_h;

/* --- life cycle (gpu/device.c) ----------------------------------------------- */

/**
 * Read the "gpu" config table, load the driver (GPU_LIBCUDA), cuInit and
 * enumerate the devices this process sees. Reference counted: each RMPI_OK
 * needs one gpu_finalize(). Returns RMPI_ERR_NO_DEVICE when there is no
 * driver or no device, RMPI_ERR_CONFIG for a bad gpu key, or the status of a
 * failed driver call.
 */
rmpi_status_t gpu_init(void);

/**
 * Drop one reference; the last one frees cached memory, destroys the stream
 * pools, unloads modules, releases the primary contexts and unloads the driver.
 * Blocks, streams and modules still out are reported in one warning and freed.
 */
void gpu_finalize(void);

/** Why the last gpu_init() returned RMPI_ERR_NO_DEVICE ("" after RMPI_OK). */
const char *gpu_absent_reason(void);

/** Devices visible to this process (0 before gpu_init() or when absent). */
int gpu_device_count(void);

/** The driver's version as reported by cuDriverGetVersion (e.g. 13000). */
int gpu_driver_version(void);

/* --- devices (gpu/device.c) -------------------------------------------------- */

typedef struct gpu_device_info {
    int    ordinal;   /**< index among this process's devices */
    char   name[128]; /**< e.g. "NVIDIA H100 80GB HBM3" */
    size_t total_mem; /**< bytes */
    int    cc_major;  /**< compute capability */
    int    cc_minor;
    int    sm_count;       /**< multiprocessors */
    char   pci_bus_id[32]; /**< "dddd:bb:dd.f" */
    int    numa_node;      /**< OS index of the nearest NUMA node; -1 unknown */
    char   cpuset[128];    /**< hwloc list syntax of the nearby cores, or "unknown" */
} gpu_device_info_t;

/** Properties and locality of device @a dev. */
rmpi_status_t gpu_device_info(int dev, gpu_device_info_t *info_p);

/**
 * GPU IDs Slurm assigned to this step (SLURM_STEP_GPUS, else SLURM_JOB_GPUS;
 * "0,2-3" lists), for reporting only: the driver already honours
 * CUDA_VISIBLE_DEVICES. Writes up to @a max IDs to @a ids. RMPI_ERR_NOT_FOUND
 * when neither variable is set, RMPI_ERR_CONFIG when the value is malformed.
 */
rmpi_status_t gpu_slurm_gpus(int *ids, size_t max, size_t *count_p);

/**
 * Local task @a local_id's share of @a visible (a CUDA_VISIBLE_DEVICES list)
 * among @a local_tasks tasks: the contiguous slice of count/local_tasks items,
 * into @a out. RMPI_ERR_NOT_FOUND when there is nothing to split (no devices,
 * one task, @a local_id out of range); RMPI_ERR_UNSUPPORTED when the devices
 * do not divide evenly; RMPI_ERR_TRUNCATED when @a len is too small. Pure.
 */
rmpi_status_t gpu_slurm_share(const char *visible, unsigned local_id, unsigned local_tasks,
                              char *out, size_t len);

/**
 * Tasks on node @a node_id from a SLURM_STEP_TASKS_PER_NODE value ("2(x3),1").
 * RMPI_ERR_CONFIG when it does not parse, RMPI_ERR_NOT_FOUND when the node is
 * beyond it. Pure.
 */
rmpi_status_t gpu_slurm_tasks_on_node(const char *tasks_per_node, unsigned node_id,
                                      unsigned *tasks_p);

/**
 * In a Slurm step that was given GPUs (SLURM_STEP_GPUS) without binding them
 * per task (every task on the node sees all of them in CUDA_VISIBLE_DEVICES),
 * narrow CUDA_VISIBLE_DEVICES to this task's share (gpu_slurm_share by
 * SLURM_LOCALID among SLURM_STEP_TASKS_PER_NODE), so that each rank counts and
 * uses its own devices. Anything else leaves the environment alone. Call
 * before the driver is initialized (it reads the variable once). Not thread-safe
 * (setenv): call from rmpi_init.
 */
void gpu_slurm_bind(void);

/** Describe this process's GPU binding (CUDA_VISIBLE_DEVICES, Slurm) into @a buf. */
void gpu_binding_describe(char *buf, size_t len);

/* --- contexts ---------------------------------------------------------------- */

/** What gpu_ctx_push() saved: restore it with gpu_ctx_pop(). */
typedef struct gpu_ctx_saved {
    void *ctx; /**< the CUcontext current before the push (may be NULL) */
} gpu_ctx_saved_t;

/** Make device @a dev's primary context current, saving the previous one. */
rmpi_status_t gpu_ctx_push(int dev, gpu_ctx_saved_t *saved_p);
/** Restore the context gpu_ctx_push() saved. */
rmpi_status_t gpu_ctx_pop(const gpu_ctx_saved_t *saved);
/** The device whose primary context is current; RMPI_ERR_NOT_FOUND when none of ours is. */
rmpi_status_t gpu_ctx_current(int *dev_p);

/* --- streams and events (gpu/stream.c) ---------------------------------------- */

/**
 * Take a stream of device @a dev's pool (created on first use, up to
 * GPU_STREAMS_PER_DEVICE). RMPI_ERR_BUSY when all are taken. The caller owns
 * it until gpu_stream_put().
 */
rmpi_status_t gpu_stream_get(int dev, gpu_stream_h *stream_p);
/** Give a stream back; work queued on it may still be running. */
void gpu_stream_put(gpu_stream_h stream);
int  gpu_stream_device(gpu_stream_h stream);
/** Wait until all work queued on @a stream is done. */
rmpi_status_t gpu_stream_sync(gpu_stream_h stream);
/** Set *@a done_p to whether all work queued on @a stream is done. */
rmpi_status_t gpu_stream_query(gpu_stream_h stream, bool *done_p);

/** An event of device @a dev with timing enabled (owned by the caller). */
rmpi_status_t gpu_event_create(int dev, gpu_event_h *event_p);
void          gpu_event_destroy(gpu_event_h event);
/** Record @a event on @a stream (both of the same device). */
rmpi_status_t gpu_event_record(gpu_event_h event, gpu_stream_h stream);
rmpi_status_t gpu_event_sync(gpu_event_h event);
rmpi_status_t gpu_event_query(gpu_event_h event, bool *done_p);
/** Milliseconds between two completed events. */
rmpi_status_t gpu_event_elapsed(gpu_event_h start, gpu_event_h end, float *ms_p);

/* --- memory (gpu/memory.c) ---------------------------------------------------- */

/**
 * Device memory from the caching allocator: a freed block goes to a free list
 * of its size class and is handed out again for a request of the same class.
 * When cuMemAlloc runs out of memory, the device's cache is freed and the
 * allocation retried once. The device's bytes in use plus cached never exceed
 * GPU_MEMORY_FRACTION of its memory. RMPI_ERR_NO_MEMORY when it does not fit.
 */
rmpi_status_t gpu_mem_alloc(int dev, size_t size, gpu_devptr_t *ptr_p);
/** Free a block of gpu_mem_alloc(); RMPI_ERR_INVALID_ARG for an unknown pointer. */
rmpi_status_t gpu_mem_free(int dev, gpu_devptr_t ptr);

/** Page-locked host memory (portable to all contexts), cached the same way. */
rmpi_status_t gpu_host_alloc(size_t size, void **ptr_p);
rmpi_status_t gpu_host_free(void *ptr);
/**
 * Page-lock memory the caller owns (cuMemHostRegister, portable to every
 * context; read-only for mappings the process may not write), so copies
 * between it and devices run at pinned speed without a staging copy.
 * Unregister before the memory is unmapped. On failure the memory stays
 * usable as ordinary (pageable) memory.
 */
rmpi_status_t gpu_host_register(void *ptr, size_t size, bool read_only);
rmpi_status_t gpu_host_unregister(void *ptr);

typedef struct gpu_mem_stats {
    size_t   in_use;     /**< bytes handed out (rounded to size classes) */
    size_t   cached;     /**< bytes in the free lists */
    size_t   peak;       /**< highest in_use so far */
    size_t   limit;      /**< bound on in_use + cached */
    uint64_t allocs;     /**< allocation requests served */
    uint64_t cache_hits; /**< served from a free list */
    uint64_t trims;      /**< times the cache was emptied to make room */
} gpu_mem_stats_t;

/** Accounting of device @a dev, or of pinned host memory when @a dev is -1. */
rmpi_status_t gpu_mem_stats(int dev, gpu_mem_stats_t *stats_p);
/** Return every cached block of device @a dev (-1: pinned host) to the driver. */
rmpi_status_t gpu_mem_trim(int dev);

/** Copies on a stream (the stream's device); host memory should be pinned to overlap. */
rmpi_status_t gpu_memcpy_h2d_async(gpu_devptr_t dst, const void *src, size_t size,
                                   gpu_stream_h stream);
rmpi_status_t gpu_memcpy_d2h_async(void *dst, gpu_devptr_t src, size_t size, gpu_stream_h stream);
rmpi_status_t gpu_memcpy_d2d_async(gpu_devptr_t dst, gpu_devptr_t src, size_t size,
                                   gpu_stream_h stream);
rmpi_status_t gpu_memset_async(gpu_devptr_t dst, uint8_t value, size_t size, gpu_stream_h stream);
/** Synchronous copies in device @a dev's context. */
rmpi_status_t gpu_memcpy_h2d(int dev, gpu_devptr_t dst, const void *src, size_t size);
rmpi_status_t gpu_memcpy_d2h(int dev, void *dst, gpu_devptr_t src, size_t size);
rmpi_status_t gpu_memcpy_d2d(int dev, gpu_devptr_t dst, gpu_devptr_t src, size_t size);

/* --- modules and kernels (gpu/module.c) --------------------------------------- */

typedef struct gpu_dim3 {
    unsigned x, y, z;
} gpu_dim3_t;

/**
 * Load a module (fatbin, cubin or NUL-terminated PTX) from @a image into
 * device @a dev's context. A corrupt image gives RMPI_ERR_DEVICE.
 */
rmpi_status_t gpu_module_load(int dev, const void *image, gpu_module_h *module_p);
/** Unload; its functions become invalid. */
void gpu_module_unload(gpu_module_h module);
/** The kernel @a name (extern "C" name) of @a module; RMPI_ERR_NOT_FOUND if absent. */
rmpi_status_t gpu_module_function(gpu_module_h module, const char *name, gpu_function_h *fn_p);

/** Whether the library was built with nvcc and so carries built-in kernels. */
bool gpu_builtin_available(void);
/**
 * A built-in kernel ("saxpy", "empty") of device @a dev, loaded on first use
 * and unloaded by gpu_finalize(). RMPI_ERR_UNSUPPORTED when built without nvcc.
 */
rmpi_status_t gpu_builtin_function(int dev, const char *name, gpu_function_h *fn_p);

/**
 * Launch @a fn on @a stream (same device) with kernel arguments @a args (an
 * array of pointers to each argument, as cuLaunchKernel takes them).
 */
rmpi_status_t gpu_launch(gpu_function_h fn, gpu_dim3_t grid, gpu_dim3_t block, unsigned shmem,
                         gpu_stream_h stream, void **args);

/* --- interoperation ---------------------------------------------------------------- */

/*
 * The CUDA handles behind gpu/ objects, for libraries that take them (e.g.
 * cublasSetStream) and for baselines that call the driver directly. They stay
 * owned by gpu/; NULL without CUDA.
 */
void *gpu_stream_native(gpu_stream_h stream); /**< the CUstream */
void *gpu_function_native(gpu_function_h fn); /**< the CUfunction */
/** The driver's symbol @a name (as exported, e.g. "cuMemcpyHtoD_v2"), or NULL. */
void *gpu_driver_symbol(const char *name);

#endif /* GPU_GPU_H_ */
