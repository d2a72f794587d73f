#!/bin/bash
# example_gpu_actor.sh - examples/gpu_actor: GPU actors keep a vector on their device
# across calls (saxpy on each call's stream, read back later), on the CUDA driver
# double: two 0.5-GPU actors sharing the one device of one rank, and four on 2 ranks of
# 2 devices each (placement looks at totals, not at what live actors hold, so all four
# may land on one rank: 2 devices hold them). Skips (77) when the build has no CUDA or
# no built-in kernels.
# shellcheck source=tests/integration/example_common.sh
. "$(dirname "$0")/example_common.sh"

double=$top_builddir/tests/gpu/.libs/libcudadouble.so
if [[ ! -f $double ]]; then
    echo "SKIP: built without CUDA (no cuda.h): no GPU support and no driver double to run on"
    exit 77
fi

if ! "$RAY_MPI" info 2>/dev/null | grep -q '^gpu: *built-in kernels'; then
    echo "SKIP: the library carries no built-in kernels (configure found no nvcc)"
    exit 77
fi

# saxpy_sum RANKS DEVICES ACTORS STEPS: every actor's vector holds the sum of its updates.
saxpy_sum()
{
    local ranks=$1 devices=$2 actors=$3 steps=$4
    example_run "$ranks" RAYMPI_GPU_LIBCUDA="$double" RMPI_CUDA_DOUBLE_DEVICES="$devices" \
        gpu_actor "$actors" "$steps"
    result_ok && [[ $(field actors) == "$actors" && $(field steps) == "$steps" ]] &&
        awk_true "$(field error) == 0"
}

example_check "two 0.5-GPU actors on one rank's device" saxpy_sum 1 1 2 10
example_check "four 0.5-GPU actors on 2 ranks of 2 devices" saxpy_sum 2 2 4 20
example_finish
