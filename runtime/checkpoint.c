/*
 * runtime/checkpoint.c - wall-time checkpoints: the program's hooks, run on
 * the checkpoint signal, and their restore side when a requeued job starts.
 *
 * Slurm tells a job its wall time is nearly over with a signal chosen in the
 * job script (`--signal=USR1@120`); a requeued job sees SLURM_RESTART_COUNT.
 * The signal handler only writes to an eventfd (async-signal-safe); a
 * watcher thread, blocked in read(2) on it (no polling), runs the hooks on
 * this rank while its tasks go on, unlinks the rank's arena and exits the
 * process with RMPI_EXIT_CHECKPOINTED. Every rank gets the signal and acts
 * on its own: a hook saves what its rank holds.
 *
 * Thread safety: registration takes a mutex; start/stop are called by
 * rmpi_init and the teardown only.
 */
#include "runtime/rt_int.h"

#include "base/log.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define RT_MAX_CHECKPOINT_HOOKS 32
#define RT_CHECKPOINT_SIGNAL SIGUSR1

typedef struct rt_ckpt_hook {
    rmpi_checkpoint_fn_t checkpoint, restore;
    void                *arg;
} rt_ckpt_hook_t;

static pthread_mutex_t  rt_ckpt_lock = PTHREAD_MUTEX_INITIALIZER;
static rt_ckpt_hook_t   rt_ckpt_hooks[RT_MAX_CHECKPOINT_HOOKS];
static size_t           rt_ckpt_count;
static unsigned         rt_restarts;
static int              rt_ckpt_efd = -1;
static pthread_t        rt_ckpt_thread;
static bool             rt_ckpt_watching, rt_ckpt_taken;
static struct sigaction rt_ckpt_saved;

/* The watcher reads this value as "stop", anything else as the signal. */
#define RT_CKPT_STOP UINT64_C(0xfffffffffffffff0)

rmpi_status_t rmpi_register_checkpoint(rmpi_checkpoint_fn_t checkpoint,
                                       rmpi_checkpoint_fn_t restore, void *arg)
{
    rmpi_status_t status = RMPI_OK;

    if (checkpoint == NULL && restore == NULL) {
        base_error("rmpi_register_checkpoint: a checkpoint or a restore hook is needed");
        return RMPI_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&rt_ckpt_lock);
    if (rt_ckpt_count == RT_MAX_CHECKPOINT_HOOKS) {
        base_error("rmpi_register_checkpoint: at most %d hook pairs", RT_MAX_CHECKPOINT_HOOKS);
        status = RMPI_ERR_NO_RESOURCE;
    } else {
        rt_ckpt_hooks[rt_ckpt_count++] = (rt_ckpt_hook_t){checkpoint, restore, arg};
    }
    pthread_mutex_unlock(&rt_ckpt_lock);
    return status;
}

unsigned rmpi_restart_count(void)
{
    return rt_restarts;
}

/* SLURM_RESTART_COUNT, strictly: anything but a plain number is reported and read as 0. */
static unsigned rt_read_restart_count(void)
{
    const char   *text = getenv("SLURM_RESTART_COUNT");
    char         *end;
    unsigned long value;

    if (text == NULL || text[0] == '\0') {
        return 0;
    }
    errno = 0;
    value = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || text[0] == '-' || value > 1000000) {
        base_warn("runtime: SLURM_RESTART_COUNT='%s' is not a count; taken as 0", text);
        return 0;
    }
    return (unsigned)value;
}

static rt_ckpt_hook_t *rt_ckpt_snapshot(size_t *count_p)
{
    static rt_ckpt_hook_t copy[RT_MAX_CHECKPOINT_HOOKS];

    pthread_mutex_lock(&rt_ckpt_lock);
    *count_p = rt_ckpt_count;
    memcpy(copy, rt_ckpt_hooks, rt_ckpt_count * sizeof(*copy));
    pthread_mutex_unlock(&rt_ckpt_lock);
    return copy;
}

static rmpi_status_t rt_run_restore_hooks(void)
{
    size_t                 count;
    rt_ckpt_hook_t        *hooks = rt_ckpt_snapshot(&count);
    rmpi_checkpoint_info_t info  = {rt.rank, rt.size, rt_restarts};

    for (size_t i = 0; i < count; ++i) {
        rmpi_status_t status =
            hooks[i].restore != NULL ? hooks[i].restore(hooks[i].arg, &info) : RMPI_OK;

        if (status != RMPI_OK) {
            base_error("runtime: restore hook %zu failed after restart %u: %s", i, rt_restarts,
                       rmpi_status_str(status));
            return status;
        }
    }
    return RMPI_OK;
}

