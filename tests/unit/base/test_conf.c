/*
 * Unit tests of base/conf.h: value parsers and formatters, the precedence of
 * defaults < file < environment < parameters, the config file format,
 * rmpi_config_print(), and that configs/raympi.conf documents every key.
 */
#define _GNU_SOURCE /* nftw */
#include "base/conf.h"

#include "base/log.h"

#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tests/unit/unit_util.h"

typedef struct test_opts {
    int      i;
    unsigned u;
    size_t   size;
    double   d;
    bool     b;
    char    *str;
    double   time;
    char    *prec;
} test_opts_t;

static const base_config_field_t test_fields[] = {
    {"TCONF_INT", "-5", "An int.", BASE_CONFIG_INT, offsetof(test_opts_t, i)},
    {"TCONF_UINT", "0x20", "An unsigned.", BASE_CONFIG_UINT, offsetof(test_opts_t, u)},
    {"TCONF_SIZE", "16M", "A size.", BASE_CONFIG_SIZE, offsetof(test_opts_t, size)},
    {"TCONF_DOUBLE", "0.5", "A double.", BASE_CONFIG_DOUBLE, offsetof(test_opts_t, d)},
    {"TCONF_BOOL", "yes", "A bool.\nSecond help line.", BASE_CONFIG_BOOL, offsetof(test_opts_t, b)},
    {"TCONF_STR", "plain", "A string.", BASE_CONFIG_STRING, offsetof(test_opts_t, str)},
    {"TCONF_TIME", "250ms", "A time.", BASE_CONFIG_TIME, offsetof(test_opts_t, time)},
    {"TCONF_PREC", "default", "Set at every level.", BASE_CONFIG_STRING,
     offsetof(test_opts_t, prec)},
    {NULL, NULL, NULL, BASE_CONFIG_INT, 0},
};

/* Registered at startup; its name sorts after "base". */
static base_config_table_t test_table = {
    .name = "zz_test_conf", .fields = test_fields, .size = sizeof(test_opts_t)};
BASE_CONFIG_REGISTER(test_table)

/* Registered by a test; its name sorts before "base". */
typedef struct early_opts {
    int a;
} early_opts_t;

static const base_config_field_t early_fields[] = {
    {"TCONF_EARLY", "7", "A key of the first table.", BASE_CONFIG_INT, offsetof(early_opts_t, a)},
    {NULL, NULL, NULL, BASE_CONFIG_INT, 0},
};

static base_config_table_t early_table = {
    .name = "aa_test_conf", .fields = early_fields, .size = sizeof(early_opts_t)};

