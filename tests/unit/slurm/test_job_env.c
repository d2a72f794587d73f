/*
 * Unit tests of slurm/job_env.c and slurm/hostlist.c: the job and step read
 * from good SLURM_* environments (an srun step, a batch script, an array task,
 * GPUs), and every malformed variable refused with RMPI_ERR_CONFIG, never an
 * abort. Environments are explicit arrays: the test's own environment is
 * never read (it may itself run inside a Slurm job).
 */
#include "slurm/slm.h"

#include "base/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* What `srun -N 2 -n 4 -c 2 --gpus-per-node=2` sets for task 3 on the second node. */
static char *step_env[] = {
    "PATH=/usr/bin",
    "SLURM_JOB_ID=4242",
    "SLURM_JOBID=1", /* the old spelling loses to the new one */
    "SLURM_STEP_ID=0",
    "SLURM_PROCID=3",
    "SLURM_LOCALID=1",
    "SLURM_NODEID=1",
    "SLURM_NTASKS=4",
    "SLURM_CPUS_PER_TASK=2",
    "SLURM_GPUS_ON_NODE=2",
    "CUDA_VISIBLE_DEVICES=0,1",
    "SLURM_JOB_NODELIST=node[07-08]",
    "SLURM_JOB_END_TIME=1780000000",
    "SLURM_RESTART_COUNT=2",
    "SLURM_JOB_PARTITION=gpu",
    NULL,
};

static void test_step(void **state)
{
    slm_job_t *job = NULL;

    (void)state;
    assert_int_equal(slm_job_from_env(step_env, &job), RMPI_OK);
    assert_non_null(job);
    assert_int_equal(job->job_id, 4242);
    assert_int_equal(job->step_id, 0);
    assert_true(slm_job_in_step(job));
    assert_int_equal(job->rank, 3);
    assert_int_equal(job->local_rank, 1);
    assert_int_equal(job->node_id, 1);
    assert_int_equal(job->ntasks, 4);
    assert_int_equal(job->cpus_per_task, 2);
    assert_int_equal(job->gpus_on_node, 2);
    assert_int_equal(job->num_gpus_visible, 2);
    assert_string_equal(job->gpus_visible[0], "0");
    assert_string_equal(job->gpus_visible[1], "1");
    assert_null(job->gpus_visible[2]);
    assert_int_equal(job->num_nodes, 2);
    assert_string_equal(job->nodes[0], "node07");
    assert_string_equal(job->nodes[1], "node08");
    assert_null(job->nodes[2]);
    assert_int_equal((long long)job->end_time, 1780000000LL);
    assert_int_equal(job->restart_count, 2);
    assert_int_equal(job->array_task_id, SLM_UNSET);
    assert_string_equal(job->partition, "gpu");
    slm_job_destroy(job);
}

/* The batch script: a job, no step; old variable names; defaults for the rest. */
static void test_batch_script(void **state)
{
    char      *env[] = {"SLURM_JOBID=17", "SLURM_NPROCS=8", "SLURM_NODELIST=vm", NULL};
    slm_job_t *job   = NULL;

    (void)state;
    assert_int_equal(slm_job_from_env(env, &job), RMPI_OK);
    assert_int_equal(job->job_id, 17);
    assert_int_equal(job->step_id, SLM_UNSET);
    assert_false(slm_job_in_step(job));
    assert_int_equal(job->rank, SLM_UNSET);
    assert_int_equal(job->ntasks, 8);
    assert_int_equal(job->cpus_per_task, 1);
    assert_int_equal(job->gpus_on_node, 0);
    assert_null(job->gpus_visible);
    assert_int_equal(job->num_nodes, 1);
    assert_string_equal(job->nodes[0], "vm");
    assert_int_equal((long long)job->end_time, 0);
    assert_int_equal(job->restart_count, 0);
    assert_null(job->partition);
    slm_job_destroy(job);
}

