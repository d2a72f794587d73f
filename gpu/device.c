/*
 * gpu/device.c - gpu_init/gpu_finalize, device enumeration and properties,
 * hwloc locality and primary contexts.
 */
#include "gpu/gpu_int.h"

#include "base/log.h"

#include <ctype.h>
#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gpu_global_t gpu_g = {
    .modules_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* --- locality ------------------------------------------------------------------ */

static void gpu_locality_unknown(gpu_device_info_t *info)
{
    info->numa_node = -1;
    snprintf(info->cpuset, sizeof(info->cpuset), "unknown");
}

/* The NUMA node and cores nearest the device's PCI function, from hwloc's I/O objects. */
static void gpu_locality(hwloc_topology_t topo, gpu_device_info_t *info)
{
    hwloc_obj_t pci, near;

    gpu_locality_unknown(info);
    if (topo == NULL) {
        return;
    }
    pci = hwloc_get_pcidev_by_busidstring(topo, info->pci_bus_id);
    if (pci == NULL) {
        base_debug("device %d: PCI %s not in the hwloc topology", info->ordinal, info->pci_bus_id);
        return;
    }
    near = hwloc_get_non_io_ancestor_obj(topo, pci);
    if ((near == NULL) || (near->cpuset == NULL)) {
        return;
    }
    hwloc_bitmap_list_snprintf(info->cpuset, sizeof(info->cpuset), near->cpuset);
    if ((near->nodeset != NULL) && !hwloc_bitmap_iszero(near->nodeset)) {
        info->numa_node = hwloc_bitmap_first(near->nodeset);
    }
}

static hwloc_topology_t gpu_topology_load(void)
{
    hwloc_topology_t topo;

    if (hwloc_topology_init(&topo) != 0) {
        return NULL;
    }
    /*
     * Linux's own sysfs I/O discovery finds the PCI devices; the libpciaccess
     * component ("pci") is slower and leaks memory on every load.
     */
    hwloc_topology_set_components(topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, "pci");
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    hwloc_topology_set_type_filter(topo, HWLOC_OBJ_PCI_DEVICE, HWLOC_TYPE_FILTER_KEEP_ALL);
    if (hwloc_topology_load(topo) != 0) {
        base_debug("hwloc topology load failed: GPU locality unknown");
        hwloc_topology_destroy(topo);
        return NULL;
    }
    return topo;
}

/* --- properties ---------------------------------------------------------------- */

static rmpi_status_t gpu_attribute(gpu_device_t *device, CUdevice_attribute attr, int *value_p)
{
    return gpu_status_from_cu(gpu_cu->cuDeviceGetAttribute(value_p, attr, device->cu_dev),
                              "cuDeviceGetAttribute");
}

static rmpi_status_t gpu_device_query(gpu_device_t *device, int ordinal, hwloc_topology_t topo)
{
    gpu_device_info_t *info = &device->info;
    rmpi_status_t      status;

    info->ordinal = ordinal;
    status = gpu_status_from_cu(gpu_cu->cuDeviceGet(&device->cu_dev, ordinal), "cuDeviceGet");
    if (status == RMPI_OK) {
        status = gpu_status_from_cu(
            gpu_cu->cuDeviceGetName(info->name, (int)sizeof(info->name), device->cu_dev),
            "cuDeviceGetName");
    }
    if (status == RMPI_OK) {
        status = gpu_status_from_cu(gpu_cu->cuDeviceTotalMem(&info->total_mem, device->cu_dev),
                                    "cuDeviceTotalMem");
    }
    if (status == RMPI_OK) {
        status =
            gpu_attribute(device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &info->cc_major);
    }
    if (status == RMPI_OK) {
        status =
            gpu_attribute(device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &info->cc_minor);
    }
    if (status == RMPI_OK) {
        status = gpu_attribute(device, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, &info->sm_count);
    }
    if (status == RMPI_OK) {
        status =
            gpu_status_from_cu(gpu_cu->cuDeviceGetPCIBusId(
                                   info->pci_bus_id, (int)sizeof(info->pci_bus_id), device->cu_dev),
                               "cuDeviceGetPCIBusId");
    }
    if (status == RMPI_OK) {
        /* hwloc prints bus IDs in lower case; the driver in upper case */
        for (char *c = info->pci_bus_id; *c != '\0'; ++c) {
            *c = (char)tolower((unsigned char)*c);
        }
        gpu_locality(topo, info);
    }
    return status;
}

