#!/bin/bash
# rt_actor.sh - the actor scenarios of rt_actor.c (ordered calls, handles passed to tasks,
# application errors, named and detached actors, max_concurrency, kill and restart, exit,
# placement, placement groups, bad input, actor pools) under `ray-mpi -n N`: 2 ranks on one node over sm, 4 ranks on two
# logical nodes over tcp.
. "$(dirname "$0")/rt_api_common.sh"
RT_API=$top_builddir/tests/integration/rt_actor
scenarios=(counter handles bank named detached concurrent kill lifecycle placement pg badinput pool noleak)

# rt_actor_run NRANKS TLS NODE_SPLIT [SCENARIO...] (default: the list above)
rt_actor_run()
{
    local n=$1 tls=$2 split=$3 out=$rt_api_tmp/out rc t0
    shift 3
    [[ $# -gt 0 ]] || set -- "${scenarios[@]}"
    t0=$(date +%s.%N)
    UCX_TLS=$tls RAYMPI_XPORT_NODE_SPLIT=$split timeout 300 "$RAY_MPI" -n "$n" "$RT_API" \
        "$@" >"$out" 2>&1
    rc=$?
    if [[ $rc -eq 0 ]] && grep -qx 'rt_actor: 0 failure(s)' "$out"; then
        printf 'ok: n=%s UCX_TLS=%s NODE_SPLIT=%s (%.1f s)\n' "$n" "$tls" "$split" \
            "$(echo "$(date +%s.%N) - $t0" | bc)"
    else
        echo "FAIL: n=$n UCX_TLS=$tls NODE_SPLIT=$split (exit status $rc)"
        cat "$out"
        rt_api_failed=1
    fi
}

[[ -x $RT_API ]] || { echo "rt_actor.sh: $RT_API not built" >&2; exit 99; }
rt_actor_run 2 sm,self 0
rt_actor_run 4 tcp,self 2
# An async actor holds more waiting calls than its rank has executor threads.
RAYMPI_RT_MAX_THREADS=3 rt_actor_run 2 sm,self 0 async
RAYMPI_RT_MAX_THREADS=3 rt_actor_run 3 tcp,self 1 async
exit $rt_api_failed
