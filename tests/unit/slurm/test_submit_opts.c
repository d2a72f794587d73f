/*
 * Unit tests of the option parsers of slurm/submit.c (time limits and
 * --signal specs) and of slm_conf_path(), which keeps slurm_init() from
 * running (and exiting the process) without a configuration. No daemon needed.
 */
#include "slurm/slm.h"

#include "base/log.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

static uint32_t minutes(const char *text)
{
    uint32_t m = 0;

    assert_int_equal(slm_time_limit_parse(text, &m), RMPI_OK);
    return m;
}

static void test_time_limit(void **state)
{
    static const char *bad[] = {"",    "0",   "abc", "-5",          "1:2:3:4", "1-",      "1-2-3",
                                "10:", ":10", "1.5", "99999999999", "1- 2",    "00:00:00"};
    uint32_t           m     = 77;

    (void)state;
    assert_int_equal(minutes("30"), 30);
    assert_int_equal(minutes("5:30"), 6); /* MM:SS, seconds round up */
    assert_int_equal(minutes("1:30:00"), 90);
    assert_int_equal(minutes("2-00"), 2 * 24 * 60);
    assert_int_equal(minutes("1-02:03"), 24 * 60 + 2 * 60 + 3);
    assert_int_equal(minutes("1-00:00:01"), 24 * 60 + 1);
    assert_true(minutes("infinite") > 1000000);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("refusing '%s'\n", bad[i]);
        assert_int_equal(slm_time_limit_parse(bad[i], &m), RMPI_ERR_INVALID_ARG);
    }
    assert_int_equal(m, 77); /* untouched on failure */
    assert_int_equal(slm_time_limit_parse(NULL, &m), RMPI_ERR_INVALID_ARG);
}

static void test_signal(void **state)
{
    static const char *bad[] = {"",  "B:", "FOO", "USR1@",  "USR1@x",    "@60",
                                "0", "65", "SIG", "R:USR1", "USR1@70000"};
    uint32_t           secs  = 0;
    bool               batch = true;
    int                sig   = 0;

    (void)state;
    assert_int_equal(slm_signal_parse("USR1", &sig, &secs, &batch), RMPI_OK);
    assert_int_equal(sig, SIGUSR1);
    assert_int_equal(secs, 60);
    assert_false(batch);
    assert_int_equal(slm_signal_parse("B:SIGTERM@120", &sig, &secs, &batch), RMPI_OK);
    assert_int_equal(sig, SIGTERM);
    assert_int_equal(secs, 120);
    assert_true(batch);
    assert_int_equal(slm_signal_parse("12@0", &sig, &secs, &batch), RMPI_OK);
    assert_int_equal(sig, 12);
    assert_int_equal(secs, 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("refusing '%s'\n", bad[i]);
        sig = -1;
        assert_int_equal(slm_signal_parse(bad[i], &sig, &secs, &batch), RMPI_ERR_INVALID_ARG);
        assert_int_equal(sig, -1);
    }
}

/* Without a readable configuration every libslurm call is refused, not fatal(). */
static void test_no_conf(void **state)
{
    slm_submit_req_t req = {.script = "#!/bin/sh\ntrue\n"};
    slm_job_end_t    end;
    uint32_t         id = 0;

    (void)state;
    setenv("SLURM_CONF", "/nonexistent/slurm.conf", 1);
    assert_null(slm_conf_path());
    assert_int_equal(slm_submit(&req, &id), RMPI_ERR_UNSUPPORTED);
    assert_int_equal(id, 0);
    assert_int_equal(slm_job_wait(1, 1, &end), RMPI_ERR_UNSUPPORTED);
    setenv("SLURM_CONF", "/dev/null", 1);
    assert_string_equal(slm_conf_path(), "/dev/null");
    unsetenv("SLURM_CONF");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_limit),
        cmocka_unit_test(test_signal),
        cmocka_unit_test(test_no_conf),
    };

    base_log_set_level(BASE_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
