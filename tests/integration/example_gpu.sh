#!/bin/bash
# example_gpu.sh - the GPU examples on the CUDA driver double (tests/gpu/cudadouble.c:
# one 256 MiB device per rank; its kernels run on the host, so results are real):
#  - gpu_saxpy: four 0.25-GPU SAXPY tasks packed on the last rank's device; every
#    element checked;
#  - gpu_pipeline: fill -> saxpy -> saxpy on device objects passed by ref, summed by a
#    CPU task; on 2 and 4 ranks and on 2 logical nodes, so device objects are read in
#    place, copied between ranks of a node and pulled across nodes.
# With RAYMPI_GPU_TEST_REAL=1 the real driver is used instead. Skips (77) when the build
# has no CUDA or no built-in kernels (nvcc).
# shellcheck source=tests/integration/example_common.sh
. "$(dirname "$0")/example_common.sh"

double=$top_builddir/tests/gpu/.libs/libcudadouble.so
if [[ -z ${RAYMPI_GPU_TEST_REAL:-} ]]; then
    if [[ ! -f $double ]]; then
        echo "SKIP: built without CUDA (no driver double at $double)"
        exit 77
    fi
    gpu_env=(RAYMPI_GPU_LIBCUDA="$double" RMPI_CUDA_DOUBLE_DEVICES=1 RMPI_CUDA_DOUBLE_MEM=256M)
else
    gpu_env=()
fi

if ! "$RAY_MPI" info 2>/dev/null | grep -q '^gpu: *built-in kernels'; then
    echo "SKIP: the library carries no built-in kernels (configure found no nvcc)"
    exit 77
fi

saxpy_ok()
{
    local ranks=$1 n=$2
    shift 2
    example_run "$ranks" "${gpu_env[@]}" "$@" gpu_saxpy "$n"
    result_ok && [[ $(field elements) == "$n" && $(field errors) == 0 && $(field packed) == 1 ]]
}

pipeline_ok()
{
    local ranks=$1 n=$2
    shift 2
    example_run "$ranks" "${gpu_env[@]}" "$@" gpu_pipeline "$n"
    result_ok && [[ $(field elements) == "$n" && $(field sum) == "$(field expected)" ]]
}

example_check "SAXPY, 4 x 0.25 GPU on one device, 2 ranks" saxpy_ok 2 $((1 << 20))
example_check "device-object pipeline on 2 ranks" pipeline_ok 2 $((1 << 20))
example_check "device-object pipeline on 4 ranks" pipeline_ok 4 $((1 << 18))
example_check "device-object pipeline on 2 logical nodes of 2 ranks" pipeline_ok 4 $((1 << 18)) \
    RAYMPI_XPORT_NODE_SPLIT=2
example_finish
