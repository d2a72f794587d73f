/*
 * gpu/module.c - modules loaded from images in memory, kernel lookup, the
 * launch helper, and the built-in kernels embedded at build time.
 */
#include "gpu/gpu_int.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gpu_module {
    base_list_t link;      /* in gpu_g.modules */
    base_list_t functions; /* gpu_function records, freed with the module */
    CUmodule    cu;
    int         dev;
};

struct gpu_function {
    base_list_t link;
    CUfunction  cu;
    int         dev;
    char        name[];
};

rmpi_status_t gpu_module_load(int dev, const void *image, gpu_module_h *module_p)
{
    gpu_device_t      *device = gpu_device_get(dev);
    struct gpu_module *module;
    rmpi_status_t      status;

    if ((device == NULL) || (image == NULL)) {
        return (gpu_g.refcount == 0) ? RMPI_ERR_NOT_READY : RMPI_ERR_INVALID_ARG;
    }
    module = calloc(1, sizeof(*module));
    if (module == NULL) {
        base_error("cannot allocate a module record");
        return RMPI_ERR_NO_MEMORY;
    }
    module->dev = dev;
    base_list_init(&module->functions);
    status = gpu_ctx_enter(device);
    if (status == RMPI_OK) {
        status =
            gpu_status_from_cu(gpu_cu->cuModuleLoadData(&module->cu, image), "cuModuleLoadData");
    }
    if (status != RMPI_OK) {
        free(module);
        return status;
    }
    pthread_mutex_lock(&gpu_g.modules_lock);
    base_list_add_tail(&gpu_g.modules, &module->link);
    pthread_mutex_unlock(&gpu_g.modules_lock);
    *module_p = module;
    return RMPI_OK;
}

/* Unload (the caller has unlinked it from gpu_g.modules). */
static void gpu_module_destroy(struct gpu_module *module)
{
    base_list_t *elem;

    if (gpu_ctx_enter(&gpu_g.devices[module->dev]) == RMPI_OK) {
        gpu_status_from_cu(gpu_cu->cuModuleUnload(module->cu), "cuModuleUnload");
    }
    while ((elem = base_list_pop_head(&module->functions)) != NULL) {
        free(base_container_of(elem, struct gpu_function, link));
    }
    free(module);
}

void gpu_module_unload(gpu_module_h module)
{
    if ((module == NULL) || (gpu_g.refcount == 0)) {
        return;
    }
    pthread_mutex_lock(&gpu_g.modules_lock);
    base_list_del(&module->link);
    pthread_mutex_unlock(&gpu_g.modules_lock);
    gpu_module_destroy(module);
}

void gpu_modules_cleanup(void)
{
    size_t       left = 0;
    base_list_t *elem;

    if (gpu_cu == NULL) {
        return;
    }
    for (int i = 0; i < gpu_g.num_devices; ++i) {
        for (size_t b = 0; b < GPU_MAX_BUILTIN; ++b) {
            gpu_module_h module = gpu_g.devices[i].builtin[b];

            if (module != NULL) {
                base_list_del(&module->link);
                gpu_module_destroy(module);
                gpu_g.devices[i].builtin[b] = NULL;
            }
        }
    }
    while ((elem = base_list_pop_head(&gpu_g.modules)) != NULL) {
        gpu_module_destroy(base_container_of(elem, struct gpu_module, link));
        ++left;
    }
    if (left > 0) {
        base_warn("%zu GPU module(s) not unloaded at finalize", left);
    }
}

rmpi_status_t gpu_module_function(gpu_module_h module, const char *name, gpu_function_h *fn_p)
{
    struct gpu_function *fn;
    base_list_t         *it;
    CUfunction           cu_fn;
    CUresult             res;
    rmpi_status_t        status;

    status = gpu_ctx_enter(&gpu_g.devices[module->dev]);
    if (status != RMPI_OK) {
        return status;
    }
    pthread_mutex_lock(&gpu_g.modules_lock);
    base_list_for_each (it, &module->functions) {
        fn = base_container_of(it, struct gpu_function, link);
        if (strcmp(fn->name, name) == 0) {
            pthread_mutex_unlock(&gpu_g.modules_lock);
            *fn_p = fn;
            return RMPI_OK;
        }
    }
    res = gpu_cu->cuModuleGetFunction(&cu_fn, module->cu, name);
    if (res == CUDA_ERROR_NOT_FOUND) {
        pthread_mutex_unlock(&gpu_g.modules_lock);
        base_debug("GPU %d: no kernel '%s' in module %p", module->dev, name, (void *)module);
        return RMPI_ERR_NOT_FOUND;
    }
    status = gpu_status_from_cu(res, "cuModuleGetFunction");
    fn     = (status == RMPI_OK) ? malloc(sizeof(*fn) + strlen(name) + 1) : NULL;
    if ((status == RMPI_OK) && (fn == NULL)) {
        base_error("cannot allocate a function record");
        status = RMPI_ERR_NO_MEMORY;
    }
    if (status == RMPI_OK) {
        fn->cu  = cu_fn;
        fn->dev = module->dev;
        strcpy(fn->name, name);
        base_list_add_tail(&module->functions, &fn->link);
        *fn_p = fn;
    }
    pthread_mutex_unlock(&gpu_g.modules_lock);
    return status;
}

