#!/bin/bash
# scancel.sh - `scancel` of a running ray-mpi job leaves nothing behind: no
# process of the job, no shared-memory arena of it in /dev/shm, no run directory
# of it (RAYMPI_RUN_DIR_BASE is this test's own, slurm_common.sh).
#
# The ranks unlink their arenas on SIGTERM (runtime/signals.c); should that
# break, the test unlinks its own job's leftovers, and only those.
# shellcheck source=tests/slurm/slurm_common.sh
. "$(dirname "$0")/slurm_common.sh"

id=""
scancel_cleanup()
{
    [[ -n $id ]] && rm -f /dev/shm/raympi-"$id".0-[0-9]*
    slurm_cleanup
}
trap scancel_cleanup EXIT

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

arenas_of_job()
{
    ls /dev/shm 2>/dev/null | grep -E "^raympi-$id\\.0-[0-9]+\$"
}

both_arenas_up()
{
    [[ $(arenas_of_job | wc -l) -eq 2 ]]
}

job_gone()
{
    local state
    state=$(squeue -h -j "$id" -t all -o %T 2>/dev/null)
    [[ $state == CANCELLED ]] && ! ps -eo args | grep -F -- "$EXAMPLES/pi 1000000" | grep -qv grep
}

scancel_leaves_nothing()
{
    slurm_run "$RAY_MPI" submit -n 2 "$EXAMPLES/pi" 1000000 1000000
    ((rc == 0)) || return 1
    id=$(head -n 1 "$slurm_out")
    [[ $id =~ ^[0-9]+$ ]] || return 1
    # running, with both ranks' stores open
    wait_for 60 both_arenas_up || return 1
    scancel "$id" || return 1
    wait_for 60 job_gone || return 1
    if arenas_of_job >"$slurm_out"; then
        echo "left behind in /dev/shm:" >>"$slurm_err"
        cat "$slurm_out" >>"$slurm_err"
        return 1
    fi
    if compgen -G "$RAYMPI_RUN_DIR_BASE/$id*" >"$slurm_out"; then
        echo "run directory left behind:" >>"$slurm_err"
        ls -R "$RAYMPI_RUN_DIR_BASE" >>"$slurm_err"
        return 1
    fi
}

slurm_check "scancel mid-run leaves no process, no shm arena and no run directory" scancel_leaves_nothing
slurm_finish
