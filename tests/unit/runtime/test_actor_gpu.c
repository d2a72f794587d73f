/*
 * tests/unit/runtime/test_actor_gpu.c - GPU actors in a one-rank job on the
 * CUDA driver double (two devices) or, with RAYMPI_GPU_TEST_REAL=1, the real
 * driver: the constructor gets a device and allocates on it, calls (one at a
 * time, on several threads, and as fibres of an async actor) run with that
 * device's context current and keep device state across calls (saxpy on the
 * actor's stream); the GPU share is held for the actor's life and given back
 * when it dies, so fractional actors share a device, a whole-GPU actor waits
 * for a killed one's device, and a restarted actor gets one again. Options
 * that no rank can satisfy, or that are malformed, fail at creation.
 */
#include "unit_mpi.h"

#include "gpu/gpu.h"

#include <math.h>
#include <pthread.h>
#include <raympi.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define N 1000
#define TIMEOUT 30.0

/*
 * saxpy as PTX (what nvcc emits for gpu/kernels/saxpy.cu), for the double
 * when the build has no nvcc and so no built-in kernels: the double runs any
 * module naming "saxpy" on the host.
 */
static const char saxpy_ptx[] =
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

/* The driver entry points the methods call themselves, as an application would. */
typedef int (*launch_fn_t)(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                           unsigned bz, unsigned shmem, void *stream, void **params, void **extra);
typedef int (*dtoh_fn_t)(void *dst, uint64_t src, size_t size);

static atomic_int        ctor_runs, dtor_runs, dtor_on_device;
static pthread_barrier_t meet_barrier;
static sem_t             gates[2], entered;

/* {rmpi_task_gpu, the device whose context is current (-1: none), stream status, state's dev} */
static rmpi_status_t probe(rmpi_task_ctx_h ctx, int state_dev)
{
    int   out[4] = {rmpi_task_gpu(ctx), -1, 0, state_dev};
    void *stream = NULL;

    if (gpu_ctx_current(&out[1]) != RMPI_OK) {
        out[1] = -1;
    }
    out[2] = rmpi_task_stream(ctx, &stream);
    if (out[2] == RMPI_OK && stream == NULL) {
        out[2] = RMPI_ERR_DEVICE;
    }
    return rmpi_return(ctx, 0, out, sizeof(out));
}

/* --- Acc: a vector on the device, y += a * x per call ----------------------------------- */

typedef struct acc {
    int            dev;
    gpu_devptr_t   x, y;
    gpu_module_h   module; /* NULL with the built-in kernel */
    gpu_function_h saxpy;  /* NULL: no kernel in this build */
} acc_t;

static bool use_ptx(void)
{
    return !gpu_builtin_available() && getenv("RAYMPI_GPU_TEST_REAL") == NULL;
}

static void acc_free(void *state)
{
    acc_t *acc     = state;
    int    current = -1;

    atomic_fetch_add(&dtor_runs, 1);
    if (gpu_ctx_current(&current) == RMPI_OK && current == acc->dev) {
        atomic_fetch_add(&dtor_on_device, 1);
    }
    if (acc->module != NULL) {
        gpu_module_unload(acc->module);
    }
    (void)gpu_mem_free(acc->dev, acc->x);
    (void)gpu_mem_free(acc->dev, acc->y);
    free(acc);
}

static rmpi_status_t acc_kernel(acc_t *acc)
{
    if (gpu_builtin_available()) {
        return gpu_builtin_function(acc->dev, "saxpy", &acc->saxpy);
    }
    if (!use_ptx()) {
        return RMPI_OK; /* acc_has_kernel says so */
    }
    if (gpu_module_load(acc->dev, saxpy_ptx, &acc->module) != RMPI_OK) {
        return RMPI_ERR_DEVICE;
    }
    return gpu_module_function(acc->module, "saxpy", &acc->saxpy);
}

