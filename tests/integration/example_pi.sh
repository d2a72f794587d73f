#!/bin/bash
# example_pi.sh - examples/pi: Monte Carlo tasks estimate pi on 2 and 4 ranks, and
# on 4 ranks split into 2 logical nodes (results cross nodes).
# shellcheck source=tests/integration/example_common.sh
. "$(dirname "$0")/example_common.sh"

# pi_estimate RANKS TASKS SAMPLES [VAR=VALUE...]: the estimate is within 0.05 of
# pi and counts every sample of every task.
pi_estimate()
{
    local ranks=$1 tasks=$2 samples=$3
    shift 3
    example_run "$ranks" "$@" pi "$tasks" "$samples"
    result_ok && [[ $(field tasks) == "$tasks" && $(field samples) == $((tasks * samples)) ]] &&
        awk_true "$(field pi) - atan2(0, -1) < 0.05 && atan2(0, -1) - $(field pi) < 0.05"
}

example_check "pi on 2 ranks" pi_estimate 2 100 20000
example_check "pi on 4 ranks, more tasks than slots" pi_estimate 4 200 10000
example_check "pi on 2 logical nodes of 2 ranks" pi_estimate 4 50 20000 RAYMPI_XPORT_NODE_SPLIT=2
example_finish
