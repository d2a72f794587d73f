/*
 * examples/get_vs_wait.c - rmpi_wait hands results over as they finish,
 * rmpi_get in the order asked for.
 *
 *     RAYMPI_RT_NUM_CPUS=4 ray-mpi -n 2 ./get_vs_wait [TASKS [STEP_MS]]
 *
 * Task i of TASKS (default 5) sleeps (TASKS - i) * STEP_MS milliseconds (default
 * 50) and returns i, so the last one submitted finishes first. The driver takes
 * them with rmpi_wait(num_returns = 1) in a loop - completion order, the reverse
 * of submission - then asks rmpi_get for all of them at once, which answers in
 * submission order. The job needs TASKS CPU slots for every task to start at
 * once. The last line:
 *
 *     RESULT tasks=5 wait_order=4,3,2,1,0 get_order=0,1,2,3,4 ok
 */
#include <errno.h>
#include <raympi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GVW_MAX_TASKS 64u

static void gvw_sleep_ms(uint32_t ms)
{
    struct timespec left = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

/* sleep_then_index(uint32 index, uint32 ms) -> uint32 index, after sleeping ms */
RMPI_REMOTE(sleep_then_index)
{
    uint32_t index, ms;

    if (nargs != 2 || args[0].size != sizeof(index) || args[1].size != sizeof(ms)) {
        rmpi_task_error(ctx, "sleep_then_index expects two uint32 arguments, got %zu", nargs);
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&index, args[0].data, sizeof(index));
    memcpy(&ms, args[1].data, sizeof(ms));
    gvw_sleep_ms(ms);
    return rmpi_return(ctx, 0, &index, sizeof(index));
}

static double gvw_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A whole number in [1, max] from @a text, or 0 if it is not one. */
static unsigned long gvw_parse_count(const char *text, unsigned long max)
{
    char         *end;
    unsigned long value;

    errno = 0;
    value = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value == 0 || value > max) {
        return 0;
    }
    return value;
}

static int gvw_fail(const char *what, rmpi_status_t status)
{
    fprintf(stderr, "get_vs_wait: %s: %s\n", what, rmpi_status_str(status));
    return 1;
}

/* The uint32 value of @a ref, or UINT32_MAX if it has none. */
static uint32_t gvw_get_value(rmpi_ref_t ref)
{
    rmpi_object_t obj;
    uint32_t      value = UINT32_MAX;

    if (rmpi_get(&ref, 1, -1.0, &obj) == RMPI_OK) {
        if (obj.size == sizeof(value)) {
            memcpy(&value, obj.data, sizeof(value));
        }
        rmpi_object_release(&obj);
    }
    return value;
}

/*
 * Wait for the refs one at a time and write their values, in the order they
 * became ready, to @a order; @a seconds gets when each was seen. Two refs found
 * ready by one wait keep submission order between them.
 */
static int gvw_wait_one_by_one(const rmpi_ref_t *refs, uint32_t tasks, double t0, uint32_t *order,
                               double *seconds)
{
    rmpi_ref_t pending[GVW_MAX_TASKS];
    uint8_t    ready[GVW_MAX_TASKS];
    size_t     num_pending = tasks, num_ready, done = 0;

    memcpy(pending, refs, tasks * sizeof(*refs));
    while (num_pending > 0) {
        size_t        kept   = 0;
        rmpi_status_t status = rmpi_wait(pending, num_pending, 1, -1.0, 0, ready, &num_ready);

        if (status != RMPI_OK) {
            return gvw_fail("wait", status);
        }
        for (size_t i = 0; i < num_pending; i++) {
            if (ready[i]) {
                seconds[done] = gvw_now() - t0;
                order[done++] = gvw_get_value(pending[i]);
            } else {
                pending[kept++] = pending[i];
            }
        }
        if (kept == num_pending) {
            return gvw_fail("wait returned with nothing ready", RMPI_ERR_INVALID_ARG);
        }
        num_pending = kept;
    }
    return 0;
}

