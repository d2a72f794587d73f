/*
 * Unit tests of runtime/exec.c: FIFO order, parallelism bounded by CPU slots
 * (fractions included) and by max_threads, GPU shares and whole devices,
 * nested waits (block_begin/end), remove and steal, stop with a grace and a
 * drop callback, the idle callback, hwloc binding, and the time a submit
 * takes to reach an idle thread.
 *
 * Items synchronise with the test through one mutex and condition variable: a
 * gated item runs until the test releases it, so "N items run at once" is
 * observed, never guessed from sleeps. Pool threads never call cmocka's
 * asserts (they would longjmp across threads): they record, the test checks.
 */
#include "runtime/exec.h"

#include "base/clock.h"

#include <hwloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_ITEMS 128
#define CHAIN_DEPTH 64
#define HANDOFF_RUNS 2000

typedef struct titem titem_t;

struct titem {
    rt_exec_item_t item;
    int            id;
    void (*body)(titem_t *t); /* NULL: wait until released */
    bool     started, release, done, phase;
    bool     on_pool; /* rt_exec_on_pool_thread inside run_cb */
    int      gpu_dev, gpu_count;
    uint64_t start_ns;
    double   rec[6]; /* what a body saw, for the test to check */
};

/*
 * One fixture for all tests. Its lock and condition variable are static and
 * never destroyed: a thread that rt_exec_stop left behind may still be
 * unlocking them while the next test starts.
 */
static struct {
    pthread_mutex_t  lock;
    pthread_cond_t   cond;
    rt_exec_t       *exec;
    titem_t          items[MAX_ITEMS];
    int              running, max_running;
    int              order[MAX_ITEMS], norder;
    int              dropped[MAX_ITEMS], ndropped;
    bool             dropped_on_caller;
    pthread_t        caller;
    bool             idle_calls[16];
    double           idle_free[16];
    int              nidle_calls;
    bool             idle_now;
    hwloc_topology_t topo;
    hwloc_bitmap_t   thread_set[2];
} fx = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void lock(void)
{
    pthread_mutex_lock(&fx.lock);
}

static void unlock_broadcast(void)
{
    pthread_cond_broadcast(&fx.cond);
    pthread_mutex_unlock(&fx.lock);
}

static void wait_flag(const bool *flag)
{
    lock();
    while (!*flag) {
        pthread_cond_wait(&fx.cond, &fx.lock);
    }
    pthread_mutex_unlock(&fx.lock);
}

static void set_flag(bool *flag)
{
    lock();
    *flag = true;
    unlock_broadcast();
}

static bool get_flag(const bool *flag)
{
    bool value;

    lock();
    value = *flag;
    pthread_mutex_unlock(&fx.lock);
    return value;
}

static void wait_started(int count)
{
    lock();
    while (fx.norder < count) {
        pthread_cond_wait(&fx.cond, &fx.lock);
    }
    pthread_mutex_unlock(&fx.lock);
}

static void run_item(void *arg, rt_exec_item_t *item)
{
    titem_t *t       = base_container_of(item, titem_t, item);
    bool     on_pool = rt_exec_on_pool_thread(fx.exec);
    uint64_t now     = base_time_ns();

    (void)arg;
    lock();
    t->start_ns  = now;
    t->started   = true;
    t->on_pool   = on_pool;
    t->gpu_dev   = item->gpu_dev;
    t->gpu_count = item->gpu_count;
    if (fx.norder < (int)(sizeof(fx.order) / sizeof(fx.order[0]))) {
        fx.order[fx.norder] = t->id; /* the latency loop runs more items than it records */
    }
    fx.norder++;
    if (++fx.running > fx.max_running) {
        fx.max_running = fx.running;
    }
    unlock_broadcast();

    if (t->body != NULL) {
        t->body(t);
    } else {
        wait_flag(&t->release);
    }

    lock();
    fx.running--;
    t->done = true;
    unlock_broadcast();
}

static void body_noop(titem_t *t)
{
    (void)t;
}

static titem_t *new_item(int id, double cpus, double gpus, void (*body)(titem_t *t))
{
    titem_t *t = &fx.items[id];

    memset(t, 0, sizeof(*t));
    t->id        = id;
    t->body      = body;
    t->item.cpus = cpus;
    t->item.gpus = gpus;
    return t;
}