/* Constructor: x[i] = i + 1 and y = 0 on the actor's device. */
static rmpi_status_t acc_new(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs)
{
    acc_t        *acc = calloc(1, sizeof(*acc));
    static float  x[N], zero[N];
    rmpi_status_t status;

    (void)args, (void)nargs;
    if (acc == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    atomic_fetch_add(&ctor_runs, 1);
    acc->dev = rmpi_task_gpu(ctx);
    for (int i = 0; i < N; ++i) {
        x[i] = (float)(i + 1);
    }
    status = gpu_mem_alloc(acc->dev, sizeof(x), &acc->x);
    if (status == RMPI_OK) {
        status = gpu_mem_alloc(acc->dev, sizeof(zero), &acc->y);
    }
    if (status == RMPI_OK) {
        status = gpu_memcpy_h2d(acc->dev, acc->x, x, sizeof(x));
    }
    if (status == RMPI_OK) {
        status = gpu_memcpy_h2d(acc->dev, acc->y, zero, sizeof(zero));
    }
    if (status == RMPI_OK) {
        status = acc_kernel(acc);
    }
    if (rmpi_actor_set_state(ctx, acc) != RMPI_OK) { /* the destructor frees what was made */
        acc_free(acc);
        return RMPI_ERR_INVALID_ARG;
    }
    return status;
}

static void __attribute__((constructor)) register_acc(void)
{
    (void)rmpi_register_actor_class("Acc", acc_new, acc_free);
}

RMPI_ACTOR_METHOD(Acc, where)
{
    (void)args, (void)nargs;
    return probe(ctx, ((acc_t *)rmpi_actor_state(ctx))->dev);
}

RMPI_ACTOR_METHOD(Acc, has_kernel)
{
    int has = ((acc_t *)rmpi_actor_state(ctx))->saxpy != NULL;

    (void)args, (void)nargs;
    return rmpi_return(ctx, 0, &has, sizeof(has));
}

/* axpy(a): queued on the call's stream and not synchronized: the runtime does that. */
RMPI_ACTOR_METHOD(Acc, axpy)
{
    acc_t      *acc    = rmpi_actor_state(ctx);
    launch_fn_t launch = (launch_fn_t)gpu_driver_symbol("cuLaunchKernel");
    int         n      = N;
    float       a;
    void       *stream, *params[] = {&n, &a, &acc->x, &acc->y};

    if (nargs != 1 || args[0].size != sizeof(a) || acc->saxpy == NULL || launch == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&a, args[0].data, sizeof(a));
    if (rmpi_task_stream(ctx, &stream) != RMPI_OK) {
        return RMPI_ERR_DEVICE;
    }
    /* The driver itself, not gpu/: it needs the actor's context current. */
    if (launch(gpu_function_native(acc->saxpy), (N + 255) / 256, 1, 1, 256, 1, 1, 0, stream, params,
               NULL) != 0) {
        return RMPI_ERR_DEVICE;
    }
    return rmpi_return(ctx, 0, &n, sizeof(n));
}

RMPI_ACTOR_METHOD(Acc, read)
{
    acc_t    *acc  = rmpi_actor_state(ctx);
    dtoh_fn_t dtoh = (dtoh_fn_t)gpu_driver_symbol("cuMemcpyDtoH_v2");
    float     y[N];

    (void)args, (void)nargs;
    if (dtoh == NULL || dtoh(y, acc->y, sizeof(y)) != 0) {
        return RMPI_ERR_DEVICE;
    }
    return rmpi_return(ctx, 0, y, sizeof(y));
}

/* meet(): returns the probe once three calls are in it at the same time. */
RMPI_ACTOR_METHOD(Acc, meet)
{
    (void)args, (void)nargs;
    pthread_barrier_wait(&meet_barrier);
    return probe(ctx, ((acc_t *)rmpi_actor_state(ctx))->dev);
}

/* --- Fib: an async actor whose calls wait as fibres ------------------------------------- */

static rmpi_status_t fib_new(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs)
{
    static int dev;

    (void)args, (void)nargs;
    dev = rmpi_task_gpu(ctx);
    return rmpi_actor_set_state(ctx, &dev);
}

static void __attribute__((constructor)) register_fib(void)
{
    (void)rmpi_register_actor_class("Fib", fib_new, NULL);
}

RMPI_ACTOR_METHOD(Fib, where)
{
    (void)args, (void)nargs;
    return probe(ctx, *(int *)rmpi_actor_state(ctx));
}

/* hold(gate ref as bytes): waits for the gate in rmpi_get (the fibre suspends), then probes. */
RMPI_ACTOR_METHOD(Fib, hold)
{
    rmpi_ref_t    gate;
    rmpi_object_t obj;

    if (nargs != 1 || args[0].size != sizeof(gate)) {
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&gate, args[0].data, sizeof(gate));
    sem_post(&entered);
    if (rmpi_get(&gate, 1, TIMEOUT, &obj) != RMPI_OK) {
        return RMPI_ERR_TIMEOUT;
    }
    rmpi_object_release(&obj);
    return probe(ctx, *(int *)rmpi_actor_state(ctx));
}

RMPI_REMOTE(gate)
{
    int i;

    if (nargs != 1 || args[0].size != sizeof(i)) {
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&i, args[0].data, sizeof(i));
    sem_wait(&gates[i]);
    return rmpi_return(ctx, 0, &i, sizeof(i));
}

/* --- helpers ---------------------------------------------------------------------------- */

/* A bounded sem_wait: a broken runtime fails the test instead of hanging it. */
static void sem_wait_for(sem_t *sem)
{
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)TIMEOUT;
    assert_int_equal(sem_timedwait(sem, &deadline), 0);
}

