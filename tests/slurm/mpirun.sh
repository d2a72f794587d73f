#!/bin/bash
# mpirun.sh - `mpirun` inside a Slurm allocation on the test cluster: a batch
# job (sbatch -n 2) whose script runs `mpirun -n 2 ray-mpi examples/pi` and
# `mpirun -n 2 examples/pi`; Open MPI starts its daemons through Slurm and the
# ranks wire up through its PMIx server, and each run prints a right RESULT line.
# The root and loopback settings are those of docs/testing.md (hpc-setup.md).
# shellcheck source=tests/slurm/slurm_common.sh
. "$(dirname "$0")/slurm_common.sh"

mpirun_bin=${RMPI_MPIRUN:-mpirun}
if ! command -v "$mpirun_bin" >/dev/null 2>&1; then
    echo "SKIP: '$mpirun_bin' not found (Debian: apt-get install openmpi-bin)"
    exit 77
fi
mpirun_bin=$(command -v "$mpirun_bin")

# The job script: both runs, each RESULT line tagged with its run's name.
cat >"$slurm_work/mpirun-job.sh" <<JOB
#!/bin/bash
#SBATCH -n 2
#SBATCH -t 5
#SBATCH -o $slurm_work/mpirun-%j.out
set -u
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo UCX_NET_DEVICES=lo
echo "with-ray-mpi: \$("$mpirun_bin" -n 2 "$RAY_MPI" "$EXAMPLES/pi" 40 10000 | grep '^RESULT ')"
echo "without: \$("$mpirun_bin" -n 2 "$EXAMPLES/pi" 40 10000 | grep '^RESULT ')"
# The run directory a rank of each of two more mpiruns would use (ray-mpi info).
for run in a b; do
    echo "rundir-\$run: \$("$mpirun_bin" -n 1 "$RAY_MPI" info | sed -n 's/^run dir: *//p')"
done
JOB

mpirun_in_allocation()
{
    local out id
    slurm_run timeout 240 sbatch --wait "$slurm_work/mpirun-job.sh"
    id=$(sed -n 's/^Submitted batch job \([0-9]*\)$/\1/p' "$slurm_out")
    out=$slurm_work/mpirun-$id.out
    cat "$out" >>"$slurm_out" 2>/dev/null
    ls "$RAYMPI_RUN_DIR_BASE" >>"$slurm_out"
    # The ranks see no step: each mpirun's run dir is named after its Open MPI job ID,
    # so two mpiruns of one job use two; the pi runs took theirs along when they ended.
    local a b
    a=$(sed -n 's/^rundir-a: //p' "$out")
    b=$(sed -n 's/^rundir-b: //p' "$out")
    ((rc == 0)) && pi_ok "$(sed -n 's/^with-ray-mpi: //p' "$out")" 40 10000 &&
        pi_ok "$(sed -n 's/^without: //p' "$out")" 40 10000 &&
        [[ $a == "$RAYMPI_RUN_DIR_BASE/$id.mpirun-"[0-9]* && $b == "$RAYMPI_RUN_DIR_BASE/$id.mpirun-"[0-9]* &&
            $a != "$b" ]] &&
        [[ $(find "$RAYMPI_RUN_DIR_BASE" -mindepth 1 -maxdepth 1 -name "$id.mpirun-[0-9]*" | wc -l) == 0 ]]
}

slurm_check "sbatch -n 2: mpirun -n 2 [ray-mpi] examples/pi inside the allocation" mpirun_in_allocation
slurm_finish
