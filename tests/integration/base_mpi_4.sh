#!/bin/bash
# base_mpi_4.sh - run integration/base_mpi on 4 local ranks through `ray-mpi -n 4`.
#
# The ranks get RAYMPI_LOG_LEVEL=info and a fresh, private RAYMPI_RUN_DIR_BASE
# (removed at exit); base_mpi checks that both reached every rank and that the
# per-rank logs landed in one shared run directory. Launcher variables from an
# enclosing job are cleared so that ray-mpi starts the 4 ranks itself.
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

unset SLURM_PROCID OMPI_COMM_WORLD_RANK PMIX_RANK RAYMPI_JOB_ID RAYMPI_CONFIG_FILE
RAYMPI_RUN_DIR_BASE=$run_dir_base RAYMPI_LOG_LEVEL=info \
    "$top_builddir/cli/ray-mpi" -n 4 "$top_builddir/tests/integration/base_mpi"
