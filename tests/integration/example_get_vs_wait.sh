#!/bin/bash
# example_get_vs_wait.sh - examples/get_vs_wait: rmpi_wait(num_returns = 1) hands the
# results over in completion order (task i sleeps (n - i) * step, so the reverse of
# submission), rmpi_get all at once in submission order.
# shellcheck source=tests/integration/example_common.sh
. "$(dirname "$0")/example_common.sh"

# seq_list FIRST LAST: "FIRST,...,LAST", counting up or down.
seq_list()
{
    seq -s , "$1" $(($2 < $1 ? -1 : 1)) "$2"
}

# orders RANKS TASKS STEP_MS [VAR=VALUE...]
orders()
{
    local ranks=$1 tasks=$2 step=$3
    shift 3
    example_run "$ranks" "$@" get_vs_wait "$tasks" "$step"
    result_ok && [[ $(field tasks) == "$tasks" &&
        $(field wait_order) == "$(seq_list $((tasks - 1)) 0)" &&
        $(field get_order) == "$(seq_list 0 $((tasks - 1)))" ]]
}

example_check "5 tasks on 2 ranks" orders 2 5 50 RAYMPI_RT_NUM_CPUS=6
example_check "6 tasks on 2 logical nodes of 2 ranks" orders 4 6 60 RAYMPI_RT_NUM_CPUS=3 \
    RAYMPI_XPORT_NODE_SPLIT=2
example_finish