static void get_bytes(rmpi_ref_t ref, void *out, size_t size)
{
    rmpi_object_t obj;

    assert_int_equal(rmpi_get(&ref, 1, TIMEOUT, &obj), RMPI_OK);
    assert_int_equal(obj.size, size);
    memcpy(out, obj.data, size);
    rmpi_object_release(&obj);
    assert_int_equal(rmpi_ref_free(ref), RMPI_OK);
}

static void call(rmpi_actor_t actor, const char *method, const rmpi_task_arg_t *args, size_t nargs,
                 void *out, size_t size)
{
    rmpi_ref_t ref;

    assert_int_equal(rmpi_actor_call(actor, method, args, nargs, NULL, &ref), RMPI_OK);
    get_bytes(ref, out, size);
}

static rmpi_actor_t create(const char *cls, double gpus, uint64_t more,
                           const rmpi_actor_options_t *extra)
{
    rmpi_actor_options_t opts = extra != NULL ? *extra : (rmpi_actor_options_t){0};
    rmpi_actor_t         actor;

    opts.field_mask |= RMPI_ACTOR_OPT_NUM_GPUS | more;
    opts.num_gpus = gpus;
    assert_int_equal(rmpi_actor_create(cls, NULL, 0, &opts, &actor), RMPI_OK);
    return actor;
}

/* The probe of a call on @a actor, checked: a device, current, with a stream. */
static int device_of(rmpi_actor_t actor)
{
    int out[4];

    call(actor, "where", NULL, 0, out, sizeof(out));
    assert_true(out[0] >= 0 && out[0] < gpu_device_count());
    assert_int_equal(out[1], out[0]); /* its context is current */
    assert_int_equal(out[2], RMPI_OK);
    assert_int_equal(out[3], out[0]); /* the device the constructor had */
    return out[0];
}

static void kill_now(rmpi_actor_t actor)
{
    assert_int_equal(rmpi_actor_kill(actor, RMPI_ACTOR_KILL_NO_RESTART), RMPI_OK);
}

/* --- tests ------------------------------------------------------------------------------ */

static void test_state_across_calls(void **state)
{
    rmpi_actor_t    actor = create("Acc", 1, 0, NULL);
    float           a[2]  = {2.0f, 0.5f}, y[N];
    rmpi_task_arg_t arg;
    int             dev = device_of(actor), has;

    (void)state;
    assert_int_equal(device_of(actor), dev); /* every call, the same device */
    call(actor, "has_kernel", NULL, 0, &has, sizeof(has));
    if (!has) {
        print_message("saxpy part skipped: no built-in kernels (no nvcc) on the real driver\n");
        kill_now(actor);
        return;
    }
    for (int i = 0; i < 2; ++i) {
        int n;

        arg = rmpi_arg_value(&a[i], sizeof(a[i]));
        call(actor, "axpy", &arg, 1, &n, sizeof(n));
        assert_int_equal(n, N);
    }
    call(actor, "read", NULL, 0, y, sizeof(y)); /* the state two calls left on the device */
    for (int i = 0; i < N; ++i) {
        assert_float_equal(y[i], 2.5f * (float)(i + 1), 1e-3);
    }
    kill_now(actor);
}

