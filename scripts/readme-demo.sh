#!/usr/bin/env bash
# The README's first command: install dependencies, build, and run the main
# demo (Monte Carlo pi as 100 remote tasks) on 4 local ranks (no Slurm needed).
set -euo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)
"$srcdir/scripts/build.sh" "$srcdir/build"
exec "$srcdir/build/cli/ray-mpi" -n 4 "$srcdir/build/examples/pi"
