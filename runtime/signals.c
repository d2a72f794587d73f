/*
 * runtime/signals.c - leave no shared memory behind when the job is killed.
 *
 * A rank killed by SIGTERM (scancel, the end of a Slurm step, mpirun passing
 * on a ^C) or SIGINT would otherwise leave its arena in /dev/shm until the
 * next job on the node cleans stale arenas. While the runtime is up, those
 * signals unlink the arena and then kill the process as before (the handler
 * resets itself and the signal is raised again), so the exit status is the
 * one the launcher expects. A program that installed its own handler keeps
 * it: only signals left at SIG_DFL are taken.
 *
 * It also removes the rank's spill folder, <run dir>/spill and the run dir
 * when they are empty (spill files or log files keep them: a killed rank
 * cannot walk folders safely, so spill files of a killed rank stay).
 *
 * The handler calls only unlink(2), rmdir(2) and raise(3), all
 * async-signal-safe; the paths are formatted before the handler is installed.
 *
 * Thread safety: install and remove are called by rmpi_init / teardown only.
 */
#include "runtime/rt_int.h"
#include "runtime/status.h"

#include "base/log.h"
#include "base/rundir.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const int rt_fatal_signals[] = {SIGTERM, SIGINT};
#define RT_NUM_FATAL_SIGNALS (sizeof(rt_fatal_signals) / sizeof(rt_fatal_signals[0]))

static char rt_arena_path[128];
/* Folders removed on a fatal signal when empty: the spill folder, its parent, the run dir. */
#define RT_SIGNAL_DIRS 3
static char             rt_dir_paths[RT_SIGNAL_DIRS][4096];
static struct sigaction rt_saved[RT_NUM_FATAL_SIGNALS];
static bool             rt_taken[RT_NUM_FATAL_SIGNALS];

void rt_signals_unlink_arena(void)
{
    if (rt_arena_path[0] != '\0') {
        (void)unlink(rt_arena_path);
    }
    rt_status_unlink(); /* a dead head's socket would only refuse connections */
    for (int i = 0; i < RT_SIGNAL_DIRS; ++i) {
        if (rt_dir_paths[i][0] != '\0') {
            (void)rmdir(rt_dir_paths[i]); /* async-signal-safe; fails while anything is left */
        }
    }
}

/* The folders a killed rank removes when they are empty (computed now: not in the handler). */
static void rt_signals_note_dirs(const char *spill_dir)
{
    char *slash;

    memset(rt_dir_paths, 0, sizeof(rt_dir_paths));
    if (base_run_dir_path(rt_dir_paths[2], sizeof(rt_dir_paths[2]) - sizeof("/spill")) != RMPI_OK) {
        rt_dir_paths[2][0] = '\0';
    }
    if (spill_dir == NULL || spill_dir[0] == '\0' || strlen(spill_dir) >= sizeof(rt_dir_paths[0])) {
        return;
    }
    strcpy(rt_dir_paths[0], spill_dir);
    strcpy(rt_dir_paths[1], spill_dir);
    slash = strrchr(rt_dir_paths[1], '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    /* Only the default <run dir>/spill: a configured spill base is the user's folder. */
    if (slash == NULL || strncmp(rt_dir_paths[1], rt_dir_paths[2], strlen(rt_dir_paths[2])) != 0 ||
        strcmp(rt_dir_paths[1] + strlen(rt_dir_paths[2]), "/spill") != 0) {
        rt_dir_paths[1][0] = '\0';
    }
}

static void rt_on_fatal_signal(int sig)
{
    rt_signals_unlink_arena();
    (void)raise(sig); /* SA_RESETHAND: the default action now, once we return */
}

void rt_signals_install(const char *shm_name, const char *spill_dir)
{
    struct sigaction action;
    int              len = snprintf(rt_arena_path, sizeof(rt_arena_path), "/dev/shm%s", shm_name);

    rt_signals_note_dirs(spill_dir);

    if (len < 0 || (size_t)len >= sizeof(rt_arena_path)) {
        rt_arena_path[0] = '\0';
        return;
    }
    memset(&action, 0, sizeof(action));
    action.sa_handler = rt_on_fatal_signal;
    action.sa_flags   = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < RT_NUM_FATAL_SIGNALS; ++i) {
        struct sigaction current;

        rt_taken[i] = false;
        if (sigaction(rt_fatal_signals[i], NULL, &current) != 0 || current.sa_handler != SIG_DFL ||
            (current.sa_flags & SA_SIGINFO)) {
            continue; /* the program's own handler (or SIG_IGN) stays */
        }
        if (sigaction(rt_fatal_signals[i], &action, &rt_saved[i]) == 0) {
            rt_taken[i] = true;
        } else {
            base_warn("runtime: cannot watch signal %d: %m", rt_fatal_signals[i]);
        }
    }
}

void rt_signals_remove(void)
{
    for (size_t i = 0; i < RT_NUM_FATAL_SIGNALS; ++i) {
        if (rt_taken[i]) {
            (void)sigaction(rt_fatal_signals[i], &rt_saved[i], NULL);
            rt_taken[i] = false;
        }
    }
    rt_arena_path[0] = '\0';
    memset(rt_dir_paths, 0, sizeof(rt_dir_paths));
}
