/*
 * runtime/fiber.c - fibres on ucontext and the loop of an async actor (see
 * fiber.h for the contract).
 *
 * A fibre is made for each item and freed when the item's function returns;
 * stacks are kept on a free list of the loop for the next fibre. The loop
 * thread's own context is saved in the loop while a fibre runs, so a fibre
 * always switches back to the loop, never to another fibre.
 */
#include "runtime/fiber.h"

#include "runtime/rt_int.h"

#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define RT_ASAN 1
#else
#define RT_ASAN 0
#endif

#define RT_FIBER_STACK ((size_t)256 * 1024)
#define RT_FIBER_STACKS_KEPT 16

struct rt_fiber {
    base_list_t link; /* on loop->ready or loop->waiting while it waits */
    ucontext_t  ctx;
    rt_loop_t  *loop;
    void       *item;
    void       *map; /* guard page + stack */
    size_t      map_len;
    rt_run_t   *current; /* the task this fibre runs, for rt_run_current() */
    void       *asan_fake_stack;
    double      deadline;
    bool        done, waiting, woken;
};

typedef struct rt_stack {
    struct rt_stack *next;
} rt_stack_t;

struct rt_loop {
    unsigned         max_fibres, alive;
    bool             running;
    base_list_t      items, ready, waiting;
    base_waker_t    *waker; /* the running thread sleeps on it, with rt.lock dropped */
    rt_loop_run_fn_t run;
    ucontext_t       main; /* the loop thread while a fibre runs */
    const void      *main_bottom;
    size_t           main_size;
    rt_stack_t      *stacks; /* kept for the next fibres */
    unsigned         num_stacks;
};

static _Thread_local rt_fiber_t *rt_fiber_current;

/* --- sanitizer announcements ---------------------------------------------------------- */

static void rt_asan_start(void **fake, const void *bottom, size_t size)
{
#if RT_ASAN
    __sanitizer_start_switch_fiber(fake, bottom, size);
#else
    (void)fake, (void)bottom, (void)size;
#endif
}

static void rt_asan_finish(void *fake, const void **bottom, size_t *size)
{
#if RT_ASAN
    __sanitizer_finish_switch_fiber(fake, bottom, size);
#else
    (void)fake, (void)bottom, (void)size;
#endif
}

/* --- stacks and fibres ------------------------------------------------------------------ */

static void *rt_stack_map(rt_stack_t *stack)
{
    return (char *)stack - sysconf(_SC_PAGESIZE);
}

static void *rt_stack_get(rt_loop_t *loop)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void  *map;

    if (loop->stacks != NULL) {
        rt_stack_t *stack = loop->stacks;

        loop->stacks = stack->next;
        --loop->num_stacks;
        return rt_stack_map(stack);
    }
    map = mmap(NULL, RT_FIBER_STACK + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
               0);
    if (map == MAP_FAILED) {
        return NULL;
    }
    if (mprotect(map, page, PROT_NONE) != 0) { /* a guard page: overflow faults, not corrupts */
        munmap(map, RT_FIBER_STACK + page);
        return NULL;
    }
    return map;
}

static void rt_stack_put(rt_loop_t *loop, void *map)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    if (loop->num_stacks < RT_FIBER_STACKS_KEPT) {
        rt_stack_t *stack = (rt_stack_t *)((char *)map + page); /* the guard page stays */

        stack->next  = loop->stacks;
        loop->stacks = stack;
        ++loop->num_stacks;
        return;
    }
    munmap(map, RT_FIBER_STACK + page);
}

static void rt_fiber_switch_back(rt_fiber_t *fiber)
{
    rt_loop_t *loop = fiber->loop;

    rt_asan_start(fiber->done ? NULL : &fiber->asan_fake_stack, loop->main_bottom, loop->main_size);
    swapcontext(&fiber->ctx, &loop->main);
    rt_asan_finish(fiber->asan_fake_stack, &loop->main_bottom, &loop->main_size);
}

