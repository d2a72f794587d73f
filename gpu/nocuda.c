/*
 * gpu/nocuda.c - gpu/gpu.h in a build without cuda.h: GPU support is absent,
 * gpu_init() says so (RMPI_ERR_NO_DEVICE, "built without CUDA") and every other
 * call returns RMPI_ERR_NOT_READY, as it would before gpu_init().
 */
#include "gpu/gpu.h"

#include "base/log.h"

static const char gpu_nocuda_reason[] = "built without CUDA (configure found no cuda.h)";

rmpi_status_t gpu_init(void)
{
    base_log_once(BASE_LOG_INFO, "GPU support off: %s", gpu_nocuda_reason);
    return RMPI_ERR_NO_DEVICE;
}

void gpu_finalize(void) {}

const char *gpu_absent_reason(void)
{
    return gpu_nocuda_reason;
}

int gpu_device_count(void)
{
    return 0;
}

int gpu_driver_version(void)
{
    return 0;
}

rmpi_status_t gpu_device_info(int dev, gpu_device_info_t *info_p)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_ctx_push(int dev, gpu_ctx_saved_t *saved_p)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_ctx_pop(const gpu_ctx_saved_t *saved)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_ctx_current(int *dev_p)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_stream_get(int dev, gpu_stream_h *stream_p)
{
    return RMPI_ERR_NOT_READY;
}

void gpu_stream_put(gpu_stream_h stream) {}

int gpu_stream_device(gpu_stream_h stream)
{
    return -1;
}

rmpi_status_t gpu_stream_sync(gpu_stream_h stream)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_stream_query(gpu_stream_h stream, bool *done_p)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_event_create(int dev, gpu_event_h *event_p)
{
    return RMPI_ERR_NOT_READY;
}

void gpu_event_destroy(gpu_event_h event) {}

rmpi_status_t gpu_event_record(gpu_event_h event, gpu_stream_h stream)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_event_sync(gpu_event_h event)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_event_query(gpu_event_h event, bool *done_p)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_event_elapsed(gpu_event_h start, gpu_event_h end, float *ms_p)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_mem_alloc(int dev, size_t size, gpu_devptr_t *ptr_p)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_mem_free(int dev, gpu_devptr_t ptr)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_host_alloc(size_t size, void **ptr_p)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_host_free(void *ptr)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_host_register(void *ptr, size_t size, bool read_only)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_host_unregister(void *ptr)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_mem_stats(int dev, gpu_mem_stats_t *stats_p)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_mem_trim(int dev)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_memcpy_h2d_async(gpu_devptr_t dst, const void *src, size_t size,
                                   gpu_stream_h stream)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_memcpy_d2h_async(void *dst, gpu_devptr_t src, size_t size, gpu_stream_h stream)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_memcpy_d2d_async(gpu_devptr_t dst, gpu_devptr_t src, size_t size,
                                   gpu_stream_h stream)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_memset_async(gpu_devptr_t dst, uint8_t value, size_t size, gpu_stream_h stream)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_memcpy_h2d(int dev, gpu_devptr_t dst, const void *src, size_t size)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_memcpy_d2h(int dev, void *dst, gpu_devptr_t src, size_t size)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_memcpy_d2d(int dev, gpu_devptr_t dst, gpu_devptr_t src, size_t size)
{
    return RMPI_ERR_NOT_READY;
}

rmpi_status_t gpu_module_load(int dev, const void *image, gpu_module_h *module_p)
{
    return RMPI_ERR_NOT_READY;
}

void gpu_module_unload(gpu_module_h module) {}

rmpi_status_t gpu_module_function(gpu_module_h module, const char *name, gpu_function_h *fn_p)
{
    return RMPI_ERR_NOT_READY;
}

bool gpu_builtin_available(void)
{
    return false;
}

rmpi_status_t gpu_builtin_function(int dev, const char *name, gpu_function_h *fn_p)
{
    return RMPI_ERR_UNSUPPORTED;
}

rmpi_status_t gpu_launch(gpu_function_h fn, gpu_dim3_t grid, gpu_dim3_t block, unsigned shmem,
                         gpu_stream_h stream, void **args)
{
    return RMPI_ERR_NOT_READY;
}

void *gpu_stream_native(gpu_stream_h stream)
{
    return NULL;
}

void *gpu_function_native(gpu_function_h fn)
{
    return NULL;
}

void *gpu_driver_symbol(const char *name)
{
    return NULL;
}
