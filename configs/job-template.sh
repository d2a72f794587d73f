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
# In the background, so that this shell can pass on the wall-time signal: with
# --signal=B:USR1@SECONDS only the batch shell gets it.
srun --mpi=pmix @RAY_MPI@ @COMMAND@ &
srun_pid=$!
trap 'kill -USR1 "$srun_pid" 2>/dev/null' USR1
while kill -0 "$srun_pid" 2>/dev/null; do
    wait "$srun_pid" # returns early when the trap ran
done
status=0
wait "$srun_pid" || status=$? # srun's own exit status
# 85 (RMPI_EXIT_CHECKPOINTED): the ranks saved their state on the signal. A job
# submitted with --requeue goes back to the queue; its next run restores the state.
if [ "$status" -eq 85 ] && scontrol requeue "$SLURM_JOB_ID"; then
    exit 0
fi
exit "$status"
