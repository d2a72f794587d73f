/*
 * Unit tests of runtime/timeline.c: nothing is recorded while off, spans of
 * several threads (some gone before serialize) all come out with the right
 * pid/tid/ts/dur, hostile strings are escaped into valid JSON, the trace file
 * is written atomically and parses, and reset frees everything (run under
 * valgrind by check-valgrind).
 */
#include "runtime/timeline.h"

#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/unit_util.h"

#define NUM_WORKERS 4
#define SPANS_PER_WORKER 5000 /* several chunks of any sensible chunk size */
#define TEST_RANK 7

/* One event line of the serialized output, fields as found (absent: has_* false). */
typedef struct event {
    char               name[512]; /* still JSON-escaped */
    char               ph;
    long               pid;
    long               tid;
    bool               has_ts;
    bool               has_dur;
    unsigned long long ts;
    unsigned long long dur;
    char               arg_name[128]; /* "args":{"name":...} of metadata, escaped */
} event_t;

static long gettid_long(void)
{
    return (long)syscall(SYS_gettid);
}

/* Copy the escaped JSON string starting after an opening quote at @a s; return the text after it.
 */
static const char *scan_string(const char *s, char *dst, size_t cap)
{
    size_t len = 0;

    while (*s != '"') {
        assert_true(*s != '\0');
        if (*s == '\\') {
            assert_true(len + 1 < cap);
            dst[len++] = *s++;
        }
        assert_true(len + 1 < cap);
        dst[len++] = *s++;
    }
    dst[len] = '\0';
    return s + 1;
}

static bool scan_u64(const char *rest, const char *key, unsigned long long *value_p)
{
    const char *at = strstr(rest, key);

    return at != NULL && sscanf(at + strlen(key), "%llu", value_p) == 1;
}

/* Parse one line ("{...}" with an optional trailing comma); fields after the name only. */
static void parse_event(const char *line, event_t *ev)
{
    static const char prefix[] = "{\"name\":\"";
    const char       *rest, *at;

    memset(ev, 0, sizeof(*ev));
    assert_memory_equal(line, prefix, sizeof(prefix) - 1);
    rest = scan_string(line + sizeof(prefix) - 1, ev->name, sizeof(ev->name));

    at = strstr(rest, "\"ph\":\"");
    assert_non_null(at);
    ev->ph = at[6];
    at     = strstr(rest, "\"pid\":");
    assert_non_null(at);
    assert_int_equal(sscanf(at + 6, "%ld", &ev->pid), 1);
    at = strstr(rest, "\"tid\":");
    assert_non_null(at);
    assert_int_equal(sscanf(at + 6, "%ld", &ev->tid), 1);
    ev->has_ts  = scan_u64(rest, "\"ts\":", &ev->ts);
    ev->has_dur = scan_u64(rest, "\"dur\":", &ev->dur);
    at          = strstr(rest, "\"args\":{\"name\":\"");
    if (at != NULL) {
        scan_string(at + 16, ev->arg_name, sizeof(ev->arg_name));
    }
}

/*
 * Split @a text into lines and parse each; returns a malloc'd array (caller
 * frees) of *count_p events.
 */
static event_t *parse_all(const char *text, size_t *count_p)
{
    char    *copy  = strdup(text);
    char    *save  = NULL;
    size_t   count = 0, cap = 64;
    event_t *events = malloc(cap * sizeof(*events));

    assert_non_null(copy);
    assert_non_null(events);
    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line       = strtok_r(NULL, "\n", &save)) {
        if (count == cap) {
            cap *= 2;
            events = realloc(events, cap * sizeof(*events));
            assert_non_null(events);
        }
        parse_event(line, &events[count++]);
    }
    free(copy);
    *count_p = count;
    return events;
}

static event_t *serialize_and_parse(size_t *count_p)
{
    char    *buf = NULL;
    size_t   len = 0;
    event_t *events;

    assert_int_equal(rt_timeline_serialize(&buf, &len), RMPI_OK);
    assert_non_null(buf);
    assert_int_equal(strlen(buf), len);
    events = parse_all(buf, count_p);
    free(buf);
    return events;
}

