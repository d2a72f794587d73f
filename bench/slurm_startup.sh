#!/bin/bash
# slurm_startup.sh [--json] [-r REPS] [RANKS...] - job start-up under Slurm.
#
# On a private test cluster (scripts/slurm-cluster.sh), for each rank count
# (default 2 4 8, oversubscribed on a small machine) it times, as the median of
# REPS runs (default 5):
#   slurm_step_hostname_nN   `srun -n N hostname`: the floor for any job step
#   slurm_step_1task_nN      `srun -n N ray-mpi examples/pi 1 1000`: start-up,
#                            wire-up, the first (only) task, and shutdown
# and prints them like `ray-mpi bench` (name value unit limit ratio source), the
# srun hostname figure of the same run as the limit. Needs root and the Slurm
# daemons installed; uses BUILD (default ./build) for ray-mpi and examples.
set -uo pipefail

json=0
reps=5
ranks=()
while (($# > 0)); do
    case $1 in
    --json | -j) json=1 ;;
    -r)
        reps=${2:-}
        shift
        ;;
    -h | --help)
        sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) ranks+=("$1") ;;
    esac
    shift
done
[[ $reps =~ ^[1-9][0-9]*$ ]] || {
    echo "slurm_startup: -r needs a positive number" >&2
    exit 2
}
((${#ranks[@]} > 0)) || ranks=(2 4 8)

srcdir=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$srcdir/build}
ray_mpi=$build/cli/ray-mpi
pi=$build/examples/pi
[[ -x $ray_mpi && -x $pi ]] || {
    echo "slurm_startup: build ray-mpi and examples first (BUILD=$build)" >&2
    exit 2
}

tmp=$(mktemp -d /tmp/raympi-slurm-bench.XXXXXX) || exit 1
trap '"$srcdir/scripts/slurm-cluster.sh" stop "$tmp/cluster" >/dev/null; rm -rf "$tmp"' EXIT
"$srcdir/scripts/slurm-cluster.sh" start "$tmp/cluster" >/dev/null || exit 1
export SLURM_CONF=$tmp/cluster/slurm.conf RAYMPI_RUN_DIR_BASE=$tmp/run

# median_s CMD...: the median wall time of REPS runs of CMD, in seconds.
median_s()
{
    local i t0 t1
    local -a times=()
    for ((i = 0; i < reps; i++)); do
        t0=$(date +%s%N)
        "$@" >/dev/null 2>"$tmp/err" || {
            echo "slurm_startup: failed: $*" >&2
            cat "$tmp/err" >&2
            exit 1
        }
        t1=$(date +%s%N)
        times+=("$(((t1 - t0) / 1000))")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.6f\n", m / 1e6 }'
}

report()
{
    local name=$1 value=$2 limit=$3 source=$4
    if ((json)); then
        printf '{"name":"%s","value":%s,"unit":"s","limit":%s,"limit_source":"%s","ratio":%s}\n' \
            "$name" "$value" "$limit" "$source" "$(awk "BEGIN { printf \"%.3f\", $value / $limit }")"
    else
        printf '%-32s %14s %-10s %14s %8s  %s\n' "$name" "$value" s "$limit" \
            "$(awk "BEGIN { printf \"%.3f\", $value / $limit }")" "$source"
    fi
}

((json)) || printf '%-32s %14s %-10s %14s %8s  %s\n' name value unit limit ratio source
for n in "${ranks[@]}"; do
    host=$(median_s srun -n "$n" hostname)
    report "slurm_step_hostname_n$n" "$host" "$host" "srun hostname"
    task=$(median_s srun -n "$n" "$ray_mpi" "$pi" 1 1000)
    report "slurm_step_1task_n$n" "$task" "$host" "srun -n $n hostname"
done
