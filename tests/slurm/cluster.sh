#!/bin/bash
# cluster.sh - scripts/slurm-cluster.sh itself: start is idempotent (a second
# start keeps the same daemons), status tells running from stopped, stop is by
# PID and safe to repeat, a restart works, and a slurm.conf the script did not
# write is never overwritten.
# shellcheck source=tests/slurm/slurm_common.sh
. "$(dirname "$0")/slurm_common.sh"

dir=$slurm_tmp/cluster

daemon_pids()
{
    cat "$dir/slurmctld.bgpid" "$dir/slurmd.bgpid" 2>/dev/null | tr '\n' ' '
}

start_again_keeps_daemons()
{
    local before
    before=$(daemon_pids)
    slurm_run "$CLUSTER" start "$dir"
    ((rc == 0)) && grep -qx "export SLURM_CONF=$dir/slurm.conf" "$slurm_out" &&
        [[ -n $before && $(daemon_pids) == "$before" ]]
}

status_running()
{
    slurm_run "$CLUSTER" status "$dir"
    ((rc == 0)) && grep -qx 'running: node idle' "$slurm_out"
}

stop_and_status()
{
    local pids
    pids=$(daemon_pids)
    slurm_run "$CLUSTER" stop "$dir"
    ((rc == 0)) || return 1
    # shellcheck disable=SC2086
    ! ps -p "${pids// /,}" >/dev/null 2>&1 || return 1
    slurm_run "$CLUSTER" status "$dir"
    ((rc == 1)) || return 1
    slurm_run "$CLUSTER" stop "$dir"
    ((rc == 0))
}

restart_runs_jobs()
{
    slurm_run "$CLUSTER" start "$dir"
    ((rc == 0)) || return 1
    slurm_run timeout 60 srun -n 2 hostname
    ((rc == 0)) && [[ $(wc -l <"$slurm_out") -eq 2 ]]
}

foreign_conf_untouched()
{
    local other=$slurm_tmp/other
    mkdir -p "$other"
    echo "ClusterName=not-ours" >"$other/slurm.conf"
    slurm_run "$CLUSTER" start "$other"
    ((rc == 1)) && [[ $(<"$other/slurm.conf") == "ClusterName=not-ours" ]] &&
        [[ ! -e $other/slurmctld.bgpid ]]
}

usage_errors()
{
    slurm_run "$CLUSTER" restart "$dir"
    ((rc == 2)) || return 1
    slurm_run "$CLUSTER" start
    ((rc == 2))
}

slurm_check "start again keeps the running daemons" start_again_keeps_daemons
slurm_check "status: running, node idle" status_running
slurm_check "stop by PID; status then says stopped; stop again is fine" stop_and_status
slurm_check "start after stop runs jobs again" restart_runs_jobs
slurm_check "a slurm.conf the script did not write is left alone" foreign_conf_untouched
slurm_check "usage errors exit 2" usage_errors
slurm_finish
