/*
 * examples/pi.c - estimate pi with Monte Carlo tasks.
 *
 *     ray-mpi -n 4 ./pi [TASKS [SAMPLES_PER_TASK]]
 *
 * The driver (rank 0) submits TASKS calls of pi_sample (default 100). Each one
 * throws SAMPLES_PER_TASK random points (default 200000) at the unit square and
 * returns, as a uint64, how many fell inside the quarter circle. The driver gets
 * every count, sums them and prints 4 * inside / total next to its error against
 * M_PI. The last line is for scripts:
 *
 *     RESULT pi=3.141573 error=0.000020 tasks=100 samples=20000000 cpus=8 ok
 *
 * This is the whole programming model in one file: register a function
 * (RMPI_REMOTE), start the runtime (rmpi_init; worker ranks serve tasks inside
 * it and never return), submit, get, release, shut down.
 */
#include <errno.h>
#include <math.h>
#include <raympi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PI_DEFAULT_TASKS 100u
#define PI_DEFAULT_SAMPLES 200000u

/* splitmix64: a small, fast generator; a distinct seed per task gives every task
 * its own stream, so the estimate is the same whichever rank runs which task. */
static uint64_t pi_next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A uniform double in [0, 1) from the top 53 bits. */
static double pi_next_unit(uint64_t *state)
{
    return (double)(pi_next_random(state) >> 11) * 0x1.0p-53;
}

static uint64_t pi_count_inside(uint64_t samples, uint64_t seed)
{
    uint64_t inside = 0;

    for (uint64_t i = 0; i < samples; i++) {
        double x = pi_next_unit(&seed);
        double y = pi_next_unit(&seed);

        inside += x * x + y * y < 1.0;
    }
    return inside;
}

/* pi_sample(uint64 samples, uint64 seed) -> uint64 points inside the circle */
RMPI_REMOTE(pi_sample)
{
    uint64_t samples, seed, inside;

    if (nargs != 2 || args[0].size != sizeof(samples) || args[1].size != sizeof(seed)) {
        rmpi_task_error(ctx, "pi_sample expects two uint64 arguments, got %zu", nargs);
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&samples, args[0].data, sizeof(samples));
    memcpy(&seed, args[1].data, sizeof(seed));
    inside = pi_count_inside(samples, seed);
    return rmpi_return(ctx, 0, &inside, sizeof(inside));
}

static double pi_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A whole number in [1, max] from @a text, or 0 if it is not one. */
static unsigned long pi_parse_count(const char *text, unsigned long max)
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

static int pi_fail(const char *what, rmpi_status_t status)
{
    fprintf(stderr, "pi: %s: %s\n", what, rmpi_status_str(status));
    return 1;
}

/* Submit the tasks; *submitted_p counts the refs written, also on failure. */
static int pi_submit_all(rmpi_ref_t *refs, unsigned tasks, uint64_t samples, unsigned *submitted_p)
{
    for (unsigned i = 0; i < tasks; i++) {
        uint64_t        seed    = i + 1;
        rmpi_task_arg_t args[2] = {rmpi_arg_value(&samples, sizeof(samples)),
                                   rmpi_arg_value(&seed, sizeof(seed))};
        rmpi_status_t   status  = rmpi_submit("pi_sample", args, 2, NULL, &refs[i]);

        if (status != RMPI_OK) {
            return pi_fail("submit", status);
        }
        *submitted_p = i + 1;
    }
    return 0;
}

/* Get every count and add them up into *inside_p. */
static int pi_gather(const rmpi_ref_t *refs, unsigned tasks, uint64_t *inside_p)
{
    rmpi_object_t *objs = calloc(tasks, sizeof(*objs));
    rmpi_status_t  status;
    uint64_t       inside = 0, count;

    if (objs == NULL) {
        return pi_fail("allocating results", RMPI_ERR_NO_MEMORY);
    }
    status = rmpi_get(refs, tasks, -1.0, objs);
    if (status != RMPI_OK) {
        free(objs); /* the job ends here: the views of a failed get are not worth freeing */
        return pi_fail("get", status);
    }
    for (unsigned i = 0; i < tasks; i++) {
        if (objs[i].size == sizeof(count)) {
            memcpy(&count, objs[i].data, sizeof(count));
            inside += count;
        } else {
            status = RMPI_ERR_MESSAGE;
        }
        rmpi_object_release(&objs[i]);
    }
    free(objs);
    if (status != RMPI_OK) {
        return pi_fail("a result has the wrong size", status);
    }
    *inside_p = inside;
    return 0;
}

static int pi_run(unsigned tasks, uint64_t samples)
{
    rmpi_ref_t      *refs = calloc(tasks, sizeof(*refs));
    rmpi_resources_t cluster;
    uint64_t         inside = 0, total = (uint64_t)tasks * samples;
    unsigned         submitted = 0;
    double           t0, seconds, estimate;
    int              rc;

    if (refs == NULL) {
        return pi_fail("allocating refs", RMPI_ERR_NO_MEMORY);
    }
    if (rmpi_cluster_resources(&cluster) != RMPI_OK) {
        cluster.cpus = 0;
    }
    t0 = pi_now();
    rc = pi_submit_all(refs, tasks, samples, &submitted);
    if (rc == 0) {
        rc = pi_gather(refs, tasks, &inside);
    }
    seconds = pi_now() - t0;
    for (unsigned i = 0; i < submitted; i++) {
        rmpi_ref_free(refs[i]);
    }
    free(refs);
    if (rc != 0) {
        return rc;
    }
    estimate = 4.0 * (double)inside / (double)total;
    printf("pi is about %.6f (error %.6f) from %llu samples in %u tasks\n", estimate,
           fabs(estimate - M_PI), (unsigned long long)total, tasks);
    printf("%.3f s on %d ranks with %g CPUs\n", seconds, rmpi_size(), cluster.cpus);
    printf("RESULT pi=%.6f error=%.6f tasks=%u samples=%llu cpus=%g ok\n", estimate,
           fabs(estimate - M_PI), tasks, (unsigned long long)total, cluster.cpus);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long tasks = PI_DEFAULT_TASKS, samples = PI_DEFAULT_SAMPLES;
    rmpi_status_t status;
    int           rc;

    if (argc > 1) {
        tasks = pi_parse_count(argv[1], 1000000);
    }
    if (argc > 2) {
        samples = pi_parse_count(argv[2], 1ul << 40);
    }
    if (argc > 3 || tasks == 0 || samples == 0) {
        fprintf(stderr, "usage: %s [TASKS [SAMPLES_PER_TASK]]\n", argv[0]);
        return 2;
    }

    /* Worker ranks serve tasks inside rmpi_init and exit when the driver shuts down. */
    status = rmpi_init(&argc, &argv, NULL);
    if (status != RMPI_OK) {
        return pi_fail("init", status);
    }
    rc     = pi_run((unsigned)tasks, samples);
    status = rmpi_shutdown();
    if (status != RMPI_OK) {
        rc = pi_fail("shutdown", status);
    }
    return rc;
}