static size_t count_phase(const event_t *events, size_t count, char ph)
{
    size_t n = 0;

    for (size_t i = 0; i < count; ++i) {
        n += events[i].ph == ph;
    }
    return n;
}

/* The "args" name of the metadata event @a what of @a pid and @a tid, or NULL. */
static const char *meta_name(const event_t *events, size_t count, const char *what, long pid,
                             long tid)
{
    const char *found = NULL;

    for (size_t i = 0; i < count; ++i) {
        if (events[i].ph == 'M' && events[i].pid == pid && events[i].tid == tid &&
            strcmp(events[i].name, what) == 0) {
            assert_null(found); /* one per thread */
            found = events[i].arg_name;
        }
    }
    return found;
}

static bool have_python(void)
{
    return system("command -v python3 >/dev/null 2>&1") == 0;
}

/*
 * Parse @a path with Python's json module and check every event's fields;
 * with @a want_name, also that some event's name decodes to it (given as a
 * Python literal). Skipped (true) without python3.
 */
static void python_check(const char *path, const char *want_name)
{
    char cmd[2048];
    int  len;

    if (!have_python()) {
        fprintf(stderr, "python3 not found: JSON validation of %s skipped\n", path);
        return;
    }
    len = snprintf(
        cmd, sizeof(cmd),
        "python3 -c '\n"
        "import json, sys\n"
        "evs = json.load(open(sys.argv[1], encoding=\"utf-8\"))\n"
        "assert isinstance(evs, list) and evs\n"
        "for e in evs:\n"
        "    assert isinstance(e[\"pid\"], int) and isinstance(e[\"tid\"], int), e\n"
        "    assert e[\"ph\"] in (\"X\", \"i\", \"M\"), e\n"
        "    if e[\"ph\"] != \"M\": assert isinstance(e[\"ts\"], int) and \"cat\" in e, e\n"
        "    if e[\"ph\"] == \"X\": assert isinstance(e[\"dur\"], int), e\n"
        "want = %s\n"
        "assert want is None or any(e[\"name\"] == want for e in evs), want\n"
        "' '%s'",
        want_name != NULL ? want_name : "None", path);
    assert_true(len > 0 && (size_t)len < sizeof(cmd));
    assert_int_equal(system(cmd), 0);
}

static int teardown(void **state)
{
    (void)state;
    rt_timeline_reset();
    return 0;
}

/* ---- off: nothing recorded ------------------------------------------------------------- */

static void *record_while_off(void *arg)
{
    (void)arg;
    rt_timeline_span("off-thread", "task", 1, 2, "x");
    rt_timeline_instant("off-instant", "task", NULL);
    return NULL;
}

static void test_disabled_records_nothing(void **state)
{
    char      sentinel;
    char     *buf = &sentinel;
    size_t    len = 12345, count;
    pthread_t thread;
    event_t  *events;

    (void)state;
    rt_timeline_reset();
    assert_false(rt_timeline_enabled());
    rt_timeline_span("off-main", "task", 1, 2, NULL);
    rt_timeline_instant("off-instant", "task", "detail");
    assert_int_equal(pthread_create(&thread, NULL, record_while_off, NULL), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);

    assert_int_equal(rt_timeline_serialize(&buf, &len), RMPI_ERR_NOT_READY);
    assert_ptr_equal(buf, &sentinel); /* outputs untouched on error */
    assert_int_equal(len, 12345);

    assert_int_equal(rt_timeline_enable(-1), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rt_timeline_enable(2), RMPI_OK);
    assert_int_equal(rt_timeline_enable(2), RMPI_OK); /* idempotent */
    assert_int_equal(rt_timeline_enable(3), RMPI_ERR_INVALID_ARG);
    assert_true(rt_timeline_enabled());

    events = serialize_and_parse(&count);
    assert_int_equal(count_phase(events, count, 'X'), 0);
    assert_int_equal(count_phase(events, count, 'i'), 0);
    assert_string_equal(meta_name(events, count, "process_name", 2, 0), "rank 2");
    for (size_t i = 0; i < count; ++i) {
        assert_int_equal(events[i].pid, 2);
        assert_string_not_equal(events[i].name, "thread_name"); /* no thread registered */
    }
    free(events);
}

