/*
 * tests/integration/rt_steal.c - work stealing: 12 tasks of 50 ms are placed
 * on rank 1 (soft rank affinity, so they may move) while every rank has one
 * CPU; idle ranks steal them. Prints "RESULT ranks=R stolen=S ok".
 *
 * The sleep is the tasks' workload, not a synchronization: what is checked
 * is where they ran and the ranks' stolen-task counters.
 */
#include <raympi.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define TASKS 12

RMPI_REMOTE(nap_where)
{
    struct timespec nap  = {.tv_nsec = 50 * 1000 * 1000};
    int             rank = rmpi_rank();

    (void)args, (void)nargs;
    nanosleep(&nap, NULL);
    return rmpi_return(ctx, 0, &rank, sizeof(rank));
}

RMPI_REMOTE(stolen_here)
{
    rmpi_runtime_stats_t stats;
    uint64_t             stolen;

    (void)args, (void)nargs;
    if (rmpi_runtime_stats(&stats) != RMPI_OK) {
        return RMPI_ERR_TASK_FAILED;
    }
    stolen = stats.tasks_stolen;
    return rmpi_return(ctx, 0, &stolen, sizeof(stolen));
}

static int get_int(rmpi_ref_t ref, void *out, size_t size)
{
    rmpi_object_t obj;

    if (rmpi_get(&ref, 1, 60, &obj) != RMPI_OK || obj.size != size) {
        return -1;
    }
    memcpy(out, obj.data, size);
    rmpi_object_release(&obj);
    rmpi_ref_free(ref);
    return 0;
}

static uint64_t total_stolen(void)
{
    uint64_t total = 0;

    for (int r = 0; r < rmpi_size(); ++r) {
        rmpi_task_options_t opts = {.field_mask    = RMPI_TASK_OPT_STRATEGY,
                                    .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                    .affinity_rank = r};
        rmpi_ref_t          ref;
        uint64_t            stolen = 0;

        if (rmpi_submit("stolen_here", NULL, 0, &opts, &ref) == RMPI_OK &&
            get_int(ref, &stolen, sizeof(stolen)) == 0) {
            total += stolen;
        }
    }
    return total;
}

int main(int argc, char **argv)
{
    rmpi_task_options_t opts = {.field_mask    = RMPI_TASK_OPT_STRATEGY,
                                .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                .affinity_rank = 1,
                                .soft          = 1};
    rmpi_ref_t          refs[TASKS];
    int                 ran_on[64] = {0}, ranks = 0, rank;

    if (rmpi_init(&argc, &argv, NULL) != RMPI_OK || rmpi_size() < 2 || rmpi_size() > 64) {
        fprintf(stderr, "rt_steal: needs 2 to 64 ranks\n");
        return 1;
    }
    for (int i = 0; i < TASKS; ++i) {
        if (rmpi_submit("nap_where", NULL, 0, &opts, &refs[i]) != RMPI_OK) {
            return 1;
        }
    }
    for (int i = 0; i < TASKS; ++i) {
        if (get_int(refs[i], &rank, sizeof(rank)) != 0 || rank < 0 || rank >= rmpi_size()) {
            return 1;
        }
        ranks += ran_on[rank]++ == 0;
    }
    printf("RESULT ranks=%d stolen=%llu ok\n", ranks, (unsigned long long)total_stolen());
    return rmpi_shutdown() == RMPI_OK ? 0 : 1;
}
