/*
 * examples/pipeline.c - pass futures on instead of getting them.
 *
 *     ray-mpi -n 4 ./pipeline [ELEMENTS]
 *
 * The driver computes sum(gen(1), gen(2), gen(3)) without ever holding an
 * array: gen(k) fills an array of ELEMENTS doubles (default 1 << 20, 8 MiB, so
 * it lives in the object store) with k + j at index j, and the driver passes the
 * three refs gen returned straight to sum as arguments. The runtime starts sum
 * once the arrays exist and hands them to it as read-only views - zero-copy
 * when they are on sum's node, pulled once otherwise. Only sum's 16-byte result
 * comes back to the driver, which checks it against the closed form
 *
 *     sum over k = 1..3 of (ELEMENTS * k + ELEMENTS * (ELEMENTS - 1) / 2)
 *
 * (every partial sum is a whole number below 2^53, so doubles add exactly).
 * The last line:
 *
 *     RESULT sum=1649272160256 expected=1649272160256 elements=3145728 ok
 */
#include <errno.h>
#include <raympi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PIPELINE_GENS 3
#define PIPELINE_MAX_ELEMENTS (1ul << 26) /* keeps every partial sum exact */

/* What sum returns. */
typedef struct pipeline_total {
    double   sum;
    uint64_t elements;
} pipeline_total_t;

/* gen(uint64 k, uint64 n) -> float64[n] with element j = k + j */
RMPI_REMOTE(gen)
{
    rmpi_array_desc_t desc = {.dtype = RMPI_DTYPE_FLOAT64, .ndim = 1};
    uint64_t          k, n;
    double           *out;
    rmpi_status_t     status;

    if (nargs != 2 || args[0].size != sizeof(k) || args[1].size != sizeof(n)) {
        rmpi_task_error(ctx, "gen expects two uint64 arguments, got %zu", nargs);
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&k, args[0].data, sizeof(k));
    memcpy(&n, args[1].data, sizeof(n));
    desc.shape[0] = n;
    status        = rmpi_return_alloc(ctx, 0, n * sizeof(double), &desc, (void **)&out);
    if (status != RMPI_OK) {
        return status;
    }
    for (uint64_t j = 0; j < n; j++) {
        out[j] = (double)(k + j);
    }
    return RMPI_OK;
}

/* Whether @a arg is a one-dimensional float64 array matching its size. */
static int pipeline_is_float64_vector(const rmpi_arg_t *arg)
{
    return arg->array != NULL && arg->array->dtype == RMPI_DTYPE_FLOAT64 && arg->array->ndim == 1 &&
           arg->array->shape[0] * sizeof(double) == arg->size;
}

/* sum(float64[] ...) -> pipeline_total_t over all elements of all arguments */
RMPI_REMOTE(sum)
{
    pipeline_total_t total = {0, 0};

    for (size_t i = 0; i < nargs; i++) {
        const double *values = args[i].data;
        uint64_t      n      = args[i].size / sizeof(double);

        if (!pipeline_is_float64_vector(&args[i])) {
            rmpi_task_error(ctx, "sum: argument %zu is not a float64 vector (%zu bytes)", i,
                            args[i].size);
            return RMPI_ERR_INVALID_ARG;
        }
        for (uint64_t j = 0; j < n; j++) {
            total.sum += values[j];
        }
        total.elements += n;
    }
    return rmpi_return(ctx, 0, &total, sizeof(total));
}

static double pipeline_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int pipeline_fail(const char *what, rmpi_status_t status)
{
    fprintf(stderr, "pipeline: %s: %s\n", what, rmpi_status_str(status));
    return 1;
}

