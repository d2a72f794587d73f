#!/bin/bash
# rt_api_calls.sh - each call of the runtime's API on ordinary and on bad input (see
# rt_api.c: calls, introspect, placement, refs, errors, badinput), with a leak check
# around them, on 2, 4 and 8 ranks, one and several logical nodes, sm and tcp; then
# with every value in a store (RT_INLINE_MAX=0), and with settings given to rmpi_init.
. "$(dirname "$0")/rt_api_common.sh"
scenarios=(baseline calls introspect placement refs errors badinput noleak)
rt_api_run 2 sm,self 0 "${scenarios[@]}"
rt_api_run 4 tcp,self 2 "${scenarios[@]}"
rt_api_run 8 sm,self 3 "${scenarios[@]}"
RAYMPI_RT_INLINE_MAX=0 rt_api_run 4 tcp,self 2 baseline calls refs errors noleak
rt_api_run 2 sm,self 0 --config RT_NUM_CPUS=3 --config RT_RESOURCES=fpga:1,widget:0.25 \
    introspect
exit $rt_api_failed
