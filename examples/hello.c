/*
 * examples/hello.c - the smallest ray-mpi job: every rank says where it runs.
 *
 *     ray-mpi -n 4 ./hello
 *
 * Each rank prints one line; rank 0 gathers every rank's host and pid and
 * prints them as a table, then "hello: N ranks up, job ID". It shows that the
 * ranks started, can talk to each other, and share one job id (RAYMPI_JOB_ID,
 * which `ray-mpi run` sets for local jobs).
 */
#include <mpi.h>
#include <raympi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct hello_rank_info {
    char host[64];
    int  pid;
} hello_rank_info_t;

static void hello_describe_self(hello_rank_info_t *info)
{
    memset(info, 0, sizeof(*info));
    if (gethostname(info->host, sizeof(info->host) - 1) != 0) {
        strcpy(info->host, "?");
    }
    info->pid = (int)getpid();
}

static void hello_print_table(const hello_rank_info_t *all, int size)
{
    const char *job_id = getenv("RAYMPI_JOB_ID");

    printf("%6s  %-24s %10s\n", "rank", "host", "pid");
    for (int r = 0; r < size; r++) {
        printf("%6d  %-24s %10d\n", r, all[r].host, all[r].pid);
    }
    printf("hello: %d ranks up, job %s\n", size, job_id ? job_id : "-");
}

int main(int argc, char **argv)
{
    int               provided, rank, size;
    hello_rank_info_t self;

    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    hello_describe_self(&self);
    printf("rank %d/%d on %s (pid %d): ray-mpi %s\n", rank, size, self.host, self.pid,
           rmpi_version());
    fflush(stdout);

    hello_rank_info_t *all = rank == 0 ? calloc((size_t)size, sizeof(*all)) : NULL;
    if (rank == 0 && all == NULL) {
        fprintf(stderr, "hello: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    /* the records are plain bytes: every rank runs the same binary on this layout */
    MPI_Gather(&self, sizeof(self), MPI_BYTE, all, sizeof(self), MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        hello_print_table(all, size);
        free(all);
    }
    MPI_Finalize();
    return 0;
}
