/*
 * gpu/stream.c - the per-device stream pool and events.
 *
 * Streams are created on first get (a pool that is never used costs nothing)
 * with CU_STREAM_NON_BLOCKING, so they never serialize with the legacy
 * default stream that other libraries in the process may use.
 */
#include "gpu/gpu_int.h"

#include "base/log.h"

#include <stdlib.h>

rmpi_status_t gpu_streams_init(gpu_device_t *device, unsigned count)
{
    device->streams = calloc(count, sizeof(*device->streams));
    if (device->streams == NULL) {
        base_error("cannot allocate a pool of %u streams", count);
        return RMPI_ERR_NO_MEMORY;
    }
    for (unsigned i = 0; i < count; ++i) {
        device->streams[i].dev = device->info.ordinal;
        base_list_add_tail(&device->free_streams, &device->streams[i].link);
    }
    return RMPI_OK;
}

void gpu_streams_cleanup(gpu_device_t *device)
{
    unsigned taken = 0;

    if (device->streams == NULL) {
        return;
    }
    for (unsigned i = 0; i < gpu_g.cfg.streams_per_device; ++i) {
        struct gpu_stream *stream = &device->streams[i];

        taken += stream->taken;
        if (stream->cu != NULL) {
            /* cuStreamDestroy needs the stream's context current */
            if (gpu_ctx_enter(device) == RMPI_OK) {
                gpu_status_from_cu(gpu_cu->cuStreamDestroy(stream->cu), "cuStreamDestroy");
            }
        }
    }
    if (taken > 0) {
        base_warn("GPU %d: %u stream(s) not given back at finalize", device->info.ordinal, taken);
    }
    free(device->streams);
    device->streams = NULL;
}

rmpi_status_t gpu_stream_get(int dev, gpu_stream_h *stream_p)
{
    gpu_device_t      *device = gpu_device_get(dev);
    struct gpu_stream *stream;
    base_list_t       *elem;
    rmpi_status_t      status = RMPI_OK;

    if (device == NULL) {
        return (gpu_g.refcount == 0) ? RMPI_ERR_NOT_READY : RMPI_ERR_INVALID_ARG;
    }
    status = gpu_ctx_enter(device); /* before the lock: it may take it to retain the context */
    if (status != RMPI_OK) {
        return status;
    }
    pthread_mutex_lock(&device->lock);
    elem = base_list_pop_head(&device->free_streams);
    if (elem == NULL) {
        pthread_mutex_unlock(&device->lock);
        base_debug("GPU %d: all %u streams taken", dev, gpu_g.cfg.streams_per_device);
        return RMPI_ERR_BUSY;
    }
    stream = base_container_of(elem, struct gpu_stream, link);
    if (stream->cu == NULL) {
        status = gpu_status_from_cu(gpu_cu->cuStreamCreate(&stream->cu, CU_STREAM_NON_BLOCKING),
                                    "cuStreamCreate");
    }
    if (status == RMPI_OK) {
        stream->taken = true;
    } else {
        base_list_add_head(&device->free_streams, &stream->link);
    }
    pthread_mutex_unlock(&device->lock);
    if (status == RMPI_OK) {
        *stream_p = stream;
    }
    return status;
}

void gpu_stream_put(gpu_stream_h stream)
{
    gpu_device_t *device;

    if ((stream == NULL) || (gpu_g.refcount == 0)) {
        return;
    }
    device = &gpu_g.devices[stream->dev];
    pthread_mutex_lock(&device->lock);
    if (stream->taken) {
        stream->taken = false;
        base_list_add_head(&device->free_streams, &stream->link); /* created ones first */
    } else {
        base_error("GPU %d: stream %p given back twice", stream->dev, (void *)stream);
    }
    pthread_mutex_unlock(&device->lock);
}

void *gpu_stream_native(gpu_stream_h stream)
{
    return stream->cu;
}

int gpu_stream_device(gpu_stream_h stream)
{
    return stream->dev;
}

rmpi_status_t gpu_stream_sync(gpu_stream_h stream)
{
    rmpi_status_t status = gpu_ctx_enter(&gpu_g.devices[stream->dev]);

    if (status != RMPI_OK) {
        return status;
    }
    return gpu_status_from_cu(gpu_cu->cuStreamSynchronize(stream->cu), "cuStreamSynchronize");
}

