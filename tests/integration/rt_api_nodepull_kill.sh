#!/bin/bash
# rt_api_nodepull_kill.sh - the `nodepull_kill` scenario of rt_api.c: a node's puller
# dies while a reader of its node waits for the object; the reader must fail over and
# read the bytes intact, never hang. 4 ranks in 2 logical nodes, 48 MiB arenas (so the
# puller, its store filled, waits for room: "mid-pull" without timing), under sm and
# tcp. Launched with `mpirun --enable-recovery` (docs/transport.md) so that mpirun
# leaves the survivors running; the dead rank's arena (SIGKILL) is removed here.
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
export UCX_NET_DEVICES=${UCX_NET_DEVICES:-lo} RAYMPI_RT_NUM_CPUS=2 RAYMPI_XPORT_NODE_SPLIT=2
export RAYMPI_STORE_ARENA_SIZE=48M RAYMPI_STORE_PUT_TIMEOUT=60s
failed=0

for tls in sm,self tcp,self; do
    job_id="rt-nodepull-kill-$$-${tls%%,*}"
    out=$(mktemp)
    UCX_TLS=$tls RAYMPI_RUN_DIR_BASE=$run_dir_base RAYMPI_JOB_ID=$job_id timeout 120 \
        bash "$(dirname "$0")/../harness/mpirun.sh" -n 4 --enable-recovery \
        -x UCX_TLS -x RAYMPI_RUN_DIR_BASE -x RAYMPI_JOB_ID -x RAYMPI_RT_NUM_CPUS \
        -x RAYMPI_XPORT_NODE_SPLIT -x RAYMPI_STORE_ARENA_SIZE -x RAYMPI_STORE_PUT_TIMEOUT \
        "$top_builddir/tests/integration/rt_api" nodepull_kill >"$out" 2>&1
    status=$?
    if [ "$status" = 77 ]; then
        rm -f "$out"
        exit 77
    fi
    if grep -qx 'rt_api: 0 failure(s)' "$out"; then
        echo "ok: nodepull_kill UCX_TLS=$tls (mpirun rc $status)"
    else
        echo "FAIL: nodepull_kill UCX_TLS=$tls (mpirun rc $status)"
        cat "$out"
        failed=1
    fi
    rm -f "$out" /dev/shm/raympi-"$job_id"-*
done
exit "$failed"
