/*
 * examples/requeue_count.c - count to N with one task per step, across a
 * wall-time checkpoint and a requeue of the job.
 *
 *   ray-mpi -n 2 ./requeue_count N STATEFILE [HOLD_AT]
 *
 * The driver keeps the next number to count; its checkpoint hook writes it
 * to STATEFILE when the checkpoint signal comes (SIGUSR1: Slurm's
 * `--signal=USR1@SECONDS` near the wall time), and the rank exits with
 * RMPI_EXIT_CHECKPOINTED. When the job is requeued (SLURM_RESTART_COUNT > 0)
 * the restore hook reads the number back and counting goes on from there.
 * With HOLD_AT, a first run stops at that number and waits for the signal
 * (so a test knows where the checkpoint falls). Ends with
 * "RESULT count=C restarts=R resumed_from=F ok".
 */
#include <raympi.h>

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char      *count_state_path;
static _Atomic uint64_t count_next;
static uint64_t         count_resumed_from;

/* count_step(uint64 i) -> uint64 i + 1: the work of one step, on some rank. */
RMPI_REMOTE(count_step)
{
    uint64_t value;

    if (nargs != 1 || args[0].size != sizeof(value)) {
        rmpi_task_error(ctx, "count_step expects one uint64 argument");
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&value, args[0].data, sizeof(value));
    value += 1;
    return rmpi_return(ctx, 0, &value, sizeof(value));
}

/* Only the driver holds state; the file is replaced atomically (write, then rename). */
static rmpi_status_t count_checkpoint(void *arg, const rmpi_checkpoint_info_t *info)
{
    char  tmp[4096];
    FILE *file;

    (void)arg;
    if (info->rank != 0) {
        return RMPI_OK;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", count_state_path);
    file = fopen(tmp, "w");
    if (file == NULL) {
        return RMPI_ERR_IO;
    }
    fprintf(file, "%" PRIu64 "\n", atomic_load(&count_next));
    if (fclose(file) != 0 || rename(tmp, count_state_path) != 0) {
        return RMPI_ERR_IO;
    }
    return RMPI_OK;
}

static rmpi_status_t count_restore(void *arg, const rmpi_checkpoint_info_t *info)
{
    FILE    *file;
    uint64_t next;
    int      got;

    (void)arg;
    if (info->rank != 0) {
        return RMPI_OK;
    }
    file = fopen(count_state_path, "r");
    if (file == NULL) {
        fprintf(stderr, "requeue_count: no checkpoint in %s: %s\n", count_state_path,
                strerror(errno));
        return RMPI_ERR_NOT_FOUND;
    }
    got = fscanf(file, "%" SCNu64, &next);
    fclose(file);
    if (got != 1) {
        fprintf(stderr, "requeue_count: %s holds no count\n", count_state_path);
        return RMPI_ERR_CORRUPT;
    }
    atomic_store(&count_next, next);
    count_resumed_from = next;
    return RMPI_OK;
}

static int count_fail(const char *what, rmpi_status_t status)
{
    fprintf(stderr, "requeue_count: %s: %s\n", what, rmpi_status_str(status));
    return 1;
}

/* One step: the next number, computed by a task. */
static int count_one(void)
{
    uint64_t        value = atomic_load(&count_next);
    rmpi_task_arg_t arg   = rmpi_arg_value(&value, sizeof(value));
    rmpi_ref_t      ref;
    rmpi_object_t   obj;
    rmpi_status_t   status = rmpi_submit("count_step", &arg, 1, NULL, &ref);

    if (status != RMPI_OK) {
        return count_fail("submit", status);
    }
    status = rmpi_get(&ref, 1, -1.0, &obj);
    if (status == RMPI_OK && obj.size == sizeof(value)) {
        memcpy(&value, obj.data, sizeof(value));
        atomic_store(&count_next, value);
    }
    if (status == RMPI_OK) {
        rmpi_object_release(&obj);
    }
    rmpi_ref_free(ref);
    return status == RMPI_OK ? 0 : count_fail("get", status);
}

static unsigned long count_arg(const char *text)
{
    char         *end;
    unsigned long value;

    errno = 0;
    value = strtoul(text, &end, 10);
    return errno == 0 && end != text && *end == '\0' ? value : 0;
}

int main(int argc, char **argv)
{
    unsigned long target, hold_at = 0;
    rmpi_status_t status;
    int           rc = 0;

    if (argc < 3 || argc > 4 || (target = count_arg(argv[1])) == 0 ||
        (argc == 4 && (hold_at = count_arg(argv[3])) == 0)) {
        fprintf(stderr, "usage: requeue_count N STATEFILE [HOLD_AT]   (N, HOLD_AT >= 1)\n");
        return 2;
    }
    count_state_path = argv[2];
    /* Before rmpi_init: worker ranks never return from it, and need the hooks too. */
    if ((status = rmpi_register_checkpoint(count_checkpoint, count_restore, NULL)) != RMPI_OK ||
        (status = rmpi_init(&argc, &argv, NULL)) != RMPI_OK) {
        return count_fail("start", status);
    }
    while (rc == 0 && atomic_load(&count_next) < target) {
        if (hold_at != 0 && rmpi_restart_count() == 0 && atomic_load(&count_next) == hold_at) {
            printf("HOLDING at %lu: waiting for the checkpoint signal\n", hold_at);
            fflush(stdout);
            for (;;) {
                pause(); /* the checkpoint hook runs and the rank exits */
            }
        }
        rc = count_one();
    }
    printf("RESULT count=%" PRIu64 " restarts=%u resumed_from=%" PRIu64 " %s\n",
           atomic_load(&count_next), rmpi_restart_count(), count_resumed_from,
           rc == 0 && atomic_load(&count_next) == target ? "ok" : "FAILED");
    status = rmpi_shutdown();
    return rc != 0 || status != RMPI_OK;
}