static char test_dir[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void clear_env(void)
{
    for (const base_config_field_t *field = test_fields; field->key != NULL; ++field) {
        char name[64];

        snprintf(name, sizeof(name), "RAYMPI_%s", field->key);
        unsetenv(name);
    }
    unsetenv("RAYMPI_CONFIG_FILE");
    unsetenv("RAYMPI_LOG_LEVEL");
}

/* Error lines go to a log file in a temporary dir, where tests can read them. */
static int group_setup(void **state)
{
    snprintf(test_dir, sizeof(test_dir), "/tmp/test_conf.XXXXXX");
    if (mkdtemp(test_dir) == NULL) {
        return -1;
    }
    clear_env();
    base_log_set_level(BASE_LOG_WARN);
    return base_log_open(test_dir, 0) == RMPI_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    base_log_close();
    nftw(test_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static int test_teardown(void **state)
{
    clear_env();
    return 0;
}

/* Write @a text to a new file in the test dir; the path goes to @a path. */
static void write_config(const char *name, const char *text, char *path, size_t len)
{
    FILE *file;

    snprintf(path, len, "%s/%s", test_dir, name);
    file = fopen(path, "w");
    assert_non_null(file);
    assert_int_equal(fputs(text, file) >= 0, 1);
    fclose(file);
}

static void assert_logged(const char *needle)
{
    char *text = unit_read_file(base_log_path());

    if (strstr(text, needle) == NULL) {
        fail_msg("log has no '%s':\n%s", needle, text);
    }
    free(text);
}

/* ---- value parsers ------------------------------------------------------ */

static void test_parse_int(void **state)
{
    static const char *const bad[] = {"",           " ",
                                      "12x",        "x",
                                      "2147483648", "-2147483649",
                                      "1.5",        "0x10",
                                      "- 1",        "99999999999999999999"};
    int                      value;

    assert_int_equal(base_config_parse_value(BASE_CONFIG_INT, "42", &value), RMPI_OK);
    assert_int_equal(value, 42);
    assert_int_equal(base_config_parse_value(BASE_CONFIG_INT, " -7 ", &value), RMPI_OK);
    assert_int_equal(value, -7);
    assert_int_equal(base_config_parse_value(BASE_CONFIG_INT, "2147483647", &value), RMPI_OK);
    assert_int_equal(value, INT_MAX);
    assert_int_equal(base_config_parse_value(BASE_CONFIG_INT, "-2147483648", &value), RMPI_OK);
    assert_int_equal(value, INT_MIN);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        value = 1234;
        assert_int_equal(base_config_parse_value(BASE_CONFIG_INT, bad[i], &value), RMPI_ERR_CONFIG);
        assert_int_equal(value, 1234); /* untouched on error */
    }
    assert_int_equal(base_config_parse_value(BASE_CONFIG_INT, NULL, &value), RMPI_ERR_INVALID_ARG);
    assert_int_equal(base_config_parse_value(BASE_CONFIG_INT, "1", NULL), RMPI_ERR_INVALID_ARG);
}

static void test_parse_uint(void **state)
{
    static const char *const bad[] = {"-1", "4294967296", "0x", "12x", "", "+1", "0x1g"};
    unsigned                 value;

    assert_int_equal(base_config_parse_value(BASE_CONFIG_UINT, "0x10", &value), RMPI_OK);
    assert_int_equal(value, 16);
    assert_int_equal(base_config_parse_value(BASE_CONFIG_UINT, "010", &value), RMPI_OK);
    assert_int_equal(value, 10); /* decimal, not octal */
    assert_int_equal(base_config_parse_value(BASE_CONFIG_UINT, "4294967295", &value), RMPI_OK);
    assert_int_equal(value, UINT_MAX);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        value = 99;
        assert_int_equal(base_config_parse_value(BASE_CONFIG_UINT, bad[i], &value),
                         RMPI_ERR_CONFIG);
        assert_int_equal(value, 99);
    }
}

static void test_parse_size(void **state)
{
    static const struct {
        const char *text;
        size_t      value;
    } good[] = {
        {"64", 64},
        {"4k", 4096},
        {"4K", 4096},
        {"16M", 16ull << 20},
        {"2G", 2ull << 30},
        {"1T", 1ull << 40},
        {"1t", 1ull << 40},
        {"0x1000", 4096},
        {"0", 0},
        {"18446744073709551615", SIZE_MAX},
        {"16777215T", 16777215ull << 40},
    };
    static const char *const bad[] = {
        "-1",           "12x",       "4kb", "k",  "", "1.5G", "18446744073709551616",
        "17179869184G", "16777216T", "4 k", "1P",
    };
    size_t value;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); ++i) {
        assert_int_equal(base_config_parse_value(BASE_CONFIG_SIZE, good[i].text, &value), RMPI_OK);
        assert_int_equal(value, good[i].value);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        value = 5;
        if (base_config_parse_value(BASE_CONFIG_SIZE, bad[i], &value) != RMPI_ERR_CONFIG) {
            fail_msg("size '%s' was accepted", bad[i]);
        }
        assert_int_equal(value, 5);
    }
}

