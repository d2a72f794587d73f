/*
 * examples/gpu_pipeline.c - a pipeline of GPU tasks passing device objects.
 *
 *     ray-mpi -n 4 ./gpu_pipeline [ELEMENTS]
 *
 * Every array stays in GPU memory: fill(k) returns a device object of
 * ELEMENTS floats (default 1 << 20) with x_j = k + (j mod 1024); saxpy(a, X,
 * Y) returns a new device object a X + Y, computed by the library's built-in
 * kernel from its arguments. The driver chains
 *
 *     X = fill(1), Y = fill(2), Z = saxpy(2, X, Y), W = saxpy(3, Z, X)
 *
 * passing refs only, so W = 7 X + 3 Y, element j = 13 + 10 (j mod 1024).
 * The stages are spread over the ranks: a GPU task on the rank and device
 * that made an argument reads it in place; one elsewhere gets a copy
 * (device -> host -> remote -> device) the runtime makes for it. Finally a CPU task sums W (device
 * objects reach CPU tasks as host bytes) and only the sum comes back. The last line:
 *
 *     RESULT elements=1048576 sum=5457838080 expected=5457838080 ok
 *
 * Needs GPUs (or the CUDA driver double of the tests); exits 2 without them.
 */
#include <raympi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const rmpi_array_desc_t *float_vector(rmpi_array_desc_t *desc, uint64_t n)
{
    memset(desc, 0, sizeof(*desc));
    desc->dtype    = RMPI_DTYPE_FLOAT32;
    desc->ndim     = 1;
    desc->shape[0] = n;
    return desc;
}

/* fill(float k, uint64 n) -> device float32[n], x_j = k + (j mod 1024) */
RMPI_REMOTE(fill)
{
    rmpi_array_desc_t desc;
    float             k, *host;
    uint64_t          n, dst;
    rmpi_status_t     status;

    if (nargs != 2 || args[0].size != sizeof(k) || args[1].size != sizeof(n)) {
        rmpi_task_error(ctx, "fill expects a float and a uint64");
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&k, args[0].data, sizeof(k));
    memcpy(&n, args[1].data, sizeof(n));
    host = malloc(n * sizeof(float));
    if (host == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    for (uint64_t j = 0; j < n; j++) {
        host[j] = k + (float)(j % 1024);
    }
    status = rmpi_return_device(ctx, 0, n * sizeof(float), float_vector(&desc, n), &dst);
    if (status == RMPI_OK) {
        status = rmpi_gpu_copy_to_device(ctx, dst, host, n * sizeof(float));
    }
    if (status == RMPI_OK) {
        status = rmpi_gpu_sync(ctx); /* before host goes */
    }
    free(host);
    return status;
}

/* saxpy(float a, device float32[n] X, device float32[n] Y) -> device float32[n] a X + Y */
RMPI_REMOTE(saxpy)
{
    rmpi_array_desc_t desc;
    rmpi_gpu_kernel_h kernel;
    float             a;
    int               n;
    uint64_t          x, out;
    rmpi_status_t     status;

    if (nargs != 3 || args[0].size != sizeof(a) || args[1].size != args[2].size ||
        args[1].device != rmpi_task_gpu(ctx) || args[2].device != rmpi_task_gpu(ctx)) {
        rmpi_task_error(ctx, "saxpy expects a float and two device vectors of one length");
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&a, args[0].data, sizeof(a));
    n = (int)(args[1].size / sizeof(float));
    x = rmpi_arg_devptr(&args[1]);
    if ((status = rmpi_gpu_builtin_kernel(ctx, "saxpy", &kernel)) != RMPI_OK ||
        (status = rmpi_return_device(ctx, 0, args[2].size, float_vector(&desc, (uint64_t)n),
                                     &out)) != RMPI_OK ||
        (status = rmpi_gpu_copy_on_device(ctx, out, rmpi_arg_devptr(&args[2]), args[2].size)) !=
            RMPI_OK) {
        return status;
    }
    void *kargs[] = {&n, &a, &x, &out};

    return rmpi_gpu_launch(ctx, kernel, (rmpi_gpu_dim3_t){(unsigned)(n + 255) / 256, 1, 1},
                           (rmpi_gpu_dim3_t){256, 1, 1}, 0, kargs);
}

/* total(float32[n] W) -> double sum (on the host: a CPU task) */
RMPI_REMOTE(total)
{
    const float *w   = args[0].data;
    double       sum = 0;

    if (nargs != 1 || args[0].device != -1) {
        return RMPI_ERR_INVALID_ARG;
    }
    for (size_t j = 0; j < args[0].size / sizeof(float); j++) {
        sum += w[j];
    }
    return rmpi_return(ctx, 0, &sum, sizeof(sum));
}

static rmpi_status_t submit(const char *fn, const rmpi_task_arg_t *args, size_t nargs, double gpus,
                            rmpi_ref_t *ref)
{
    /* Spread: successive stages run on different ranks, so device objects travel. */
    rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_NUM_GPUS | RMPI_TASK_OPT_STRATEGY,
                                .num_gpus   = gpus,
                                .strategy   = RMPI_SCHED_SPREAD};

    return rmpi_submit(fn, args, nargs, &opts, ref);
}

