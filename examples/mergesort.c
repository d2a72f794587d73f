/*
 * examples/mergesort.c - nested tasks: a task that submits tasks and gets them.
 *
 *     ray-mpi -n 4 ./mergesort [KEYS [DEPTH]]
 *
 * msort(depth, keys) splits its keys in two halves, submits msort(depth - 1, half)
 * for each, gets both sorted halves and merges them; at depth 0 it sorts with
 * qsort. The driver sorts KEYS random int64 keys (default 1 << 18) with a tree of
 * DEPTH levels (default 3: 15 tasks, 8 leaves) and checks the result against
 * qsort of the same keys. A task waiting in rmpi_get gives its CPU slot back, so
 * the tree cannot deadlock however few slots the job has. The last line:
 *
 *     RESULT keys=262144 depth=3 tasks=15 sorted=1 matches_qsort=1 ok
 */
#include <errno.h>
#include <raympi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSORT_MAX_DEPTH 8u
#define MSORT_MAX_KEYS (1ul << 26)

static int msort_compare_keys(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static void msort_merge(const int64_t *a, size_t na, const int64_t *b, size_t nb, int64_t *out)
{
    size_t i = 0, j = 0, k = 0;

    while (i < na && j < nb) {
        out[k++] = b[j] < a[i] ? b[j++] : a[i++];
    }
    memcpy(out + k, a + i, (na - i) * sizeof(*a));
    memcpy(out + k + (na - i), b + j, (nb - j) * sizeof(*b));
}

static rmpi_status_t msort_return_alloc(rmpi_task_ctx_h ctx, size_t n, int64_t **out_p)
{
    rmpi_array_desc_t desc = {.dtype = RMPI_DTYPE_INT64, .ndim = 1, .shape = {n}};

    return rmpi_return_alloc(ctx, 0, n * sizeof(int64_t), &desc, (void **)out_p);
}

/* Submit msort(depth, keys[0, n)) and write its ref to *ref_p. */
static rmpi_status_t msort_submit(uint32_t depth, const int64_t *keys, size_t n, rmpi_ref_t *ref_p)
{
    rmpi_array_desc_t desc    = {.dtype = RMPI_DTYPE_INT64, .ndim = 1, .shape = {n}};
    rmpi_task_arg_t   args[2] = {rmpi_arg_value(&depth, sizeof(depth)),
                                 rmpi_arg_value(keys, n * sizeof(*keys))};

    args[1].array = &desc;
    return rmpi_submit("msort", args, 2, NULL, ref_p);
}

/* Sort both halves in child tasks and merge them into this task's return. */
static rmpi_status_t msort_split(rmpi_task_ctx_h ctx, uint32_t depth, const int64_t *keys, size_t n)
{
    size_t        half = n / 2;
    rmpi_ref_t    children[2];
    rmpi_object_t halves[2];
    int64_t      *out;
    rmpi_status_t status;

    status = msort_submit(depth - 1, keys, half, &children[0]);
    if (status != RMPI_OK) {
        return status;
    }
    status = msort_submit(depth - 1, keys + half, n - half, &children[1]);
    if (status != RMPI_OK) {
        rmpi_ref_free(children[0]);
        return status;
    }
    status = rmpi_get(children, 2, -1.0, halves);
    rmpi_ref_free(children[0]);
    rmpi_ref_free(children[1]);
    if (status != RMPI_OK) {
        if (RMPI_IS_TASK_ERROR(status)) { /* the views are written: say which half failed */
            rmpi_task_error(ctx, "sorting a half of %zu keys failed: %s", n,
                            halves[halves[0].status != RMPI_OK ? 0 : 1].error);
            rmpi_object_release(&halves[0]);
            rmpi_object_release(&halves[1]);
        }
        return status;
    }
    status = msort_return_alloc(ctx, n, &out);
    if (status == RMPI_OK) {
        msort_merge(halves[0].data, halves[0].size / sizeof(int64_t), halves[1].data,
                    halves[1].size / sizeof(int64_t), out);
    }
    rmpi_object_release(&halves[0]);
    rmpi_object_release(&halves[1]);
    return status;
}

/* msort(uint32 depth, int64[] keys) -> int64[] the keys in ascending order */
RMPI_REMOTE(msort)
{
    const int64_t *keys;
    uint32_t       depth;
    size_t         n;
    int64_t       *out;
    rmpi_status_t  status;

    if (nargs != 2 || args[0].size != sizeof(depth) || args[1].size % sizeof(int64_t) != 0) {
        rmpi_task_error(ctx, "msort expects a uint32 depth and an int64 array");
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&depth, args[0].data, sizeof(depth));
    keys = args[1].data;
    n    = args[1].size / sizeof(int64_t);
    if (depth > 0 && n >= 2) {
        return msort_split(ctx, depth, keys, n);
    }
    status = msort_return_alloc(ctx, n, &out);
    if (status == RMPI_OK) {
        memcpy(out, keys, n * sizeof(*keys));
        qsort(out, n, sizeof(*out), msort_compare_keys);
    }
    return status;
}

static double msort_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A whole number in [min, max] from @a text into *value_p; -1 if it is not one. */
static int msort_parse(const char *text, unsigned long min, unsigned long max,
                       unsigned long *value_p)
{
    char         *end;
    unsigned long value;

    errno = 0;
    value = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
        return -1;
    }
    *value_p = value;
    return 0;
}

