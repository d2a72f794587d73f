/*
 * cli/status.c - `ray-mpi status [JOBID]`: the Slurm job this command runs in
 * (or job JOBID): what the SLURM_* environment says about it and this task,
 * and its state, nodes and end time from slurmctld through libslurm.
 *
 * The runtime's own view (ranks, resources, what they run) needs the head
 * services and is not shown yet.
 */
#include "cli/cli.h"

#include "slurm/slm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Exit status when the job's state cannot be read. */
#define STATUS_EXIT_FAILED 1

static void status_print_help(FILE *out)
{
    fprintf(out, "usage: ray-mpi status [JOBID]\n"
                 "\n"
                 "Show the Slurm job this command runs in (SLURM_JOB_ID), or job JOBID:\n"
                 "what the environment says about the job and this task, and the job's\n"
                 "state, nodes and end time from slurmctld (needs SLURM_CONF or\n"
                 "/etc/slurm/slurm.conf). The runtime's ranks and tasks are not shown yet.\n");
}

static void status_print_time(const char *label, time_t t)
{
    char      text[64] = "unknown";
    struct tm tm;

    if (t > 0 && localtime_r(&t, &tm) != NULL) {
        strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
    }
    printf("%-10s %s\n", label, text);
}

/* The environment's view of the job and of this task. */
static void status_print_env(const slm_job_t *job)
{
    printf("%-10s %u, %u CPU(s) per task\n", "tasks", job->ntasks == SLM_UNSET ? 0 : job->ntasks,
           job->cpus_per_task);
    if (job->num_nodes > 0) {
        printf("%-10s %u:", "nodes", job->num_nodes);
        for (uint32_t i = 0; i < job->num_nodes; i++) {
            printf(" %s", job->nodes[i]);
        }
        printf("\n");
    }
    if (slm_job_in_step(job)) {
        printf("%-10s step %u, rank %u, local rank %u, node %u\n", "this task", job->step_id,
               job->rank, job->local_rank, job->node_id);
    } else {
        printf("%-10s batch script (no step)\n", "this task");
    }
    printf("%-10s %u\n", "gpus", job->gpus_on_node);
    if (job->array_task_id != SLM_UNSET) {
        printf("%-10s task %u of array job %u\n", "array", job->array_task_id, job->array_job_id);
    }
    printf("%-10s %u\n", "restarts", job->restart_count);
}

int cli_status_main(int argc, char **argv)
{
    slm_job_t    *job = NULL;
    char          state[64];
    char          nodes[1024];
    time_t        end_time = 0;
    unsigned long id;
    char         *end;
    rmpi_status_t status;
    uint32_t      job_id;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        status_print_help(stdout);
        return 0;
    }
    if (argc > 2) {
        return cli_usage_error("status", "too many arguments");
    }
    if (argc == 2) {
        errno = 0;
        id    = strtoul(argv[1], &end, 10);
        if (argv[1][0] < '1' || argv[1][0] > '9' || errno != 0 || *end != '\0' || id >= SLM_UNSET) {
            return cli_usage_error("status", "'%s' is not a job ID", argv[1]);
        }
        job_id = (uint32_t)id;
    } else {
        status = slm_job_from_env(NULL, &job);
        if (status == RMPI_ERR_NOT_FOUND) {
            fprintf(stderr, "ray-mpi status: not inside a Slurm job (SLURM_JOB_ID is not set) "
                            "and no JOBID given\n");
            return CLI_EXIT_USAGE;
        }
        if (status != RMPI_OK) {
            fprintf(stderr, "ray-mpi status: the Slurm environment is not usable (%s)\n",
                    rmpi_status_str(status));
            return STATUS_EXIT_FAILED;
        }
        job_id = job->job_id;
    }

    printf("%-10s %u\n", "job", job_id);
    if (job != NULL) {
        status_print_env(job);
    }
    status = slm_job_state(job_id, state, sizeof(state), nodes, sizeof(nodes), &end_time);
    if (status == RMPI_OK) {
        printf("%-10s %s\n", "state", state);
        printf("%-10s %s\n", "allocated", nodes[0] != '\0' ? nodes : "(none yet)");
    } else {
        printf("%-10s unknown (%s)\n", "state",
               status == RMPI_ERR_NOT_FOUND ? "slurmctld does not know the job"
                                            : rmpi_status_str(status));
    }
    if (end_time == 0 && job != NULL) {
        end_time = job->end_time;
    }
    status_print_time("ends", end_time);
    slm_job_destroy(job);
    return status == RMPI_OK ? 0 : STATUS_EXIT_FAILED;
}