static void submit(titem_t *t)
{
    assert_int_equal(rt_exec_submit(fx.exec, &t->item), RMPI_OK);
}

static rt_exec_t *make_pool(double cpus, int gpus, int max_threads, bool bind)
{
    rt_exec_params_t params = {
        .field_mask = RT_EXEC_PARAM_CPUS | RT_EXEC_PARAM_GPUS | RT_EXEC_PARAM_BIND,
        .cpus       = cpus,
        .gpus       = gpus,
        .bind       = bind,
        .run_cb     = run_item,
    };

    if (max_threads > 0) {
        params.field_mask |= RT_EXEC_PARAM_MAX_THREADS;
        params.max_threads = max_threads;
    }
    assert_int_equal(rt_exec_create(&params, &fx.exec), RMPI_OK);
    return fx.exec;
}

static rt_exec_stats_t stats(void)
{
    rt_exec_stats_t st;

    rt_exec_stats(fx.exec, &st);
    return st;
}

static void stop_ok(void)
{
    assert_int_equal(rt_exec_stop(fx.exec, 30.0, NULL, NULL), RMPI_OK);
}

static int setup(void **state)
{
    (void)state;
    lock();
    memset(fx.items, 0, sizeof(fx.items));
    fx.exec        = NULL;
    fx.running     = 0;
    fx.max_running = 0;
    fx.norder      = 0;
    fx.ndropped    = 0;
    fx.nidle_calls = 0;
    fx.idle_now    = false;
    pthread_mutex_unlock(&fx.lock);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rt_exec_destroy(fx.exec);
    fx.exec = NULL;
    return 0;
}

/* --- create ------------------------------------------------------------------------ */

static void test_create_args(void **state)
{
    rt_exec_params_t params = {.run_cb = run_item};
    rt_exec_t       *exec   = (rt_exec_t *)&params; /* untouched on failure */

    (void)state;
    assert_int_equal(rt_exec_create(NULL, &exec), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rt_exec_create(&params, NULL), RMPI_ERR_INVALID_ARG);
    params.run_cb = NULL;
    assert_int_equal(rt_exec_create(&params, &exec), RMPI_ERR_INVALID_ARG);
    params.run_cb     = run_item;
    params.field_mask = RMPI_BIT(20);
    assert_int_equal(rt_exec_create(&params, &exec), RMPI_ERR_INVALID_ARG);
    params.field_mask = RT_EXEC_PARAM_CPUS;
    params.cpus       = -1.0;
    assert_int_equal(rt_exec_create(&params, &exec), RMPI_ERR_INVALID_ARG);
    params.field_mask = RT_EXEC_PARAM_GPUS;
    params.gpus       = RT_EXEC_MAX_GPUS + 1;
    assert_int_equal(rt_exec_create(&params, &exec), RMPI_ERR_INVALID_ARG);
    params.field_mask  = RT_EXEC_PARAM_MAX_THREADS;
    params.max_threads = 0;
    assert_int_equal(rt_exec_create(&params, &exec), RMPI_ERR_INVALID_ARG);
    assert_ptr_equal(exec, (rt_exec_t *)&params);
}

/* Defaults: one CPU (so one thread), binding on; ceil(cpus) threads are started at once. */
static void test_create_threads(void **state)
{
    rt_exec_params_t params = {.run_cb = run_item};
    rt_exec_stats_t  st;

    (void)state;
    assert_int_equal(rt_exec_create(&params, &fx.exec), RMPI_OK);
    st = stats();
    assert_int_equal(st.threads, 1);
    assert_true(st.free_cpus == 1.0);
    assert_int_equal(st.queued + st.running + st.blocked, 0);
    rt_exec_destroy(fx.exec);

    make_pool(2.5, 0, 0, false);
    st = stats();
    assert_int_equal(st.threads, 3);
    assert_true(st.free_cpus == 2.5);
    rt_exec_destroy(fx.exec);

    make_pool(0.0, 0, 0, false); /* a GPU-only or actor-only rank still has a thread */
    assert_int_equal(stats().threads, 1);
}

/* --- scheduling ---------------------------------------------------------------------- */