/* ---- several threads, some gone before serialize --------------------------------------- */

typedef struct worker {
    pthread_t          thread;
    int                index;
    bool               stays; /* alive until after serialize */
    long               tid;
    pthread_barrier_t *recorded;
    pthread_barrier_t *serialized;
} worker_t;

static uint64_t span_ts(int worker, int seq)
{
    return 1000000000000ull + (uint64_t)seq * 100u + (uint64_t)worker;
}

static uint64_t span_dur(int worker, int seq)
{
    return (uint64_t)(seq % 97) + (uint64_t)worker * 1000u;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    char      name[32];

    w->tid = gettid_long();
    if (w->index % 2 == 0) {
        snprintf(name, sizeof(name), "worker-%d", w->index);
        rt_timeline_name_thread(name);
    }
    for (int seq = 0; seq < SPANS_PER_WORKER; ++seq) {
        snprintf(name, sizeof(name), "w%d-%d", w->index, seq);
        rt_timeline_span(name, "task", span_ts(w->index, seq), span_dur(w->index, seq),
                         seq % 2 ? "odd" : NULL);
    }
    rt_timeline_instant("done", "worker", NULL);
    if (w->stays) {
        pthread_barrier_wait(w->recorded);
        pthread_barrier_wait(w->serialized);
    }
    return NULL;
}

/* Every span of every worker exactly once, with its thread's tid and its own ts/dur. */
static void check_worker_spans(const event_t *events, size_t count, const worker_t *workers)
{
    static bool seen[NUM_WORKERS][SPANS_PER_WORKER];
    size_t      spans = 0;

    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < count; ++i) {
        int w, seq;

        if (events[i].ph != 'X' || sscanf(events[i].name, "w%d-%d", &w, &seq) != 2) {
            continue;
        }
        assert_in_range(w, 0, NUM_WORKERS - 1);
        assert_in_range(seq, 0, SPANS_PER_WORKER - 1);
        assert_false(seen[w][seq]);
        seen[w][seq] = true;
        assert_int_equal(events[i].pid, TEST_RANK);
        assert_int_equal(events[i].tid, workers[w].tid);
        assert_true(events[i].has_ts && events[i].has_dur);
        assert_int_equal(events[i].ts, span_ts(w, seq));
        assert_int_equal(events[i].dur, span_dur(w, seq));
        ++spans;
    }
    assert_int_equal(spans, NUM_WORKERS * SPANS_PER_WORKER);
}

static void check_thread_names(const event_t *events, size_t count, const worker_t *workers)
{
    char want[32];

    assert_string_equal(meta_name(events, count, "process_name", TEST_RANK, 0), "rank 7");
    assert_string_equal(meta_name(events, count, "thread_name", TEST_RANK, gettid_long()), "main");
    for (int w = 0; w < NUM_WORKERS; ++w) {
        if (w % 2 == 0) {
            snprintf(want, sizeof(want), "worker-%d", w);
        } else {
            snprintf(want, sizeof(want), "thread %ld", workers[w].tid);
        }
        assert_string_equal(meta_name(events, count, "thread_name", TEST_RANK, workers[w].tid),
                            want);
    }
}

