/*
 * slurm/job_env.c - the job and step of this process, from the SLURM_*
 * variables slurmstepd (inside srun) and slurmd (in the batch script) set.
 *
 * Pure parsing plus libslurm's hostlist functions: nothing here reads
 * slurm.conf or talks to slurmctld, so it works on a login node, in a test and
 * when no Slurm configuration is reachable.
 */
#include "slurm/slm.h"

#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A variable's value in envp, or in the process environment when envp is NULL. */
static const char *slm_env_get(char *const *envp, const char *name)
{
    size_t len = strlen(name);

    if (envp == NULL) {
        return getenv(name);
    }
    for (char *const *e = envp; *e != NULL; e++) {
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') {
            return *e + len + 1;
        }
    }
    return NULL;
}

/* The first of two spellings that is set (Slurm keeps old names such as SLURM_JOBID). */
static const char *slm_env_get2(char *const *envp, const char *name, const char *old_name,
                                const char **used_p)
{
    const char *value = slm_env_get(envp, name);

    *used_p = name;
    if (value == NULL && old_name != NULL) {
        value   = slm_env_get(envp, old_name);
        *used_p = old_name;
    }
    return value;
}

/* A decimal number in [min, max], nothing before or after it. */
static rmpi_status_t slm_parse_u64(const char *name, const char *value, uint64_t min, uint64_t max,
                                   uint64_t *out_p)
{
    unsigned long long v;
    char              *end;

    if (value[0] < '0' || value[0] > '9') {
        goto err;
    }
    errno = 0;
    v     = strtoull(value, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        goto err;
    }
    *out_p = v;
    return RMPI_OK;

err:
    base_error("%s='%s' is not a number in [%llu, %llu]", name, value, (unsigned long long)min,
               (unsigned long long)max);
    return RMPI_ERR_CONFIG;
}

/* Parse NAME (or OLD_NAME) into *out_p when set; leave *out_p alone when absent. */
static rmpi_status_t slm_env_u32(char *const *envp, const char *name, const char *old_name,
                                 uint32_t min, uint32_t *out_p)
{
    const char   *used;
    const char   *value = slm_env_get2(envp, name, old_name, &used);
    uint64_t      v;
    rmpi_status_t status;

    if (value == NULL) {
        return RMPI_OK;
    }
    /* SLM_UNSET itself is never a valid value */
    status = slm_parse_u64(used, value, min, UINT32_MAX - 1, &v);
    if (status == RMPI_OK) {
        *out_p = (uint32_t)v;
    }
    return status;
}

static bool slm_is_gpu_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == ':' || c == '/';
}

/*
 * CUDA_VISIBLE_DEVICES: comma-separated device indices or UUIDs ("0,1",
 * "GPU-8f3e...", "MIG-..."). Empty, or Slurm's "NoDevFiles", means none.
 */
static rmpi_status_t slm_parse_gpus(const char *value, slm_job_t *job)
{
    const char *p = value;
    uint32_t    n = 1;
    char      **ids;

    if (value[0] == '\0' || strcmp(value, "NoDevFiles") == 0) {
        return RMPI_OK;
    }
    for (const char *c = value; *c != '\0'; c++) {
        if (*c == ',') {
            n++;
        } else if (!slm_is_gpu_id_char(*c)) {
            goto err_syntax;
        }
    }
    ids = calloc((size_t)n + 1, sizeof(*ids));
    if (ids == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strcspn(p, ",");

        if (len == 0) {
            slm_hosts_free(ids);
            goto err_syntax;
        }
        ids[i] = strndup(p, len);
        if (ids[i] == NULL) {
            slm_hosts_free(ids);
            return RMPI_ERR_NO_MEMORY;
        }
        p += len + 1;
    }
    job->gpus_visible     = ids;
    job->num_gpus_visible = n;
    return RMPI_OK;

err_syntax:
    base_error("CUDA_VISIBLE_DEVICES='%s' is not a list of device indices or UUIDs", value);
    return RMPI_ERR_CONFIG;
}

