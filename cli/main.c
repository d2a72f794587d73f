/*
 * cli/main.c - `ray-mpi`: dispatch to a subcommand.
 *
 * The first argument picks the subcommand. Anything else (an option such as
 * -n, or a program name) means `run`, so `ray-mpi -n 4 ./app` and
 * `ray-mpi ./app` work the way HPC users expect from mpirun and srun.
 */
#include "cli/cli.h"

#include "bench/bench.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*main)(int argc, char **argv); /* argv[0] is the command name */
} cli_command_t;

static int cli_bench_main(int argc, char **argv);

static const cli_command_t cli_commands[] = {
    {"run", "start PROGRAM on N local ranks, or as one rank of a Slurm/mpirun job", cli_run_main},
    {"info", "print version, build configuration, job id and run dir; -c: config keys",
     cli_info_main},
    {"bench", "run benchmarks and compare them with measured physical limits", cli_bench_main},
    {"status", "show a job: Slurm state, then the runtime's ranks, resources and tasks",
     cli_status_main},
    {"submit", "write a Slurm job script from a template and submit it; --wait follows it",
     cli_submit_main},
};

#define CLI_NUM_COMMANDS (sizeof(cli_commands) / sizeof(cli_commands[0]))

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "ray-mpi%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; see ray-mpi --help\n");
    return CLI_EXIT_USAGE;
}

int cli_option_error(const char *cmd, int c, char **argv)
{
    char short_opt[3] = {'-', (char)optopt, '\0'};

    /* getopt has just consumed the option word that lacks its value */
    if (c == ':') {
        return cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    }
    /* optopt is 0 for an unknown long option; then the word names it */
    return cli_usage_error(cmd, "unknown option '%s'", optopt != 0 ? short_opt : argv[optind - 1]);
}

static void cli_print_help(FILE *out)
{
    fprintf(
        out,
        "usage: ray-mpi [run] [-n N] [--config FILE] [--] PROGRAM [ARGS...]\n"
        "       ray-mpi info [-c] [--help-keys]\n"
        "       ray-mpi bench [NAMES...] [--json] [--list] [--quick] [-r REPS]\n"
        "       ray-mpi submit [-N N] [-n N] [-c N] [-G N] [-t TIME] [-p PART] [--array SPEC]\n"
        "                      [--signal SPEC] [--requeue] [--wait] [--dry-run] PROGRAM [ARGS...]\n"
        "       ray-mpi status [--json] [JOBID]\n"
        "       ray-mpi help COMMAND | --help | --version\n"
        "\n"
        "Runs an MPI program with ray-mpi's settings: inside a Slurm step or an mpirun\n"
        "job it execs PROGRAM as this rank; elsewhere it starts N local ranks.\n"
        "\n"
        "commands:\n");
    for (size_t i = 0; i < CLI_NUM_COMMANDS; i++) {
        fprintf(out, "  %-8s %s\n", cli_commands[i].name, cli_commands[i].summary);
    }
    fprintf(out, "  %-8s %s\n", "help", "print the help of COMMAND");
    fprintf(out, "\nSettings come from RAYMPI_* environment variables and --config FILE;\n"
                 "`ray-mpi info -c --help-keys` lists them all.\n");
}

static const cli_command_t *cli_find_command(const char *name)
{
    for (size_t i = 0; i < CLI_NUM_COMMANDS; i++) {
        if (strcmp(cli_commands[i].name, name) == 0) {
            return &cli_commands[i];
        }
    }
    return NULL;
}

/* `ray-mpi help CMD` is `ray-mpi CMD --help`: each command owns its help text. */
static int cli_help_main(int argc, char **argv)
{
    if (argc < 2) {
        cli_print_help(stdout);
        return 0;
    }
    const cli_command_t *cmd = cli_find_command(argv[1]);
    if (cmd == NULL) {
        return cli_usage_error("help", "unknown command '%s'", argv[1]);
    }
    char *help_argv[] = {(char *)cmd->name, "--help", NULL};
    return cmd->main(2, help_argv);
}

static int cli_bench_main(int argc, char **argv)
{
    return bench_main(argc, argv);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        return cli_usage_error(NULL, "missing PROGRAM or command");
    }
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0) {
        cli_print_help(stdout);
        return 0;
    }
    if (strcmp(first, "--version") == 0 || strcmp(first, "-V") == 0) {
        cli_print_version(stdout);
        return 0;
    }
    if (strcmp(first, "help") == 0) {
        return cli_help_main(argc - 1, argv + 1);
    }
    const cli_command_t *cmd = cli_find_command(first);
    if (cmd != NULL) {
        return cmd->main(argc - 1, argv + 1);
    }
    /* Options or a program name: an implicit `run`, with argv[0] standing for "run". */
    argv[0] = "run";
    return cli_run_main(argc, argv);
}
