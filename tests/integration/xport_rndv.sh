#!/bin/bash
# xport_rndv.sh - see xport_test.c (rndv) - under sm and tcp, on 2, 4 and 8 ranks.
. "$(dirname "$0")/xport_common.sh"
for tls in sm,self tcp,self; do
    for n in 2 4 8; do
        xport_run rndv $n $tls
    done
done
exit $xport_failed