static void test_threads(void **state)
{
    worker_t          workers[NUM_WORKERS];
    pthread_barrier_t recorded, serialized;
    int               staying = 0;
    uint64_t          before  = rt_timeline_now_us();
    size_t            count, instants = 0;
    event_t          *events;

    (void)state;
    assert_int_equal(rt_timeline_enable(TEST_RANK), RMPI_OK);
    rt_timeline_span("main-span", "submit", before, 5, "on main");
    for (int w = 0; w < NUM_WORKERS; ++w) {
        staying += w >= NUM_WORKERS / 2;
    }
    assert_int_equal(pthread_barrier_init(&recorded, NULL, (unsigned)staying + 1), 0);
    assert_int_equal(pthread_barrier_init(&serialized, NULL, (unsigned)staying + 1), 0);
    for (int w = 0; w < NUM_WORKERS; ++w) {
        workers[w] = (worker_t){.index      = w,
                                .stays      = w >= NUM_WORKERS / 2,
                                .recorded   = &recorded,
                                .serialized = &serialized};
        assert_int_equal(pthread_create(&workers[w].thread, NULL, worker_main, &workers[w]), 0);
    }
    for (int w = 0; w < NUM_WORKERS / 2; ++w) { /* these are gone before serialize */
        assert_int_equal(pthread_join(workers[w].thread, NULL), 0);
    }
    pthread_barrier_wait(&recorded);
    events = serialize_and_parse(&count);
    pthread_barrier_wait(&serialized);
    for (int w = NUM_WORKERS / 2; w < NUM_WORKERS; ++w) {
        assert_int_equal(pthread_join(workers[w].thread, NULL), 0);
    }

    check_worker_spans(events, count, workers);
    check_thread_names(events, count, workers);
    assert_int_equal(count_phase(events, count, 'X'), NUM_WORKERS * SPANS_PER_WORKER + 1);
    for (size_t i = 0; i < count; ++i) {
        if (events[i].ph == 'i') {
            assert_string_equal(events[i].name, "done");
            assert_true(events[i].has_ts && !events[i].has_dur);
            assert_in_range(events[i].ts, before, rt_timeline_now_us());
            ++instants;
        } else if (strcmp(events[i].name, "main-span") == 0) {
            assert_int_equal(events[i].tid, gettid_long());
            assert_int_equal(events[i].ts, before);
            assert_int_equal(events[i].dur, 5);
        }
    }
    assert_int_equal(instants, NUM_WORKERS);
    free(events);
    pthread_barrier_destroy(&recorded);
    pthread_barrier_destroy(&serialized);
}

/* ---- escaping and truncation ----------------------------------------------------------- */

/* quote, backslash, control bytes, DEL, valid 2- and 4-byte UTF-8, then invalid bytes */
#define HOSTILE                                                                                  \
    "q\"b\\s\n\t\x01\x1f\x7f \xc3\xa9 \xf0\x9f\x98\x80 \xff \xc0\x80 \xed\xa0\x80 \xe0\x80\x80 " \
    "\xe2\x82"
#define HOSTILE_JSON                                                                 \
    "q\\\"b\\\\s\\u000a\\u0009\\u0001\\u001f\x7f \xc3\xa9 \xf0\x9f\x98\x80 \\ufffd " \
    "\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd \\ufffd\\ufffd"
#define HOSTILE_PY                                                                   \
    "\"q\\\"b\\\\s\\n\\t\\x01\\x1f\\x7f \\u00e9 \\U0001f600 \\ufffd \\ufffd\\ufffd " \
    "\\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\""

static void fill(char *dst, char c, size_t n)
{
    memset(dst, c, n);
    dst[n] = '\0';
}

