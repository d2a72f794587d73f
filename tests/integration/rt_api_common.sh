#!/bin/bash
# rt_api_common.sh - shared by the rt_api_*.sh tests: run integration/rt_api with
# `ray-mpi -n N` for a rank count, UCX transport set and logical-node split, and
# require every scenario to pass.
#
# rt_api_run NRANKS TLS NODE_SPLIT SCENARIO...
#   NODE_SPLIT: ranks per logical node (RAYMPI_XPORT_NODE_SPLIT; 0 = one node).
#
# Every job gets the same runtime settings, which rt_api reads back to know what
# to expect: 2 CPU slots and no GPU per rank, and two custom resources.
# Environment (from tests/Makefile.am): top_srcdir, top_builddir, RMPI_MPIRUN.

set -uo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
RT_API=$top_builddir/tests/integration/rt_api
RAY_MPI=$top_builddir/cli/ray-mpi
rt_api_failed=0

if ! command -v "${RMPI_MPIRUN:-mpirun}" >/dev/null 2>&1; then
    echo "SKIP: '${RMPI_MPIRUN:-mpirun}' not found (Debian: apt-get install openmpi-bin)"
    exit 77
fi
if [[ ! -x $RT_API || ! -x $RAY_MPI ]]; then
    echo "rt_api_common.sh: $RT_API or $RAY_MPI not built" >&2
    exit 99
fi

# Start from a clean slate: no job, config file or settings of the caller's.
unset SLURM_PROCID OMPI_COMM_WORLD_RANK PMIX_RANK RAYMPI_JOB_ID RAYMPI_CONFIG_FILE \
    RAYMPI_XPORT_NODE_SPLIT RAYMPI_RT_INLINE_MAX RAYMPI_RT_MAX_THREADS RAYMPI_TIMELINE
export RAYMPI_RT_NUM_CPUS=2 RAYMPI_RT_NUM_GPUS=0 RAYMPI_RT_RESOURCES=widget:2,gizmo:0.5
export UCX_NET_DEVICES=${UCX_NET_DEVICES:-lo}

rt_api_tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$rt_api_tmp"' EXIT

rt_api_run()
{
    local n=$1 tls=$2 split=$3
    shift 3
    local out t0 rc what
    what="n=$n UCX_TLS=$tls NODE_SPLIT=$split${RAYMPI_RT_INLINE_MAX:+ RT_INLINE_MAX=$RAYMPI_RT_INLINE_MAX}"
    out=$rt_api_tmp/out
    t0=$(date +%s.%N)
    UCX_TLS=$tls RAYMPI_XPORT_NODE_SPLIT=$split "$RAY_MPI" -n "$n" "$RT_API" "$@" >"$out" 2>&1
    rc=$?
    if [[ $rc -eq 0 ]] && grep -qx 'rt_api: 0 failure(s)' "$out"; then
        printf 'ok: %s: %s (%.1f s)\n' "$what" "$*" "$(echo "$(date +%s.%N) - $t0" | bc)"
        grep -E '^rt_api (many|errors):' "$out" || true
    else
        echo "FAIL: $what: $* (exit status $rc)"
        cat "$out"
        rt_api_failed=1
    fi
}