static void rt_on_checkpoint_signal(int sig)
{
    uint64_t one   = 1;
    int      saved = errno;

    (void)sig;
    (void)!write(rt_ckpt_efd, &one, sizeof(one));
    errno = saved;
}

/* Run the checkpoint hooks, then leave: the job script requeues on our status. */
static void rt_checkpoint_now(void)
{
    size_t                 count;
    rt_ckpt_hook_t        *hooks  = rt_ckpt_snapshot(&count);
    rmpi_checkpoint_info_t info   = {rt.rank, rt.size, rt_restarts};
    int                    status = RMPI_EXIT_CHECKPOINTED;

    base_info("runtime: checkpoint signal: running %zu hook(s) on rank %d", count, rt.rank);
    for (size_t i = 0; i < count; ++i) {
        rmpi_status_t st =
            hooks[i].checkpoint != NULL ? hooks[i].checkpoint(hooks[i].arg, &info) : RMPI_OK;

        if (st != RMPI_OK) {
            base_error("runtime: checkpoint hook %zu failed: %s", i, rmpi_status_str(st));
            status = 1;
        }
    }
    rt_signals_unlink_arena();
    fflush(NULL);
    _exit(status);
}

static void *rt_ckpt_watch(void *arg)
{
    (void)arg;
    for (;;) {
        uint64_t value;
        ssize_t  got = read(rt_ckpt_efd, &value, sizeof(value));

        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got != (ssize_t)sizeof(value) || value >= RT_CKPT_STOP) {
            return NULL;
        }
        rt_checkpoint_now();
    }
}

static bool rt_ckpt_has_checkpoint_hook(void)
{
    bool any = false;

    pthread_mutex_lock(&rt_ckpt_lock);
    for (size_t i = 0; i < rt_ckpt_count; ++i) {
        any = any || rt_ckpt_hooks[i].checkpoint != NULL;
    }
    pthread_mutex_unlock(&rt_ckpt_lock);
    return any;
}

static rmpi_status_t rt_ckpt_watch_signal(void)
{
    struct sigaction current, action;

    if (sigaction(RT_CHECKPOINT_SIGNAL, NULL, &current) != 0 || current.sa_handler != SIG_DFL ||
        (current.sa_flags & SA_SIGINFO)) {
        base_warn("runtime: SIGUSR1 has a handler of the program's: checkpoint hooks will not run "
                  "on it");
        return RMPI_OK;
    }
    rt_ckpt_efd = eventfd(0, EFD_CLOEXEC);
    if (rt_ckpt_efd < 0) {
        base_error("runtime: eventfd for the checkpoint signal: %m");
        return RMPI_ERR_NO_RESOURCE;
    }
    if (pthread_create(&rt_ckpt_thread, NULL, rt_ckpt_watch, NULL) != 0) {
        base_error("runtime: cannot start the checkpoint watcher thread");
        close(rt_ckpt_efd);
        rt_ckpt_efd = -1;
        return RMPI_ERR_NO_RESOURCE;
    }
    rt_ckpt_watching = true;
    memset(&action, 0, sizeof(action));
    action.sa_handler = rt_on_checkpoint_signal;
    action.sa_flags   = SA_RESTART;
    sigemptyset(&action.sa_mask);
    rt_ckpt_taken = sigaction(RT_CHECKPOINT_SIGNAL, &action, &rt_ckpt_saved) == 0;
    return RMPI_OK;
}

rmpi_status_t rt_checkpoint_start(void)
{
    rmpi_status_t status = RMPI_OK;

    rt_restarts = rt_read_restart_count();
    if (rt_restarts > 0) {
        base_info("runtime: restart %u of this job: running restore hooks", rt_restarts);
        status = rt_run_restore_hooks();
    }
    if (status == RMPI_OK && rt_ckpt_has_checkpoint_hook()) {
        status = rt_ckpt_watch_signal();
    }
    return status;
}

void rt_checkpoint_stop(void)
{
    uint64_t stop = RT_CKPT_STOP;

    if (rt_ckpt_taken) {
        (void)sigaction(RT_CHECKPOINT_SIGNAL, &rt_ckpt_saved, NULL);
        rt_ckpt_taken = false;
    }
    if (rt_ckpt_watching) {
        (void)!write(rt_ckpt_efd, &stop, sizeof(stop));
        pthread_join(rt_ckpt_thread, NULL);
        rt_ckpt_watching = false;
    }
    if (rt_ckpt_efd >= 0) {
        close(rt_ckpt_efd);
        rt_ckpt_efd = -1;
    }
}