static void test_escaping(void **state)
{
    char   long_name[101], utf8_cut[65], long_detail[201], want[200];
    char  *buf, path[] = "/tmp/test_timeline_XXXXXX";
    char   file[sizeof(path) + 16];
    size_t len;
    int    fd;

    (void)state;
    assert_int_equal(rt_timeline_enable(0), RMPI_OK);
    rt_timeline_span(HOSTILE, "c\"at", 1, 2, HOSTILE);
    fill(long_name, 'a', 100);
    rt_timeline_span(long_name, "cut", 3, 4, NULL);
    fill(utf8_cut, 'b', 62); /* 62 + "é" = 64 bytes: é must go whole */
    strcat(utf8_cut, "\xc3\xa9");
    rt_timeline_instant(utf8_cut, "cut", NULL);
    fill(long_detail, 'd', 200);
    rt_timeline_span("long-detail", "cut", 5, 6, long_detail);

    assert_int_equal(rt_timeline_serialize(&buf, &len), RMPI_OK);
    assert_non_null(strstr(buf, "{\"name\":\"" HOSTILE_JSON "\""));
    assert_non_null(strstr(buf, "\"args\":{\"detail\":\"" HOSTILE_JSON "\"}"));
    assert_non_null(strstr(buf, "\"cat\":\"c\\\"at\""));
    fill(want, 'a', 63);
    assert_non_null(strstr(buf, want));
    strcat(want, "a");
    assert_null(strstr(buf, want)); /* cut at 63 bytes */
    fill(want, 'b', 62);
    strcat(want, "\"");
    assert_non_null(strstr(buf, want)); /* no half character left */
    fill(want, 'd', 127);
    strcat(want, "\"");
    assert_non_null(strstr(buf, want));

    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    snprintf(file, sizeof(file), "%s.json", path);
    assert_int_equal(rt_timeline_write_file(file, (const char *const *)&buf, &len, 1), RMPI_OK);
    python_check(file, HOSTILE_PY);
    unlink(file);
    unlink(path);
    free(buf);
}

/* ---- the trace file --------------------------------------------------------------------- */

static char *serialize_rank(int rank, size_t *len_p)
{
    char *buf;

    rt_timeline_reset();
    assert_int_equal(rt_timeline_enable(rank), RMPI_OK);
    rt_timeline_span("step", "task", 100u + (unsigned)rank, 10, NULL);
    rt_timeline_instant("mark", "get", "detail");
    assert_int_equal(rt_timeline_serialize(&buf, len_p), RMPI_OK);
    return buf;
}

static void test_write_file(void **state)
{
    char        dir[] = "/tmp/test_timeline_XXXXXX";
    char        path[64], tmp[80], missing[80];
    const char *frags[3];
    size_t      lens[3], count;
    unsigned    ranks_seen = 0;
    char       *text;
    event_t    *events;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/trace.json", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    frags[0] = serialize_rank(0, &lens[0]);
    frags[1] = ""; /* a rank that sent nothing */
    lens[1]  = 0;
    frags[2] = serialize_rank(1, &lens[2]);

    assert_int_equal(rt_timeline_write_file(path, frags, lens, 3), RMPI_OK);
    assert_int_equal(access(tmp, F_OK), -1); /* renamed away */
    text = unit_read_file(path);
    assert_memory_equal(text, "[\n", 2);
    assert_string_equal(text + strlen(text) - 3, "\n]\n");
    text[strlen(text) - 3] = '\0'; /* leave the event lines */
    events                 = parse_all(text + 2, &count);
    assert_string_equal(meta_name(events, count, "process_name", 0, 0), "rank 0");
    assert_string_equal(meta_name(events, count, "process_name", 1, 0), "rank 1");
    for (size_t i = 0; i < count; ++i) {
        if (events[i].ph == 'X') {
            assert_in_range(events[i].pid, 0, 1);
            assert_int_equal(ranks_seen & (1u << events[i].pid), 0); /* once per rank */
            ranks_seen |= 1u << events[i].pid;
            assert_int_equal(events[i].ts, 100 + events[i].pid);
            assert_int_equal(events[i].dur, 10);
            assert_int_equal(events[i].tid, gettid_long());
        }
    }
    assert_int_equal(ranks_seen, 3);
    assert_int_equal(count_phase(events, count, 'X'), 2);
    assert_int_equal(count_phase(events, count, 'i'), 2);
    python_check(path, NULL);
    free(events);
    free(text);

    assert_int_equal(rt_timeline_write_file(path, NULL, NULL, 0), RMPI_OK);
    text = unit_read_file(path);
    assert_string_equal(text, "[\n\n]\n");
    free(text);

    snprintf(missing, sizeof(missing), "%s/no/such/dir/t.json", dir);
    assert_int_equal(rt_timeline_write_file(missing, frags, lens, 3), RMPI_ERR_IO);
    assert_int_equal(rt_timeline_write_file(NULL, frags, lens, 3), RMPI_ERR_INVALID_ARG);
    lens[1]  = 5;
    frags[1] = NULL;
    assert_int_equal(rt_timeline_write_file(path, frags, lens, 3), RMPI_ERR_INVALID_ARG);

    free((char *)frags[0]);
    free((char *)frags[2]);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0); /* nothing else (no .tmp) was left */
}

