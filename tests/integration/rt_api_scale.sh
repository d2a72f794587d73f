#!/bin/bash
# rt_api_scale.sh - 100,000 tiny tasks leave no trace on any rank, nesting to depth
# 64, a task with 10,000 ref arguments, and several driver threads at once (see
# rt_api.c: many, nest, fanin, threads), with a leak check around them; and
# 1,000,000 tiny tasks with every rank's memory flat after warm-up (million).
. "$(dirname "$0")/rt_api_common.sh"
scenarios=(baseline many nest fanin threads noleak)
rt_api_run 4 sm,self 2 "${scenarios[@]}"
rt_api_run 8 tcp,self 3 "${scenarios[@]}"
rt_api_run 2 tcp,self 1 baseline nest fanin threads noleak
rt_api_run 8 sm,self 0 baseline nest fanin threads noleak
rt_api_run 4 sm,self 2 baseline million noleak
exit $rt_api_failed