static rmpi_status_t gpu_device_setup(gpu_device_t *device, int ordinal, hwloc_topology_t topo)
{
    rmpi_status_t status;
    size_t        limit;

    pthread_mutex_init(&device->lock, NULL);
    base_list_init(&device->free_streams);
    status = gpu_device_query(device, ordinal, topo);
    if (status != RMPI_OK) {
        return status;
    }
    limit  = (size_t)((double)device->info.total_mem * gpu_g.cfg.memory_fraction);
    status = gpu_mem_pool_init(&device->mem, ordinal, limit, gpu_g.cfg.memory_cache);
    if (status == RMPI_OK) {
        status = gpu_streams_init(device, gpu_g.cfg.streams_per_device);
    }
    base_info("GPU %d: %s, %zu MiB, sm_%d%d, %d SMs, PCI %s, NUMA %d, cores %s", ordinal,
              device->info.name, device->info.total_mem >> 20, device->info.cc_major,
              device->info.cc_minor, device->info.sm_count, device->info.pci_bus_id,
              device->info.numa_node, device->info.cpuset);
    return status;
}

/* --- life cycle ---------------------------------------------------------------- */

static void gpu_teardown(void)
{
    gpu_modules_cleanup();
    for (int i = 0; i < gpu_g.num_devices; ++i) {
        gpu_device_t *device = &gpu_g.devices[i];

        gpu_streams_cleanup(device);
        gpu_mem_pool_cleanup(&device->mem);
    }
    gpu_mem_pool_cleanup(&gpu_g.host);
    for (int i = 0; i < gpu_g.num_devices; ++i) {
        gpu_device_t *device = &gpu_g.devices[i];

        if (device->ctx != NULL) {
            gpu_status_from_cu(gpu_cu->cuDevicePrimaryCtxRelease(device->cu_dev),
                               "cuDevicePrimaryCtxRelease");
        }
        pthread_mutex_destroy(&device->lock);
    }
    free(gpu_g.devices);
    gpu_g.devices     = NULL;
    gpu_g.num_devices = 0;
    gpu_driver_unload();
    base_config_release(&gpu_config_table, &gpu_g.cfg);
}

static rmpi_status_t gpu_check_config(const gpu_config_t *cfg)
{
    if ((cfg->memory_fraction <= 0.0) || (cfg->memory_fraction > 1.0)) {
        base_error("GPU_MEMORY_FRACTION %g out of range (0, 1]", cfg->memory_fraction);
        return RMPI_ERR_CONFIG;
    }
    if ((cfg->streams_per_device == 0) || (cfg->streams_per_device > 1024)) {
        base_error("GPU_STREAMS_PER_DEVICE %u out of range [1, 1024]", cfg->streams_per_device);
        return RMPI_ERR_CONFIG;
    }
    return RMPI_OK;
}

