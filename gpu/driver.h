/*
 * gpu/driver.h - the CUDA driver API loaded at run time with dlopen.
 *
 * Each entry point is looked up under the name cuda.h maps it to (cuMemAlloc
 * is cuMemAlloc_v2, cuStreamDestroy is cuStreamDestroy_v2, ...), so calls
 * through the table, written with the plain names, reach the same ABI as a
 * program linked with -lcuda. Only for code built with cuda.h (RMPI_HAVE_CUDA);
 * everything else uses gpu/gpu.h.
 *
 * Thread safety: gpu_driver_load()/unload() are SERIALIZED (gpu_init and
 * gpu_finalize call them); the table is read-only in between and the driver's
 * functions are thread-safe.
 */
#ifndef GPU_DRIVER_H_
#define GPU_DRIVER_H_

#include <raympi.h>

#include <cuda.h>

/* The entry points ray-mpi calls, as an X-macro list. */
/* clang-format off */
#define GPU_DRIVER_FOREACH(_F) \
    _F(cuInit) _F(cuDriverGetVersion) _F(cuGetErrorName) _F(cuGetErrorString) \
    _F(cuDeviceGet) _F(cuDeviceGetCount) _F(cuDeviceGetName) _F(cuDeviceGetAttribute) \
    _F(cuDeviceTotalMem) _F(cuDeviceGetPCIBusId) _F(cuDevicePrimaryCtxRetain) \
    _F(cuDevicePrimaryCtxRelease) _F(cuCtxSetCurrent) _F(cuCtxGetCurrent) \
    _F(cuStreamCreate) _F(cuStreamDestroy) _F(cuStreamSynchronize) _F(cuStreamQuery) \
    _F(cuEventCreate) _F(cuEventRecord) _F(cuEventSynchronize) _F(cuEventQuery) \
    _F(cuEventDestroy) _F(cuEventElapsedTime) _F(cuMemAlloc) _F(cuMemFree) \
    _F(cuMemHostAlloc) _F(cuMemFreeHost) _F(cuMemGetInfo) _F(cuMemcpyHtoD) \
    _F(cuMemcpyDtoH) _F(cuMemcpyDtoD) _F(cuMemcpyHtoDAsync) _F(cuMemcpyDtoHAsync) \
    _F(cuMemcpyDtoDAsync) _F(cuMemsetD8Async) _F(cuModuleLoadData) _F(cuModuleUnload) \
    _F(cuModuleGetFunction) _F(cuLaunchKernel) _F(cuMemHostRegister) _F(cuMemHostUnregister)
/* clang-format on */

/*
 * One pointer per entry point, of the type cuda.h declares. The member names
 * go through cuda.h's macros like any call does (cuMemAlloc -> cuMemAlloc_v2),
 * so `gpu_cu->cuMemAlloc(...)` works as written.
 */
typedef struct gpu_driver_ops {
#define GPU_DRIVER_MEMBER_(_name) __typeof__(_name) *_name;
    GPU_DRIVER_FOREACH(GPU_DRIVER_MEMBER_)
#undef GPU_DRIVER_MEMBER_
} gpu_driver_ops_t;

/** The loaded table; NULL while no driver is loaded. */
extern const gpu_driver_ops_t *gpu_cu;

/**
 * dlopen @a path (e.g. "libcuda.so.1") and resolve every entry point. When the
 * library or a symbol is missing, says so once at info level, writes the
 * reason to @a reason (of @a reason_len bytes) and returns RMPI_ERR_NO_DEVICE.
 */
rmpi_status_t gpu_driver_load(const char *path, char *reason, size_t reason_len);
/** dlclose the driver; gpu_cu becomes NULL. */
void gpu_driver_unload(void);

/** The driver's name of @a res ("CUDA_ERROR_OUT_OF_MEMORY"), or "CUresult <n>". */
const char *gpu_cu_error_name(CUresult res);

/**
 * Map @a res to a status: RMPI_OK for CUDA_SUCCESS, RMPI_ERR_NO_DEVICE when
 * there is no usable device or driver, RMPI_ERR_NO_MEMORY for
 * CUDA_ERROR_OUT_OF_MEMORY, RMPI_ERR_DEVICE otherwise. Errors are logged with
 * the driver's error name and @a what (the call, e.g. "cuMemAlloc(4096)").
 */
#define gpu_status_from_cu(_res, _what) gpu_status_from_cu_at((_res), (_what), __FILE__, __LINE__)
rmpi_status_t gpu_status_from_cu_at(CUresult res, const char *what, const char *file, int line);

/** The status @a res maps to, without logging. */
rmpi_status_t gpu_status_of_cu(CUresult res);

#endif /* GPU_DRIVER_H_ */
