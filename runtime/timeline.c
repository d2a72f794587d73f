/*
 * runtime/timeline.c - the Chrome trace recorder (see timeline.h).
 *
 * Each thread appends fixed-size event records to its own chunked buffer, so
 * the record path takes no lock: a thread-local pointer finds the buffer, the
 * event is filled in, and the chunk's count is published with a release
 * store (serialize reads it with acquire, so it sees whole events only).
 *
 * Buffers are registered once, under a mutex, in a global list that owns
 * them: a thread may exit long before serialize runs and its events must
 * still be there, so no thread-exit destructor frees anything. Reset frees
 * every buffer and bumps a generation number; a thread that is still alive
 * sees that its thread-local pointer belongs to an older generation and
 * registers a fresh buffer instead of touching freed memory.
 */
#include "runtime/timeline.h"

#include "base/list.h"
#include "base/log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TL_NAME_MAX 64       /* bytes of a name, NUL included */
#define TL_DETAIL_MAX 128    /* bytes of a detail, NUL included */
#define TL_CHUNK_EVENTS 1024 /* ~224 KiB: mmap'd by malloc, so pages are touched as used */
#define TL_OUT_MIN 4096      /* first size of the serialize buffer */

typedef struct tl_event {
    uint64_t    ts_us;
    uint64_t    dur_us;
    const char *cat; /* static, not copied */
    char        phase;
    char        name[TL_NAME_MAX];
    char        detail[TL_DETAIL_MAX]; /* "" when none */
} tl_event_t;

typedef struct tl_chunk {
    struct tl_chunk *next;  /* written once by the owner (release) */
    size_t           count; /* events filled in; written by the owner (release) */
    tl_event_t       events[TL_CHUNK_EVENTS];
} tl_chunk_t;

/* One thread's buffer. Owned by tl_threads, never by the thread. */
typedef struct tl_thread {
    base_list_t list;
    long        tid;
    char        name[TL_NAME_MAX]; /* "" until named; under tl_lock */
    tl_chunk_t *first;
    tl_chunk_t *last;    /* the owner thread's append point */
    uint64_t    dropped; /* events lost to a failed allocation */
} tl_thread_t;

/* Shared state; tl_on is read (relaxed) by every record call. */
static bool            tl_on;
static int             tl_rank;
static uint64_t        tl_generation = 1;
static pthread_mutex_t tl_lock       = PTHREAD_MUTEX_INITIALIZER;
static base_list_t     tl_threads    = BASE_LIST_HEAD_INIT(tl_threads);

/* The calling thread's buffer, valid while tl_self_gen == tl_generation. */
static __thread tl_thread_t *tl_self;
static __thread uint64_t     tl_self_gen;
static __thread char         tl_self_name[TL_NAME_MAX];

/* The growing output of serialize; a failed allocation sticks in @failed. */
typedef struct tl_out {
    char  *data;
    size_t len;
    size_t cap;
    bool   failed;
} tl_out_t;

bool rt_timeline_enabled(void)
{
    return __atomic_load_n(&tl_on, __ATOMIC_RELAXED);
}

uint64_t rt_timeline_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

