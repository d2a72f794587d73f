/*
 * Unit tests of base/log.h: levels, the line prefix, log files in a run
 * directory, truncation, concurrent writers and base_log_once.
 */
#define _GNU_SOURCE /* nftw, syscall(SYS_gettid) */
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/unit_util.h"

#define NUM_THREADS 4
#define LINES_PER_THREAD 1000
#define LINE_MAX_BYTES 1024 /* log.c's limit, newline included */

typedef struct log_fixture {
    char dir[256];     /* the temporary run dir */
    int  saved_stderr; /* -1 unless stderr is redirected */
    char stderr_path[PATH_MAX];
} log_fixture_t;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int setup(void **state)
{
    log_fixture_t *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_log.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->saved_stderr = -1;
    base_log_set_level(BASE_LOG_INFO);
    base_log_set_rank(-1);
    *state = fx;
    return 0;
}

static void restore_stderr(log_fixture_t *fx)
{
    if (fx->saved_stderr >= 0) {
        dup2(fx->saved_stderr, STDERR_FILENO);
        close(fx->saved_stderr);
        fx->saved_stderr = -1;
    }
}

static int teardown(void **state)
{
    log_fixture_t *fx = *state;

    restore_stderr(fx);
    base_log_close();
    nftw(fx->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

/* Send fd 2 to a file in the fixture's dir (to see what goes to stderr). */
static void redirect_stderr(log_fixture_t *fx)
{
    int fd;

    snprintf(fx->stderr_path, sizeof(fx->stderr_path), "%s/stderr.txt", fx->dir);
    fd = open(fx->stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    fx->saved_stderr = dup(STDERR_FILENO);
    assert_true(fx->saved_stderr >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
}

static size_t count_lines(const char *text)
{
    size_t lines = 0;

    for (; *text != '\0'; ++text) {
        lines += (*text == '\n');
    }
    return lines;
}

static size_t count_substr(const char *text, const char *needle)
{
    size_t count = 0;

    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle)) {
        ++count;
    }
    return count;
}

static void open_log(log_fixture_t *fx, int rank)
{
    char run_dir[PATH_MAX];

    snprintf(run_dir, sizeof(run_dir), "%s/run", fx->dir);
    assert_int_equal(base_log_open(run_dir, rank), RMPI_OK);
    assert_non_null(base_log_path());
}

/* Must run first: nothing has set the level yet, so it comes from RAYMPI_LOG_LEVEL. */
static void test_level_default_from_config(void **state)
{
    setenv("RAYMPI_LOG_LEVEL", "DEBUG", 1);
    assert_int_equal(base_log_get_level(), BASE_LOG_DEBUG);
    unsetenv("RAYMPI_LOG_LEVEL");

    base_log_set_level(BASE_LOG_ERROR); /* an explicit level wins over the config */
    assert_int_equal(base_log_get_level(), BASE_LOG_ERROR);
    base_log_set_level(BASE_LOG_LAST); /* ignored */
    assert_int_equal(base_log_get_level(), BASE_LOG_ERROR);
}

static void test_level_parse_and_name(void **state)
{
    static const char *const spellings[][3] = {
        {"error", "ERROR", "Error"}, {"warn", "WARN", "Warn"},    {"info", "INFO", "iNfO"},
        {"debug", "DEBUG", "Debug"}, {"trace", "TRACE", "tracE"},
    };
    base_log_level_t level;

    for (int expected = 0; expected < BASE_LOG_LAST; ++expected) {
        for (int i = 0; i < 3; ++i) {
            level = BASE_LOG_LAST;
            assert_int_equal(base_log_level_parse(spellings[expected][i], &level), RMPI_OK);
            assert_int_equal(level, expected);
        }
        assert_string_equal(base_log_level_name((base_log_level_t)expected),
                            spellings[expected][0]);
    }
    for (int i = 0; i < BASE_LOG_LAST; ++i) {
        for (int j = i + 1; j < BASE_LOG_LAST; ++j) {
            assert_string_not_equal(base_log_level_name(i), base_log_level_name(j));
        }
    }
}

static void test_level_parse_rejects_garbage(void **state)
{
    static const char *const bad[] = {"", "warning", "err", "2", "info ", "debugx"};
    base_log_level_t         level = BASE_LOG_TRACE;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        assert_int_equal(base_log_level_parse(bad[i], &level), RMPI_ERR_INVALID_ARG);
        assert_int_equal(level, BASE_LOG_TRACE); /* untouched on error */
    }
    assert_int_equal(base_log_level_parse(NULL, &level), RMPI_ERR_INVALID_ARG);
    assert_int_equal(base_log_level_parse("info", NULL), RMPI_ERR_INVALID_ARG);
    for (int i = 0; i < BASE_LOG_LAST; ++i) {
        assert_string_not_equal(base_log_level_name(BASE_LOG_LAST), base_log_level_name(i));
    }
}

static void test_open_creates_file_with_prefix(void **state)
{
    log_fixture_t *fx = *state;
    char           expected_path[PATH_MAX], host[256], prefix[512], where[64];
    struct stat    st;
    char          *text;
    int            line;

    open_log(fx, 3);
    snprintf(expected_path, sizeof(expected_path), "%s/run/logs/rank-3.log", fx->dir);
    assert_string_equal(base_log_path(), expected_path);
    assert_int_equal(stat(base_log_path(), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    snprintf(expected_path, sizeof(expected_path), "%s/run/logs", fx->dir);
    assert_int_equal(stat(expected_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    line = __LINE__ + 1;
    base_info("hello %d", 42);
    text = unit_read_file(base_log_path());

    assert_int_equal(gethostname(host, sizeof(host)), 0);
    host[strcspn(host, ".")] = '\0';
    snprintf(prefix, sizeof(prefix), "[%s:3:%ld] INFO ", host, (long)syscall(SYS_gettid));
    snprintf(where, sizeof(where), "base/test_log.c:%d hello 42\n", line);
    assert_int_equal(strncmp(text, prefix, strlen(prefix)), 0);
    assert_string_equal(text + strlen(prefix), where);
    free(text);
}

static void test_rank_shown_as_dash_until_set(void **state)
{
    log_fixture_t *fx = *state;
    char          *text;

    open_log(fx, 0);
    base_log_set_rank(-1);
    base_warn("no rank yet");
    base_log_set_rank(17);
    base_warn("rank known");
    text = unit_read_file(base_log_path());
    assert_int_equal(count_lines(text), 2);
    assert_non_null(strstr(text, ":-:"));
    assert_true(strstr(text, ":-:") < strstr(text, "no rank yet"));
    assert_true(strstr(text, ":17:") > strstr(text, "no rank yet"));
    free(text);
}

static void test_level_filtering(void **state)
{
    log_fixture_t *fx = *state;
    char          *text;

    open_log(fx, 1);
    base_log_set_level(BASE_LOG_WARN);
    base_error("e1");
    base_warn("w1");
    base_info("i1");
    base_debug("d1");
    base_trace("t1");
    base_log_write(BASE_LOG_DEBUG, __FILE__, __LINE__, "direct %s", "d2"); /* filtered too */
    base_log_set_level(BASE_LOG_TRACE);
    base_trace("t2");
    text = unit_read_file(base_log_path());
    assert_int_equal(count_lines(text), 3);
    assert_non_null(strstr(text, "] ERROR "));
    assert_non_null(strstr(text, " e1\n"));
    assert_non_null(strstr(text, "] WARN "));
    assert_non_null(strstr(text, " w1\n"));
    assert_non_null(strstr(text, "] TRACE "));
    assert_non_null(strstr(text, " t2\n"));
    assert_null(strstr(text, "i1"));
    assert_null(strstr(text, "d1"));
    assert_null(strstr(text, "d2"));
    assert_null(strstr(text, "t1"));
    free(text);
}

static void test_warnings_also_go_to_stderr(void **state)
{
    log_fixture_t *fx = *state;
    char          *text;

    redirect_stderr(fx);
    open_log(fx, 2);
    base_info("only in the file");
    base_warn("in both");
    base_error("also in both");
    base_log_close();
    assert_null(base_log_path());
    base_info("after close");
    restore_stderr(fx);

    text = unit_read_file(fx->stderr_path);
    assert_int_equal(count_lines(text), 3);
    assert_null(strstr(text, "only in the file"));
    assert_non_null(strstr(text, " in both\n"));
    assert_non_null(strstr(text, " also in both\n"));
    assert_non_null(strstr(text, " after close\n"));
    free(text);

    snprintf(fx->stderr_path, sizeof(fx->stderr_path), "%s/run/logs/rank-2.log", fx->dir);
    text = unit_read_file(fx->stderr_path);
    assert_int_equal(count_lines(text), 3);
    assert_non_null(strstr(text, " only in the file\n"));
    assert_null(strstr(text, "after close"));
    free(text);
}

static void test_long_line_is_truncated(void **state)
{
    log_fixture_t *fx = *state;
    char           message[5000];
    char          *text, *body, *dots;
    size_t         len;

    open_log(fx, 0);
    memset(message, 'x', sizeof(message) - 1);
    message[sizeof(message) - 1] = '\0';
    base_warn("%s", message);
    base_warn("next line");
    text = unit_read_file(base_log_path());
    assert_int_equal(count_lines(text), 2);
    len = strcspn(text, "\n");
    assert_true(len + 1 <= LINE_MAX_BYTES);
    assert_true(len > LINE_MAX_BYTES / 2);
    assert_int_equal(memcmp(text + len - 3, "...", 3), 0);
    assert_int_equal(strncmp(text + len + 1, "[", 1), 0);
    assert_non_null(strstr(text + len + 1, " next line\n"));
    free(text);

    /* A two-byte UTF-8 character is never cut in half. */
    for (size_t i = 0; i + 2 < sizeof(message); i += 2) {
        memcpy(message + i, "\xc3\xa9", 2);
    }
    message[sizeof(message) - 2] = '\0';
    base_log_close();
    open_log(fx, 9);
    base_warn("%s", message);
    text = unit_read_file(base_log_path());
    body = strstr(text, "\xc3\xa9");
    dots = strstr(text, "...");
    assert_non_null(body);
    assert_non_null(dots);
    assert_int_equal((size_t)(dots - body) % 2, 0);
    assert_string_equal(dots, "...\n");
    free(text);
}

static void test_system_error_message(void **state)
{
    log_fixture_t *fx = *state;
    char          *text;
    char           expected[256];

    open_log(fx, 0);
    errno = ENOENT;
    base_error("cannot open thing: %m");
    assert_int_equal(errno, ENOENT); /* logging leaves errno alone */
    text = unit_read_file(base_log_path());
    snprintf(expected, sizeof(expected), "cannot open thing: %s\n", strerror(ENOENT));
    assert_non_null(strstr(text, expected));
    free(text);
}

typedef struct writer_arg {
    int thread;
} writer_arg_t;

static void *writer_main(void *arg)
{
    int thread = ((writer_arg_t *)arg)->thread;

    for (int seq = 0; seq < LINES_PER_THREAD; ++seq) {
        base_info("writer %d seq %d padding %s", thread, seq, "0123456789abcdefghijklmnop");
    }
    return NULL;
}

static void test_concurrent_lines_stay_whole(void **state)
{
    log_fixture_t *fx = *state;
    pthread_t      threads[NUM_THREADS];
    writer_arg_t   args[NUM_THREADS];
    static bool    seen[NUM_THREADS][LINES_PER_THREAD];
    char          *text, *line, *save = NULL;
    size_t         lines = 0;

    memset(seen, 0, sizeof(seen));
    open_log(fx, 5);
    for (int i = 0; i < NUM_THREADS; ++i) {
        args[i].thread = i;
        assert_int_equal(pthread_create(&threads[i], NULL, writer_main, &args[i]), 0);
    }
    for (int i = 0; i < NUM_THREADS; ++i) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    }
    text = unit_read_file(base_log_path());
    assert_int_equal(count_lines(text), NUM_THREADS * LINES_PER_THREAD);
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        const char *msg = strstr(line, " writer ");
        int         thread, seq, consumed = 0;

        assert_int_equal(line[0], '[');
        assert_non_null(msg);
        assert_int_equal(sscanf(msg, " writer %d seq %d padding 0123456789abcdefghijklmnop%n",
                                &thread, &seq, &consumed),
                         2);
        assert_int_equal(msg[consumed], '\0'); /* nothing of another line after it */
        assert_true(thread >= 0 && thread < NUM_THREADS);
        assert_true(seq >= 0 && seq < LINES_PER_THREAD);
        assert_false(seen[thread][seq]);
        seen[thread][seq] = true;
        ++lines;
    }
    assert_int_equal(lines, NUM_THREADS * LINES_PER_THREAD);
    free(text);
}

static void log_once_site(int i)
{
    base_log_once(BASE_LOG_WARN, "flood %d", i);
}

static void test_log_once_fires_once(void **state)
{
    log_fixture_t *fx = *state;
    char          *text;

    open_log(fx, 0);
    for (int i = 0; i < 10; ++i) {
        log_once_site(i);
        base_log_once(BASE_LOG_WARN, "second site %d", i);
    }
    text = unit_read_file(base_log_path());
    assert_int_equal(count_lines(text), 2);
    assert_int_equal(count_substr(text, " flood 0\n"), 1);
    assert_int_equal(count_substr(text, " second site 0\n"), 1);
    assert_null(strstr(text, "flood 1"));
    free(text);
}

static void test_open_fails_when_a_file_is_in_the_way(void **state)
{
    log_fixture_t *fx = *state;
    char           path[PATH_MAX];
    FILE          *file;

    snprintf(path, sizeof(path), "%s/run", fx->dir);
    file = fopen(path, "w"); /* a file where the run dir should be */
    assert_non_null(file);
    fclose(file);
    base_log_set_level(BASE_LOG_ERROR);
    redirect_stderr(fx); /* the error line is expected; keep it out of the test output */
    assert_int_equal(base_log_open(path, 0), RMPI_ERR_IO);
    restore_stderr(fx);
    assert_null(base_log_path());
    assert_int_equal(base_log_open(NULL, 0), RMPI_ERR_INVALID_ARG);
    assert_int_equal(base_log_open(fx->dir, -1), RMPI_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_default_from_config),
        cmocka_unit_test(test_level_parse_and_name),
        cmocka_unit_test(test_level_parse_rejects_garbage),
        cmocka_unit_test_setup_teardown(test_open_creates_file_with_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rank_shown_as_dash_until_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_filtering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_warnings_also_go_to_stderr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_is_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_system_error_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_lines_stay_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_once_fires_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_fails_when_a_file_is_in_the_way, setup, teardown),
    };

    return cmocka_run_group_tests_name("base_log", tests, NULL, NULL);
}