/* Cross-checks between fields: a rank outside its step is a broken environment. */
static rmpi_status_t slm_job_check(const slm_job_t *job)
{
    if (job->ntasks != SLM_UNSET && job->rank != SLM_UNSET && job->rank >= job->ntasks) {
        base_error("SLURM_PROCID=%u is not below SLURM_NTASKS=%u", job->rank, job->ntasks);
        return RMPI_ERR_CONFIG;
    }
    if (job->ntasks != SLM_UNSET && job->local_rank != SLM_UNSET &&
        job->local_rank >= job->ntasks) {
        base_error("SLURM_LOCALID=%u is not below SLURM_NTASKS=%u", job->local_rank, job->ntasks);
        return RMPI_ERR_CONFIG;
    }
    if (job->num_nodes > 0 && job->node_id != SLM_UNSET && job->node_id >= job->num_nodes) {
        base_error("SLURM_NODEID=%u is not below the %u nodes of SLURM_JOB_NODELIST", job->node_id,
                   job->num_nodes);
        return RMPI_ERR_CONFIG;
    }
    return RMPI_OK;
}

void slm_job_destroy(slm_job_t *job)
{
    if (job == NULL) {
        return;
    }
    slm_hosts_free(job->nodes);
    slm_hosts_free(job->gpus_visible);
    free(job->partition);
    free(job);
}

rmpi_status_t slm_job_from_env(char *const *envp, slm_job_t **job_p)
{
    const char   *used;
    const char   *value;
    slm_job_t    *job;
    uint64_t      end_time;
    rmpi_status_t status;

    if (job_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    if (slm_env_get2(envp, "SLURM_JOB_ID", "SLURM_JOBID", &used) == NULL) {
        return RMPI_ERR_NOT_FOUND;
    }
    job = calloc(1, sizeof(*job));
    if (job == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    job->step_id       = SLM_UNSET;
    job->rank          = SLM_UNSET;
    job->local_rank    = SLM_UNSET;
    job->node_id       = SLM_UNSET;
    job->ntasks        = SLM_UNSET;
    job->cpus_per_task = 1;
    job->array_job_id  = SLM_UNSET;
    job->array_task_id = SLM_UNSET;

    /* each call leaves the field alone when the variable is absent */
    if ((status = slm_env_u32(envp, "SLURM_JOB_ID", "SLURM_JOBID", 1, &job->job_id)) ||
        (status = slm_env_u32(envp, "SLURM_STEP_ID", "SLURM_STEPID", 0, &job->step_id)) ||
        (status = slm_env_u32(envp, "SLURM_PROCID", NULL, 0, &job->rank)) ||
        (status = slm_env_u32(envp, "SLURM_LOCALID", NULL, 0, &job->local_rank)) ||
        (status = slm_env_u32(envp, "SLURM_NODEID", NULL, 0, &job->node_id)) ||
        (status = slm_env_u32(envp, "SLURM_NTASKS", "SLURM_NPROCS", 1, &job->ntasks)) ||
        (status = slm_env_u32(envp, "SLURM_CPUS_PER_TASK", NULL, 1, &job->cpus_per_task)) ||
        (status = slm_env_u32(envp, "SLURM_RESTART_COUNT", NULL, 0, &job->restart_count)) ||
        (status = slm_env_u32(envp, "SLURM_ARRAY_JOB_ID", NULL, 1, &job->array_job_id)) ||
        (status = slm_env_u32(envp, "SLURM_ARRAY_TASK_ID", NULL, 0, &job->array_task_id))) {
        goto err;
    }

    value = slm_env_get(envp, "SLURM_JOB_END_TIME");
    if (value != NULL) {
        status = slm_parse_u64("SLURM_JOB_END_TIME", value, 0, INT64_MAX, &end_time);
        if (status != RMPI_OK) {
            goto err;
        }
        job->end_time = (time_t)end_time;
    }

    value = slm_env_get(envp, "CUDA_VISIBLE_DEVICES");
    if (value != NULL && (status = slm_parse_gpus(value, job)) != RMPI_OK) {
        goto err;
    }
    job->gpus_on_node = job->num_gpus_visible;
    if ((status = slm_env_u32(envp, "SLURM_GPUS_ON_NODE", NULL, 0, &job->gpus_on_node))) {
        goto err;
    }

    value = slm_env_get2(envp, "SLURM_JOB_NODELIST", "SLURM_NODELIST", &used);
    if (value != NULL) {
        status = slm_hostlist_expand(value, used, &job->nodes, &job->num_nodes);
        if (status != RMPI_OK) {
            goto err;
        }
    }

    value = slm_env_get(envp, "SLURM_JOB_PARTITION");
    if (value != NULL && (job->partition = strdup(value)) == NULL) {
        status = RMPI_ERR_NO_MEMORY;
        goto err;
    }

    status = slm_job_check(job);
    if (status != RMPI_OK) {
        goto err;
    }
    *job_p = job;
    return RMPI_OK;

err:
    slm_job_destroy(job);
    return status;
}
