#!/bin/bash
# rt_actor_kill.sh - the `rankdeath` scenario of rt_actor.c: an actor SIGKILLs its own
# rank (the last one). The actor with max_restarts 1 must come back on another rank,
# constructed again from its arguments; the one without restarts fails its calls with
# RMPI_ERR_ACTOR_DIED. Then `gpudeath`, when the build has the CUDA driver double: a
# whole-GPU actor restarted after its rank died holds a device on its new rank. Launched
# with `mpirun --enable-recovery` (the transport's kill-test mode, docs/transport.md) so
# that mpirun leaves the survivors running. The dead rank's arena stays in /dev/shm
# (SIGKILL) and is removed here.
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
# Without it, the double is not loaded: gpudeath's actor is infeasible (not run below).
export RAYMPI_GPU_LIBCUDA=${RAYMPI_GPU_LIBCUDA:-libcuda.so.1}
double=$top_builddir/tests/gpu/.libs/libcudadouble.so
failed=0

# run_scenario TLS SCENARIO: 3 ranks, the last one killed; sets failed on a failure.
run_scenario()
{
    local tls=$1 scenario=$2 job_id out status
    job_id="rt-actor-kill-$$-${tls%%,*}-$scenario"
    out=$(mktemp)
    UCX_TLS=$tls RAYMPI_RUN_DIR_BASE=$run_dir_base RAYMPI_JOB_ID=$job_id timeout 120 \
        bash "$(dirname "$0")/../harness/mpirun.sh" -n 3 --enable-recovery \
        -x UCX_TLS -x RAYMPI_RUN_DIR_BASE -x RAYMPI_JOB_ID -x RAYMPI_RT_NUM_CPUS \
        -x RAYMPI_GPU_LIBCUDA "$top_builddir/tests/integration/rt_actor" "$scenario" \
        >"$out" 2>&1
    status=$?
    if [ "$status" = 77 ]; then
        rm -f "$out"
        exit 77
    fi
    if grep -qx 'rt_actor: 0 failure(s)' "$out"; then
        echo "ok: $scenario UCX_TLS=$tls (mpirun rc $status)"
    else
        echo "FAIL: $scenario UCX_TLS=$tls (mpirun rc $status)"
        cat "$out"
        failed=1
    fi
    rm -f "$out" /dev/shm/raympi-"$job_id"-*
}

for tls in sm,self tcp,self; do
    run_scenario "$tls" rankdeath
done
if [[ -f $double ]]; then
    RAYMPI_GPU_LIBCUDA=$double run_scenario sm,self gpudeath
else
    echo "skipped: gpudeath (built without CUDA: no driver double)"
fi
exit "$failed"
