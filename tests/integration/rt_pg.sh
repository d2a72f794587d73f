#!/bin/bash
# rt_pg.sh - placement groups through the public API (see rt_pg.c: strategies, infeasible,
# pending, named, badinput, gang, churn) on 2 and 4 ranks, on one logical node and on
# several (RAYMPI_XPORT_NODE_SPLIT), under UCX_TLS=sm,self and tcp,self; then `kill` (a
# rank holding bundles dies) on 4 ranks under mpirun --enable-recovery.
. "$(dirname "$0")/rt_api_common.sh"
RT_API=$top_builddir/tests/integration/rt_pg
if [[ ! -x $RT_API ]]; then
    echo "rt_pg.sh: $RT_API not built" >&2
    exit 99
fi
scenarios=(strategies infeasible pending named badinput gang churn)
rt_pg_run()
{
    local out=$rt_api_tmp/pg-out n=$1 tls=$2 split=$3 t0 rc
    shift 3
    t0=$(date +%s.%N)
    UCX_TLS=$tls RAYMPI_XPORT_NODE_SPLIT=$split "$RAY_MPI" -n "$n" "$RT_API" "$@" >"$out" 2>&1
    rc=$?
    if [[ $rc -eq 0 ]] && grep -qx 'rt_pg: 0 failure(s)' "$out"; then
        printf 'ok: n=%s UCX_TLS=%s NODE_SPLIT=%s (%.1f s)\n' "$n" "$tls" "$split" \
            "$(echo "$(date +%s.%N) - $t0" | bc)"
    else
        echo "FAIL: n=$n UCX_TLS=$tls NODE_SPLIT=$split: $* (exit status $rc)"
        cat "$out"
        rt_api_failed=1
    fi
}
rt_pg_run 2 sm,self 0 "${scenarios[@]}"
rt_pg_run 2 tcp,self 1 "${scenarios[@]}"
rt_pg_run 4 sm,self 2 "${scenarios[@]}"
rt_pg_run 4 tcp,self 1 "${scenarios[@]}"

# A rank dies: survivors see its groups fail or go (mpirun --enable-recovery keeps them
# running; the transport's kill test uses the same launch mode, docs/transport.md).
for tls in sm,self tcp,self; do
    out=$rt_api_tmp/pg-kill
    job_id="rt-pg-kill-$$-${tls%%,*}"
    UCX_TLS=$tls RAYMPI_XPORT_NODE_SPLIT=1 RAYMPI_JOB_ID=$job_id timeout 120 \
        bash "$top_srcdir/tests/harness/mpirun.sh" -n 4 --enable-recovery "$RT_API" kill \
        >"$out" 2>&1
    rc=$?
    [[ $rc -eq 77 ]] && exit 77
    if grep -qx 'rt_pg kill: ok.*' "$out" && grep -qx 'rt_pg: 0 failure(s)' "$out"; then
        echo "ok: kill n=4 UCX_TLS=$tls (mpirun rc $rc)"
    else
        echo "FAIL: kill n=4 UCX_TLS=$tls (mpirun rc $rc)"
        cat "$out"
        rt_api_failed=1
    fi
    rm -f /dev/shm/raympi-"$job_id"-* # arenas: SIGKILL and the survivors' _exit leave them
done
exit $rt_api_failed
