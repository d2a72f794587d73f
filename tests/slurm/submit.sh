#!/bin/bash
# submit.sh - `ray-mpi submit` against the test cluster: the script --dry-run
# prints, refused arguments (exit 2), a job Slurm rejects (its message shown),
# --wait returning the job's exit code (0 and non-zero), an array job, and two
# jobs running at the same time on the node without sharing a run directory or
# a shared-memory arena.
# shellcheck source=tests/slurm/slurm_common.sh
. "$(dirname "$0")/slurm_common.sh"

dry_run_content()
{
    slurm_run "$RAY_MPI" submit --dry-run -N 2 -n 8 -c 2 -G 1 -t 1:30:00 -p debug \
        --array 0-3%2 --signal B:USR1@90 --requeue -o out-%j.txt "$EXAMPLES/pi" 'a b' "it's"
    ((rc == 0)) || return 1
    local want
    for want in "#SBATCH --job-name=pi" "#SBATCH --nodes=2" "#SBATCH --ntasks=8" \
        "#SBATCH --cpus-per-task=2" "#SBATCH --gpus=1" "#SBATCH --time=1:30:00" \
        "#SBATCH --partition=debug" "#SBATCH --array=0-3%2" "#SBATCH --signal=B:USR1@90" \
        "#SBATCH --requeue" "#SBATCH --output=out-%j.txt" \
        "srun --mpi=pmix $(realpath "$RAY_MPI") $EXAMPLES/pi 'a b' 'it'\\''s' &" \
        'trap '\''kill -USR1 "$srun_pid" 2>/dev/null'\'' USR1' \
        'if [ "$status" -eq 85 ] && scontrol requeue "$SLURM_JOB_ID"; then'; do
        grep -qxF -- "$want" "$slurm_out" || {
            echo "missing line: $want" >>"$slurm_err"
            return 1
        }
    done
    # the script is valid shell, and quoting survives: the words come back as given
    bash -n "$slurm_out" || return 1
    [[ $(head -n 1 "$slurm_out") == "#!/bin/bash" ]]
}

# refused ARGS...: `ray-mpi submit ARGS` exits 2 with one message and submits nothing.
refused()
{
    slurm_run "$RAY_MPI" submit "$@"
    ((rc == 2)) && [[ -s $slurm_err && ! -s $slurm_out ]] &&
        grep -q '^ray-mpi submit: ' "$slurm_err"
}

# job_id: the job ID `ray-mpi submit` printed.
job_id()
{
    head -n 1 "$slurm_out"
}

wait_pi()
{
    slurm_run timeout 120 "$RAY_MPI" submit --wait -n 4 "$EXAMPLES/pi" 100 10000
    ((rc == 0)) || return 1
    local id
    id=$(job_id)
    [[ $id =~ ^[0-9]+$ ]] && grep -q "job $id COMPLETED, exit code 0" "$slurm_err" &&
        pi_ok "$(result_line "$slurm_work/slurm-$id.out")" 100 10000
}

wait_exit_code()
{
    slurm_run timeout 120 "$RAY_MPI" submit --wait -n 1 /bin/sh -c 'exit 3'
    ((rc == 3)) && grep -q "job $(job_id) FAILED, exit code 3" "$slurm_err"
}

rejected_by_slurm()
{
    # the test cluster has no GPUs (no gres): slurmctld refuses the job at submission
    slurm_run timeout 60 "$RAY_MPI" submit --wait -G 1 /bin/true
    ((rc == 1)) && [[ ! -s $slurm_out ]] && grep -qi 'gres' "$slurm_err"
}

array_job()
{
    slurm_run timeout 120 "$RAY_MPI" submit --wait --array 0-2 -n 1 \
        /bin/sh -c 'echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_JOB_ID"; exit $SLURM_ARRAY_TASK_ID'
    # the highest exit code of the tasks; each task wrote its own output file
    ((rc == 2)) || return 1
    local id i
    id=$(job_id)
    for i in 0 1 2; do
        grep -qx "task $i of $id" "$slurm_work/slurm-${id}_$i.out" || return 1
    done
}

