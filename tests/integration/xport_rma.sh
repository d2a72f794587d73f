#!/bin/bash
# xport_rma.sh - get/put/pull of registered memory under sm and tcp on 2, 4 and 8
# ranks; also with pulls forced onto the active-message path (checked ranges).
. "$(dirname "$0")/xport_common.sh"
for tls in sm,self tcp,self; do
    for n in 2 4 8; do
        xport_run rma $n $tls
    done
done
xport_run rma 4 sm,self 4 am
xport_run rma 2 tcp,self 2 am
exit $xport_failed
