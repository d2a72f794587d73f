/*
 * tests/gpu/cudadouble.c - a test double of the CUDA driver API on host memory.
 *
 * Built as a shared library that gpu/ dlopens instead of libcuda.so.1
 * (RAYMPI_GPU_LIBCUDA), so every GPU code path runs on machines without a GPU.
 * It exports the subset gpu/driver.h resolves, under the names cuda.h maps
 * them to (cuMemAlloc_v2, ...), and keeps the driver's rules, failing loudly
 * (a "cudadouble: RULE ..." line on stderr) when one is broken:
 *  - cuInit comes first (else CUDA_ERROR_NOT_INITIALIZED);
 *  - calls that work in a context need a current one (CUDA_ERROR_INVALID_CONTEXT);
 *  - a stream, event, module or function is used only in the context that made it
 *    (CUDA_ERROR_INVALID_HANDLE);
 *  - device pointers come from cuMemAlloc: freeing anything else, or copying
 *    outside an allocation, is CUDA_ERROR_INVALID_VALUE;
 *  - module images start with the fatbin magic or are PTX text with ".version"
 *    (else CUDA_ERROR_INVALID_IMAGE); a function must be named in the image.
 * Streams run work at once (a copy is done when the call returns). Kernels
 * "saxpy" and "empty" (gpu/kernels/) run on the host, so a launch computes.
 *
 * Environment, read at the first cuInit:
 *   RMPI_CUDA_DOUBLE_DEVICES  devices (default 1; 0: cuInit says CUDA_ERROR_NO_DEVICE)
 *   RMPI_CUDA_DOUBLE_MEM      bytes of memory per device (default 64M; k/M/G suffixes)
 *   RMPI_CUDA_DOUBLE_PCI      comma-separated PCI bus IDs of the devices
 *   RMPI_CUDA_DOUBLE_FAIL     FN:NTH:RESULT[,...]: the NTH call (1-based; 0 = every
 *                             call) of FN (plain name, e.g. cuMemAlloc) returns
 *                             RESULT (a number or a CUDA_ERROR_ name) and does nothing
 * cudadouble_live(kind) counts live "alloc", "host", "stream", "event",
 * "module" and "registered" (cuMemHostRegister) objects, for tests that check
 * everything went back to the driver.
 */
#define _GNU_SOURCE /* memmem */
#include <cuda.h>

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DBL_API __attribute__((visibility("default")))
#define DBL_MAX_DEVICES 16
#define DBL_MAX_RULES 8
#define DBL_FATBIN_MAGIC 0xBA55ED50u
#define DBL_ALIGN 256

/* --- objects ----------------------------------------------------------------------- */

typedef enum {
    DBL_ALLOC,
    DBL_HOST,
    DBL_STREAM,
    DBL_EVENT,
    DBL_MODULE,
    DBL_REGISTERED, /* a cuMemHostRegister range: the caller's memory, not ours */
    DBL_NUM_KINDS
} dbl_kind_t;

static const char *const dbl_kind_names[DBL_NUM_KINDS] = {"alloc", "host",   "stream",
                                                          "event", "module", "registered"};

struct CUctx_st {
    int dev;
    int refcount; /* primary-context retains */
};

/* Every live object, in one list: the double favours plain checks over speed. */
typedef struct dbl_obj {
    struct dbl_obj  *next;
    dbl_kind_t       kind;
    struct CUctx_st *ctx;  /* owner (not for host allocations) */
    char            *base; /* memory of allocations */
    size_t           size;
    const char      *image; /* modules: the image, to look function names up */
    size_t           image_len;
    bool             recorded; /* events */
    bool             timing;
    double           time_ms;
} dbl_obj_t;

typedef enum { DBL_FN_SAXPY, DBL_FN_EMPTY } dbl_fn_kind_t;

struct CUfunc_st {
    struct CUfunc_st *next;
    dbl_obj_t        *module;
    dbl_fn_kind_t     kind;
};

typedef struct dbl_rule {
    char     fn[64];
    long     nth;
    long     calls;
    CUresult result;
} dbl_rule_t;

static struct {
    pthread_mutex_t   lock;
    bool              initialized;
    int               num_devices;
    size_t            mem;
    size_t            used[DBL_MAX_DEVICES];
    struct CUctx_st   ctx[DBL_MAX_DEVICES];
    char              pci[DBL_MAX_DEVICES][32];
    dbl_obj_t        *objs;
    struct CUfunc_st *functions;
    dbl_rule_t        rules[DBL_MAX_RULES];
    int               num_rules;
} dbl = {.lock = PTHREAD_MUTEX_INITIALIZER};

static __thread struct CUctx_st *dbl_current;

