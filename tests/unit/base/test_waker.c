/*
 * Unit tests of base/waker.h: per-thread futex words and deferred wake-ups.
 */
#include "base/waker.h"

#include "base/clock.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

static void test_self_is_stable(void **state)
{
    base_waker_t *waker = base_waker_self();

    (void)state;
    assert_non_null(waker);
    assert_ptr_equal(base_waker_self(), waker);
}

static void test_wake_before_wait_does_not_sleep(void **state)
{
    base_waker_t *waker = base_waker_self();
    uint32_t      seq   = base_waker_seq(waker);

    (void)state;
    base_waker_wake(waker);
    assert_int_equal(base_waker_seq(waker), seq + 1);
    /* no deadline: a lost wake-up would hang here, and the test runner's timeout catches it */
    assert_int_equal(base_waker_wait(waker, seq, -1), 0);
    assert_int_equal(base_waker_runnable(), 0); /* nobody slept, nobody was woken */
}

static void test_wait_times_out(void **state)
{
    base_waker_t *waker = base_waker_self();
    double        t0    = base_time_sec();

    (void)state;
    assert_int_equal(base_waker_wait(waker, base_waker_seq(waker), t0 + 0.05), ETIMEDOUT);
    assert_true(base_time_sec() - t0 >= 0.05);
}

static void test_wake_later_without_defer_is_immediate(void **state)
{
    base_waker_t *waker = base_waker_new();
    uint32_t      seq   = base_waker_seq(waker);

    (void)state;
    base_waker_wake_later(waker);
    assert_int_equal(base_waker_seq(waker), seq + 1);
    base_waker_release(waker);
}

static void test_defer_holds_until_outermost_end(void **state)
{
    base_waker_t *waker = base_waker_new();
    uint32_t      seq   = base_waker_seq(waker);

    (void)state;
    base_waker_defer_begin();
    base_waker_defer_begin();
    base_waker_wake_later(waker);
    base_waker_wake_later(waker); /* the same waker twice: one wake-up */
    base_waker_defer_end();
    assert_int_equal(base_waker_seq(waker), seq);
    base_waker_defer_end();
    assert_int_equal(base_waker_seq(waker), seq + 1);
    base_waker_release(waker);
}

static void test_defer_list_overflow_wakes_at_once(void **state)
{
    enum { COUNT = 40 }; /* more than the deferred list holds */
    base_waker_t *wakers[COUNT];
    uint32_t      seqs[COUNT];
    unsigned      immediate = 0;

    (void)state;
    for (int i = 0; i < COUNT; i++) {
        wakers[i] = base_waker_new();
        assert_non_null(wakers[i]);
        seqs[i] = base_waker_seq(wakers[i]);
    }
    base_waker_defer_begin();
    for (int i = 0; i < COUNT; i++) {
        base_waker_wake_later(wakers[i]);
        immediate += base_waker_seq(wakers[i]) != seqs[i];
    }
    assert_true(immediate > 0 && immediate < COUNT);
    base_waker_defer_end();
    for (int i = 0; i < COUNT; i++) {
        assert_int_equal(base_waker_seq(wakers[i]), seqs[i] + 1); /* each woken exactly once */
        base_waker_release(wakers[i]);
    }
}

/* Two threads hand a token back and forth under a mutex, waking after unlock. */
#define PINGPONG_ROUNDS 20000

typedef struct pingpong {
    pthread_mutex_t lock;
    int             turn; /* 0 or 1 */
    int             rounds;
    base_waker_t   *waker[2];
    int             timeouts;
} pingpong_t;

static void pingpong_play(pingpong_t *pp, int me)
{
    base_waker_t *self = base_waker_self();

    pthread_mutex_lock(&pp->lock);
    pp->waker[me] = self;
    if (pp->waker[!me] != NULL) {
        base_waker_wake(pp->waker[!me]); /* it may wait for this one to arrive */
    }
    while (pp->rounds < PINGPONG_ROUNDS) {
        if (pp->turn != me || pp->waker[!me] == NULL) {
            uint32_t seq = base_waker_seq(self);
            int      rc;

            pthread_mutex_unlock(&pp->lock);
            rc = base_waker_wait(self, seq, base_time_sec() + 10);
            pthread_mutex_lock(&pp->lock);
            pp->timeouts += rc == ETIMEDOUT;
            continue;
        }
        pp->turn = !me;
        pp->rounds++;
        base_waker_defer_begin();
        base_waker_wake_later(pp->waker[!me]);
        pthread_mutex_unlock(&pp->lock);
        base_waker_defer_end(); /* the wake-up after the unlock, as a message handler does */
        pthread_mutex_lock(&pp->lock);
    }
    pthread_mutex_unlock(&pp->lock);
    base_waker_wake(pp->waker[!me] != NULL ? pp->waker[!me]
                                           : self); /* let the other one see the end */
}

static void *pingpong_thread(void *arg)
{
    pingpong_play(arg, 1);
    return NULL;
}

static void test_pingpong_loses_no_wakeup(void **state)
{
    pingpong_t pp = {.lock = PTHREAD_MUTEX_INITIALIZER};
    pthread_t  thread;

    (void)state;
    assert_int_equal(pthread_create(&thread, NULL, pingpong_thread, &pp), 0);
    pingpong_play(&pp, 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(pp.rounds, PINGPONG_ROUNDS);
    assert_int_equal(pp.timeouts, 0);
    /* Every thread a wake-up made runnable has run and returned from its wait. */
    assert_int_equal(base_waker_runnable(), 0);
}

static void *take_self(void *arg)
{
    *(base_waker_t **)arg = base_waker_self();
    return NULL;
}

static void test_thread_exit_returns_waker_to_pool(void **state)
{
    base_waker_t *theirs = NULL;
    base_waker_t *again;
    pthread_t     thread;

    (void)state;
    assert_int_equal(pthread_create(&thread, NULL, take_self, &theirs), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_non_null(theirs);
    base_waker_wake(theirs); /* a late wake-up of an exited thread's waker is harmless */
    again = base_waker_new();
    assert_ptr_equal(again, theirs); /* reused, not freed */
    base_waker_release(again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_is_stable),
        cmocka_unit_test(test_wake_before_wait_does_not_sleep),
        cmocka_unit_test(test_wait_times_out),
        cmocka_unit_test(test_wake_later_without_defer_is_immediate),
        cmocka_unit_test(test_defer_holds_until_outermost_end),
        cmocka_unit_test(test_defer_list_overflow_wakes_at_once),
        cmocka_unit_test(test_pingpong_loses_no_wakeup),
        cmocka_unit_test(test_thread_exit_returns_waker_to_pool),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
