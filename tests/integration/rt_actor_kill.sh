#!/bin/bash
# rt_actor_kill.sh - the `rankdeath` scenario of rt_actor.c: an actor SIGKILLs its own
# rank (the last one). The actor with max_restarts 1 must come back on another rank,
# constructed again from its arguments; the one without restarts fails its calls with
# RMPI_ERR_ACTOR_DIED. Launched with `mpirun --enable-recovery` (the transport's kill-test
# mode, docs/transport.md) so that mpirun leaves the survivors running. The dead rank's
# arena stays in /dev/shm (SIGKILL) and is removed here.
set -uo pipefail
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
mpirun=${RMPI_MPIRUN:-mpirun}
if ! command -v "$mpirun" >/dev/null 2>&1; then
    echo "SKIP: '$mpirun' not found (Debian: apt-get install openmpi-bin)"
    exit 77
fi
run_dir_base=$(mktemp -d) || exit 99
trap 'rm -rf "$run_dir_base"' EXIT
unset SLURM_PROCID OMPI_COMM_WORLD_RANK PMIX_RANK RAYMPI_CONFIG_FILE RAYMPI_XPORT_NODE_SPLIT
export UCX_NET_DEVICES=${UCX_NET_DEVICES:-lo} RAYMPI_RT_NUM_CPUS=2
failed=0
for tls in sm,self tcp,self; do
    job_id="rt-actor-kill-$$-${tls%%,*}"
    out=$(mktemp)
    UCX_TLS=$tls RAYMPI_RUN_DIR_BASE=$run_dir_base RAYMPI_JOB_ID=$job_id timeout 120 \
        bash "$(dirname "$0")/../harness/mpirun.sh" -n 3 --enable-recovery \
        -x UCX_TLS -x RAYMPI_RUN_DIR_BASE -x RAYMPI_JOB_ID -x RAYMPI_RT_NUM_CPUS \
        "$top_builddir/tests/integration/rt_actor" rankdeath >"$out" 2>&1
    status=$?
    if [ "$status" = 77 ]; then
        rm -f "$out"
        exit 77
    fi
    if grep -qx 'rt_actor: 0 failure(s)' "$out"; then
        echo "ok: rankdeath UCX_TLS=$tls (mpirun rc $status)"
    else
        echo "FAIL: rankdeath UCX_TLS=$tls (mpirun rc $status)"
        cat "$out"
        failed=1
    fi
    rm -f "$out" /dev/shm/raympi-"$job_id"-*
done
exit "$failed"
