/*
 * cli/status.c - `ray-mpi status [--json] [JOBID]`: the Slurm job this command
 * runs in (or job JOBID) as the SLURM_* environment and slurmctld see it, then
 * the runtime's own view, asked of the job's head (rank 0) through the
 * Unix-domain socket it serves in the job's run directory (runtime/status.h).
 *
 * The run directory is named after the job ID the ranks computed
 * (base/rundir.c): SLURM_JOB_ID.SLURM_STEP_ID in a Slurm step,
 * SLURM_JOB_ID.mpirun-N under mpirun in an allocation, RAYMPI_JOB_ID when set
 * (`ray-mpi -n N` sets local-<pid>). A Slurm job ID therefore matches the
 * directories JOBID, JOBID.STEP and JOBID.mpirun-N (one runtime each); any
 * other ID matches its directory only.
 *
 * Exit status: 0 when a runtime answered (and, for a Slurm job, slurmctld
 * did); 3 when no live runtime answered; 1 when a runtime answered but the
 * Slurm state could not be read; 2 for usage errors.
 */
#include "cli/cli.h"

#include "base/rundir.h"
#include "runtime/status.h"
#include "slurm/slm.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Exit status when the job's Slurm state cannot be read. */
#define STATUS_EXIT_FAILED 1
/* Exit status when no live runtime of the job answered. */
#define STATUS_EXIT_NO_RUNTIME 3
/* How long the head may take: it waits up to its gather timeout for the ranks. */
#define STATUS_CLIENT_TIMEOUT_S ((int)RT_STATUS_GATHER_TIMEOUT + 2 * RT_STATUS_IO_TIMEOUT)

typedef struct status_opts {
    bool        json;
    const char *job_arg; /**< JOBID given, or NULL */
} status_opts_t;

/* What one `ray-mpi status` found: the Slurm side and the runtimes that answered. */
typedef struct status_result {
    char          id[NAME_MAX + 1]; /**< the job ID run directories are matched against */
    bool          is_slurm;         /**< id is a Slurm job ID (all digits) */
    slm_job_t    *env_job;          /**< this task's Slurm environment, or NULL */
    rmpi_status_t slurm_status;
    char          state[64];
    char          nodes[1024];
    time_t        end_time;
    int           runtimes; /**< runtimes that answered */
} status_result_t;

static void status_print_help(FILE *out)
{
    fprintf(out, "usage: ray-mpi status [--json] [JOBID]\n"
                 "\n"
                 "Show a job: the Slurm job this command runs in (SLURM_JOB_ID), the job\n"
                 "RAYMPI_JOB_ID names, or JOBID (a Slurm job ID, or a local job ID such as\n"
                 "local-1234). For a Slurm job: what the environment says about it and this\n"
                 "task, and its state, nodes and end time from slurmctld (needs SLURM_CONF\n"
                 "or /etc/slurm/slurm.conf). Then the runtime's own view, from the job's\n"
                 "head (rank 0): ranks, nodes, CPUs and GPUs (total and free), tasks queued,\n"
                 "running and executed, the store and the actors of each rank, and the\n"
                 "functions running there.\n"
                 "\n"
                 "options:\n"
                 "  --json      one JSON object: {\"job\", \"slurm\", \"runtimes\": [...]}\n"
                 "  -h, --help  print this help\n"
                 "\n"
                 "exit status: 0 a runtime answered; 3 no live runtime of the job answered;\n"
                 "1 the Slurm state could not be read; 2 usage error.\n");
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

/* Returns -1 when the arguments parsed, else the exit status. */
static int status_parse_args(int argc, char **argv, status_opts_t *opts)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            opts->json = true;
            break;
        case 'h':
            status_print_help(stdout);
            return 0;
        default:
            return cli_option_error("status", c, argv);
        }
    }
    if (argc - optind > 1) {
        return cli_usage_error("status", "too many arguments");
    }
    opts->job_arg = optind < argc ? argv[optind] : NULL;
    return -1;
}

