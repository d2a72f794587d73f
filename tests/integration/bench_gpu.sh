#!/bin/bash
# bench_gpu.sh - `ray-mpi bench --quick --json` of the GPU task and device-object
# benchmarks (gpu_task_roundtrip, gpu_object_d2h_bandwidth, gpu_object_h2d_bandwidth,
# gpu_object_same_device_get; one rank) on the CUDA driver double, so CI runs their
# code paths without a GPU: it exits 0, prints each figure once with its limit, and
# value, limit and ratio are finite and positive; the runtime leaves no arena of the
# job in /dev/shm.
#
# The double runs "device" work as host memcpy and kernels as host calls, so its
# numbers mean nothing (a launch "limit" of a few ns, copies at memcpy speed): only
# their presence is checked. gpu_task_roundtrip may be skipped for "no built-in
# kernels" in a build without nvcc; any other skip fails.
#
# The double gets 512 MiB of "device" memory and the store a 256 MiB arena, room for
# --quick's 4 MiB objects and their host copies. The ranks get a fresh, private
# RAYMPI_RUN_DIR_BASE (removed at exit); launcher variables from an enclosing job are
# cleared so that ray-mpi runs as a lone process.
#
# Environment (from tests/Makefile.am): top_builddir (absolute).
# Exits 77 (skipped) when the build has no CUDA (no driver double), or without python3.
set -uo pipefail

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
double=$top_builddir/tests/gpu/.libs/libcudadouble.so
if [ ! -f "$double" ]; then
    echo "SKIP: built without CUDA (configure found no cuda.h), so no driver double at $double"
    exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: python3 not found (it reads the JSON lines)"
    exit 77
fi

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
unset SLURM_PROCID OMPI_COMM_WORLD_RANK PMIX_RANK RAYMPI_CONFIG_FILE RAYMPI_GPU_TEST_REAL
export UCX_NET_DEVICES=${UCX_NET_DEVICES:-lo}
export RAYMPI_GPU_LIBCUDA=$double RMPI_CUDA_DOUBLE_DEVICES=1 RMPI_CUDA_DOUBLE_MEM=512M
export RAYMPI_STORE_ARENA_SIZE=256M
job_id="bench-gpu-$$"
names=(gpu_task_roundtrip gpu_object_d2h_bandwidth gpu_object_h2d_bandwidth gpu_object_same_device_get)

rc=0
RAYMPI_RUN_DIR_BASE=$tmp/runs RAYMPI_JOB_ID=$job_id timeout 120 \
    "$top_builddir/cli/ray-mpi" bench "${names[@]}" --quick --json >"$tmp/out" 2>"$tmp/err" || rc=$?
failed=0
if [ "$rc" != 0 ]; then
    echo "FAIL: ray-mpi bench ${names[*]} --quick --json exited $rc"
    failed=1
fi

python3 - "$tmp/out" "${names[@]}" <<'PYEOF' || failed=1
import json, math, sys

figures = {}
for line in open(sys.argv[1]):
    rec = json.loads(line)
    assert rec["name"] not in figures, "reported twice: %s" % rec["name"]
    figures[rec["name"]] = rec

def positive(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0

bad = 0
for name in sys.argv[2:]:
    rec = figures.get(name)
    if rec is None:
        print("FAIL: %s missing" % name)
        bad += 1
    elif name == "gpu_task_roundtrip" and rec.get("skipped") == "no built-in kernels":
        print("ok: %s skipped (%s)" % (name, rec["skipped"]))
    elif "skipped" in rec:
        print("FAIL: %s skipped on the double: %r" % (name, rec))
        bad += 1
    elif not all(positive(rec.get(k)) for k in ("value", "limit", "ratio")) \
            or not rec.get("unit") or not rec.get("limit_source"):
        print("FAIL: %s: %r" % (name, rec))
        bad += 1
    else:
        print("ok: %s = %.6g %s, limit %.6g (%s), ratio %.3g (the double's: meaningless)"
              % (name, rec["value"], rec["unit"], rec["limit"], rec["limit_source"],
                 rec["ratio"]))
sys.exit(1 if bad else 0)
PYEOF
if [ "$failed" != 0 ]; then
    echo "--- stdout:" && cat "$tmp/out"
    echo "--- stderr:" && cat "$tmp/err"
fi

leftovers=$(find /dev/shm -maxdepth 1 -name "raympi-$job_id-*" | wc -l)
if [ "$leftovers" != 0 ]; then
    echo "FAIL: $leftovers arena(s) of job $job_id left in /dev/shm"
    rm -f /dev/shm/raympi-"$job_id"-*
    failed=1
fi
exit "$failed"
