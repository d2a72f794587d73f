/*
 * examples/parameter_server.c - an asynchronous parameter server: one actor holds
 * the model, worker tasks on every rank pull it, compute a gradient and push it.
 *
 *     ray-mpi -n 4 ./parameter_server [WORKERS [STEPS]]
 *
 * The model is DIM weights fitted to the target t[i] = i by gradient steps on
 * (w - t)^2 / 2. The driver creates the "ParameterServer" actor (named, so
 * workers could also find it with rmpi_actor_get), submits WORKERS tasks (default
 * 8), each with the actor's handle as an argument: a handle is a value. Every
 * worker does STEPS rounds (default 50) of get_weights, gradient, apply. The
 * actor applies updates one at a time, in arrival order (its calls never run
 * concurrently: max_concurrency 1), and counts them. The last line is for scripts:
 *
 *     RESULT updates=400 error=0.000001 workers=8 steps=50 ok
 *
 * "ok" when every update was applied and the weights are within 1e-3 of the target.
 */
#include <math.h>
#include <raympi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PS_DIM 16
#define PS_RATE 0.1
#define PS_TIMEOUT 120.0

typedef struct ps_state {
    double   weights[PS_DIM];
    uint64_t updates;
} ps_state_t;

/* --- the actor --------------------------------------------------------------------- */

static rmpi_status_t ps_new(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs)
{
    ps_state_t *ps = calloc(1, sizeof(*ps));

    (void)args, (void)nargs;
    return ps != NULL ? rmpi_actor_set_state(ctx, ps) : RMPI_ERR_NO_MEMORY;
}

static void __attribute__((constructor)) ps_register(void)
{
    (void)rmpi_register_actor_class("ParameterServer", ps_new, free);
}

RMPI_ACTOR_METHOD(ParameterServer, get_weights)
{
    ps_state_t *ps = rmpi_actor_state(ctx);

    (void)args, (void)nargs;
    return rmpi_return(ctx, 0, ps->weights, sizeof(ps->weights));
}

