/*
 * runtime/fiber.h - fibres (user-level threads on ucontext) and the loop that
 * runs them: how an async actor runs many calls on one executor thread, each
 * call suspending in rmpi_get/rmpi_wait instead of holding a thread.
 *
 * A loop belongs to one actor host. Work arrives as items (a call to run in a
 * fibre of its own); the loop thread resumes fibres that are ready, starts
 * new ones while fewer than max_fibres are alive, and sleeps on its waker
 * (base/waker.h, rt.lock dropped) until a fibre is woken, an item arrives, or
 * the earliest fibre deadline passes. A fibre that waits calls rt_fiber_wait_locked(),
 * which switches back to the loop; rt_fiber_wake_locked() makes it ready.
 *
 * Locking: every loop field is guarded by rt.lock; a fibre never switches
 * while holding it (the lock belongs to the OS thread, which every fibre of
 * the loop shares). Stacks are mmap'd with a guard page below them.
 * Under AddressSanitizer the switches are announced to it.
 */
#ifndef RUNTIME_FIBER_H_
#define RUNTIME_FIBER_H_

#include "base/list.h"

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct rt_fiber rt_fiber_t;
typedef struct rt_loop  rt_loop_t;

/** Runs @a item in a fibre (no lock held); the item is the caller's again after. */
typedef void (*rt_loop_run_fn_t)(void *item);

/** A loop running up to @a max_fibres items at once; NULL without memory. */
rt_loop_t *rt_loop_new(unsigned max_fibres, rt_loop_run_fn_t run);
/** Free a loop that has no item and no fibre left (rt_loop_idle). */
void rt_loop_free(rt_loop_t *loop);
/** Queue @a item (rt.lock held); true if the caller must start the loop thread. */
bool rt_loop_add_locked(rt_loop_t *loop, base_list_t *item_link);
/** Move the items not started yet to @a out (rt.lock held); returns how many. */
unsigned rt_loop_take_items_locked(rt_loop_t *loop, base_list_t *out);
/** No item queued and no fibre alive (rt.lock held). */
bool rt_loop_idle_locked(const rt_loop_t *loop);
/**
 * The loop thread's body: runs until no item and no fibre is left, then
 * returns (rt.lock not held on entry or return). @a item_of maps a queued
 * link back to the item given to the run function.
 */
void rt_loop_run(rt_loop_t *loop, void *(*item_of)(base_list_t *link));

/** The fibre running on this thread, or NULL. */
rt_fiber_t *rt_fiber_self(void);
/**
 * In a fibre, rt.lock held: switch back to the loop until woken or until
 * @a deadline (rt_now() seconds; < 0: none). Returns with rt.lock held;
 * true if woken, false on the deadline. Wake-ups before the switch count.
 */
bool rt_fiber_wait_locked(double deadline);
/** Make @a fiber ready (rt.lock held); a no-op unless it waits. */
void rt_fiber_wake_locked(rt_fiber_t *fiber);

#endif /* RUNTIME_FIBER_H_ */
