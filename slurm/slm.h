/*
 * slurm/slm.h - the Slurm layer: what this process's job and step are, read
 * from the SLURM_* environment that slurmstepd and sbatch set, and host lists.
 *
 * Discovery is pure parsing: slm_job_from_env() reads an environment (the
 * process's own, or an explicit array for tests and for the command-line tool)
 * and calls no libslurm function except the hostlist ones, which need neither
 * slurm.conf nor a daemon. In particular it never calls slurm_init() or a
 * slurm_load_*() function, which fatal() (exit the process) when no slurm.conf
 * is reachable; the few functions here that talk to slurmctld say so and check
 * that a configuration is reachable first.
 *
 * Strict parsing: a variable that is present but malformed (not a number, out of
 * range, a node list that does not parse, a rank outside the step) makes
 * slm_job_from_env() return RMPI_ERR_CONFIG after one error line naming the
 * variable and its value; it never aborts. A variable that is absent leaves its
 * field at SLM_UNSET (or NULL / 0 where documented).
 *
 * Ownership: slm_job_from_env() returns a job the caller frees with
 * slm_job_destroy(); every string and array in it belongs to the job.
 *
 * Thread safety: slm_job_from_env() with an explicit environment and every other
 * function here are MULTI (any thread; no shared state). With envp == NULL it
 * reads the process environment, so it must not race with setenv().
 */
#ifndef SLURM_SLM_H_
#define SLURM_SLM_H_

#include <raympi.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/** The value of a numeric field whose variable is absent. */
#define SLM_UNSET UINT32_MAX

/** At most this many host names in one expanded list (a larger one is refused). */
#define SLM_HOSTLIST_MAX 65536

/** A Slurm job and, inside a step, this task's place in it. */
typedef struct slm_job {
    uint32_t job_id;           /**< SLURM_JOB_ID (or SLURM_JOBID) */
    uint32_t step_id;          /**< SLURM_STEP_ID; SLM_UNSET in the batch script */
    uint32_t rank;             /**< SLURM_PROCID: this task's rank in the step */
    uint32_t local_rank;       /**< SLURM_LOCALID: its rank on this node */
    uint32_t node_id;          /**< SLURM_NODEID: this node's index in the step */
    uint32_t ntasks;           /**< SLURM_NTASKS (or SLURM_NPROCS) */
    uint32_t cpus_per_task;    /**< SLURM_CPUS_PER_TASK; 1 when absent */
    uint32_t gpus_on_node;     /**< SLURM_GPUS_ON_NODE, else the number of visible GPUs; 0 */
    uint32_t num_gpus_visible; /**< entries of @a gpus_visible */
    char   **gpus_visible;     /**< CUDA_VISIBLE_DEVICES entries (indices or UUIDs); NULL */
    uint32_t num_nodes;        /**< entries of @a nodes (0 when no node list) */
    char   **nodes;            /**< SLURM_JOB_NODELIST (or SLURM_NODELIST), expanded, in order */
    time_t   end_time;         /**< SLURM_JOB_END_TIME (seconds since the epoch); 0 unknown */
    uint32_t restart_count;    /**< SLURM_RESTART_COUNT; 0 when absent */
    uint32_t array_job_id;     /**< SLURM_ARRAY_JOB_ID; SLM_UNSET outside an array */
    uint32_t array_task_id;    /**< SLURM_ARRAY_TASK_ID; SLM_UNSET outside an array */
    char    *partition;        /**< SLURM_JOB_PARTITION; NULL when absent */
} slm_job_t;

/**
 * Read the job from @a envp ("NAME=VALUE" strings ending with NULL), or from the
 * process environment when @a envp is NULL.
 *
 * Returns RMPI_OK and sets @a job_p; RMPI_ERR_NOT_FOUND (not logged) when
 * SLURM_JOB_ID is absent, i.e. not inside a Slurm job; RMPI_ERR_CONFIG for a
 * malformed variable (logged once, naming it); RMPI_ERR_NO_MEMORY.
 */
rmpi_status_t slm_job_from_env(char *const *envp, slm_job_t **job_p);

/** Free a job from slm_job_from_env(); NULL is allowed. */
void slm_job_destroy(slm_job_t *job);

/** Whether the job is inside a step (srun), not only in the batch script. */
static inline bool slm_job_in_step(const slm_job_t *job)
{
    return job->step_id != SLM_UNSET && job->rank != SLM_UNSET;
}

/**
 * Expand a Slurm host list ("node[01-03,7],gpu1") into host names, keeping
 * zero padding (node01 node02 node03 node7 gpu1), with libslurm's hostlist
 * functions after a strict syntax check of our own (libslurm accepts some
 * malformed lists, e.g. "node[1-", silently).
 *
 * Returns RMPI_OK and sets @a hosts_p (a NULL-terminated array the caller frees
 * with slm_hosts_free()) and @a count_p; RMPI_ERR_CONFIG for a malformed or
 * empty list or one of more than SLM_HOSTLIST_MAX hosts (logged, naming @a what,
 * e.g. the variable); RMPI_ERR_NO_MEMORY.
 */
rmpi_status_t slm_hostlist_expand(const char *list, const char *what, char ***hosts_p,
                                  uint32_t *count_p);

/** Free a NULL-terminated array of strings; NULL is allowed. */
void slm_hosts_free(char **hosts);

#endif /* SLURM_SLM_H_ */
