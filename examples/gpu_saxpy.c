/*
 * examples/gpu_saxpy.c - SAXPY in GPU tasks, four of them sharing one GPU.
 *
 *     ray-mpi -n 2 ./gpu_saxpy [ELEMENTS]
 *
 * The driver splits y = a x + y over ELEMENTS floats (default 1 << 20) into 4
 * chunks and submits one task per chunk asking for 0.25 GPU on the last rank,
 * so all four fit one device at once (fractional packing). Each task copies
 * its chunk to the device, runs the library's built-in "saxpy" kernel on the
 * task's stream and copies the result back into its return; the runtime
 * synchronizes the stream before the return is sealed. The driver checks
 * every element (x_j = j mod 1000, y_j = 1, a = 2: exact in float) and that
 * the four tasks ran on the same rank and device. The last line:
 *
 *     RESULT elements=1048576 errors=0 tasks=4 packed=1 ok
 *
 * Needs a GPU on the last rank (or the CUDA driver double of the tests); says
 * so and exits 2 without one.
 */
#include <raympi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAXPY_CHUNKS 4
#define SAXPY_A 2.0f

/* Where a chunk ran (its second return). */
typedef struct saxpy_where {
    int rank;
    int gpu;
} saxpy_where_t;

/* saxpy_chunk(float a, float x[n], float y[n]) -> float[n] a x + y, and where it ran */
RMPI_REMOTE(saxpy_chunk)
{
    rmpi_gpu_kernel_h kernel;
    saxpy_where_t     where = {rmpi_rank(), rmpi_task_gpu(ctx)};
    uint64_t          dx, dy;
    float             a;
    int               n;
    void             *out;
    rmpi_status_t     status;

    if (nargs != 3 || args[0].size != sizeof(a) || args[1].size != args[2].size) {
        rmpi_task_error(ctx, "saxpy_chunk expects a, x[n], y[n]");
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&a, args[0].data, sizeof(a));
    n = (int)(args[1].size / sizeof(float));
    if ((status = rmpi_gpu_builtin_kernel(ctx, "saxpy", &kernel)) != RMPI_OK ||
        (status = rmpi_gpu_scratch(ctx, args[1].size, &dx)) != RMPI_OK ||
        (status = rmpi_gpu_scratch(ctx, args[2].size, &dy)) != RMPI_OK ||
        (status = rmpi_gpu_copy_to_device(ctx, dx, args[1].data, args[1].size)) != RMPI_OK ||
        (status = rmpi_gpu_copy_to_device(ctx, dy, args[2].data, args[2].size)) != RMPI_OK) {
        return status;
    }
    void *kargs[] = {&n, &a, &dx, &dy};

    status = rmpi_gpu_launch(ctx, kernel, (rmpi_gpu_dim3_t){(unsigned)(n + 255) / 256, 1, 1},
                             (rmpi_gpu_dim3_t){256, 1, 1}, 0, kargs);
    if (status == RMPI_OK) {
        status = rmpi_return_alloc(ctx, 0, args[2].size, NULL, &out);
    }
    if (status == RMPI_OK) {
        status = rmpi_gpu_copy_to_host(ctx, out, dy, args[2].size);
    }
    if (status == RMPI_OK) {
        status = rmpi_return(ctx, 1, &where, sizeof(where));
    }
    return status;
}

static int saxpy_check(const float *y, size_t first, size_t n)
{
    int errors = 0;

    for (size_t j = 0; j < n; j++) {
        errors += y[j] != SAXPY_A * (float)((first + j) % 1000) + 1.0f;
    }
    return errors;
}

int main(int argc, char **argv)
{
    size_t              n     = argc > 1 ? strtoul(argv[1], NULL, 0) : (1u << 20);
    size_t              chunk = n / SAXPY_CHUNKS;
    float              *x, *y, a = SAXPY_A;
    rmpi_ref_t          refs[SAXPY_CHUNKS][2];
    saxpy_where_t       where[SAXPY_CHUNKS];
    int                 errors = 0, packed = 1;
    rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_NUM_GPUS | RMPI_TASK_OPT_NUM_RETURNS |
                                              RMPI_TASK_OPT_STRATEGY,
                                .num_gpus    = 1.0 / SAXPY_CHUNKS,
                                .num_returns = 2,
                                .strategy    = RMPI_SCHED_RANK_AFFINITY};

    if (rmpi_init(&argc, &argv, NULL) != RMPI_OK) {
        return 1;
    }
    x = malloc(chunk * SAXPY_CHUNKS * sizeof(float));
    y = malloc(chunk * SAXPY_CHUNKS * sizeof(float));
    if (chunk == 0 || x == NULL || y == NULL) {
        fprintf(stderr, "gpu_saxpy: need at least %d elements and memory for them\n", SAXPY_CHUNKS);
        return 2;
    }
    for (size_t j = 0; j < chunk * SAXPY_CHUNKS; j++) {
        x[j] = (float)(j % 1000);
        y[j] = 1.0f;
    }
    opts.affinity_rank = rmpi_size() - 1;
    for (int c = 0; c < SAXPY_CHUNKS; c++) {
        rmpi_task_arg_t args[3] = {rmpi_arg_value(&a, sizeof(a)),
                                   rmpi_arg_value(x + c * chunk, chunk * sizeof(float)),
                                   rmpi_arg_value(y + c * chunk, chunk * sizeof(float))};
        rmpi_status_t   status  = rmpi_submit("saxpy_chunk", args, 3, &opts, refs[c]);

        if (status != RMPI_OK) {
            fprintf(stderr, "gpu_saxpy: %s (does rank %d have a GPU?)\n", rmpi_status_str(status),
                    opts.affinity_rank);
            rmpi_shutdown();
            return 2;
        }
    }
    for (int c = 0; c < SAXPY_CHUNKS; c++) {
        rmpi_object_t out[2];

        if (rmpi_get(refs[c], 2, -1, out) != RMPI_OK) {
            fprintf(stderr, "gpu_saxpy: chunk %d failed: %s\n", c, out[0].error);
            errors++;
        } else {
            errors += saxpy_check(out[0].data, c * chunk, chunk);
            memcpy(&where[c], out[1].data, sizeof(where[c]));
            packed &= where[c].rank == where[0].rank && where[c].gpu == where[0].gpu;
        }
        rmpi_object_release(&out[0]);
        rmpi_object_release(&out[1]);
        rmpi_ref_free(refs[c][0]);
        rmpi_ref_free(refs[c][1]);
    }
    printf("RESULT elements=%zu errors=%d tasks=%d packed=%d %s\n", chunk * SAXPY_CHUNKS, errors,
           SAXPY_CHUNKS, packed, errors == 0 && packed ? "ok" : "FAILED");
    free(x);
    free(y);
    return rmpi_shutdown() == RMPI_OK && errors == 0 ? 0 : 1;
}