/* clang-format off */
#define E(_x) {_x, #_x}
/* clang-format on */
static const struct {
    CUresult    res;
    const char *name;
} dbl_errors[] = {
    E(CUDA_SUCCESS),
    E(CUDA_ERROR_INVALID_VALUE),
    E(CUDA_ERROR_OUT_OF_MEMORY),
    E(CUDA_ERROR_NOT_INITIALIZED),
    E(CUDA_ERROR_DEINITIALIZED),
    E(CUDA_ERROR_PROFILER_DISABLED),
    E(CUDA_ERROR_PROFILER_NOT_INITIALIZED),
    E(CUDA_ERROR_PROFILER_ALREADY_STARTED),
    E(CUDA_ERROR_PROFILER_ALREADY_STOPPED),
    E(CUDA_ERROR_STUB_LIBRARY),
    E(CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER),
    E(CUDA_ERROR_DEVICE_UNAVAILABLE),
    E(CUDA_ERROR_NO_DEVICE),
    E(CUDA_ERROR_INVALID_DEVICE),
    E(CUDA_ERROR_DEVICE_NOT_LICENSED),
    E(CUDA_ERROR_INVALID_IMAGE),
    E(CUDA_ERROR_INVALID_CONTEXT),
    E(CUDA_ERROR_CONTEXT_ALREADY_CURRENT),
    E(CUDA_ERROR_MAP_FAILED),
    E(CUDA_ERROR_UNMAP_FAILED),
    E(CUDA_ERROR_ARRAY_IS_MAPPED),
    E(CUDA_ERROR_ALREADY_MAPPED),
    E(CUDA_ERROR_NO_BINARY_FOR_GPU),
    E(CUDA_ERROR_ALREADY_ACQUIRED),
    E(CUDA_ERROR_NOT_MAPPED),
    E(CUDA_ERROR_NOT_MAPPED_AS_ARRAY),
    E(CUDA_ERROR_NOT_MAPPED_AS_POINTER),
    E(CUDA_ERROR_ECC_UNCORRECTABLE),
    E(CUDA_ERROR_UNSUPPORTED_LIMIT),
    E(CUDA_ERROR_CONTEXT_ALREADY_IN_USE),
    E(CUDA_ERROR_PEER_ACCESS_UNSUPPORTED),
    E(CUDA_ERROR_INVALID_PTX),
    E(CUDA_ERROR_INVALID_GRAPHICS_CONTEXT),
    E(CUDA_ERROR_NVLINK_UNCORRECTABLE),
    E(CUDA_ERROR_JIT_COMPILER_NOT_FOUND),
    E(CUDA_ERROR_UNSUPPORTED_PTX_VERSION),
    E(CUDA_ERROR_JIT_COMPILATION_DISABLED),
    E(CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY),
    E(CUDA_ERROR_UNSUPPORTED_DEVSIDE_SYNC),
    E(CUDA_ERROR_CONTAINED),
    E(CUDA_ERROR_INVALID_SOURCE),
    E(CUDA_ERROR_FILE_NOT_FOUND),
    E(CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND),
    E(CUDA_ERROR_SHARED_OBJECT_INIT_FAILED),
    E(CUDA_ERROR_OPERATING_SYSTEM),
    E(CUDA_ERROR_INVALID_HANDLE),
    E(CUDA_ERROR_ILLEGAL_STATE),
    E(CUDA_ERROR_LOSSY_QUERY),
    E(CUDA_ERROR_NOT_FOUND),
    E(CUDA_ERROR_NOT_READY),
    E(CUDA_ERROR_ILLEGAL_ADDRESS),
    E(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES),
    E(CUDA_ERROR_LAUNCH_TIMEOUT),
    E(CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING),
    E(CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED),
    E(CUDA_ERROR_PEER_ACCESS_NOT_ENABLED),
    E(CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE),
    E(CUDA_ERROR_CONTEXT_IS_DESTROYED),
    E(CUDA_ERROR_ASSERT),
    E(CUDA_ERROR_TOO_MANY_PEERS),
    E(CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED),
    E(CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED),
    E(CUDA_ERROR_HARDWARE_STACK_ERROR),
    E(CUDA_ERROR_ILLEGAL_INSTRUCTION),
    E(CUDA_ERROR_MISALIGNED_ADDRESS),
    E(CUDA_ERROR_INVALID_ADDRESS_SPACE),
    E(CUDA_ERROR_INVALID_PC),
    E(CUDA_ERROR_LAUNCH_FAILED),
    E(CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE),
    E(CUDA_ERROR_TENSOR_MEMORY_LEAK),
    E(CUDA_ERROR_NOT_PERMITTED),
    E(CUDA_ERROR_NOT_SUPPORTED),
    E(CUDA_ERROR_SYSTEM_NOT_READY),
    E(CUDA_ERROR_SYSTEM_DRIVER_MISMATCH),
    E(CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE),
    E(CUDA_ERROR_MPS_CONNECTION_FAILED),
    E(CUDA_ERROR_MPS_RPC_FAILURE),
    E(CUDA_ERROR_MPS_SERVER_NOT_READY),
    E(CUDA_ERROR_MPS_MAX_CLIENTS_REACHED),
    E(CUDA_ERROR_MPS_MAX_CONNECTIONS_REACHED),
    E(CUDA_ERROR_MPS_CLIENT_TERMINATED),
    E(CUDA_ERROR_CDP_NOT_SUPPORTED),
    E(CUDA_ERROR_CDP_VERSION_MISMATCH),
    E(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED),
    E(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED),
    E(CUDA_ERROR_STREAM_CAPTURE_MERGE),
    E(CUDA_ERROR_STREAM_CAPTURE_UNMATCHED),
    E(CUDA_ERROR_STREAM_CAPTURE_UNJOINED),
    E(CUDA_ERROR_STREAM_CAPTURE_ISOLATION),
    E(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT),
    E(CUDA_ERROR_CAPTURED_EVENT),
    E(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD),
    E(CUDA_ERROR_TIMEOUT),
    E(CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE),
    E(CUDA_ERROR_EXTERNAL_DEVICE),
    E(CUDA_ERROR_INVALID_CLUSTER_SIZE),
    E(CUDA_ERROR_FUNCTION_NOT_LOADED),
    E(CUDA_ERROR_INVALID_RESOURCE_TYPE),
    E(CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION),
    E(CUDA_ERROR_KEY_ROTATION),
    E(CUDA_ERROR_UNKNOWN),
};
#undef E

/* Say which rule a caller broke. */
static CUresult dbl_misuse(CUresult res, const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *dbl_error_name(CUresult res)
{
    for (size_t i = 0; i < sizeof(dbl_errors) / sizeof(dbl_errors[0]); ++i) {
        if (dbl_errors[i].res == res) {
            return dbl_errors[i].name;
        }
    }
    return NULL;
}

static CUresult dbl_misuse(CUresult res, const char *fn, const char *fmt, ...)
{
    char    msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "cudadouble: RULE %s: %s -> %s\n", fn, msg, dbl_error_name(res));
    return res;
}

/* --- configuration ------------------------------------------------------------------ */

static size_t dbl_parse_size(const char *text, size_t dflt)
{
    char  *end;
    size_t value;

    if (text == NULL || text[0] == '\0') {
        return dflt;
    }
    value = strtoull(text, &end, 0);
    switch (toupper((unsigned char)*end)) {
    case 'K':
        value <<= 10;
        break;
    case 'M':
        value <<= 20;
        break;
    case 'G':
        value <<= 30;
        break;
    default:
        break;
    }
    return value;
}

