#!/bin/bash
# store_pull.sh - run integration/store_pull on 4 ranks through `ray-mpi -n 4`, every rank
# its own logical node (RAYMPI_XPORT_NODE_SPLIT=1), once with UCX_TLS=sm,self (pulls by
# RMA get) and once with tcp,self (pulls by rendezvous active message): each rank pulls
# other ranks' objects into its own arena over the transport. Then `store_pull kill`
# under `mpirun --enable-recovery` (the launch mode of the transport's kill test, see
# docs/transport.md): the last rank dies during pulls from it; the 3 survivors must
# each print PASS. Its arena stays in /dev/shm (SIGKILL) and is removed here.
#
# The ranks get a fresh, private RAYMPI_RUN_DIR_BASE (removed at exit). Launcher
# variables from an enclosing job are cleared so that ray-mpi starts the ranks itself.
# Afterwards no arena of the job may be left in /dev/shm.
#
# Environment (from tests/Makefile.am): top_builddir (absolute), RMPI_MPIRUN.
# Exits 77 (skipped) when there is no mpirun.
set -uo pipefail

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
mpirun=${RMPI_MPIRUN:-mpirun}
if ! command -v "$mpirun" >/dev/null 2>&1; then
    echo "SKIP: '$mpirun' not found (Debian: apt-get install openmpi-bin)"
    exit 77
fi

run_dir_base=$(mktemp -d) || exit 99
trap 'rm -rf "$run_dir_base"' EXIT
unset SLURM_PROCID OMPI_COMM_WORLD_RANK PMIX_RANK RAYMPI_CONFIG_FILE
export UCX_NET_DEVICES=${UCX_NET_DEVICES:-lo}
failed=0

for tls in sm,self tcp,self; do
    job_id="store-pull-$$-${tls%%,*}"
    t0=$(date +%s.%N)
    UCX_TLS=$tls RAYMPI_XPORT_NODE_SPLIT=1 RAYMPI_RUN_DIR_BASE=$run_dir_base \
        RAYMPI_JOB_ID=$job_id timeout 60 \
        "$top_builddir/cli/ray-mpi" -n 4 "$top_builddir/tests/integration/store_pull"
    status=$?
    if [ "$status" = 77 ]; then
        exit 77
    fi
    if [ "$status" != 0 ]; then
        echo "FAIL: store_pull UCX_TLS=$tls (exit $status)"
        failed=1
    else
        printf 'ok: store_pull UCX_TLS=%s (%.1f s)\n' "$tls" "$(echo "$(date +%s.%N) - $t0" | bc)"
    fi
    leftovers=$(ls /dev/shm | grep -c "^raympi-$job_id-")
    if [ "$leftovers" != 0 ]; then
        echo "FAIL: $leftovers arena(s) of job $job_id left in /dev/shm"
        rm -f /dev/shm/raympi-"$job_id"-*
        failed=1
    fi
done
for tls in sm,self tcp,self; do
    job_id="store-pull-$$-kill-${tls%%,*}"
    out=$(mktemp)
    UCX_TLS=$tls RAYMPI_XPORT_NODE_SPLIT=1 RAYMPI_RUN_DIR_BASE=$run_dir_base \
        RAYMPI_JOB_ID=$job_id timeout 60 bash "$(dirname "$0")/../harness/mpirun.sh" \
        -n 4 --enable-recovery "$top_builddir/tests/integration/store_pull" kill >"$out" 2>&1
    status=$?
    if [ "$status" = 77 ]; then
        rm -f "$out"
        exit 77
    fi
    passes=$(grep -c "^store_pull kill: rank [0-9]* PASS" "$out")
    if [ "$passes" != 3 ]; then
        echo "FAIL: store_pull kill UCX_TLS=$tls: $passes of 3 survivors passed (mpirun rc $status)"
        cat "$out"
        failed=1
    else
        echo "ok: store_pull kill UCX_TLS=$tls"
    fi
    rm -f "$out" /dev/shm/raympi-"$job_id"-*
done
exit "$failed"
