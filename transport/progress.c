/*
 * transport/progress.c - the progress thread: it owns the UCX worker and
 * runs  progress -> drain submissions -> flush batches -> arm -> poll.
 *
 * xport_fini() stops the thread first and then runs the shutdown protocol
 * with xport_progress_until() on its own thread.
 *
 * Sleeping without losing a wake-up: before arming, the thread publishes
 * `sleeping` and then looks at the queue again; a submitter pushes first and
 * then writes the eventfd only if it sees `sleeping` (both sides use
 * sequentially consistent atomics, so one of them sees the other).
 */
#include "transport/xport_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/waker.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* The context whose progress thread this is (NULL on other threads). */
static __thread xport_ctx_h xport_progress_ctx;

bool xport_on_progress_thread(xport_ctx_h ctx)
{
    return xport_progress_ctx == ctx;
}

/* While UCX requests are in flight, poll with this timeout (ms) as well. */
#define XPORT_INFLIGHT_POLL_MS 1

static void xport_dispatch(xport_ctx_h ctx, xport_op_t *op)
{
    switch (op->type) {
    case XPORT_OP_AM:
        ctx->ops->am_send(ctx, op);
        break;
    case XPORT_OP_GET:
        ctx->ops->get(ctx, op);
        break;
    case XPORT_OP_PUT:
        ctx->ops->put(ctx, op);
        break;
    case XPORT_OP_PULL:
        ctx->ops->pull(ctx, op);
        break;
    case XPORT_OP_REGISTER:
        ctx->handlers[op->am_id] = (xport_handler_t){op->handler, op->handler_arg};
        xport_op_release(ctx, op);
        break;
    }
}

static unsigned xport_drain(xport_ctx_h ctx)
{
    base_mpsc_node_t *node;
    unsigned          count = 0;

    while ((node = base_mpsc_pop(&ctx->queue)) != NULL) {
        xport_dispatch(ctx, base_container_of(node, xport_op_t, qnode));
        ++count;
    }
    if (count > 0) { /* one store per drain: submitters read it for back-pressure */
        atomic_store_explicit(&ctx->popped,
                              atomic_load_explicit(&ctx->popped, memory_order_relaxed) + count,
                              memory_order_relaxed);
    }
    return count;
}

/* While busy the thread does not poll; look at the watched pidfds now and then. */
#define XPORT_WATCH_PERIOD_NS 10000000ull

static void xport_watch_poll(xport_ctx_h ctx)
{
    uint64_t now = base_time_ns();

    if (ctx->num_watch == 0 || now - ctx->watch_last_ns < XPORT_WATCH_PERIOD_NS) {
        return;
    }
    ctx->watch_last_ns = now;
    if (poll(ctx->watch + 2, (nfds_t)ctx->num_watch, 0) > 0) {
        xport_watch_check(ctx);
    }
}

/*
 * Reading the clock costs as much as an empty UCX progress call, so the busy
 * loop looks at it (for the watch period and the end of the spin) only once
 * every XPORT_CLOCK_PASSES passes.
 */
#define XPORT_CLOCK_PASSES 64

/* One pass without sleeping; returns how much work it found. */
static unsigned xport_pass(xport_ctx_h ctx)
{
    unsigned work = ctx->ops->progress(ctx);

    if (++ctx->passes % XPORT_CLOCK_PASSES == 0) {
        xport_watch_poll(ctx);
    }
    work += xport_drain(ctx);
    work += ctx->ops->flush_batches(ctx);
    return work;
}

static void xport_clear_wake(xport_ctx_h ctx)
{
    uint64_t value;

    if (read(ctx->wake_fd, &value, sizeof(value)) < 0 && errno != EAGAIN) {
        base_log_once(BASE_LOG_WARN, "read of the wake-up eventfd failed: %m");
    }
}