static CUresult dbl_parse_result(const char *text)
{
    if (isdigit((unsigned char)text[0])) {
        return (CUresult)atoi(text);
    }
    for (size_t i = 0; i < sizeof(dbl_errors) / sizeof(dbl_errors[0]); ++i) {
        if (strcmp(dbl_errors[i].name, text) == 0) {
            return dbl_errors[i].res;
        }
    }
    fprintf(stderr, "cudadouble: unknown CUresult '%s' in RMPI_CUDA_DOUBLE_FAIL\n", text);
    return CUDA_ERROR_UNKNOWN;
}

/* FN:NTH:RESULT[,FN:NTH:RESULT...] */
static void dbl_parse_rules(const char *text)
{
    char copy[512], *save = NULL;

    dbl.num_rules = 0;
    if (text == NULL) {
        return;
    }
    snprintf(copy, sizeof(copy), "%s", text);
    for (char *item = strtok_r(copy, ",", &save); item && dbl.num_rules < DBL_MAX_RULES;
         item       = strtok_r(NULL, ",", &save)) {
        dbl_rule_t *rule = &dbl.rules[dbl.num_rules];
        char       *nth  = strchr(item, ':');
        char       *res  = nth ? strchr(nth + 1, ':') : NULL;

        if (res == NULL) {
            fprintf(stderr, "cudadouble: malformed RMPI_CUDA_DOUBLE_FAIL item '%s'\n", item);
            continue;
        }
        *nth++ = '\0';
        *res++ = '\0';
        snprintf(rule->fn, sizeof(rule->fn), "%s", item);
        rule->nth    = atol(nth);
        rule->calls  = 0;
        rule->result = dbl_parse_result(res);
        ++dbl.num_rules;
    }
}

static void dbl_configure(void)
{
    const char *pci     = getenv("RMPI_CUDA_DOUBLE_PCI");
    const char *devices = getenv("RMPI_CUDA_DOUBLE_DEVICES");

    dbl.num_devices = devices ? atoi(devices) : 1;
    if (dbl.num_devices < 0 || dbl.num_devices > DBL_MAX_DEVICES) {
        dbl.num_devices = DBL_MAX_DEVICES;
    }
    dbl.mem = dbl_parse_size(getenv("RMPI_CUDA_DOUBLE_MEM"), 64u << 20);
    for (int i = 0; i < DBL_MAX_DEVICES; ++i) {
        dbl.ctx[i].dev = i;
        snprintf(dbl.pci[i], sizeof(dbl.pci[i]), "0000:%02X:00.0", 0xC0 + i);
    }
    for (int i = 0; pci != NULL && i < DBL_MAX_DEVICES; ++i) {
        size_t len = strcspn(pci, ",");

        snprintf(dbl.pci[i], sizeof(dbl.pci[i]), "%.*s", (int)len, pci);
        pci = pci[len] ? pci + len + 1 : NULL;
    }
    dbl_parse_rules(getenv("RMPI_CUDA_DOUBLE_FAIL"));
}

/*
 * Entry checks shared by every call: an injected failure, then cuInit, then
 * (when @a need_ctx) a current context. Called with dbl.lock held.
 */
static CUresult dbl_enter(const char *fn, bool need_ctx)
{
    for (int i = 0; i < dbl.num_rules; ++i) {
        dbl_rule_t *rule = &dbl.rules[i];

        if (strcmp(rule->fn, fn) == 0) {
            ++rule->calls;
            if (rule->nth == 0 || rule->calls == rule->nth) {
                return rule->result;
            }
        }
    }
    if (!dbl.initialized) {
        return dbl_misuse(CUDA_ERROR_NOT_INITIALIZED, fn, "called before cuInit");
    }
    if (need_ctx && dbl_current == NULL) {
        return dbl_misuse(CUDA_ERROR_INVALID_CONTEXT, fn, "no current context");
    }
    return CUDA_SUCCESS;
}

#define DBL_LOCK() pthread_mutex_lock(&dbl.lock)
#define DBL_RETURN(_res)                 \
    do {                                 \
        CUresult dbl_res_ = (_res);      \
        pthread_mutex_unlock(&dbl.lock); \
        return dbl_res_;                 \
    } while (0)
#define DBL_ENTER(_fn, _need_ctx)                        \
    do {                                                 \
        CUresult dbl_enter_ = dbl_enter(_fn, _need_ctx); \
        if (dbl_enter_ != CUDA_SUCCESS) {                \
            DBL_RETURN(dbl_enter_);                      \
        }                                                \
    } while (0)

/* --- object table ------------------------------------------------------------------- */

static dbl_obj_t *dbl_obj_new(dbl_kind_t kind)
{
    dbl_obj_t *obj = calloc(1, sizeof(*obj));

    if (obj != NULL) {
        obj->kind = kind;
        obj->ctx  = dbl_current;
        obj->next = dbl.objs;
        dbl.objs  = obj;
    }
    return obj;
}

static void dbl_obj_free(dbl_obj_t *obj)
{
    for (dbl_obj_t **link = &dbl.objs; *link != NULL; link = &(*link)->next) {
        if (*link == obj) {
            *link = obj->next;
            break;
        }
    }
    if (obj->kind == DBL_ALLOC) {
        dbl.used[obj->ctx->dev] -= obj->size;
    }
    if (obj->kind == DBL_MODULE) {
        for (struct CUfunc_st **link = &dbl.functions; *link != NULL;) {
            struct CUfunc_st *fn = *link;

            if (fn->module == obj) {
                *link = fn->next;
                free(fn);
            } else {
                link = &fn->next;
            }
        }
    }
    if (obj->kind != DBL_REGISTERED) {
        free(obj->base);
    }
    free(obj);
}

/* The live object @a handle of @a kind, or NULL. */
static dbl_obj_t *dbl_obj_find(const void *handle, dbl_kind_t kind)
{
    for (dbl_obj_t *obj = dbl.objs; obj != NULL; obj = obj->next) {
        if (obj == handle && obj->kind == kind) {
            return obj;
        }
    }
    return NULL;
}

/* The allocation of @a kind holding [ptr, ptr + size), or NULL. */
static dbl_obj_t *dbl_alloc_find(uintptr_t ptr, size_t size, dbl_kind_t kind)
{
    for (dbl_obj_t *obj = dbl.objs; obj != NULL; obj = obj->next) {
        uintptr_t base = (uintptr_t)obj->base;

        if (obj->kind == kind && ptr >= base && ptr - base <= obj->size &&
            size <= obj->size - (ptr - base)) {
            return obj;
        }
    }
    return NULL;
}