static void test_parse_double_and_bool(void **state)
{
    static const char *const bad_double[] = {"nan", "1e999", "abc", "1.5.2", "", "0x1p3"};
    static const char *const yes[]        = {"y", "yes", "on", "true", "1", "YES", "True", " on "};
    static const char *const no[]         = {"n", "no", "off", "false", "0", "NO", "Off"};
    static const char *const bad_bool[]   = {"maybe", "2", "", "yess", "tru"};
    double                   d;
    bool                     b;

    assert_int_equal(base_config_parse_value(BASE_CONFIG_DOUBLE, "1.5", &d), RMPI_OK);
    assert_true(d == 1.5);
    assert_int_equal(base_config_parse_value(BASE_CONFIG_DOUBLE, "-2e3", &d), RMPI_OK);
    assert_true(d == -2000.0);
    assert_int_equal(base_config_parse_value(BASE_CONFIG_DOUBLE, "inf", &d), RMPI_OK);
    assert_true(isinf(d) && d > 0);
    for (size_t i = 0; i < sizeof(bad_double) / sizeof(bad_double[0]); ++i) {
        d = 3.0;
        assert_int_equal(base_config_parse_value(BASE_CONFIG_DOUBLE, bad_double[i], &d),
                         RMPI_ERR_CONFIG);
        assert_true(d == 3.0);
    }
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); ++i) {
        b = false;
        assert_int_equal(base_config_parse_value(BASE_CONFIG_BOOL, yes[i], &b), RMPI_OK);
        assert_true(b);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); ++i) {
        b = true;
        assert_int_equal(base_config_parse_value(BASE_CONFIG_BOOL, no[i], &b), RMPI_OK);
        assert_false(b);
    }
    for (size_t i = 0; i < sizeof(bad_bool) / sizeof(bad_bool[0]); ++i) {
        assert_int_equal(base_config_parse_value(BASE_CONFIG_BOOL, bad_bool[i], &b),
                         RMPI_ERR_CONFIG);
    }
}

static void test_parse_time(void **state)
{
    static const struct {
        const char *text;
        double      seconds;
    } good[] = {
        {"1.5", 1.5},   {"250ms", 0.25}, {"10us", 1e-5},  {"2s", 2.0},  {"1m", 60.0},
        {"1h", 3600.0}, {"0", 0.0},      {"100ns", 1e-7}, {".5s", 0.5}, {"1e3ms", 1.0},
    };
    static const char *const bad[] = {"-1s",    "5parsecs", "s",    "1 s",  "nan",
                                      "1e999s", "",         "1ms5", "-inf", "1S5"};
    double                   t;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); ++i) {
        assert_int_equal(base_config_parse_value(BASE_CONFIG_TIME, good[i].text, &t), RMPI_OK);
        if (t != good[i].seconds) {
            fail_msg("time '%s' gave %.17g", good[i].text, t);
        }
    }
    assert_int_equal(base_config_parse_value(BASE_CONFIG_TIME, "inf", &t), RMPI_OK);
    assert_true(isinf(t) && t > 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        t = 9.0;
        if (base_config_parse_value(BASE_CONFIG_TIME, bad[i], &t) != RMPI_ERR_CONFIG) {
            fail_msg("time '%s' was accepted", bad[i]);
        }
        assert_true(t == 9.0);
    }
}

static void test_parse_string(void **state)
{
    const char *text = "  spaces kept  ";
    char       *copy = NULL;

    assert_int_equal(base_config_parse_value(BASE_CONFIG_STRING, text, &copy), RMPI_OK);
    assert_non_null(copy);
    assert_ptr_not_equal(copy, text);
    assert_string_equal(copy, text);
    free(copy);
}

/* ---- format ------------------------------------------------------------- */

static void assert_formats_as(const base_config_field_t *field, const test_opts_t *opts,
                              const char *expected)
{
    char buf[64];

    assert_int_equal(base_config_format(field, opts, buf, sizeof(buf)), RMPI_OK);
    assert_string_equal(buf, expected);
}

static void test_format_values(void **state)
{
    test_opts_t opts = {.i    = -12,
                        .u    = 4000000000u,
                        .size = 16ull << 20,
                        .d    = 0.1,
                        .b    = true,
                        .str  = "hello",
                        .time = 0.25,
                        .prec = NULL};

    assert_formats_as(&test_fields[0], &opts, "-12");
    assert_formats_as(&test_fields[1], &opts, "4000000000");
    assert_formats_as(&test_fields[2], &opts, "16M");
    assert_formats_as(&test_fields[3], &opts, "0.1");
    assert_formats_as(&test_fields[4], &opts, "y");
    assert_formats_as(&test_fields[5], &opts, "hello");
    assert_formats_as(&test_fields[6], &opts, "250ms");
    assert_formats_as(&test_fields[7], &opts, ""); /* a NULL string */

    opts.size = 1000;
    assert_formats_as(&test_fields[2], &opts, "1000");
    opts.size = 3ull << 40;
    assert_formats_as(&test_fields[2], &opts, "3T");
    opts.size = 1025;
    assert_formats_as(&test_fields[2], &opts, "1025");
    opts.time = 120;
    assert_formats_as(&test_fields[6], &opts, "2m");
    opts.time = 1.5;
    assert_formats_as(&test_fields[6], &opts, "1.5s");
    opts.time = INFINITY;
    assert_formats_as(&test_fields[6], &opts, "inf");
}