/* ---- reset ------------------------------------------------------------------------------ */

static void *record_many(void *arg)
{
    for (int i = 0; i < SPANS_PER_WORKER; ++i) {
        rt_timeline_span("before-reset", "task", (uint64_t)i, 1, arg);
    }
    return NULL;
}

/* A thread that records, lives through a reset, then records again. */
static void *record_across_reset(void *arg)
{
    pthread_barrier_t *step = arg;

    record_many("live thread");
    pthread_barrier_wait(step); /* main resets and enables again */
    pthread_barrier_wait(step);
    rt_timeline_span("live-after-reset", "task", 43, 1, NULL);
    return NULL;
}

static void test_reset(void **state)
{
    pthread_t         thread, live;
    pthread_barrier_t step;
    long              live_tid = -1;
    char             *buf;
    size_t            len, count;
    event_t          *events;

    (void)state;
    assert_int_equal(rt_timeline_enable(0), RMPI_OK);
    record_many("main");
    assert_int_equal(pthread_create(&thread, NULL, record_many, "thread"), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(pthread_barrier_init(&step, NULL, 2), 0);
    assert_int_equal(pthread_create(&live, NULL, record_across_reset, &step), 0);
    pthread_barrier_wait(&step);
    events = serialize_and_parse(&count);
    for (size_t i = 0; i < count; ++i) {
        if (events[i].ph == 'X' && events[i].tid != gettid_long()) {
            live_tid = events[i].tid;
        }
    }
    free(events);

    rt_timeline_reset();
    assert_false(rt_timeline_enabled());
    assert_int_equal(rt_timeline_serialize(&buf, &len), RMPI_ERR_NOT_READY);
    rt_timeline_span("while-off", "task", 1, 1, NULL);

    /* named while off; the main thread's old buffer is gone (valgrind: no stale access) */
    rt_timeline_name_thread("renamed");
    assert_int_equal(rt_timeline_enable(0), RMPI_OK);
    events = serialize_and_parse(&count);
    assert_int_equal(count_phase(events, count, 'X'), 0);
    free(events);

    /* both threads' buffers were freed: each registers a new one */
    rt_timeline_span("after-reset", "task", 42, 1, NULL);
    pthread_barrier_wait(&step);
    assert_int_equal(pthread_join(live, NULL), 0);
    pthread_barrier_destroy(&step);
    events = serialize_and_parse(&count);
    assert_int_equal(count_phase(events, count, 'X'), 2);
    for (size_t i = 0; i < count; ++i) {
        if (events[i].ph == 'X' && events[i].tid == gettid_long()) {
            assert_string_equal(events[i].name, "after-reset");
            assert_int_equal(events[i].ts, 42);
        } else if (events[i].ph == 'X') {
            assert_string_equal(events[i].name, "live-after-reset");
            assert_int_equal(events[i].tid, live_tid);
            assert_int_equal(events[i].ts, 43);
        }
    }
    assert_string_equal(meta_name(events, count, "thread_name", 0, gettid_long()), "renamed");
    free(events);

    rt_timeline_name_thread(NULL); /* back to "main" */
    events = serialize_and_parse(&count);
    assert_string_equal(meta_name(events, count, "thread_name", 0, gettid_long()), "main");
    free(events);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_disabled_records_nothing, teardown),
        cmocka_unit_test_teardown(test_threads, teardown),
        cmocka_unit_test_teardown(test_escaping, teardown),
        cmocka_unit_test_teardown(test_write_file, teardown),
        cmocka_unit_test_teardown(test_reset, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
