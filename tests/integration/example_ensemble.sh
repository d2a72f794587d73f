#!/bin/bash
# example_ensemble.sh - examples/ensemble: three models of 100, 200 and 300 ms answer in
# about the slowest one's time, well under their sum.
# shellcheck source=tests/integration/example_common.sh
. "$(dirname "$0")/example_common.sh"

# latency_of_slowest RANKS [VAR=VALUE...]
latency_of_slowest()
{
    local ranks=$1
    shift
    example_run "$ranks" "$@" ensemble
    local latency slowest sum
    latency=$(field latency_s) && slowest=$(field slowest_s) && sum=$(field sum_s) || return 1
    result_ok && [[ $(field models) == 3 ]] && awk_true "$latency >= 0.95 * $slowest" &&
        awk_true "$latency < $slowest + 0.5 * ($sum - $slowest)"
}

example_check "3 models on 2 ranks of 4 slots" latency_of_slowest 2 RAYMPI_RT_NUM_CPUS=4
example_check "3 models on 4 ranks of 2 slots" latency_of_slowest 4 RAYMPI_RT_NUM_CPUS=2
example_finish
