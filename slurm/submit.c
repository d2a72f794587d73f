/*
 * slurm/submit.c - batch submission and job state through libslurm.
 *
 * libslurm's slurm_init() fatal()s (exits the process) when it finds no
 * configuration, so slm_conf_path() looks for one first and every function
 * here returns RMPI_ERR_UNSUPPORTED instead. The option parsers need no
 * configuration at all.
 */
#define _GNU_SOURCE /* asprintf */
#include "slurm/slm.h"

#include "base/log.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* exported by libslurm.so but declared in no public 22.05 header */
extern char *slurm_job_state_string(uint32_t state);

extern char **environ;

#define SLM_WAIT_MIN_MS 50
#define SLM_WAIT_MAX_MS 2000

/* A decimal number with nothing around it, at most @a max. */
static bool slm_parse_uint(const char *text, size_t len, unsigned long max, unsigned long *out_p)
{
    unsigned long v = 0;

    if (len == 0 || len > 10) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        v = v * 10 + (unsigned long)(text[i] - '0');
    }
    if (v > max) {
        return false;
    }
    *out_p = v;
    return true;
}

rmpi_status_t slm_time_limit_parse(const char *text, uint32_t *minutes_p)
{
    unsigned long part[3] = {0, 0, 0};
    unsigned long days    = 0;
    const char   *p       = text;
    const char   *dash;
    unsigned      nparts = 0;
    uint64_t      seconds;

    if (text == NULL || minutes_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    if (strcmp(text, "infinite") == 0 || strcmp(text, "UNLIMITED") == 0) {
        *minutes_p = INFINITE;
        return RMPI_OK;
    }
    dash = strchr(text, '-');
    if (dash != NULL) {
        if (!slm_parse_uint(text, (size_t)(dash - text), 365000, &days)) {
            return RMPI_ERR_INVALID_ARG;
        }
        p = dash + 1;
    }
    for (;;) {
        size_t len = strcspn(p, ":");

        if (nparts == 3 || !slm_parse_uint(p, len, 1000000, &part[nparts])) {
            return RMPI_ERR_INVALID_ARG;
        }
        nparts++;
        if (p[len] == '\0') {
            break;
        }
        p += len + 1;
    }
    if (dash != NULL) {
        /* D-HH, D-HH:MM, D-HH:MM:SS */
        seconds = ((days * 24 + part[0]) * 60 + part[1]) * 60 + part[2];
    } else if (nparts == 1) {
        seconds = part[0] * 60; /* MM */
    } else if (nparts == 2) {
        seconds = part[0] * 60 + part[1]; /* MM:SS */
    } else {
        seconds = (part[0] * 60 + part[1]) * 60 + part[2]; /* HH:MM:SS */
    }
    if (seconds == 0 || (seconds + 59) / 60 >= INFINITE) {
        return RMPI_ERR_INVALID_ARG;
    }
    *minutes_p = (uint32_t)((seconds + 59) / 60);
    return RMPI_OK;
}

rmpi_status_t slm_signal_parse(const char *text, int *signal_p, uint32_t *seconds_p,
                               bool *batch_only_p)
{
    static const struct {
        const char *name;
        int         num;
    } names[] = {
        {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
        {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
        {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"URG", SIGURG},
    };
    unsigned long seconds = 60;
    unsigned long num;
    bool          batch = false;
    const char   *at;
    size_t        len;
    int           sig = 0;

    if (text == NULL || signal_p == NULL || seconds_p == NULL || batch_only_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    if (strncmp(text, "B:", 2) == 0) {
        batch = true;
        text += 2;
    }
    at  = strchr(text, '@');
    len = at != NULL ? (size_t)(at - text) : strlen(text);
    if (at != NULL && !slm_parse_uint(at + 1, strlen(at + 1), 65535, &seconds)) {
        return RMPI_ERR_INVALID_ARG;
    }
    if (len > 3 && strncmp(text, "SIG", 3) == 0) {
        text += 3;
        len -= 3;
    }
    if (slm_parse_uint(text, len, 64, &num)) {
        sig = (int)num;
    } else {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (strlen(names[i].name) == len && strncmp(text, names[i].name, len) == 0) {
                sig = names[i].num;
            }
        }
    }
    if (sig <= 0) {
        return RMPI_ERR_INVALID_ARG;
    }
    *signal_p     = sig;
    *seconds_p    = (uint32_t)seconds;
    *batch_only_p = batch;
    return RMPI_OK;
}

const char *slm_conf_path(void)
{
    static const char *const defaults[] = {"/etc/slurm/slurm.conf", "/run/slurm/conf/slurm.conf"};
    const char              *env        = getenv("SLURM_CONF");

    if (env != NULL) {
        return access(env, R_OK) == 0 ? env : NULL;
    }
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        if (access(defaults[i], R_OK) == 0) {
            return defaults[i];
        }
    }
    return NULL;
}

/* slurm_init() once, only with a configuration it can read (it would exit otherwise). */
static rmpi_status_t slm_api_init(void)
{
    static bool initialized;
    const char *conf;

    if (initialized) {
        return RMPI_OK;
    }
    conf = slm_conf_path();
    if (conf == NULL) {
        if (getenv("SLURM_CONF") != NULL) {
            base_error("cannot read SLURM_CONF='%s': %m", getenv("SLURM_CONF"));
        } else {
            base_error("no slurm.conf found (set SLURM_CONF); cannot talk to Slurm");
        }
        return RMPI_ERR_UNSUPPORTED;
    }
    slurm_init(conf);
    initialized = true;
    return RMPI_OK;
}

static rmpi_status_t slm_errno_status(void)
{
    int err = slurm_get_errno();

    if (err == ESLURM_INVALID_JOB_ID) {
        return RMPI_ERR_NOT_FOUND;
    }
    if (err == SLURM_COMMUNICATIONS_CONNECTION_ERROR ||
        err == SLURMCTLD_COMMUNICATIONS_CONNECTION_ERROR ||
        err == SLURM_COMMUNICATIONS_SEND_ERROR || err == SLURM_COMMUNICATIONS_RECEIVE_ERROR ||
        err == SLURMCTLD_COMMUNICATIONS_SEND_ERROR ||
        err == SLURMCTLD_COMMUNICATIONS_RECEIVE_ERROR ||
        err == SLURM_PROTOCOL_SOCKET_IMPL_TIMEOUT) {
        return RMPI_ERR_IO;
    }
    return RMPI_ERR_INVALID_ARG;
}

/* The environment the job gets: ours (or the request's) plus what sbatch adds. */
static char **slm_job_environment(char *const *envp, const char *work_dir, uint32_t *size_p)
{
    char   host[256];
    char **env;
    size_t n = 0;
    size_t i = 0;

    if (envp == NULL) {
        envp = environ;
    }
    while (envp[n] != NULL) {
        n++;
    }
    env = calloc(n + 3, sizeof(*env));
    if (env == NULL) {
        return NULL;
    }
    for (size_t k = 0; k < n; k++) {
        if (strncmp(envp[k], "SLURM_SUBMIT_", 13) != 0) {
            env[i++] = envp[k];
        }
    }
    if (gethostname(host, sizeof(host)) != 0) {
        snprintf(host, sizeof(host), "localhost");
    }
    host[sizeof(host) - 1] = '\0';
    if (asprintf(&env[i], "SLURM_SUBMIT_DIR=%s", work_dir) < 0) {
        free(env);
        return NULL;
    }
    if (asprintf(&env[i + 1], "SLURM_SUBMIT_HOST=%s", host) < 0) {
        free(env[i]);
        free(env);
        return NULL;
    }
    *size_p = (uint32_t)(i + 2);
    return env;
}

rmpi_status_t slm_submit(const slm_submit_req_t *req, uint32_t *job_id_p)
{
    submit_response_msg_t *resp = NULL;
    job_desc_msg_t         desc;
    char                   cwd[PATH_MAX];
    char                   tres[64];
    char                 **env;
    rmpi_status_t          status;
    uint32_t               env_size = 0;

    if (req == NULL || req->script == NULL || job_id_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    status = slm_api_init();
    if (status != RMPI_OK) {
        return status;
    }
    if (req->work_dir == NULL && getcwd(cwd, sizeof(cwd)) == NULL) {
        base_error("cannot get the current directory: %m");
        return RMPI_ERR_IO;
    }

    slurm_init_job_desc_msg(&desc);
    desc.script    = (char *)req->script;
    desc.name      = (char *)(req->name != NULL ? req->name : "ray-mpi");
    desc.work_dir  = (char *)(req->work_dir != NULL ? req->work_dir : cwd);
    desc.partition = (char *)req->partition;
    desc.array_inx = (char *)req->array;
    desc.std_out   = (char *)(req->std_out != NULL ? req->std_out
                              : req->array != NULL ? "slurm-%A_%a.out"
                                                   : "slurm-%j.out");
    desc.user_id   = getuid();
    desc.group_id  = getgid();
    if (req->nodes > 0) {
        desc.min_nodes = req->nodes;
        desc.max_nodes = req->nodes;
    }
    if (req->ntasks > 0) {
        desc.num_tasks = req->ntasks;
    }
    if (req->cpus_per_task > 0) {
        desc.cpus_per_task = (uint16_t)req->cpus_per_task;
    }
    /* as sbatch does: the allocation must hold every task's CPUs */
    desc.min_cpus =
        (req->ntasks > 0 ? req->ntasks : 1) * (req->cpus_per_task > 0 ? req->cpus_per_task : 1);
    if (req->gpus > 0) {
        /* the TRES spelling sbatch -G uses in 22.05 */
        snprintf(tres, sizeof(tres), "gres:gpu:%u", req->gpus);
        desc.tres_per_job = tres;
    }
    if (req->time_limit_min > 0) {
        desc.time_limit = req->time_limit_min;
    }
    if (req->signal > 0) {
        desc.warn_signal = (uint16_t)req->signal;
        desc.warn_time   = (uint16_t)req->signal_time_s;
        desc.warn_flags  = req->signal_batch ? KILL_JOB_BATCH : 0;
    }
    desc.requeue = req->requeue ? 1 : 0;

    env = slm_job_environment(req->envp, desc.work_dir, &env_size);
    if (env == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    desc.environment = env;
    desc.env_size    = env_size;

    if (slurm_submit_batch_job(&desc, &resp) != SLURM_SUCCESS) {
        base_error("slurm rejected the job: %s", slurm_strerror(slurm_get_errno()));
        status = slm_errno_status();
        goto out;
    }
    if (resp->job_submit_user_msg != NULL) {
        base_warn("slurm: %s", resp->job_submit_user_msg);
    }
    *job_id_p = resp->job_id;
    status    = RMPI_OK;

out:
    slurm_free_submit_response_response_msg(resp);
    free(env[env_size - 2]);
    free(env[env_size - 1]);
    free(env);
    return status;
}

/* Load every record of a job (all tasks of an array). */
static rmpi_status_t slm_load(uint32_t job_id, job_info_msg_t **msg_p)
{
    rmpi_status_t status = slm_api_init();

    if (status != RMPI_OK) {
        return status;
    }
    if (slurm_load_job(msg_p, job_id, SHOW_ALL) != SLURM_SUCCESS) {
        status = slm_errno_status();
        if (status != RMPI_ERR_NOT_FOUND) {
            base_error("cannot load job %u: %s", job_id, slurm_strerror(slurm_get_errno()));
        }
        return status;
    }
    if ((*msg_p)->record_count == 0) {
        slurm_free_job_info_msg(*msg_p);
        return RMPI_ERR_NOT_FOUND;
    }
    return RMPI_OK;
}

static bool slm_job_finished(const slurm_job_info_t *job)
{
    return (job->job_state & JOB_STATE_BASE) >= JOB_COMPLETE && !(job->job_state & JOB_COMPLETING);
}

static int slm_exit_code(uint32_t wait_status)
{
    if (WIFSIGNALED(wait_status)) {
        return 128 + WTERMSIG(wait_status);
    }
    return WEXITSTATUS(wait_status);
}

rmpi_status_t slm_job_wait(uint32_t job_id, unsigned timeout_s, slm_job_end_t *end_p)
{
    struct timespec start;
    struct timespec now;
    long            delay_ms = SLM_WAIT_MIN_MS;

    if (end_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        job_info_msg_t *msg = NULL;
        slm_job_end_t   end = {.exit_code = 0};
        bool            done;
        rmpi_status_t   status;

        status = slm_load(job_id, &msg);
        if (status != RMPI_OK) {
            return status;
        }
        done = true;
        for (uint32_t i = 0; i < msg->record_count; i++) {
            const slurm_job_info_t *job = &msg->job_array[i];
            int                     code;

            /* a pending array's meta record stands for the tasks not yet split off */
            if (!slm_job_finished(job)) {
                done = false;
                break;
            }
            code = slm_exit_code(job->exit_code);
            if (end.ntasks == 0 || code > end.exit_code ||
                (job->job_state & JOB_STATE_BASE) != JOB_COMPLETE) {
                snprintf(end.state, sizeof(end.state), "%s",
                         slurm_job_state_string(job->job_state));
            }
            if (code > end.exit_code) {
                end.exit_code = code;
            }
            end.ntasks++;
        }
        slurm_free_job_info_msg(msg);
        if (done) {
            *end_p = end;
            return RMPI_OK;
        }

        clock_gettime(CLOCK_MONOTONIC, &now);
        if (timeout_s > 0 && now.tv_sec - start.tv_sec >= (time_t)timeout_s) {
            return RMPI_ERR_TIMEOUT;
        }
        /* back off: a waiting client must not load slurmctld */
        struct timespec pause = {.tv_sec = delay_ms / 1000, .tv_nsec = (delay_ms % 1000) * 1000000};
        while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
        }
        delay_ms = delay_ms * 2 > SLM_WAIT_MAX_MS ? SLM_WAIT_MAX_MS : delay_ms * 2;
    }
}

rmpi_status_t slm_job_state(uint32_t job_id, char *state, size_t state_size, char *nodes,
                            size_t nodes_size, time_t *end_time_p)
{
    job_info_msg_t         *msg = NULL;
    const slurm_job_info_t *job;
    rmpi_status_t           status;

    if (state == NULL || nodes == NULL || end_time_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    status = slm_load(job_id, &msg);
    if (status != RMPI_OK) {
        return status;
    }
    job = &msg->job_array[0];
    snprintf(state, state_size, "%s", slurm_job_state_string(job->job_state));
    snprintf(nodes, nodes_size, "%s", job->nodes != NULL ? job->nodes : "");
    *end_time_p = job->end_time;
    slurm_free_job_info_msg(msg);
    return RMPI_OK;
}
