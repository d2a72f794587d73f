#!/bin/bash
# example_parameter_server.sh - examples/parameter_server: worker tasks on every rank
# update one actor's model through its handle; every update must be applied and the
# model must converge, on 2 ranks, and on 4 ranks split into 2 logical nodes.
# shellcheck source=tests/integration/example_common.sh
. "$(dirname "$0")/example_common.sh"

# ps_fit RANKS WORKERS STEPS [VAR=VALUE...]
ps_fit()
{
    local ranks=$1 workers=$2 steps=$3
    shift 3
    example_run "$ranks" "$@" parameter_server "$workers" "$steps"
    result_ok && [[ $(field updates) == $((workers * steps)) ]] && awk_true "$(field error) < 0.001"
}

example_check "parameter server on 2 ranks" ps_fit 2 4 60
example_check "parameter server on 2 logical nodes of 2 ranks" ps_fit 4 8 50 RAYMPI_XPORT_NODE_SPLIT=2
example_finish
