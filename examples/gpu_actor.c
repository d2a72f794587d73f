/*
 * examples/gpu_actor.c - GPU actors: each holds a share of a GPU for its life and
 * keeps a vector on it across calls.
 *
 *     ray-mpi -n 2 ./gpu_actor [ACTORS [STEPS]]
 *
 * The driver creates ACTORS (default 2) "Saxpy" actors with num_gpus 0.5, so two
 * share a device. Each constructor allocates x[i] = i + 1 and y = 0 (N floats) on
 * the device the runtime gave it (rmpi_task_gpu) and loads the saxpy kernel; then
 * STEPS (default 10) calls of axpy(a = step) each launch y += a * x on the call's
 * stream (rmpi_task_stream) without waiting: the runtime synchronizes that stream
 * before the call's result is sealed, so the next call, read(), sees the sum. The
 * constructor, every call and the destructor run with the actor's device context
 * current, so they call the CUDA driver directly. The last line is for scripts:
 *
 *     RESULT actors=2 steps=10 n=4096 error=0 ok
 *
 * "ok" when every actor's y[i] is (i + 1) * STEPS * (STEPS + 1) / 2.
 *
 * The driver library is the one the runtime opened: RAYMPI_GPU_LIBCUDA (the CUDA
 * driver double in tests) or libcuda.so.1. The kernel is saxpy as PTX (the same
 * code as the runtime's built-in gpu/kernels/saxpy.cu), which the driver compiles
 * for the device it runs on. Without a GPU the actors are infeasible and it says so.
 */
#include <dlfcn.h>
#include <math.h>
#include <raympi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GA_N 4096
#define GA_TIMEOUT 120.0
#define GA_ACTORS_MAX 64
#define GA_GRID ((GA_N + 255) / 256) /* blocks of 256 threads, one per element */

static const char ga_saxpy_ptx[] =
    ".version 7.0\n.target sm_75\n.address_size 64\n\n"
    ".visible .entry saxpy(.param .u32 p_n, .param .f32 p_a, .param .u64 p_x, .param .u64 p_y)\n"
    "{\n\t.reg .pred %p<2>;\n\t.reg .f32 %f<5>;\n\t.reg .b32 %r<6>;\n\t.reg .b64 %rd<8>;\n"
    "\tld.param.u32 %r2, [p_n];\n\tld.param.f32 %f1, [p_a];\n"
    "\tld.param.u64 %rd1, [p_x];\n\tld.param.u64 %rd2, [p_y];\n"
    "\tmov.u32 %r3, %ctaid.x;\n\tmov.u32 %r4, %ntid.x;\n\tmov.u32 %r5, %tid.x;\n"
    "\tmad.lo.s32 %r1, %r3, %r4, %r5;\n\tsetp.ge.s32 %p1, %r1, %r2;\n\t@%p1 bra DONE;\n"
    "\tcvta.to.global.u64 %rd3, %rd1;\n\tmul.wide.s32 %rd4, %r1, 4;\n"
    "\tadd.s64 %rd5, %rd3, %rd4;\n\tld.global.f32 %f2, [%rd5];\n"
    "\tcvta.to.global.u64 %rd6, %rd2;\n\tadd.s64 %rd7, %rd6, %rd4;\n"
    "\tld.global.f32 %f3, [%rd7];\n\tfma.rn.f32 %f4, %f2, %f1, %f3;\n"
    "\tst.global.f32 [%rd7], %f4;\nDONE:\n\tret;\n}\n";

/* --- the CUDA driver entry points used (cuda.h types spelled out: no toolkit needed) ---- */

typedef struct ga_driver {
    int (*module_load)(void **module, const void *image);
    int (*module_function)(void **fn, void *module, const char *name);
    int (*module_unload)(void *module);
    int (*mem_alloc)(uint64_t *ptr, size_t size);
    int (*mem_free)(uint64_t ptr);
    int (*htod)(uint64_t dst, const void *src, size_t size);
    int (*dtoh)(void *dst, uint64_t src, size_t size);
    int (*launch)(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                  unsigned bz, unsigned shmem, void *stream, void **params, void **extra);
} ga_driver_t;

/* The library the runtime already opened, so handles and contexts are shared. */
static rmpi_status_t ga_driver_open(ga_driver_t *drv)
{
    const char *path = getenv("RAYMPI_GPU_LIBCUDA");
    void       *lib  = dlopen(path != NULL ? path : "libcuda.so.1", RTLD_NOW | RTLD_LOCAL);

    if (lib == NULL) {
        return RMPI_ERR_NO_DEVICE;
    }
    *(void **)&drv->module_load     = dlsym(lib, "cuModuleLoadData");
    *(void **)&drv->module_function = dlsym(lib, "cuModuleGetFunction");
    *(void **)&drv->module_unload   = dlsym(lib, "cuModuleUnload");
    *(void **)&drv->mem_alloc       = dlsym(lib, "cuMemAlloc_v2");
    *(void **)&drv->mem_free        = dlsym(lib, "cuMemFree_v2");
    *(void **)&drv->htod            = dlsym(lib, "cuMemcpyHtoD_v2");
    *(void **)&drv->dtoh            = dlsym(lib, "cuMemcpyDtoH_v2");
    *(void **)&drv->launch          = dlsym(lib, "cuLaunchKernel");
    /* The handle stays open: the runtime holds the library for the job anyway. */
    return drv->module_load && drv->module_function && drv->module_unload && drv->mem_alloc &&
                   drv->mem_free && drv->htod && drv->dtoh && drv->launch
               ? RMPI_OK
               : RMPI_ERR_NO_DEVICE;
}