static void test_format_truncated(void **state)
{
    test_opts_t opts = {.str = "a long string value", .size = 16ull << 20};
    char        buf[8];

    memset(buf, '#', sizeof(buf));
    assert_int_equal(base_config_format(&test_fields[5], &opts, buf, sizeof(buf)),
                     RMPI_ERR_TRUNCATED);
    assert_int_equal(buf[0], '#'); /* untouched */
    assert_int_equal(base_config_format(&test_fields[2], &opts, buf, 3), RMPI_ERR_TRUNCATED);
    assert_int_equal(base_config_format(&test_fields[2], &opts, buf, 4), RMPI_OK);
    assert_string_equal(buf, "16M");
}

/* Every value read back from its formatted text is the same value. */
static void test_format_round_trip(void **state)
{
    static const double times[]   = {0, 1e-7, 3e-6, 0.25, 1.5, 59.999, 60, 90, 7200, 1.0 / 3};
    static const size_t sizes[]   = {0, 1, 1023, 1024, 4096 + 1, 1ull << 30, SIZE_MAX};
    static const double doubles[] = {0.1, -2.5e-300, 1.0 / 3, 123456789.123456789, -INFINITY};
    char                buf[64];
    test_opts_t         in = {0}, out = {0};

    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); ++i) {
        in.time = times[i];
        assert_int_equal(base_config_format(&test_fields[6], &in, buf, sizeof(buf)), RMPI_OK);
        assert_int_equal(base_config_parse_value(BASE_CONFIG_TIME, buf, &out.time), RMPI_OK);
        if (out.time != in.time) {
            fail_msg("time %.17g formatted as '%s' reads back as %.17g", in.time, buf, out.time);
        }
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); ++i) {
        in.size = sizes[i];
        assert_int_equal(base_config_format(&test_fields[2], &in, buf, sizeof(buf)), RMPI_OK);
        assert_int_equal(base_config_parse_value(BASE_CONFIG_SIZE, buf, &out.size), RMPI_OK);
        assert_int_equal(out.size, in.size);
    }
    for (size_t i = 0; i < sizeof(doubles) / sizeof(doubles[0]); ++i) {
        in.d = doubles[i];
        assert_int_equal(base_config_format(&test_fields[3], &in, buf, sizeof(buf)), RMPI_OK);
        assert_int_equal(base_config_parse_value(BASE_CONFIG_DOUBLE, buf, &out.d), RMPI_OK);
        assert_true(out.d == in.d);
    }
    in.i = INT_MIN;
    assert_int_equal(base_config_format(&test_fields[0], &in, buf, sizeof(buf)), RMPI_OK);
    assert_int_equal(base_config_parse_value(BASE_CONFIG_INT, buf, &out.i), RMPI_OK);
    assert_int_equal(out.i, INT_MIN);
}

/* ---- parsing a table ---------------------------------------------------- */

static void test_defaults(void **state)
{
    test_opts_t opts;

    assert_int_equal(base_config_parse(&test_table, &opts, NULL, NULL, 0), RMPI_OK);
    assert_int_equal(opts.i, -5);
    assert_int_equal(opts.u, 32);
    assert_int_equal(opts.size, 16ull << 20);
    assert_true(opts.d == 0.5);
    assert_true(opts.b);
    assert_string_equal(opts.str, "plain");
    assert_true(opts.time == 0.25);
    assert_string_equal(opts.prec, "default");
    base_config_release(&test_table, &opts);
    assert_null(opts.str);
    assert_null(opts.prec);
}

