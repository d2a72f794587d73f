#!/bin/bash
# status.sh - `ray-mpi status` of a live ray-mpi job on the test cluster: from
# outside the job with its JOBID, and from inside it (an overlapping step, which
# finds the runtime of step 0 by SLURM_JOB_ID): Slurm state RUNNING, then the
# runtime's view from its head with both ranks and the running task.
#
# The job runs tests/integration/rt_status under srun: its task on rank 1
# signals through a fifo that it runs, then waits on a second fifo (no sleeps;
# only the end of the job is waited for by bounded polling of squeue).
# shellcheck source=tests/slurm/slurm_common.sh
. "$(dirname "$0")/slurm_common.sh"

prog=$top_builddir/tests/integration/rt_status
[[ -x $prog ]] || { echo "ERROR: $prog is not built"; exit 99; }
export RAYMPI_RT_NUM_CPUS=2
fifo=$slurm_tmp/fifo
mkdir -p "$fifo" && mkfifo "$fifo/ready" "$fifo/release" || exit 99
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

job_gone()
{
    [[ -z $(squeue -h -j "$id" 2>/dev/null) ]]
}

runtime_view_ok()
{
    grep -q "^runtime    job $id\\.0: 2 rank(s) on 1 node(s), head pid [0-9]*\$" "$1" &&
        grep -q '^resources  cpus 3/4 free' "$1" &&
        grep -q "^rank 0     node 0 $(hostname) pid [0-9]*: cpus 2/2 free" "$1" &&
        grep -q "^rank 1     node 0 $(hostname) pid [0-9]*: cpus 1/2 free, .*; running hold_in_status x1\$" "$1"
}

from_outside()
{
    slurm_run "$RAY_MPI" status "$id"
    ((rc == 0)) && grep -qx "job        $id" "$slurm_out" &&
        grep -qx 'state      RUNNING' "$slurm_out" && runtime_view_ok "$slurm_out"
}

from_inside()
{
    slurm_run timeout 60 srun --jobid="$id" --overlap -n 1 "$RAY_MPI" status
    ((rc == 0)) && grep -qx 'state      RUNNING' "$slurm_out" && runtime_view_ok "$slurm_out"
}

json_from_outside()
{
    slurm_run "$RAY_MPI" status --json "$id"
    ((rc == 0)) && /usr/bin/python3 - "$slurm_out" "$id" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
rt, = doc["runtimes"]
assert doc["slurm"]["state"] == "RUNNING", doc
assert rt["job"] == sys.argv[2] + ".0" and rt["ranks"] == 2, rt
assert rt["rank_views"][1]["running"] == {"hold_in_status": 1}, rt
PY
}

job_ends_ok()
{
    local out=$slurm_work/slurm-$id.out
    wait_for 120 job_gone && grep -q '^RESULT rank=1 ok' "$out" || {
        cat "$out" >"$slurm_out" 2>/dev/null
        return 1
    }
    slurm_run "$RAY_MPI" status "$id"
    ((rc == 3)) && grep -qx 'state      COMPLETED' "$slurm_out" &&
        grep -qx "runtime    none: no live ray-mpi runtime of job $id answered" "$slurm_out"
}

exec 3<>"$fifo/ready" # read-write: neither side blocks in open
slurm_run "$RAY_MPI" submit -n 2 "$prog" "$fifo"
id=$(head -n 1 "$slurm_out")
if ((rc != 0)) || [[ ! $id =~ ^[0-9]+$ ]] || ! read -r -t 120 -u 3 line || [[ $line != ready ]]; then
    echo "FAIL: the job's task did not start (submit exit $rc, job '$id')"
    cat "$slurm_out" "$slurm_err" "$slurm_work/slurm-$id.out" 2>/dev/null
    [[ $id =~ ^[0-9]+$ ]] && scancel "$id"
    exit 1
fi
exec 3>&-

slurm_check "status JOBID from outside: RUNNING, both ranks, the running task" from_outside
slurm_check "status inside the job (an overlapping step) finds step 0's runtime" from_inside
slurm_check "status --json JOBID" json_from_outside

exec 4<>"$fifo/release"
echo go >&4
exec 4>&-
slurm_check "the job ends with its RESULT; then status says no runtime (exit 3)" job_ends_ok
job_gone || scancel "$id"
slurm_finish