static void test_fifo_one_cpu(void **state)
{
    const int       count = 20;
    rt_exec_stats_t st;

    (void)state;
    make_pool(1.0, 0, 0, false);
    submit(new_item(0, 1.0, 0, NULL)); /* a gate, so the rest queue up behind it */
    wait_started(1);
    for (int id = 1; id <= count; ++id) {
        submit(new_item(id, 1.0, 0, body_noop));
    }
    st = stats();
    assert_int_equal(st.queued, count);
    assert_int_equal(st.running, 1);
    assert_true(st.free_cpus == 0.0);
    assert_false(rt_exec_on_pool_thread(fx.exec));

    set_flag(&fx.items[0].release);
    wait_flag(&fx.items[count].done);
    stop_ok();
    for (int i = 0; i <= count; ++i) {
        assert_int_equal(fx.order[i], i);
        assert_true(fx.items[i].on_pool);
        assert_int_equal(fx.items[i].gpu_dev, -1);
        assert_int_equal(fx.items[i].gpu_count, 0);
    }
    assert_int_equal(fx.max_running, 1);
    st = stats();
    assert_int_equal(st.executed, count + 1);
    assert_int_equal(st.threads, 0);
    assert_int_equal(rt_exec_submit(fx.exec, &new_item(99, 1.0, 0, NULL)->item), RMPI_ERR_SHUTDOWN);
}

/* With 3 CPUs exactly 3 items run; each one that ends lets the next queued one start. */
static void test_parallel_slots(void **state)
{
    const int       count = 8;
    rt_exec_stats_t st;

    (void)state;
    make_pool(3.0, 0, 0, false);
    for (int id = 0; id < count; ++id) {
        submit(new_item(id, 1.0, 0, NULL));
    }
    wait_started(3);
    st = stats();
    assert_int_equal(st.running, 3);
    assert_int_equal(st.queued, count - 3);
    assert_true(st.free_cpus == 0.0);
    lock();
    assert_int_equal(fx.running, 3);
    assert_int_equal(fx.norder, 3);
    pthread_mutex_unlock(&fx.lock);

    set_flag(&fx.items[1].release);
    wait_started(4);
    assert_int_equal(fx.order[3], 3);
    assert_true(get_flag(&fx.items[1].done));
    assert_int_equal(stats().queued, count - 4);

    for (int id = 0; id < count; ++id) {
        set_flag(&fx.items[id].release);
    }
    for (int id = 0; id < count; ++id) {
        wait_flag(&fx.items[id].done);
    }
    assert_int_equal(fx.max_running, 3);
    st = stats();
    assert_int_equal(st.threads, 3); /* the pre-started threads did it all */
    stop_ok();
    assert_int_equal(stats().executed, count);
}

/* 4 items of 0.25 CPU share 1 CPU; a 0-CPU item runs even when no CPU is free. */
static void test_fractional_cpus(void **state)
{
    rt_exec_stats_t st;

    (void)state;
    make_pool(1.0, 0, 0, false);
    for (int id = 0; id < 5; ++id) {
        submit(new_item(id, 0.25, 0, NULL));
    }
    wait_started(4);
    st = stats();
    assert_int_equal(st.running, 4);
    assert_int_equal(st.queued, 1);
    assert_true(st.free_cpus == 0.0);

    submit(new_item(5, 0.0, 0, NULL));
    wait_started(5);
    assert_int_equal(fx.order[4], 5);

    set_flag(&fx.items[2].release);
    wait_started(6);
    assert_int_equal(fx.order[5], 4);
    for (int id = 0; id < 6; ++id) {
        set_flag(&fx.items[id].release);
        wait_flag(&fx.items[id].done);
    }
    assert_int_equal(fx.max_running, 5);
    stop_ok();
    assert_int_equal(stats().executed, 6);
}

/* max_threads bounds the items running at once even when CPUs are free. */
static void test_max_threads(void **state)
{
    (void)state;
    make_pool(1.0, 0, 2, false);
    for (int id = 0; id < 4; ++id) {
        submit(new_item(id, 0.25, 0, NULL));
    }
    wait_started(2);
    assert_int_equal(stats().threads, 2);
    assert_int_equal(stats().queued, 2);
    set_flag(&fx.items[0].release);
    wait_started(3);
    assert_int_equal(fx.order[2], 2);
    for (int id = 0; id < 4; ++id) {
        set_flag(&fx.items[id].release);
        wait_flag(&fx.items[id].done);
    }
    assert_int_equal(fx.max_running, 2);
    stop_ok();
}