/* One key set at every level: the highest level present wins. */
static void test_precedence(void **state)
{
    const char *params[] = {"TCONF_PREC=param"};
    char        path[PATH_MAX];
    test_opts_t opts;

    write_config("prec.conf", "TCONF_PREC = file\n", path, sizeof(path));
    setenv("RAYMPI_TCONF_PREC", "env", 1);

    assert_int_equal(base_config_parse(&test_table, &opts, path, params, 1), RMPI_OK);
    assert_string_equal(opts.prec, "param");
    base_config_release(&test_table, &opts);

    assert_int_equal(base_config_parse(&test_table, &opts, path, NULL, 0), RMPI_OK);
    assert_string_equal(opts.prec, "env");
    base_config_release(&test_table, &opts);

    unsetenv("RAYMPI_TCONF_PREC");
    assert_int_equal(base_config_parse(&test_table, &opts, path, NULL, 0), RMPI_OK);
    assert_string_equal(opts.prec, "file");
    base_config_release(&test_table, &opts);

    assert_int_equal(base_config_parse(&test_table, &opts, NULL, NULL, 0), RMPI_OK);
    assert_string_equal(opts.prec, "default");
    base_config_release(&test_table, &opts);

    /* With no file argument, RAYMPI_CONFIG_FILE names the file. */
    setenv("RAYMPI_CONFIG_FILE", path, 1);
    assert_int_equal(base_config_parse(&test_table, &opts, NULL, NULL, 0), RMPI_OK);
    assert_string_equal(opts.prec, "file");
    base_config_release(&test_table, &opts);
}

static void test_file_syntax(void **state)
{
    static const char text[] = "# a comment line\n"
                               "\n"
                               "   \t\n"
                               "  TCONF_INT   =   17  \n"
                               "raympi_tconf_uint=0x40\n"
                               "RAYMPI_TCONF_SIZE = 2G # an inline comment\n"
                               "tconf_bool = off\n"
                               "TCONF_STR = \"two # words\"  # quoted text is literal\n"
                               "TCONF_TIME = 1m\n"
                               "TCONF_PREC = a#b\n"
                               "LOG_LEVEL = debug\n" /* another table's key: accepted, not ours */
                               "TCONF_INT = 18\n";   /* the last one wins */
    char        path[PATH_MAX];
    test_opts_t opts;

    write_config("syntax.conf", text, path, sizeof(path));
    assert_int_equal(base_config_parse(&test_table, &opts, path, NULL, 0), RMPI_OK);
    assert_int_equal(opts.i, 18);
    assert_int_equal(opts.u, 64);
    assert_int_equal(opts.size, 2ull << 30);
    assert_false(opts.b);
    assert_string_equal(opts.str, "two # words");
    assert_true(opts.time == 60.0);
    assert_string_equal(opts.prec, "a#b");
    assert_true(opts.d == 0.5); /* not in the file: default */
    base_config_release(&test_table, &opts);
}

static void test_file_unknown_key(void **state)
{
    char        path[PATH_MAX], expected[PATH_MAX + 64];
    test_opts_t opts;

    write_config("unknown.conf", "# ok\nTCONF_INT = 1\nNO_SUCH_KEY = 1\n", path, sizeof(path));
    assert_int_equal(base_config_parse(&test_table, &opts, path, NULL, 0), RMPI_ERR_CONFIG);
    assert_null(opts.str); /* left released */
    assert_null(opts.prec);
    snprintf(expected, sizeof(expected), "%s:3: unknown config key 'NO_SUCH_KEY'", path);
    assert_logged(expected);
}

static void test_file_malformed_lines(void **state)
{
    static const char *const lines[] = {"JUST_A_WORD\n",        "= 5\n",
                                        "BAD KEY = 1\n",        "TCONF-INT = 1\n",
                                        "TCONF_STR = \"open\n", "TCONF_STR = 'a' b\n"};
    char                     path[PATH_MAX], text[128], expected[PATH_MAX + 64];
    test_opts_t              opts;

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); ++i) {
        snprintf(text, sizeof(text), "TCONF_INT = 1\n\n%s", lines[i]);
        write_config("malformed.conf", text, path, sizeof(path));
        assert_int_equal(base_config_parse(&test_table, &opts, path, NULL, 0), RMPI_ERR_CONFIG);
        snprintf(expected, sizeof(expected), "%s:3: malformed line", path);
        assert_logged(expected);
    }

    write_config("badvalue.conf", "TCONF_SIZE = 12x\n", path, sizeof(path));
    assert_int_equal(base_config_parse(&test_table, &opts, path, NULL, 0), RMPI_ERR_CONFIG);
    snprintf(expected, sizeof(expected), "%s:1: invalid value '12x' for TCONF_SIZE", path);
    assert_logged(expected);

    snprintf(path, sizeof(path), "%s/does-not-exist.conf", test_dir);
    assert_int_equal(base_config_parse(&test_table, &opts, path, NULL, 0), RMPI_ERR_IO);
}

