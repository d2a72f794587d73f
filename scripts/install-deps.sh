#!/bin/bash
# install-deps.sh [--check] - install what ray-mpi needs to build and test on Debian 12.
#
# Installs only the packages that are missing, so running it again is a no-op.
# Runs apt-get as root, or through sudo for other users.
#   --check   only report missing packages; exit 1 if there are any, 0 if none.
#
# Optional at run time, not installed here: the CUDA toolkit and NCCL (GPU support is
# loaded with dlopen, so one build runs with and without GPUs).

if [ -z "${BASH_VERSION:-}" ]; then
    exec bash "$0" "$@"
fi
set -euo pipefail

readonly ME=install-deps.sh

# The one list of Debian packages, by what they are for.
readonly PACKAGES=(
    # MPI, UCX, topology and process-management interfaces the runtime is built on
    libopenmpi-dev openmpi-bin
    libucx-dev ucx-utils
    libhwloc-dev hwloc
    libpmix-dev
    # Slurm: the daemons for the single-node test cluster, the client commands and
    # libslurm for `ray-mpi submit`; munge authenticates between them
    slurm-wlm slurmctld slurmd slurm-client libslurm-dev
    munge libmunge-dev
    # unit tests
    libcmocka-dev
    # the build
    autoconf automake libtool pkg-config make gcc
    # tests and tooling: backtraces of hung tests, memory checks, formatting, ps/pgrep
    gdb valgrind clang-format git procps
)

usage()
{
    sed -n '2,9s/^# \{0,1\}//p' "$0"
}

# Print the packages of PACKAGES that are not installed, one a line.
missing_packages()
{
    local pkg status
    for pkg in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) || status=
        [[ $status == "install ok installed" ]] || echo "$pkg"
    done
}

# Run a command as root: directly, or through sudo.
as_root()
{
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "$ME: must run as root, or have sudo, to install: ${missing[*]}" >&2
        exit 1
    fi
}

main()
{
    local check_only=0
    case ${1:-} in
    '') ;;
    --check) check_only=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "$ME: dpkg-query not found: this script is for Debian (12)" >&2
        exit 2
    fi

    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]} == 0)); then
        echo "all dependencies present"
        exit 0
    fi
    echo "missing: ${missing[*]}"
    ((check_only == 0)) || exit 1

    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"

    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]})); then
        echo "$ME: still missing after apt-get install: ${missing[*]}" >&2
        exit 1
    fi
    echo "all dependencies present"
}

main "$@"
