/*
 * cli/submit.c - `ray-mpi submit`: write a job script from a template and
 * submit it through libslurm.
 *
 * The script comes from configs/job-template.sh (--template FILE, else
 * $RAYMPI_JOB_TEMPLATE, else the installed copy, else the source tree's): its
 * @SBATCH@ line becomes one #SBATCH line per option given, @RAY_MPI@ this
 * command's absolute path, @COMMAND@ the program and its arguments, each
 * quoted for the shell (not in comment lines, which are copied unchanged). The same options go to
 * slurm_submit_batch_job() directly (libslurm does not read #SBATCH lines; sbatch does), so the
 * printed script (--dry-run) is also a script plain sbatch accepts.
 */
#include "cli/cli.h"

#include "slurm/slm.h"

#include "base/log.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RMPI_PKGDATADIR
#define RMPI_PKGDATADIR ""
#endif
#ifndef RMPI_SRC_CONFIGS
#define RMPI_SRC_CONFIGS ""
#endif

#define SUBMIT_TEMPLATE_NAME "job-template.sh"
#define SUBMIT_MAX_TEMPLATE (1 << 20)

/* Exit status when the job could not be submitted or followed. */
#define SUBMIT_EXIT_FAILED 1

typedef struct submit_opts {
    slm_submit_req_t req;
    const char      *time_text;   /**< -t as given, for the #SBATCH line */
    const char      *signal_text; /**< --signal as given */
    const char      *template_path;
    bool             wait;
    bool             dry_run;
    unsigned         wait_timeout_s;
    char           **program_argv;
} submit_opts_t;

/* A growing string; on allocation failure it stays failed and says so at the end. */
typedef struct submit_buf {
    char  *data;
    size_t len;
    size_t cap;
    bool   failed;
} submit_buf_t;

static void submit_print_help(FILE *out)
{
    fprintf(out,
            "usage: ray-mpi submit [OPTIONS] [--] PROGRAM [ARGS...]\n"
            "\n"
            "Write a job script that runs `srun ray-mpi PROGRAM ARGS` and submit it to\n"
            "Slurm through libslurm; print the job ID.\n"
            "\n"
            "options:\n"
            "  -N, --nodes N            nodes\n"
            "  -n, --ntasks N           tasks (ranks)\n"
            "  -c, --cpus-per-task N    CPUs per task\n"
            "  -G, --gpus N             GPUs for the job\n"
            "  -t, --time TIME          time limit (MM, HH:MM:SS, D-HH:MM, ...)\n"
            "  -p, --partition NAME     partition\n"
            "  -J, --job-name NAME      job name (default: the program's name)\n"
            "  -o, --output FILE        stdout file (default: slurm-%%j.out)\n"
            "      --array SPEC         a job array (\"0-7\", \"1,3,5%%2\")\n"
            "      --signal [B:]SIG[@S] send SIG S seconds before the time limit\n"
            "      --requeue            the job may be requeued\n"
            "      --wait               follow the job to its end; exit with its exit code\n"
            "      --wait-timeout S     give up waiting after S seconds (default: never)\n"
            "      --dry-run            print the job script instead of submitting it\n"
            "      --template FILE      the job-script template (default: configs/%s)\n"
            "  -h, --help               print this help\n"
            "\n"
            "Slurm is found through SLURM_CONF or /etc/slurm/slurm.conf.\n",
            SUBMIT_TEMPLATE_NAME);
}

