/*
 * tests/integration/it_check.h - the checks of the multi-rank test programs
 * (rt_api.c, rt_actor.c, rt_pg.c). A check that fails prints
 *
 *     PROGRAM SCENARIO: FAIL at FUNCTION:LINE: what was expected
 *
 * and returns -1 from the scenario function it is in; TRY does the same for a
 * helper that returned non-zero. Define IT_PROGRAM (the name printed) before
 * including; set it_scenario as scenarios start. Single-threaded use (the
 * driver), header-only (each program is one file).
 */
#ifndef TESTS_INTEGRATION_IT_CHECK_H_
#define TESTS_INTEGRATION_IT_CHECK_H_

#include <raympi.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#ifndef IT_PROGRAM
#error "define IT_PROGRAM before including it_check.h"
#endif

static const char *it_scenario = "init";

static void it_report_failure(const char *func, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void it_report_failure(const char *func, int line, const char *fmt, ...)
{
    va_list ap;

    printf("%s %s: FAIL at %s:%d: ", IT_PROGRAM, it_scenario, func, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

#define CHECKF(_cond, ...)                                      \
    do {                                                        \
        if (!(_cond)) {                                         \
            it_report_failure(__func__, __LINE__, __VA_ARGS__); \
            return -1;                                          \
        }                                                       \
    } while (0)

#define CHECK(_cond) CHECKF(_cond, "%s", #_cond)

#define CHECK_STATUS(_expr, _expected)                                                       \
    do {                                                                                     \
        rmpi_status_t st_ = (_expr);                                                         \
        CHECKF(st_ == (_expected), "%s: %s (%d), expected %s", #_expr, rmpi_status_str(st_), \
               (int)st_, rmpi_status_str(_expected));                                        \
    } while (0)

#define CHECK_OK(_expr) CHECK_STATUS(_expr, RMPI_OK)

#define TRY(_call)                                                  \
    do {                                                            \
        if ((_call) != 0) {                                         \
            it_report_failure(__func__, __LINE__, "in %s", #_call); \
            return -1;                                              \
        }                                                           \
    } while (0)

/** A named scenario: returns 0 when every check in it passed. */
typedef struct it_scenario {
    const char *name;
    int (*run)(void);
} it_scenario_t;

/** The scenario called @a name in @a table of @a n, or NULL. */
static inline const it_scenario_t *it_find_scenario(const it_scenario_t *table, size_t n,
                                                    const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(table[i].name, name) == 0) {
            return &table[i];
        }
    }
    return NULL;
}

#endif /* TESTS_INTEGRATION_IT_CHECK_H_ */
