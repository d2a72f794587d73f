/*
 * base/log.c - leveled logging (see log.h).
 *
 * A line is formatted into a stack buffer and written with one write(2), so
 * lines of different threads (and of ranks sharing a terminal) never mix.
 * Every base_log() call reads the level, so that read is one relaxed atomic
 * load. The level's default comes from the "base" config table
 * (RAYMPI_LOG_LEVEL), read at the first log call unless base_log_set_level()
 * came first; until that read is done the level is "warn".
 */
#include "base/log.h"

#include "base/rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024 /* bytes of one line, newline included */
#define LOG_HOST_MAX 64
#define LOG_LEVEL_UNSET (-1)
#define LOG_ELLIPSIS "..."

static const char *const log_level_names[BASE_LOG_LAST] = {
    [BASE_LOG_ERROR] = "error", [BASE_LOG_WARN] = "warn",   [BASE_LOG_INFO] = "info",
    [BASE_LOG_DEBUG] = "debug", [BASE_LOG_TRACE] = "trace",
};

static const char *const log_level_tags[BASE_LOG_LAST] = {
    [BASE_LOG_ERROR] = "ERROR", [BASE_LOG_WARN] = "WARN",   [BASE_LOG_INFO] = "INFO",
    [BASE_LOG_DEBUG] = "DEBUG", [BASE_LOG_TRACE] = "TRACE",
};

static int             log_level = LOG_LEVEL_UNSET; /* atomic */
static bool            log_level_explicit;          /* under log_level_lock */
static pthread_mutex_t log_level_lock = PTHREAD_MUTEX_INITIALIZER;
static int             log_rank       = -1; /* atomic */

/* Writers of a line hold it shared; open and close hold it exclusive. */
static pthread_rwlock_t log_file_lock = PTHREAD_RWLOCK_INITIALIZER;
static int              log_fd        = -1;
static char             log_path[PATH_MAX];

static pthread_once_t log_host_once = PTHREAD_ONCE_INIT;
static char           log_host[LOG_HOST_MAX];

