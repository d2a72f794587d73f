/*
 * Unit tests of base/rundir.h: where the job ID comes from, how it is made
 * safe, and how the run directory is created.
 */
#define _GNU_SOURCE /* nftw */
#include "base/rundir.h"

#include "base/log.h"

#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static const char *const job_env[] = {
    "RAYMPI_JOB_ID",           "SLURM_JOB_ID",        "SLURM_STEP_ID",
    "OMPI_MCA_ess_base_jobid", "RAYMPI_RUN_DIR_BASE", "RAYMPI_CONFIG_FILE",
};

static char test_dir[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* The tests stand in for every launcher, so start from none of their variables. */
static int setup(void **state)
{
    for (size_t i = 0; i < sizeof(job_env) / sizeof(job_env[0]); ++i) {
        unsetenv(job_env[i]);
    }
    snprintf(test_dir, sizeof(test_dir), "/tmp/test_rundir.XXXXXX");
    return mkdtemp(test_dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    nftw(test_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void assert_job_id(const char *expected)
{
    char id[256];

    assert_int_equal(base_job_id(id, sizeof(id)), RMPI_OK);
    assert_string_equal(id, expected);
}

static void test_job_id_precedence(void **state)
{
    char pid_id[64];

    setenv("RAYMPI_JOB_ID", "mine", 1);
    setenv("SLURM_JOB_ID", "4242", 1);
    setenv("SLURM_STEP_ID", "3", 1);
    setenv("OMPI_MCA_ess_base_jobid", "188219393", 1);
    assert_job_id("mine");
    unsetenv("RAYMPI_JOB_ID");
    assert_job_id("4242.3");
    unsetenv("SLURM_STEP_ID"); /* mpirun inside an allocation */
    assert_job_id("4242.mpirun-188219393");
    unsetenv("SLURM_JOB_ID");
    assert_job_id("188219393");
    setenv("SLURM_JOB_ID", "4242", 1);
    unsetenv("OMPI_MCA_ess_base_jobid");
    assert_job_id("4242");
    unsetenv("SLURM_JOB_ID");
    snprintf(pid_id, sizeof(pid_id), "pid%ld", (long)getppid());
    assert_job_id(pid_id);
}

static void test_empty_variables_count_as_unset(void **state)
{
    setenv("RAYMPI_JOB_ID", "", 1);
    setenv("SLURM_JOB_ID", "", 1);
    setenv("SLURM_STEP_ID", "7", 1); /* a step without a job is ignored */
    setenv("OMPI_MCA_ess_base_jobid", "99", 1);
    assert_job_id("99");
}

static void test_job_id_from_config_file(void **state)
{
    char  path[PATH_MAX];
    FILE *file;

    snprintf(path, sizeof(path), "%s/job.conf", test_dir);
    file = fopen(path, "w");
    assert_non_null(file);
    fputs("JOB_ID = from-file\n", file);
    fclose(file);
    setenv("RAYMPI_CONFIG_FILE", path, 1);
    setenv("SLURM_JOB_ID", "4242", 1);
    assert_job_id("from-file"); /* the config beats the launcher */
    setenv("RAYMPI_JOB_ID", "from-env", 1);
    assert_job_id("from-env"); /* and the environment beats the file */
}

static void test_job_id_sanitized(void **state)
{
    static const struct {
        const char *raw;
        const char *safe;
    } cases[] = {
        {"a/b c", "a_b_c"},         {"ok-1.2_x", "ok-1.2_x"}, {"..", "_."},
        {"../etc", "_._etc"},       {".hidden", "_hidden"},   {"\xc3\xa9t\xc3\xa9", "__t__"},
        {"$(rm -rf)", "__rm_-rf_"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        setenv("RAYMPI_JOB_ID", cases[i].raw, 1);
        assert_job_id(cases[i].safe);
    }
    unsetenv("RAYMPI_JOB_ID");
    setenv("SLURM_JOB_ID", "12 34", 1);
    setenv("SLURM_STEP_ID", "batch/x", 1);
    assert_job_id("12_34.batch_x");
}

static void test_job_id_truncated(void **state)
{
    char id[8];

    setenv("RAYMPI_JOB_ID", "abcdefgh", 1);
    memset(id, '#', sizeof(id));
    assert_int_equal(base_job_id(id, sizeof(id)), RMPI_ERR_TRUNCATED);
    assert_int_equal(id[0], '#'); /* untouched */
    setenv("RAYMPI_JOB_ID", "abcdefg", 1);
    assert_int_equal(base_job_id(id, sizeof(id)), RMPI_OK);
    assert_string_equal(id, "abcdefg");
    assert_int_equal(base_job_id(NULL, 8), RMPI_ERR_INVALID_ARG);
}

static void test_run_dir_created_0700(void **state)
{
    char        base[512], expected[PATH_MAX], run_dir[PATH_MAX];
    struct stat st;

    snprintf(base, sizeof(base), "%s/not/yet/there", test_dir);
    snprintf(expected, sizeof(expected), "%s/job_1", base);
    setenv("RAYMPI_RUN_DIR_BASE", base, 1);
    setenv("RAYMPI_JOB_ID", "job 1", 1);

    assert_int_equal(base_run_dir(run_dir, sizeof(run_dir)), RMPI_OK);
    assert_string_equal(run_dir, expected);
    assert_int_equal(stat(run_dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(st.st_uid, geteuid());
    assert_int_equal(stat(base, &st), 0); /* parents too */
    assert_int_equal(st.st_mode & 0777, 0700);

    /* A second rank, or a second call, finds it there. */
    memset(run_dir, 0, sizeof(run_dir));
    assert_int_equal(base_run_dir(run_dir, sizeof(run_dir)), RMPI_OK);
    assert_string_equal(run_dir, expected);
}

static void test_run_dir_default_base(void **state)
{
    char job_id[64], expected[PATH_MAX], run_dir[PATH_MAX];

    snprintf(job_id, sizeof(job_id), "test_rundir_%ld", (long)getpid());
    setenv("RAYMPI_JOB_ID", job_id, 1);
    snprintf(expected, sizeof(expected), "/tmp/raympi-%lu/%s", (unsigned long)getuid(), job_id);
    assert_int_equal(base_run_dir(run_dir, sizeof(run_dir)), RMPI_OK);
    assert_string_equal(run_dir, expected);
    assert_int_equal(rmdir(run_dir), 0); /* it existed, and it was empty */
    *strrchr(run_dir, '/') = '\0';
    rmdir(run_dir); /* the base too, unless other jobs use it */
}

static void test_run_dir_file_in_the_way(void **state)
{
    char  path[PATH_MAX], run_dir[PATH_MAX];
    FILE *file;

    setenv("RAYMPI_RUN_DIR_BASE", test_dir, 1);
    setenv("RAYMPI_JOB_ID", "blocked", 1);
    snprintf(path, sizeof(path), "%s/blocked", test_dir);
    file = fopen(path, "w");
    assert_non_null(file);
    fclose(file);
    strcpy(run_dir, "untouched");
    assert_int_equal(base_run_dir(run_dir, sizeof(run_dir)), RMPI_ERR_IO);
    assert_string_equal(run_dir, "untouched");

    /* A file in place of a parent is in the way too. */
    snprintf(path, sizeof(path), "%s/blocked/deeper", test_dir);
    setenv("RAYMPI_RUN_DIR_BASE", path, 1);
    assert_int_equal(base_run_dir(run_dir, sizeof(run_dir)), RMPI_ERR_IO);
}

static void test_run_dir_truncated(void **state)
{
    char        run_dir[16];
    char        path[PATH_MAX];
    struct stat st;

    setenv("RAYMPI_RUN_DIR_BASE", test_dir, 1);
    setenv("RAYMPI_JOB_ID", "long-enough", 1);
    assert_int_equal(base_run_dir(run_dir, sizeof(run_dir)), RMPI_ERR_TRUNCATED);
    snprintf(path, sizeof(path), "%s/long-enough", test_dir);
    assert_int_equal(stat(path, &st), -1); /* nothing created for a failed call */
}

static void test_mkdir_p(void **state)
{
    char        path[PATH_MAX];
    struct stat st;

    snprintf(path, sizeof(path), "%s//a/b//c/", test_dir);
    assert_int_equal(base_mkdir_p(path, 0700), RMPI_OK);
    snprintf(path, sizeof(path), "%s/a/b/c", test_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(base_mkdir_p(path, 0700), RMPI_OK); /* existing is fine */
    assert_int_equal(base_mkdir_p("", 0700), RMPI_ERR_INVALID_ARG);
    assert_int_equal(base_mkdir_p(NULL, 0700), RMPI_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_job_id_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_variables_count_as_unset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_id_from_config_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_id_sanitized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_id_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_dir_created_0700, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_dir_default_base, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_dir_file_in_the_way, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_dir_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
    };

    /* The failures these tests provoke log errors; only those are shown. */
    base_log_set_level(BASE_LOG_ERROR);
    return cmocka_run_group_tests_name("base_rundir", tests, NULL, NULL);
}
