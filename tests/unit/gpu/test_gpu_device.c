/*
 * Unit tests of gpu/device.c and gpu/binding.c: device enumeration and
 * properties, hwloc locality, Slurm binding reports and primary contexts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gpu_test.h"

#include <hwloc.h>

#ifdef RMPI_HAVE_CUDA
/* The double shows as many devices as it is told, with the properties it reports. */
static void test_device_count_and_properties(void **state)
{
    gpu_device_info_t info;

    gpu_test_need_double();
    gpu_test_start("3", "48M", NULL);
    assert_int_equal(gpu_device_count(), 3);
    for (int dev = 0; dev < 3; ++dev) {
        char name[64];

        assert_int_equal(gpu_device_info(dev, &info), RMPI_OK);
        snprintf(name, sizeof(name), "ray-mpi CUDA double %d", dev);
        assert_int_equal(info.ordinal, dev);
        assert_string_equal(info.name, name);
        assert_int_equal(info.total_mem, 48u << 20);
        assert_int_equal(info.cc_major, 9);
        assert_int_equal(info.cc_minor, 0);
        assert_int_equal(info.sm_count, 4 + dev);
        /* the bus ID is lower-cased for hwloc */
        snprintf(name, sizeof(name), "0000:%02x:00.0", 0xc0 + dev);
        assert_string_equal(info.pci_bus_id, name);
    }
}

/* On whatever driver is there: properties are sane. */
static void test_properties_are_sane(void **state)
{
    gpu_device_info_t info;
    unsigned          domain, bus, slot, func;

    gpu_test_start(NULL, NULL, NULL);
    for (int dev = 0; dev < gpu_device_count(); ++dev) {
        assert_int_equal(gpu_device_info(dev, &info), RMPI_OK);
        assert_true(strlen(info.name) > 0);
        assert_true(info.total_mem > 0);
        assert_true(info.cc_major >= 3);
        assert_true(info.sm_count > 0);
        assert_int_equal(sscanf(info.pci_bus_id, "%x:%x:%x.%x", &domain, &bus, &slot, &func), 4);
    }
}

static void test_bad_device_index(void **state)
{
    gpu_device_info_t info;
    gpu_ctx_saved_t   saved;

    assert_int_equal(gpu_device_info(0, &info), RMPI_ERR_NOT_READY); /* before init */
    gpu_test_start(NULL, NULL, NULL);
    assert_int_equal(gpu_device_info(gpu_device_count(), &info), RMPI_ERR_INVALID_ARG);
    assert_int_equal(gpu_device_info(-1, &info), RMPI_ERR_INVALID_ARG);
    assert_int_equal(gpu_ctx_push(gpu_device_count(), &saved), RMPI_ERR_INVALID_ARG);
}

/* The first PCI device hwloc knows on this machine, as "dddd:bb:dd.f". */
static bool first_pci_device(char *busid, size_t len)
{
    hwloc_topology_t topo;
    hwloc_obj_t      pci;

    assert_int_equal(hwloc_topology_init(&topo), 0);
    hwloc_topology_set_components(topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, "pci");
    hwloc_topology_set_type_filter(topo, HWLOC_OBJ_PCI_DEVICE, HWLOC_TYPE_FILTER_KEEP_ALL);
    assert_int_equal(hwloc_topology_load(topo), 0);
    pci = hwloc_get_next_pcidev(topo, NULL);
    if (pci != NULL) {
        snprintf(busid, len, "%04x:%02x:%02x.%01x", pci->attr->pcidev.domain, pci->attr->pcidev.bus,
                 pci->attr->pcidev.dev, pci->attr->pcidev.func);
    }
    hwloc_topology_destroy(topo);
    return pci != NULL;
}

/* A device at a PCI address the machine has gets hwloc locality; one it lacks gets "unknown". */
static void test_locality_from_hwloc(void **state)
{
    gpu_device_info_t info;
    char              busid[32], pci[80];

    gpu_test_need_double();
    if (!first_pci_device(busid, sizeof(busid))) {
        skip(); /* no PCI devices visible here (e.g. a container without /sys) */
    }
    snprintf(pci, sizeof(pci), "%s,0000:FE:1F.7", busid);
    gpu_test_clear_env();
    setenv("RMPI_CUDA_DOUBLE_DEVICES", "2", 1);
    setenv("RMPI_CUDA_DOUBLE_PCI", pci, 1);
    assert_int_equal(gpu_init(), RMPI_OK);

    assert_int_equal(gpu_device_info(0, &info), RMPI_OK);
    assert_string_equal(info.pci_bus_id, busid);
    assert_string_not_equal(info.cpuset, "unknown");
    assert_true(strlen(info.cpuset) > 0);
    assert_true(info.numa_node >= 0);

    assert_int_equal(gpu_device_info(1, &info), RMPI_OK);
    assert_string_equal(info.pci_bus_id, "0000:fe:1f.7");
    assert_string_equal(info.cpuset, "unknown");
    assert_int_equal(info.numa_node, -1);
}