static bool status_digits(const char *s)
{
    return *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

/* A Slurm job ID: digits without a leading zero, below SLM_UNSET. */
static bool status_is_slurm_id(const char *s)
{
    return status_digits(s) && s[0] != '0' && strlen(s) <= 10 && strtoul(s, NULL, 10) < SLM_UNSET;
}

/* A job ID names a directory: the characters base/rundir.c keeps, no leading '.'. */
static bool status_id_ok(const char *id)
{
    size_t len = strlen(id);

    return len > 0 && len <= NAME_MAX && id[0] != '.' &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

/* Which job: JOBID, else RAYMPI_JOB_ID, else SLURM_JOB_ID; -1 when found, else the exit status. */
static int status_pick_job(const status_opts_t *opts, status_result_t *res)
{
    const char   *raympi_id = getenv("RAYMPI_JOB_ID");
    rmpi_status_t status;

    if (opts->job_arg != NULL) {
        if (!status_id_ok(opts->job_arg)) {
            return cli_usage_error("status", "'%s' is not a job ID", opts->job_arg);
        }
        snprintf(res->id, sizeof(res->id), "%s", opts->job_arg);
        res->is_slurm = status_is_slurm_id(res->id);
        return -1;
    }
    status = slm_job_from_env(NULL, &res->env_job);
    if (status != RMPI_OK && status != RMPI_ERR_NOT_FOUND) {
        fprintf(stderr, "ray-mpi status: the Slurm environment is not usable (%s)\n",
                rmpi_status_str(status));
        return STATUS_EXIT_FAILED;
    }
    if (raympi_id != NULL && raympi_id[0] != '\0') {
        if (base_job_id(res->id, sizeof(res->id)) != RMPI_OK) {
            return cli_usage_error("status", "RAYMPI_JOB_ID is not a usable job ID");
        }
        res->is_slurm = false;
        return -1;
    }
    if (res->env_job == NULL) {
        fprintf(stderr, "ray-mpi status: not inside a Slurm job (SLURM_JOB_ID is not set), "
                        "RAYMPI_JOB_ID is not set and no JOBID given\n");
        return CLI_EXIT_USAGE;
    }
    snprintf(res->id, sizeof(res->id), "%u", res->env_job->job_id);
    res->is_slurm = true;
    return -1;
}

/* The folder that holds every job's run directory (where base/rundir.c puts them). */
static bool status_run_dir_base(char *buf, size_t len)
{
    char path[PATH_MAX];

    if (base_run_dir_path(path, sizeof(path)) != RMPI_OK || strlen(path) >= len) {
        return false;
    }
    snprintf(buf, len, "%s", dirname(path));
    return true;
}

/*
 * Run directory @a name belongs to job @a res->id: equal, or for a Slurm job
 * one of its steps (JOBID.STEP) or mpiruns inside it (JOBID.mpirun-OMPIJOB).
 */
static bool status_dir_matches(const status_result_t *res, const char *name)
{
    size_t      len = strlen(res->id);
    const char *rest;

    if (strcmp(name, res->id) == 0) {
        return true;
    }
    if (!res->is_slurm || strncmp(name, res->id, len) != 0 || name[len] != '.') {
        return false;
    }
    rest = name + len + 1;
    if (strncmp(rest, "mpirun-", strlen("mpirun-")) == 0) {
        rest += strlen("mpirun-");
    }
    return status_digits(rest);
}

/* Connect to the head's socket at @a path; -1 when nothing listens there (no live runtime). */
static int status_connect(const char *path)
{
    struct sockaddr_un addr    = {.sun_family = AF_UNIX};
    struct timeval     timeout = {.tv_sec = STATUS_CLIENT_TIMEOUT_S};
    int                fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        return -1;
    }
    strcpy(addr.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd); /* ENOENT, or ECONNREFUSED: a socket file a killed run left */
        return -1;
    }
    return fd;
}

/* Read until the head closes; a malloc'd NUL-terminated text, NULL on a timeout. */
static char *status_read_all(int fd)
{
    size_t len = 0, cap = 4096;
    char  *buf = malloc(cap);

    while (buf != NULL) {
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            free(buf);
            return NULL;
        }
        if (n == 0) {
            buf[len] = '\0';
            return buf;
        }
        len += (size_t)n;
        if (cap - len < 1024) {
            char *bigger = realloc(buf, cap * 2);

            if (bigger == NULL) {
                free(buf);
            }
            buf = bigger;
            cap *= 2;
        }
    }
    return NULL;
}

/*
 * Ask the head serving @a path for its report: the text (malloc'd) or NULL
 * with *@a live_p telling whether anything listened.
 */
static char *status_ask_head(const char *path, bool json, bool *live_p)
{
    const char *request = json ? "status json\n" : "status\n";
    int         fd      = status_connect(path);
    char       *text    = NULL;

    *live_p = fd >= 0;
    if (fd < 0) {
        return NULL;
    }
    if (send(fd, request, strlen(request), MSG_NOSIGNAL) == (ssize_t)strlen(request)) {
        text = status_read_all(fd);
    }
    close(fd);
    if (text == NULL) {
        fprintf(stderr, "ray-mpi status: the runtime at %s did not answer within %d s\n", path,
                STATUS_CLIENT_TIMEOUT_S);
    } else if (strncmp(text, "error:", 6) == 0) {
        fprintf(stderr, "ray-mpi status: the runtime at %s says %s", path, text);
        free(text);
        text = NULL;
    }
    return text;
}

