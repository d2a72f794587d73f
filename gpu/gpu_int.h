/*
 * gpu/gpu_int.h - state shared by the files of gpu/ (not for other layers).
 *
 * One global gpu_g holds the config, the devices and the pinned host pool.
 * Each device has a lock that guards its primary-context retain, its stream
 * pool and its built-in modules; each memory pool has a lock of its own.
 */
#ifndef GPU_GPU_INT_H_
#define GPU_GPU_INT_H_

#include "gpu/driver.h"
#include "gpu/gpu.h"
#include "gpu/gpu_conf.h"

#include "base/hash.h"
#include "base/list.h"

#include <pthread.h>
#include <stdbool.h>

/* Size classes of the caching allocator: powers of two up to 1 MiB, then four per doubling. */
#define GPU_MEM_NUM_CLASSES 128
/* Built-in kernel images (one per gpu/kernels/NAME.cu), at most. */
#define GPU_MAX_BUILTIN 16

/* A pool of device (dev >= 0) or pinned host (dev == -1) memory. */
typedef struct gpu_mem_pool {
    pthread_mutex_t lock;
    int             dev;
    bool            cache;                           /* keep freed blocks (GPU_MEMORY_CACHE) */
    base_list_t     free_lists[GPU_MEM_NUM_CLASSES]; /* of gpu_mem_block_t, by size class */
    base_hash_t     blocks;                          /* every live block, by address */
    gpu_mem_stats_t stats;
} gpu_mem_pool_t;

struct gpu_stream {
    base_list_t link; /* in the device's free list while not taken */
    CUstream    cu;   /* created on first get */
    int         dev;
    bool        taken;
};

struct gpu_event {
    CUevent cu;
    int     dev;
};

typedef struct gpu_device {
    pthread_mutex_t    lock;
    CUdevice           cu_dev;
    CUcontext          ctx; /* primary context, retained on first use */
    gpu_device_info_t  info;
    base_list_t        free_streams;
    struct gpu_stream *streams; /* GPU_STREAMS_PER_DEVICE of them */
    gpu_mem_pool_t     mem;
    gpu_module_h       builtin[GPU_MAX_BUILTIN];
} gpu_device_t;

typedef struct gpu_global {
    int             refcount;
    gpu_config_t    cfg;
    int             num_devices;
    gpu_device_t   *devices;
    gpu_mem_pool_t  host;
    int             driver_version;
    char            absent[256];
    pthread_mutex_t modules_lock;
    base_list_t     modules; /* every loaded gpu_module, for the leak report */
} gpu_global_t;

extern gpu_global_t gpu_g;

/* A built-in kernel image, embedded at build time (kernels.c generated, or kernels_none.c). */
typedef struct gpu_builtin_image {
    const char          *file; /* e.g. "saxpy.cu" */
    const unsigned char *data;
    size_t               size;
} gpu_builtin_image_t;

extern const gpu_builtin_image_t gpu_builtin_images[];
extern const size_t              gpu_num_builtin_images;

/* The device @a dev, or NULL (logged) when out of range or gpu is not initialized. */
gpu_device_t *gpu_device_get(int dev);
/* Make @a dev's primary context current on this thread (retaining it on first use). */
rmpi_status_t gpu_ctx_enter(gpu_device_t *device);

/* Per-part setup and teardown, called by gpu_init()/gpu_finalize() (device.c). */
rmpi_status_t gpu_streams_init(gpu_device_t *device, unsigned count);
void          gpu_streams_cleanup(gpu_device_t *device);
rmpi_status_t gpu_mem_pool_init(gpu_mem_pool_t *pool, int dev, size_t limit, bool cache);
void          gpu_mem_pool_cleanup(gpu_mem_pool_t *pool);
void          gpu_modules_cleanup(void);

#endif /* GPU_GPU_INT_H_ */
