#!/bin/bash
# example_requeue.sh - examples/requeue_count: SIGUSR1 runs the checkpoint hooks and
# the ranks exit with RMPI_EXIT_CHECKPOINTED (85) (shm cleanup: slurm/scancel.sh); a run with
# SLURM_RESTART_COUNT=1 restores the count and finishes; a restart without a
# checkpoint fails rmpi_init cleanly (no hang).
# shellcheck source=tests/integration/example_common.sh
. "$(dirname "$0")/example_common.sh"

state=$example_tmp/state

# Start counting to 50 holding at 20, wait until it holds (bounded), signal mpirun,
# which forwards SIGUSR1 to the ranks.
checkpoint_at_20()
{
    local pid i
    example_cmd="ray-mpi -n 2 requeue_count 50 STATE 20; kill -USR1"
    "$RAY_MPI" -n 2 "$EXAMPLES/requeue_count" 50 "$state" 20 \
        >"$example_tmp/out" 2>"$example_tmp/err" &
    pid=$!
    for ((i = 0; i < 600; i++)); do
        grep -q '^HOLDING' "$example_tmp/out" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -USR1 "$pid" 2>/dev/null
    rc=0
    wait "$pid" || rc=$?
    result="exit $rc, state $(cat "$state" 2>/dev/null)"
    ((rc == 85)) && [[ $(cat "$state" 2>/dev/null) == 20 ]]
}

resume_from_20()
{
    example_run 2 SLURM_RESTART_COUNT=1 requeue_count 50 "$state"
    result_ok && [[ $(field count) == 50 && $(field restarts) == 1 &&
        $(field resumed_from) == 20 ]]
}

restart_without_checkpoint()
{
    example_run 2 SLURM_RESTART_COUNT=1 requeue_count 50 "$example_tmp/none"
    ((rc != 0)) && [[ -z $result ]] && grep -q 'no checkpoint' "$example_tmp/err"
}

example_check "checkpoint on SIGUSR1 exits 85 with the count saved" checkpoint_at_20
example_check "a requeued run resumes from the checkpoint" resume_from_20
example_check "a restart without a checkpoint fails init" restart_without_checkpoint
example_finish
