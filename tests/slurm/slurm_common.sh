#!/bin/bash
# slurm_common.sh - sourced by the tests/slurm/*.sh tests: start a private
# single-node Slurm cluster (real slurmctld and slurmd, scripts/slurm-cluster.sh)
# in a temporary folder, export SLURM_CONF for it, and stop it on exit.
#
#   slurm_check DESCRIPTION COMMAND [ARGS...]
#       run COMMAND; print ok or FAIL (with the captured output) and count failures
#   slurm_run COMMAND [ARGS...]
#       run COMMAND in $slurm_work with stdout/stderr captured in $slurm_out/$slurm_err;
#       sets rc
#   slurm_finish        print the summary; its status is the test's
#
# Skips (77) only where Slurm cannot run here: the daemons are not installed, or
# this is not root (slurmd must run as root to launch tasks). Any other failure
# to start the cluster fails the test.
set -uo pipefail

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
RAY_MPI=$top_builddir/cli/ray-mpi
EXAMPLES=$top_builddir/examples
CLUSTER=$top_srcdir/scripts/slurm-cluster.sh
slurm_failures=0

if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: the Slurm tests start slurmd, which must run as root (this is uid $(id -u))"
    exit 77
fi
for tool in slurmctld slurmd srun sbatch sinfo; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool not found (Debian: scripts/install-deps.sh installs slurmctld slurmd slurm-client)"
        exit 77
    fi
done
if [[ ! -x $RAY_MPI ]]; then
    echo "ERROR: $RAY_MPI is not built"
    exit 99
fi

# Settings of the caller's shell (or of an enclosing Slurm job) must not leak in.
unset RAYMPI_CONFIG_FILE RAYMPI_RT_NUM_CPUS RAYMPI_RT_NUM_GPUS RAYMPI_RT_RESOURCES \
    RAYMPI_XPORT_NODE_SPLIT RAYMPI_TIMELINE RAYMPI_JOB_ID RAYMPI_JOB_TEMPLATE
while read -r var; do
    unset "$var"
done < <(env | sed -n 's/^\(SLURM_[A-Za-z0-9_]*\)=.*/\1/p')

slurm_tmp=$(mktemp -d /tmp/raympi-slurm-test.XXXXXX) || exit 99
slurm_cleanup()
{
    "$CLUSTER" stop "$slurm_tmp/cluster" >/dev/null
    rm -rf "$slurm_tmp"
}
trap slurm_cleanup EXIT

if ! "$CLUSTER" start "$slurm_tmp/cluster" >"$slurm_tmp/start.out" 2>&1; then
    rc=$?
    cat "$slurm_tmp/start.out"
    if ((rc == 3)); then
        echo "SKIP: Slurm is not installed"
        exit 77
    fi
    echo "ERROR: the test cluster did not start"
    exit 99
fi
export SLURM_CONF=$slurm_tmp/cluster/slurm.conf
# Each job's run directory under the test's own folder; the job ID names it.
export RAYMPI_RUN_DIR_BASE=$slurm_tmp/run
slurm_work=$slurm_tmp/work
mkdir -p "$slurm_work" "$RAYMPI_RUN_DIR_BASE"
slurm_out=$slurm_tmp/out
slurm_err=$slurm_tmp/err

slurm_run()
{
    rc=0
    (cd "$slurm_work" && "$@") >"$slurm_out" 2>"$slurm_err" || rc=$?
}

slurm_check()
{
    local description=$1
    shift
    rc=0
    : >"$slurm_out"
    : >"$slurm_err"
    if "$@"; then
        echo "ok: $description"
    else
        echo "FAIL: $description (last exit status $rc)"
        echo "--- stdout:" && cat "$slurm_out"
        echo "--- stderr:" && cat "$slurm_err"
        slurm_failures=$((slurm_failures + 1))
    fi
}

# result_line FILE: the last RESULT line of FILE, "" if none.
result_line()
{
    grep '^RESULT ' "$1" 2>/dev/null | tail -n 1
}

# pi_ok LINE TASKS SAMPLES: LINE is examples/pi's RESULT line for TASKS x SAMPLES,
# its estimate within 0.05 of pi.
pi_ok()
{
    local line=$1 tasks=$2 samples=$3 pi="" t="" s="" word
    for word in $line; do
        case $word in
        pi=*) pi=${word#pi=} ;;
        tasks=*) t=${word#tasks=} ;;
        samples=*) s=${word#samples=} ;;
        esac
    done
    [[ $line == *" ok" && $t == "$tasks" && $s == $((tasks * samples)) && -n $pi ]] &&
        awk "BEGIN { d = $pi - atan2(0, -1); exit !(d < 0.05 && d > -0.05) }" </dev/null
}

slurm_finish()
{
    echo "$(basename "$0"): $slurm_failures failure(s)"
    ((slurm_failures == 0))
}
