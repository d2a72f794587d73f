/*
 * tests/integration/base_mpi.c - base/ in a real multi-rank job.
 *
 * Started by integration/base_mpi_4.sh as `ray-mpi -n 4 base_mpi` with
 * RAYMPI_LOG_LEVEL=info and a fresh RAYMPI_RUN_DIR_BASE. Checks that:
 *   - the config table sees RAYMPI_LOG_LEVEL=info on every rank (the
 *     environment reached each rank through the launcher);
 *   - every rank computes the same job id, hence the same run directory;
 *   - each rank's log lines land in <run dir>/logs/rank-<R>.log, one file per
 *     rank, each line prefixed with that rank.
 * Exits 0 only if every check passed on every rank; each failure is printed.
 */
#include "base/log.h"
#include "base/rundir.h"

#include <dirent.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPECTED_LOG_LEVEL "info"
#define ID_LEN 256
#define PATH_LEN 4096
#define LINE_LEN 1024

static int my_rank = -1;
static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "base_mpi rank %d: FAIL: ", my_rank);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    failures++;
}

/* RAYMPI_LOG_LEVEL must reach this rank's config table, and then drive logging. */
static void check_config_reached_rank(void)
{
    base_options_t   opts;
    base_log_level_t level;

    if (base_config_parse(&base_options_table, &opts, NULL, NULL, 0) != RMPI_OK) {
        fail("base_config_parse of the base table failed");
        return;
    }
    if (opts.log_level == NULL || strcmp(opts.log_level, EXPECTED_LOG_LEVEL) != 0) {
        fail("RAYMPI_LOG_LEVEL: expected '%s', the base table has '%s'", EXPECTED_LOG_LEVEL,
             opts.log_level ? opts.log_level : "(null)");
    } else if (base_log_level_parse(opts.log_level, &level) != RMPI_OK) {
        fail("log level '%s' does not parse", opts.log_level);
    } else {
        base_log_set_level(level);
    }
    base_config_release(&base_options_table, &opts);
}

static void check_same_job_id(int size)
{
    char  job_id[ID_LEN] = "";
    char *all            = calloc((size_t)size, ID_LEN);

    if (base_job_id(job_id, sizeof(job_id)) != RMPI_OK || job_id[0] == '\0') {
        fail("base_job_id failed or is empty");
    }
    MPI_Allgather(job_id, ID_LEN, MPI_CHAR, all, ID_LEN, MPI_CHAR, MPI_COMM_WORLD);
    for (int r = 0; r < size; r++) {
        if (strcmp(&all[(size_t)r * ID_LEN], job_id) != 0) {
            fail("job id '%s' here, '%s' on rank %d", job_id, &all[(size_t)r * ID_LEN], r);
        }
    }
    free(all);
}

static void write_rank_log(const char *run_dir)
{
    base_log_set_rank(my_rank);
    if (base_log_open(run_dir, my_rank) != RMPI_OK) {
        fail("base_log_open(%s) failed", run_dir);
        return;
    }
    base_info("base_mpi info line of rank %d", my_rank);
    base_warn("base_mpi warn line of rank %d", my_rank);
    base_log_close();
}

static int count_rank_logs(const char *logs_dir)
{
    DIR           *dir = opendir(logs_dir);
    struct dirent *entry;
    int            count = 0;

    if (dir == NULL) {
        fail("cannot open %s", logs_dir);
        return -1;
    }
    while ((entry = readdir(dir)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (strncmp(entry->d_name, "rank-", 5) == 0 && len > 4 &&
            strcmp(entry->d_name + len - 4, ".log") == 0) {
            count++;
        }
    }
    closedir(dir);
    return count;
}

/* The prefix is "[host:rank:tid]": is its rank field @a rank? */
static bool line_prefix_has_rank(const char *line, int rank)
{
    char        expected[32];
    const char *end = strchr(line, ']');

    if (line[0] != '[' || end == NULL) {
        return false;
    }
    snprintf(expected, sizeof(expected), ":%d:", rank);
    const char *field = strstr(line, expected);
    return field != NULL && field < end;
}

/* Find the line holding @a message in @a path; check its prefix names @a rank. */
static void check_log_line(const char *path, int rank, const char *level, const char *message)
{
    char  line[LINE_LEN];
    FILE *file  = fopen(path, "r");
    bool  found = false;

    if (file == NULL) {
        fail("cannot open %s", path);
        return;
    }
    while (!found && fgets(line, sizeof(line), file) != NULL) {
        if (strstr(line, message) == NULL) {
            continue;
        }
        found = true;
        if (!line_prefix_has_rank(line, rank) || strstr(line, level) == NULL) {
            fail("%s: line without rank %d or level %s in its prefix: %s", path, rank, level, line);
        }
    }
    fclose(file);
    if (!found) {
        fail("%s: no line '%s'", path, message);
    }
}

/* Rank 0, after the barrier: one log per rank, each with both of its lines. */
static void check_rank_logs(const char *run_dir, int size)
{
    char logs_dir[PATH_LEN], path[PATH_LEN + 32], message[64];

    snprintf(logs_dir, sizeof(logs_dir), "%s/logs", run_dir);
    int count = count_rank_logs(logs_dir);
    if (count != size) {
        fail("%s holds %d rank-*.log files, expected %d", logs_dir, count, size);
    }
    for (int r = 0; r < size; r++) {
        snprintf(path, sizeof(path), "%s/rank-%d.log", logs_dir, r);
        snprintf(message, sizeof(message), "base_mpi info line of rank %d", r);
        check_log_line(path, r, "INFO", message);
        snprintf(message, sizeof(message), "base_mpi warn line of rank %d", r);
        check_log_line(path, r, "WARN", message);
    }
}

int main(int argc, char **argv)
{
    int  provided, size, all_passed;
    char run_dir[PATH_LEN] = "";

    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size < 2) {
        fail("needs at least 2 ranks, has %d (run it through `ray-mpi -n 4`)", size);
    }
    check_config_reached_rank();
    check_same_job_id(size);
    if (base_run_dir(run_dir, sizeof(run_dir)) != RMPI_OK) {
        fail("base_run_dir failed");
    } else {
        write_rank_log(run_dir);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (my_rank == 0 && run_dir[0] != '\0') {
        check_rank_logs(run_dir, size);
    }
    int passed = failures == 0;
    MPI_Allreduce(&passed, &all_passed, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (my_rank == 0) {
        printf("base_mpi: %s on %d ranks\n", all_passed ? "all checks passed" : "FAILED", size);
    }
    MPI_Finalize();
    return all_passed ? 0 : 1;
}
