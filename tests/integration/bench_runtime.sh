#!/bin/bash
# bench_runtime.sh - `ray-mpi bench --quick --json runtime` (2 ranks, which the command
# starts itself): it exits 0, prints every figure of the runtime benchmark once, each a
# finite positive number (actor and placement-group figures included),
# task_roundtrip_latency and actor_call_roundtrip_latency with their limit (the transport's round
# trip) positive too, and the runtime leaves no arena of the job in /dev/shm.
#
# The ranks get a fresh, private RAYMPI_RUN_DIR_BASE (removed at exit). Launcher
# variables from an enclosing job are cleared so that ray-mpi starts the ranks itself.
#
# Environment (from tests/Makefile.am): top_builddir (absolute), RMPI_MPIRUN.
# Exits 77 (skipped) without mpirun or python3.
set -uo pipefail

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
mpirun=${RMPI_MPIRUN:-mpirun}
if ! command -v "$mpirun" >/dev/null 2>&1; then
    echo "SKIP: '$mpirun' not found (Debian: apt-get install openmpi-bin)"
    exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: python3 not found (it reads the JSON lines)"
    exit 77
fi

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
unset SLURM_PROCID OMPI_COMM_WORLD_RANK PMIX_RANK RAYMPI_CONFIG_FILE
export UCX_NET_DEVICES=${UCX_NET_DEVICES:-lo}
job_id="bench-runtime-$$"

rc=0
RAYMPI_RUN_DIR_BASE=$tmp/runs RAYMPI_JOB_ID=$job_id timeout 240 \
    "$top_builddir/cli/ray-mpi" bench --quick --json runtime >"$tmp/out" 2>"$tmp/err" || rc=$?
failed=0
if [ "$rc" != 0 ]; then
    echo "FAIL: ray-mpi bench --quick --json runtime exited $rc"
    failed=1
fi

python3 - "$tmp/out" <<'EOF' || failed=1
import json, math, sys

expected = [
    "single_client_tasks_sync", "single_client_tasks_async",
    "single_client_tasks_and_get_batch", "multi_client_tasks_async",
    "single_client_wait_1k_refs", "single_client_get_object_containing_10k_refs",
    "rmpi_put_calls", "rmpi_get_calls", "task_roundtrip_latency",
    "placement_group_create/removal", "placement_group_create/removal_remote",
    "1_1_actor_calls_sync", "1_1_actor_calls_async", "1_1_actor_calls_concurrent",
    "1_1_async_actor_calls_async", "1_n_actor_calls_async", "n_n_actor_calls_async",
    "n_n_actor_calls_with_arg_async", "actor_call_roundtrip_latency",
]
figures = {}
for line in open(sys.argv[1]):
    rec = json.loads(line)
    assert rec["name"] not in figures, "reported twice: %s" % rec["name"]
    figures[rec["name"]] = rec

def positive(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0

bad = 0
for name in expected:
    rec = figures.get(name)
    if rec is None:
        print("FAIL: %s missing" % name)
        bad += 1
    elif not positive(rec["value"]) or not rec["unit"]:
        print("FAIL: %s: %r" % (name, rec))
        bad += 1
    else:
        print("ok: %s = %.6g %s" % (name, rec["value"], rec["unit"]))
for latency in ("task_roundtrip_latency", "actor_call_roundtrip_latency"):
    rec = figures.get(latency, {})
    if not positive(rec.get("limit")) or not rec.get("limit_source"):
        print("FAIL: %s has no positive limit: %r" % (latency, rec))
        bad += 1
    else:
        print("ok: %s limit = %.6g us (%s)" % (latency, rec["limit"], rec["limit_source"]))
sys.exit(1 if bad else 0)
EOF
if [ "$failed" != 0 ]; then
    echo "--- stdout:" && cat "$tmp/out"
    echo "--- stderr:" && cat "$tmp/err"
fi

leftovers=$(ls /dev/shm | grep -c "^raympi-$job_id-")
if [ "$leftovers" != 0 ]; then
    echo "FAIL: $leftovers arena(s) of job $job_id left in /dev/shm"
    rm -f /dev/shm/raympi-"$job_id"-*
    failed=1
fi
exit "$failed"
