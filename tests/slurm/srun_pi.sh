#!/bin/bash
# srun_pi.sh - ray-mpi as a Slurm job step: `srun ray-mpi examples/pi` on the
# test cluster gives a right RESULT line, with --mpi=pmix and with the cluster's
# MpiDefault (pmix); and a plain `srun --mpi=pmix -n 4 examples/pi` (no ray-mpi
# in front) works too, since the runtime bootstraps from PMIx itself. Also each
# rank's CPUs (-c) and GPUs (its share of a step's devices).
# shellcheck source=tests/slurm/slurm_common.sh
. "$(dirname "$0")/slurm_common.sh"

srun_pi()
{
    local tasks=$1 samples=$2
    shift 2
    slurm_run timeout 120 srun "$@" "$EXAMPLES/pi" "$tasks" "$samples"
    ((rc == 0)) && pi_ok "$(result_line "$slurm_out")" "$tasks" "$samples"
}

slurm_check "srun -n 4 --mpi=pmix ray-mpi pi" srun_pi 100 10000 -n 4 --mpi=pmix "$RAY_MPI"
slurm_check "srun -n 2 ray-mpi pi (MpiDefault=pmix)" srun_pi 40 10000 -n 2 "$RAY_MPI"
slurm_check "srun -n 8 ray-mpi pi, oversubscribed" srun_pi 80 5000 -n 8 "$RAY_MPI"
slurm_check "srun -n 4 --mpi=pmix pi without ray-mpi" srun_pi 40 10000 -n 4 --mpi=pmix

# srun_cpus NTASKS CPUS_PER_TASK: each rank counts the CPUs Slurm gave its task
# (SLURM_CPUS_PER_TASK; the test cluster binds nothing, so the PUs would count the node).
srun_cpus()
{
    local n=$1 c=$2
    srun_pi 20 1000 -n "$n" -c "$c" "$RAY_MPI" &&
        [[ $(sed -n 's/.* cpus=\([0-9.]*\) .*/\1/p' <<<"$(result_line "$slurm_out")") == $((n * c)) ]]
}
# srun_gpus NTASKS STEP_GPUS VISIBLE WANT: a step given GPUs without per-task binding
# (the test cluster has none: Slurm's variables are set by hand, srun passes them on)
# narrows each rank's CUDA_VISIBLE_DEVICES to its share; WANT is the RESULT line's middle.
srun_gpus()
{
    slurm_run timeout 120 env SLURM_STEP_GPUS="$2" CUDA_VISIBLE_DEVICES="$3" \
        srun -n "$1" "$RAY_MPI" "$top_builddir/tests/integration/rt_gpu_env"
    ((rc == 0)) && [[ $(result_line "$slurm_out") == "RESULT $4 ok" ]]
}
slurm_check "srun -n 2, step GPUs 4-7 seen by both tasks: 2 each" \
    srun_gpus 2 4-7 0,1,2,3 "rank0=0,1 rank1=2,3"
slurm_check "srun -n 2, 3 step GPUs: not divisible, both keep all" \
    srun_gpus 2 0-2 0,1,2 "rank0=0,1,2 rank1=0,1,2"
slurm_check "srun -n 2, per-task binding already (1 device each): left alone" \
    srun_gpus 2 0-1 1 "rank0=1 rank1=1"
slurm_check "srun -n 2 -c 1: the job has 2 CPUs" srun_cpus 2 1
slurm_check "srun -n 1 -c 2: the job has 2 CPUs" srun_cpus 1 2
slurm_finish