/* --- the actor ---------------------------------------------------------------------------- */

typedef struct ga_state {
    ga_driver_t drv;
    int         dev;
    void       *module, *saxpy;
    uint64_t    x, y;
} ga_state_t;

static void ga_free(void *state)
{
    ga_state_t *ga = state;

    /* The runtime made the actor's device current for its destructor, too. */
    if (ga->y != 0) {
        ga->drv.mem_free(ga->y);
    }
    if (ga->x != 0) {
        ga->drv.mem_free(ga->x);
    }
    if (ga->module != NULL) {
        ga->drv.module_unload(ga->module);
    }
    free(ga);
}

static rmpi_status_t ga_setup(ga_state_t *ga)
{
    static float x[GA_N], zero[GA_N];

    for (int i = 0; i < GA_N; ++i) {
        x[i] = (float)(i + 1);
    }
    if (ga_driver_open(&ga->drv) != RMPI_OK ||
        ga->drv.module_load(&ga->module, ga_saxpy_ptx) != 0 ||
        ga->drv.module_function(&ga->saxpy, ga->module, "saxpy") != 0 ||
        ga->drv.mem_alloc(&ga->x, sizeof(x)) != 0 || ga->drv.mem_alloc(&ga->y, sizeof(zero)) != 0 ||
        ga->drv.htod(ga->x, x, sizeof(x)) != 0 || ga->drv.htod(ga->y, zero, sizeof(zero)) != 0) {
        return RMPI_ERR_DEVICE;
    }
    return RMPI_OK;
}

