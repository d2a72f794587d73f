#!/bin/bash
# example_common.sh - sourced by the example_*.sh tests: run a program of examples/
# with `ray-mpi -n N` and check the "RESULT key=value ... ok" line it ends with.
#
#   example_check DESCRIPTION FUNCTION [ARGS...]
#       FUNCTION runs an example with example_run and returns success when the
#       RESULT line is right; on failure the example's output is printed.
#   example_run RANKS [VAR=VALUE...] PROGRAM [ARGS...]
#       run examples/PROGRAM on RANKS ranks with VAR=VALUE in the environment;
#       sets rc, and result (the last RESULT line, "" if none).
#   field NAME          the value of NAME=... in $result
#   result_ok           the example exited 0 and its RESULT line ends in "ok"
#   awk_true EXPR       EXPR (awk syntax, numbers from fields) is true
#   example_finish      print the summary; its status is the test's (a run directory
#                       left behind by an ended job is a failure, unless the test
#                       sets EXAMPLE_KEEPS_RUN_DIR)
#
# Environment (from tests/Makefile.am): top_srcdir, top_builddir, RMPI_MPIRUN.
# Exits 77 (skip) without mpirun, 99 when an example is not built.
set -uo pipefail

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
RAY_MPI=$top_builddir/cli/ray-mpi
EXAMPLES=$top_builddir/examples
example_failures=0

if ! command -v "${RMPI_MPIRUN:-mpirun}" >/dev/null 2>&1; then
    echo "SKIP: '${RMPI_MPIRUN:-mpirun}' not found (Debian: apt-get install openmpi-bin)"
    exit 77
fi
if [[ ! -x $RAY_MPI ]]; then
    echo "ERROR: $RAY_MPI is not built"
    exit 99
fi

# Settings of the caller's shell must not change what the examples do.
unset RAYMPI_CONFIG_FILE RAYMPI_RT_NUM_CPUS RAYMPI_RT_NUM_GPUS RAYMPI_RT_RESOURCES \
    RAYMPI_XPORT_NODE_SPLIT RAYMPI_TIMELINE RAYMPI_JOB_ID

example_tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$example_tmp"' EXIT
# The examples' run directories go here, so that example_finish can see that every
# job that ended took its own along.
export RAYMPI_RUN_DIR_BASE=$example_tmp/run

example_run()
{
    local ranks=$1 program
    local -a vars=()
    shift
    while (($# > 0)) && [[ $1 == *=* ]]; do
        vars+=("$1")
        shift
    done
    program=$1
    shift
    if [[ ! -x $EXAMPLES/$program ]]; then
        echo "ERROR: $EXAMPLES/$program is not built"
        exit 99
    fi
    example_cmd="${vars[*]:+${vars[*]} }ray-mpi -n $ranks $program${*:+ $*}"
    rc=0
    env ${vars[@]+"${vars[@]}"} "$RAY_MPI" -n "$ranks" "$EXAMPLES/$program" "$@" \
        >"$example_tmp/out" 2>"$example_tmp/err" || rc=$?
    result=$(grep '^RESULT ' "$example_tmp/out" | tail -n 1)
}

field()
{
    local word
    for word in $result; do
        if [[ $word == "$1="* ]]; then
            echo "${word#*=}"
            return 0
        fi
    done
    return 1
}

result_ok()
{
    [[ $rc -eq 0 && $result == *" ok" ]]
}

awk_true()
{
    awk "BEGIN { exit !($1) }" </dev/null
}

example_check()
{
    local description=$1
    shift
    example_cmd="(no example run)"
    result=""
    rc=0
    : >"$example_tmp/out"
    : >"$example_tmp/err"
    if "$@"; then
        echo "ok: $description [$example_cmd]"
        echo "    $result"
    else
        echo "FAIL: $description [$example_cmd] (exit status $rc)"
        echo "--- stdout:" && cat "$example_tmp/out" 2>/dev/null
        echo "--- stderr:" && cat "$example_tmp/err" 2>/dev/null
        example_failures=$((example_failures + 1))
    fi
}

example_finish()
{
    local left
    left=$(find "$RAYMPI_RUN_DIR_BASE" -mindepth 1 -maxdepth 1 2>/dev/null)
    if [[ -n $left && -z ${EXAMPLE_KEEPS_RUN_DIR:-} ]]; then
        echo "FAIL: run directories left behind by jobs that ended:"
        find "$RAYMPI_RUN_DIR_BASE" -mindepth 1 | sed 's/^/    /'
        ((example_failures++))
    fi
    echo "$(basename "$0"): $example_failures failure(s)"
    ((example_failures == 0))
}