/*
 * 2 devices. Shares go best fit (so whole devices stay whole): A .5 and B .25
 * share device 0, C takes device 1, D .5 fits nowhere and waits while E .25
 * passes it onto device 0. When C ends D gets device 1; F (2 devices) waits
 * for both.
 */
static void test_gpu_shares(void **state)
{
    static const double gpus[]     = {0.5, 0.25, 1.0, 0.5, 0.25};
    static const int    want_dev[] = {0, 0, 1, -1, 0};

    (void)state;
    make_pool(1.0, 2, 0, false);
    for (int id = 0; id < 5; ++id) {
        submit(new_item(id, 0.0, gpus[id], NULL));
    }
    wait_started(4);
    assert_int_equal(stats().queued, 1);
    assert_false(get_flag(&fx.items[3].started));
    for (int id = 0; id < 5; ++id) {
        if (id != 3) {
            assert_int_equal(fx.items[id].gpu_dev, want_dev[id]);
            assert_int_equal(fx.items[id].gpu_count, 1);
        }
    }

    set_flag(&fx.items[2].release);
    wait_flag(&fx.items[3].started);
    assert_int_equal(fx.items[3].gpu_dev, 1);
    assert_int_equal(fx.items[3].gpu_count, 1);

    submit(new_item(5, 0.0, 2.0, NULL));
    for (int id = 0; id < 5; ++id) {
        assert_false(get_flag(&fx.items[5].started));
        set_flag(&fx.items[id].release);
        wait_flag(&fx.items[id].done);
    }
    wait_flag(&fx.items[5].started);
    assert_int_equal(fx.items[5].gpu_dev, 0);
    assert_int_equal(fx.items[5].gpu_count, 2);
    set_flag(&fx.items[5].release);
    stop_ok();
    assert_int_equal(stats().executed, 6);
}

static rt_exec_gpus_t kept[2];

static void body_keep_gpus(titem_t *t)
{
    rt_exec_keep_gpus(fx.exec, &kept[t->id]);
}

/* An item that keeps its GPUs (an actor) holds them after it ends, until they are given back. */
static void test_keep_gpus(void **state)
{
    rt_exec_gpus_t none;

    (void)state;
    make_pool(1.0, 2, 0, false);
    rt_exec_keep_gpus(fx.exec, &none); /* not a pool thread: nothing to keep */
    assert_int_equal(none.dev, -1);
    submit(new_item(0, 0.0, 0.5, body_keep_gpus));
    wait_flag(&fx.items[0].done);
    assert_int_equal(kept[0].dev, 0);
    assert_int_equal(kept[0].count, 1);
    assert_true(kept[0].share > 0);

    submit(new_item(1, 0.0, 2.0, body_keep_gpus)); /* device 0 is half taken: waits */
    submit(new_item(2, 0.0, 0.5, body_noop));      /* the other half of device 0 (best fit) */
    wait_flag(&fx.items[2].done);
    assert_int_equal(fx.items[2].gpu_dev, 0);
    assert_false(get_flag(&fx.items[1].started));
    rt_exec_give_gpus(fx.exec, &kept[0]);
    wait_flag(&fx.items[1].done);
    assert_int_equal(fx.items[1].gpu_dev, 0);
    assert_int_equal(kept[1].dev, 0);
    assert_int_equal(kept[1].count, 2);
    assert_int_equal(kept[1].share, 0);

    submit(new_item(3, 0.0, 1.0, body_noop)); /* both devices kept by item 1 */
    submit(new_item(4, 0.0, 0.0, body_noop)); /* passes it */
    wait_flag(&fx.items[4].done);
    assert_false(get_flag(&fx.items[3].started));
    rt_exec_give_gpus(fx.exec, &kept[1]);
    wait_flag(&fx.items[3].done);
    assert_int_equal(fx.items[3].gpu_dev, 0);
    stop_ok();
}

