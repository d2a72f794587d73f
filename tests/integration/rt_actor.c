/*
 * tests/integration/rt_actor.c - actors (include/raympi.h, "Actors") on several ranks,
 * written against the public API only.
 *
 *     ray-mpi -n N rt_actor SCENARIO...
 *
 * Rank 0 (the driver) runs the named scenarios in order and exits 0 only if every check
 * passed; each failure is printed with its line. Started by integration/rt_actor.sh at 2
 * and 4 ranks, on one and several logical nodes, under UCX_TLS=sm,self and tcp,self; the
 * `rankdeath` and `gpudeath` scenarios by integration/rt_actor_kill.sh under `mpirun
 * --enable-recovery` (survivors stay up when a rank dies), with the last rank killed by
 * one of its actors (`gpudeath` on the CUDA driver double).
 *
 * No check depends on a sleep: concurrency is shown by calls that wait for each other
 * (a rendezvous that only completes if max_concurrency calls run at once), ordering by
 * the values calls return.
 */
#include <raympi.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IT_PROGRAM "rt_actor"
#include "it_check.h"

#define GET_TIMEOUT_S 60.0
#define RENDEZVOUS_TIMEOUT_S 20.0

/* ------------------------------------------------------------------------- */
/* Values                                                                    */
/* ------------------------------------------------------------------------- */

static int64_t arg_i64(const rmpi_arg_t *args, size_t nargs, size_t i)
{
    int64_t v = 0;

    if (i < nargs && args[i].size == sizeof(v)) {
        memcpy(&v, args[i].data, sizeof(v));
    }
    return v;
}

static rmpi_status_t return_i64(rmpi_task_ctx_h ctx, int64_t v)
{
    return rmpi_return(ctx, 0, &v, sizeof(v));
}

/* Get an int64 return; *status_p gets the object's status (the get's, if it failed). */
static rmpi_status_t get_i64(rmpi_ref_t ref, int64_t *v_p)
{
    rmpi_object_t obj;
    rmpi_status_t st = rmpi_get(&ref, 1, GET_TIMEOUT_S, &obj);

    if (st != RMPI_OK) {
        return st;
    }
    st = obj.status;
    if (st == RMPI_OK && obj.size == sizeof(*v_p)) {
        memcpy(v_p, obj.data, sizeof(*v_p));
    } else if (st == RMPI_OK) {
        st = RMPI_ERR_MESSAGE;
    }
    rmpi_object_release(&obj);
    (void)rmpi_ref_free(ref);
    return st;
}

static rmpi_status_t call_i64(rmpi_actor_t actor, const char *method, int64_t arg, int64_t *v_p)
{
    rmpi_task_arg_t a = rmpi_arg_value(&arg, sizeof(arg));
    rmpi_ref_t      ref;
    rmpi_status_t   st = rmpi_actor_call(actor, method, &a, 1, NULL, &ref);

    return st != RMPI_OK ? st : get_i64(ref, v_p);
}

static int expect_call(rmpi_actor_t actor, const char *method, int64_t arg, int64_t expected)
{
    int64_t v = -1;

    CHECK_OK(call_i64(actor, method, arg, &v));
    CHECKF(v == expected, "%s(%lld) returned %lld, expected %lld", method, (long long)arg,
           (long long)v, (long long)expected);
    return 0;
}

static int expect_call_fails(rmpi_actor_t actor, const char *method, rmpi_status_t expected)
{
    int64_t       v  = 0;
    rmpi_status_t st = call_i64(actor, method, 0, &v);

    CHECKF(st == expected, "%s on a dead actor: %s, expected %s", method, rmpi_status_str(st),
           rmpi_status_str(expected));
    return 0;
}

static rmpi_status_t create_i64(const char *cls, int64_t arg, const rmpi_actor_options_t *opts,
                                rmpi_actor_t *actor_p)
{
    rmpi_task_arg_t a = rmpi_arg_value(&arg, sizeof(arg));

    return rmpi_actor_create(cls, &a, 1, opts, actor_p);
}

/* ------------------------------------------------------------------------- */
/* Actor classes                                                             */
/* ------------------------------------------------------------------------- */

/* Counter(start): add(n) returns the new total; get(); where() the rank; die() SIGKILLs it. */
typedef struct counter {
    int64_t value;
} counter_t;

