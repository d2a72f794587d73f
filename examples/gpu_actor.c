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
 * stream (rmpi_gpu_launch) without waiting: the runtime synchronizes that stream
 * before the call's result is sealed, so the next call, read(), sees the sum. The
 * constructor, every call and the destructor run with the actor's device context
 * current. The last line is for scripts:
 *
 *     RESULT actors=2 steps=10 n=4096 error=0 ok
 *
 * "ok" when every actor's y[i] is (i + 1) * STEPS * (STEPS + 1) / 2.
 *
 * The kernel is the library's built-in saxpy (rmpi_gpu_builtin_kernel); device
 * memory that lives as long as the actor comes from rmpi_gpu_alloc. Needs GPUs
 * (or the CUDA driver double of the tests) and a library built with nvcc;
 * without them it says so.
 */
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

/* --- the actor ---------------------------------------------------------------------------- */

typedef struct ga_state {
    int               dev;
    rmpi_gpu_kernel_h saxpy;
    uint64_t          x, y;
} ga_state_t;

static void ga_free(void *state)
{
    ga_state_t *ga = state;

    /* The runtime made the actor's device current for its destructor, too. */
    if (ga->y != 0) {
        rmpi_gpu_free(ga->dev, ga->y);
    }
    if (ga->x != 0) {
        rmpi_gpu_free(ga->dev, ga->x);
    }
    free(ga);
}

static rmpi_status_t ga_setup(rmpi_task_ctx_h ctx, ga_state_t *ga)
{
    static float  x[GA_N], zero[GA_N];
    rmpi_status_t status;

    for (int i = 0; i < GA_N; ++i) {
        x[i] = (float)(i + 1);
    }
    if ((status = rmpi_gpu_builtin_kernel(ctx, "saxpy", &ga->saxpy)) != RMPI_OK ||
        (status = rmpi_gpu_alloc(ctx, sizeof(x), &ga->x)) != RMPI_OK ||
        (status = rmpi_gpu_alloc(ctx, sizeof(zero), &ga->y)) != RMPI_OK ||
        (status = rmpi_gpu_copy_to_device(ctx, ga->x, x, sizeof(x))) != RMPI_OK ||
        (status = rmpi_gpu_copy_to_device(ctx, ga->y, zero, sizeof(zero))) != RMPI_OK) {
        return status;
    }
    return rmpi_gpu_sync(ctx); /* x and zero are static, but say when the copies are done */
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
    status  = ga_setup(ctx, ga);
    if (status != RMPI_OK) {
        rmpi_task_error(ctx, "saxpy actor: the GPU setup on device %d failed: %s", ga->dev,
                        rmpi_status_str(status));
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
    void       *params[] = {&n, &a, &ga->x, &ga->y};

    if (nargs != 1 || args[0].size != sizeof(a)) {
        rmpi_task_error(ctx, "axpy expects one float");
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&a, args[0].data, sizeof(a));
    if (rmpi_gpu_launch(ctx, ga->saxpy, (rmpi_gpu_dim3_t){GA_GRID, 1, 1},
                        (rmpi_gpu_dim3_t){256, 1, 1}, 0, params) != RMPI_OK) {
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
        rmpi_gpu_copy_to_host(ctx, buf, ga->y, GA_N * sizeof(float)) != RMPI_OK) {
        rmpi_task_error(ctx, "read: the copy from device %d failed", ga->dev);
        return RMPI_ERR_DEVICE;
    }
    return RMPI_OK; /* the copy finishes before the return is sealed */
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
