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
#include <stddef.h>
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

/* --- submission and job state (slurm/submit.c) ------------------------------
 * These talk to slurmctld through libslurm. Each first checks that a slurm.conf
 * is reachable ($SLURM_CONF, /etc/slurm/slurm.conf, or slurmd's configless
 * cache /run/slurm/conf/slurm.conf) and returns RMPI_ERR_UNSUPPORTED (logged)
 * when none is, because slurm_init() would otherwise exit the process. They
 * are SERIALIZED: libslurm's configuration is process-wide.
 */

/** What to submit. Zero/NULL fields mean Slurm's default. */
typedef struct slm_submit_req {
    const char  *script;         /**< the whole job script (required) */
    const char  *name;           /**< job name; NULL: "ray-mpi" */
    const char  *work_dir;       /**< NULL: the current directory */
    const char  *std_out;        /**< NULL: slurm-%j.out, slurm-%A_%a.out for arrays */
    const char  *partition;      /**< NULL: the default partition */
    const char  *array;          /**< array index spec ("0-3", "1,5%2"); NULL: none */
    uint32_t     nodes;          /**< -N */
    uint32_t     ntasks;         /**< -n */
    uint32_t     cpus_per_task;  /**< -c */
    uint32_t     gpus;           /**< -G: GPUs for the whole job */
    uint32_t     time_limit_min; /**< -t, in minutes */
    int          signal;         /**< --signal: signal number; 0: none */
    uint32_t     signal_time_s;  /**< seconds before the end to send it */
    bool         signal_batch;   /**< "B:": to the batch shell only */
    bool         requeue;        /**< --requeue */
    char *const *envp;           /**< the job's environment; NULL: this process's */
} slm_submit_req_t;

/** How a job ended (slm_job_wait()). */
typedef struct slm_job_end {
    char     state[32]; /**< "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", ... */
    int      exit_code; /**< the batch script's exit status; 128+N if killed by signal N */
    uint32_t ntasks;    /**< array tasks seen (1 for a plain job) */
} slm_job_end_t;

/**
 * Parse a Slurm time limit ("MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM",
 * "D-HH:MM:SS", or "infinite") into minutes, rounding seconds up. Returns
 * RMPI_ERR_INVALID_ARG (not logged: the caller says where it came from).
 */
rmpi_status_t slm_time_limit_parse(const char *text, uint32_t *minutes_p);

/**
 * Parse sbatch's --signal spec "[B:]SIG[@SECONDS]" (SIG a name, with or
 * without "SIG", or a number; SECONDS 60 when absent). RMPI_ERR_INVALID_ARG.
 */
rmpi_status_t slm_signal_parse(const char *text, int *signal_p, uint32_t *seconds_p,
                               bool *batch_only_p);

/** The slurm.conf libslurm would use, or NULL when none is reachable. */
const char *slm_conf_path(void);

/**
 * Submit a batch job with slurm_submit_batch_job(). Returns RMPI_OK and sets
 * @a job_id_p; RMPI_ERR_INVALID_ARG when Slurm rejects the request (its message
 * logged); RMPI_ERR_UNSUPPORTED when no slurm.conf is reachable; RMPI_ERR_IO
 * when slurmctld cannot be reached.
 */
rmpi_status_t slm_submit(const slm_submit_req_t *req, uint32_t *job_id_p);

/**
 * Follow a job (every task of an array) to its end with slurm_load_job(),
 * polling with a back-off from 50 ms to 2 s. @a timeout_s 0 waits forever.
 * The exit code reported is the highest over the array's tasks. Returns
 * RMPI_OK, RMPI_ERR_TIMEOUT, RMPI_ERR_NOT_FOUND (no such job), RMPI_ERR_IO,
 * RMPI_ERR_UNSUPPORTED as slm_submit().
 */
rmpi_status_t slm_job_wait(uint32_t job_id, unsigned timeout_s, slm_job_end_t *end_p);

/**
 * The state of a job ("RUNNING", ...), its node list and end time, for
 * `ray-mpi status`. Same errors as slm_job_wait().
 */
rmpi_status_t slm_job_state(uint32_t job_id, char *state, size_t state_size, char *nodes,
                            size_t nodes_size, time_t *end_time_p);

#endif /* SLURM_SLM_H_ */