static void rt_fiber_entry(void)
{
    rt_fiber_t *fiber = rt_fiber_current;

    rt_asan_finish(NULL, &fiber->loop->main_bottom, &fiber->loop->main_size);
    fiber->loop->run(fiber->item);
    fiber->done = true;
    rt_fiber_switch_back(fiber); /* never resumed again */
}

static rt_fiber_t *rt_fiber_new(rt_loop_t *loop, void *item)
{
    rt_fiber_t *fiber = calloc(1, sizeof(*fiber));
    void       *map   = fiber != NULL ? rt_stack_get(loop) : NULL;
    size_t      page  = (size_t)sysconf(_SC_PAGESIZE);

    if (map == NULL || getcontext(&fiber->ctx) != 0) {
        if (map != NULL) {
            rt_stack_put(loop, map);
        }
        free(fiber);
        return NULL;
    }
    fiber->map                  = map;
    fiber->map_len              = RT_FIBER_STACK + page;
    fiber->loop                 = loop;
    fiber->item                 = item;
    fiber->ctx.uc_stack.ss_sp   = (char *)fiber->map + page;
    fiber->ctx.uc_stack.ss_size = RT_FIBER_STACK;
    fiber->ctx.uc_link          = NULL;
    base_list_init(&fiber->link);
    makecontext(&fiber->ctx, rt_fiber_entry, 0);
    return fiber;
}

/* Run @a fiber until it waits or ends (no lock held; on the loop thread). */
static void rt_fiber_resume(rt_loop_t *loop, rt_fiber_t *fiber)
{
    void     *fake = NULL;
    rt_run_t *outer;

    outer            = rt_run_current_set(fiber->current);
    rt_fiber_current = fiber;
    rt_asan_start(&fake, fiber->ctx.uc_stack.ss_sp, fiber->ctx.uc_stack.ss_size);
    swapcontext(&loop->main, &fiber->ctx);
    rt_asan_finish(fake, NULL, NULL);
    rt_fiber_current = NULL;
    fiber->current   = rt_run_current_set(outer);
}

/* --- the loop -------------------------------------------------------------------------------- */

rt_loop_t *rt_loop_new(unsigned max_fibres, rt_loop_run_fn_t run)
{
    rt_loop_t *loop = calloc(1, sizeof(*loop));

    if (loop == NULL) {
        return NULL;
    }
    loop->max_fibres = max_fibres > 0 ? max_fibres : 1;
    loop->run        = run;
    loop->waker      = base_waker_new();
    if (loop->waker == NULL) {
        free(loop);
        return NULL;
    }
    base_list_init(&loop->items);
    base_list_init(&loop->ready);
    base_list_init(&loop->waiting);
    return loop;
}

void rt_loop_free(rt_loop_t *loop)
{
    if (loop == NULL) {
        return;
    }
    while (loop->stacks != NULL) {
        rt_stack_t *stack = loop->stacks;

        loop->stacks = stack->next;
        munmap(rt_stack_map(stack), RT_FIBER_STACK + (size_t)sysconf(_SC_PAGESIZE));
    }
    base_waker_release(loop->waker);
    free(loop);
}

bool rt_loop_add_locked(rt_loop_t *loop, base_list_t *item_link)
{
    base_list_add_tail(&loop->items, item_link);
    if (loop->running) {
        base_waker_wake_later(loop->waker);
        return false;
    }
    loop->running = true;
    return true;
}

unsigned rt_loop_take_items_locked(rt_loop_t *loop, base_list_t *out)
{
    unsigned count = 0;

    while (!base_list_is_empty(&loop->items)) {
        base_list_t *link = loop->items.next;

        base_list_del(link);
        base_list_add_tail(out, link);
        ++count;
    }
    return count;
}

bool rt_loop_idle_locked(const rt_loop_t *loop)
{
    return !loop->running && loop->alive == 0 && base_list_is_empty(&loop->items);
}