static void test_concurrent_calls(void **state)
{
    rmpi_actor_options_t opts  = {.max_concurrency = 3};
    rmpi_actor_t         actor = create("Acc", 0.5, RMPI_ACTOR_OPT_MAX_CONCURRENCY, &opts);
    rmpi_ref_t           refs[3];
    int                  out[4], dev = device_of(actor);

    (void)state;
    pthread_barrier_init(&meet_barrier, NULL, 3);
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(rmpi_actor_call(actor, "meet", NULL, 0, NULL, &refs[i]), RMPI_OK);
    }
    for (int i = 0; i < 3; ++i) { /* three threads at once, each with the actor's device */
        get_bytes(refs[i], out, sizeof(out));
        assert_int_equal(out[0], dev);
        assert_int_equal(out[1], dev);
        assert_int_equal(out[2], RMPI_OK);
    }
    pthread_barrier_destroy(&meet_barrier);
    kill_now(actor);
}

/*
 * Two calls of an async actor wait in rmpi_get as fibres of one thread; the
 * first one to start ends first. The second must still find the actor's
 * context current when it resumes.
 */
static void test_async_fibres(void **state)
{
    rmpi_actor_options_t opts  = {.async = 1};
    rmpi_actor_t         actor = create("Fib", 1, RMPI_ACTOR_OPT_ASYNC, &opts);
    rmpi_ref_t           gate_refs[2], holds[2];
    int                  out[4];

    (void)state;
    for (int i = 0; i < 2; ++i) {
        rmpi_task_arg_t arg = rmpi_arg_value(&i, sizeof(i));

        sem_init(&gates[i], 0, 0);
        assert_int_equal(rmpi_submit("gate", &arg, 1, NULL, &gate_refs[i]), RMPI_OK);
    }
    sem_init(&entered, 0, 0);
    for (int i = 0; i < 2; ++i) {
        rmpi_task_arg_t arg = rmpi_arg_value(&gate_refs[i], sizeof(gate_refs[i]));

        assert_int_equal(rmpi_actor_call(actor, "hold", &arg, 1, NULL, &holds[i]), RMPI_OK);
    }
    sem_wait_for(&entered); /* both calls started: the first waits in its fibre */
    sem_wait_for(&entered);
    sem_post(&gates[0]);
    get_bytes(holds[0], out, sizeof(out));
    assert_true(out[0] >= 0);
    assert_int_equal(out[1], out[0]);
    sem_post(&gates[1]);
    get_bytes(holds[1], out, sizeof(out));
    assert_int_equal(out[0], out[3]); /* the constructor's device */
    assert_int_equal(out[1], out[0]); /* still current after the other fibre left */
    assert_int_equal(out[2], RMPI_OK);
    for (int i = 0; i < 2; ++i) {
        int n;

        get_bytes(gate_refs[i], &n, sizeof(n));
        sem_destroy(&gates[i]);
    }
    sem_destroy(&entered);
    kill_now(actor);
}

/*
 * Shares are held for life: two halves pack on one device, the third goes
 * to the other; a whole-GPU actor then waits until a kill frees a device.
 */
static void test_shares_held_for_life(void **state)
{
    rmpi_actor_t half[3], whole[2];
    int          dev[3];

    (void)state;
    if (gpu_device_count() != 2) {
        skip(); /* the layout below is for two devices */
    }
    for (int i = 0; i < 3; ++i) {
        half[i] = create("Acc", 0.5, 0, NULL);
        dev[i]  = device_of(half[i]); /* created, so its share is taken */
    }
    assert_int_equal(dev[1], dev[0]);
    assert_int_not_equal(dev[2], dev[0]);
    whole[0] = create("Acc", 1, 0, NULL);
    assert_int_equal(rmpi_actor_wait_ready(whole[0], 0.2), RMPI_ERR_TIMEOUT); /* no device free */
    kill_now(half[2]);
    assert_int_equal(device_of(whole[0]), dev[2]); /* the freed device */
    whole[1] = create("Acc", 1, 0, NULL);
    kill_now(half[0]); /* half[1] still holds the other half */
    assert_int_equal(rmpi_actor_wait_ready(whole[1], 0.2), RMPI_ERR_TIMEOUT);
    kill_now(half[1]);
    assert_int_equal(device_of(whole[1]), dev[0]);
    kill_now(whole[0]);
    kill_now(whole[1]);
}

