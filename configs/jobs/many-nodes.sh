#!/bin/bash
# Many nodes: 4 nodes x 8 ranks, each rank with 4 CPUs for its tasks. Rank 0 is
# the driver; ranks on one node share its object store. Submit with
#   sbatch configs/jobs/many-nodes.sh        (or: ray-mpi submit -N 4 -n 32 -c 4 ./app)
#SBATCH --job-name=raympi-many-nodes
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=8
#SBATCH --cpus-per-task=4
#SBATCH --time=01:00:00
#SBATCH --output=raympi-many-nodes-%j.out
set -u
srun --mpi=pmix "${RAY_MPI:-ray-mpi}" "${APP:-./examples/pi}" 10000 100000
