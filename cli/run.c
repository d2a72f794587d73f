/*
 * cli/run.c - `ray-mpi run`: start a program as an MPI job.
 *
 * Inside a job that a launcher already started (a Slurm task, or a process
 * mpirun started) this process is one rank: it sets up the rank's environment
 * and execs the program. Elsewhere it becomes `mpirun -n N PROGRAM ARGS` with
 * the settings docs/ and reference/hpc-setup.md found necessary on a single
 * machine (loopback only, oversubscription, running as root), so that
 * `ray-mpi -n 4 ./app` works on a laptop, in CI and in a container.
 *
 * `ray-mpi bench` reaches this launcher by re-executing the command
 * (`ray-mpi run -n N -- ray-mpi bench ...`), so there is one launcher.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef RMPI_MPIRUN
#define RMPI_MPIRUN ""
#endif

/* More local ranks than this is a typo, not a job. */
#define RUN_MAX_LOCAL_RANKS 4096

typedef struct run_opts {
    long        nranks;      /**< 0: not given */
    const char *config_file; /**< NULL: not given */
    char      **program_argv;
} run_opts_t;

static void run_print_help(FILE *out)
{
    fprintf(out, "usage: ray-mpi [run] [-n N] [--config FILE] [--] PROGRAM [ARGS...]\n"
                 "\n"
                 "Inside a Slurm step (SLURM_PROCID set) or a job started by mpirun\n"
                 "(OMPI_COMM_WORLD_RANK or PMIX_RANK set), exec PROGRAM as this rank.\n"
                 "Otherwise start N local ranks with mpirun, on loopback only.\n"
                 "A PROGRAM named like a ray-mpi command needs `run` before it.\n"
                 "\n"
                 "options:\n"
                 "  -n, --np N          number of local ranks (default: online CPUs)\n"
                 "  -c, --config FILE   read settings from FILE (sets RAYMPI_CONFIG_FILE)\n"
                 "  -h, --help          print this help\n");
}

static int run_parse_nranks(const char *arg, long *nranks_p)
{
    char *end;

    errno  = 0;
    long n = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || n < 1 || n > RUN_MAX_LOCAL_RANKS) {
        return cli_usage_error("run", "-n expects a number of ranks from 1 to %d, got '%s'",
                               RUN_MAX_LOCAL_RANKS, arg);
    }
    *nranks_p = n;
    return 0;
}

/* Returns -1 when the options parsed, else the exit status. */
static int run_parse_args(int argc, char **argv, run_opts_t *opts)
{
    static const struct option longopts[] = {
        {"np", required_argument, NULL, 'n'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opterr = 0;
    optind = 1;
    /* '+': stop at PROGRAM, whose options are its own; ':': report a missing value */
    while ((c = getopt_long(argc, argv, "+:n:c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (run_parse_nranks(optarg, &opts->nranks) != 0) {
                return CLI_EXIT_USAGE;
            }
            break;
        case 'c':
            opts->config_file = optarg;
            break;
        case 'h':
            run_print_help(stdout);
            return 0;
        default:
            return cli_option_error("run", c, argv);
        }
    }
    if (optind >= argc) {
        return cli_usage_error("run", "missing PROGRAM");
    }
    opts->program_argv = &argv[optind];
    return -1;
}

static bool run_is_executable_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Look @a name up the way execvp will: as a path if it has a '/', else along PATH. */
static bool run_program_found(const char *name)
{
    if (strchr(name, '/') != NULL) {
        return run_is_executable_file(name);
    }
    const char *path = getenv("PATH");
    if (path == NULL || *path == '\0') {
        path = "/usr/local/bin:/usr/bin:/bin";
    }
    char candidate[PATH_MAX];
    while (*path != '\0') {
        size_t dir_len = strcspn(path, ":");
        int    len     = snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)dir_len,
                           dir_len ? path : ".", name);
        if (len > 0 && (size_t)len < sizeof(candidate) && run_is_executable_file(candidate)) {
            return true;
        }
        path += dir_len + (path[dir_len] == ':');
    }
    return false;
}

