/*
 * base/waker.h - a per-thread wake-up word (a Linux futex), and wake-ups
 * deferred until the waker has dropped its locks.
 *
 * Why: a thread that signals a condition variable while holding its mutex
 * (as it must when the waiter's state may vanish once unlocked) is often
 * preempted by the woken thread, which then blocks on that same mutex: two
 * extra context switches per wake-up. On an oversubscribed node that is most
 * of a task's round trip. A waker belongs to a thread and outlives it (when
 * the thread exits its waker goes back to a pool, never to free()), so a
 * wake-up issued after the lock is dropped can never touch freed memory; a
 * late wake-up of a reused waker is only a spurious one, which every wait
 * loop tolerates by re-checking its condition.
 *
 * The protocol, with the waiter's condition protected by a mutex M:
 *
 *     waiter (holds M)                      waker
 *     while (!cond) {                       lock M; cond = true;
 *         seq = base_waker_seq(w);          base_waker_wake_later(w);
 *         unlock M;                         unlock M;
 *         base_waker_wait(w, seq, dl);      ... (the wake-up happens at
 *         lock M;                           base_waker_defer_end, or at
 *     }                                     once when nothing defers)
 *
 * The waker's increment happens after cond was set under M, so a waiter that
 * read seq before it sees the change in the word and does not sleep.
 *
 * Thread safety: _seq and _wait by one thread at a time (the waker's owner);
 * everything else from any thread.
 */
#ifndef BASE_WAKER_H_
#define BASE_WAKER_H_

#include <stdbool.h>
#include <stdint.h>

typedef struct base_waker base_waker_t;

/**
 * The calling thread's waker, created on first use (NULL only when out of
 * memory; callers then fall back to their own waiting).
 */
base_waker_t *base_waker_self(void);

/**
 * A waker not tied to a thread, for an object that a thread sleeps for (an
 * executor's worker); NULL when out of memory. Release returns it to the
 * pool, so wake-ups that arrive later stay harmless.
 */
base_waker_t *base_waker_new(void);
void          base_waker_release(base_waker_t *waker);

/** The wake-up count; read it (under the waiter's lock) before waiting. */
uint32_t base_waker_seq(const base_waker_t *waker);

/**
 * Sleep until the count differs from @a seq, a signal interrupts, or
 * @a deadline_s (CLOCK_MONOTONIC seconds; < 0: none) passes. Returns 0, or
 * ETIMEDOUT when the deadline passed without a wake-up. Spurious returns
 * happen: re-check the condition.
 */
int base_waker_wait(base_waker_t *waker, uint32_t seq, double deadline_s);

/** Wake @a waker's thread now (one atomic add; a system call only if it sleeps). */
void base_waker_wake(base_waker_t *waker);

/**
 * Wake @a waker's thread at this thread's base_waker_defer_end(), or at once
 * when this thread is not deferring (or its list is full).
 */
void base_waker_wake_later(base_waker_t *waker);

/**
 * Threads of this process woken by a wake-up that have not run yet (an
 * estimate, never negative). A thread that polls (the transport's progress
 * thread) yields its core while this is non-zero: on a rank bound to one
 * core the woken thread is waiting for exactly that core.
 */
int base_waker_runnable(void);

/**
 * Defer this thread's base_waker_wake_later() calls until defer_end, which
 * the caller reaches with its locks released (e.g. around a message handler).
 * Nests; the outermost end issues the wake-ups.
 */
void base_waker_defer_begin(void);
void base_waker_defer_end(void);

#endif /* BASE_WAKER_H_ */
