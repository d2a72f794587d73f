/*
 * cli/info.c - `ray-mpi info`: what this installation is and what it would do.
 *
 * Without -c: version, the versions of MPI and UCX it was built against, the
 * configure arguments, GPU support (built-in kernels, the driver and devices
 * seen here), and the job id and run directory a rank started here would use.
 * With -c: every configuration key with its current value.
 */
#include "cli/cli.h"

#include "config.h"

#include "base/rundir.h"
#include "gpu/gpu.h"

#include <getopt.h>
#include <mpi.h>
#include <raympi.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<ucp/api/ucp_version.h>)
#include <ucp/api/ucp_version.h>
#endif
#endif

typedef struct info_opts {
    bool config_keys;
    bool key_help;
} info_opts_t;

void cli_print_version(FILE *out)
{
    fprintf(out, "ray-mpi %s\n", rmpi_version());
#if defined(OMPI_MAJOR_VERSION)
    fprintf(out, "built with Open MPI %d.%d.%d", OMPI_MAJOR_VERSION, OMPI_MINOR_VERSION,
            OMPI_RELEASE_VERSION);
#else
    fprintf(out, "built with MPI %d.%d", MPI_VERSION, MPI_SUBVERSION);
#endif
#if defined(UCP_API_MAJOR)
    fprintf(out, ", UCX %d.%d", UCP_API_MAJOR, UCP_API_MINOR);
#endif
    fprintf(out, "\n");
}

static void info_print_help(FILE *out)
{
    fprintf(out, "usage: ray-mpi info [-c] [--help-keys]\n"
                 "\n"
                 "Print the version, the build configuration, and the job id and run\n"
                 "directory a rank started here would use.\n"
                 "\n"
                 "options:\n"
                 "  -c               print every configuration key as RAYMPI_KEY=value\n"
                 "                   (defaults < RAYMPI_CONFIG_FILE < environment)\n"
                 "  -v, --help-keys  with -c, also print each key's help (implies -c)\n"
                 "  -h, --help       print this help\n");
}

/* Returns -1 when the options parsed, else the exit status. */
static int info_parse_args(int argc, char **argv, info_opts_t *opts)
{
    static const struct option longopts[] = {
        {"help-keys", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":cvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opts->config_keys = true;
            break;
        case 'v':
            opts->config_keys = true;
            opts->key_help    = true;
            break;
        case 'h':
            info_print_help(stdout);
            return 0;
        default:
            return cli_option_error("info", c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage_error("info", "unexpected argument '%s'", argv[optind]);
    }
    return -1;
}

static int info_print_config_keys(bool key_help)
{
    rmpi_status_t status = rmpi_config_print(stdout, key_help ? RMPI_CONFIG_PRINT_HELP : 0);

    if (status != RMPI_OK) {
        fprintf(stderr, "ray-mpi info: cannot print the configuration: %s\n",
                rmpi_status_str(status));
        return 1;
    }
    return 0;
}

/* One line: built-in kernels, and the devices this process sees (or why none). */
static void info_print_gpu(void)
{
    const char *kernels = gpu_builtin_available() ? "built-in kernels" : "no built-in kernels";

    if (gpu_init() == RMPI_OK) {
        printf("gpu:        %s; %d device(s), driver %d\n", kernels, gpu_device_count(),
               gpu_driver_version());
        gpu_finalize();
    } else {
        printf("gpu:        %s; %s\n", kernels, gpu_absent_reason());
    }
}

static bool info_inside_job(void)
{
    return getenv("RAYMPI_JOB_ID") != NULL || getenv("SLURM_JOB_ID") != NULL ||
           getenv("OMPI_COMM_WORLD_RANK") != NULL;
}

static int info_print_job(void)
{
    char          job_id[256];
    char          run_dir[4096];
    rmpi_status_t status = base_job_id(job_id, sizeof(job_id));

    if (status == RMPI_OK) {
        status = base_run_dir_path(run_dir, sizeof(run_dir));
    }
    if (status != RMPI_OK) {
        fprintf(stderr, "ray-mpi info: cannot determine the job: %s\n", rmpi_status_str(status));
        return 1;
    }
    printf("job id:     %s%s\n", job_id,
           info_inside_job() ? "" : " (outside a job; `ray-mpi run` uses local-<its pid>)");
    printf("run dir:    %s\n", run_dir);
    return 0;
}

int cli_info_main(int argc, char **argv)
{
    info_opts_t opts = {0};
    int         rc   = info_parse_args(argc, argv, &opts);

    if (rc >= 0) {
        return rc;
    }
    if (opts.config_keys) {
        return info_print_config_keys(opts.key_help);
    }
    cli_print_version(stdout);
    printf("configure:  %s\n", RMPI_BUILD_CONFIG[0] != '\0' ? RMPI_BUILD_CONFIG : "(defaults)");
    info_print_gpu();
    return info_print_job();
}
