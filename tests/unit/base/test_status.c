/*
 * Unit tests of rmpi_status_str(), the error-group macros and rmpi_version().
 */
#include <raympi.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define UNKNOWN "unknown status"

/* Every code of include/raympi.h; a new code must be added here too. */
static const rmpi_status_t all_codes[] = {
    RMPI_OK,
    RMPI_INPROGRESS,
    RMPI_ERR_INVALID_ARG,
    RMPI_ERR_NO_MEMORY,
    RMPI_ERR_NOT_FOUND,
    RMPI_ERR_EXISTS,
    RMPI_ERR_TIMEOUT,
    RMPI_ERR_UNSUPPORTED,
    RMPI_ERR_NOT_READY,
    RMPI_ERR_IO,
    RMPI_ERR_CONFIG,
    RMPI_ERR_BUSY,
    RMPI_ERR_TRUNCATED,
    RMPI_ERR_MESSAGE,
    RMPI_ERR_CANCELED,
    RMPI_ERR_INFEASIBLE,
    RMPI_ERR_NO_DEVICE,
    RMPI_ERR_DEVICE,
    RMPI_ERR_NO_RESOURCE,
    RMPI_ERR_MISMATCH,
    RMPI_ERR_TASK_FAILED,
    RMPI_ERR_TASK_RETRIES,
    RMPI_ERR_ACTOR_DIED,
    RMPI_ERR_OBJECT_LOST,
    RMPI_ERR_OWNER_DIED,
    RMPI_ERR_STORE_FULL,
    RMPI_ERR_CORRUPT,
    RMPI_ERR_PEER_DIED,
    RMPI_ERR_TRANSPORT,
    RMPI_ERR_SHUTDOWN,
    RMPI_ERR_WALLTIME,
};

#define NUM_CODES (sizeof(all_codes) / sizeof(all_codes[0]))

static bool is_code(int value)
{
    for (size_t i = 0; i < NUM_CODES; ++i) {
        if ((int)all_codes[i] == value) {
            return true;
        }
    }
    return false;
}

/* The number of group macros that claim @a status. */
static int num_groups(int status)
{
    return RMPI_IS_TASK_ERROR(status) + RMPI_IS_ACTOR_ERROR(status) + RMPI_IS_OBJECT_ERROR(status) +
           RMPI_IS_NODE_ERROR(status) + RMPI_IS_JOB_ERROR(status);
}

static void test_every_code_has_a_string(void **state)
{
    for (size_t i = 0; i < NUM_CODES; ++i) {
        const char *str = rmpi_status_str(all_codes[i]);

        assert_non_null(str);
        assert_true(strlen(str) > 0);
        assert_string_not_equal(str, UNKNOWN);
    }
}

static void test_strings_are_distinct(void **state)
{
    for (size_t i = 0; i < NUM_CODES; ++i) {
        for (size_t j = i + 1; j < NUM_CODES; ++j) {
            assert_string_not_equal(rmpi_status_str(all_codes[i]), rmpi_status_str(all_codes[j]));
        }
    }
}

/* Every value in and around the published range that is not a code. */
static void test_unknown_values(void **state)
{
    int checked = 0;

    for (int value = RMPI_ERR_LAST - 10; value <= 10; ++value) {
        if (!is_code(value)) {
            assert_string_equal(rmpi_status_str((rmpi_status_t)value), UNKNOWN);
            ++checked;
        }
    }
    assert_int_equal(checked, (10 - (RMPI_ERR_LAST - 10) + 1) - (int)NUM_CODES);
    assert_string_equal(rmpi_status_str(RMPI_ERR_LAST), UNKNOWN);
    assert_string_equal(rmpi_status_str((rmpi_status_t)-1000000), UNKNOWN);
    assert_string_equal(rmpi_status_str((rmpi_status_t)1000000), UNKNOWN);
}

static void test_group_macros_match_codes(void **state)
{
    assert_true(RMPI_IS_TASK_ERROR(RMPI_ERR_TASK_FAILED));
    assert_true(RMPI_IS_TASK_ERROR(RMPI_ERR_TASK_RETRIES));
    assert_true(RMPI_IS_ACTOR_ERROR(RMPI_ERR_ACTOR_DIED));
    assert_true(RMPI_IS_OBJECT_ERROR(RMPI_ERR_OBJECT_LOST));
    assert_true(RMPI_IS_OBJECT_ERROR(RMPI_ERR_OWNER_DIED));
    assert_true(RMPI_IS_OBJECT_ERROR(RMPI_ERR_STORE_FULL));
    assert_true(RMPI_IS_OBJECT_ERROR(RMPI_ERR_CORRUPT));
    assert_true(RMPI_IS_NODE_ERROR(RMPI_ERR_PEER_DIED));
    assert_true(RMPI_IS_NODE_ERROR(RMPI_ERR_TRANSPORT));
    assert_true(RMPI_IS_JOB_ERROR(RMPI_ERR_SHUTDOWN));
    assert_true(RMPI_IS_JOB_ERROR(RMPI_ERR_WALLTIME));
}

/* Call errors, success and the bounds belong to no group; codes at most to one. */
static void test_groups_are_disjoint(void **state)
{
    for (int value = RMPI_ERR_LAST - 5; value <= 5; ++value) {
        int groups = num_groups(value);

        if (value > -20 || value <= RMPI_ERR_LAST) {
            assert_int_equal(groups, 0);
        } else {
            assert_int_equal(groups, 1);
        }
    }
    assert_int_equal(num_groups(RMPI_ERR_MISMATCH), 0);
    assert_int_equal(num_groups(RMPI_ERR_INVALID_ARG), 0);
    assert_int_equal(num_groups(RMPI_OK), 0);
    assert_int_equal(num_groups(RMPI_INPROGRESS), 0);
}

static void test_code_values_are_grouped(void **state)
{
    /* The ABI: success is 0, progress positive, errors negative and above LAST. */
    assert_int_equal(RMPI_OK, 0);
    assert_true(RMPI_INPROGRESS > 0);
    for (size_t i = 2; i < NUM_CODES; ++i) {
        assert_true(all_codes[i] < 0);
        assert_true(all_codes[i] > RMPI_ERR_LAST);
    }
}

static void test_version(void **state)
{
    char prefix[32];

    assert_string_equal(rmpi_version(), RMPI_VERSION_STRING);
    snprintf(prefix, sizeof(prefix), "%d.%d.", RMPI_VERSION_MAJOR, RMPI_VERSION_MINOR);
    assert_int_equal(strncmp(rmpi_version(), prefix, strlen(prefix)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_a_string),
        cmocka_unit_test(test_strings_are_distinct),
        cmocka_unit_test(test_unknown_values),
        cmocka_unit_test(test_group_macros_match_codes),
        cmocka_unit_test(test_groups_are_disjoint),
        cmocka_unit_test(test_code_values_are_grouped),
        cmocka_unit_test(test_version),
    };

    return cmocka_run_group_tests_name("base_status", tests, NULL, NULL);
}
