/*
 * cli/cli.h - the subcommands of the `ray-mpi` command.
 *
 * Each subcommand is a main-like function: argv[0] is the subcommand's name
 * ("run", "info", ...), the rest are its arguments, and the return value is
 * the process exit status. Usage errors exit with CLI_EXIT_USAGE after one
 * line on stderr that ends by pointing at --help.
 *
 * Thread safety: single-threaded; these functions use getopt and setenv.
 */
#ifndef CLI_CLI_H_
#define CLI_CLI_H_

#include <stdio.h>

/** Exit status of a command-line mistake (bad option, missing program). */
#define CLI_EXIT_USAGE 2

/**
 * Print "ray-mpi[ CMD]: MESSAGE; see ray-mpi --help" on stderr and return
 * CLI_EXIT_USAGE. @a cmd may be NULL for the command as a whole.
 */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Report what getopt_long rejected: @a c is its return value ('?' or ':',
 * with opterr = 0 and ':' leading the option string), @a argv its argv.
 */
int cli_option_error(const char *cmd, int c, char **argv);

/** `ray-mpi [run] [-n N] [--config FILE] [--] PROGRAM ARGS`: execs, returns only on error. */
int cli_run_main(int argc, char **argv);

/** `ray-mpi submit [OPTIONS] PROGRAM ARGS`: submit through libslurm (cli/submit.c). */
int cli_submit_main(int argc, char **argv);

/** `ray-mpi status [JOBID]`: the Slurm job's state through libslurm (cli/status.c). */
int cli_status_main(int argc, char **argv);

/** `ray-mpi info [-c] [--help-keys]`. */
int cli_info_main(int argc, char **argv);

/** Print "ray-mpi VERSION" and the MPI/UCX versions it was built against. */
void cli_print_version(FILE *out);

#endif /* CLI_CLI_H_ */