static void test_bad_env_and_params(void **state)
{
    const char *no_equals[] = {"TCONF_INT"};
    const char *unknown[]   = {"TCONF_INT=1", "NOT_A_KEY=2"};
    const char *bad_value[] = {"tconf_size=-1"};
    const char *good[]      = {"RAYMPI_TCONF_INT=3", "tconf_str=x=y"};
    test_opts_t opts;

    setenv("RAYMPI_TCONF_INT", "12x", 1);
    assert_int_equal(base_config_parse(&test_table, &opts, NULL, NULL, 0), RMPI_ERR_CONFIG);
    assert_logged("RAYMPI_TCONF_INT: invalid value '12x' for TCONF_INT");
    unsetenv("RAYMPI_TCONF_INT");

    assert_int_equal(base_config_parse(&test_table, &opts, NULL, no_equals, 1), RMPI_ERR_CONFIG);
    assert_int_equal(base_config_parse(&test_table, &opts, NULL, unknown, 2), RMPI_ERR_CONFIG);
    assert_logged("parameter 2: unknown config key 'NOT_A_KEY'");
    assert_int_equal(base_config_parse(&test_table, &opts, NULL, bad_value, 1), RMPI_ERR_CONFIG);
    assert_int_equal(base_config_parse(&test_table, &opts, NULL, NULL, 1), RMPI_ERR_INVALID_ARG);

    assert_int_equal(base_config_parse(&test_table, &opts, NULL, good, 2), RMPI_OK);
    assert_int_equal(opts.i, 3);
    assert_string_equal(opts.str, "x=y");
    base_config_release(&test_table, &opts);
}

/* ---- rmpi_config_print --------------------------------------------------- */

static char *print_config(uint64_t flags)
{
    char  *text   = NULL;
    size_t size   = 0;
    FILE  *stream = open_memstream(&text, &size);

    assert_non_null(stream);
    assert_int_equal(rmpi_config_print(stream, flags), RMPI_OK);
    fclose(stream);
    return text;
}

static void test_config_print(void **state)
{
    char *text, *again;

    base_config_register(&early_table);
    base_config_register(&early_table); /* twice is harmless */
    setenv("RAYMPI_TCONF_STR", "two words", 1);
    setenv("RAYMPI_TCONF_SIZE", "4k", 1);

    text = print_config(0);
    assert_non_null(strstr(text, "RAYMPI_LOG_LEVEL=warn\n"));
    assert_non_null(strstr(text, "RAYMPI_TCONF_SIZE=4k\n"));
    assert_non_null(strstr(text, "RAYMPI_TCONF_STR='two words'\n"));
    assert_non_null(strstr(text, "RAYMPI_TCONF_TIME=250ms\n"));
    assert_null(strstr(text, "# ["));
    /* Tables by name, fields in table order. */
    assert_true(strstr(text, "RAYMPI_TCONF_EARLY=7") < strstr(text, "RAYMPI_LOG_LEVEL="));
    assert_true(strstr(text, "RAYMPI_LOG_LEVEL=") < strstr(text, "RAYMPI_TCONF_INT="));
    assert_true(strstr(text, "RAYMPI_TCONF_INT=") < strstr(text, "RAYMPI_TCONF_PREC="));
    assert_true(strstr(text, "RAYMPI_TCONF_EARLY=") == text);
    again = print_config(0);
    assert_string_equal(text, again);
    free(again);
    free(text);

    text = print_config(RMPI_CONFIG_PRINT_HELP);
    assert_non_null(strstr(text, "# [zz_test_conf] An int.\nRAYMPI_TCONF_INT=-5\n"));
    assert_non_null(strstr(text, "# [zz_test_conf] A bool.\n# [zz_test_conf] Second help line.\n"));
    assert_non_null(strstr(text, "# [base] "));
    free(text);

    assert_int_equal(rmpi_config_print(NULL, 0), RMPI_ERR_INVALID_ARG);
}