static void test_array_task(void **state)
{
    char *env[]    = {"SLURM_JOB_ID=101", "SLURM_ARRAY_JOB_ID=100", "SLURM_ARRAY_TASK_ID=0", NULL};
    slm_job_t *job = NULL;

    (void)state;
    assert_int_equal(slm_job_from_env(env, &job), RMPI_OK);
    assert_int_equal(job->array_job_id, 100);
    assert_int_equal(job->array_task_id, 0);
    slm_job_destroy(job);
}

/* GPU lists: UUIDs count when SLURM_GPUS_ON_NODE is absent; "" and NoDevFiles are none. */
static void test_gpus(void **state)
{
    char      *uuids[] = {"SLURM_JOB_ID=5", "CUDA_VISIBLE_DEVICES=GPU-8f3e-11,MIG-2a/1/0", NULL};
    char      *empty[] = {"SLURM_JOB_ID=5", "CUDA_VISIBLE_DEVICES=", NULL};
    char      *nodev[] = {"SLURM_JOB_ID=5", "CUDA_VISIBLE_DEVICES=NoDevFiles", NULL};
    slm_job_t *job     = NULL;

    (void)state;
    assert_int_equal(slm_job_from_env(uuids, &job), RMPI_OK);
    assert_int_equal(job->gpus_on_node, 2);
    assert_string_equal(job->gpus_visible[0], "GPU-8f3e-11");
    assert_string_equal(job->gpus_visible[1], "MIG-2a/1/0");
    slm_job_destroy(job);
    assert_int_equal(slm_job_from_env(empty, &job), RMPI_OK);
    assert_int_equal(job->gpus_on_node, 0);
    assert_int_equal(job->num_gpus_visible, 0);
    slm_job_destroy(job);
    assert_int_equal(slm_job_from_env(nodev, &job), RMPI_OK);
    assert_int_equal(job->gpus_on_node, 0);
    slm_job_destroy(job);
}

static void test_not_in_job(void **state)
{
    char      *env[]  = {"PATH=/usr/bin", "SLURM_PROCID=0", NULL};
    char      *none[] = {NULL};
    slm_job_t *job    = (slm_job_t *)(uintptr_t)0x1;

    (void)state;
    assert_int_equal(slm_job_from_env(env, &job), RMPI_ERR_NOT_FOUND);
    assert_int_equal(slm_job_from_env(none, &job), RMPI_ERR_NOT_FOUND);
    /* the output is set only on success */
    assert_ptr_equal(job, (slm_job_t *)(uintptr_t)0x1);
    assert_int_equal(slm_job_from_env(env, NULL), RMPI_ERR_INVALID_ARG);
}

/* One variable of a good step environment replaced by a bad value: always refused. */
static void expect_refused(const char *var)
{
    char      *env[sizeof(step_env) / sizeof(step_env[0]) + 1];
    size_t     name_len = strcspn(var, "=");
    size_t     n        = 0;
    slm_job_t *job      = (slm_job_t *)(uintptr_t)0x1;

    for (char **e = step_env; *e != NULL; e++) {
        if (strncmp(*e, var, name_len + 1) != 0) {
            env[n++] = *e;
        }
    }
    env[n++] = (char *)var;
    env[n]   = NULL;
    print_message("refusing %s\n", var);
    assert_int_equal(slm_job_from_env(env, &job), RMPI_ERR_CONFIG);
    assert_ptr_equal(job, (slm_job_t *)(uintptr_t)0x1);
}

