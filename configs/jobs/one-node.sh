#!/bin/bash
# One node, 4 ranks: the shape for a workstation-sized run. Submit with
#   sbatch configs/jobs/one-node.sh          (or: ray-mpi submit -N 1 -n 4 ./app)
# RAY_MPI and APP may be set in the submitting shell (sbatch exports it).
#SBATCH --job-name=raympi-one-node
#SBATCH --nodes=1
#SBATCH --ntasks=4
#SBATCH --cpus-per-task=1
#SBATCH --time=00:10:00
#SBATCH --output=raympi-one-node-%j.out
set -u
srun --mpi=pmix "${RAY_MPI:-ray-mpi}" "${APP:-./examples/pi}" 200 20000