rmpi_status_t gpu_stream_query(gpu_stream_h stream, bool *done_p)
{
    rmpi_status_t status = gpu_ctx_enter(&gpu_g.devices[stream->dev]);
    CUresult      res;

    if (status != RMPI_OK) {
        return status;
    }
    res = gpu_cu->cuStreamQuery(stream->cu);
    if (res == CUDA_ERROR_NOT_READY) {
        *done_p = false;
        return RMPI_OK;
    }
    status = gpu_status_from_cu(res, "cuStreamQuery");
    if (status == RMPI_OK) {
        *done_p = true;
    }
    return status;
}

/* --- events ---------------------------------------------------------------------- */

rmpi_status_t gpu_event_create(int dev, gpu_event_h *event_p)
{
    gpu_device_t     *device = gpu_device_get(dev);
    struct gpu_event *event;
    rmpi_status_t     status;

    if (device == NULL) {
        return (gpu_g.refcount == 0) ? RMPI_ERR_NOT_READY : RMPI_ERR_INVALID_ARG;
    }
    event = calloc(1, sizeof(*event));
    if (event == NULL) {
        base_error("cannot allocate an event");
        return RMPI_ERR_NO_MEMORY;
    }
    event->dev = dev;
    status     = gpu_ctx_enter(device);
    if (status == RMPI_OK) {
        status = gpu_status_from_cu(gpu_cu->cuEventCreate(&event->cu, CU_EVENT_DEFAULT),
                                    "cuEventCreate");
    }
    if (status != RMPI_OK) {
        free(event);
        return status;
    }
    *event_p = event;
    return RMPI_OK;
}

void gpu_event_destroy(gpu_event_h event)
{
    if (event == NULL) {
        return;
    }
    if ((gpu_g.refcount > 0) && (gpu_ctx_enter(&gpu_g.devices[event->dev]) == RMPI_OK)) {
        gpu_status_from_cu(gpu_cu->cuEventDestroy(event->cu), "cuEventDestroy");
    }
    free(event);
}

rmpi_status_t gpu_event_record(gpu_event_h event, gpu_stream_h stream)
{
    rmpi_status_t status;

    if (event->dev != stream->dev) {
        base_error("event of GPU %d recorded on a stream of GPU %d", event->dev, stream->dev);
        return RMPI_ERR_INVALID_ARG;
    }
    status = gpu_ctx_enter(&gpu_g.devices[event->dev]);
    if (status != RMPI_OK) {
        return status;
    }
    return gpu_status_from_cu(gpu_cu->cuEventRecord(event->cu, stream->cu), "cuEventRecord");
}

rmpi_status_t gpu_event_sync(gpu_event_h event)
{
    rmpi_status_t status = gpu_ctx_enter(&gpu_g.devices[event->dev]);

    if (status != RMPI_OK) {
        return status;
    }
    return gpu_status_from_cu(gpu_cu->cuEventSynchronize(event->cu), "cuEventSynchronize");
}

rmpi_status_t gpu_event_query(gpu_event_h event, bool *done_p)
{
    rmpi_status_t status = gpu_ctx_enter(&gpu_g.devices[event->dev]);
    CUresult      res;

    if (status != RMPI_OK) {
        return status;
    }
    res = gpu_cu->cuEventQuery(event->cu);
    if (res == CUDA_ERROR_NOT_READY) {
        *done_p = false;
        return RMPI_OK;
    }
    status = gpu_status_from_cu(res, "cuEventQuery");
    if (status == RMPI_OK) {
        *done_p = true;
    }
    return status;
}

rmpi_status_t gpu_event_elapsed(gpu_event_h start, gpu_event_h end, float *ms_p)
{
    float         ms = 0.0f;
    rmpi_status_t status;

    if (start->dev != end->dev) {
        base_error("elapsed time between events of GPUs %d and %d", start->dev, end->dev);
        return RMPI_ERR_INVALID_ARG;
    }
    status = gpu_ctx_enter(&gpu_g.devices[start->dev]);
    if (status == RMPI_OK) {
        status = gpu_status_from_cu(gpu_cu->cuEventElapsedTime(&ms, start->cu, end->cu),
                                    "cuEventElapsedTime");
    }
    if (status == RMPI_OK) {
        *ms_p = ms;
    }
    return status;
}