rmpi_status_t rt_timeline_enable(int rank)
{
    rmpi_status_t status = RMPI_OK;

    if (rank < 0) {
        base_error("timeline: invalid rank %d", rank);
        return RMPI_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&tl_lock);
    if (rt_timeline_enabled() && tl_rank != rank) {
        base_error("timeline: already enabled for rank %d, not %d", tl_rank, rank);
        status = RMPI_ERR_INVALID_ARG;
    } else {
        tl_rank = rank;
        __atomic_store_n(&tl_on, true, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&tl_lock);
    return status;
}

/*
 * Copy @a src (may be NULL) into @a dst of @a cap bytes. A long string is cut
 * before a UTF-8 continuation byte, so a cut never splits a character.
 */
static void tl_copy(char *dst, size_t cap, const char *src)
{
    size_t len = (src != NULL) ? strnlen(src, cap) : 0;

    if (len == cap) {
        len = cap - 1;
        while (len > 0 && ((unsigned char)src[len] & 0xc0) == 0x80) {
            --len;
        }
    }
    if (len > 0) {
        memcpy(dst, src, len);
    }
    dst[len] = '\0';
}

static tl_chunk_t *tl_chunk_new(void)
{
    tl_chunk_t *chunk = malloc(sizeof(*chunk));

    if (chunk != NULL) {
        chunk->next  = NULL;
        chunk->count = 0;
    }
    return chunk;
}

static void tl_thread_free(tl_thread_t *thread)
{
    tl_chunk_t *chunk = thread->first;

    while (chunk != NULL) {
        tl_chunk_t *next = chunk->next;

        free(chunk);
        chunk = next;
    }
    free(thread);
}

/* Register a buffer for the calling thread; NULL if out of memory. */
static tl_thread_t *tl_self_register(void)
{
    tl_thread_t *self  = calloc(1, sizeof(*self));
    tl_chunk_t  *chunk = tl_chunk_new();

    if (self == NULL || chunk == NULL) {
        free(self);
        free(chunk);
        base_log_once(BASE_LOG_WARN, "timeline: out of memory, events dropped");
        return NULL;
    }
    base_list_init(&self->list);
    self->tid   = (long)syscall(SYS_gettid);
    self->first = chunk;
    self->last  = chunk;
    tl_copy(self->name, sizeof(self->name), tl_self_name);

    pthread_mutex_lock(&tl_lock);
    base_list_add_tail(&tl_threads, &self->list);
    tl_self_gen = tl_generation;
    pthread_mutex_unlock(&tl_lock);
    tl_self = self;
    return self;
}

static bool tl_self_is_current(void)
{
    return tl_self != NULL && tl_self_gen == __atomic_load_n(&tl_generation, __ATOMIC_RELAXED);
}

/* The next free event of the calling thread, or NULL (event dropped). */
static tl_event_t *tl_event_claim(tl_chunk_t **chunk_p)
{
    tl_thread_t *self = tl_self_is_current() ? tl_self : tl_self_register();
    tl_chunk_t  *chunk;

    if (self == NULL) {
        return NULL;
    }
    chunk = self->last;
    if (__atomic_load_n(&chunk->count, __ATOMIC_RELAXED) == TL_CHUNK_EVENTS) {
        chunk = tl_chunk_new();
        if (chunk == NULL) {
            ++self->dropped;
            base_log_once(BASE_LOG_WARN, "timeline: out of memory, events dropped");
            return NULL;
        }
        __atomic_store_n(&self->last->next, chunk, __ATOMIC_RELEASE);
        self->last = chunk;
    }
    *chunk_p = chunk;
    return &chunk->events[chunk->count];
}

static void tl_record(char phase, const char *name, const char *cat, uint64_t ts_us,
                      uint64_t dur_us, const char *detail)
{
    tl_chunk_t *chunk;
    tl_event_t *event = tl_event_claim(&chunk);

    if (event == NULL) {
        return;
    }
    event->ts_us  = ts_us;
    event->dur_us = dur_us;
    event->cat    = (cat != NULL) ? cat : "";
    event->phase  = phase;
    tl_copy(event->name, sizeof(event->name), name);
    tl_copy(event->detail, sizeof(event->detail), detail);
    __atomic_store_n(&chunk->count, chunk->count + 1, __ATOMIC_RELEASE);
}

void rt_timeline_span(const char *name, const char *cat, uint64_t start_us, uint64_t dur_us,
                      const char *detail)
{
    if (rt_timeline_enabled()) {
        tl_record('X', name, cat, start_us, dur_us, detail);
    }
}

void rt_timeline_instant(const char *name, const char *cat, const char *detail)
{
    if (rt_timeline_enabled()) {
        tl_record('i', name, cat, rt_timeline_now_us(), 0, detail);
    }
}

void rt_timeline_name_thread(const char *name)
{
    tl_copy(tl_self_name, sizeof(tl_self_name), name);
    if (tl_self_is_current()) {
        pthread_mutex_lock(&tl_lock); /* serialize may be reading the name */
        tl_copy(tl_self->name, sizeof(tl_self->name), name);
        pthread_mutex_unlock(&tl_lock);
    }
}

/* ---- serialize ------------------------------------------------------------------------- */

static bool tl_out_reserve(tl_out_t *out, size_t more)
{
    size_t cap = (out->cap != 0) ? out->cap : TL_OUT_MIN;
    char  *data;

    if (out->failed) {
        return false;
    }
    if (out->len + more < out->cap) { /* keep room for the closing NUL */
        return true;
    }
    while (out->len + more >= cap) {
        cap *= 2;
    }
    data = realloc(out->data, cap);
    if (data == NULL) {
        out->failed = true;
        return false;
    }
    out->data = data;
    out->cap  = cap;
    return true;
}

static void tl_out_mem(tl_out_t *out, const char *mem, size_t len)
{
    if (tl_out_reserve(out, len)) {
        memcpy(out->data + out->len, mem, len);
        out->len += len;
        out->data[out->len] = '\0';
    }
}

static void tl_out_str(tl_out_t *out, const char *str)
{
    tl_out_mem(out, str, strlen(str));
}

static void tl_out_u64(tl_out_t *out, uint64_t value)
{
    char text[24];
    int  len = snprintf(text, sizeof(text), "%" PRIu64, value);

    tl_out_mem(out, text, (size_t)len);
}

static void tl_out_int(tl_out_t *out, long value)
{
    char text[24];
    int  len = snprintf(text, sizeof(text), "%ld", value);

    tl_out_mem(out, text, (size_t)len);
}

/*
 * Bytes of the well-formed UTF-8 character at @a s (2-4, RFC 3629: no
 * overlong forms, surrogates or code points past U+10FFFF), or 0. @a s is
 * NUL-terminated, so the checks stop at its end.
 */
static size_t tl_utf8_len(const unsigned char *s)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t        len;

    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        lo  = (s[0] == 0xe0) ? 0xa0 : lo;
        hi  = (s[0] == 0xed) ? 0x9f : hi;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        lo  = (s[0] == 0xf0) ? 0x90 : lo;
        hi  = (s[0] == 0xf4) ? 0x8f : hi;
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; ++i) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return len;
}

