/*
 * examples/sleepy_map.c - tasks run side by side: ten 200 ms tasks take ~200 ms.
 *
 *     RAYMPI_RT_NUM_CPUS=10 ray-mpi -n 2 ./sleepy_map [TASKS [MILLISECONDS]]
 *
 * The driver maps sleepy_index over 0..TASKS-1 (default 10): each call sleeps
 * MILLISECONDS (default 200; the sleep stands for real work) and returns its
 * index. With at least TASKS CPU slots in the job the wall time is one sleep, not
 * TASKS of them; RAYMPI_RT_NUM_CPUS sets the slots of each rank. The last line:
 *
 *     RESULT tasks=10 sleep_ms=200 wall_s=0.204 serial_s=2.000 cpus=20 ok
 */
#include <errno.h>
#include <raympi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLEEPY_MAX_TASKS 10000u

static void sleepy_sleep_ms(uint32_t ms)
{
    struct timespec left = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

/* sleepy_index(uint32 index, uint32 ms) -> uint32 index, after sleeping ms */
RMPI_REMOTE(sleepy_index)
{
    uint32_t index, ms;

    if (nargs != 2 || args[0].size != sizeof(index) || args[1].size != sizeof(ms)) {
        rmpi_task_error(ctx, "sleepy_index expects two uint32 arguments, got %zu", nargs);
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&index, args[0].data, sizeof(index));
    memcpy(&ms, args[1].data, sizeof(ms));
    sleepy_sleep_ms(ms);
    return rmpi_return(ctx, 0, &index, sizeof(index));
}

static double sleepy_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A whole number in [1, max] from @a text, or 0 if it is not one. */
static unsigned long sleepy_parse_count(const char *text, unsigned long max)
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

static int sleepy_fail(const char *what, rmpi_status_t status)
{
    fprintf(stderr, "sleepy_map: %s: %s\n", what, rmpi_status_str(status));
    return 1;
}

/* Get every result; count those that are not the index of their task. */
static int sleepy_check_results(const rmpi_ref_t *refs, uint32_t tasks, uint32_t *wrong_p)
{
    rmpi_object_t *objs = calloc(tasks, sizeof(*objs));
    rmpi_status_t  status;
    uint32_t       value, wrong = 0;

    if (objs == NULL) {
        return sleepy_fail("allocating results", RMPI_ERR_NO_MEMORY);
    }
    status = rmpi_get(refs, tasks, -1.0, objs);
    if (status != RMPI_OK) {
        free(objs); /* the job ends here: the views of a failed get are not worth freeing */
        return sleepy_fail("get", status);
    }
    for (uint32_t i = 0; i < tasks; i++) {
        if (objs[i].size != sizeof(value)) {
            wrong++;
        } else {
            memcpy(&value, objs[i].data, sizeof(value));
            wrong += value != i;
        }
        rmpi_object_release(&objs[i]);
    }
    free(objs);
    *wrong_p = wrong;
    return 0;
}

static int sleepy_run(uint32_t tasks, uint32_t ms)
{
    rmpi_ref_t      *refs = calloc(tasks, sizeof(*refs));
    rmpi_resources_t cluster;
    uint32_t         submitted = 0, wrong = 0;
    double           t0, wall, serial = tasks * (ms / 1000.0);
    int              rc = 0;

    if (refs == NULL) {
        return sleepy_fail("allocating refs", RMPI_ERR_NO_MEMORY);
    }
    if (rmpi_cluster_resources(&cluster) != RMPI_OK) {
        cluster.cpus = 0;
    }
    t0 = sleepy_now();
    for (uint32_t i = 0; i < tasks && rc == 0; i++) {
        rmpi_task_arg_t args[2] = {rmpi_arg_value(&i, sizeof(i)), rmpi_arg_value(&ms, sizeof(ms))};
        rmpi_status_t   status  = rmpi_submit("sleepy_index", args, 2, NULL, &refs[i]);

        if (status != RMPI_OK) {
            rc = sleepy_fail("submit", status);
        } else {
            submitted++;
        }
    }
    if (rc == 0) {
        rc = sleepy_check_results(refs, tasks, &wrong);
    }
    wall = sleepy_now() - t0;
    for (uint32_t i = 0; i < submitted; i++) {
        rmpi_ref_free(refs[i]);
    }
    free(refs);
    if (rc != 0) {
        return rc;
    }
    printf("%u tasks of %u ms took %.3f s (%.3f s one after another) on %d ranks with %g CPUs\n",
           tasks, ms, wall, serial, rmpi_size(), cluster.cpus);
    if (wrong != 0) {
        printf("%u results were not the index of their task\n", wrong);
    }
    printf("RESULT tasks=%u sleep_ms=%u wall_s=%.3f serial_s=%.3f cpus=%g %s\n", tasks, ms, wall,
           serial, cluster.cpus, wrong == 0 ? "ok" : "FAIL");
    return wrong == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    unsigned long tasks = 10, ms = 200;
    rmpi_status_t status;
    int           rc;

    if (argc > 1) {
        tasks = sleepy_parse_count(argv[1], SLEEPY_MAX_TASKS);
    }
    if (argc > 2) {
        ms = sleepy_parse_count(argv[2], 60000);
    }
    if (argc > 3 || tasks == 0 || ms == 0) {
        fprintf(stderr, "usage: %s [TASKS [MILLISECONDS]]\n", argv[0]);
        return 2;
    }

    status = rmpi_init(&argc, &argv, NULL); /* worker ranks serve tasks in here */
    if (status != RMPI_OK) {
        return sleepy_fail("init", status);
    }
    rc     = sleepy_run((uint32_t)tasks, (uint32_t)ms);
    status = rmpi_shutdown();
    if (status != RMPI_OK) {
        rc = sleepy_fail("shutdown", status);
    }
    return rc;
}