/* cuInit and the device count; RMPI_ERR_NO_DEVICE (with the reason) when there is none. */
static rmpi_status_t gpu_driver_start(void)
{
    CUresult res   = gpu_cu->cuInit(0);
    int      count = 0;

    if (res == CUDA_SUCCESS) {
        res = gpu_cu->cuDriverGetVersion(&gpu_g.driver_version);
    }
    if (res == CUDA_SUCCESS) {
        res = gpu_cu->cuDeviceGetCount(&count);
    }
    if (gpu_status_of_cu(res) == RMPI_ERR_NO_DEVICE || (res == CUDA_SUCCESS && count == 0)) {
        snprintf(gpu_g.absent, sizeof(gpu_g.absent), "no CUDA device (%s)",
                 (res == CUDA_SUCCESS) ? "the driver reports 0" : gpu_cu_error_name(res));
        base_info("%s: GPU support off", gpu_g.absent);
        return RMPI_ERR_NO_DEVICE;
    }
    if (res != CUDA_SUCCESS) {
        snprintf(gpu_g.absent, sizeof(gpu_g.absent), "driver start failed: %s",
                 gpu_cu_error_name(res));
        return gpu_status_from_cu(res, "cuInit");
    }
    gpu_g.num_devices = count;
    return RMPI_OK;
}

static rmpi_status_t gpu_devices_setup(void)
{
    hwloc_topology_t topo   = gpu_topology_load();
    rmpi_status_t    status = RMPI_OK;
    int              count  = gpu_g.num_devices;

    gpu_g.devices = calloc((size_t)count, sizeof(*gpu_g.devices));
    if (gpu_g.devices == NULL) {
        base_error("cannot allocate %d GPU device records", count);
        status = RMPI_ERR_NO_MEMORY;
        count  = 0;
    }
    gpu_g.num_devices = 0;
    for (int i = 0; (i < count) && (status == RMPI_OK); ++i) {
        gpu_g.num_devices = i + 1; /* so that teardown sees the partly set up one */
        status            = gpu_device_setup(&gpu_g.devices[i], i, topo);
    }
    if (topo != NULL) {
        hwloc_topology_destroy(topo);
    }
    return status;
}

rmpi_status_t gpu_init(void)
{
    char          binding[256];
    rmpi_status_t status;

    if (gpu_g.refcount > 0) {
        ++gpu_g.refcount;
        return RMPI_OK;
    }
    gpu_g.absent[0] = '\0';
    base_list_init(&gpu_g.modules);
    status = base_config_parse(&gpu_config_table, &gpu_g.cfg, NULL, NULL, 0);
    if (status != RMPI_OK) {
        snprintf(gpu_g.absent, sizeof(gpu_g.absent), "bad gpu configuration");
        return status;
    }
    status = gpu_check_config(&gpu_g.cfg);
    if (status == RMPI_OK) {
        status = gpu_driver_load(gpu_g.cfg.libcuda, gpu_g.absent, sizeof(gpu_g.absent));
    }
    if (status == RMPI_OK) {
        status = gpu_driver_start();
    }
    if (status == RMPI_OK) {
        status = gpu_mem_pool_init(&gpu_g.host, -1, SIZE_MAX, gpu_g.cfg.memory_cache);
    }
    if (status == RMPI_OK) {
        status = gpu_devices_setup();
    }
    if (status != RMPI_OK) {
        gpu_teardown();
        return status;
    }
    gpu_binding_describe(binding, sizeof(binding));
    base_info("CUDA driver %d: %s", gpu_g.driver_version, binding);
    gpu_g.refcount = 1;
    return RMPI_OK;
}

void gpu_finalize(void)
{
    if ((gpu_g.refcount == 0) || (--gpu_g.refcount > 0)) {
        return;
    }
    gpu_teardown();
}

const char *gpu_absent_reason(void)
{
    return gpu_g.absent;
}

int gpu_device_count(void)
{
    return (gpu_g.refcount > 0) ? gpu_g.num_devices : 0;
}

int gpu_driver_version(void)
{
    return (gpu_g.refcount > 0) ? gpu_g.driver_version : 0;
}

/* --- devices and contexts -------------------------------------------------------- */

gpu_device_t *gpu_device_get(int dev)
{
    if (gpu_g.refcount == 0) {
        base_error("gpu used before gpu_init or after gpu_finalize");
        return NULL;
    }
    if ((dev < 0) || (dev >= gpu_g.num_devices)) {
        base_error("GPU %d does not exist (%d visible)", dev, gpu_g.num_devices);
        return NULL;
    }
    return &gpu_g.devices[dev];
}