/* Saxpy(): x and y on the device the actor holds (its context is current here). */
static rmpi_status_t ga_new(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs)
{
    ga_state_t   *ga = calloc(1, sizeof(*ga));
    rmpi_status_t status;

    (void)args, (void)nargs;
    if (ga == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    ga->dev = rmpi_task_gpu(ctx);
    status  = ga_setup(ga);
    if (status != RMPI_OK) {
        rmpi_task_error(ctx, "saxpy actor: the GPU setup on device %d failed", ga->dev);
        ga_free(ga);
        return status;
    }
    return rmpi_actor_set_state(ctx, ga);
}

static void __attribute__((constructor)) ga_register(void)
{
    (void)rmpi_register_actor_class("Saxpy", ga_new, ga_free);
}

/* axpy(float a) -> int32 {rank, device}: y += a * x, queued on the call's stream. */
RMPI_ACTOR_METHOD(Saxpy, axpy)
{
    ga_state_t *ga = rmpi_actor_state(ctx);
    int         n  = GA_N;
    float       a;
    void       *stream, *params[] = {&n, &a, &ga->x, &ga->y};

    if (nargs != 1 || args[0].size != sizeof(a)) {
        rmpi_task_error(ctx, "axpy expects one float");
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&a, args[0].data, sizeof(a));
    if (rmpi_task_stream(ctx, &stream) != RMPI_OK ||
        ga->drv.launch(ga->saxpy, GA_GRID, 1, 1, 256, 1, 1, 0, stream, params, NULL) != 0) {
        rmpi_task_error(ctx, "axpy: the launch on device %d failed", ga->dev);
        return RMPI_ERR_DEVICE;
    }
    /* No synchronize: the runtime does it before this call's result is sealed. */
    int where[2] = {rmpi_rank(), ga->dev};

    return rmpi_return(ctx, 0, where, sizeof(where));
}

/* read() -> float y[GA_N] */
RMPI_ACTOR_METHOD(Saxpy, read)
{
    ga_state_t *ga = rmpi_actor_state(ctx);
    void       *buf;

    (void)args, (void)nargs;
    if (rmpi_return_alloc(ctx, 0, GA_N * sizeof(float), NULL, &buf) != RMPI_OK ||
        ga->drv.dtoh(buf, ga->y, GA_N * sizeof(float)) != 0) {
        rmpi_task_error(ctx, "read: the copy from device %d failed", ga->dev);
        return RMPI_ERR_DEVICE;
    }
    return RMPI_OK;
}

/* --- the driver ----------------------------------------------------------------------------- */

static rmpi_status_t ga_get(rmpi_ref_t ref, void *out, size_t size)
{
    rmpi_object_t obj;
    rmpi_status_t status = rmpi_get(&ref, 1, GA_TIMEOUT, &obj);

    if (status == RMPI_OK) {
        status =
            obj.status != RMPI_OK ? obj.status : (obj.size == size ? RMPI_OK : RMPI_ERR_MESSAGE);
        if (status == RMPI_OK) {
            memcpy(out, obj.data, size);
        }
        rmpi_object_release(&obj);
    }
    rmpi_ref_free(ref);
    return status;
}

/* STEPS axpy calls on each actor (a = 1..STEPS), in flight together; where each ran. */
static rmpi_status_t ga_steps(const rmpi_actor_t *actors, unsigned count, unsigned steps,
                              int (*where)[2])
{
    rmpi_status_t status = RMPI_OK;

    for (unsigned s = 1; status == RMPI_OK && s <= steps; ++s) {
        float           a   = (float)s;
        rmpi_task_arg_t arg = rmpi_arg_value(&a, sizeof(a));
        rmpi_ref_t      refs[GA_ACTORS_MAX];

        for (unsigned k = 0; status == RMPI_OK && k < count; ++k) {
            status = rmpi_actor_call(actors[k], "axpy", &arg, 1, NULL, &refs[k]);
            if (status != RMPI_OK) {
                count = k; /* collect the calls made */
            }
        }
        for (unsigned k = 0; k < count; ++k) {
            rmpi_status_t got = ga_get(refs[k], where[k], sizeof(where[k]));

            status = status != RMPI_OK ? status : got;
        }
    }
    return status;
}

/* The largest |y[i] - (i + 1) * sum(a)| over the actors. */
static rmpi_status_t ga_check(const rmpi_actor_t *actors, unsigned count, unsigned steps,
                              double *error_p)
{
    static float  y[GA_N];
    double        sum    = (double)steps * (steps + 1) / 2;
    rmpi_status_t status = RMPI_OK;
    rmpi_ref_t    ref;

    *error_p = 0;
    for (unsigned k = 0; status == RMPI_OK && k < count; ++k) {
        status = rmpi_actor_call(actors[k], "read", NULL, 0, NULL, &ref);
        if (status == RMPI_OK) {
            status = ga_get(ref, y, sizeof(y));
        }
        for (int i = 0; status == RMPI_OK && i < GA_N; ++i) {
            *error_p = fmax(*error_p, fabs(y[i] - (i + 1) * sum));
        }
    }
    return status;
}

static int ga_run(unsigned count, unsigned steps)
{
    rmpi_actor_options_t opts = {.field_mask = RMPI_ACTOR_OPT_NUM_GPUS, .num_gpus = 0.5};
    rmpi_actor_t         actors[GA_ACTORS_MAX];
    int                  where[GA_ACTORS_MAX][2];
    unsigned             made   = 0;
    double               error  = 0;
    rmpi_status_t        status = RMPI_OK;

    while (status == RMPI_OK && made < count) {
        status = rmpi_actor_create("Saxpy", NULL, 0, &opts, &actors[made]);
        made += status == RMPI_OK;
    }
    if (status == RMPI_OK) {
        status = ga_steps(actors, count, steps, where);
    }
    if (status == RMPI_OK) {
        status = ga_check(actors, count, steps, &error);
    }
    for (unsigned k = 0; k < made; ++k) {
        (void)rmpi_actor_kill(actors[k], RMPI_ACTOR_KILL_NO_RESTART); /* frees its GPU share */
    }
    if (status != RMPI_OK) {
        fprintf(stderr, "gpu_actor: %s%s\n", rmpi_status_str(status),
                status == RMPI_ERR_INFEASIBLE ? " (no rank has a GPU)" : "");
        return 1;
    }
    for (unsigned k = 0; k < count; ++k) {
        printf("gpu_actor: actor %u on rank %d, device %d\n", k, where[k][0], where[k][1]);
    }
    printf("RESULT actors=%u steps=%u n=%d error=%g %s\n", count, steps, GA_N, error,
           error == 0 ? "ok" : "FAILED");
    return 0;
}

int main(int argc, char **argv)
{
    unsigned      count  = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 2;
    unsigned      steps  = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 10;
    rmpi_status_t status = rmpi_init(&argc, &argv, NULL);
    int           rc;

    if (status != RMPI_OK) {
        fprintf(stderr, "gpu_actor: rmpi_init: %s\n", rmpi_status_str(status));
        return 1;
    }
    if (count == 0 || count > GA_ACTORS_MAX || steps == 0 || steps > 1000) {
        fprintf(stderr, "usage: gpu_actor [ACTORS 1-%d [STEPS 1-1000]]\n", GA_ACTORS_MAX);
        rmpi_shutdown();
        return 2;
    }
    rc = ga_run(count, steps);
    rmpi_shutdown();
    return rc;
}