/* Submit the gens, and sum over their refs; *num_refs_p counts the refs written. */
static int pipeline_submit(uint64_t n, rmpi_ref_t *refs, size_t *num_refs_p)
{
    rmpi_task_arg_t sum_args[PIPELINE_GENS];
    rmpi_status_t   status;

    for (uint64_t k = 1; k <= PIPELINE_GENS; k++) {
        rmpi_task_arg_t args[2] = {rmpi_arg_value(&k, sizeof(k)), rmpi_arg_value(&n, sizeof(n))};

        status = rmpi_submit("gen", args, 2, NULL, &refs[k - 1]);
        if (status != RMPI_OK) {
            return pipeline_fail("submit gen", status);
        }
        *num_refs_p     = k;
        sum_args[k - 1] = rmpi_arg_ref(refs[k - 1]);
    }
    status = rmpi_submit("sum", sum_args, PIPELINE_GENS, NULL, &refs[PIPELINE_GENS]);
    if (status != RMPI_OK) {
        return pipeline_fail("submit sum", status);
    }
    *num_refs_p = PIPELINE_GENS + 1;
    return 0;
}

static int pipeline_get_total(rmpi_ref_t ref, pipeline_total_t *total_p)
{
    rmpi_object_t obj;
    rmpi_status_t status = rmpi_get(&ref, 1, -1.0, &obj);

    if (status != RMPI_OK) {
        if (RMPI_IS_TASK_ERROR(status)) {
            fprintf(stderr, "pipeline: sum failed: %s\n", obj.error);
            rmpi_object_release(&obj);
        }
        return pipeline_fail("get sum", status);
    }
    if (obj.size == sizeof(*total_p)) {
        memcpy(total_p, obj.data, sizeof(*total_p));
    } else {
        status = RMPI_ERR_MESSAGE;
    }
    rmpi_object_release(&obj);
    return status == RMPI_OK ? 0 : pipeline_fail("sum returned the wrong size", status);
}

static int pipeline_run(uint64_t n)
{
    rmpi_ref_t       refs[PIPELINE_GENS + 1];
    pipeline_total_t total;
    size_t           num_refs = 0;
    double           expected = 0, t0 = pipeline_now(), seconds;
    int              rc, ok;

    rc = pipeline_submit(n, refs, &num_refs);
    if (rc == 0) {
        rc = pipeline_get_total(refs[PIPELINE_GENS], &total);
    }
    seconds = pipeline_now() - t0;
    for (size_t i = 0; i < num_refs; i++) {
        rmpi_ref_free(refs[i]);
    }
    if (rc != 0) {
        return rc;
    }
    for (uint64_t k = 1; k <= PIPELINE_GENS; k++) {
        expected += (double)(n * k + n * (n - 1) / 2);
    }
    ok = total.sum == expected && total.elements == PIPELINE_GENS * n;
    printf("sum(gen(1), gen(2), gen(3)) over %d arrays of %llu doubles (%.1f MiB each)\n",
           PIPELINE_GENS, (unsigned long long)n, (double)n * sizeof(double) / (1 << 20));
    printf("= %.0f (closed form %.0f) in %.3f s on %d ranks; the driver fetched 16 bytes\n",
           total.sum, expected, seconds, rmpi_size());
    printf("RESULT sum=%.0f expected=%.0f elements=%llu %s\n", total.sum, expected,
           (unsigned long long)total.elements, ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    unsigned long long n = 1ull << 20;
    rmpi_status_t      status;
    int                rc;

    if (argc > 1) {
        char *end;

        errno = 0;
        n     = strtoull(argv[1], &end, 10);
        if (errno != 0 || end == argv[1] || *end != '\0' || n > PIPELINE_MAX_ELEMENTS) {
            n = 0;
        }
    }
    if (argc > 2 || n == 0) {
        fprintf(stderr, "usage: %s [ELEMENTS (1 to %lu)]\n", argv[0], PIPELINE_MAX_ELEMENTS);
        return 2;
    }

    status = rmpi_init(&argc, &argv, NULL); /* worker ranks serve tasks in here */
    if (status != RMPI_OK) {
        return pipeline_fail("init", status);
    }
    rc     = pipeline_run(n);
    status = rmpi_shutdown();
    if (status != RMPI_OK) {
        rc = pipeline_fail("shutdown", status);
    }
    return rc;
}