/* A killed actor with restarts left is constructed again, with a device again. */
static void test_restart_gets_gpu(void **state)
{
    rmpi_actor_options_t opts  = {.max_restarts = 1};
    rmpi_actor_t         actor = create("Acc", 1, RMPI_ACTOR_OPT_MAX_RESTARTS, &opts);
    int                  ctors;

    (void)state;
    (void)device_of(actor);
    ctors = atomic_load(&ctor_runs);
    assert_int_equal(rmpi_actor_kill(actor, 0), RMPI_OK);
    (void)device_of(actor); /* the new incarnation's call: checked like the first */
    assert_int_equal(atomic_load(&ctor_runs), ctors + 1);
    kill_now(actor);
}

static void test_cpu_actor_has_no_gpu(void **state)
{
    rmpi_actor_t actor;
    int          out[4];

    (void)state;
    assert_int_equal(rmpi_actor_create("Fib", NULL, 0, NULL, &actor), RMPI_OK);
    call(actor, "where", NULL, 0, out, sizeof(out));
    assert_int_equal(out[0], -1);
    assert_int_equal(out[3], -1);
    assert_int_equal(out[2], RMPI_ERR_NO_DEVICE);
    kill_now(actor);
}

static void test_bad_options(void **state)
{
    double       bad[] = {-1, -0.5, NAN, INFINITY, 1.5};
    rmpi_actor_t actor;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        rmpi_actor_options_t opts = {.field_mask = RMPI_ACTOR_OPT_NUM_GPUS, .num_gpus = bad[i]};

        assert_int_equal(rmpi_actor_create("Acc", NULL, 0, &opts, &actor), RMPI_ERR_INVALID_ARG);
    }
    rmpi_actor_options_t opts = {.field_mask = RMPI_ACTOR_OPT_NUM_GPUS,
                                 .num_gpus   = gpu_device_count() + 1};
    assert_int_equal(rmpi_actor_create("Acc", NULL, 0, &opts, &actor), RMPI_ERR_INFEASIBLE);
    opts.field_mask = RMPI_ACTOR_OPT_LAST;
    assert_int_equal(rmpi_actor_create("Acc", NULL, 0, &opts, &actor), RMPI_ERR_INVALID_ARG);
}

/* Every actor above was destroyed by shutdown at the latest, each in its device's context. */
static void test_destructors_ran(void **state)
{
    (void)state;
    assert_int_equal(rmpi_shutdown(), RMPI_OK);
    assert_true(atomic_load(&ctor_runs) > 0);
    assert_int_equal(atomic_load(&dtor_runs), atomic_load(&ctor_runs));
    assert_int_equal(atomic_load(&dtor_on_device), atomic_load(&dtor_runs));
}

static int setup(void **state)
{
    static const char *const config[] = {"RT_NUM_CPUS=4"};
    rmpi_init_params_t       params   = {
                .field_mask = RMPI_INIT_PARAM_CONFIG, .config = config, .num_config = 1};

    (void)state;
    if (getenv("RAYMPI_GPU_TEST_REAL") == NULL) {
        setenv("RAYMPI_GPU_LIBCUDA", GPU_TEST_DOUBLE_PATH, 1);
        setenv("RMPI_CUDA_DOUBLE_DEVICES", "2", 1);
    }
    setenv("RAYMPI_STORE_ARENA_SIZE", "64M", 1);
    return rmpi_init(NULL, NULL, &params) == RMPI_OK && gpu_device_count() > 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_across_calls), cmocka_unit_test(test_concurrent_calls),
        cmocka_unit_test(test_async_fibres),       cmocka_unit_test(test_shares_held_for_life),
        cmocka_unit_test(test_restart_gets_gpu),   cmocka_unit_test(test_cpu_actor_has_no_gpu),
        cmocka_unit_test(test_bad_options),        cmocka_unit_test(test_destructors_ran),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