/* Print the report of one runtime (a JSON element after the first gets its comma). */
static void status_print_runtime(status_result_t *res, const char *text, bool json)
{
    size_t len = strlen(text);

    if (json) {
        while (len > 0 && text[len - 1] == '\n') {
            len--;
        }
        printf("%s%.*s", res->runtimes > 0 ? "," : "", (int)len, text);
    } else {
        fputs(text, stdout);
    }
    res->runtimes++;
}

/* Every run directory of the job whose head answers: its report. */
static void status_query_runtimes(status_result_t *res, bool json)
{
    char            base[PATH_MAX];
    char            path[PATH_MAX];
    struct dirent **names = NULL;
    int             n;

    if (!status_run_dir_base(base, sizeof(base)) ||
        (n = scandir(base, &names, NULL, alphasort)) < 0) {
        return; /* no run directory at all: no runtime */
    }
    for (int i = 0; i < n; ++i) {
        bool  live;
        char *text = NULL;

        if (status_dir_matches(res, names[i]->d_name) &&
            (size_t)snprintf(path, sizeof(path), "%s/%s/%s", base, names[i]->d_name,
                             RT_STATUS_SOCKET_NAME) < sizeof(path)) {
            text = status_ask_head(path, json, &live);
        }
        if (text != NULL) {
            status_print_runtime(res, text, json);
            free(text);
        }
        free(names[i]);
    }
    free(names);
}

static void status_query_slurm(status_result_t *res)
{
    res->slurm_status =
        slm_job_state((uint32_t)strtoul(res->id, NULL, 10), res->state, sizeof(res->state),
                      res->nodes, sizeof(res->nodes), &res->end_time);
    if (res->end_time == 0 && res->env_job != NULL) {
        res->end_time = res->env_job->end_time;
    }
}

static void status_print_slurm_text(const status_result_t *res)
{
    if (res->env_job != NULL) {
        status_print_env(res->env_job);
    }
    if (res->slurm_status == RMPI_OK) {
        printf("%-10s %s\n", "state", res->state);
        printf("%-10s %s\n", "allocated", res->nodes[0] != '\0' ? res->nodes : "(none yet)");
    } else {
        printf("%-10s unknown (%s)\n", "state",
               res->slurm_status == RMPI_ERR_NOT_FOUND ? "slurmctld does not know the job"
                                                       : rmpi_status_str(res->slurm_status));
    }
    status_print_time("ends", res->end_time);
}

/* JSON strings here are Slurm states, node lists and sanitized job IDs: no quoting needed. */
static void status_print_slurm_json(const status_result_t *res)
{
    if (!res->is_slurm) {
        printf(",\"slurm\":null");
    } else if (res->slurm_status != RMPI_OK) {
        printf(",\"slurm\":{\"state\":null,\"error\":\"%s\"}", rmpi_status_str(res->slurm_status));
    } else {
        printf(",\"slurm\":{\"state\":\"%s\",\"nodes\":\"%s\",\"end_time\":%lld}", res->state,
               res->nodes, (long long)res->end_time);
    }
}

static int status_exit_code(const status_result_t *res)
{
    if (res->runtimes == 0) {
        return STATUS_EXIT_NO_RUNTIME;
    }
    return res->is_slurm && res->slurm_status != RMPI_OK ? STATUS_EXIT_FAILED : 0;
}

int cli_status_main(int argc, char **argv)
{
    status_opts_t   opts = {0};
    status_result_t res  = {.slurm_status = RMPI_OK};
    int             rc   = status_parse_args(argc, argv, &opts);

    if (rc < 0) {
        rc = status_pick_job(&opts, &res);
    }
    if (rc >= 0) {
        slm_job_destroy(res.env_job);
        return rc;
    }
    if (res.is_slurm) {
        status_query_slurm(&res);
    }
    if (opts.json) {
        printf("{\"job\":\"%s\"", res.id);
        status_print_slurm_json(&res);
        printf(",\"runtimes\":[");
    } else {
        printf("%-10s %s\n", "job", res.id);
        if (res.is_slurm) {
            status_print_slurm_text(&res);
        }
    }
    fflush(stdout);
    status_query_runtimes(&res, opts.json);
    if (opts.json) {
        printf("]}\n");
    } else if (res.runtimes == 0) {
        printf("%-10s none: no live ray-mpi runtime of job %s answered\n", "runtime", res.id);
    }
    slm_job_destroy(res.env_job);
    return status_exit_code(&res);
}
