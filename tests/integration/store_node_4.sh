#!/bin/bash
# store_node_4.sh - run integration/store_node on 4 local ranks through `ray-mpi -n 4`:
# each rank reads the others' objects zero-copy from their shared-memory arenas.
#
# The ranks get a fresh, private RAYMPI_RUN_DIR_BASE (removed at exit). Launcher
# variables from an enclosing job are cleared so that ray-mpi starts the ranks itself.
# Afterwards no arena of the job may be left in /dev/shm.
#
# Environment (from tests/Makefile.am): top_builddir (absolute), RMPI_MPIRUN.
# Exits 77 (skipped) when there is no mpirun.
set -uo pipefail

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
mpirun=${RMPI_MPIRUN:-mpirun}
if ! command -v "$mpirun" >/dev/null 2>&1; then
    echo "SKIP: '$mpirun' not found (Debian: apt-get install openmpi-bin)"
    exit 77
fi

run_dir_base=$(mktemp -d) || exit 99
trap 'rm -rf "$run_dir_base"' EXIT
job_id="store-node-$$"

unset SLURM_PROCID OMPI_COMM_WORLD_RANK PMIX_RANK RAYMPI_CONFIG_FILE
RAYMPI_RUN_DIR_BASE=$run_dir_base RAYMPI_JOB_ID=$job_id \
    "$top_builddir/cli/ray-mpi" -n 4 "$top_builddir/tests/integration/store_node"
status=$?

leftovers=$(ls /dev/shm | grep -c "^raympi-$job_id-")
if [ "$leftovers" != 0 ]; then
    echo "FAIL: $leftovers arena(s) of job $job_id left in /dev/shm"
    rm -f /dev/shm/raympi-"$job_id"-*
    exit 1
fi
exit "$status"