/* @a str as a JSON string: quoted, escaped, invalid UTF-8 replaced by U+FFFD. */
static void tl_out_json(tl_out_t *out, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;

    tl_out_mem(out, "\"", 1);
    while (*s != '\0') {
        size_t run = 0;
        char   esc[8];

        /* copy plain ASCII runs at once */
        while (s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\') {
            ++run;
        }
        if (run > 0) {
            tl_out_mem(out, (const char *)s, run);
            s += run;
        } else if (*s == '"' || *s == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*s++;
            tl_out_mem(out, esc, 2);
        } else if (*s < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", *s++);
            tl_out_mem(out, esc, 6);
        } else if ((run = tl_utf8_len(s)) > 0) {
            tl_out_mem(out, (const char *)s, run);
            s += run;
        } else {
            tl_out_str(out, "\\ufffd");
            ++s;
        }
    }
    tl_out_mem(out, "\"", 1);
}

/* Open an event object: `{"name":NAME,"ph":"PH","pid":RANK,"tid":TID` */
static void tl_out_event_begin(tl_out_t *out, const char *name, const char *phase, long tid)
{
    if (out->len > 0) {
        tl_out_str(out, ",\n"); /* one event a line: greppable, diffable */
    }
    tl_out_str(out, "{\"name\":");
    tl_out_json(out, name);
    tl_out_str(out, ",\"ph\":\"");
    tl_out_str(out, phase);
    tl_out_str(out, "\",\"pid\":");
    tl_out_int(out, tl_rank);
    tl_out_str(out, ",\"tid\":");
    tl_out_int(out, tid);
}

static void tl_out_meta_name(tl_out_t *out, const char *what, long tid, const char *name)
{
    tl_out_event_begin(out, what, "M", tid);
    tl_out_str(out, ",\"args\":{\"name\":");
    tl_out_json(out, name);
    tl_out_str(out, "}}");
}

static void tl_out_process(tl_out_t *out)
{
    char name[32];

    snprintf(name, sizeof(name), "rank %d", tl_rank);
    tl_out_meta_name(out, "process_name", 0, name);
    /* viewers order processes by this, so ranks line up numerically */
    tl_out_event_begin(out, "process_sort_index", "M", 0);
    tl_out_str(out, ",\"args\":{\"sort_index\":");
    tl_out_int(out, tl_rank);
    tl_out_str(out, "}}");
}

static void tl_out_event(tl_out_t *out, long tid, const tl_event_t *event)
{
    char phase[2] = {event->phase, '\0'};

    tl_out_event_begin(out, event->name, phase, tid);
    tl_out_str(out, ",\"cat\":");
    tl_out_json(out, event->cat);
    tl_out_str(out, ",\"ts\":");
    tl_out_u64(out, event->ts_us);
    if (event->phase == 'X') {
        tl_out_str(out, ",\"dur\":");
        tl_out_u64(out, event->dur_us);
    } else {
        tl_out_str(out, ",\"s\":\"t\""); /* instant of thread scope */
    }
    if (event->detail[0] != '\0') {
        tl_out_str(out, ",\"args\":{\"detail\":");
        tl_out_json(out, event->detail);
        tl_out_str(out, "}");
    }
    tl_out_str(out, "}");
}

static const tl_chunk_t *tl_chunk_next(const tl_chunk_t *chunk)
{
    return __atomic_load_n(&chunk->next, __ATOMIC_ACQUIRE);
}

