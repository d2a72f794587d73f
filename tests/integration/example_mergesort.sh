#!/bin/bash
# example_mergesort.sh - examples/mergesort: tasks that submit tasks and get them sort
# random keys like qsort does, also with one CPU slot per rank (a task waiting in
# rmpi_get must give its slot back, or the tree deadlocks) and across logical nodes.
# shellcheck source=tests/integration/example_common.sh
. "$(dirname "$0")/example_common.sh"

# sorts RANKS KEYS DEPTH [VAR=VALUE...]: sorted, equal to qsort, the whole tree ran.
sorts()
{
    local ranks=$1 keys=$2 depth=$3
    shift 3
    example_run "$ranks" "$@" mergesort "$keys" "$depth"
    result_ok && [[ $(field keys) == "$keys" && $(field depth) == "$depth" &&
        $(field tasks) == $(((2 << depth) - 1)) && $(field sorted) == 1 &&
        $(field matches_qsort) == 1 ]]
}

example_check "2^18 keys, 3 levels, on 2 ranks" sorts 2 $((1 << 18)) 3
example_check "2^16 keys, 4 levels, on 2 ranks of 1 slot" sorts 2 $((1 << 16)) 4 \
    RAYMPI_RT_NUM_CPUS=1
example_check "2^18 keys, 3 levels, on 2 logical nodes of 2 ranks" sorts 4 $((1 << 18)) 3 \
    RAYMPI_XPORT_NODE_SPLIT=2
example_finish