/* Device range check of copies and kernels. */
static CUresult dbl_check_range(const char *fn, CUdeviceptr ptr, size_t size)
{
    if (dbl_alloc_find((uintptr_t)ptr, size, DBL_ALLOC) == NULL) {
        return dbl_misuse(CUDA_ERROR_INVALID_VALUE, fn,
                          "[0x%llx, +%zu) is not inside a cuMemAlloc allocation",
                          (unsigned long long)ptr, size);
    }
    return CUDA_SUCCESS;
}

/* The stream @a handle (NULL: the current context's default stream) in the current context. */
static CUresult dbl_check_stream(const char *fn, CUstream handle)
{
    dbl_obj_t *stream;

    if (handle == NULL) {
        return CUDA_SUCCESS;
    }
    stream = dbl_obj_find(handle, DBL_STREAM);
    if (stream == NULL) {
        return dbl_misuse(CUDA_ERROR_INVALID_HANDLE, fn, "unknown stream %p", (void *)handle);
    }
    if (stream->ctx != dbl_current) {
        return dbl_misuse(CUDA_ERROR_INVALID_HANDLE, fn,
                          "stream of the context of device %d used in that of device %d",
                          stream->ctx->dev, dbl_current->dev);
    }
    return CUDA_SUCCESS;
}

__attribute__((destructor)) static void dbl_unload(void)
{
    size_t counts[DBL_NUM_KINDS] = {0};

    while (dbl.objs != NULL) {
        ++counts[dbl.objs->kind];
        dbl_obj_free(dbl.objs);
    }
    for (int k = 0; k < DBL_NUM_KINDS; ++k) {
        if (counts[k] > 0) {
            fprintf(stderr, "cudadouble: RULE unload: %zu %s object(s) never freed\n", counts[k],
                    dbl_kind_names[k]);
        }
    }
}

DBL_API int cudadouble_live(const char *kind)
{
    int count = 0;

    DBL_LOCK();
    for (dbl_obj_t *obj = dbl.objs; obj != NULL; obj = obj->next) {
        count += strcmp(dbl_kind_names[obj->kind], kind) == 0;
    }
    pthread_mutex_unlock(&dbl.lock);
    return count;
}

/* --- initialization, errors, devices ----------------------------------------------------- */

/* The injected-failure check of calls that are valid before cuInit. */
static CUresult dbl_enter_uninit(const char *fn)
{
    bool     was = dbl.initialized;
    CUresult res;

    dbl.initialized = true;
    res             = dbl_enter(fn, false);
    dbl.initialized = was;
    return res;
}

DBL_API CUresult cuInit(unsigned int flags)
{
    CUresult res;

    DBL_LOCK();
    if (!dbl.initialized) {
        dbl_configure();
    }
    res = dbl_enter_uninit("cuInit"); /* an injected failure leaves it uninitialized */
    if (res != CUDA_SUCCESS) {
        DBL_RETURN(res);
    }
    (void)flags;
    if (dbl.num_devices == 0) {
        DBL_RETURN(CUDA_ERROR_NO_DEVICE);
    }
    dbl.initialized = true;
    DBL_RETURN(CUDA_SUCCESS);
}

DBL_API CUresult cuDriverGetVersion(int *version)
{
    CUresult res;

    DBL_LOCK();
    res = dbl_enter_uninit("cuDriverGetVersion");
    if (res != CUDA_SUCCESS) {
        DBL_RETURN(res);
    }
    if (version == NULL) {
        DBL_RETURN(dbl_misuse(CUDA_ERROR_INVALID_VALUE, "cuDriverGetVersion", "NULL output"));
    }
    *version = CUDA_VERSION;
    DBL_RETURN(CUDA_SUCCESS);
}

DBL_API CUresult cuGetErrorName(CUresult error, const char **str)
{
    *str = dbl_error_name(error);
    return (*str != NULL) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

DBL_API CUresult cuGetErrorString(CUresult error, const char **str)
{
    *str = dbl_error_name(error) ? "reported by the CUDA driver double" : NULL;
    return (*str != NULL) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

static CUresult dbl_check_device(const char *fn, CUdevice dev)
{
    if (dev < 0 || dev >= dbl.num_devices) {
        return dbl_misuse(CUDA_ERROR_INVALID_DEVICE, fn, "device %d of %d", dev, dbl.num_devices);
    }
    return CUDA_SUCCESS;
}

DBL_API CUresult cuDeviceGetCount(int *count)
{
    DBL_LOCK();
    DBL_ENTER("cuDeviceGetCount", false);
    *count = dbl.num_devices;
    DBL_RETURN(CUDA_SUCCESS);
}

DBL_API CUresult cuDeviceGet(CUdevice *device, int ordinal)
{
    DBL_LOCK();
    DBL_ENTER("cuDeviceGet", false);
    if (dbl_check_device("cuDeviceGet", ordinal) != CUDA_SUCCESS) {
        DBL_RETURN(CUDA_ERROR_INVALID_DEVICE);
    }
    *device = ordinal;
    DBL_RETURN(CUDA_SUCCESS);
}

DBL_API CUresult cuDeviceGetName(char *name, int len, CUdevice dev)
{
    DBL_LOCK();
    DBL_ENTER("cuDeviceGetName", false);
    if (dbl_check_device("cuDeviceGetName", dev) != CUDA_SUCCESS) {
        DBL_RETURN(CUDA_ERROR_INVALID_DEVICE);
    }
    snprintf(name, (size_t)len, "ray-mpi CUDA double %d", dev);
    DBL_RETURN(CUDA_SUCCESS);
}

DBL_API CUresult cuDeviceGetAttribute(int *value, CUdevice_attribute attrib, CUdevice dev)
{
    DBL_LOCK();
    DBL_ENTER("cuDeviceGetAttribute", false);
    if (dbl_check_device("cuDeviceGetAttribute", dev) != CUDA_SUCCESS) {
        DBL_RETURN(CUDA_ERROR_INVALID_DEVICE);
    }
    switch (attrib) {
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
        *value = 9;
        break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR:
        *value = 0;
        break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT:
        *value = 4 + dev;
        break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
        *value = 1024;
        break;
    default:
        *value = 0;
        break;
    }
    DBL_RETURN(CUDA_SUCCESS);
}

DBL_API CUresult cuDeviceTotalMem(size_t *bytes, CUdevice dev)
{
    DBL_LOCK();
    DBL_ENTER("cuDeviceTotalMem", false);
    if (dbl_check_device("cuDeviceTotalMem", dev) != CUDA_SUCCESS) {
        DBL_RETURN(CUDA_ERROR_INVALID_DEVICE);
    }
    *bytes = dbl.mem;
    DBL_RETURN(CUDA_SUCCESS);
}

DBL_API CUresult cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev)
{
    DBL_LOCK();
    DBL_ENTER("cuDeviceGetPCIBusId", false);
    if (dbl_check_device("cuDeviceGetPCIBusId", dev) != CUDA_SUCCESS) {
        DBL_RETURN(CUDA_ERROR_INVALID_DEVICE);
    }
    snprintf(pciBusId, (size_t)len, "%s", dbl.pci[dev]);
    DBL_RETURN(CUDA_SUCCESS);
}

/* --- contexts ------------------------------------------------------------------------- */

DBL_API CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
    DBL_LOCK();
    DBL_ENTER("cuDevicePrimaryCtxRetain", false);
    if (dbl_check_device("cuDevicePrimaryCtxRetain", dev) != CUDA_SUCCESS) {
        DBL_RETURN(CUDA_ERROR_INVALID_DEVICE);
    }
    ++dbl.ctx[dev].refcount;
    *pctx = &dbl.ctx[dev];
    DBL_RETURN(CUDA_SUCCESS);
}

