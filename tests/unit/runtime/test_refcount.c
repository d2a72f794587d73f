/*
 * tests/unit/runtime/test_refcount.c - the owner's reference counting and the
 * API's argument checks, in a one-rank job (MPI singleton): the owner table
 * and the store must return to their starting counts after every pattern of
 * handles, views, task arguments, errors and cancels.
 *
 * Tasks run on this process's executor (1 CPU), so a test can hold one in a
 * "gate" task on a condition variable it opens itself.
 */
#include "unit_mpi.h"

#include <pthread.h>
#include <raympi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define BIG (64 * 1024) /* over RT_INLINE_MAX=1k: lives in the store */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  gate_cond = PTHREAD_COND_INITIALIZER;
static bool            gate_open, gate_entered;

static void gate_close(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_open    = false;
    gate_entered = false;
    pthread_mutex_unlock(&gate_lock);
}

static void gate_release(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

/* Wait until the gate task runs (it holds the only CPU). */
static void gate_wait_entered(void)
{
    pthread_mutex_lock(&gate_lock);
    while (!gate_entered) {
        pthread_cond_wait(&gate_cond, &gate_lock);
    }
    pthread_mutex_unlock(&gate_lock);
}

RMPI_REMOTE(gate)
{
    int one = 1;

    (void)args, (void)nargs;
    pthread_mutex_lock(&gate_lock);
    gate_entered = true;
    pthread_cond_broadcast(&gate_cond);
    while (!gate_open) {
        pthread_cond_wait(&gate_cond, &gate_lock);
    }
    pthread_mutex_unlock(&gate_lock);
    return rmpi_return(ctx, 0, &one, sizeof(one));
}

/* Returns the sum of its arguments' sizes. */
RMPI_REMOTE(total_size)
{
    uint64_t total = 0;

    for (size_t i = 0; i < nargs; ++i) {
        total += args[i].size;
    }
    return rmpi_return(ctx, 0, &total, sizeof(total));
}

RMPI_REMOTE(fails)
{
    (void)args, (void)nargs;
    rmpi_task_error(ctx, "failed on purpose");
    return RMPI_ERR_TASK_FAILED;
}

/* Two returns: a described array in the store, and its element count inline. */
RMPI_REMOTE(two_returns)
{
    rmpi_array_desc_t desc  = {.dtype = RMPI_DTYPE_FLOAT64, .ndim = 2, .shape = {64, 128}};
    uint64_t          count = 64 * 128;
    double           *buf;
    rmpi_status_t     status;

    (void)args, (void)nargs;
    status = rmpi_return_alloc(ctx, 0, count * sizeof(double), &desc, (void **)&buf);
    if (status != RMPI_OK) {
        return status;
    }
    for (uint64_t i = 0; i < count; ++i) {
        buf[i] = (double)i;
    }
    return rmpi_return(ctx, 1, &count, sizeof(count));
}

static rmpi_runtime_stats_t baseline;

static rmpi_runtime_stats_t stats_now(void)
{
    rmpi_runtime_stats_t stats;

    assert_int_equal(rmpi_runtime_stats(&stats), RMPI_OK);
    return stats;
}

static void assert_back_to_baseline(void)
{
    rmpi_runtime_stats_t now = stats_now();

    assert_int_equal(now.owned_objects, baseline.owned_objects);
    assert_int_equal(now.pending_tasks, 0);
    assert_int_equal(now.store_objects, baseline.store_objects);
}

static uint64_t get_u64(rmpi_ref_t ref)
{
    rmpi_object_t obj;
    uint64_t      value = 0;

    assert_int_equal(rmpi_get(&ref, 1, 30, &obj), RMPI_OK);
    assert_int_equal(obj.size, sizeof(value));
    memcpy(&value, obj.data, sizeof(value));
    rmpi_object_release(&obj);
    return value;
}

static void test_put_free(void **state)
{
    char       data[16] = "sixteen bytes!!";
    rmpi_ref_t ref;

    (void)state;
    assert_int_equal(rmpi_put(data, sizeof(data), NULL, &ref), RMPI_OK);
    assert_int_equal(stats_now().owned_objects, baseline.owned_objects + 1);
    assert_int_equal(rmpi_ref_owner(ref), 0);
    assert_int_equal(rmpi_ref_free(ref), RMPI_OK);
    assert_back_to_baseline();
    assert_int_equal(rmpi_ref_free(ref), RMPI_ERR_INVALID_ARG); /* freed twice */
}

static void test_retain_keeps_alive(void **state)
{
    static char   big[BIG];
    rmpi_ref_t    ref;
    rmpi_object_t obj;

    (void)state;
    memset(big, 7, sizeof(big));
    assert_int_equal(rmpi_put(big, sizeof(big), NULL, &ref), RMPI_OK);
    assert_int_equal(stats_now().store_objects, baseline.store_objects + 1);
    assert_int_equal(rmpi_ref_retain(ref), RMPI_OK);
    assert_int_equal(rmpi_ref_free(ref), RMPI_OK);
    assert_int_equal(rmpi_get(&ref, 1, 5, &obj), RMPI_OK);
    assert_int_equal(obj.size, sizeof(big));
    assert_memory_equal(obj.data, big, sizeof(big));
    rmpi_object_release(&obj);
    assert_int_equal(rmpi_ref_free(ref), RMPI_OK);
    assert_back_to_baseline();
}

/* A view holds the object after its last handle is freed. */
static void test_view_outlives_handle(void **state)
{
    static char   big[BIG];
    rmpi_ref_t    ref;
    rmpi_object_t obj;

    (void)state;
    memset(big, 3, sizeof(big));
    assert_int_equal(rmpi_put(big, sizeof(big), NULL, &ref), RMPI_OK);
    assert_int_equal(rmpi_get(&ref, 1, 5, &obj), RMPI_OK);
    assert_int_equal(rmpi_ref_free(ref), RMPI_OK);
    assert_int_equal(stats_now().owned_objects, baseline.owned_objects + 1);
    assert_memory_equal(obj.data, big, sizeof(big));
    rmpi_object_release(&obj);
    assert_back_to_baseline();
}

/* A task argument is held until the task is done, even after the caller frees it. */
static void test_argument_keeps_alive(void **state)
{
    static char     big[BIG];
    rmpi_ref_t      put, gate_ref, result;
    rmpi_task_arg_t args[2];

    (void)state;
    gate_close();
    assert_int_equal(rmpi_submit("gate", NULL, 0, NULL, &gate_ref), RMPI_OK);
    gate_wait_entered();
    assert_int_equal(rmpi_put(big, sizeof(big), NULL, &put), RMPI_OK);
    args[0] = rmpi_arg_ref(put);
    args[1] = rmpi_arg_ref(gate_ref);
    assert_int_equal(rmpi_submit("total_size", args, 2, NULL, &result), RMPI_OK);
    assert_int_equal(rmpi_ref_free(put), RMPI_OK);
    assert_int_equal(rmpi_ref_free(gate_ref), RMPI_OK);
    assert_int_equal(stats_now().owned_objects, baseline.owned_objects + 3);
    gate_release();
    assert_int_equal(get_u64(result), BIG + sizeof(int));
    assert_int_equal(rmpi_ref_free(result), RMPI_OK);
    assert_back_to_baseline();
}

/* A large value argument is put in the store for the task and freed after it. */
static void test_large_value_argument(void **state)
{
    static char     big[BIG];
    rmpi_ref_t      result;
    rmpi_task_arg_t arg = rmpi_arg_value(big, sizeof(big));

    (void)state;
    assert_int_equal(rmpi_submit("total_size", &arg, 1, NULL, &result), RMPI_OK);
    assert_int_equal(get_u64(result), BIG);
    assert_int_equal(rmpi_ref_free(result), RMPI_OK);
    assert_back_to_baseline();
}

static void test_error_chain(void **state)
{
    rmpi_ref_t      failed, dependent;
    rmpi_object_t   obj;
    rmpi_task_arg_t arg;

    (void)state;
    assert_int_equal(rmpi_submit("fails", NULL, 0, NULL, &failed), RMPI_OK);
    arg = rmpi_arg_ref(failed);
    assert_int_equal(rmpi_submit("total_size", &arg, 1, NULL, &dependent), RMPI_OK);
    assert_int_equal(rmpi_get(&dependent, 1, 30, &obj), RMPI_ERR_TASK_FAILED);
    assert_int_equal(obj.status, RMPI_ERR_TASK_FAILED);
    assert_non_null(strstr(obj.error, "caused by: failed on purpose"));
    rmpi_object_release(&obj);
    assert_int_equal(rmpi_get(&failed, 1, 30, &obj), RMPI_ERR_TASK_FAILED);
    assert_string_equal(obj.error, "failed on purpose");
    rmpi_object_release(&obj);
    assert_int_equal(rmpi_ref_free(failed), RMPI_OK);
    assert_int_equal(rmpi_ref_free(dependent), RMPI_OK);
    assert_back_to_baseline();
}

static void test_two_returns_with_array(void **state)
{
    rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_NUM_RETURNS, .num_returns = 2};
    rmpi_ref_t          refs[2];
    rmpi_object_t       objs[2];
    const double       *values;

    (void)state;
    assert_int_equal(rmpi_submit("two_returns", NULL, 0, &opts, refs), RMPI_OK);
    assert_int_equal(rmpi_get(refs, 2, 30, objs), RMPI_OK);
    assert_non_null(objs[0].array);
    assert_int_equal(objs[0].array->dtype, RMPI_DTYPE_FLOAT64);
    assert_int_equal(objs[0].array->ndim, 2);
    assert_int_equal(objs[0].array->shape[1], 128);
    assert_int_equal(objs[0].size, 64 * 128 * sizeof(double));
    values = objs[0].data;
    assert_true(values[64 * 128 - 1] == 64.0 * 128 - 1);
    assert_int_equal(*(const uint64_t *)objs[1].data, 64 * 128);
    assert_null(objs[1].array);
    rmpi_object_release(&objs[0]);
    rmpi_object_release(&objs[1]);
    assert_int_equal(rmpi_ref_free(refs[0]), RMPI_OK);
    assert_int_equal(rmpi_ref_free(refs[1]), RMPI_OK);
    assert_back_to_baseline();
}

