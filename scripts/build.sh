#!/usr/bin/env bash
# Configure and build ray-mpi in a build folder (default: ./build), installing
# the Debian dependencies first. Shared by the README's two commands.
#   scripts/build.sh [BUILD_DIR] [CONFIGURE ARGS...]
set -euo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=${1:-$srcdir/build}
shift || true

"$srcdir/scripts/install-deps.sh"

cd "$srcdir"
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
    autoreconf -fi
fi
mkdir -p "$builddir"
cd "$builddir"
if [ ! -f Makefile ] || [ "$srcdir/configure" -nt config.status ]; then
    "$srcdir/configure" "$@"
fi
make -j"$(nproc)"