DBL_API CUresult cuDevicePrimaryCtxRelease(CUdevice dev)
{
    DBL_LOCK();
    DBL_ENTER("cuDevicePrimaryCtxRelease", false);
    if (dbl_check_device("cuDevicePrimaryCtxRelease", dev) != CUDA_SUCCESS) {
        DBL_RETURN(CUDA_ERROR_INVALID_DEVICE);
    }
    if (dbl.ctx[dev].refcount == 0) {
        DBL_RETURN(dbl_misuse(CUDA_ERROR_INVALID_CONTEXT, "cuDevicePrimaryCtxRelease",
                              "device %d's primary context is not retained", dev));
    }
    --dbl.ctx[dev].refcount;
    DBL_RETURN(CUDA_SUCCESS);
}

DBL_API CUresult cuCtxSetCurrent(CUcontext ctx)
{
    DBL_LOCK();
    DBL_ENTER("cuCtxSetCurrent", false);
    if (ctx != NULL &&
        (ctx < &dbl.ctx[0] || ctx >= &dbl.ctx[dbl.num_devices] || ctx->refcount == 0)) {
        DBL_RETURN(dbl_misuse(CUDA_ERROR_INVALID_CONTEXT, "cuCtxSetCurrent",
                              "%p is not a retained context", (void *)ctx));
    }
    dbl_current = ctx;
    DBL_RETURN(CUDA_SUCCESS);
}

DBL_API CUresult cuCtxGetCurrent(CUcontext *pctx)
{
    DBL_LOCK();
    DBL_ENTER("cuCtxGetCurrent", false);
    *pctx = dbl_current;
    DBL_RETURN(CUDA_SUCCESS);
}

/* --- streams and events ------------------------------------------------------------------ */

DBL_API CUresult cuStreamCreate(CUstream *phStream, unsigned int flags)
{
    dbl_obj_t *stream;

    DBL_LOCK();
    DBL_ENTER("cuStreamCreate", true);
    stream = dbl_obj_new(DBL_STREAM);
    if (stream == NULL) {
        DBL_RETURN(CUDA_ERROR_OUT_OF_MEMORY);
    }
    *phStream = (CUstream)(void *)stream;
    DBL_RETURN(CUDA_SUCCESS);
}

DBL_API CUresult cuStreamDestroy(CUstream hStream)
{
    CUresult res;

    DBL_LOCK();
    DBL_ENTER("cuStreamDestroy", true);
    res = (hStream == NULL) ? dbl_misuse(CUDA_ERROR_INVALID_HANDLE, "cuStreamDestroy",
                                         "the default stream cannot be destroyed")
                            : dbl_check_stream("cuStreamDestroy", hStream);
    if (res == CUDA_SUCCESS) {
        dbl_obj_free((dbl_obj_t *)(void *)hStream);
    }
    DBL_RETURN(res);
}

DBL_API CUresult cuStreamSynchronize(CUstream hStream)
{
    DBL_LOCK();
    DBL_ENTER("cuStreamSynchronize", true);
    DBL_RETURN(dbl_check_stream("cuStreamSynchronize", hStream)); /* work ran at submission */
}

DBL_API CUresult cuStreamQuery(CUstream hStream)
{
    DBL_LOCK();
    DBL_ENTER("cuStreamQuery", true);
    DBL_RETURN(dbl_check_stream("cuStreamQuery", hStream));
}

static double dbl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static CUresult dbl_check_event(const char *fn, CUevent handle, dbl_obj_t **event_p)
{
    dbl_obj_t *event = dbl_obj_find(handle, DBL_EVENT);

    if (event == NULL) {
        return dbl_misuse(CUDA_ERROR_INVALID_HANDLE, fn, "unknown event %p", (void *)handle);
    }
    if (event->ctx != dbl_current) {
        return dbl_misuse(CUDA_ERROR_INVALID_HANDLE, fn,
                          "event of the context of device %d used in that of device %d",
                          event->ctx->dev, dbl_current->dev);
    }
    *event_p = event;
    return CUDA_SUCCESS;
}

DBL_API CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags)
{
    dbl_obj_t *event;

    DBL_LOCK();
    DBL_ENTER("cuEventCreate", true);
    event = dbl_obj_new(DBL_EVENT);
    if (event == NULL) {
        DBL_RETURN(CUDA_ERROR_OUT_OF_MEMORY);
    }
    event->timing = !(Flags & CU_EVENT_DISABLE_TIMING);
    *phEvent      = (CUevent)(void *)event;
    DBL_RETURN(CUDA_SUCCESS);
}

