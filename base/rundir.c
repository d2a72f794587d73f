/*
 * base/rundir.c - the "base" config table, the job ID and the run directory.
 *
 * Ranks of one job must agree on the job ID without talking to each other
 * (the run directory exists before wire-up), so it comes only from what the
 * launcher puts in every rank's environment.
 */
#include "base/rundir.h"

#include "base/log.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const base_config_field_t base_options_fields[] = {
    {"LOG_LEVEL", "warn",
     "Least severe messages to log: error, warn, info, debug or trace. Warnings and errors "
     "also go to stderr when a rank logs to a file.",
     BASE_CONFIG_STRING, offsetof(base_options_t, log_level)},
    {"RUN_DIR_BASE", "",
     "Folder that holds one run directory per job, <RUN_DIR_BASE>/<job id>, for logs and "
     "store files; created with mode 0700. Empty means /tmp/raympi-<uid>.",
     BASE_CONFIG_STRING, offsetof(base_options_t, run_dir_base)},
    {"JOB_ID", "",
     "ID shared by all ranks of a job; names its run directory. Empty means from the "
     "launcher: SLURM_JOB_ID[.SLURM_STEP_ID] (SLURM_JOB_ID.mpirun-<Open MPI's job ID> under "
     "mpirun in an allocation), else Open MPI's job ID, else pid<parent pid>.",
     BASE_CONFIG_STRING, offsetof(base_options_t, job_id)},
    {"CONFIG_FILE", "",
     "Config file of 'KEY = value' lines, read before the environment. Only the environment "
     "variable RAYMPI_CONFIG_FILE names it; empty means no file.",
     BASE_CONFIG_STRING, offsetof(base_options_t, config_file)},
    {NULL, NULL, NULL, BASE_CONFIG_STRING, 0},
};

base_config_table_t base_options_table = {
    .name   = "base",
    .fields = base_options_fields,
    .size   = sizeof(base_options_t),
};

BASE_CONFIG_REGISTER(base_options_table)

static bool rundir_is_set(const char *value)
{
    return value != NULL && value[0] != '\0';
}

/* Make @a id a safe single path component: [A-Za-z0-9._-], not starting with '.'. */
static void rundir_sanitize(char *id)
{
    for (char *p = id; *p != '\0'; ++p) {
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') {
            *p = '_';
        }
    }
    if (id[0] == '.') {
        id[0] = '_'; /* neither "..", nor a hidden folder */
    }
}

static rmpi_status_t rundir_job_id(const base_options_t *opts, char *buf, size_t len)
{
    const char *slurm_step = getenv("SLURM_STEP_ID");
    const char *ompi_job   = getenv("OMPI_MCA_ess_base_jobid");
    const char *id         = opts->job_id;
    const char *sep        = "";
    const char *suffix     = "";
    char        pid_id[32];

    if (!rundir_is_set(id)) {
        id = getenv("SLURM_JOB_ID");
        if (rundir_is_set(id) && rundir_is_set(slurm_step)) {
            sep    = ".";
            suffix = slurm_step;
        } else if (rundir_is_set(id) && rundir_is_set(ompi_job)) {
            /* mpirun inside an allocation: no step in the ranks' environment, and
             * two mpiruns of one job must not share a run dir or arena names */
            sep    = ".mpirun-";
            suffix = ompi_job;
        }
    }
    if (!rundir_is_set(id)) {
        id = ompi_job;
    }
    if (!rundir_is_set(id)) {
        snprintf(pid_id, sizeof(pid_id), "pid%ld", (long)getppid());
        id = pid_id;
    }
    if (strlen(id) + strlen(sep) + strlen(suffix) >= len) {
        return RMPI_ERR_TRUNCATED;
    }
    snprintf(buf, len, "%s%s%s", id, sep, suffix);
    rundir_sanitize(buf);
    return RMPI_OK;
}