static void test_malformed(void **state)
{
    static const char *bad[] = {
        "SLURM_JOB_ID=",                       /* empty */
        "SLURM_JOB_ID=0",                      /* job IDs start at 1 */
        "SLURM_JOB_ID=12x",                    /* trailing garbage */
        "SLURM_JOB_ID=-3",                     /* sign */
        "SLURM_JOB_ID= 12",                    /* space */
        "SLURM_JOB_ID=4294967295",             /* SLM_UNSET is not a value */
        "SLURM_JOB_ID=99999999999999",         /* overflow */
        "SLURM_STEP_ID=batch",                 /* words */
        "SLURM_PROCID=4",                      /* not below SLURM_NTASKS=4 */
        "SLURM_LOCALID=9",                     /* not below SLURM_NTASKS=4 */
        "SLURM_NODEID=2",                      /* only 2 nodes in the list */
        "SLURM_NTASKS=0",                      /* at least one task */
        "SLURM_CPUS_PER_TASK=0",               /* at least one CPU */
        "SLURM_CPUS_PER_TASK=1.5",             /* not an integer */
        "SLURM_GPUS_ON_NODE=two",              /* not a number */
        "CUDA_VISIBLE_DEVICES=0,,1",           /* empty entry */
        "CUDA_VISIBLE_DEVICES=0;1",            /* bad separator */
        "SLURM_JOB_END_TIME=soon",             /* not a time */
        "SLURM_RESTART_COUNT=-1",              /* sign */
        "SLURM_ARRAY_TASK_ID=0x1",             /* hex */
        "SLURM_JOB_NODELIST=node[1-",          /* libslurm alone would give "node]" */
        "SLURM_JOB_NODELIST=node[3-1]",        /* reversed range */
        "SLURM_JOB_NODELIST=",                 /* empty */
        "SLURM_JOB_NODELIST=a,,b",             /* empty item */
        "SLURM_JOB_NODELIST=n[1-2]]",          /* unbalanced */
        "SLURM_JOB_NODELIST=n[[1-2]]",         /* nested */
        "SLURM_JOB_NODELIST=n[a-b]",           /* letters in a range */
        "SLURM_JOB_NODELIST=a b",              /* space */
        "SLURM_JOB_NODELIST=n[0-999999]",      /* more than SLM_HOSTLIST_MAX hosts */
        "SLURM_JOB_NODELIST=a[1-300]b[1-300]", /* so is a product of ranges */
        "SLURM_JOB_NODELIST=n[1-65536],m",     /* and a sum */
        "SLURM_JOB_NODELIST=n[1234567890]",    /* an index of 10 digits */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_refused(bad[i]);
    }
}

static void test_hostlist(void **state)
{
    char   **hosts = NULL;
    uint32_t n     = 0;

    (void)state;
    assert_int_equal(
        slm_hostlist_expand("gpu[001-002,010],login-1.x,c[1-2]s[01-02]", "test", &hosts, &n),
        RMPI_OK);
    assert_int_equal(n, 8);
    assert_string_equal(hosts[0], "gpu001");
    assert_string_equal(hosts[1], "gpu002");
    assert_string_equal(hosts[2], "gpu010");
    assert_string_equal(hosts[3], "login-1.x");
    assert_string_equal(hosts[4], "c1s01");
    assert_string_equal(hosts[7], "c2s02");
    assert_null(hosts[8]);
    slm_hosts_free(hosts);
    slm_hosts_free(NULL);
    /* exactly SLM_HOSTLIST_MAX names is allowed */
    assert_int_equal(slm_hostlist_expand("n[1-65536]", "test", &hosts, &n), RMPI_OK);
    assert_int_equal(n, SLM_HOSTLIST_MAX);
    assert_string_equal(hosts[SLM_HOSTLIST_MAX - 1], "n65536");
    slm_hosts_free(hosts);
    assert_int_equal(slm_hostlist_expand(NULL, "test", &hosts, &n), RMPI_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step),       cmocka_unit_test(test_batch_script),
        cmocka_unit_test(test_array_task), cmocka_unit_test(test_gpus),
        cmocka_unit_test(test_not_in_job), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_hostlist),
    };

    /* the refusals log on purpose; keep them out of the way of cmocka's output */
    base_log_set_level(BASE_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
