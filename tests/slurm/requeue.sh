#!/bin/bash
# requeue.sh - a wall-time checkpoint and a requeue on the real daemons:
# `ray-mpi submit --requeue --signal=B:USR1@...` of examples/requeue_count; the
# first run holds at 20 (it prints HOLDING: the test's handshake), the test sends
# the batch shell USR1 as Slurm would at the signal time (`scancel -b
# --signal=USR1`), the job script passes it to the ranks, which checkpoint and
# exit 85, and requeues the job; the restarted run (SLURM_RESTART_COUNT=1)
# resumes from 20 and counts to 50.
#
# Waiting on the daemons is bounded polling of the output file and of scontrol.
# shellcheck source=tests/slurm/slurm_common.sh
. "$(dirname "$0")/slurm_common.sh"

state=$slurm_tmp/count.state
id=""

# wait_for SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds; fail on timeout.
wait_for()
{
    local i limit=$(($1 * 10))
    shift
    for ((i = 0; i < limit; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

job_field()
{
    scontrol show job "$id" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

holding()
{
    grep -q '^HOLDING at 20' "$slurm_work/req-$id.out" 2>/dev/null
}

requeued()
{
    [[ $(job_field Restarts) == 1 && $(job_field JobState) == PENDING ]]
}

restarted_and_done()
{
    [[ $(job_field Restarts) == 1 && $(job_field JobState) == COMPLETED ]]
}

checkpoint_and_requeue()
{
    local out=$slurm_work/req-$id.out
    wait_for 120 holding || {
        echo "the first run did not reach HOLDING" >>"$slurm_err"
        return 1
    }
    slurm_run scancel -b --signal=USR1 "$id"
    ((rc == 0)) || return 1
    # slurmctld holds a requeued job back for 2 minutes (Reason=BeginTime): let it go now.
    if wait_for 60 requeued; then
        scontrol update JobId="$id" StartTime=now >>"$slurm_err" 2>&1
    fi
    if ! wait_for 240 restarted_and_done; then
        scontrol show job "$id" >>"$slurm_out"
        cat "$out" >>"$slurm_out"
        return 1
    fi
    cat "$out" >"$slurm_out"
    [[ $(result_line "$out") == "RESULT count=50 restarts=1 resumed_from=20 ok" ]] &&
        [[ $(job_field ExitCode) == 0:0 ]]
}

slurm_run "$RAY_MPI" submit --requeue --signal=B:USR1@60 -t 10 -n 2 -o "req-%j.out" \
    "$EXAMPLES/requeue_count" 50 "$state" 20
id=$(head -n 1 "$slurm_out")
if ((rc != 0)) || [[ ! $id =~ ^[0-9]+$ ]]; then
    echo "FAIL: submit did not print a job ID (exit $rc)"
    cat "$slurm_out" "$slurm_err"
    exit 1
fi
slurm_check "USR1 to the batch shell: checkpoint at 20, requeue, resume to 50" checkpoint_and_requeue
[[ $(job_field JobState) == COMPLETED ]] || scancel "$id"
slurm_finish