/* A queued task is canceled; get times out while the gate holds the CPU. */
static void test_cancel_and_timeout(void **state)
{
    rmpi_ref_t    gate_ref, queued;
    rmpi_object_t obj;
    uint8_t       ready;
    size_t        num_ready;

    (void)state;
    gate_close();
    assert_int_equal(rmpi_submit("gate", NULL, 0, NULL, &gate_ref), RMPI_OK);
    gate_wait_entered();
    assert_int_equal(rmpi_submit("total_size", NULL, 0, NULL, &queued), RMPI_OK);
    assert_int_equal(rmpi_get(&gate_ref, 1, 0.05, &obj), RMPI_ERR_TIMEOUT);
    assert_int_equal(rmpi_wait(&gate_ref, 1, 1, 0.05, 0, &ready, &num_ready), RMPI_OK);
    assert_int_equal(num_ready, 0);
    assert_int_equal(ready, 0);
    assert_int_equal(rmpi_cancel(queued, 0), RMPI_OK);
    assert_int_equal(rmpi_get(&queued, 1, 30, &obj), RMPI_ERR_CANCELED);
    rmpi_object_release(&obj);
    gate_release();
    assert_int_equal(rmpi_wait(&gate_ref, 1, 1, 30, 0, &ready, &num_ready), RMPI_OK);
    assert_int_equal(num_ready, 1);
    assert_int_equal(rmpi_ref_free(gate_ref), RMPI_OK);
    assert_int_equal(rmpi_ref_free(queued), RMPI_OK);
    assert_back_to_baseline();
}

