/*
 * gpu/gpu_conf.c - the keys of the "gpu" config table.
 */
#include "gpu/gpu_conf.h"

#include <stddef.h>

static const base_config_field_t gpu_config_fields[] = {
    {"GPU_LIBCUDA", "libcuda.so.1",
     "CUDA driver library to dlopen (a file name searched like any shared library, or a "
     "path). Tests point it at the driver double.",
     BASE_CONFIG_STRING, offsetof(gpu_config_t, libcuda)},
    {"GPU_STREAMS_PER_DEVICE", "8",
     "Size of each device's stream pool; while all are taken, a request gets RMPI_ERR_BUSY.",
     BASE_CONFIG_UINT, offsetof(gpu_config_t, streams_per_device)},
    {"GPU_MEMORY_FRACTION", "0.9",
     "Fraction of each device's memory that ray-mpi may hold, in use and cached together.",
     BASE_CONFIG_DOUBLE, offsetof(gpu_config_t, memory_fraction)},
    {"GPU_MEMORY_CACHE", "yes",
     "Keep freed device and pinned host blocks for reuse; no returns each block to the driver "
     "at once (slower, for finding memory bugs).",
     BASE_CONFIG_BOOL, offsetof(gpu_config_t, memory_cache)},
    {NULL, NULL, NULL, BASE_CONFIG_STRING, 0},
};

base_config_table_t gpu_config_table = {
    .name   = "gpu",
    .fields = gpu_config_fields,
    .size   = sizeof(gpu_config_t),
};
BASE_CONFIG_REGISTER(gpu_config_table)