static void tl_out_thread(tl_out_t *out, const tl_thread_t *thread)
{
    const tl_chunk_t *chunk;
    char              default_name[32];

    if (thread->name[0] != '\0') {
        tl_out_meta_name(out, "thread_name", thread->tid, thread->name);
    } else {
        if (thread->tid == (long)getpid()) {
            snprintf(default_name, sizeof(default_name), "main");
        } else {
            snprintf(default_name, sizeof(default_name), "thread %ld", thread->tid);
        }
        tl_out_meta_name(out, "thread_name", thread->tid, default_name);
    }
    for (chunk = thread->first; chunk != NULL; chunk = tl_chunk_next(chunk)) {
        size_t count = __atomic_load_n(&chunk->count, __ATOMIC_ACQUIRE);

        for (size_t i = 0; i < count; ++i) {
            tl_out_event(out, thread->tid, &chunk->events[i]);
        }
    }
    if (thread->dropped > 0) {
        base_warn("timeline: thread %ld lost %" PRIu64 " events (out of memory)", thread->tid,
                  thread->dropped);
    }
}

rmpi_status_t rt_timeline_serialize(char **buf_p, size_t *len_p)
{
    tl_out_t     out = {0};
    base_list_t *it;

    if (buf_p == NULL || len_p == NULL) {
        base_error("timeline: serialize needs buf_p and len_p");
        return RMPI_ERR_INVALID_ARG;
    }
    if (!rt_timeline_enabled()) {
        base_error("timeline: serialize called while the timeline is off");
        return RMPI_ERR_NOT_READY;
    }
    pthread_mutex_lock(&tl_lock);
    tl_out_process(&out);
    base_list_for_each (it, &tl_threads) {
        tl_out_thread(&out, base_container_of(it, tl_thread_t, list));
    }
    pthread_mutex_unlock(&tl_lock);
    if (out.failed) {
        free(out.data);
        base_error("timeline: out of memory serializing the trace");
        return RMPI_ERR_NO_MEMORY;
    }
    *buf_p = out.data;
    *len_p = out.len;
    return RMPI_OK;
}

/* ---- file ------------------------------------------------------------------------------ */

static rmpi_status_t tl_check_fragments(const char *path, const char *const *fragments,
                                        const size_t *lens, size_t count)
{
    if (path == NULL || (count > 0 && (fragments == NULL || lens == NULL))) {
        base_error("timeline: write_file needs a path and the fragments");
        return RMPI_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < count; ++i) {
        if (lens[i] > 0 && fragments[i] == NULL) {
            base_error("timeline: fragment %zu is NULL but %zu bytes long", i, lens[i]);
            return RMPI_ERR_INVALID_ARG;
        }
    }
    return RMPI_OK;
}

/* Empty fragments (a rank that recorded nothing) are skipped: "[,]" is not JSON. */
static void tl_write_array(FILE *file, const char *const *fragments, const size_t *lens,
                           size_t count)
{
    bool first = true;

    fputs("[\n", file);
    for (size_t i = 0; i < count; ++i) {
        if (lens[i] == 0) {
            continue;
        }
        if (!first) {
            fputs(",\n", file);
        }
        fwrite(fragments[i], 1, lens[i], file);
        first = false;
    }
    fputs("\n]\n", file);
}

rmpi_status_t rt_timeline_write_file(const char *path, const char *const *fragments,
                                     const size_t *lens, size_t count)
{
    rmpi_status_t status = tl_check_fragments(path, fragments, lens, count);
    char         *tmp;
    FILE         *file;
    bool          failed;

    if (status != RMPI_OK) {
        return status;
    }
    tmp = malloc(strlen(path) + sizeof(".tmp"));
    if (tmp == NULL) {
        base_error("timeline: out of memory writing '%s'", path);
        return RMPI_ERR_NO_MEMORY;
    }
    sprintf(tmp, "%s.tmp", path);
    file = fopen(tmp, "w");
    if (file == NULL) {
        base_error("timeline: cannot create '%s': %m", tmp);
        free(tmp);
        return RMPI_ERR_IO;
    }
    tl_write_array(file, fragments, lens, count);
    failed = ferror(file);
    if ((fclose(file) != 0) || failed) {
        base_error("timeline: cannot write '%s': %m", tmp);
        status = RMPI_ERR_IO;
    } else if (rename(tmp, path) != 0) {
        base_error("timeline: cannot rename '%s' to '%s': %m", tmp, path);
        status = RMPI_ERR_IO;
    }
    if (status != RMPI_OK) {
        unlink(tmp);
    }
    free(tmp);
    return status;
}

void rt_timeline_reset(void)
{
    base_list_t *elem;

    pthread_mutex_lock(&tl_lock);
    __atomic_store_n(&tl_on, false, __ATOMIC_RELAXED);
    /* every live thread's tl_self is stale from here on */
    __atomic_store_n(&tl_generation, tl_generation + 1, __ATOMIC_RELAXED);
    while ((elem = base_list_pop_head(&tl_threads)) != NULL) {
        tl_thread_free(base_container_of(elem, tl_thread_t, list));
    }
    pthread_mutex_unlock(&tl_lock);
}