DBL_API CUresult cuEventDestroy(CUevent hEvent)
{
    dbl_obj_t *event = NULL;
    CUresult   res;

    DBL_LOCK();
    DBL_ENTER("cuEventDestroy", true);
    res = dbl_check_event("cuEventDestroy", hEvent, &event);
    if (res == CUDA_SUCCESS) {
        dbl_obj_free(event);
    }
    DBL_RETURN(res);
}

DBL_API CUresult cuEventRecord(CUevent hEvent, CUstream hStream)
{
    dbl_obj_t *event = NULL;
    CUresult   res;

    DBL_LOCK();
    DBL_ENTER("cuEventRecord", true);
    res = dbl_check_event("cuEventRecord", hEvent, &event);
    if (res == CUDA_SUCCESS) {
        res = dbl_check_stream("cuEventRecord", hStream);
    }
    if (res == CUDA_SUCCESS) {
        event->recorded = true;
        event->time_ms  = dbl_now_ms();
    }
    DBL_RETURN(res);
}

DBL_API CUresult cuEventSynchronize(CUevent hEvent)
{
    dbl_obj_t *event = NULL;

    DBL_LOCK();
    DBL_ENTER("cuEventSynchronize", true);
    DBL_RETURN(dbl_check_event("cuEventSynchronize", hEvent, &event));
}

DBL_API CUresult cuEventQuery(CUevent hEvent)
{
    dbl_obj_t *event = NULL;

    DBL_LOCK();
    DBL_ENTER("cuEventQuery", true);
    DBL_RETURN(dbl_check_event("cuEventQuery", hEvent, &event));
}

DBL_API CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
    dbl_obj_t *start = NULL, *end = NULL;
    CUresult   res;

    DBL_LOCK();
    DBL_ENTER("cuEventElapsedTime", true);
    res = dbl_check_event("cuEventElapsedTime", hStart, &start);
    if (res == CUDA_SUCCESS) {
        res = dbl_check_event("cuEventElapsedTime", hEnd, &end);
    }
    if (res == CUDA_SUCCESS && (!start->timing || !end->timing)) {
        res = dbl_misuse(CUDA_ERROR_INVALID_HANDLE, "cuEventElapsedTime",
                         "an event was created with CU_EVENT_DISABLE_TIMING");
    } else if (res == CUDA_SUCCESS && (!start->recorded || !end->recorded)) {
        res = dbl_misuse(CUDA_ERROR_INVALID_HANDLE, "cuEventElapsedTime",
                         "an event was never recorded");
    }
    if (res == CUDA_SUCCESS) {
        *pMilliseconds = (float)(end->time_ms - start->time_ms);
    }
    DBL_RETURN(res);
}

/* --- memory ---------------------------------------------------------------------------- */

static CUresult dbl_alloc(const char *fn, dbl_kind_t kind, size_t size, void **ptr_p)
{
    size_t     rounded = (size + DBL_ALIGN - 1) & ~(size_t)(DBL_ALIGN - 1);
    int        dev     = dbl_current->dev;
    dbl_obj_t *obj;

    if (size == 0) {
        return dbl_misuse(CUDA_ERROR_INVALID_VALUE, fn, "size 0");
    }
    if (kind == DBL_ALLOC && size > dbl.mem - dbl.used[dev]) {
        return CUDA_ERROR_OUT_OF_MEMORY; /* not misuse: callers are expected to handle it */
    }
    obj = dbl_obj_new(kind);
    if (obj == NULL || (obj->base = aligned_alloc(DBL_ALIGN, rounded)) == NULL) {
        if (obj != NULL) {
            dbl_obj_free(obj);
        }
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    memset(obj->base, 0xCB, rounded); /* like fresh device memory: not zero */
    obj->size = size;
    if (kind == DBL_ALLOC) {
        dbl.used[dev] += size;
    }
    *ptr_p = obj->base;
    return CUDA_SUCCESS;
}

static CUresult dbl_free(const char *fn, dbl_kind_t kind, uintptr_t ptr)
{
    for (dbl_obj_t *obj = dbl.objs; obj != NULL; obj = obj->next) {
        if (obj->kind == kind && (uintptr_t)obj->base == ptr) {
            dbl_obj_free(obj);
            return CUDA_SUCCESS;
        }
    }
    return dbl_misuse(CUDA_ERROR_INVALID_VALUE, fn, "0x%llx was not allocated by this driver",
                      (unsigned long long)ptr);
}

DBL_API CUresult cuMemAlloc(CUdeviceptr *dptr, size_t bytesize)
{
    void    *ptr = NULL;
    CUresult res;

    DBL_LOCK();
    DBL_ENTER("cuMemAlloc", true);
    res = dbl_alloc("cuMemAlloc", DBL_ALLOC, bytesize, &ptr);
    if (res == CUDA_SUCCESS) {
        *dptr = (CUdeviceptr)(uintptr_t)ptr;
    }
    DBL_RETURN(res);
}

DBL_API CUresult cuMemFree(CUdeviceptr dptr)
{
    DBL_LOCK();
    DBL_ENTER("cuMemFree", true);
    DBL_RETURN(dbl_free("cuMemFree", DBL_ALLOC, (uintptr_t)dptr));
}

DBL_API CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)
{
    DBL_LOCK();
    DBL_ENTER("cuMemHostAlloc", true);
    DBL_RETURN(dbl_alloc("cuMemHostAlloc", DBL_HOST, bytesize, pp));
}

DBL_API CUresult cuMemFreeHost(void *p)
{
    DBL_LOCK();
    DBL_ENTER("cuMemFreeHost", true);
    DBL_RETURN(dbl_free("cuMemFreeHost", DBL_HOST, (uintptr_t)p));
}