/* Sleep until UCX or a submitter has something (or @a timeout_ms passes). */
static void xport_sleep(xport_ctx_h ctx, int timeout_ms)
{
    struct pollfd *fds = ctx->watch; /* [ucx efd, wake fd, pidfds...] */

    atomic_store(&ctx->sleeping, 1);
    atomic_thread_fence(memory_order_seq_cst); /* the store before the queue check (Dekker) */
    if (!base_mpsc_is_empty(&ctx->queue) || ctx->ops->arm(ctx) != RMPI_OK) {
        atomic_store(&ctx->sleeping, 0);
        return;
    }
    if (ctx->outstanding > 0 && (timeout_ms < 0 || timeout_ms > XPORT_INFLIGHT_POLL_MS)) {
        timeout_ms = XPORT_INFLIGHT_POLL_MS;
    }
    if (poll(fds, 2 + (nfds_t)ctx->num_watch, timeout_ms) < 0 && errno != EINTR) {
        base_log_once(BASE_LOG_WARN, "poll in the progress thread failed: %m");
    }
    atomic_store(&ctx->sleeping, 0);
    xport_stat_inc(&ctx->stats.wakeups);
    if (fds[1].revents & POLLIN) {
        xport_clear_wake(ctx);
    }
    if (ctx->num_watch > 0) {
        xport_watch_check(ctx);
    }
}

void xport_progress_once(xport_ctx_h ctx)
{
    xport_pass(ctx);
}

bool xport_progress_until(xport_ctx_h ctx, const bool *done, double timeout)
{
    double deadline = base_time_sec() + timeout;

    while (!*done) {
        double left = deadline - base_time_sec();

        if (left <= 0) {
            return false;
        }
        if (xport_pass(ctx) == 0) {
            xport_sleep(ctx, left > 0.1 ? 100 : (int)(left * 1000) + 1);
        }
    }
    return true;
}

static void *xport_progress_main(void *arg)
{
    xport_ctx_h ctx = arg;

    uint64_t spin_ns    = (uint64_t)(ctx->cfg.poll_spin * 1e9);
    uint64_t idle_since = 0;
    unsigned idle       = 0; /* passes without work in a row */

    xport_progress_ctx = ctx;
    while (!atomic_load_explicit(&ctx->stop, memory_order_relaxed)) {
        if (xport_pass(ctx) != 0) {
            idle = 0;
        } else if ((base_waker_runnable() > 0 && sched_yield() != 0) || spin_ns == 0 ||
                   ++idle % XPORT_CLOCK_PASSES == 0) {
            /* Idle for longer than the spin: block (XPORT_POLL_SPIN bounds the spin). */
            uint64_t now = base_time_ns();

            if (idle == XPORT_CLOCK_PASSES) {
                idle_since = now;
            } else if ((spin_ns == 0 || now - idle_since >= spin_ns) && !atomic_load(&ctx->stop)) {
                xport_sleep(ctx, -1);
                idle = 0;
            }
        }
    }
    return NULL;
}

void xport_progress_wake(xport_ctx_h ctx)
{
    uint64_t one = 1;

    /*
     * The fence orders the caller's push before the load (Dekker with
     * xport_sleep); a busy progress thread then costs a load, not a write to
     * a line it uses.
     */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&ctx->sleeping, memory_order_relaxed) == 0) {
        return;
    }
    if (atomic_exchange(&ctx->sleeping, 0) && write(ctx->wake_fd, &one, sizeof(one)) < 0 &&
        errno != EAGAIN) {
        base_log_once(BASE_LOG_WARN, "write of the wake-up eventfd failed: %m");
    }
}

rmpi_status_t xport_progress_start(xport_ctx_h ctx)
{
    int rc;

    ctx->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ctx->wake_fd < 0) {
        base_error("eventfd failed: %m");
        return RMPI_ERR_IO;
    }
    ctx->watch = calloc(2, sizeof(*ctx->watch));
    if (ctx->watch == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    ctx->watch[0] = (struct pollfd){.fd = ctx->ops->event_fd(ctx), .events = POLLIN};
    ctx->watch[1] = (struct pollfd){.fd = ctx->wake_fd, .events = POLLIN};
    rc            = pthread_create(&ctx->thread, NULL, xport_progress_main, ctx);
    if (rc != 0) {
        base_error("cannot start the progress thread: %s", strerror(rc));
        close(ctx->wake_fd);
        ctx->wake_fd = -1;
        return RMPI_ERR_NO_RESOURCE;
    }
    ctx->thread_started = true;
    return RMPI_OK;
}

void xport_progress_stop(xport_ctx_h ctx)
{
    uint64_t one = 1;

    if (!ctx->thread_started) {
        return;
    }
    atomic_store(&ctx->stop, true);
    if (write(ctx->wake_fd, &one, sizeof(one)) < 0) {
        base_warn("write of the wake-up eventfd failed: %m");
    }
    pthread_join(ctx->thread, NULL);
    ctx->thread_started = false;
}