/* Fibres whose deadline passed become ready; returns the earliest deadline left (-1: none). */
static double rt_loop_expire_locked(rt_loop_t *loop)
{
    double       now = rt_now(), earliest = -1;
    base_list_t *it, *next;

    for (it = loop->waiting.next; it != &loop->waiting; it = next) {
        rt_fiber_t *fiber = base_container_of(it, rt_fiber_t, link);

        next = it->next;
        if (fiber->deadline >= 0 && fiber->deadline <= now) {
            fiber->waiting = false;
            base_list_del(&fiber->link);
            base_list_add_tail(&loop->ready, &fiber->link);
        } else if (fiber->deadline >= 0 && (earliest < 0 || fiber->deadline < earliest)) {
            earliest = fiber->deadline;
        }
    }
    return earliest;
}

/* The next fibre to run, new or ready; NULL when the loop should wait or end. */
static rt_fiber_t *rt_loop_next_locked(rt_loop_t *loop, void *(*item_of)(base_list_t *link),
                                       bool      *no_memory)
{
    *no_memory = false;
    if (!base_list_is_empty(&loop->ready)) {
        rt_fiber_t *fiber = base_container_of(loop->ready.next, rt_fiber_t, link);

        base_list_del(&fiber->link);
        base_list_init(&fiber->link);
        return fiber;
    }
    if (loop->alive < loop->max_fibres && !base_list_is_empty(&loop->items)) {
        base_list_t *link  = loop->items.next;
        rt_fiber_t  *fiber = rt_fiber_new(loop, item_of(link));

        if (fiber == NULL) {
            *no_memory = true;
            return NULL;
        }
        base_list_del(link);
        ++loop->alive;
        return fiber;
    }
    return NULL;
}

void rt_loop_run(rt_loop_t *loop, void *(*item_of)(base_list_t *link))
{
    pthread_mutex_lock(&rt.lock);
    for (;;) {
        bool        no_memory;
        rt_fiber_t *fiber = rt_loop_next_locked(loop, item_of, &no_memory);

        if (fiber != NULL) {
            pthread_mutex_unlock(&rt.lock);
            rt_fiber_resume(loop, fiber);
            pthread_mutex_lock(&rt.lock);
            if (fiber->done) {
                rt_stack_put(loop, fiber->map);
                free(fiber);
                --loop->alive;
            }
            continue;
        }
        if (loop->alive == 0 && (base_list_is_empty(&loop->items) || no_memory)) {
            break; /* nothing left (or no memory for a stack: a later call retries) */
        }
        double deadline = rt_loop_expire_locked(loop);

        if (base_list_is_empty(&loop->ready)) {
            (void)rt_waker_wait_locked(loop->waker, deadline);
            (void)rt_loop_expire_locked(loop);
        }
    }
    loop->running = false;
    pthread_mutex_unlock(&rt.lock);
}

/* --- waiting in a fibre ------------------------------------------------------------------------
 */

rt_fiber_t *rt_fiber_self(void)
{
    return rt_fiber_current;
}

bool rt_fiber_wait_locked(double deadline)
{
    rt_fiber_t *fiber = rt_fiber_current;
    bool        woken;

    if (fiber->woken) {
        fiber->woken = false;
        return true;
    }
    fiber->waiting  = true;
    fiber->deadline = deadline;
    base_list_add_tail(&fiber->loop->waiting, &fiber->link);
    pthread_mutex_unlock(&rt.lock); /* owned by the OS thread that every fibre shares */
    rt_fiber_switch_back(fiber);
    pthread_mutex_lock(&rt.lock);
    woken        = fiber->woken;
    fiber->woken = false;
    return woken;
}

void rt_fiber_wake_locked(rt_fiber_t *fiber)
{
    fiber->woken = true;
    if (!fiber->waiting) {
        return;
    }
    fiber->waiting = false;
    base_list_del(&fiber->link);
    base_list_add_tail(&fiber->loop->ready, &fiber->link);
    base_waker_wake_later(fiber->loop->waker);
}