static void submit_buf_add(submit_buf_t *buf, const char *text, size_t len)
{
    if (buf->failed) {
        return;
    }
    if (buf->len + len + 1 > buf->cap) {
        size_t cap  = (buf->cap == 0 ? 4096 : buf->cap * 2) + len;
        char  *data = realloc(buf->data, cap);

        if (data == NULL) {
            buf->failed = true;
            return;
        }
        buf->data = data;
        buf->cap  = cap;
    }
    memcpy(buf->data + buf->len, text, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

static void submit_buf_str(submit_buf_t *buf, const char *text)
{
    submit_buf_add(buf, text, strlen(text));
}

static void submit_buf_fmt(submit_buf_t *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void submit_buf_fmt(submit_buf_t *buf, const char *fmt, ...)
{
    char    line[512];
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        buf->failed = true;
        return;
    }
    submit_buf_add(buf, line, (size_t)n);
}

/* Append @a word quoted for the shell: 'it'\''s' style, bare when nothing needs quoting. */
static void submit_buf_quoted(submit_buf_t *buf, const char *word)
{
    if (word[0] != '\0' && strspn(word, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789_-+=.,/:@%") == strlen(word)) {
        submit_buf_str(buf, word);
        return;
    }
    submit_buf_str(buf, "'");
    for (const char *c = word; *c != '\0'; c++) {
        if (*c == '\'') {
            submit_buf_str(buf, "'\\''");
        } else {
            submit_buf_add(buf, c, 1);
        }
    }
    submit_buf_str(buf, "'");
}

/* A positive number for option @a name; prints the usage error itself. */
static int submit_parse_count(const char *name, const char *arg, uint32_t max, uint32_t *out_p)
{
    char         *end;
    unsigned long v;

    errno = 0;
    v     = strtoul(arg, &end, 10);
    if (arg[0] < '0' || arg[0] > '9' || errno != 0 || *end != '\0' || v < 1 || v > max) {
        return cli_usage_error("submit", "%s needs a number in [1, %u], not '%s'", name, max, arg);
    }
    *out_p = (uint32_t)v;
    return 0;
}

static int submit_parse_args(int argc, char **argv, submit_opts_t *opts)
{
    enum {
        OPT_ARRAY = 256,
        OPT_SIGNAL,
        OPT_REQUEUE,
        OPT_WAIT,
        OPT_WAIT_TIMEOUT,
        OPT_DRY_RUN,
        OPT_TEMPLATE
    };
    static const struct option longopts[] = {
        {"nodes", required_argument, NULL, 'N'},
        {"ntasks", required_argument, NULL, 'n'},
        {"cpus-per-task", required_argument, NULL, 'c'},
        {"gpus", required_argument, NULL, 'G'},
        {"time", required_argument, NULL, 't'},
        {"partition", required_argument, NULL, 'p'},
        {"job-name", required_argument, NULL, 'J'},
        {"output", required_argument, NULL, 'o'},
        {"array", required_argument, NULL, OPT_ARRAY},
        {"signal", required_argument, NULL, OPT_SIGNAL},
        {"requeue", no_argument, NULL, OPT_REQUEUE},
        {"wait", no_argument, NULL, OPT_WAIT},
        {"wait-timeout", required_argument, NULL, OPT_WAIT_TIMEOUT},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"template", required_argument, NULL, OPT_TEMPLATE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    slm_submit_req_t *req = &opts->req;
    uint32_t          timeout;
    int               c;
    int               rc;

    optind = 1;
    opterr = 0;
    /* "+": options end at PROGRAM, whose own options are its business */
    while ((c = getopt_long(argc, argv, "+:N:n:c:G:t:p:J:o:h", longopts, NULL)) != -1) {
        rc = 0;
        switch (c) {
        case 'N':
            rc = submit_parse_count("-N", optarg, 100000, &req->nodes);
            break;
        case 'n':
            rc = submit_parse_count("-n", optarg, 10000000, &req->ntasks);
            break;
        case 'c':
            rc = submit_parse_count("-c", optarg, 65535, &req->cpus_per_task);
            break;
        case 'G':
            rc = submit_parse_count("-G", optarg, 65535, &req->gpus);
            break;
        case 't':
            if (slm_time_limit_parse(optarg, &req->time_limit_min) != RMPI_OK) {
                return cli_usage_error("submit",
                                       "-t needs a time limit such as 30, 1:30:00 or "
                                       "2-00:00, not '%s'",
                                       optarg);
            }
            opts->time_text = optarg;
            break;
        case 'p':
            req->partition = optarg;
            break;
        case 'J':
            req->name = optarg;
            break;
        case 'o':
            req->std_out = optarg;
            break;
        case OPT_ARRAY:
            if (optarg[0] == '\0' || strspn(optarg, "0123456789,-:%") != strlen(optarg)) {
                return cli_usage_error("submit",
                                       "--array needs a spec such as 0-7 or 1,3%%2, "
                                       "not '%s'",
                                       optarg);
            }
            req->array = optarg;
            break;
        case OPT_SIGNAL:
            if (slm_signal_parse(optarg, &req->signal, &req->signal_time_s, &req->signal_batch) !=
                RMPI_OK) {
                return cli_usage_error("submit",
                                       "--signal needs [B:]SIG[@SECONDS] such as "
                                       "B:USR1@120, not '%s'",
                                       optarg);
            }
            opts->signal_text = optarg;
            break;
        case OPT_REQUEUE:
            req->requeue = true;
            break;
        case OPT_WAIT:
            opts->wait = true;
            break;
        case OPT_WAIT_TIMEOUT:
            rc = submit_parse_count("--wait-timeout", optarg, 100000000, &timeout);
            opts->wait_timeout_s = timeout;
            break;
        case OPT_DRY_RUN:
            opts->dry_run = true;
            break;
        case OPT_TEMPLATE:
            opts->template_path = optarg;
            break;
        case 'h':
            submit_print_help(stdout);
            return -1;
        default:
            return cli_option_error("submit", c, argv);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (optind < argc && strcmp(argv[optind], "--") == 0) {
        optind++;
    }
    if (optind >= argc) {
        return cli_usage_error("submit", "missing PROGRAM");
    }
    opts->program_argv = &argv[optind];
    return 0;
}

/* The template's text, from the first place that has it. */
static char *submit_read_template(const char *explicit_path, char *path, size_t path_size)
{
    const char *env    = getenv("RAYMPI_JOB_TEMPLATE");
    const char *dirs[] = {RMPI_PKGDATADIR, RMPI_SRC_CONFIGS};
    FILE       *file;
    char       *text;
    size_t      len;

    if (explicit_path != NULL || env != NULL) {
        snprintf(path, path_size, "%s", explicit_path != NULL ? explicit_path : env);
    } else {
        path[0] = '\0';
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
            snprintf(path, path_size, "%s/%s", dirs[i], SUBMIT_TEMPLATE_NAME);
            if (dirs[i][0] != '\0' && access(path, R_OK) == 0) {
                break;
            }
        }
    }
    file = fopen(path, "r");
    if (file == NULL) {
        fprintf(stderr, "ray-mpi submit: cannot read job template '%s': %s\n", path,
                strerror(errno));
        return NULL;
    }
    text = malloc(SUBMIT_MAX_TEMPLATE + 1);
    if (text == NULL) {
        fclose(file);
        return NULL;
    }
    len = fread(text, 1, SUBMIT_MAX_TEMPLATE + 1, file);
    fclose(file);
    if (len > SUBMIT_MAX_TEMPLATE) {
        fprintf(stderr, "ray-mpi submit: job template '%s' is larger than %d bytes\n", path,
                SUBMIT_MAX_TEMPLATE);
        free(text);
        return NULL;
    }
    text[len] = '\0';
    return text;
}

static void submit_sbatch_lines(submit_buf_t *buf, const submit_opts_t *opts)
{
    const slm_submit_req_t *req = &opts->req;

    submit_buf_fmt(buf, "#SBATCH --job-name=%s\n", req->name);
    if (req->nodes > 0) {
        submit_buf_fmt(buf, "#SBATCH --nodes=%u\n", req->nodes);
    }
    if (req->ntasks > 0) {
        submit_buf_fmt(buf, "#SBATCH --ntasks=%u\n", req->ntasks);
    }
    if (req->cpus_per_task > 0) {
        submit_buf_fmt(buf, "#SBATCH --cpus-per-task=%u\n", req->cpus_per_task);
    }
    if (req->gpus > 0) {
        submit_buf_fmt(buf, "#SBATCH --gpus=%u\n", req->gpus);
    }
    if (opts->time_text != NULL) {
        submit_buf_fmt(buf, "#SBATCH --time=%s\n", opts->time_text);
    }
    if (req->partition != NULL) {
        submit_buf_fmt(buf, "#SBATCH --partition=%s\n", req->partition);
    }
    if (req->std_out != NULL) {
        submit_buf_fmt(buf, "#SBATCH --output=%s\n", req->std_out);
    }
    if (req->array != NULL) {
        submit_buf_fmt(buf, "#SBATCH --array=%s\n", req->array);
    }
    if (opts->signal_text != NULL) {
        submit_buf_fmt(buf, "#SBATCH --signal=%s\n", opts->signal_text);
    }
    if (req->requeue) {
        submit_buf_str(buf, "#SBATCH --requeue\n");
    }
}

/* Expand the template into the job script; NULL (after a message) on failure. */
static char *submit_build_script(const submit_opts_t *opts, const char *template_text)
{
    submit_buf_t buf = {0};
    char         self[PATH_MAX];
    ssize_t      n;
    const char  *p = template_text;

    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        snprintf(self, sizeof(self), "ray-mpi");
    } else {
        self[n] = '\0';
    }
    while (*p != '\0') {
        const char *eol      = strchr(p, '\n');
        size_t      line_len = eol != NULL ? (size_t)(eol - p) : strlen(p);

        if (line_len == strlen("@SBATCH@") && strncmp(p, "@SBATCH@", line_len) == 0) {
            submit_sbatch_lines(&buf, opts);
        } else if (p[0] == '#') {
            /* comments (the template's own help among them) are copied as they are */
            submit_buf_add(&buf, p, line_len + (eol != NULL ? 1 : 0));
        } else {
            const char *q = p;

            while (q < p + line_len) {
                if (strncmp(q, "@RAY_MPI@", 9) == 0) {
                    submit_buf_quoted(&buf, self);
                    q += 9;
                } else if (strncmp(q, "@COMMAND@", 9) == 0) {
                    for (char **arg = opts->program_argv; *arg != NULL; arg++) {
                        if (arg != opts->program_argv) {
                            submit_buf_str(&buf, " ");
                        }
                        submit_buf_quoted(&buf, *arg);
                    }
                    q += 9;
                } else {
                    submit_buf_add(&buf, q, 1);
                    q++;
                }
            }
            if (eol != NULL) {
                submit_buf_str(&buf, "\n");
            }
        }
        p += line_len + (eol != NULL ? 1 : 0);
    }
    if (buf.failed) {
        fprintf(stderr, "ray-mpi submit: out of memory writing the job script\n");
        free(buf.data);
        return NULL;
    }
    return buf.data;
}

int cli_submit_main(int argc, char **argv)
{
    submit_opts_t opts = {.req = {.signal = 0}};
    slm_job_end_t end;
    char          template_path[PATH_MAX];
    char         *template_text;
    char         *script;
    const char   *base;
    uint32_t      job_id = 0;
    rmpi_status_t status;
    int           rc;

    rc = submit_parse_args(argc, argv, &opts);
    if (rc != 0) {
        return rc < 0 ? 0 : rc;
    }
    if (opts.req.name == NULL) {
        base          = strrchr(opts.program_argv[0], '/');
        opts.req.name = base != NULL ? base + 1 : opts.program_argv[0];
    }
    template_text = submit_read_template(opts.template_path, template_path, sizeof(template_path));
    if (template_text == NULL) {
        return SUBMIT_EXIT_FAILED;
    }
    script = submit_build_script(&opts, template_text);
    free(template_text);
    if (script == NULL) {
        return SUBMIT_EXIT_FAILED;
    }
    if (opts.dry_run) {
        fputs(script, stdout);
        free(script);
        return 0;
    }

    opts.req.script = script;
    status          = slm_submit(&opts.req, &job_id);
    free(script);
    if (status != RMPI_OK) {
        fprintf(stderr, "ray-mpi submit: the job was not submitted (%s)\n",
                rmpi_status_str(status));
        return SUBMIT_EXIT_FAILED;
    }
    printf("%u\n", job_id);
    fflush(stdout);
    if (!opts.wait) {
        return 0;
    }

    status = slm_job_wait(job_id, opts.wait_timeout_s, &end);
    if (status != RMPI_OK) {
        fprintf(stderr, "ray-mpi submit: cannot follow job %u (%s)\n", job_id,
                rmpi_status_str(status));
        return SUBMIT_EXIT_FAILED;
    }
    fprintf(stderr, "ray-mpi submit: job %u %s, exit code %d\n", job_id, end.state, end.exit_code);
    /* a job that failed without an exit code (cancelled, timed out) must not look fine */
    if (end.exit_code == 0 && strcmp(end.state, "COMPLETED") != 0) {
        return SUBMIT_EXIT_FAILED;
    }
    return end.exit_code;
}
