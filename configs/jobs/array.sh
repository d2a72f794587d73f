#!/bin/bash
# An array of independent runs: 4 jobs (at most 2 at a time), each a 2-rank
# ray-mpi job that sees SLURM_ARRAY_TASK_ID (here: its share of the samples).
# Submit with
#   sbatch configs/jobs/array.sh             (or: ray-mpi submit --array 0-3%2 -n 2 ./app)
#SBATCH --job-name=raympi-array
#SBATCH --array=0-3%2
#SBATCH --ntasks=2
#SBATCH --time=00:10:00
#SBATCH --output=raympi-array-%A_%a.out
set -u
srun --mpi=pmix "${RAY_MPI:-ray-mpi}" "${APP:-./examples/pi}" 50 $((10000 * (SLURM_ARRAY_TASK_ID + 1)))
