#!/bin/bash
# rt_api_nodepull.sh - node-level pull dedup (see rt_api.c: nodepull): every slot of a
# remote logical node reads one large object at once and later, exactly one transfer
# crosses to that node, and the node copy goes with the object (leak check), on 4
# ranks in 2 logical nodes under sm and tcp, and on 6 ranks in 2 nodes of 3.
. "$(dirname "$0")/rt_api_common.sh"
scenarios=(baseline nodepull noleak)
rt_api_run 4 sm,self 2 "${scenarios[@]}"
rt_api_run 4 tcp,self 2 "${scenarios[@]}"
rt_api_run 6 sm,self 3 "${scenarios[@]}"
exit $rt_api_failed