/* All values at once, in the order of @a refs. */
static int gvw_get_all(const rmpi_ref_t *refs, uint32_t tasks, uint32_t *order)
{
    rmpi_object_t objs[GVW_MAX_TASKS];
    rmpi_status_t status = rmpi_get(refs, tasks, -1.0, objs);

    if (status != RMPI_OK) {
        return gvw_fail("get", status);
    }
    for (uint32_t i = 0; i < tasks; i++) {
        order[i] = UINT32_MAX;
        if (objs[i].size == sizeof(order[i])) {
            memcpy(&order[i], objs[i].data, sizeof(order[i]));
        }
        rmpi_object_release(&objs[i]);
    }
    return 0;
}

static void gvw_print_list(const char *label, const uint32_t *values, uint32_t n)
{
    printf("%s", label);
    for (uint32_t i = 0; i < n; i++) {
        printf("%s%u", i ? "," : "", values[i]);
    }
}

static int gvw_report(const uint32_t *wait_order, const double *seconds, const uint32_t *get_order,
                      uint32_t tasks)
{
    int as_expected = 1;

    printf("rmpi_wait, one at a time (completion order):");
    for (uint32_t i = 0; i < tasks; i++) {
        printf(" %u@%.2fs", wait_order[i], seconds[i]);
        as_expected &= wait_order[i] == tasks - 1 - i;
    }
    printf("\nrmpi_get, all at once (submission order):   ");
    for (uint32_t i = 0; i < tasks; i++) {
        printf(" %u", get_order[i]);
        as_expected &= get_order[i] == i;
    }
    printf("\n");
    printf("RESULT tasks=%u", tasks);
    gvw_print_list(" wait_order=", wait_order, tasks);
    gvw_print_list(" get_order=", get_order, tasks);
    printf(" %s\n", as_expected ? "ok" : "FAIL");
    return as_expected ? 0 : 1;
}

static int gvw_run(uint32_t tasks, uint32_t step_ms)
{
    rmpi_ref_t refs[GVW_MAX_TASKS];
    uint32_t   wait_order[GVW_MAX_TASKS] = {0}, get_order[GVW_MAX_TASKS] = {0}, submitted = 0;
    double     seconds[GVW_MAX_TASKS], t0 = gvw_now();
    int        rc = 0;

    printf("%u tasks; task i sleeps (%u - i) * %u ms\n", tasks, tasks, step_ms);
    for (uint32_t i = 0; i < tasks && rc == 0; i++) {
        uint32_t        ms      = (tasks - i) * step_ms;
        rmpi_task_arg_t args[2] = {rmpi_arg_value(&i, sizeof(i)), rmpi_arg_value(&ms, sizeof(ms))};
        rmpi_status_t   status  = rmpi_submit("sleep_then_index", args, 2, NULL, &refs[i]);

        if (status != RMPI_OK) {
            rc = gvw_fail("submit", status);
        } else {
            submitted++;
        }
    }
    if (rc == 0) {
        rc = gvw_wait_one_by_one(refs, tasks, t0, wait_order, seconds);
    }
    if (rc == 0) {
        rc = gvw_get_all(refs, tasks, get_order);
    }
    for (uint32_t i = 0; i < submitted; i++) {
        rmpi_ref_free(refs[i]);
    }
    return rc != 0 ? rc : gvw_report(wait_order, seconds, get_order, tasks);
}

int main(int argc, char **argv)
{
    unsigned long tasks = 5, step_ms = 50;
    rmpi_status_t status;
    int           rc;

    if (argc > 1) {
        tasks = gvw_parse_count(argv[1], GVW_MAX_TASKS);
    }
    if (argc > 2) {
        step_ms = gvw_parse_count(argv[2], 10000);
    }
    if (argc > 3 || tasks == 0 || step_ms == 0) {
        fprintf(stderr, "usage: %s [TASKS (at most %u) [STEP_MS]]\n", argv[0], GVW_MAX_TASKS);
        return 2;
    }

    status = rmpi_init(&argc, &argv, NULL); /* worker ranks serve tasks in here */
    if (status != RMPI_OK) {
        return gvw_fail("init", status);
    }
    rc     = gvw_run((uint32_t)tasks, (uint32_t)step_ms);
    status = rmpi_shutdown();
    if (status != RMPI_OK) {
        rc = gvw_fail("shutdown", status);
    }
    return rc;
}