static void test_infeasible(void **state)
{
    rt_exec_item_t item = {.cpus = 3.0};
    double         nan  = strtod("nan", NULL);

    (void)state;
    make_pool(2.0, 1, 0, false);
    assert_int_equal(rt_exec_submit(fx.exec, &item), RMPI_ERR_INFEASIBLE);
    item = (rt_exec_item_t){.cpus = 1.0, .gpus = 2.0};
    assert_int_equal(rt_exec_submit(fx.exec, &item), RMPI_ERR_INFEASIBLE);
    item = (rt_exec_item_t){.cpus = 1e300};
    assert_int_equal(rt_exec_submit(fx.exec, &item), RMPI_ERR_INFEASIBLE);
    item = (rt_exec_item_t){.cpus = 1.0, .gpus = 1.5};
    assert_int_equal(rt_exec_submit(fx.exec, &item), RMPI_ERR_INVALID_ARG);
    item = (rt_exec_item_t){.cpus = -1.0};
    assert_int_equal(rt_exec_submit(fx.exec, &item), RMPI_ERR_INVALID_ARG);
    item = (rt_exec_item_t){.cpus = nan};
    assert_int_equal(rt_exec_submit(fx.exec, &item), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rt_exec_submit(fx.exec, NULL), RMPI_ERR_INVALID_ARG);
    assert_int_equal(rt_exec_submit(NULL, &item), RMPI_ERR_INVALID_ARG);
    assert_int_equal(stats().queued, 0);

    submit(new_item(0, 2.0, 1.0, body_noop)); /* exactly the pool */
    wait_flag(&fx.items[0].done);
    assert_int_equal(fx.items[0].gpu_dev, 0);
    rt_exec_destroy(fx.exec);

    make_pool(4.0, 0, 0, false);
    item = (rt_exec_item_t){.cpus = 1.0, .gpus = 0.5};
    assert_int_equal(rt_exec_submit(fx.exec, &item), RMPI_ERR_INFEASIBLE);
}

/* --- blocking ------------------------------------------------------------------------ */

/*
 * A (1 CPU, on a 1-CPU pool) blocks twice (nested), starts B, which takes
 * the CPU it gave back, ends the inner block (nothing changes), then ends the
 * outer one, which must wait for B to give the CPU back.
 */
static void body_blocker(titem_t *t)
{
    titem_t        *b = &fx.items[1];
    rt_exec_stats_t st;

    rt_exec_block_begin(fx.exec);
    rt_exec_block_begin(fx.exec);
    rt_exec_stats(fx.exec, &st);
    t->rec[0] = st.blocked;
    t->rec[1] = st.free_cpus;
    t->rec[2] = rt_exec_submit(fx.exec, &b->item);
    wait_flag(&b->started);
    rt_exec_block_end(fx.exec);
    rt_exec_stats(fx.exec, &st);
    t->rec[3] = st.blocked;
    set_flag(&t->phase);
    rt_exec_block_end(fx.exec);
    t->rec[4] = get_flag(&b->done);
    rt_exec_stats(fx.exec, &st);
    t->rec[5] = st.blocked;
}

static void test_block_gives_cpu_back(void **state)
{
    titem_t        *a;
    rt_exec_stats_t st;

    (void)state;
    make_pool(1.0, 0, 0, false);
    /* Outside a pool thread these do nothing. */
    rt_exec_block_begin(fx.exec);
    assert_true(stats().free_cpus == 1.0);
    rt_exec_block_end(fx.exec);

    a = new_item(0, 1.0, 0, body_blocker);
    new_item(1, 1.0, 0, NULL);
    submit(a);
    wait_flag(&a->phase); /* A is about to take its CPU back, which B holds */
    st = stats();
    assert_int_equal(st.running, 2);
    assert_int_equal(st.blocked, 1);
    assert_true(st.free_cpus == 0.0);
    set_flag(&fx.items[1].release);
    wait_flag(&a->done);

    assert_true(a->rec[0] == 1.0);
    assert_true(a->rec[1] == 1.0);
    assert_true(a->rec[2] == RMPI_OK);
    assert_true(a->rec[3] == 1.0); /* the inner end is not the last */
    assert_true(a->rec[4] == 1.0); /* block_end returned only after B ended */
    assert_true(a->rec[5] == 0.0);
    stop_ok();
    st = stats();
    assert_int_equal(st.executed, 2);
    assert_int_equal(st.blocked, 0);
    assert_true(st.free_cpus == 1.0);
}