int main(int argc, char **argv)
{
    uint64_t      n   = argc > 1 ? strtoull(argv[1], NULL, 0) : (1u << 20);
    float         one = 1, two = 2, three = 3;
    rmpi_ref_t    x, y, z, w, s;
    rmpi_object_t out;
    double        expected = 0, sum = 0;
    rmpi_status_t status;

    if (rmpi_init(&argc, &argv, NULL) != RMPI_OK) {
        return 1;
    }
    rmpi_task_arg_t fx[2] = {rmpi_arg_value(&one, sizeof(one)), rmpi_arg_value(&n, sizeof(n))};
    rmpi_task_arg_t fy[2] = {rmpi_arg_value(&two, sizeof(two)), rmpi_arg_value(&n, sizeof(n))};

    if ((status = submit("fill", fx, 2, 0.5, &x)) != RMPI_OK ||
        (status = submit("fill", fy, 2, 0.5, &y)) != RMPI_OK) {
        fprintf(stderr, "gpu_pipeline: %s (no GPU in the job?)\n", rmpi_status_str(status));
        rmpi_shutdown();
        return 2;
    }
    rmpi_task_arg_t sz[3] = {rmpi_arg_value(&two, sizeof(two)), rmpi_arg_ref(x), rmpi_arg_ref(y)};
    (void)submit("saxpy", sz, 3, 0.5, &z);
    rmpi_task_arg_t sw[3] = {rmpi_arg_value(&three, sizeof(three)), rmpi_arg_ref(z),
                             rmpi_arg_ref(x)};
    (void)submit("saxpy", sw, 3, 0.5, &w);
    rmpi_task_arg_t st = rmpi_arg_ref(w);
    (void)submit("total", &st, 1, 0, &s);

    status = rmpi_get(&s, 1, -1, &out);
    if (status == RMPI_OK) {
        memcpy(&sum, out.data, sizeof(sum));
    } else {
        fprintf(stderr, "gpu_pipeline: %s: %s\n", rmpi_status_str(status), out.error);
    }
    rmpi_object_release(&out);
    for (uint64_t j = 0; j < n; j++) {
        expected += 13.0 + 10.0 * (double)(j % 1024);
    }
    rmpi_ref_free(x), rmpi_ref_free(y), rmpi_ref_free(z), rmpi_ref_free(w), rmpi_ref_free(s);
    printf("RESULT elements=%llu sum=%.0f expected=%.0f %s\n", (unsigned long long)n, sum, expected,
           status == RMPI_OK && sum == expected ? "ok" : "FAILED");
    return rmpi_shutdown() == RMPI_OK && sum == expected ? 0 : 1;
}
