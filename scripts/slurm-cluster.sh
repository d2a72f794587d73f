#!/bin/bash
# slurm-cluster.sh start DIR | stop DIR | status DIR
#
# A private single-node Slurm cluster for the tests: slurmctld and slurmd run as
# this user (root) with everything - slurm.conf, state, spool, logs, PID files -
# under DIR. Authentication is auth/none (no munged needed; Slurm 22.05 ships
# auth_none/cred_none), MpiDefault=pmix, no cgroups, and the node advertises
# RAYMPI_SLURM_CPUS CPUs (default 8; SlurmdParameters=config_overrides makes
# slurmd trust that on a 2-core machine) with OverSubscribe=FORCE, so 8-task
# steps fit. See docs/testing.md and ../shared/reference/hpc-setup.md section 5.
#
#   start DIR   write DIR/slurm.conf (unless DIR/slurm.conf exists and was written
#               by this script), start the daemons unless they already run, wait
#               (bounded) until the node is idle. Prints `export SLURM_CONF=...`.
#   stop DIR    stop the daemons started into DIR by their PIDs (TERM, then KILL
#               after a bounded wait); never by name. Safe when nothing runs.
#   status DIR  exit 0 and print the node state when both daemons run, else 1.
#
# Ports: RAYMPI_SLURM_PORT (slurmctld; slurmd uses PORT+1). By default a free pair
# is picked from a random point in 16818-18816 upwards, so two clusters (or a
# system Slurm on 6817/6818) do not clash.
# Exit status: 0 ok, 1 failure (with a message on stderr), 2 usage,
# 3 Slurm is not installed (tests turn that into a skip).
set -uo pipefail

readonly START_TIMEOUT_S=${RAYMPI_SLURM_START_TIMEOUT:-30}
readonly STOP_TIMEOUT_S=10
readonly MARKER="# written by ray-mpi scripts/slurm-cluster.sh"

usage()
{
    echo "usage: $0 start DIR | stop DIR | status DIR" >&2
    exit 2
}

die()
{
    echo "slurm-cluster: $*" >&2
    exit 1
}

# pid_alive FILE: the PID in FILE names a live process (not a zombie).
pid_alive()
{
    local pid state
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    state=$(ps -o stat= -p "$pid" 2>/dev/null) || return 1
    [[ -n $state && $state != Z* ]]
}

