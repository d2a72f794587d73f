#!/bin/bash
# xport_common.sh - shared by the xport_*.sh tests: run integration/xport_test
# under harness/mpirun.sh for each rank count and UCX transport set, and count
# the ranks that printed PASS.
#
# xport_run MODE NRANKS TLS [EXPECTED_PASSES] [EXTRA_ARG] [MPIRUN_FLAGS...]

set -uo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
XPORT_TEST=$top_builddir/tests/integration/xport_test
MPIRUN_SH=$top_srcdir/tests/harness/mpirun.sh
export UCX_NET_DEVICES=${UCX_NET_DEVICES:-lo}
xport_failed=0

xport_run()
{
    local mode=$1 n=$2 tls=$3 expect=${4:-$2} extra=${5:-}
    shift 5 2>/dev/null || shift $#
    local out t0 passes rc
    out=$(mktemp)
    t0=$(date +%s.%N)
    UCX_TLS=$tls timeout 60 bash "$MPIRUN_SH" -n "$n" -x UCX_TLS -x UCX_NET_DEVICES "$@" \
        "$XPORT_TEST" "$mode" $extra >"$out" 2>&1
    rc=$?
    passes=$(grep -c "^xport_test $mode: rank [0-9]* PASS" "$out")
    if [ "$rc" = 77 ]; then
        rm -f "$out"
        exit 77
    fi
    if [ "$passes" != "$expect" ]; then
        echo "FAIL: $mode n=$n UCX_TLS=$tls: $passes of $expect ranks passed (mpirun rc $rc)"
        cat "$out"
        xport_failed=1
    else
        printf 'ok: %s %s n=%d UCX_TLS=%s (%.1f s, mpirun rc %d)\n' "$mode" "$extra" "$n" \
            "$tls" "$(echo "$(date +%s.%N) - $t0" | bc)" "$rc"
        grep -v PASS "$out" | grep "^xport_test" | head -3
    fi
    rm -f "$out"
}
