#!/bin/bash
# rt_api_waits.sh - timeouts of get and wait, FETCH_LOCAL, cancel of queued, waiting
# and running tasks, and the available resources while every slot is taken (see
# rt_api.c: get_timeout, wait, cancel, available), with a leak check around them, on
# 2, 4 and 8 ranks, one and several logical nodes, sm and tcp.
. "$(dirname "$0")/rt_api_common.sh"
scenarios=(baseline get_timeout wait cancel available noleak)
rt_api_run 2 sm,self 0 "${scenarios[@]}"
rt_api_run 4 sm,self 2 "${scenarios[@]}"
rt_api_run 8 tcp,self 3 "${scenarios[@]}"
exit $rt_api_failed