rmpi_status_t gpu_device_info(int dev, gpu_device_info_t *info_p)
{
    gpu_device_t *device = gpu_device_get(dev);

    if (device == NULL) {
        return (gpu_g.refcount == 0) ? RMPI_ERR_NOT_READY : RMPI_ERR_INVALID_ARG;
    }
    *info_p = device->info;
    return RMPI_OK;
}

/* The device's primary context, retained on first use. */
static rmpi_status_t gpu_device_ctx(gpu_device_t *device, CUcontext *ctx_p)
{
    rmpi_status_t status = RMPI_OK;
    CUcontext     ctx;

    ctx = __atomic_load_n(&device->ctx, __ATOMIC_ACQUIRE);
    if (ctx != NULL) {
        *ctx_p = ctx; /* the common case: no lock */
        return RMPI_OK;
    }
    pthread_mutex_lock(&device->lock);
    if (device->ctx == NULL) {
        status = gpu_status_from_cu(gpu_cu->cuDevicePrimaryCtxRetain(&ctx, device->cu_dev),
                                    "cuDevicePrimaryCtxRetain");
        if (status == RMPI_OK) {
            __atomic_store_n(&device->ctx, ctx, __ATOMIC_RELEASE);
        }
    }
    ctx = device->ctx;
    pthread_mutex_unlock(&device->lock);
    if (status == RMPI_OK) {
        *ctx_p = ctx;
    }
    return status;
}

rmpi_status_t gpu_ctx_enter(gpu_device_t *device)
{
    CUcontext     want, cur = NULL;
    rmpi_status_t status = gpu_device_ctx(device, &want);

    if (status != RMPI_OK) {
        return status;
    }
    status = gpu_status_from_cu(gpu_cu->cuCtxGetCurrent(&cur), "cuCtxGetCurrent");
    if ((status == RMPI_OK) && (cur != want)) {
        status = gpu_status_from_cu(gpu_cu->cuCtxSetCurrent(want), "cuCtxSetCurrent");
    }
    return status;
}

rmpi_status_t gpu_ctx_push(int dev, gpu_ctx_saved_t *saved_p)
{
    gpu_device_t *device = gpu_device_get(dev);
    CUcontext     prev   = NULL;
    rmpi_status_t status;

    if (device == NULL) {
        return (gpu_g.refcount == 0) ? RMPI_ERR_NOT_READY : RMPI_ERR_INVALID_ARG;
    }
    status = gpu_status_from_cu(gpu_cu->cuCtxGetCurrent(&prev), "cuCtxGetCurrent");
    if (status == RMPI_OK) {
        status = gpu_ctx_enter(device);
    }
    if (status == RMPI_OK) {
        saved_p->ctx = prev;
    }
    return status;
}

rmpi_status_t gpu_ctx_pop(const gpu_ctx_saved_t *saved)
{
    if (gpu_g.refcount == 0) {
        return RMPI_ERR_NOT_READY;
    }
    return gpu_status_from_cu(gpu_cu->cuCtxSetCurrent((CUcontext)saved->ctx), "cuCtxSetCurrent");
}

rmpi_status_t gpu_ctx_current(int *dev_p)
{
    CUcontext     cur = NULL;
    rmpi_status_t status;

    if (gpu_g.refcount == 0) {
        return RMPI_ERR_NOT_READY;
    }
    status = gpu_status_from_cu(gpu_cu->cuCtxGetCurrent(&cur), "cuCtxGetCurrent");
    if (status != RMPI_OK) {
        return status;
    }
    for (int i = 0; (i < gpu_g.num_devices) && (cur != NULL); ++i) {
        if (__atomic_load_n(&gpu_g.devices[i].ctx, __ATOMIC_ACQUIRE) == cur) {
            *dev_p = i;
            return RMPI_OK;
        }
    }
    return RMPI_ERR_NOT_FOUND;
}