static void test_slurm_gpu_lists(void **state)
{
    int    ids[8];
    size_t count = 0;
    char   text[256];

    gpu_test_clear_env();
    assert_int_equal(gpu_slurm_gpus(ids, 8, &count), RMPI_ERR_NOT_FOUND);

    setenv("SLURM_JOB_GPUS", "5", 1);
    assert_int_equal(gpu_slurm_gpus(ids, 8, &count), RMPI_OK);
    assert_int_equal(count, 1);
    assert_int_equal(ids[0], 5);

    setenv("SLURM_STEP_GPUS", "0,2-4,7", 1); /* the step's list wins over the job's */
    assert_int_equal(gpu_slurm_gpus(ids, 8, &count), RMPI_OK);
    assert_int_equal(count, 5);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 2);
    assert_int_equal(ids[3], 4);
    assert_int_equal(ids[4], 7);
    assert_int_equal(gpu_slurm_gpus(ids, 2, &count), RMPI_OK); /* truncated to max */
    assert_int_equal(count, 2);

    gpu_binding_describe(text, sizeof(text));
    gpu_test_assert_contains(text, "Slurm GPUs 0,2,3,4,7");

    static const char *const bad[] = {"1-", "a", "3-1", "1,,x", "-2", "2-3-4"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        size_t untouched = 99;

        setenv("SLURM_STEP_GPUS", bad[i], 1);
        assert_int_equal(gpu_slurm_gpus(ids, 8, &untouched), RMPI_ERR_CONFIG);
        assert_int_equal(untouched, 99);
    }
}

/* A step's devices split evenly among the tasks of a node, in local-task order. */
static void test_slurm_share(void **state)
{
    char out[64];

    assert_int_equal(gpu_slurm_share("0,1,2,3", 1, 2, out, sizeof(out)), RMPI_OK);
    assert_string_equal(out, "2,3");
    assert_int_equal(gpu_slurm_share("0,1,2,3", 0, 4, out, sizeof(out)), RMPI_OK);
    assert_string_equal(out, "0");
    assert_int_equal(gpu_slurm_share("GPU-a,GPU-b", 1, 2, out, sizeof(out)), RMPI_OK);
    assert_string_equal(out, "GPU-b");
    assert_int_equal(gpu_slurm_share("0,1,2", 0, 2, out, sizeof(out)), RMPI_ERR_UNSUPPORTED);
    assert_int_equal(gpu_slurm_share("0,1", 0, 1, out, sizeof(out)), RMPI_ERR_NOT_FOUND);
    assert_int_equal(gpu_slurm_share("0,1", 2, 2, out, sizeof(out)), RMPI_ERR_NOT_FOUND);
    assert_int_equal(gpu_slurm_share("", 0, 2, out, sizeof(out)), RMPI_ERR_NOT_FOUND);
    assert_int_equal(gpu_slurm_share("10,11", 1, 2, out, 2), RMPI_ERR_TRUNCATED);
}

static void test_slurm_tasks_on_node(void **state)
{
    unsigned tasks = 0;

    assert_int_equal(gpu_slurm_tasks_on_node("4", 0, &tasks), RMPI_OK);
    assert_int_equal(tasks, 4);
    assert_int_equal(gpu_slurm_tasks_on_node("2(x3),1", 2, &tasks), RMPI_OK);
    assert_int_equal(tasks, 2);
    assert_int_equal(gpu_slurm_tasks_on_node("2(x3),1", 3, &tasks), RMPI_OK);
    assert_int_equal(tasks, 1);
    assert_int_equal(gpu_slurm_tasks_on_node("2(x3),1", 4, &tasks), RMPI_ERR_NOT_FOUND);
    static const char *const bad[] = {"x", "2(x", "2(x0)", "2(x3", "2;1", "2(y3)"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        assert_int_equal(gpu_slurm_tasks_on_node(bad[i], 1, &tasks), RMPI_ERR_CONFIG);
    }
}

