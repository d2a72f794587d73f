/*
 * tests/unit/gpu/gpu_test.h - shared set-up of the gpu/ unit tests.
 *
 * By default each test runs gpu/ on the driver double (tests/gpu/cudadouble.c),
 * configured through its RMPI_CUDA_DOUBLE_* variables, by pointing
 * RAYMPI_GPU_LIBCUDA at it. With RAYMPI_GPU_TEST_REAL=1 the same programs run
 * on the real driver (libcuda.so.1, whatever the double would say) and the
 * tests that need the double's knobs skip. Include after <cmocka.h>.
 */
#ifndef TESTS_UNIT_GPU_TEST_H_
#define TESTS_UNIT_GPU_TEST_H_

#include "config.h"

#include "gpu/gpu.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit/unit_util.h"

#ifdef RMPI_HAVE_CUDA
#define RMPI_HAVE_CUDA_BUILD 1
#else
#define RMPI_HAVE_CUDA_BUILD 0
#endif

static inline bool gpu_test_real(void)
{
    const char *real = getenv("RAYMPI_GPU_TEST_REAL");

    return real != NULL && strcmp(real, "1") == 0;
}

#ifdef GPU_TEST_DOUBLE_PATH
#define GPU_TEST_HAVE_DOUBLE 1
#else
#define GPU_TEST_HAVE_DOUBLE 0
#define GPU_TEST_DOUBLE_PATH ""
#endif

/* Forget every knob a previous test set. */
static inline void gpu_test_clear_env(void)
{
    static const char *const vars[] = {"RMPI_CUDA_DOUBLE_DEVICES",
                                       "RMPI_CUDA_DOUBLE_MEM",
                                       "RMPI_CUDA_DOUBLE_FAIL",
                                       "RMPI_CUDA_DOUBLE_PCI",
                                       "RAYMPI_GPU_STREAMS_PER_DEVICE",
                                       "RAYMPI_GPU_MEMORY_FRACTION",
                                       "RAYMPI_GPU_MEMORY_CACHE",
                                       "SLURM_STEP_GPUS",
                                       "SLURM_JOB_GPUS",
                                       NULL};

    for (int i = 0; vars[i] != NULL; ++i) {
        unsetenv(vars[i]);
    }
    if (gpu_test_real()) {
        unsetenv("RAYMPI_GPU_LIBCUDA");
    } else {
        setenv("RAYMPI_GPU_LIBCUDA", GPU_TEST_DOUBLE_PATH, 1);
    }
}

/* Skip a test that needs the double's knobs when running on the real driver. */
#define gpu_test_need_double() \
    do {                       \
        if (gpu_test_real()) { \
            skip();            \
        }                      \
    } while (0)

/*
 * Start gpu/ on the double with @a devices devices of @a mem bytes (NULL: the
 * double's default) and the failure rules @a fail (NULL: none); on the real
 * driver just start it.
 */
static inline void gpu_test_start(const char *devices, const char *mem, const char *fail)
{
    gpu_test_clear_env();
    if (!gpu_test_real()) {
        if (devices != NULL) {
            setenv("RMPI_CUDA_DOUBLE_DEVICES", devices, 1);
        }
        if (mem != NULL) {
            setenv("RMPI_CUDA_DOUBLE_MEM", mem, 1);
        }
        if (fail != NULL) {
            setenv("RMPI_CUDA_DOUBLE_FAIL", fail, 1);
        }
    }
    assert_int_equal(gpu_init(), RMPI_OK);
    assert_true(gpu_device_count() >= 1);
}

/* Live objects of @a kind in the double ("alloc", "host", "stream", "event", "module"). */
static inline int gpu_test_live(const char *kind)
{
    void *handle = dlopen(GPU_TEST_DOUBLE_PATH, RTLD_NOW | RTLD_NOLOAD);
    int (*live)(const char *);
    int count;

    assert_non_null(handle); /* gpu/ has it loaded */
    *(void **)&live = dlsym(handle, "cudadouble_live");
    assert_non_null(live);
    count = live(kind);
    dlclose(handle);
    return count;
}

/* Capture what the code under test writes to stderr (log lines, the double's rules). */
typedef struct gpu_test_capture {
    int  saved_fd;
    char path[64];
} gpu_test_capture_t;

static inline void gpu_test_capture_begin(gpu_test_capture_t *cap)
{
    int fd;

    snprintf(cap->path, sizeof(cap->path), "/tmp/rmpi-gpu-test-XXXXXX");
    fd = mkstemp(cap->path);
    assert_true(fd >= 0);
    fflush(stderr);
    cap->saved_fd = dup(STDERR_FILENO);
    assert_true(cap->saved_fd >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

/* The captured text (caller frees); stderr is restored. */
static inline char *gpu_test_capture_end(gpu_test_capture_t *cap)
{
    char *text;

    fflush(stderr);
    assert_true(dup2(cap->saved_fd, STDERR_FILENO) >= 0);
    close(cap->saved_fd);
    text = unit_read_file(cap->path);
    unlink(cap->path);
    return text;
}

/* Assert that @a text contains @a needle (and show both if not). */
#define gpu_test_assert_contains(_text, _needle)                          \
    do {                                                                  \
        if (strstr((_text), (_needle)) == NULL) {                         \
            fail_msg("expected '%s' in output:\n%s", (_needle), (_text)); \
        }                                                                 \
    } while (0)

static inline int gpu_test_teardown(void **state)
{
    (void)state;
    gpu_finalize();
    gpu_finalize(); /* tests that took a second reference */
    return 0;
}

/* The main() prologue: skip the program where gpu/ cannot run at all. */
static inline int gpu_test_skip_reason(void)
{
#if !RMPI_HAVE_CUDA_BUILD
    /* the one thing to check in such a build: gpu/ says it is absent, and why */
    if ((gpu_init() != RMPI_ERR_NO_DEVICE) ||
        (strstr(gpu_absent_reason(), "built without CUDA") == NULL)) {
        printf("FAIL: a build without CUDA must report RMPI_ERR_NO_DEVICE\n");
        return 1;
    }
    printf("SKIP: built without CUDA (no cuda.h): gpu/ reports RMPI_ERR_NO_DEVICE\n");
    return 77;
#else
    if (gpu_test_real()) {
        gpu_test_clear_env();
        if (gpu_init() != RMPI_OK) {
            printf("SKIP: RAYMPI_GPU_TEST_REAL=1 but no usable GPU: %s\n", gpu_absent_reason());
            return 77;
        }
        gpu_finalize();
    } else if (!GPU_TEST_HAVE_DOUBLE) {
        printf("SKIP: the CUDA driver double was not built\n");
        return 77;
    }
    return 0;
#endif
}

#endif /* TESTS_UNIT_GPU_TEST_H_ */