port_free()
{
    ! (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_conf()
{
    local dir=$1 host=$2 port=$3 cpus=$4
    local first_job_id=$(((RANDOM * 32768 + RANDOM) % 50000000 + 1000))
    cat >"$dir/slurm.conf" <<EOF
$MARKER
ClusterName=raympi
SlurmctldHost=$host(127.0.0.1)
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/none
CredType=cred/none
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldPort=$port
SlurmdPort=$((port + 1))
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
MailProg=/bin/true
InactiveLimit=0
KillWait=5
MinJobAge=300
# Job IDs name run directories and shm arenas; a random first ID keeps two
# private clusters on one machine (parallel test runs) from reusing them.
FirstJobId=$first_job_id
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
}

node_state()
{
    SLURM_CONF=$1/slurm.conf timeout 5 sinfo -h -o %T 2>/dev/null | head -n 1
}

cmd_start()
{
    local dir=$1 host port cpus i state
    for tool in slurmctld slurmd sinfo srun; do
        command -v "$tool" >/dev/null 2>&1 || {
            echo "slurm-cluster: $tool not found (Debian: slurmctld slurmd slurm-client)" >&2
            exit 3
        }
    done
    mkdir -p "$dir" || die "cannot create $dir"
    dir=$(cd "$dir" && pwd)
    host=$(hostname -s)
    getent hosts "$host" >/dev/null || die "host name '$host' does not resolve; slurmd needs it"
    if [[ -f $dir/slurm.conf ]] && ! grep -qxF "$MARKER" "$dir/slurm.conf"; then
        die "$dir/slurm.conf exists and was not written by this script; not touching it"
    fi
    if pid_alive "$dir/slurmctld.bgpid" && pid_alive "$dir/slurmd.bgpid"; then
        echo "export SLURM_CONF=$dir/slurm.conf"
        return 0
    fi
    cmd_stop "$dir" >/dev/null # half-started leftovers
    cpus=${RAYMPI_SLURM_CPUS:-8}
    [[ $cpus =~ ^[1-9][0-9]*$ ]] || die "RAYMPI_SLURM_CPUS='$cpus' is not a positive number"
    port=${RAYMPI_SLURM_PORT:-}
    if [[ -z $port ]]; then
        # from a random even offset, so clusters started at once rarely race for a port
        local first=$((16818 + 2 * (RANDOM % 500)))
        for ((port = first; port < first + 1000; port += 2)); do
            port_free "$port" && port_free $((port + 1)) && break
        done
    fi
    [[ $port =~ ^[0-9]+$ ]] || die "RAYMPI_SLURM_PORT='$port' is not a number"
    port_free "$port" || die "port $port is in use"
    rm -rf "$dir/state" "$dir/spool" "$dir/log"
    mkdir -p "$dir/state" "$dir/spool/$host" "$dir/log" || die "cannot populate $dir"
    write_conf "$dir" "$host" "$port" "$cpus"

    export SLURM_CONF=$dir/slurm.conf
    setsid slurmctld -D -i -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 </dev/null &
    echo $! >"$dir/slurmctld.bgpid"
    setsid slurmd -D -f "$SLURM_CONF" >"$dir/log/slurmd.out" 2>&1 </dev/null &
    echo $! >"$dir/slurmd.bgpid"

    # Bounded wait for the node to register idle: poll sinfo, not a fixed sleep.
    for ((i = 0; i < START_TIMEOUT_S * 10; i++)); do
        state=$(node_state "$dir")
        [[ $state == idle* ]] && {
            echo "export SLURM_CONF=$SLURM_CONF"
            return 0
        }
        if ! pid_alive "$dir/slurmctld.bgpid" || ! pid_alive "$dir/slurmd.bgpid"; then
            break
        fi
        sleep 0.1
    done
    echo "slurm-cluster: node did not become idle within ${START_TIMEOUT_S}s (state '${state:-none}')" >&2
    tail -n 5 "$dir/log/slurmctld.out" "$dir/log/slurmd.out" "$dir/log/slurmctld.log" \
        "$dir/log/slurmd.log" >&2 2>/dev/null
    cmd_stop "$dir" >/dev/null
    exit 1
}

cmd_stop()
{
    local dir=$1 f pids="" i
    for f in "$dir/slurmd.bgpid" "$dir/slurmctld.bgpid"; do
        if pid_alive "$f"; then
            pids="${pids:+$pids }$(<"$f")"
        fi
    done
    if [[ -n $pids ]]; then
        # shellcheck disable=SC2086
        kill -TERM $pids 2>/dev/null
        for ((i = 0; i < STOP_TIMEOUT_S * 10; i++)); do
            ps -p "${pids// /,}" >/dev/null 2>&1 || break
            sleep 0.1
        done
        if ps -p "${pids// /,}" >/dev/null 2>&1; then
            echo "slurm-cluster: daemons still running after ${STOP_TIMEOUT_S}s; killing $pids" >&2
            # shellcheck disable=SC2086
            kill -KILL $pids 2>/dev/null
        fi
    fi
    rm -f "$dir/slurmd.bgpid" "$dir/slurmctld.bgpid"
    return 0
}

cmd_status()
{
    local dir=$1
    if pid_alive "$dir/slurmctld.bgpid" && pid_alive "$dir/slurmd.bgpid"; then
        echo "running: node $(node_state "$dir")"
        return 0
    fi
    echo "not running"
    return 1
}

(($# == 2)) || usage
case $1 in
start) cmd_start "$2" ;;
stop)
    [[ -d $2 ]] || exit 0
    cmd_stop "$(cd "$2" && pwd)"
    ;;
status)
    [[ -d $2 ]] || {
        echo "not running"
        exit 1
    }
    cmd_status "$2"
    ;;
*) usage ;;
esac