void *gpu_function_native(gpu_function_h fn)
{
    return fn->cu;
}

/* --- built-in kernels ------------------------------------------------------------- */

bool gpu_builtin_available(void)
{
    return gpu_num_builtin_images > 0;
}

/* The module of built-in image @a index on @a device, loaded on first use. */
static rmpi_status_t gpu_builtin_module(gpu_device_t *device, size_t index, gpu_module_h *mod_p)
{
    gpu_module_h  module;
    rmpi_status_t status = RMPI_OK;

    pthread_mutex_lock(&device->lock);
    module = device->builtin[index];
    if (module == NULL) {
        status = gpu_module_load(device->info.ordinal, gpu_builtin_images[index].data, &module);
        if (status == RMPI_OK) {
            device->builtin[index] = module;
        }
    }
    pthread_mutex_unlock(&device->lock);
    if (status == RMPI_OK) {
        *mod_p = module;
    }
    return status;
}

rmpi_status_t gpu_builtin_function(int dev, const char *name, gpu_function_h *fn_p)
{
    gpu_device_t *device = gpu_device_get(dev);
    gpu_module_h  module;
    rmpi_status_t status;

    if (device == NULL) {
        return (gpu_g.refcount == 0) ? RMPI_ERR_NOT_READY : RMPI_ERR_INVALID_ARG;
    }
    if (!gpu_builtin_available()) {
        base_info("no built-in GPU kernels: ray-mpi was built without nvcc");
        return RMPI_ERR_UNSUPPORTED;
    }
    /* retain the context outside device->lock, which gpu_ctx_enter may take */
    status = gpu_ctx_enter(device);
    for (size_t i = 0; (i < gpu_num_builtin_images) && (i < GPU_MAX_BUILTIN) && (status == RMPI_OK);
         ++i) {
        status = gpu_builtin_module(device, i, &module);
        if (status == RMPI_OK) {
            status = gpu_module_function(module, name, fn_p);
            if (status != RMPI_ERR_NOT_FOUND) {
                return status;
            }
            status = RMPI_OK;
        }
    }
    if (status == RMPI_OK) {
        base_error("no built-in GPU kernel '%s'", name);
        status = RMPI_ERR_NOT_FOUND;
    }
    return status;
}

/* --- launch ----------------------------------------------------------------------- */

rmpi_status_t gpu_launch(gpu_function_h fn, gpu_dim3_t grid, gpu_dim3_t block, unsigned shmem,
                         gpu_stream_h stream, void **args)
{
    char          what[160];
    rmpi_status_t status;
    CUresult      res;

    if (fn->dev != gpu_stream_device(stream)) {
        base_error("kernel '%s' of GPU %d launched on a stream of GPU %d", fn->name, fn->dev,
                   gpu_stream_device(stream));
        return RMPI_ERR_INVALID_ARG;
    }
    status = gpu_ctx_enter(&gpu_g.devices[fn->dev]);
    if (status != RMPI_OK) {
        return status;
    }
    res = gpu_cu->cuLaunchKernel(fn->cu, grid.x, grid.y, grid.z, block.x, block.y, block.z, shmem,
                                 stream->cu, args, NULL);
    if (res == CUDA_SUCCESS) {
        return RMPI_OK;
    }
    snprintf(what, sizeof(what), "cuLaunchKernel(%s, grid %ux%ux%u, block %ux%ux%u)", fn->name,
             grid.x, grid.y, grid.z, block.x, block.y, block.z);
    return gpu_status_from_cu(res, what);
}
