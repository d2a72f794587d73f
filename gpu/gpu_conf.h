/*
 * gpu/gpu_conf.h - the "gpu" config table (built with and without CUDA, so
 * every build documents the same keys). Thread safety: see base/conf.h.
 */
#ifndef GPU_GPU_CONF_H_
#define GPU_GPU_CONF_H_

#include "base/conf.h"

#include <stdbool.h>

typedef struct gpu_config {
    char    *libcuda;            /**< GPU_LIBCUDA */
    unsigned streams_per_device; /**< GPU_STREAMS_PER_DEVICE */
    double   memory_fraction;    /**< GPU_MEMORY_FRACTION */
    bool     memory_cache;       /**< GPU_MEMORY_CACHE */
} gpu_config_t;

extern base_config_table_t gpu_config_table;

#endif /* GPU_GPU_CONF_H_ */