static rmpi_status_t rundir_path(const base_options_t *opts, char *buf, size_t len)
{
    char          job_id[NAME_MAX + 1];
    char          path[PATH_MAX];
    rmpi_status_t status;
    int           n;

    status = rundir_job_id(opts, job_id, sizeof(job_id));
    if (status != RMPI_OK) {
        base_error("job id is longer than %d characters", NAME_MAX);
        return RMPI_ERR_CONFIG;
    }
    if (rundir_is_set(opts->run_dir_base)) {
        n = snprintf(path, sizeof(path), "%s/%s", opts->run_dir_base, job_id);
    } else {
        n = snprintf(path, sizeof(path), "/tmp/raympi-%lu/%s", (unsigned long)getuid(), job_id);
    }
    if ((size_t)n >= sizeof(path) || (size_t)n >= len) {
        return RMPI_ERR_TRUNCATED; /* @a buf stays untouched */
    }
    memcpy(buf, path, (size_t)n + 1);
    return RMPI_OK;
}

/* Someone else's folder in a shared /tmp must not receive our logs or data. */
static rmpi_status_t rundir_check_owner(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        base_error("cannot stat run dir '%s': %m", path);
        return RMPI_ERR_IO;
    }
    if (st.st_uid != geteuid()) {
        base_error("run dir '%s' belongs to uid %lu, not to us (uid %lu)", path,
                   (unsigned long)st.st_uid, (unsigned long)geteuid());
        return RMPI_ERR_IO;
    }
    return RMPI_OK;
}

/* Parse the base options and hand them to @a fn, which writes @a buf. */
static rmpi_status_t rundir_with_options(rmpi_status_t (*fn)(const base_options_t *, char *,
                                                             size_t),
                                         char *buf, size_t len)
{
    base_options_t opts;
    rmpi_status_t  status;

    if (buf == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    status = base_config_parse(&base_options_table, &opts, NULL, NULL, 0);
    if (status != RMPI_OK) {
        return status;
    }
    status = fn(&opts, buf, len);
    base_config_release(&base_options_table, &opts);
    return status;
}

rmpi_status_t base_job_id(char *buf, size_t len)
{
    return rundir_with_options(rundir_job_id, buf, len);
}

rmpi_status_t base_run_dir_path(char *buf, size_t len)
{
    return rundir_with_options(rundir_path, buf, len);
}

void base_run_dir_remove_if_empty(void)
{
    char path[PATH_MAX];

    if (base_run_dir_path(path, sizeof(path)) == RMPI_OK) {
        (void)rmdir(path); /* ENOTEMPTY and ENOENT are the normal answers of all but the last */
    }
}

rmpi_status_t base_run_dir(char *buf, size_t len)
{
    char          path[PATH_MAX];
    rmpi_status_t status;

    if (buf == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    status = base_run_dir_path(path, sizeof(path));
    if (status == RMPI_OK && strlen(path) >= len) {
        status = RMPI_ERR_TRUNCATED;
    }
    if (status == RMPI_OK) {
        status = base_mkdir_p(path, 0700);
    }
    if (status == RMPI_OK) {
        status = rundir_check_owner(path);
    }
    if (status == RMPI_OK) {
        strcpy(buf, path);
    }
    return status;
}

static rmpi_status_t rundir_mkdir_one(const char *path, mode_t mode)
{
    struct stat st;

    if (mkdir(path, mode) == 0) {
        return RMPI_OK;
    }
    if (errno != EEXIST) {
        base_error("cannot create directory '%s': %m", path);
        return RMPI_ERR_IO;
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        base_error("cannot create directory '%s': something that is not a directory is in "
                   "the way",
                   path);
        return RMPI_ERR_IO;
    }
    return RMPI_OK;
}

rmpi_status_t base_mkdir_p(const char *path, mode_t mode)
{
    char          buf[PATH_MAX];
    size_t        len = (path != NULL) ? strlen(path) : 0;
    rmpi_status_t status;

    if (len == 0 || len >= sizeof(buf)) {
        base_error("cannot create directory '%s': empty or too long", path ? path : "(null)");
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p != '\0'; ++p) {
        if (*p != '/' || p[-1] == '/') {
            continue;
        }
        *p     = '\0';
        status = rundir_mkdir_one(buf, mode);
        *p     = '/';
        if (status != RMPI_OK) {
            return status;
        }
    }
    return rundir_mkdir_one(buf, mode);
}
