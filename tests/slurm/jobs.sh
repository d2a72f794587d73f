#!/bin/bash
# jobs.sh - the example job scripts of configs/jobs/ on the test cluster, with
# plain sbatch --wait: one-node.sh and array.sh as they are; many-nodes.sh
# with its shape overridden to fit one node (command-line options win over
# #SBATCH lines); gpus.sh only checked (directives, shell syntax), since the
# test cluster has no GPUs.
# shellcheck source=tests/slurm/slurm_common.sh
. "$(dirname "$0")/slurm_common.sh"

JOBS=$top_srcdir/configs/jobs
export RAY_MPI APP=$EXAMPLES/pi

# sbatch_wait SCRIPT [SBATCH OPTIONS...]: submit, wait; sets rc (the job's) and id.
sbatch_wait()
{
    local script=$1
    shift
    slurm_run timeout 180 sbatch --wait "$@" "$script"
    id=$(sed -n 's/^Submitted batch job \([0-9]*\)$/\1/p' "$slurm_out")
}

one_node()
{
    sbatch_wait "$JOBS/one-node.sh"
    ((rc == 0)) && pi_ok "$(result_line "$slurm_work/raympi-one-node-$id.out")" 200 20000
}

many_nodes_on_one()
{
    sbatch_wait "$JOBS/many-nodes.sh" --nodes=1 --ntasks-per-node=4 --cpus-per-task=2
    ((rc == 0)) && pi_ok "$(result_line "$slurm_work/raympi-many-nodes-$id.out")" 10000 100000
}

array()
{
    local i
    sbatch_wait "$JOBS/array.sh"
    ((rc == 0)) || return 1
    for i in 0 1 2 3; do
        pi_ok "$(result_line "$slurm_work/raympi-array-${id}_$i.out")" 50 $((10000 * (i + 1))) ||
            return 1
    done
}

gpus_checked()
{
    local script=$JOBS/gpus.sh
    bash -n "$script" && grep -qx '#SBATCH --gpus-per-task=1' "$script" &&
        grep -q '^srun --mpi=pmix ' "$script"
}

slurm_check "configs/jobs/one-node.sh" one_node
slurm_check "configs/jobs/many-nodes.sh, shaped to one node" many_nodes_on_one
slurm_check "configs/jobs/array.sh: 4 tasks, 2 at a time" array
slurm_check "configs/jobs/gpus.sh: directives and syntax" gpus_checked
slurm_finish
