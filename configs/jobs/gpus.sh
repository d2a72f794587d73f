#!/bin/bash
# GPUs: one node, one rank per GPU, each rank sees only its own device
# (CUDA_VISIBLE_DEVICES set by Slurm per task). Submit with
#   sbatch configs/jobs/gpus.sh              (or: ray-mpi submit -N 1 -n 4 -G 4 ./app)
#SBATCH --job-name=raympi-gpus
#SBATCH --nodes=1
#SBATCH --ntasks=4
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=8
#SBATCH --time=01:00:00
#SBATCH --output=raympi-gpus-%j.out
set -u
srun --mpi=pmix "${RAY_MPI:-ray-mpi}" "${APP:-./examples/pi}" 1000 100000