/* Item k submits item k+1 and waits for it: a chain of 64 on one CPU. */
static void body_chain(titem_t *t)
{
    titem_t *next;

    if (t->id + 1 == CHAIN_DEPTH) {
        return;
    }
    next      = &fx.items[t->id + 1];
    t->rec[0] = rt_exec_submit(fx.exec, &next->item);
    rt_exec_block_begin(fx.exec);
    wait_flag(&next->done);
    rt_exec_block_end(fx.exec);
}

static void test_nested_chain(void **state)
{
    rt_exec_stats_t st;

    (void)state;
    make_pool(1.0, 0, 0, false);
    for (int id = 0; id < CHAIN_DEPTH; ++id) {
        new_item(id, 1.0, 0, body_chain);
    }
    submit(&fx.items[0]);
    wait_flag(&fx.items[0].done);
    for (int id = 0; id < CHAIN_DEPTH; ++id) {
        assert_int_equal(fx.order[id], id);
        assert_true(fx.items[id].rec[0] == RMPI_OK);
    }
    assert_int_equal(fx.max_running, CHAIN_DEPTH);
    st = stats();
    assert_int_equal(st.threads, CHAIN_DEPTH); /* one per waiting item, no more */
    stop_ok();
    st = stats();
    assert_int_equal(st.executed, CHAIN_DEPTH);
    assert_true(st.free_cpus == 1.0);
}

/* --- remove and steal ------------------------------------------------------------------ */

static void test_remove_steal(void **state)
{
    rt_exec_item_t *stolen[8];

    (void)state;
    make_pool(1.0, 0, 0, false);
    submit(new_item(0, 1.0, 0, NULL));
    wait_started(1);
    for (int id = 1; id <= 6; ++id) {
        new_item(id, 1.0, 0, body_noop)->item.stealable = (id % 2 == 0);
        submit(&fx.items[id]);
    }
    new_item(7, 1.0, 0, body_noop);

    assert_true(rt_exec_remove(fx.exec, &fx.items[3].item));
    assert_false(rt_exec_remove(fx.exec, &fx.items[3].item));
    assert_false(rt_exec_remove(fx.exec, &fx.items[7].item)); /* never queued */
    assert_false(rt_exec_remove(fx.exec, &fx.items[0].item)); /* running */

    assert_int_equal(rt_exec_steal(fx.exec, stolen, 2), 2);
    assert_ptr_equal(stolen[0], &fx.items[6].item); /* from the tail */
    assert_ptr_equal(stolen[1], &fx.items[4].item);
    assert_int_equal(rt_exec_steal(fx.exec, stolen, 8), 1);
    assert_ptr_equal(stolen[0], &fx.items[2].item);
    assert_int_equal(rt_exec_steal(fx.exec, stolen, 8), 0);
    assert_int_equal(stats().queued, 2);

    set_flag(&fx.items[0].release);
    wait_flag(&fx.items[5].done);
    stop_ok();
    assert_int_equal(fx.norder, 3);
    assert_int_equal(fx.order[1], 1);
    assert_int_equal(fx.order[2], 5);
    assert_int_equal(stats().executed, 3);
    for (int id = 2; id <= 4; ++id) {
        assert_false(fx.items[id].started);
        assert_int_equal(fx.items[id].item.gpu_dev, -1);
    }
}

/* --- stop ---------------------------------------------------------------------------- */

static void drop_record(void *arg, rt_exec_item_t *item)
{
    titem_t *t = base_container_of(item, titem_t, item);

    lock();
    fx.dropped[fx.ndropped++] = t->id;
    fx.dropped_on_caller      = pthread_equal(pthread_self(), fx.caller);
    pthread_mutex_unlock(&fx.lock);
    if (arg != NULL) {
        set_flag(arg); /* releases the running item: it ends within the grace */
    }
}