rmpi_status_t base_log_level_parse(const char *name, base_log_level_t *level_p)
{
    if (name == NULL || level_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    for (int level = 0; level < BASE_LOG_LAST; ++level) {
        if (strcasecmp(name, log_level_names[level]) == 0) {
            *level_p = (base_log_level_t)level;
            return RMPI_OK;
        }
    }
    return RMPI_ERR_INVALID_ARG;
}

const char *base_log_level_name(base_log_level_t level)
{
    if ((unsigned)level >= BASE_LOG_LAST) {
        return "unknown";
    }
    return log_level_names[level];
}

static base_log_level_t log_level_from_config(void)
{
    base_log_level_t level = BASE_LOG_WARN;
    base_options_t   opts;

    if (base_config_parse(&base_options_table, &opts, NULL, NULL, 0) != RMPI_OK) {
        return level; /* the parser said why */
    }
    if (base_log_level_parse(opts.log_level, &level) != RMPI_OK) {
        base_error("invalid log level '%s': expected error, warn, info, debug or trace",
                   opts.log_level);
    }
    base_config_release(&base_options_table, &opts);
    return level;
}

static base_log_level_t log_level_init(void)
{
    int              unset = LOG_LEVEL_UNSET;
    base_log_level_t level;

    /* The first caller reads the config; the others, and the parser's own
     * error lines, see "warn" meanwhile. */
    if (!__atomic_compare_exchange_n(&log_level, &unset, BASE_LOG_WARN, false, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED)) {
        return (base_log_level_t)unset;
    }
    level = log_level_from_config();
    pthread_mutex_lock(&log_level_lock);
    if (!log_level_explicit) {
        __atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&log_level_lock);
    return (base_log_level_t)__atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

base_log_level_t base_log_get_level(void)
{
    int level = __atomic_load_n(&log_level, __ATOMIC_RELAXED);

    if (__builtin_expect(level == LOG_LEVEL_UNSET, 0)) {
        return log_level_init();
    }
    return (base_log_level_t)level;
}

void base_log_set_level(base_log_level_t level)
{
    if ((unsigned)level >= BASE_LOG_LAST) {
        return;
    }
    pthread_mutex_lock(&log_level_lock);
    log_level_explicit = true;
    __atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&log_level_lock);
}

void base_log_set_rank(int rank)
{
    __atomic_store_n(&log_rank, rank < 0 ? -1 : rank, __ATOMIC_RELAXED);
}

rmpi_status_t base_log_open(const char *run_dir, int rank)
{
    char          dir[PATH_MAX], path[PATH_MAX];
    rmpi_status_t status;
    int           fd, old_fd;

    if (run_dir == NULL || rank < 0) {
        base_error("cannot open a log file for run dir %s and rank %d",
                   run_dir ? run_dir : "(null)", rank);
        return RMPI_ERR_INVALID_ARG;
    }
    if ((size_t)snprintf(dir, sizeof(dir), "%s/logs", run_dir) >= sizeof(dir) ||
        (size_t)snprintf(path, sizeof(path), "%s/rank-%d.log", dir, rank) >= sizeof(path)) {
        base_error("log file path under '%s' is too long", run_dir);
        return RMPI_ERR_INVALID_ARG;
    }
    status = base_mkdir_p(dir, 0700);
    if (status != RMPI_OK) {
        return status;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        base_error("cannot open log file '%s': %m", path);
        return RMPI_ERR_IO;
    }
    base_log_set_rank(rank);

    pthread_rwlock_wrlock(&log_file_lock);
    old_fd = log_fd;
    log_fd = fd;
    strcpy(log_path, path);
    pthread_rwlock_unlock(&log_file_lock);

    if (old_fd >= 0) {
        close(old_fd);
    }
    return RMPI_OK;
}

void base_log_close(void)
{
    int fd;

    pthread_rwlock_wrlock(&log_file_lock);
    fd          = log_fd;
    log_fd      = -1;
    log_path[0] = '\0';
    pthread_rwlock_unlock(&log_file_lock);

    if (fd >= 0) {
        close(fd);
    }
}

const char *base_log_path(void)
{
    const char *path;

    pthread_rwlock_rdlock(&log_file_lock);
    path = (log_fd >= 0) ? log_path : NULL;
    pthread_rwlock_unlock(&log_file_lock);
    return path;
}

static void log_host_init(void)
{
    char *dot;

    if (gethostname(log_host, sizeof(log_host)) != 0) {
        strcpy(log_host, "?");
    }
    log_host[sizeof(log_host) - 1] = '\0';
    dot = strchr(log_host, '.'); /* the short name is enough to find a node */
    if (dot != NULL) {
        *dot = '\0';
    }
}

/* "base/conf.c" for ".../src/base/conf.c": the layer and the file. */
static const char *log_short_path(const char *file)
{
    const char *start;

    if (file == NULL) {
        return "?";
    }
    start = strrchr(file, '/');
    if (start == NULL) {
        return file;
    }
    while (start > file && start[-1] != '/') {
        --start;
    }
    return start;
}

/* End the text at @a end with "..." without splitting a UTF-8 character. */
static size_t log_mark_truncated(char *buf, size_t start, size_t end)
{
    size_t pos = end - strlen(LOG_ELLIPSIS);

    while (pos > start && ((unsigned char)buf[pos] & 0xC0) == 0x80) {
        --pos;
    }
    memcpy(buf + pos, LOG_ELLIPSIS, strlen(LOG_ELLIPSIS));
    return pos + strlen(LOG_ELLIPSIS);
}

/* Format one whole line, newline included, into @a buf; returns its length. */
static size_t log_format_line(char *buf, base_log_level_t level, const char *file, int line,
                              const char *fmt, va_list ap, int saved_errno)
{
    const size_t limit        = LOG_LINE_MAX - 1; /* the last byte is for the newline */
    const size_t min_room     = strlen(LOG_ELLIPSIS) + 1;
    int          rank         = __atomic_load_n(&log_rank, __ATOMIC_RELAXED);
    char         rank_str[16] = "-";
    size_t       prefix, end;
    int          n;

    pthread_once(&log_host_once, log_host_init);
    if (rank >= 0) {
        snprintf(rank_str, sizeof(rank_str), "%d", rank);
    }
    n = snprintf(buf, limit, "[%s:%s:%ld] %s %s:%d ", log_host, rank_str, (long)syscall(SYS_gettid),
                 log_level_tags[level], log_short_path(file), line);
    prefix = (n < 0) ? 0 : (size_t)n;
    if (prefix > limit - min_room) {
        prefix = limit - min_room; /* an absurd file name: keep room for the message */
    }

    errno = saved_errno; /* for "%m" */
    n     = vsnprintf(buf + prefix, limit - prefix, fmt, ap);
    end   = prefix + ((n < 0) ? 0 : (size_t)n);
    if (end >= limit) {
        end = log_mark_truncated(buf, prefix, limit - 1);
    }
    while (end > prefix && buf[end - 1] == '\n') {
        --end; /* we add the newline */
    }
    buf[end] = '\n';
    return end + 1;
}

static void log_write_all(int fd, const char *buf, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return; /* nowhere left to report it */
        }
        buf += n;
        len -= (size_t)n;
    }
}

void base_log_vwrite(base_log_level_t level, const char *file, int line, const char *fmt,
                     va_list ap)
{
    int    saved_errno = errno;
    char   buf[LOG_LINE_MAX];
    size_t len;

    if ((unsigned)level >= BASE_LOG_LAST || level > base_log_get_level() || fmt == NULL) {
        errno = saved_errno;
        return;
    }
    len = log_format_line(buf, level, file, line, fmt, ap, saved_errno);

    pthread_rwlock_rdlock(&log_file_lock);
    if (log_fd >= 0) {
        log_write_all(log_fd, buf, len);
    }
    if (log_fd < 0 || level <= BASE_LOG_WARN) {
        log_write_all(STDERR_FILENO, buf, len);
    }
    pthread_rwlock_unlock(&log_file_lock);
    errno = saved_errno;
}

void base_log_write(base_log_level_t level, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    base_log_vwrite(level, file, line, fmt, ap);
    va_end(ap);
}