static void test_bad_input(void **state)
{
    rmpi_task_options_t opts;
    rmpi_resource_t     fpga = {"fpga", 1};
    rmpi_ref_t          ref, forged;
    rmpi_object_t       obj;
    rmpi_task_arg_t     arg;
    char                byte = 1;

    (void)state;
    assert_int_equal(rmpi_submit(NULL, NULL, 0, NULL, &ref), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rmpi_submit("no_such_fn", NULL, 0, NULL, &ref), RMPI_ERR_NOT_FOUND);
    assert_int_equal(rmpi_submit("total_size", NULL, 1, NULL, &ref), RMPI_ERR_INVALID_ARG);
    opts = (rmpi_task_options_t){.field_mask = RMPI_BIT(40)};
    assert_int_equal(rmpi_submit("total_size", NULL, 0, &opts, &ref), RMPI_ERR_INVALID_ARG);
    opts = (rmpi_task_options_t){.field_mask = RMPI_TASK_OPT_NUM_CPUS, .num_cpus = -1};
    assert_int_equal(rmpi_submit("total_size", NULL, 0, &opts, &ref), RMPI_ERR_INVALID_ARG);
    opts = (rmpi_task_options_t){.field_mask = RMPI_TASK_OPT_NUM_CPUS, .num_cpus = 1000};
    assert_int_equal(rmpi_submit("total_size", NULL, 0, &opts, &ref), RMPI_ERR_INFEASIBLE);
    opts = (rmpi_task_options_t){.field_mask = RMPI_TASK_OPT_NUM_GPUS, .num_gpus = 1};
    assert_int_equal(rmpi_submit("total_size", NULL, 0, &opts, &ref), RMPI_ERR_INFEASIBLE);
    opts = (rmpi_task_options_t){
        .field_mask = RMPI_TASK_OPT_RESOURCES, .resources = &fpga, .num_resources = 1};
    assert_int_equal(rmpi_submit("total_size", NULL, 0, &opts, &ref), RMPI_ERR_INFEASIBLE);
    opts = (rmpi_task_options_t){.field_mask = RMPI_TASK_OPT_NUM_RETURNS, .num_returns = 0};
    assert_int_equal(rmpi_submit("total_size", NULL, 0, &opts, &ref), RMPI_ERR_INVALID_ARG);
    opts.num_returns = RMPI_MAX_RETURNS + 1;
    assert_int_equal(rmpi_submit("total_size", NULL, 0, &opts, &ref), RMPI_ERR_INVALID_ARG);

    /* A freed ref, and a ref of an owner outside the job. */
    assert_int_equal(rmpi_put(&byte, 1, NULL, &ref), RMPI_OK);
    assert_int_equal(rmpi_ref_free(ref), RMPI_OK);
    arg = rmpi_arg_ref(ref);
    assert_int_equal(rmpi_submit("total_size", &arg, 1, NULL, &forged), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rmpi_get(&ref, 1, 1, &obj), RMPI_ERR_INVALID_ARG);
    memset(&forged, 0, sizeof(forged));
    forged.id[0] = 0x7f; /* owner rank 127 in a one-rank job */
    assert_int_equal(rmpi_get(&forged, 1, 1, &obj), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rmpi_ref_free(forged), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rmpi_cancel(forged, 0), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rmpi_get(NULL, 1, 1, &obj), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rmpi_put(NULL, 1, NULL, &ref), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rmpi_register_function("late", (rmpi_task_fn_t)test_bad_input),
                     RMPI_ERR_NOT_READY);
    assert_back_to_baseline();
}

