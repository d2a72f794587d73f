/*
 * runtime/task_gpu.c - what a task that asked for GPUs gets: the primary
 * context of its device current on its thread, and on request a stream of
 * the rank's pool, synchronized before its returns are sealed.
 *
 * The executor chose the device (rt_exec_item_t.gpu_dev); fractional tasks
 * share it, each with its own stream, so their kernels can overlap.
 */
#include "runtime/devobj.h"
#include "runtime/rt_int.h"

#include "base/log.h"
#include "gpu/gpu.h"

#include <stdio.h>
#include <stdlib.h>

#define RT_TASK_SCRATCH_MAX 16

typedef struct rt_task_gpu {
    gpu_ctx_saved_t saved;
    gpu_stream_h    stream; /**< NULL until rmpi_task_stream */
    unsigned        num_scratch;
    gpu_devptr_t    scratch[RT_TASK_SCRATCH_MAX]; /**< rmpi_gpu_scratch: freed at leave */
} rt_task_gpu_t;

rmpi_status_t rt_task_gpu_enter(rt_run_t *run)
{
    rmpi_status_t status;

    if (run->item.gpu_dev < 0) {
        return RMPI_OK;
    }
    run->gpu = calloc(1, sizeof(*run->gpu));
    if (run->gpu == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    status = gpu_ctx_push(run->item.gpu_dev, &run->gpu->saved);
    if (status != RMPI_OK) {
        snprintf(run->error, sizeof(run->error), "the task's GPU %d could not be made current: %s",
                 run->item.gpu_dev, rmpi_status_str(status));
        free(run->gpu);
        run->gpu = NULL;
    }
    return status;
}

rmpi_status_t rt_task_gpu_leave(rt_run_t *run)
{
    rmpi_status_t status = RMPI_OK;

    if (run->gpu == NULL) {
        return RMPI_OK;
    }
    if (run->gpu->stream != NULL) {
        status = gpu_stream_sync(run->gpu->stream);
        if (status != RMPI_OK) {
            snprintf(run->error, sizeof(run->error),
                     "the task's GPU work failed (stream synchronize): %s",
                     rmpi_status_str(status));
        }
        gpu_stream_put(run->gpu->stream);
    }
    for (unsigned i = 0; i < run->gpu->num_scratch; ++i) { /* no queued work reads them now */
        (void)gpu_mem_free(run->item.gpu_dev, run->gpu->scratch[i]);
    }
    (void)gpu_ctx_pop(&run->gpu->saved);
    free(run->gpu);
    run->gpu = NULL;
    return status;
}

int rmpi_task_gpu(rmpi_task_ctx_h ctx)
{
    return ctx != NULL ? ctx->item.gpu_dev : -1;
}

rmpi_status_t rt_task_gpu_stream(rt_run_t *run, const char *caller, gpu_stream_h *stream_p)
{
    rmpi_status_t status;

    if (run == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    if (run->gpu == NULL) {
        base_error("%s: the task did not ask for a GPU (num_gpus)", caller);
        return RMPI_ERR_NO_DEVICE;
    }
    if (run->gpu->stream == NULL) {
        status = gpu_stream_get(run->item.gpu_dev, &run->gpu->stream);
        if (status != RMPI_OK) {
            return status;
        }
    }
    *stream_p = run->gpu->stream;
    return RMPI_OK;
}

rmpi_status_t rmpi_task_stream(rmpi_task_ctx_h ctx, void **stream_p)
{
    gpu_stream_h  stream;
    rmpi_status_t status;

    if (stream_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    status = rt_task_gpu_stream(ctx, "rmpi_task_stream", &stream);
    if (status == RMPI_OK) {
        *stream_p = gpu_stream_native(stream);
    }
    return status;
}

rmpi_status_t rmpi_gpu_scratch(rmpi_task_ctx_h ctx, size_t size, uint64_t *devptr_p)
{
    gpu_stream_h  stream;
    gpu_devptr_t  ptr;
    rmpi_status_t status;

    if (devptr_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    status = rt_task_gpu_stream(ctx, "rmpi_gpu_scratch", &stream);
    if (status != RMPI_OK) {
        return status;
    }
    if (ctx->gpu->num_scratch == RT_TASK_SCRATCH_MAX) {
        base_error("rmpi_gpu_scratch: a task may hold %d scratch blocks", RT_TASK_SCRATCH_MAX);
        return RMPI_ERR_NO_RESOURCE;
    }
    status = rt_devobj_alloc(ctx->item.gpu_dev, size, &ptr);
    if (status != RMPI_OK) {
        base_error("rmpi_gpu_scratch: %zu bytes on GPU %d: %s", size, ctx->item.gpu_dev,
                   rmpi_status_str(status));
        return status;
    }
    ctx->gpu->scratch[ctx->gpu->num_scratch++] = ptr;
    *devptr_p                                  = ptr;
    return RMPI_OK;
}