/* gpu_slurm_bind narrows CUDA_VISIBLE_DEVICES only in an unbound step. */
static void test_slurm_bind(void **state)
{
    gpu_test_clear_env();
    unsetenv("SLURM_GPUS_PER_TASK");
    unsetenv("SLURM_GPU_BIND");
    setenv("SLURM_STEP_ID", "0", 1);
    setenv("SLURM_STEP_GPUS", "4-7", 1);
    setenv("SLURM_STEP_TASKS_PER_NODE", "2", 1);
    setenv("SLURM_NODEID", "0", 1);
    setenv("SLURM_LOCALID", "1", 1);
    setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3", 1);
    gpu_slurm_bind();
    assert_string_equal(getenv("CUDA_VISIBLE_DEVICES"), "2,3");
    setenv("CUDA_VISIBLE_DEVICES", "1", 1); /* Slurm bound one device per task already */
    gpu_slurm_bind();
    assert_string_equal(getenv("CUDA_VISIBLE_DEVICES"), "1");
    setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3", 1);
    setenv("SLURM_GPUS_PER_TASK", "2", 1);
    gpu_slurm_bind();
    assert_string_equal(getenv("CUDA_VISIBLE_DEVICES"), "0,1,2,3");
    unsetenv("SLURM_GPUS_PER_TASK");
    unsetenv("SLURM_STEP_ID"); /* not in a step (a batch script) */
    gpu_slurm_bind();
    assert_string_equal(getenv("CUDA_VISIBLE_DEVICES"), "0,1,2,3");
    setenv("SLURM_STEP_ID", "0", 1);
    setenv("SLURM_LOCALID", "x", 1); /* malformed: left alone */
    gpu_slurm_bind();
    assert_string_equal(getenv("CUDA_VISIBLE_DEVICES"), "0,1,2,3");
    unsetenv("CUDA_VISIBLE_DEVICES");
    unsetenv("SLURM_STEP_ID");
    unsetenv("SLURM_STEP_TASKS_PER_NODE");
    unsetenv("SLURM_NODEID");
    unsetenv("SLURM_LOCALID");
}

static void test_binding_names_cuda_visible_devices(void **state)
{
    char text[256];

    gpu_test_start("2", NULL, NULL);
    setenv("CUDA_VISIBLE_DEVICES", "1,3", 1);
    gpu_binding_describe(text, sizeof(text));
    unsetenv("CUDA_VISIBLE_DEVICES");
    gpu_test_assert_contains(text, "CUDA_VISIBLE_DEVICES=1,3");
    snprintf(text + 128, 64, "%d device(s)", gpu_device_count());
    gpu_test_assert_contains(text, text + 128);
}

/* push makes a device's context current; pop brings back what was there. */
static void test_ctx_push_pop(void **state)
{
    gpu_ctx_saved_t outer, inner, none = {NULL};
    int             dev = -1;

    gpu_test_start("2", NULL, NULL);
    if (gpu_device_count() < 2) {
        skip();
    }
    assert_int_equal(gpu_ctx_pop(&none), RMPI_OK); /* no context current */
    assert_int_equal(gpu_ctx_current(&dev), RMPI_ERR_NOT_FOUND);
    assert_int_equal(gpu_ctx_push(1, &outer), RMPI_OK);
    assert_int_equal(gpu_ctx_current(&dev), RMPI_OK);
    assert_int_equal(dev, 1);
    assert_int_equal(gpu_ctx_push(0, &inner), RMPI_OK);
    assert_int_equal(gpu_ctx_current(&dev), RMPI_OK);
    assert_int_equal(dev, 0);
    assert_int_equal(gpu_ctx_pop(&inner), RMPI_OK);
    assert_int_equal(gpu_ctx_current(&dev), RMPI_OK);
    assert_int_equal(dev, 1);
    assert_int_equal(gpu_ctx_pop(&outer), RMPI_OK);
    dev = -7;
    assert_int_equal(gpu_ctx_current(&dev), RMPI_ERR_NOT_FOUND);
    assert_int_equal(dev, -7);
}

/* A failing primary-context retain is reported, and retried on the next use. */
static void test_ctx_retain_failure(void **state)
{
    gpu_test_capture_t cap;
    gpu_ctx_saved_t    saved;
    char              *out;

    gpu_test_need_double();
    gpu_test_start("1", NULL, "cuDevicePrimaryCtxRetain:1:CUDA_ERROR_OUT_OF_MEMORY");
    gpu_test_capture_begin(&cap);
    assert_int_equal(gpu_ctx_push(0, &saved), RMPI_ERR_NO_MEMORY);
    out = gpu_test_capture_end(&cap);
    gpu_test_assert_contains(out, "cuDevicePrimaryCtxRetain failed: CUDA_ERROR_OUT_OF_MEMORY");
    free(out);
    assert_int_equal(gpu_ctx_push(0, &saved), RMPI_OK);
    assert_int_equal(gpu_ctx_pop(&saved), RMPI_OK);
}
#endif /* RMPI_HAVE_CUDA */

int main(void)
{
    int skip = gpu_test_skip_reason();

    if (skip != 0) {
        return skip;
    }
#ifdef RMPI_HAVE_CUDA
#define TEST(_fn) cmocka_unit_test_teardown(_fn, gpu_test_teardown)
    const struct CMUnitTest tests[] = {
        TEST(test_device_count_and_properties),
        TEST(test_properties_are_sane),
        TEST(test_bad_device_index),
        TEST(test_locality_from_hwloc),
        TEST(test_slurm_gpu_lists),
        TEST(test_slurm_share),
        TEST(test_slurm_tasks_on_node),
        TEST(test_slurm_bind),
        TEST(test_binding_names_cuda_visible_devices),
        TEST(test_ctx_push_pop),
        TEST(test_ctx_retain_failure),
    };
#undef TEST

    return cmocka_run_group_tests_name("gpu_device", tests, NULL, NULL);
#endif
}
