/*
 * base/rundir.h - the job's identity and its per-job run directory.
 *
 * Every rank of a job computes the same job ID from its launcher's environment
 * and so finds the same run directory, <RUN_DIR_BASE>/<job id>, which holds
 * the per-rank logs and (later) the store's files. Also home of the "base"
 * config table (RAYMPI_LOG_LEVEL, RAYMPI_RUN_DIR_BASE, RAYMPI_JOB_ID,
 * RAYMPI_CONFIG_FILE).
 *
 * Thread safety: all functions are reentrant.
 */
#ifndef BASE_RUNDIR_H_
#define BASE_RUNDIR_H_

#include "base/conf.h"

#include <raympi.h>
#include <stddef.h>
#include <sys/types.h>

/** Options of the "base" config table; strings are owned (base_config_release). */
typedef struct base_options {
    char *log_level;    /**< RAYMPI_LOG_LEVEL: error, warn, info, debug or trace */
    char *run_dir_base; /**< RAYMPI_RUN_DIR_BASE: "" means /tmp/raympi-<uid> */
    char *job_id;       /**< RAYMPI_JOB_ID: "" means from the launcher */
    char *config_file;  /**< RAYMPI_CONFIG_FILE: read by base_config_parse itself */
} base_options_t;

/** The "base" table, for base_config_parse(&base_options_table, &opts, ...). */
extern base_config_table_t base_options_table;

/**
 * The job ID into @a buf: RAYMPI_JOB_ID (env or config file), else
 * SLURM_JOB_ID (with "." SLURM_STEP_ID when set, else with ".mpirun-" and
 * Open MPI's job ID when mpirun started the ranks inside the allocation),
 * else Open MPI's job ID (OMPI_MCA_ess_base_jobid), else "pid<parent pid>".
 * Characters outside [A-Za-z0-9._-] and a leading '.' become '_', so the ID
 * is a safe file name.
 * Returns RMPI_ERR_TRUNCATED when @a len is too small (@a buf is then untouched)
 * and RMPI_ERR_CONFIG when the configuration does not parse.
 */
rmpi_status_t base_job_id(char *buf, size_t len);

/**
 * The job's run directory <RUN_DIR_BASE>/<job id> into @a buf, created with
 * mode 0700 (with any missing parents) if it does not exist yet. Returns
 * RMPI_ERR_IO, with a log line, when something that is not a directory is in
 * the way, the directory belongs to another user, or mkdir fails.
 */
rmpi_status_t base_run_dir(char *buf, size_t len);

/**
 * Remove the job's run directory if nothing is left in it (the last rank of a
 * node to finish succeeds; log files or another rank's files keep it).
 */
void base_run_dir_remove_if_empty(void);

/** Like base_run_dir(), but only computes the path: nothing is created or checked. */
rmpi_status_t base_run_dir_path(char *buf, size_t len);

/**
 * mkdir -p: create @a path and any missing parents with @a mode. Existing
 * directories are fine; anything else in the way gives RMPI_ERR_IO with a
 * log line.
 */
rmpi_status_t base_mkdir_p(const char *path, mode_t mode);

#endif /* BASE_RUNDIR_H_ */