/* Page-locking host memory: the double records the range and checks the pairing. */
DBL_API CUresult cuMemHostRegister(void *p, size_t bytesize, unsigned int Flags)
{
    dbl_obj_t *obj;
    char      *lo = p;

    DBL_LOCK();
    DBL_ENTER("cuMemHostRegister", true);
    if (p == NULL || bytesize == 0) {
        DBL_RETURN(dbl_misuse(CUDA_ERROR_INVALID_VALUE, "cuMemHostRegister", "empty range"));
    }
    for (obj = dbl.objs; obj != NULL; obj = obj->next) {
        if (obj->kind == DBL_REGISTERED && lo < obj->base + obj->size &&
            obj->base < lo + bytesize) {
            DBL_RETURN(CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
        }
    }
    (void)Flags;
    obj = dbl_obj_new(DBL_REGISTERED);
    if (obj == NULL) {
        DBL_RETURN(CUDA_ERROR_OUT_OF_MEMORY);
    }
    obj->base = lo;
    obj->size = bytesize;
    DBL_RETURN(CUDA_SUCCESS);
}

DBL_API CUresult cuMemHostUnregister(void *p)
{
    dbl_obj_t *obj;

    DBL_LOCK();
    DBL_ENTER("cuMemHostUnregister", true);
    for (obj = dbl.objs; obj != NULL && !(obj->kind == DBL_REGISTERED && obj->base == p);
         obj = obj->next) {
    }
    if (obj == NULL) {
        DBL_RETURN(CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);
    }
    dbl_obj_free(obj);
    DBL_RETURN(CUDA_SUCCESS);
}

DBL_API CUresult cuMemGetInfo(size_t *free_bytes, size_t *total)
{
    DBL_LOCK();
    DBL_ENTER("cuMemGetInfo", true);
    *free_bytes = dbl.mem - dbl.used[dbl_current->dev];
    *total      = dbl.mem;
    DBL_RETURN(CUDA_SUCCESS);
}

/* The copies: ranges checked, then done at once. */
static CUresult dbl_copy(const char *fn, void *dst, CUdeviceptr dev_dst, const void *src,
                         CUdeviceptr dev_src, size_t size, CUstream stream)
{
    CUresult res = dbl_check_stream(fn, stream);

    if (res == CUDA_SUCCESS && dev_dst != 0) {
        res = dbl_check_range(fn, dev_dst, size);
        dst = (void *)(uintptr_t)dev_dst;
    }
    if (res == CUDA_SUCCESS && dev_src != 0) {
        res = dbl_check_range(fn, dev_src, size);
        src = (const void *)(uintptr_t)dev_src;
    }
    if (res == CUDA_SUCCESS && size > 0) {
        memmove(dst, src, size);
    }
    return res;
}

DBL_API CUresult cuMemcpyHtoD(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)
{
    DBL_LOCK();
    DBL_ENTER("cuMemcpyHtoD", true);
    DBL_RETURN(dbl_copy("cuMemcpyHtoD", NULL, dstDevice, srcHost, 0, ByteCount, NULL));
}

DBL_API CUresult cuMemcpyDtoH(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)
{
    DBL_LOCK();
    DBL_ENTER("cuMemcpyDtoH", true);
    DBL_RETURN(dbl_copy("cuMemcpyDtoH", dstHost, 0, NULL, srcDevice, ByteCount, NULL));
}

DBL_API CUresult cuMemcpyDtoD(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount)
{
    DBL_LOCK();
    DBL_ENTER("cuMemcpyDtoD", true);
    DBL_RETURN(dbl_copy("cuMemcpyDtoD", NULL, dstDevice, NULL, srcDevice, ByteCount, NULL));
}

DBL_API CUresult cuMemcpyHtoDAsync(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount,
                                   CUstream hStream)
{
    DBL_LOCK();
    DBL_ENTER("cuMemcpyHtoDAsync", true);
    DBL_RETURN(dbl_copy("cuMemcpyHtoDAsync", NULL, dstDevice, srcHost, 0, ByteCount, hStream));
}

DBL_API CUresult cuMemcpyDtoHAsync(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                   CUstream hStream)
{
    DBL_LOCK();
    DBL_ENTER("cuMemcpyDtoHAsync", true);
    DBL_RETURN(dbl_copy("cuMemcpyDtoHAsync", dstHost, 0, NULL, srcDevice, ByteCount, hStream));
}

DBL_API CUresult cuMemcpyDtoDAsync(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
                                   CUstream hStream)
{
    DBL_LOCK();
    DBL_ENTER("cuMemcpyDtoDAsync", true);
    DBL_RETURN(dbl_copy("cuMemcpyDtoDAsync", NULL, dstDevice, NULL, srcDevice, ByteCount, hStream));
}

DBL_API CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N,
                                 CUstream hStream)
{
    CUresult res;

    DBL_LOCK();
    DBL_ENTER("cuMemsetD8Async", true);
    res = dbl_check_stream("cuMemsetD8Async", hStream);
    if (res == CUDA_SUCCESS) {
        res = dbl_check_range("cuMemsetD8Async", dstDevice, N);
    }
    if (res == CUDA_SUCCESS) {
        memset((void *)(uintptr_t)dstDevice, uc, N);
    }
    DBL_RETURN(res);
}

/* --- modules and kernels ------------------------------------------------------------------ */

/* The length of a valid image, or 0: a fatbin (by its header) or NUL-terminated PTX text. */
static size_t dbl_image_length(const void *image)
{
    const unsigned char *bytes = image;
    uint32_t             magic;
    uint16_t             header_size;
    uint64_t             fat_size;
    size_t               len;

    memcpy(&magic, bytes, sizeof(magic));
    if (magic == DBL_FATBIN_MAGIC) {
        memcpy(&header_size, bytes + 6, sizeof(header_size));
        memcpy(&fat_size, bytes + 8, sizeof(fat_size));
        return (size_t)header_size + (size_t)fat_size;
    }
    len = strnlen(image, 1u << 20);
    if (memmem(image, len, ".version", 8) != NULL) {
        return len;
    }
    return 0;
}

DBL_API CUresult cuModuleLoadData(CUmodule *module, const void *image)
{
    dbl_obj_t *obj;
    size_t     len;

    DBL_LOCK();
    DBL_ENTER("cuModuleLoadData", true);
    len = (image != NULL) ? dbl_image_length(image) : 0;
    if (len == 0) {
        DBL_RETURN(dbl_misuse(CUDA_ERROR_INVALID_IMAGE, "cuModuleLoadData",
                              "neither a fatbin (magic 0x%08x) nor PTX text with .version",
                              DBL_FATBIN_MAGIC));
    }
    obj = dbl_obj_new(DBL_MODULE);
    if (obj == NULL) {
        DBL_RETURN(CUDA_ERROR_OUT_OF_MEMORY);
    }
    obj->image     = image;
    obj->image_len = len;
    *module        = (CUmodule)(void *)obj;
    DBL_RETURN(CUDA_SUCCESS);
}