/* The running item outlives the grace: RMPI_ERR_TIMEOUT, its thread left behind. */
static void test_stop_timeout(void **state)
{
    rt_exec_stats_t st;

    (void)state;
    make_pool(1.0, 0, 0, false);
    submit(new_item(0, 1.0, 0, NULL));
    wait_started(1);
    for (int id = 1; id <= 3; ++id) {
        submit(new_item(id, 1.0, 0, NULL));
    }
    fx.caller = pthread_self();
    assert_int_equal(rt_exec_stop(fx.exec, 0.01, drop_record, NULL), RMPI_ERR_TIMEOUT);
    assert_int_equal(fx.ndropped, 3);
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(fx.dropped[i], i + 1);
        assert_false(fx.items[i + 1].started);
    }
    assert_true(fx.dropped_on_caller);
    st = stats();
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.running, 1);
    assert_int_equal(rt_exec_submit(fx.exec, &fx.items[1].item), RMPI_ERR_SHUTDOWN);
    assert_int_equal(rt_exec_stop(fx.exec, 0.0, NULL, NULL), RMPI_OK); /* once is enough */

    /* The pool goes first; the late thread frees it when it ends. */
    rt_exec_destroy(fx.exec);
    fx.exec = NULL;
    set_flag(&fx.items[0].release);
    wait_flag(&fx.items[0].done);
}

/* The drop callback releases the running item, which ends within the grace. */
static void test_stop_grace(void **state)
{
    (void)state;
    make_pool(1.0, 0, 0, false);
    submit(new_item(0, 1.0, 0, NULL));
    wait_started(1);
    submit(new_item(1, 1.0, 0, NULL));
    fx.caller = pthread_self();
    assert_int_equal(rt_exec_stop(fx.exec, 30.0, drop_record, &fx.items[0].release), RMPI_OK);
    assert_true(fx.items[0].done);
    assert_int_equal(fx.ndropped, 1);
    assert_int_equal(fx.dropped[0], 1);
    assert_int_equal(stats().executed, 1);
    assert_int_equal(stats().threads, 0);
}

/* --- the idle callback --------------------------------------------------------------- */

static void idle_record(void *arg, bool idle)
{
    rt_exec_stats_t st;

    (void)arg;
    rt_exec_stats(fx.exec, &st); /* deadlocks if called under the pool's lock */
    lock();
    if (fx.nidle_calls < 16) {
        fx.idle_calls[fx.nidle_calls] = idle;
        fx.idle_free[fx.nidle_calls]  = st.free_cpus;
    }
    fx.nidle_calls++;
    fx.idle_now = idle;
    unlock_broadcast();
}

static void test_idle_cb(void **state)
{
    (void)state;
    make_pool(2.0, 0, 0, false);
    rt_exec_set_idle_cb(fx.exec, idle_record, NULL);
    assert_int_equal(fx.nidle_calls, 1); /* idle now, told on this thread */
    assert_true(fx.idle_calls[0]);

    submit(new_item(0, 1.0, 0, NULL)); /* one CPU still free: still idle */
    wait_started(1);
    assert_int_equal(get_flag(&fx.idle_now), true);
    submit(new_item(1, 1.0, 0, NULL)); /* no CPU left: busy */
    lock();
    assert_int_equal(fx.nidle_calls, 2);
    assert_false(fx.idle_calls[1]);
    pthread_mutex_unlock(&fx.lock);

    set_flag(&fx.items[0].release);
    wait_flag(&fx.idle_now);
    lock();
    assert_int_equal(fx.nidle_calls, 3);
    assert_true(fx.idle_calls[2]);
    assert_true(fx.idle_free[2] == 1.0);
    pthread_mutex_unlock(&fx.lock);

    set_flag(&fx.items[1].release);
    stop_ok();
    assert_int_equal(fx.nidle_calls, 3); /* idle stayed idle: no call */
}

/* The same without a look at the stats, whose lock would slow the woken thread down. */
static void idle_signal(void *arg, bool idle)
{
    (void)arg;
    lock();
    fx.idle_now = idle;
    unlock_broadcast();
}

/* --- binding --------------------------------------------------------------------------- */

static void body_binding(titem_t *t)
{
    hwloc_get_cpubind(fx.topo, fx.thread_set[t->id], HWLOC_CPUBIND_THREAD);
    wait_flag(&t->release); /* both run at once: two threads */
}

