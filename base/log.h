/*
 * base/log.h - leveled logging with a host:rank prefix.
 *
 * Every line is "[host:rank:tid] LEVEL file:line message". Lines go to the
 * rank's log file in the job's run directory (<run_dir>/logs/rank-<N>.log) when
 * one is open; warnings and errors also go to stderr. Before base_log_open()
 * everything at or above the level goes to stderr.
 *
 * Thread safety: all functions are safe from any thread; a line is written
 * with one write(2), so lines from several threads never interleave.
 * Message style (after UCX's LoggingStyle): lowercase, no trailing period,
 * "%m" or strerror for system-call errors.
 */
#ifndef BASE_LOG_H_
#define BASE_LOG_H_

#include <raympi.h>
#include <stdarg.h>

typedef enum base_log_level {
    BASE_LOG_ERROR = 0,
    BASE_LOG_WARN,
    BASE_LOG_INFO,
    BASE_LOG_DEBUG,
    BASE_LOG_TRACE,
    BASE_LOG_LAST
} base_log_level_t;

/** Parse "error", "warn", "info", "debug" or "trace" (any case). */
rmpi_status_t base_log_level_parse(const char *name, base_log_level_t *level_p);
const char *base_log_level_name(base_log_level_t level);

void base_log_set_level(base_log_level_t level);
base_log_level_t base_log_get_level(void);

/** Set the rank shown in the prefix (-1 until known: shown as "-"). */
void base_log_set_rank(int rank);

/**
 * Open <run_dir>/logs/rank-<rank>.log (creating the folders, mode 0700) and
 * send log lines there from now on. Returns RMPI_ERR_IO if it cannot.
 */
rmpi_status_t base_log_open(const char *run_dir, int rank);
/** Close the log file; later lines go to stderr only. */
void base_log_close(void);

/** The path of the open log file, or NULL. */
const char *base_log_path(void);

void base_log_write(base_log_level_t level, const char *file, int line,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void base_log_vwrite(base_log_level_t level, const char *file, int line,
                     const char *fmt, va_list ap);

#define base_log(_level, ...)                                          \
    do {                                                               \
        if ((_level) <= base_log_get_level())                          \
            base_log_write((_level), __FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

#define base_error(...) base_log(BASE_LOG_ERROR, __VA_ARGS__)
#define base_warn(...)  base_log(BASE_LOG_WARN, __VA_ARGS__)
#define base_info(...)  base_log(BASE_LOG_INFO, __VA_ARGS__)
#define base_debug(...) base_log(BASE_LOG_DEBUG, __VA_ARGS__)
#define base_trace(...) base_log(BASE_LOG_TRACE, __VA_ARGS__)

/*
 * Log a line at most once per call site (for bad input that may arrive in a
 * flood: count it, say it once).
 */
#define base_log_once(_level, ...)                                              \
    do {                                                                        \
        static int base_log_once_done_;                                         \
        if (!__atomic_exchange_n(&base_log_once_done_, 1, __ATOMIC_RELAXED))    \
            base_log((_level), __VA_ARGS__);                                    \
    } while (0)

#endif /* BASE_LOG_H_ */