static void test_introspection(void **state)
{
    rmpi_resources_t res;

    (void)state;
    assert_true(rmpi_is_initialized());
    assert_int_equal(rmpi_rank(), 0);
    assert_int_equal(rmpi_size(), 1);
    assert_int_equal(rmpi_node(), 0);
    assert_int_equal(rmpi_num_nodes(), 1);
    assert_int_equal(rmpi_cluster_resources(&res), RMPI_OK);
    assert_true(res.cpus == 1.0);
    assert_int_equal(res.num_custom, 1);
    assert_string_equal(res.custom[0].name, "widget");
    assert_true(res.custom[0].amount == 2.0);
    assert_int_equal(rmpi_cluster_resources(NULL), RMPI_ERR_INVALID_ARG);
}

static int setup(void **state)
{
    static const char *const config[] = {"RT_NUM_CPUS=1", "RT_INLINE_MAX=1k",
                                         "RT_RESOURCES=widget:2"};
    rmpi_init_params_t       params   = {
                .field_mask = RMPI_INIT_PARAM_CONFIG, .config = config, .num_config = 3};

    (void)state;
    setenv("RAYMPI_STORE_ARENA_SIZE", "64M", 1);
    if (rmpi_init(NULL, NULL, &params) != RMPI_OK) {
        return -1;
    }
    baseline = stats_now();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return rmpi_shutdown() == RMPI_OK ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_introspection),        cmocka_unit_test(test_put_free),
        cmocka_unit_test(test_retain_keeps_alive),   cmocka_unit_test(test_view_outlives_handle),
        cmocka_unit_test(test_argument_keeps_alive), cmocka_unit_test(test_large_value_argument),
        cmocka_unit_test(test_error_chain),          cmocka_unit_test(test_two_returns_with_array),
        cmocka_unit_test(test_cancel_and_timeout),   cmocka_unit_test(test_bad_input),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