two_jobs_at_once()
{
    local sync=$slurm_tmp/sync wrapper=$slurm_tmp/together.sh pid1 pid2 rc1=0 rc2=0 id1 id2
    mkdir -p "$sync"
    # Each job's rank 0 checks in; every rank waits (bounded) until both jobs
    # have, then becomes examples/pi: the two jobs' ranks are alive together.
    cat >"$wrapper" <<WRAP
#!/bin/bash
if [[ \$SLURM_PROCID == 0 ]]; then
    "$RAY_MPI" info | sed -n 's/^run dir: *//p' >"$slurm_tmp/rundir-\$SLURM_JOB_ID"
    touch "$sync/\$SLURM_JOB_ID"
fi
for ((i = 0; i < 600; i++)); do
    (( \$(ls "$sync" | wc -l) >= 2 )) && exec "\$@"
    sleep 0.1
done
echo "the other job never started" >&2
exit 1
WRAP
    chmod +x "$wrapper"
    (cd "$slurm_work" && exec timeout 180 "$RAY_MPI" submit --wait -n 2 -o job1-%j.out \
        "$wrapper" "$EXAMPLES/pi" 60 10000 >"$slurm_tmp/id1" 2>>"$slurm_err") &
    pid1=$!
    (cd "$slurm_work" && exec timeout 180 "$RAY_MPI" submit --wait -n 2 -o job2-%j.out \
        "$wrapper" "$EXAMPLES/pi" 60 10000 >"$slurm_tmp/id2" 2>>"$slurm_err") &
    pid2=$!
    wait "$pid1" || rc1=$?
    wait "$pid2" || rc2=$?
    rc=$((rc1 > rc2 ? rc1 : rc2))
    id1=$(<"$slurm_tmp/id1")
    id2=$(<"$slurm_tmp/id2")
    cat "$slurm_work/job1-$id1.out" "$slurm_work/job2-$id2.out" >"$slurm_out" 2>/dev/null
    ((rc1 == 0 && rc2 == 0)) && [[ $id1 != "$id2" ]] || return 1
    pi_ok "$(result_line "$slurm_work/job1-$id1.out")" 60 10000 || return 1
    pi_ok "$(result_line "$slurm_work/job2-$id2.out")" 60 10000 || return 1
    # both were running together, each in its own run directory named by its job,
    # which it took along when it ended
    [[ -f $sync/$id1 && -f $sync/$id2 ]] || return 1
    [[ $(<"$slurm_tmp/rundir-$id1") == "$RAYMPI_RUN_DIR_BASE/$id1.0" &&
        $(<"$slurm_tmp/rundir-$id2") == "$RAYMPI_RUN_DIR_BASE/$id2.0" ]] || {
        cat "$slurm_tmp/rundir-$id1" "$slurm_tmp/rundir-$id2" >>"$slurm_err"
        return 1
    }
    [[ ! -e $RAYMPI_RUN_DIR_BASE/$id1.0 && ! -e $RAYMPI_RUN_DIR_BASE/$id2.0 ]] || {
        ls -R "$RAYMPI_RUN_DIR_BASE" >>"$slurm_err"
        return 1
    }
    # and no shared-memory arena of either job outlives it
    ! ls /dev/shm 2>/dev/null | grep -Eq -- "^raympi-($id1|$id2)\\.0-[0-9]+\$"
}

# `ray-mpi status` inside a step sees its task and the RUNNING job, and says
# that no runtime runs there (exit 3); afterwards, `ray-mpi status JOBID` sees
# it COMPLETED (and no runtime, exit 3). A live runtime: tests/slurm/status.sh.
status_in_job()
{
    # shellcheck disable=SC2016 # $0 and $? are the job's shell's
    slurm_run timeout 120 "$RAY_MPI" submit --wait -n 2 /bin/sh -c '"$0" status; echo "status exit $?"' "$RAY_MPI"
    ((rc == 0)) || return 1
    local id out
    id=$(job_id)
    out=$slurm_work/slurm-$id.out
    grep -qx "job        $id" "$out" && grep -qx 'state      RUNNING' "$out" &&
        grep -qx 'this task  step 0, rank 1, local rank 1, node 0' "$out" &&
        grep -qx "nodes      1: $(hostname -s)" "$out" &&
        grep -qx "runtime    none: no live ray-mpi runtime of job $id answered" "$out" &&
        grep -qx "status exit 3" "$out" || return 1
    slurm_run "$RAY_MPI" status "$id"
    ((rc == 3)) && grep -qx 'state      COMPLETED' "$slurm_out"
}

slurm_check "submit --dry-run prints the job script" dry_run_content
slurm_check "submit -n 0 is refused" refused -n 0 /bin/true
slurm_check "submit -t 1:2:3:4 is refused" refused -t 1:2:3:4 /bin/true
slurm_check "submit --signal FOO is refused" refused --signal FOO /bin/true
slurm_check "submit --array a-b is refused" refused --array a-b /bin/true
slurm_check "submit without PROGRAM is refused" refused -n 2
slurm_check "submit --wait: a pi job completes with exit code 0" wait_pi
slurm_check "submit --wait: the job's exit code 3 comes back" wait_exit_code
slurm_check "submit: a job Slurm rejects shows Slurm's reason" rejected_by_slurm
slurm_check "submit --wait --array: every task runs, highest exit code" array_job
slurm_check "status inside a job, and of a finished job" status_in_job
slurm_check "two jobs at once keep their run dirs and arenas apart" two_jobs_at_once
slurm_finish