static void run_bound(double cpus, int count)
{
    make_pool(cpus, 0, 0, true);
    for (int id = 0; id < count; ++id) {
        submit(new_item(id, 1.0, 0, body_binding));
    }
    wait_started(count);
    for (int id = 0; id < count; ++id) {
        set_flag(&fx.items[id].release);
    }
    stop_ok();
    rt_exec_destroy(fx.exec);
    fx.exec = NULL;
    lock();
    fx.norder = 0;
    pthread_mutex_unlock(&fx.lock);
}

static void test_binding(void **state)
{
    hwloc_bitmap_t process = hwloc_bitmap_alloc();
    int            pus;

    (void)state;
    assert_int_equal(hwloc_topology_init(&fx.topo), 0);
    hwloc_topology_set_components(fx.topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, "x86");
    assert_int_equal(hwloc_topology_load(fx.topo), 0);
    assert_int_equal(hwloc_get_cpubind(fx.topo, process, HWLOC_CPUBIND_PROCESS), 0);
    hwloc_bitmap_and(process, process, hwloc_topology_get_topology_cpuset(fx.topo));
    pus = hwloc_bitmap_weight(process);
    assert_true(pus >= 1);
    fx.thread_set[0] = hwloc_bitmap_alloc();
    fx.thread_set[1] = hwloc_bitmap_alloc();

    /* As many PUs as slots or more: each thread on one PU of the binding, round robin. */
    run_bound((pus >= 2) ? 2.0 : 1.0, (pus >= 2) ? 2 : 1);
    for (int id = 0; id < ((pus >= 2) ? 2 : 1); ++id) {
        assert_int_equal(hwloc_bitmap_weight(fx.thread_set[id]), 1);
        assert_true(hwloc_bitmap_isincluded(fx.thread_set[id], process));
    }
    if (pus >= 2) {
        assert_false(hwloc_bitmap_isequal(fx.thread_set[0], fx.thread_set[1]));
    }

    /* More slots than PUs: left unbound, with the process's binding. */
    run_bound(pus + 1, 1);
    assert_true(hwloc_bitmap_isequal(fx.thread_set[0], process));

    hwloc_bitmap_free(fx.thread_set[0]);
    hwloc_bitmap_free(fx.thread_set[1]);
    hwloc_bitmap_free(process);
    hwloc_topology_destroy(fx.topo);
}

/* --- the hand-off time ------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/*
 * Submit to an idle pool and time until run_cb starts. The idle callback says
 * when the thread is back from the previous item, so each submit finds it idle.
 */
static void test_handoff_latency(void **state)
{
    static uint64_t  lat[HANDOFF_RUNS];
    rt_exec_params_t params = {.run_cb = run_item}; /* defaults: 1 CPU, bound */
    titem_t         *t      = new_item(0, 1.0, 0, body_noop);

    (void)state;
    assert_int_equal(rt_exec_create(&params, &fx.exec), RMPI_OK);
    rt_exec_set_idle_cb(fx.exec, idle_signal, NULL);
    for (int i = 0; i < HANDOFF_RUNS; ++i) {
        uint64_t submit_ns;

        wait_flag(&fx.idle_now);
        lock();
        t->done = false;
        pthread_mutex_unlock(&fx.lock);
        submit_ns = base_time_ns();
        submit(t);
        wait_flag(&t->done);
        lat[i] = t->start_ns - submit_ns;
    }
    stop_ok();
    assert_int_equal(stats().executed, HANDOFF_RUNS);
    qsort(lat, HANDOFF_RUNS, sizeof(lat[0]), cmp_u64);
    fprintf(stderr,
            "submit->run hand-off to an idle thread: median %.1f us, p90 %.1f us, "
            "p99 %.1f us (%d runs)\n",
            lat[HANDOFF_RUNS / 2] / 1e3, lat[HANDOFF_RUNS * 9 / 10] / 1e3,
            lat[HANDOFF_RUNS * 99 / 100] / 1e3, HANDOFF_RUNS);
    assert_true(lat[HANDOFF_RUNS / 2] < 20000000ull); /* sanity only: valgrind runs it too */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_args),
        cmocka_unit_test_setup_teardown(test_create_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_one_cpu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fractional_cpus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpu_shares, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_gpus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_infeasible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_gives_cpu_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_steal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_cb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handoff_latency, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