static CUresult dbl_check_module(const char *fn, CUmodule handle, dbl_obj_t **module_p)
{
    dbl_obj_t *module = dbl_obj_find(handle, DBL_MODULE);

    if (module == NULL) {
        return dbl_misuse(CUDA_ERROR_INVALID_HANDLE, fn, "unknown module %p", (void *)handle);
    }
    if (module->ctx != dbl_current) {
        return dbl_misuse(CUDA_ERROR_INVALID_HANDLE, fn,
                          "module of the context of device %d used in that of device %d",
                          module->ctx->dev, dbl_current->dev);
    }
    *module_p = module;
    return CUDA_SUCCESS;
}

DBL_API CUresult cuModuleUnload(CUmodule hmod)
{
    dbl_obj_t *module = NULL;
    CUresult   res;

    DBL_LOCK();
    DBL_ENTER("cuModuleUnload", true);
    res = dbl_check_module("cuModuleUnload", hmod, &module);
    if (res == CUDA_SUCCESS) {
        dbl_obj_free(module);
    }
    DBL_RETURN(res);
}

DBL_API CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)
{
    static const char *const known[] = {"saxpy", "empty"};
    dbl_obj_t               *module  = NULL;
    struct CUfunc_st        *fn;
    CUresult                 res;

    DBL_LOCK();
    DBL_ENTER("cuModuleGetFunction", true);
    res = dbl_check_module("cuModuleGetFunction", hmod, &module);
    if (res != CUDA_SUCCESS) {
        DBL_RETURN(res);
    }
    for (int kind = 0; kind < 2; ++kind) {
        if (strcmp(name, known[kind]) != 0 ||
            memmem(module->image, module->image_len, name, strlen(name)) == NULL) {
            continue;
        }
        fn = calloc(1, sizeof(*fn));
        if (fn == NULL) {
            DBL_RETURN(CUDA_ERROR_OUT_OF_MEMORY);
        }
        fn->module    = module;
        fn->kind      = (dbl_fn_kind_t)kind;
        fn->next      = dbl.functions;
        dbl.functions = fn;
        *hfunc        = fn;
        DBL_RETURN(CUDA_SUCCESS);
    }
    DBL_RETURN(CUDA_ERROR_NOT_FOUND); /* not misuse: callers probe modules */
}

static CUresult dbl_check_function(CUfunction handle, struct CUfunc_st **fn_p)
{
    for (struct CUfunc_st *fn = dbl.functions; fn != NULL; fn = fn->next) {
        if (fn == handle) {
            if (fn->module->ctx != dbl_current) {
                return dbl_misuse(CUDA_ERROR_INVALID_HANDLE, "cuLaunchKernel",
                                  "function of the context of device %d launched in that of "
                                  "device %d",
                                  fn->module->ctx->dev, dbl_current->dev);
            }
            *fn_p = fn;
            return CUDA_SUCCESS;
        }
    }
    return dbl_misuse(CUDA_ERROR_INVALID_HANDLE, "cuLaunchKernel", "unknown function %p",
                      (void *)handle);
}

/* saxpy(int n, float a, const float *x, float *y), one "thread" per element. */
static CUresult dbl_saxpy(void **args, size_t threads)
{
    int         n     = *(int *)args[0];
    float       a     = *(float *)args[1];
    CUdeviceptr x     = *(CUdeviceptr *)args[2];
    CUdeviceptr y     = *(CUdeviceptr *)args[3];
    size_t      count = (n > 0) ? (size_t)n : 0;
    float      *xs, *ys;

    if (count > threads) {
        count = threads; /* the kernel's guard: only threads that exist do work */
    }
    if (count > 0 && (dbl_alloc_find((uintptr_t)x, count * sizeof(float), DBL_ALLOC) == NULL ||
                      dbl_alloc_find((uintptr_t)y, count * sizeof(float), DBL_ALLOC) == NULL)) {
        return dbl_misuse(CUDA_ERROR_ILLEGAL_ADDRESS, "cuLaunchKernel",
                          "saxpy reads or writes outside its allocations (n %d)", n);
    }
    xs = (float *)(uintptr_t)x;
    ys = (float *)(uintptr_t)y;
    for (size_t i = 0; i < count; ++i) {
        ys[i] = a * xs[i] + ys[i];
    }
    return CUDA_SUCCESS;
}

DBL_API CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                unsigned int gridDimZ, unsigned int blockDimX,
                                unsigned int blockDimY, unsigned int blockDimZ,
                                unsigned int sharedMemBytes, CUstream hStream, void **kernelParams,
                                void **extra)
{
    struct CUfunc_st *fn = NULL;
    CUresult          res;
    size_t            block = (size_t)blockDimX * blockDimY * blockDimZ;

    DBL_LOCK();
    DBL_ENTER("cuLaunchKernel", true);
    res = dbl_check_function(f, &fn);
    if (res == CUDA_SUCCESS) {
        res = dbl_check_stream("cuLaunchKernel", hStream);
    }
    if (res == CUDA_SUCCESS && (block == 0 || block > 1024 || gridDimX == 0 || gridDimY == 0 ||
                                gridDimZ == 0 || sharedMemBytes > 48 * 1024 || extra != NULL)) {
        res = dbl_misuse(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel",
                         "grid %ux%ux%u block %ux%ux%u shmem %u", gridDimX, gridDimY, gridDimZ,
                         blockDimX, blockDimY, blockDimZ, sharedMemBytes);
    }
    if (res == CUDA_SUCCESS && fn->kind == DBL_FN_SAXPY) {
        res = (kernelParams == NULL)
                  ? dbl_misuse(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel", "saxpy without args")
                  : dbl_saxpy(kernelParams, (size_t)gridDimX * gridDimY * gridDimZ * block);
    }
    DBL_RETURN(res);
}