/* The printed configuration, saved as a file, reads back as the same values. */
static void test_config_print_reads_back(void **state)
{
    char        path[PATH_MAX];
    test_opts_t printed, loaded;
    FILE       *file;

    setenv("RAYMPI_TCONF_STR", "it's here", 1);
    setenv("RAYMPI_TCONF_TIME", "90s", 1);
    setenv("RAYMPI_TCONF_DOUBLE", "0.3", 1);
    assert_int_equal(base_config_parse(&test_table, &printed, NULL, NULL, 0), RMPI_OK);

    snprintf(path, sizeof(path), "%s/printed.conf", test_dir);
    file = fopen(path, "w");
    assert_non_null(file);
    assert_int_equal(rmpi_config_print(file, RMPI_CONFIG_PRINT_HELP), RMPI_OK);
    fclose(file);
    clear_env();

    assert_int_equal(base_config_parse(&test_table, &loaded, path, NULL, 0), RMPI_OK);
    assert_true(loaded.time == printed.time);
    assert_true(loaded.d == printed.d);
    assert_string_equal(loaded.str, printed.str);
    assert_int_equal(loaded.size, printed.size);
    assert_int_equal(loaded.u, printed.u);
    base_config_release(&test_table, &loaded);
    base_config_release(&test_table, &printed);
}

static void test_config_print_reports_bad_config(void **state)
{
    char   path[PATH_MAX];
    char  *text = NULL;
    size_t size = 0;
    FILE  *stream;

    write_config("bad.conf", "NOPE = 1\n", path, sizeof(path));
    setenv("RAYMPI_CONFIG_FILE", path, 1);
    stream = open_memstream(&text, &size);
    assert_non_null(stream);
    assert_int_equal(rmpi_config_print(stream, 0), RMPI_ERR_CONFIG);
    fclose(stream);
    free(text);
}

/* configs/raympi.conf documents every key of the library, with its default. */
static void test_default_config_documents_every_key(void **state)
{
    const char *top_srcdir = getenv("top_srcdir");
    char        path[PATH_MAX], expected[256];
    char       *text;
    int         checked = 0;
    test_opts_t opts;

    if (top_srcdir == NULL) {
        skip();
    }
    snprintf(path, sizeof(path), "%s/configs/raympi.conf", top_srcdir);
    text = unit_read_file(path);
    for (const base_config_table_t *table = base_config_tables(); table != NULL;
         table                            = table->next) {
        if (table == &test_table || table == &early_table) {
            continue;
        }
        for (const base_config_field_t *field = table->fields; field->key != NULL; ++field) {
            snprintf(expected, sizeof(expected), "\n# %s =%s%s\n", field->key,
                     field->default_value[0] ? " " : "", field->default_value);
            if (strstr(text, expected) == NULL) {
                fail_msg("%s has no line '%.*s'", path, (int)strlen(expected) - 2, expected + 1);
            }
            ++checked;
        }
    }
    assert_true(checked >= 4); /* at least the base table's keys */
    free(text);

    /* and the file itself parses (everything in it is a comment or a known key) */
    assert_int_equal(base_config_parse(&test_table, &opts, path, NULL, 0), RMPI_OK);
    base_config_release(&test_table, &opts);
}

int main(void)
{
#define TEST(_fn) cmocka_unit_test_teardown(_fn, test_teardown)
    const struct CMUnitTest tests[] = {
        TEST(test_parse_int),
        TEST(test_parse_uint),
        TEST(test_parse_size),
        TEST(test_parse_double_and_bool),
        TEST(test_parse_time),
        TEST(test_parse_string),
        TEST(test_format_values),
        TEST(test_format_truncated),
        TEST(test_format_round_trip),
        TEST(test_defaults),
        TEST(test_precedence),
        TEST(test_file_syntax),
        TEST(test_file_unknown_key),
        TEST(test_file_malformed_lines),
        TEST(test_bad_env_and_params),
        TEST(test_config_print),
        TEST(test_config_print_reads_back),
        TEST(test_config_print_reports_bad_config),
        TEST(test_default_config_documents_every_key),
    };
#undef TEST

    return cmocka_run_group_tests_name("base_conf", tests, group_setup, group_teardown);
}