/* apply(double gradient[PS_DIM]) -> uint64 updates so far */
RMPI_ACTOR_METHOD(ParameterServer, apply)
{
    ps_state_t *ps = rmpi_actor_state(ctx);
    double      g[PS_DIM];

    if (nargs != 1 || args[0].size != sizeof(g)) {
        rmpi_task_error(ctx, "apply expects %d doubles", PS_DIM);
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(g, args[0].data, sizeof(g));
    for (int i = 0; i < PS_DIM; i++) {
        ps->weights[i] -= PS_RATE * g[i];
    }
    ps->updates++;
    return rmpi_return(ctx, 0, &ps->updates, sizeof(ps->updates));
}

/* --- a worker task ---------------------------------------------------------------------- */

static rmpi_status_t ps_call(rmpi_actor_t ps, const char *method, const rmpi_task_arg_t *args,
                             size_t nargs, void *out, size_t out_size)
{
    rmpi_ref_t    ref;
    rmpi_object_t obj;
    rmpi_status_t status = rmpi_actor_call(ps, method, args, nargs, NULL, &ref);

    if (status == RMPI_OK) {
        status = rmpi_get(&ref, 1, PS_TIMEOUT, &obj);
        if (status == RMPI_OK) {
            status = obj.status != RMPI_OK ? obj.status
                                           : (obj.size == out_size ? RMPI_OK : RMPI_ERR_MESSAGE);
            if (status == RMPI_OK) {
                memcpy(out, obj.data, out_size);
            }
            rmpi_object_release(&obj);
        }
        rmpi_ref_free(ref);
    }
    return status;
}

/* ps_worker(rmpi_actor_t server, uint32 steps) -> uint32 steps done */
RMPI_REMOTE(ps_worker)
{
    rmpi_actor_t  ps;
    uint32_t      steps, done = 0;
    double        w[PS_DIM], g[PS_DIM];
    uint64_t      updates;
    rmpi_status_t status = RMPI_OK;

    if (nargs != 2 || args[0].size != sizeof(ps) || args[1].size != sizeof(steps)) {
        rmpi_task_error(ctx, "ps_worker expects a handle and a step count");
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&ps, args[0].data, sizeof(ps));
    memcpy(&steps, args[1].data, sizeof(steps));
    while (status == RMPI_OK && done < steps) {
        status = ps_call(ps, "get_weights", NULL, 0, w, sizeof(w));
        for (int i = 0; status == RMPI_OK && i < PS_DIM; i++) {
            g[i] = w[i] - (double)i; /* d/dw of (w - t)^2 / 2 */
        }
        rmpi_task_arg_t grad = rmpi_arg_value(g, sizeof(g));
        if (status == RMPI_OK) {
            status = ps_call(ps, "apply", &grad, 1, &updates, sizeof(updates));
        }
        done += status == RMPI_OK;
    }
    return status == RMPI_OK ? rmpi_return(ctx, 0, &done, sizeof(done)) : status;
}

/* --- the driver ----------------------------------------------------------------------------- */

static int ps_run(uint32_t workers, uint32_t steps)
{
    rmpi_actor_options_t opts = {.field_mask = RMPI_ACTOR_OPT_NAME, .name = "ParameterServer"};
    rmpi_actor_t         ps;
    rmpi_ref_t          *refs = calloc(workers, sizeof(*refs));
    rmpi_object_t       *objs = calloc(workers, sizeof(*objs));
    double               w[PS_DIM], error = 0;
    uint64_t             updates      = 0;
    double               zero[PS_DIM] = {0};
    rmpi_status_t status = refs && objs ? rmpi_actor_create("ParameterServer", NULL, 0, &opts, &ps)
                                        : RMPI_ERR_NO_MEMORY;

    for (uint32_t i = 0; status == RMPI_OK && i < workers; i++) {
        rmpi_task_arg_t args[2] = {rmpi_arg_value(&ps, sizeof(ps)),
                                   rmpi_arg_value(&steps, sizeof(steps))};

        status = rmpi_submit("ps_worker", args, 2, NULL, &refs[i]);
    }
    if (status == RMPI_OK) {
        status = rmpi_get(refs, workers, PS_TIMEOUT, objs);
    }
    for (uint32_t i = 0; status == RMPI_OK && i < workers; i++) {
        status = objs[i].status;
        rmpi_object_release(&objs[i]);
        rmpi_ref_free(refs[i]);
    }
    if (status == RMPI_OK) {
        status = ps_call(ps, "get_weights", NULL, 0, w, sizeof(w));
    }
    rmpi_task_arg_t none = rmpi_arg_value(zero, sizeof(zero)); /* a zero step reads the count */
    if (status == RMPI_OK) {
        status = ps_call(ps, "apply", &none, 1, &updates, sizeof(updates));
    }
    for (int i = 0; status == RMPI_OK && i < PS_DIM; i++) {
        error = fmax(error, fabs(w[i] - (double)i));
    }
    free(refs), free(objs);
    if (status != RMPI_OK) {
        fprintf(stderr, "parameter_server: %s\n", rmpi_status_str(status));
        return 1;
    }
    printf("parameter_server: %u workers x %u steps on %d ranks: max |w - t| = %.6f\n", workers,
           steps, rmpi_size(), error);
    updates -= 1; /* the zero step */
    printf("RESULT updates=%llu error=%.6f workers=%u steps=%u %s\n", (unsigned long long)updates,
           error, workers, steps,
           updates == (uint64_t)workers * steps && error < 1e-3 ? "ok" : "FAILED");
    rmpi_actor_kill(ps, RMPI_ACTOR_KILL_NO_RESTART);
    return 0;
}

int main(int argc, char **argv)
{
    uint32_t      workers = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 8;
    uint32_t      steps   = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 50;
    rmpi_status_t status  = rmpi_init(&argc, &argv, NULL);
    int           rc;

    if (status != RMPI_OK) {
        fprintf(stderr, "parameter_server: rmpi_init: %s\n", rmpi_status_str(status));
        return 1;
    }
    if (workers == 0 || steps == 0) {
        fprintf(stderr, "usage: parameter_server [WORKERS>0 [STEPS>0]]\n");
        rmpi_shutdown();
        return 2;
    }
    rc = ps_run(workers, steps);
    rmpi_shutdown();
    return rc;
}
