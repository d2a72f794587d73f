/*
 * tests/integration/rt_status.c - a job for rt_status.sh to look at with
 * `ray-mpi status` while a task runs.
 *
 *   ray-mpi -n 2 rt_status DIR
 *
 * One task, hold_in_status, runs on rank 1 (1 CPU): it writes "ready" into the
 * fifo DIR/ready (the test is reading it), then reads a line from the fifo
 * DIR/release and returns. So the test knows the task is running, and the job
 * ends when the test says so: no sleeps. Prints "RESULT rank=R ok".
 */
#include <raympi.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char fifo_dir[1024];

static int fifo_open(const char *name, int flags)
{
    char path[1200];

    snprintf(path, sizeof(path), "%s/%s", fifo_dir, name);
    return open(path, flags);
}

RMPI_REMOTE(hold_in_status)
{
    int  rank = rmpi_rank();
    int  fd   = fifo_open("ready", O_WRONLY);
    char c    = 0;

    (void)args, (void)nargs;
    if (fd < 0 || write(fd, "ready\n", 6) != 6) {
        rmpi_task_error(ctx, "cannot write the ready fifo: %s", strerror(errno));
        return RMPI_ERR_IO;
    }
    close(fd);
    fd = fifo_open("release", O_RDONLY);
    while (fd >= 0 && c != '\n' && read(fd, &c, 1) == 1) {
    }
    if (fd >= 0) {
        close(fd);
    }
    return rmpi_return(ctx, 0, &rank, sizeof(rank));
}

int main(int argc, char **argv)
{
    rmpi_task_options_t opts = {.field_mask    = RMPI_TASK_OPT_NUM_CPUS | RMPI_TASK_OPT_STRATEGY,
                                .num_cpus      = 1,
                                .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                .affinity_rank = 1};
    rmpi_object_t       obj;
    rmpi_ref_t          ref;
    int                 rank = -1;

    if (argc != 2) {
        fprintf(stderr, "usage: rt_status DIR\n");
        return 2;
    }
    snprintf(fifo_dir, sizeof(fifo_dir), "%s", argv[1]);
    if (rmpi_init(&argc, &argv, NULL) != RMPI_OK) {
        return 1;
    }
    if (rmpi_submit("hold_in_status", NULL, 0, &opts, &ref) == RMPI_OK &&
        rmpi_get(&ref, 1, 300, &obj) == RMPI_OK) {
        if (obj.status == RMPI_OK && obj.size == sizeof(rank)) {
            memcpy(&rank, obj.data, sizeof(rank));
        }
        rmpi_object_release(&obj);
        rmpi_ref_free(ref);
    }
    printf("RESULT rank=%d %s\n", rank, rank == 1 ? "ok" : "FAILED");
    rmpi_shutdown();
    return rank == 1 ? 0 : 1;
}
