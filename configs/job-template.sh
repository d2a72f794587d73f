#!/bin/bash
# Job script written by `ray-mpi submit` from configs/job-template.sh (see
# slurm/README.md). `ray-mpi submit` replaces a line that is exactly @SBATCH@
# with one #SBATCH line per option it was given (it passes the same options to
# Slurm itself, so the script also works with plain `sbatch`), @RAY_MPI@ with
# the ray-mpi command and @COMMAND@ with the program and its arguments, quoted.
# Copy this file and point RAYMPI_JOB_TEMPLATE (or --template) at the copy to
# add module loads or environment settings for a site.
@SBATCH@
set -u
# One job step: every task is one ray-mpi rank (rank 0 is the driver).
# --mpi=pmix: Open MPI and ray-mpi's bootstrap both wire up through PMIx.
srun --mpi=pmix @RAY_MPI@ @COMMAND@
