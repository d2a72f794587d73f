/*
 * gpu/driver.c - dlopen of libcuda.so.1 and the mapping of CUresult to
 * rmpi_status_t.
 */
#include "gpu/driver.h"
#include "gpu/gpu.h"

#include "base/log.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define GPU_STR_(_x) #_x
/* The name after cuda.h's macros: GPU_SYM_NAME(cuMemAlloc) is "cuMemAlloc_v2". */
#define GPU_SYM_NAME(_x) GPU_STR_(_x)

static gpu_driver_ops_t gpu_driver_ops;
static void            *gpu_driver_handle;
const gpu_driver_ops_t *gpu_cu;

static rmpi_status_t gpu_driver_absent(const char *path, char *reason, size_t reason_len,
                                       const char *why)
{
    static int said;

    snprintf(reason, reason_len, "%s", why);
    if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED)) {
        base_info("no CUDA driver (%s): GPU support off", why);
    } else {
        base_debug("no CUDA driver at '%s': %s", path, why);
    }
    return RMPI_ERR_NO_DEVICE;
}

/* Resolve one entry point; false (with the name in @a reason) when missing. */
static bool gpu_driver_sym(void *handle, const char *name, void **fn_p, char *reason,
                           size_t reason_len)
{
    *fn_p = dlsym(handle, name);
    if (*fn_p == NULL) {
        snprintf(reason, reason_len, "the driver lacks %s", name);
        return false;
    }
    return true;
}

rmpi_status_t gpu_driver_load(const char *path, char *reason, size_t reason_len)
{
    char  missing[128] = "";
    bool  ok           = true;
    void *handle;

    if (gpu_cu != NULL) {
        return RMPI_OK;
    }
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        return gpu_driver_absent(path, reason, reason_len, dlerror());
    }

#define GPU_DRIVER_LOAD_(_name)                                                            \
    ok = ok && gpu_driver_sym(handle, GPU_SYM_NAME(_name), (void **)&gpu_driver_ops._name, \
                              missing, sizeof(missing));
    GPU_DRIVER_FOREACH(GPU_DRIVER_LOAD_)
#undef GPU_DRIVER_LOAD_

    if (!ok) {
        dlclose(handle);
        memset(&gpu_driver_ops, 0, sizeof(gpu_driver_ops));
        return gpu_driver_absent(path, reason, reason_len, missing);
    }
    /*
     * Pin a real driver: it starts threads and registers handlers, and is not
     * built to be unloaded by gpu_finalize. Only the test double (which exports
     * cudadouble_live) is unloaded, so that each test starts it afresh.
     */
    if ((dlsym(handle, "cudadouble_live") == NULL) &&
        (dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD | RTLD_NODELETE) == NULL)) {
        base_debug("cannot pin the CUDA driver '%s' in memory: %s", path, dlerror());
    }
    gpu_driver_handle = handle;
    gpu_cu            = &gpu_driver_ops;
    base_debug("loaded CUDA driver '%s'", path);
    return RMPI_OK;
}

void gpu_driver_unload(void)
{
    if (gpu_driver_handle == NULL) {
        return;
    }
    gpu_cu = NULL;
    memset(&gpu_driver_ops, 0, sizeof(gpu_driver_ops));
    dlclose(gpu_driver_handle);
    gpu_driver_handle = NULL;
}

void *gpu_driver_symbol(const char *name)
{
    return (gpu_driver_handle != NULL) ? dlsym(gpu_driver_handle, name) : NULL;
}

const char *gpu_cu_error_name(CUresult res)
{
    static __thread char unknown[32];
    const char          *name = NULL;

    if ((gpu_cu != NULL) && (gpu_cu->cuGetErrorName(res, &name) == CUDA_SUCCESS) &&
        (name != NULL)) {
        return name;
    }
    snprintf(unknown, sizeof(unknown), "CUresult %d", (int)res);
    return unknown;
}

rmpi_status_t gpu_status_of_cu(CUresult res)
{
    switch (res) {
    case CUDA_SUCCESS:
        return RMPI_OK;
    case CUDA_ERROR_NO_DEVICE:
    case CUDA_ERROR_STUB_LIBRARY:
    case CUDA_ERROR_DEVICE_UNAVAILABLE:
    case CUDA_ERROR_DEVICE_NOT_LICENSED:
    case CUDA_ERROR_SYSTEM_DRIVER_MISMATCH:
    case CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE:
        return RMPI_ERR_NO_DEVICE;
    case CUDA_ERROR_OUT_OF_MEMORY:
        return RMPI_ERR_NO_MEMORY;
    default:
        return RMPI_ERR_DEVICE;
    }
}

rmpi_status_t gpu_status_from_cu_at(CUresult res, const char *what, const char *file, int line)
{
    const char   *text   = NULL;
    rmpi_status_t status = gpu_status_of_cu(res);

    if (status == RMPI_OK) {
        return RMPI_OK;
    }
    if ((gpu_cu == NULL) || (gpu_cu->cuGetErrorString(res, &text) != CUDA_SUCCESS) ||
        (text == NULL)) {
        text = "no description";
    }
    if (BASE_LOG_ERROR <= base_log_get_level()) {
        base_log_write(BASE_LOG_ERROR, file, line, "%s failed: %s (%s)", what,
                       gpu_cu_error_name(res), text);
    }
    return status;
}