static int msort_fail(const char *what, rmpi_status_t status)
{
    fprintf(stderr, "mergesort: %s: %s\n", what, rmpi_status_str(status));
    return 1;
}

/* Random keys of both signs (splitmix64, fixed seed: every run sorts the same keys). */
static void msort_fill_random(int64_t *keys, size_t n)
{
    uint64_t state = 42;

    for (size_t i = 0; i < n; i++) {
        uint64_t z = (state += 0x9e3779b97f4a7c15ull);

        z       = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z       = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        keys[i] = (int64_t)(z ^ (z >> 31));
    }
}

static int msort_is_sorted(const int64_t *keys, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (keys[i - 1] > keys[i]) {
            return 0;
        }
    }
    return 1;
}

/* How many msort tasks sorting @a n keys at @a depth runs. */
static unsigned msort_count_tasks(size_t n, uint32_t depth)
{
    if (depth == 0 || n < 2) {
        return 1;
    }
    return 1 + msort_count_tasks(n / 2, depth - 1) + msort_count_tasks(n - n / 2, depth - 1);
}

/* Sort @a keys with the task tree and compare with @a expected (qsort's answer). */
static int msort_check_tree(const int64_t *keys, const int64_t *expected, size_t n, uint32_t depth)
{
    rmpi_ref_t    root;
    rmpi_object_t obj;
    rmpi_status_t status;
    double        t0    = msort_now(), seconds;
    unsigned      tasks = msort_count_tasks(n, depth);
    int           sorted, matches;

    status = msort_submit(depth, keys, n, &root);
    if (status != RMPI_OK) {
        return msort_fail("submit", status);
    }
    status  = rmpi_get(&root, 1, -1.0, &obj);
    seconds = msort_now() - t0;
    rmpi_ref_free(root);
    if (status != RMPI_OK) {
        if (RMPI_IS_TASK_ERROR(status)) {
            fprintf(stderr, "mergesort: %s\n", obj.error);
            rmpi_object_release(&obj);
        }
        return msort_fail("get", status);
    }
    sorted  = obj.size == n * sizeof(int64_t) && msort_is_sorted(obj.data, n);
    matches = obj.size == n * sizeof(int64_t) && memcmp(obj.data, expected, obj.size) == 0;
    rmpi_object_release(&obj);

    printf("sorted %zu keys with a tree of %u levels (%u tasks) in %.3f s on %d ranks\n", n, depth,
           tasks, seconds, rmpi_size());
    printf("RESULT keys=%zu depth=%u tasks=%u sorted=%d matches_qsort=%d %s\n", n, depth, tasks,
           sorted, matches, sorted && matches ? "ok" : "FAIL");
    return sorted && matches ? 0 : 1;
}

static int msort_run(size_t n, uint32_t depth)
{
    int64_t *keys     = malloc(n * sizeof(*keys));
    int64_t *expected = malloc(n * sizeof(*expected));
    int      rc;

    if (keys == NULL || expected == NULL) {
        rc = msort_fail("allocating keys", RMPI_ERR_NO_MEMORY);
    } else {
        msort_fill_random(keys, n);
        memcpy(expected, keys, n * sizeof(*keys));
        qsort(expected, n, sizeof(*expected), msort_compare_keys);
        rc = msort_check_tree(keys, expected, n, depth);
    }
    free(keys);
    free(expected);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned long n = 1ul << 18, depth = 3;
    rmpi_status_t status;
    int           rc;

    if (argc > 3 || (argc > 1 && msort_parse(argv[1], 1, MSORT_MAX_KEYS, &n) != 0) ||
        (argc > 2 && msort_parse(argv[2], 0, MSORT_MAX_DEPTH, &depth) != 0)) {
        fprintf(stderr, "usage: %s [KEYS [DEPTH (0 to %u)]]\n", argv[0], MSORT_MAX_DEPTH);
        return 2;
    }

    status = rmpi_init(&argc, &argv, NULL); /* worker ranks serve tasks in here */
    if (status != RMPI_OK) {
        return msort_fail("init", status);
    }
    rc     = msort_run(n, (uint32_t)depth);
    status = rmpi_shutdown();
    if (status != RMPI_OK) {
        rc = msort_fail("shutdown", status);
    }
    return rc;
}