static int run_check_program(const char *name)
{
    if (run_program_found(name)) {
        return 0;
    }
    struct stat st;
    if (strchr(name, '/') != NULL && stat(name, &st) == 0) {
        return cli_usage_error("run", "'%s' is not an executable file", name);
    }
    return cli_usage_error("run", "program '%s' not found", name);
}

/* Ranks must read the same file wherever their working directory is. */
static int run_export_config(const char *file)
{
    char abs_path[PATH_MAX];

    if (access(file, R_OK) != 0 || realpath(file, abs_path) == NULL) {
        return cli_usage_error("run", "cannot read config file '%s': %s", file, strerror(errno));
    }
    setenv("RAYMPI_CONFIG_FILE", abs_path, 1);
    return 0;
}

static bool run_inside_launched_job(void)
{
    return getenv("SLURM_PROCID") != NULL || getenv("OMPI_COMM_WORLD_RANK") != NULL ||
           getenv("PMIX_RANK") != NULL;
}

static int run_exec_program(char **program_argv)
{
    execvp(program_argv[0], program_argv);
    fprintf(stderr, "ray-mpi run: cannot execute '%s': %s\n", program_argv[0], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}

static long run_default_nranks(void)
{
    long ncpus = sysconf(_SC_NPROCESSORS_ONLN);

    return ncpus > 0 ? ncpus : 1;
}

/*
 * A local job stays on this machine: loopback for Open MPI's out-of-band and
 * TCP traffic and for UCX (otherwise both also open the host's other
 * interfaces), more ranks than cores allowed, and root allowed (containers,
 * CI). Settings the user made win. RAYMPI_JOB_ID is fixed here, before the
 * ranks exist, so all of them agree on one job id and one run directory.
 */
static void run_set_local_env(void)
{
    char job_id[64];

    if (getuid() == 0) {
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    }
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);
    setenv("OMPI_MCA_oob_tcp_if_include", "lo", 0);
    setenv("OMPI_MCA_btl_tcp_if_include", "lo", 0);
    setenv("UCX_NET_DEVICES", "lo", 0);
    snprintf(job_id, sizeof(job_id), "local-%ld", (long)getpid());
    setenv("RAYMPI_JOB_ID", job_id, 0);
}

static const char *run_mpirun_path(void)
{
    return RMPI_MPIRUN[0] != '\0' ? RMPI_MPIRUN : "mpirun";
}

/* exec `mpirun -n N PROGRAM ARGS`; returns only if the exec failed. */
static int run_exec_mpirun(long nranks, char **program_argv)
{
    size_t nargs = 0;
    char   nranks_str[24];

    while (program_argv[nargs] != NULL) {
        nargs++;
    }
    char **argv = calloc(nargs + 4, sizeof(*argv));
    if (argv == NULL) {
        fprintf(stderr, "ray-mpi run: out of memory\n");
        return 1;
    }
    snprintf(nranks_str, sizeof(nranks_str), "%ld", nranks);
    argv[0] = (char *)run_mpirun_path();
    argv[1] = "-n";
    argv[2] = nranks_str;
    memcpy(&argv[3], program_argv, (nargs + 1) * sizeof(*argv));

    run_set_local_env();
    execvp(argv[0], argv);
    fprintf(stderr, "ray-mpi run: cannot execute '%s': %s (install openmpi-bin)\n", argv[0],
            strerror(errno));
    free(argv);
    return errno == ENOENT ? 127 : 126;
}

int cli_run_main(int argc, char **argv)
{
    run_opts_t opts = {0};
    int        rc   = run_parse_args(argc, argv, &opts);

    if (rc >= 0) {
        return rc;
    }
    if ((rc = run_check_program(opts.program_argv[0])) != 0) {
        return rc;
    }
    if (opts.config_file != NULL && (rc = run_export_config(opts.config_file)) != 0) {
        return rc;
    }
    if (run_inside_launched_job()) {
        if (opts.nranks != 0) {
            fprintf(stderr, "ray-mpi run: -n ignored: the launcher already chose the ranks\n");
        }
        return run_exec_program(opts.program_argv);
    }
    return run_exec_mpirun(opts.nranks ? opts.nranks : run_default_nranks(), opts.program_argv);
}