static rmpi_status_t counter_ctor(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs)
{
    counter_t *c = malloc(sizeof(*c));

    if (c == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    c->value = arg_i64(args, nargs, 0);
    return rmpi_actor_set_state(ctx, c);
}

static void __attribute__((constructor)) register_counter(void)
{
    (void)rmpi_register_actor_class("Counter", counter_ctor, free);
}

RMPI_ACTOR_METHOD(Counter, add)
{
    counter_t *c = rmpi_actor_state(ctx);

    c->value += arg_i64(args, nargs, 0);
    return return_i64(ctx, c->value);
}

RMPI_ACTOR_METHOD(Counter, get)
{
    (void)args;
    (void)nargs;
    return return_i64(ctx, ((counter_t *)rmpi_actor_state(ctx))->value);
}

RMPI_ACTOR_METHOD(Counter, where)
{
    (void)args;
    (void)nargs;
    return return_i64(ctx, rmpi_rank());
}

RMPI_ACTOR_METHOD(Counter, gpu)
{
    (void)args;
    (void)nargs;
    return return_i64(ctx, rmpi_task_gpu(ctx));
}

RMPI_ACTOR_METHOD(Counter, quit)
{
    (void)args;
    (void)nargs;
    if (rmpi_actor_exit(ctx) != RMPI_OK) {
        return RMPI_ERR_TASK_FAILED;
    }
    return return_i64(ctx, 1);
}

RMPI_ACTOR_METHOD(Counter, self)
{
    rmpi_actor_t  self;
    rmpi_status_t st = rmpi_actor_self(ctx, &self);

    (void)args;
    (void)nargs;
    return st != RMPI_OK ? st : rmpi_return(ctx, 0, &self, sizeof(self));
}

RMPI_ACTOR_METHOD(Counter, die)
{
    (void)ctx;
    (void)args;
    (void)nargs;
    raise(SIGKILL); /* the rank dies with its actors */
    return RMPI_OK;
}

/* Saver: a Counter whose state is checkpointed after every call. */
static rmpi_status_t counter_save(void *state, void **buf_p, size_t *len_p)
{
    *buf_p = malloc(sizeof(counter_t));
    if (*buf_p == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    memcpy(*buf_p, state, sizeof(counter_t));
    *len_p = sizeof(counter_t);
    return RMPI_OK;
}

static rmpi_status_t counter_restore(void *state, const void *buf, size_t len)
{
    if (len != sizeof(counter_t)) {
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(state, buf, len);
    return RMPI_OK;
}

static void __attribute__((constructor)) register_saver(void)
{
    (void)rmpi_register_actor_class("Saver", counter_ctor, free);
    (void)rmpi_register_actor_checkpoint("Saver", counter_save, counter_restore, 1);
}

RMPI_ACTOR_METHOD(Saver, add)
{
    counter_t *c = rmpi_actor_state(ctx);

    c->value += arg_i64(args, nargs, 0);
    return return_i64(ctx, c->value);
}

RMPI_ACTOR_METHOD(Saver, where)
{
    (void)args;
    (void)nargs;
    return return_i64(ctx, rmpi_rank());
}

RMPI_ACTOR_METHOD(Saver, die)
{
    (void)ctx;
    (void)args;
    (void)nargs;
    raise(SIGKILL);
    return RMPI_OK;
}

/* Bank(balance): deposit(n), withdraw(n) fails (application error) past the balance. */
static rmpi_status_t bank_ctor(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs)
{
    return counter_ctor(ctx, args, nargs);
}

static void __attribute__((constructor)) register_bank(void)
{
    (void)rmpi_register_actor_class("Bank", bank_ctor, free);
}

RMPI_ACTOR_METHOD(Bank, deposit)
{
    counter_t *c = rmpi_actor_state(ctx);

    c->value += arg_i64(args, nargs, 0);
    return return_i64(ctx, c->value);
}

RMPI_ACTOR_METHOD(Bank, withdraw)
{
    counter_t *c = rmpi_actor_state(ctx);
    int64_t    n = arg_i64(args, nargs, 0);

    if (n > c->value) {
        rmpi_task_error(ctx, "insufficient funds: balance %lld, asked %lld", (long long)c->value,
                        (long long)n);
        return RMPI_ERR_TASK_FAILED;
    }
    c->value -= n;
    return return_i64(ctx, c->value);
}

/* Meeting(n): meet() returns 1 once n calls are inside meet() together, 0 on a timeout. */
typedef struct meeting {
    pthread_mutex_t lock;
    pthread_cond_t  cond;
    int64_t         expected, inside, peak;
} meeting_t;

static void meeting_free(void *state)
{
    meeting_t *m = state;

    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    free(m);
}

static rmpi_status_t meeting_ctor(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs)
{
    meeting_t *m = calloc(1, sizeof(*m));

    if (m == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    m->expected = arg_i64(args, nargs, 0);
    return rmpi_actor_set_state(ctx, m);
}

static void __attribute__((constructor)) register_meeting(void)
{
    (void)rmpi_register_actor_class("Meeting", meeting_ctor, meeting_free);
}

RMPI_ACTOR_METHOD(Meeting, meet)
{
    meeting_t      *m = rmpi_actor_state(ctx);
    struct timespec deadline;
    int             rc = 0;
    int64_t         met;

    (void)args;
    (void)nargs;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)RENDEZVOUS_TIMEOUT_S;
    pthread_mutex_lock(&m->lock);
    if (++m->inside > m->peak) {
        m->peak = m->inside;
    }
    pthread_cond_broadcast(&m->cond);
    while (m->peak < m->expected && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&m->cond, &m->lock, &deadline);
    }
    met = m->peak >= m->expected;
    --m->inside;
    pthread_mutex_unlock(&m->lock);
    return return_i64(ctx, met);
}

/* Broken: its constructor fails. */
static rmpi_status_t broken_ctor(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs)
{
    (void)args;
    (void)nargs;
    rmpi_task_error(ctx, "broken on purpose");
    return RMPI_ERR_TASK_FAILED;
}

static void __attribute__((constructor)) register_broken(void)
{
    (void)rmpi_register_actor_class("Broken", broken_ctor, NULL);
}

RMPI_ACTOR_METHOD(Broken, get)
{
    (void)args;
    (void)nargs;
    return return_i64(ctx, 0);
}

/* Waiter (async): hold(gate) waits in rmpi_get for the gate task's result. */
typedef struct waiter {
    int64_t arrived, peak;
} waiter_t;

static rmpi_status_t waiter_ctor(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs)
{
    waiter_t *w = calloc(1, sizeof(*w));

    (void)args;
    (void)nargs;
    return w != NULL ? rmpi_actor_set_state(ctx, w) : RMPI_ERR_NO_MEMORY;
}

static void __attribute__((constructor)) register_waiter(void)
{
    (void)rmpi_register_actor_class("Waiter", waiter_ctor, free);
}

static rmpi_status_t waiter_get(const rmpi_arg_t *args, size_t nargs, double timeout)
{
    rmpi_ref_t    gate;
    rmpi_object_t obj;
    rmpi_status_t st;

    if (nargs != 1 || args[0].size != sizeof(gate)) {
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&gate, args[0].data, sizeof(gate));
    st = rmpi_get(&gate, 1, timeout, &obj); /* an async actor's call suspends here */
    if (st == RMPI_OK) {
        rmpi_object_release(&obj);
    }
    return st;
}

/* hold(gate ref as bytes) -> the most calls seen inside hold at once */
RMPI_ACTOR_METHOD(Waiter, hold)
{
    waiter_t     *w = rmpi_actor_state(ctx);
    rmpi_status_t st;

    if (++w->arrived > w->peak) {
        w->peak = w->arrived;
    }
    st = waiter_get(args, nargs, GET_TIMEOUT_S); /* the gate ends canceled: an error value */
    --w->arrived;
    return st == RMPI_ERR_TIMEOUT ? st : return_i64(ctx, w->peak);
}

/* nap(gate ref as bytes) -> 1 if a short get on it timed out (the fibre's deadline) */
RMPI_ACTOR_METHOD(Waiter, nap)
{
    return return_i64(ctx, waiter_get(args, nargs, 0.05) == RMPI_ERR_TIMEOUT);
}

RMPI_ACTOR_METHOD(Waiter, count)
{
    (void)args;
    (void)nargs;
    return return_i64(ctx, ((waiter_t *)rmpi_actor_state(ctx))->arrived);
}

/* gate(): returns when canceled (a task to wait for that ends when the test says). */
RMPI_REMOTE(gate_block)
{
    struct timespec nap = {0, 5 * 1000 * 1000};

    (void)args;
    (void)nargs;
    for (int i = 0; i < 6000 && !rmpi_task_canceled(ctx); ++i) {
        nanosleep(&nap, NULL);
    }
    return return_i64(ctx, 1);
}

/* ------------------------------------------------------------------------- */
/* Tasks that use actors                                                     */
/* ------------------------------------------------------------------------- */

/* call_add(handle, n): the task calls the actor it was given; returns the total. */
RMPI_REMOTE(call_add)
{
    rmpi_actor_t actor;
    int64_t      v = -1;

    if (nargs != 2 || args[0].size != sizeof(actor)) {
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&actor, args[0].data, sizeof(actor));
    rmpi_status_t st = call_i64(actor, "add", arg_i64(args, nargs, 1), &v);
    return st != RMPI_OK ? st : return_i64(ctx, v);
}

/* lookup_add(n): finds "registry" by name, adds n; returns the total. */
RMPI_REMOTE(lookup_add)
{
    rmpi_actor_t  actor;
    int64_t       v  = -1;
    rmpi_status_t st = rmpi_actor_get("registry", "tests", &actor);

    if (st != RMPI_OK) {
        rmpi_task_error(ctx, "rmpi_actor_get: %s", rmpi_status_str(st));
        return st;
    }
    st = call_i64(actor, "add", arg_i64(args, nargs, 0), &v);
    return st != RMPI_OK ? st : return_i64(ctx, v);
}

/* make_actors(): creates a detached "keeper" and an owned "temp", both named; returns. */
RMPI_REMOTE(make_actors)
{
    rmpi_actor_options_t opts = {
        .field_mask = RMPI_ACTOR_OPT_NAME | RMPI_ACTOR_OPT_LIFETIME,
        .namespace_ = "tests",
        .name       = "keeper",
        .lifetime   = RMPI_ACTOR_DETACHED,
    };
    rmpi_actor_t  keeper, temp;
    rmpi_status_t st = create_i64("Counter", 100, &opts, &keeper);

    (void)args;
    (void)nargs;
    opts.name     = "temp";
    opts.lifetime = RMPI_ACTOR_OWNED;
    if (st == RMPI_OK) {
        st = create_i64("Counter", 200, &opts, &temp);
    }
    if (st == RMPI_OK) {
        st = rmpi_return(ctx, 0, &temp, sizeof(temp));
    }
    return st;
}

/* ------------------------------------------------------------------------- */
/* Scenarios                                                                 */
/* ------------------------------------------------------------------------- */

#define ORDERED_CALLS 300

/* Calls from one caller run in submission order: each returns the running total. */
static int scenario_counter(void)
{
    rmpi_actor_t actor;
    rmpi_ref_t   refs[ORDERED_CALLS];
    int64_t      total = 10;

    CHECK_OK(create_i64("Counter", 10, NULL, &actor));
    for (int i = 0; i < ORDERED_CALLS; ++i) {
        int64_t         n = i + 1;
        rmpi_task_arg_t a = rmpi_arg_value(&n, sizeof(n));

        CHECK_OK(rmpi_actor_call(actor, "add", &a, 1, NULL, &refs[i]));
    }
    for (int i = 0; i < ORDERED_CALLS; ++i) {
        int64_t v = -1;

        total += i + 1;
        CHECK_OK(get_i64(refs[i], &v));
        CHECKF(v == total, "call %d returned %lld, expected %lld (out of order?)", i, (long long)v,
               (long long)total);
    }
    TRY(expect_call(actor, "get", 0, total));
    CHECK_OK(rmpi_actor_wait_ready(actor, GET_TIMEOUT_S));
    CHECK_OK(rmpi_actor_kill(actor, RMPI_ACTOR_KILL_NO_RESTART));
    return 0;
}

/* Handles are values: tasks on every rank call the driver's actor directly. */
static int scenario_handles(void)
{
    int          n = rmpi_size();
    rmpi_actor_t actor;
    rmpi_ref_t   refs[64];
    int64_t      sum = 0, expected = 0, v;

    CHECK_OK(create_i64("Counter", 0, NULL, &actor));
    for (int r = 0; r < n && r < 64; ++r) {
        int64_t             add  = r + 1;
        rmpi_task_arg_t     a[2] = {rmpi_arg_value(&actor, sizeof(actor)),
                                    rmpi_arg_value(&add, sizeof(add))};
        rmpi_task_options_t opts = {.field_mask    = RMPI_TASK_OPT_STRATEGY,
                                    .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                    .affinity_rank = r};

        expected += add;
        CHECK_OK(rmpi_submit("call_add", a, 2, &opts, &refs[r]));
    }
    for (int r = 0; r < n && r < 64; ++r) {
        CHECK_OK(get_i64(refs[r], &v));
        CHECK(v >= 1 && v <= expected);
        sum += v;
    }
    TRY(expect_call(actor, "get", 0, expected));
    CHECK(sum >= expected);
    CHECK_OK(rmpi_actor_kill(actor, RMPI_ACTOR_KILL_NO_RESTART));
    return 0;
}

/* An application error fails the call, not the actor. */
static int scenario_bank(void)
{
    rmpi_actor_t actor;
    int64_t      v;

    CHECK_OK(create_i64("Bank", 100, NULL, &actor));
    TRY(expect_call(actor, "deposit", 50, 150));
    CHECK_STATUS(call_i64(actor, "withdraw", 500, &v), RMPI_ERR_TASK_FAILED);
    TRY(expect_call(actor, "withdraw", 30, 120));
    TRY(expect_call(actor, "deposit", 0, 120));
    CHECK_OK(rmpi_actor_kill(actor, RMPI_ACTOR_KILL_NO_RESTART));
    return 0;
}

/* Named actors: get-or-create, lookups from tasks on other ranks, a name taken twice. */
static int scenario_named(void)
{
    rmpi_actor_options_t opts = {
        .field_mask = RMPI_ACTOR_OPT_NAME, .name = "registry", .namespace_ = "tests"};
    rmpi_actor_t actor, again, found;
    rmpi_ref_t   ref;
    int64_t      v = 0, add = 5;

    CHECK_OK(create_i64("Counter", 0, &opts, &actor));
    CHECK_STATUS(create_i64("Counter", 0, &opts, &again), RMPI_ERR_EXISTS);
    opts.field_mask |= RMPI_ACTOR_OPT_GET_IF_EXISTS;
    opts.get_if_exists = 1;
    CHECK_OK(create_i64("Counter", 0, &opts, &again));
    CHECK(memcmp(again.id, actor.id, sizeof(actor.id)) == 0);
    CHECK_OK(rmpi_actor_get("registry", "tests", &found));
    CHECK(memcmp(found.id, actor.id, sizeof(actor.id)) == 0);
    CHECK_STATUS(rmpi_actor_get("registry", NULL, &found), RMPI_ERR_NOT_FOUND);
    CHECK_STATUS(rmpi_actor_get("nobody", "tests", &found), RMPI_ERR_NOT_FOUND);

    rmpi_task_arg_t     a    = rmpi_arg_value(&add, sizeof(add));
    rmpi_task_options_t topt = {.field_mask    = RMPI_TASK_OPT_STRATEGY,
                                .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                .affinity_rank = rmpi_size() - 1};
    CHECK_OK(rmpi_submit("lookup_add", &a, 1, &topt, &ref));
    CHECK_OK(get_i64(ref, &v));
    CHECK(v == 5);
    CHECK_OK(rmpi_actor_kill(actor, RMPI_ACTOR_KILL_NO_RESTART));
    TRY(expect_call_fails(actor, "get", RMPI_ERR_ACTOR_DIED));
    /* The name is free once its actor died (the owner releases it). */
    opts.get_if_exists = 0;
    CHECK_OK(create_i64("Counter", 7, &opts, &again));
    TRY(expect_call(again, "get", 0, 7));
    CHECK_OK(rmpi_actor_kill(again, RMPI_ACTOR_KILL_NO_RESTART));
    return 0;
}

/* A detached actor outlives the task that made it; an owned one dies with it. */
static int scenario_detached(void)
{
    rmpi_task_options_t opts = {.field_mask    = RMPI_TASK_OPT_STRATEGY,
                                .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                .affinity_rank = rmpi_size() - 1};
    rmpi_actor_t        keeper, temp;
    rmpi_ref_t          ref;
    rmpi_object_t       obj;

    CHECK_OK(rmpi_submit("make_actors", NULL, 0, &opts, &ref));
    CHECK_OK(rmpi_get(&ref, 1, GET_TIMEOUT_S, &obj));
    CHECK_OK(obj.status);
    CHECK(obj.size == sizeof(temp));
    memcpy(&temp, obj.data, sizeof(temp));
    rmpi_object_release(&obj);
    CHECK_OK(rmpi_ref_free(ref));
    CHECK_OK(rmpi_actor_get("keeper", "tests", &keeper));
    TRY(expect_call(keeper, "add", 1, 101));
    TRY(expect_call_fails(temp, "get", RMPI_ERR_ACTOR_DIED));
    CHECK_STATUS(rmpi_actor_wait_ready(temp, GET_TIMEOUT_S), RMPI_ERR_ACTOR_DIED);
    CHECK_OK(rmpi_actor_kill(keeper, RMPI_ACTOR_KILL_NO_RESTART));
    return 0;
}

/* max_concurrency 5: five calls are inside the method at once. */
static int scenario_concurrent(void)
{
    rmpi_actor_options_t opts = {.field_mask      = RMPI_ACTOR_OPT_MAX_CONCURRENCY,
                                 .max_concurrency = 5};
    rmpi_actor_t         actor;
    rmpi_ref_t           refs[5];
    int64_t              v;

    CHECK_OK(create_i64("Meeting", 5, &opts, &actor));
    for (int i = 0; i < 5; ++i) {
        CHECK_OK(rmpi_actor_call(actor, "meet", NULL, 0, NULL, &refs[i]));
    }
    for (int i = 0; i < 5; ++i) {
        CHECK_OK(get_i64(refs[i], &v));
        CHECKF(v == 1, "call %d did not meet the other four", i);
    }
    CHECK_OK(rmpi_actor_kill(actor, RMPI_ACTOR_KILL_NO_RESTART));
    return 0;
}

/* Kill: calls fail with ACTOR_DIED; with restarts left, a fresh incarnation answers. */
static int scenario_kill(void)
{
    rmpi_actor_options_t opts = {.field_mask = RMPI_ACTOR_OPT_MAX_RESTARTS, .max_restarts = 1};
    rmpi_actor_t         once, twice;

    CHECK_OK(create_i64("Counter", 1, NULL, &once));
    TRY(expect_call(once, "add", 1, 2));
    CHECK_OK(rmpi_actor_kill(once, 0));
    TRY(expect_call_fails(once, "add", RMPI_ERR_ACTOR_DIED));
    TRY(expect_call_fails(once, "add", RMPI_ERR_ACTOR_DIED));

    CHECK_OK(create_i64("Counter", 40, &opts, &twice));
    TRY(expect_call(twice, "add", 2, 42));
    CHECK_OK(rmpi_actor_kill(twice, 0)); /* restarts: its constructor runs again */
    CHECK_OK(rmpi_actor_wait_ready(twice, GET_TIMEOUT_S));
    TRY(expect_call(twice, "get", 0, 40));
    CHECK_OK(rmpi_actor_kill(twice, 0)); /* no restarts left */
    TRY(expect_call_fails(twice, "get", RMPI_ERR_ACTOR_DIED));
    return 0;
}

/* Graceful exit from inside, the actor's own handle, a failing constructor. */
static int scenario_lifecycle(void)
{
    rmpi_actor_t  actor, self, broken;
    rmpi_ref_t    ref;
    rmpi_object_t obj;

    CHECK_OK(create_i64("Counter", 3, NULL, &actor));
    CHECK_OK(rmpi_actor_call(actor, "self", NULL, 0, NULL, &ref));
    CHECK_OK(rmpi_get(&ref, 1, GET_TIMEOUT_S, &obj));
    CHECK_OK(obj.status);
    CHECK(obj.size == sizeof(self));
    memcpy(&self, obj.data, sizeof(self));
    rmpi_object_release(&obj);
    CHECK_OK(rmpi_ref_free(ref));
    CHECK(memcmp(self.id, actor.id, sizeof(self.id)) == 0 && self.cls == actor.cls);
    TRY(expect_call(self, "add", 1, 4));
    TRY(expect_call(actor, "quit", 0, 1));
    TRY(expect_call_fails(actor, "get", RMPI_ERR_ACTOR_DIED));
    CHECK_STATUS(rmpi_actor_wait_ready(actor, GET_TIMEOUT_S), RMPI_ERR_ACTOR_DIED);

    CHECK_OK(rmpi_actor_create("Broken", NULL, 0, NULL, &broken));
    CHECK_STATUS(rmpi_actor_wait_ready(broken, GET_TIMEOUT_S), RMPI_ERR_ACTOR_DIED);
    TRY(expect_call_fails(broken, "get", RMPI_ERR_ACTOR_DIED));
    return 0;
}

/* Actors are placed like tasks: on each rank by affinity. */
static int scenario_placement(void)
{
    for (int r = 0; r < rmpi_size(); ++r) {
        rmpi_actor_options_t opts = {.field_mask    = RMPI_ACTOR_OPT_STRATEGY,
                                     .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                     .affinity_rank = r};
        rmpi_actor_t         actor;

        CHECK_OK(create_i64("Counter", 0, &opts, &actor));
        TRY(expect_call(actor, "where", 0, r));
        CHECK_OK(rmpi_actor_kill(actor, RMPI_ACTOR_KILL_NO_RESTART));
    }
    return 0;
}

#define ASYNC_CALLS 8
#define ASYNC_POLLS 20000

/*
 * An async actor: ASYNC_CALLS calls wait in rmpi_get at once on a rank whose
 * executor has fewer threads than that (rt_actor.sh runs this scenario with
 * RT_MAX_THREADS=3): only fibres can hold them all. A short timeout inside a
 * fibre expires; cancelling the gate releases them all.
 */
static int scenario_async(void)
{
    rmpi_actor_options_t opts  = {.field_mask    = RMPI_ACTOR_OPT_ASYNC | RMPI_ACTOR_OPT_STRATEGY,
                                  .async         = 1,
                                  .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                  .affinity_rank = rmpi_size() - 1};
    rmpi_task_options_t  topts = {.field_mask    = RMPI_TASK_OPT_STRATEGY,
                                  .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                  .affinity_rank = 0};
    rmpi_actor_t         actor;
    rmpi_ref_t           gate, refs[ASYNC_CALLS];
    int64_t              v = -1;

    CHECK_OK(rmpi_actor_create("Waiter", NULL, 0, &opts, &actor));
    CHECK_OK(rmpi_submit("gate_block", NULL, 0, &topts, &gate));
    rmpi_task_arg_t a = rmpi_arg_value(&gate, sizeof(gate)); /* the ref as bytes: not resolved */
    for (int i = 0; i < ASYNC_CALLS; ++i) {
        CHECK_OK(rmpi_actor_call(actor, "hold", &a, 1, NULL, &refs[i]));
    }
    for (int i = 0; i < ASYNC_POLLS && v != ASYNC_CALLS; ++i) {
        CHECK_OK(call_i64(actor, "count", 0, &v)); /* answers while the others wait */
    }
    CHECKF(v == ASYNC_CALLS, "%lld calls waiting at once, expected %d", (long long)v, ASYNC_CALLS);
    rmpi_ref_t    nap;
    rmpi_object_t obj;
    CHECK_OK(rmpi_actor_call(actor, "nap", &a, 1, NULL, &nap));
    CHECK_OK(get_i64(nap, &v));
    CHECKF(v == 1, "a 50 ms get in a fibre did not time out");
    CHECK_OK(rmpi_cancel(gate, 0));
    for (int i = 0; i < ASYNC_CALLS; ++i) {
        CHECK_OK(get_i64(refs[i], &v));
        CHECK(v == ASYNC_CALLS);
    }
    CHECK_STATUS(rmpi_get(&gate, 1, GET_TIMEOUT_S, &obj), RMPI_ERR_CANCELED);
    rmpi_object_release(&obj);
    CHECK_OK(rmpi_ref_free(gate));
    CHECK_OK(rmpi_actor_kill(actor, RMPI_ACTOR_KILL_NO_RESTART));
    return 0;
}

/* Actors in the bundles of a placement group live on the bundles' ranks. */
static int scenario_pg(void)
{
    rmpi_resource_t      cpu        = {"CPU", 1};
    rmpi_bundle_t        bundles[2] = {{&cpu, 1}, {&cpu, 1}};
    rmpi_pg_options_t    popts = {.field_mask = RMPI_PG_OPT_STRATEGY, .strategy = RMPI_PG_SPREAD};
    rmpi_pg_t            pg;
    rmpi_actor_options_t opts = {.field_mask = RMPI_ACTOR_OPT_PLACEMENT | RMPI_ACTOR_OPT_NUM_CPUS,
                                 .num_cpus   = 1};
    rmpi_actor_t         actors[2];
    int                  rank;

    CHECK_OK(rmpi_pg_create(bundles, 2, &popts, &pg));
    for (int b = 0; b < 2; ++b) { /* before the group is known ready: they wait for it */
        opts.pg           = pg;
        opts.bundle_index = b;
        CHECK_OK(create_i64("Counter", b, &opts, &actors[b]));
    }
    CHECK_OK(rmpi_pg_wait(pg, GET_TIMEOUT_S));
    for (int b = 0; b < 2; ++b) {
        CHECK_OK(rmpi_pg_bundle_rank(pg, (size_t)b, &rank));
        TRY(expect_call(actors[b], "where", 0, rank));
        TRY(expect_call(actors[b], "get", 0, b));
        CHECK_OK(rmpi_actor_kill(actors[b], RMPI_ACTOR_KILL_NO_RESTART));
    }
    opts.bundle_index = 5; /* no such bundle */
    CHECK_STATUS(create_i64("Counter", 0, &opts, &actors[0]), RMPI_ERR_INVALID_ARG);
    CHECK_OK(rmpi_pg_remove(pg));
    return 0;
}

/* Bad input: clear errors, nothing created, no hang. */
static int scenario_badinput(void)
{
    rmpi_actor_options_t opts = {.field_mask = RMPI_ACTOR_OPT_MAX_CONCURRENCY};
    rmpi_actor_t         actor, bogus;
    rmpi_ref_t           ref;
    uint32_t             too_far = 1u << 30;

    CHECK_STATUS(rmpi_actor_create("NoSuchClass", NULL, 0, NULL, &actor), RMPI_ERR_NOT_FOUND);
    CHECK_STATUS(rmpi_actor_create("Counter.add", NULL, 0, NULL, &actor), RMPI_ERR_NOT_FOUND);
    CHECK_STATUS(rmpi_actor_create("Counter", NULL, 0, &opts, &actor), RMPI_ERR_INVALID_ARG);
    opts.field_mask = RMPI_BIT(60);
    CHECK_STATUS(rmpi_actor_create("Counter", NULL, 0, &opts, &actor), RMPI_ERR_INVALID_ARG);
    opts = (rmpi_actor_options_t){.field_mask = RMPI_ACTOR_OPT_NUM_CPUS, .num_cpus = -1};
    CHECK_STATUS(rmpi_actor_create("Counter", NULL, 0, &opts, &actor), RMPI_ERR_INVALID_ARG);
    opts.num_cpus = 1e9;
    CHECK_STATUS(rmpi_actor_create("Counter", NULL, 0, &opts, &actor), RMPI_ERR_INFEASIBLE);
    opts = (rmpi_actor_options_t){.field_mask = RMPI_ACTOR_OPT_NAME, .name = ""};
    CHECK_STATUS(rmpi_actor_create("Counter", NULL, 0, &opts, &actor), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_submit("Counter.add", NULL, 0, NULL, &ref), RMPI_ERR_NOT_FOUND);
    CHECK_STATUS(rmpi_submit("Counter", NULL, 0, NULL, &ref), RMPI_ERR_NOT_FOUND);

    CHECK_OK(create_i64("Counter", 0, NULL, &actor));
    CHECK_STATUS(rmpi_actor_call(actor, "nosuchmethod", NULL, 0, NULL, &ref), RMPI_ERR_NOT_FOUND);
    CHECK_STATUS(rmpi_actor_call(actor, NULL, NULL, 0, NULL, &ref), RMPI_ERR_INVALID_ARG);
    bogus = actor;
    memcpy(bogus.id, &too_far, sizeof(too_far)); /* an owner rank outside the job */
    CHECK_STATUS(rmpi_actor_call(bogus, "add", NULL, 0, NULL, &ref), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_actor_kill(bogus, 0), RMPI_ERR_INVALID_ARG);
    bogus = actor;
    bogus.job ^= 0x5a5a; /* a handle of another (dead) job */
    CHECK_STATUS(rmpi_actor_call(bogus, "add", NULL, 0, NULL, &ref), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_actor_wait_ready(bogus, 1.0), RMPI_ERR_INVALID_ARG);
    memset(&bogus, 0, sizeof(bogus)); /* never set */
    CHECK_STATUS(rmpi_actor_kill(bogus, 0), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_actor_kill(actor, RMPI_BIT(9)), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_actor_set_state(NULL, NULL), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_actor_exit(NULL), RMPI_ERR_INVALID_ARG);
    CHECK(rmpi_actor_state(NULL) == NULL);
    CHECK_STATUS(rmpi_actor_get(NULL, NULL, &bogus), RMPI_ERR_INVALID_ARG);
    CHECK_STATUS(rmpi_register_actor_checkpoint("Counter", counter_save, counter_restore, 1),
                 RMPI_ERR_NOT_READY);     /* after rmpi_init */
    TRY(expect_call(actor, "add", 2, 2)); /* still fine after all that */
    CHECK_OK(rmpi_actor_kill(actor, RMPI_ACTOR_KILL_NO_RESTART));
    CHECK_OK(rmpi_actor_kill(actor, RMPI_ACTOR_KILL_NO_RESTART)); /* again: no harm */
    return 0;
}

/* The rank hosting actors dies: one restarts elsewhere, one without restarts is gone. */
static int scenario_rankdeath(void)
{
    int                  victim = rmpi_size() - 1;
    rmpi_actor_options_t opts   = {.field_mask = RMPI_ACTOR_OPT_STRATEGY |
                                                 RMPI_ACTOR_OPT_MAX_RESTARTS |
                                                 RMPI_ACTOR_OPT_MAX_TASK_RETRIES,
                                   .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                   .affinity_rank = victim,
                                   .soft          = 1,
                                   .max_restarts  = 1};
    rmpi_actor_t         phoenix, mortal, saver;
    rmpi_ref_t           ref;
    int64_t              v = -1;

    CHECK_OK(create_i64("Counter", 1000, &opts, &phoenix));
    CHECK_OK(create_i64("Saver", 50, &opts, &saver));
    opts.max_restarts = 0;
    CHECK_OK(create_i64("Counter", 5, &opts, &mortal));
    TRY(expect_call(saver, "where", 0, victim));
    TRY(expect_call(saver, "add", 7, 57)); /* checkpointed: 57 */
    TRY(expect_call(phoenix, "where", 0, victim));
    TRY(expect_call(mortal, "where", 0, victim));
    TRY(expect_call(phoenix, "add", 1, 1001));

    CHECK_OK(rmpi_actor_call(mortal, "die", NULL, 0, NULL, &ref));
    CHECK_STATUS(get_i64(ref, &v), RMPI_ERR_ACTOR_DIED);
    CHECK_STATUS(rmpi_actor_wait_ready(mortal, GET_TIMEOUT_S), RMPI_ERR_ACTOR_DIED);
    CHECK_OK(rmpi_actor_wait_ready(phoenix, GET_TIMEOUT_S));
    TRY(expect_call(phoenix, "get", 0, 1000)); /* constructed again from its arguments */
    CHECK_OK(call_i64(phoenix, "where", 0, &v));
    CHECKF(v != victim && v >= 0 && v < rmpi_size(), "restarted on rank %lld", (long long)v);
    CHECK_OK(rmpi_actor_kill(phoenix, RMPI_ACTOR_KILL_NO_RESTART));
    /* The checkpointed one restarted too, restored to its last saved state. */
    CHECK_OK(rmpi_actor_wait_ready(saver, GET_TIMEOUT_S));
    TRY(expect_call(saver, "add", 1, 58));
    CHECK_OK(call_i64(saver, "where", 0, &v));
    CHECK(v != victim);
    CHECK_OK(rmpi_actor_kill(saver, RMPI_ACTOR_KILL_NO_RESTART));
    return 0;
}

/*
 * `gpudeath` (rt_actor_kill.sh, on the CUDA driver double, one device per rank): a
 * whole-GPU actor on the last rank is restarted on another rank when that rank dies,
 * and is given that rank's device.
 */
static int scenario_gpudeath(void)
{
    int                  victim = rmpi_size() - 1;
    rmpi_actor_options_t opts   = {.field_mask = RMPI_ACTOR_OPT_STRATEGY |
                                                 RMPI_ACTOR_OPT_MAX_RESTARTS |
                                                 RMPI_ACTOR_OPT_NUM_GPUS,
                                   .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                   .affinity_rank = victim,
                                   .soft          = 1,
                                   .max_restarts  = 1,
                                   .num_gpus      = 1};
    rmpi_actor_t         gpu, killer;
    rmpi_ref_t           ref;
    int64_t              v = -1;

    CHECK_OK(create_i64("Counter", 10, &opts, &gpu));
    TRY(expect_call(gpu, "where", 0, victim));
    TRY(expect_call(gpu, "gpu", 0, 0));
    opts.field_mask &= ~(uint64_t)RMPI_ACTOR_OPT_NUM_GPUS;
    opts.max_restarts = 0;
    CHECK_OK(create_i64("Counter", 0, &opts, &killer));
    TRY(expect_call(killer, "where", 0, victim));
    CHECK_OK(rmpi_actor_call(killer, "die", NULL, 0, NULL, &ref));
    CHECK_STATUS(get_i64(ref, &v), RMPI_ERR_ACTOR_DIED);
    CHECK_OK(rmpi_actor_wait_ready(gpu, GET_TIMEOUT_S));
    CHECK_OK(call_i64(gpu, "where", 0, &v));
    CHECKF(v != victim && v >= 0 && v < rmpi_size(), "restarted on rank %lld", (long long)v);
    TRY(expect_call(gpu, "gpu", 0, 0)); /* the new rank's device, held again */
    TRY(expect_call(gpu, "get", 0, 10));
    CHECK_OK(rmpi_actor_kill(gpu, RMPI_ACTOR_KILL_NO_RESTART));
    return 0;
}

#define POOL_ACTORS 3
#define POOL_INPUTS 40

static int get_obj_i64(rmpi_object_t *obj, int64_t *v_p)
{
    CHECK_OK(obj->status);
    CHECK(obj->size == sizeof(*v_p));
    memcpy(v_p, obj->data, sizeof(*v_p));
    rmpi_object_release(obj);
    return 0;
}

/* An actor pool: ordered and unordered maps, submit/get_next, work on every actor. */
static int scenario_pool(void)
{
    rmpi_actor_t      actors[POOL_ACTORS];
    rmpi_actor_pool_h pool;
    rmpi_task_arg_t   inputs[POOL_INPUTS];
    int64_t           values[POOL_INPUTS], v, total = 0;
    rmpi_object_t     objs[POOL_INPUTS];
    size_t            indices[POOL_INPUTS];
    uint8_t           seen[POOL_INPUTS] = {0};

    for (int i = 0; i < POOL_ACTORS; ++i) {
        CHECK_OK(create_i64("Counter", 0, NULL, &actors[i]));
    }
    CHECK_STATUS(rmpi_actor_pool_create(actors, 0, &pool), RMPI_ERR_INVALID_ARG);
    CHECK_OK(rmpi_actor_pool_create(actors, POOL_ACTORS, &pool));
    CHECK(!rmpi_actor_pool_has_next(pool));
    CHECK_STATUS(rmpi_actor_pool_get_next(pool, 1.0, &objs[0]), RMPI_ERR_NOT_FOUND);
    for (int i = 0; i < POOL_INPUTS; ++i) {
        values[i] = 0; /* add(0) returns the actor's total: each call's own actor */
        inputs[i] = rmpi_arg_value(&values[i], sizeof(values[i]));
    }
    CHECK_OK(rmpi_actor_pool_map(pool, "where", inputs, POOL_INPUTS, 0, GET_TIMEOUT_S, objs, NULL));
    for (int i = 0; i < POOL_INPUTS; ++i) {
        TRY(get_obj_i64(&objs[i], &v));
        CHECK(v >= 0 && v < rmpi_size());
    }
    /* Ordered: submission i adds i+1 to some actor; results come back in submission order. */
    for (int i = 0; i < POOL_INPUTS; ++i) {
        int64_t         one = 1;
        rmpi_task_arg_t a   = rmpi_arg_value(&one, sizeof(one));

        CHECK_OK(rmpi_actor_pool_submit(pool, "add", &a, 1));
    }
    for (int i = 0; i < POOL_INPUTS; ++i) {
        CHECK(rmpi_actor_pool_has_next(pool));
        CHECK_OK(rmpi_actor_pool_get_next(pool, GET_TIMEOUT_S, &objs[0]));
        TRY(get_obj_i64(&objs[0], &v));
        CHECK(v >= 1 && v <= POOL_INPUTS);
    }
    CHECK(!rmpi_actor_pool_has_next(pool));
    /* Every actor took part: their totals add up to the calls made. */
    for (int i = 0; i < POOL_ACTORS; ++i) {
        CHECK_OK(call_i64(actors[i], "get", 0, &v));
        CHECKF(v > 0, "actor %d of the pool got no work", i);
        total += v;
    }
    CHECK(total == POOL_INPUTS);
    /* Unordered: each input comes back once, with its index. */
    for (int i = 0; i < POOL_INPUTS; ++i) {
        values[i] = 1000 + i;
    }
    CHECK_OK(
        rmpi_actor_pool_map(pool, "add", inputs, POOL_INPUTS, 1, GET_TIMEOUT_S, objs, indices));
    for (int i = 0; i < POOL_INPUTS; ++i) {
        CHECK(indices[i] < POOL_INPUTS && !seen[indices[i]]);
        seen[indices[i]] = 1;
        TRY(get_obj_i64(&objs[i], &v));
        CHECK(v >= 1000 + (int64_t)indices[i]);
    }
    CHECK_STATUS(rmpi_actor_pool_submit(pool, NULL, NULL, 0), RMPI_ERR_INVALID_ARG);
    rmpi_actor_pool_destroy(pool);
    for (int i = 0; i < POOL_ACTORS; ++i) {
        CHECK_OK(rmpi_actor_kill(actors[i], RMPI_ACTOR_KILL_NO_RESTART));
    }
    return 0;
}

/* After everything above: no actor left alive anywhere we own. */
static int scenario_noleak(void)
{
    rmpi_runtime_stats_t stats;

    CHECK_OK(rmpi_runtime_stats(&stats));
    CHECKF(stats.actors_owned == 0, "%llu actors still alive",
           (unsigned long long)stats.actors_owned);
    return 0;
}

typedef it_scenario_t scenario_t;

static const scenario_t scenarios[] = {
    {"counter", scenario_counter},
    {"handles", scenario_handles},
    {"bank", scenario_bank},
    {"named", scenario_named},
    {"detached", scenario_detached},
    {"concurrent", scenario_concurrent},
    {"kill", scenario_kill},
    {"lifecycle", scenario_lifecycle},
    {"placement", scenario_placement},
    {"badinput", scenario_badinput},
    {"rankdeath", scenario_rankdeath},
    {"gpudeath", scenario_gpudeath},
    {"pool", scenario_pool},
    {"pg", scenario_pg},
    {"async", scenario_async},
    {"noleak", scenario_noleak},
};

static const scenario_t *find_scenario(const char *name)
{
    return it_find_scenario(scenarios, sizeof(scenarios) / sizeof(scenarios[0]), name);
}

int main(int argc, char **argv)
{
    int           failures = 0;
    rmpi_status_t st;

    for (int i = 1; i < argc; i++) {
        if (find_scenario(argv[i]) == NULL) {
            fprintf(stderr, "rt_actor: unknown scenario '%s'\n", argv[i]);
            return 2;
        }
    }
    st = rmpi_init(&argc, &argv, NULL);
    if (st != RMPI_OK) {
        fprintf(stderr, "rt_actor: rmpi_init: %s\n", rmpi_status_str(st));
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const scenario_t *sc = find_scenario(argv[i]);
        struct timespec   t0, t1;

        it_scenario = sc->name;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = sc->run();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("rt_actor %s: %s (%.2f s, %d ranks)\n", sc->name, rc == 0 ? "ok" : "FAILED",
               (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9,
               rmpi_size());
        fflush(stdout);
        failures += rc != 0;
    }
    it_scenario = "shutdown";
    st          = rmpi_shutdown();
    if (st != RMPI_OK) {
        printf("rt_actor: rmpi_shutdown: %s\n", rmpi_status_str(st));
        failures++;
    }
    printf("rt_actor: %d failure(s)\n", failures);
    return failures == 0 ? 0 : 1;
}
