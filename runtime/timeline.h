/*
 * runtime/timeline.h - a Chrome trace ("Trace Event Format", JSON array
 * form) of what each rank did: task submit / run spans per rank (pid) and
 * thread (tid), for chrome://tracing and Perfetto. Enabled by
 * RAYMPI_TIMELINE=file.json (the runtime's config); off, each call is one
 * predictable branch.
 *
 * Each rank records into per-thread buffers (no lock on the record path
 * after a thread's first event); at shutdown every rank serializes its events
 * (rt_timeline_serialize) and sends them to rank 0, which writes the file
 * (rt_timeline_write_file). Timestamps are CLOCK_REALTIME microseconds so
 * ranks of one host line up (hosts: as well as their clocks do).
 *
 * Thread safety: MULTI for record calls; init/serialize/reset from one thread
 * while no other thread records.
 */
#ifndef RUNTIME_TIMELINE_H_
#define RUNTIME_TIMELINE_H_

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * Start recording for @a rank (pid in the trace). Idempotent; enabling again
 * with another rank, or a negative one, is RMPI_ERR_INVALID_ARG.
 */
rmpi_status_t rt_timeline_enable(int rank);
bool          rt_timeline_enabled(void);
/** Microseconds for timestamps (CLOCK_REALTIME). */
uint64_t rt_timeline_now_us(void);

/**
 * A complete span ("ph":"X") on the calling thread: @a name (copied; cut at
 * 63 bytes), @a cat (a static string, e.g. "task", "submit", "get"),
 * start and duration in microseconds; @a detail (copied, may be NULL) goes
 * into "args" {"detail": ...}.
 */
void rt_timeline_span(const char *name, const char *cat, uint64_t start_us, uint64_t dur_us,
                      const char *detail);
/** An instant event ("ph":"i", thread scope). */
void rt_timeline_instant(const char *name, const char *cat, const char *detail);

/**
 * Name the calling thread in the trace ("thread_name" metadata; copied, cut
 * at 63 bytes). Works before rt_timeline_enable() too and holds until the
 * thread exits, across resets. Unnamed threads show as "main" (the process's
 * first thread) or "thread <tid>"; NULL or "" goes back to that. The tid in
 * the trace is the kernel thread ID, as gdb, perf and top show it.
 */
void rt_timeline_name_thread(const char *name);

/**
 * This rank's events as comma-separated JSON objects (no brackets) in a
 * malloc'd buffer (caller frees), plus "M" metadata events naming the
 * process "rank N" and each thread. Strings are JSON-escaped (bytes that are
 * not UTF-8 become U+FFFD). The buffer is NUL-terminated; *len_p excludes the
 * NUL. RMPI_ERR_NOT_READY unless enabled.
 */
rmpi_status_t rt_timeline_serialize(char **buf_p, size_t *len_p);
/** Write "[" + fragments joined with "," + "]" to @a path (atomically: temp + rename). */
rmpi_status_t rt_timeline_write_file(const char *path, const char *const *fragments,
                                     const size_t *lens, size_t count);
/** Drop all events and disable (tests; shutdown). */
void rt_timeline_reset(void);

#endif /* RUNTIME_TIMELINE_H_ */
