/*
 * base/waker.c - per-thread futex words and deferred wake-ups (see waker.h).
 *
 * Wakers are pooled, never freed: a thread's waker returns to the pool when
 * the thread exits (thread-specific data destructor), so a wake-up that
 * arrives after its waiter left lands on live memory.
 */
#include "base/waker.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct base_waker {
    _Atomic uint32_t seq;      /**< bumped by every wake-up; the futex word */
    atomic_int       sleeping; /**< the owner is (about to be) in futex_wait */
    base_waker_t    *next;     /**< in the pool's free list */
    base_waker_t    *all;      /**< every waker ever made (keeps them reachable) */
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static base_waker_t   *pool_free;
static base_waker_t   *pool_all;
static pthread_key_t   pool_key;
static pthread_once_t  pool_once = PTHREAD_ONCE_INIT;
static bool            pool_key_ok;

static __thread base_waker_t *waker_self;

/* Threads woken by a futex wake that have not yet returned from their wait. */
static atomic_int waker_runnable;

/* Wake-ups held back by base_waker_defer_begin on this thread. */
#define WAKER_DEFER_MAX 32
static __thread base_waker_t *defer_list[WAKER_DEFER_MAX];
static __thread unsigned      defer_count;
static __thread unsigned      defer_depth;

void base_waker_release(base_waker_t *waker)
{
    if (waker == NULL) {
        return;
    }
    pthread_mutex_lock(&pool_lock);
    waker->next = pool_free;
    pool_free   = waker;
    pthread_mutex_unlock(&pool_lock);
}

static void waker_thread_exit(void *arg)
{
    base_waker_release(arg);
}

static void waker_pool_init(void)
{
    pool_key_ok = pthread_key_create(&pool_key, waker_thread_exit) == 0;
}

base_waker_t *base_waker_new(void)
{
    base_waker_t *waker;

    pthread_mutex_lock(&pool_lock);
    waker = pool_free;
    if (waker != NULL) {
        pool_free = waker->next;
    } else if ((waker = calloc(1, sizeof(*waker))) != NULL) {
        waker->all = pool_all;
        pool_all   = waker;
    }
    pthread_mutex_unlock(&pool_lock);
    return waker;
}

base_waker_t *base_waker_self(void)
{
    base_waker_t *waker = waker_self;

    if (waker != NULL) {
        return waker;
    }
    pthread_once(&pool_once, waker_pool_init);
    if (!pool_key_ok || (waker = base_waker_new()) == NULL) {
        return NULL;
    }
    if (pthread_setspecific(pool_key, waker) != 0) {
        base_waker_release(waker);
        return NULL;
    }
    waker_self = waker;
    return waker;
}

uint32_t base_waker_seq(const base_waker_t *waker)
{
    return atomic_load_explicit(&waker->seq, memory_order_acquire);
}

/* Never below zero: a spurious return from a wait must not hide a later wake-up. */
static void waker_runnable_add(int delta)
{
    int count = atomic_load_explicit(&waker_runnable, memory_order_relaxed);

    while ((delta > 0 || count > 0) &&
           !atomic_compare_exchange_weak(&waker_runnable, &count, count + delta)) {
    }
}

static long waker_futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, word, op, val, ts, NULL, FUTEX_BITSET_MATCH_ANY);
}

int base_waker_wait(base_waker_t *waker, uint32_t seq, double deadline_s)
{
    struct timespec ts;
    int             rc = 0;

    if (deadline_s >= 0) {
        ts.tv_sec  = (time_t)deadline_s;
        ts.tv_nsec = (long)((deadline_s - (double)ts.tv_sec) * 1e9);
    }
    atomic_store(&waker->sleeping, 1);
    /* The store before the load of seq, against the waker's add then load (Dekker). */
    if (atomic_load(&waker->seq) == seq) {
        long woke =
            waker_futex(&waker->seq, FUTEX_WAIT_BITSET_PRIVATE, seq, deadline_s >= 0 ? &ts : NULL);

        if (woke == 0) {
            waker_runnable_add(-1); /* running now: counted by the wake that ended the wait */
        } else if (errno == ETIMEDOUT) {
            rc = ETIMEDOUT;
        }
    }
    atomic_store_explicit(&waker->sleeping, 0, memory_order_relaxed);
    return rc;
}

void base_waker_wake(base_waker_t *waker)
{
    atomic_fetch_add(&waker->seq, 1);
    if (atomic_load(&waker->sleeping) != 0) {
        waker_runnable_add(1); /* before the wake: the woken thread may uncount itself at once */
        if (waker_futex(&waker->seq, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL) <= 0) {
            waker_runnable_add(-1); /* nobody was asleep after all */
        }
    }
}

int base_waker_runnable(void)
{
    return atomic_load_explicit(&waker_runnable, memory_order_relaxed);
}

void base_waker_wake_later(base_waker_t *waker)
{
    if (defer_depth == 0 || defer_count == WAKER_DEFER_MAX) {
        base_waker_wake(waker);
        return;
    }
    for (unsigned i = 0; i < defer_count; i++) {
        if (defer_list[i] == waker) {
            return; /* one wake-up per waker is enough */
        }
    }
    defer_list[defer_count++] = waker;
}

void base_waker_defer_begin(void)
{
    defer_depth++;
}

void base_waker_defer_end(void)
{
    if (--defer_depth > 0) {
        return;
    }
    for (unsigned i = 0; i < defer_count; i++) {
        base_waker_wake(defer_list[i]);
    }
    defer_count = 0;
}
