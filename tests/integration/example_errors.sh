#!/bin/bash
# example_errors.sh - examples/errors: a task failing with rmpi_task_error fails the task
# that takes its ref, with a "caused by" chain naming the first failure; the job goes on.
# shellcheck source=tests/integration/example_common.sh
. "$(dirname "$0")/example_common.sh"

# chained RANKS [VAR=VALUE...]
chained()
{
    local ranks=$1
    shift
    example_run "$ranks" "$@" errors
    result_ok && [[ $(field status) == task_failed && $(field chained) == 1 &&
        $(field root_message) == 1 && $(field recovered) == 1 ]] &&
        grep -q "caused by" "$example_tmp/out"
}

example_check "the error chain on 2 ranks" chained 2
example_check "the error chain on 2 logical nodes of 2 ranks" chained 4 RAYMPI_XPORT_NODE_SPLIT=2
example_finish
