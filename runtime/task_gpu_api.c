/*
 * runtime/task_gpu_api.c - the public helpers for GPU work inside a task
 * (raympi.h, "GPU work in a task"): built-in kernels, launches and copies on
 * the task's stream, through gpu/, so programs need not link libcuda.
 */
#include "runtime/devobj.h"
#include "runtime/rt_int.h"

#include "base/log.h"
#include "gpu/gpu.h"

rmpi_status_t rmpi_gpu_builtin_kernel(rmpi_task_ctx_h ctx, const char *name,
                                      rmpi_gpu_kernel_h *kernel_p)
{
    gpu_function_h fn;
    gpu_stream_h   stream;
    rmpi_status_t  status;

    if (name == NULL || kernel_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    status = rt_task_gpu_stream(ctx, "rmpi_gpu_builtin_kernel", &stream);
    if (status == RMPI_OK) {
        status = gpu_builtin_function(ctx->item.gpu_dev, name, &fn);
    }
    if (status == RMPI_OK) {
        *kernel_p = (rmpi_gpu_kernel_h)fn;
    }
    return status;
}

rmpi_status_t rmpi_gpu_launch(rmpi_task_ctx_h ctx, rmpi_gpu_kernel_h kernel, rmpi_gpu_dim3_t grid,
                              rmpi_gpu_dim3_t block, unsigned shmem_bytes, void **args)
{
    gpu_stream_h  stream;
    rmpi_status_t status;

    if (kernel == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    status = rt_task_gpu_stream(ctx, "rmpi_gpu_launch", &stream);
    if (status != RMPI_OK) {
        return status;
    }
    return gpu_launch((gpu_function_h)kernel, (gpu_dim3_t){grid.x, grid.y, grid.z},
                      (gpu_dim3_t){block.x, block.y, block.z}, shmem_bytes, stream, args);
}

rmpi_status_t rmpi_gpu_copy_to_device(rmpi_task_ctx_h ctx, uint64_t dst, const void *src,
                                      size_t size)
{
    gpu_stream_h  stream;
    rmpi_status_t status = rt_task_gpu_stream(ctx, "rmpi_gpu_copy_to_device", &stream);

    return status == RMPI_OK ? gpu_memcpy_h2d_async(dst, src, size, stream) : status;
}

rmpi_status_t rmpi_gpu_copy_to_host(rmpi_task_ctx_h ctx, void *dst, uint64_t src, size_t size)
{
    gpu_stream_h  stream;
    rmpi_status_t status = rt_task_gpu_stream(ctx, "rmpi_gpu_copy_to_host", &stream);

    return status == RMPI_OK ? gpu_memcpy_d2h_async(dst, src, size, stream) : status;
}

rmpi_status_t rmpi_gpu_copy_on_device(rmpi_task_ctx_h ctx, uint64_t dst, uint64_t src, size_t size)
{
    gpu_stream_h  stream;
    rmpi_status_t status = rt_task_gpu_stream(ctx, "rmpi_gpu_copy_on_device", &stream);

    return status == RMPI_OK ? gpu_memcpy_d2d_async(dst, src, size, stream) : status;
}

rmpi_status_t rmpi_gpu_sync(rmpi_task_ctx_h ctx)
{
    gpu_stream_h  stream;
    rmpi_status_t status = rt_task_gpu_stream(ctx, "rmpi_gpu_sync", &stream);

    return status == RMPI_OK ? gpu_stream_sync(stream) : status;
}

rmpi_status_t rmpi_gpu_alloc(rmpi_task_ctx_h ctx, size_t size, uint64_t *devptr_p)
{
    gpu_stream_h  stream;
    gpu_devptr_t  ptr;
    rmpi_status_t status;

    if (devptr_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    status = rt_task_gpu_stream(ctx, "rmpi_gpu_alloc", &stream);
    if (status == RMPI_OK) {
        status = rt_devobj_alloc(ctx->item.gpu_dev, size, &ptr);
    }
    if (status == RMPI_OK) {
        *devptr_p = ptr;
    } else if (status != RMPI_ERR_NO_DEVICE) {
        base_error("rmpi_gpu_alloc: %zu bytes on GPU %d: %s", size, ctx->item.gpu_dev,
                   rmpi_status_str(status));
    }
    return status;
}

rmpi_status_t rmpi_gpu_free(int device, uint64_t devptr)
{
    return gpu_mem_free(device, devptr);
}
