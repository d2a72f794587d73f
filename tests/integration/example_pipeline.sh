#!/bin/bash
# example_pipeline.sh - examples/pipeline: sum(gen(1), gen(2), gen(3)) with the refs of
# the three arrays passed as arguments; the total equals the closed form. On 2 logical
# nodes the arrays are pulled across nodes.
# shellcheck source=tests/integration/example_common.sh
. "$(dirname "$0")/example_common.sh"

# pipeline_sum RANKS ELEMENTS [VAR=VALUE...]: sum over k = 1..3 of (n k + n (n - 1) / 2).
pipeline_sum()
{
    local ranks=$1 n=$2
    shift 2
    example_run "$ranks" "$@" pipeline "$n"
    result_ok && [[ $(field sum) == $((6 * n + 3 * n * (n - 1) / 2)) &&
        $(field elements) == $((3 * n)) ]]
}

example_check "3 x 2^20 doubles on 2 ranks" pipeline_sum 2 $((1 << 20))
example_check "3 x 2^20 doubles on 4 ranks" pipeline_sum 4 $((1 << 20))
example_check "3 x 2^20 doubles on 2 logical nodes of 2 ranks" pipeline_sum 4 $((1 << 20)) \
    RAYMPI_XPORT_NODE_SPLIT=2
example_check "3 x 100 doubles (inline values) on 2 ranks" pipeline_sum 2 100
example_finish
