#!/bin/bash
# mpirun.sh ARGS... - run Open MPI's mpirun with this project's test settings.
#
# For tests that need raw mpirun; `ray-mpi -n N` applies the same settings itself.
# The settings (see docs/testing.md and the project's verified set-up notes):
#   - CI and containers run as root, which mpirun refuses unless told it is wanted;
#   - tests start more ranks than the machine has cores (2 in CI): oversubscribe;
#   - keep every byte on loopback: Open MPI's out-of-band channel and TCP BTL would
#     otherwise also use the host's other interfaces, and UCX opens a second TCP lane
#     on them. Interface choices already in the environment are kept.
# Exits 77 (automake: skipped) when there is no mpirun.

if [ -z "${BASH_VERSION:-}" ]; then
    exec bash "$0" "$@"
fi
set -euo pipefail

mpirun=${RMPI_MPIRUN:-mpirun} # RMPI_MPIRUN: set by tests/Makefile.am from configure
if ! command -v "$mpirun" >/dev/null 2>&1; then
    echo "mpirun.sh: '$mpirun' not found (Debian: apt-get install openmpi-bin); skipping" >&2
    exit 77
fi

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_oob_tcp_if_include=${OMPI_MCA_oob_tcp_if_include:-lo}
export OMPI_MCA_btl_tcp_if_include=${OMPI_MCA_btl_tcp_if_include:-lo}
export UCX_NET_DEVICES=${UCX_NET_DEVICES:-lo}

exec "$mpirun" "$@"
